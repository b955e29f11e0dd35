// The transport between banks and the aggregator for the per-bank secure-sum API (SPEC.md 15): one mailbox per bank for
// the aggregator's messages and one mailbox at the aggregator for every bank's messages. What moves are the serialized
// protobuf wrappers of SPEC.md 14 (HeBankMessage / HeAggregatorMessage, MaskingBankMessage / MaskingAggregatorMessage),
// untouched; the sender of a bank-to-aggregator message is the transport's identity of the bank (SPEC.md 14.1), never a
// field of the message. The one thing that is not a protocol message is the masking mode's round outcome: SecAgg gives
// banks no result message (SPEC.md 8.2), so the masking coordinator publishes the sum it unmasked, and the contributors,
// beside the protocol (bytes: MaskingSumOutcome of masking.proto, MaskingWire.EncodeOutcome). The bank SDK implements IBankTransport over the appliance's gRPC mailbox (Submit, long-polled Receive).
using System.Threading.Channels;
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Coordination;

/// <summary>
/// A round's outcome as the masking coordinator publishes it to the banks (SPEC.md 15.2): the sum it unmasked and the
/// survivors whose inputs it holds, or the reason the round failed. Not a protocol message: it carries nothing a bank signs
/// or relies on for secrecy (the aggregator learns the sum by design), and a bank checks the contributors against the
/// survivor list it signed. Its byte form, for a transport that moves bytes only, is the <c>MaskingSumOutcome</c> message of
/// masking.proto (<see cref="Masking.MaskingWire.EncodeOutcome"/>, <see cref="Masking.MaskingWire.DecodeOutcome"/>).
/// </summary>
/// <param name="Round">The round (1, 2, ...).</param>
/// <param name="Sum">The sum mod 2^k (k of the session), or null when the round failed.</param>
/// <param name="Contributors">Banks whose vectors are in the sum, ascending (U2, SPEC.md 8.2).</param>
/// <param name="Failure">Why the round failed, or null.</param>
public sealed record SumOutcomeNotice(ulong Round, ulong[]? Sum, int[] Contributors, ViolationReason? Failure)
{
    /// <summary>k when the receiving bank's own transport unpacked <see cref="Sum"/> from ceil(k / 8)-byte lanes and refused any
    /// value not below 2^k while doing so (the SDK's reader of the appliance's SumResult, SPEC.md 14.5), so that
    /// <see cref="MaskingSecureSumClient"/> of a session of that k need not scan the sum again; 0 when no such check ran (the
    /// client then checks every value). Set by the bank's end of a transport only, never taken from the aggregator: the
    /// in-memory transport clears it on every outcome it delivers.</summary>
    internal int RangeCheckedBits { get; init; }
}

/// <summary>One delivery to a bank: a serialized aggregator-to-bank wrapper, or (masking only) a round outcome.</summary>
/// <param name="Message">The serialized wrapper (SPEC.md 14), or null for an outcome.</param>
/// <param name="Outcome">The round outcome, or null for a wrapper.</param>
public readonly record struct BankDelivery(ReadOnlyMemory<byte>? Message, SumOutcomeNotice? Outcome);

/// <summary>A bank's message as the aggregator receives it.</summary>
/// <param name="Bank">The sender's roster index, as the transport authenticated it (mutual TLS in the appliance).</param>
/// <param name="Message">The serialized bank-to-aggregator wrapper (SPEC.md 14).</param>
public readonly record struct AggregatorDelivery(int Bank, ReadOnlyMemory<byte> Message);

/// <summary>A bank's end of the transport: its messages go to the aggregator, the aggregator's come to its mailbox.</summary>
public interface IBankTransport
{
    /// <summary>This bank's roster index (0-based).</summary>
    int Bank { get; }

    /// <summary>Sends one serialized bank-to-aggregator wrapper. The transport owns <paramref name="message"/> afterwards.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>Waits for the next delivery to this bank, in the order the aggregator sent them. An outcome's arrays
    /// (<see cref="SumOutcomeNotice.Sum"/>, <see cref="SumOutcomeNotice.Contributors"/>) are handed to the receiving client, which
    /// may return them to its caller: a transport gives each bank arrays of its own and does not touch them afterwards.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken);
}

/// <summary>A bank transport whose <see cref="IBankTransport.SendAsync"/> reads the message only until its task completes: once a
/// send has succeeded the sender may write into the same array again (a masking bank's next masked input of the same length,
/// megabytes it would otherwise allocate afresh each round). A send that throws gives no such promise.</summary>
internal interface IReleasingBankTransport : IBankTransport;

/// <summary>The aggregator's end of the transport: one mailbox for every bank's messages, a send per bank.</summary>
public interface IAggregatorTransport
{
    /// <summary>Number of banks N in the roster (indices 0..N-1).</summary>
    int Banks { get; }

