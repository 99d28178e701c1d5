using TorchSharp;
using VideoLong.Language.Models;
using VideoLong.Language.Models.Qwen2;
using VideoLong.Vision.Weights;
using static TorchSharp.torch;
using VideoLong.Vision.Models;

namespace VideoLong.Language.Tests.Qwen2;

public sealed class When_a_tiny_qwen2_is_built
{
    [Fact]
    public void Its_state_dict_names_and_shapes_are_the_transformers_ones()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(tied: false));

        string[] actual = model.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToArray();

        string[] layer(int i) =>
        [
            $"model.layers.{i}.input_layernorm.weight [64]",
            $"model.layers.{i}.mlp.down_proj.weight [64, 128]",
            $"model.layers.{i}.mlp.gate_proj.weight [128, 64]",
            $"model.layers.{i}.mlp.up_proj.weight [128, 64]",
            $"model.layers.{i}.post_attention_layernorm.weight [64]",
            $"model.layers.{i}.self_attn.k_proj.bias [32]",
            $"model.layers.{i}.self_attn.k_proj.weight [32, 64]",
            $"model.layers.{i}.self_attn.o_proj.weight [64, 64]",
            $"model.layers.{i}.self_attn.q_proj.bias [64]",
            $"model.layers.{i}.self_attn.q_proj.weight [64, 64]",
            $"model.layers.{i}.self_attn.v_proj.bias [32]",
            $"model.layers.{i}.self_attn.v_proj.weight [32, 64]",
        ];
        string[] expected =
        [
            "lm_head.weight [96, 64]",
            "model.embed_tokens.weight [96, 64]",
            .. layer(0),
            .. layer(1),
            "model.norm.weight [64]",
        ];
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_tied_lm_head_is_the_embedding_tensor_itself()
    {
        using Qwen2ForCausalLM model = TinyQwen2.Create(TinyQwen2.Config(tied: true));
        Dictionary<string, Tensor> sd = model.state_dict();

        using (no_grad())
        {
            sd["model.embed_tokens.weight"][3, 5] = 42f;
        }

        Assert.Equal(42f, sd["lm_head.weight"][3, 5].item<float>());
        Assert.Equal("model.embed_tokens.weight", Qwen2ForCausalLM.WeightMapFor(model.Config).Tied["lm_head.weight"]);
        Assert.Empty(Qwen2ForCausalLM.WeightMapFor(TinyQwen2.Config(tied: false)).Tied);
    }
}

public sealed class When_a_tiny_qwen2_runs
{
    private static readonly Lazy<Qwen2ForCausalLM> Model = new(() => TinyQwen2.Create());

