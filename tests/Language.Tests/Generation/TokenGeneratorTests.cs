using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Language.Tests.Qwen2;
using static TorchSharp.torch;

namespace VideoLong.Language.Tests.Generation;

public sealed class When_tokens_are_generated_greedily
{
    private static readonly Lazy<Qwen2ForCausalLM> Model = new(() => TinyQwen2.Create(seed: 5));

    private static readonly int[][] Prompts = [[5, 17, 33, 2, 90, 41, 7, 64], [12, 3, 77], [50, 51, 52, 53, 54]];

    [Fact]
    public void Each_token_is_the_arg_max_of_a_full_forward_over_everything_so_far()
    {
        var generator = new TokenGenerator(Model.Value);

        int[] generated = generator.Generate([Prompts[0]], new GenerationOptions { MaxNewTokens = 12 })[0];

        var sequence = Prompts[0].ToList();
        for (int step = 0; step < 12; step++)
        {
            using Tensor ids = tensor(sequence.Select(t => (long)t).ToArray(), [1, sequence.Count]);
            using Tensor logits = TinyQwen2.Logits(Model.Value, new Qwen2CausalLMInput { InputIds = ids });
            sequence.Add((int)logits[0, -1].argmax().item<long>());
        }

        Assert.Equal(sequence.Skip(Prompts[0].Length).ToArray(), generated);
    }

    [Fact]
    public void A_left_padded_batch_gives_each_row_the_tokens_it_gets_alone()
    {
        var generator = new TokenGenerator(Model.Value);
        var options = new GenerationOptions { MaxNewTokens = 10 };

        IReadOnlyList<int[]> batch = generator.Generate(Prompts, options);

        Assert.Equal(3, batch.Count);
        for (int r = 0; r < Prompts.Length; r++)
        {
            int[] single = generator.Generate([Prompts[r]], options)[0];
            Assert.Equal(single, batch[r]);
        }
    }

    [Fact]
    public async Task Streaming_yields_the_same_tokens_as_generate()
    {
        var generator = new TokenGenerator(Model.Value);
        var options = new GenerationOptions { MaxNewTokens = 8 };

        var streamed = new List<int>();
        await foreach (int token in generator.StreamAsync(Prompts[1], options))
        {
            streamed.Add(token);
        }

        Assert.Equal(generator.Generate([Prompts[1]], options)[0], streamed);
    }

    [Fact]
    public void A_stop_token_ends_its_sequence_and_is_returned_while_others_go_on()
    {
        var generator = new TokenGenerator(Model.Value);
        IReadOnlyList<int[]> free = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 6 });
        int stop = free[1][2];

        IReadOnlyList<int[]> stopped = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 6, StopTokenIds = [stop] });

        int[] row1 = stopped[1];
        Assert.Equal(stop, row1[^1]);
        Assert.Equal(free[1].Take(Array.IndexOf(free[1], stop) + 1), row1);
        for (int r = 0; r < Prompts.Length; r++)
        {
            int cut = Array.IndexOf(free[r], stop);
            Assert.Equal(cut < 0 ? free[r] : free[r].Take(cut + 1).ToArray(), stopped[r]);
        }
    }

    [Fact]
    public void A_prompt_of_embeddings_and_float_positions_continues_like_its_token_ids()
    {
        var generator = new TokenGenerator(Model.Value);
        int[] prompt = Prompts[2];
        using Tensor ids = tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length]);
        using Tensor embeds = Model.Value.EmbedTokens(ids);
        using Tensor positions = arange(0, prompt.Length, ScalarType.Float32).view(1, prompt.Length);
        var options = new GenerationOptions { MaxNewTokens = 7 };

        int[] fromIds = generator.Generate([prompt], options)[0];
        int[] fromEmbeds = generator.Generate(new GenerationPrompt { InputsEmbeds = embeds, PositionIds = positions }, options)[0];

        Assert.Equal(fromIds, fromEmbeds);
    }

    [Fact]
    public void Cancellation_stops_generation()
    {
        var generator = new TokenGenerator(Model.Value);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate([Prompts[0]], GenerationOptions.Greedy, cancelled.Token));
    }
}

public sealed class When_tokens_are_sampled
{
    private static readonly Lazy<Qwen2ForCausalLM> Model = new(() => TinyQwen2.Create(seed: 6));

    private static readonly int[][] Prompts = [[5, 17, 33, 2], [12, 3, 77, 8, 9, 10]];

    [Fact]
    public void The_same_seed_gives_the_same_tokens()
    {
        var generator = new TokenGenerator(Model.Value);
        var options = new GenerationOptions { MaxNewTokens = 16, DoSample = true, Temperature = 1.5, TopP = 0.9, TopK = 40, Seed = 1234 };

        IReadOnlyList<int[]> first = generator.Generate(Prompts, options);
        IReadOnlyList<int[]> second = generator.Generate(Prompts, options);
        IReadOnlyList<int[]> otherSeed = generator.Generate(Prompts, options with { Seed = 99 });

        Assert.Equal(first, second);
        Assert.NotEqual(first, otherSeed);
    }

    [Fact]
    public void Top_k_of_one_is_greedy()
    {
        var generator = new TokenGenerator(Model.Value);

        IReadOnlyList<int[]> greedy = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8 });
        IReadOnlyList<int[]> topOne = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8, DoSample = true, TopK = 1, Seed = 3 });

        Assert.Equal(greedy, topOne);
    }

    [Fact]
    public void A_tiny_top_p_keeps_only_the_most_likely_token()
    {
        var generator = new TokenGenerator(Model.Value);

        IReadOnlyList<int[]> greedy = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8 });
        IReadOnlyList<int[]> nucleus = generator.Generate(Prompts, new GenerationOptions { MaxNewTokens = 8, DoSample = true, TopP = 1e-6, Seed = 3 });

        Assert.Equal(greedy, nucleus);
    }

    [Theory]
    [InlineData(0, 1.0, 1.0, 0)]
    [InlineData(4, 0.0, 1.0, 0)]
    [InlineData(4, 1.0, 0.0, 0)]
    [InlineData(4, 1.0, 1.5, 0)]
    [InlineData(4, 1.0, 1.0, -1)]
    public void Invalid_options_are_refused(int maxNewTokens, double temperature, double topP, int topK)
    {
        var options = new GenerationOptions { MaxNewTokens = maxNewTokens, Temperature = temperature, TopP = topP, TopK = topK };

        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenGenerator(Model.Value).Generate([[1, 2]], options));
    }

    [Fact]
    public void A_right_padded_prompt_is_refused()
    {
        using Tensor ids = tensor(new long[] { 1, 2, 3, 0 }, [1, 4]);
        using Tensor mask = tensor(new long[] { 1, 1, 1, 0 }, [1, 4]);

        var e = Assert.Throws<ArgumentException>(() =>
            new TokenGenerator(Model.Value).Generate(new GenerationPrompt { InputIds = ids, AttentionMask = mask }, GenerationOptions.Greedy));

        Assert.Contains("left", e.Message, StringComparison.Ordinal);
    }
}
