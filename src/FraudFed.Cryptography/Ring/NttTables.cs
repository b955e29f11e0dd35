// NttTables: negacyclic number-theoretic transform over Z_q[X]/(X^n + 1).
//
// Algorithm: P. Longa and M. Naehrig, "Speeding up the Number Theoretic Transform for Faster Ideal
// Lattice-Based Cryptography", CANS 2016, Algorithms 1-2 (Cooley-Tukey forward, Gentleman-Sande inverse,
// the powers of psi stored in bit-reversed order so that neither direction needs a permutation pass),
// with D. Harvey's lazy butterflies ("Faster arithmetic for number-theoretic transforms", 2014):
// forward values stay in [0, 4q), inverse values in [0, 2q), one full reduction at the end; twiddle
// products use Shoup's precomputed quotients. n^-1 is folded into the last inverse stage (the same
// structure as SEAL's DWTHandler). Requirements: n a power of two >= 2, q prime, q = 1 mod 2n, q < 2^62.
// Output order: the forward transform yields the evaluations a(psi^(2*bitrev(k)+1)) at index k.
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace FraudFed.Cryptography.Ring;

/// <summary>Precomputed tables for the negacyclic NTT modulo one prime.</summary>
internal sealed class NttTables
{
    private readonly ulong[] _psi;        // psi^bitrev(i), i = 0..n-1
    private readonly ulong[] _psiShoup;
    private readonly ulong[] _psiInv;     // psi^-bitrev(i) (index i used as in Longa-Naehrig Alg. 2)
    private readonly ulong[] _psiInvShoup;
    private readonly ulong _nInv, _nInvShoup;           // n^-1 for the sum half of the last stage
    private readonly ulong _lastInv, _lastInvShoup;      // n^-1 * psiInv[1] for the difference half

    /// <summary>Builds the tables for ring degree <paramref name="n"/> and NTT prime <paramref name="q"/>.</summary>
    public NttTables(int n, ulong q)
    {
        if (n < 2 || (n & (n - 1)) != 0) throw Error.Argument(nameof(n), "n must be a power of two >= 2.");
        if (!NttPrimes.IsNttPrime(q, n)) throw Error.Argument(nameof(q), "q must be a prime below 2^62 with q = 1 mod 2n.");
        N = n;
        Modulus = q;
        LogN = System.Numerics.BitOperations.Log2((uint)n);
        Psi = NttPrimes.PrimitiveRoot2N(q, n);
        ulong psiInverse = ModArith.InvMod(Psi, q);
        _psi = new ulong[n]; _psiShoup = new ulong[n];
        _psiInv = new ulong[n]; _psiInvShoup = new ulong[n];
        ulong pw = 1, pwInv = 1;
        for (int i = 0; i < n; i++)
        {
            int r = BitReverse(i, LogN);
            _psi[r] = pw;
            _psiInv[r] = pwInv;
            pw = ModArith.MulMod(pw, Psi, q);
            pwInv = ModArith.MulMod(pwInv, psiInverse, q);
        }
        for (int i = 0; i < n; i++)
        {
            _psiShoup[i] = ModArith.ShoupPrecompute(_psi[i], q);
            _psiInvShoup[i] = ModArith.ShoupPrecompute(_psiInv[i], q);
        }
        _nInv = ModArith.InvMod((ulong)n, q);
        _nInvShoup = ModArith.ShoupPrecompute(_nInv, q);
        _lastInv = ModArith.MulMod(_nInv, _psiInv[1], q);
        _lastInvShoup = ModArith.ShoupPrecompute(_lastInv, q);
    }

    /// <summary>Ring degree.</summary>
    public int N { get; }
    /// <summary>log2 n.</summary>
    public int LogN { get; }
    /// <summary>The prime.</summary>
    public ulong Modulus { get; }
    /// <summary>The primitive 2n-th root of unity used.</summary>
    public ulong Psi { get; }

