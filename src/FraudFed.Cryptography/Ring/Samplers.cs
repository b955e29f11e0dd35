// Samplers for RLWE: uniform mod q (rejection), ternary, centred discrete Gaussian, wide smudging noise.
//
// - Uniform mod q_i: draw little-endian 64-bit words, keep the low bitlen(q_i) bits, reject values >= q_i
//   (acceptance > 1/2). Driven by the AES-256-CTR Prg the result is reproducible from a seed, which is how
//   common random polynomials are expanded (a uniform polynomial is uniform in either domain, so common
//   polynomials are sampled directly as NTT evaluations, as SEAL and Lattigo do).
// - Ternary: uniform on {-1, 0, 1} from bytes below 255 (rejection), as in SEAL's ternary secrets.
// - Discrete Gaussian: centred, sigma = 3.2, tail cut at 6 sigma (|x| <= 19), by cumulative distribution
//   table (CDT) inversion over |x| with 63-bit uniform words and a separate sign bit; every table entry is
//   compared for every sample (no early exit). Table probabilities: rho(x) = exp(-x^2 / (2 sigma^2)).
// - Smudging: exact uniform integers in [-B, B] with B = 2^k - 1 (k <= 126) by rejecting the single
//   value 2^(k+1) - 1 of a (k+1)-bit word; no floating point, reduced exactly into every RNS limb.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Cryptography.Ring;

/// <summary>A source of random bytes: a CSPRNG in production, a Prg for seeded expansion.</summary>
internal delegate void RandomFill(Span<byte> destination);

/// <summary>RLWE samplers. Every sampler takes an injected random source.</summary>
internal static class Samplers
{
    /// <summary>Gaussian standard deviation.</summary>
    public const double Sigma = 3.2;
    /// <summary>Sigma as the fixed-point integer bound into the parameter hash: sigma * 10^6 (3.2 -> 3200000).</summary>
    public const ulong SigmaMicros = 3_200_000;
    /// <summary>Largest |x| the Gaussian sampler outputs (6 sigma, rounded down).</summary>
    public const int GaussianBound = 19;
    /// <summary>Largest smudging exponent: B = 2^k - 1 with k at most this.</summary>
    public const int MaxSmudgingBits = 126;

    private static readonly ulong[] Cdt = BuildCdt();

    private static ulong[] BuildCdt()
    {
        var rho = new double[GaussianBound + 1];
        double total = 0;
        for (int k = 0; k <= GaussianBound; k++)
        {
            rho[k] = Math.Exp(-(double)k * k / (2 * Sigma * Sigma)) * (k == 0 ? 1 : 2);
            total += rho[k];
        }
        // cum[k] = floor(2^63 * P(|X| <= k)) for k = 0..GaussianBound-1.
        var cum = new ulong[GaussianBound];
        double acc = 0;
        for (int k = 0; k < GaussianBound; k++)
        {
            acc += rho[k];
            cum[k] = (ulong)Math.Min(Math.Floor(acc / total * 9.223372036854775808e18), 9.223372036854775807e18);
        }
        return cum;
    }

    /// <summary>Adapts a CSPRNG.</summary>
    public static RandomFill From(RandomNumberGenerator rng) { ArgumentNullException.ThrowIfNull(rng); return rng.GetBytes; }
    /// <summary>Adapts a seeded PRG.</summary>
    public static RandomFill From(Prg prg) { ArgumentNullException.ThrowIfNull(prg); return prg.Fill; }

    /// <summary>A uniform polynomial mod Q (reproducible from a seeded Prg), flagged as NTT domain.</summary>
    public static RnsPoly Uniform(RnsBasis basis, Prg prg) => Uniform(basis, From(prg), isNtt: true);
    /// <summary>A uniform polynomial mod Q from a CSPRNG, in the domain requested.</summary>
    public static RnsPoly Uniform(RnsBasis basis, RandomNumberGenerator rng, bool isNtt = false) => Uniform(basis, From(rng), isNtt);

    /// <summary>A uniform polynomial mod Q.</summary>
    public static RnsPoly Uniform(RnsBasis basis, RandomFill random, bool isNtt)
    {
        ArgumentNullException.ThrowIfNull(basis);
        var p = basis.Allocate(isNtt);
        for (int i = 0; i < basis.Count; i++) UniformLimbCore(p.Limb(i), basis.Primes[i], random);
        return p;
    }

