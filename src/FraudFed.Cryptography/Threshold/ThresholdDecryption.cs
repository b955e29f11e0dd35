// ThresholdDecryption: threshold decryption of compact-ciphertext sums with mandatory smudging
// (ePrint 2022/780 section 4; Asharov, Jain, Lopez-Alt, Tromer, Vaikuntanathan, Wichs, EUROCRYPT 2012,
// "smudging" lemma 2.1: for |e| <= E and x uniform in [-B, B], SD(e + x, x) <= E / B).
//
// Bank j in active set D (|D| = T) answering for round r, chunk k and contributor set U:
//   sigma_j(U) = sum_{i in U} f_i(x_j)                   (a Shamir point of S_U = sum_{i in U} s_i)
//   h_j        = lambda_j(D) * sigma_j(U) * a_{r,k} + x_j,  x_j uniform in [-B, B], B = 2^b - 1   (in RNS, mod Q)
//   h_j'       = round(2^64 h_j / Q) mod 2^64           (ModulusSwitch, the upload's rule; kind 11 carries these n words)
// Combine, with t = 2^k, in Z_{2^64} only: W = C0' + sum_{j in D} h_j' (mod 2^64), m = (W + 2^(63-k)) >> (64-k).
// Smudging size (SmudgingLemma): the total leakage over the key share's budget of D answers, n coefficients
// each, is at most D * n * E / B <= 2^-lambda for E = K_max * 19 (K_max contributors' fresh noise), i.e.
//   b = lambda + ceil(log2 n) + ceil(log2 D) + ceil(log2(K_max * 19)).
// Exactness (SPEC.md 12.0 step 7): C0 + sum h_j = Q M / t + E (mod Q) with |E| <= T B + 19 K_max + K_max / 2 (smudging,
// fresh errors, the encoding's roundings), so W = 2^(64-k) M + 2^64 E / Q + R (mod 2^64), R the roundings of K_max
// switched uploads and T switched shares, each at most 1/2 + 2^-60. m is exact while
//   2^64 E / Q + (K_max + T)(1/2 + 2^-60) < 2^(63-k)
// (checked, typed InsecureParameters). Defaults (lambda = 60, D = 2^20, K_max = 256, n = 8192, log Q = 180, k = 44):
// b = 60 + 13 + 20 + 13 = 106, T 2^-10 + (256 + T)/2 + ... against 2^19. The switch of the share is a public function of
// h_j, so it reveals nothing h_j did not: the smudging argument is made on h_j, unchanged (SPEC.md 12.0 step 5).
// Share generation here is stateless: it checks the sets of one request (|U| >= K_min, D = T banks with this one) but
// keeps no record. The one-answer-per-(round, chunk) rule and the budget are the protocol's
// (FraudFed.Protocol.Homomorphic.DecryptionGuard over an IDecryptionLedger), since they must survive a restart.
// Collusion bound (SPEC.md 12.3, DecryptionPolicy.Validate): with c colluding banks, two active sets D1, D2 of
// size T share at least 2T - N banks; if 2T > N + c one of them is honest and refuses the second contributor set,
// so at most one U is ever opened per (round, chunk). K_min >= c + 2 keeps every opened sum over two honest banks.
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>
/// Decryption policy shared by all banks of a session (SPEC.md 12.3): T, K_min, the declared collusion bound c, the
/// decryption budget and the smudging sizes. <see cref="Validate"/> refuses a policy that does not meet the bound.
/// </summary>
public sealed record DecryptionPolicy
{
    /// <summary>T: number of banks that must cooperate to decrypt.</summary>
    public required int Threshold { get; init; }
    /// <summary>K_min: fewest distinct contributors a sum must have before any bank answers (at least c + 2).</summary>
    public required int MinContributors { get; init; }
    /// <summary>
    /// c: the number of banks that may collude with the aggregator against the others (declared, not detected; required,
    /// so that no policy silently assumes c = 0; <see cref="DefaultMaxColluders"/> gives the usual c &lt; N/3).
    /// The session is safe against them only if 2T &gt; N + c and K_min &gt;= c + 2 (<see cref="Validate"/>).
    /// </summary>
    public required int MaxColluders { get; init; }
    /// <summary>Most decryption shares one key share may ever produce (rotate keys when spent).</summary>
    public long Budget { get; init; } = 1L << 20;
    /// <summary>Statistical security lambda of the smudging, in bits.</summary>
    public int StatisticalSecurity { get; init; } = 60;
    /// <summary>Largest contributor count the smudging is sized for.</summary>
    public int MaxContributors { get; init; } = 256;

