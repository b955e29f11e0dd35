// The aggregator-side coordinator of the masking mode (SPEC.md 15.2): it drives one MaskingAggregator over an
// IAggregatorTransport. Every stage (AdvertiseKeys, GraphSeedReveal; per round ShareKeys, MaskedInput, ConsistencyCheck,
// Unmasking) closes as soon as every bank it waits for answered or left the round with its Abort, or at the stage deadline
// without the silent ones (they are dropouts, SPEC.md 8.2). A round that fails benignly (fewer than M at a stage, fewer
// than t shares for a secret, cancellation) sends the aggregator's RoundAbort to every bank of the session and throws; a
// completed round publishes its sum and contributors to every bank of the session (SumOutcomeNotice).
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;

namespace FraudFed.Protocol.Coordination;

/// <summary>Drives the aggregator of a masking session over a transport.</summary>
public sealed class MaskingCoordinator
{
    private readonly MaskingAggregator _aggregator;
    private readonly IAggregatorTransport _transport;
    private readonly CoordinatorOptions _options;
    private readonly List<(int Bank, ViolationReason Reason)> _refusals = [];
    private readonly HashSet<int> _left = [];

    /// <summary>A coordinator of <paramref name="aggregator"/> (not owned) over <paramref name="transport"/>. Each bank message is
    /// handed to the aggregator with the transport's sender (SPEC.md 14.1): a message whose body names another bank, or a sender
    /// outside the roster, is refused (UnknownSender, counted in <see cref="Refusals"/>) and changes nothing.</summary>
    /// <exception cref="ArgumentException">the transport's bank count differs from the session parameters'.</exception>
    public MaskingCoordinator(MaskingAggregator aggregator, IAggregatorTransport transport, CoordinatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(transport);
        if (transport.Banks != aggregator.Banks) throw Error.Argument(nameof(transport), "The transport's bank count differs from the session parameters'.");
        _aggregator = aggregator;
        _transport = transport;
        _options = options ?? new CoordinatorOptions();
    }

    /// <summary>Bank messages the aggregator refused (transport sender, reason), oldest first; each changed nothing.</summary>
    public IReadOnlyList<(int Bank, ViolationReason Reason)> Refusals => _refusals;

    /// <summary>Banks in the session (those whose keys are in the KeyRoster), after <see cref="SetupAsync"/>.</summary>
    public IReadOnlyList<int> InSession => _aggregator.Advertised;

