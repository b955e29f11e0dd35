// HomomorphicSession: in-process harness of the threshold homomorphic secure-sum mode (SPEC.md 12, 14) with
// N banks and one aggregator. Every message crosses the bank/aggregator boundary as serialized bytes (counted)
// and is parsed and validated by its receiver.
//
// Setup (once per session):
//   1. CRS coin: every bank commits to a nonce, the aggregator relays commitments, then reveals; every bank
//      checks all reveals and derives the same seed (the aggregator never chooses it).
//   2. Collective public key: banks commit to p_i = -a*s_i + e_i, then reveal; pk = (sum p_i, a).
//   3. Thresholdize: bank i sends f_i(x_j) to bank j through the aggregator, sealed with AES-256-GCM under a key from
//      X25519 between the two banks' fresh channel keys (adverts signed with their identity keys, ShareChannel.cs);
//      bank j keeps the point from every bank separately.
// Each sum (round r): a contributor splits its vector into chunks of n values and uploads the compact
//   ciphertexts c0 = -a_{r,k} s_i + e + Delta*m switched to 2^64 (8 bytes per value); the aggregator validates and
//   adds them per chunk; T online banks answer smudged decryption shares for the contributor set U; the
//   aggregator combines and decodes, then reduces mod 2^k (2^k divides t, so the result is the exact sum).
// Collusion bound (SPEC.md 12.3): T, K_min and the declared number c of colluding banks must satisfy 2T > N + c and
//   K_min >= c + 2 (DecryptionPolicy.Validate, checked here before any work and again by every bank); defaults
//   c = ceil(N/3) - 1, T = floor((N + c)/2) + 1, K_min = T. Each bank answers one (U, D) per (round, chunk)
//   (DecryptionGuard over its IDecryptionLedger) and encrypts under each (round, chunk) once.
// The public-key variant (uploads (c0, c1) under the collective key) is retired: without proofs that every upload is
//   well formed, shares lambda * sigma * C1 over an attacker's C1 decrypt whatever the attacker designed, e.g. the key.
// Signatures (SPEC.md 12.2, SignedUploads.cs): every bank and the aggregator hold an Ed25519 identity key (public keys in the
//   roster); each contributor signs one manifest per round listing the SHA-256 of each of its uploads (kind 10), and the
//   aggregator verifies the manifest once, then adds each chunk whose digest it lists (UploadIntake: duplicates and other
//   rounds refused); per (round, chunk) the aggregator signs the contributor list (sender, upload digest). A decrypting bank
//   verifies the contributors' manifests once per round and answers a chunk only if its list verifies, equals the request's
//   U and lists the digests the contributors signed.
// Parties: N HomomorphicBankParty objects and one HomomorphicAggregatorParty, each built from its own secrets and the
//   public roster; this harness only moves their serialized protobuf messages (SPEC.md 14) through the mailboxes of an
//   InMemorySumTransport, one message at a time in the order they were sent, and counts bytes and time. Offline banks'
//   deliveries are dropped. (The per-bank API over the same transport: FraudFed.Protocol.Coordination, SPEC.md 15.)
//   A round that fails (too few contributors, a refusing decryptor) fails alone: the session stays usable.
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Protocol.Harness;