    /// <summary>Fills <paramref name="destination"/> with uniform values mod <paramref name="q"/> by rejection.</summary>
    public static void UniformLimb(Span<ulong> destination, ulong q, RandomFill random)
    {
        if (q < 2) throw Error.Argument(nameof(q), "Modulus must be at least 2.");
        UniformLimbCore(destination, q, random);
    }

    /// <remarks>
    /// Draws one little-endian word per missing value straight into the destination, keeps those below q (compacting in
    /// place), and repeats for the remainder: the consumed stream depends only on q and n. The mask-and-compare runs four
    /// words at a time (one vector AND, one unsigned compare against q, one store when all four are kept); a block with a
    /// rejection is kept word by word. The same values as <see cref="UniformLimbReference"/> (SamplerTests, bit for bit).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void UniformLimbCore(Span<ulong> destination, ulong q, RandomFill random)
    {
        if (!BitConverter.IsLittleEndian || !Vector256.IsHardwareAccelerated) { UniformLimbReference(destination, q, random); return; }
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(q - 1);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        Vector256<ulong> maskV = Vector256.Create(mask), qV = Vector256.Create(q);
        ref ulong d = ref MemoryMarshal.GetReference(destination);
        int filled = 0, length = destination.Length;
        while (filled < length)
        {
            random(MemoryMarshal.AsBytes(destination[filled..]));
            int keep = filled, k = filled;
            for (; k + 4 <= length; k += 4)
            {
                Vector256<ulong> v = Vector256.LoadUnsafe(ref d, (nuint)k) & maskV;
                if (Vector256.LessThanAll(v, qV))
                {
                    v.StoreUnsafe(ref d, (nuint)keep); // keep <= k: only consumed words are overwritten
                    keep += 4;
                    continue;
                }
                for (int e = 0; e < 4; e++)
                {
                    ulong x = v.GetElement(e);
                    if (x < q) Unsafe.Add(ref d, keep++) = x;
                }
            }
            for (; k < length; k++)
            {
                ulong x = Unsafe.Add(ref d, k) & mask;
                if (x < q) Unsafe.Add(ref d, keep++) = x;
            }
            filled = keep;
        }
    }

    /// <summary><see cref="UniformLimbCore"/> as first written (one word at a time): the reference the vector path is tested
    /// against, and the path on big-endian machines.</summary>
    internal static void UniformLimbReference(Span<ulong> destination, ulong q, RandomFill random)
    {
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(q - 1);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        // Draw one little-endian word per missing value straight into the destination, keep those below q
        // (compacting in place), and repeat for the remainder: the consumed stream depends only on q and n.
        int filled = 0;
        while (filled < destination.Length)
        {
            Span<ulong> rest = destination[filled..];
            random(MemoryMarshal.AsBytes(rest));
            int keep = filled;
            for (int k = 0; k < rest.Length; k++)
            {
                ulong v = rest[k];
                if (!BitConverter.IsLittleEndian) v = BinaryPrimitives.ReverseEndianness(v);
                v &= mask;
                if (v < q) destination[keep++] = v;
            }
            filled = keep;
        }
    }

    /// <summary>n ternary values in {-1, 0, 1}.</summary>
    public static sbyte[] Ternary(int n, RandomFill random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var result = new sbyte[n];
        Span<byte> buffer = stackalloc byte[512];
        int filled = 0;
        while (filled < n)
        {
            random(buffer);
            for (int k = 0; k < buffer.Length && filled < n; k++)
                if (buffer[k] < 255) result[filled++] = (sbyte)(buffer[k] % 3 - 1);
        }
        CryptographicOperations.ZeroMemory(buffer);
        return result;
    }

    /// <summary>Fills <paramref name="destination"/> with centred discrete Gaussian values (sigma 3.2, |x| &lt;= 19).</summary>
    public static void Gaussian(Span<long> destination, RandomFill random)
    {
        ArgumentNullException.ThrowIfNull(random);
        Span<ulong> buffer = stackalloc ulong[256];
        ulong[] cdt = Cdt;
        for (int start = 0; start < destination.Length; start += buffer.Length)
        {
            int count = Math.Min(buffer.Length, destination.Length - start);
            random(MemoryMarshal.AsBytes(buffer[..count]));
            for (int k = 0; k < count; k++)
            {
                ulong word = buffer[k];
                ulong r = word >> 1;            // 63 uniform bits
                long sign = (long)(word & 1);   // 1 bit
                long magnitude = 0;
                for (int c = 0; c < cdt.Length; c++)
                    magnitude += (long)(1 ^ ((r - cdt[c]) >> 63)); // r >= cdt[c]
                destination[start + k] = (magnitude ^ -sign) + sign;
            }
        }
        buffer.Clear();
    }

