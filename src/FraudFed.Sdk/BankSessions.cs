// A bank's session on the appliance, per mode: the bank party of the mode and the protocol layer's own per-bank client
// (HomomorphicSecureSumClient / MaskingSecureSumClient, SPEC.md 15) over the appliance's mailbox (ApplianceBankTransport).
// The round loop is the protocol client's; what is left here is what only the appliance has: the round number comes from
// RequestRound, a masking round opens with the appliance's RoundOpen, the party's state (either mode) is sealed to the state
// directory through the client's checkpoint (SPEC.md 14.6, 14.7), and protocol outcomes become the SDK's typed exceptions with
// advice (SPEC.md 14.5).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;

namespace FraudFed.Sdk;

internal interface IBankSession : IDisposable
{
    /// <summary>The protocol client that runs this bank's rounds.</summary>
    ISecureSumClient Client { get; }
    bool IsReady { get; }
    /// <summary>Values must be below 2^ValueBits (t for homomorphic, 2^k for masking).</summary>
    int ValueBits { get; }
    Task SetupAsync(CancellationToken cancellationToken);
    /// <summary>One round: <paramref name="opened"/> when the appliance already opened it for this bank (a training step names
    /// it, SPEC.md 14.5), else null (the bank asks with RequestRound). The sum is written into <paramref name="into"/> when
    /// given (the caller's array of the vector's length), else into a new array.</summary>
    Task<FederatedSum> SumAsync(ulong[] values, ulong? opened, ulong[]? into, CancellationToken cancellationToken);
}

/// <summary>Why a bank that the appliance already counts as joined cannot go on (setup refused with WrongRoundOrState and no
/// saved state of this session to resume from).</summary>
internal static class JoinFailure
{
    /// <summary>The message: without a state directory, set one; with one (empty or of another session), the appliance's
    /// session was started by someone else with this bank's certificate (a `conformance --target` run, another kit's copy).</summary>
    public static string AlreadyJoined(bool hasStateDirectory) => hasStateDirectory
        ? "the appliance's session already has this bank's setup messages, but this bank's state directory holds no saved state of that session: the session was started without this bank's saved state (by a `fraudfed conformance --target` run, or another copy of this bank's kit); start a new session (a new appliance state file) and run the banks from it."
        : "this bank already joined this session and has no saved state to resume from (set state_directory in bank.json); start a new session.";

    /// <summary>The message for a homomorphic bank whose setup message the appliance refuses as a duplicate (Duplicate: the
    /// stage that has this bank's message still collects) or out of its stage (WrongRoundOrState: the session moved on or
    /// ended) while this bank has no saved state of the session (SPEC.md 14.6). The bank cannot tell the two causes apart:
    /// it was stopped during the key setup, which does not resume (the key part is saved once setup finishes), or another
    /// holder of its certificate started the session. Either way the operator starts a new session and every bank again.</summary>
    public static string SetupNotResumable(bool hasStateDirectory) =>
        (hasStateDirectory
            ? "the appliance's session already has this bank's key-setup messages, but this bank's state directory holds no saved state of that session"
            : "this bank already joined this session and has no saved state to resume from (set state_directory in bank.json, so that a restart after key setup resumes)")
        + ": either this bank was stopped during the session's key setup (homomorphic key setup does not resume: a bank's key part is saved only once setup finishes), "
        + "or another holder of this bank's certificate started the session (a `fraudfed conformance --target` run, another copy of this bank's kit); "
        + "the session cannot finish with this bank: stop the appliance, start a new session (a new appliance state file) and start every bank again.";
}

/// <summary>Homomorphic mode: a <see cref="HomomorphicBankParty"/> driven by <see cref="HomomorphicSecureSumClient"/>, its state
/// sealed to the bank's state directory after every accepted message once Ready.</summary>
internal sealed class HomomorphicBankSession : IBankSession
{
    private readonly ApplianceBankTransport _transport;
    private readonly HomomorphicBankParty _party;
    private readonly HomomorphicSecureSumClient _client;
    private IReadOnlyList<byte[]> _outbox = [];
    private readonly bool _restored;
    private readonly bool _hasStore;