    [Fact]
    public void Logits_are_batch_by_length_by_vocabulary_and_finite()
    {
        using Tensor ids = TinyQwen2.Ids(2, 9);
        using Tensor logits = TinyQwen2.Logits(Model.Value, new Qwen2CausalLMInput { InputIds = ids });

        Assert.Equal([2L, 9, 96], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
        Assert.True(logits.std().item<float>() > 0.1, "random weights should give spread-out logits");
    }

    [Fact]
    public void Decoding_step_by_step_with_the_kv_cache_equals_the_full_forward()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(1, 12);
        using Tensor full = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });   // [1, 12, V]

        using Qwen2KvCache cache = model.CreateKvCache(1, 16);
        for (int t = 0; t < 12; t++)
        {
            using Tensor token = ids.narrow(1, t, 1);
            using Tensor step = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = token, Cache = cache });   // [1, 1, V]
            using Tensor expected = full.narrow(1, t, 1);
            TensorAssert.Close(expected, step, atol: 1e-5);
        }

        Assert.Equal(12, cache.Length);
        Assert.Equal(12, cache.LayerLength(1));
    }

    [Fact]
    public void A_prefill_in_chunks_followed_by_decoding_equals_the_full_forward()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(2, 11, seed: 3);
        using Tensor full = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });

        using Qwen2KvCache cache = model.CreateKvCache(2, 11);
        using Tensor first = ids.narrow(1, 0, 6);
        using Tensor second = ids.narrow(1, 6, 4);
        using Tensor last = ids.narrow(1, 10, 1);
        using Tensor a = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = first, Cache = cache });
        using Tensor b = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = second, Cache = cache });
        using Tensor c = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = last, Cache = cache });

        using Tensor stitched = cat([a, b, c], 1);
        TensorAssert.Close(full, stitched, atol: 1e-5);
    }

    [Fact]
    public void A_left_padded_batch_equals_each_row_alone_at_real_positions_and_while_decoding()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor longRow = TinyQwen2.Ids(1, 8, seed: 11);
        using Tensor shortRow = TinyQwen2.Ids(1, 5, seed: 12);
        using Tensor pad = zeros([1, 3], ScalarType.Int64);
        using Tensor padded = cat([pad, shortRow], 1);
        using Tensor ids = cat([longRow, padded], 0);                                                  // [2, 8]
        using Tensor mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1 }, [2, 8]);
        using Tensor next = tensor(new long[] { 17, 42 }, [2, 1]);

        using Qwen2KvCache batchCache = model.CreateKvCache(2, 9);
        using Tensor batch = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids, AttentionMask = mask, Cache = batchCache });
        using Tensor nextMask = ones([2, 9], ScalarType.Int64);
        nextMask.narrow(1, 0, 8).copy_(mask);
        using Tensor batchStep = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = next, AttentionMask = nextMask, Cache = batchCache });

        (Tensor Row, int Pad)[] rows = [(longRow, 0), (shortRow, 3)];
        for (int r = 0; r < 2; r++)
        {
            (Tensor row, int padCount) = rows[r];
            using Qwen2KvCache cache = model.CreateKvCache(1, 9);
            using Tensor single = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = row, Cache = cache });
            using Tensor nextToken = next.narrow(0, r, 1);
            using Tensor singleStep = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = nextToken, Cache = cache });

            using Tensor batchRow = batch.narrow(0, r, 1).narrow(1, padCount, 8 - padCount);
            using Tensor batchStepRow = batchStep.narrow(0, r, 1);
            TensorAssert.Close(single, batchRow, atol: 1e-5);
            TensorAssert.Close(singleStep, batchStepRow, atol: 1e-5);
        }
    }

    [Fact]
    public void Input_embeddings_give_the_same_logits_as_their_token_ids()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(2, 6);
        using Tensor embeds = model.EmbedTokens(ids);

        using Tensor fromIds = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });
        using Tensor fromEmbeds = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputsEmbeds = embeds });

        Assert.Equal([2L, 6, 64], embeds.shape);
        TensorAssert.Close(fromIds, fromEmbeds, atol: 0);
    }

    [Fact]
    public void Explicit_integer_positions_as_floats_equal_the_default_positions()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(1, 7);
        using Tensor positions = arange(0, 7, ScalarType.Float32).view(1, 7);

        using Tensor implicitPositions = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });
        using Tensor floatPositions = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids, PositionIds = positions });
        using Tensor quarterPositions = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids, PositionIds = positions * 0.25 });

        TensorAssert.Close(implicitPositions, floatPositions, atol: 0);
        Assert.True((implicitPositions - quarterPositions).abs().max().item<float>() > 1e-3, "fractional positions must change the logits");
    }

    [Fact]
    public void Last_position_logits_and_chosen_hidden_states_are_returned_on_request()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(2, 5);
        using Tensor full = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });

        using Qwen2CausalLMOutput last = model.call(new Qwen2CausalLMInput { InputIds = ids, LastPositionLogitsOnly = true, HiddenStatesIndex = -1 });
        using Qwen2CausalLMOutput embeddings = model.call(new Qwen2CausalLMInput { InputIds = ids, HiddenStatesIndex = 0 });
        using Qwen2CausalLMOutput firstLayer = model.call(new Qwen2CausalLMInput { InputIds = ids, HiddenStatesIndex = 1 });

        Assert.Equal([2L, 1, 96], last.Logits.shape);
        using Tensor fullLast = full.narrow(1, 4, 1);
        TensorAssert.Close(fullLast, last.Logits, atol: 1e-6);
        Assert.Equal([2L, 5, 64], last.HiddenStates!.shape);
        using Tensor fromFinal = torch.nn.functional.linear(last.HiddenStates, model.state_dict()["lm_head.weight"]);
        TensorAssert.Close(full, fromFinal, atol: 1e-5);
        using Tensor embedded = model.EmbedTokens(ids);
        TensorAssert.Close(embedded, embeddings.HiddenStates!, atol: 0);
        Assert.Equal([2L, 5, 64], firstLayer.HiddenStates!.shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.call(new Qwen2CausalLMInput { InputIds = ids, HiddenStatesIndex = 3 }));
    }

    [Fact]
    public void In_bfloat16_it_runs_with_a_bfloat16_cache_and_stays_near_float32()
    {
        Qwen2ForCausalLM model = Model.Value;
        using var bf16 = new Qwen2ForCausalLM(model.Config, CPU, ScalarType.BFloat16);
        Dictionary<string, Tensor> target = bf16.state_dict();
        using (no_grad())
        {
            foreach ((string name, Tensor p) in model.state_dict())
            {
                target[name].copy_(p);
            }
        }

        using Tensor ids = TinyQwen2.Ids(1, 8);
        using Tensor reference = TinyQwen2.Logits(model, new Qwen2CausalLMInput { InputIds = ids });
        using Qwen2KvCache cache = bf16.CreateKvCache(1, 8);
        using Tensor logits = TinyQwen2.Logits(bf16, new Qwen2CausalLMInput { InputIds = ids, Cache = cache });

        Assert.Equal(ScalarType.BFloat16, logits.dtype);
        Assert.Equal(ScalarType.BFloat16, cache.DType);
        using Tensor diff = (logits.to(ScalarType.Float32) - reference).abs();
        double scale = reference.abs().max().item<float>();
        Assert.True(diff.max().item<float>() < 0.05 * scale, $"bf16 logits differ by {diff.max().item<float>()} (scale {scale})");
    }

    [Fact]
    public void A_full_cache_refuses_more_positions_with_a_hint()
    {
        Qwen2ForCausalLM model = Model.Value;
        using Tensor ids = TinyQwen2.Ids(1, 5);
        using Qwen2KvCache cache = model.CreateKvCache(1, 4);

        var e = Assert.Throws<VideoLongException>(() => model.call(new Qwen2CausalLMInput { InputIds = ids, Cache = cache }));

        Assert.Contains("max new tokens", e.Message, StringComparison.Ordinal);
    }
}