    /// <summary>
    /// Adds exact uniform noise from [-B, B], B = 2^<paramref name="bits"/> - 1, to every coefficient of the
    /// coefficient-domain polynomial <paramref name="p"/> (residues updated in every limb).
    /// </summary>
    /// <remarks>
    /// One pass per 16 KiB block of keystream (1,024 little-endian 128-bit draws, generated in place): each draw is masked
    /// to b + 1 bits, the single value 2^(b+1) - 1 is rejected, and the accepted value x is reduced by fixed-width Barrett
    /// (floor(2^128 / q_i)) and added as x - B into every limb at once, with the limbs' constants in registers. The same
    /// draws, in the same order, and the same residues as <see cref="AddSmudgingReference"/> (SamplerTests compare them bit
    /// for bit), without the intermediate copies and per-limb passes.
    /// </remarks>
    public static void AddSmudging(RnsBasis basis, RnsPoly p, int bits, RandomFill random)
    {
        CheckSmudging(basis, p, bits, random);
        int n = basis.N, limbs = basis.Count;
        Span<SmudgingLimb> constants = limbs <= 8 ? stackalloc SmudgingLimb[limbs] : new SmudgingLimb[limbs];
        UInt128 bound = (UInt128.One << bits) - 1;
        for (int i = 0; i < limbs; i++)
        {
            var barrett = new Barrett128(basis.Primes[i]);
            constants[i] = new SmudgingLimb(barrett, barrett.Reduce((ulong)(bound >> 64), (ulong)bound), basis.Primes[i]);
        }
        int width = bits + 1; // 2..127
        ulong maskLo = width >= 64 ? ulong.MaxValue : (1UL << width) - 1;
        ulong maskHi = width > 64 ? (1UL << (width - 64)) - 1 : 0;
        const int Batch = 1024;
        Span<ulong> buffer = stackalloc ulong[2 * Batch];
        try
        {
            int j = 0;
            while (j < n)
            {
                random(MemoryMarshal.AsBytes(buffer));
                j = AddSmudgingBatch(p.Data, n, j, buffer, maskHi, maskLo, constants);
            }
        }
        finally { buffer.Clear(); }
    }

    /// <summary>
    /// The smudging draws of <see cref="AddSmudging"/> without adding them: fills <paramref name="draws"/> (2 count words)
    /// with the first count accepted draws of the same stream as (lo, hi) word pairs of x in [0, 2B] (the noise is x - B),
    /// masked to b + 1 bits. One keystream request for all count draws (then one per batch of rejections, which have
    /// probability 2^-(b+1) each); the masks and the rejection test run four words at a time.
    /// Coefficient j gets draw j, as in <see cref="AddSmudging"/> (SamplerTests compare them bit for bit).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> outside 1..126.</exception>
    /// <exception cref="ArgumentException"><paramref name="draws"/> has an odd length.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SmudgingDraws(Span<ulong> draws, int bits, RandomFill random)
    {
        if (bits is < 1 or > MaxSmudgingBits) throw Error.OutOfRange(nameof(bits), "Smudging bits must be in 1..126.");
        if ((draws.Length & 1) != 0) throw Error.Argument(nameof(draws), "Draws are pairs of words.");
        ArgumentNullException.ThrowIfNull(random);
        int width = bits + 1;
        ulong maskLo = width >= 64 ? ulong.MaxValue : (1UL << width) - 1;
        ulong maskHi = width > 64 ? (1UL << (width - 64)) - 1 : 0;
        bool vector = BitConverter.IsLittleEndian && Vector256.IsHardwareAccelerated;
        Vector256<ulong> maskV = Vector256.Create(maskLo, maskHi, maskLo, maskHi);
        ref ulong d = ref MemoryMarshal.GetReference(draws);
        int length = draws.Length, filled = 0; // words
        while (filled < length)
        {
            random(MemoryMarshal.AsBytes(draws[filled..]));
            int keep = filled, k = filled;
            if (vector)
            {
                for (; k + 4 <= length; k += 4)
                {
                    Vector256<ulong> v = Vector256.LoadUnsafe(ref d, (nuint)k) & maskV;
                    // A pair is rejected when both its words equal their masks: bits 0 and 1 (or 2 and 3) of the compare.
                    uint equal = Vector256.Equals(v, maskV).ExtractMostSignificantBits();
                    if ((equal & (equal >> 1) & 0b0101) == 0)
                    {
                        v.StoreUnsafe(ref d, (nuint)keep); // keep <= k: only consumed words are overwritten
                        keep += 4;
                        continue;
                    }
                    break; // this block holds a rejection: finish the request one pair at a time
                }
            }
            for (; k < length; k += 2)
            {
                ulong lo = Unsafe.Add(ref d, k), hi = Unsafe.Add(ref d, k + 1);
                if (!BitConverter.IsLittleEndian) { lo = BinaryPrimitives.ReverseEndianness(lo); hi = BinaryPrimitives.ReverseEndianness(hi); }
                lo &= maskLo; hi &= maskHi;
                if (lo == maskLo && hi == maskHi) continue; // 2^(b+1) - 1, the one value outside [0, 2B]
                Unsafe.Add(ref d, keep) = lo;
                Unsafe.Add(ref d, keep + 1) = hi;
                keep += 2;
            }
            filled = keep;
        }
    }

