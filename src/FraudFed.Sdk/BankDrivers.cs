// The two bank drivers: each owns the bank party of its mode and turns mailbox items into party calls and the party's
// answers into Submit calls. Neither holds any protocol logic of its own (SPEC.md 14.2, 14.3, 14.5).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using FraudFed.Sdk.Wire;

namespace FraudFed.Sdk;

internal interface IBankDriver : IDisposable
{
    bool IsReady { get; }
    Task SetupAsync(CancellationToken cancellationToken);
    Task<FederatedSum> SumAsync(ulong[] values, CancellationToken cancellationToken);
}

/// <summary>Homomorphic mode: a <see cref="HomomorphicBankParty"/> fed with the HeAggregatorMessage wrappers of the mailbox.</summary>
internal sealed class HeBankDriver : IBankDriver
{
    private readonly FederationClient _client;
    private readonly HomomorphicBankParty _party;
    private readonly int _banks;
    private readonly int _maxMessageBytes;

    private readonly BankStateStore? _store;
    private IReadOnlyList<byte[]> _outbox = [];

    /// <summary>A driver whose party is restored from <paramref name="store"/> when it holds a saved state (the client then
    /// reads its mailbox after the saved sequence), and otherwise starts at session setup. Without a store the party's
    /// state and ledger live in memory only.</summary>
    /// <exception cref="StateFileException">the saved state does not verify, parse, or belong to this bank and roster.</exception>
    public HeBankDriver(FederationClient client, int bank, FederationSettings settings, byte[] seed, int maxMessageBytes, BankStateStore? store = null)
    {
        _client = client;
        HomomorphicRoster roster = settings.BuildHeRoster();
        _banks = roster.Banks;
        _maxMessageBytes = maxMessageBytes;
        _store = store;
        IDecryptionLedger ledger = store is null ? new InMemoryDecryptionLedger() : store.Ledger;
        using SavedBankState? saved = store?.Load();
        if (saved is null)
        {
            _party = new HomomorphicBankParty(bank, roster, Ed25519SigningKey.Import(seed), ledger, maxMessageBytes: maxMessageBytes);
            return;
        }
        try { _party = HomomorphicBankParty.ImportState(bank, roster, Ed25519SigningKey.Import(seed), ledger, saved.PartyState, maxMessageBytes: maxMessageBytes); }
        catch (ProtocolViolationException e)
        {
            throw new StateFileException(store!.PartyPath, $"the saved bank state is not this bank's state for this roster ({e.Reason}); use the state directory of this bank.json, or remove it to join a new session.", e);
        }
        client.ResumeAfter(saved.LastSequence);
        _outbox = saved.Outbox;
    }

