// HomomorphicSession: in-process harness of the threshold homomorphic secure-sum mode (DESIGN.md 3a) with
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
//   ciphertexts c0 = -a_{r,k} s_i + e + Delta*m (22.5 bytes per value at n = 8192); the aggregator validates and
//   adds them per chunk; T online banks answer smudged decryption shares for the contributor set U; the
//   aggregator combines and decodes, then reduces mod 2^k (2^k divides t, so the result is the exact sum).
// Collusion bound (SPEC.md 12.3): T, K_min and the declared number c of colluding banks must satisfy 2T > N + c and
//   K_min >= c + 2 (DecryptionPolicy.Validate, checked here before any work and again by every bank); defaults
//   c = ceil(N/3) - 1, T = floor((N + c)/2) + 1, K_min = T. Each bank answers one (U, D) per (round, chunk)
//   (DecryptionGuard over its IDecryptionLedger) and encrypts under each (round, chunk) once.
// The public-key variant (uploads (c0, c1) under the collective key) is retired: without proofs that every upload is
//   well formed, shares lambda * sigma * C1 over an attacker's C1 decrypt whatever the attacker designed, e.g. the key.
// Signatures (SPEC.md 12.2, SignedUploads.cs): every bank and the aggregator hold an Ed25519 identity key (public keys in the
//   roster); each contributor signs one manifest per round listing the SHA-256 of each of its uploads (kind 2 or 7), and the
//   aggregator verifies the manifest once, then adds each chunk whose digest it lists (UploadIntake: duplicates and other
//   rounds refused); per (round, chunk) the aggregator signs the contributor list (sender, upload digest). A decrypting bank
//   verifies the contributors' manifests once per round and answers a chunk only if its list verifies, equals the request's
//   U and lists the digests the contributors signed.
// Setup is still driven by this harness step by step over the bank objects (HomomorphicBank); sums pass only
//   serialized bytes between banks and the aggregator.
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

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
    /// <summary>Seed for reproducible runs (TESTS ONLY); null uses the OS CSPRNG.</summary>
    public byte[]? TestSeed { get; init; }
    /// <summary>Run bank and aggregator work on both cores where it splits by chunk.</summary>
    public bool Parallel { get; init; } = true;
    /// <summary>Each bank's ledger by index (its encryptions and answers); default a fresh in-memory ledger per bank.</summary>
    public Func<int, IDecryptionLedger>? Ledgers { get; init; }
    /// <summary>
    /// Quantizer of real-valued updates (<see cref="HomomorphicSecureSum.SumReal"/>); its k must be the sum's k, and setup
    /// refuses (InsecureParameters, <see cref="Quantization.Quantizer.EnsureExact"/>) a bank count whose sum of quantized values could wrap around 2^k.
    /// </summary>
    public Quantization.Quantizer? Quantizer { get; init; }
}

/// <summary>Timings and byte counts of the last sum (for benchmarks).</summary>
public sealed record HomomorphicSumStats(
    TimeSpan EncryptPerBank, TimeSpan AddPerBank, TimeSpan DecryptionSharePerBank, TimeSpan Combine,
    long BytesUploaded, long BytesDownloaded, int Chunks);

/// <summary>The harness: N banks, one aggregator, one key setup, many sums.</summary>
public sealed class HomomorphicSession : IDisposable
{
    private readonly HomomorphicBank[] _banks;
    private readonly RandomNumberGenerator _setupRandom;
    private readonly Ed25519SigningKey _aggregatorKey;
    private readonly byte[][] _roster;
    private readonly byte[]? _testSeed;
    private ulong _round;
    private bool _disposed;

