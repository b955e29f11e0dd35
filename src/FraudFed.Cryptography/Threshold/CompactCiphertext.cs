// CompactCiphertext: the compact aggregation variant. In round r, chunk k, every bank i
// uses the common polynomial a_{r,k} (CommonRandomness, purpose CompactCiphertext) and uploads only
//   c0_i = -a_{r,k} * s_i + e_i + Delta*m_i        (symmetric BFV encryption with a shared a; e_i Gaussian)
// which is an RLWE sample under s_i (a fresh a per (r, k) keeps samples of one bank independent).
// The aggregator adds: C0 = sum_{i in U} c0_i = -a*S_U + E_U + Delta*sum m_i with S_U = sum_{i in U} s_i,
// |E_U| <= |U| * 19. (C0, a_{r,k}) is a BFV ciphertext under S_U, which only a threshold decryption of the
// contributors' Shamir points can open (ThresholdKeyShare). Upload: n*log Q bits per n values
// (22.5 bytes per value at n = 8192, log Q = 180) instead of 2 n log Q for (c0, c1).
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>c0 of a compact ciphertext (or of a sum of them), with its (session, round, chunk, sender) label.</summary>
internal sealed class CompactCiphertext
{
    /// <summary>Size of the session tag bound into the context.</summary>
    public const int SessionTagSize = 16;
    /// <summary>Context bytes: session tag | u64 round | u32 chunk | i32 sender.</summary>
    public const int ContextSize = ChunkLabel.Size;

    internal CompactCiphertext(RlweParameters p, byte[] sessionTag, ulong round, uint chunk, int sender, RnsPoly c0)
    {
        Parameters = p; SessionTag = sessionTag; Round = round; Chunk = chunk; Sender = sender; C0 = c0;
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>First 16 bytes of the session's CRS seed hash.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round r.</summary>
    public ulong Round { get; }
    /// <summary>Chunk k.</summary>
    public uint Chunk { get; }
    /// <summary>Sending bank, or -1 for an aggregate.</summary>
    public int Sender { get; }
    internal RnsPoly C0 { get; }

    /// <summary>Serializes (c0 in the coefficient domain).</summary>
    public byte[] Serialize() => Serialize([]);

    /// <summary>Serializes (c0 in the coefficient domain) and writes the body's SHA-256 into <paramref name="bodyDigest"/>
    /// (32 bytes, or empty: not wanted; see <see cref="RlweCodec.Write(RlweParameters, RlweObjectKind, ReadOnlySpan{byte}, Span{byte}, RnsPoly[])"/>).</summary>
    public byte[] Serialize(Span<byte> bodyDigest)
    {
        Span<byte> ctx = stackalloc byte[ContextSize];
        ChunkLabel.Write(ctx, SessionTag, Round, Chunk, Sender);
        return RlweCodec.Write(Parameters, RlweObjectKind.CompactCiphertext, ctx, bodyDigest, C0);
    }

    /// <summary>Serialized size for a parameter set.</summary>
    public static int SerializedSize(RlweParameters p) => RlweCodec.Size(p, ContextSize, 1);

    /// <summary>Parses and validates an untrusted compact ciphertext.</summary>
    public static CompactCiphertext Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.CompactCiphertext, 1, ContextSize, out byte[] ctx);
        if (polys[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "compact ciphertexts travel in the coefficient domain");
        return new CompactCiphertext(p, ChunkLabel.SessionTag(ctx), ChunkLabel.Round(ctx), ChunkLabel.Chunk(ctx), ChunkLabel.Sender(ctx), polys[0]);
    }
}

/// <summary>Compact encryption and aggregation for one session (CRS seed).</summary>
internal sealed class CompactScheme
{
    private readonly byte[] _seed;
    private readonly Bfv _bfv;

