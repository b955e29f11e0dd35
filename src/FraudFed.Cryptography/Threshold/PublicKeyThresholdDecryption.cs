// PublicKeyThresholdDecryption: threshold decryption of sums of ordinary BFV public-key ciphertexts (c0, c1)
// encrypted under the collective public key (DESIGN.md 3a steps 5-7; Mouchet, Troncoso-Pastoriza, Bossuat,
// Hubaux, PETS 2021, section 4.3 "collective key switching" with the threshold access structure of
// ePrint 2022/780 section 4; smudging lemma of Asharov et al., EUROCRYPT 2012, lemma 2.1).
//
// Collective key: pk = (p, a), p = sum_{i in N} p_i = -a*S + E, S = sum_{i in N} s_i (all N roster banks),
// |E| <= N*B, B = 19 the Gaussian tail cut; |S| <= N coefficient-wise (ternary s_i).
// Bank i encrypts: u ternary, e0, e1 Gaussian: c0 = p*u + e0 + Delta*m_i, c1 = a*u + e1.
// Phase of one ciphertext: c0 + c1*S = Delta*m_i + E*u + e0 + e1*S, so its noise is at most
//   v_pk = n*N*B (E*u) + B (e0) + n*N*B (e1*S) = 2*n*N*B + B,
// and a sum over K contributors at most E_pk(K, N) = K * (2*n*N*B + B)   (PublicKeySmudging.NoiseBound).
// This is far larger than the compact variant's K*B: 2^34.3 against 2^12.3 at n = 8192, K = N = 256.
//
// Bank j in the active set D (|D| = T) answers with
//   sigma_j = sum_{i in N} f_i(x_j)        (its Shamir point of S: the sum of the points from every roster bank)
//   h_j     = lambda_j(D) * sigma_j * C1 + x_j,  x_j uniform in [-B_s, B_s], B_s = 2^b - 1,
//   b       = lambda + ceil(log2 n) + ceil(log2 budget) + ceil(log2 E_pk(K_max, N)),  K_max = min(MaxContributors, N).
// Combine: phase = C0 + sum_j h_j = Delta*m + E_U + sum_j x_j;  m = round(t * phase / Q) mod t, exact while
//   T * B_s + E_pk(K_max, N) <= Encoder.NoiseCapacity ~ Q/(2t).
// Parameter consequence at the default set (n = 8192, log Q = 180, t = 2^44, capacity ~2^135) with lambda = 60
// and budget 2^20: b <= 126 (the exact sampler's range) requires ceil(log2 E_pk) <= 33, i.e. a roster of at
// most N = 166 banks (b = 118 for N = 10, 125 for N = 100); N >= 167 is refused with a typed InsecureParameters
// unless the budget or lambda is lowered. Exactness then holds with margin: T * 2^126 < 2^135 for T <= 511.
//
// Guards before a bank answers (DESIGN.md 3a traps):
//   * |U| >= K_min >= 2 distinct roster contributors; the active set is T distinct roster banks including self;
//   * the request carries every contributor's ciphertext; the bank re-serializes each as the labelled upload
//     (session, round, chunk, sender) and asks the caller's authenticity check (the contributor's signature)
//     about those exact bytes, then recomputes sum c0_i and sum c1_i itself and refuses unless they equal the
//     (C0, C1) it is asked to decrypt: one bank's ciphertext cannot be opened dressed up as a sum;
//   * one answer per ciphertext: answers are cached under SHA-256 of the summed (C0, C1); the same (U, D) gets
//     identical bytes (PRF-derived smudging), any other is refused; a contribution already used in an answered
//     sum is never used in another (differencing two sums would open it);
//   * the decryption budget, shared with the compact variant, is decremented per new ciphertext.
// Cost (bank side, GenPublicKeyDecryptionShareByDigest): one SHA-256 pass over the request (envelope digest), one validated
// unpack-and-add per contribution into the recomputed sum (no per-contribution polynomial is kept), one SHA-256 pass per
// contribution hashing its kind-7 re-encoding straight from the request's packed bytes (packing is canonical, and the trailing
// envelope digest comes from the running hash), one pass for the kind-1 digest of the sum; lambda_j(D) * sigma_j is cached
// per (D, key) in NTT form with Shoup companions, so the product is one NTT, one pointwise product and one inverse NTT.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>Authenticity check of one contributor's upload (e.g. verifies its signature over these exact bytes).</summary>
public delegate bool ContributionCheck(int sender, ReadOnlySpan<byte> serializedUpload);