    /// <summary>A session whose party is restored from <paramref name="store"/> when it holds a saved state (the transport then
    /// reads the mailbox after the saved sequence), and otherwise starts at session setup. Without a store the party's state
    /// and ledger live in memory only.</summary>
    /// <exception cref="StateFileException">the saved state does not verify, parse, or belong to this bank and roster.</exception>
    public HomomorphicBankSession(ApplianceBankTransport transport, FederationSettings settings, byte[] seed, int maxMessageBytes, BankStateStore? store)
    {
        _transport = transport;
        _hasStore = store is not null;
        HomomorphicRoster roster = settings.BuildHeRoster();
        IDecryptionLedger ledger = store is null ? new InMemoryDecryptionLedger() : store.Ledger;
        using SavedSplitState? saved = store?.LoadSplit();
        if (saved is not null) StatePreflight.CheckRecordedSettings(store!.RoundPath, saved.InsecureTestParameters, settings, transport.Bank);
        SplitSealedCheckpoint? checkpoint = store is null ? null : new SplitSealedCheckpoint(store, transport);
        if (saved is null) _party = new HomomorphicBankParty(transport.Bank, roster, Ed25519SigningKey.Import(seed), ledger, maxMessageBytes: maxMessageBytes);
        else
        {
            _restored = true;
            try
            {
                _party = HomomorphicBankParty.ImportState(transport.Bank, roster, Ed25519SigningKey.Import(seed), ledger, saved.KeyState, saved.RoundState,
                    maxMessageBytes: maxMessageBytes);
            }
            catch (ProtocolViolationException e)
            {
                throw new StateFileException(store!.RoundPath, $"the saved bank state is not this bank's state for this roster ({e.Reason}); use the state directory of this bank.json, or remove it to join a new session.", e);
            }
            transport.ResumeAfter(saved.LastSequence);
            _outbox = saved.Outbox;
            checkpoint!.Restored(_party.KeyGeneration, saved.KeyFile, saved.KeyDigest);
        }
        var options = new BankClientOptions { StopOnRefusal = true, SplitCheckpoint = checkpoint };
        _sends = new ContributionReportingTransport(transport, this);
        _client = new HomomorphicSecureSumClient(_party, _sends, options);
    }

    private (ulong Round, int Values)? _unreported;   // the round whose Contributing progress is still to be reported

    /// <summary>Before each message this bank sends: the first one after the round's start arrived (the party opened the
    /// round, so its input is encrypted into it) reports <see cref="SessionProgress.Contributing"/> once.</summary>
    private void BeforeSend()
    {
        if (_unreported is { } r && _party.IsRoundOpen(r.Round))
        {
            _unreported = null;
            _transport.Client.Report(new SessionProgress(SessionProgress.Contributing, r.Round, r.Values));
        }
    }

    /// <summary>The appliance transport as the protocol client sees it, telling the session before each send. A send is held
    /// until the client's next transport call: when that is a receive, the held message's Submit waits for the next mailbox item
    /// (SPEC.md 14.5, delivery with the answer), so a step costs one call instead of a Submit and a Receive; when it is another
    /// send, the held one goes first, without a wait. The protocol client saves its state before it sends (a restart resends),
    /// and only reads after sending, so holding a message until then changes neither what the appliance receives nor its order;
    /// <see cref="FlushAsync"/> sends a message still held when the client returns.</summary>
    private sealed class ContributionReportingTransport(ApplianceBankTransport inner, HomomorphicBankSession session) : IBankTransport
    {
        private ReadOnlyMemory<byte>? _held;

        public int Bank => inner.Bank;

        public async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            session.BeforeSend();
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            _held = message;
        }

