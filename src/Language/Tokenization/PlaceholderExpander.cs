namespace VideoLong.Language.Tokenization;

/// <summary>The kind of visual item a placeholder stands for.</summary>
public enum VisualKind
{
    Image,
    Video,
}

/// <summary>
/// Where one visual item's tokens sit in an expanded prompt: ids <c>[Start, Start + Length)</c> are its placeholder
/// token repeated, to be replaced by its <c>Length</c> feature vectors.
/// </summary>
/// <param name="Kind">Image or video.</param>
/// <param name="Index">The item's index among items of its kind (0 = first image, or first video).</param>
/// <param name="Start">Position of its first token.</param>
/// <param name="Length">Number of tokens (its token count).</param>
public readonly record struct VisualSpan(VisualKind Kind, int Index, int Start, int Length);

/// <summary>A prompt whose placeholders have been expanded, and where each visual item's tokens are.</summary>
public sealed record ExpandedPrompt(int[] Ids, IReadOnlyList<VisualSpan> Spans);

/// <summary>
/// The placeholder tokens in a prompt do not match the visual items given: the message says how many of each.
/// </summary>
public sealed class PlaceholderMismatchException : VideoLongException
{
    public PlaceholderMismatchException(string placeholder, int placeholders, int items, string itemName)
        : base($"The prompt has {placeholders} {placeholder} placeholder{(placeholders == 1 ? "" : "s")} but {items} "
               + $"{itemName}{(items == 1 ? " was" : "s were")} given. Hint: each {itemName} needs exactly one {placeholder} in the "
               + $"prompt (ChatContent.{(itemName == "video" ? "Video" : "Image")} in the messages), in the same order.")
    {
        Placeholder = placeholder;
        Placeholders = placeholders;
        Items = items;
    }

    public string Placeholder { get; }

    public int Placeholders { get; }

    public int Items { get; }
}

/// <summary>
/// Expands each visual placeholder token (<c>&lt;image&gt;</c>, <c>&lt;video&gt;</c>) in a tokenized prompt into N
/// copies of itself, N being the number of feature tokens the VLM produces for that item (e.g. 196 per frame × frames
/// for a video). The i-th placeholder of a kind takes the i-th count of that kind; the counts must match the
/// placeholders one to one. This is the token side of HF's multimodal seam (the processor's
/// <c>image_token * num_image_tokens</c> expansion).
/// </summary>
public sealed class PlaceholderExpander
{
    public PlaceholderExpander(int imageTokenId, int videoTokenId, string imagePlaceholder = "<image>", string videoPlaceholder = "<video>")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(imageTokenId);
        ArgumentOutOfRangeException.ThrowIfNegative(videoTokenId);
        if (imageTokenId == videoTokenId)
        {
            throw new ArgumentException($"The image and video placeholders must be different tokens; both are {imageTokenId}.", nameof(videoTokenId));
        }

        ImageTokenId = imageTokenId;
        VideoTokenId = videoTokenId;
        ImagePlaceholder = imagePlaceholder;
        VideoPlaceholder = videoPlaceholder;
    }

    public int ImageTokenId { get; }

    public int VideoTokenId { get; }

    public string ImagePlaceholder { get; }

    public string VideoPlaceholder { get; }

    /// <summary>Looks the placeholder tokens up in the tokenizer (they must be tokens of their own there).</summary>
    /// <exception cref="VideoLongException">The tokenizer lacks one of them.</exception>
    public static PlaceholderExpander ForTokenizer(Qwen2Tokenizer tokenizer, string imagePlaceholder = "<image>", string videoPlaceholder = "<video>")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new PlaceholderExpander(Lookup(imagePlaceholder), Lookup(videoPlaceholder), imagePlaceholder, videoPlaceholder);

        int Lookup(string placeholder) => tokenizer.TokenToId(placeholder)
            ?? throw new VideoLongException($"The tokenizer has no {placeholder} token; expected it among the added tokens (tokenizer.json added_tokens or tokenizer_config.json added_tokens_decoder).");
    }

    /// <summary>
    /// The prompt with each placeholder repeated to its item's token count.
    /// </summary>
    /// <param name="ids">The tokenized prompt, one placeholder token per visual item.</param>
    /// <param name="imageTokenCounts">Tokens for each image, in prompt order.</param>
    /// <param name="videoTokenCounts">Tokens for each video, in prompt order.</param>
    /// <exception cref="PlaceholderMismatchException">The placeholders and the items do not pair up one to one.</exception>
    public ExpandedPrompt Expand(IReadOnlyList<int> ids, IReadOnlyList<int> imageTokenCounts, IReadOnlyList<int> videoTokenCounts)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(imageTokenCounts);
        ArgumentNullException.ThrowIfNull(videoTokenCounts);

        int images = 0, videos = 0;
        foreach (int id in ids)
        {
            images += id == ImageTokenId ? 1 : 0;
            videos += id == VideoTokenId ? 1 : 0;
        }

        if (images != imageTokenCounts.Count)
        {
            throw new PlaceholderMismatchException(ImagePlaceholder, images, imageTokenCounts.Count, "image");
        }

        if (videos != videoTokenCounts.Count)
        {
            throw new PlaceholderMismatchException(VideoPlaceholder, videos, videoTokenCounts.Count, "video");
        }

        long total = ids.Count - images - videos;
        for (int i = 0; i < imageTokenCounts.Count; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageTokenCounts[i], $"{nameof(imageTokenCounts)}[{i}]");
            total += imageTokenCounts[i];
        }

        for (int i = 0; i < videoTokenCounts.Count; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(videoTokenCounts[i], $"{nameof(videoTokenCounts)}[{i}]");
            total += videoTokenCounts[i];
        }

        if (total > Array.MaxLength)
        {
            throw new VideoLongException($"The expanded prompt would have {total} tokens, more than an array can hold ({Array.MaxLength}).");
        }

        var expanded = new int[total];
        var spans = new List<VisualSpan>(images + videos);
        int at = 0, image = 0, video = 0;
        foreach (int id in ids)
        {
            int count = 1;
            if (id == ImageTokenId)
            {
                count = imageTokenCounts[image];
                spans.Add(new VisualSpan(VisualKind.Image, image++, at, count));
            }
            else if (id == VideoTokenId)
            {
                count = videoTokenCounts[video];
                spans.Add(new VisualSpan(VisualKind.Video, video++, at, count));
            }

            expanded.AsSpan(at, count).Fill(id);
            at += count;
        }

        return new ExpandedPrompt(expanded, spans);
    }
}
