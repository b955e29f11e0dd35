// The bank (client) side of the masking protocol: Bonawitz et al., "Practical Secure Aggregation for
// Privacy-Preserving Machine Learning", CCS'17, section 4 (double masking, active-adversary variant with
// the signed ConsistencyCheck), with the SecAgg+ neighbour graph of Bell et al. CCS'20 and one key setup
// per session (SPEC.md "Masking protocol"):
//   setup   AdvertiseKeys: X25519 channel key c_i and mask key s_i and a commitment to a fresh graph-seed nonce,
//           signed with the bank's Ed25519 identity.
//           KeyRoster: verify every signature; answer with the signed GraphSeedReveal (the nonce).
//           GraphSeedRoster: verify every reveal (signature, commitment, one per key-roster bank), derive the graph
//           seed and the neighbour graph, then K^c_ij and the pair masters K_ij for neighbours (SPEC.md 8.1).
//   round r ShareKeys: fresh b_i (self-mask seed) and kappa_i (escrow key) from the injected RNG, Shamir
//           t-of-|holders| over GF(2^521-1), one AEAD bundle per holder; escrow s^r_ij XOR pad(kappa_i).
//           MaskedInput: y_i = x_i + PRG(b_i) + sum_{j in U1, j > i} PRG(s^r_ij) - sum_{j in U1, j < i} PRG(s^r_ij) mod 2^k.
//           ConsistencyCheck: sign the survivor list U2.
//           Unmasking: verify >= MinimumSurvivors signatures on the same U2 (else abort: the aggregator
//           showed different lists), then reveal b-shares of survivors and kappa-shares of dropped banks,
//           never both for one peer, and only for peers whose shares this bank holds.
// Every refused message throws ProtocolViolationException and leaves State unchanged. A benign, round-local failure
// (fewer than t holders of this bank's shares present, the aggregator's RoundAbort, a deadline missed: AbandonRound)
// zeroes the round's secrets and returns to BankReady with the round spent (SPEC.md 8.3); the next round starts
// afresh. Only evidence of an attack (an inconsistent survivor list or signatures, a survivor list or unmask request
// below M that an honest aggregator never sends, graph-seed equivocation) moves to BankAborted, which is terminal.
// Round secrets (b_i, the Shamir shares of b_i and kappa_i, the peers' shares this bank holds) are zeroed as soon as they are
// no longer needed: the shares sent are disposed once sealed, the held ones when the round completes, aborts or is abandoned
// for a new round, and when the bank is disposed.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Protocol.Masking;

/// <summary>One bank's masking-protocol endpoint. Pure: no I/O, no clock; randomness is injected.</summary>
public sealed partial class MaskingBank : IDisposable
{
    private readonly MaskingParameters _p;
    private readonly int _id;
    private readonly Ed25519SigningKey _identity;
    private readonly byte[][] _identityKeys;
    private readonly RandomNumberGenerator _rng;
    private readonly X25519KeyPair _channelKey;
    private readonly X25519KeyPair _maskKey;
    private readonly Dictionary<int, Aead> _channels = [];
    private readonly Dictionary<int, byte[]> _pairMasters = [];
    private readonly byte[] _graphNonce = new byte[GraphSeed.Size];
    private readonly byte[] _graphCommitment;
    private NeighbourGraph? _graph;
    private byte[]? _graphSeed;
    private bool[] _advertised = [];
    private IReadOnlyDictionary<int, AdvertiseKeys> _roster = new Dictionary<int, AdvertiseKeys>();   // public keys, kept for ExportState
    private uint _lastRound;
    private bool _disposed;
    private readonly int _maxMessageBytes;