        public async ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken)
        {
            if (_held is { } message)
            {
                _held = null;
                await inner.SubmitAsync(message, waitForItem: true, cancellationToken).ConfigureAwait(false);
            }
            return await inner.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Sends the held message, if any (no wait).</summary>
        public ValueTask FlushAsync(CancellationToken cancellationToken)
        {
            if (_held is not { } message) return ValueTask.CompletedTask;
            _held = null;
            return inner.SubmitAsync(message, waitForItem: false, cancellationToken);
        }
    }

    private readonly ContributionReportingTransport _sends;

    public ISecureSumClient Client => _client;
    public bool IsReady => _client.IsReady;
    public int ValueBits => _party.Roster.Parameters.PlainModulusBits;

    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        // A restored bank first resends the replies it saved but may not have sent. The appliance answers a resend of
        // accepted bytes as the first send; a reply it refuses now belongs to a stage that moved on without this bank.
        foreach (byte[] reply in _outbox)
        {
            try { await _transport.SendAsync(reply, cancellationToken).ConfigureAwait(false); }
            catch (MessageRefusedException) { }
        }
        _outbox = [];
        try
        {
            await _client.JoinAsync(cancellationToken).ConfigureAwait(false);
            await _sends.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MessageRefusedException e) when (e.Reason is ViolationReason.WrongRoundOrState or ViolationReason.Duplicate && !_party.IsReady && !_restored)
        {
            // The appliance has this bank's setup messages of the session already (Duplicate: its stage still collects; WrongRoundOrState:
            // the session moved on or ended): an earlier process of this bank was stopped during key setup, or joined without a
            // state directory, or another holder of this certificate started the session. The secrets of those messages went with
            // that process, so no resend of them exists and the appliance rightly refuses new ones (SPEC.md 14.6).
            throw new FederationException(JoinFailure.SetupNotResumable(_hasStore), e);
        }
        catch (ProtocolViolationException e) { throw Failure(e, round: null); }
    }

    public async Task<FederatedSum> SumAsync(ulong[] values, ulong? opened, ulong[]? into, CancellationToken cancellationToken)
    {
        ulong round = opened is { } named ? _transport.Expect(named, values.Length) : await _transport.RequestRoundAsync(values.Length, cancellationToken).ConfigureAwait(false);
        if (opened is null && _party.IsRoundOpen(round))
        {
            // This bank handled the round's start (it encrypted its input, and its ledger forbids a second encryption) and the
            // appliance still awaits its first message of the round: the upload never arrived (it is not kept for a resend,
            // SPEC.md 14.6). The bank leaves the round's uploads, answers the round's decryption request if it is a decryptor,
            // waits for the round's end, and then asks for the next round with this vector.
            try { await _transport.SendAsync(_party.EncodeUploadLeave(round), cancellationToken).ConfigureAwait(false); }
            catch (MessageRefusedException) { }   // the uploads closed meanwhile: the round goes on without this bank's input
            try
            {
                await _client.SumAsync(values, new SumContext(round, values.Length, ValueBits), cancellationToken).ConfigureAwait(false);
                await _sends.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ProtocolViolationException) when (_party.TryGetRoundFailure(round, out _)) { }
            round = await _transport.RequestRoundAsync(values.Length, cancellationToken).ConfigureAwait(false);
        }
        _unreported = (round, values.Length);
        try
        {
            SecureSumClientResult r = await _client.SumAsync(values, new SumContext(round, values.Length, ValueBits), cancellationToken).ConfigureAwait(false);
            await _sends.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (into is null) return new FederatedSum(r.Round, r.Sum, r.Contributors);
            r.Sum.AsSpan().CopyTo(into);   // the protocol client's own array: copied (its length was checked against the round's)
            return new FederatedSum(r.Round, into, r.Contributors);
        }
        catch (ProtocolViolationException e) { throw Failure(e, round); }
        finally { _unreported = null; }
    }

    /// <summary>The SDK's exception for a protocol outcome: the session ended, the round failed, or this bank refused a message.</summary>
    private FederationException Failure(ProtocolViolationException e, ulong? round)
    {
        if (_party.IsAborted)
            return new FederationException(round is null
                ? $"the aggregator ended the session during setup ({_party.AbortReason}: {_party.AbortMessage}); the operator must start a new session."
                : $"the aggregator ended the session ({_party.AbortReason}: {_party.AbortMessage}).", e);
        if (round is { } r && _party.TryGetRoundFailure(r, out ViolationReason reason, out string message)) return new RoundFailedException(r, reason, message);
        return new FederationException($"this bank refused the aggregator's message {_transport.LastDelivered} ({e.Message}); the session cannot go on.", e);
    }

    public void Dispose() => _party.Dispose();
}

