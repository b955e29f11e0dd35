// The aggregator-side coordinator of the threshold homomorphic mode (SPEC.md 15.1): it drives one
// HomomorphicAggregatorParty over an IAggregatorTransport. Setup: StartSession, then every bank's messages until the key is
// ready. A round: StartRound; uploads are closed when every expected bank uploaded or the upload deadline passed; T of the
// contributors (rotating with the round number) are asked to decrypt; the round ends with the result broadcast, or fails
// alone (too few contributors, a refusing decryptor, the share deadline) with an abort to every bank. Deadlines come from
// the injected TimeProvider; the party itself stays clock-free.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Protocol.Coordination;

/// <summary>Deadlines of a coordinator (SPEC.md 15).</summary>
public sealed record CoordinatorOptions
{
    /// <summary>How long one stage waits for the banks it expects before it closes without the silent ones (default 30 s).</summary>
    public TimeSpan StageDeadline { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long session setup may take before it fails (default 5 min).</summary>
    public TimeSpan SetupDeadline { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>The clock deadlines are measured with (default the system clock; tests inject a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>A round as the coordinator ended it.</summary>
/// <param name="Round">The round.</param>
/// <param name="Sum">The sum (homomorphic: mod t; masking: mod 2^k).</param>
/// <param name="Contributors">Banks whose vectors are in the sum, ascending.</param>
public sealed record CoordinatorRoundResult(ulong Round, ulong[] Sum, IReadOnlyList<int> Contributors);

/// <summary>Drives the aggregator party of a threshold homomorphic session over a transport.</summary>
public sealed class HomomorphicCoordinator
{
    private readonly HomomorphicAggregatorParty _aggregator;
    private readonly IAggregatorTransport _transport;
    private readonly CoordinatorOptions _options;
    private readonly List<(int Bank, ViolationReason Reason)> _refusals = [];

    /// <summary>A coordinator of <paramref name="aggregator"/> (not owned) over <paramref name="transport"/>.</summary>
    /// <exception cref="ArgumentException">the transport's bank count differs from the roster's.</exception>
    public HomomorphicCoordinator(HomomorphicAggregatorParty aggregator, IAggregatorTransport transport, CoordinatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(transport);
        if (transport.Banks != aggregator.Roster.Banks) throw Error.Argument(nameof(transport), "The transport's bank count differs from the roster's.");
        _aggregator = aggregator;
        _transport = transport;
        _options = options ?? new CoordinatorOptions();
    }

    /// <summary>Bank messages the aggregator refused (bank, reason), oldest first; each changed nothing.</summary>
    public IReadOnlyList<(int Bank, ViolationReason Reason)> Refusals => _refusals;

    /// <summary>Runs the session setup (or a key rotation, SPEC.md 14.2) through the banks' messages until the key is ready.</summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState: a round is open; TooFewParticipants: setup missed its deadline
    /// (setup needs every roster bank); the reason of a bank's session abort.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task SetupAsync(CancellationToken cancellationToken = default)
    {
        await SendAsync(_aggregator.StartSession(), cancellationToken).ConfigureAwait(false);
        using var deadline = Deadline(_options.SetupDeadline, cancellationToken);
        while (!_aggregator.IsReady)
        {
            if (_aggregator.State.StartsWith("Aborted", StringComparison.Ordinal))
                throw Error.Violation(ViolationReason.Inconsistent, $"a bank ended the session during setup ({_aggregator.State})");
            if (!await StepAsync(deadline.Token, cancellationToken).ConfigureAwait(false))
                throw Error.Violation(ViolationReason.TooFewParticipants, "setup missed its deadline: it needs every roster bank");
        }
    }

    /// <summary>
    /// Runs round <paramref name="round"/> (strictly after every earlier one) for vectors of <paramref name="length"/> values.
    /// Uploads close when every bank of <paramref name="expected"/> (default: the whole roster) uploaded, or at the stage deadline.
    /// </summary>
    /// <returns>The opened sum mod t and its contributors; every bank got the same result message.</returns>
    /// <exception cref="ProtocolViolationException">the round failed alone (TooFewParticipants: fewer than max(T, K_min) contributors
    /// or a decryptor silent past the deadline; Refused, BudgetExhausted...: a refusing decryptor); WrongRoundOrState: not ready
    /// or a round number not after the last. The session stays usable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the round was failed for every bank.</exception>
    public async Task<CoordinatorRoundResult> RunRoundAsync(ulong round, int length, IReadOnlyCollection<int>? expected = null, CancellationToken cancellationToken = default)
    {
        var waitFor = new HashSet<int>(expected ?? Enumerable.Range(0, _aggregator.Roster.Banks));
        if (waitFor.Any(b => b < 0 || b >= _aggregator.Roster.Banks)) throw Error.OutOfRange(nameof(expected), "A bank outside the roster.");
        await SendAsync(_aggregator.StartRound(round, length), cancellationToken).ConfigureAwait(false);
        try
        {
            // Uploads: every message the aggregator accepts while it collects uploads is its sender's complete upload.
            var uploaded = new SortedSet<int>();
            using (var deadline = Deadline(_options.StageDeadline, cancellationToken))
            {
                while (!waitFor.IsSubsetOf(uploaded))
                {
                    int? accepted = await NextAsync(deadline.Token, cancellationToken).ConfigureAwait(false);
                    if (accepted is null) break;                                   // deadline: close without the silent banks
                    if (accepted >= 0 && _aggregator.LastRound == round && _aggregator.State.StartsWith("CollectingUploads", StringComparison.Ordinal)) uploaded.Add(accepted.Value);
                    if (Ended(round)) return Outcome(round);                       // a malformed signed upload failed the round
                }
            }
            DecryptionPolicy policy = _aggregator.Roster.Policy;
            int[] contributors = [.. uploaded];
            if (contributors.Length < Math.Max(policy.Threshold, policy.MinContributors))
            {
                await SendAsync(_aggregator.FailRound(ViolationReason.TooFewParticipants, Error.TooFewContributors(round, contributors.Length,
                    Math.Max(policy.Threshold, policy.MinContributors), policy.Threshold, policy.MinContributors,
                    silent: [.. Enumerable.Range(0, _aggregator.Roster.Banks).Except(contributors)]).Detail), cancellationToken).ConfigureAwait(false);
                return Outcome(round);
            }
            int offset = (int)(round % (ulong)contributors.Length);
            int[] active = Enumerable.Range(0, policy.Threshold).Select(i => contributors[(offset + i) % contributors.Length]).Order().ToArray();
            await SendAsync(_aggregator.CloseUploads(active), cancellationToken).ConfigureAwait(false);
            using (var deadline = Deadline(_options.StageDeadline, cancellationToken))
            {
                while (!Ended(round))
                {
                    if (await StepAsync(deadline.Token, cancellationToken).ConfigureAwait(false)) continue;
                    await SendAsync(_aggregator.FailRound(ViolationReason.TooFewParticipants, $"a decryptor of round {round} missed the deadline"), cancellationToken)
                        .ConfigureAwait(false);
                }
            }
            return Outcome(round);
        }
        catch (OperationCanceledException)
        {
            if (_aggregator.LastRound == round && !_aggregator.IsReady && !Ended(round))
                await SendAsync(_aggregator.FailRound(ViolationReason.TooFewParticipants, $"round {round} was cancelled"), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private bool Ended(ulong round) => _aggregator.LastOutcome?.Round == round && _aggregator.IsReady;

    private CoordinatorRoundResult Outcome(ulong round)
    {
        HeRoundOutcome outcome = _aggregator.LastOutcome!;
        if (outcome.Round != round) throw Error.Violation(ViolationReason.WrongRoundOrState, $"round {round} has no outcome");
        if (outcome.Failure is { } failure)
        {
            string text = HomomorphicAggregatorParty.Text(failure);   // "round R has ..." already names its round
            throw Error.Violation(failure.Reason, text.StartsWith($"round {round} ", StringComparison.Ordinal) ? text : $"round {round} failed: {text}");
        }
        return new CoordinatorRoundResult(round, outcome.Sum!, outcome.Contributors);
    }

    private StageDeadline Deadline(TimeSpan after, CancellationToken caller) => new(after, _options.TimeProvider, caller);

    /// <summary>Takes one bank message and hands it to the aggregator; false when the stage deadline fired.</summary>
    private async Task<bool> StepAsync(CancellationToken deadline, CancellationToken caller) =>
        await NextAsync(deadline, caller).ConfigureAwait(false) is not null;

    /// <summary>One message: null at the deadline, else the sender if the aggregator accepted it, -1 if it refused it.</summary>
    private async Task<int?> NextAsync(CancellationToken deadline, CancellationToken caller)
    {
        AggregatorDelivery d;
        try { d = await _transport.ReceiveAsync(deadline).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested) { return null; }
        IReadOnlyList<HeOutgoing> next;
        try { next = _aggregator.Receive(d.Bank, d.Message.Span); }
        catch (ProtocolViolationException e)
        {
            _refusals.Add((d.Bank, e.Reason));
            return -1;
        }
        await SendAsync(next, caller).ConfigureAwait(false);
        return d.Bank;
    }

    private async Task SendAsync(IReadOnlyList<HeOutgoing> outgoing, CancellationToken cancellationToken)
    {
        foreach (HeOutgoing o in outgoing) await _transport.SendAsync(o.To, o.Bytes, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A stage deadline on the coordinator's clock, linked with the caller's cancellation.</summary>
internal sealed class StageDeadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public StageDeadline(TimeSpan after, TimeProvider clock, CancellationToken caller)
    {
        _timer = new CancellationTokenSource(after, clock);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(caller, _timer.Token);
    }

    /// <summary>Fires at the deadline or when the caller cancels.</summary>
    public CancellationToken Token => _linked.Token;

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
