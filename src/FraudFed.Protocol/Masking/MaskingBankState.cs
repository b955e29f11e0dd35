// A masking bank's state at rest (SPEC.md 14.7): what a restarted bank needs to go on with its session. The long-term X25519
// channel and mask keys, the graph-seed nonce until it is revealed, the key roster's public keys and commitments, the graph
// seed, the last round begun and the stage. Round secrets (b_i, kappa_i, Shamir shares) are never written: a bank restored
// inside a round has left that round (it is spent, the next round must be numbered above it), so it can never compute a
// second, different MaskedInput for a round whose masked input may already have left (SPEC.md 14.7 "Why a restored bank
// leaves its round"). The bytes are SECRET (the X25519 private keys open every pairwise seed of the session): a caller
// writes them only sealed (the SDK's state directory, SPEC.md 14.6) and zeroes its copy.
// Layout (big-endian, as the wire of section 9), every field fixed-size except the roster list:
//   "FFMS" | u8 version 1 | session (16) | u32 bank | u32 n | u32 degree | u32 t | u32 M | u8 modulus bits
//   | identity roster digest (32) | u8 stage | u32 last_round | u32 state_round | u8 reason (0 none, 1 + ViolationReason)
//   | channel private key (32) | mask private key (32) | graph nonce (32, zero once setup is done)
//   | u32 m | m x (u32 id | channel public (32) | mask public (32) | graph commitment (32)), ids ascending
//   | u8 has_graph | graph seed (32, zero without graph)
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

public sealed partial class MaskingBank
{
    /// <summary>Version of the <see cref="ExportState"/> format (SPEC.md 14.7).</summary>
    public const byte StateVersion = 1;

    private static ReadOnlySpan<byte> StateMagic => "FFMS"u8;
    private const int KeySize = 32;
    private const int EntrySize = 4 + 3 * KeySize;
    private const int FixedStateSize = 4 + 1 + MaskingParameters.SessionIdSize + 4 + 4 * 4 + 1 + 32 + 1 + 4 + 4 + 1 + 3 * KeySize + 4 + 1 + KeySize;

    /// <summary>Stage codes of the state format (SPEC.md 14.7).</summary>
    private enum StateStage : byte
    {
        Generated = 0, Advertised = 1, GraphSeed = 2, Ready = 3, ShareKeys = 4, MaskedInput = 5, ConsistencyCheck = 6, Completed = 7, Aborted = 8,
    }

    /// <summary>The round this bank was inside (ShareKeys, MaskedInput or ConsistencyCheck) when the state it was restored from
    /// was exported, and which it left at import; null for a bank that was not restored that way. The caller tells the aggregator
    /// with a BankAbort of that round (SPEC.md 14.7); the bank itself is in <see cref="BankReady"/> with the round spent.</summary>
    public uint? InterruptedRound { get; private set; }

    /// <summary>Exports what this bank needs to go on after a restart (SPEC.md 14.7): canonical bytes, equal for equal states.
    /// SECRET: holds the X25519 private keys; write it only sealed and zero it after use. Round secrets are not included.</summary>
    /// <returns>The state bytes (version <see cref="StateVersion"/>).</returns>
    /// <exception cref="ObjectDisposedException">The bank was disposed.</exception>
    public byte[] ExportState()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        (StateStage stage, byte reason, IReadOnlyDictionary<int, AdvertiseKeys> roster) = State switch
        {
            BankAdvertiseKeys { Advertised: false } => (StateStage.Generated, (byte)0, (IReadOnlyDictionary<int, AdvertiseKeys>)new Dictionary<int, AdvertiseKeys>()),
            BankAdvertiseKeys => (StateStage.Advertised, (byte)0, new Dictionary<int, AdvertiseKeys>()),
            BankGraphSeed g => (StateStage.GraphSeed, (byte)0, g.Roster),
            BankReady r => (StateStage.Ready, ReasonCode(r.LastRoundFailure), _roster),
            BankShareKeys => (StateStage.ShareKeys, (byte)0, _roster),
            BankMaskedInput => (StateStage.MaskedInput, (byte)0, _roster),
            BankConsistencyCheck => (StateStage.ConsistencyCheck, (byte)0, _roster),
            BankCompleted => (StateStage.Completed, (byte)0, _roster),
            BankAborted a => (StateStage.Aborted, ReasonCode(a.Reason), _graphSeed is null ? new Dictionary<int, AdvertiseKeys>() : _roster),
            _ => throw new InvalidOperationException("Unknown bank state."),
        };
        byte[] state = new byte[FixedStateSize + roster.Count * EntrySize];
        int at = 0;
        void Put(ReadOnlySpan<byte> v) { v.CopyTo(state.AsSpan(at)); at += v.Length; }
        void U8(byte v) => state[at++] = v;
        void U32(uint v) { BinaryPrimitives.WriteUInt32BigEndian(state.AsSpan(at), v); at += 4; }

