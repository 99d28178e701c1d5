using VideoLong.Language.Parallel;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.SequenceParallel;

public sealed class When_a_sequence_is_sharded_zigzag
{
    [Fact]
    public void Twelve_tokens_over_three_ranks_give_chunks_0_5_then_1_4_then_2_3()
    {
        ZigzagPlan plan = ZigzagPlan.Create(12, 3);
        Assert.Equal(2, plan.ChunkSize);
        Assert.Equal(0, plan.Padding);
        Assert.Equal((0, 5), plan.ChunksOf(0));
        Assert.Equal((1, 4), plan.ChunksOf(1));
        Assert.Equal((2, 3), plan.ChunksOf(2));
        using Tensor rank0 = plan.GlobalIndices(0);
        Assert.Equal(new long[] { 0, 1, 10, 11 }, rank0.data<long>().ToArray());
        using Tensor rank2 = plan.GlobalIndices(2);
        Assert.Equal(new long[] { 4, 5, 6, 7 }, rank2.data<long>().ToArray());
    }

    [Fact]
    public void With_ulysses_degree_2_over_4_ranks_each_ring_rank_holds_its_zigzag_ring_chunks_split_over_the_ulysses_ranks()
    {
        ZigzagPlan plan = ZigzagPlan.Create(16, 4, ulysses: 2);          // 8 chunks of 2; rank = u + 2r
        Assert.Equal((2, 2), (plan.UlyssesDegree, plan.RingDegree));
        Assert.Equal((0, 6), plan.ChunksOf(0));
        Assert.Equal((1, 7), plan.ChunksOf(1));
        Assert.Equal((2, 4), plan.ChunksOf(2));
        Assert.Equal((3, 5), plan.ChunksOf(3));
        ZigzagPlan ring = plan.RingPlan;                                  // after the all-to-all: 2 ring ranks, chunks of 4
        Assert.Equal((2, 4L, 1), (ring.Ranks, ring.ChunkSize, ring.UlyssesDegree));
        Assert.Equal((0, 3), ring.ChunksOf(0));                           // fine chunks 0,1 and 6,7: ranks 0 and 1's
        Assert.Equal((1, 2), ring.ChunksOf(1));                           // fine chunks 2,3 and 4,5: ranks 2 and 3's
        Assert.Equal(plan.PaddedLength, ring.PaddedLength);
        ZigzagPlan ringOnly = ZigzagPlan.Create(16, 4);
        Assert.Same(ringOnly, ringOnly.RingPlan);
    }

