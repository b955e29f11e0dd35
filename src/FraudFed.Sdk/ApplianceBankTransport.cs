// The appliance's gRPC mailbox as the protocol layer's IBankTransport (SPEC.md 14.5, 15): Submit carries a bank's serialized
// wrapper, the long-polled mailbox delivers the aggregator's wrappers and (masking) the round outcome, so the protocol's own
// per-bank clients (HomomorphicSecureSumClient, MaskingSecureSumClient) run unchanged over the appliance. The mailbox also
// carries items that are not for a secure-sum client: masking RoundOpen (the SDK waits for it before ShareKeys, since the
// appliance opens rounds itself) and the training job's items (FederationClient.TrainAsync). Each reader takes the first
// item of its kind; an item read for the other reader is kept, in sequence order, until that reader asks. Retries (Polly),
// timeouts and the mapping of refusals to typed exceptions are FederationClient's.
using System.Diagnostics;
using FraudFed.Protocol;
using FraudFed.Protocol.Coordination;
using FraudFed.Sdk.Wire;

namespace FraudFed.Sdk;

/// <summary>
/// One bank's <see cref="IBankTransport"/> over the appliance's gRPC service (SPEC.md 14.5): <see cref="SendAsync"/> is a
/// Submit of one serialized bank-to-aggregator wrapper, <see cref="ReceiveAsync"/> the next aggregator wrapper or masking sum
/// result of this bank's mailbox, in sequence order. Any <see cref="ISecureSumClient"/> of the protocol layer runs over it;
/// round numbers come from <see cref="RequestRoundAsync"/>. Obtained from <see cref="FederationClient.Transport"/>; not
/// thread-safe (one protocol client at a time).
/// </summary>
/// <remarks><see cref="SendAsync"/> reads the message only until it completes (the Submit, retries included, is answered), so a
/// masking client writes its next masked input of the same length into the array of the last one sent
/// (<see cref="IReleasingBankTransport"/>).</remarks>
public sealed class ApplianceBankTransport : IReleasingBankTransport
{
    private readonly FederationClient _client;
    private readonly List<MailboxItem> _kept = [];

    internal ApplianceBankTransport(FederationClient client) => _client = client;

    /// <summary>The client this transport belongs to (its progress reports).</summary>
    internal FederationClient Client => _client;

    /// <inheritdoc />
    public int Bank => _client.Bank;

    /// <summary>Time this bank spent in appliance calls (sends, mailbox waits, round requests), for benchmarks.</summary>
    public BankTransportTimings Timings { get; } = new();

    /// <summary>Mailbox sequence of the last item handed to a reader (0 before the first).</summary>
    public ulong LastDelivered { get; private set; }

    /// <inheritdoc />
    /// <exception cref="MessageRefusedException">the appliance refused the message (its reason; nothing was stored).</exception>
    /// <exception cref="FederationException">the appliance stayed unreachable after the retries, or refused a TLS certificate.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => SubmitAsync(message, waitForItem: false, cancellationToken);

    /// <summary><see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>; with <paramref name="waitForItem"/> the caller reads
    /// its mailbox next and sends nothing before, so the Submit's answer may wait for the next item (SPEC.md 14.5, delivery with
    /// the answer) and that wait counts as send time.</summary>
    internal async ValueTask SubmitAsync(ReadOnlyMemory<byte> message, bool waitForItem, CancellationToken cancellationToken)
    {
        long t0 = Stopwatch.GetTimestamp();
        try { await _client.SubmitAsync(message, cancellationToken, waitForItem && !_kept.Exists(IsProtocolItem)).ConfigureAwait(false); }
        finally { Timings.Sent(Stopwatch.GetTimestamp() - t0); }
    }

