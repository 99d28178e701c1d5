using System.Collections.Concurrent;

namespace VideoLong.Ingest;

/// <summary>
/// Exact-size pixel buffers for decoded frames, reused once a consumer disposes its <see cref="VideoFrame"/>. A
/// decode of a long video allocates one large buffer per frame; reusing them keeps the large-object heap (and so the
/// process's resident memory) flat however many frames pass through. Buffers that are never returned are simply
/// collected. At most <see cref="MaxPerSize"/> buffers of each size are kept.
/// </summary>
internal static class FrameBufferPool
{
    public const int MaxPerSize = 16;

    private static readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> s_free = new();

    public static byte[] Rent(int length) =>
        s_free.TryGetValue(length, out ConcurrentBag<byte[]>? bag) && bag.TryTake(out byte[]? buffer)
            ? buffer
            : GC.AllocateUninitializedArray<byte>(length);

    public static void Return(byte[] buffer)
    {
        ConcurrentBag<byte[]> bag = s_free.GetOrAdd(buffer.Length, _ => []);
        if (bag.Count < MaxPerSize)
        {
            bag.Add(buffer);
        }
    }
}
