// The aggregator (server) side of the masking protocol (Bonawitz et al. CCS'17 section 4; SecAgg+ graph of
// Bell et al. CCS'20; SPEC.md "Masking protocol"). During setup it relays the banks' signed graph-seed commitments
// and reveals and checks them as every bank does; it contributes nothing to the seed (SPEC.md 8.1). It relays
// encrypted shares it cannot read, adds the
// masked inputs as they arrive (one running sum, no per-bank copy), and at the end removes
//   - every survivor's self mask PRG(b_i), b_i reconstructed from t shares, and
//   - for every bank d that shared keys but sent no input, the pairwise masks PRG(s^r_id) of its surviving
//     neighbours i, with s^r_id = escrow_{d,i} XOR pad(kappa_d) and kappa_d reconstructed from t shares.
// It only ever asks one kind of share per bank, so it never holds b_i and the round seeds of the same bank.
// Unmasking cost: (|U2| + pairs(dropped, survivors)) PRG expansions of the vector length.
// Every refused message throws ProtocolViolationException and leaves State unchanged. A benign, round-local failure (fewer
// than MinimumSurvivors when a round stage closes, fewer than t shares for a needed secret, AbandonRound for a deadline
// missed) throws TooFewParticipants, wipes the round's data and returns to AggregatorReady with the round spent and a
// RoundAbort to broadcast (SPEC.md 8.3). Only evidence of an attack (revealed shares off one polynomial, a seed that does
// not decode) or a failed session setup ends the session (AggregatorAborted).
// Finish zeroes what unmasking handled: the decoded share values, the reconstructed secrets, the recovered seeds and the
// revealed share bytes of the responses.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Protocol.Masking;

/// <summary>Base of the aggregator's state classes.</summary>
public abstract class AggregatorState
{
    private protected AggregatorState(uint round) => Round = round;
    /// <summary>The round (0 during setup).</summary>
    public uint Round { get; }
    /// <summary>The stage.</summary>
    public abstract MaskingStage Stage { get; }
    /// <inheritdoc />
    public override string ToString() => $"{Stage}(round {Round})";
}

