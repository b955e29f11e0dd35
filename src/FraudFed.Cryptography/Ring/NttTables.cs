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
public sealed class NttTables
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

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // fully optimised at first call: no tier-0 NTT
    internal unsafe void ForwardCore(Span<ulong> values)
    {
        Debug.Assert(values.Length == N);
        ulong q = Modulus, twoQ = 2 * q;
        int n = N;
        fixed (ulong* a = values)
        fixed (ulong* w = _psi)
        fixed (ulong* ws = _psiShoup)
        {
            int t = n;
            for (int m = 1; m < n; m <<= 1)
            {
                t >>= 1;
                if (t >= 4)
                {
                    for (int i = 0; i < m; i++)
                    {
                        ulong W = w[m + i], Ws = ws[m + i];
                        ulong* x = a + 2 * i * t;
                        ulong* y = x + t;
                        for (int j = 0; j < t; j += 4)
                        {
                            Butterfly(x + j, y + j, W, Ws, q, twoQ);
                            Butterfly(x + j + 1, y + j + 1, W, Ws, q, twoQ);
                            Butterfly(x + j + 2, y + j + 2, W, Ws, q, twoQ);
                            Butterfly(x + j + 3, y + j + 3, W, Ws, q, twoQ);
                        }
                    }
                }
                else
                {
                    for (int i = 0; i < m; i++)
                    {
                        ulong W = w[m + i], Ws = ws[m + i];
                        ulong* x = a + 2 * i * t;
                        ulong* y = x + t;
                        for (int j = 0; j < t; j++) Butterfly(x + j, y + j, W, Ws, q, twoQ);
                    }
                }
            }
            for (int i = 0; i < n; i++) a[i] = ModArith.CondSub(ModArith.CondSub(a[i], twoQ), q);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Butterfly(ulong* x, ulong* y, ulong w, ulong wShoup, ulong q, ulong twoQ)
    {
        ulong u = ModArith.CondSub(*x, twoQ);
        ulong v = *y;
        ulong quotient = Math.BigMul(v, wShoup, out _);
        ulong tw = unchecked(w * v - quotient * q); // [0, 2q)
        *x = u + tw;
        *y = u - tw + twoQ;
    }

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // fully optimised at first call: no tier-0 NTT
    internal unsafe void InverseCore(Span<ulong> values)
    {
        Debug.Assert(values.Length == N);
        ulong q = Modulus, twoQ = 2 * q;
        int n = N;
        fixed (ulong* a = values)
        fixed (ulong* w = _psiInv)
        fixed (ulong* ws = _psiInvShoup)
        {
            int t = 1;
            for (int m = n; m > 2; m >>= 1)
            {
                int h = m >> 1;
                for (int i = 0; i < h; i++)
                {
                    ulong W = w[h + i], Ws = ws[h + i];
                    ulong* x = a + 2 * i * t;
                    ulong* y = x + t;
                    for (int j = 0; j < t; j++)
                    {
                        ulong u = x[j], v = y[j];
                        x[j] = ModArith.CondSub(u + v, twoQ);
                        ulong d = u - v + twoQ;
                        ulong quotient = Math.BigMul(d, Ws, out _);
                        y[j] = unchecked(W * d - quotient * q);
                    }
                }
                t <<= 1;
            }
            // Last stage (m = 2): fold n^-1 into both halves and reduce fully.
            {
                ulong* x = a;
                ulong* y = a + t;
                ulong nI = _nInv, nIs = _nInvShoup, lI = _lastInv, lIs = _lastInvShoup;
                for (int j = 0; j < t; j++)
                {
                    ulong u = x[j], v = y[j];
                    ulong s = u + v; // < 4q < 2^64
                    ulong d = u - v + twoQ;
                    ulong qs = Math.BigMul(s, nIs, out _);
                    ulong r1 = unchecked(nI * s - qs * q);
                    ulong qd = Math.BigMul(d, lIs, out _);
                    ulong r2 = unchecked(lI * d - qd * q);
                    x[j] = ModArith.CondSub(r1, q);
                    y[j] = ModArith.CondSub(r2, q);
                }
            }
        }
    }
}