/// <summary>A client's checkpoint: the party state, the mailbox sequence of the message it handled and its replies, sealed.</summary>
internal sealed class SealedCheckpoint(BankStateStore store, ApplianceBankTransport transport, BankStateKind kind) : IBankCheckpoint
{
    public ValueTask SaveAsync(ReadOnlyMemory<byte> partyState, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        store.Save(kind, partyState.Span, transport.LastDelivered, replies);
        return ValueTask.CompletedTask;
    }
}

/// <summary>A homomorphic client's checkpoint in two parts (SPEC.md 14.6): the key part is exported and sealed only when the
/// party's key generation is not the one this checkpoint saved (setup, rotation), before the first round part that names it;
/// every accepted message with replies then costs one small round part (round state, mailbox sequence, replies).</summary>
internal sealed class SplitSealedCheckpoint(BankStateStore store, ApplianceBankTransport transport) : IHomomorphicSplitCheckpoint
{
    private uint _keyGeneration;
    private string? _keyFile;
    private byte[] _keyDigest = [];
    private bool _sweep;   // delete the other key files at the next round part written

    /// <summary>The party was restored from key file <paramref name="keyFile"/>: it is not written again, and the first save
    /// deletes any other key file (one written just before a crash, which no round part names).</summary>
    public void Restored(uint keyGeneration, string keyFile, byte[] keyDigest) =>
        (_keyGeneration, _keyFile, _keyDigest, _sweep) = (keyGeneration, keyFile, keyDigest, true);

    public ValueTask SaveSplitAsync(HomomorphicBankParty party, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        bool keyChanged = _keyFile is null || party.KeyGeneration != _keyGeneration;
        // The upload (the whole ciphertext: megabytes) is saved as no reply (SPEC.md 14.6): the save carries the round state and
        // the ledger's record of the encryption, so that it precedes the send; a restarted bank never resends the upload (its
        // ledger forbids encrypting the round again), and whether the first copy arrived decides whether its input is in the round.
        if (party.LastUploadRound is not null) replies = [];
        // An item without replies and without a ledger record (a round's result or failure) is not saved on its own (SPEC.md
        // 14.6): nothing leaves the bank because of it, and a restart from the last saved part, which precedes it, reads it
        // again and handles it the same way. The next item with replies (the next round start) saves the state that includes it.
        if (replies.Count == 0 && !keyChanged && !store.Ledger.Pending) return ValueTask.CompletedTask;
        Diagnostics.HopTrace.Mark(transport.Bank, "ckpt>", replies.Count);
        if (keyChanged)
        {
            byte[] key = party.ExportKeyState();
            try { (_keyFile, _keyDigest) = store.SaveKeyPart(key); }
            finally { CryptographicOperations.ZeroMemory(key); }
            _keyGeneration = party.KeyGeneration;
        }
        _sweep |= keyChanged;
        byte[] round = party.ExportRoundState();
        store.SaveRoundPart(_keyFile!, _keyDigest, round, transport.LastDelivered, replies, deleteOtherKeyFiles: _sweep);
        _sweep = false;   // not reached when the write failed: the next save sweeps
        Diagnostics.HopTrace.Mark(transport.Bank, "ckpt<");
        return ValueTask.CompletedTask;
    }
}

/// <summary>Masking mode: a <see cref="MaskingBank"/> driven by <see cref="MaskingSecureSumClient"/>; each round starts once the
/// appliance's RoundOpen names it. With a state store the bank's state is sealed before every message that commits it and
/// restored on start (SPEC.md 14.7); without one its keys live in memory only.</summary>
internal sealed class MaskingBankSession : IBankSession
{
    private readonly ApplianceBankTransport _transport;
    private readonly MaskingBank _bank;
    private readonly MaskingParameters _parameters;
    private readonly MaskingSecureSumClient _client;
    private readonly bool _restored;
    private readonly bool _hasStore;
    private IReadOnlyList<byte[]> _outbox = [];
    private ulong _opened;   // the last round whose RoundOpen this process read
    private uint _left;      // the last round this process told the appliance it left

