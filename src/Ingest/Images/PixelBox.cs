using System.Globalization;

namespace VideoLong.Ingest.Images;

/// <summary>
/// A rectangle of pixels in image coordinates: columns <c>[X, X + Width)</c> and rows <c>[Y, Y + Height)</c>
/// (half-open, origin at the top-left pixel). Width and height are always positive and the box never reaches past
/// <see cref="int.MaxValue"/>; whether it fits a given image is checked where it is used.
/// </summary>
public readonly record struct PixelBox
{
    /// <exception cref="ArgumentOutOfRangeException">A negative origin, a non-positive size, or a right/bottom edge past <see cref="int.MaxValue"/>.</exception>
    public PixelBox(int x, int y, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(x);
        ArgumentOutOfRangeException.ThrowIfNegative(y);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if ((long)x + width > int.MaxValue || (long)y + height > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"Box {x},{y},{width},{height} reaches past {int.MaxValue} px.");
        }

        X = x;
        Y = y;
        Width = width;
        Height = height;
    }

    /// <summary>Left column (inclusive).</summary>
    public int X { get; }

    /// <summary>Top row (inclusive).</summary>
    public int Y { get; }

    public int Width { get; }

    public int Height { get; }

    /// <summary>One past the last column.</summary>
    public int Right => X + Width;

    /// <summary>One past the last row.</summary>
    public int Bottom => Y + Height;

    /// <summary>Number of pixels.</summary>
    public long Area => (long)Width * Height;

    /// <summary>True only for <c>default(PixelBox)</c>, which has no size; every constructed box has a positive size.</summary>
    public bool IsEmpty => Width <= 0 || Height <= 0;

    /// <summary>Whether <paramref name="other"/> lies entirely inside this box.</summary>
    public bool Contains(PixelBox other) =>
        !IsEmpty && !other.IsEmpty && other.X >= X && other.Y >= Y && other.Right <= Right && other.Bottom <= Bottom;

    /// <summary>The overlap of the two boxes, or <c>null</c> when they do not overlap.</summary>
    public PixelBox? Intersect(PixelBox other)
    {
        if (IsEmpty || other.IsEmpty)
        {
            return null;
        }

        int left = Math.Max(X, other.X);
        int top = Math.Max(Y, other.Y);
        int right = Math.Min(Right, other.Right);
        int bottom = Math.Min(Bottom, other.Bottom);
        return right > left && bottom > top ? new PixelBox(left, top, right - left, bottom - top) : null;
    }

    /// <summary>The box moved by (<paramref name="dx"/>, <paramref name="dy"/>).</summary>
    public PixelBox Offset(int dx, int dy) => new(X + dx, Y + dy, Width, Height);

    /// <summary>"X,Y,W,H", the syntax <see cref="Parse"/> reads.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{X},{Y},{Width},{Height}");

    /// <summary>Parses "X,Y,W,H" (four integers, comma-separated, whitespace allowed), as given on a command line.</summary>
    /// <exception cref="FormatException">Not four integers, or a negative origin or non-positive size.</exception>
    public static PixelBox Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[4];
        if (parts.Length != 4)
        {
            throw new FormatException($"'{text}' is not a pixel box: expected X,Y,W,H (four integers), e.g. 0,0,1024,1024.");
        }

        for (int i = 0; i < 4; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out values[i]))
            {
                throw new FormatException($"'{text}' is not a pixel box: '{parts[i]}' is not an integer. Expected X,Y,W,H, e.g. 0,0,1024,1024.");
            }
        }

        if (values[0] < 0 || values[1] < 0 || values[2] <= 0 || values[3] <= 0)
        {
            throw new FormatException($"'{text}' is not a pixel box: X and Y must be ≥ 0, W and H > 0.");
        }

        try
        {
            return new PixelBox(values[0], values[1], values[2], values[3]);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"'{text}' is not a pixel box: {e.Message}", e);
        }
    }
}
