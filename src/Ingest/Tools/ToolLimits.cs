namespace VideoLong.Ingest;

/// <summary>Time limits for one tool run: in all, and without any output.</summary>
public readonly record struct ToolLimits(TimeSpan Timeout, TimeSpan InactivityTimeout)
{
    public static ToolLimits Probe { get; } = new(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(60));

    public static ToolLimits Decode { get; } = new(TimeSpan.FromHours(6), TimeSpan.FromSeconds(120));
}