/// <summary>Authenticity check of one contributor's upload given SHA-256 of its exact kind-7 bytes (e.g. its signature over that digest, SPEC.md 12.2).</summary>
public delegate bool ContributionDigestCheck(int sender, ReadOnlySpan<byte> uploadSha256);

/// <summary>Check of the contributor set U of a request for (round, chunk) against what the bank was told (e.g. a signed contributor list).</summary>
public delegate bool ContributorSetCheck(ulong round, uint chunk, IReadOnlyList<int> contributors);

/// <summary>The smudging lemma for sums of public-key ciphertexts under the collective key.</summary>
public static class PublicKeySmudging
{
    /// <summary>E_pk(K, N) = K * (2*n*N*B + B): noise bound of a sum of K pk ciphertexts under an N-bank collective key.</summary>
    public static BigInteger NoiseBound(RlweParameters p, int contributors, int rosterSize)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentOutOfRangeException.ThrowIfNegative(contributors);
        ArgumentOutOfRangeException.ThrowIfNegative(rosterSize);
        BigInteger perCiphertext = 2 * (BigInteger)p.N * rosterSize * Samplers.GaussianBound + Samplers.GaussianBound;
        return contributors * perCiphertext;
    }

    /// <summary>b with B_s = 2^b - 1 for a roster of <paramref name="rosterSize"/>; typed InsecureParameters if unattainable.</summary>
    public static int Bits(RlweParameters p, DecryptionPolicy policy, int rosterSize)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(policy);
        int kMax = Math.Min(policy.MaxContributors, rosterSize);
        BigInteger noise = NoiseBound(p, kMax, rosterSize);
        int bits = policy.StatisticalSecurity + CeilLog2(p.N) + CeilLog2(policy.Budget) + CeilLog2(noise);
        if (bits > Samplers.MaxSmudgingBits)
            throw Error.Violation(ViolationReason.InsecureParameters, $"public-key smudging would need 2^{bits} > 2^126: lower the roster, budget or lambda");
        if (policy.Threshold * ((BigInteger.One << bits) - 1) + noise > new Encoder(p).NoiseCapacity)
            throw Error.Violation(ViolationReason.InsecureParameters, "public-key smudging noise exceeds the decryption capacity of Q/(2t)");
        return bits;
    }

    private static int CeilLog2(BigInteger x) => x <= 1 ? 0 : (int)(x - 1).GetBitLength();
}

/// <summary>A bank's public-key ciphertext upload labelled (session, round, chunk, sender); coefficient domain.</summary>
public sealed class PublicKeyCiphertext
{
    internal const int ContextSize = CompactCiphertext.ContextSize;

    internal PublicKeyCiphertext(RlweParameters p, byte[] sessionTag, ulong round, uint chunk, int sender, RnsPoly c0, RnsPoly c1)
    {
        Parameters = p; SessionTag = sessionTag; Round = round; Chunk = chunk; Sender = sender; C0 = c0; C1 = c1;
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Chunk.</summary>
    public uint Chunk { get; }
    /// <summary>Sending bank.</summary>
    public int Sender { get; }
    internal RnsPoly C0 { get; }
    internal RnsPoly C1 { get; }

    /// <summary>Serializes (kind 7; context as for compact ciphertexts; polys c0, c1).</summary>
    public byte[] Serialize() => Write(Parameters, SessionTag, Round, Chunk, Sender, C0, C1);

    internal static byte[] Write(RlweParameters p, ReadOnlySpan<byte> tag, ulong round, uint chunk, int sender, RnsPoly c0, RnsPoly c1)
    {
        Span<byte> ctx = stackalloc byte[ContextSize];
        ChunkLabel.Write(ctx, tag, round, chunk, sender);
        return RlweCodec.Write(p, RlweObjectKind.PublicKeyCiphertext, ctx, c0, c1);
    }

    /// <summary>Parses and validates an untrusted upload.</summary>
    public static PublicKeyCiphertext Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.PublicKeyCiphertext, 2, ContextSize, out byte[] ctx);
        if (polys[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "ciphertexts travel in the coefficient domain");
        return new PublicKeyCiphertext(p, ChunkLabel.SessionTag(ctx), ChunkLabel.Round(ctx), ChunkLabel.Chunk(ctx), ChunkLabel.Sender(ctx), polys[0], polys[1]);
    }
}

