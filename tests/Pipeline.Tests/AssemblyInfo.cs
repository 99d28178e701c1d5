// Some CLI tests change process-wide environment variables (VIDEOLONG_FFMPEG, to check what happens when FFmpeg is
// missing); tests in other classes probe videos through the same variables, so the classes of this assembly run one
// after another rather than in parallel.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