    /// <summary>A session whose bank is restored from <paramref name="store"/> when it holds a state of this session (the transport
    /// then reads the mailbox after the saved sequence); a state of an earlier session of this federation is replaced at the first
    /// save, a state of another federation is refused.</summary>
    /// <exception cref="FederationException">the appliance's session id is not 16 bytes.</exception>
    /// <exception cref="StateFileException">the saved state does not verify, holds a homomorphic party, or does not belong to this
    /// bank, roster and parameters.</exception>
    public MaskingBankSession(ApplianceBankTransport transport, FederationSettings settings, byte[] seed, byte[] sessionId, BankStateStore? store)
    {
        _transport = transport;
        _hasStore = store is not null;
        if (sessionId.Length != MaskingParameters.SessionIdSize) throw new FederationException("the aggregator sent a masking session id that is not 16 bytes.");
        _parameters = settings.BuildMaskingParameters(sessionId);
        using SavedBankState? saved = store?.Load(BankStateKind.Masking);
        if (saved is not null) StatePreflight.CheckRecordedSettings(store!.PartyPath, saved.InsecureTestParameters, settings, transport.Bank);
        // A state of another federation (another kit's, sealed with a key that happens to match) is refused, never replaced.
        if (saved is not null && !MaskingBank.IsStateOfSession(saved.PartyState, sessionId))
            StatePreflight.CheckMaskingFederation(store!.PartyPath, saved.PartyState, settings, transport.Bank, seed);
        if (saved is not null && MaskingBank.IsStateOfSession(saved.PartyState, sessionId))
        {
            try
            {
                _bank = MaskingBank.ImportState(_parameters, transport.Bank, Ed25519SigningKey.Import(seed), settings.IdentityKeyBytes(), saved.PartyState,
                    RandomNumberGenerator.Create());
            }
            catch (ProtocolViolationException e)
            {
                throw new StateFileException(store!.PartyPath, $"the saved bank state is not this bank's state for this roster ({e.Reason}); use the state directory of this bank.json, or remove it to join a new session.", e);
            }
            transport.ResumeAfter(saved.LastSequence);
            _outbox = saved.Outbox;
            _restored = true;
        }
        else _bank = new MaskingBank(_parameters, transport.Bank, Ed25519SigningKey.Import(seed), settings.IdentityKeyBytes(), RandomNumberGenerator.Create());
        var options = new BankClientOptions { StopOnRefusal = true, Checkpoint = store is null ? null : new SealedCheckpoint(store, transport, BankStateKind.Masking) };
        _client = new MaskingSecureSumClient(_bank, _parameters, transport, options);
    }