    /// <summary>Creates bank <paramref name="bankId"/>.</summary>
    /// <param name="parameters">Session parameters.</param>
    /// <param name="bankId">This bank's id (0-based roster position).</param>
    /// <param name="identity">This bank's Ed25519 identity key (the caller keeps ownership).</param>
    /// <param name="identityPublicKeys">Every bank's Ed25519 public key, by id (the signed roster).</param>
    /// <param name="rng">Randomness for keys, the graph-seed nonce and round secrets: a CSPRNG in production. Draws in
    /// order: the X25519 channel key (32 bytes), the mask key (32), the graph-seed nonce (32), then round secrets.</param>
    /// <exception cref="ArgumentNullException">A null argument.</exception>
    /// <exception cref="ArgumentException">A roster without one 32-byte key per bank, or an identity key not at <paramref name="bankId"/>.</exception>
    /// <param name="maxMessageBytes">Largest aggregator message accepted, in bytes (default <see cref="MaskingWire.DefaultMaxMessageBytes"/>,
    /// 1 GiB); a larger one is refused as Oversized before it is parsed. A bank receives rosters, share deliveries, survivor lists and
    /// unmask requests (a few KiB per neighbour), so a few MiB is ample for any roster.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bank id outside 0..n-1, or <paramref name="maxMessageBytes"/> below
    /// <see cref="MaskingWire.MinMaxMessageBytes"/>.</exception>
    public MaskingBank(MaskingParameters parameters, int bankId, Ed25519SigningKey identity, IReadOnlyList<byte[]> identityPublicKeys, RandomNumberGenerator rng,
        int maxMessageBytes = MaskingWire.DefaultMaxMessageBytes)
    {
        CheckIdentity(parameters, bankId, identity, identityPublicKeys, rng, maxMessageBytes);
        _maxMessageBytes = maxMessageBytes;
        _p = parameters;
        _id = bankId;
        _identity = identity;
        _identityKeys = identityPublicKeys.Select(k => k.ToArray()).ToArray();
        _rng = rng;
        _channelKey = X25519KeyPair.Generate(rng);
        _maskKey = X25519KeyPair.Generate(rng);
        rng.GetBytes(_graphNonce);
        _graphCommitment = GraphSeed.Commit(_p.SessionId, _id, _graphNonce);
        State = new BankAdvertiseKeys(advertised: false);
    }

