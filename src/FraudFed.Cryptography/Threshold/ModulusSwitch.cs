// ModulusSwitch: the compact upload travels as c0' = round(2^64 c0 / Q) mod 2^64 (SPEC.md 12.0 step 4), and a decryption
// share as h' = round(2^64 h / Q) mod 2^64 (step 5), one 64-bit word per coefficient instead of log Q bits. This is BFV
// modulus switching (Brakerski 2012; Fan-Vercauteren ePrint 2012/144 section 6) to the power-of-two modulus 2^64, applied
// to c0 and to h_j (c1 = a_{r,k} is public and never travels). With t = 2^k the combine then runs in Z_{2^64} alone
// (step 7): W = C0' + sum h_j' mod 2^64, m = (W + 2^(63-k)) >> (64-k), no lift and no RNS decoding.
//
// Switch, in RNS without big integers (the same fixed point as Encoder.Decode, with t = 2^64): with
// y_i = [x_i (Q/q_i)^-1]_{q_i}, 2^64 x / Q = sum_i y_i 2^64 / q_i - 2^64 c for an integer c, so modulo 2^64 only the
// fixed-point sum matters. W_i = floor(2^192 / q_i) is held in three words (w2, w1, w0); of each 192+-bit product
// y_i W_i the bits 128 and up go to an integer sum I (mod 2^64), the bits 64..127 to a fraction sum F, the bits 0..63
// are dropped; x' = (I + floor((F + 2^63) / 2^64)) mod 2^64. This formula is the normative rule for uploads and shares
// alike (vectors reproduce it bit for bit); it differs from the exact rounding by at most 2^-60 (so
// |x' - 2^64 x / Q| <= 1/2 + 2^-60 mod 2^64).
//
// Lift, exactly: y = floor((Q x + 2^63) / 2^64). Writing Q x + 2^63 = y 2^64 + r with 0 <= r < 2^64, and since q_i
// divides Q, y = (2^63 - r) (2^64)^-1 (mod q_i), where r = (Q_lo x + 2^63) mod 2^64 needs only the low word Q_lo of Q.
// The protocol no longer lifts (step 7 combines mod 2^64); the lift is the reference that rlwe/modulus-switch.json pins and
// that the tests' RNS combine (lift, add the unswitched shares, decode) compares the switched combine against.
using System.Numerics;
using System.Runtime.CompilerServices;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>Switches a coefficient-domain polynomial mod Q to 64-bit words mod 2^64 (SPEC.md 12.0 steps 4 and 5) and lifts
/// words back (the reference inverse, no longer on the protocol's path).</summary>
internal sealed class ModulusSwitch
{
    private readonly RlweParameters _p;
    private readonly ulong[] _qHatInv, _qHatInvShoup;
    private readonly ulong[] _w2, _w1, _w0;             // floor(2^192 / q_i), three words
    private readonly ulong _qLow;                       // Q mod 2^64
    private readonly ulong[] _inv64, _inv64Shoup;       // (2^64)^-1 mod q_i
    private readonly Limb[] _limbs;                     // the switch's constants per prime, together

    /// <summary>Precomputes the constants of a parameter set.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="parameters"/> is null.</exception>
    public ModulusSwitch(RlweParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _p = parameters;
        RnsBasis basis = parameters.Basis;
        int L = basis.Count;
        _qHatInv = new ulong[L]; _qHatInvShoup = new ulong[L];
        _w2 = new ulong[L]; _w1 = new ulong[L]; _w0 = new ulong[L];
        _inv64 = new ulong[L]; _inv64Shoup = new ulong[L];
        _qLow = (ulong)(basis.Q & ulong.MaxValue);
        for (int i = 0; i < L; i++)
        {
            ulong q = basis.Primes[i];
            _qHatInv[i] = basis.QHatInverse(i);
            _qHatInvShoup[i] = ModArith.ShoupPrecompute(_qHatInv[i], q);
            BigInteger w = (BigInteger.One << 192) / q;
            _w2[i] = (ulong)(w >> 128);
            _w1[i] = (ulong)((w >> 64) & ulong.MaxValue);
            _w0[i] = (ulong)(w & ulong.MaxValue);
            _inv64[i] = (ulong)BigInteger.ModPow(new BigInteger(ulong.MaxValue) + 1, q - 2, q);
            _inv64Shoup[i] = ModArith.ShoupPrecompute(_inv64[i], q);
        }
        _limbs = Enumerable.Range(0, L).Select(i => new Limb
        {
            Q = basis.Primes[i], QHatInv = _qHatInv[i], QHatInvShoup = _qHatInvShoup[i], W2 = _w2[i], W1 = _w1[i], W0 = _w0[i],
        }).ToArray();
    }

