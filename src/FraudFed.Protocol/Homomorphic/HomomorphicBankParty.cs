// HomomorphicBankParty: one bank of the threshold homomorphic mode as a state machine over serialized wire messages
// (SPEC.md 14.2, protocols/fraudfed/v1/homomorphic.proto). It holds its own secrets and the public roster, nothing else.
// States (one class each): AwaitingSessionStart -> CrsCommitted -> CrsRevealed -> KeyShareCommitted -> KeyShareRevealed
// -> ChannelAdvertised -> Thresholdizing -> Ready (rounds, decryption requests, key rotation) ; Aborted.
// Every handler either returns the next state and the messages to send, or throws a typed ProtocolViolationException and
// leaves the party exactly as it was (a message in the wrong state, of another session, malformed...).
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>One bank of a threshold homomorphic session: bytes from the aggregator in, bytes for the aggregator out.</summary>
public sealed class HomomorphicBankParty : IDisposable
{
    private readonly HomomorphicBank _bank;
    private readonly Dictionary<ulong, ulong[]> _inputs = [];
    private readonly Dictionary<ulong, HeRoundResultMessage> _results = [];
    private readonly Dictionary<ulong, (ViolationReason Reason, string Message)> _failures = [];
    private readonly HashSet<ulong> _openRounds = [];
    private const int KeptResults = 64;
    private ulong _lastOpened;
    private readonly int _maxMessageBytes;
    private BankState _state;
    private byte[] _sessionId = [];
    private uint _keyGeneration;

    /// <summary>
    /// A bank at roster index <paramref name="index"/>. <paramref name="identity"/> is its long-term Ed25519 key (its public key
    /// must be the roster's entry; this object owns and disposes it). <paramref name="ledger"/> keeps its encryption and
    /// decryption records (durable in the SDK). <paramref name="randomFor"/> gives randomness by purpose label; null
    /// uses the OS CSPRNG (seeded generators are for tests only). An aggregator message larger than <paramref name="maxMessageBytes"/>
    /// (default <see cref="HeWire.DefaultMaxMessageBytes"/>, 1 GiB) is refused as Oversized before it is parsed; a bank receives
    /// setup messages of a few MB and results of 8 bytes per value, so a deployment may set it lower.
    /// </summary>
    /// <exception cref="ArgumentException">the identity key is not the roster's key of <paramref name="index"/>.</exception>
    public HomomorphicBankParty(int index, HomomorphicRoster roster, Ed25519SigningKey identity, IDecryptionLedger ledger,
        Func<string, RandomNumberGenerator>? randomFor = null, int maxMessageBytes = HeWire.DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(roster);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(ledger);
        if (index < 0 || index >= roster.Banks) throw Error.OutOfRange(nameof(index), "Bank index outside the roster.");
        if (!identity.PublicKey.SequenceEqual(roster.IdentityKeys[index])) throw Error.Argument(nameof(identity), "The identity key is not the roster's key of this bank.");
        Roster = roster;
        _maxMessageBytes = maxMessageBytes;
        _bank = new HomomorphicBank(index, roster.Parameters, ledger, randomFor ?? (_ => RandomNumberGenerator.Create()), identity);
        _bank.JoinRoster(roster.IdentityKeys, roster.AggregatorKey);
        _state = new AwaitingSessionStart();
    }

    /// <summary>This bank's roster index.</summary>
    public int Index => _bank.Index;
    /// <summary>True (default): work that splits by chunk (encryption, decryption shares, combining) runs on every core. False: one
    /// core, for a host that keeps the other cores for other work, and for single-core benchmarks. Messages and results are
    /// identical either way; set it before the session starts.</summary>
    public bool Parallel { get; set; } = true;
    /// <summary>The public roster.</summary>
    public HomomorphicRoster Roster { get; }
    /// <summary>Name of the current state, e.g. <c>Ready</c> or <c>Aborted(Inconsistent)</c>, for logs and diagnostics. Not a stable
    /// API: decide with <c>IsReady</c> and the abort properties instead.</summary>
    public string State => _state.Name;
    /// <summary>True once the bank holds its key share for the current key generation.</summary>
    public bool IsReady => _state is Ready;
    /// <summary>Decryption shares the current key may still produce.</summary>
    public long RemainingBudget => _bank.RemainingBudget;
    /// <summary>The 16-byte session tag of the current key (public: it labels every ciphertext, SPEC.md 12); empty before
    /// the first key is installed.</summary>
    public byte[] SessionTag => _bank.Scheme?.SessionTag.ToArray() ?? [];
    /// <summary>TESTS ONLY: the bank core, so that a test playing a malicious aggregator can drive it directly (no production
    /// caller; the party's messages are the only production path).</summary>
    internal HomomorphicBank CoreForTestsOnly => _bank;

