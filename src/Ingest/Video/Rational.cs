using System.Globalization;

namespace VideoLong.Ingest;

/// <summary>An exact ratio such as a frame rate (30000/1001) or a time base (1/12800), as FFmpeg reports them.</summary>
public readonly record struct Rational(long Numerator, long Denominator)
{
    public double Value => Denominator == 0 ? 0 : (double)Numerator / Denominator;

    public bool IsValid => Numerator > 0 && Denominator > 0;

    /// <summary>Parses "30000/1001", "25" or "0/0" (invalid values parse to 0/0).</summary>
    public static Rational Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return default;
        }

        string[] parts = text.Split('/', ':');
        if (parts.Length == 1)
        {
            return long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long whole) ? new Rational(whole, 1) : default;
        }

        return parts.Length == 2
               && long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
               && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long d)
            ? new Rational(n, d)
            : default;
    }

    public override string ToString() => $"{Numerator}/{Denominator}";
}
