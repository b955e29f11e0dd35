// HomomorphicAggregatorParty: the aggregator of the threshold homomorphic mode as a state machine over serialized wire
// messages (SPEC.md 14.2). It holds its own signing key and the public roster; no bank secret ever reaches it.
// Setup states (one instance each of Collect): CRS commit, CRS reveal, key-share commit, key-share reveal, channel
// adverts, thresholdize, key ready; then Ready -> CollectingUploads (StartRound) -> CollectingShares (CloseUploads) ->
// Ready (combined: RoundResult broadcast). A round with fewer than K_min contributors, or whose decryptors refuse, fails
// alone: the banks get Abort(round), the round number is spent, the session stays Ready. Aborted ends the session.
// Every refused message (malformed, wrong state, unknown or duplicate sender, bad signature...) throws a typed
// ProtocolViolationException and changes nothing.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>A serialized message for bank <paramref name="To"/>.</summary>
public readonly record struct HeOutgoing(int To, byte[] Bytes);

/// <summary>How a round ended at the aggregator.</summary>
/// <param name="Round">The round.</param>
/// <param name="Sum">The opened sum mod t, or null when the round failed.</param>
/// <param name="Contributors">Banks whose vectors are in the sum.</param>
/// <param name="Failure">Why the round failed, or null.</param>
public sealed record HeRoundOutcome(ulong Round, ulong[]? Sum, int[] Contributors, ProtocolViolationException? Failure);

/// <summary>The aggregator of a threshold homomorphic session: bytes from banks in, bytes for banks out.</summary>
public sealed class HomomorphicAggregatorParty : IDisposable
{
    private readonly Ed25519SigningKey _signingKey;
    private readonly RandomNumberGenerator _random;
    private readonly int _maxMessageBytes;
    private AggregatorState _state = new Idle();
    private uint _keyGeneration;
    private byte[] _sessionId = [];
    private ulong _lastRound;

    /// <summary>The aggregator of <paramref name="roster"/>, signing contributor lists with <paramref name="signingKey"/>
    /// (its public key must be the roster's aggregator key; this object owns it and disposes it with itself). A bank message larger
    /// than <paramref name="maxMessageBytes"/> (default <see cref="HeWire.DefaultMaxMessageBytes"/>, 1 GiB: an upload of 2^24 values
    /// fits) is refused as Oversized before it is parsed.</summary>
    /// <exception cref="ArgumentException">the signing key is not the roster's aggregator key.</exception>
    public HomomorphicAggregatorParty(HomomorphicRoster roster, Ed25519SigningKey signingKey, RandomNumberGenerator? random = null,
        int maxMessageBytes = HeWire.DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(roster);
        ArgumentNullException.ThrowIfNull(signingKey);
        if (!signingKey.PublicKey.SequenceEqual(roster.AggregatorKey)) throw Error.Argument(nameof(signingKey), "The signing key is not the roster's aggregator key.");
        Roster = roster;
        _signingKey = signingKey;
        _random = random ?? RandomNumberGenerator.Create();
        _maxMessageBytes = maxMessageBytes;
    }

    /// <summary>The public roster.</summary>
    public HomomorphicRoster Roster { get; }
    /// <summary>True (default): work that splits by chunk (encryption, decryption shares, combining) runs on every core. False: one
    /// core, for a host that keeps the other cores for other work, and for single-core benchmarks. Messages and results are
    /// identical either way; set it before the session starts.</summary>
    public bool Parallel { get; set; } = true;
    /// <summary>Name of the current state, e.g. <c>Ready</c> or <c>Aborted(Inconsistent)</c>, for logs and diagnostics. Not a stable
    /// API: decide with <c>IsReady</c> and the abort properties instead.</summary>
    public string State => _state.Name;
    /// <summary>True when setup is complete and no round is open.</summary>
    public bool IsReady => _state is Ready;
    /// <summary>True while a round is open and collecting uploads: after <see cref="StartRound"/>, before <see cref="CloseUploads"/>
    /// or <see cref="FailRound"/> (SPEC.md 12.0, step 4: the uploads of round r).</summary>
    public bool IsCollectingUploads => _state is CollectingUploads;
    /// <summary>The current key generation's 16-byte session id.</summary>
    public ReadOnlySpan<byte> SessionId => _sessionId;
    /// <summary>1 + the number of key rotations.</summary>
    public uint KeyGeneration => _keyGeneration;
    /// <summary>The agreed compact scheme (public: the CRS seed every bank derived), after setup.</summary>
    internal CompactScheme? Scheme { get; private set; }
    /// <summary>SHA-256 of the collective public key every bank reported, after setup.</summary>
    public byte[]? PublicKeyDigest { get; private set; }
    /// <summary>How the last round ended.</summary>
    public HeRoundOutcome? LastOutcome { get; private set; }
    /// <summary>The highest round number opened so far (rounds are strictly increasing).</summary>
    public ulong LastRound => _lastRound;