/// <summary>Collecting AdvertiseKeys.</summary>
public sealed class AggregatorAdvertiseKeys : AggregatorState
{
    internal AggregatorAdvertiseKeys(IReadOnlyDictionary<int, AdvertiseKeys> received) : base(0) => Received = received;
    internal IReadOnlyDictionary<int, AdvertiseKeys> Received { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.AdvertiseKeys;
}

/// <summary>Key roster sent; collecting GraphSeedReveal messages.</summary>
public sealed class AggregatorGraphSeed : AggregatorState
{
    internal AggregatorGraphSeed(IReadOnlyDictionary<int, AdvertiseKeys> roster, IReadOnlyDictionary<int, GraphSeedReveal> reveals) : base(0)
    {
        Roster = roster;
        Reveals = reveals;
    }
    internal IReadOnlyDictionary<int, AdvertiseKeys> Roster { get; }
    internal IReadOnlyDictionary<int, GraphSeedReveal> Reveals { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.GraphSeed;
}

/// <summary>Keys distributed and graph fixed; no round running. After a round that failed benignly the aggregator is back here
/// with that round spent (<see cref="AggregatorState.Round"/>), its data wiped and <see cref="AbortNotice"/> to broadcast.</summary>
public sealed class AggregatorReady : AggregatorState
{
    internal AggregatorReady(uint lastRound, ViolationReason? lastRoundFailure = null, byte[]? abortNotice = null) : base(lastRound)
    {
        LastRoundFailure = lastRoundFailure;
        AbortNotice = abortNotice;
    }
    /// <summary>Why round <see cref="AggregatorState.Round"/> ended without a sum, or null after setup.</summary>
    public ViolationReason? LastRoundFailure { get; }
    /// <summary>The encoded RoundAbort for that round, to send to every bank that took part in it (null after setup).</summary>
    public byte[]? AbortNotice { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Ready;
}

/// <summary>Collecting ShareKeys for a round.</summary>
public sealed class AggregatorShareKeys : AggregatorState
{
    internal AggregatorShareKeys(uint round, int length, IReadOnlyDictionary<int, ShareKeys> received) : base(round) { Length = length; Received = received; }
    /// <summary>Vector length of the round.</summary>
    public int Length { get; }
    internal IReadOnlyDictionary<int, ShareKeys> Received { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.ShareKeys;
}

/// <summary>Collecting masked inputs (U1 fixed).</summary>
public sealed class AggregatorMaskedInput : AggregatorState
{
    internal AggregatorMaskedInput(uint round, int length, IReadOnlyDictionary<int, ShareKeys> u1, ulong[] sum, IReadOnlySet<int> received)
        : base(round) { Length = length; U1 = u1; Sum = sum; Received = received; }
    /// <summary>Vector length of the round.</summary>
    public int Length { get; }
    internal IReadOnlyDictionary<int, ShareKeys> U1 { get; }
    internal ulong[] Sum { get; }
    internal IReadOnlySet<int> Received { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.MaskedInput;
}

/// <summary>Collecting consistency signatures (U2 fixed).</summary>
public sealed class AggregatorConsistencyCheck : AggregatorState
{
    internal AggregatorConsistencyCheck(AggregatorMaskedInput prior, int[] u2, byte[] survivorBytes, IReadOnlyDictionary<int, byte[]> signatures)
        : base(prior.Round) { Prior = prior; U2 = u2; SurvivorBytes = survivorBytes; Signatures = signatures; }
    internal AggregatorMaskedInput Prior { get; }
    /// <summary>Survivors: banks whose masked inputs are in the sum.</summary>
    public IReadOnlyList<int> U2 { get; }
    internal byte[] SurvivorBytes { get; }
    internal IReadOnlyDictionary<int, byte[]> Signatures { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.ConsistencyCheck;
}

/// <summary>Collecting unmask responses (U3 fixed).</summary>
public sealed class AggregatorUnmasking : AggregatorState
{
    internal AggregatorUnmasking(AggregatorConsistencyCheck prior, IReadOnlyDictionary<int, ShareRequest[]> requests, IReadOnlyDictionary<int, UnmaskResponse> responses)
        : base(prior.Round) { Prior = prior; Requests = requests; Responses = responses; }
    internal AggregatorConsistencyCheck Prior { get; }
    internal IReadOnlyDictionary<int, ShareRequest[]> Requests { get; }
    internal IReadOnlyDictionary<int, UnmaskResponse> Responses { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Unmasking;
}

/// <summary>The round's sum is known.</summary>
public sealed class AggregatorCompleted : AggregatorState
{
    internal AggregatorCompleted(uint round, ulong[] sum, int[] contributors) : base(round) { Sum = sum; Contributors = contributors; }
    /// <summary>Sum mod 2^k of the survivors' inputs.</summary>
    public ulong[] Sum { get; }
    /// <summary>The survivors U2, ascending.</summary>
    public IReadOnlyList<int> Contributors { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Completed;
}

/// <summary>The aggregator ended the session: setup failed, or evidence of an attack (SPEC.md 8.3). Terminal.</summary>
public sealed class AggregatorAborted : AggregatorState
{
    internal AggregatorAborted(uint round, ViolationReason reason) : base(round) => Reason = reason;
    /// <summary>Why.</summary>
    public ViolationReason Reason { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Aborted;
}

/// <summary>The aggregator's masking-protocol endpoint. Pure: no I/O, no clock.</summary>
public sealed class MaskingAggregator
{
    private readonly MaskingParameters _p;
    private readonly byte[][] _identityKeys;
    private bool[] _advertised = [];
    private NeighbourGraph? _graph;
    private byte[]? _graphSeed;
    private uint _lastRound;
    private readonly int _maxMessageBytes;

    /// <summary>Creates the aggregator for a session with the banks' Ed25519 public keys (by id).</summary>
    /// <param name="parameters">The session's parameters (N, t, k, session id...).</param>
    /// <param name="identityPublicKeys">Bank i's 32-byte Ed25519 public key at index i (N keys). Public; nothing this party
    /// holds is secret beyond the round's running sum.</param>
    /// <param name="maxMessageBytes">Largest bank message accepted, in bytes (default <see cref="MaskingWire.DefaultMaxMessageBytes"/>,
    /// 1 GiB: a masked input of 2^24 64-bit values fits); a larger one is refused as Oversized before it is parsed. Set it to about
    /// k/8 x the longest vector plus 1 KiB to refuse a flood early.</param>
    /// <exception cref="ArgumentNullException">A null argument.</exception>
    /// <exception cref="ArgumentException">A roster without one 32-byte key per bank.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxMessageBytes"/> below 1 KiB.</exception>
    public MaskingAggregator(MaskingParameters parameters, IReadOnlyList<byte[]> identityPublicKeys, int maxMessageBytes = MaskingWire.DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(identityPublicKeys);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessageBytes, MaskingWire.MinMaxMessageBytes);
        _maxMessageBytes = maxMessageBytes;
        if (identityPublicKeys.Count != parameters.Banks || identityPublicKeys.Any(k => k is null || k.Length != Ed25519SigningKey.PublicKeySize))
            throw Error.Argument(nameof(identityPublicKeys), "One 32-byte Ed25519 public key per bank is required.");
        _p = parameters;
        _identityKeys = identityPublicKeys.Select(k => k.ToArray()).ToArray();
        State = new AggregatorAdvertiseKeys(new Dictionary<int, AdvertiseKeys>());
    }