    internal static int BitReverse(int x, int bits)
    {
        int r = 0;
        for (int i = 0; i < bits; i++) { r = (r << 1) | (x & 1); x >>= 1; }
        return r;
    }

    /// <summary>In-place forward negacyclic NTT; input coefficients in [0, q), output in [0, q).</summary>
    public void Forward(Span<ulong> values)
    {
        if (values.Length != N) throw Error.Argument(nameof(values), "Length must equal n.");
        ForwardCore(values);
    }

    /// <summary>In-place inverse negacyclic NTT; input in [0, q), output in [0, q).</summary>
    public void Inverse(Span<ulong> values)
    {
        if (values.Length != N) throw Error.Argument(nameof(values), "Length must equal n.");
        InverseCore(values);
    }

    // Both transforms run the stages two at a time (radix-4 passes: four values loaded, two butterfly levels,
    // four stored), which halves the passes over the 64 KB array; the Harvey butterflies inside are exactly
    // the radix-2 ones, in the same order per value, so the outputs are those of the radix-2 algorithm.
    // A leftover odd stage runs alone (forward: first; inverse: the first regular one), the last forward
    // pass includes the final reduction and the last inverse stage folds in n^-1. Every kernel is marked
    // AggressiveOptimization so that it is fully optimised at its first call (no tier-0 NTT).

    [SkipLocalsInit]
    internal unsafe void ForwardCore(Span<ulong> values)
    {
        Debug.Assert(values.Length == N);
        ulong q = Modulus;
        int n = N;
        fixed (ulong* a = values)
        fixed (ulong* w = _psi)
        fixed (ulong* ws = _psiShoup)
        {
            int m = 1, block = n; // stage m: m groups of `block` values, butterflies (j, j + block/2)
            if ((LogN & 1) == 1)
            {
                ForwardRadix2(a, n >> 1, w[1], ws[1], q);
                m = 2; block = n >> 1;
            }
            while (m < n)
            {
                if (block == 4) { ForwardLastRadix4(a, w, ws, m, q); return; }
                ForwardRadix4(a, w, ws, m, block >> 2, q);
                m <<= 2; block >>= 2;
            }
            ReduceFromFourQ(a, n, q); // only n = 2 gets here (one stage, no radix-4 pass)
        }
    }

    /// <summary>One forward stage with a single group: butterflies (a[j], a[j + half]) with twiddle w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRadix2(ulong* a, int half, ulong w, ulong wShoup, ulong q)
    {
        ulong twoQ = 2 * q;
        ulong* x = a, y = a + half, end = a + half;
        for (; x < end; x++, y++)
        {
            ulong u = ModArith.CondSub(*x, twoQ);
            ulong v = *y;
            ulong tw = unchecked(w * v - MulHigh(v, wShoup) * q); // [0, 2q)
            *x = u + tw;
            *y = u - tw + twoQ;
        }
    }

    /// <summary>Forward stages m and 2m: per group i, quarters of h values, (x0, x2), (x1, x3) by psi[m+i], then (x0, x1) by psi[2m+2i] and (x2, x3) by psi[2m+2i+1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardRadix4(ulong* a, ulong* w, ulong* ws, int m, int h, ulong q)
    {
        ulong twoQ = 2 * q;
        nint h1 = h, h2 = 2 * h1, h3 = 3 * h1, h4 = 4 * h1;
        for (int i = 0; i < m; i++)
        {
            ulong w0 = w[m + i], s0 = ws[m + i];
            ulong w1 = w[2 * m + 2 * i], s1 = ws[2 * m + 2 * i];
            ulong w2 = w[2 * m + 2 * i + 1], s2 = ws[2 * m + 2 * i + 1];
            ulong* p0 = a + i * h4;
            ulong* end = p0 + h1;
            for (; p0 < end; p0++)
            {
                ulong x0 = *p0, x1 = p0[h1], x2 = p0[h2], x3 = p0[h3];
                // stage m
                x0 = ModArith.CondSub(x0, twoQ);
                ulong t = unchecked(w0 * x2 - MulHigh(x2, s0) * q);
                x2 = x0 - t + twoQ; x0 += t;
                x1 = ModArith.CondSub(x1, twoQ);
                t = unchecked(w0 * x3 - MulHigh(x3, s0) * q);
                x3 = x1 - t + twoQ; x1 += t;
                // stage 2m
                x0 = ModArith.CondSub(x0, twoQ);
                t = unchecked(w1 * x1 - MulHigh(x1, s1) * q);
                *p0 = x0 + t; p0[h1] = x0 - t + twoQ;
                x2 = ModArith.CondSub(x2, twoQ);
                t = unchecked(w2 * x3 - MulHigh(x3, s2) * q);
                p0[h2] = x2 + t; p0[h3] = x2 - t + twoQ;
            }
        }
    }

