// RlweCodec: the fixed binary envelope of every RLWE object (ciphertexts, keys, threshold shares).
//
// Layout (all integers little-endian; protocols/SPEC.md "RLWE objects", drafted in docs/homomorphic-mode.md):
//   0  magic        4 bytes "FFRL"
//   4  version      1 byte  = 2 (2: parameter hash v2 covering the noise and secret distributions; 1 is refused)
//   5  kind         1 byte  (RlweObjectKind)
//   6  flags        1 byte  bit 0: polynomials are NTT evaluations (else coefficients); other bits zero
//   7  reserved     1 byte  = 0
//   8  param hash   32 bytes SHA-256 of the parameter set (RlweParameters.Hash)
//  40  n            uint32
//  44  limbs        uint16
//  46  polys        uint16
//  48  context len  uint32  kind-specific context (session, round, chunk, sender, sets) before the payload
//  52  payload len  uint32  = polys * sum_i ceil(n * bitlen(q_i) / 8)   (kinds 10 and 11: polys * 8 n)
//  56  context      context-len bytes
//      payload      for each polynomial, for each limb i: n residues of bitlen(q_i) bits, packed LSB-first,
//                   each limb stream padded with zero bits to a byte boundary; kinds 10 and 11 (compact ciphertext
//                   and decryption share, switched to 2^64): n u64 little-endian words, every value valid
//      digest       16 bytes = SHA-256(all preceding bytes)[0..16): detects corruption, NOT an authenticator
//                   (authenticity comes from the protocol's signatures)
// Validation runs cheap to expensive (SEAL valcheck style): total size, magic, version, kind, flags,
// parameter hash, n/limbs/polys, lengths, digest, then every residue below its prime and zero padding bits.
// Sizes: every size computed from a header field (count * bytes per polynomial, header + context + payload + digest)
// is computed in 64-bit arithmetic and compared with the buffer's actual length before anything is allocated or
// sliced: a u16 count times a 32-bit polynomial size and a u32 context length cannot wrap a long, so an object whose
// fields only add up mod 2^32 (e.g. 23,302 polynomials of 184,320 bytes, 57,344 bytes mod 2^32) is Malformed.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;

namespace FraudFed.Cryptography.Rlwe;

/// <summary>Kinds of serialized RLWE objects.</summary>
internal enum RlweObjectKind : byte
{
    /// <summary>BFV ciphertext (c0, c1).</summary>
    Ciphertext = 1,
    /// <summary>Compact ciphertext: c0 only (c1 is the round's common polynomial), switched to 2^64: one 64-bit word per
    /// coefficient (SPEC.md 12.0 step 4). Kind 2, the same c0 in RNS residues (log Q bits per coefficient), is retired and refused.</summary>
    CompactCiphertext = 10,
    /// <summary>Public key (p0, p1).</summary>
    PublicKey = 3,
    /// <summary>Collective public key share p_i.</summary>
    PublicKeyShare = 4,
    /// <summary>Shamir point of a secret key (one bank to another).</summary>
    ShamirShare = 5,
    /// <summary>Threshold decryption share h_j switched to 2^64: one 64-bit word per coefficient (SPEC.md 12.0 step 5). Kind 6,
    /// the same h_j in RNS residues (log Q bits per coefficient), is retired and refused.</summary>
    SwitchedDecryptionShare = 11,
    // Kinds 7-9 (public-key variant uploads, requests and shares) are retired and refused: threshold decryption of
    // sums of attacker-chosen (c0, c1) without proofs of well-formedness opens the collective key (SPEC.md 12.1).
}

/// <summary>Serializer and validating parser of the RLWE envelope.</summary>
internal static class RlweCodec
{
    /// <summary>Header size before the context.</summary>
    public const int HeaderSize = 56;
    /// <summary>Trailing digest size.</summary>
    public const int DigestSize = 16;
    private static ReadOnlySpan<byte> Magic => "FFRL"u8;
    private const byte Version = 2;

    /// <summary>Bytes of one packed polynomial for the parameter set: sum over limbs of ceil(n * bitlen(q_i) / 8) (SPEC.md section 12).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="p"/> is null.</exception>
    public static int PolyBytes(RlweParameters p)
    {
        ArgumentNullException.ThrowIfNull(p);
        long total = 0;
        foreach (ulong q in p.Primes) total += LimbBytes(p.N, q);
        return checked((int)total); // n <= 2^17 and L small: far below 2^31 for every parameter set RlweParameters admits
    }

