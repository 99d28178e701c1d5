using System.Globalization;

namespace VideoLong.Language;

/// <summary>
/// The time prompt VideoChat-Flash prepends to a video question (<c>time_msg='short'</c>, ALGORITHMS.md §1.2), so the
/// model can answer with timestamps.
/// </summary>
public static class TimePrompt
{
    /// <summary>"The video lasts for 79.50 seconds, and 76 frames are uniformly sampled from it."</summary>
    public static string Describe(double durationSeconds, int frameCount)
    {
        if (!(durationSeconds >= 0) || !double.IsFinite(durationSeconds))
        {
            throw new ArgumentOutOfRangeException(nameof(durationSeconds), durationSeconds, "The duration must be a finite number ≥ 0.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameCount);
        return string.Create(CultureInfo.InvariantCulture,
            $"The video lasts for {durationSeconds:0.00} seconds, and {frameCount} frames are uniformly sampled from it.");
    }

    /// <summary>The time prompt followed by the question on a new line, as the reference builds the user turn.</summary>
    public static string WithQuestion(double durationSeconds, int frameCount, string question)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(question);
        return Describe(durationSeconds, frameCount) + "\n" + question.Trim();
    }
}