    /// <summary>The constants of one prime for <see cref="AddSmudging"/>: Barrett of 128-bit values, B mod q, q.</summary>
    private readonly record struct SmudgingLimb(Barrett128 Barrett, ulong BMod, ulong Q);

    /// <summary>Consumes one batch of 128-bit draws (pairs lo, hi of little-endian words) from coefficient
    /// <paramref name="j"/> on; returns the next coefficient to fill.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int AddSmudgingBatch(ulong[] data, int n, int j, ReadOnlySpan<ulong> draws, ulong maskHi, ulong maskLo, ReadOnlySpan<SmudgingLimb> constants)
    {
        int limbs = constants.Length, pairs = draws.Length / 2;
        bool little = BitConverter.IsLittleEndian;
        fixed (ulong* d = data)
        fixed (ulong* w = draws)
        fixed (SmudgingLimb* c = constants)
        {
            if (limbs == 3)
            {
                // The named sets' three primes, unrolled.
                SmudgingLimb c0 = c[0], c1 = c[1], c2 = c[2];
                ulong* l0 = d, l1 = d + n, l2 = d + 2 * n;
                for (int k = 0; k < pairs && j < n; k++)
                {
                    ulong lo = w[2 * k], hi = w[2 * k + 1];
                    if (!little) { lo = BinaryPrimitives.ReverseEndianness(lo); hi = BinaryPrimitives.ReverseEndianness(hi); }
                    lo &= maskLo; hi &= maskHi;
                    if (lo == maskLo && hi == maskHi) continue; // 2^(b+1) - 1, the one value outside [0, 2B]
                    l0[j] = AddNoise(l0[j], hi, lo, c0);
                    l1[j] = AddNoise(l1[j], hi, lo, c1);
                    l2[j] = AddNoise(l2[j], hi, lo, c2);
                    j++;
                }
                return j;
            }
            for (int k = 0; k < pairs && j < n; k++)
            {
                ulong lo = w[2 * k], hi = w[2 * k + 1];
                if (!little) { lo = BinaryPrimitives.ReverseEndianness(lo); hi = BinaryPrimitives.ReverseEndianness(hi); }
                lo &= maskLo; hi &= maskHi;
                if (lo == maskLo && hi == maskHi) continue;
                for (int i = 0; i < limbs; i++) d[(long)i * n + j] = AddNoise(d[(long)i * n + j], hi, lo, c[i]);
                j++;
            }
            return j;
        }
    }

    /// <summary>(v + (hi 2^64 + lo) - B) mod q for v &lt; q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AddNoise(ulong v, ulong hi, ulong lo, in SmudgingLimb c) =>
        ModArith.AddMod(v, ModArith.SubMod(c.Barrett.Reduce(hi, lo), c.BMod, c.Q), c.Q);