/// <summary>
/// The aggregator's request for decryption shares of a sum: (session, round, chunk), contributors U, active set D,
/// the claimed sum (C0, C1) and every contributor's (c0_i, c1_i) in the order of U.
/// </summary>
public sealed class PublicKeyDecryptionRequest
{
    private const int FixedContext = CompactCiphertext.SessionTagSize + 8 + 4 + 2 + 2;

    internal PublicKeyDecryptionRequest(RlweParameters p, byte[] sessionTag, ulong round, uint chunk, int[] contributors, int[] active,
        RnsPoly c0, RnsPoly c1, RnsPoly[] contributions)
    {
        Parameters = p; SessionTag = sessionTag; Round = round; Chunk = chunk; Contributors = contributors; Active = active;
        C0 = c0; C1 = c1; Contributions = contributions;
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Chunk.</summary>
    public uint Chunk { get; }
    /// <summary>U, in the order of the contributions.</summary>
    public IReadOnlyList<int> Contributors { get; }
    /// <summary>D.</summary>
    public IReadOnlyList<int> Active { get; }
    internal RnsPoly C0 { get; }
    internal RnsPoly C1 { get; }
    /// <summary>c0_u0, c1_u0, c0_u1, c1_u1, ...</summary>
    internal RnsPoly[] Contributions { get; }

    /// <summary>SHA-256 of the canonical ciphertext encoding (kind 1) of the sum: the one-answer cache key.</summary>
    public byte[] CiphertextDigest() => SHA256.HashData(RlweCodec.Write(Parameters, RlweObjectKind.Ciphertext, default, C0, C1));

    /// <summary>SHA-256 binding of (session, round, chunk, ciphertext digest, sorted U, sorted D).</summary>
    public byte[] Fingerprint() => Fingerprint(CiphertextDigest());

    /// <summary>The fingerprint given the ciphertext digest (computed once by the caller).</summary>
    internal byte[] Fingerprint(ReadOnlySpan<byte> ciphertextDigest)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData("FraudFed pk decryption request v1"u8);
        h.AppendData(SessionTag);
        Span<byte> w = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(w, Round); h.AppendData(w);
        BinaryPrimitives.WriteUInt32LittleEndian(w, Chunk); h.AppendData(w[..4]);
        h.AppendData(ciphertextDigest);
        foreach (IReadOnlyList<int> set in new[] { Contributors, Active })
        {
            BinaryPrimitives.WriteInt32LittleEndian(w, set.Count); h.AppendData(w[..4]);
            foreach (int b in set.Order()) { BinaryPrimitives.WriteInt32LittleEndian(w, b); h.AppendData(w[..4]); }
        }
        return h.GetHashAndReset();
    }

    /// <summary>Serializes (kind 8): context tag | u64 round | u32 chunk | u16 |U| | u16 |D| | i32 U.. | i32 D..; polys C0, C1, then c0_i, c1_i per i in U.</summary>
    public byte[] Serialize()
    {
        byte[] ctx = new byte[FixedContext + 4 * (Contributors.Count + Active.Count)];
        Span<byte> c = ctx;
        int o = CompactCiphertext.SessionTagSize;
        SessionTag.CopyTo(c);
        BinaryPrimitives.WriteUInt64LittleEndian(c[o..], Round); o += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(c[o..], Chunk); o += 4;
        BinaryPrimitives.WriteUInt16LittleEndian(c[o..], (ushort)Contributors.Count); o += 2;
        BinaryPrimitives.WriteUInt16LittleEndian(c[o..], (ushort)Active.Count); o += 2;
        foreach (int b in Contributors.Concat(Active)) { BinaryPrimitives.WriteInt32LittleEndian(c[o..], b); o += 4; }
        return RlweCodec.Write(Parameters, RlweObjectKind.PublicKeyDecryptionRequest, ctx, [C0, C1, .. Contributions]);
    }

