// The per-bank secure-sum API in the masking mode (SPEC.md 15.2) over one MaskingBank. The bank joins the session (its
// AdvertiseKeys, then the KeyRoster and GraphSeedRoster) the first time it is used; each SumAsync begins the context's
// round with ShareKeys and answers the ShareDelivery, SurvivorList and UnmaskRequest of that round, then waits for the
// coordinator's outcome (SecAgg has no result message, SPEC.md 8.2). A bank that leaves the round (fewer than t holders of
// its shares) says so with its Abort and still learns the outcome; the aggregator's RoundAbort fails the call with its
// reason. Messages of other rounds are refused by the bank, change nothing, and are counted in Refusals.
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;

namespace FraudFed.Protocol.Coordination;

/// <summary>A bank's <see cref="ISecureSumClient"/> in the masking mode (SecAgg / SecAgg+).</summary>
public sealed class MaskingSecureSumClient : ISecureSumClient
{
    private readonly MaskingBank _bank;
    private readonly IBankTransport _transport;
    private readonly MaskingParameters _parameters;
    private readonly List<ViolationReason> _refusals = [];

    /// <summary>A client over <paramref name="bank"/> (not owned) of a session with <paramref name="parameters"/>, speaking through
    /// <paramref name="transport"/>.</summary>
    /// <exception cref="ArgumentException">the transport's bank index is not the bank's.</exception>
    public MaskingSecureSumClient(MaskingBank bank, MaskingParameters parameters, IBankTransport transport)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(transport);
        if (transport.Bank != bank.Id) throw Error.Argument(nameof(transport), "The transport belongs to another bank than the party.");
        _bank = bank;
        _parameters = parameters;
        _transport = transport;
    }

    /// <inheritdoc />
    public int Bank => _bank.Id;

    /// <summary>Reasons of the aggregator messages this bank refused, oldest first; each changed nothing.</summary>
    public IReadOnlyList<ViolationReason> Refusals => _refusals;

    /// <summary>Runs this bank's part of the session setup (SPEC.md 8.1) until it is Ready; nothing when it already is.</summary>
    /// <exception cref="ProtocolViolationException">the bank aborted the session (the reason), e.g. a graph-seed equivocation.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task JoinAsync(CancellationToken cancellationToken = default)
    {
        if (_bank.State is BankAdvertiseKeys { Advertised: false })
            await _transport.SendAsync(_bank.AdvertiseKeys(), cancellationToken).ConfigureAwait(false);
        while (_bank.State is BankAdvertiseKeys or BankGraphSeed)
        {
            BankDelivery d = await _transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (d.Message is not { } message) continue;
            try
            {
                switch (MaskingWire.DecodeToBank(message.Span))
                {
                    case KeyRoster: await _transport.SendAsync(_bank.ReceiveRoster(message.Span), cancellationToken).ConfigureAwait(false); break;
                    case GraphSeedRoster: _bank.ReceiveGraphSeed(message.Span); break;
                    case RoundAbort: _bank.ReceiveRoundAbort(message.Span); break;
                    default: throw Error.Violation(ViolationReason.WrongRoundOrState, "a round message during setup");
                }
            }
            catch (ProtocolViolationException e) { _refusals.Add(e.Reason); }
        }
        ThrowIfAborted();
    }

    /// <inheritdoc />
    /// <remarks>The context's k must be the session's k (<see cref="MaskingParameters.ModulusBits"/>) and its round fit 32 bits.</remarks>
    public async Task<SecureSumClientResult> SumAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken = default)
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
        await JoinAsync(cancellationToken).ConfigureAwait(false);
        uint round = (uint)context.Round;
        await _transport.SendAsync(_bank.BeginRound(round), cancellationToken).ConfigureAwait(false);
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
                    if (outcome.Sum is null || outcome.Sum.Length != context.Length)
                        throw Error.Violation(ViolationReason.Malformed, $"the outcome of round {round} has another length than the round");
                    if (signed is not null && !outcome.Contributors.SequenceEqual(signed))
                        throw Error.Violation(ViolationReason.Inconsistent, $"the outcome of round {round} names other contributors than the survivor list this bank signed");
                    ulong[] sum = (ulong[])outcome.Sum.Clone();
                    for (int i = 0; i < sum.Length; i++) sum[i] &= limit;
                    return new SecureSumClientResult(round, sum, outcome.Contributors, Array.IndexOf(outcome.Contributors, Bank) >= 0);
                }
                if (d.Message is not { } message) continue;
                MaskingToBank m;
                try { m = MaskingWire.DecodeToBank(message.Span); }
                catch (ProtocolViolationException e) { _refusals.Add(e.Reason); continue; }
                try
                {
                    switch (m)
                    {
                        case ShareDelivery:
                            await SendOrLeaveAsync(round, () => _bank.ReceiveShares(message.Span, mine.Span), cancellationToken).ConfigureAwait(false);
                            break;
                        case SurvivorList:
                            byte[] signature = _bank.ReceiveSurvivors(message.Span);
                            if (_bank.State is BankConsistencyCheck check) signed = [.. check.Survivors];
                            await _transport.SendAsync(signature, cancellationToken).ConfigureAwait(false);
                            break;
                        case UnmaskRequest:
                            await _transport.SendAsync(_bank.ReceiveUnmaskRequest(message.Span), cancellationToken).ConfigureAwait(false);
                            break;
                        case RoundAbort abort:
                            _bank.ReceiveRoundAbort(message.Span);
                            if (abort.Round == 0) throw Error.Violation(abort.Reason, "the aggregator ended the session");
                            if (abort.Round == round) throw Error.Violation(abort.Reason, $"round {round} failed at the aggregator");
                            break;
                        default:
                            throw Error.Violation(ViolationReason.WrongRoundOrState, "a setup message after setup");
                    }
                }
                catch (ProtocolViolationException e) when (_bank.State is not BankAborted && !(m is RoundAbort { Round: var r } && (r == 0 || r == round)))
                {
                    _refusals.Add(e.Reason);   // refused: the bank is unchanged
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

    /// <summary>Sends the step's answer; if the step ended the round for this bank (SPEC.md 8.3), tells the aggregator instead.</summary>
    private async Task SendOrLeaveAsync(uint round, Func<byte[]> step, CancellationToken cancellationToken)
    {
        byte[] answer;
        try { answer = step(); }
        catch (ProtocolViolationException) when (_bank.State is BankReady { LastRoundFailure: { } reason } ready && ready.Round == round)
        {
            await _transport.SendAsync(new BankAbort(_parameters.SessionId, round, reason, "this bank left the round").Encode(), cancellationToken)
                .ConfigureAwait(false);
            return;
        }
        await _transport.SendAsync(answer, cancellationToken).ConfigureAwait(false);
    }

    private void ThrowIfAborted()
    {
        if (_bank.State is BankAborted aborted) throw Error.Violation(aborted.Reason, "this bank ended the session");
    }
}