    /// <summary>The constructor's and <see cref="ImportState"/>'s argument checks (their exceptions).</summary>
    private static void CheckIdentity(MaskingParameters parameters, int bankId, Ed25519SigningKey identity, IReadOnlyList<byte[]> identityPublicKeys, RandomNumberGenerator rng,
        int maxMessageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessageBytes, MaskingWire.MinMaxMessageBytes);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(identityPublicKeys);
        ArgumentNullException.ThrowIfNull(rng);
        if (bankId < 0 || bankId >= parameters.Banks) throw Error.OutOfRange(nameof(bankId), "The bank id must be in 0..n-1.");
        if (identityPublicKeys.Count != parameters.Banks || identityPublicKeys.Any(k => k is null || k.Length != Ed25519SigningKey.PublicKeySize))
            throw Error.Argument(nameof(identityPublicKeys), "One 32-byte Ed25519 public key per bank is required.");
        if (!identity.PublicKey.SequenceEqual(identityPublicKeys[bankId])) throw Error.Argument(nameof(identity), "The identity key does not match the roster entry.");
    }

    /// <summary>The restore constructor (<see cref="ImportState"/>): the checked arguments and the imported long-term keys.</summary>
    private MaskingBank(MaskingParameters parameters, int bankId, Ed25519SigningKey identity, byte[][] identityKeys, RandomNumberGenerator rng,
        X25519KeyPair channelKey, X25519KeyPair maskKey, ReadOnlySpan<byte> graphNonce, byte[] graphCommitment, int maxMessageBytes)
    {
        _maxMessageBytes = maxMessageBytes;
        _p = parameters;
        _id = bankId;
        _identity = identity;
        _identityKeys = identityKeys;
        _rng = rng;
        _channelKey = channelKey;
        _maskKey = maskKey;
        graphNonce.CopyTo(_graphNonce);
        _graphCommitment = graphCommitment;
        State = new BankAdvertiseKeys(advertised: false);
    }

    /// <summary>This bank's id.</summary>
    public int Id => _id;

    /// <summary>Largest aggregator message this bank accepts (its constructor's setting).</summary>
    internal int MaxMessageBytes => _maxMessageBytes;

    /// <summary>The current state object (replaced on every transition, untouched by refused messages).</summary>
    public BankState State { get; private set; }

    /// <summary>The session's neighbour graph, fixed by the graph-seed agreement (SPEC.md 8.1).</summary>
    /// <exception cref="InvalidOperationException">Before the GraphSeedRoster was accepted.</exception>
    public NeighbourGraph Graph => _graph ?? throw new InvalidOperationException("The graph is fixed by the GraphSeedRoster of session setup.");

    /// <summary>The session's 32-byte graph seed (public once agreed), or null before the GraphSeedRoster was accepted.</summary>
    public byte[]? GraphSeedValue => _graphSeed?.ToArray();

    /// <summary>Setup step 1: the signed AdvertiseKeys message (keys and the graph-seed commitment).</summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState when already advertised.</exception>
    public byte[] AdvertiseKeys()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (State is not BankAdvertiseKeys { Advertised: false }) throw WrongState("AdvertiseKeys");
        byte[] message = new AdvertiseKeys(_p.SessionId, _id, _channelKey.PublicKey.ToArray(), _maskKey.PublicKey.ToArray(), _graphCommitment).Encode(_identity);
        State = new BankAdvertiseKeys(advertised: true);
        return message;
    }

    /// <summary>Setup step 2: verify the roster of advertised keys and commitments; returns the signed GraphSeedReveal.</summary>
    /// <param name="message">The KeyRoster.</param>
    /// <returns>This bank's GraphSeedReveal (type 10): its graph-seed nonce, signed; safe to send now that every commitment is fixed.</returns>
    /// <exception cref="ProtocolViolationException">Malformed, WrongRoundOrState, UnknownSender, Duplicate, Inconsistent (this bank's
    /// own entry missing or altered), TooFewParticipants (fewer than M banks) or AuthenticationFailed; the state is unchanged.</exception>
    public byte[] ReceiveRoster(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        KeyRoster roster = MaskingWire.DecodeToBank<KeyRoster>(message, _maxMessageBytes);   // parse first (SPEC.md 14.1)
        if (State is not BankAdvertiseKeys { Advertised: true }) throw WrongState("KeyRoster");
        CheckSession(roster.SessionId);
        var byId = new Dictionary<int, AdvertiseKeys>();
        foreach (AdvertiseKeys k in roster.Keys)
        {
            CheckSession(k.SessionId);
            if (k.Sender >= _p.Banks) throw Error.Violation(ViolationReason.UnknownSender, "A roster entry names a bank outside the roster.");
            if (!byId.TryAdd(k.Sender, k)) throw Error.Violation(ViolationReason.Duplicate, "A bank appears twice in the roster.");
        }
        if (!byId.TryGetValue(_id, out AdvertiseKeys? mine) || !mine.ChannelPublicKey.AsSpan().SequenceEqual(_channelKey.PublicKey)
            || !mine.MaskPublicKey.AsSpan().SequenceEqual(_maskKey.PublicKey) || !mine.GraphCommitment.AsSpan().SequenceEqual(_graphCommitment))
            throw Error.Violation(ViolationReason.Inconsistent, "The roster does not carry this bank's own keys and commitment.");
        if (byId.Count < _p.MinimumSurvivors) throw Error.Violation(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(byId.Count, "advertised keys", _p.MinimumSurvivors, null));
        foreach (AdvertiseKeys k in roster.Keys)
            if (!k.VerifySignature(_identityKeys[k.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, $"Bank {k.Sender}'s AdvertiseKeys signature does not verify.");
        byte[] reveal = new GraphSeedReveal(_p.SessionId, _id, (byte[])_graphNonce.Clone()).Encode(_identity);
        State = new BankGraphSeed(byId);
        return reveal;
    }

    /// <summary>Setup step 3: check every bank's graph-seed reveal, derive the seed and the graph, and agree keys with the neighbours.</summary>
    /// <param name="message">The GraphSeedRoster.</param>
    /// <exception cref="ProtocolViolationException">Refused, state unchanged: Malformed, Oversized, WrongRoundOrState, UnknownSender
    /// (a reveal from a bank outside the key roster), AuthenticationFailed (a signature). Aborts (BankAborted): Duplicate (two reveals
    /// of one bank), Inconsistent (a key-roster bank's reveal is missing, or this bank's own is altered), AuthenticationFailed (a
    /// signed reveal that does not open its bank's commitment).</exception>
    public void ReceiveGraphSeed(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        GraphSeedRoster roster = MaskingWire.DecodeToBank<GraphSeedRoster>(message, _maxMessageBytes);
        if (State is not BankGraphSeed st) throw WrongState("GraphSeedRoster");
        CheckSession(roster.SessionId);
        foreach (GraphSeedReveal r in roster.Reveals)
        {
            CheckSession(r.SessionId);
            if (!st.Roster.ContainsKey(r.Sender)) throw Error.Violation(ViolationReason.UnknownSender, "A graph-seed reveal comes from a bank outside the key roster.");
        }
        var reveals = new Dictionary<int, GraphSeedReveal>();
        foreach (GraphSeedReveal r in roster.Reveals)
            if (!reveals.TryAdd(r.Sender, r)) throw Abort(ViolationReason.Duplicate, $"Two graph-seed reveals of bank {r.Sender}.");
        if (reveals.Count != st.Roster.Count) throw Abort(ViolationReason.Inconsistent, "A bank of the key roster did not reveal its graph-seed nonce.");
        foreach (GraphSeedReveal r in roster.Reveals)
            if (!r.VerifySignature(_identityKeys[r.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, $"Bank {r.Sender}'s GraphSeedReveal signature does not verify.");
        if (!CryptographicOperations.FixedTimeEquals(reveals[_id].Nonce, _graphNonce)) throw Abort(ViolationReason.Inconsistent, "The roster alters this bank's own reveal.");
        foreach (var (bank, r) in reveals)
            if (!GraphSeed.Opens(_p.SessionId, bank, st.Roster[bank].GraphCommitment, r.Nonce))
                throw Abort(ViolationReason.AuthenticationFailed, $"Bank {bank}'s graph-seed reveal does not open its commitment.");

        byte[] seed = GraphSeed.Derive(_p.SessionId, reveals.ToDictionary(kv => kv.Key, kv => kv.Value.Nonce));
        FixGraph(seed, st.Roster);
        CryptographicOperations.ZeroMemory(_graphNonce); // public now; nothing else needs it
        State = new BankReady();
    }

    /// <summary>Fixes the graph from <paramref name="seed"/> and derives K^c_ij and K_ij for every advertised neighbour (SPEC.md 8.1
    /// step 4); nothing changes if a derivation throws.</summary>
    private void FixGraph(byte[] seed, IReadOnlyDictionary<int, AdvertiseKeys> roster)
    {
        NeighbourGraph graph = _p.BuildGraph(seed);
        var advertised = new bool[_p.Banks];
        foreach (int id in roster.Keys) advertised[id] = true;
        var channels = new Dictionary<int, Aead>();
        var masters = new Dictionary<int, byte[]>();
        try
        {
            foreach (int j in graph.Neighbours(_id))
            {
                if (!advertised[j]) continue;
                AdvertiseKeys peer = roster[j];
                byte[] ck = KeySchedule.ChannelKey(_channelKey, peer.ChannelPublicKey, _p.SessionId, _id, j);
                try { channels[j] = new Aead(ck); }
                finally { CryptographicOperations.ZeroMemory(ck); }
                masters[j] = KeySchedule.PairwiseMaster(_maskKey, peer.MaskPublicKey, _p.SessionId, _id, j);
            }
        }
        catch
        {
            foreach (Aead a in channels.Values) a.Dispose();
            foreach (byte[] m in masters.Values) CryptographicOperations.ZeroMemory(m);
            throw;
        }
        foreach (var (j, a) in channels) _channels[j] = a;
        foreach (var (j, m) in masters) _pairMasters[j] = m;
        _advertised = advertised;
        _roster = roster;
        _graphSeed = seed;
        _graph = graph;
    }

    /// <summary>Round step 1 (ShareKeys): draws the round secrets and returns the signed ShareKeys message.</summary>
    /// <param name="round">Round number; strictly greater than every earlier round of this session (1, 2, ...), failed ones included.</param>
    /// <returns>The serialized <c>MaskingBankMessage</c> carrying ShareKeys (SPEC.md 9 type 3, 14.3).</returns>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState (setup not finished, the session aborted, a round number not above
    /// the last); TooFewParticipants (fewer than t advertised holders: this bank cannot take part in any round). The state is unchanged.
    /// A round this bank was still in is abandoned and its secrets zeroed.</exception>
    public byte[] BeginRound(uint round)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (State is BankAdvertiseKeys or BankGraphSeed or BankAborted) throw WrongState("BeginRound");
        if (round == 0 || round <= _lastRound) throw Error.Violation(ViolationReason.WrongRoundOrState, "Round numbers must increase strictly.");
        int[] holders = Graph.Holders(_id).Where(h => _advertised[h]).ToArray();
        if (holders.Length < _p.Threshold) throw Error.Violation(ViolationReason.TooFewParticipants, "Too few advertised neighbours to share this bank's secrets.");

        byte[] b = new byte[32], kappa = new byte[32];
        byte[] plain = new byte[EncryptedShare.PlaintextSize];
        ShamirShare[] bShares = [], kShares = [];
        int own = Array.IndexOf(holders, _id);
        System.Diagnostics.Debug.Assert(own >= 0, "a bank holds a share of its own secrets (MaskingParameters.Holders)");
        bool started = false;
        try
        {
            _rng.GetBytes(b);
            _rng.GetBytes(kappa);
            int[] xs = holders.Select(h => h + 1).ToArray();
            using (FieldElement521 secret = Shamir.SeedToElement(b)) bShares = Shamir.P521.SplitAt(secret, _p.Threshold, xs, _rng);
            using (FieldElement521 secret = Shamir.SeedToElement(kappa)) kShares = Shamir.P521.SplitAt(secret, _p.Threshold, xs, _rng);
            var shares = new List<EncryptedShare>(holders.Length);
            for (int h = 0; h < holders.Length; h++)
            {
                int holder = holders[h];
                if (holder == _id) continue;
                ShareBundle.Encode(_id, holder, round, bShares[h].Y, kShares[h].Y, plain);
                byte[] ct = _channels[holder].Seal(Aead.Nonce(round, (uint)_id, (uint)holder), plain, ShareAd(round, _id, holder));
                shares.Add(new EncryptedShare(holder, ct));
            }
            var escrows = new List<EscrowedSeed>();
            foreach (int q in Graph.Neighbours(_id))
            {
                if (!_advertised[q]) continue;
                byte[] seed = KeySchedule.PairwiseSeed(_pairMasters[q], _p.SessionId, round, _id, q);
                try
                {
                    byte[] pad = KeySchedule.EscrowPad(kappa, _p.SessionId, round, _id, q);
                    for (int i = 0; i < 32; i++) pad[i] ^= seed[i];
                    escrows.Add(new EscrowedSeed(q, pad));
                }
                finally { CryptographicOperations.ZeroMemory(seed); }
            }
            byte[] message = new ShareKeys(_p.SessionId, round, _id, shares, escrows).Encode(_identity);
            ReleaseRoundSecrets(State); // a previous round this bank dropped out of
            _lastRound = round;
            State = new BankShareKeys(round, b, bShares[own].Y, kShares[own].Y); // the bank is one of its own holders
            started = true;
            return message;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(kappa);
            for (int h = 0; h < bShares.Length; h++) if (!started || h != own) bShares[h].Dispose();
            for (int h = 0; h < kShares.Length; h++) if (!started || h != own) kShares[h].Dispose();
            if (!started) CryptographicOperations.ZeroMemory(b);
        }
    }

    /// <summary>Round step 2 (MaskedInput): decrypt the peers' shares and return the signed masked input.</summary>
    /// <param name="message">The ShareDelivery addressed to this bank.</param>
    /// <param name="input">This bank's vector, every value below 2^k.</param>
    /// <returns>The serialized <c>MaskingBankMessage</c> carrying MaskedInput (SPEC.md 9 type 5, 14.3).</returns>
    /// <exception cref="ArgumentException">A value of <paramref name="input"/> not below 2^k.</exception>
    /// <exception cref="ProtocolViolationException">Refused, state unchanged: Malformed, WrongRoundOrState, UnknownSender, Duplicate,
    /// AuthenticationFailed (a bundle that does not open). TooFewParticipants: fewer than t holders of this bank's shares are present;
    /// the round ends for this bank (Ready, round spent, secrets zeroed: SPEC.md 8.3).</exception>
    public byte[] ReceiveShares(ReadOnlySpan<byte> message, ReadOnlySpan<ulong> input) => ReceiveShares(message, input, reuse: null);

    /// <summary>As <see cref="ReceiveShares(ReadOnlySpan{byte}, ReadOnlySpan{ulong})"/>; the masked input is written into
    /// <paramref name="reuse"/> (and that array returned) when it has the message's size: the caller's previous masked input of
    /// the same length, which nothing reads any more. If the step throws after writing into it (a refusal never does), its bytes
    /// are zeroed (they held this bank's input under partial masks) and the caller must not send them.</summary>
    internal byte[] ReceiveShares(ReadOnlySpan<byte> message, ReadOnlySpan<ulong> input, byte[]? reuse)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ulong limit = ModVector.Mask(_p.ModulusBits);
        int above = input.IndexOfAnyExceptInRange(0UL, limit);
        if (above >= 0) throw Error.Argument(nameof(input), $"The value at index {above} is not below 2^{_p.ModulusBits}.");
        ShareDelivery delivery = MaskingWire.DecodeToBank<ShareDelivery>(message, _maxMessageBytes);
        if (State is not BankShareKeys st) throw WrongState("ShareDelivery");
        CheckSessionRound(delivery.SessionId, delivery.Round, st.Round);
        if (delivery.Recipient != _id) throw Error.Violation(ViolationReason.Malformed, "The delivery is addressed to another bank.");
        var held = new Dictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> { [_id] = (st.OwnSelfShare, st.OwnPairwiseShare) };
        byte[] plain = new byte[EncryptedShare.PlaintextSize];
        byte[]? result = null;
        bool kept = false;
        try
        {
            foreach (EncryptedShare s in delivery.Shares)
            {
                if (s.Peer >= _p.Banks || s.Peer == _id || !Graph.AreNeighbours(_id, s.Peer) || !_advertised[s.Peer])
                    throw Error.Violation(ViolationReason.UnknownSender, "A share comes from a bank that is not an advertised neighbour.");
                if (held.ContainsKey(s.Peer)) throw Error.Violation(ViolationReason.Duplicate, "Two shares from the same bank.");
                _channels[s.Peer].Open(Aead.Nonce(st.Round, (uint)s.Peer, (uint)_id), s.Ciphertext, ShareAd(st.Round, s.Peer, _id), plain);
                held[s.Peer] = ShareBundle.Decode(plain, s.Peer, _id, st.Round);
            }
            CryptographicOperations.ZeroMemory(plain);
            if (held.Count < _p.Threshold) throw RoundFailed(ViolationReason.TooFewParticipants, "Fewer than t holders of this bank's shares are still present; the round ends for this bank.");

            // y = x + PRG(b) + sum_{j > i} PRG(s_ij) - sum_{j < i} PRG(s_ij)  (mod 2^k), packed straight into the message body
            // (every byte of it is written below: megabytes for a long vector, neither zeroed first nor copied afterwards).
            result = MaskedInput.NewMessage(_p.SessionId, st.Round, _id, _p.ModulusBits, input.Length, reuse, out int packedOffset);
            Span<byte> packed = result.AsSpan(packedOffset, result.Length - packedOffset - 2 - Wire.SignatureSize);
            var jobs = new List<MaskJob>(held.Count) { new(st.SelfSeed, Subtract: false) };
            try
            {
                foreach (int j in held.Keys)
                    if (j != _id) jobs.Add(new MaskJob(KeySchedule.PairwiseSeed(_pairMasters[j], _p.SessionId, st.Round, _id, j), Subtract: j < _id));
                if (_p.ModulusBits <= 32) ModVector.MaskAndPack32(input, jobs, _p.ModulusBits, packed);   // 32-bit lanes, into the packed bytes
                else
                {
                    var acc = new ulong[input.Length];
                    input.CopyTo(acc);
                    ModVector.AddPrgs(acc, jobs, _p.ModulusBits);
                    ModVector.Reduce(acc, _p.ModulusBits);
                    ModVector.Pack(acc, _p.ModulusBits, packed);
                }
            }
            finally { for (int k = 1; k < jobs.Count; k++) CryptographicOperations.ZeroMemory(jobs[k].Seed); }
            MaskedInput.SignMessage(result, packedOffset, _p.ModulusBits, input.Length, _identity);
            CryptographicOperations.ZeroMemory(st.SelfSeed);
            State = new BankMaskedInput(st.Round, held);
            kept = true;
            return result;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            if (!kept && result is not null) CryptographicOperations.ZeroMemory(result);   // the input under partial masks
            // A refused delivery leaves the state (and this bank's own shares) as they were; the peers' shares decoded from it
            // go. After an abort the own shares went with the state (Abort released it).
            if (!kept)
                foreach (var (peer, (self, pairwise)) in held)
                    if (peer != _id) { self.Dispose(); pairwise.Dispose(); }
        }
    }

    /// <summary>Round step 3 (ConsistencyCheck): sign the survivor list.</summary>
    /// <returns>The serialized <c>MaskingBankMessage</c> carrying the consistency signature (SPEC.md 8.2 step 4, 14.3).</returns>
    /// <exception cref="ProtocolViolationException">Refused, state unchanged: Malformed, WrongRoundOrState, UnknownSender, Inconsistent.
    /// TooFewParticipants: a list below M, which an honest aggregator never sends; the session aborts (BankAborted, SPEC.md 8.3).</exception>
    public byte[] ReceiveSurvivors(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        SurvivorList list = MaskingWire.DecodeToBank<SurvivorList>(message, _maxMessageBytes);
        if (State is not BankMaskedInput st) throw WrongState("SurvivorList");
        CheckSessionRound(list.SessionId, list.Round, st.Round);
        if (list.Survivors.Any(s => s >= _p.Banks)) throw Error.Violation(ViolationReason.UnknownSender, "The survivor list names a bank outside the roster.");
        if (!list.Survivors.Contains(_id)) throw Error.Violation(ViolationReason.Inconsistent, "The survivor list omits this bank although it sent its masked input.");
        foreach (int s in list.Survivors)
            if (s != _id && Graph.AreNeighbours(_id, s) && !st.Held.ContainsKey(s))
                throw Error.Violation(ViolationReason.Inconsistent, "The survivor list names a neighbour that never shared its keys with this bank.");
        // An honest aggregator fails the round itself below M (CloseMaskedInput); a shorter list is a deviation (SPEC.md 8.3).
        if (list.Survivors.Count < _p.MinimumSurvivors) throw Abort(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(list.Survivors.Count, "on the survivor list", _p.MinimumSurvivors, null));
        byte[] survivorBytes = list.SignedBytes();
        byte[] sig = _identity.Sign(survivorBytes);
        State = new BankConsistencyCheck(st.Round, st.Held, list.Survivors.ToArray(), survivorBytes);
        return new ConsistencySignature(_p.SessionId, st.Round, _id, sig).Encode();
    }

    /// <summary>Round step 4 (Unmasking): check the survivors' signatures, then reveal the requested shares.</summary>
    /// <returns>The serialized <c>MaskingBankMessage</c> carrying UnmaskResponse (SPEC.md 9 type 9, 14.3).</returns>
    /// <exception cref="ProtocolViolationException">Refused, state unchanged: Malformed, WrongRoundOrState, UnknownSender, Duplicate,
    /// Refused (both kinds of one peer, a kind that does not match the survivor list). Session aborts (BankAborted): Inconsistent
    /// (another list or a signature over another list), TooFewParticipants (fewer than M signatures: the short side of a split list).</exception>
    public byte[] ReceiveUnmaskRequest(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        UnmaskRequest req = MaskingWire.DecodeToBank<UnmaskRequest>(message, _maxMessageBytes);
        if (State is not BankConsistencyCheck st) throw WrongState("UnmaskRequest");
        CheckSessionRound(req.SessionId, req.Round, st.Round);
        if (req.Recipient != _id) throw Error.Violation(ViolationReason.Malformed, "The request is addressed to another bank.");
        // Structure of the request first (cheap), so that a refused request leaves the state unchanged.
        var seenRequests = new HashSet<(int, ShareKind)>();
        var kindByPeer = new Dictionary<int, ShareKind>();
        var survivors = new HashSet<int>(st.Survivors);
        foreach (ShareRequest q in req.Requests)
        {
            if (!st.Held.ContainsKey(q.Peer)) throw Error.Violation(ViolationReason.UnknownSender, "A share is requested for a bank whose shares this bank does not hold.");
            if (!seenRequests.Add((q.Peer, q.Kind))) throw Error.Violation(ViolationReason.Duplicate, "The same share is requested twice.");
            if (kindByPeer.TryGetValue(q.Peer, out ShareKind other) && other != q.Kind)
                throw Error.Violation(ViolationReason.Refused, "Both the self-mask share and the pairwise-key share of one bank were requested.");
            kindByPeer[q.Peer] = q.Kind;
            if (q.Kind == ShareKind.SelfMask && !survivors.Contains(q.Peer))
                throw Error.Violation(ViolationReason.Refused, "A self-mask share was requested for a bank that is not a survivor.");
            if (q.Kind == ShareKind.PairwiseKey && survivors.Contains(q.Peer))
                throw Error.Violation(ViolationReason.Refused, "A pairwise-key share was requested for a survivor.");
        }
        if (!req.Survivors.SequenceEqual(st.Survivors))
            throw Abort(ViolationReason.Inconsistent, "The aggregator sent a different survivor list than the one this bank signed.");
        var signers = new HashSet<int>();
        foreach (SignerSignature s in req.Signatures)
        {
            if (!survivors.Contains(s.Signer)) throw Abort(ViolationReason.Inconsistent, "A consistency signature comes from a non-survivor.");
            if (!signers.Add(s.Signer)) throw Abort(ViolationReason.Inconsistent, "Two consistency signatures from one bank.");
            if (!Ed25519SigningKey.Verify(_identityKeys[s.Signer], st.SurvivorBytes, s.Signature))
                throw Abort(ViolationReason.Inconsistent, $"Bank {s.Signer} signed a different survivor list (or its signature is forged).");
        }
        // An honest aggregator relays every signature and fails the round itself below M (CloseConsistencyCheck): fewer here
        // is the short side of a split survivor list (SPEC.md 11.1), so the session ends.
        if (signers.Count < _p.MinimumSurvivors) throw Abort(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(signers.Count, "sent consistency signatures", _p.MinimumSurvivors, null));

        var revealed = new List<RevealedShare>(req.Requests.Count);
        foreach (ShareRequest q in req.Requests)
        {
            var (self, pairwise) = st.Held[q.Peer];
            byte[] y = new byte[66];
            Shamir.P521.EncodeElement(q.Kind == ShareKind.SelfMask ? self : pairwise, y);
            revealed.Add(new RevealedShare(q.Peer, q.Kind, y));
        }
        byte[] response = new UnmaskResponse(_p.SessionId, st.Round, _id, revealed).Encode(_identity);
        ReleaseRoundSecrets(st); // the round is over for this bank: every held share goes
        State = new BankCompleted(st.Round);
        return response;
    }

    /// <summary>The aggregator's abort (SPEC.md 8.3): the round this bank is in ended without a sum. Zeroes the round's
    /// secrets and returns to <see cref="BankReady"/> with the round spent. Idempotent for a round that already ended that way.
    /// Round 0: the aggregator ended the session; the bank zeroes its round secrets and moves to <see cref="BankAborted"/>.</summary>
    /// <param name="message">The RoundAbort.</param>
    /// <exception cref="ProtocolViolationException">Refused, state unchanged: Malformed, WrongRoundOrState (another session, another
    /// round than the one this bank is in or last ended, or no round begun, or the session aborted).</exception>
    public void ReceiveRoundAbort(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RoundAbort abort = MaskingWire.DecodeToBank<RoundAbort>(message, _maxMessageBytes);
        CheckSession(abort.SessionId);
        if (abort.Round == 0)
        {
            // The aggregator ended the session: nothing of it can continue.
            if (State is BankAborted) throw WrongState("Abort");
            ReleaseRoundSecrets(State);
            State = new BankAborted(State.Round, abort.Reason);
            return;
        }
        switch (State)
        {
            case BankReady ready when ready.Round == abort.Round && ready.Round != 0:
                return; // this bank already ended the round (its own failure, or a repeated notice)
            case BankShareKeys or BankMaskedInput or BankConsistencyCheck or BankCompleted when State.Round == abort.Round:
                ReleaseRoundSecrets(State);
                State = new BankReady(abort.Round, abort.Reason);
                return;
            case BankShareKeys or BankMaskedInput or BankConsistencyCheck or BankCompleted or BankReady:
                throw Error.Violation(ViolationReason.WrongRoundOrState, $"The RoundAbort is for round {abort.Round}, this bank is in round {State.Round}.");
            default:
                throw WrongState("RoundAbort");
        }
    }

    /// <summary>Ends the current round locally (a deadline missed: the aggregator went silent). Zeroes the round's secrets and
    /// returns to <see cref="BankReady"/> with the round spent (SPEC.md 8.3); no-op when no round is running.</summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState during setup or after the session aborted.</exception>
    public void AbandonRound()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        switch (State)
        {
            case BankReady: return;
            case BankShareKeys or BankMaskedInput or BankConsistencyCheck:
                ReleaseRoundSecrets(State);
                State = new BankReady(State.Round, ViolationReason.TooFewParticipants);
                return;
            case BankCompleted done:
                State = new BankReady(done.Round);
                return;
            default: throw WrongState("AbandonRound");
        }
    }

    /// <summary>Zeroes the round secrets <paramref name="state"/> holds: b_i and this bank's own shares (ShareKeys), or every
    /// share it holds, its own included (MaskedInput, ConsistencyCheck). Other states hold none.</summary>
    private static void ReleaseRoundSecrets(BankState state)
    {
        switch (state)
        {
            case BankShareKeys s:
                CryptographicOperations.ZeroMemory(s.SelfSeed);
                s.OwnSelfShare.Dispose();
                s.OwnPairwiseShare.Dispose();
                break;
            case BankMaskedInput m: DisposeHeld(m.Held); break;
            case BankConsistencyCheck c: DisposeHeld(c.Held); break;
        }
    }

    private static void DisposeHeld(IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> held)
    {
        foreach (var (self, pairwise) in held.Values)
        {
            self.Dispose();
            pairwise.Dispose();
        }
    }

    private byte[] ShareAd(uint round, int owner, int holder)
    {
        var w = new WireWriter(64);
        w.Bytes(Wire.ShareAdLabel);
        w.Bytes(_p.SessionId);
        w.U32(round);
        w.U32((uint)owner);
        w.U32((uint)holder);
        return w.ToArray();
    }

    private void CheckSession(byte[] sessionId)
    {
        if (!sessionId.AsSpan().SequenceEqual(_p.SessionId)) throw Error.Violation(ViolationReason.WrongRoundOrState, "The message belongs to another session.");
    }

    private void CheckSessionRound(byte[] sessionId, uint round, uint expected)
    {
        CheckSession(sessionId);
        if (round != expected) throw Error.Violation(ViolationReason.WrongRoundOrState, $"The message is for round {round}, this bank is in round {expected}.");
    }

    private ProtocolViolationException WrongState(string what)
        => Error.Violation(ViolationReason.WrongRoundOrState, $"{what} is not expected in state {State.Stage}.");

    /// <summary>A benign, round-local failure: zero the round's secrets, back to Ready with the round spent (SPEC.md 8.3).</summary>
    private ProtocolViolationException RoundFailed(ViolationReason reason, string message)
    {
        ReleaseRoundSecrets(State);
        State = new BankReady(State.Round, reason);
        return Error.Violation(reason, message);
    }

    /// <summary>Evidence of an attack: zero the round's secrets and end the session (BankAborted, terminal).</summary>
    private ProtocolViolationException Abort(ViolationReason reason, string message)
    {
        ReleaseRoundSecrets(State);
        State = new BankAborted(State.Round, reason);
        return Error.Violation(reason, message);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ReleaseRoundSecrets(State);
        foreach (Aead a in _channels.Values) a.Dispose();
        foreach (byte[] m in _pairMasters.Values) CryptographicOperations.ZeroMemory(m);
        _channelKey.Dispose();
        _maskKey.Dispose();
        CryptographicOperations.ZeroMemory(_graphNonce);
    }
}