    /// <summary>Parses and validates an untrusted request (sizes from the header are bounded before anything is read).</summary>
    public static PublicKeyDecryptionRequest Deserialize(RlweParameters p, ReadOnlySpan<byte> data, int maxContributors) =>
        Deserialize(p, data, maxContributors, null, null, default);

    /// <summary>
    /// As <see cref="Deserialize(RlweParameters, ReadOnlySpan{byte}, int)"/> (same checks, same order of envelope validation), but
    /// each contribution (c0_i, c1_i) is validated into <paramref name="scratch"/> and added into <paramref name="sumC0"/>,
    /// <paramref name="sumC1"/> instead of being kept: the returned request holds no contributions (a bank's streaming path).
    /// </summary>
    internal static PublicKeyDecryptionRequest DeserializeSumming(RlweParameters p, ReadOnlySpan<byte> data, int maxContributors, RnsPoly sumC0, RnsPoly sumC1,
        Span<ulong> scratch) => Deserialize(p, data, maxContributors, sumC0, sumC1, scratch);

    private static PublicKeyDecryptionRequest Deserialize(RlweParameters p, ReadOnlySpan<byte> data, int maxContributors, RnsPoly? sumC0, RnsPoly? sumC1,
        Span<ulong> scratch)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (maxContributors is < 1 or > 32_000) throw Error.OutOfRange(nameof(maxContributors), "The roster size bounds the request: 1..32000.");
        if (data.Length < RlweCodec.HeaderSize + RlweCodec.DigestSize) throw Error.Violation(ViolationReason.Malformed, "shorter than the header");
        int polys = BinaryPrimitives.ReadUInt16LittleEndian(data[46..]);
        uint ctxLength = BinaryPrimitives.ReadUInt32LittleEndian(data[48..]);
        if (polys < 4 || polys % 2 != 0 || polys > 2 + 2 * maxContributors || ctxLength < FixedContext || ctxLength > FixedContext + 8u * maxContributors)
            throw Error.Violation(ViolationReason.Oversized, "request sizes out of bounds");
        RnsPoly[] all;
        byte[] ctx;
        if (sumC0 is null)
        {
            all = RlweCodec.Read(p, data, RlweObjectKind.PublicKeyDecryptionRequest, polys, (int)ctxLength, out ctx);
            if (all[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "ciphertexts travel in the coefficient domain");
        }
        else
        {
            Debug.Assert(sumC1 is not null && scratch.Length >= p.N * p.Primes.Count);
            int offset = RlweCodec.ReadEnvelope(p, data, RlweObjectKind.PublicKeyDecryptionRequest, polys, (int)ctxLength, out ctx, out bool ntt);
            if (ntt) throw Error.Violation(ViolationReason.Malformed, "ciphertexts travel in the coefficient domain");
            all = [p.Basis.Allocate(), p.Basis.Allocate()];
            offset = RlweCodec.UnpackPoly(p, data, offset, all[0].Data);
            offset = RlweCodec.UnpackPoly(p, data, offset, all[1].Data);
            for (int k = 2; k < polys; k++)
            {
                offset = RlweCodec.UnpackPoly(p, data, offset, scratch);
                RlweCodec.AddLimbs(p, k % 2 == 0 ? sumC0 : sumC1!, scratch);
            }
        }
        int o = CompactCiphertext.SessionTagSize;
        ulong round = BinaryPrimitives.ReadUInt64LittleEndian(ctx.AsSpan(o));
        uint chunk = BinaryPrimitives.ReadUInt32LittleEndian(ctx.AsSpan(o + 8));
        int u = BinaryPrimitives.ReadUInt16LittleEndian(ctx.AsSpan(o + 12)), d = BinaryPrimitives.ReadUInt16LittleEndian(ctx.AsSpan(o + 14));
        if (ctx.Length != FixedContext + 4 * (u + d) || polys != 2 + 2 * u)
            throw Error.Violation(ViolationReason.Malformed, "set sizes disagree with the context or polynomial count");
        var sets = new int[u + d];
        for (int k = 0; k < sets.Length; k++) sets[k] = BinaryPrimitives.ReadInt32LittleEndian(ctx.AsSpan(FixedContext + 4 * k));
        return new PublicKeyDecryptionRequest(p, ctx[..o], round, chunk, sets[..u], sets[u..], all[0], all[1], all[2..]);
    }
}

