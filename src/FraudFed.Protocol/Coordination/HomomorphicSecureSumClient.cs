// The per-bank secure-sum API in the threshold homomorphic mode (SPEC.md 15.1) over one HomomorphicBankParty: the bank
// sets its vector for the round, then answers whatever the aggregator sends (session setup, key rotation, the round start,
// decryption requests) until the round's result or abort arrives. Every message crosses as a serialized wrapper
// (SPEC.md 14.2); a refused message changes nothing at the party and is counted in Refusals (or ends the call, with
// BankClientOptions.StopOnRefusal). With a checkpoint (SPEC.md 15.3) the Ready party's state is saved after every message it
// accepted, before its replies are sent: the same client serves the in-process transport and the appliance's mailbox.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Protocol.Coordination;

/// <summary>A bank's <see cref="ISecureSumClient"/> in the threshold homomorphic mode.</summary>
public sealed class HomomorphicSecureSumClient : ISecureSumClient
{
    private readonly HomomorphicBankParty _party;
    private readonly IBankTransport _transport;
    private readonly BankClientOptions _options;
    private readonly List<ViolationReason> _refusals = [];
    private int _busy;   // 1 while a SumAsync or JoinAsync call runs

    /// <summary>A client over <paramref name="party"/> (this object does not own it) speaking through <paramref name="transport"/>.</summary>
    /// <param name="party">The bank party: new (it joins the session setup) or restored with <c>HomomorphicBankParty.ImportState</c> (SPEC.md 14.6).</param>
    /// <param name="transport">This bank's end of the transport.</param>
    /// <param name="options">Checkpoint and refusal policy (SPEC.md 15.3); null: none, refusals counted.</param>
    /// <exception cref="ArgumentException">the transport's bank index is not the party's, or both checkpoint options are set.</exception>
    public HomomorphicSecureSumClient(HomomorphicBankParty party, IBankTransport transport, BankClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(party);
        ArgumentNullException.ThrowIfNull(transport);
        if (transport.Bank != party.Index) throw Error.Argument(nameof(transport), "The transport belongs to another bank than the party.");
        _party = party;
        _transport = transport;
        _options = options ?? new BankClientOptions();
        if (_options.Checkpoint is not null && _options.SplitCheckpoint is not null)
            throw Error.Argument(nameof(options), "Set Checkpoint or SplitCheckpoint, not both.");
    }

    /// <summary>True once the session setup is complete at this bank (it can take part in rounds).</summary>
    public bool IsReady => _party.IsReady;

    /// <inheritdoc />
    public int Bank => _party.Index;

    /// <summary>Reasons of the aggregator messages this bank refused (malformed, stale, wrong state...), oldest first.</summary>
    public IReadOnlyList<ViolationReason> Refusals => _refusals;