    /// <summary>Number of banks N in the session's roster.</summary>
    public int Banks => _p.Banks;

    /// <summary>The current state object (replaced on every transition, untouched by refused messages).</summary>
    public AggregatorState State { get; private set; }

    /// <summary>The session's neighbour graph, fixed by the graph-seed agreement (SPEC.md 8.1).</summary>
    /// <exception cref="InvalidOperationException">Before <see cref="CloseGraphSeed"/>.</exception>
    public NeighbourGraph Graph => _graph ?? throw new InvalidOperationException("The graph is fixed when the graph-seed reveals are closed.");

    /// <summary>The session's 32-byte graph seed (public), or null before <see cref="CloseGraphSeed"/>.</summary>
    public byte[]? GraphSeedValue => _graphSeed?.ToArray();

    /// <summary>Accepts one serialized <c>MaskingBankMessage</c> (SPEC.md 14.3): AdvertiseKeys, GraphSeedReveal, ShareKeys, MaskedInput,
    /// ConsistencySignature, UnmaskResponse, or a bank's abort of the running round. The sender is the one the body names (checked
    /// against its signature); a transport that authenticates its banks uses <see cref="Receive(int, ReadOnlySpan{byte})"/> instead.</summary>
    /// <exception cref="ProtocolViolationException">Any refusal (typed reason); the state is unchanged.</exception>
    public void Receive(ReadOnlySpan<byte> message) => Apply(Decode(message));

    /// <summary>
    /// Accepts one serialized <c>MaskingBankMessage</c> that the transport delivered from bank <paramref name="fromBank"/> (its
    /// authenticated identity, e.g. the mutual-TLS client certificate). SPEC.md 14.1: the sender is the transport's identity, so a
    /// message whose body names another bank, or a sender outside the roster, is refused (UnknownSender) after parsing and before
    /// any state is touched.
    /// </summary>
    /// <param name="fromBank">The sender's roster index as the transport authenticated it (0..N-1).</param>
    /// <param name="message">The serialized wrapper (SPEC.md 14.3).</param>
    /// <exception cref="ProtocolViolationException">Malformed or Oversized (parsing comes first), UnknownSender (a transport sender outside
    /// 0..N-1, or a body naming another bank than <paramref name="fromBank"/>), or any refusal of
    /// <see cref="Receive(ReadOnlySpan{byte})"/>; the state is unchanged.</exception>
    public void Receive(int fromBank, ReadOnlySpan<byte> message)
    {
        MaskingToAggregator m = Decode(message);
        if (fromBank < 0 || fromBank >= _p.Banks) throw Error.Violation(ViolationReason.UnknownSender, $"bank {fromBank}: the transport's sender is outside the roster of {_p.Banks} banks.");
        if (NamedSender(m) is { } named && named != fromBank)
            throw Error.Violation(ViolationReason.UnknownSender, $"bank {fromBank}: the message names bank {named} as its sender.");
        Apply(m);
    }

    /// <summary>As <see cref="Receive(ReadOnlySpan{byte})"/> for a message the caller already decoded with
    /// <see cref="MaskingWire.DecodeToAggregator(ReadOnlySpan{byte}, int)"/> (and whose sender it already checked, as
    /// <see cref="Receive(int, ReadOnlySpan{byte})"/> does): the appliance decodes once, outside its lock, and hands the result
    /// here instead of the bytes being decoded a second time.</summary>
    /// <exception cref="ProtocolViolationException">any refusal of <see cref="Receive(ReadOnlySpan{byte})"/> after decoding; the
    /// state is unchanged.</exception>
    internal void ReceiveDecoded(MaskingToAggregator decoded)
    {
        ArgumentNullException.ThrowIfNull(decoded);
        Apply(decoded);
    }

    /// <summary>The bank a bank message's body names as its sender (SPEC.md 14.1), or null for a message without one (a bank's
    /// Abort); a transport compares it with the bank it authenticated.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="m"/> is null.</exception>
    public static int? NamedSender(MaskingToAggregator m) => m switch
    {
        AdvertiseKeys a => a.Sender,
        GraphSeedReveal g => g.Sender,
        ShareKeys k => k.Sender,
        MaskedInput x => x.Sender,
        ConsistencySignature c => c.Sender,
        UnmaskResponse u => u.Sender,
        null => throw new ArgumentNullException(nameof(m)),
        _ => null,
    };