/// <summary>A public-key threshold decryption share h_j (kind 9), coefficient domain.</summary>
public static class PublicKeyDecryptionShare
{
    /// <summary>Context: session tag | u64 round | u32 chunk | i32 sender | 32-byte request fingerprint.</summary>
    internal const int ContextSize = DecryptionShare.ContextSize;

    internal static byte[] Write(PublicKeyDecryptionRequest request, int sender, byte[] fingerprint, RnsPoly value)
    {
        Span<byte> ctx = stackalloc byte[ContextSize];
        ChunkLabel.Write(ctx, request.SessionTag, request.Round, request.Chunk, sender);
        fingerprint.CopyTo(ctx[ChunkLabel.Size..]);
        return RlweCodec.Write(request.Parameters, RlweObjectKind.PublicKeyDecryptionShare, ctx, value);
    }
}

/// <summary>Public-key variant for one session: encryption under the collective key, aggregation, combine.</summary>
public sealed class PublicKeyThresholdScheme
{
    private readonly Bfv _bfv;
    private readonly PublicKey _pk;

    /// <summary>Creates the scheme for a session (its tag) and the collective public key.</summary>
    public PublicKeyThresholdScheme(CompactScheme session, PublicKey collectiveKey)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(collectiveKey);
        if (!collectiveKey.Parameters.Hash.Span.SequenceEqual(session.Parameters.Hash.Span))
            throw Error.Violation(ViolationReason.Inconsistent, "key of another parameter set");
        Parameters = session.Parameters;
        SessionTag = session.SessionTag;
        _bfv = new Bfv(Parameters);
        _pk = collectiveKey;
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Encoder.</summary>
    public Encoder Encoder => _bfv.Encoder;

    /// <summary>Bank <paramref name="sender"/> encrypts up to n values mod t for (round, chunk) under the collective key.</summary>
    public PublicKeyCiphertext Encrypt(int sender, ulong round, uint chunk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng)
    {
        Ciphertext ct = _bfv.Encrypt(_pk, values, rng);
        return new PublicKeyCiphertext(Parameters, SessionTag, round, chunk, sender, ct.C0, ct.C1);
    }

    /// <summary>
    /// Aggregator: validates the uploads (session, round, chunk, distinct senders), adds them and builds the request for
    /// active set <paramref name="active"/>.
    /// </summary>
    public PublicKeyDecryptionRequest BuildRequest(ulong round, uint chunk, IReadOnlyList<PublicKeyCiphertext> uploads, IReadOnlyList<int> active)
    {
        ArgumentNullException.ThrowIfNull(uploads);
        ArgumentNullException.ThrowIfNull(active);
        RnsBasis basis = Parameters.Basis;
        RnsPoly c0 = basis.Allocate(), c1 = basis.Allocate();
        var contributions = new RnsPoly[2 * uploads.Count];
        var seen = new HashSet<int>();
        for (int k = 0; k < uploads.Count; k++)
        {
            PublicKeyCiphertext ct = uploads[k];
            if (!ct.SessionTag.AsSpan().SequenceEqual(SessionTag) || ct.Round != round || ct.Chunk != chunk)
                throw Error.Violation(ViolationReason.WrongRoundOrState, "ciphertext of another session, round or chunk");
            if (!seen.Add(ct.Sender)) throw Error.Violation(ViolationReason.Duplicate, "two uploads from one bank");
            basis.Add(c0, ct.C0, c0);
            basis.Add(c1, ct.C1, c1);
            contributions[2 * k] = ct.C0;
            contributions[2 * k + 1] = ct.C1;
        }
        return new PublicKeyDecryptionRequest(Parameters, SessionTag, round, chunk, uploads.Select(x => x.Sender).ToArray(), [.. active], c0, c1, contributions);
    }