/// <summary>Options of a homomorphic session.</summary>
public sealed record HomomorphicOptions
{
    /// <summary>RLWE parameters; default <see cref="ParameterSets.Default"/> (n = 8192, 3 x 60-bit primes, t = 2^44).</summary>
    public RlweParameters? Parameters { get; init; }
    /// <summary>T, the number of banks needed to decrypt; default floor((N + c)/2) + 1, the smallest with 2T &gt; N + c.</summary>
    public int? Threshold { get; init; }
    /// <summary>K_min, the fewest contributors a sum may have; default T; at least c + 2.</summary>
    public int? MinContributors { get; init; }
    /// <summary>
    /// c, the number of banks that may collude with the aggregator (declared); default ceil(N/3) - 1, the largest c &lt; N/3.
    /// Setup refuses (InsecureParameters) unless 2T &gt; N + c and K_min &gt;= c + 2 (SPEC.md 12.3).
    /// </summary>
    public int? MaxColluders { get; init; }
    /// <summary>Decryption shares each bank's key may produce before rotation.</summary>
    public long DecryptionBudget { get; init; } = 1L << 20;
    /// <summary>Run bank and aggregator work on both cores where it splits by chunk.</summary>
    public bool Parallel { get; init; } = true;
    /// <summary>Each bank's ledger by index (its encryptions and answers); default a fresh in-memory ledger per bank that keeps no
    /// answer bytes (in process a bank never restarts; identical resends are recomputed identically).</summary>
    public Func<int, IDecryptionLedger>? Ledgers { get; init; }
    /// <summary>
    /// Quantizer of real-valued updates (<see cref="HomomorphicSecureSum.SumReal"/>); its k must be the sum's k, and setup
    /// refuses (InsecureParameters, <see cref="Quantization.Quantizer.EnsureExact"/>) a bank count whose sum of quantized values could wrap around 2^k.
    /// </summary>
    public Quantization.Quantizer? Quantizer { get; init; }
    /// <summary>Told, during key setup (at construction and at each <see cref="HomomorphicSession.Rekey"/>), each time a bank has
    /// handled a message of the current setup stage; null: nothing is reported. Setup work grows with N^2 (at Thresholdize every
    /// bank seals a Shamir point for every other and opens one from every other), so a large N takes minutes. Called on the
    /// thread that runs the setup; it must not call back into the session.</summary>
    public IProgress<HomomorphicSetupProgress>? SetupProgress { get; init; }
}

/// <summary>Key setup progress (SPEC.md 12.0 steps 1-3): <paramref name="BanksDone"/> of the <paramref name="Banks"/> banks have
/// handled a message of the setup stage <paramref name="Stage"/> (the aggregator's state, e.g. <c>KeyShareCommit</c> or
/// <c>Thresholdize</c>; a name for people, not a stable API).</summary>
/// <param name="Stage">The aggregator's setup state while the banks' messages were handled.</param>
/// <param name="BanksDone">Distinct banks that have handled a message of this stage so far (1..<paramref name="Banks"/>).</param>
/// <param name="Banks">N, the session's banks.</param>
public sealed record HomomorphicSetupProgress(string Stage, int BanksDone, int Banks);

/// <summary>
/// Timings and byte counts of the last sum (for benchmarks). <paramref name="UploadBytesPerBank"/> is one contributing bank's
/// upload payload: <paramref name="Chunks"/> serialized compact ciphertexts (SPEC.md 12, kind 10) plus its signed manifest
/// (SPEC.md 12.2), without the protobuf wrapper.
/// </summary>
public sealed record HomomorphicSumStats(
    TimeSpan EncryptPerBank, TimeSpan AddPerBank, TimeSpan DecryptionSharePerBank, TimeSpan Combine,
    long BytesUploaded, long BytesDownloaded, int Chunks, long UploadBytesPerBank);

/// <summary>The in-process harness: N bank parties and one aggregator party wired by serialized messages.</summary>
public sealed class HomomorphicSession : IDisposable
{
    private readonly HomomorphicBankParty[] _banks;
    private readonly HomomorphicAggregatorParty _aggregator;
    private readonly Ed25519SigningKey _aggregatorKey;
    private readonly RandomNumberGenerator _setupRandom;
    private readonly InMemorySumTransport _transport;
    private readonly byte[]? _testSeed;
    private ulong _round;
    private bool _disposed;