    public bool IsReady => _party.IsReady;

    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        // A restored bank first resends the replies it saved but may not have sent. The appliance answers a resend of
        // accepted bytes as the first send; a reply it refuses now belongs to a stage that moved on without this bank.
        foreach (byte[] reply in _outbox)
        {
            try { await _client.SubmitAsync(reply, cancellationToken).ConfigureAwait(false); }
            catch (MessageRefusedException) { }
        }
        _outbox = [];
        while (!_party.IsReady)
        {
            MailboxItem item = await _client.NextItemAsync(cancellationToken).ConfigureAwait(false);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            HeToBank m = Decode(item);
            if (m is HeAbortToBank { Round: 0 } a) throw new FederationException($"the aggregator ended the session during setup ({a.Reason}: {a.Message}); the operator must start a new session.");
            await HandleAsync(item, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<FederatedSum> SumAsync(ulong[] values, CancellationToken cancellationToken)
    {
        ulong mask = (1UL << _party.Roster.Parameters.PlainModulusBits) - 1;
        for (int i = 0; i < values.Length; i++)
            if (values[i] > mask) throw new ArgumentException($"values[{i}] is not below t = 2^{_party.Roster.Parameters.PlainModulusBits}.", nameof(values));
        ulong round = await _client.RequestRoundAsync(values.Length, cancellationToken).ConfigureAwait(false);
        _party.Submit(round, values);
        while (true)
        {
            MailboxItem item = await _client.NextItemAsync(cancellationToken).ConfigureAwait(false);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            HeToBank m = Decode(item);
            await HandleAsync(item, cancellationToken).ConfigureAwait(false);
            if (_party.TryGetResult(round, out ulong[] sum, out int[] contributors)) return new FederatedSum(round, sum, contributors);
            if (m is HeAbortToBank { Round: 0 } end) throw new FederationException($"the aggregator ended the session ({end.Reason}: {end.Message}).");
            if (m is HeAbortToBank abort && abort.Round == round) throw new RoundFailedException(round, abort.Reason, abort.Message);
        }
    }

    private HeToBank Decode(MailboxItem item)
    {
        try { return HeWire.DecodeToBank(item.Message.Span, _banks, _maxMessageBytes); }
        catch (ProtocolViolationException e) { throw new FederationException($"the aggregator sent a message this bank refuses ({e.Reason}); the session cannot go on.", e); }
    }

    private async Task HandleAsync(MailboxItem item, CancellationToken cancellationToken)
    {
        IReadOnlyList<byte[]> replies;
        try { replies = _party.Receive(item.Message.Span); }
        catch (ProtocolViolationException e) { throw new FederationException($"this bank refused the aggregator's message {item.Sequence} ({e.Reason}: {e.Message}).", e); }
        if (_store is not null && _party.IsReady)
        {
            // Saved before the replies leave: a restart resumes after this item and resends them (SPEC.md 14.6).
            byte[] state = _party.ExportState();
            try { _store.Save(state, item.Sequence, replies); }
            finally { CryptographicOperations.ZeroMemory(state); }
        }
        foreach (byte[] reply in replies) await _client.SubmitAsync(reply, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _party.Dispose();
}

/// <summary>Masking mode: a <see cref="MaskingBank"/> fed with MaskingAggregatorMessage wrappers, RoundOpen and SumResult items.</summary>
internal sealed class MaskingBankDriver : IBankDriver
{
    private readonly FederationClient _client;
    private readonly MaskingBank _bank;
    private readonly MaskingParameters _parameters;

    public MaskingBankDriver(FederationClient client, int bank, FederationSettings settings, byte[] seed, byte[] sessionId)
    {
        _client = client;
        if (sessionId.Length != MaskingParameters.SessionIdSize) throw new FederationException("the aggregator sent a masking session id that is not 16 bytes.");
        _parameters = settings.BuildMaskingParameters(sessionId);
        _bank = new MaskingBank(_parameters, bank, Ed25519SigningKey.Import(seed), settings.IdentityKeyBytes(), RandomNumberGenerator.Create());
    }

    public bool IsReady => _bank.State is BankReady or BankCompleted;

    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        try { await _client.SubmitAsync(_bank.AdvertiseKeys(), cancellationToken).ConfigureAwait(false); }
        catch (MessageRefusedException e) when (e.Reason == ViolationReason.WrongRoundOrState)
        {
            // The appliance has this bank's AdvertiseKeys already: an earlier process joined, and its pairwise keys are gone
            // with it (masking keeps no bank state, SPEC.md 8.1), so no later round can be unmasked with a new key.
            throw new FederationException("this bank already joined this session and masking banks cannot resume after a restart; start a new session (new state path).", e);
        }
        while (!IsReady)
        {
            MailboxItem item = await _client.NextItemAsync(cancellationToken).ConfigureAwait(false);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            MaskingToBank m = Decode(item);
            switch (m)
            {
                case KeyRoster: await _client.SubmitAsync(Step(() => _bank.ReceiveRoster(item.Message.Span)), cancellationToken).ConfigureAwait(false); break;
                case GraphSeedRoster: Step(() => { _bank.ReceiveGraphSeed(item.Message.Span); return []; }); break;
                case RoundAbort { Round: 0 } a: throw new FederationException($"the aggregator ended the session during setup ({a.Reason}); the operator must start a new session.");
            }
        }
    }

    public async Task<FederatedSum> SumAsync(ulong[] values, CancellationToken cancellationToken)
    {
        ulong max = _parameters.ModulusBits == 64 ? ulong.MaxValue : (1UL << _parameters.ModulusBits) - 1;
        for (int i = 0; i < values.Length; i++)
            if (values[i] > max) throw new ArgumentException($"values[{i}] is not below 2^{_parameters.ModulusBits}.", nameof(values));
        ulong round = await _client.RequestRoundAsync(values.Length, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            MailboxItem item = await _client.NextItemAsync(cancellationToken).ConfigureAwait(false);
            switch (item.ItemCase)
            {
                case MailboxItem.ItemOneofCase.RoundOpen when item.RoundOpen.Round == round:
                    if (item.RoundOpen.Length != values.Length)
                        throw new FederationException($"round {round} sums vectors of {item.RoundOpen.Length} values, this bank has {values.Length}; every bank of a round passes the same length.");
                    await SendOrLeaveAsync(round, () => _bank.BeginRound((uint)round), cancellationToken).ConfigureAwait(false);
                    break;
                case MailboxItem.ItemOneofCase.SumResult when item.SumResult.Round == round:
                    return new FederatedSum(round, [.. item.SumResult.Sum], item.SumResult.Contributors.Select(c => (int)c).ToArray());
                case MailboxItem.ItemOneofCase.Message:
                    MaskingToBank m = Decode(item);
                    byte[] bytes = item.Message.ToByteArray();
                    switch (m)
                    {
                        case ShareDelivery d when d.Round == round: await SendOrLeaveAsync(round, () => _bank.ReceiveShares(bytes, values), cancellationToken).ConfigureAwait(false); break;
                        case SurvivorList s when s.Round == round: await SendOrLeaveAsync(round, () => _bank.ReceiveSurvivors(bytes), cancellationToken).ConfigureAwait(false); break;
                        case UnmaskRequest u when u.Round == round: await SendOrLeaveAsync(round, () => _bank.ReceiveUnmaskRequest(bytes), cancellationToken).ConfigureAwait(false); break;
                        case RoundAbort { Round: 0 } end:
                            Step(() => { _bank.ReceiveRoundAbort(bytes); return []; });
                            throw new FederationException($"the aggregator ended the session ({end.Reason}: {end.Message}).");
                        case RoundAbort a when a.Round == round:
                            if (_bank.State.Round == round && _bank.State is not BankReady) Step(() => { _bank.ReceiveRoundAbort(bytes); return []; });
                            throw new RoundFailedException(round, a.Reason, string.IsNullOrEmpty(a.Message) ? "the aggregator ended the round" : a.Message);
                    }
                    break;
            }
        }
    }

    /// <summary>Runs one bank step and submits its answer; a bank that refuses the step leaves the round and says so (SPEC.md 8.3).</summary>
    private async Task SendOrLeaveAsync(ulong round, Func<byte[]> step, CancellationToken cancellationToken)
    {
        byte[] answer;
        try { answer = step(); }
        catch (ProtocolViolationException e)
        {
            if (_bank.State is BankReady { LastRoundFailure: { } reason } ready && ready.Round == round)
            {
                await _client.SubmitAsync(MaskingWire.Encode(new BankAbort(_parameters.SessionId, (uint)round, reason)), cancellationToken).ConfigureAwait(false);
                throw new RoundFailedException(round, reason, $"this bank left the round: {e.Message}");
            }
            throw new FederationException($"this bank refused the aggregator's message in round {round} ({e.Reason}: {e.Message}).", e);
        }
        await _client.SubmitAsync(answer, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Step(Func<byte[]> step)
    {
        try { return step(); }
        catch (ProtocolViolationException e) { throw new FederationException($"this bank refused the aggregator's message ({e.Reason}: {e.Message}).", e); }
    }

    private static MaskingToBank Decode(MailboxItem item)
    {
        try { return MaskingWire.DecodeToBank(item.Message.Span); }
        catch (ProtocolViolationException e) { throw new FederationException($"the aggregator sent a message this bank refuses ({e.Reason}); the session cannot go on.", e); }
    }

    public void Dispose() => _bank.Dispose();
}