    /// <summary>The last two forward stages (m = n/4 and n/2, quarters of one value) and the final reduction to [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardLastRadix4(ulong* a, ulong* w, ulong* ws, int m, ulong q)
    {
        ulong twoQ = 2 * q;
        ulong* p = a;
        ulong* w0p = w + m, s0p = ws + m, w12 = w + 2 * m, s12 = ws + 2 * m;
        for (int i = 0; i < m; i++, p += 4, w12 += 2, s12 += 2)
        {
            ulong w0 = w0p[i], s0 = s0p[i];
            ulong x0 = p[0], x1 = p[1], x2 = p[2], x3 = p[3];
            x0 = ModArith.CondSub(x0, twoQ);
            ulong t = unchecked(w0 * x2 - MulHigh(x2, s0) * q);
            x2 = x0 - t + twoQ; x0 += t;
            x1 = ModArith.CondSub(x1, twoQ);
            t = unchecked(w0 * x3 - MulHigh(x3, s0) * q);
            x3 = x1 - t + twoQ; x1 += t;
            x0 = ModArith.CondSub(x0, twoQ);
            t = unchecked(w12[0] * x1 - MulHigh(x1, s12[0]) * q);
            x1 = x0 - t + twoQ; x0 += t;
            x2 = ModArith.CondSub(x2, twoQ);
            t = unchecked(w12[1] * x3 - MulHigh(x3, s12[1]) * q);
            x3 = x2 - t + twoQ; x2 += t;
            p[0] = ModArith.CondSub(ModArith.CondSub(x0, twoQ), q);
            p[1] = ModArith.CondSub(ModArith.CondSub(x1, twoQ), q);
            p[2] = ModArith.CondSub(ModArith.CondSub(x2, twoQ), q);
            p[3] = ModArith.CondSub(ModArith.CondSub(x3, twoQ), q);
        }
    }

    private static unsafe void ReduceFromFourQ(ulong* a, int n, ulong q)
    {
        ulong twoQ = 2 * q;
        for (int i = 0; i < n; i++) a[i] = ModArith.CondSub(ModArith.CondSub(a[i], twoQ), q);
    }

    /// <summary>High 64 bits of a 64 x 64-bit product: one MULX where BMI2 exists (Math.BigMul otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulHigh(ulong a, ulong b) =>
        System.Runtime.Intrinsics.X86.Bmi2.X64.IsSupported ? System.Runtime.Intrinsics.X86.Bmi2.X64.MultiplyNoFlags(a, b) : Math.BigMul(a, b, out _);