    /// <summary>destination[j] = round(2^64 x_j / Q) mod 2^64 by the fixed-point rule of SPEC.md 12.0 step 4, for the
    /// coefficient-domain polynomial x (an upload's c0, or a decryption share h_j, step 5); destination has n words.</summary>
    /// <exception cref="ArgumentException">x is in the NTT domain or of another basis, or destination is not n words.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe void Switch(RnsPoly x, Span<ulong> destination)
    {
        _p.Basis.Check(x);
        if (x.IsNtt) throw Error.Argument(nameof(x), "Modulus switching needs the coefficient domain.");
        int n = _p.N, L = _p.Basis.Count;
        if (destination.Length != n) throw Error.Argument(nameof(destination), $"Exactly n = {n} words.");
        fixed (ulong* src = x.Data)
        fixed (ulong* dst = destination)
        fixed (Limb* c = _limbs)
        {
            if (L == 3)
            {
                // The named sets' three primes, unrolled: one pass, the limbs' constants in registers.
                Limb c0 = c[0], c1 = c[1], c2 = c[2];
                ulong* x0 = src, x1 = src + n, x2 = src + 2 * n;
                for (int j = 0; j < n; j++)
                {
                    ulong intSum = 0, frac = 0;
                    Accumulate(x0[j], c0, ref intSum, ref frac);
                    Accumulate(x1[j], c1, ref intSum, ref frac);
                    Accumulate(x2[j], c2, ref intSum, ref frac);
                    dst[j] = intSum + (frac >> 63);
                }
            }
            else
            {
                for (int j = 0; j < n; j++)
                {
                    ulong intSum = 0, frac = 0;
                    for (int i = 0; i < L; i++) Accumulate(src[(long)i * n + j], c[i], ref intSum, ref frac);
                    dst[j] = intSum + (frac >> 63);
                }
            }
        }
    }