    private static void CheckSmudging(RnsBasis basis, RnsPoly p, int bits, RandomFill random)
    {
        ArgumentNullException.ThrowIfNull(basis);
        basis.Check(p);
        if (p.IsNtt) throw Error.Argument(nameof(p), "Smudging is added in the coefficient domain.");
        if (bits is < 1 or > MaxSmudgingBits) throw Error.OutOfRange(nameof(bits), "Smudging bits must be in 1..126.");
        ArgumentNullException.ThrowIfNull(random);
    }

    /// <summary>
    /// <see cref="AddSmudging"/> as first written (accepted draws copied into separate high and low arrays, then one pass
    /// per limb): the reference the fast path is tested against, bit for bit.
    /// </summary>
    internal static void AddSmudgingReference(RnsBasis basis, RnsPoly p, int bits, RandomFill random)
    {
        CheckSmudging(basis, p, bits, random);
        int n = basis.N, limbs = basis.Count;
        var barrett = new Barrett128[limbs];
        var bMod = new ulong[limbs];
        UInt128 bound = (UInt128.One << bits) - 1;
        for (int i = 0; i < limbs; i++)
        {
            barrett[i] = new Barrett128(basis.Primes[i]);
            bMod[i] = barrett[i].Reduce((ulong)(bound >> 64), (ulong)bound);
        }
        UInt128 mask = (UInt128.One << (bits + 1)) - 1;
        UInt128 reject = mask; // 2^(k+1) - 1 is the only value outside [0, 2B]
        // Per batch of 1,024 draws: the accepted values (in draw order, at most n in all), then each limb adds their
        // residues to its next coefficients: the same draws and the same arithmetic per coefficient as one limb loop
        // inside one coefficient loop, with the limb's constants in registers.
        const int Batch = 1024;
        Span<UInt128> buffer = stackalloc UInt128[Batch];
        Span<ulong> his = stackalloc ulong[Batch];
        Span<ulong> los = stackalloc ulong[Batch];
        try
        {
            int j = 0;
            while (j < n)
            {
                random(MemoryMarshal.AsBytes(buffer));
                int count = 0;
                for (int k = 0; k < Batch && j + count < n; k++)
                {
                    UInt128 x = buffer[k] & mask;
                    if (x == reject) continue;
                    his[count] = (ulong)(x >> 64);
                    los[count] = (ulong)x;
                    count++;
                }
                for (int i = 0; i < limbs; i++)
                    AddSmudgingResidues(p.Limb(i).Slice(j, count), his[..count], los[..count], barrett[i], bMod[i], basis.Primes[i]);
                j += count;
            }
        }
        finally
        {
            buffer.Clear();
            his.Clear();
            los.Clear();
        }
    }

    /// <summary>limb[c] += ((hi_c * 2^64 + lo_c) mod q - (B mod q)) mod q: a batch of smudging values added to one limb.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AddSmudgingResidues(Span<ulong> limb, ReadOnlySpan<ulong> his, ReadOnlySpan<ulong> los, Barrett128 barrett, ulong bMod, ulong q)
    {
        Debug.Assert(limb.Length == his.Length && his.Length == los.Length);
        fixed (ulong* l = limb)
        fixed (ulong* h = his)
        fixed (ulong* lo = los)
        {
            for (int c = 0; c < limb.Length; c++)
            {
                ulong noise = ModArith.SubMod(barrett.Reduce(h[c], lo[c]), bMod, q);
                l[c] = ModArith.AddMod(l[c], noise, q);
            }
        }
    }

    /// <summary>Samples n exact smudging values in [-B, B] as Int128 (test and analysis helper).</summary>
    public static Int128[] SmudgingValues(int n, int bits, RandomFill random)
    {
        if (bits is < 1 or > MaxSmudgingBits) throw Error.OutOfRange(nameof(bits), "Smudging bits must be in 1..126.");
        ArgumentNullException.ThrowIfNull(random);
        var result = new Int128[n];
        UInt128 mask = (UInt128.One << (bits + 1)) - 1;
        Int128 bound = (Int128.One << bits) - 1;
        Span<UInt128> one = stackalloc UInt128[1];
        for (int j = 0; j < n;)
        {
            random(MemoryMarshal.AsBytes(one));
            UInt128 x = one[0] & mask;
            if (x == mask) continue;
            result[j++] = (Int128)x - bound;
        }
        return result;
    }
}