    /// <summary>The default declared collusion bound for <paramref name="banks"/> banks: the largest c &lt; N/3.</summary>
    /// <exception cref="ArgumentOutOfRangeException">fewer than two banks.</exception>
    public static int DefaultMaxColluders(int banks)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        return (banks + 2) / 3 - 1;
    }

    /// <summary>The smallest safe threshold for N banks and c colluders: T = floor((N + c) / 2) + 1 (SPEC.md 12.3).</summary>
    /// <exception cref="ArgumentOutOfRangeException">fewer than two banks, or c outside 0..N-2.</exception>
    public static int MinimumSafeThreshold(int banks, int maxColluders)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        if (maxColluders < 0 || maxColluders > banks - 2) throw Error.OutOfRange(nameof(maxColluders), "c must be in 0..N-2.");
        return (banks + maxColluders) / 2 + 1;
    }

    /// <summary>
    /// Checks the policy for a roster of <paramref name="banks"/> banks (SPEC.md 12.3), in this order: 1 &lt;= T &lt;= N,
    /// 0 &lt;= c, 2 &lt;= K_min &lt;= N, c &lt;= N - 2, 2T &gt; N + c (else two decryptor sets without a common honest bank could open two
    /// contributor sets of one ciphertext, and their difference is one bank's input), K_min &gt;= c + 2 (else c colluders
    /// and one victim form an admissible sum), Budget &gt;= 1, MaxContributors &gt;= N.
    /// </summary>
    /// <exception cref="ProtocolViolationException">reason InsecureParameters, naming the violated bound and the fix.</exception>
    public void Validate(int banks)
    {
        void Refuse(string why) => throw Error.Violation(ViolationReason.InsecureParameters, why);
        if (banks < 2) Refuse($"a roster of {banks} banks: at least two are needed");
        if (Threshold < 1 || Threshold > banks) Refuse($"T = {Threshold} is outside 1..N = {banks}");
        if (MaxColluders < 0) Refuse($"the declared collusion bound c = {MaxColluders} is negative");
        if (MinContributors < 2 || MinContributors > banks) Refuse($"K_min = {MinContributors} is outside 2..N = {banks}: a single bank's ciphertext is never decrypted");
        if (MaxColluders > banks - 2)
            Refuse($"c = {MaxColluders} colluders among N = {banks} banks leaves fewer than two honest banks: no threshold protects them; declare c <= {banks - 2}");
        if (2L * Threshold <= (long)banks + MaxColluders)
            Refuse($"T = {Threshold} is too small for N = {banks} banks and c = {MaxColluders} colluders: 2T must exceed N + c, " +
                $"else two decryptor sets share no honest bank and the difference of two opened sums is one bank's input; use T >= {(banks + (long)MaxColluders) / 2 + 1}");
        if (MinContributors < MaxColluders + 2L)
            Refuse($"K_min = {MinContributors} lets c = {MaxColluders} colluders open a sum of themselves and one other bank; use K_min >= {MaxColluders + 2L}");
        if (Budget < 1) Refuse("the decryption budget must be at least 1");
        if (MaxContributors < banks) Refuse($"the smudging is sized for {MaxContributors} contributors, fewer than the roster's {banks}");
    }
}

/// <summary>The smudging lemma applied to a parameter set and policy, and the exactness of the switched combine.</summary>
internal static class SmudgingLemma
{
    /// <summary>b with B = 2^b - 1; throws typed InsecureParameters if the noise would break exact decryption
    /// (<see cref="SwitchedNoiseFits"/>).</summary>
    public static int Bits(RlweParameters p, DecryptionPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(policy);
        int freshBits = CeilLog2((ulong)policy.MaxContributors * Samplers.GaussianBound);
        int bits = policy.StatisticalSecurity + CeilLog2((ulong)p.N) + CeilLog2((ulong)policy.Budget) + freshBits;
        if (bits > Samplers.MaxSmudgingBits)
            throw Error.Violation(ViolationReason.InsecureParameters, "smudging would exceed 2^126");
        if (p.PlainModulusBits is < 1 or > 62)
            throw Error.Violation(ViolationReason.InsecureParameters, $"the combine mod 2^64 needs 1 <= k <= 62 (t = 2^k), not k = {p.PlainModulusBits}");
        if (!SwitchedNoiseFits(p, policy, bits))
            throw Error.Violation(ViolationReason.InsecureParameters,
                $"the noise of an opened sum (T = {policy.Threshold} smudged shares of 2^{bits}, K_max = {policy.MaxContributors} uploads, and the rounding of " +
                $"K_max + T words switched to 2^64) reaches 2^(63-k) = 2^{63 - p.PlainModulusBits}: decryption would not be exact");
        return bits;
    }