    [Theory]
    [InlineData(12, 3, 1)]
    [InlineData(13, 3, 1)]
    [InlineData(7, 2, 1)]
    [InlineData(100, 4, 1)]
    [InlineData(5, 1, 1)]
    [InlineData(16, 4, 2)]
    [InlineData(45, 4, 2)]
    [InlineData(101, 8, 4)]
    [InlineData(33, 4, 4)]
    public void Sharding_then_gathering_reconstructs_the_sequence_and_every_index_maps_both_ways(long length, int ranks, int ulysses)
    {
        ZigzagPlan plan = ZigzagPlan.Create(length, ranks, ulysses: ulysses);
        Assert.Equal(0, plan.PaddedLength % (2 * ranks));
        Assert.True(plan.Padding < 2 * ranks);
        using Tensor sequence = arange(length * 3, ScalarType.Float32).view(1, length, 3);   // [1, L, 3]
        Tensor[] shards = plan.Shard(sequence, 1, padValue: -1);
        try
        {
            Assert.All(shards, s => Assert.Equal(new[] { 1L, plan.LocalLength, 3L }, s.shape));
            using Tensor back = plan.Gather(shards, 1);
            Assert.True(back.allclose(sequence, 0, 0));
            for (long g = 0; g < plan.PaddedLength; g++)
            {
                (int rank, long local) = plan.Locate(g);
                Assert.Equal(g, plan.GlobalIndex(rank, local));
                float expected = g < length ? g * 3 : -1;
                Assert.Equal(expected, shards[rank][0, local, 0].item<float>());
            }
        }
        finally
        {
            foreach (Tensor s in shards)
            {
                s.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(16, 2)]
    [InlineData(48, 3)]
    [InlineData(64, 4)]
    [InlineData(4096, 8)]
    [InlineData(64, 4, 2)]
    [InlineData(4096, 8, 4)]
    public void Every_rank_has_the_same_causal_work_without_padding(long length, int ranks, int ulysses = 1)
    {
        // With Ulysses the attention runs on the ring plan after the all-to-all, each Ulysses rank taking 1/P_u of the heads.
        ZigzagPlan plan = ZigzagPlan.Create(length, ranks, ulysses: ulysses).RingPlan;
        ranks = plan.Ranks;
        long[] pairs = Enumerable.Range(0, ranks).Select(plan.CausalPairs).ToArray();
        Assert.All(pairs, p => Assert.Equal(pairs[0], p));
        Assert.Equal(length * (length + 1) / 2, pairs.Sum());
        Assert.Equal(BruteForcePairs(plan, 0), pairs[0]);
    }

    [Theory]
    [InlineData(13, 3)]
    [InlineData(1001, 4)]
    [InlineData(4099, 8)]
    public void With_padding_the_causal_work_differs_by_at_most_the_padded_rows_and_padding_is_never_counted(long length, int ranks)
    {
        ZigzagPlan plan = ZigzagPlan.Create(length, ranks);
        long[] pairs = Enumerable.Range(0, ranks).Select(plan.CausalPairs).ToArray();
        Assert.Equal(length * (length + 1) / 2, pairs.Sum());                        // only real (query, key) pairs
        Assert.True(pairs.Max() - pairs.Min() <= plan.Padding * plan.PaddedLength, $"{string.Join(", ", pairs)}");
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(BruteForcePairs(plan, r), pairs[r]);
        }
    }

    [Fact]
    public void Invalid_configurations_are_refused_with_what_is_accepted()
    {
        Assert.Contains("at least 1", Assert.Throws<SequenceParallelException>(() => ZigzagPlan.Create(16, 0)).Message);
        Assert.Contains("at most 4 ranks", Assert.Throws<SequenceParallelException>(() => ZigzagPlan.Create(9, 5)).Message);
        Assert.Contains("causal", Assert.Throws<SequenceParallelException>(() => ZigzagPlan.Create(16, 2, causal: false)).Message);
        Assert.Contains("at least one token", Assert.Throws<SequenceParallelException>(() => ZigzagPlan.Create(0, 1)).Message);
        Assert.Contains("divide the 4 sequence-parallel ranks", Assert.Throws<SequenceParallelException>(() => ZigzagPlan.Create(16, 4, ulysses: 3)).Message);
        ZigzagPlan plan = ZigzagPlan.Create(16, 2);
        using Tensor wrong = zeros(1, 15, 2);
        Assert.Contains("16 tokens", Assert.Throws<SequenceParallelException>(() => plan.Shard(wrong, 1)).Message);
        using Tensor shard = zeros(1, 7, 2);
        Assert.Contains("8 tokens", Assert.Throws<SequenceParallelException>(() => plan.Gather([shard, shard], 1)).Message);
        Assert.Throws<SequenceParallelException>(() => plan.Gather([shard], 1));
        Assert.Throws<SequenceParallelException>(() => plan.ChunksOf(2));
        Assert.Throws<SequenceParallelException>(() => plan.Locate(16));
        Assert.IsAssignableFrom<VideoLongException>(new SequenceParallelException("x"));
    }

    private static long BruteForcePairs(ZigzagPlan plan, int rank)
    {
        long count = 0;
        for (long local = 0; local < plan.LocalLength; local++)
        {
            long q = plan.GlobalIndex(rank, local);
            if (q < plan.Length)
            {
                count += q + 1;   // keys 0 … q, all real
            }
        }

        return count;
    }
}