    /// <summary>Runs the setup for <paramref name="banks"/> banks.</summary>
    public HomomorphicSession(int banks, HomomorphicOptions? options = null)
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
        _testSeed = options.TestSeed is null ? null : (byte[])options.TestSeed.Clone();
        Parallel = options.Parallel;
        _setupRandom = RandomFor("setup");
        Banks = banks;
        _aggregatorKey = Ed25519SigningKey.Generate(_setupRandom);
        _banks = new HomomorphicBank[banks];
        for (int b = 0; b < banks; b++)
            _banks[b] = new HomomorphicBank(b, Parameters, options.Ledgers?.Invoke(b) ?? new InMemoryDecryptionLedger(), ChunkRandom);
        _roster = _banks.Select(b => b.Identity.PublicKey.ToArray()).ToArray();
        foreach (HomomorphicBank b in _banks) b.JoinRoster(_roster, _aggregatorKey.PublicKey);
        RunSetup();
    }

    /// <summary>How many key setups this session has run (1 + rotations after spent budgets).</summary>
    public int KeyGeneration { get; private set; }

    /// <summary>
    /// Rotates every key: fresh secret keys, a fresh CRS coin and collective key, fresh Shamir points (and so
    /// fresh decryption budgets). Runs automatically before a sum that the remaining budget cannot cover.
    /// </summary>
    public void Rekey()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (HomomorphicBank b in _banks) b.NewKey();
        RunSetup();
    }

    /// <summary>Number of banks N.</summary>
    public int Banks { get; }
    /// <summary>RLWE parameters.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>T, K_min and budget.</summary>
    public DecryptionPolicy Policy { get; }
    /// <summary>Identifier of the current key generation (public, fresh at every setup).</summary>
    public byte[] SessionId { get; private set; } = [];
    /// <summary>The collective public key (sum p_i, a) from setup.</summary>
    public PublicKey? CollectivePublicKey { get; private set; }
    /// <summary>Bytes sent by banks during setup.</summary>
    public long SetupBytesUploaded { get; private set; }
    /// <summary>Bytes sent by the aggregator during setup.</summary>
    public long SetupBytesDownloaded { get; private set; }
    /// <summary>Statistics of the last sum.</summary>
    public HomomorphicSumStats? LastStats { get; private set; }
    /// <summary>Use both cores where work splits by chunk (benchmarks switch it off to measure one core).</summary>
    public bool Parallel { get; set; }
    /// <summary>The agreed compact scheme (public data only).</summary>
    public CompactScheme? Scheme { get; private set; }

    /// <summary>The roster of bank identity public keys (Ed25519, index = bank).</summary>
    public IReadOnlyList<byte[]> IdentityPublicKeys => _roster;
    /// <summary>The aggregator's Ed25519 public key (signs contributor lists).</summary>
    public byte[] AggregatorPublicKey => _aggregatorKey.PublicKey.ToArray();
    /// <summary>Bank <paramref name="index"/>'s party object (tests play an adversarial aggregator against it).</summary>
    internal HomomorphicBank BankParty(int index) => _banks[index];
    /// <summary>The aggregator's own signing key (tests play the aggregator).</summary>
    internal Ed25519SigningKey AggregatorSigningKey => _aggregatorKey;

    /// <summary>The current round (the last sum's round; 0 before the first).</summary>
    public ulong Round => _round;

    /// <summary>Randomness of a bank's purpose: the OS CSPRNG, or derived from the test seed.</summary>
    private RandomNumberGenerator ChunkRandom(string label) => RandomFor(label);

    private RandomNumberGenerator RandomFor(string label)
    {
        if (_testSeed is null) return RandomNumberGenerator.Create();
        byte[] seed = SHA256.HashData([.. _testSeed, .. Encoding.UTF8.GetBytes("|" + label)]);
        try { return new DeterministicRandom(seed); }
        finally { CryptographicOperations.ZeroMemory(seed); }
    }

    private void RunSetup()
    {
        int n = Banks;
        KeyGeneration++;
        SessionId = new byte[16];
        _setupRandom.GetBytes(SessionId);
        // 1. CRS coin, commit then reveal, relayed by the aggregator to every bank.
        var contributions = _banks.Select(b => CrsContribution.Create(SessionId, b.Index, b.Random)).ToArray();
        var commitments = contributions.ToDictionary(c => c.Bank, c => c.Commitment);
        SetupBytesUploaded += n * 32L; SetupBytesDownloaded += (long)n * n * 32;
        var reveals = contributions.ToDictionary(c => c.Bank, c => c.Reveal());
        SetupBytesUploaded += n * 32L; SetupBytesDownloaded += (long)n * n * 32;
        byte[]? seed = null;
        foreach (HomomorphicBank bank in _banks)
        {
            byte[] derived = CommonRandomness.DeriveSeed(SessionId, n, commitments, reveals);
            if (seed is not null && !derived.AsSpan().SequenceEqual(seed)) throw Error.Violation(ViolationReason.Inconsistent, "CRS seeds differ");
            seed = derived;
        }
        foreach (CrsContribution c in contributions) c.Dispose();
        Scheme = new CompactScheme(Parameters, seed!);

        // 2. Collective public key: commitments first, then the shares; every bank checks every opening.
        var ckg = new PublicKeyGenProtocol(Parameters);
        var crp = CommonRandomness.Expand(Parameters, seed!, CrpPurpose.PublicKey, 0, 0);
        byte[][] shareBytes = _banks.Select(b => ckg.GenShare(b.Index, b.SecretKey, crp, b.Random).Serialize()).ToArray();
        byte[][] shareCommitments = shareBytes.Select(SHA256.HashData).ToArray();
        SetupBytesUploaded += n * 32L + shareBytes.Sum(s => (long)s.Length);
        SetupBytesDownloaded += (long)n * n * 32 + (long)n * shareBytes.Sum(s => (long)s.Length);
        PublicKeyShare aggregate = ckg.AllocateShare();
        for (int i = 0; i < n; i++)
        {
            if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(shareBytes[i]), shareCommitments[i]))
                throw Error.Violation(ViolationReason.AuthenticationFailed, "public-key share does not open its commitment");
            PublicKeyShare share = PublicKeyShare.Deserialize(Parameters, shareBytes[i]);
            if (share.Bank != i) throw Error.Violation(ViolationReason.UnknownSender, "public-key share of another bank");
            ckg.AggregateShares(share, aggregate);
        }
        CollectivePublicKey = ckg.GenPublicKey(aggregate, crp);

        // 3. Thresholdize: pairwise-encrypted Shamir points relayed by the aggregator.
        var thresholdizer = new Thresholdizer(Parameters);
        var received = new List<ShamirShare>[n];
        for (int j = 0; j < n; j++) received[j] = [];
        // Channel keys: every bank advertises a fresh X25519 key signed with its identity key, the aggregator relays the
        // adverts, and every bank verifies every advert before deriving any pairwise key (ShareChannel, SPEC.md 12.0).
        var channels = _banks.Select(b => new ShareChannel(b.Index, n, SessionId, b.Random)).ToArray();
        try
        {
            byte[][] adverts = _banks.Select(b => channels[b.Index].Advert(b.Identity)).ToArray();
            SetupBytesUploaded += n * (long)ShareChannel.AdvertSize;
            SetupBytesDownloaded += (long)n * n * ShareChannel.AdvertSize;
            foreach (ShareChannel channel in channels)
                foreach (byte[] advert in adverts) channel.AcceptAdvert(advert, _roster);
            // Sender by sender: each sealed point crosses the aggregator and is opened by its receiver at once,
            // so at most one Shamir polynomial and the receivers' own points are held.
            foreach (HomomorphicBank sender in _banks)
            {
                using ShamirPolynomial f = thresholdizer.GenShamirPolynomial(Policy.Threshold, sender.SecretKey, sender.Random);
                for (int j = 0; j < n; j++)
                {
                    byte[] sealedPoint;
                    using (ShamirShare point = thresholdizer.GenShareForParty(f, sender.Index, j))
                    {
                        byte[] plain = point.Serialize();
                        sealedPoint = channels[sender.Index].Seal(j, plain);
                        CryptographicOperations.ZeroMemory(plain);
                    }
                    SetupBytesUploaded += sealedPoint.Length;
                    SetupBytesDownloaded += sealedPoint.Length;
                    byte[] opened = channels[j].Open(sender.Index, sealedPoint);
                    ShamirShare delivered = ShamirShare.Deserialize(Parameters, opened);
                    CryptographicOperations.ZeroMemory(opened);
                    if (delivered.From != sender.Index || delivered.To != j) throw Error.Violation(ViolationReason.Inconsistent, "misaddressed Shamir point");
                    received[j].Add(delivered);
                }
            }
        }
        finally
        {
            foreach (ShareChannel channel in channels) channel.Dispose();
        }
        foreach (HomomorphicBank receiver in _banks)
        {
            var scheme = new CompactScheme(Parameters, seed!);
            receiver.InstallKey(scheme, new ThresholdKeyShare(scheme, receiver.Index, n, Policy, received[receiver.Index], receiver.Random));
            foreach (ShamirShare p in received[receiver.Index]) p.Dispose();
            received[receiver.Index].Clear();
        }
    }

    /// <summary>
    /// One exact sum mod t = 2^k_t: <paramref name="inputs"/>[b] is bank b's vector (values mod t), or null for a bank
    /// that does not submit; <paramref name="decryptors"/> are the T online banks that open the sum.
    /// Returns the sum mod t of the submitted vectors.
    /// </summary>
    public ulong[] Sum(IReadOnlyList<ulong[]?> inputs, IReadOnlyList<int> decryptors, out int[] contributors, CancellationToken cancellationToken = default)
    {
        ulong[] result = SumCore(inputs, decryptors, out int[] used, cancellationToken);
        contributors = used;
        return result;
    }

    private ulong[] SumCore(IReadOnlyList<ulong[]?> inputs, IReadOnlyList<int> decryptors, out int[] contributorsOut, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(decryptors);
        if (inputs.Count != Banks) throw Error.Argument(nameof(inputs), "One entry per bank (null for banks that do not submit).");
        int[] contributors = Enumerable.Range(0, Banks).Where(b => inputs[b] is not null).ToArray();
        contributorsOut = contributors;
        if (contributors.Length == 0) throw Error.Violation(ViolationReason.TooFewParticipants, "no bank submitted");
        int length = inputs[contributors[0]]!.Length;
        if (contributors.Any(b => inputs[b]!.Length != length)) throw Error.Argument(nameof(inputs), "All vectors must have the same length.");
        int n = Parameters.N;
        int chunks = Math.Max(1, (length + n - 1) / n);
        if (chunks > Policy.Budget) throw Error.Violation(ViolationReason.BudgetExhausted, "one sum needs more decryption shares than a whole key budget");
        if (decryptors.Any(d => d >= 0 && d < Banks && _banks[d].RemainingBudget < chunks)) Rekey();
        ulong round = ++_round;
        long uploaded = 0, downloaded = 0;

        // Banks encrypt (each bank's chunks in parallel), sign their manifests and upload.
        var (uploads, manifests, encryptPerBank) = EncryptAndSign(round, contributors, chunks, inputs, ref uploaded, cancellationToken);

        // Aggregator verifies each manifest, then validates and adds chunk by chunk, then signs each chunk's contributor list.
        var sums = new CompactCiphertext[chunks];
        var lists = new byte[chunks][];
        var intake = new UploadIntake(_roster, Scheme!.SessionTag, round, chunks, RlweObjectKind.CompactCiphertext);
        var addTime = System.Diagnostics.Stopwatch.StartNew();
        foreach (byte[] manifest in manifests) intake.AcceptManifest(manifest);
        For(chunks, k =>
        {
            CompactCiphertext sum = Scheme!.AllocateSum(round, (uint)k);
            for (int c = 0; c < contributors.Length; c++)
            {
                byte[] upload = uploads[c][k];
                intake.Accept(upload, (sender, _, bodyDigest) => Scheme.AddSerialized(sum, upload, sender, bodyDigest));
            }
            sums[k] = sum;
            lists[k] = intake.SignedList(_aggregatorKey, (uint)k);
        });
        TimeSpan addPerBank = addTime.Elapsed / contributors.Length;

        // T banks verify the contributors' manifests once, then answer decryption shares for all chunks.
        int[] active = [.. decryptors];
        var shares = new byte[active.Length][][];
        byte[][] forwarded = intake.Manifests(contributors);
        var shareTime = System.Diagnostics.Stopwatch.StartNew();
        for (int d = 0; d < active.Length; d++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (active[d] < 0 || active[d] >= Banks) throw Error.Violation(ViolationReason.UnknownSender, "decryptor outside the roster");
            // request: round, chunks, U, D, the contributors' manifests, one list per chunk
            downloaded += 8 + 4 + 4L * (contributors.Length + active.Length) + 4 + forwarded.Sum(m => (long)m.Length) + lists.Sum(l => (long)l.Length);
            _banks[active[d]].ReceiveManifests(round, chunks, forwarded);
            shares[d] = _banks[active[d]].DecryptionShares(round, chunks, contributors, active, lists, Parallel);
            uploaded += shares[d].Sum(s => (long)s.Length);
        }
        TimeSpan sharePerBank = shareTime.Elapsed / Math.Max(1, active.Length);

        // Aggregator combines.
        var result = new ulong[length];
        var combineTime = System.Diagnostics.Stopwatch.StartNew();
        For(chunks, k =>
        {
            int start = k * n, count = Math.Min(n, length - start);
            if (count <= 0) return;
            var chunkShares = new byte[active.Length][];
            for (int d = 0; d < active.Length; d++) chunkShares[d] = shares[d][k];
            ThresholdCombiner.Combine(Scheme!, sums[k], contributors, active, chunkShares, result.AsSpan(start, count));
        });
        TimeSpan combine = combineTime.Elapsed;
        LastStats = new HomomorphicSumStats(encryptPerBank, addPerBank, sharePerBank, combine, uploaded, downloaded, chunks);
        return result;
    }

    /// <summary>Each contributor encrypts its chunks and signs its manifest; counts upload bytes.</summary>
    private (byte[][][] Uploads, byte[][] Manifests, TimeSpan EncryptPerBank) EncryptAndSign(ulong round, int[] contributors, int chunks,
        IReadOnlyList<ulong[]?> inputs, ref long uploaded, CancellationToken cancellationToken)
    {
        var uploads = new byte[contributors.Length][][];
        var manifests = new byte[contributors.Length][];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int c = 0; c < contributors.Length; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            HomomorphicBank bank = _banks[contributors[c]];
            uploads[c] = bank.Encrypt(round, inputs[contributors[c]]!, chunks, Parallel);
            manifests[c] = bank.SignManifest(round, uploads[c], Parallel);
            uploaded += manifests[c].Length + uploads[c].Sum(u => (long)u.Length);
        }
        return (uploads, manifests, clock.Elapsed / contributors.Length);
    }

    private void For(int count, Action<int> body)
    {
        if (Parallel && count > 1) System.Threading.Tasks.Parallel.For(0, count, body);
        else for (int k = 0; k < count; k++) body(k);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (HomomorphicBank b in _banks) b.Dispose();
        _aggregatorKey.Dispose();
        _setupRandom.Dispose();
    }
}