    [SkipLocalsInit]
    internal unsafe void InverseCore(Span<ulong> values)
    {
        Debug.Assert(values.Length == N);
        ulong q = Modulus;
        int n = N;
        fixed (ulong* a = values)
        fixed (ulong* w = _psiInv)
        fixed (ulong* ws = _psiInvShoup)
        {
            // Regular stages m = n, n/2, ..., 4 (h = m/2 groups of butterflies (j, j + t), t = n/m), then m = 2.
            int m = n, t = 1;
            if (((LogN - 1) & 1) == 1)
            {
                InverseRadix2(a, w, ws, m >> 1, t, q);
                m >>= 1; t <<= 1;
            }
            for (; m > 2; m >>= 2, t <<= 2)
            {
                if (t == 1) InverseFirstRadix4(a, w, ws, m >> 1, q);
                else InverseRadix4(a, w, ws, m >> 1, t, q);
            }
            InverseLast(a, t, _nInv, _nInvShoup, _lastInv, _lastInvShoup, q);
        }
    }

    /// <summary>
    /// The inverse transform of the pointwise product values (.) b without its last stage: values := b (.) values (b's Shoup
    /// quotients <paramref name="bShoup"/>, b in [0, q), the product left lazy in [0, 2q)), folded into the first inverse
    /// pass, then every regular stage; the last stage (m = 2, n^-1 folded in) is left to the caller
    /// (<see cref="LastStage"/>; the decryption share runs it fused with its smudging and switch). Values end in [0, 2q).
    /// <see cref="InverseLastStage"/> after this equals <see cref="Inverse"/> of the reduced product, bit for bit
    /// (NttTests).
    /// </summary>
    [SkipLocalsInit]
    internal unsafe void InverseMultiplyHead(Span<ulong> values, ReadOnlySpan<ulong> b, ReadOnlySpan<ulong> bShoup)
    {
        if (values.Length != N || b.Length != N || bShoup.Length != N) throw Error.Argument(nameof(values), "Length must equal n.");
        ulong q = Modulus;
        int n = N;
        fixed (ulong* a = values)
        fixed (ulong* bp = b)
        fixed (ulong* bs = bShoup)
        fixed (ulong* w = _psiInv)
        fixed (ulong* ws = _psiInvShoup)
        {
            int m = n, t = 1;
            if (m == 2) { MultiplyLazy(a, bp, bs, n, q); return; } // no stage before the last
            if (((LogN - 1) & 1) == 1)
            {
                InverseFirstRadix2Multiply(a, bp, bs, w, ws, m >> 1, q);
                m >>= 1; t <<= 1;
            }
            else
            {
                InverseFirstRadix4Multiply(a, bp, bs, w, ws, m >> 1, q);
                m >>= 2; t <<= 2;
            }
            for (; m > 2; m >>= 2, t <<= 2) InverseRadix4(a, w, ws, m >> 1, t, q);
        }
    }

    /// <summary>The last inverse stage alone (m = 2, distance n/2, n^-1 folded in, output in [0, q)), for values left in
    /// [0, 2q) by <see cref="InverseMultiplyHead"/>: the reference the fused share kernel is tested against.</summary>
    internal unsafe void InverseLastStage(Span<ulong> values)
    {
        if (values.Length != N) throw Error.Argument(nameof(values), "Length must equal n.");
        fixed (ulong* a = values) InverseLast(a, N >> 1, _nInv, _nInvShoup, _lastInv, _lastInvShoup, Modulus);
    }

    /// <summary>The constants of the last inverse stage: for u, v in [0, 2q) at distance n/2, the outputs are
    /// (n^-1 (u + v)) mod q and (n^-1 psi^-1 (u - v + 2q)) mod q (Shoup quotients alongside).</summary>
    internal (ulong NInv, ulong NInvShoup, ulong LastInv, ulong LastInvShoup) LastStage => (_nInv, _nInvShoup, _lastInv, _lastInvShoup);

    /// <summary>a := b (.) a lazily, in [0, 2q).</summary>
    private static unsafe void MultiplyLazy(ulong* a, ulong* b, ulong* bs, int n, ulong q)
    {
        for (int j = 0; j < n; j++) a[j] = unchecked(b[j] * a[j] - MulHigh(a[j], bs[j]) * q);
    }