    /// <inheritdoc />
    /// <exception cref="FraudFed.Cryptography.ProtocolViolationException">a masking sum result whose <c>sum_le</c> is not the round's
    /// length times ceil(k / 8) bytes (Malformed) or holds a value not below 2^k (OutOfRange), SPEC.md 14.5.</exception>
    /// <remarks>A RoundOpen item nobody waited for (a round this bank no longer runs) is dropped; training items are kept for
    /// <see cref="FederationClient.TrainAsync(FraudFed.Learning.Data.LabeledRows, IProgress{TrainingProgress}?, CancellationToken)"/>.</remarks>
    /// <exception cref="FederationException">no item within the client's stage timeout, or the appliance stayed unreachable.</exception>
    public async ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken)
    {
        MailboxItem item = await NextAsync(IsProtocolItem, cancellationToken).ConfigureAwait(false);
        if (item.ItemCase == MailboxItem.ItemOneofCase.Message) return new BankDelivery(item.Message.Memory, null);
        SumResult r = item.SumResult;
        int? length = r.Round == _requested.Round ? _requested.Length : null;
        // The requested round's sum goes into the caller's array when it gave one (FederationClient.SumIntoAsync).
        ulong[]? into = length is not null && SumInto is { } given && given.Length == length ? given : null;
        SumOutcomeNotice outcome = Outcome(r, _client.ValueBits, length, into);
        r.ReturnSumLe();   // read: its array serves the next round's result
        Diagnostics.HopTrace.Mark(Bank, "sum.unpacked", outcome.Sum!.Length);
        return new BankDelivery(null, outcome);
    }

    /// <summary>The outcome of the masking result <paramref name="r"/> of a session of k = <paramref name="modulusBits"/>: its sum
    /// unpacked in one pass from the packed bytes (SPEC.md 14.5, the masking sum), or taken as <see cref="ReceiveReplyParser"/>
    /// unpacked it from the payload, either way with <see cref="SumResult.UnpackSum"/>'s checks. Every value of the sum it returns
    /// was found below 2^k here, so the outcome says so (<see cref="SumOutcomeNotice.RangeCheckedBits"/> = k) and the masking
    /// client does not scan it again.</summary>
    /// <exception cref="FraudFed.Cryptography.ProtocolViolationException">As <see cref="SumResult.UnpackSum"/>: Malformed (byte
    /// count), OutOfRange (a value not below 2^k).</exception>
    internal static SumOutcomeNotice Outcome(SumResult r, int modulusBits, int? length, ulong[]? into)
    {
        ulong[] sum = r.Unpacked is { } unpacked ? unpacked.Take(modulusBits, length, into) : SumResult.UnpackSum(r.SumLe.Span, modulusBits, length, into);
        return new SumOutcomeNotice(r.Round, sum, [.. r.Contributors.Select(c => (int)c)], null) { RangeCheckedBits = modulusBits };
    }

    /// <summary>The caller's array for the sum of the round this bank requested (<see cref="FederationClient.SumIntoAsync"/>), set for
    /// the length of one masking sum; null: each sum is a new array.</summary>
    internal ulong[]? SumInto
    {
        get => _sumInto;
        set
        {
            _sumInto = value;
            Expect();
        }
    }
    private ulong[]? _sumInto;

    /// <summary>Tells the reply parser which sum this bank expects (<see cref="SumBuffer.Expected"/>): the session's k, the requested
    /// round and length, and <see cref="SumInto"/>, so that a large sum is unpacked from the gRPC payload into its array rather
    /// than copied into bytes first (4 MB per bank per round at a million 32-bit values).</summary>
    private void Expect() =>
        _client.SumBuffer.Expected = _requested.Round == 0 ? null : new SumExpectation(_client.ValueBits, _requested.Round, _requested.Length, _sumInto);

    /// <summary>The round <see cref="RequestRoundAsync"/> last returned and the length it was asked for (its sum must have that many values).</summary>
    private (ulong Round, int Length) _requested;

    /// <summary>Asks the appliance for a place in its next round, for a vector of <paramref name="length"/> values (SPEC.md 14.5
    /// RequestRound; idempotent while that round is pending).</summary>
    /// <returns>The round number to pass in the <see cref="SumContext"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is below 1.</exception>
    /// <exception cref="MessageRefusedException">the appliance refused (e.g. a pending round of another length: WrongRoundOrState).</exception>
    /// <exception cref="FederationException">the appliance stayed unreachable.</exception>
    public Task<ulong> RequestRoundAsync(int length, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        return Timed();

        async Task<ulong> Timed()
        {
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                ulong round = await _client.RequestRoundAsync(length, cancellationToken).ConfigureAwait(false);
                // Told once per round asked for (a request repeated inside the same pending round is not a new wait).
                if (_requested != (round, length)) _client.Report(new SessionProgress(SessionProgress.Waiting, round, length));
                _requested = (round, length);
                Expect();
                return round;
            }
            finally { Timings.Requested(Stopwatch.GetTimestamp() - t0); }
        }
    }

    /// <summary>Takes part in <paramref name="round"/>, which the appliance opened for this bank without a RoundRequest (a training
    /// step names it, SPEC.md 14.5), with a vector of <paramref name="length"/> values: its sum must have that many values.</summary>
    /// <returns><paramref name="round"/>.</returns>
    internal ulong Expect(ulong round, int length)
    {
        Diagnostics.HopTrace.Mark(Bank, "req=", (long)round);
        _requested = (round, length);
        Expect();
        return round;
    }

    /// <summary>Masking: waits until the appliance opens <paramref name="round"/> for this bank (its RoundOpen item), keeping every
    /// other item for the readers. Returns early with the wrapper of a session abort, which ends any wait.</summary>
    /// <returns>Null once the round is open; else the serialized session-ending RoundAbort.</returns>
    /// <exception cref="FederationException">the round opened for another length than <paramref name="length"/>.</exception>
    internal async Task<ReadOnlyMemory<byte>?> AwaitRoundOpenAsync(ulong round, int length, Func<ReadOnlyMemory<byte>, bool> endsSession, CancellationToken cancellationToken)
    {
        MailboxItem item = await NextAsync(i => i.ItemCase == MailboxItem.ItemOneofCase.RoundOpen && i.RoundOpen.Round == round
            || i.ItemCase == MailboxItem.ItemOneofCase.Message && endsSession(i.Message.Memory), cancellationToken).ConfigureAwait(false);
        if (item.ItemCase == MailboxItem.ItemOneofCase.Message) return item.Message.Memory;
        if (item.RoundOpen.Length != length)
            throw new FederationException($"round {round} sums vectors of {item.RoundOpen.Length} value{(item.RoundOpen.Length == 1 ? "" : "s")}, this bank has {length}; every bank of a round passes the same length.");
        return null;
    }

    /// <summary>The next training item (job, step, end), keeping protocol items for <see cref="ReceiveAsync"/>.</summary>
    internal Task<MailboxItem> NextTrainingItemAsync(CancellationToken cancellationToken) =>
        NextAsync(i => i.ItemCase is MailboxItem.ItemOneofCase.TrainingJob or MailboxItem.ItemOneofCase.TrainingStep or MailboxItem.ItemOneofCase.TrainingEnd, cancellationToken);

    /// <summary>A restored bank reads its mailbox after <paramref name="sequence"/>, the last item its saved state handled.</summary>
    internal void ResumeAfter(ulong sequence)
    {
        _kept.Clear();
        LastDelivered = sequence;
        _client.ReadAfter(sequence);
    }

    /// <summary>The SDK's exception for a refused request window (SPEC.md 14.5, "Rounds and deadlines").</summary>
    private static RoundFailedException Refused(RoundRefused r) =>
        RoundFailedException.NotOpened(r.Round, WireReasons.TryParseName(r.Reason, out FraudFed.Cryptography.ViolationReason reason) ? reason : FraudFed.Cryptography.ViolationReason.TooFewParticipants,
            r.Message, (int)r.Asked, (int)r.Needed, r.JoinMilliseconds / 1000.0);

    private static bool IsProtocolItem(MailboxItem i) => i.ItemCase is MailboxItem.ItemOneofCase.Message or MailboxItem.ItemOneofCase.SumResult;

    /// <summary>The first kept or new item that <paramref name="wanted"/> accepts; RoundOpen items read on the way that nobody
    /// waits for are dropped, every other item is kept in order. A RoundRefused item of the round this bank last asked for ends
    /// the wait (that round never opens); one of another round (an earlier window, read again after a restart) is dropped.</summary>
    /// <exception cref="RoundFailedException">the round this bank asked for did not open (<see cref="RoundFailedException.Opened"/> false).</exception>
    private async Task<MailboxItem> NextAsync(Func<MailboxItem, bool> wanted, CancellationToken cancellationToken)
    {
        int at = _kept.FindIndex(i => wanted(i));
        if (at >= 0)
        {
            MailboxItem kept = _kept[at];
            _kept.RemoveAt(at);
            LastDelivered = kept.Sequence;
            return kept;
        }
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            MailboxItem item;
            try { item = await _client.NextItemAsync(cancellationToken).ConfigureAwait(false); }
            finally { Timings.Waited(Stopwatch.GetTimestamp() - t0); }
            if (wanted(item))
            {
                LastDelivered = item.Sequence;
                return item;
            }
            if (item.ItemCase == MailboxItem.ItemOneofCase.RoundRefused)
            {
                if (item.RoundRefused.Round != _requested.Round || _requested.Round == 0) continue;
                LastDelivered = item.Sequence;
                throw Refused(item.RoundRefused);
            }
            if (item.ItemCase != MailboxItem.ItemOneofCase.RoundOpen) _kept.Add(item);
        }
    }
}

