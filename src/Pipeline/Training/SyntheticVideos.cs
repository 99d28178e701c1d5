using System.Globalization;

namespace VideoLong.Pipeline.Training;

/// <summary>One generated question about a generated video: RGB24 frames (S×S each), the question and its one right answer.</summary>
public sealed record SyntheticSample(string Task, byte[][] Frames, int FrameSize, double DurationSeconds, string Question, string Answer);

/// <summary>Train, validation and test samples come from disjoint seed ranges.</summary>
public enum DataSplit
{
    Train = 0,
    Validation = 1,
    Test = 2,
}

/// <summary>
/// Deterministic synthetic video tasks (no ffmpeg): shapes of known colour, shape and motion, numbers and words drawn with
/// a bitmap font, on noisy procedural backgrounds; templated questions with one exact answer each. A sample depends only
/// on (split, task, index), so any process regenerates the same data. With <paramref name="backgrounds"/> (frames of real
/// footage, RGB24 at the frame size, in time order) a <paramref name="backgroundFraction"/> of the samples, chosen from
/// the seed, play consecutive footage frames (dimmed, so the palette colours stay distinct) under the objects instead of
/// the procedural background, and needle haystacks are footage instead of drifting blocks; the question and answer of a
/// seed are the same either way.
/// </summary>
public sealed class SyntheticVideos(int frameSize = 64, IReadOnlyList<byte[]>? backgrounds = null, double backgroundFraction = 0)
{
    /// <summary>Footage backgrounds are scaled by this (bright palette objects over them stay tellable apart).</summary>
    public const double FootageBrightness = 0.55;

    public static IReadOnlyList<string> Tasks { get; } = ["count", "color", "shape", "number", "word", "order", "when", "motion", "caption", "needle"];

    public static IReadOnlyList<string> Colors { get; } = ["red", "green", "blue", "yellow", "white", "purple"];

    public static IReadOnlyList<string> Shapes { get; } = ["square", "circle", "triangle"];

    public static IReadOnlyList<string> Words { get; } = ["CAT", "DOG", "SUN", "MOON", "TREE", "BIRD", "FISH", "STAR", "BOAT", "CAR", "HAT", "KEY", "BOOK", "LAMP", "RAIN", "SHIP"];

    public static IReadOnlyList<string> Directions { get; } = ["left", "right", "up", "down"];

    private static readonly byte[][] Rgb =
    [
        [225, 40, 40], [40, 205, 60], [50, 100, 235], [235, 220, 40], [240, 240, 240], [165, 60, 210],
    ];

    public int FrameSize { get; } = frameSize >= 48 ? frameSize : throw new ArgumentOutOfRangeException(nameof(frameSize), "Frames must be at least 48 px (two digits of the 5×7 font at 3× scale).");

    /// <summary>Footage frames (RGB24, FrameSize² each) or null.</summary>
    public IReadOnlyList<byte[]>? Backgrounds { get; } = backgrounds is null ? null
        : backgrounds.Count > 0 && backgrounds.All(b => b.Length == frameSize * frameSize * 3) ? backgrounds
        : throw new ArgumentException($"Background frames must be {frameSize}×{frameSize} RGB24 ({frameSize * frameSize * 3} bytes each), at least one.", nameof(backgrounds));

    /// <summary>The share of samples on footage (0 … 1).</summary>
    public double BackgroundFraction { get; } = backgroundFraction is >= 0 and <= 1 ? backgroundFraction
        : throw new ArgumentOutOfRangeException(nameof(backgroundFraction), backgroundFraction, "The background fraction lies in [0, 1].");

    /// <summary>Whether the sample of <paramref name="seed"/> plays on footage (deterministic; independent of the sample's own random stream).</summary>
    public bool UsesFootage(int seed) => Backgrounds is not null && Uniform(seed, 0xB6) < BackgroundFraction;