    /// <summary>m = round(t (C0 + sum h_j) / Q) mod t over the T shares answering <paramref name="request"/>.</summary>
    public void Combine(PublicKeyDecryptionRequest request, IReadOnlyList<byte[]> shares, Span<ulong> destination)
    {
        RnsPoly phase = PhaseCore(request, shares, Parameters.Basis.Scratch);
        Encoder.DecodeCore(phase, destination[..Math.Min(destination.Length, Parameters.N)]);
    }

    /// <summary>The validated phase C0 + sum h_j; test-visible for noise measurement.</summary>
    internal RnsPoly PhaseCore(PublicKeyDecryptionRequest request, IReadOnlyList<byte[]> shares, RnsPoly? destination = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(shares);
        if (shares.Count != request.Active.Count) throw Error.Violation(ViolationReason.TooFewParticipants, "one share per active bank is required");
        byte[] fingerprint = request.Fingerprint();
        RlweParameters p = Parameters;
        RnsPoly phase = destination ?? p.Basis.Allocate();
        request.C0.Data.CopyTo(phase.Data, 0);
        phase.IsNtt = false;
        var seen = new HashSet<int>();
        ulong[] scratch = System.Buffers.ArrayPool<ulong>.Shared.Rent(p.N * p.Primes.Count);
        try
        {
            foreach (byte[] bytes in shares)
            {
                RlweCodec.ReadAndAdd(p, bytes, RlweObjectKind.PublicKeyDecryptionShare, PublicKeyDecryptionShare.ContextSize, phase, scratch, ctx =>
                    ChunkLabel.CheckShare(ctx, SessionTag, request.Round, request.Chunk, fingerprint, request.Active, seen));
            }
        }
        finally { System.Buffers.ArrayPool<ulong>.Shared.Return(scratch); }
        return phase;
    }
}

/// <summary>Public-key variant of the bank's decryption (same key material, smudging key and budget as the compact variant).</summary>
public sealed partial class ThresholdKeyShare
{
    private readonly Dictionary<string, byte[]> _pkAnswered = [];      // summed-ciphertext digest -> request fingerprint
    private readonly Dictionary<string, string> _pkUsed = [];          // contribution digest -> summed-ciphertext digest
    private int _pkSmudgingBits;

    /// <summary>b for the public-key variant (typed InsecureParameters when the roster is too large for the parameters).</summary>
    public int PublicKeySmudgingBits
    {
        get
        {
            if (_pkSmudgingBits == 0) _pkSmudgingBits = PublicKeySmudging.Bits(_p, Policy, RosterSize);
            return _pkSmudgingBits;
        }
    }

    /// <summary>
    /// The decryption share h_j = lambda_j(D) * sigma_j * C1 + smudging for a serialized request. Typed refusals:
    /// Malformed/Oversized/OutOfRange (parsing), WrongRoundOrState (another session), Duplicate, TooFewParticipants
    /// (|U| &lt; K_min), UnknownSender, Refused (active set; a second (U, D) for an answered sum; a contribution
    /// already used in another answered sum), AuthenticationFailed (<paramref name="isAuthentic"/> rejects an
    /// upload), Inconsistent ((C0, C1) is not the sum of the listed uploads), BudgetExhausted, InsecureParameters.
    /// </summary>
    public byte[] GenPublicKeyDecryptionShare(ReadOnlySpan<byte> request, ContributionCheck isAuthentic) =>
        GenPublicKeyDecryptionShare(request, isAuthentic, null);

    /// <summary>
    /// As above; <paramref name="contributorSet"/>, when given, must accept (round, chunk, U) after the roster checks and before
    /// any upload is authenticated (Inconsistent otherwise), e.g. U equals the aggregator's signed contributor list.
    /// </summary>
    public byte[] GenPublicKeyDecryptionShare(ReadOnlySpan<byte> request, ContributionCheck isAuthentic, ContributorSetCheck? contributorSet)
    {
        ArgumentNullException.ThrowIfNull(isAuthentic);
        return GenPublicKeyDecryptionShareCore(request, isAuthentic, null, contributorSet);
    }