    /// <summary>Builds N bank parties and the aggregator and runs the key setup through their messages; every party draws its
    /// randomness from the OS CSPRNG.</summary>
    /// <exception cref="ProtocolViolationException">InsecureParameters: T, K_min and c fail SPEC.md 12.3, or the smudging lemma.</exception>
    public HomomorphicSession(int banks, HomomorphicOptions? options = null) : this(banks, options, testSeed: null)
    {
    }

    /// <summary>
    /// TESTS ONLY: a session whose every party derives its randomness from <paramref name="seed"/> (SHA-256 of the seed and a
    /// purpose label, expanded by <see cref="DeterministicRandom"/>), so runs are reproducible and nothing is secret. The only
    /// way to seed a session: <see cref="HomomorphicOptions"/> carries no seed, and production callers get the OS CSPRNG.
    /// </summary>
    /// <exception cref="ProtocolViolationException">As the public constructor.</exception>
    internal static HomomorphicSession SeededForTestsOnly(int banks, HomomorphicOptions? options, ReadOnlySpan<byte> seed)
        => new(banks, options, seed.ToArray());

    /// <summary>The constructor: randomness from the OS CSPRNG (<paramref name="testSeed"/> null) or derived from a test seed.</summary>
    private HomomorphicSession(int banks, HomomorphicOptions? options, byte[]? testSeed)
    {
        options ??= new HomomorphicOptions();
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        Parameters = options.Parameters ?? ParameterSets.Default;
        int colluders = options.MaxColluders ?? DecryptionPolicy.DefaultMaxColluders(banks);
        int threshold = options.Threshold ?? Math.Min(banks, (banks + Math.Max(0, colluders)) / 2 + 1);
        int kMin = options.MinContributors ?? Math.Max(2, threshold);
        Policy = new DecryptionPolicy
        {
            Threshold = threshold, MinContributors = kMin, MaxColluders = colluders, Budget = options.DecryptionBudget, MaxContributors = Math.Max(256, banks),
        };
        Policy.Validate(banks);                    // typed InsecureParameters before any work; every bank checks again
        SmudgingLemma.Bits(Parameters, Policy);
        _testSeed = testSeed;
        _parallel = options.Parallel;
        _setupRandom = RandomFor("setup");
        Banks = banks;
        _aggregatorKey = Ed25519SigningKey.Generate(_setupRandom);
        var identities = new Ed25519SigningKey[banks];
        for (int b = 0; b < banks; b++)
            using (RandomNumberGenerator r = RandomFor("identity" + b)) identities[b] = Ed25519SigningKey.Generate(r);
        Roster = new HomomorphicRoster(Parameters, Policy, identities.Select(k => k.PublicKey.ToArray()).ToArray(), _aggregatorKey.PublicKey.ToArray(),
            allowInsecureTestParameters: Parameters.IsInsecure);   // the harness is a test and simulation driver: its caller chose the set
        _banks = new HomomorphicBankParty[banks];
        for (int b = 0; b < banks; b++)
            _banks[b] = new HomomorphicBankParty(b, OwnRoster(), identities[b], options.Ledgers?.Invoke(b) ?? HarnessLedger(), RandomSource(_testSeed))
            { Parallel = _parallel };
        _aggregator = new HomomorphicAggregatorParty(OwnRoster(), _aggregatorKey, RandomFor("aggregator")) { Parallel = _parallel };
        _transport = new InMemorySumTransport(banks);
        _setupProgress = options.SetupProgress;
        RunSetup();
    }

    /// <summary>Each party's own copy of the public roster (as separate organisations each parse it): parties share no object.</summary>
    private HomomorphicRoster OwnRoster() =>
        new(Parameters, Policy with { }, Roster.IdentityKeys.Select(k => (byte[])k.Clone()).ToArray(), Roster.AggregatorKey.ToArray(),
            allowInsecureTestParameters: Parameters.IsInsecure);