/// <summary>Cumulative time one bank's <see cref="ApplianceBankTransport"/> spent in appliance calls (thread-safe counters, no
/// content): the rest of a round's wall time at the bank is its own protocol work (encoding, encryption or masking, checks).</summary>
public sealed class BankTransportTimings
{
    private long _send, _wait, _request, _sends, _items, _requests;

    /// <summary>Seconds in Submit calls: serializing, TLS, HTTP/2 transfer, and the appliance's work until it acknowledges
    /// (its durable commit included). A Submit that waits for the next mailbox item (the homomorphic session's last message
    /// of a step, SPEC.md 14.5) counts that wait here, not in <see cref="WaitSeconds"/>.</summary>
    public double SendSeconds => Seconds(ref _send);
    /// <summary>Seconds waiting for mailbox items (long polls: the other banks' and the appliance's work, plus transfer and parsing;
    /// an item that came with a Submit's answer is read at once).</summary>
    public double WaitSeconds => Seconds(ref _wait);
    /// <summary>Seconds in RequestRound calls.</summary>
    public double RequestSeconds => Seconds(ref _request);
    /// <summary>Submit calls made (each a round trip).</summary>
    public long Sends => Interlocked.Read(ref _sends);
    /// <summary>Mailbox items read from the appliance.</summary>
    public long Items => Interlocked.Read(ref _items);
    /// <summary>RequestRound calls made.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    internal void Sent(long ticks) { Interlocked.Add(ref _send, ticks); Interlocked.Increment(ref _sends); }
    internal void Waited(long ticks) { Interlocked.Add(ref _wait, ticks); Interlocked.Increment(ref _items); }
    internal void Requested(long ticks) { Interlocked.Add(ref _request, ticks); Interlocked.Increment(ref _requests); }

    private static double Seconds(ref long ticks) => Interlocked.Read(ref ticks) / (double)Stopwatch.Frequency;
}