    /// <summary>
    /// As above, but <paramref name="isAuthentic"/> receives SHA-256 of each contribution's exact kind-7 bytes (what an upload
    /// signature covers, SPEC.md 12.2), hashed in one pass from the request's own packed bytes without re-encoding.
    /// </summary>
    public byte[] GenPublicKeyDecryptionShareByDigest(ReadOnlySpan<byte> request, ContributionDigestCheck isAuthentic, ContributorSetCheck? contributorSet = null)
    {
        ArgumentNullException.ThrowIfNull(isAuthentic);
        return GenPublicKeyDecryptionShareCore(request, null, isAuthentic, contributorSet);
    }

    private byte[] GenPublicKeyDecryptionShareCore(ReadOnlySpan<byte> request, ContributionCheck? bytesCheck, ContributionDigestCheck? digestCheck,
        ContributorSetCheck? contributorSet)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RnsBasis basis = _p.Basis;
        RnsPoly c0 = basis.Allocate(), c1 = basis.Allocate();
        PublicKeyDecryptionRequest r;
        if (digestCheck is null) r = PublicKeyDecryptionRequest.Deserialize(_p, request, RosterSize);
        else
        {
            // Streaming: every contribution is validated and added into (c0, c1) while parsing; nothing else is kept.
            ulong[] scratch = System.Buffers.ArrayPool<ulong>.Shared.Rent(_p.N * _p.Primes.Count);
            try { r = PublicKeyDecryptionRequest.DeserializeSumming(_p, request, RosterSize, c0, c1, scratch); }
            finally { System.Buffers.ArrayPool<ulong>.Shared.Return(scratch); }
        }
        if (!r.SessionTag.AsSpan().SequenceEqual(_scheme.SessionTag)) throw Error.Violation(ViolationReason.WrongRoundOrState, "request of another session");
        IReadOnlyList<int> contributors = r.Contributors, active = r.Active;
        if (contributors.Distinct().Count() != contributors.Count) throw Error.Violation(ViolationReason.Duplicate, "repeated contributor");
        if (contributors.Count < Policy.MinContributors)
            throw Error.Violation(ViolationReason.TooFewParticipants, $"the sum has {contributors.Count} contributors, fewer than K_min = {Policy.MinContributors}");
        if (contributors.Any(b => b < 0 || b >= RosterSize) || active.Any(b => b < 0 || b >= RosterSize))
            throw Error.Violation(ViolationReason.UnknownSender, "a bank outside the roster");
        if (active.Distinct().Count() != active.Count || active.Count != Policy.Threshold || !active.Contains(Self))
            throw Error.Violation(ViolationReason.Refused, "the active set must be T distinct banks including this one");
        int bits = PublicKeySmudgingBits;
        if (contributorSet is not null && !contributorSet(r.Round, r.Chunk, contributors))
            throw Error.Violation(ViolationReason.Inconsistent, "the contributors differ from the signed contributor list");

        // Never trust the aggregator's sum: authenticate every upload and recompute (sum c0_i, sum c1_i) (the streaming path
        // summed while parsing).
        var contributionDigests = new string[contributors.Count];
        // The request's payload holds C0, C1, then c0_i, c1_i packed exactly as a kind-7 upload packs them (validated by
        // Deserialize, canonical packing): each upload's SHA-256 is hashed from those bytes in one pass.
        int polyBytes = RlweCodec.PolyBytes(_p);
        ReadOnlySpan<byte> payload = request.Slice(RlweCodec.HeaderSize + BinaryPrimitives.ReadInt32LittleEndian(request[48..]), (2 + 2 * contributors.Count) * polyBytes);
        Span<byte> uploadContext = stackalloc byte[PublicKeyCiphertext.ContextSize];
        Span<byte> uploadDigest = stackalloc byte[32];
        for (int k = 0; k < contributors.Count; k++)
        {
            if (bytesCheck is not null)
            {
                byte[] upload = PublicKeyCiphertext.Write(_p, r.SessionTag, r.Round, r.Chunk, contributors[k], r.Contributions[2 * k], r.Contributions[2 * k + 1]);
                if (!bytesCheck(contributors[k], upload))
                    throw Error.Violation(ViolationReason.AuthenticationFailed, "an upload is not the contributor's");
                SHA256.HashData(upload, uploadDigest);
                basis.Add(c0, r.Contributions[2 * k], c0);
                basis.Add(c1, r.Contributions[2 * k + 1], c1);
            }
            else
            {
                ChunkLabel.Write(uploadContext, r.SessionTag, r.Round, r.Chunk, contributors[k]);
                RlweCodec.HashOfPacked(_p, RlweObjectKind.PublicKeyCiphertext, uploadContext, payload.Slice((2 + 2 * k) * polyBytes, 2 * polyBytes), uploadDigest);
                if (!digestCheck!(contributors[k], uploadDigest))
                    throw Error.Violation(ViolationReason.AuthenticationFailed, "an upload is not the contributor's");
            }
            contributionDigests[k] = Convert.ToHexString(uploadDigest);
        }
        if (!c0.Data.AsSpan().SequenceEqual(r.C0.Data) || !c1.Data.AsSpan().SequenceEqual(r.C1.Data))
            throw Error.Violation(ViolationReason.Inconsistent, "the ciphertext is not the sum of the listed contributors' ciphertexts");