    /// <summary>Sends one serialized aggregator-to-bank wrapper to <paramref name="bank"/>; the receiver treats it as read-only.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bank"/> outside 0..N-1.</exception>
    ValueTask SendAsync(int bank, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>Publishes a masking round's outcome to <paramref name="bank"/> (SPEC.md 15.2).</summary>
    ValueTask PublishAsync(int bank, SumOutcomeNotice outcome, CancellationToken cancellationToken);

    /// <summary>Waits for the next message from any bank, with the sender the transport authenticated.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (a stage deadline, or the caller).</exception>
    ValueTask<AggregatorDelivery> ReceiveAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The in-memory transport: unbounded mailboxes in one process, for the harness, <c>simulate</c> and tests. Messages are not
/// copied (each party produces fresh arrays and never touches them again; receivers only read). Counts the bytes that cross.
/// </summary>
public sealed class InMemorySumTransport
{
    private readonly Channel<AggregatorDelivery> _toAggregator = Channel.CreateUnbounded<AggregatorDelivery>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<BankDelivery>[] _toBank;
    private readonly BankEnd[] _banks;
    private long _up, _down;

    /// <summary>A transport for <paramref name="banks"/> banks (indices 0..banks-1) and one aggregator.</summary>
    /// <exception cref="ArgumentOutOfRangeException">fewer than one bank.</exception>
    public InMemorySumTransport(int banks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(banks, 1);
        _toBank = Enumerable.Range(0, banks).Select(_ => Channel.CreateUnbounded<BankDelivery>(new UnboundedChannelOptions { SingleReader = true })).ToArray();
        _banks = Enumerable.Range(0, banks).Select(b => new BankEnd(this, b)).ToArray();
        Aggregator = new AggregatorEnd(this);
    }

    /// <summary>Number of banks.</summary>
    public int Banks => _toBank.Length;
    /// <summary>The aggregator's end.</summary>
    public IAggregatorTransport Aggregator { get; }
    /// <summary>Bank <paramref name="index"/>'s end.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> outside 0..N-1.</exception>
    public IBankTransport Bank(int index) =>
        index >= 0 && index < _banks.Length ? _banks[index] : throw Error.OutOfRange(nameof(index), "Bank index outside the roster.");
    /// <summary>Bytes sent by banks so far.</summary>
    public long BytesUploaded => Interlocked.Read(ref _up);
    /// <summary>Bytes of wrappers sent by the aggregator so far.</summary>
    public long BytesDownloaded => Interlocked.Read(ref _down);

    /// <summary>Posts a bank's message without waiting (the synchronous harness drivers).</summary>
    internal void PostFromBank(int bank, ReadOnlyMemory<byte> message)
    {
        Interlocked.Add(ref _up, message.Length);
        if (!_toAggregator.Writer.TryWrite(new AggregatorDelivery(bank, message))) throw new InvalidOperationException("The aggregator's mailbox is closed.");
    }

    /// <summary>Posts an aggregator message to a bank without waiting (the synchronous harness drivers).</summary>
    internal void PostToBank(int bank, BankDelivery delivery)
    {
        if (bank < 0 || bank >= _toBank.Length) throw Error.OutOfRange(nameof(bank), "Bank index outside the roster.");
        if (delivery.Message is { } m) Interlocked.Add(ref _down, m.Length);
        if (!_toBank[bank].Writer.TryWrite(delivery)) throw new InvalidOperationException("The bank's mailbox is closed.");
    }

    /// <summary>Takes the next message waiting at the aggregator, if any (the synchronous harness drivers).</summary>
    internal bool TryTakeAtAggregator(out AggregatorDelivery delivery) => _toAggregator.Reader.TryRead(out delivery);

    /// <summary>Takes the next delivery waiting at <paramref name="bank"/>, if any (the synchronous harness drivers).</summary>
    internal bool TryTakeAtBank(int bank, out BankDelivery delivery) => _toBank[bank].Reader.TryRead(out delivery);

    /// <summary>Drops every delivery waiting at <paramref name="bank"/> (a bank that was offline and lost its mailbox).</summary>
    internal void ClearBank(int bank)
    {
        while (_toBank[bank].Reader.TryRead(out _)) { }
    }

    private sealed class BankEnd(InMemorySumTransport t, int bank) : IBankTransport
    {
        public int Bank => bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            t.PostFromBank(bank, message);
            return ValueTask.CompletedTask;
        }
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => t._toBank[bank].Reader.ReadAsync(cancellationToken);
    }

    private sealed class AggregatorEnd(InMemorySumTransport t) : IAggregatorTransport
    {
        public int Banks => t.Banks;
        public ValueTask SendAsync(int bank, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            t.PostToBank(bank, new BankDelivery(message, null));
            return ValueTask.CompletedTask;
        }
        public ValueTask PublishAsync(int bank, SumOutcomeNotice outcome, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(outcome);
            cancellationToken.ThrowIfCancellationRequested();
            // Each bank gets its own copy: parties never share a mutable object.
            // The aggregator's word that a sum was checked is no check: the bank's client scans what this transport delivers.
            t.PostToBank(bank, new BankDelivery(null, outcome with { Sum = (ulong[]?)outcome.Sum?.Clone(), Contributors = (int[])outcome.Contributors.Clone(), RangeCheckedBits = 0 }));
            return ValueTask.CompletedTask;
        }
        public ValueTask<AggregatorDelivery> ReceiveAsync(CancellationToken cancellationToken) => t._toAggregator.Reader.ReadAsync(cancellationToken);
    }
}
