// The per-bank secure-sum API in the masking mode (SPEC.md 15.2) over one MaskingBank. The bank joins the session (its
// AdvertiseKeys, then the KeyRoster and GraphSeedRoster) the first time it is used; each SumAsync begins the context's
// round with ShareKeys and answers the ShareDelivery, SurvivorList and UnmaskRequest of that round, then waits for the
// coordinator's outcome (SecAgg has no result message, SPEC.md 8.2). A bank that leaves the round (fewer than t holders of
// its shares) says so with its Abort and still learns the outcome; the aggregator's RoundAbort fails the call with its
// reason. Round messages of other rounds are skipped and counted in Refusals; a refused message of the running round or of the
// session is counted too, or ends the call with BankClientOptions.StopOnRefusal (SPEC.md 15.3). With a checkpoint, the bank's
// state (MaskingBank.ExportState, SPEC.md 14.7) is saved before every message that commits the bank leaves (AdvertiseKeys,
// GraphSeedReveal, ShareKeys, MaskedInput or its Abort, ConsistencySignature, UnmaskResponse) and after every other message
// it accepted, so a restarted bank never draws a round's secrets twice nor sends a second masked input for a round.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;

namespace FraudFed.Protocol.Coordination;

/// <summary>A bank's <see cref="ISecureSumClient"/> in the masking mode (SecAgg / SecAgg+).</summary>
public sealed class MaskingSecureSumClient : ISecureSumClient
{
    private readonly MaskingBank _bank;
    private readonly IBankTransport _transport;
    private readonly MaskingParameters _parameters;
    private readonly BankClientOptions _options;
    private readonly List<ViolationReason> _refusals = [];
    private string _sessionEnd = "";
    private int _busy;   // 1 while a SumAsync or JoinAsync call runs

    /// <summary>A client over <paramref name="bank"/> (not owned) of a session with <paramref name="parameters"/>, speaking through
    /// <paramref name="transport"/>.</summary>
    /// <param name="bank">The bank party.</param>
    /// <param name="parameters">The session's parameters.</param>
    /// <param name="transport">This bank's end of the transport.</param>
    /// <param name="options">Checkpoint and refusal policy (SPEC.md 15.3); null: none, refusals counted.</param>
    /// <exception cref="ArgumentException">the transport's bank index is not the bank's, or a split checkpoint (homomorphic only) is set.</exception>
    public MaskingSecureSumClient(MaskingBank bank, MaskingParameters parameters, IBankTransport transport, BankClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(transport);
        if (transport.Bank != bank.Id) throw Error.Argument(nameof(transport), "The transport belongs to another bank than the party.");
        if (options?.SplitCheckpoint is not null) throw Error.Argument(nameof(options), "A split checkpoint is for homomorphic parties; use Checkpoint.");
        _bank = bank;
        _parameters = parameters;
        _transport = transport;
        _options = options ?? new BankClientOptions();
    }

    /// <summary>True once the session setup is complete at this bank (it can take part in rounds).</summary>
    public bool IsReady => _bank.State is BankReady or BankCompleted;

    /// <inheritdoc />
    public int Bank => _bank.Id;

    /// <summary>Reasons of the aggregator messages this bank refused, oldest first; each changed nothing.</summary>
    public IReadOnlyList<ViolationReason> Refusals => _refusals;