    /// <summary>The first inverse stage (m = n, distance 1) with the pointwise product b (.) a folded into its loads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseFirstRadix2Multiply(ulong* a, ulong* b, ulong* bs, ulong* w, ulong* ws, int h, ulong q)
    {
        ulong twoQ = 2 * q;
        for (int i = 0; i < h; i++)
        {
            ulong W = w[h + i], Ws = ws[h + i];
            ulong* x = a + 2 * i;
            ulong u = unchecked(b[2 * i] * x[0] - MulHigh(x[0], bs[2 * i]) * q);
            ulong v = unchecked(b[2 * i + 1] * x[1] - MulHigh(x[1], bs[2 * i + 1]) * q);
            x[0] = ModArith.CondSub(u + v, twoQ);
            ulong d = u - v + twoQ;
            x[1] = unchecked(W * d - MulHigh(d, Ws) * q);
        }
    }

    /// <summary><see cref="InverseFirstRadix4"/> with the pointwise product b (.) a folded into its loads (lazy, [0, 2q)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseFirstRadix4Multiply(ulong* a, ulong* b, ulong* bs, ulong* w, ulong* ws, int h, ulong q)
    {
        ulong twoQ = 2 * q;
        int groups = h >> 1;
        ulong* p = a;
        ulong* w12 = w + h, s12 = ws + h, w0p = w + groups, s0p = ws + groups;
        for (int i = 0; i < groups; i++, p += 4, b += 4, bs += 4, w12 += 2, s12 += 2)
        {
            ulong x0 = p[0], x1 = p[1], x2 = p[2], x3 = p[3];
            x0 = unchecked(b[0] * x0 - MulHigh(x0, bs[0]) * q);
            x1 = unchecked(b[1] * x1 - MulHigh(x1, bs[1]) * q);
            x2 = unchecked(b[2] * x2 - MulHigh(x2, bs[2]) * q);
            x3 = unchecked(b[3] * x3 - MulHigh(x3, bs[3]) * q);
            ulong d = x0 - x1 + twoQ;
            x0 = ModArith.CondSub(x0 + x1, twoQ);
            x1 = unchecked(w12[0] * d - MulHigh(d, s12[0]) * q);
            d = x2 - x3 + twoQ;
            x2 = ModArith.CondSub(x2 + x3, twoQ);
            x3 = unchecked(w12[1] * d - MulHigh(d, s12[1]) * q);
            ulong w0 = w0p[i], s0 = s0p[i];
            d = x0 - x2 + twoQ;
            p[0] = ModArith.CondSub(x0 + x2, twoQ);
            p[2] = unchecked(w0 * d - MulHigh(d, s0) * q);
            d = x1 - x3 + twoQ;
            p[1] = ModArith.CondSub(x1 + x3, twoQ);
            p[3] = unchecked(w0 * d - MulHigh(d, s0) * q);
        }
    }

    /// <summary>One inverse stage: h groups, butterflies (j, j + t) by psiInv[h + i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseRadix2(ulong* a, ulong* w, ulong* ws, int h, int t, ulong q)
    {
        ulong twoQ = 2 * q;
        for (int i = 0; i < h; i++)
        {
            ulong W = w[h + i], Ws = ws[h + i];
            ulong* x = a + (long)2 * i * t;
            ulong* y = x + t;
            for (int j = 0; j < t; j++)
            {
                ulong u = x[j], v = y[j];
                x[j] = ModArith.CondSub(u + v, twoQ);
                ulong d = u - v + twoQ;
                y[j] = unchecked(W * d - MulHigh(d, Ws) * q);
            }
        }
    }

