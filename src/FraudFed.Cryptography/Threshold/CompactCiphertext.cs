// CompactCiphertext: the compact aggregation variant. In round r, chunk k, every bank i
// uses the common polynomial a_{r,k} (CommonRandomness, purpose CompactCiphertext) and uploads only
//   c0_i = -a_{r,k} * s_i + e_i + Delta*m_i        (symmetric BFV encryption with a shared a; e_i Gaussian)
// which is an RLWE sample under s_i (a fresh a per (r, k) keeps samples of one bank independent).
// The aggregator adds: C0 = sum_{i in U} c0_i = -a*S_U + E_U + Delta*sum m_i with S_U = sum_{i in U} s_i,
// |E_U| <= |U| * 19. (C0, a_{r,k}) is a BFV ciphertext under S_U, which only a threshold decryption of the
// contributors' Shamir points can open (ThresholdKeyShare).
// Upload: c0 switched to 2^64 (ModulusSwitch), 64 bits per value (8 bytes at n = 8192, plus 104 bytes per chunk),
// instead of n log Q bits (22.5 bytes per value at log Q = 180). The aggregator adds words mod 2^64 and whoever combines
// lifts the sum back to Q; the switch is a public function of c0, so it reveals nothing c0 did not (SPEC.md 12.0 step 4).
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>c0 of a compact ciphertext switched to 2^64 (or a sum of them mod 2^64), with its (session, round, chunk, sender) label.</summary>
internal sealed class CompactCiphertext
{
    /// <summary>Size of the session tag bound into the context.</summary>
    public const int SessionTagSize = 16;
    /// <summary>Context bytes: session tag | u64 round | u32 chunk | i32 sender.</summary>
    public const int ContextSize = ChunkLabel.Size;

    internal CompactCiphertext(RlweParameters p, byte[] sessionTag, ulong round, uint chunk, int sender, ulong[] words)
    {
        Parameters = p; SessionTag = sessionTag; Round = round; Chunk = chunk; Sender = sender; Words = words;
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
    /// <summary>c0' = round(2^64 c0 / Q) mod 2^64, n words (for a sum: the sum of the uploads' words mod 2^64).</summary>
    internal ulong[] Words { get; }

    /// <summary>Serializes (kind 10: n u64 words).</summary>
    public byte[] Serialize() => Serialize([]);

    /// <summary>Serializes (kind 10: n u64 words) and writes the body's SHA-256 into <paramref name="bodyDigest"/>
    /// (32 bytes, or empty: not wanted; see <see cref="RlweCodec.WriteWords"/>).</summary>
    public byte[] Serialize(Span<byte> bodyDigest)
    {
        Span<byte> ctx = stackalloc byte[ContextSize];
        ChunkLabel.Write(ctx, SessionTag, Round, Chunk, Sender);
        return RlweCodec.WriteWords(Parameters, RlweObjectKind.CompactCiphertext, ctx, bodyDigest, Words);
    }

    /// <summary>Serialized size for a parameter set: 56 + 32 + 8 n + 16 bytes.</summary>
    public static int SerializedSize(RlweParameters p) => RlweCodec.Size(p, RlweObjectKind.CompactCiphertext, ContextSize, 1);

    /// <summary>Parses and validates an untrusted compact ciphertext (envelope checks of SPEC.md 12; every word is valid).</summary>
    /// <exception cref="ProtocolViolationException">Malformed, Oversized, Inconsistent (RlweCodec's envelope reasons).</exception>
    public static CompactCiphertext Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        int offset = RlweCodec.CheckEnvelope(p, data, RlweObjectKind.CompactCiphertext, 1, ContextSize, out bool ntt, default);
        if (ntt) throw Error.Violation(ViolationReason.Malformed, "compact ciphertexts travel in the coefficient domain");
        ReadOnlySpan<byte> ctx = data.Slice(RlweCodec.HeaderSize, ContextSize);
        var words = new ulong[p.N];
        ReadWords(data.Slice(offset, 8 * p.N), words);
        return new CompactCiphertext(p, ChunkLabel.SessionTag(ctx), ChunkLabel.Round(ctx), ChunkLabel.Chunk(ctx), ChunkLabel.Sender(ctx), words);
    }

    private static void ReadWords(ReadOnlySpan<byte> payload, Span<ulong> words)
    {
        if (BitConverter.IsLittleEndian) payload.CopyTo(MemoryMarshal.AsBytes(words));
        else for (int j = 0; j < words.Length; j++) words[j] = BinaryPrimitives.ReadUInt64LittleEndian(payload[(8 * j)..]);
    }

