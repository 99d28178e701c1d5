using System.Text;
using System.Text.RegularExpressions;

namespace VideoLong.Pipeline.Niah;

/// <summary>Scoring of generated answers: normalised exact match, with multiple-choice letters recognised.</summary>
public static partial class NiahScore
{
    private static readonly HashSet<string> Articles = new(StringComparer.Ordinal) { "a", "an", "the" };

    /// <summary>Lower case, punctuation removed, articles (a, an, the) removed, whitespace collapsed.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (char c in text.ToLowerInvariant())
        {
            sb.Append(char.IsPunctuation(c) || char.IsSymbol(c) ? ' ' : c);
        }

        return string.Join(' ', sb.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => !Articles.Contains(w)));
    }

    /// <summary>The option letter a needle's answer stands for (A, B, …), or null when the needle has no options.</summary>
    public static char? AnswerLetter(NiahNeedle needle)
    {
        ArgumentNullException.ThrowIfNull(needle);
        if (needle.Options.Count == 0)
        {
            return null;
        }

        string answer = needle.Answer.Trim().Trim('(', ')', '.', ' ');
        if (answer.Length == 1 && char.ToUpperInvariant(answer[0]) is var l && l >= 'A' && l < 'A' + needle.Options.Count)
        {
            return l;
        }

        string norm = Normalize(needle.Answer);
        for (int i = 0; i < needle.Options.Count; i++)
        {
            if (Normalize(needle.Options[i]) == norm)
            {
                return (char)('A' + i);
            }
        }

        return null;
    }

    /// <summary>
    /// The option a generated answer picks: a leading letter ("B", "(B", "B) …", "B. …", "Option B", "The answer is B"),
    /// or the exact text of one option. Null when none is recognised.
    /// </summary>
    public static char? PredictedLetter(string prediction, int optionCount, IReadOnlyList<string>? options = null)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        string text = prediction.Trim();
        Match m = LeadingLetter().Match(text);
        if (m.Success)
        {
            char l = char.ToUpperInvariant(m.Groups["l"].Value[0]);
            if (l >= 'A' && l < 'A' + optionCount)
            {
                return l;
            }
        }

        if (options is not null)
        {
            string norm = Normalize(text);
            for (int i = 0; i < options.Count; i++)
            {
                if (norm.Length > 0 && Normalize(options[i]) == norm)
                {
                    return (char)('A' + i);
                }
            }
        }

        return null;
    }

    /// <summary>Whether a generated answer is correct: option letters for multiple choice, else normalised exact match.</summary>
    public static bool IsCorrect(NiahNeedle needle, string prediction)
    {
        ArgumentNullException.ThrowIfNull(needle);
        ArgumentNullException.ThrowIfNull(prediction);
        if (AnswerLetter(needle) is { } letter)
        {
            return PredictedLetter(prediction, needle.Options.Count, needle.Options) == letter;
        }

        string expected = Normalize(needle.Answer);
        return expected.Length > 0 && Normalize(prediction) == expected;
    }

    /// <summary>The question as the model sees it: options lettered on their own lines, then the instruction.</summary>
    public static string Prompt(NiahNeedle needle)
    {
        ArgumentNullException.ThrowIfNull(needle);
        if (needle.Options.Count == 0)
        {
            return needle.Question;
        }

        var sb = new StringBuilder(needle.Question.TrimEnd());
        for (int i = 0; i < needle.Options.Count; i++)
        {
            sb.Append('\n').Append('(').Append((char)('A' + i)).Append(") ").Append(needle.Options[i]);
        }

        sb.Append("\nOnly give the best option.");
        return sb.ToString();
    }

    /// <summary>The text a teacher-forced pass scores: the option letter for multiple choice, else the answer.</summary>
    public static string TeacherForcedAnswer(NiahNeedle needle) => AnswerLetter(needle) is { } l ? l.ToString() : needle.Answer.Trim();

    // "B", "(B", "(B)", "B)", "B.", "B:", "B yellow", "Option B", "Answer: B", "The answer is (B)", "best option: (B".
    [GeneratedRegex(@"^(?:(?:the\s+)?(?:best\s+)?(?:answer|option)(?:\s+is)?\s*:?\s*)?\(?(?<l>[A-Za-z])(?:$|[\s\).:,])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LeadingLetter();
}
