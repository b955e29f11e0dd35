// ModArith: word-size modular arithmetic for NTT primes below 2^62.
//
// Shoup's precomputed-quotient multiplication (V. Shoup, NTL; D. Harvey, "Faster arithmetic for
// number-theoretic transforms", J. Symb. Comp. 60, 2014, section 2): for a fixed w < q and
// w' = floor(w * 2^64 / q), the product w*x mod q for any 64-bit x is w*x - hi64(w'*x)*q, which lies in
// [0, 2q). Requires q < 2^63 (we use q < 2^62 so that lazy values up to 4q still fit a word).
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace FraudFed.Cryptography.Ring;

/// <summary>Modular arithmetic on 64-bit words for moduli below 2^62.</summary>
internal static class ModArith
{
    /// <summary>The largest supported modulus bit length (lazy NTT values reach 4q).</summary>
    public const int MaxModulusBits = 62;

    /// <summary>(a * b) mod q for a, b &lt; 2^64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MulMod(ulong a, ulong b, ulong q)
    {
        ulong hi = Math.BigMul(a, b, out ulong lo);
        return (ulong)(new UInt128(hi, lo) % q);
    }

    /// <summary>x - m if x &gt;= m else x, branch-free; requires x &lt; 2m and m &lt; 2^63.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong CondSub(ulong x, ulong m)
    {
        ulong t = x - m;
        return t + (m & (ulong)((long)t >> 63));
    }

    /// <summary>(a + b) mod q for a, b &lt; q (branch-free).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddMod(ulong a, ulong b, ulong q) => CondSub(a + b, q);

    /// <summary>(a - b) mod q for a, b &lt; q (branch-free).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SubMod(ulong a, ulong b, ulong q)
    {
        ulong t = a - b;
        return t + (q & (ulong)((long)t >> 63));
    }

    /// <summary>(-a) mod q for a &lt; q (branch-free).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong NegMod(ulong a, ulong q) => SubMod(0, a, q);

    /// <summary>b^e mod q.</summary>
    public static ulong PowMod(ulong b, ulong e, ulong q)
    {
        ulong result = 1 % q;
        b %= q;
        while (e != 0)
        {
            if ((e & 1) != 0) result = MulMod(result, b, q);
            b = MulMod(b, b, q);
            e >>= 1;
        }
        return result;
    }

    /// <summary>a^-1 mod q for prime q and a not divisible by q (Fermat).</summary>
    public static ulong InvMod(ulong a, ulong q)
    {
        if (a % q == 0) throw Error.Argument(nameof(a), "Zero has no inverse.");
        return PowMod(a, q - 2, q);
    }

    /// <summary>Shoup's precomputed quotient floor(w * 2^64 / q) for w &lt; q.</summary>
    public static ulong ShoupPrecompute(ulong w, ulong q)
    {
        Debug.Assert(w < q);
        return (ulong)((new UInt128(w, 0)) / q);
    }

    /// <summary>w*x mod q in [0, 2q) (lazy), given w' = ShoupPrecompute(w, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MulShoupLazy(ulong x, ulong w, ulong wPrime, ulong q) => unchecked(w * x - MulHigh(x, wPrime) * q);

    /// <summary>
    /// The high 64 bits of a 64 x 64-bit product: one MULX where BMI2 exists (Math.BigMul otherwise). Callers that need both
    /// halves take the low one as a * b (one IMUL): Math.BigMul's out parameter makes the JIT keep the low half in a stack
    /// slot (a store per product in the hot loops, seen in the disassembly), which this avoids.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MulHigh(ulong a, ulong b) =>
        System.Runtime.Intrinsics.X86.Bmi2.X64.IsSupported ? System.Runtime.Intrinsics.X86.Bmi2.X64.MultiplyNoFlags(a, b) : Math.BigMul(a, b, out _);

    /// <summary>w*x mod q in [0, q), given w' = ShoupPrecompute(w, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong MulShoup(ulong x, ulong w, ulong wPrime, ulong q) => CondSub(MulShoupLazy(x, w, wPrime, q), q);

    /// <summary>Reduces a signed 64-bit value into [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong FromSigned(long v, ulong q)
    {
        if (v >= 0) return (ulong)v % q;
        ulong r = (ulong)(-(v + 1)) % q; // -(v+1) >= 0 avoids overflow at long.MinValue
        return q - 1 - r;
    }
}

/// <summary>Barrett reduction of 128-bit values modulo a fixed q &lt; 2^62 (precomputed floor(2^128 / q)).</summary>
internal readonly struct Barrett128
{
    private readonly ulong _q;
    private readonly ulong _ratioHi, _ratioLo;

    /// <summary>Precomputes floor(2^128 / q).</summary>
    public Barrett128(ulong q)
    {
        _q = q;
        UInt128 ratio = UInt128.MaxValue / q; // floor((2^128 - 1)/q) equals floor(2^128/q) for q not a power of two
        _ratioHi = (ulong)(ratio >> 64);
        _ratioLo = (ulong)ratio;
    }

    /// <summary>(hi*2^64 + lo) mod q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Reduce(ulong hi, ulong lo)
    {
        // Estimate floor(x * ratio / 2^128) with the three high partial products; error at most 3 multiples of q.
        ulong carry = ModArith.MulHigh(lo, _ratioLo);
        ulong t1Hi = ModArith.MulHigh(lo, _ratioHi), t1Lo = unchecked(lo * _ratioHi);
        ulong t2Hi = ModArith.MulHigh(hi, _ratioLo), t2Lo = unchecked(hi * _ratioLo);
        ulong m1 = t1Lo + t2Lo;
        ulong c1 = m1 < t1Lo ? 1UL : 0UL;
        ulong m2 = m1 + carry;
        ulong c2 = m2 < m1 ? 1UL : 0UL;
        ulong quotient = hi * _ratioHi + t1Hi + t2Hi + c1 + c2;
        ulong r = unchecked(lo - quotient * _q); // in [0, 4q)
        r = ModArith.CondSub(r, 2 * _q);
        return ModArith.CondSub(r, _q);
    }

    /// <summary>(a*b) mod q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong MulMod(ulong a, ulong b)
    {
        ulong hi = Math.BigMul(a, b, out ulong lo);
        return Reduce(hi, lo);
    }
}