public sealed class When_grouped_query_attention_is_compared_with_multi_head_attention
{
    [Fact]
    public void Kv_heads_equal_to_heads_is_plain_softmax_attention()
    {
        // One attention block with kv heads = heads against softmax(QKᵀ/√d + causal) V written out by hand.
        Qwen2Config config = TinyQwen2.Config(kvHeads: 4);
        using Qwen2ForCausalLM model = TinyQwen2.Create(config);
        Dictionary<string, Tensor> sd = model.state_dict();
        using var attention = new Qwen2Attention(config, 0, CPU, ScalarType.Float32);
        using (no_grad())
        {
            foreach ((string name, Tensor p) in attention.state_dict())
            {
                p.copy_(sd["model.layers.0.self_attn." + name]);
            }
        }

        using var generator = new Generator(5, CPU);
        using Tensor x = randn([2, 6, 64], generator: generator);
        using Tensor positions = arange(0, 6, ScalarType.Float32).expand(2, 6);
        (Tensor cos, Tensor sin) = new Qwen2RotaryEmbedding(config).CosSin(positions, ScalarType.Float32);
        using Tensor actual = attention.call(x, new AttentionContext(cos, sin, null, IsCausal: true, null));

        using Tensor expected = HandAttention(sd, x, cos, sin);
        TensorAssert.Close(expected, actual, atol: 1e-5);
        cos.Dispose();
        sin.Dispose();
    }

    [Fact]
    public void Two_kv_heads_equal_four_heads_with_each_kv_head_repeated()
    {
        using Qwen2ForCausalLM gqa = TinyQwen2.Create(TinyQwen2.Config(kvHeads: 2));
        using Qwen2ForCausalLM mha = new(TinyQwen2.Config(kvHeads: 4));
        Dictionary<string, Tensor> target = mha.state_dict();
        using (no_grad())
        {
            foreach ((string name, Tensor p) in gqa.state_dict())
            {
                bool kv = name.Contains("k_proj", StringComparison.Ordinal) || name.Contains("v_proj", StringComparison.Ordinal);
                if (!kv)
                {
                    target[name].copy_(p);
                    continue;
                }

                // kv head h serves query heads 2h and 2h+1: [2·16, ...] -> [2, 16, ...] -> [4, 16, ...] -> [4·16, ...]
                using Tensor heads = p.view([2, 16, .. p.shape.Skip(1)]);
                using Tensor repeated = heads.repeat_interleave(2, dim: 0);
                using Tensor flat = repeated.reshape(target[name].shape);
                target[name].copy_(flat);
            }
        }

        using Tensor ids = TinyQwen2.Ids(2, 7);
        using Tensor a = TinyQwen2.Logits(gqa, new Qwen2CausalLMInput { InputIds = ids });
        using Tensor b = TinyQwen2.Logits(mha, new Qwen2CausalLMInput { InputIds = ids });
        TensorAssert.Close(a, b, atol: 1e-5);
    }

