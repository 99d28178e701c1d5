using TorchSharp;
using VideoLong.Vision.Weights;

namespace VideoLong.Testing;

/// <summary>
/// The reference fixtures made by <c>tools/reference/make_fixtures.py</c> on the GPU host with transformers (tiny random
/// configurations of the real architectures): <c>tests/fixtures/reference/NAME/{config.json, model.safetensors,
/// reference.safetensors, reference.json}</c>.
/// </summary>
internal static class Fixtures
{
    public static string Root { get; } = FindRoot();

    public static string Dir(string name) => Path.Combine(Root, name);

    /// <summary>One tensor of <c>NAME/reference.safetensors</c>.</summary>
    public static torch.Tensor Reference(string name, string tensor, torch.ScalarType? dtype = null)
    {
        using SafetensorsCheckpoint file = SafetensorsCheckpoint.Open(Path.Combine(Dir(name), "reference.safetensors"));
        return file.Load(tensor, dtype);
    }

    private static string FindRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "fixtures", "reference");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/fixtures/reference not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Tolerance checks that say where tensors differ: |a − b| ≤ atol + rtol·|expected|.</summary>
internal static class TensorAssert
{
    public static void Close(torch.Tensor expected, torch.Tensor actual, double atol, double rtol = 0)
    {
        Assert.Equal(expected.shape, actual.shape);
        using torch.Tensor e = expected.detach().to(torch.float64).cpu();
        using torch.Tensor a = actual.detach().to(torch.float64).cpu();
        using torch.Tensor diff = (a - e).abs();
        using torch.Tensor bound = e.abs() * rtol + atol;
        using torch.Tensor bad = diff > bound;
        long count = bad.sum().item<long>();
        if (count == 0)
        {
            return;
        }

        double max = diff.max().item<double>();
        double[] ev = e.flatten().data<double>().ToArray();
        double[] av = a.flatten().data<double>().ToArray();
        bool[] bv = bad.flatten().data<bool>().ToArray();
        var first = Enumerable.Range(0, bv.Length).Where(i => bv[i]).Take(5).Select(i => $"[{i}] expected {ev[i]:G9}, got {av[i]:G9}");
        Assert.Fail($"{count} of {bv.Length} values differ beyond atol {atol} + rtol {rtol}; max |diff| {max:G6}. First: {string.Join("; ", first)}");
    }
}