    /// <summary>Sets this bank's vector (values mod t) for <paramref name="round"/>; it is encrypted when that round opens.</summary>
    /// <exception cref="ArgumentException">a value is not below t.</exception>
    public void Submit(ulong round, ulong[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckBelowT(values);
        _inputs[round] = (ulong[])values.Clone();
    }

    /// <summary><see cref="Submit"/> that keeps <paramref name="values"/> itself instead of a copy: the caller hands over an array
    /// it made for this call and no longer touches (the party wipes it once the round is encrypted, spent or withdrawn). One
    /// copy of a megabytes-long input per round instead of two.</summary>
    /// <exception cref="ArgumentException">a value is not below t.</exception>
    internal void SubmitOwned(ulong round, ulong[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        CheckBelowT(values);
        _inputs[round] = values;
    }

    private void CheckBelowT(ulong[] values)
    {
        ulong mask = (1UL << Roster.Parameters.PlainModulusBits) - 1;
        foreach (ulong v in values) if (v > mask) throw Error.Argument(nameof(values), "A value is not below t.");
    }

    /// <summary>The opened sum of a round, once the aggregator announced it.</summary>
    public bool TryGetResult(ulong round, out ulong[] sum, out int[] contributors)
    {
        if (_results.TryGetValue(round, out HeRoundResultMessage? r)) { sum = r.Sum; contributors = r.Contributors; return true; }
        sum = []; contributors = [];
        return false;
    }

    /// <summary>Why round <paramref name="round"/> failed, once the aggregator announced its abort (SPEC.md 14.2): the round is
    /// spent and this bank's input of it wiped. Kept for the last 64 failed rounds.</summary>
    /// <returns>True with the reason when the round failed.</returns>
    public bool TryGetRoundFailure(ulong round, out ViolationReason reason) => TryGetRoundFailure(round, out reason, out _);

    /// <summary>Why round <paramref name="round"/> failed, with the aggregator's text of its abort (SPEC.md 14.2; a human-readable
    /// reason such as the banks that missed a deadline, never secret).</summary>
    /// <returns>True with the reason and the text when the round failed.</returns>
    public bool TryGetRoundFailure(ulong round, out ViolationReason reason, out string message)
    {
        bool failed = _failures.TryGetValue(round, out var f);
        (reason, message) = failed ? f : (default, "");
        return failed;
    }

    /// <summary>True once the session ended (an abort for round 0, from the aggregator); only a new party can go on.</summary>
    public bool IsAborted => _state is Aborted;

    /// <summary>The reason the session ended, when <see cref="IsAborted"/>.</summary>
    public ViolationReason? AbortReason => _state is Aborted a ? a.Reason : null;

    /// <summary>The aggregator's text of the abort that ended the session (e.g. the banks that missed a setup deadline), when
    /// <see cref="IsAborted"/>; null otherwise.</summary>
    public string? AbortMessage => _state is Aborted a ? a.Message : null;

    /// <summary>True when round <paramref name="round"/> can no longer take a vector from this bank: it ended here (result or
    /// abort recorded), or it is at or before the last round this bank saw open and is not open now. An open round (a restarted
    /// bank waiting for its result) is not spent.</summary>
    internal bool IsRoundSpent(ulong round) =>
        _results.ContainsKey(round) || _failures.ContainsKey(round) || (round <= _lastOpened && !_openRounds.Contains(round));

    /// <summary>The last round this bank saw open (0 before the first).</summary>
    internal ulong LastOpenedRound => _lastOpened;

    /// <summary>True while <paramref name="round"/> is open at this bank: its round start was handled and neither its result nor
    /// its abort yet (a restored bank's open round is one it saw before the restart).</summary>
    internal bool IsRoundOpen(ulong round) => _openRounds.Contains(round);

    /// <summary>The round whose upload the last <see cref="Receive"/> returned (its only reply), or null when it returned none. The
    /// SDK saves that reply as no reply (SPEC.md 14.6): the ledger forbids encrypting the round again, so the upload is never
    /// resent.</summary>
    internal ulong? LastUploadRound { get; private set; }

    /// <summary>The bytes of this bank's leave of <paramref name="round"/>'s uploads (SPEC.md 14.6): an abort of that round, the same
    /// bytes at every call (a resend). Sent by a bank whose upload of an open round never reached the aggregator.</summary>
    internal byte[] EncodeUploadLeave(ulong round) =>
        HeWire.Encode(new HeAbortToAggregator(_sessionId, ViolationReason.TooFewParticipants, "this bank's upload of the round was lost in a restart; it leaves the round's uploads", round));

    /// <summary>Withdraws and wipes the vector set by <see cref="Submit"/> for <paramref name="round"/> if it was not yet encrypted
    /// (the bank left the round before it opened). Returns whether a vector was withdrawn.</summary>
    public bool Withdraw(ulong round)
    {
        if (!_inputs.Remove(round, out ulong[]? values)) return false;
        Array.Clear(values);
        return true;
    }

    /// <summary>
    /// Handles one serialized message from the aggregator and returns the serialized messages to send back (possibly none).
    /// </summary>
    /// <remarks>A decryption request that decodes but that this bank refuses (a bad signature, contributor list or manifest,
    /// another contributor or active set for a round it already answered, a spent budget: SPEC.md 12.3) does not throw: the answer is
    /// then a round abort for the aggregator naming the reason, and <see cref="LastRefusal"/> records it. A bank answers each
    /// (round, chunk) for one contributor set and one active set only, so a request altered in transit that is answered
    /// first costs that round (the aggregator's combine refuses the mismatched shares; the next round is unaffected).</remarks>
    /// <exception cref="ProtocolViolationException">the message is malformed, oversized, of another session, or in the
    /// wrong state; the party's state is unchanged.</exception>
    public IReadOnlyList<byte[]> Receive(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_state is Disposed, this);
        LastUploadRound = null;
        HeToBank m = HeWire.DecodeToBank(message, Roster.Banks, _maxMessageBytes);
        if (m is not HeSessionStartMessage && !m.SessionId.AsSpan().SequenceEqual(_sessionId))
            throw Error.Violation(ViolationReason.WrongRoundOrState, "a message of another session");
        if (m is HeAbortToBank { Round: 0 } abort)
        {
            _state.Discard();
            _state = new Aborted(abort.Reason, abort.Message);
            return [];
        }
        var (next, send) = _state.Handle(this, m);
        _state = next;
        return send.Select(x => x is EncodedAnswer e ? e.Bytes : HeWire.Encode(x)).ToArray();
    }

    // ---------------------------------------------------------------- state export (SPEC.md 14.6)

    private static ReadOnlySpan<byte> StateMagic => "FFHB"u8;
    /// <summary>Version of the <see cref="ExportKeyState"/> and <see cref="ExportRoundState"/> formats.</summary>
    public const byte StateVersion = 1;
    /// <summary>Version of the <see cref="ExportState"/> frame (2: the key part and the round part; 1, a layout of its own, is refused).</summary>
    public const byte WholeStateVersion = 2;

    /// <summary>
    /// The state a Ready bank needs to go on with its session after a restart (SPEC.md 14.6), as one buffer for a plain
    /// <see cref="Coordination.IBankCheckpoint"/>: "FFHB", version (2), the key part's length (u32, little-endian), the key part
    /// (<see cref="ExportKeyState"/>) and the round part (<see cref="ExportRoundState"/>). Inputs not yet encrypted and kept
    /// results are not part of it. The decryption ledger is separate and must be durable on its own. SECRET: the caller
    /// encrypts the bytes at rest and clears the array after use.
    /// </summary>
    /// <exception cref="InvalidOperationException">the bank is not Ready (setup states hold one-time secrets that are not
    /// exported: a bank restarted during setup joins a new session).</exception>
    public byte[] ExportState()
    {
        byte[] key = ExportKeyState();
        byte[] round = ExportRoundState();
        try
        {
            var output = new byte[4 + 1 + 4 + key.Length + round.Length];
            StateMagic.CopyTo(output);
            output[4] = WholeStateVersion;
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(5), (uint)key.Length);
            key.CopyTo(output, 9);
            round.CopyTo(output, 9 + key.Length);
            return output;
        }
        finally { CryptographicOperations.ZeroMemory(key); }
    }