    /// <summary>
    /// Largest phase noise |E| of an opened aggregate before switching (SPEC.md 12.0 step 7), in units of the phase mod Q:
    /// T (2^b - 1) of smudging, K_max * 19 of fresh errors, and ceil(K_max / 2) for the encoding's roundings (the sum of
    /// K_max values round(Q m_i / t) differs from Q M / t by at most K_max / 2).
    /// </summary>
    internal static BigInteger PhaseNoiseBound(RlweParameters p, DecryptionPolicy policy, int bits) =>
        policy.Threshold * ((BigInteger.One << bits) - 1) + (BigInteger)policy.MaxContributors * Samplers.GaussianBound + (policy.MaxContributors + 1) / 2;

    /// <summary>
    /// Whether the switched combine is exact (SPEC.md 12.0 step 7): 2^64 E / Q + (K_max + T)(1/2 + 2^-60) &lt; 2^(63-k), with E =
    /// <see cref="PhaseNoiseBound"/> and one rounding of at most 1/2 + 2^-60 per switched word (K_max uploads, T shares).
    /// Decided exactly, multiplied by 2^60 Q: 2^124 E + (K_max + T)(2^59 + 1) Q &lt; 2^(123-k) Q.
    /// </summary>
    internal static bool SwitchedNoiseFits(RlweParameters p, DecryptionPolicy policy, int bits)
    {
        BigInteger q = p.Basis.Q;
        BigInteger words = (BigInteger)policy.MaxContributors + policy.Threshold;
        BigInteger lhs = (PhaseNoiseBound(p, policy, bits) << 124) + words * ((BigInteger.One << 59) + 1) * q;
        return lhs < (q << (123 - p.PlainModulusBits));
    }

    private static int CeilLog2(ulong x) => x <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount(x - 1);
}

/// <summary>A threshold decryption share h_j' = round(2^64 h_j / Q) mod 2^64 for (round, chunk): kind 11, n u64 words
/// (SPEC.md 12.0 step 5).</summary>
internal sealed class DecryptionShare
{
    internal const int ContextSize = ChunkLabel.Size + 32;

    internal DecryptionShare(RlweParameters p, byte[] sessionTag, ulong round, uint chunk, int sender, byte[] fingerprint, ulong[] words)
    {
        Parameters = p; SessionTag = sessionTag; Round = round; Chunk = chunk; Sender = sender; Fingerprint = fingerprint; Words = words;
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Chunk.</summary>
    public uint Chunk { get; }
    /// <summary>Answering bank.</summary>
    public int Sender { get; }
    /// <summary>SHA-256 of (round, chunk, U, D) the share answers.</summary>
    public byte[] Fingerprint { get; }
    /// <summary>h_j' = round(2^64 h_j / Q) mod 2^64, n words.</summary>
    internal ulong[] Words { get; }

    /// <summary>Serialized size for a parameter set: 56 + 64 + 8 n + 16 bytes.</summary>
    public static int SerializedSize(RlweParameters p) => RlweCodec.Size(p, RlweObjectKind.SwitchedDecryptionShare, ContextSize, 1);

    /// <summary>Serializes the share (kind 11).</summary>
    public byte[] Serialize()
    {
        Span<byte> ctx = stackalloc byte[ContextSize];
        ChunkLabel.Write(ctx, SessionTag, Round, Chunk, Sender);
        Fingerprint.CopyTo(ctx[ChunkLabel.Size..]);
        return RlweCodec.WriteWords(Parameters, RlweObjectKind.SwitchedDecryptionShare, ctx, [], Words);
    }

    /// <summary>Parses and validates an untrusted share (envelope checks of SPEC.md 12; every word is valid).</summary>
    /// <exception cref="ProtocolViolationException">Malformed (including a retired kind-6 share), Oversized, Inconsistent.</exception>
    public static DecryptionShare Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        int offset = RlweCodec.CheckEnvelope(p, data, RlweObjectKind.SwitchedDecryptionShare, 1, ContextSize, out bool ntt, default);
        if (ntt) throw Error.Violation(ViolationReason.Malformed, "decryption shares travel in the coefficient domain");
        ReadOnlySpan<byte> ctx = data.Slice(RlweCodec.HeaderSize, ContextSize);
        var words = new ulong[p.N];
        ReadOnlySpan<byte> payload = data.Slice(offset, 8 * p.N);
        for (int j = 0; j < words.Length; j++) words[j] = BinaryPrimitives.ReadUInt64LittleEndian(payload[(8 * j)..]);
        return new DecryptionShare(p, ChunkLabel.SessionTag(ctx), ChunkLabel.Round(ctx), ChunkLabel.Chunk(ctx), ChunkLabel.Sender(ctx),
            ctx[ChunkLabel.Size..].ToArray(), words);
    }

