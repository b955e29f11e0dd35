// The malicious-aggregator double's side of the in-memory transport (SPEC.md 15): every bank message arrives in one mailbox;
// the double reads it per bank, holding back what other banks sent meanwhile, so "the next message from bank b" is exactly
// what b sent next (the transport keeps each bank's order). Waits are bounded: a silent bank is an observation, not a hang.
using FraudFed.Protocol.Coordination;

namespace FraudFed.Conformance.Live.Bank;

/// <summary>Per-bank reading of an aggregator transport's single mailbox, with bounded waits.</summary>
internal sealed class BankMailboxes(IAggregatorTransport transport)
{
    private readonly Queue<ReadOnlyMemory<byte>>[] _held = Enumerable.Range(0, transport.Banks).Select(_ => new Queue<ReadOnlyMemory<byte>>()).ToArray();

    /// <summary>The next message bank <paramref name="bank"/> sent, or null when it sent none within <paramref name="wait"/>.</summary>
    public async Task<ReadOnlyMemory<byte>?> NextFromAsync(int bank, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (_held[bank].TryDequeue(out ReadOnlyMemory<byte> held)) return held;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(wait);
        try
        {
            while (true)
            {
                AggregatorDelivery d = await transport.ReceiveAsync(timer.Token).ConfigureAwait(false);
                if (d.Bank == bank) return d.Message;
                _held[d.Bank].Enqueue(d.Message);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The next message of any bank (held ones first, lowest bank first), or null when none came within <paramref name="wait"/>.</summary>
    public async Task<AggregatorDelivery?> NextAnyAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        for (int b = 0; b < _held.Length; b++)
            if (_held[b].TryDequeue(out ReadOnlyMemory<byte> held)) return new AggregatorDelivery(b, held);
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(wait);
        try { return await transport.ReceiveAsync(timer.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return null; }
    }

    /// <summary>Puts a message back in front of its sender's queue (read too early by a watch that was cut short).</summary>
    public void PutBack(AggregatorDelivery delivery)
    {
        var rest = _held[delivery.Bank].ToArray();
        _held[delivery.Bank].Clear();
        _held[delivery.Bank].Enqueue(delivery.Message);
        foreach (ReadOnlyMemory<byte> m in rest) _held[delivery.Bank].Enqueue(m);
    }

    /// <summary>Every message still waiting (held or in the mailbox after a short grace period), by sender.</summary>
    public async Task<List<AggregatorDelivery>> DrainAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var all = new List<AggregatorDelivery>();
        while (await NextAnyAsync(grace, cancellationToken).ConfigureAwait(false) is { } d) all.Add(d);
        return all;
    }
}

/// <summary>A check's verdict reached early: the party under test did what it must not (or nothing at all).</summary>
internal sealed class CheckFailure(string detail) : Exception(detail);
