using System.Globalization;

namespace VideoLong.Ingest;

/// <summary>An exact ratio such as a frame rate (30000/1001) or a time base (1/12800), as FFmpeg reports them.</summary>
public readonly record struct Rational(long Numerator, long Denominator)
{
    public double Value => Denominator == 0 ? 0 : (double)Numerator / Denominator;

    /// <summary>
    /// <paramref name="ticks"/> of this time base in seconds, correctly rounded (1001 ticks of 1/1000 give exactly the
    /// double nearest 1.001, as a parsed "1.001" does; multiplying by 0.001 would not).
    /// </summary>
    public double ToSeconds(long ticks) => (double)ticks * Numerator / Denominator;

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