    /// <summary>sum[j] += the payload's word j, mod 2^64, for the n little-endian words of <paramref name="payload"/>.</summary>
    internal static void AddWords(ReadOnlySpan<byte> payload, Span<ulong> sum)
    {
        System.Diagnostics.Debug.Assert(payload.Length == 8 * sum.Length);
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(payload);
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                Span<Vector<ulong>> acc = MemoryMarshal.Cast<ulong, Vector<ulong>>(sum);
                ReadOnlySpan<Vector<ulong>> add = MemoryMarshal.Cast<ulong, Vector<ulong>>(words);
                for (int v = 0; v < acc.Length; v++) acc[v] += add[v];
                j = acc.Length * Vector<ulong>.Count;
            }
            for (; j < sum.Length; j++) sum[j] = unchecked(sum[j] + words[j]);
        }
        else for (int j = 0; j < sum.Length; j++) sum[j] = unchecked(sum[j] + BinaryPrimitives.ReadUInt64LittleEndian(payload[(8 * j)..]));
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
        Switch = new ModulusSwitch(parameters);
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
    /// <summary>The switch between c0 mod Q and the uploaded words mod 2^64 (SPEC.md 12.0 steps 4 and 7).</summary>
    public ModulusSwitch Switch { get; }

    /// <summary>a_{r,k} (NTT domain).</summary>
    public RnsPoly CommonPolynomial(ulong round, uint chunk) => CommonRandomness.Expand(Parameters, _seed, CrpPurpose.CompactCiphertext, round, chunk);

    /// <summary>c0 = -a_{r,k} s + e + Delta*m for up to n values mod t, switched to 2^64 (SPEC.md 12.0 step 4).</summary>
    public CompactCiphertext Encrypt(SecretKey sk, int sender, ulong round, uint chunk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        if (values.Length > Parameters.N) throw Error.Argument(nameof(values), "At most n values per chunk.");
        RnsPoly a = CommonPolynomial(round, chunk);
        Parameters.Basis.MulPointwiseShoup(a, sk.ValueChecked, sk.ValueShoup, a); // a is consumed: a*s in place
        RnsPoly c0 = _bfv.FinishSymmetric(a, values, Samplers.From(rng));
        var words = new ulong[Parameters.N];
        Switch.Switch(c0, words);
        c0.Clear();
        return new CompactCiphertext(Parameters, SessionTag, round, chunk, sender, words);
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
            ulong[] words = System.Buffers.ArrayPool<ulong>.Shared.Rent(Parameters.N);
            try
            {
                Switch.Switch(work, words.AsSpan(0, Parameters.N));
                Span<byte> ctx = stackalloc byte[CompactCiphertext.ContextSize];
                ChunkLabel.Write(ctx, SessionTag, round, chunk, sender);
                return RlweCodec.WriteWords(Parameters, RlweObjectKind.CompactCiphertext, ctx, bodyDigest, words.AsSpan(0, Parameters.N));
            }
            finally { System.Buffers.ArrayPool<ulong>.Shared.Return(words); }
        }
        finally
        {
            work.Clear(); // held a*s, then c0 at full precision (only its switch is sent)
        }
    }

    /// <summary>A zero aggregate for (round, chunk).</summary>
    public CompactCiphertext AllocateSum(ulong round, uint chunk) => new(Parameters, SessionTag, round, chunk, -1, new ulong[Parameters.N]);

    /// <summary>The aggregate's c0 back at modulus Q: round(Q C0' / 2^64) mod Q, coefficient domain (SPEC.md 12.0 step 7).</summary>
    /// <param name="sum">An aggregate (or one upload).</param>
    /// <param name="destination">Receives the lifted c0; a new polynomial when null.</param>
    public RnsPoly Lift(CompactCiphertext sum, RnsPoly? destination = null)
    {
        ArgumentNullException.ThrowIfNull(sum);
        RnsPoly result = destination ?? Parameters.Basis.Allocate();
        Switch.Lift(sum.Words, result);
        return result;
    }

    /// <summary>
    /// Validates an untrusted serialized compact ciphertext from <paramref name="expectedSender"/> and adds it into
    /// <paramref name="sum"/> without materializing it or allocating; the sum is unchanged if anything fails (typed refusals).
    /// Checks run cheap to expensive (SPEC.md 12): envelope fields, lengths and digest, domain, (session, round, chunk) label
    /// and sender; then the n words are added mod 2^64 (every word is a valid value, so nothing can fail after the first
    /// addition). No other thread may use <paramref name="sum"/> during the call (UploadIntake holds the chunk's lock).
    /// </summary>
    /// <exception cref="ProtocolViolationException">Malformed, Oversized, Inconsistent (RlweCodec's envelope reasons),
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
        // Cheap to expensive, nothing allocated: envelope (fields, lengths, digest), domain, label, then the words.
        int offset = RlweCodec.CheckEnvelope(Parameters, data, RlweObjectKind.CompactCiphertext, 1, CompactCiphertext.ContextSize, out bool ntt, bodyDigest);
        if (ntt) throw Error.Violation(ViolationReason.Malformed, "compact ciphertexts travel in the coefficient domain");
        ReadOnlySpan<byte> ctx = data.Slice(RlweCodec.HeaderSize, CompactCiphertext.ContextSize);
        if (!ChunkLabel.Names(ctx, SessionTag, sum.Round, sum.Chunk))
            throw Error.Violation(ViolationReason.WrongRoundOrState, "ciphertext of another session, round or chunk");
        if (ChunkLabel.Sender(ctx) != expectedSender)
            throw Error.Violation(ViolationReason.UnknownSender, "ciphertext sender differs from its uploader");
        CompactCiphertext.AddWords(data.Slice(offset, 8 * Parameters.N), sum.Words);
    }

    /// <summary>sum += ct, after checking that ct belongs to this session, round and chunk (typed refusal otherwise).</summary>
    public void AddInPlace(CompactCiphertext sum, CompactCiphertext ct)
    {
        ArgumentNullException.ThrowIfNull(sum);
        ArgumentNullException.ThrowIfNull(ct);
        if (!ct.SessionTag.AsSpan().SequenceEqual(SessionTag) || ct.Round != sum.Round || ct.Chunk != sum.Chunk)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "ciphertext of another session, round or chunk");
        Span<ulong> acc = sum.Words;
        ReadOnlySpan<ulong> add = ct.Words;
        for (int j = 0; j < acc.Length; j++) acc[j] = unchecked(acc[j] + add[j]);
    }
}