    /// <summary>Runs this bank's part of the session setup (SPEC.md 8.1) until it is Ready; nothing when it already is.</summary>
    /// <exception cref="ProtocolViolationException">the session ended (the reason): the aggregator's abort, or evidence of an attack
    /// such as a graph-seed equivocation; with <see cref="BankClientOptions.StopOnRefusal"/>, a refused aggregator message.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    /// <exception cref="InvalidOperationException">another call is running on this client.</exception>
    public async Task JoinAsync(CancellationToken cancellationToken = default)
    {
        Enter();
        try { await JoinCoreAsync(cancellationToken).ConfigureAwait(false); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>Marks a call as running; refuses a second concurrent one.</summary>
    private void Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("Another SumAsync or JoinAsync call is running on this client; a bank runs one round at a time.");
    }

    private async Task JoinCoreAsync(CancellationToken cancellationToken)
    {
        if (_bank.State is BankAdvertiseKeys { Advertised: false })
            await SaveThenSendAsync(_bank.AdvertiseKeys(), cancellationToken).ConfigureAwait(false);
        while (_bank.State is BankAdvertiseKeys or BankGraphSeed)
        {
            BankDelivery d = await _transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (d.Message is not { } message) continue;
            try
            {
                switch (MaskingWire.DecodeToBank(message.Span, _bank.MaxMessageBytes))
                {
                    case KeyRoster: await SaveThenSendAsync(_bank.ReceiveRoster(message.Span), cancellationToken).ConfigureAwait(false); break;
                    case GraphSeedRoster:
                        _bank.ReceiveGraphSeed(message.Span);
                        await SaveThenSendAsync(null, cancellationToken).ConfigureAwait(false);
                        break;
                    case RoundAbort abort:
                        _bank.ReceiveRoundAbort(message.Span);
                        _sessionEnd = $"the aggregator ended the session during setup: {abort.Message}";
                        await SaveThenSendAsync(null, cancellationToken).ConfigureAwait(false);
                        break;
                    default: throw Error.Violation(ViolationReason.WrongRoundOrState, "a round message during setup");
                }
            }
            catch (ProtocolViolationException e)
            {
                _refusals.Add(e.Reason);   // refused (state unchanged), or evidence that aborted the session: thrown below
                if (_options.StopOnRefusal && _bank.State is not BankAborted) throw;
            }
        }
        ThrowIfAborted();
    }

    /// <inheritdoc />
    /// <remarks>The context's k must be the session's k (<see cref="MaskingParameters.ModulusBits"/>) and its round fit 32 bits.</remarks>
    public async Task<SecureSumClientResult> SumAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken = default)
    {
        Enter();
        try { return await SumCoreAsync(mine, context, cancellationToken).ConfigureAwait(false); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    private async Task<SecureSumClientResult> SumCoreAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Validate();
        if (context.ModulusBits != _parameters.ModulusBits) throw Error.Argument(nameof(context), $"k is {context.ModulusBits}, the session's is {_parameters.ModulusBits}.");
        if (context.Round > uint.MaxValue) throw Error.OutOfRange(nameof(context), "Masking rounds are 32-bit.");
        if (mine.Length != context.Length) throw Error.Argument(nameof(mine), $"The vector has {mine.Length} values, the round {context.Length}.");
        ulong limit = ModVector.Mask(_parameters.ModulusBits);
        ReadOnlySpan<ulong> values = mine.Span;
        for (int i = 0; i < values.Length; i++)
            if (values[i] > limit) throw Error.Argument(nameof(mine), $"The value at index {i} is not below 2^{_parameters.ModulusBits}.");
        await JoinCoreAsync(cancellationToken).ConfigureAwait(false);
        uint round = (uint)context.Round;
        await SaveThenSendAsync(_bank.BeginRound(round), cancellationToken).ConfigureAwait(false);
        IReadOnlyList<int>? signed = null;
        try
        {
            while (true)
            {
                BankDelivery d = await _transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                if (d.Outcome is { } outcome)
                {
                    if (outcome.Round != round) continue;   // an earlier round this bank was not waiting for
                    if (_bank.State.Round == round && _bank.State is not (BankReady or BankCompleted or BankAborted)) _bank.AbandonRound();
                    if (outcome.Failure is { } failed) throw Error.Violation(failed, $"round {round} failed at the aggregator");
                    if (outcome.Sum is null) throw Error.Violation(ViolationReason.Malformed, $"the outcome of round {round} has neither a sum nor a failure");
                    if (outcome.Sum.Length != context.Length) throw new RoundLengthMismatchException(round, outcome.Sum.Length, context.Length);
                    if (signed is not null && !outcome.Contributors.SequenceEqual(signed))
                        throw Error.Violation(ViolationReason.Inconsistent, $"the outcome of round {round} names other contributors than the survivor list this bank signed");
                    // The delivery's array is this client's (IBankTransport.ReceiveAsync): checked, not copied (a million-value sum
                    // is 8 MB of fresh memory per bank). Not scanned a second time when this bank's own transport refused any value
                    // not below 2^k of this session while unpacking it (the SDK's appliance transport); every other delivery is.
                    ulong[] sum = outcome.Sum;
                    if (outcome.RangeCheckedBits != _parameters.ModulusBits)
                    {
                        int above = sum.AsSpan().IndexOfAnyExceptInRange(0UL, limit);
                        if (above >= 0) throw Error.Violation(ViolationReason.OutOfRange, $"the outcome of round {round} has a value not below 2^{_parameters.ModulusBits} at index {above}");
                    }
                    return new SecureSumClientResult(round, sum, outcome.Contributors, Array.IndexOf(outcome.Contributors, Bank) >= 0);
                }
                if (d.Message is not { } message) continue;
                MaskingToBank m;
                try { m = MaskingWire.DecodeToBank(message.Span, _bank.MaxMessageBytes); }
                catch (ProtocolViolationException e)
                {
                    _refusals.Add(e.Reason);
                    if (_options.StopOnRefusal) throw;
                    continue;
                }
                if (RoundOf(m) is { } other && other != 0 && other != round)
                {
                    _refusals.Add(ViolationReason.WrongRoundOrState);   // a message of a round this call is not running
                    continue;
                }
                try
                {
                    switch (m)
                    {
                        case ShareDelivery:
                            await SendMaskedInputAsync(round, message, mine, cancellationToken).ConfigureAwait(false);
                            break;
                        case SurvivorList:
                            byte[] signature = _bank.ReceiveSurvivors(message.Span);
                            if (_bank.State is BankConsistencyCheck check) signed = [.. check.Survivors];
                            await SaveThenSendAsync(signature, cancellationToken).ConfigureAwait(false);
                            break;
                        case UnmaskRequest:
                            await SaveThenSendAsync(_bank.ReceiveUnmaskRequest(message.Span), cancellationToken).ConfigureAwait(false);
                            break;
                        case RoundAbort abort:
                            _bank.ReceiveRoundAbort(message.Span);
                            await SaveThenSendAsync(null, cancellationToken).ConfigureAwait(false);
                            if (abort.Round == 0)
                            {
                                _sessionEnd = $"the aggregator ended the session: {abort.Message}";
                                throw Error.Violation(abort.Reason, _sessionEnd);
                            }
                            if (abort.Round == round) throw Error.Violation(abort.Reason, string.IsNullOrWhiteSpace(abort.Message) ? $"round {round} failed at the aggregator" : $"round {round} failed at the aggregator: {abort.Message}");
                            break;
                        default:
                            throw Error.Violation(ViolationReason.WrongRoundOrState, "a setup message after setup");
                    }
                }
                catch (ProtocolViolationException e) when (_bank.State is not BankAborted && !(m is RoundAbort { Round: var r } && (r == 0 || r == round)))
                {
                    _refusals.Add(e.Reason);   // refused: the bank is unchanged
                    if (_options.StopOnRefusal) throw;
                }
                ThrowIfAborted();
            }
        }
        catch (OperationCanceledException)
        {
            if (_bank.State.Round == round && _bank.State is not (BankReady or BankAborted)) _bank.AbandonRound();   // zeroes the round's secrets
            throw;
        }
    }

    /// <summary>The masked input this client last sent over an <see cref="IReleasingBankTransport"/>, acknowledged: its array is
    /// written again by the next round of the same length (SPEC.md 14.5; the wire bytes are unchanged) instead of a fresh one of
    /// megabytes whose pages the process faults in anew each round. Null otherwise. It holds public bytes (the masked input sent).</summary>
    private byte[]? _sentMaskedInput;

    /// <summary>Round step 2: masks this bank's input into the previous masked input's array when the transport released it, and
    /// sends it (<see cref="SendOrLeaveAsync"/>).</summary>
    private async Task SendMaskedInputAsync(uint round, ReadOnlyMemory<byte> delivery, ReadOnlyMemory<ulong> input, CancellationToken cancellationToken)
    {
        byte[]? reuse = _sentMaskedInput;
        _sentMaskedInput = null;   // taken: not handed out twice, and gone if this step or its send fails
        byte[]? sent = await SendOrLeaveAsync(round, () => _bank.ReceiveShares(delivery.Span, input.Span, reuse), cancellationToken).ConfigureAwait(false);
        if (_transport is IReleasingBankTransport) _sentMaskedInput = sent;
    }

    /// <summary>Sends the step's answer; if the step ended the round for this bank (SPEC.md 8.3), tells the aggregator instead.</summary>
    /// <returns>The answer sent (the send completed), or null when the bank left the round instead.</returns>
    private async Task<byte[]?> SendOrLeaveAsync(uint round, Func<byte[]> step, CancellationToken cancellationToken)
    {
        byte[] answer;
        try { answer = step(); }
        catch (ProtocolViolationException) when (_bank.State is BankReady { LastRoundFailure: { } reason } ready && ready.Round == round)
        {
            await SaveThenSendAsync(new BankAbort(_parameters.SessionId, round, reason, "this bank left the round").Encode(), cancellationToken)
                .ConfigureAwait(false);
            return null;
        }
        // The masked input (k bits per value: megabytes for long vectors) is not kept as a reply to resend: a bank restored from
        // this save leaves the round instead (SPEC.md 14.7), so the save only has to precede the send.
        await SaveThenSendAsync(answer, cancellationToken, keepReply: false).ConfigureAwait(false);
        return answer;
    }

    /// <summary>Saves the bank's state through the checkpoint (if any), then sends <paramref name="reply"/> (if any): a restart
    /// from the saved state resends exactly these bytes (unless <paramref name="keepReply"/> is false: the masked input) and
    /// never computes them again (SPEC.md 14.7, 15.3).</summary>
    private async Task SaveThenSendAsync(byte[]? reply, CancellationToken cancellationToken, bool keepReply = true)
    {
        if (_options.Checkpoint is { } checkpoint)
        {
            byte[] state = _bank.ExportState();
            try { await checkpoint.SaveAsync(state, reply is null || !keepReply ? [] : [reply], cancellationToken).ConfigureAwait(false); }
            finally { CryptographicOperations.ZeroMemory(state); }
        }
        if (reply is not null) await _transport.SendAsync(reply, cancellationToken).ConfigureAwait(false);
    }

    private void ThrowIfAborted()
    {
        if (_bank.State is BankAborted aborted)
            throw Error.Violation(aborted.Reason, _sessionEnd.Length > 0 ? _sessionEnd : "this bank ended the session");
    }

    /// <summary>The round a ShareDelivery, SurvivorList or UnmaskRequest belongs to; null for other messages (a RoundAbort of
    /// another round goes to the bank, which accepts a repeated notice of a round it already ended).</summary>
    private static uint? RoundOf(MaskingToBank m) => m switch
    {
        ShareDelivery d => d.Round,
        SurvivorList s => s.Round,
        UnmaskRequest u => u.Round,
        RoundAbort a => a.Round,   // 0 ends the session: handled below, in any round
        _ => null,
    };
}
