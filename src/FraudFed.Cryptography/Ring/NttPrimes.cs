// NttPrimes: generation and verification of NTT-friendly primes q = 1 (mod 2n), q < 2^62.
//
// Primality: deterministic Miller-Rabin with the first twelve prime bases (2..37), which is exact for
// every integer below 3.3 * 10^24 (Sorenson and Webster, "Strong pseudoprimes to twelve prime bases",
// Math. Comp. 86, 2017), hence for all 64-bit integers.
// A primitive 2n-th root of unity psi exists iff 2n | q - 1; since 2n is a power of two, psi = g^((q-1)/2n)
// has order exactly 2n iff psi^n = -1 (mod q). The root chosen is psi = g^((q-1)/2n) for the first candidate
// g = 2, 3, ... that gives psi^n = -1 (the smallest quadratic non-residue g, SPEC.md 12.a; not the numerically smallest
// psi), so that every party derives the same NTT domain from the primes alone.
namespace FraudFed.Cryptography.Ring;

/// <summary>Primality testing and NTT prime search.</summary>
internal static class NttPrimes
{
    private static readonly ulong[] Bases = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];

    /// <summary>Deterministic primality test for 64-bit integers.</summary>
    public static bool IsPrime(ulong n)
    {
        if (n < 2) return false;
        foreach (ulong p in Bases)
        {
            if (n == p) return true;
            if (n % p == 0) return false;
        }
        ulong d = n - 1;
        int s = 0;
        while ((d & 1) == 0) { d >>= 1; s++; }
        foreach (ulong a in Bases)
        {
            ulong x = ModArith.PowMod(a, d, n);
            if (x == 1 || x == n - 1) continue;
            bool composite = true;
            for (int r = 1; r < s; r++)
            {
                x = ModArith.MulMod(x, x, n);
                if (x == n - 1) { composite = false; break; }
            }
            if (composite) return false;
        }
        return true;
    }

    /// <summary>True when q is a prime below 2^62 with q = 1 (mod 2n).</summary>
    public static bool IsNttPrime(ulong q, int n)
    {
        if (n < 2 || (n & (n - 1)) != 0) return false;
        if (q >= 1UL << ModArith.MaxModulusBits) return false;
        return q % (2UL * (ulong)n) == 1 && IsPrime(q);
    }

    /// <summary>
    /// The <paramref name="count"/> largest primes q &lt; 2^<paramref name="bits"/> with q = 1 (mod 2n), in
    /// descending order (each has exactly <paramref name="bits"/> bits).
    /// </summary>
    public static ulong[] Generate(int bits, int n, int count)
    {
        if (bits is < 10 or > ModArith.MaxModulusBits) throw Error.OutOfRange(nameof(bits), "Prime bits must be in 10..62.");
        if (n < 2 || (n & (n - 1)) != 0) throw Error.Argument(nameof(n), "n must be a power of two.");
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ulong step = 2UL * (ulong)n;
        ulong lower = 1UL << (bits - 1);
        ulong q = ((1UL << bits) - 1) / step * step + 1;
        if (q >= 1UL << bits) q -= step;
        var result = new List<ulong>(count);
        for (; q > lower && result.Count < count; q -= step)
            if (IsPrime(q)) result.Add(q);
        if (result.Count < count) throw Error.Argument(nameof(count), "Not enough NTT primes of that size.");
        return [.. result];
    }

    /// <summary>
    /// The primitive 2n-th root of unity psi = g^((q-1)/2n) mod q for the smallest g = 2, 3, ... with psi^n = -1 (the smallest
    /// quadratic non-residue; not in general the root of the smallest generator of Z_q^*), SPEC.md 12.a.
    /// </summary>
    /// <exception cref="ArgumentException">q is not an NTT prime for n.</exception>
    public static ulong PrimitiveRoot2N(ulong q, int n)
    {
        if (!IsNttPrime(q, n)) throw Error.Argument(nameof(q), "q is not an NTT prime for this n.");
        ulong exponent = (q - 1) / (2UL * (ulong)n);
        for (ulong g = 2; g < q; g++)
        {
            ulong psi = ModArith.PowMod(g, exponent, q);
            if (ModArith.PowMod(psi, (ulong)n, q) == q - 1) return psi;
        }
        throw new InvalidOperationException("No primitive root found."); // unreachable for a prime q
    }
}
