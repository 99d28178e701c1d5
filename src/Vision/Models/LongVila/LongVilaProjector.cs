// LongVILA's multimodal projector "mlp_downsample": a 2×2 spatial concatenation of the tower's patch features
// (DownSampleBlock), then LayerNorm(4C) → Linear(4C→H) → GELU (exact) → Linear(H→H). For SigLIP so400m/14 at 384 px:
// 27×27×1152 → zero-pad to 28×28 (bottom row, right column) → 14×14×4608 → 196 tokens of width H per frame.
// See ALGORITHMS.md §4.1 and §8.6.
// Reference: NVlabs/VILA @b760c34, llava/model/multimodal_projector/base_projector.py (DownSampleBlock.flat_square and
// MultimodalProjector, mm_projector_type "mlp_downsample"). Checkpoint keys follow its nn.Sequential numbering:
// layers.1 (LayerNorm), layers.2 (Linear), layers.4 (Linear); 0 (DownSampleBlock) and 3 (GELU) have no weights.
//
// Token order. Each output token (i, j) concatenates the channels of input positions
// [(2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1)] (row, column). flat_square, however, leaves the 2×2 grid transposed:
// its output tokens run column-pair-major, token t = j·(h/2) + i, not raster order (i·(w/2) + j). InternVL's
// pixel_shuffle calls this "ps_version v1" and fixes it in v2 with one more permute; VILA keeps v1, and its LLM was
// trained on that order, so this port reproduces it exactly (ALGORITHMS.md §8.6 says "raster output"; the code says
// otherwise, and the code is what the weights saw).

using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace VideoLong.Vision.Models.LongVila;

/// <summary>
/// LongVILA's <c>mlp_downsample</c> projector: patch features [N, h·w, C] with h = w → visual tokens
/// [N, ⌈h/2⌉·⌈w/2⌉, H] for the LLM (27×27 → 196).
/// </summary>
public sealed class LongVilaProjector : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    /// <param name="mmHiddenSize">C, the vision tower's width (1152 for SigLIP so400m).</param>
    /// <param name="hiddenSize">H, the LLM's width (1536 for Qwen2-1.5B, 3584 for Qwen2-7B).</param>
    public LongVilaProjector(int mmHiddenSize, int hiddenSize, Device? device = null, ScalarType? dtype = null)
        : base(nameof(LongVilaProjector))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mmHiddenSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        MmHiddenSize = mmHiddenSize;
        HiddenSize = hiddenSize;
        layers = Sequential(
            ("0", new DownSampleBlock()),
            ("1", LayerNorm(4L * mmHiddenSize, device: device, dtype: dtype)),          // torch default eps 1e-5
            ("2", Linear(4L * mmHiddenSize, hiddenSize, device: device, dtype: dtype)),
            ("3", GELU()),
            ("4", Linear(hiddenSize, hiddenSize, device: device, dtype: dtype)));
        RegisterComponents();
    }

    /// <summary>C: the width of the patch features that come in.</summary>
    public int MmHiddenSize { get; }

    /// <summary>H: the width of the tokens that go out.</summary>
    public int HiddenSize { get; }

    /// <summary>Tokens out for <paramref name="inputTokens"/> = s² tokens in: ⌈s/2⌉² (729 → 196).</summary>
    public static int OutputTokens(int inputTokens)
    {
        int side = SquareSide(inputTokens) ?? throw new ArgumentException(
            $"The projector takes a square grid of patch tokens; {inputTokens} is not a perfect square.", nameof(inputTokens));
        int half = (side + 1) / 2;
        return half * half;
    }

    /// <summary>
    /// Loads a VILA <c>mm_projector</c> folder (config.json with <c>mm_projector_type: "mlp_downsample"</c> and
    /// model.safetensors). C and H are read off <c>layers.2.weight</c> [H, 4C]; the rest is loaded strictly.
    /// </summary>
    public static async Task<LongVilaProjector> FromPretrainedAsync(string directory, ModelLoadOptions? options = null,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new ModelLoadOptions();
        string configFile = Path.Combine(directory, "config.json");
        if (File.Exists(configFile))
        {
            using JsonDocument doc = ModelConfigReader.Parse(await File.ReadAllTextAsync(configFile, cancellationToken), configFile);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("mm_projector_type", out JsonElement type) && type.GetString() != "mlp_downsample")
            {
                throw new ModelConfigException(configFile, "mm_projector_type",
                    $"{configFile}: mm_projector_type is '{type}'; LongVilaProjector implements mlp_downsample only.");
            }
        }

        (Device device, ScalarType dtype) = options.Resolve();
        return await Task.Run(() =>
        {
            using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory);
            long[] shape = checkpoint.Entry("layers.2.weight").Shape;                 // [H, 4C]
            if (shape.Length != 2 || shape[1] % 4 != 0 || shape[0] > int.MaxValue || shape[1] / 4 > int.MaxValue)
            {
                throw new WeightLoadException(checkpoint.Path,
                    $"layers.2.weight has shape [{string.Join(", ", shape)}]; mlp_downsample expects [H, 4·C].");
            }

            var projector = new LongVilaProjector((int)(shape[1] / 4), (int)shape[0], device, dtype);
            try
            {
                WeightLoader.LoadStrict(projector, checkpoint, $"LongVilaProjector (mlp_downsample, C {shape[1] / 4}, H {shape[0]})",
                    null, progress, cancellationToken);
                foreach (Parameter p in projector.parameters())
                {
                    p.requires_grad = false;
                }

                projector.eval();
                return projector;
            }
            catch
            {
                projector.Dispose();
                throw;
            }
        }, cancellationToken);
    }

    public override Tensor forward(Tensor features)                                  // [N, h·w, C]
    {
        CheckFeatures(features, MmHiddenSize);
        using DisposeScope scope = NewDisposeScope();
        Parameter weight = layers.parameters().First();
        Tensor input = features.to(weight.dtype, weight.device);                     // [N, h·w, C], in the weights' dtype
        return layers.forward(input).MoveToOuterDisposeScope();                     // [N, ⌈h/2⌉·⌈w/2⌉, H]
    }

    /// <summary>
    /// The weight-free first stage alone (layers.0, VILA's DownSampleBlock): [N, h·w, C] → [N, ⌈h/2⌉·⌈w/2⌉, 4C], odd
    /// grids zero-padded at the bottom and right, channels [(2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1)] per token, tokens
    /// in VILA's column-pair-major order (see the file header).
    /// </summary>
    public static Tensor Downsample(Tensor features)
    {
        CheckFeatures(features, channels: null);
        return DownSampleBlock.FlatSquare(features);
    }

    private static void CheckFeatures(Tensor features, int? channels)
    {
        ArgumentNullException.ThrowIfNull(features);
        long[] shape = features.shape;
        if (shape.Length != 3 || shape[0] < 1 || shape[2] < 1 || (channels is { } c && shape[2] != c)
            || shape[1] > int.MaxValue || SquareSide((int)shape[1]) is null)
        {
            throw new ModelInputException(nameof(features), shape,
                $"Projector input must be [N, s·s, {(channels is { } c2 ? c2.ToString(System.Globalization.CultureInfo.InvariantCulture) : "C")}] " +
                $"(a square grid of patch features, N ≥ 1); got [{string.Join(", ", shape)}].");
        }
    }

    private static int? SquareSide(int tokens)
    {
        if (tokens <= 0)
        {
            return null;
        }

        int side = (int)Math.Round(Math.Sqrt(tokens));
        return side * side == tokens ? side : null;
    }
}