    private static int Bits(ulong q) => 64 - BitOperations.LeadingZeroCount(q);
    private static int LimbBytes(int n, ulong q) => (int)(((long)n * Bits(q) + 7) / 8);

    /// <summary>Bytes of one polynomial of <paramref name="kind"/>: n 64-bit words for the kinds switched to 2^64 (10 and 11),
    /// else <see cref="PolyBytes"/>.</summary>
    private static long KindPolyBytes(RlweParameters p, RlweObjectKind kind) => IsWordKind(kind) ? 8L * p.N : PolyBytes(p);

    /// <summary>Whether objects of <paramref name="kind"/> carry n u64 words mod 2^64 (compact ciphertexts, kind 10, and
    /// decryption shares, kind 11; SPEC.md 12.0 steps 4 and 5) instead of packed residues.</summary>
    internal static bool IsWordKind(RlweObjectKind kind) => kind is RlweObjectKind.CompactCiphertext or RlweObjectKind.SwitchedDecryptionShare;

    /// <summary>header + context + polys * bytes per polynomial + digest in 64-bit arithmetic: at most 56 + (2^32 - 1) + 65,535 * (2^31 - 1) + 16 &lt; 2^48.</summary>
    private static long SizeInt64(RlweParameters p, RlweObjectKind kind, long contextLength, long polys) => HeaderSize + contextLength + polys * KindPolyBytes(p, kind) + DigestSize;

    /// <summary>Total serialized size in bytes of an object with <paramref name="polys"/> polynomials and a context of <paramref name="contextLength"/> bytes.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="p"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="polys"/> is outside 0..65,535 (the header's u16), <paramref name="contextLength"/>
    /// is negative, or the object would be larger than the largest array.</exception>
    public static int Size(RlweParameters p, int contextLength, int polys) => Size(p, RlweObjectKind.Ciphertext, contextLength, polys);