    /// <summary>
    /// The end of a decryption share in one pass (SPEC.md 12.0 step 5): for a polynomial left before its last inverse-NTT
    /// stage by <see cref="NttTables.InverseMultiplyHead"/> (every limb, values in [0, 2q)), runs that stage (n^-1 folded in),
    /// adds the smudging noise x_j - B of <paramref name="draws"/> (the (lo, hi) pairs of <see cref="Samplers.SmudgingDraws"/>,
    /// B = 2^<paramref name="bits"/> - 1) and switches the result to 2^64 into <paramref name="destination"/>, coefficients j and
    /// j + n/2 together, while their residues are in registers. Limb i of <paramref name="head"/> receives
    /// y_i = [h_i (Q/q_i)^-1]_{q_i}, the switch's first step, of the smudged share h (coefficient domain): the scratch then holds
    /// a public function of the share, never the unsmudged product. Bit for bit the inverse NTT's last stage,
    /// <see cref="Samplers.AddSmudging"/> and <see cref="Switch"/> run one after the other (ShareKernelTests).
    /// </summary>
    /// <exception cref="ArgumentException">head of another basis, or draws not 2n words, or destination not n words.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal unsafe void SmudgeAndSwitchLastStage(RnsPoly head, ReadOnlySpan<ulong> draws, int bits, Span<ulong> destination)
    {
        RnsBasis basis = _p.Basis;
        basis.Check(head);
        int n = _p.N, L = basis.Count;
        if (draws.Length != 2 * n) throw Error.Argument(nameof(draws), $"Exactly 2n = {2 * n} words of draws.");
        if (destination.Length != n) throw Error.Argument(nameof(destination), $"Exactly n = {n} words.");
        if (bits is < 1 or > Samplers.MaxSmudgingBits) throw Error.OutOfRange(nameof(bits), "Smudging bits must be in 1..126.");
        Span<FusedLimb> constants = L <= 8 ? stackalloc FusedLimb[L] : new FusedLimb[L];
        UInt128 bound = (UInt128.One << bits) - 1;
        for (int i = 0; i < L; i++)
        {
            ulong q = basis.Primes[i];
            (ulong nInv, _, ulong lastInv, _) = basis.Table(i).LastStage;
            // Every constant carries (Q/q_i)^-1, the switch's first factor, so that the pass computes y_i = [h_i (Q/q_i)^-1]_{q_i}
            // directly: h_i = n^-1 (u + v) + (x - B) (or n^-1 psi^-1 (u - v + 2q) + (x - B)) and x = hi 2^64 + lo.
            ulong k = _qHatInv[i];
            ulong r64 = (ulong)(((UInt128)1 << 64) % q);
            ulong nK = ModArith.MulMod(nInv, k, q), lastK = ModArith.MulMod(lastInv, k, q), rK = ModArith.MulMod(r64, k, q);
            constants[i] = new FusedLimb
            {
                Switch = _limbs[i], BK = ModArith.MulMod((ulong)(bound % q), k, q), RK = rK, RKShoup = ModArith.ShoupPrecompute(rK, q),
                K = k, KShoup = _qHatInvShoup[i], NK = nK, NKShoup = ModArith.ShoupPrecompute(nK, q),
                LastK = lastK, LastKShoup = ModArith.ShoupPrecompute(lastK, q),
            };
        }
        int t = n >> 1;
        fixed (ulong* src = head.Data)
        fixed (ulong* dst = destination)
        fixed (ulong* w = draws)
        fixed (FusedLimb* c = constants)
        {
            ulong* wB = w + 2 * t; // the draws of coefficients n/2..n-1
            if (L == 3)
            {
                // The named sets' three primes, unrolled. The draws are re-read from L1 per limb rather than held: the four
                // switch sums and the pointers are what stays in registers (fewer spills, seen in the disassembly).
                ulong* x0 = src, x1 = src + n, x2 = src + 2 * n;
                for (int j = 0; j < t; j++)
                {
                    ulong intA = 0, fracA = 0, intB = 0, fracB = 0;
                    FusedLimbStep(x0 + j, t, c, w + 2 * j, wB + 2 * j, ref intA, ref fracA, ref intB, ref fracB);
                    FusedLimbStep(x1 + j, t, c + 1, w + 2 * j, wB + 2 * j, ref intA, ref fracA, ref intB, ref fracB);
                    FusedLimbStep(x2 + j, t, c + 2, w + 2 * j, wB + 2 * j, ref intA, ref fracA, ref intB, ref fracB);
                    dst[j] = intA + (fracA >> 63);
                    dst[j + t] = intB + (fracB >> 63);
                }
            }
            else
            {
                for (int j = 0; j < t; j++)
                {
                    ulong intA = 0, fracA = 0, intB = 0, fracB = 0;
                    for (int i = 0; i < L; i++)
                        FusedLimbStep(src + (long)i * n + j, t, c + i, w + 2 * j, wB + 2 * j, ref intA, ref fracA, ref intB, ref fracB);
                    dst[j] = intA + (fracA >> 63);
                    dst[j + t] = intB + (fracB >> 63);
                }
            }
        }
        head.IsNtt = false;
    }

    /// <summary>The constants of one prime for <see cref="SmudgeAndSwitchLastStage"/>, each times K = (Q/q)^-1 mod q with its
    /// Shoup quotient: the last inverse stage's n^-1 and n^-1 psi^-1, 2^64 mod q and 1 (for the draw's high and low words),
    /// B mod q; and the switch's fixed-point constants.</summary>
    private struct FusedLimb
    {
        public Limb Switch;
        public ulong BK, RK, RKShoup, K, KShoup, NK, NKShoup, LastK, LastKShoup;
    }

