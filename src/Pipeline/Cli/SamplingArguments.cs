using System.CommandLine;
using System.Globalization;
using VideoLong.Ingest;

namespace VideoLong.Pipeline.Cli;

/// <summary>The sampling and decoding options shared by <c>frames</c> and <c>probe --plan</c>.</summary>
internal sealed class SamplingArguments
{
    public Option<double?> Fps { get; } = new("--fps") { Description = "Sample at a fixed rate (frames per second)." };

    public Option<int?> Count { get; } = new("--count") { Description = "Number of frames (uniform midpoints; the N of longvila; the maximum for keyframes)." };

    public Option<string?> Strategy { get; } = new("--strategy")
    {
        Description = "uniform | dynamic-fps (VideoChat-Flash dynamic_fps1) | longvila | keyframes.",
    };

    public Option<double?> Start { get; } = new("--start") { Description = "Start of the time range in seconds (inclusive)." };

    public Option<double?> End { get; } = new("--end") { Description = "End of the time range in seconds (exclusive)." };

    public Option<string> OnOutOfRange { get; } = new("--on-out-of-range")
    {
        Description = "error | clamp | repeat-last: what to do when a request goes beyond the video.",
        DefaultValueFactory = _ => "error",
    };

    public Option<string> Mode { get; } = new("--mode")
    {
        Description = "auto | keyframes | seek | sequential: force a decode mode instead of the planner's choice.",
        DefaultValueFactory = _ => "auto",
    };

    public Option<bool> Approximate { get; } = new("--approximate")
    {
        Description = "Allow the nearest keyframes to stand in for the requested frames when that is cheaper.",
    };

    public Option<int> ClipLength { get; } = new("--clip-length") { Description = "dynamic-fps: clip length (frame count multiple).", DefaultValueFactory = _ => 4 };

    public Option<int> MinFrames { get; } = new("--min-frames") { Description = "dynamic-fps: lower bound on frames.", DefaultValueFactory = _ => 64 };

    public Option<int> MaxFrames { get; } = new("--max-frames") { Description = "dynamic-fps: upper bound on frames.", DefaultValueFactory = _ => 512 };

    public Option<double> MaxFps { get; } = new("--max-fps") { Description = "longvila: maximum frames per second.", DefaultValueFactory = _ => 2.0 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Fps, Count, Strategy, Start, End, OnOutOfRange, Mode, Approximate, ClipLength, MinFrames, MaxFrames, MaxFps })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>True when any sampling option was given.</summary>
    public bool AnyGiven(ParseResult parse) =>
        parse.GetValue(Fps) is not null || parse.GetValue(Count) is not null || parse.GetValue(Strategy) is not null;

    public PlannerOptions Planner(ParseResult parse)
    {
        DecodeMode? force = parse.GetValue(Mode) switch
        {
            "auto" => null,
            "keyframes" => DecodeMode.KeyframesOnly,
            "seek" => DecodeMode.SeekPerSample,
            "sequential" => DecodeMode.Sequential,
            var other => throw new VideoLongException($"Invalid --mode '{other}': accepted values are auto, keyframes, seek, sequential."),
        };
        return new PlannerOptions { Force = force, AllowApproximate = parse.GetValue(Approximate) };
    }

    /// <summary>Builds the sampler the options describe (exactly one of --fps, --count, --strategy decides).</summary>
    public SamplePlan Sample(ParseResult parse, VideoTimeline timeline)
    {
        double? fps = parse.GetValue(Fps);
        int? count = parse.GetValue(Count);
        string? strategy = parse.GetValue(Strategy);
        OutOfRangePolicy policy = parse.GetValue(OnOutOfRange) switch
        {
            "error" => OutOfRangePolicy.Error,
            "clamp" => OutOfRangePolicy.Clamp,
            "repeat-last" => OutOfRangePolicy.RepeatLast,
            var other => throw new VideoLongException($"Invalid --on-out-of-range '{other}': accepted values are error, clamp, repeat-last."),
        };
        TimeRange range = new(parse.GetValue(Start) ?? 0, parse.GetValue(End) ?? double.PositiveInfinity);

        if (fps is not null && (strategy is not null || count is not null))
        {
            throw new VideoLongException("Give either --fps, or --count, or --strategy (with an optional --count), not several.");
        }

        if (count is <= 0)
        {
            throw new VideoLongException($"Invalid --count {count}: must be ≥ 1.");
        }

        if (fps is not null)
        {
            return FrameSamplers.Fps(timeline, fps.Value, range, policy);
        }

        return strategy switch
        {
            null when count is not null => FrameSamplers.Uniform(timeline, count.Value, range, policy),
            null => throw new VideoLongException("Say how to sample: --fps F, --count N, or --strategy uniform|dynamic-fps|longvila|keyframes."),
            "uniform" => FrameSamplers.Uniform(timeline, count ?? throw new VideoLongException("--strategy uniform needs --count N."), range, policy),
            "dynamic-fps" => FrameSamplers.DynamicFps1(timeline, parse.GetValue(ClipLength), parse.GetValue(MinFrames), parse.GetValue(MaxFrames), range,
                parse.GetResult(OnOutOfRange) is { Implicit: false } ? policy : OutOfRangePolicy.RepeatLast),
            "longvila" => FrameSamplers.LongVila(timeline, count ?? throw new VideoLongException("--strategy longvila needs --count N (frames)."), parse.GetValue(MaxFps), range, policy),
            "keyframes" => FrameSamplers.Keyframes(timeline, range, count, policy),
            _ => throw new VideoLongException($"Invalid --strategy '{strategy}': accepted values are uniform, dynamic-fps, longvila, keyframes."),
        };
    }

    internal static string Seconds(double s) => s.ToString("0.000", CultureInfo.InvariantCulture);
}
