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
// Variant PublicKey (HomomorphicOptions.Variant): a contributor uploads ordinary (c0, c1) ciphertexts under the
//   collective key (45 bytes per value at n = 8192); per chunk the aggregator validates and adds them and sends each
//   decryptor a request carrying U, D, the sum and every upload; the bank checks each upload against its contributor's
//   signature, recomputes the sum and answers lambda_j * sigma_j * C1 + smudging
//   (Cryptography/Threshold/PublicKeyThresholdDecryption.cs); the aggregator combines chunk by chunk.
// Signatures (SPEC.md 12.2, SignedUploads.cs): every bank and the aggregator hold an Ed25519 identity key (public keys in the
//   roster); each contributor signs one manifest per round listing the SHA-256 of each of its uploads (kind 2 or 7), and the
//   aggregator verifies the manifest once, then adds each chunk whose digest it lists (UploadIntake: duplicates and other
//   rounds refused); per (round, chunk) the aggregator signs the contributor list (sender, upload digest). A decrypting bank
//   verifies the contributors' manifests once per round and answers a chunk only if its list verifies, equals the request's
//   U and lists the digests the contributors signed.
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Which ciphertexts the banks upload.</summary>
public enum HomomorphicVariant
{
    /// <summary>Compact ciphertexts c0 against a per-(round, chunk) common polynomial (22.5 B/value at the default set).</summary>
    Compact,
    /// <summary>Ordinary (c0, c1) public-key ciphertexts under the collective key (45 B/value at the default set).</summary>
    PublicKey,
}

/// <summary>Options of a homomorphic session.</summary>
public sealed record HomomorphicOptions
{
    /// <summary>RLWE parameters; default <see cref="ParameterSets.Default"/> (n = 8192, 3 x 60-bit primes, t = 2^44).</summary>
    public RlweParameters? Parameters { get; init; }
    /// <summary>T, the number of banks needed to decrypt; default ceil(2N/3) bounded to [1, N].</summary>
    public int? Threshold { get; init; }
    /// <summary>K_min, the fewest contributors a sum may have (at least 2); default min(T, N) but at least 2.</summary>
    public int? MinContributors { get; init; }
    /// <summary>Decryption shares each bank's key may produce before rotation.</summary>
    public long DecryptionBudget { get; init; } = 1L << 20;
    /// <summary>Seed for reproducible runs (TESTS ONLY); null uses the OS CSPRNG.</summary>
    public byte[]? TestSeed { get; init; }
    /// <summary>Run bank and aggregator work on both cores where it splits by chunk.</summary>
    public bool Parallel { get; init; } = true;
    /// <summary>Compact (default) or ordinary public-key ciphertexts.</summary>
    public HomomorphicVariant Variant { get; init; } = HomomorphicVariant.Compact;
}

/// <summary>Timings and byte counts of the last sum (for benchmarks).</summary>
public sealed record HomomorphicSumStats(
    TimeSpan EncryptPerBank, TimeSpan AddPerBank, TimeSpan DecryptionSharePerBank, TimeSpan Combine,
    long BytesUploaded, long BytesDownloaded, int Chunks);

/// <summary>The harness: N banks, one aggregator, one key setup, many sums.</summary>
public sealed class HomomorphicSession : IDisposable
{
    private readonly Bank[] _banks;
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
        int threshold = options.Threshold ?? Math.Max(1, (2 * banks + 2) / 3);
        if (threshold < 1 || threshold > banks) throw Error.OutOfRange(nameof(options), "T must be in 1..N.");
        int kMin = options.MinContributors ?? Math.Max(2, threshold);
        if (kMin < 2 || kMin > banks) throw Error.OutOfRange(nameof(options), "K_min must be in 2..N.");
        Policy = new DecryptionPolicy { Threshold = threshold, MinContributors = kMin, Budget = options.DecryptionBudget, MaxContributors = Math.Max(256, banks) };
        Variant = options.Variant;
        if (Variant == HomomorphicVariant.PublicKey) PublicKeySmudging.Bits(Parameters, Policy, banks); // typed InsecureParameters before any setup
        _testSeed = options.TestSeed is null ? null : (byte[])options.TestSeed.Clone();
        Parallel = options.Parallel;
        _setupRandom = RandomFor("setup");
        Banks = banks;
        _aggregatorKey = Ed25519SigningKey.Generate(_setupRandom);
        _banks = new Bank[banks];
        for (int b = 0; b < banks; b++) _banks[b] = new Bank(this, b);
        _roster = _banks.Select(b => b.Identity.PublicKey.ToArray()).ToArray();
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
        foreach (Bank b in _banks) b.NewKey();
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
    /// <summary>Compact or public-key ciphertexts.</summary>
    public HomomorphicVariant Variant { get; }
    /// <summary>The public-key scheme under the collective key (public data only).</summary>
    public PublicKeyThresholdScheme? PublicKeyScheme { get; private set; }