    private static Tensor HandAttention(Dictionary<string, Tensor> sd, Tensor x, Tensor cos, Tensor sin)
    {
        using DisposeScope scope = NewDisposeScope();
        const string P = "model.layers.0.self_attn.";
        Tensor Project(string name, Tensor input) =>
            torch.nn.functional.linear(input, sd[P + name + ".weight"], sd.TryGetValue(P + name + ".bias", out Tensor? bias) ? bias : null);
        Tensor Heads(Tensor t) => t.view(2, 6, 4, 16).transpose(1, 2);                       // [B, L, 64] -> [B, 4, L, 16]
        Tensor Rotate(Tensor t) => t * cos.unsqueeze(1) + cat([t.narrow(-1, 8, 8).neg(), t.narrow(-1, 0, 8)], -1) * sin.unsqueeze(1);

        Tensor q = Rotate(Heads(Project("q_proj", x)));
        Tensor k = Rotate(Heads(Project("k_proj", x)));
        Tensor v = Heads(Project("v_proj", x));
        Tensor scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(16);                      // [B, 4, L, L]
        Tensor future = ones(6, 6, ScalarType.Bool).triu(1);
        Tensor weights = scores.masked_fill(future, double.NegativeInfinity).softmax(-1);
        Tensor context = weights.matmul(v).transpose(1, 2).reshape(2, 6, 64);                 // [B, 4, L, 16] -> [B, L, 64]
        return Project("o_proj", context).MoveToOuterDisposeScope();
    }
}

public sealed class When_a_qwen2_checkpoint_is_saved_and_loaded
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FromPretrained_gives_back_the_same_logits(bool tied)
    {
        Qwen2Config config = TinyQwen2.Config(tied: tied);
        using Qwen2ForCausalLM original = TinyQwen2.Create(config, seed: 21);
        string dir = Directory.CreateTempSubdirectory("videolong-qwen2-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), System.Text.Json.JsonSerializer.Serialize(config));
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"),
                original.state_dict().Where(kv => !(tied && kv.Key == "lm_head.weight")).Select(kv => (kv.Key, kv.Value)));

            var reports = new List<LoadProgress>();
            using Qwen2ForCausalLM loaded = await Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions { Device = "cpu" },
                new SynchronousProgress<LoadProgress>(reports.Add), CancellationToken.None);

            using Tensor ids = TinyQwen2.Ids(1, 6);
            using Tensor expected = TinyQwen2.Logits(original, new Qwen2CausalLMInput { InputIds = ids });
            using Tensor actual = TinyQwen2.Logits(loaded, new Qwen2CausalLMInput { InputIds = ids });
            TensorAssert.Close(expected, actual, atol: 0);
            Assert.Equal(ScalarType.Float32, loaded.DType);
            Assert.Equal(loaded.state_dict().Count, reports.Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task An_untied_checkpoint_without_lm_head_fails_naming_it()
    {
        Qwen2Config config = TinyQwen2.Config(tied: false);
        using Qwen2ForCausalLM original = TinyQwen2.Create(config);
        string dir = Directory.CreateTempSubdirectory("videolong-qwen2-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), System.Text.Json.JsonSerializer.Serialize(config));
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"),
                original.state_dict().Where(kv => kv.Key != "lm_head.weight").Select(kv => (kv.Key, kv.Value)));

            var e = await Assert.ThrowsAsync<WeightLoadException>(() =>
                Qwen2ForCausalLM.FromPretrainedAsync(dir, new ModelLoadOptions(), null, CancellationToken.None));

            Assert.Equal(["lm_head.weight"], e.Missing);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; posts to the thread pool and may report late).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
