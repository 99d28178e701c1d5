using TorchSharp;
using static TorchSharp.torch;

namespace VideoLong.Language.Parallel;

/// <summary>
/// The model each rank runs: the model itself on its own device, one weight copy per other device (shared by the ranks
/// on it), or — for tests of the multi-device path on one CPU — a copy per rank. Owns and disposes the copies.
/// </summary>
internal sealed class ModelReplicas<TModel> : IDisposable
    where TModel : nn.Module
{
    private readonly List<TModel> _owned = [];

    /// <param name="deviceOf">The device a model's weights are on.</param>
    /// <param name="create">A freshly initialised model of the same configuration and dtype on a device (its weights are then copied).</param>
    public ModelReplicas(TModel model, IReadOnlyList<Device> devices, bool copyPerRank, Func<TModel, Device> deviceOf, Func<Device, TModel> create)
    {
        PerRank = new TModel[devices.Count];
        for (int r = 0; r < devices.Count; r++)
        {
            Device device = devices[r];
            PerRank[r] = copyPerRank
                ? Copy(model, create(device))
                : RingAttention.SameDevice(device, deviceOf(model))
                    ? model
                    : _owned.FirstOrDefault(m => RingAttention.SameDevice(deviceOf(m), device)) ?? Copy(model, create(device));
        }
    }

    public TModel[] PerRank { get; }

    public void Dispose()
    {
        foreach (TModel replica in _owned)
        {
            replica.Dispose();
        }

        _owned.Clear();
    }

    private TModel Copy(TModel model, TModel replica)
    {
        using (no_grad())
        {
            Dictionary<string, Tensor> source = model.state_dict();
            foreach ((string name, Tensor target) in replica.state_dict())
            {
                target.copy_(source[name]);
            }
        }

        _owned.Add(replica);
        return replica;
    }
}