    /// <summary>Answers the aggregator's messages until the session setup (or a key rotation) is complete at this bank.</summary>
    /// <exception cref="ProtocolViolationException">the session ended (its abort reason and the aggregator's text); with
    /// <see cref="BankClientOptions.StopOnRefusal"/>, a refused aggregator message (its reason).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    /// <exception cref="InvalidOperationException">another call is running on this client.</exception>
    public async Task JoinAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("Another SumAsync or JoinAsync call is running on this client; a bank runs one round at a time.");
        try { await JoinCoreAsync(cancellationToken).ConfigureAwait(false); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    private async Task JoinCoreAsync(CancellationToken cancellationToken)
    {
        while (!_party.IsReady)
        {
            ThrowIfAborted();
            await StepAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <remarks>Values must also be below t = 2^<c>PlainModulusBits</c> of the roster's parameters (k &lt;= log2 t). The sum is
    /// opened mod t and reduced mod 2^k, exact because 2^k divides t (SPEC.md 12.0). A failed round throws its reason with the
    /// aggregator's text; with <see cref="BankClientOptions.StopOnRefusal"/> a refused aggregator message ends the call too.</remarks>
    public async Task<SecureSumClientResult> SumAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("Another SumAsync or JoinAsync call is running on this client; a bank runs one round at a time.");
        try { return await SumCoreAsync(mine, context, cancellationToken).ConfigureAwait(false); }
        finally { Volatile.Write(ref _busy, 0); }
    }

    private async Task<SecureSumClientResult> SumCoreAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Validate();
        int tBits = _party.Roster.Parameters.PlainModulusBits;
        if (context.ModulusBits > tBits) throw Error.OutOfRange(nameof(context), $"k must be at most log2 t = {tBits}.");
        if (mine.Length != context.Length) throw Error.Argument(nameof(mine), $"The vector has {mine.Length} values, the round {context.Length}.");
        ulong mask = context.ModulusBits == 64 ? ulong.MaxValue : (1UL << context.ModulusBits) - 1;
        ReadOnlySpan<ulong> values = mine.Span;
        for (int i = 0; i < values.Length; i++)
            if (values[i] > mask) throw Error.Argument(nameof(mine), $"The value at index {i} is not below 2^{context.ModulusBits}.");
        ThrowIfAborted();
        ulong round = context.Round;
        // Refused before anything is sent or stored, as the masking client's BeginRound does (SPEC.md 14.2).
        if (_party.IsRoundSpent(round))
            throw Error.Violation(ViolationReason.WrongRoundOrState,
                $"Round numbers must increase strictly: round {round} already ran at this bank (last round opened here: {_party.LastOpenedRound}).");
        _party.SubmitOwned(round, mine.ToArray());   // one copy of the caller's vector, which the party then owns and wipes
        try
        {
            while (true)
            {
                if (_party.TryGetResult(round, out ulong[] sum, out int[] contributors))
                {
                    for (int i = 0; i < sum.Length; i++) sum[i] &= mask;
                    return new SecureSumClientResult(round, sum, contributors, Array.IndexOf(contributors, Bank) >= 0);
                }
                if (_party.TryGetRoundFailure(round, out ViolationReason reason, out string why))
                    throw Error.Violation(reason, $"round {round} failed at the aggregator: {why}");
                ThrowIfAborted();
                await StepAsync(cancellationToken, (round, context.Length)).ConfigureAwait(false);
            }
        }
        finally
        {
            _party.Withdraw(round);   // nothing is left behind if the round never opened (cancellation, failure)
        }
    }

    private void ThrowIfAborted()
    {
        if (_party.AbortReason is { } why) throw Error.Violation(why, $"the aggregator ended the session: {_party.AbortMessage}");
    }

    /// <summary>Takes one delivery and answers it.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="running">The round this call contributes to and its vector length, if any: a round start of that round with
    /// another length ends the call at once (<see cref="RoundLengthMismatchException"/>).</param>
    private async Task StepAsync(CancellationToken cancellationToken, (ulong Round, int Length)? running = null)
    {
        BankDelivery delivery = await _transport.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        if (delivery.Message is not { } message) return;   // the homomorphic mode's results are protocol messages
        IReadOnlyList<byte[]> replies;
        try { replies = _party.Receive(message.Span); }
        catch (ProtocolViolationException e)
        {
            _refusals.Add(e.Reason);   // refused: the party is unchanged
            if (running is { } r && e.Reason == ViolationReason.Inconsistent
                && HeWire.DecodeToBank(message.Span, _party.Roster.Banks) is HeRoundStartMessage start && start.Round == r.Round && start.Length != r.Length)
                throw new RoundLengthMismatchException(r.Round, start.Length, r.Length);
            if (_options.StopOnRefusal) throw;
            return;
        }
        if (_options.SplitCheckpoint is { } split && _party.IsReady)
            await split.SaveSplitAsync(_party, replies, cancellationToken).ConfigureAwait(false);   // the key part only when it changed
        else if (_options.Checkpoint is { } checkpoint && _party.IsReady)
        {
            // Saved before the replies leave: a restart from this state resends them and reads on after this message.
            byte[] state = _party.ExportState();
            try { await checkpoint.SaveAsync(state, replies, cancellationToken).ConfigureAwait(false); }
            finally { CryptographicOperations.ZeroMemory(state); }
        }
        foreach (byte[] reply in replies) await _transport.SendAsync(reply, cancellationToken).ConfigureAwait(false);
    }
}