    /// <summary>
    /// A Ready bank rebuilt from <see cref="ExportState"/> bytes, with the same roster, identity key and (durable) ledger as
    /// the bank that wrote them. The caller keeps ownership of <paramref name="state"/> and clears it.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Malformed (truncated, unknown version, trailing bytes, a bad polynomial),
    /// Inconsistent (another bank index or another roster); nothing is kept.</exception>
    /// <exception cref="ArgumentException">the identity key is not the roster's key of <paramref name="index"/>.</exception>
    public static HomomorphicBankParty ImportState(int index, HomomorphicRoster roster, Ed25519SigningKey identity, IDecryptionLedger ledger,
        ReadOnlySpan<byte> state, Func<string, RandomNumberGenerator>? randomFor = null, int maxMessageBytes = HeWire.DefaultMaxMessageBytes)
    {
        var party = new HomomorphicBankParty(index, roster, identity, ledger, randomFor, maxMessageBytes);
        try
        {
            if (state.Length < 9 || !CryptographicOperations.FixedTimeEquals(state[..4], StateMagic) || state[4] != WholeStateVersion)
                throw Error.Violation(ViolationReason.Malformed, "not a version-2 homomorphic bank state");
            uint keyLength = BinaryPrimitives.ReadUInt32LittleEndian(state[5..]);
            if (keyLength > (uint)(state.Length - 9)) throw Error.Violation(ViolationReason.Malformed, "a truncated bank state");
            party.Restore(state.Slice(9, (int)keyLength), state[(9 + (int)keyLength)..]);
            return party;
        }
        catch { party.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- split state export (SPEC.md 14.6)

    private static ReadOnlySpan<byte> KeyStateMagic => "FFHK"u8;
    private static ReadOnlySpan<byte> RoundStateMagic => "FFHR"u8;

    /// <summary>The key generation of the installed key (0 before the first one). Within one party it only grows, and a Ready
    /// party's <see cref="ExportKeyState"/> is the same for as long as it stays the same (SPEC.md 14.6).</summary>
    public uint KeyGeneration => _keyGeneration;

    /// <summary>
    /// The part of a Ready bank's state that changes only at setup and key rotation (SPEC.md 14.6): "FFHK", version (1), index
    /// (u32), roster digest (32 bytes), session id (u16 length + bytes), key generation (u32), the 32-byte CRS seed, the secret
    /// key (u32 length + <see cref="SecretKey.ExportState"/>) and the key share with its Shamir points (u32 length +
    /// <see cref="ThresholdKeyShare.ExportState"/>); integers little-endian. About 2 MB at 10 banks and n = 8192. SECRET: the
    /// caller seals the bytes at rest and clears the array after use.
    /// </summary>
    /// <exception cref="InvalidOperationException">the bank is not Ready.</exception>
    public byte[] ExportKeyState()
    {
        ObjectDisposedException.ThrowIf(_state is Disposed, this);
        if (_state is not Ready || _bank.Scheme is null || _bank.KeyShare is null)
            throw new InvalidOperationException("Only a Ready bank's state can be exported.");
        byte[] sk = _bank.SecretKey.ExportState();
        byte[] share = _bank.KeyShare.ExportState();
        byte[] seed = _bank.Scheme.ExportSeed();
        try
        {
            var output = new byte[4 + 1 + 4 + 32 + 2 + _sessionId.Length + 4 + 32 + 4 + sk.Length + 4 + share.Length];
            int at = 0;
            void Put(ReadOnlySpan<byte> b) { b.CopyTo(output.AsSpan(at)); at += b.Length; }
            Put(KeyStateMagic); output[at++] = StateVersion;
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)Index); at += 4;
            Put(Roster.Digest);
            BinaryPrimitives.WriteUInt16LittleEndian(output.AsSpan(at), (ushort)_sessionId.Length); at += 2;
            Put(_sessionId);
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), _keyGeneration); at += 4;
            Put(seed);
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)sk.Length); at += 4;
            Put(sk);
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)share.Length); at += 4;
            Put(share);
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sk);
            CryptographicOperations.ZeroMemory(share);
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>
    /// The part of a Ready bank's state that changes with its rounds (SPEC.md 14.6), a few dozen bytes: "FFHR", version (1),
    /// index (u32), key generation (u32, that of the key part it goes with), last opened round (u64), the open rounds (u32
    /// count, then u64 round and i32 length each); integers little-endian. Inputs not yet encrypted and kept results are not
    /// part of it. Not secret on its own, but the SDK seals it like every state file.
    /// </summary>
    /// <exception cref="InvalidOperationException">the bank is not Ready.</exception>
    public byte[] ExportRoundState()
    {
        ObjectDisposedException.ThrowIf(_state is Disposed, this);
        if (_state is not Ready) throw new InvalidOperationException("Only a Ready bank's state can be exported.");
        var output = new byte[4 + 1 + 4 + 4 + 8 + 4 + _openRounds.Count * 12];
        int at = 0;
        RoundStateMagic.CopyTo(output); at = 4; output[at++] = StateVersion;
        BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)Index); at += 4;
        BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), _keyGeneration); at += 4;
        BinaryPrimitives.WriteUInt64LittleEndian(output.AsSpan(at), _lastOpened); at += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)_openRounds.Count); at += 4;
        foreach (ulong r in _openRounds.Order())
        {
            BinaryPrimitives.WriteUInt64LittleEndian(output.AsSpan(at), r); at += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(output.AsSpan(at), (uint)_roundLengths[r]); at += 4;
        }
        return output;
    }

    /// <summary>
    /// A Ready bank rebuilt from the two parts of its state (<see cref="ExportKeyState"/> and <see cref="ExportRoundState"/>,
    /// SPEC.md 14.6), with the same roster, identity key and (durable) ledger as the bank that wrote them. The caller keeps
    /// ownership of both spans and clears them.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Malformed (truncated, unknown version, trailing bytes, a bad polynomial),
    /// Inconsistent (another bank index, another roster, or a round part of another key generation); nothing is kept.</exception>
    /// <exception cref="ArgumentException">the identity key is not the roster's key of <paramref name="index"/>.</exception>
    public static HomomorphicBankParty ImportState(int index, HomomorphicRoster roster, Ed25519SigningKey identity, IDecryptionLedger ledger,
        ReadOnlySpan<byte> keyState, ReadOnlySpan<byte> roundState, Func<string, RandomNumberGenerator>? randomFor = null,
        int maxMessageBytes = HeWire.DefaultMaxMessageBytes)
    {
        var party = new HomomorphicBankParty(index, roster, identity, ledger, randomFor, maxMessageBytes);
        try
        {
            party.Restore(keyState, roundState);
            return party;
        }
        catch { party.Dispose(); throw; }
    }

    private void Restore(ReadOnlySpan<byte> key, ReadOnlySpan<byte> round)
    {
        // The round part first: it is small and holds nothing secret, so a mismatch is found before any key material is parsed.
        int at = 0;
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> src, int n)
        {
            if (n < 0 || src.Length - at < n) throw Error.Violation(ViolationReason.Malformed, "a truncated bank state");
            ReadOnlySpan<byte> r = src.Slice(at, n); at += n; return r;
        }
        if (!Take(round, 4).SequenceEqual(RoundStateMagic) || Take(round, 1)[0] != StateVersion) throw Error.Violation(ViolationReason.Malformed, "not a version-1 homomorphic round state");
        if (BinaryPrimitives.ReadUInt32LittleEndian(Take(round, 4)) != (uint)Index) throw Error.Violation(ViolationReason.Inconsistent, "the round state of another bank index");
        uint roundGeneration = BinaryPrimitives.ReadUInt32LittleEndian(Take(round, 4));
        ulong lastOpened = BinaryPrimitives.ReadUInt64LittleEndian(Take(round, 8));
        uint open = BinaryPrimitives.ReadUInt32LittleEndian(Take(round, 4));
        if (open > KeptResults * 16) throw Error.Violation(ViolationReason.Malformed, "too many open rounds in a bank state");
        var rounds = new List<(ulong, int)>();
        for (uint i = 0; i < open; i++)
            rounds.Add((BinaryPrimitives.ReadUInt64LittleEndian(Take(round, 8)), (int)BinaryPrimitives.ReadUInt32LittleEndian(Take(round, 4))));
        if (at != round.Length) throw Error.Violation(ViolationReason.Malformed, "trailing bytes after a round state");

        at = 0;
        if (!CryptographicOperations.FixedTimeEquals(Take(key, 4), KeyStateMagic) || Take(key, 1)[0] != StateVersion) throw Error.Violation(ViolationReason.Malformed, "not a version-1 homomorphic key state");
        if (BinaryPrimitives.ReadUInt32LittleEndian(Take(key, 4)) != (uint)Index) throw Error.Violation(ViolationReason.Inconsistent, "the key state of another bank index");
        if (!CryptographicOperations.FixedTimeEquals(Take(key, 32), Roster.Digest)) throw Error.Violation(ViolationReason.Inconsistent, "the state of another roster");
        byte[] sessionId = Take(key, BinaryPrimitives.ReadUInt16LittleEndian(Take(key, 2))).ToArray();
        uint generation = BinaryPrimitives.ReadUInt32LittleEndian(Take(key, 4));
        if (generation != roundGeneration) throw Error.Violation(ViolationReason.Inconsistent, "a round state of another key generation than its key state");
        var scheme = new CompactScheme(Roster.Parameters, Take(key, 32));
        SecretKey sk = SecretKey.ImportState(Roster.Parameters, Take(key, (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(Take(key, 4)))));
        ThresholdKeyShare share;
        try
        {
            share = ThresholdKeyShare.ImportState(scheme, Index, Roster.Banks, Roster.Policy, Take(key, (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(Take(key, 4)))));
            if (at != key.Length) { share.Dispose(); throw Error.Violation(ViolationReason.Malformed, "trailing bytes after a key state"); }
        }
        catch { sk.Dispose(); throw; }
        _bank.RestoreSecretKey(sk);
        _bank.InstallKey(scheme, share);
        _sessionId = sessionId;
        _keyGeneration = generation;
        _lastOpened = lastOpened;
        foreach (var (r, length) in rounds) { _openRounds.Add(r); _roundLengths[r] = length; }
        _state = new Ready();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _state.Discard();
        _state = new Disposed();
        _bank.Dispose();
    }

    // ---------------------------------------------------------------- states

    private abstract class BankState
    {
        public abstract string Name { get; }
        /// <summary>Handles a message or throws without changing anything.</summary>
        public virtual (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m) => throw Unexpected(m);
        /// <summary>Clears the state's secrets when the setup is abandoned (abort, dispose); a normal transition hands them on.</summary>
        public virtual void Discard() { }
        protected ProtocolViolationException Unexpected(HeToBank m) =>
            Error.Violation(ViolationReason.WrongRoundOrState, $"{HeWire.StepName(m)} in state {Name}");
    }

    private sealed class AwaitingSessionStart : BankState
    {
        public override string Name => "AwaitingSessionStart";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m) =>
            m is HeSessionStartMessage s ? p.StartSession(s) : throw Unexpected(m);
    }

    private (BankState, HeToAggregator[]) StartSession(HeSessionStartMessage s)
    {
        // A rotation abandons nothing secret: the Ready state holds none of its own.
        if (!s.RosterDigest.AsSpan().SequenceEqual(Roster.Digest))
            throw Error.Violation(ViolationReason.Inconsistent, "the aggregator's roster digest differs from this bank's roster");
        if (s.KeyGeneration <= _keyGeneration) throw Error.Violation(ViolationReason.WrongRoundOrState, "a key generation not after the current one");
        if (_keyGeneration > 0) _bank.NewKey();
        _sessionId = s.SessionId;
        _keyGeneration = s.KeyGeneration;
        var contribution = CrsContribution.Create(_sessionId, Index, _bank.Random);
        return (new CrsCommitted(contribution), [new HeCrsCommitMessage(_sessionId, contribution.Commitment)]);
    }

    private sealed class CrsCommitted(CrsContribution contribution) : BankState
    {
        public override string Name => "CrsCommit";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeCrsCommitmentsMessage c) throw Unexpected(m);
            if (!CryptographicOperations.FixedTimeEquals(c.Commitments[p.Index], contribution.Commitment))
                throw Error.Violation(ViolationReason.Inconsistent, "the relayed commitments do not hold this bank's own");
            return (new CrsRevealed(contribution, c.Commitments), [new HeCrsRevealMessage(p._sessionId, contribution.Reveal())]);
        }
        public override void Discard() { }
    }

    private sealed class CrsRevealed(CrsContribution contribution, byte[][] commitments) : BankState
    {
        public override string Name => "CrsReveal";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeCrsRevealsMessage r) throw Unexpected(m);
            byte[] seed = CommonRandomness.DeriveSeed(p._sessionId, p.Roster.Banks,
                commitments.Select((c, i) => (i, c)).ToDictionary(x => x.i, x => x.c), r.Nonces.Select((c, i) => (i, c)).ToDictionary(x => x.i, x => x.c));
            var ckg = new PublicKeyGenProtocol(p.Roster.Parameters);
            RnsPoly crp = CommonRandomness.Expand(p.Roster.Parameters, seed, CrpPurpose.PublicKey, 0, 0);
            byte[] share = ckg.GenShare(p.Index, p._bank.SecretKey, crp, p._bank.Random).Serialize();
            contribution.Dispose();
            return (new KeyShareCommitted(seed, share), [new HeKeyShareCommitMessage(p._sessionId, SHA256.HashData(share))]);
        }
        public override void Discard() => contribution.Dispose();
    }

    private sealed class KeyShareCommitted(byte[] seed, byte[] share) : BankState
    {
        public override string Name => "KeyShareCommit";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeKeyShareCommitmentsMessage c) throw Unexpected(m);
            if (!CryptographicOperations.FixedTimeEquals(c.Commitments[p.Index], SHA256.HashData(share)))
                throw Error.Violation(ViolationReason.Inconsistent, "the relayed commitments do not hold this bank's own");
            return (new KeyShareRevealed(seed, c.Commitments), [new HeKeyShareRevealMessage(p._sessionId, share)]);
        }
        public override void Discard() => CryptographicOperations.ZeroMemory(seed);
    }

    private sealed class KeyShareRevealed(byte[] seed, byte[][] commitments) : BankState
    {
        public override string Name => "KeyShareReveal";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeKeyShareRevealsMessage r) throw Unexpected(m);
            RlweParameters par = p.Roster.Parameters;
            var ckg = new PublicKeyGenProtocol(par);
            PublicKeyShare aggregate = ckg.AllocateShare();
            for (int i = 0; i < r.Shares.Length; i++)
            {
                if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(r.Shares[i]), commitments[i]))
                    throw Error.Violation(ViolationReason.AuthenticationFailed, $"bank {i}'s public-key share does not open its commitment");
                PublicKeyShare share = PublicKeyShare.Deserialize(par, r.Shares[i]);
                if (share.Bank != i) throw Error.Violation(ViolationReason.UnknownSender, "a public-key share of another bank");
                ckg.AggregateShares(share, aggregate);
            }
            PublicKey pk = ckg.GenPublicKey(aggregate, CommonRandomness.Expand(par, seed, CrpPurpose.PublicKey, 0, 0));
            byte[] pkDigest = SHA256.HashData(BfvSerializer.Serialize(pk));
            var channel = new ShareChannel(p.Index, p.Roster.Banks, p._sessionId, p._bank.Random);
            byte[] advert = channel.Advert(p._bank.Identity);
            return (new ChannelAdvertised(seed, pkDigest, channel), [new HeChannelAdvertMessage(p._sessionId, advert)]);
        }
        public override void Discard() => CryptographicOperations.ZeroMemory(seed);
    }

    private sealed class ChannelAdvertised(byte[] seed, byte[] publicKeyDigest, ShareChannel channel) : BankState
    {
        private byte[]? scratchKey;
        public override string Name => "ChannelAdverts";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeChannelAdvertsMessage a) throw Unexpected(m);
            // Verify every advert (signature and place in the list) on a scratch channel first, so a bad list changes nothing.
            // The scratch key is drawn from the bank's stream once, on the first channel_adverts (SPEC.md 12.4 step 5), and
            // reused if a list is refused: a refused list draws nothing more, so the Shamir polynomial that follows is the same.
            if (scratchKey is null)
            {
                scratchKey = GC.AllocateArray<byte>(32, pinned: true);
                p._bank.Random.GetBytes(scratchKey);
            }
            using (var probe = new ShareChannel(p.Index, p.Roster.Banks, p._sessionId, X25519KeyPair.Import(scratchKey)))
                for (int i = 0; i < a.Adverts.Length; i++)
                    if (probe.AcceptAdvert(a.Adverts[i], p.Roster.IdentityKeys) != i) throw Error.Violation(ViolationReason.Inconsistent, "an advert under another bank's entry");
            for (int i = 0; i < a.Adverts.Length; i++) channel.AcceptAdvert(a.Adverts[i], p.Roster.IdentityKeys);
            var thresholdizer = new Thresholdizer(p.Roster.Parameters);
            var sealedPoints = new byte[p.Roster.Banks][];
            using (ShamirPolynomial f = thresholdizer.GenShamirPolynomial(p.Roster.Policy.Threshold, p._bank.SecretKey, p._bank.Random))
            {
                for (int j = 0; j < p.Roster.Banks; j++)
                {
                    using ShamirShare point = thresholdizer.GenShareForParty(f, p.Index, j);
                    byte[] plain = point.Serialize();
                    try { sealedPoints[j] = channel.Seal(j, plain); }
                    finally { CryptographicOperations.ZeroMemory(plain); }
                }
            }
            if (scratchKey is not null) CryptographicOperations.ZeroMemory(scratchKey);
            return (new Thresholdizing(seed, publicKeyDigest, channel), [new HeSealedPointsMessage(p._sessionId, sealedPoints)]);
        }
        public override void Discard() { CryptographicOperations.ZeroMemory(seed); if (scratchKey is not null) CryptographicOperations.ZeroMemory(scratchKey); channel.Dispose(); }
    }

    private sealed class Thresholdizing(byte[] seed, byte[] publicKeyDigest, ShareChannel channel) : BankState
    {
        public override string Name => "Thresholdize";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeSealedPointsForBankMessage s) throw Unexpected(m);
            RlweParameters par = p.Roster.Parameters;
            var points = new List<ShamirShare>(s.Points.Length);
            try
            {
                for (int i = 0; i < s.Points.Length; i++)
                {
                    byte[] opened = channel.Open(i, s.Points[i]);
                    try
                    {
                        ShamirShare point = ShamirShare.Deserialize(par, opened);
                        points.Add(point);
                        if (point.From != i || point.To != p.Index) throw Error.Violation(ViolationReason.Inconsistent, "a misaddressed Shamir point");
                    }
                    finally { CryptographicOperations.ZeroMemory(opened); }
                }
                var scheme = new CompactScheme(par, seed);
                var keyShare = new ThresholdKeyShare(scheme, p.Index, p.Roster.Banks, p.Roster.Policy, points, p._bank.Random);
                p._bank.InstallKey(scheme, keyShare);
            }
            finally { foreach (ShamirShare x in points) x.Dispose(); }
            channel.Dispose();
            return (new Ready(), [new HeKeyReadyMessage(p._sessionId, publicKeyDigest)]);
        }
        public override void Discard() { CryptographicOperations.ZeroMemory(seed); channel.Dispose(); }
    }

    private sealed class Ready : BankState
    {
        public override string Name => "Ready";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m) => m switch
        {
            HeSessionStartMessage s => p.StartSession(s),   // key rotation
            HeRoundStartMessage r => (this, p.Upload(r)),
            HeDecryptionRequestMessage d => (this, [p.Decrypt(d)]),
            HeRoundResultMessage r => (this, p.Record(r)),
            HeAbortToBank a => (this, p.EndRound(a)),
            _ => throw Unexpected(m),
        };
    }

    private HeToAggregator[] Upload(HeRoundStartMessage r)
    {
        int n = Roster.Parameters.N;
        if (r.Chunks != Math.Max(1, (r.Length + n - 1) / n)) throw Error.Violation(ViolationReason.Malformed, "the chunk count does not match the length");
        if (r.Round <= _lastOpened) throw Error.Violation(ViolationReason.WrongRoundOrState, $"round {r.Round} is not after round {_lastOpened}");
        if (_inputs.TryGetValue(r.Round, out ulong[]? mine) && mine.Length != r.Length)
            throw Error.Violation(ViolationReason.Inconsistent, $"this bank's vector has {mine.Length} values, the round {r.Length}");
        _lastOpened = r.Round;
        _openRounds.Add(r.Round);
        _roundLengths[r.Round] = r.Length;
        if (!_inputs.TryGetValue(r.Round, out ulong[]? values)) return [];          // this bank does not contribute to the round
        byte[][] chunks = _bank.Encrypt(r.Round, values, r.Chunks, Parallel, out byte[][] digests);
        byte[] manifest = _bank.SignManifestFromDigests(r.Round, digests);   // the digests came with the trailers: no second hash
        Array.Clear(values);
        _inputs.Remove(r.Round);
        LastUploadRound = r.Round;
        return [new HeUploadMessage(_sessionId, r.Round, manifest, Array.ConvertAll(chunks, c => (ReadOnlyMemory<byte>)c))];
    }

    /// <summary>Answers a decryption request, or refuses it with a round abort naming the reason (SPEC.md 12.3). The answer is
    /// already encoded (<see cref="HomomorphicBank.EncodedDecryptionShares"/>: each share written straight into the message, the
    /// bytes HeWire.Encode gives for the shares as arrays, without an array per share and the copy into the message).</summary>
    private HeToAggregator Decrypt(HeDecryptionRequestMessage d)
    {
        try
        {
            _bank.ReceiveManifests(d.Round, d.Chunks, d.Manifests);
            return new EncodedAnswer(_sessionId, _bank.EncodedDecryptionShares(_sessionId, d.Round, d.Chunks, d.Contributors, d.Active, d.ContributorLists, Parallel));
        }
        catch (ProtocolViolationException e)
        {
            LastRefusal = e.Reason;
            return new HeAbortToAggregator(_sessionId, e.Reason, $"decryption request refused: {e.Message}", d.Round);
        }
    }

    /// <summary>A message to the aggregator already encoded by its producer; <see cref="Receive"/> sends its bytes as they are.
    /// Private: it never reaches HeWire.</summary>
    private sealed record EncodedAnswer(byte[] SessionId, byte[] Bytes) : HeToAggregator(SessionId);

    /// <summary>Why this bank last refused a decryption request (null if it never did). It keeps the latest refusal: a later
    /// answered request does not clear it; compare the answer's step (an abort or decryption shares) for one call.</summary>
    public ViolationReason? LastRefusal { get; private set; }

    /// <summary>Keeps the result of a round this bank saw opened, once; anything else is refused (WrongRoundOrState, Malformed).</summary>
    private HeToAggregator[] Record(HeRoundResultMessage r)
    {
        if (!_openRounds.Contains(r.Round)) throw Error.Violation(ViolationReason.WrongRoundOrState, $"a result for round {r.Round}, which is not open at this bank");
        if (r.Sum.Length != _roundLengths[r.Round]) throw Error.Violation(ViolationReason.Malformed, "a result of another length than its round");
        _openRounds.Remove(r.Round);
        _roundLengths.Remove(r.Round);
        _results[r.Round] = r;
        if (_results.Count > KeptResults) _results.Remove(_results.Keys.Min());
        return [];
    }

    private readonly Dictionary<ulong, int> _roundLengths = [];

    private HeToAggregator[] EndRound(HeAbortToBank a)
    {
        if (_inputs.Remove(a.Round, out ulong[]? values)) Array.Clear(values);   // the round is spent; its input is wiped
        _openRounds.Remove(a.Round);
        _roundLengths.Remove(a.Round);
        _failures[a.Round] = (a.Reason, a.Message);
        if (_failures.Count > KeptResults) _failures.Remove(_failures.Keys.Min());
        return [];
    }

    private sealed class Aborted(ViolationReason reason, string message) : BankState
    {
        public ViolationReason Reason => reason;
        public string Message => message;
        public override string Name => $"Aborted({reason})";
    }

    private sealed class Disposed : BankState
    {
        public override string Name => "Disposed";
    }
}