    private MaskingToAggregator Decode(ReadOnlySpan<byte> message) => MaskingWire.DecodeToAggregator(message, _maxMessageBytes);

    private void Apply(MaskingToAggregator m)
    {
        if (!m.SessionId.AsSpan().SequenceEqual(_p.SessionId)) throw Error.Violation(ViolationReason.WrongRoundOrState, "The message belongs to another session.");
        switch (m)
        {
            case AdvertiseKeys a: OnAdvertise(a); break;
            case GraphSeedReveal r: OnGraphSeedReveal(r); break;
            case ShareKeys k: OnShareKeys(k); break;
            case MaskedInput x: OnMaskedInput(x); break;
            case ConsistencySignature c: OnConsistency(c); break;
            case UnmaskResponse u: OnUnmask(u); break;
            case BankAbort b: OnBankAbort(b); break;
            default: throw Error.Violation(ViolationReason.Malformed, "Unknown bank message.");
        }
    }

    /// <summary>A bank leaves the running round (SPEC.md 8.3). Nothing to record: it is a dropout, and the stage closes without
    /// it. Refused outside that round, or for round 0 (a bank leaving the session is not a round event).</summary>
    private void OnBankAbort(BankAbort m)
    {
        if (State is not (AggregatorShareKeys or AggregatorMaskedInput or AggregatorConsistencyCheck or AggregatorUnmasking)) throw WrongState("Abort");
        CheckRound(m.Round, State.Round);
    }