    /// <summary>
    /// Runs the session setup (SPEC.md 8.1): AdvertiseKeys from every bank or until the setup deadline, the KeyRoster, every
    /// advertised bank's GraphSeedReveal, the GraphSeedRoster.
    /// </summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants (fewer than M advertised) or Inconsistent (a reveal missing):
    /// the session ended; WrongRoundOrState: setup already ran.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task SetupAsync(CancellationToken cancellationToken = default)
    {
        if (_aggregator.State is not AggregatorAdvertiseKeys) throw Error.Violation(ViolationReason.WrongRoundOrState, "setup already ran");
        int banks = _transport.Banks;
        await CollectAsync(() => ((AggregatorAdvertiseKeys)_aggregator.State).Received.Count >= banks, _options.SetupDeadline, cancellationToken).ConfigureAwait(false);
        byte[] roster = _aggregator.CloseAdvertiseKeys();
        IReadOnlyList<int> advertised = _aggregator.Advertised;
        foreach (int b in advertised) await _transport.SendAsync(b, roster, cancellationToken).ConfigureAwait(false);
        await CollectAsync(() => _aggregator.State is AggregatorGraphSeed g && g.Reveals.Count >= g.Roster.Count, _options.SetupDeadline, cancellationToken).ConfigureAwait(false);
        byte[] seeds = _aggregator.CloseGraphSeed();
        foreach (int b in advertised) await _transport.SendAsync(b, seeds, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs round <paramref name="round"/> (strictly after every earlier one, failed ones included) for vectors of
    /// <paramref name="length"/> values, and publishes its outcome to every bank of the session. ShareKeys closes when every bank of
    /// <paramref name="expected"/> (default: every bank of the session) answered or left, or at the stage deadline; each later
    /// stage when every bank it addressed answered or left, or at the deadline.</summary>
    /// <returns>The sum mod 2^k and the survivors U2 whose inputs it holds.</returns>
    /// <exception cref="ProtocolViolationException">TooFewParticipants: the round failed alone (RoundAbort sent, the session goes on);
    /// Inconsistent or Malformed: evidence of an attack ended the session; WrongRoundOrState: not ready or a round number not
    /// after the last.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the round was abandoned for every bank.</exception>
    public async Task<CoordinatorRoundResult> RunRoundAsync(uint round, int length, IReadOnlyCollection<int>? expected = null, CancellationToken cancellationToken = default)
    {
        _aggregator.BeginRound(round, length);
        _left.Clear();
        try
        {
            IReadOnlyList<int> inSession = _aggregator.Advertised;
            int[] waitFor = expected is null ? [.. inSession] : [.. inSession.Where(expected.Contains)];
            await CollectAsync(() => Answered(((AggregatorShareKeys)_aggregator.State).Received.Keys, waitFor), _options.StageDeadline, cancellationToken).ConfigureAwait(false);
            await SendAllAsync(_aggregator.CloseShareKeys(), cancellationToken).ConfigureAwait(false);
            int[] u1 = [.. ((AggregatorMaskedInput)_aggregator.State).U1.Keys];
            await CollectAsync(() => Answered(((AggregatorMaskedInput)_aggregator.State).Received, u1), _options.StageDeadline, cancellationToken).ConfigureAwait(false);
            await SendAllAsync(_aggregator.CloseMaskedInput(), cancellationToken).ConfigureAwait(false);
            int[] u2 = [.. ((AggregatorConsistencyCheck)_aggregator.State).U2];
            await CollectAsync(() => Answered(((AggregatorConsistencyCheck)_aggregator.State).Signatures.Keys, u2), _options.StageDeadline, cancellationToken).ConfigureAwait(false);
            await SendAllAsync(_aggregator.CloseConsistencyCheck(), cancellationToken).ConfigureAwait(false);
            int[] u3 = [.. ((AggregatorUnmasking)_aggregator.State).Requests.Keys];
            await CollectAsync(() => Answered(((AggregatorUnmasking)_aggregator.State).Responses.Keys, u3), _options.StageDeadline, cancellationToken).ConfigureAwait(false);
            ulong[] sum = _aggregator.Finish();
            int[] contributors = [.. ((AggregatorCompleted)_aggregator.State).Contributors];
            foreach (int b in inSession)
                await _transport.PublishAsync(b, new SumOutcomeNotice(round, sum, contributors, null), cancellationToken).ConfigureAwait(false);
            return new CoordinatorRoundResult(round, (ulong[])sum.Clone(), contributors);
        }
        catch (ProtocolViolationException) when (_aggregator.State is AggregatorReady { AbortNotice: { } notice } ready && ready.Round == round)
        {
            await BroadcastAsync(notice).ConfigureAwait(false);   // the round failed alone: every bank back to Ready (SPEC.md 8.3)
            throw;
        }
        catch (OperationCanceledException) when (_aggregator.State.Round == round && _aggregator.State is not (AggregatorReady or AggregatorCompleted or AggregatorAborted))
        {
            await BroadcastAsync(_aggregator.AbandonRound()).ConfigureAwait(false);
            throw;
        }
    }

    private async Task BroadcastAsync(byte[] notice)
    {
        foreach (int b in _aggregator.Advertised) await _transport.SendAsync(b, notice, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>True once every bank of <paramref name="expected"/> answered or left the round.</summary>
    private bool Answered(IEnumerable<int> received, IReadOnlyCollection<int> expected)
    {
        var done = new HashSet<int>(received);
        done.UnionWith(_left);
        return expected.All(done.Contains);
    }

    private async Task SendAllAsync(IReadOnlyDictionary<int, byte[]> messages, CancellationToken cancellationToken)
    {
        foreach (var (bank, bytes) in messages) await _transport.SendAsync(bank, bytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Hands bank messages to the aggregator until <paramref name="complete"/> holds or the deadline passes.</summary>
    private async Task CollectAsync(Func<bool> complete, TimeSpan deadline, CancellationToken cancellationToken)
    {
        using var stage = new StageDeadline(deadline, _options.TimeProvider, cancellationToken);
        while (!complete())
        {
            AggregatorDelivery d;
            try { d = await _transport.ReceiveAsync(stage.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return; }   // the deadline: close without the silent banks
            try
            {
                AggregatorState before = _aggregator.State;
                _aggregator.Receive(d.Bank, d.Message.Span);   // the transport's sender, never the body's (SPEC.md 14.1)
                // Every accepted step replaces the state object; only a bank's Abort of the running round leaves it as it was.
                if (ReferenceEquals(before, _aggregator.State)) _left.Add(d.Bank);
            }
            catch (ProtocolViolationException e) { _refusals.Add((d.Bank, e.Reason)); }
        }
    }
}