/// <summary>layers.0: VILA's DownSampleBlock (flat_square), op for op.</summary>
internal sealed class DownSampleBlock : Module<Tensor, Tensor>
{
    public DownSampleBlock() : base(nameof(DownSampleBlock))
    {
    }

    public override Tensor forward(Tensor features) => FlatSquare(features);       // [N, h·w, C] -> [N, ⌈h/2⌉·⌈w/2⌉, 4C]

    public static Tensor FlatSquare(Tensor features)                                 // [N, h·w, C]
    {
        using DisposeScope scope = NewDisposeScope();
        long n = features.shape[0];
        long side = (long)Math.Round(Math.Sqrt(features.shape[1]));
        long c = features.shape[2];
        Tensor x = features.reshape(n, side, side, c).contiguous();                  // [N, h·w, C] -> [N, h, w, C]  (row, column)
        long rows = side;
        long cols = side;
        if (rows % 2 == 1)
        {
            x = cat([x, zeros(n, 1, cols, c, dtype: x.dtype, device: x.device)], 1);  // [N, h, w, C] -> [N, h+1, w, C]  (zero row at the bottom)
            rows++;
        }

        if (cols % 2 == 1)
        {
            x = cat([x, zeros(n, rows, 1, c, dtype: x.dtype, device: x.device)], 2);  // [N, h', w, C] -> [N, h', w+1, C]  (zero column at the right)
            cols++;
        }

        x = x.view(n, rows, cols / 2, 2 * c);                                         // [N, h', w', C] -> [N, h', w'/2, (col parity, C)]
        x = x.permute(0, 2, 1, 3).contiguous();                                      // -> [N, w'/2, h', 2C]  (column pair j, row r)
        x = x.view(n, cols / 2, rows / 2, 4 * c);                                     // -> [N, w'/2, h'/2, (row parity, col parity, C)]  (j, i)
        Tensor tokens = x.reshape(n, -1, 4 * c);                                     // -> [N, (w'/2)·(h'/2), 4C]  (token t = j·h'/2 + i)
        return tokens.MoveToOuterDisposeScope();
    }
}