    /// <summary>SHA-256 binding of a request: session tag, round, chunk, sorted U, sorted D.</summary>
    public static byte[] ComputeFingerprint(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        ArgumentNullException.ThrowIfNull(active);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData("FraudFed decryption request v1"u8);
        h.AppendData(sessionTag);
        Span<byte> w = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(w, round); h.AppendData(w);
        BinaryPrimitives.WriteUInt32LittleEndian(w, chunk); h.AppendData(w[..4]);
        foreach (IReadOnlyList<int> set in new[] { contributors, active })
        {
            BinaryPrimitives.WriteInt32LittleEndian(w, set.Count); h.AppendData(w[..4]);
            foreach (int b in set.Order()) { BinaryPrimitives.WriteInt32LittleEndian(w, b); h.AppendData(w[..4]); }
        }
        return h.GetHashAndReset();
    }
}

/// <summary>
/// A bank's decryption key material: the Shamir points it received from every roster bank, kept separately so
/// that it can answer for the sum over any contributor set U (SPEC.md 12.0 step 5). Stateless about answers:
/// the one-answer rule and the budget belong to the protocol's DecryptionGuard. Dispose to clear.
/// </summary>
internal sealed class ThresholdKeyShare : IDisposable
{
    private readonly CompactScheme _scheme;
    private readonly RlweParameters _p;
    private readonly RnsPoly[] _points;                      // index = sending bank
    private readonly byte[] _smudgingKey = new byte[32];
    private readonly object _gate = new();
    private (byte[] Key, RnsPoly Weighted, RnsPoly Shoup)? _weightedCache;  // lambda_j(D) * sigma_j(U) for the last (U, D)
    private readonly List<RnsPoly> _retired = [];  // replaced cache entries, cleared once no share is in flight
    private int _inFlight;
    private bool _disposed;

    /// <summary>
    /// Builds the key share of bank <paramref name="self"/> from one point per roster bank (To == self), after checking
    /// the policy against the roster (<see cref="DecryptionPolicy.Validate"/>): a bank refuses to hold a share of a
    /// key whose policy does not meet its declared collusion bound.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="self"/> outside the roster.</exception>
    /// <exception cref="ProtocolViolationException">InsecureParameters (policy), Inconsistent / UnknownSender / Duplicate /
    /// TooFewParticipants (the received points).</exception>
    public ThresholdKeyShare(CompactScheme scheme, int self, int rosterSize, DecryptionPolicy policy, IEnumerable<ShamirShare> received, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(received);
        ArgumentNullException.ThrowIfNull(rng);
        policy.Validate(rosterSize);
        if (self < 0 || self >= rosterSize) throw Error.OutOfRange(nameof(self), "Bank index outside the roster.");
        _scheme = scheme;
        _p = scheme.Parameters;
        Self = self;
        RosterSize = rosterSize;
        Policy = policy;
        SmudgingBits = SmudgingLemma.Bits(_p, policy);
        _points = new RnsPoly[rosterSize];
        try
        {
            foreach (ShamirShare s in received)
            {
                if (s.To != self) throw Error.Violation(ViolationReason.Inconsistent, "a point addressed to another bank");
                if (s.From < 0 || s.From >= rosterSize) throw Error.Violation(ViolationReason.UnknownSender, "a point from outside the roster");
                if (_points[s.From] is not null) throw Error.Violation(ViolationReason.Duplicate, "two points from one bank");
                _points[s.From] = s.Value.Clone();
            }
            if (_points.Any(x => x is null)) throw Error.Violation(ViolationReason.TooFewParticipants, "a roster bank's point is missing");
        }
        catch
        {
            // The object is never returned, so nobody could Dispose it: clear the copies of the secret points made so far.
            foreach (RnsPoly? point in _points) point?.Clear();
            throw;
        }
        rng.GetBytes(_smudgingKey);
    }

    private ThresholdKeyShare(CompactScheme scheme, int self, int rosterSize, DecryptionPolicy policy, RnsPoly[] points, ReadOnlySpan<byte> smudgingKey)
    {
        _scheme = scheme;
        _p = scheme.Parameters;
        Self = self;
        RosterSize = rosterSize;
        Policy = policy;
        SmudgingBits = SmudgingLemma.Bits(_p, policy);
        _points = points;
        smudgingKey.CopyTo(_smudgingKey);
    }

