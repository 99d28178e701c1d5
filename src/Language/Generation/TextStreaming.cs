using System.Runtime.CompilerServices;
using VideoLong.Language.Tokenization;

namespace VideoLong.Language.Generation;

/// <summary>Generated tokens as text, streamed: pieces are emitted as soon as they form whole UTF-8 characters.</summary>
public static class TextStreaming
{
    /// <summary>Streams the text of one sequence; <paramref name="onToken"/> sees every token id as it is decoded.</summary>
    public static async IAsyncEnumerable<string> StreamTextAsync(this TokenGenerator generator, GenerationPrompt prompt, GenerationOptions options,
        Qwen2Tokenizer tokenizer, bool skipSpecialTokens = true, Action<int>? onToken = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(tokenizer);
        IncrementalDecoder decoder = tokenizer.CreateIncrementalDecoder(skipSpecialTokens);
        await foreach (int id in generator.StreamAsync(prompt, options, cancellationToken).ConfigureAwait(false))
        {
            onToken?.Invoke(id);
            string piece = decoder.Append(id);
            if (piece.Length > 0)
            {
                yield return piece;
            }
        }

        string rest = decoder.Flush();
        if (rest.Length > 0)
        {
            yield return rest;
        }
    }
}