    private void OnAdvertise(AdvertiseKeys m)
    {
        if (State is not AggregatorAdvertiseKeys st) throw WrongState("AdvertiseKeys");
        CheckSender(m.Sender);
        if (st.Received.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already advertised its keys.");
        if (!m.VerifySignature(_identityKeys[m.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, "The AdvertiseKeys signature does not verify.");
        State = new AggregatorAdvertiseKeys(new Dictionary<int, AdvertiseKeys>(st.Received) { [m.Sender] = m });
    }

    /// <summary>Ends key collection: returns the KeyRoster to broadcast, or aborts if fewer than the minimum advertised.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants (aborts); WrongRoundOrState in another state.</exception>
    public byte[] CloseAdvertiseKeys()
    {
        if (State is not AggregatorAdvertiseKeys st) throw WrongState("CloseAdvertiseKeys");
        if (st.Received.Count < _p.MinimumSurvivors) throw Abort(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(st.Received.Count, "advertised keys", _p.MinimumSurvivors, null));
        _advertised = new bool[_p.Banks];
        foreach (int id in st.Received.Keys) _advertised[id] = true;
        byte[] roster = new KeyRoster(_p.SessionId, st.Received.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray()).Encode();
        State = new AggregatorGraphSeed(st.Received, new Dictionary<int, GraphSeedReveal>());
        return roster;
    }

    private void OnGraphSeedReveal(GraphSeedReveal m)
    {
        if (State is not AggregatorGraphSeed st) throw WrongState("GraphSeedReveal");
        CheckSender(m.Sender);
        if (!st.Roster.TryGetValue(m.Sender, out AdvertiseKeys? advert)) throw Error.Violation(ViolationReason.UnknownSender, "The sender did not advertise keys in this session.");
        if (st.Reveals.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already revealed its graph-seed nonce.");
        if (!m.VerifySignature(_identityKeys[m.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, "The GraphSeedReveal signature does not verify.");
        if (!GraphSeed.Opens(_p.SessionId, m.Sender, advert.GraphCommitment, m.Nonce))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "The revealed nonce does not open the bank's graph-seed commitment.");
        State = new AggregatorGraphSeed(st.Roster, new Dictionary<int, GraphSeedReveal>(st.Reveals) { [m.Sender] = m });
    }

    /// <summary>Ends setup: returns the GraphSeedRoster to broadcast and fixes the graph from the same seed the banks derive.</summary>
    /// <exception cref="ProtocolViolationException">Inconsistent (aborts) when a bank of the key roster did not reveal: without every
    /// committed nonce the seed cannot be fixed (start a new session); WrongRoundOrState in another state.</exception>
    public byte[] CloseGraphSeed()
    {
        if (State is not AggregatorGraphSeed st) throw WrongState("CloseGraphSeed");
        if (st.Reveals.Count != st.Roster.Count) throw Abort(ViolationReason.Inconsistent, "A bank of the key roster did not reveal its graph-seed nonce.");
        byte[] roster = new GraphSeedRoster(_p.SessionId, st.Reveals.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray()).Encode();
        byte[] seed = GraphSeed.Derive(_p.SessionId, st.Reveals.ToDictionary(kv => kv.Key, kv => kv.Value.Nonce));
        _graph = _p.BuildGraph(seed);
        _graphSeed = seed;
        State = new AggregatorReady(0);
        return roster;
    }

    /// <summary>Banks whose keys are in the roster.</summary>
    public IReadOnlyList<int> Advertised => Enumerable.Range(0, _advertised.Length).Where(i => _advertised[i]).ToArray();

    /// <summary>Ends the running round without a sum (a deadline missed): wipes its data and returns to Ready with the round spent.</summary>
    /// <returns>The RoundAbort to send to every bank that took part in the round.</returns>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState when no round is running; nothing changes.</exception>
    public byte[] AbandonRound()
    {
        if (State is not (AggregatorShareKeys or AggregatorMaskedInput or AggregatorConsistencyCheck or AggregatorUnmasking)) throw WrongState("AbandonRound");
        _ = RoundFailed(ViolationReason.TooFewParticipants, "The round was abandoned.");
        return ((AggregatorReady)State).AbortNotice!;
    }

    /// <summary>Starts round <paramref name="round"/> (strictly increasing) for vectors of <paramref name="length"/> values.</summary>
    public void BeginRound(uint round, int length)
    {
        if (State is not (AggregatorReady or AggregatorCompleted)) throw WrongState("BeginRound");
        if (round == 0 || round <= _lastRound) throw Error.Violation(ViolationReason.WrongRoundOrState, "Round numbers must increase strictly.");
        if (length < 1) throw Error.OutOfRange(nameof(length), "The vector length must be positive.");
        _lastRound = round;
        State = new AggregatorShareKeys(round, length, new Dictionary<int, ShareKeys>());
    }

    private void OnShareKeys(ShareKeys m)
    {
        if (State is not AggregatorShareKeys st) throw WrongState("ShareKeys");
        CheckRound(m.Round, st.Round);
        CheckSender(m.Sender);
        if (!_advertised[m.Sender]) throw Error.Violation(ViolationReason.UnknownSender, "The sender did not advertise keys in this session.");
        if (st.Received.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already sent ShareKeys this round.");
        int[] expectedHolders = Graph.Holders(m.Sender).Where(h => h != m.Sender && _advertised[h]).ToArray();
        int[] expectedPeers = Graph.Neighbours(m.Sender).Where(q => _advertised[q]).ToArray();
        if (!m.Shares.Select(s => s.Peer).Order().SequenceEqual(expectedHolders))
            throw Error.Violation(ViolationReason.Malformed, "ShareKeys must carry exactly one bundle per advertised holder.");
        if (!m.Escrows.Select(e => e.Peer).Order().SequenceEqual(expectedPeers))
            throw Error.Violation(ViolationReason.Malformed, "ShareKeys must carry exactly one escrow per advertised neighbour.");
        if (!m.VerifySignature(_identityKeys[m.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, "The ShareKeys signature does not verify.");
        State = new AggregatorShareKeys(st.Round, st.Length, new Dictionary<int, ShareKeys>(st.Received) { [m.Sender] = m });
    }

    /// <summary>Ends ShareKeys (U1 fixed): returns each participant's ShareDelivery.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants below the minimum: the round fails (back to Ready, SPEC.md 8.3).</exception>
    public IReadOnlyDictionary<int, byte[]> CloseShareKeys()
    {
        if (State is not AggregatorShareKeys st) throw WrongState("CloseShareKeys");
        if (st.Received.Count < _p.MinimumSurvivors) throw RoundFailed(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(st.Received.Count, "shared keys", _p.MinimumSurvivors, "the round ends"));
        var deliveries = new Dictionary<int, byte[]>();
        foreach (int j in st.Received.Keys.Order())
        {
            var bundles = new List<EncryptedShare>();
            foreach (var (i, sk) in st.Received.OrderBy(kv => kv.Key))
                foreach (EncryptedShare s in sk.Shares)
                    if (s.Peer == j) bundles.Add(new EncryptedShare(i, s.Ciphertext));
            deliveries[j] = new ShareDelivery(_p.SessionId, st.Round, j, bundles).Encode();
        }
        State = new AggregatorMaskedInput(st.Round, st.Length, st.Received, NewRunningSum(st.Length), new HashSet<int>());
        return deliveries;
    }

    /// <summary>An array the caller handed back (<see cref="RecycleSum"/>) for the next round's running sum; null if none.</summary>
    private ulong[]? _spareSum;

    /// <summary>Hands back the sum <see cref="Finish"/> returned once nothing reads it any more (the appliance packed it into the
    /// round's mailbox items): the next round of the same length sums into it, zeroed first, instead of a new array (8 bytes
    /// per value, megabytes whose pages a new array faults in afresh). The sum is the round's public output, no secret.</summary>
    internal void RecycleSum(ulong[] sum)
    {
        ArgumentNullException.ThrowIfNull(sum);
        _spareSum = sum;
    }

    /// <summary>A zeroed running sum of <paramref name="length"/> values: the recycled array when it has that length.</summary>
    private ulong[] NewRunningSum(int length)
    {
        ulong[]? spare = _spareSum;
        _spareSum = null;
        if (spare is null || spare.Length != length) return new ulong[length];
        Array.Clear(spare);
        return spare;
    }

    private void OnMaskedInput(MaskedInput m)
    {
        if (State is not AggregatorMaskedInput st) throw WrongState("MaskedInput");
        CheckRound(m.Round, st.Round);
        CheckSender(m.Sender);
        if (!st.U1.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.UnknownSender, "The sender did not share keys this round.");
        if (st.Received.Contains(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already sent its masked input.");
        if (m.ModulusBits != _p.ModulusBits) throw Error.Violation(ViolationReason.Malformed, "The masked input uses another modulus.");
        if (m.Length != st.Length) throw Error.Violation(ViolationReason.Malformed, $"The masked input has length {m.Length}, expected {st.Length}.");
        if (!m.VerifySignature(_identityKeys[m.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, "The MaskedInput signature does not verify.");
        ModVector.UnpackAdd(m.PackedValues, _p.ModulusBits, st.Sum); // the running sum is the only mutable part; added after every check
        State = new AggregatorMaskedInput(st.Round, st.Length, st.U1, st.Sum, new HashSet<int>(st.Received) { m.Sender });
    }

    /// <summary>Ends MaskedInput (U2 fixed): returns the SurvivorList for each survivor.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants below the minimum: the round fails (back to Ready, SPEC.md 8.3).</exception>
    public IReadOnlyDictionary<int, byte[]> CloseMaskedInput()
    {
        if (State is not AggregatorMaskedInput st) throw WrongState("CloseMaskedInput");
        if (st.Received.Count < _p.MinimumSurvivors) throw RoundFailed(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(st.Received.Count, "sent masked inputs", _p.MinimumSurvivors, "the round ends"));
        int[] u2 = st.Received.Order().ToArray();
        var list = new SurvivorList(_p.SessionId, st.Round, u2);
        byte[] encoded = list.Encode();
        State = new AggregatorConsistencyCheck(st, u2, list.SignedBytes(), new Dictionary<int, byte[]>());
        return u2.ToDictionary(j => j, _ => encoded);
    }

    private void OnConsistency(ConsistencySignature m)
    {
        if (State is not AggregatorConsistencyCheck st) throw WrongState("ConsistencySignature");
        CheckRound(m.Round, st.Round);
        CheckSender(m.Sender);
        if (!st.U2.Contains(m.Sender)) throw Error.Violation(ViolationReason.UnknownSender, "The sender is not a survivor.");
        if (st.Signatures.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already signed the survivor list.");
        if (!Ed25519SigningKey.Verify(_identityKeys[m.Sender], st.SurvivorBytes, m.Signature))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "The consistency signature does not verify.");
        State = new AggregatorConsistencyCheck(st.Prior, st.U2.ToArray(), st.SurvivorBytes, new Dictionary<int, byte[]>(st.Signatures) { [m.Sender] = m.Signature });
    }

    /// <summary>Ends ConsistencyCheck (U3 fixed): returns each signer's UnmaskRequest.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants below the minimum: the round fails (back to Ready, SPEC.md 8.3).</exception>
    public IReadOnlyDictionary<int, byte[]> CloseConsistencyCheck()
    {
        if (State is not AggregatorConsistencyCheck st) throw WrongState("CloseConsistencyCheck");
        if (st.Signatures.Count < _p.MinimumSurvivors) throw RoundFailed(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(st.Signatures.Count, "sent consistency signatures", _p.MinimumSurvivors, "the round ends"));
        var u2 = new HashSet<int>(st.U2);
        var u1 = st.Prior.U1;
        SignerSignature[] sigs = st.Signatures.OrderBy(kv => kv.Key).Select(kv => new SignerSignature(kv.Key, kv.Value)).ToArray();
        var requests = new Dictionary<int, ShareRequest[]>();
        var messages = new Dictionary<int, byte[]>();
        foreach (int j in st.Signatures.Keys.Order())
        {
            var list = new List<ShareRequest>();
            foreach (int p in Graph.Holders(j))
            {
                if (!u1.ContainsKey(p)) continue;                    // p shared nothing this round
                if (u2.Contains(p)) list.Add(new ShareRequest(p, ShareKind.SelfMask));
                else if (Graph.Neighbours(p).Any(u2.Contains)) list.Add(new ShareRequest(p, ShareKind.PairwiseKey));
            }
            requests[j] = list.ToArray();
            messages[j] = new UnmaskRequest(_p.SessionId, st.Round, j, st.U2, sigs, list).Encode();
        }
        State = new AggregatorUnmasking(st, requests, new Dictionary<int, UnmaskResponse>());
        return messages;
    }

    private void OnUnmask(UnmaskResponse m)
    {
        if (State is not AggregatorUnmasking st) throw WrongState("UnmaskResponse");
        CheckRound(m.Round, st.Round);
        CheckSender(m.Sender);
        if (!st.Requests.TryGetValue(m.Sender, out ShareRequest[]? asked)) throw Error.Violation(ViolationReason.UnknownSender, "No unmask request was sent to this bank.");
        if (st.Responses.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "This bank already answered.");
        if (!m.Shares.Select(s => new ShareRequest(s.Peer, s.Kind)).SequenceEqual(asked))
            throw Error.Violation(ViolationReason.Malformed, "The response does not answer exactly the requested shares.");
        if (!m.VerifySignature(_identityKeys[m.Sender])) throw Error.Violation(ViolationReason.AuthenticationFailed, "The UnmaskResponse signature does not verify.");
        State = new AggregatorUnmasking(st.Prior, st.Requests, new Dictionary<int, UnmaskResponse>(st.Responses) { [m.Sender] = m });
    }

    /// <summary>Ends Unmasking: reconstructs the needed secrets, removes the masks and returns the sum mod 2^k.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants when a needed secret has fewer than t shares: the round fails
    /// (back to Ready, SPEC.md 8.3). Inconsistent (revealed shares off one polynomial) or Malformed (a seed that does not decode):
    /// the session aborts.</exception>
    public ulong[] Finish()
    {
        if (State is not AggregatorUnmasking st) throw WrongState("Finish");
        AggregatorMaskedInput mi = st.Prior.Prior;
        var u2 = new HashSet<int>(st.Prior.U2);
        var selfShares = new Dictionary<int, List<ShamirShare>>();
        var pairShares = new Dictionary<int, List<ShamirShare>>();
        // Reconstruct everything first (cheap, may abort), then expand masks (expensive).
        var selfSeeds = new List<byte[]>();
        var pairSeeds = new List<(byte[] Seed, bool Subtract)>();
        try
        {
            foreach (var (holder, resp) in st.Responses)
                foreach (RevealedShare s in resp.Shares)
                {
                    var target = s.Kind == ShareKind.SelfMask ? selfShares : pairShares;
                    if (!target.TryGetValue(s.Peer, out var list)) target[s.Peer] = list = [];
                    list.Add(new ShamirShare(holder + 1, Shamir.P521.DecodeElement(s.Y)));
                }
            foreach (int i in u2.Order())
                selfSeeds.Add(ReconstructSeed(selfShares, i, "self-mask"));
            foreach (int d in mi.U1.Keys.Order())
            {
                if (u2.Contains(d)) continue;
                int[] survivingNeighbours = Graph.Neighbours(d).Where(u2.Contains).ToArray();
                if (survivingNeighbours.Length == 0) continue;
                byte[] kappa = ReconstructSeed(pairShares, d, "pairwise-key");
                try
                {
                    var escrows = mi.U1[d].Escrows.ToDictionary(e => e.Peer, e => e.Escrow);
                    foreach (int i in survivingNeighbours)
                    {
                        byte[] seed = KeySchedule.EscrowPad(kappa, _p.SessionId, st.Round, d, i);
                        byte[] escrow = escrows[i];
                        for (int b = 0; b < 32; b++) seed[b] ^= escrow[b];
                        // Survivor i added +PRG(s_id) if d > i and -PRG(s_id) if d < i; remove it.
                        pairSeeds.Add((seed, d > i));
                    }
                }
                finally { CryptographicOperations.ZeroMemory(kappa); }
            }
            ulong[] sum = mi.Sum;
            RemoveMasks(sum, selfSeeds, pairSeeds);
            ModVector.Reduce(sum, _p.ModulusBits);
            State = new AggregatorCompleted(st.Round, sum, u2.Order().ToArray());
            return sum;
        }
        finally
        {
            foreach (byte[] s in selfSeeds) CryptographicOperations.ZeroMemory(s);
            foreach (var (s, _) in pairSeeds) CryptographicOperations.ZeroMemory(s);
            foreach (ShamirShare share in selfShares.Values.Concat(pairShares.Values).SelectMany(l => l)) share.Dispose();
            foreach (UnmaskResponse resp in st.Responses.Values)
                foreach (RevealedShare s in resp.Shares) CryptographicOperations.ZeroMemory(s.Y); // the round is over either way
        }
    }

    private void RemoveMasks(ulong[] sum, List<byte[]> selfSeeds, List<(byte[] Seed, bool Subtract)> pairSeeds)
    {
        var jobs = selfSeeds.Select(s => new MaskJob(s, Subtract: true)).Concat(pairSeeds.Select(p => new MaskJob(p.Seed, p.Subtract))).ToArray();
        ModVector.AddPrgsParallel(sum, jobs, _p.ModulusBits, Environment.ProcessorCount);
    }

    private byte[] ReconstructSeed(Dictionary<int, List<ShamirShare>> shares, int owner, string what)
    {
        if (!shares.TryGetValue(owner, out var list) || list.Count < _p.Threshold)
            throw RoundFailed(ViolationReason.TooFewParticipants, $"Fewer than t {what} shares for bank {owner}; the round ends.");
        ShamirShare[] ordered = list.OrderBy(s => s.X).ToArray();
        using FieldElement521 secret = Shamir.P521.Reconstruct(ordered.AsSpan(0, _p.Threshold)); // same x-set for most secrets: cached Lagrange weights
        // Shares beyond t must lie on the same polynomial: swapping the t-th share for each extra one must give the
        // same secret. A single wrong share (a faulty or malicious bank) changes the result deterministically, so a
        // corrupted seed can never silently turn into a wrong sum when more than t holders answered.
        if (ordered.Length > _p.Threshold)
        {
            var probe = ordered[.._p.Threshold];
            for (int e = _p.Threshold; e < ordered.Length; e++)
            {
                probe[^1] = ordered[e];
                using FieldElement521 other = Shamir.P521.Reconstruct(probe);
                if (!other.FixedTimeEquals(secret))
                    throw Abort(ViolationReason.Inconsistent, $"The revealed {what} shares of bank {owner} are not consistent with one polynomial.");
            }
        }
        var seed = new byte[32];
        try { Shamir.ElementToSeed(secret, seed); }
        catch (ProtocolViolationException) { throw Abort(ViolationReason.Malformed, $"The {what} shares of bank {owner} do not reconstruct a 256-bit seed."); }
        return seed;
    }

    private void CheckSender(int sender)
    {
        if (sender >= _p.Banks) throw Error.Violation(ViolationReason.UnknownSender, "The sender is not in the roster.");
    }

    private static void CheckRound(uint round, uint expected)
    {
        if (round != expected) throw Error.Violation(ViolationReason.WrongRoundOrState, $"The message is for round {round}, the aggregator is in round {expected}.");
    }

    private ProtocolViolationException WrongState(string what)
        => Error.Violation(ViolationReason.WrongRoundOrState, $"{what} is not expected in state {State.Stage}.");

    /// <summary>A benign, round-local failure: wipe the round's data, back to Ready with the round spent (SPEC.md 8.3).</summary>
    private ProtocolViolationException RoundFailed(ViolationReason reason, string message)
    {
        uint round = State.Round;
        WipeRound(State);
        State = new AggregatorReady(round, reason, new RoundAbort(_p.SessionId, round, reason).Encode());
        return Error.Violation(reason, message);
    }

    /// <summary>Evidence of an attack, or a failed setup: wipe the round's data and end the session (terminal).</summary>
    private ProtocolViolationException Abort(ViolationReason reason, string message)
    {
        WipeRound(State);
        State = new AggregatorAborted(State.Round, reason);
        return Error.Violation(reason, message);
    }

    /// <summary>Zeroes what a round state holds: the running sum of masked inputs and the revealed share values.</summary>
    private static void WipeRound(AggregatorState state)
    {
        switch (state)
        {
            case AggregatorMaskedInput m: Array.Clear(m.Sum); break;
            case AggregatorConsistencyCheck c: Array.Clear(c.Prior.Sum); break;
            case AggregatorUnmasking u:
                Array.Clear(u.Prior.Prior.Sum);
                foreach (UnmaskResponse resp in u.Responses.Values)
                    foreach (RevealedShare s in resp.Shares) CryptographicOperations.ZeroMemory(s.Y);
                break;
        }
    }
}