        // Ciphertext digest = SHA-256 of the kind-1 encoding of (C0, C1), hashed once from the request's packed bytes.
        byte[] ciphertextDigest = new byte[32];
        RlweCodec.HashOfPacked(_p, RlweObjectKind.Ciphertext, default, payload[..(2 * polyBytes)], ciphertextDigest);
        string digest = Convert.ToHexString(ciphertextDigest);
        byte[] fingerprint = r.Fingerprint(ciphertextDigest);
        RnsPoly weighted, weightedShoup;
        lock (_gate)
        {
            if (_pkAnswered.TryGetValue(digest, out byte[]? previous))
            {
                if (!CryptographicOperations.FixedTimeEquals(previous, fingerprint))
                    throw Error.Violation(ViolationReason.Refused, "this ciphertext was already opened for another active or contributor set");
            }
            else
            {
                foreach (string d in contributionDigests)
                    if (_pkUsed.TryGetValue(d, out string? other) && other != digest)
                        throw Error.Violation(ViolationReason.Refused, "a contribution was already opened inside another sum");
                if (Remaining <= 0) throw Error.Violation(ViolationReason.BudgetExhausted, "decryption budget spent: rotate keys");
                Remaining--;
                _pkAnswered.Add(digest, fingerprint);
                foreach (string d in contributionDigests) _pkUsed[d] = digest;
            }
            // lambda_j(D) * sigma_j with sigma_j the point of S = sum over the whole roster: computed once per (D, key) and
            // shared with the compact variant's cache (key: U = every roster bank).
            weighted = WeightedPoint(_allBanks ??= Enumerable.Range(0, RosterSize).ToArray(), active);
            weightedShoup = _weightedCache!.Value.Shoup;
            _inFlight++;
        }
        try { return GeneratePublicKeyShareCore(r, fingerprint, bits, weighted, weightedShoup); }
        finally
        {
            lock (_gate)
            {
                if (--_inFlight == 0)
                {
                    foreach (RnsPoly x in _retired) x.Clear();
                    _retired.Clear();
                }
            }
        }
    }

    private int[]? _allBanks;

    private byte[] GeneratePublicKeyShareCore(PublicKeyDecryptionRequest r, byte[] fingerprint, int bits, RnsPoly weighted, RnsPoly weightedShoup)
    {
        RnsBasis basis = _p.Basis;
        RnsPoly product = basis.Scratch;                                                  // per-thread scratch
        r.C1.Data.CopyTo(product.Data, 0);
        product.IsNtt = false;
        Span<byte> seed = stackalloc byte[32];
        try
        {
            basis.ToNtt(product);
            basis.MulPointwiseShoup(product, weighted, weightedShoup, product);           // lambda_j(D) * sigma_j * C1
            basis.FromNtt(product);
            using (var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _smudgingKey))
            {
                mac.AppendData("FraudFed pk smudging v1"u8);
                mac.AppendData(fingerprint);
                mac.GetHashAndReset(seed);
            }
            using (var prg = new Prg(seed))
                Samplers.AddSmudging(basis, product, bits, Samplers.From(prg));
            return PublicKeyDecryptionShare.Write(r, Self, fingerprint, product);
        }
        finally
        {
            product.Clear();
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    private void DisposePublicKeyState()
    {
        lock (_gate) { _pkAnswered.Clear(); _pkUsed.Clear(); }
    }
}