    /// <summary>
    /// The default ledger of a harness bank: answer fingerprints and the budget as always, but no answer bytes. A bank in this
    /// process never restarts, and an identical resend is recomputed with identical bytes (deterministic smudging, SPEC.md 12.3),
    /// so keeping every decryption share of the latest rounds (tens of MB per bank at a million values) would only cost memory.
    /// </summary>
    private static InMemoryDecryptionLedger HarnessLedger() => new() { AnswerRoundsKept = 0 };

    private bool _parallel;
    private readonly List<(int Bank, string RefusedBy, ViolationReason Reason)> _refusals = [];

    /// <summary>Messages refused since the session began: (bank, "bank" or "aggregator" = who refused, reason).</summary>
    public IReadOnlyList<(int Bank, string RefusedBy, ViolationReason Reason)> Refusals => _refusals;

    /// <summary>How many key setups this session has run (1 + rotations after spent budgets).</summary>
    public int KeyGeneration => (int)_aggregator.KeyGeneration;

    /// <summary>
    /// Rotates every key: fresh secret keys, a fresh CRS coin and collective key, fresh Shamir points (and so
    /// fresh decryption budgets). Runs automatically before a sum that the remaining budget cannot cover.
    /// </summary>
    public void Rekey()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RunSetup();
    }

    /// <summary>Number of banks N.</summary>
    public int Banks { get; }
    /// <summary>RLWE parameters.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>T, K_min, c and budget.</summary>
    public DecryptionPolicy Policy { get; }
    /// <summary>The public roster every party was built from.</summary>
    public HomomorphicRoster Roster { get; }
    /// <summary>Identifier of the current key generation (public, fresh at every setup).</summary>
    public byte[] SessionId => _aggregator.SessionId.ToArray();
    /// <summary>SHA-256 of the collective public key (sum p_i, a) every bank computed and reported at setup.</summary>
    public byte[]? CollectivePublicKeyDigest => _aggregator.PublicKeyDigest;
    /// <summary>Bytes sent by banks during setup.</summary>
    public long SetupBytesUploaded { get; private set; }
    /// <summary>Bytes sent by the aggregator during setup.</summary>
    public long SetupBytesDownloaded { get; private set; }
    /// <summary>Statistics of the last sum.</summary>
    public HomomorphicSumStats? LastStats { get; private set; }
    /// <summary>Use both cores where work splits by chunk (benchmarks switch it off to measure one core).</summary>
    public bool Parallel
    {
        get => _parallel;
        set { _parallel = value; foreach (HomomorphicBankParty b in _banks) b.Parallel = value; _aggregator.Parallel = value; }
    }
    /// <summary>The agreed compact scheme (public data only; internal to the library and its tests).</summary>
    internal CompactScheme? Scheme => _aggregator.Scheme;
    /// <summary>The roster of bank identity public keys (Ed25519, index = bank).</summary>
    public IReadOnlyList<byte[]> IdentityPublicKeys => Roster.IdentityKeys;
    /// <summary>The aggregator's Ed25519 public key (signs contributor lists).</summary>
    public byte[] AggregatorPublicKey => _aggregatorKey.PublicKey.ToArray();

    /// <summary>TESTS ONLY: bank <paramref name="index"/>'s core (tests play an adversarial aggregator against it).</summary>
    internal HomomorphicBank BankCoreForTestsOnly(int index) => _banks[index].CoreForTestsOnly;
    /// <summary>Bank <paramref name="index"/>'s party object.</summary>
    internal HomomorphicBankParty Party(int index) => _banks[index];
    /// <summary>The aggregator party.</summary>
    internal HomomorphicAggregatorParty Aggregator => _aggregator;
    /// <summary>The aggregator's own signing key (tests play the aggregator).</summary>
    internal Ed25519SigningKey AggregatorSigningKey => _aggregatorKey;

    /// <summary>The current round (the last sum's round; 0 before the first).</summary>
    public ulong Round => _round;

    /// <summary>Randomness of a purpose: the OS CSPRNG, or derived from the test seed.</summary>
    private RandomNumberGenerator RandomFor(string label) => Derive(_testSeed, label);

    /// <summary>A bank's own randomness source: it captures its own copy of the test seed only, never this harness.</summary>
    private static Func<string, RandomNumberGenerator> RandomSource(byte[]? testSeed)
    {
        byte[]? seed = (byte[]?)testSeed?.Clone();
        return label => Derive(seed, label);
    }

    private static RandomNumberGenerator Derive(byte[]? testSeed, string label)
    {
        if (testSeed is null) return RandomNumberGenerator.Create();
        byte[] seed = SHA256.HashData([.. testSeed, .. Encoding.UTF8.GetBytes("|" + label)]);
        try { return new DeterministicRandom(seed); }
        finally { CryptographicOperations.ZeroMemory(seed); }
    }

    private readonly IProgress<HomomorphicSetupProgress>? _setupProgress;

    private void RunSetup()
    {
        Action<int, TimeSpan>? handled = null;
        if (_setupProgress is { } progress)
        {
            string stage = "";
            var done = new HashSet<int>();
            handled = (bank, _) =>
            {
                string now = _aggregator.State;
                if (now != stage) { stage = now; done.Clear(); }
                if (done.Add(bank)) progress.Report(new HomomorphicSetupProgress(stage, done.Count, Banks));
            };
        }
        var (up, down) = Deliver(_aggregator.StartSession(), null, handled);
        SetupBytesUploaded += up;
        SetupBytesDownloaded += down;
        if (!_aggregator.IsReady) throw Error.Violation(ViolationReason.Inconsistent, $"setup did not complete ({_aggregator.State})");
    }

    /// <summary>
    /// Routes messages until none is left: aggregator messages to banks, their answers back. Banks in
    /// <paramref name="offline"/> receive nothing. A bank's refusal of a decryption request reaches the aggregator as its
    /// round abort. Returns the bytes sent by banks and by the aggregator.
    /// </summary>
    private (long Up, long Down) Deliver(IReadOnlyList<HeOutgoing> outgoing, ISet<int>? offline, Action<int, TimeSpan>? bankTime = null,
        Action<int, TimeSpan>? aggregatorTime = null)
    {
        long up = 0, down = 0;
        var order = new Queue<int>();   // which bank's mailbox holds the next message, in sending order
        void Post(IReadOnlyList<HeOutgoing> messages)
        {
            foreach (HeOutgoing o in messages)
            {
                _transport.PostToBank(o.To, new BankDelivery(o.Bytes, null));
                order.Enqueue(o.To);
            }
        }
        Post(outgoing);
        while (order.Count > 0)
        {
            int to = order.Dequeue();
            if (!_transport.TryTakeAtBank(to, out BankDelivery delivery) || delivery.Message is not { } message) continue;
            if (offline?.Contains(to) == true) continue;   // an offline bank never sees it
            down += message.Length;
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            IReadOnlyList<byte[]> answers;
            try { answers = _banks[to].Receive(message.Span); }
            catch (ProtocolViolationException e) { _refusals.Add((to, "bank", e.Reason)); continue; }   // refused, nothing changed
            finally { bankTime?.Invoke(to, System.Diagnostics.Stopwatch.GetElapsedTime(t0)); }
            foreach (byte[] a in answers)
            {
                up += a.Length;
                _transport.PostFromBank(to, a);
                if (!_transport.TryTakeAtAggregator(out AggregatorDelivery d)) continue;
                long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
                IReadOnlyList<HeOutgoing> next;
                // The delivered bytes are the bank's own array, unchanged while this runs: read uploads in place as the
                // appliance does (HomomorphicAggregatorParty.Receive(int, ReadOnlyMemory<byte>): no copy of the chunks).
                try { next = _aggregator.Receive(d.Bank, d.Message); }
                catch (ProtocolViolationException e) { _refusals.Add((d.Bank, "aggregator", e.Reason)); continue; }
                finally { aggregatorTime?.Invoke(d.Bank, System.Diagnostics.Stopwatch.GetElapsedTime(t1)); }
                Post(next);
            }
        }
        return (up, down);
    }

    /// <summary>
    /// One exact sum mod t = 2^k_t: <paramref name="inputs"/>[b] is bank b's vector (values mod t), or null for a bank
    /// that does not submit; <paramref name="decryptors"/> are the T online banks that open the sum.
    /// Returns the sum mod t of the submitted vectors. A failed round (TooFewParticipants, a refusal) throws its typed
    /// reason and leaves the session ready for the next round.
    /// </summary>
    public ulong[] Sum(IReadOnlyList<ulong[]?> inputs, IReadOnlyList<int> decryptors, out int[] contributors, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(decryptors);
        if (inputs.Count != Banks) throw Error.Argument(nameof(inputs), "One entry per bank (null for banks that do not submit).");
        int[] submitting = Enumerable.Range(0, Banks).Where(b => inputs[b] is not null).ToArray();
        if (submitting.Length == 0) throw Error.Violation(ViolationReason.TooFewParticipants, "no bank submitted");
        int length = inputs[submitting[0]]!.Length;
        if (submitting.Any(b => inputs[b]!.Length != length)) throw Error.Argument(nameof(inputs), "All vectors must have the same length.");
        if (length == 0) throw Error.Argument(nameof(inputs), "At least one value.");
        if (decryptors.Any(d => d < 0 || d >= Banks)) throw Error.Violation(ViolationReason.UnknownSender, "decryptor outside the roster");
        int n = Parameters.N;
        int chunks = Math.Max(1, (length + n - 1) / n);
        if (chunks > Policy.Budget) throw Error.Violation(ViolationReason.BudgetExhausted, "one sum needs more decryption shares than a whole key budget");
        ulong mask = (1UL << Parameters.PlainModulusBits) - 1;
        foreach (int b in submitting)
            foreach (ulong v in inputs[b]!)
                if (v > mask) throw Error.Argument(nameof(inputs), "A value is not below t.");
        if (decryptors.Any(d => _banks[d].RemainingBudget < chunks)) Rekey();
        cancellationToken.ThrowIfCancellationRequested();
        ulong round = ++_round;
        foreach (int b in submitting) _banks[b].Submit(round, inputs[b]!);

        TimeSpan encrypt = TimeSpan.Zero, add = TimeSpan.Zero, share = TimeSpan.Zero, combine = TimeSpan.Zero;
        // Round start: contributors encrypt, sign and upload; the aggregator validates and adds each upload.
        var (up1, down1) = Deliver(_aggregator.StartRound(round, length), null,
            (_, t) => encrypt += t, (_, t) => add += t);
        cancellationToken.ThrowIfCancellationRequested();
        // Close: T banks check the lists and answer; the last answer triggers the combination and the result broadcast.
        int answered = 0;
        var (up2, down2) = Deliver(_aggregator.CloseUploads(decryptors), null,
            (b, t) => { if (answered < decryptors.Count) share += t; },
            (_, t) => { if (++answered == decryptors.Count) combine += t; });
        HeRoundOutcome outcome = _aggregator.LastOutcome!;
        contributors = outcome.Contributors;
        if (outcome.Failure is { } failure || outcome.Sum is null) throw outcome.Failure!;
        int contributing = Math.Max(1, outcome.Contributors.Length);
        LastStats = new HomomorphicSumStats(encrypt / contributing, add / contributing, share / Math.Max(1, decryptors.Count), combine,
            up1 + up2, down1 + down2, chunks,
            (long)chunks * CompactCiphertext.SerializedSize(Parameters) + UploadManifest.SerializedSize(chunks));
        return outcome.Sum;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (HomomorphicBankParty b in _banks) b.Dispose();
        _aggregator.Dispose();
        _setupRandom.Dispose();
    }
}