    public ISecureSumClient Client => _client;
    public bool IsReady => _client.IsReady;
    public int ValueBits => _parameters.ModulusBits;

    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        // A restored bank first resends the replies it saved but may not have sent (the identical bytes: never a recomputed
        // masked input), then leaves the round it was inside (SPEC.md 14.7): the others finish that round through dropout
        // recovery. A resend or leave the appliance refuses belongs to a stage or round that moved on without this bank.
        foreach (byte[] reply in _outbox)
        {
            try { await _transport.SendAsync(reply, cancellationToken).ConfigureAwait(false); }
            catch (MessageRefusedException) { }
        }
        _outbox = [];
        if (_bank.InterruptedRound is { } left)
            await LeaveRoundAsync(left, ViolationReason.TooFewParticipants, "this bank restarted inside the round and left it", cancellationToken).ConfigureAwait(false);
        try { await _client.JoinAsync(cancellationToken).ConfigureAwait(false); }
        catch (MessageRefusedException e) when (e.Reason == ViolationReason.WrongRoundOrState && _bank.State is BankAdvertiseKeys && !_restored)
        {
            // The appliance has this bank's AdvertiseKeys already: an earlier process joined without a state directory, and its
            // pairwise keys are gone with it, so no later round can be unmasked with a new key.
            throw new FederationException(JoinFailure.AlreadyJoined(_hasStore), e);
        }
        catch (ProtocolViolationException e) { throw Failure(e, round: null); }
    }

    /// <summary>Tells the appliance this bank left <paramref name="round"/> (a BankAbort of that round; the same bytes as the
    /// client's own leave, so a resend if that was sent). A refusal means the round is over already.</summary>
    private async Task LeaveRoundAsync(uint round, ViolationReason reason, string message, CancellationToken cancellationToken)
    {
        byte[] leave = new BankAbort(_parameters.SessionId, round, reason, message).Encode();
        try { await _transport.SendAsync(leave, cancellationToken).ConfigureAwait(false); }
        catch (MessageRefusedException) { }
        _left = round;
    }

    public async Task<FederatedSum> SumAsync(ulong[] values, ulong? opened, ulong[]? into, CancellationToken cancellationToken)
    {
        if (_bank.State is BankReady { LastRoundFailure: { } reason } ready && ready.Round > _left)
        {
            // This bank gave up its last round here (an earlier call cancelled inside it, or it left it): the appliance may still
            // wait for it in that round, and would answer this request with that round while its ShareKeys stage waits for this
            // bank (SPEC.md 14.5, "Asking again inside a round"), whose secrets of it are gone. So it says it left first, with the
            // bytes the client's own leave uses (a resend if that was sent); a refusal means the round is over.
            await LeaveRoundAsync(ready.Round, reason, "this bank left the round", cancellationToken).ConfigureAwait(false);
        }
        ulong round = opened is { } named ? _transport.Expect(named, values.Length) : await _transport.RequestRoundAsync(values.Length, cancellationToken).ConfigureAwait(false);
        // A round whose RoundOpen this process already read (an earlier call cancelled between it and ShareKeys) is not awaited again.
        if (round != _opened && await _transport.AwaitRoundOpenAsync(round, values.Length, EndsSession, cancellationToken).ConfigureAwait(false) is { } end)
        {
            RoundAbort abort = MaskingWire.DecodeToBank<RoundAbort>(end.Span);
            try { _bank.ReceiveRoundAbort(end.Span); }
            catch (ProtocolViolationException) { }   // already ended here
            throw new FederationException($"the aggregator ended the session ({abort.Reason}: {abort.Message}).");
        }
        _opened = round;
        _transport.Client.Report(new SessionProgress(SessionProgress.Contributing, round, values.Length));
        try
        {
            // The round's sum_le is unpacked straight into the caller's array, if any (ApplianceBankTransport.ReceiveAsync).
            _transport.SumInto = into;
            SecureSumClientResult r = await _client.SumAsync(values, new SumContext(round, values.Length, ValueBits), cancellationToken).ConfigureAwait(false);
            return new FederatedSum(r.Round, r.Sum, r.Contributors);
        }
        catch (ProtocolViolationException e) { throw Failure(e, round); }
        finally { _transport.SumInto = null; }
    }

    /// <summary>True for the serialized RoundAbort of round 0 of this session (the aggregator ended it).</summary>
    private bool EndsSession(ReadOnlyMemory<byte> message)
    {
        try { return MaskingWire.DecodeToBank(message.Span) is RoundAbort { Round: 0 } a && a.SessionId.AsSpan().SequenceEqual(_parameters.SessionId); }
        catch (ProtocolViolationException) { return false; }
    }

    private FederationException Failure(ProtocolViolationException e, ulong? round)
    {
        if (_bank.State is BankAborted)
            return new FederationException(round is null
                ? $"the session ended during setup ({e.Reason}: {Detail(e)}); the operator must start a new session."
                : $"the session ended ({e.Reason}: {Detail(e)}).", e);
        if (round is { } r && _bank.State is BankReady { LastRoundFailure: { } reason } ready && ready.Round == r)
            return new RoundFailedException(r, reason, Detail(e));
        return new FederationException($"this bank refused the aggregator's message {_transport.LastDelivered} ({e.Message}); the session cannot go on.", e);
    }

    /// <summary>The exception's text without its leading reason name.</summary>
    private static string Detail(ProtocolViolationException e) =>
        e.Message.StartsWith($"{e.Reason}: ", StringComparison.Ordinal) ? e.Message[($"{e.Reason}: ".Length)..] : e.Message;

    public void Dispose() => _bank.Dispose();
}