    /// <summary>Starts (or rotates to) a new key generation: a fresh session id and HeSessionStart for every bank.</summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState: setup or a round is in progress.</exception>
    public IReadOnlyList<HeOutgoing> StartSession()
    {
        if (_state is not (Idle or Ready)) throw Error.Violation(ViolationReason.WrongRoundOrState, $"a session starts only when idle or ready, not in {_state.Name}");
        var sid = new byte[16];
        _random.GetBytes(sid);
        _sessionId = sid;
        _keyGeneration++;
        Scheme = null;
        _state = Collect.CrsCommits(this);
        return Broadcast(new HeSessionStartMessage(_sessionId, Roster.Digest.ToArray(), _keyGeneration));
    }

    /// <summary>Opens round <paramref name="round"/> (strictly after every earlier one) for vectors of <paramref name="length"/> values.</summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState: not ready, or a round number not after the last.</exception>
    public IReadOnlyList<HeOutgoing> StartRound(ulong round, int length)
    {
        if (_state is not Ready) throw Error.Violation(ViolationReason.WrongRoundOrState, $"a round opens only when ready, not in {_state.Name}");
        if (round <= _lastRound) throw Error.Violation(ViolationReason.WrongRoundOrState, $"round {round} is not after round {_lastRound}");
        if (length < 1) throw Error.OutOfRange(nameof(length), "At least one value.");
        int n = Roster.Parameters.N;
        int chunks = (int)Math.Max(1, ((long)length + n - 1) / n);
        if (chunks > HeWire.MaxChunks) throw Error.OutOfRange(nameof(length), "Too many chunks for one round.");
        _lastRound = round;
        _state = new CollectingUploads(this, round, length, chunks);
        return Broadcast(new HeRoundStartMessage(_sessionId, round, length, chunks));
    }

    /// <summary>
    /// Closes the uploads of the open round and asks <paramref name="active"/> (T distinct banks) to decrypt the sums over the
    /// banks whose complete uploads arrived. With fewer than K_min contributors the round fails alone (<see cref="LastOutcome"/>
    /// carries TooFewParticipants) and every bank gets Abort(round).
    /// </summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState: no round collecting uploads.</exception>
    /// <exception cref="ArgumentException">the active set is not T distinct roster banks.</exception>
    public IReadOnlyList<HeOutgoing> CloseUploads(IReadOnlyList<int> active)
    {
        ArgumentNullException.ThrowIfNull(active);
        if (_state is not CollectingUploads c) throw Error.Violation(ViolationReason.WrongRoundOrState, $"no round is collecting uploads ({_state.Name})");
        if (active.Count != Roster.Policy.Threshold || active.Distinct().Count() != active.Count || active.Any(b => b < 0 || b >= Roster.Banks))
            throw Error.Argument(nameof(active), $"The active set is {Roster.Policy.Threshold} distinct roster banks.");
        return c.Close(active.Order().ToArray());
    }

    /// <summary>Ends the open round (a deadline passed): it fails alone, every bank gets Abort(round).</summary>
    public IReadOnlyList<HeOutgoing> FailRound(ViolationReason reason, string message)
    {
        ulong round = _state switch { CollectingUploads u => u.Round, CollectingShares s => s.Round, _ => throw Error.Violation(ViolationReason.WrongRoundOrState, "no round is open") };
        return RoundFailed(round, [], Error.Violation(reason, message));
    }

    /// <summary>Roster indices of the banks whose message the current setup stage still waits for (empty outside setup).</summary>
    public IReadOnlyList<int> MissingSetupBanks => _state.Missing;