    /// <summary>A deterministic uniform number in [0, 1) for (<paramref name="index"/>, <paramref name="salt"/>): SplitMix64.</summary>
    public static double Uniform(long index, long salt)
    {
        ulong z = unchecked((ulong)index + ((ulong)salt * 0x9E3779B97F4A7C15UL) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>The seed of sample <paramref name="index"/> of <paramref name="task"/> in <paramref name="split"/> (disjoint ranges per split and task).</summary>
    public static int SeedOf(DataSplit split, string task, long index)
    {
        int t = Tasks.ToList().IndexOf(task);
        if (t < 0)
        {
            throw new VideoLongException($"Unknown task '{task}'. Tasks: {string.Join(", ", Tasks)}.");
        }

        if (index is < 0 or >= 10_000_000)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, "Sample indices run from 0 to 9,999,999.");
        }

        return (((int)split * 16) + t) * 10_000_000 + (int)index;
    }

    public SyntheticSample Generate(DataSplit split, string task, long index, int frames) => Generate(task, SeedOf(split, task, index), frames);

    /// <summary>One sample of <paramref name="task"/> with <paramref name="frames"/> frames from <paramref name="seed"/>.</summary>
    public SyntheticSample Generate(string task, int seed, int frames)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 4);
        var rng = new Random(seed);
        double step = rng.Next(2) == 0 ? 1.0 : 2.0;                                    // seconds between sampled frames
        var canvas = new Canvas(FrameSize, frames, rng);
        if (UsesFootage(seed))
        {
            canvas.Footage(Backgrounds!, (int)(Uniform(seed, 0xB7) * Backgrounds!.Count));
        }
        (string question, string answer) = task switch
        {
            "count" => Count(canvas, rng),
            "color" => ColorTask(canvas, rng),
            "shape" => ShapeTask(canvas, rng),
            "number" => NumberTask(canvas, rng),
            "word" => WordTask(canvas, rng),
            "order" => Order(canvas, rng),
            "when" => When(canvas, rng, step),
            "motion" => Motion(canvas, rng),
            "caption" => Caption(canvas, rng),
            "needle" => Needle(canvas, rng),
            _ => throw new VideoLongException($"Unknown task '{task}'. Tasks: {string.Join(", ", Tasks)}."),
        };
        return new SyntheticSample(task, canvas.Frames, FrameSize, frames * step, question, answer);
    }

    private (string, string) Count(Canvas c, Random rng)
    {
        int n = 1 + rng.Next(5);
        int cells = 3, cell = FrameSize / cells;
        int[] chosen = Enumerable.Range(0, cells * cells).OrderBy(_ => rng.Next()).Take(n).ToArray();
        foreach (int k in chosen)
        {
            int r = 5 + rng.Next(3);
            int x = ((k % cells) * cell) + (cell / 2) + rng.Next(-2, 3), y = ((k / cells) * cell) + (cell / 2) + rng.Next(-2, 3);
            c.Shape(rng.Next(Shapes.Count), rng.Next(Colors.Count), r, x, y, 0, 0, 0, c.Count);
        }

        return ("How many shapes are in the video?", n.ToString(CultureInfo.InvariantCulture));
    }

    private (string, string) ColorTask(Canvas c, Random rng)
    {
        int shape = rng.Next(Shapes.Count), color = rng.Next(Colors.Count);
        PlaceMoving(c, rng, shape, color, 0, c.Count, moving: rng.Next(2) == 0);
        return ($"What color is the {Shapes[shape]}?", Colors[color]);
    }

    private (string, string) ShapeTask(Canvas c, Random rng)
    {
        int[] colors = Distinct(rng, Colors.Count, 2);
        int shape = rng.Next(Shapes.Count);
        PlaceMoving(c, rng, shape, colors[0], 0, c.Count, moving: rng.Next(2) == 0);
        if (rng.Next(2) == 0)
        {
            PlaceMoving(c, rng, rng.Next(Shapes.Count), colors[1], 0, c.Count, moving: false);
        }

        return ($"What shape is the {Colors[colors[0]]} object?", Shapes[shape]);
    }

    private (string, string) NumberTask(Canvas c, Random rng)
    {
        int number = rng.Next(100);
        string text = number.ToString(CultureInfo.InvariantCulture);
        int scale = 3, w = Glyphs.TextWidth(text, scale), h = Glyphs.Height * scale;
        int x = rng.Next(1, FrameSize - w - 1), y = rng.Next(1, FrameSize - h - 1);
        c.Text(text, scale, rng.Next(Colors.Count), x, y, 0, c.Count);
        return ("What number is shown in the video?", text);
    }

    private (string, string) WordTask(Canvas c, Random rng)
    {
        string word = Words[rng.Next(Words.Count)];
        int scale = 2, w = Glyphs.TextWidth(word, scale), h = Glyphs.Height * scale;
        int x = rng.Next(1, FrameSize - w - 1), y = rng.Next(1, FrameSize - h - 1);
        c.Text(word, scale, rng.Next(Colors.Count), x, y, 0, c.Count);
        return ("What word is written in the video?", word.ToLowerInvariant());
    }

    private (string, string) Order(Canvas c, Random rng)
    {
        int[] colors = Distinct(rng, Colors.Count, 2);
        int[] shapes = [rng.Next(Shapes.Count), rng.Next(Shapes.Count)];
        int f = c.Count, len = Math.Max(2, f / 4);
        int a = rng.Next(0, f - (2 * len) + 1), b = rng.Next(a + len, f - len + 1);
        PlaceMoving(c, rng, shapes[0], colors[0], a, a + len, moving: rng.Next(2) == 0);
        PlaceMoving(c, rng, shapes[1], colors[1], b, b + len, moving: rng.Next(2) == 0);
        string first = $"the {Colors[colors[0]]} {Shapes[shapes[0]]}", second = $"the {Colors[colors[1]]} {Shapes[shapes[1]]}";
        string question = rng.Next(2) == 0 ? $"Which appears first, {first} or {second}?" : $"Which appears first, {second} or {first}?";
        return (question, first);
    }

    private (string, string) When(Canvas c, Random rng, double step)
    {
        int[] colors = Distinct(rng, Colors.Count, 2);
        int shape = rng.Next(Shapes.Count);
        int k = rng.Next(1, c.Count - 1);
        PlaceMoving(c, rng, rng.Next(Shapes.Count), colors[1], 0, c.Count, moving: false);
        PlaceMoving(c, rng, shape, colors[0], k, c.Count, moving: rng.Next(2) == 0);
        string seconds = (k * step).ToString("0", CultureInfo.InvariantCulture);
        return ($"When does the {Colors[colors[0]]} {Shapes[shape]} appear?", $"at {seconds} seconds");
    }

    private (string, string) Motion(Canvas c, Random rng)
    {
        int shape = rng.Next(Shapes.Count), color = rng.Next(Colors.Count), direction = rng.Next(4);
        PlaceDirected(c, rng, shape, color, direction);
        return ($"Which way does the {Colors[color]} {Shapes[shape]} move?", Directions[direction]);
    }

    private (string, string) Caption(Canvas c, Random rng)
    {
        int n = 1 + rng.Next(2);
        int[] colors = Distinct(rng, Colors.Count, n);
        var objects = new List<(int X, string Sentence)>();
        int half = FrameSize / 2;
        for (int i = 0; i < n; i++)
        {
            int shape = rng.Next(Shapes.Count);
            int direction = rng.Next(5);                                                 // 4 = still
            // Two objects start in different halves (left, right), so "sorted by start x" is well defined.
            int x0 = n == 1 ? -1 : i == 0 ? rng.Next(10, half - 10) : rng.Next(half + 10, FrameSize - 10);
            int startX = direction == 4 ? PlaceMoving(c, rng, shape, colors[i], 0, c.Count, moving: false, x0) : PlaceDirected(c, rng, shape, colors[i], direction, x0);
            string verb = direction == 4 ? "stays still" : $"moves {Directions[direction]}";
            objects.Add((startX, $"A {Colors[colors[i]]} {Shapes[shape]} {verb}."));
        }

        return ("Describe the video.", string.Join(" ", objects.OrderBy(o => o.X).Select(o => o.Sentence)));
    }

    private (string, string) Needle(Canvas c, Random rng)
    {
        int f = c.Count;
        c.Haystack();
        for (int d = 0; d < 2; d++)
        {
            PlaceMoving(c, rng, rng.Next(Shapes.Count), rng.Next(Colors.Count), 0, f, moving: true, dim: true);
        }

        int at = rng.Next(f);
        int number = rng.Next(10, 100);
        string text = number.ToString(CultureInfo.InvariantCulture);
        int scale = 3, w = Glyphs.TextWidth(text, scale), h = Glyphs.Height * scale;
        c.Text(text, scale, rng.Next(Colors.Count), rng.Next(1, FrameSize - w - 1), rng.Next(1, FrameSize - h - 1), at, at + 1);
        return ("What number is shown in one frame of the video?", text);
    }

    /// <summary>A shape over frames [from, to), static or drifting in a random direction; returns its start x.</summary>
    private int PlaceMoving(Canvas c, Random rng, int shape, int color, int from, int to, bool moving, int x0 = -1, bool dim = false)
    {
        int r = 5 + rng.Next(4);
        int span = Math.Max(1, to - from - 1);
        double vx = moving ? (rng.NextDouble() - 0.5) * 16 / span : 0, vy = moving ? (rng.NextDouble() - 0.5) * 16 / span : 0;
        int margin = r + 9;
        int x = x0 >= 0 ? x0 : rng.Next(margin, FrameSize - margin), y = rng.Next(margin, FrameSize - margin);
        c.Shape(shape, color, r, x, y, vx, vy, from, to, dim);
        return x;
    }

    /// <summary>A shape moving steadily left, right, up or down across the whole clip; returns its start x.</summary>
    private int PlaceDirected(Canvas c, Random rng, int shape, int color, int direction, int x0 = -1)
    {
        int r = 5 + rng.Next(3);
        double travel = FrameSize * 0.45, v = travel / Math.Max(1, c.Count - 1);
        (double vx, double vy) = direction switch { 0 => (-v, 0.0), 1 => (v, 0.0), 2 => (0.0, -v), _ => (0.0, v) };
        int lo = r + 1, hi = FrameSize - r - 1;
        int x = x0 >= 0 ? x0 : vx < 0 ? rng.Next(lo + (int)travel, hi) : vx > 0 ? rng.Next(lo, hi - (int)travel) : rng.Next(lo, hi);
        int y = vy < 0 ? rng.Next(lo + (int)travel, hi) : vy > 0 ? rng.Next(lo, hi - (int)travel) : rng.Next(lo, hi);
        c.Shape(shape, color, r, x, y, vx, vy, 0, c.Count);
        return x;
    }

    private static int[] Distinct(Random rng, int count, int take) => Enumerable.Range(0, count).OrderBy(_ => rng.Next()).Take(take).ToArray();

    /// <summary>The frames of one sample: a noisy background per frame, then shapes and text drawn over it.</summary>
    private sealed class Canvas
    {
        private readonly int _size;
        private readonly Random _rng;

        public Canvas(int size, int count, Random rng)
        {
            _size = size;
            _rng = rng;
            Count = count;
            Frames = new byte[count][];
            int[] baseColor = [rng.Next(0, 70), rng.Next(0, 70), rng.Next(0, 70)];
            int[] gradient = [rng.Next(-30, 31), rng.Next(-30, 31), rng.Next(-30, 31)];
            for (int f = 0; f < count; f++)
            {
                byte[] frame = new byte[size * size * 3];
                for (int y = 0; y < size; y++)
                {
                    for (int x = 0; x < size; x++)
                    {
                        int o = ((y * size) + x) * 3;
                        for (int ch = 0; ch < 3; ch++)
                        {
                            frame[o + ch] = Clamp(baseColor[ch] + (gradient[ch] * y / size) + rng.Next(-8, 9));
                        }
                    }
                }

                Frames[f] = frame;
            }
        }

        public int Count { get; }

        public byte[][] Frames { get; }

        /// <summary>Whether the frames are footage (then <see cref="Haystack"/> draws nothing, yet takes the same random numbers).</summary>
        public bool IsFootage { get; private set; }

        /// <summary>Replaces the procedural background by consecutive footage frames from <paramref name="start"/> (wrapping), dimmed.</summary>
        public void Footage(IReadOnlyList<byte[]> frames, int start)
        {
            IsFootage = true;
            for (int f = 0; f < Count; f++)
            {
                byte[] source = frames[(start + f) % frames.Count], target = Frames[f];
                for (int i = 0; i < target.Length; i++)
                {
                    target[i] = (byte)(source[i] * FootageBrightness);
                }
            }
        }

        /// <summary>Footage-like clutter for haystacks: dim drifting blocks that change from frame to frame.</summary>
        public void Haystack()
        {
            int blocks = 3 + _rng.Next(4);
            for (int b = 0; b < blocks; b++)
            {
                int w = _rng.Next(8, 24), h = _rng.Next(8, 24);
                double x = _rng.Next(0, _size - w), y = _rng.Next(0, _size - h), vx = (_rng.NextDouble() - 0.5) * 2, vy = (_rng.NextDouble() - 0.5) * 2;
                byte[] tone = [(byte)_rng.Next(30, 110), (byte)_rng.Next(30, 110), (byte)_rng.Next(30, 110)];
                for (int f = 0; f < (IsFootage ? 0 : Count); f++)
                {
                    int x0 = (int)Math.Clamp(x + (vx * f), 0, _size - w), y0 = (int)Math.Clamp(y + (vy * f), 0, _size - h);
                    for (int yy = y0; yy < y0 + h; yy++)
                    {
                        for (int xx = x0; xx < x0 + w; xx++)
                        {
                            Set(f, xx, yy, tone);
                        }
                    }
                }
            }
        }

        public void Shape(int shape, int color, int r, double x, double y, double vx, double vy, int from, int to, bool dim = false)
        {
            byte[] rgb = Rgb[color];
            if (dim)
            {
                rgb = [(byte)(rgb[0] / 2), (byte)(rgb[1] / 2), (byte)(rgb[2] / 2)];
            }

            for (int f = Math.Max(0, from); f < Math.Min(Count, to); f++)
            {
                int cx = (int)Math.Round(x + (vx * (f - from))), cy = (int)Math.Round(y + (vy * (f - from)));
                for (int dy = -r; dy <= r; dy++)
                {
                    for (int dx = -r; dx <= r; dx++)
                    {
                        bool inside = shape switch
                        {
                            0 => Math.Abs(dx) <= r - 1 && Math.Abs(dy) <= r - 1,                    // square
                            1 => (dx * dx) + (dy * dy) <= r * r,                                 // circle
                            _ => 2 * Math.Abs(dx) <= dy + r,                                       // triangle, apex up
                        };
                        if (inside)
                        {
                            Set(f, cx + dx, cy + dy, rgb);
                        }
                    }
                }
            }
        }

        public void Text(string text, int scale, int color, int x, int y, int from, int to)
        {
            byte[] rgb = Rgb[color];
            for (int f = Math.Max(0, from); f < Math.Min(Count, to); f++)
            {
                for (int i = 0; i < text.Length; i++)
                {
                    int gx = x + (i * (Glyphs.Width + 1) * scale);
                    for (int py = 0; py < Glyphs.Height * scale; py++)
                    {
                        for (int px = 0; px < Glyphs.Width * scale; px++)
                        {
                            if (Glyphs.IsSet(text[i], px / scale, py / scale))
                            {
                                Set(f, gx + px, y + py, rgb);
                            }
                        }
                    }
                }
            }
        }

        private void Set(int f, int x, int y, byte[] rgb)
        {
            if (x < 0 || y < 0 || x >= _size || y >= _size)
            {
                return;
            }

            int o = ((y * _size) + x) * 3;
            Frames[f][o] = rgb[0];
            Frames[f][o + 1] = rgb[1];
            Frames[f][o + 2] = rgb[2];
        }

        private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
    }
}