    /// <summary>The roster of bank identity public keys (Ed25519, index = bank).</summary>
    public IReadOnlyList<byte[]> IdentityPublicKeys => _roster;
    /// <summary>The aggregator's Ed25519 public key (signs contributor lists).</summary>
    public byte[] AggregatorPublicKey => _aggregatorKey.PublicKey.ToArray();
    /// <summary>The current round (the last sum's round; 0 before the first).</summary>
    public ulong Round => _round;

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
        foreach (Bank bank in _banks)
        {
            byte[] derived = CommonRandomness.DeriveSeed(SessionId, n, commitments, reveals);
            if (seed is not null && !derived.AsSpan().SequenceEqual(seed)) throw Error.Violation(ViolationReason.Inconsistent, "CRS seeds differ");
            seed = derived;
        }
        foreach (CrsContribution c in contributions) c.Dispose();
        Scheme = new CompactScheme(Parameters, seed!);
        foreach (Bank bank in _banks) bank.Scheme = new CompactScheme(Parameters, seed!);

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
        PublicKeyScheme = new PublicKeyThresholdScheme(Scheme, CollectivePublicKey);

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
            foreach (Bank sender in _banks)
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
        foreach (Bank receiver in _banks)
        {
            receiver.KeyShare?.Dispose();
            receiver.KeyShare = new ThresholdKeyShare(receiver.Scheme!, receiver.Index, n, Policy, received[receiver.Index], receiver.Random);
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
        if (decryptors.Any(d => d >= 0 && d < Banks && _banks[d].KeyShare!.Remaining < chunks)) Rekey();
        ulong round = ++_round;
        if (Variant == HomomorphicVariant.PublicKey) return SumPublicKey(round, inputs, decryptors, contributors, length, chunks, cancellationToken);
        long uploaded = 0, downloaded = 0;

        // Banks encrypt (each bank's chunks in parallel), sign their manifests and upload.
        var (uploads, manifests, encryptPerBank) = EncryptAndSign(round, RlweObjectKind.CompactCiphertext, contributors,
            (bank, values) => bank.Encrypt(round, values, chunks, Parallel), inputs, ref uploaded, cancellationToken);

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
            _banks[active[d]].ReceiveManifests(round, RlweObjectKind.CompactCiphertext, chunks, forwarded);
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

    /// <summary>Each contributor encrypts its chunks with <paramref name="encrypt"/> and signs its manifest; counts upload bytes.</summary>
    private (byte[][][] Uploads, byte[][] Manifests, TimeSpan EncryptPerBank) EncryptAndSign(ulong round, RlweObjectKind kind, int[] contributors,
        Func<Bank, ulong[], byte[][]> encrypt, IReadOnlyList<ulong[]?> inputs, ref long uploaded, CancellationToken cancellationToken)
    {
        var uploads = new byte[contributors.Length][][];
        var manifests = new byte[contributors.Length][];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int c = 0; c < contributors.Length; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Bank bank = _banks[contributors[c]];
            uploads[c] = encrypt(bank, inputs[contributors[c]]!);
            manifests[c] = UploadManifest.Sign(bank.Identity, Scheme!.SessionTag, round, kind, bank.Index, uploads[c], Parallel);
            uploaded += manifests[c].Length + uploads[c].Sum(u => (long)u.Length);
        }
        return (uploads, manifests, clock.Elapsed / contributors.Length);
    }

