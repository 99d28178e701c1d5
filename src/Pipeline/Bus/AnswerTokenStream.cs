using System.Diagnostics;
using System.Text;
using VideoLong.Contracts;

namespace VideoLong.Pipeline.Bus;

/// <summary>
/// Coalesces the text pieces of one generation into <see cref="AnswerTokensGenerated"/> events: the first piece at once
/// (time to first token), then whenever <see cref="PipelineOptions.TokenFlushInterval"/> has passed since the last
/// event or <see cref="PipelineOptions.TokenFlushTokens"/> tokens are waiting; <see cref="Complete"/> gives the final
/// piece. Not thread-safe: one generation feeds it.
/// </summary>
public sealed class AnswerTokenCoalescer(JobId jobId, TimeSpan interval, int maxTokens)
{
    private readonly StringBuilder _pending = new();
    private readonly Stopwatch _sinceFlush = Stopwatch.StartNew();
    private int _tokensAtFlush;
    private int _sequence;

    /// <summary>Tokens generated so far.</summary>
    public int Tokens { get; private set; }

    /// <summary>Adds the text of the tokens up to <paramref name="tokens"/> (so far, in all); returns the event to publish when one is due, else null.</summary>
    public AnswerTokensGenerated? Add(string piece, int tokens)
    {
        ArgumentNullException.ThrowIfNull(piece);
        _pending.Append(piece);
        Tokens = Math.Max(Tokens, tokens);
        return _pending.Length > 0 && (_sequence == 0 || Tokens - _tokensAtFlush >= maxTokens || _sinceFlush.Elapsed >= interval) ? Flush(final: false) : null;
    }

    /// <summary>The final event: what is still waiting (possibly nothing), marked <see cref="AnswerTokensGenerated.Final"/>.</summary>
    public AnswerTokensGenerated Complete() => Flush(final: true);

    private AnswerTokensGenerated Flush(bool final)
    {
        var piece = new AnswerTokensGenerated
        {
            JobId = jobId, Timestamp = DateTimeOffset.UtcNow, Sequence = _sequence++, Text = _pending.ToString(), TokensGenerated = Tokens, Final = final,
        };
        _pending.Clear();
        _tokensAtFlush = Tokens;
        _sinceFlush.Restart();
        return piece;
    }
}

/// <summary>
/// Puts the <see cref="AnswerTokensGenerated"/> events of one job back in order for a reader (SSE, the CLI): pieces are
/// released in sequence, duplicates (redelivery, a retried stage that starts again at 0) are dropped. Thread-safe.
/// </summary>
public sealed class AnswerTokenSequencer
{
    private readonly SortedDictionary<int, AnswerTokensGenerated> _waiting = [];
    private readonly Lock _lock = new();
    private int _next;

    /// <summary>True once the final piece has been released.</summary>
    public bool Completed { get; private set; }

    /// <summary>Adds a piece; returns the pieces now ready, in order (none when it is early or a duplicate).</summary>
    public IReadOnlyList<AnswerTokensGenerated> Add(AnswerTokensGenerated piece)
    {
        ArgumentNullException.ThrowIfNull(piece);
        lock (_lock)
        {
            if (piece.Sequence < _next || !_waiting.TryAdd(piece.Sequence, piece))
            {
                return [];
            }

            var ready = new List<AnswerTokensGenerated>();
            while (_waiting.Remove(_next, out AnswerTokensGenerated? p))
            {
                ready.Add(p);
                _next++;
                Completed |= p.Final;
            }

            return ready;
        }
    }

    /// <summary>Releases whatever is still waiting (a gap will not be filled any more), in order.</summary>
    public IReadOnlyList<AnswerTokensGenerated> Drain()
    {
        lock (_lock)
        {
            AnswerTokensGenerated[] rest = [.. _waiting.Values];
            _waiting.Clear();
            if (rest.Length > 0)
            {
                _next = rest[^1].Sequence + 1;
                Completed |= rest[^1].Final;
            }

            return rest;
        }
    }
}