    /// <summary>Inverse stages m (h = m/2 groups, distance t) and m/2: per group i of the second, quarters of t values, (x0, x1) by psiInv[h+2i], (x2, x3) by psiInv[h+2i+1], then (x0, x2), (x1, x3) by psiInv[h/2+i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseRadix4(ulong* a, ulong* w, ulong* ws, int h, int t, ulong q)
    {
        ulong twoQ = 2 * q;
        nint t1 = t, t2 = 2 * t1, t3 = 3 * t1, t4 = 4 * t1;
        int groups = h >> 1;
        for (int i = 0; i < groups; i++)
        {
            ulong w1 = w[h + 2 * i], s1 = ws[h + 2 * i];
            ulong w2 = w[h + 2 * i + 1], s2 = ws[h + 2 * i + 1];
            ulong w0 = w[groups + i], s0 = ws[groups + i];
            ulong* p0 = a + i * t4;
            ulong* end = p0 + t1;
            for (; p0 < end; p0++)
            {
                ulong x0 = *p0, x1 = p0[t1], x2 = p0[t2], x3 = p0[t3];
                ulong d = x0 - x1 + twoQ;
                x0 = ModArith.CondSub(x0 + x1, twoQ);
                x1 = unchecked(w1 * d - MulHigh(d, s1) * q);
                d = x2 - x3 + twoQ;
                x2 = ModArith.CondSub(x2 + x3, twoQ);
                x3 = unchecked(w2 * d - MulHigh(d, s2) * q);
                d = x0 - x2 + twoQ;
                *p0 = ModArith.CondSub(x0 + x2, twoQ);
                p0[t2] = unchecked(w0 * d - MulHigh(d, s0) * q);
                d = x1 - x3 + twoQ;
                p0[t1] = ModArith.CondSub(x1 + x3, twoQ);
                p0[t3] = unchecked(w0 * d - MulHigh(d, s0) * q);
            }
        }
    }

    /// <summary>The first two inverse stages (m = n and n/2, distance 1 then 2): four consecutive values per group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseFirstRadix4(ulong* a, ulong* w, ulong* ws, int h, ulong q)
    {
        ulong twoQ = 2 * q;
        int groups = h >> 1;
        ulong* p = a;
        ulong* w12 = w + h, s12 = ws + h, w0p = w + groups, s0p = ws + groups;
        for (int i = 0; i < groups; i++, p += 4, w12 += 2, s12 += 2)
        {
            ulong x0 = p[0], x1 = p[1], x2 = p[2], x3 = p[3];
            ulong d = x0 - x1 + twoQ;
            x0 = ModArith.CondSub(x0 + x1, twoQ);
            x1 = unchecked(w12[0] * d - MulHigh(d, s12[0]) * q);
            d = x2 - x3 + twoQ;
            x2 = ModArith.CondSub(x2 + x3, twoQ);
            x3 = unchecked(w12[1] * d - MulHigh(d, s12[1]) * q);
            ulong w0 = w0p[i], s0 = s0p[i];
            d = x0 - x2 + twoQ;
            p[0] = ModArith.CondSub(x0 + x2, twoQ);
            p[2] = unchecked(w0 * d - MulHigh(d, s0) * q);
            d = x1 - x3 + twoQ;
            p[1] = ModArith.CondSub(x1 + x3, twoQ);
            p[3] = unchecked(w0 * d - MulHigh(d, s0) * q);
        }
    }

    /// <summary>Last inverse stage (m = 2, distance t = n/2): n^-1 folded into both halves, full reduction to [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void InverseLast(ulong* a, int t, ulong nI, ulong nIs, ulong lI, ulong lIs, ulong q)
    {
        ulong twoQ = 2 * q;
        ulong* x = a, y = a + t, end = a + t;
        for (; x < end; x++, y++)
        {
            ulong u = *x, v = *y;
            ulong s = u + v; // < 4q < 2^64
            ulong d = u - v + twoQ;
            ulong r1 = unchecked(nI * s - MulHigh(s, nIs) * q);
            ulong r2 = unchecked(lI * d - MulHigh(d, lIs) * q);
            *x = ModArith.CondSub(r1, q);
            *y = ModArith.CondSub(r2, q);
        }
    }
}