    private ulong[] SumPublicKey(ulong round, IReadOnlyList<ulong[]?> inputs, IReadOnlyList<int> decryptors, int[] contributors, int length, int chunks,
        CancellationToken cancellationToken)
    {
        int n = Parameters.N;
        long uploaded = 0, downloaded = 0;

        // Banks encrypt under the collective key, sign their manifests and upload.
        var (uploads, manifests, encryptPerBank) = EncryptAndSign(round, RlweObjectKind.PublicKeyCiphertext, contributors,
            (bank, values) => bank.EncryptPublicKey(round, values, chunks, Parallel), inputs, ref uploaded, cancellationToken);
        var intake = new UploadIntake(_roster, Scheme!.SessionTag, round, chunks, RlweObjectKind.PublicKeyCiphertext);

        int[] active = [.. decryptors];
        if (active.Any(d => d < 0 || d >= Banks)) throw Error.Violation(ViolationReason.UnknownSender, "decryptor outside the roster");
        var result = new ulong[length];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (byte[] manifest in manifests) intake.AcceptManifest(manifest);
        TimeSpan manifestCheck = clock.Elapsed;
        // Once per round, each decryptor receives and verifies the contributors' manifests.
        byte[][] forwarded = intake.Manifests(contributors);
        clock.Restart();
        foreach (int d in active) _banks[d].ReceiveManifests(round, RlweObjectKind.PublicKeyCiphertext, chunks, forwarded);
        TimeSpan manifestReceive = clock.Elapsed;
        downloaded += (long)active.Length * forwarded.Sum(m => (long)m.Length);
        long addTicks = 0, shareTicks = 0, combineTicks = 0;
        // Chunk by chunk (a request carries every upload of its chunk): aggregate, ask T banks, combine.
        long loopStart = System.Diagnostics.Stopwatch.GetTimestamp();
        For(chunks, k =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            var parsed = new List<PublicKeyCiphertext>(contributors.Length);
            for (int c = 0; c < contributors.Length; c++)
            {
                byte[] upload = uploads[c][k];
                intake.Accept(upload, (sender, _, _) =>
                {
                    PublicKeyCiphertext ct = PublicKeyCiphertext.Deserialize(Parameters, upload);
                    if (ct.Sender != sender) throw Error.Violation(ViolationReason.UnknownSender, "ciphertext sender differs from its signer");
                    parsed.Add(ct);
                });
            }
            PublicKeyDecryptionRequest request = PublicKeyScheme!.BuildRequest(round, (uint)k, parsed, active);
            byte[] requestBytes = request.Serialize();
            byte[] list = intake.SignedList(_aggregatorKey, (uint)k);
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            var shares = new byte[active.Length][];
            for (int d = 0; d < active.Length; d++) shares[d] = _banks[active[d]].PublicKeyDecryptionShare(requestBytes, list);
            long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
            int start = k * n, count = Math.Min(n, length - start);
            if (count > 0) PublicKeyScheme.Combine(request, shares, result.AsSpan(start, count));
            long t3 = System.Diagnostics.Stopwatch.GetTimestamp();
            Interlocked.Add(ref addTicks, t1 - t0);
            Interlocked.Add(ref shareTicks, t2 - t1);
            Interlocked.Add(ref combineTicks, t3 - t2);
            Interlocked.Add(ref downloaded, (long)(requestBytes.Length + list.Length) * active.Length);
            Interlocked.Add(ref uploaded, shares.Sum(x => (long)x.Length));
        });
        // Phases interleave across parallel chunks: scale the per-phase sums to the loop's wall time.
        long wall = System.Diagnostics.Stopwatch.GetTimestamp() - loopStart, total = addTicks + shareTicks + combineTicks;
        double scale = total > wall ? (double)wall / total : 1.0;
        TimeSpan Span(long ticks) => TimeSpan.FromSeconds(ticks * scale / System.Diagnostics.Stopwatch.Frequency);
        LastStats = new HomomorphicSumStats(encryptPerBank, (manifestCheck + Span(addTicks)) / contributors.Length,
            (manifestReceive + Span(shareTicks)) / active.Length, Span(combineTicks),
            uploaded, downloaded, chunks);
        return result;
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
        foreach (Bank b in _banks) b.Dispose();
        _aggregatorKey.Dispose();
        _setupRandom.Dispose();
    }

    /// <summary>One bank: its secret key and key share never leave this object.</summary>
    private sealed class Bank : IDisposable
    {
        private readonly HomomorphicSession _session;

        public Bank(HomomorphicSession session, int index)
        {
            _session = session;
            Index = index;
            Random = session.RandomFor("bank" + index);
            Identity = Ed25519SigningKey.Generate(Random);
            SecretKey = new Bfv(session.Parameters).GenerateSecretKey(Random);
        }

        private VerifiedManifests? _manifests;

        /// <summary>Long-term Ed25519 identity key (its public key is in the roster).</summary>
        public Ed25519SigningKey Identity { get; }

        /// <summary>Verifies the contributors' manifests of a round once; the round's contributor lists are checked against them.</summary>
        public void ReceiveManifests(ulong round, RlweObjectKind kind, int chunks, byte[][] manifests) =>
            _manifests = new VerifiedManifests(manifests, _session._roster, Scheme!.SessionTag, round, kind, chunks);

        /// <summary>Checks the aggregator's signed list of (round, chunk) against U and the contributors' signed manifests.</summary>
        private ContributorList CheckList(byte[] list, ulong round, uint chunk, RlweObjectKind kind, IReadOnlyList<int> contributors)
        {
            if (_manifests is null) throw Error.Violation(ViolationReason.WrongRoundOrState, "no verified manifests for this round");
            ContributorList parsed = ContributorList.Parse(list, _session._aggregatorKey.PublicKey, _session.Banks);
            parsed.VerifyEntries(Scheme!.SessionTag, round, chunk, kind, contributors, _manifests);
            return parsed;
        }

        public byte[] PublicKeyDecryptionShare(byte[] request, byte[] list)
        {
            ContributorList? checkedList = null;
            // The list's entries were checked against each contributor's signed manifest (CheckList), so an upload is
            // authentic when its SHA-256 is the listed (signed) digest of its sender.
            return KeyShare!.GenPublicKeyDecryptionShareByDigest(request,
                (sender, uploadDigest) =>
                {
                    ContributorEntry? e = checkedList?.Find(sender);
                    return e is not null && CryptographicOperations.FixedTimeEquals(uploadDigest, e.UploadDigest);
                },
                (round, chunk, contributors) =>
                {
                    checkedList = CheckList(list, round, chunk, RlweObjectKind.PublicKeyCiphertext, contributors);
                    return true;
                });
        }

        public void NewKey()
        {
            SecretKey.Dispose();
            SecretKey = new Bfv(_session.Parameters).GenerateSecretKey(Random);
        }

        public int Index { get; }
        public RandomNumberGenerator Random { get; }
        public SecretKey SecretKey { get; private set; }
        public CompactScheme? Scheme { get; set; }
        public ThresholdKeyShare? KeyShare { get; set; }

        public byte[][] Encrypt(ulong round, ulong[] values, int chunks, bool parallel)
        {
            int n = _session.Parameters.N;
            var output = new byte[chunks][];
            ulong mask = Scheme!.Encoder.PlainMask;
            foreach (ulong v in values)
                if (v > mask) throw Error.Argument(nameof(values), "A value is not below t.");
            void One(int k)
            {
                using RandomNumberGenerator rng = _session._testSeed is null ? RandomNumberGenerator.Create() : _session.RandomFor($"bank{Index}/r{round}/k{k}");
                int start = k * n, count = Math.Max(0, Math.Min(n, values.Length - start));
                output[k] = Scheme.EncryptToBytes(SecretKey, Index, round, (uint)k, values.AsSpan(start, count), rng);
            }
            if (parallel && chunks > 1) System.Threading.Tasks.Parallel.For(0, chunks, One);
            else for (int k = 0; k < chunks; k++) One(k);
            return output;
        }

        public byte[][] EncryptPublicKey(ulong round, ulong[] values, int chunks, bool parallel)
        {
            int n = _session.Parameters.N;
            var output = new byte[chunks][];
            PublicKeyThresholdScheme scheme = _session.PublicKeyScheme!;
            ulong mask = scheme.Encoder.PlainMask;
            foreach (ulong v in values)
                if (v > mask) throw Error.Argument(nameof(values), "A value is not below t.");
            void One(int k)
            {
                using RandomNumberGenerator rng = _session._testSeed is null ? RandomNumberGenerator.Create() : _session.RandomFor($"bank{Index}/pk/r{round}/k{k}");
                int start = k * n, count = Math.Max(0, Math.Min(n, values.Length - start));
                output[k] = scheme.Encrypt(Index, round, (uint)k, values.AsSpan(start, count), rng).Serialize();
            }
            if (parallel && chunks > 1) System.Threading.Tasks.Parallel.For(0, chunks, One);
            else for (int k = 0; k < chunks; k++) One(k);
            return output;
        }

        public byte[][] DecryptionShares(ulong round, int chunks, int[] contributors, int[] active, byte[][] lists, bool parallel)
        {
            if (lists.Length != chunks) throw Error.Violation(ViolationReason.Malformed, "one contributor list per chunk");
            // Every chunk's signed contributor list is checked before any share leaves the bank.
            void Check(int k) => CheckList(lists[k], round, (uint)k, RlweObjectKind.CompactCiphertext, contributors);
            if (parallel && chunks > 1) System.Threading.Tasks.Parallel.For(0, chunks, Check);
            else for (int k = 0; k < chunks; k++) Check(k);
            var output = new byte[chunks][];
            // Warm the (U, D) weighted point once, then answer every chunk.
            output[0] = KeyShare!.GenDecryptionShare(round, 0, contributors, active);
            if (parallel && chunks > 2) System.Threading.Tasks.Parallel.For(1, chunks, k => output[k] = KeyShare.GenDecryptionShare(round, (uint)k, contributors, active));
            else for (int k = 1; k < chunks; k++) output[k] = KeyShare.GenDecryptionShare(round, (uint)k, contributors, active);
            return output;
        }

        public void Dispose()
        {
            Identity.Dispose();
            SecretKey.Dispose();
            KeyShare?.Dispose();
            Random.Dispose();
        }
    }
}
