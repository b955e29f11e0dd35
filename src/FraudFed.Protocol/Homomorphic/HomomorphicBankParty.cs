// HomomorphicBankParty: one bank of the threshold homomorphic mode as a state machine over serialized wire messages
// (SPEC.md 14.2, protocols/fraudfed/v1/homomorphic.proto). It holds its own secrets and the public roster, nothing else.
// States (one class each): AwaitingSessionStart -> CrsCommitted -> CrsRevealed -> KeyShareCommitted -> KeyShareRevealed
// -> ChannelAdvertised -> Thresholdizing -> Ready (rounds, decryption requests, key rotation) ; Aborted.
// Every handler either returns the next state and the messages to send, or throws a typed ProtocolViolationException and
// leaves the party exactly as it was (a message in the wrong state, of another session, malformed...).
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
    private readonly Dictionary<ulong, ViolationReason> _failures = [];
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
    /// uses the OS CSPRNG (seeded generators are for tests only).
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
    /// <summary>Use both cores for work that splits by chunk (benchmarks switch it off to measure one core).</summary>
    public bool Parallel { get; set; } = true;
    /// <summary>The public roster.</summary>
    public HomomorphicRoster Roster { get; }
    /// <summary>Name of the current state (for logs and tests).</summary>
    public string State => _state.Name;
    /// <summary>True once the bank holds its key share for the current key generation.</summary>
    public bool IsReady => _state is Ready;
    /// <summary>Decryption shares the current key may still produce.</summary>
    public long RemainingBudget => _bank.RemainingBudget;
    /// <summary>The bank core (tests drive adversarial scenarios through it).</summary>
    internal HomomorphicBank Core => _bank;

    /// <summary>Sets this bank's vector (values mod t) for <paramref name="round"/>; it is encrypted when that round opens.</summary>
    /// <exception cref="ArgumentException">a value is not below t.</exception>
    public void Submit(ulong round, ulong[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        ulong mask = (1UL << Roster.Parameters.PlainModulusBits) - 1;
        foreach (ulong v in values) if (v > mask) throw Error.Argument(nameof(values), "A value is not below t.");
        _inputs[round] = (ulong[])values.Clone();
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
    public bool TryGetRoundFailure(ulong round, out ViolationReason reason) => _failures.TryGetValue(round, out reason);

    /// <summary>True once the session ended (an abort for round 0, from the aggregator); only a new party can go on.</summary>
    public bool IsAborted => _state is Aborted;

    /// <summary>The reason the session ended, when <see cref="IsAborted"/>.</summary>
    public ViolationReason? AbortReason => _state is Aborted a ? a.Reason : null;

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
    /// <exception cref="ProtocolViolationException">the message is malformed, oversized, of another session, in the wrong
    /// state, or refused (Refused, TooFewParticipants, BudgetExhausted...); the party's state is unchanged.</exception>
    public IReadOnlyList<byte[]> Receive(ReadOnlySpan<byte> message)
    {
        ObjectDisposedException.ThrowIf(_state is Disposed, this);
        HeToBank m = HeWire.DecodeToBank(message, Roster.Banks, _maxMessageBytes);
        if (m is not HeSessionStartMessage && !m.SessionId.AsSpan().SequenceEqual(_sessionId))
            throw Error.Violation(ViolationReason.WrongRoundOrState, "a message of another session");
        if (m is HeAbortToBank { Round: 0 } abort)
        {
            _state.Discard();
            _state = new Aborted(abort.Reason);
            return [];
        }
        var (next, send) = _state.Handle(this, m);
        _state = next;
        return send.Select(HeWire.Encode).ToArray();
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
            Error.Violation(ViolationReason.WrongRoundOrState, $"{m.GetType().Name.Replace("Message", "", StringComparison.Ordinal)} in state {Name}");
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
        public override string Name => "ChannelAdverts";
        public override (BankState, HeToAggregator[]) Handle(HomomorphicBankParty p, HeToBank m)
        {
            if (m is not HeChannelAdvertsMessage a) throw Unexpected(m);
            // Verify every advert (signature and place in the list) on a scratch channel first, so a bad list changes nothing.
            using (var probe = new ShareChannel(p.Index, p.Roster.Banks, p._sessionId, p._bank.Random))
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
            return (new Thresholdizing(seed, publicKeyDigest, channel), [new HeSealedPointsMessage(p._sessionId, sealedPoints)]);
        }
        public override void Discard() { CryptographicOperations.ZeroMemory(seed); channel.Dispose(); }
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
        byte[][] chunks = _bank.Encrypt(r.Round, values, r.Chunks, Parallel);
        byte[] manifest = _bank.SignManifest(r.Round, chunks, Parallel);
        Array.Clear(values);
        _inputs.Remove(r.Round);
        return [new HeUploadMessage(_sessionId, r.Round, manifest, Array.ConvertAll(chunks, c => (ReadOnlyMemory<byte>)c))];
    }

    /// <summary>Answers a decryption request, or refuses it with a round abort naming the reason (SPEC.md 12.3).</summary>
    private HeToAggregator Decrypt(HeDecryptionRequestMessage d)
    {
        try
        {
            _bank.ReceiveManifests(d.Round, d.Chunks, d.Manifests);
            byte[][] shares = _bank.DecryptionShares(d.Round, d.Chunks, d.Contributors, d.Active, d.ContributorLists, Parallel);
            return new HeDecryptionSharesMessage(_sessionId, d.Round, shares);
        }
        catch (ProtocolViolationException e)
        {
            LastRefusal = e.Reason;
            return new HeAbortToAggregator(_sessionId, e.Reason, "decryption request refused", d.Round);
        }
    }

    /// <summary>Why this bank last refused a decryption request (null if it never did).</summary>
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
        _failures[a.Round] = a.Reason;
        if (_failures.Count > KeptResults) _failures.Remove(_failures.Keys.Min());
        return [];
    }

    private sealed class Aborted(ViolationReason reason) : BankState
    {
        public ViolationReason Reason => reason;
        public override string Name => $"Aborted({reason})";
    }

    private sealed class Disposed : BankState
    {
        public override string Name => "Disposed";
    }
}