    /// <summary>
    /// Ends a session whose setup cannot finish (a bank missed the setup stage's deadline, SPEC.md 14.5): the party is
    /// Aborted and every bank gets Abort(round 0) with <paramref name="reason"/>. The key generation is abandoned; the
    /// operator starts a new session.
    /// </summary>
    /// <exception cref="ProtocolViolationException">WrongRoundOrState: the party is not in a setup stage.</exception>
    public IReadOnlyList<HeOutgoing> AbortSetup(ViolationReason reason, string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_state.Missing.Count == 0) throw Error.Violation(ViolationReason.WrongRoundOrState, $"no setup stage is waiting ({_state.Name})");
        _state = new Aborted(message);
        return Broadcast(new HeAbortToBank(_sessionId, reason, message, 0));
    }

    /// <summary>Handles one serialized message from bank <paramref name="fromBank"/> (known from the transport).</summary>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing changed.</exception>
    public IReadOnlyList<HeOutgoing> Receive(int fromBank, ReadOnlySpan<byte> message)
    {
        if (fromBank < 0 || fromBank >= Roster.Banks) throw Error.Violation(ViolationReason.UnknownSender, "a sender outside the roster");
        return Handle(fromBank, HeWire.DecodeToAggregator(message, Roster.Banks, _maxMessageBytes));
    }

    /// <summary>
    /// As <see cref="Receive(int, ReadOnlySpan{byte})"/>, reading an upload's chunks in place from <paramref name="message"/>
    /// (<see cref="HeWire.DecodeToAggregatorInPlace"/>: no copy of the ~64 KB per chunk; same checks and refusals). The
    /// caller must not change the buffer until the call returns; nothing of it is kept afterwards.
    /// </summary>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing changed.</exception>
    public IReadOnlyList<HeOutgoing> Receive(int fromBank, ReadOnlyMemory<byte> message)
    {
        if (fromBank < 0 || fromBank >= Roster.Banks) throw Error.Violation(ViolationReason.UnknownSender, "a sender outside the roster");
        return Handle(fromBank, HeWire.DecodeToAggregatorInPlace(message, Roster.Banks, _maxMessageBytes));
    }

    /// <summary>As <see cref="Receive(int, ReadOnlyMemory{byte})"/> (a received array: chunks are read in place).</summary>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing changed.</exception>
    public IReadOnlyList<HeOutgoing> Receive(int fromBank, byte[] message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Receive(fromBank, (ReadOnlyMemory<byte>)message);
    }

    /// <summary>As <see cref="Receive(int, ReadOnlyMemory{byte})"/> for a message the caller already decoded with
    /// <see cref="HeWire.DecodeToAggregatorInPlace"/> (the appliance decodes once, outside its lock, to learn the message's kind):
    /// the same handling without a second decoding. <paramref name="decoded"/> must be that decoder's result, with its buffer
    /// unchanged until the call returns.</summary>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing changed.</exception>
    internal IReadOnlyList<HeOutgoing> ReceiveDecoded(int fromBank, HeToAggregator decoded)
    {
        ArgumentNullException.ThrowIfNull(decoded);
        if (fromBank < 0 || fromBank >= Roster.Banks) throw Error.Violation(ViolationReason.UnknownSender, "a sender outside the roster");
        return Handle(fromBank, decoded);
    }

    private IReadOnlyList<HeOutgoing> Handle(int fromBank, HeToAggregator m)
    {
        if (!m.SessionId.AsSpan().SequenceEqual(_sessionId)) throw Error.Violation(ViolationReason.WrongRoundOrState, "a message of another session");
        if (m is HeAbortToAggregator { Round: 0 } abort)
        {
            _state = new Aborted($"bank {fromBank}: {abort.Reason}");
            return Broadcast(new HeAbortToBank(_sessionId, abort.Reason, $"bank {fromBank} ended the session", 0));
        }
        return _state.Handle(fromBank, m);
    }

    private List<HeOutgoing> Broadcast(HeToBank m)
    {
        byte[] bytes = HeWire.Encode(m);
        return Enumerable.Range(0, Roster.Banks).Select(b => new HeOutgoing(b, bytes)).ToList();
    }

    /// <summary>A refusal's text without its "Reason: " prefix (the abort carries the reason as a code): e.g. the contributors
    /// against the T or K_min needed. Never secret (SPEC.md 14.1).</summary>
    internal static string Text(ProtocolViolationException why)
    {
        string prefix = why.Reason + ": ";
        return why.Message.StartsWith(prefix, StringComparison.Ordinal) ? why.Message[prefix.Length..] : why.Message;
    }

    private List<HeOutgoing> RoundFailed(ulong round, int[] contributors, ProtocolViolationException why)
    {
        LastOutcome = new HeRoundOutcome(round, null, contributors, why);
        _state = new Ready();
        return Broadcast(new HeAbortToBank(_sessionId, why.Reason, Text(why), round));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _signingKey.Dispose();
        _random.Dispose();
    }

    // ---------------------------------------------------------------- states

    private abstract class AggregatorState
    {
        public abstract string Name { get; }
        public virtual IReadOnlyList<int> Missing => [];
        public virtual IReadOnlyList<HeOutgoing> Handle(int from, HeToAggregator m) =>
            throw Error.Violation(ViolationReason.WrongRoundOrState, $"{HeWire.StepName(m)} in state {Name}");
    }

    private sealed class Idle : AggregatorState { public override string Name => "Idle"; }
    private sealed class Ready : AggregatorState { public override string Name => "Ready"; }
    private sealed class Aborted(string why) : AggregatorState { public override string Name => $"Aborted({why})"; }

    /// <summary>A setup step: one message of type <typeparamref name="T"/> from every roster bank, then a broadcast.</summary>
    private sealed class Collect<T>(string name, HomomorphicAggregatorParty p, Func<int, T, byte[]?> check, Func<byte[][], IReadOnlyList<HeOutgoing>> complete)
        : AggregatorState where T : HeToAggregator
    {
        private readonly byte[]?[] _items = new byte[p.Roster.Banks][];
        private int _count;
        public override string Name => name;
        public override IReadOnlyList<int> Missing => Enumerable.Range(0, _items.Length).Where(i => _items[i] is null).ToArray();
        public override IReadOnlyList<HeOutgoing> Handle(int from, HeToAggregator m)
        {
            if (m is not T item) return base.Handle(from, m);
            if (_items[from] is not null) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already sent its {name} message");
            byte[]? value = check(from, item);   // throws without changing anything
            _items[from] = value ?? [];
            return ++_count < _items.Length ? [] : complete(_items!);
        }
    }

    private static class Collect
    {
        public static AggregatorState CrsCommits(HomomorphicAggregatorParty p) =>
            new Collect<HeCrsCommitMessage>("CrsCommit", p, (_, m) => m.Commitment,
                all => p.Next(CrsReveals(p, all), new HeCrsCommitmentsMessage(p._sessionId, all)));

        private static AggregatorState CrsReveals(HomomorphicAggregatorParty p, byte[][] commitments) =>
            new Collect<HeCrsRevealMessage>("CrsReveal", p, (from, m) =>
            {
                if (!CryptographicOperations.FixedTimeEquals(CommonRandomness.Commit(p._sessionId, from, m.Nonce), commitments[from]))
                    throw Error.Violation(ViolationReason.AuthenticationFailed, $"bank {from}'s nonce does not open its commitment");
                return m.Nonce;
            }, all =>
            {
                // The aggregator derives the same public seed (and so learns the session tag and common polynomials).
                byte[] seed = CommonRandomness.DeriveSeed(p._sessionId, p.Roster.Banks,
                    commitments.Select((c, i) => (i, c)).ToDictionary(x => x.i, x => x.c), all.Select((c, i) => (i, c)).ToDictionary(x => x.i, x => x.c));
                p.Scheme = new CompactScheme(p.Roster.Parameters, seed);
                return p.Next(KeyShareCommits(p), new HeCrsRevealsMessage(p._sessionId, all));
            });

        private static AggregatorState KeyShareCommits(HomomorphicAggregatorParty p) =>
            new Collect<HeKeyShareCommitMessage>("KeyShareCommit", p, (_, m) => m.Commitment,
                all => p.Next(KeyShareReveals(p, all), new HeKeyShareCommitmentsMessage(p._sessionId, all)));

        private static AggregatorState KeyShareReveals(HomomorphicAggregatorParty p, byte[][] commitments) =>
            new Collect<HeKeyShareRevealMessage>("KeyShareReveal", p, (from, m) =>
            {
                // Cheap check at intake: the share opens its sender's commitment (every bank checks every opening again).
                if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(m.Share), commitments[from]))
                    throw Error.Violation(ViolationReason.AuthenticationFailed, $"bank {from}'s public-key share does not open its commitment");
                return m.Share;
            }, all => p.Next(Adverts(p), new HeKeyShareRevealsMessage(p._sessionId, all)));

        private static AggregatorState Adverts(HomomorphicAggregatorParty p) =>
            new Collect<HeChannelAdvertMessage>("ChannelAdverts", p, (from, m) =>
            {
                if (ShareChannel.AdvertBank(m.Advert) != from)
                    throw Error.Violation(ViolationReason.UnknownSender, "an advert for another bank than its sender");
                return m.Advert;
            },
                all => p.Next(SealedPoints(p), new HeChannelAdvertsMessage(p._sessionId, all)));

        private static AggregatorState SealedPoints(HomomorphicAggregatorParty p)
        {
            var byReceiver = new byte[p.Roster.Banks][][];
            for (int j = 0; j < byReceiver.Length; j++) byReceiver[j] = new byte[p.Roster.Banks][];
            int received = 0;
            AggregatorState? state = null;
            state = new Relay(p, (from, m) =>
            {
                if (m is not HeSealedPointsMessage s) return null;
                for (int j = 0; j < s.Points.Length; j++) byReceiver[j][from] = s.Points[j];
                if (++received < p.Roster.Banks) return [];
                p._state = KeyReady(p);
                return byReceiver.Select((points, j) => new HeOutgoing(j, HeWire.Encode(new HeSealedPointsForBankMessage(p._sessionId, points)))).ToList();
            });
            return state;
        }

        private static AggregatorState KeyReady(HomomorphicAggregatorParty p)
        {
            byte[]? digest = null;
            return new Collect<HeKeyReadyMessage>("KeyReady", p, (_, m) =>
            {
                if (digest is not null && !CryptographicOperations.FixedTimeEquals(digest, m.PublicKeyDigest))
                    throw Error.Violation(ViolationReason.Inconsistent, "banks computed different collective public keys");
                digest ??= m.PublicKeyDigest;
                return m.PublicKeyDigest;
            }, all =>
            {
                p.PublicKeyDigest = digest;
                p._state = new Ready();
                return [];
            });
        }
    }

    private void For(int count, Action<int> body) => TypedParallel.For(count, Parallel, body);

    private IReadOnlyList<HeOutgoing> Next(AggregatorState next, HeToBank broadcast)
    {
        _state = next;
        return Broadcast(broadcast);
    }

    /// <summary>The thresholdize step: each bank's sealed points, relayed to their receivers once every bank sent.</summary>
    private sealed class Relay(HomomorphicAggregatorParty p, Func<int, HeToAggregator, IReadOnlyList<HeOutgoing>?> handle) : AggregatorState
    {
        private readonly bool[] _seen = new bool[p.Roster.Banks];
        public override string Name => "Thresholdize";
        public override IReadOnlyList<int> Missing => Enumerable.Range(0, _seen.Length).Where(i => !_seen[i]).ToArray();
        public override IReadOnlyList<HeOutgoing> Handle(int from, HeToAggregator m)
        {
            if (m is not HeSealedPointsMessage) return base.Handle(from, m);
            if (_seen[from]) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already sent its sealed points");
            _seen[from] = true;
            return handle(from, m)!;
        }
    }

    private sealed class CollectingUploads(HomomorphicAggregatorParty p, ulong round, int length, int chunks) : AggregatorState
    {
        private readonly UploadIntake _intake = new(p.Roster.IdentityKeys, p.Scheme!.SessionTag, round, chunks, RlweObjectKind.CompactCiphertext);
        private readonly CompactCiphertext[] _sums = Enumerable.Range(0, chunks).Select(k => p.Scheme!.AllocateSum(round, (uint)k)).ToArray();
        private readonly HashSet<int> _complete = [];
        private readonly HashSet<int> _left = [];
        public ulong Round => round;
        public override string Name => $"CollectingUploads(round {round})";

        public override IReadOnlyList<HeOutgoing> Handle(int from, HeToAggregator m)
        {
            if (m is HeAbortToAggregator a && a.Round == round)
            {
                // A bank leaves the round's uploads (SPEC.md 14.6: it encrypted its input for the round, and a restart lost the
                // upload, which its ledger forbids making again): it is not a contributor, and may still be a decryptor.
                if (_complete.Contains(from)) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already uploaded round {round}");
                if (!_left.Add(from)) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already left round {round}");
                return [];
            }
            if (m is not HeUploadMessage u) return base.Handle(from, m);
            if (_left.Contains(from)) throw Error.Violation(ViolationReason.WrongRoundOrState, $"bank {from} left round {round}'s uploads");
            if (u.Round != round) throw Error.Violation(ViolationReason.WrongRoundOrState, $"an upload for round {u.Round} in round {round}");
            if (_complete.Contains(from)) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already uploaded round {round}");
            if (u.Chunks.Length != chunks) throw Error.Violation(ViolationReason.Malformed, $"{u.Chunks.Length} chunks, the round has {chunks}");
            try
            {
                _intake.AcceptRound(from, u.Manifest, u.Chunks, (sender, k, bodyDigest) => p.Scheme!.AddSerialized(_sums[k], u.Chunks[k].Span, sender, bodyDigest), p.Parallel);
            }
            catch (ProtocolViolationException v) when (_intake.Tainted)
            {
                // A signed upload that fails validation while it is added: the round's sums are no longer clean.
                return p.RoundFailed(round, [], Error.Violation(v.Reason, $"bank {from} signed a malformed upload: {v.Message}"));
            }
            _complete.Add(from);
            return [];
        }

        public IReadOnlyList<HeOutgoing> Close(int[] active)
        {
            int[] contributors = [.. _complete.Order()];
            if (contributors.Length < p.Roster.Policy.MinContributors)
                return p.RoundFailed(round, contributors, Error.TooFewContributors(round, contributors.Length,
                    p.Roster.Policy.MinContributors, p.Roster.Policy.Threshold, p.Roster.Policy.MinContributors,
                    silent: [.. Enumerable.Range(0, p.Roster.Banks).Except(contributors)]));
            byte[][] lists = _intake.SignedLists(p._signingKey);   // one signature for the round's lists
            var request = new HeDecryptionRequestMessage(p._sessionId, round, chunks, contributors, active, _intake.Manifests(contributors), lists);
            byte[] bytes = HeWire.Encode(request);
            p._state = new CollectingShares(p, round, length, _sums, contributors, active);
            return active.Select(d => new HeOutgoing(d, bytes)).ToList();
        }
    }

    private sealed class CollectingShares(HomomorphicAggregatorParty p, ulong round, int length, CompactCiphertext[] sums, int[] contributors, int[] active) : AggregatorState
    {
        private readonly byte[][]?[] _shares = new byte[active.Length][][];
        private int _count;
        public ulong Round => round;
        public override string Name => $"CollectingShares(round {round})";

        public override IReadOnlyList<HeOutgoing> Handle(int from, HeToAggregator m)
        {
            if (m is HeAbortToAggregator a && a.Round == round && Array.IndexOf(active, from) < 0)
                throw Error.Violation(ViolationReason.WrongRoundOrState, $"bank {from} is not a decryptor of round {round}; its uploads are closed");
            if (m is HeAbortToAggregator refusal && refusal.Round == round)
                return p.RoundFailed(round, contributors, Error.Violation(refusal.Reason, $"decryptor {from} refused round {round}: {refusal.Message}"));
            if (m is not HeDecryptionSharesMessage s) return base.Handle(from, m);
            int slot = Array.IndexOf(active, from);
            if (slot < 0) throw Error.Violation(ViolationReason.UnknownSender, $"bank {from} is not in the active set");
            if (s.Round != round) throw Error.Violation(ViolationReason.WrongRoundOrState, $"shares for round {s.Round} in round {round}");
            if (_shares[slot] is not null) throw Error.Violation(ViolationReason.Duplicate, $"bank {from} already answered");
            if (s.Shares.Length != sums.Length) throw Error.Violation(ViolationReason.Malformed, "one share per chunk");
            _shares[slot] = s.Shares;
            if (++_count < active.Length) return [];
            return Combine();
        }

        private IReadOnlyList<HeOutgoing> Combine()
        {
            int n = p.Roster.Parameters.N;
            var result = new ulong[length];
            try
            {
                p.For(sums.Length, k =>
                {
                    var chunkShares = new byte[active.Length][];
                    for (int d = 0; d < active.Length; d++) chunkShares[d] = _shares[d]![k];
                    int start = k * n, count = Math.Min(n, length - start);
                    ThresholdCombiner.Combine(p.Scheme!, sums[k], contributors, active, chunkShares, result.AsSpan(start, count));
                });
            }
            catch (ProtocolViolationException v)
            {
                return p.RoundFailed(round, contributors, v);   // a bad share: the round fails, the session stays
            }
            p.LastOutcome = new HeRoundOutcome(round, result, contributors, null);
            p._state = new Ready();
            return p.Broadcast(new HeRoundResultMessage(p._sessionId, round, contributors, result));
        }
    }
}