    /// <summary>As <see cref="Size(RlweParameters, int, int)"/> for objects of <paramref name="kind"/> (a compact ciphertext's
    /// polynomial is n 64-bit words, every other kind's is packed residues).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="p"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">as <see cref="Size(RlweParameters, int, int)"/>.</exception>
    public static int Size(RlweParameters p, RlweObjectKind kind, int contextLength, int polys)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (polys is < 0 or > ushort.MaxValue) throw Error.OutOfRange(nameof(polys), "An object holds 0..65535 polynomials (u16 count).");
        if (contextLength < 0) throw Error.OutOfRange(nameof(contextLength), "The context length cannot be negative.");
        if (SizeInt64(p, kind, 0, polys) > Array.MaxLength) throw Error.OutOfRange(nameof(polys), "The polynomials would not fit in one array.");
        long size = SizeInt64(p, kind, contextLength, polys);
        if (size > Array.MaxLength) throw Error.OutOfRange(nameof(contextLength), "The object would not fit in one array.");
        return (int)size;
    }

    private static void WriteHeader(RlweParameters p, RlweObjectKind kind, bool ntt, int contextLength, int polys, Span<byte> o)
    {
        Magic.CopyTo(o);
        o[4] = Version;
        o[5] = (byte)kind;
        o[6] = (byte)(ntt ? 1 : 0);
        o[7] = 0;
        p.Hash.Span.CopyTo(o.Slice(8, 32));
        BinaryPrimitives.WriteUInt32LittleEndian(o.Slice(40), (uint)p.N);
        BinaryPrimitives.WriteUInt16LittleEndian(o.Slice(44), (ushort)p.Primes.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(o.Slice(46), (ushort)polys);
        BinaryPrimitives.WriteUInt32LittleEndian(o.Slice(48), (uint)contextLength);
        BinaryPrimitives.WriteUInt32LittleEndian(o.Slice(52), checked((uint)(polys * KindPolyBytes(p, kind)))); // sizes checked by Size
    }

    /// <summary>
    /// SHA-256 of the coefficient-domain object <see cref="Write(RlweParameters, RlweObjectKind, ReadOnlySpan{byte}, RnsPoly[])"/> would produce for (kind, context) and the polynomials whose
    /// packed bytes are <paramref name="packedPolys"/> (taken from another validated object: packing is canonical, so these are
    /// exactly the bytes Write packs). One pass over the bytes (the trailing digest comes from the running hash), no allocation.
    /// </summary>
    internal static void HashOfPacked(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, ReadOnlySpan<byte> packedPolys, Span<byte> sha256)
    {
        int polyBytes = PolyBytes(p);
        Debug.Assert(packedPolys.Length % polyBytes == 0 && sha256.Length == 32);
        Span<byte> header = stackalloc byte[HeaderSize];
        WriteHeader(p, kind, false, context.Length, packedPolys.Length / polyBytes, header);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(header);
        h.AppendData(context);
        h.AppendData(packedPolys);
        Span<byte> prefixDigest = stackalloc byte[32];
        h.GetCurrentHash(prefixDigest);
        h.AppendData(prefixDigest[..DigestSize]);
        h.GetHashAndReset(sha256);
    }

    /// <summary>Serializes polynomials (all in the same domain) with a context.</summary>
    public static byte[] Write(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, params RnsPoly[] polys) =>
        Write(p, kind, context, [], polys);

    /// <summary>
    /// Serializes polynomials (all in the same domain) with a context, and writes the body's full SHA-256 (every byte but the
    /// 16-byte trailer, whose bytes are its first half; SPEC.md 12 / 12.2) into <paramref name="bodyDigest"/> when it is 32
    /// bytes long (empty: not wanted), so that a signer does not hash the body a second time.
    /// </summary>
    public static byte[] Write(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, Span<byte> bodyDigest, params RnsPoly[] polys)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (bodyDigest.Length is not (0 or 32)) throw Error.Argument(nameof(bodyDigest), "A body digest is 32 bytes.");
        ArgumentNullException.ThrowIfNull(polys);
        bool ntt = polys.Length > 0 && polys[0].IsNtt;
        foreach (RnsPoly poly in polys)
        {
            p.Basis.Check(poly);
            if (poly.IsNtt != ntt) throw Error.Argument(nameof(polys), "All polynomials must be in the same domain.");
        }
        byte[] output = GC.AllocateUninitializedArray<byte>(Size(p, context.Length, polys.Length)); // every byte is written below
        Span<byte> o = output;
        WriteHeader(p, kind, ntt, context.Length, polys.Length, o);
        context.CopyTo(o.Slice(HeaderSize));
        int offset = HeaderSize + context.Length;
        foreach (RnsPoly poly in polys)
            for (int i = 0; i < p.Primes.Count; i++)
            {
                int bytes = LimbBytes(p.N, p.Primes[i]);
                Pack(poly.Limb(i), Bits(p.Primes[i]), o.Slice(offset, bytes));
                offset += bytes;
            }
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(o[..offset], digest);
        digest[..DigestSize].CopyTo(o.Slice(offset));
        if (bodyDigest.Length == 32) digest.CopyTo(bodyDigest);
        return output;
    }

    /// <summary>
    /// Serializes one polynomial of n 64-bit words (a compact ciphertext or a decryption share switched to 2^64, SPEC.md 12.0
    /// steps 4 and 5; u64 little-endian, coefficient order) with a context, and writes the body's SHA-256 into <paramref name="bodyDigest"/>
    /// when it is 32 bytes long (empty: not wanted), as <see cref="Write(RlweParameters, RlweObjectKind, ReadOnlySpan{byte}, Span{byte}, RnsPoly[])"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a word kind (10, 11), <paramref name="words"/> is not n
    /// long, or the digest span is neither 0 nor 32 bytes.</exception>
    public static byte[] WriteWords(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, Span<byte> bodyDigest, ReadOnlySpan<ulong> words)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (!IsWordKind(kind)) throw Error.Argument(nameof(kind), "Only compact ciphertexts and decryption shares travel as 64-bit words.");
        if (bodyDigest.Length is not (0 or 32)) throw Error.Argument(nameof(bodyDigest), "A body digest is 32 bytes.");
        if (words.Length != p.N) throw Error.Argument(nameof(words), $"Exactly n = {p.N} words.");
        byte[] output = GC.AllocateUninitializedArray<byte>(Size(p, kind, context.Length, 1)); // every byte is written below
        Span<byte> o = output;
        WriteHeader(p, kind, false, context.Length, 1, o);
        context.CopyTo(o.Slice(HeaderSize));
        int offset = HeaderSize + context.Length;
        Span<byte> payload = o.Slice(offset, 8 * p.N);
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(words).CopyTo(payload);
        else for (int j = 0; j < words.Length; j++) BinaryPrimitives.WriteUInt64LittleEndian(payload[(8 * j)..], words[j]);
        offset += payload.Length;
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(o[..offset], digest);
        digest[..DigestSize].CopyTo(o.Slice(offset));
        if (bodyDigest.Length == 32) digest.CopyTo(bodyDigest);
        return output;
    }

    /// <summary>
    /// Starts a one-polynomial word object (kind 10 or 11) for a writer that fills the n words itself: returns the output
    /// buffer with header and context written and the payload (8 n bytes at <paramref name="payloadOffset"/>) still to be
    /// filled, little-endian; <see cref="FinishWords(byte[], Span{byte})"/> then writes the trailer. Saves the copy of a separate word array.
    /// </summary>
    internal static byte[] BeginWords(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, out int payloadOffset)
    {
        Debug.Assert(IsWordKind(kind));
        byte[] output = GC.AllocateUninitializedArray<byte>(Size(p, kind, context.Length, 1)); // every byte is written by the caller and FinishWords
        WriteHeader(p, kind, false, context.Length, 1, output);
        context.CopyTo(output.AsSpan(HeaderSize));
        payloadOffset = HeaderSize + context.Length;
        return output;
    }

    /// <summary>Writes the 16-byte trailer of an object begun with <see cref="BeginWords"/> whose payload is filled, and its
    /// body's SHA-256 into <paramref name="bodyDigest"/> when that is 32 bytes long.</summary>
    internal static void FinishWords(byte[] output, Span<byte> bodyDigest) => FinishWords(output.AsSpan(), bodyDigest);

    /// <summary>As <see cref="BeginWords"/>, writing the header and context into <paramref name="output"/> (exactly
    /// <see cref="Size(RlweParameters, RlweObjectKind, int, int)"/> bytes for one polynomial) instead of a new array.</summary>
    internal static int BeginWordsInto(RlweParameters p, RlweObjectKind kind, ReadOnlySpan<byte> context, Span<byte> output)
    {
        Debug.Assert(IsWordKind(kind) && output.Length == Size(p, kind, context.Length, 1));
        WriteHeader(p, kind, false, context.Length, 1, output);
        context.CopyTo(output[HeaderSize..]);
        return HeaderSize + context.Length;
    }

    /// <summary>As <see cref="FinishWords(byte[], Span{byte})"/> for an object laid out in <paramref name="output"/> (its whole span).</summary>
    internal static void FinishWords(Span<byte> output, Span<byte> bodyDigest)
    {
        int bodyEnd = output.Length - DigestSize;
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(output[..bodyEnd], digest);
        digest[..DigestSize].CopyTo(output[bodyEnd..]);
        if (bodyDigest.Length == 32) digest.CopyTo(bodyDigest);
    }

    /// <summary>
    /// Parses and validates an untrusted object of <paramref name="polys"/> polynomials and a <paramref name="contextLength"/>-byte
    /// context (SPEC.md section 12, checks in the order listed there).
    /// </summary>
    /// <returns>The polynomials, in the domain the object's flags state; <paramref name="context"/> receives a copy of the context.</returns>
    /// <exception cref="ProtocolViolationException">Every failure: Malformed (magic, version, kind, flags, n, L, count, lengths or digest
    /// differ, including sizes that only agree mod 2^32), Oversized (trailing bytes), Inconsistent (parameter hash), OutOfRange (a residue
    /// not below its prime or a padding bit set). Nothing is allocated from the header's count before its sizes are checked.</exception>
    public static RnsPoly[] Read(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int polys, int contextLength, out byte[] context)
    {
        int offset = ReadEnvelope(p, data, kind, polys, contextLength, out context, out bool ntt);
        var result = new RnsPoly[polys];
        try
        {
            for (int k = 0; k < polys; k++)
            {
                result[k] = p.Basis.Allocate(ntt);
                offset = UnpackPoly(p, data, offset, result[k].Data);
            }
        }
        catch
        {
            // A residue or padding refusal part-way: the residues already unpacked may be secret (a Shamir point), so clear them.
            foreach (RnsPoly? poly in result) poly?.Clear();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Validates a one-polynomial object and adds it into <paramref name="accumulator"/> (same domain required), in one pass
    /// over the packed residues (unpack, range check, modular add). On any refusal the accumulator holds its old value again
    /// when this method throws (the residue pass adds in place and, if some residue was out of range, subtracts the same
    /// values back); callers must not let another thread read or write the accumulator during the call.
    /// </summary>
    /// <returns>A copy of the object's context.</returns>
    /// <exception cref="ProtocolViolationException">As <see cref="Read"/>, and Malformed if the object's domain differs from the
    /// accumulator's; <paramref name="checkContext"/>'s own refusals come before any residue is read.</exception>
    public static byte[] ReadAndAdd(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int contextLength, RnsPoly accumulator,
        Action<byte[]>? checkContext = null) => ReadAndAdd(p, data, kind, contextLength, accumulator, checkContext, default);

    /// <summary>
    /// As above; <paramref name="bodyDigest"/>, when not empty, is the SHA-256 of <paramref name="data"/> without its
    /// trailing digest that the caller computed itself from the same bytes (e.g. while checking a signature), so the
    /// envelope's digest is compared against it instead of hashing the body a second time.
    /// </summary>
    internal static byte[] ReadAndAdd(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int contextLength, RnsPoly accumulator,
        Action<byte[]>? checkContext, ReadOnlySpan<byte> bodyDigest)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        p.Basis.Check(accumulator);
        int offset = ReadEnvelope(p, data, kind, 1, contextLength, out byte[] context, out bool ntt, bodyDigest);
        if (ntt != accumulator.IsNtt) throw Error.Violation(ViolationReason.Malformed, "object is in the other domain");
        checkContext?.Invoke(context);
        UnpackAdd(p, data, offset, accumulator);
        return context;
    }

    /// <summary>
    /// 4. for one polynomial: accumulator += the packed residues at <paramref name="offset"/> (limb-major, SPEC.md 12), checking
    /// each residue below its prime and each limb's padding bits zero in the same pass. If any check fails, the same residues
    /// are subtracted again (exactly: see <see cref="UndoAdd"/>) and OutOfRange is thrown, leaving the accumulator as it was.
    /// The envelope (sizes, digest) must have been checked: the payload is followed by at least the 16-byte digest.
    /// </summary>
    internal static unsafe void UnpackAdd(RlweParameters p, ReadOnlySpan<byte> data, int offset, RnsPoly accumulator)
    {
        int n = p.N, limbs = p.Primes.Count;
        Debug.Assert(offset + (long)PolyBytes(p) + DigestSize <= data.Length);
        ulong bad = 0;
        fixed (byte* src = data)
        fixed (ulong* acc = accumulator.Data)
        {
            int o = offset;
            for (int i = 0; i < limbs; i++)
            {
                ulong q = p.Primes[i];
                int width = Bits(q), bytes = LimbBytes(n, q);
                bad |= AddLimb(src + o, bytes, width, q, acc + (long)i * n, n, data.Length - o);
                o += bytes;
            }
            if (bad != 0)
            {
                o = offset;
                for (int i = 0; i < limbs; i++)
                {
                    ulong q = p.Primes[i];
                    int bytes = LimbBytes(n, q);
                    UndoAdd(src + o, Bits(q), q, acc + (long)i * n, n);
                    o += bytes;
                }
                throw Error.Violation(ViolationReason.OutOfRange, "a residue is not below its prime");
            }
        }
    }

    /// <summary>
    /// acc[j] = (acc[j] + v_j) mod q for the n <paramref name="width"/>-bit values v_j packed LSB-first at <paramref name="src"/>
    /// (a limb stream of <paramref name="bytes"/> bytes, <paramref name="available"/> readable bytes from src); returns non-zero
    /// if some v_j &gt;= q or a padding bit is set. v_j &lt; 2^width &lt;= 2q, so acc[j] + v_j &lt; 3q and one conditional
    /// subtraction leaves a value below 2q that <see cref="UndoAdd"/> can take back exactly.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe ulong AddLimb(byte* src, int bytes, int width, ulong q, ulong* acc, int n, int available)
    {
        ulong mask = (1UL << width) - 1, qMinus1 = q - 1, bad = 0;
        int j = 0;
        long bit = 0;
        // Bit offsets j * width mod 8 are the multiples of g = gcd(width, 8), so the largest shift is 8 - g.
        if (width + 8 - Math.Min(8, width & -width) <= 64)
        {
            // One unaligned 8-byte load covers each value (shift + width <= 64; e.g. width 60: shifts 0 and 4).
            for (; j < n && (bit >> 3) + 8 <= available; j++, bit += width)
            {
                ulong v = (Unsafe.ReadUnaligned<ulong>(src + (bit >> 3)) >> (int)(bit & 7)) & mask;
                bad |= (qMinus1 - v) >> 63;
                acc[j] = ModArith.CondSub(acc[j] + v, q);
            }
        }
        else
        {
            for (; j < n && (bit >> 3) + 16 <= available; j++, bit += width)
            {
                int shift = (int)(bit & 7);
                ulong lo = Unsafe.ReadUnaligned<ulong>(src + (bit >> 3)), hi = Unsafe.ReadUnaligned<ulong>(src + (bit >> 3) + 8);
                ulong v = ((lo >> shift) | ((hi << 1) << (63 - shift))) & mask;
                bad |= (qMinus1 - v) >> 63;
                acc[j] = ModArith.CondSub(acc[j] + v, q);
            }
        }
        for (; j < n; j++, bit += width)
        {
            ulong v = ReadBits(src, bytes, bit, width) & mask;
            bad |= (qMinus1 - v) >> 63;
            acc[j] = ModArith.CondSub(acc[j] + v, q);
        }
        long totalBits = (long)n * width;
        int padBits = (int)(bytes * 8L - totalBits);
        if (padBits > 0 && (src[bytes - 1] >> (8 - padBits)) != 0) bad = 1;
        return bad;
    }

    /// <summary>
    /// Takes back <see cref="AddLimb"/>: with a = acc + v - r*q (r in {0, 1}) and the old acc in [0, q), d = a - v is the old
    /// acc when it is not negative and d + q otherwise. Only runs on refused objects.
    /// </summary>
    internal static unsafe void UndoAdd(byte* src, int width, ulong q, ulong* acc, int n)
    {
        ulong mask = (1UL << width) - 1;
        int bytes = LimbBytes(n, q);
        long bit = 0;
        for (int j = 0; j < n; j++, bit += width)
        {
            ulong v = ReadBits(src, bytes, bit, width) & mask;
            long d = (long)(acc[j] - v);
            acc[j] = (ulong)(d < 0 ? d + (long)q : d);
        }
    }

    /// <summary>Up to 64 bits starting at bit <paramref name="bit"/> of a little-endian stream of <paramref name="bytes"/> bytes (missing bytes read as zero).</summary>
    private static unsafe ulong ReadBits(byte* src, int bytes, long bit, int width)
    {
        long off = bit >> 3;
        int shift = (int)(bit & 7);
        UInt128 acc = 0;
        for (int b = 0; b < 9 && off + b < bytes; b++) acc |= (UInt128)src[off + b] << (8 * b);
        return (ulong)(acc >> shift) & (width == 64 ? ulong.MaxValue : (1UL << width) - 1);
    }

    /// <summary>Checks everything but the residues; returns the payload offset.</summary>
    internal static int ReadEnvelope(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int polys, int contextLength, out byte[] context, out bool ntt)
        => ReadEnvelope(p, data, kind, polys, contextLength, out context, out ntt, default);

    /// <summary>As above; a non-empty <paramref name="bodyDigest"/> is the caller's own SHA-256 of the body (see ReadAndAdd).</summary>
    internal static int ReadEnvelope(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int polys, int contextLength, out byte[] context, out bool ntt,
        ReadOnlySpan<byte> bodyDigest)
    {
        int offset = CheckEnvelope(p, data, kind, polys, contextLength, out ntt, bodyDigest);
        context = data.Slice(HeaderSize, contextLength).ToArray();
        return offset;
    }

    /// <summary>
    /// The cheap first look at an untrusted object, before any hash: room for the header, <paramref name="contextLength"/>
    /// context bytes and the trailer; kind byte <paramref name="kind"/>; context-length field <paramref name="contextLength"/>.
    /// Returns the context (data[HeaderSize..HeaderSize + contextLength)). Nothing else is checked: the full validation is
    /// <see cref="CheckEnvelope"/>. Callers outside this codec read header fields only through here.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Malformed: too short, another kind or another context length.</exception>
    internal static ReadOnlySpan<byte> PeekContext(ReadOnlySpan<byte> data, RlweObjectKind kind, int contextLength)
    {
        if (contextLength < 0 || data.Length < HeaderSize + (long)contextLength + DigestSize) throw Malformed("shorter than its header, context and digest");
        if (data[5] != (byte)kind || BinaryPrimitives.ReadUInt32LittleEndian(data[48..]) != (uint)contextLength)
            throw Malformed("not an object of this kind and context length");
        return data.Slice(HeaderSize, contextLength);
    }

    /// <summary>
    /// Steps 1-3 of the validation (fixed fields, lengths, digest) without copying anything; the context is
    /// data[HeaderSize..HeaderSize + contextLength) and the payload starts at the returned offset.
    /// </summary>
    internal static int CheckEnvelope(RlweParameters p, ReadOnlySpan<byte> data, RlweObjectKind kind, int polys, int contextLength, out bool ntt,
        ReadOnlySpan<byte> bodyDigest)
    {
        ArgumentNullException.ThrowIfNull(p);
        // 1. Size and fixed fields.
        if (data.Length < HeaderSize + DigestSize) throw Malformed("shorter than the header");
        if (!data[..4].SequenceEqual(Magic)) throw Malformed("bad magic");
        if (data[4] != Version) throw Malformed("unsupported version");
        if (data[5] != (byte)kind) throw Malformed("unexpected object kind");
        if ((data[6] & ~1) != 0 || data[7] != 0) throw Malformed("reserved bits set");
        if (!data.Slice(8, 32).SequenceEqual(p.Hash.Span))
            throw Error.Violation(ViolationReason.Inconsistent, "parameter-set hash differs");
        // 2. Lengths, from the header's own fields in 64-bit arithmetic (no product or sum below can wrap), compared with the
        //    caller's expectations as 64-bit values (a negative expectation matches no header) and with the actual length.
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(40));
        ushort limbs = BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(44));
        ushort count = BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(46));
        uint contextBytes = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(48));
        uint payloadBytes = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(52));
        if (n != (long)p.N) throw Malformed("ring degree differs");
        if (limbs != p.Primes.Count) throw Malformed("limb count differs");
        if (count != (long)polys) throw Malformed("polynomial count differs");
        if (contextBytes != (long)contextLength) throw Malformed("context length differs");
        long payload = count * KindPolyBytes(p, kind);
        if (payloadBytes != payload) throw Malformed("payload length differs");
        long size = SizeInt64(p, kind, contextBytes, count);
        if (data.Length != size)
            throw Error.Violation(data.Length > size ? ViolationReason.Oversized : ViolationReason.Malformed, "total length differs");
        Debug.Assert(contextLength >= 0 && polys >= 0 && HeaderSize + (long)contextLength + payload + DigestSize == data.Length);
        // 3. Digest (linear time).
        int bodyEnd = data.Length - DigestSize;
        Span<byte> digest = stackalloc byte[32];
        if (bodyDigest.Length == 32) bodyDigest.CopyTo(digest);
        else SHA256.HashData(data[..bodyEnd], digest);
        if (!CryptographicOperations.FixedTimeEquals(digest[..DigestSize], data[bodyEnd..])) throw Malformed("digest mismatch");
        ntt = (data[6] & 1) != 0;
        return HeaderSize + contextLength;
    }

    /// <summary>4. Unpacks one polynomial (limb-major) with range checks; returns the next offset.</summary>
    internal static int UnpackPoly(RlweParameters p, ReadOnlySpan<byte> data, int offset, Span<ulong> destination)
    {
        int n = p.N;
        for (int i = 0; i < p.Primes.Count; i++)
        {
            int bytes = LimbBytes(n, p.Primes[i]);
            if (!Unpack(data.Slice(offset, bytes), Bits(p.Primes[i]), p.Primes[i], destination.Slice(i * n, n)))
                throw Error.Violation(ViolationReason.OutOfRange, "a residue is not below its prime");
            offset += bytes;
        }
        return offset;
    }

    private static ProtocolViolationException Malformed(string what) => Error.Violation(ViolationReason.Malformed, what);

    internal static unsafe void Pack(ReadOnlySpan<ulong> values, int width, Span<byte> destination)
    {
        ulong acc = 0;
        int accBits = 0, o = 0;
        fixed (byte* dst = destination)
        fixed (ulong* src = values)
        {
            int j = 0;
            if (width >= 8 && width + 8 - Math.Min(8, width & -width) <= 64 && BitConverter.IsLittleEndian)
            {
                // Branch-free fast path (e.g. width 60): value j goes into one unaligned 8-byte store at byte bit/8, OR-ed with
                // `carry`, the bits of the previous value already in that byte; the store's upper bytes are zero and the next
                // store overwrites them. It stops while 8 bytes still fit; the loop below continues from (bit, carry).
                long bit = 0;
                ulong carry = 0;
                for (; j < values.Length && (bit >> 3) + 8 <= destination.Length; j++)
                {
                    long off = bit >> 3;
                    ulong word = carry | (src[j] << (int)(bit & 7));
                    System.Runtime.CompilerServices.Unsafe.WriteUnaligned(dst + off, word);
                    bit += width;
                    int advance = (int)((bit >> 3) - off) * 8; // 8..64 bits, as width >= 8
                    carry = (word >> (advance - 1)) >> 1;
                }
                o = (int)(bit >> 3);
                accBits = (int)(bit & 7);
                acc = carry;
            }
            for (; j < values.Length; j++)
            {
                ulong v = src[j];
                acc |= v << accBits;
                int total = accBits + width;
                if (total >= 64)
                {
                    if (o + 8 > destination.Length) throw new ArgumentException("Destination too small.", nameof(destination));
                    System.Runtime.CompilerServices.Unsafe.WriteUnaligned(dst + o, BitConverter.IsLittleEndian ? acc : BinaryPrimitives.ReverseEndianness(acc));
                    o += 8;
                    acc = accBits == 0 ? 0 : v >> (64 - accBits);
                    total -= 64;
                }
                accBits = total;
            }
        }
        while (accBits > 0)
        {
            destination[o++] = (byte)acc;
            acc >>= 8;
            accBits -= 8;
        }
        if (o != destination.Length) throw new ArgumentException("Destination size does not match.", nameof(destination));
    }

    /// <summary>Unpacks and range-checks; false if a value is not below q or a padding bit is set.</summary>
    internal static unsafe bool Unpack(ReadOnlySpan<byte> source, int width, ulong q, Span<ulong> destination)
    {
        if (!BitConverter.IsLittleEndian || width > 62) return UnpackPortable(source, width, q, destination);
        int n = destination.Length;
        long totalBits = (long)n * width;
        if (source.Length != (totalBits + 7) / 8) return false;
        ulong mask = (1UL << width) - 1, qMinus1 = q - 1, bad = 0;
        int j = 0;
        fixed (byte* src = source)
        fixed (ulong* dst = destination)
        {
            // Fast path: two unaligned little-endian words cover the value (width + shift <= 69 bits).
            for (; j < n; j++)
            {
                long bit = (long)j * width;
                long off = bit >> 3;
                if (off + 16 > source.Length) break;
                int shift = (int)(bit & 7);
                ulong lo = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(src + off);
                ulong hi = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(src + off + 8);
                ulong v = ((lo >> shift) | ((hi << 1) << (63 - shift))) & mask;
                bad |= (qMinus1 - v) >> 63; // v > q - 1 (both below 2^62)
                dst[j] = v;
            }
            // Tail: byte by byte.
            for (; j < n; j++)
            {
                long bit = (long)j * width;
                long off = bit >> 3;
                int shift = (int)(bit & 7);
                UInt128 acc = 0;
                for (int b = 0; b < 9 && off + b < source.Length; b++) acc |= (UInt128)src[off + b] << (8 * b);
                ulong v = (ulong)(acc >> shift) & mask;
                bad |= (qMinus1 - v) >> 63;
                dst[j] = v;
            }
        }
        int padBits = (int)(source.Length * 8L - totalBits);
        if (padBits > 0 && (source[^1] >> (8 - padBits)) != 0) bad = 1;
        return bad == 0;
    }

    internal static bool UnpackPortable(ReadOnlySpan<byte> source, int width, ulong q, Span<ulong> destination)
    {
        ulong mask = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
        UInt128 acc = 0;
        int accBits = 0, o = 0;
        ulong bad = 0;
        for (int j = 0; j < destination.Length; j++)
        {
            if (accBits < width)
            {
                if (source.Length - o >= 8)
                {
                    acc |= (UInt128)BinaryPrimitives.ReadUInt64LittleEndian(source.Slice(o, 8)) << accBits;
                    o += 8; accBits += 64;
                }
                else
                {
                    while (accBits < width && o < source.Length) { acc |= (UInt128)source[o++] << accBits; accBits += 8; }
                }
            }
            ulong v = (ulong)acc & mask;
            acc >>= width; accBits -= width;
            bad |= v >= q ? 1UL : 0UL;
            destination[j] = v;
        }
        // Remaining bits (padding) must be zero and the whole source consumed.
        if (acc != 0) bad = 1;
        while (o < source.Length) bad |= source[o++];
        return bad == 0;
    }
}