    /// <summary>
    /// One limb of <see cref="SmudgeAndSwitchLastStage"/> at coefficients j (A) and j + t (B), x pointing at j, the draws
    /// (lo, hi) at <paramref name="drawA"/> and <paramref name="drawB"/>: y = [h K]_q with h = (last butterfly output +
    /// x - B) mod q, as K (n^-1 (u + v)) + K (2^64 mod q) hi + K lo - K B, each product by one Shoup multiplication (any
    /// 64-bit operand, result in [0, 2q)), reduced to [0, q) step by step: the canonical residue, as the reference's
    /// separate stage, Barrett-reduced noise and switch multiply give. y is written back (a public function of the
    /// smudged share, never the unsmudged product), then accumulated as the switch does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FusedLimbStep(ulong* x, int t, FusedLimb* c, ulong* drawA, ulong* drawB,
        ref ulong intA, ref ulong fracA, ref ulong intB, ref ulong fracB)
    {
        ulong q = c->Switch.Q;
        ulong u = x[0], v = x[t];
        ulong s = u + v;            // < 4q
        ulong d = u - v + 2 * q;    // < 4q
        ulong a = ModArith.CondSub(ModArith.MulShoupLazy(s, c->NK, c->NKShoup, q), q);
        ulong b = ModArith.CondSub(ModArith.MulShoupLazy(d, c->LastK, c->LastKShoup, q), q);
        a = ModArith.AddMod(a, Noise(drawA[0], drawA[1], c), q);
        b = ModArith.AddMod(b, Noise(drawB[0], drawB[1], c), q);
        x[0] = a;
        x[t] = b;
        AccumulateY(a, c->Switch, ref intA, ref fracA);
        AccumulateY(b, c->Switch, ref intB, ref fracB);
    }

    /// <summary>K (hi 2^64 + lo - B) mod q in [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe ulong Noise(ulong lo, ulong hi, FusedLimb* c)
    {
        ulong q = c->Switch.Q;
        ulong r = ModArith.MulShoupLazy(hi, c->RK, c->RKShoup, q) + ModArith.MulShoupLazy(lo, c->K, c->KShoup, q); // [0, 4q)
        r = ModArith.CondSub(ModArith.CondSub(r, 2 * q), q);
        return ModArith.SubMod(r, c->BK, q);
    }

    /// <summary>The constants of one prime for <see cref="Switch"/>.</summary>
    private struct Limb
    {
        public ulong Q, QHatInv, QHatInvShoup, W2, W1, W0;
    }

    /// <summary>
    /// y = [x (Q/q)^-1]_q, then of y W (W = floor(2^192 / q) = w2 2^128 + w1 2^64 + w0) the bits 128 and up into
    /// <paramref name="intSum"/> (mod 2^64) and the bits 64..127 into the fraction sum F = (carries, added to intSum) 2^64 +
    /// <paramref name="frac"/>; the caller's final floor((F + 2^63) / 2^64) is then intSum + (frac &gt;&gt; 63).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(ulong x, in Limb c, ref ulong intSum, ref ulong frac) =>
        AccumulateY(ModArith.CondSub(ModArith.MulShoupLazy(x, c.QHatInv, c.QHatInvShoup, c.Q), c.Q), c, ref intSum, ref frac);

    /// <summary>The part of <see cref="Accumulate"/> after y = [x (Q/q)^-1]_q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AccumulateY(ulong y, in Limb c, ref ulong intSum, ref ulong frac)
    {
        ulong p0Hi = ModArith.MulHigh(y, c.W0);
        ulong p1Hi = ModArith.MulHigh(y, c.W1), p1Lo = unchecked(y * c.W1);
        ulong mid = unchecked(p1Lo + p0Hi);                 // bits 64..127 of y W; its carry goes to bit 128
        ulong f = unchecked(frac + mid);
        intSum = unchecked(intSum + y * c.W2 + p1Hi + (mid < p0Hi ? 1UL : 0UL) + (f < mid ? 1UL : 0UL));
        frac = f;
    }

    /// <summary>Writes round(Q w_j / 2^64) mod Q (halves rounded up) into the coefficient-domain polynomial
    /// <paramref name="destination"/>, for the n words <paramref name="words"/> (SPEC.md 12.0 step 7).</summary>
    /// <exception cref="ArgumentException">words is not n long, or destination is of another basis.</exception>
    public void Lift(ReadOnlySpan<ulong> words, RnsPoly destination)
    {
        _p.Basis.Check(destination);
        int n = _p.N, L = _p.Basis.Count;
        if (words.Length != n) throw Error.Argument(nameof(words), $"Exactly n = {n} words.");
        ulong[] data = destination.Data;
        const ulong Half = 1UL << 63;
        for (int i = 0; i < L; i++)
        {
            ulong q = _p.Basis.Primes[i], inv = _inv64[i], invShoup = _inv64Shoup[i];
            int offset = i * n;
            for (int j = 0; j < n; j++)
            {
                ulong r = unchecked(_qLow * words[j] + Half);
                // y = (2^63 - r) * 2^-64 mod q: 2^63 - r is in (-2^63, 2^63]; its magnitude is below 2^64, so one Shoup
                // multiplication reduces it, and a negative difference is negated mod q.
                ulong magnitude = r <= Half ? Half - r : r - Half;
                ulong v = ModArith.CondSub(ModArith.MulShoupLazy(magnitude, inv, invShoup, q), q);
                data[offset + j] = r <= Half ? v : ModArith.NegMod(v, q);
            }
        }
        destination.IsNtt = false;
    }
}