    /// <summary>
    /// The share's at-rest form for the bank's encrypted state file (SPEC.md 14.6): the 32-byte smudging key, then the
    /// point received from each roster bank in roster order (N * limbs * 8 bytes each, NTT domain). Keeping the smudging
    /// key keeps answers deterministic across a restart (a repeated request gets identical bytes). SECRET: the caller
    /// encrypts it and clears the array after use.
    /// </summary>
    /// <exception cref="ObjectDisposedException">the share was disposed.</exception>
    public byte[] ExportState()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int size = PolyState.Size(_p.Basis);
        var bytes = new byte[32 + RosterSize * size];
        _smudgingKey.CopyTo(bytes, 0);
        for (int i = 0; i < RosterSize; i++) PolyState.Write(_points[i], bytes.AsSpan(32 + i * size, size));
        return bytes;
    }

    /// <summary>Reads a share written by <see cref="ExportState"/> for the same scheme, index, roster size and policy
    /// (the policy is validated as at construction).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="self"/> outside the roster.</exception>
    /// <exception cref="ProtocolViolationException">InsecureParameters (policy); Malformed (length or a coefficient).</exception>
    public static ThresholdKeyShare ImportState(CompactScheme scheme, int self, int rosterSize, DecryptionPolicy policy, ReadOnlySpan<byte> state)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate(rosterSize);
        if (self < 0 || self >= rosterSize) throw Error.OutOfRange(nameof(self), "Bank index outside the roster.");
        int size = PolyState.Size(scheme.Parameters.Basis);
        if (state.Length != 32 + (long)rosterSize * size) throw Error.Violation(ViolationReason.Malformed, "a stored key share of the wrong length");
        var points = new RnsPoly[rosterSize];
        try
        {
            for (int i = 0; i < rosterSize; i++) points[i] = PolyState.Read(scheme.Parameters.Basis, state.Slice(32 + i * size, size), isNtt: true);
        }
        catch
        {
            foreach (RnsPoly p in points) p?.Clear();
            throw;
        }
        return new ThresholdKeyShare(scheme, self, rosterSize, policy, points, state[..32]);
    }

    /// <summary>This bank's roster index.</summary>
    public int Self { get; }
    /// <summary>N.</summary>
    public int RosterSize { get; }
    /// <summary>The policy.</summary>
    public DecryptionPolicy Policy { get; }
    /// <summary>b: smudging noise is uniform in [-(2^b - 1), 2^b - 1].</summary>
    public int SmudgingBits { get; }
    /// <summary>Session tag of the scheme this share decrypts (16 bytes, SPEC.md 12).</summary>
    public ReadOnlySpan<byte> SessionTag => _scheme.SessionTag;

    /// <summary>
    /// Checks one request's sets without generating anything (SPEC.md 12.0 step 5), in this order: U distinct
    /// (Duplicate), |U| &gt;= K_min (TooFewParticipants), U and D inside the roster (UnknownSender), D = T distinct banks
    /// including this one (Refused). Returns the request fingerprint (<see cref="DecryptionShare.ComputeFingerprint"/>).
    /// </summary>
    /// <exception cref="ProtocolViolationException">with the reasons above.</exception>
    public byte[] CheckRequest(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        ArgumentNullException.ThrowIfNull(active);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (contributors.Distinct().Count() != contributors.Count) throw Error.Violation(ViolationReason.Duplicate, "repeated contributor");
        if (contributors.Count < Policy.MinContributors)
            throw Error.Violation(ViolationReason.TooFewParticipants, $"the sum has {contributors.Count} contributors, fewer than K_min = {Policy.MinContributors}");
        if (contributors.Any(b => b < 0 || b >= RosterSize) || active.Any(b => b < 0 || b >= RosterSize))
            throw Error.Violation(ViolationReason.UnknownSender, "a bank outside the roster");
        if (active.Distinct().Count() != active.Count || active.Count != Policy.Threshold || !active.Contains(Self))
            throw Error.Violation(ViolationReason.Refused, "the active set must be T distinct banks including this one");
        return DecryptionShare.ComputeFingerprint(_scheme.SessionTag, round, chunk, contributors, active);
    }

    /// <summary>
    /// GenShare (Lattigo's shape): the decryption share for the sum over <paramref name="contributors"/> of (round, chunk)
    /// with active set <paramref name="active"/>, switched to 2^64 and serialized (kind 11, SPEC.md 12.0 step 5): h_j is
    /// computed mod Q with its smudging, then h_j' = round(2^64 h_j / Q) mod 2^64 (<see cref="ModulusSwitch.Switch"/>) is
    /// written straight into the output. Deterministic per request: the smudging comes from HMAC-SHA-256(per-key secret,
    /// fingerprint), so the same request gets identical bytes.
    /// STATELESS: it keeps no record of what it answered. Answering two contributor sets of one (round, chunk) opens
    /// their difference; callers must go through the protocol's DecryptionGuard, which enforces one answer per
    /// (round, chunk) and the budget.
    /// </summary>
    /// <exception cref="ProtocolViolationException">the refusals of <see cref="CheckRequest"/>.</exception>
    public byte[] GenDecryptionShare(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active)
    {
        byte[] output = GC.AllocateUninitializedArray<byte>(DecryptionShareSize);   // every byte is written below
        GenDecryptionShare(round, chunk, contributors, active, output);
        return output;
    }

    /// <summary>Bytes of one serialized decryption share (kind 11, one polynomial of n 64-bit words, SPEC.md 12.0 step 5):
    /// what <see cref="GenDecryptionShare(ulong, uint, IReadOnlyList{int}, IReadOnlyList{int}, Span{byte})"/> writes.</summary>
    public int DecryptionShareSize => RlweCodec.Size(_p, RlweObjectKind.SwitchedDecryptionShare, DecryptionShare.ContextSize, 1);

    /// <summary>
    /// As <see cref="GenDecryptionShare(ulong, uint, IReadOnlyList{int}, IReadOnlyList{int})"/>, the same bytes written into
    /// <paramref name="destination"/> (exactly <see cref="DecryptionShareSize"/> bytes, e.g. a slice of the answer message)
    /// instead of a new array. On an exception the destination's content is unspecified. STATELESS, as the other overload.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not <see cref="DecryptionShareSize"/> bytes.</exception>
    /// <exception cref="ProtocolViolationException">the refusals of <see cref="CheckRequest"/>.</exception>
    public void GenDecryptionShare(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active, Span<byte> destination)
    {
        if (destination.Length != DecryptionShareSize) throw Error.Argument(nameof(destination), $"A decryption share is {DecryptionShareSize} bytes.");
        WithWeightedPoint(round, chunk, contributors, active, destination, (dest, fingerprint, weighted, weightedShoup, work) =>
        {
            WriteShare(round, chunk, fingerprint, weighted, weightedShoup, work, dest);
            return true;
        });
    }

    private void WriteShare(ulong round, uint chunk, byte[] fingerprint, RnsPoly weighted, RnsPoly weightedShoup, RnsPoly work, Span<byte> output)
    {
        Span<byte> ctx = stackalloc byte[DecryptionShare.ContextSize];
        ChunkLabel.Write(ctx, _scheme.SessionTag, round, chunk, Self);
        fingerprint.CopyTo(ctx[ChunkLabel.Size..]);
        int n = _p.N;
        int offset = RlweCodec.BeginWordsInto(_p, RlweObjectKind.SwitchedDecryptionShare, ctx, output);
        Span<byte> payload = output.Slice(offset, 8 * n);
        if (BitConverter.IsLittleEndian)
            GenerateSwitchedCore(round, chunk, fingerprint, weighted, weightedShoup, work, MemoryMarshal.Cast<byte, ulong>(payload));
        else
        {
            GenerateCore(round, chunk, fingerprint, weighted, weightedShoup, work);
            var words = new ulong[n];
            _scheme.Switch.Switch(work, words);
            for (int j = 0; j < n; j++) BinaryPrimitives.WriteUInt64LittleEndian(payload[(8 * j)..], words[j]);
        }
        RlweCodec.FinishWords(output, []);
    }

    /// <summary>h_j before the switch (mod Q, coefficient domain, a new polynomial): what <see cref="GenDecryptionShare(ulong, uint, IReadOnlyList{int}, IReadOnlyList{int})"/>
    /// switches. Test- and vector-visible; the same checks, no record kept. Computed step by step (expand, pointwise
    /// multiply, inverse NTT, smudging): the reference <see cref="GenDecryptionShare(ulong, uint, IReadOnlyList{int}, IReadOnlyList{int})"/>'s fused path is tested against.</summary>
    internal RnsPoly GenUnswitchedShare(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active) =>
        WithWeightedPoint(round, chunk, contributors, active, 0, (_, fingerprint, weighted, weightedShoup, work) =>
        {
            GenerateCore(round, chunk, fingerprint, weighted, weightedShoup, work);
            return work.Clone();
        });

    /// <summary>The fused path (<see cref="GenerateSwitchedCore"/>): its switched words into <paramref name="words"/>, and as a
    /// new polynomial what it leaves in the scratch, y_i = [h_i (Q/q_i)^-1]_{q_i} (<see cref="ModulusSwitch.SmudgeAndSwitchLastStage"/>):
    /// test-visible, for the comparison with <see cref="GenUnswitchedShare"/>.</summary>
    internal RnsPoly GenFusedShare(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active, ulong[] words) =>
        WithWeightedPoint(round, chunk, contributors, active, words, (w, fingerprint, weighted, weightedShoup, work) =>
        {
            GenerateSwitchedCore(round, chunk, fingerprint, weighted, weightedShoup, work, w);
            return work.Clone();
        });

    /// <summary>One use of the weighted point inside <see cref="WithWeightedPoint"/>; <paramref name="state"/> is passed
    /// through (it may be a span, which a lambda cannot capture).</summary>
    private delegate T WeightedPointUse<TState, T>(TState state, byte[] fingerprint, RnsPoly weighted, RnsPoly weightedShoup, RnsPoly work)
        where TState : allows ref struct;

    /// <summary>Checks the request, takes the (U, D) weighted point and the scratch, runs <paramref name="generate"/>, and
    /// clears the scratch if it throws: every share path goes through here.</summary>
    private T WithWeightedPoint<TState, T>(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active,
        TState state, WeightedPointUse<TState, T> generate) where TState : allows ref struct
    {
        byte[] fingerprint = CheckRequest(round, chunk, contributors, active);
        RnsPoly weighted, weightedShoup;
        lock (_gate)
        {
            weighted = WeightedPoint(contributors, active);
            weightedShoup = _weightedCache!.Value.Shoup;
            _inFlight++;
        }
        try
        {
            RnsPoly work = _p.Basis.Scratch;
            try { return generate(state, fingerprint, weighted, weightedShoup, work); }
            catch { work.Clear(); throw; }
        }
        finally { Leave(); }
    }

    /// <summary>Ends a share's use of the weighted point: the last one out clears the retired ones.</summary>
    private void Leave()
    {
        lock (_gate)
        {
            if (--_inFlight == 0)
            {
                foreach (RnsPoly r in _retired) r.Clear();
                _retired.Clear();
            }
        }
    }

    /// <summary>a := h_j = NTT^-1(a_{r,k} * weighted) + smudging, coefficient domain, mod Q (SPEC.md 12.0 step 5), step by
    /// step: the reference of <see cref="GenerateSwitchedCore"/>.</summary>
    private void GenerateCore(ulong round, uint chunk, byte[] fingerprint, RnsPoly weighted, RnsPoly weightedShoup, RnsPoly a)
    {
        RnsBasis basis = _p.Basis;
        CommonRandomness.ExpandInto(_p, _scheme.Seed, CrpPurpose.CompactCiphertext, round, chunk, a);
        basis.MulPointwiseShoup(a, weighted, weightedShoup, a);
        basis.FromNtt(a);
        Span<byte> seed = stackalloc byte[32];
        HMACSHA256.HashData(_smudgingKey, fingerprint, seed);
        try
        {
            using var prg = new Prg(seed);
            Samplers.AddSmudging(basis, a, SmudgingBits, Samplers.From(prg));
        }
        finally { CryptographicOperations.ZeroMemory(seed); }
    }

    /// <summary>
    /// h_j' = round(2^64 h_j / Q) mod 2^64 into <paramref name="words"/> (n words), and y_i = [h_i (Q/q_i)^-1]_{q_i} (a public
    /// function of h_j) into <paramref name="a"/>, with
    /// three passes fewer than <see cref="GenerateCore"/> and <see cref="ModulusSwitch.Switch"/>: the pointwise multiply by the
    /// weighted point rides in the first inverse-NTT pass (<see cref="NttTables.InverseMultiplyHead"/>); the smudging draws
    /// are drawn ahead into a per-thread buffer (<see cref="Samplers.SmudgingDraws"/>, the same stream); the last inverse
    /// stage, the noise and the switch run in one pass (<see cref="ModulusSwitch.SmudgeAndSwitchLastStage"/>). The draws
    /// are cleared after use. Bit for bit the reference (ShareKernelTests, the vectors).
    /// </summary>
    private void GenerateSwitchedCore(ulong round, uint chunk, byte[] fingerprint, RnsPoly weighted, RnsPoly weightedShoup, RnsPoly a, Span<ulong> words)
    {
        RnsBasis basis = _p.Basis;
        CommonRandomness.ExpandInto(_p, _scheme.Seed, CrpPurpose.CompactCiphertext, round, chunk, a);
        for (int i = 0; i < basis.Count; i++) basis.Table(i).InverseMultiplyHead(a.Limb(i), weighted.Limb(i), weightedShoup.Limb(i));
        ulong[] draws = DrawsBuffer(2 * _p.N);
        Span<byte> seed = stackalloc byte[32];
        HMACSHA256.HashData(_smudgingKey, fingerprint, seed);
        try
        {
            using (var prg = new Prg(seed)) Samplers.SmudgingDraws(draws, SmudgingBits, Samplers.From(prg));
            _scheme.Switch.SmudgeAndSwitchLastStage(a, draws, SmudgingBits, words);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(draws.AsSpan()));
        }
    }

    [ThreadStatic] private static ulong[]? t_draws;

    /// <summary>A per-thread buffer of <paramref name="length"/> words for the smudging draws (cleared by its user after
    /// each share), so that a share allocates nothing but its output.</summary>
    private static ulong[] DrawsBuffer(int length)
    {
        ulong[]? buffer = t_draws;
        if (buffer is null || buffer.Length != length) t_draws = buffer = GC.AllocateUninitializedArray<ulong>(length);
        return buffer;
    }

    /// <summary>lambda_self(D) * sum_{i in U} f_i(x_self), NTT domain (cached for the last (U, D)). Test-visible.</summary>
    internal RnsPoly WeightedPoint(IReadOnlyList<int> contributors, IReadOnlyList<int> active)
    {
        byte[] key = DecryptionShare.ComputeFingerprint([], 0, 0, contributors, active);
        if (_weightedCache is { } c && c.Key.AsSpan().SequenceEqual(key)) return c.Weighted;
        RnsBasis basis = _p.Basis;
        var sigma = basis.Allocate(true);
        foreach (int i in contributors) basis.Add(sigma, _points[i], sigma);
        basis.MulScalar(sigma, Combiner.LagrangeWeight(_p, active, Self), sigma);
        if (_weightedCache is { } old) { _retired.Add(old.Weighted); _retired.Add(old.Shoup); }
        _weightedCache = (key, sigma, basis.ShoupPrecompute(sigma));
        return sigma;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (RnsPoly p in _points) p?.Clear();
        _weightedCache?.Weighted.Clear();
        _weightedCache?.Shoup.Clear();
        foreach (RnsPoly r in _retired) r.Clear();
        CryptographicOperations.ZeroMemory(_smudgingKey);
    }

    /// <inheritdoc />
    public override string ToString() => $"ThresholdKeyShare(bank {Self}, T={Policy.Threshold}, K_min={Policy.MinContributors}, c={Policy.MaxColluders})";
}