        Put(StateMagic);
        U8(StateVersion);
        Put(_p.SessionId);
        U32((uint)_id);
        U32((uint)_p.Banks); U32((uint)_p.Degree); U32((uint)_p.Threshold); U32((uint)_p.MinimumSurvivors); U8((byte)_p.ModulusBits);
        Put(RosterDigest(_identityKeys));
        U8((byte)stage);
        U32(_lastRound);
        U32(State.Round);
        U8(reason);
        _channelKey.ExportPrivateKey(state.AsSpan(at, KeySize)); at += KeySize;
        _maskKey.ExportPrivateKey(state.AsSpan(at, KeySize)); at += KeySize;
        Put(_graphNonce);
        U32((uint)roster.Count);
        foreach (var (id, k) in roster.OrderBy(kv => kv.Key))
        {
            U32((uint)id);
            Put(k.ChannelPublicKey);
            Put(k.MaskPublicKey);
            Put(k.GraphCommitment);
        }
        U8(_graphSeed is null ? (byte)0 : (byte)1);
        if (_graphSeed is not null) Put(_graphSeed);
        else at += KeySize;
        System.Diagnostics.Debug.Assert(at == state.Length, "the size computed above is the size written");
        return state;
    }

    /// <summary>Rebuilds bank <paramref name="bankId"/> from <see cref="ExportState"/> bytes (SPEC.md 14.7). A state saved inside a
    /// round (ShareKeys, MaskedInput, ConsistencyCheck) comes back in <see cref="BankReady"/> with that round spent and
    /// <see cref="InterruptedRound"/> set: the round's secrets were never saved, and the bank never computes a second masked
    /// input for a round it began.</summary>
    /// <param name="parameters">The session's parameters (the same session id, n, degree, t, M and k as at export).</param>
    /// <param name="bankId">This bank's id.</param>
    /// <param name="identity">This bank's Ed25519 identity key (the caller keeps ownership).</param>
    /// <param name="identityPublicKeys">Every bank's Ed25519 public key, by id (the same roster as at export).</param>
    /// <param name="state">The exported bytes (SECRET; not kept, the caller zeroes them).</param>
    /// <param name="rng">Randomness for the next rounds' secrets: a CSPRNG in production.</param>
    /// <returns>The restored bank; the caller owns and disposes it.</returns>
    /// <exception cref="ArgumentNullException">A null argument.</exception>
    /// <exception cref="ArgumentException">A roster without one 32-byte key per bank, or an identity key not at <paramref name="bankId"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A bank id outside 0..n-1.</exception>
    /// <exception cref="ProtocolViolationException">Malformed: not a version-1 masking state (magic, version, length, a field out of
    /// range, a stage and its fields that do not fit together, this bank's own roster entry or commitment not matching its keys).
    /// Inconsistent: the state of another session, another bank, other parameters or another identity roster. Nothing is built.</exception>
    /// <param name="maxMessageBytes">Largest aggregator message accepted, in bytes (as the constructor's).</param>
    public static MaskingBank ImportState(MaskingParameters parameters, int bankId, Ed25519SigningKey identity, IReadOnlyList<byte[]> identityPublicKeys,
        ReadOnlySpan<byte> state, RandomNumberGenerator rng, int maxMessageBytes = MaskingWire.DefaultMaxMessageBytes)
    {
        CheckIdentity(parameters, bankId, identity, identityPublicKeys, rng, maxMessageBytes);
        byte[][] identityKeys = identityPublicKeys.Select(k => k.ToArray()).ToArray();

        // Cheap to expensive: size and header, then identity of the state, then every field's range, then the keys.
        if (state.Length < FixedStateSize) throw Malformed("the state is shorter than its fixed fields");
        var r = new StateCursor(state);

        if (!r.Take(4).SequenceEqual(StateMagic) || r.U8() != StateVersion) throw Malformed("not a version-1 masking bank state");
        if (!r.Take(MaskingParameters.SessionIdSize).SequenceEqual(parameters.SessionId)) throw Inconsistent("the state belongs to another session");
        if (r.U32() != (uint)bankId) throw Inconsistent("the state belongs to another bank");
        if (r.U32() != (uint)parameters.Banks | r.U32() != (uint)parameters.Degree | r.U32() != (uint)parameters.Threshold
            | r.U32() != (uint)parameters.MinimumSurvivors | r.U8() != (byte)parameters.ModulusBits)
            throw Inconsistent("the state was saved under other session parameters");
        if (!r.Take(32).SequenceEqual(RosterDigest(identityKeys))) throw Inconsistent("the state was saved under another identity roster");
        byte stageByte = r.U8();
        if (stageByte > (byte)StateStage.Aborted) throw Malformed("unknown stage");
        var stage = (StateStage)stageByte;
        uint lastRound = r.U32(), stateRound = r.U32();
        byte reasonByte = r.U8();
        if (reasonByte > (byte)Enum.GetValues<ViolationReason>().Max() + 1) throw Malformed("unknown reason");
        ViolationReason? reason = reasonByte == 0 ? null : (ViolationReason)(reasonByte - 1);
        ReadOnlySpan<byte> channelPrivate = r.Take(KeySize), maskPrivate = r.Take(KeySize), nonce = r.Take(KeySize);
        uint m = r.U32();
        if (m > (uint)parameters.Banks || state.Length != FixedStateSize + (int)m * EntrySize) throw Malformed("the roster count does not match the length");
        var entries = new List<(int Id, byte[] Channel, byte[] Mask, byte[] Commitment)>((int)m);
        for (uint e = 0; e < m; e++)
        {
            uint id = r.U32();
            if (id >= (uint)parameters.Banks || (entries.Count > 0 && id <= (uint)entries[^1].Id)) throw Malformed("roster ids are not ascending bank ids");
            entries.Add(((int)id, r.Take(KeySize).ToArray(), r.Take(KeySize).ToArray(), r.Take(KeySize).ToArray()));
        }
        byte hasGraph = r.U8();
        ReadOnlySpan<byte> seed = r.Take(KeySize);
        System.Diagnostics.Debug.Assert(r.At == state.Length, "the length was checked against m");

        bool setup = stage is StateStage.Generated or StateStage.Advertised or StateStage.GraphSeed;
        bool afterSetup = stage is >= StateStage.Ready and <= StateStage.Completed;
        bool zeroNonce = nonce.IndexOfAnyExcept((byte)0) < 0;
        if (setup && (lastRound != 0 || stateRound != 0 || reason is not null || hasGraph != 0)) throw Malformed("a setup stage with round fields");
        if (afterSetup && (stateRound != lastRound || hasGraph != 1 || !zeroNonce)) throw Malformed("a post-setup stage without its graph or with a setup field");
        if (stage is >= StateStage.ShareKeys and <= StateStage.Completed && stateRound == 0) throw Malformed("a round stage of round 0");
        if (stage != StateStage.Ready && stage != StateStage.Aborted && reason is not null) throw Malformed("a reason outside Ready and Aborted");
        if (stage == StateStage.Ready && stateRound == 0 && reason is not null) throw Malformed("a failure of round 0");
        if (stage == StateStage.Aborted && (reason is null || stateRound > lastRound || hasGraph > 1 || (hasGraph == 1) != (m > 0) || (hasGraph == 1 && !zeroNonce)))
            throw Malformed("an aborted stage with inconsistent fields");
        if (hasGraph == 0 && seed.IndexOfAnyExcept((byte)0) >= 0) throw Malformed("a graph seed without a graph");
        if ((stage is StateStage.Generated or StateStage.Advertised) != (m == 0) && stage != StateStage.Aborted) throw Malformed("the roster does not fit the stage");
        if (m > 0 && m < (uint)parameters.MinimumSurvivors) throw Malformed("a key roster below the minimum");

        X25519KeyPair? channelKey = null, maskKey = null;
        MaskingBank? bank = null;
        try
        {
            channelKey = X25519KeyPair.Import(channelPrivate);
            maskKey = X25519KeyPair.Import(maskPrivate);
            var roster = entries.ToDictionary(e => e.Id, e => new AdvertiseKeys(parameters.SessionId.ToArray(), e.Id, e.Channel, e.Mask, e.Commitment));
            byte[] commitment;
            if (m == 0) commitment = GraphSeed.Commit(parameters.SessionId, bankId, nonce);
            else
            {
                if (!roster.TryGetValue(bankId, out AdvertiseKeys? mine) || !mine.ChannelPublicKey.AsSpan().SequenceEqual(channelKey.PublicKey)
                    || !mine.MaskPublicKey.AsSpan().SequenceEqual(maskKey.PublicKey))
                    throw Malformed("this bank's roster entry does not carry its keys");
                if (stage == StateStage.GraphSeed && !GraphSeed.Opens(parameters.SessionId, bankId, mine.GraphCommitment, nonce))
                    throw Malformed("this bank's commitment does not open with its nonce");
                commitment = mine.GraphCommitment.ToArray();
            }
            bank = new MaskingBank(parameters, bankId, identity, identityKeys, rng, channelKey, maskKey, nonce, commitment, maxMessageBytes);
            channelKey = maskKey = null;   // owned by the bank now
            bank._lastRound = lastRound;
            if (hasGraph == 1) bank.FixGraph(seed.ToArray(), roster);
            bank.State = stage switch
            {
                StateStage.Generated => new BankAdvertiseKeys(advertised: false),
                StateStage.Advertised => new BankAdvertiseKeys(advertised: true),
                StateStage.GraphSeed => new BankGraphSeed(roster),
                StateStage.Ready => new BankReady(stateRound, reason),
                StateStage.ShareKeys or StateStage.MaskedInput or StateStage.ConsistencyCheck => new BankReady(stateRound, ViolationReason.TooFewParticipants),
                StateStage.Completed => new BankCompleted(stateRound),
                _ => new BankAborted(stateRound, reason!.Value),
            };
            if (stage is StateStage.ShareKeys or StateStage.MaskedInput or StateStage.ConsistencyCheck) bank.InterruptedRound = stateRound;
            MaskingBank restored = bank;
            bank = null;
            return restored;
        }
        finally
        {
            channelKey?.Dispose();
            maskKey?.Dispose();
            bank?.Dispose();
        }
    }

    /// <summary>True when <paramref name="state"/> starts as a version-<see cref="StateVersion"/> masking bank state of session
    /// <paramref name="sessionId"/> (its header only: <see cref="ImportState"/> checks everything). A deployment uses it to tell a
    /// state left by an earlier session, whose keys are useless to the current one, from a state to restore.</summary>
    /// <param name="state">Exported state bytes (not kept).</param>
    /// <param name="sessionId">The session id to compare with (16 bytes).</param>
    /// <returns>Whether magic, version and session id match.</returns>
    public static bool IsStateOfSession(ReadOnlySpan<byte> state, ReadOnlySpan<byte> sessionId) =>
        state.Length >= 5 + MaskingParameters.SessionIdSize && state[..4].SequenceEqual(StateMagic) && state[4] == StateVersion
        && state.Slice(5, MaskingParameters.SessionIdSize).SequenceEqual(sessionId);

    /// <summary>Reads the state front to back; lengths were checked before the variable part is read.</summary>
    private ref struct StateCursor(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        public int At { get; private set; }
        public ReadOnlySpan<byte> Take(int n) { ReadOnlySpan<byte> v = _data.Slice(At, n); At += n; return v; }
        public byte U8() => Take(1)[0];
        public uint U32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    }

    private static byte ReasonCode(ViolationReason? reason) => reason is { } r ? (byte)((int)r + 1) : (byte)0;

    /// <summary>SHA-256 over "FraudFed/v1/secagg/state-roster" and the n Ed25519 public keys in bank order.</summary>
    private static byte[] RosterDigest(byte[][] identityKeys)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData("FraudFed/v1/secagg/state-roster"u8);
        foreach (byte[] k in identityKeys) h.AppendData(k);
        return h.GetHashAndReset();
    }

    private static ProtocolViolationException Malformed(string what) => Error.Violation(ViolationReason.Malformed, $"Masking bank state: {what}.");
    private static ProtocolViolationException Inconsistent(string what) => Error.Violation(ViolationReason.Inconsistent, $"Masking bank state: {what}.");
}