    /// <summary>Creates the scheme for a parameter set and the session's agreed CRS seed.</summary>
    public CompactScheme(RlweParameters parameters, ReadOnlySpan<byte> crsSeed)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (crsSeed.Length != 32) throw Error.Argument(nameof(crsSeed), "The CRS seed is 32 bytes.");
        Parameters = parameters;
        _seed = crsSeed.ToArray();
        _bfv = new Bfv(parameters);
        SessionTag = SHA256.HashData(_seed)[..CompactCiphertext.SessionTagSize];
    }

    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    internal ReadOnlySpan<byte> Seed => _seed;
    /// <summary>A copy of the 32-byte CRS seed, for the bank's state file (SPEC.md 14.6); public once agreed, but the state
    /// file keeps it with the key it belongs to.</summary>
    public byte[] ExportSeed() => (byte[])_seed.Clone();
    /// <summary>Session tag carried by every ciphertext of the session.</summary>
    public byte[] SessionTag { get; }
    /// <summary>The scheme's encoder.</summary>
    public Encoder Encoder => _bfv.Encoder;

    /// <summary>a_{r,k} (NTT domain).</summary>
    public RnsPoly CommonPolynomial(ulong round, uint chunk) => CommonRandomness.Expand(Parameters, _seed, CrpPurpose.CompactCiphertext, round, chunk);

    /// <summary>c0 = -a_{r,k} s + e + Delta*m for up to n values mod t.</summary>
    public CompactCiphertext Encrypt(SecretKey sk, int sender, ulong round, uint chunk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        if (values.Length > Parameters.N) throw Error.Argument(nameof(values), "At most n values per chunk.");
        RnsPoly a = CommonPolynomial(round, chunk);
        Parameters.Basis.MulPointwiseShoup(a, sk.ValueChecked, sk.ValueShoup, a); // a is consumed: a*s in place
        RnsPoly c0 = _bfv.FinishSymmetric(a, values, Samplers.From(rng));
        return new CompactCiphertext(Parameters, SessionTag, round, chunk, sender, c0);
    }

    /// <summary>
    /// Encrypts and serializes in one step (the bank's upload), working in a per-thread scratch polynomial so
    /// that the only allocation is the message itself.
    /// </summary>
    public byte[] EncryptToBytes(SecretKey sk, int sender, ulong round, uint chunk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng) =>
        EncryptToBytes(sk, sender, round, chunk, values, rng, []);

    /// <summary>As <see cref="EncryptToBytes(SecretKey, int, ulong, uint, ReadOnlySpan{ulong}, RandomNumberGenerator)"/>, also writing
    /// the upload's body SHA-256 (what its manifest signs, SPEC.md 12.2) into <paramref name="bodyDigest"/> (32 bytes or empty).</summary>
    public byte[] EncryptToBytes(SecretKey sk, int sender, ulong round, uint chunk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng, Span<byte> bodyDigest)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        if (values.Length > Parameters.N) throw Error.Argument(nameof(values), "At most n values per chunk.");
        RnsPoly work = Parameters.Basis.Scratch;
        try
        {
            CommonRandomness.ExpandInto(Parameters, _seed, CrpPurpose.CompactCiphertext, round, chunk, work);
            Parameters.Basis.MulPointwiseShoup(work, sk.ValueChecked, sk.ValueShoup, work);
            _bfv.FinishSymmetric(work, values, Samplers.From(rng));
            return new CompactCiphertext(Parameters, SessionTag, round, chunk, sender, work).Serialize(bodyDigest);
        }
        catch
        {
            work.Clear(); // may hold a*s
            throw;
        }
    }

    /// <summary>A zero aggregate for (round, chunk).</summary>
    public CompactCiphertext AllocateSum(ulong round, uint chunk) => new(Parameters, SessionTag, round, chunk, -1, Parameters.Basis.Allocate());

    /// <summary>
    /// Validates an untrusted serialized compact ciphertext from <paramref name="expectedSender"/> and adds it into
    /// <paramref name="sum"/> without materializing it or allocating; the sum is unchanged if anything fails (typed refusals).
    /// Checks run cheap to expensive (SPEC.md 12): envelope fields, lengths and digest, domain, (session, round, chunk) label
    /// and sender, then one pass over the residues that range-checks and adds in place (restored exactly before an
    /// OutOfRange refusal is thrown), so no other thread may use <paramref name="sum"/> during the call (UploadIntake holds
    /// the chunk's lock).
    /// </summary>
    /// <exception cref="ProtocolViolationException">Malformed, Oversized, Inconsistent, OutOfRange (RlweCodec.Read's reasons),
    /// WrongRoundOrState (another session, round or chunk), UnknownSender (the label names another sender).</exception>
    public void AddSerialized(CompactCiphertext sum, ReadOnlySpan<byte> data, int expectedSender) => AddSerialized(sum, data, expectedSender, default);

    /// <summary>
    /// As <see cref="AddSerialized(CompactCiphertext, ReadOnlySpan{byte}, int)"/>, where <paramref name="bodyDigest"/> is the
    /// SHA-256 of <paramref name="data"/> without its 16-byte trailer, computed by the caller from these same bytes (the
    /// aggregator computes it anyway to check the upload's signature): the trailer is compared with it instead of hashing
    /// the body again.
    /// </summary>
    public void AddSerialized(CompactCiphertext sum, ReadOnlySpan<byte> data, int expectedSender, ReadOnlySpan<byte> bodyDigest)
    {
        ArgumentNullException.ThrowIfNull(sum);
        if (bodyDigest.Length is not (0 or 32)) throw Error.Argument(nameof(bodyDigest), "A body digest is 32 bytes (SHA-256) or empty.");
        // Cheap to expensive, nothing allocated: envelope (fields, lengths, digest), domain, label, then one pass over the
        // residues that unpacks, range-checks and adds (RlweCodec.UnpackAdd restores the sum if a residue is out of range).
        int offset = RlweCodec.CheckEnvelope(Parameters, data, RlweObjectKind.CompactCiphertext, 1, CompactCiphertext.ContextSize, out bool ntt, bodyDigest);
        if (ntt != sum.C0.IsNtt) throw Error.Violation(ViolationReason.Malformed, "object is in the other domain");
        ReadOnlySpan<byte> ctx = data.Slice(RlweCodec.HeaderSize, CompactCiphertext.ContextSize);
        if (!ChunkLabel.Names(ctx, SessionTag, sum.Round, sum.Chunk))
            throw Error.Violation(ViolationReason.WrongRoundOrState, "ciphertext of another session, round or chunk");
        if (ChunkLabel.Sender(ctx) != expectedSender)
            throw Error.Violation(ViolationReason.UnknownSender, "ciphertext sender differs from its uploader");
        RlweCodec.UnpackAdd(Parameters, data, offset, sum.C0);
    }

    /// <summary>sum += ct, after checking that ct belongs to this session, round and chunk (typed refusal otherwise).</summary>
    public void AddInPlace(CompactCiphertext sum, CompactCiphertext ct)
    {
        ArgumentNullException.ThrowIfNull(sum);
        ArgumentNullException.ThrowIfNull(ct);
        if (!ct.SessionTag.AsSpan().SequenceEqual(SessionTag) || ct.Round != sum.Round || ct.Chunk != sum.Chunk)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "ciphertext of another session, round or chunk");
        Parameters.Basis.Add(sum.C0, ct.C0, sum.C0);
    }
}