/// <summary>Final step of threshold decryption (any party; needs no secret), in Z_{2^64} (SPEC.md 12.0 step 7).</summary>
internal static class ThresholdCombiner
{
    /// <summary>
    /// W = C0' + sum h_j' (mod 2^64) over the T switched shares of active set D for the contributors U, then
    /// m_j = (W_j + 2^(63-k)) &gt;&gt; (64-k) = round(2^k W_j / 2^64) mod 2^k into <paramref name="destination"/> (its first
    /// min(length, n) entries). Shares are validated (envelope, session, round, chunk, request fingerprint, distinct senders
    /// exactly D) with typed refusals, before anything is decoded. t = 2^k with 1 &lt;= k &lt;= 60 (RlweParameters).
    /// </summary>
    public static void Combine(CompactScheme scheme, CompactCiphertext sum, IReadOnlyList<int> contributors, IReadOnlyList<int> active,
        IReadOnlyList<byte[]> shares, Span<ulong> destination)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        ArgumentNullException.ThrowIfNull(sum);
        ArgumentNullException.ThrowIfNull(shares);
        RlweParameters p = scheme.Parameters;
        int n = p.N, k = p.PlainModulusBits;
        System.Diagnostics.Debug.Assert(k is >= 1 and < 64);
        ulong[] w = System.Buffers.ArrayPool<ulong>.Shared.Rent(n);
        try
        {
            SwitchedSumCore(scheme, sum, contributors, active, shares, w.AsSpan(0, n));
            int count = Math.Min(destination.Length, n), shift = 64 - k;
            ulong half = 1UL << (63 - k);
            for (int j = 0; j < count; j++) destination[j] = unchecked(w[j] + half) >> shift;
        }
        finally { System.Buffers.ArrayPool<ulong>.Shared.Return(w); }
    }

    /// <summary>The validated W = C0' + sum h_j' mod 2^64 (n words) into <paramref name="destination"/>; test-visible for
    /// noise measurement.</summary>
    internal static void SwitchedSumCore(CompactScheme scheme, CompactCiphertext sum, IReadOnlyList<int> contributors, IReadOnlyList<int> active,
        IReadOnlyList<byte[]> shares, Span<ulong> destination)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        ArgumentNullException.ThrowIfNull(active);
        RlweParameters p = scheme.Parameters;
        byte[] fingerprint = DecryptionShare.ComputeFingerprint(scheme.SessionTag, sum.Round, sum.Chunk, contributors, active);
        if (shares.Count != active.Count) throw Error.Violation(ViolationReason.TooFewParticipants, "one share per active bank is required");
        sum.Words.CopyTo(destination);
        var seen = new HashSet<int>();
        foreach (byte[] bytes in shares)
        {
            ArgumentNullException.ThrowIfNull(bytes, nameof(shares));
            // Cheap to expensive: envelope (fields, lengths, digest), domain, label and fingerprint, then the words (every
            // word is a valid value mod 2^64, so nothing can fail after the first addition).
            int offset = RlweCodec.CheckEnvelope(p, bytes, RlweObjectKind.SwitchedDecryptionShare, 1, DecryptionShare.ContextSize, out bool ntt, default);
            if (ntt) throw Error.Violation(ViolationReason.Malformed, "decryption shares travel in the coefficient domain");
            ChunkLabel.CheckShare(bytes.AsSpan(RlweCodec.HeaderSize, DecryptionShare.ContextSize), scheme.SessionTag, sum.Round, sum.Chunk, fingerprint, active, seen);
            CompactCiphertext.AddWords(bytes.AsSpan(offset, 8 * p.N), destination);
        }
    }
}
