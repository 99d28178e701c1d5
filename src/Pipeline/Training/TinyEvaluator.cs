using System.Globalization;
using System.Text;
using TorchSharp;
using VideoLong.Language.Generation;
using VideoLong.Language.Models.LlavaOnevision;
using VideoLong.Language.Positions;
using static TorchSharp.torch;

namespace VideoLong.Pipeline.Training;

/// <summary>Accuracy of one (task, frame count) cell of an evaluation.</summary>
public sealed record TinyEvalCell(string Task, int Frames, int Samples, int Correct, IReadOnlyList<(string Question, string Expected, string Got)> Mistakes)
{
    public double Accuracy => Samples == 0 ? 0 : (double)Correct / Samples;
}

/// <summary>
/// Exact-match accuracy of a model on held-out synthetic samples, through the inference path of <c>videolong ask</c>:
/// the video through <see cref="LlavaOnevisionForConditionalGeneration.EncodeVideos"/>, its tokens spliced into the
/// prompt's embeddings, greedy generation with <see cref="TokenGenerator"/> until &lt;|im_end|&gt;. With
/// <see cref="VlmOptions.V2peStride"/> the prompt gets V2PE positions (<see cref="V2pePositions"/>, as the trainer's
/// v2pe_strides and <c>videolong ask --v2pe-stride</c>); with <see cref="VlmOptions.TokensPerFrame"/> the frames are HiCo-merged.
/// </summary>
public sealed class TinyEvaluator(LlavaOnevisionForConditionalGeneration model, TinyPrompts prompts)
{
    /// <summary>The model's answer to each sample (greedy), batched with left padding.</summary>
    public IReadOnlyList<string> Answer(IReadOnlyList<SyntheticSample> samples, VlmOptions? options = null, int maxNewTokens = 40, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        using IDisposable noGrad = no_grad();
        using DisposeScope scope = NewDisposeScope();
        Device device = model.LanguageModel.Device;
        options?.Validate();
        var rows = new List<Tensor>();
        var rowIds = new List<int[]>();
        foreach (SyntheticSample sample in samples)
        {
            int s = sample.FrameSize, f = sample.Frames.Length;
            byte[] rgb = new byte[f * s * s * 3];
            for (int k = 0; k < f; k++)
            {
                Buffer.BlockCopy(sample.Frames[k], 0, rgb, k * s * s * 3, s * s * 3);
            }

            Tensor pixels = TinyTrainer.Pixels(rgb, 1, f, s, device, TinyTrainer.NormalizationFor(model.Config)).to(model.LanguageModel.DType);
            Tensor visual = model.EncodeVideos(pixels, options, null, cancellationToken);                     // [F·t + 1, H]
            int[] ids = prompts.PromptIds(sample, (int)visual.shape[0]);
            rowIds.Add(ids);
            Tensor idTensor = tensor(ids.Select(x => (long)x).ToArray(), [1, ids.Length]).to(device);
            Tensor embeds = model.LanguageModel.EmbedTokens(idTensor);               // [1, L, H]
            rows.Add(LlavaOnevisionForConditionalGeneration.Splice(embeds, idTensor, model.Config.VideoTokenIndex, visual, "Video",
                "Hint: the prompt was built for another number of visual tokens.")[0]);   // [L, H]
        }

        int length = rows.Max(r => (int)r.shape[0]);
        long hidden = rows[0].shape[1];
        Tensor batch = zeros([rows.Count, length, hidden], dtype: rows[0].dtype, device: device);
        Tensor attention = zeros([rows.Count, length], dtype: ScalarType.Int64, device: device);
        for (int i = 0; i < rows.Count; i++)
        {
            long l = rows[i].shape[0];
            batch[i].narrow(0, length - l, l).copy_(rows[i]);                          // left padding
            attention[i].narrow(0, length - l, l).fill_(1);
        }

        Tensor? positions = null;
        if (options?.V2peStride is { } stride)
        {
            float[] data = new float[rows.Count * length];
            for (int i = 0; i < rows.Count; i++)
            {
                int pad = length - rowIds[i].Length;
                bool[] isVisual = new bool[length], real = new bool[length];
                for (int j = 0; j < length; j++)
                {
                    real[j] = j >= pad;
                    isVisual[j] = real[j] && rowIds[i][j - pad] == model.Config.VideoTokenIndex;
                }

                double[] row = V2pePositions.Compute(isVisual, stride, real);
                for (int j = 0; j < length; j++)
                {
                    data[(i * length) + j] = (float)row[j];
                }
            }

            positions = tensor(data, [rows.Count, length]).to(device);
        }

        var generation = new GenerationOptions
        {
            MaxNewTokens = maxNewTokens,
            StopTokenIds = [prompts.ImEndId, prompts.PadId],
            PadTokenId = prompts.PadId,
        };
        IReadOnlyList<int[]> generated = new TokenGenerator(model.LanguageModel).Generate(
            new GenerationPrompt { InputsEmbeds = batch, AttentionMask = attention, PositionIds = positions }, generation, cancellationToken);
        return generated.Select(g => prompts.Tokenizer.Decode(g, skipSpecialTokens: true).Trim()).ToArray();
    }

    /// <summary>Accuracy on <paramref name="count"/> samples of <paramref name="task"/> at <paramref name="frames"/> frames from <paramref name="split"/>.</summary>
    public TinyEvalCell Evaluate(SyntheticVideos videos, DataSplit split, string task, int frames, int count, VlmOptions? options = null, int batch = 25,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(videos);
        int correct = 0;
        var mistakes = new List<(string, string, string)>();
        for (int start = 0; start < count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SyntheticSample[] samples = Enumerable.Range(start, Math.Min(batch, count - start)).Select(i => videos.Generate(split, task, i, frames)).ToArray();
            IReadOnlyList<string> answers = Answer(samples, options, task == "caption" ? 48 : 16, cancellationToken);
            for (int i = 0; i < samples.Length; i++)
            {
                if (string.Equals(answers[i], samples[i].Answer, StringComparison.Ordinal))
                {
                    correct++;
                }
                else if (mistakes.Count < 5)
                {
                    mistakes.Add((samples[i].Question, samples[i].Answer, answers[i]));
                }
            }
        }

        return new TinyEvalCell(task, frames, count, correct, mistakes);
    }

    /// <summary>A markdown table of cells.</summary>
    public static string Table(IEnumerable<TinyEvalCell> cells)
    {
        var sb = new StringBuilder("| task | frames | samples | exact-match accuracy |\n| --- | --- | --- | --- |\n");
        foreach (TinyEvalCell c in cells)
        {
            sb.Append(CultureInfo.InvariantCulture, $"| {c.Task} | {c.Frames} | {c.Samples} | {c.Accuracy:P1} |\n");
        }

        return sb.ToString();
    }
}
