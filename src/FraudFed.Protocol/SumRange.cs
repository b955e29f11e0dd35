// Signed sums mod 2^k decode exactly only while the true sum stays in [-2^(k-1), 2^(k-1)); past that the modular sum
// wraps and decodes to a wrong value of the other sign, silently. This file is the one place that checks, before a sum
// runs, that it cannot wrap: from the values themselves where the caller holds every vector (SumChannel, in-process
// harnesses), or from a declared per-bank magnitude bound M (Quantizer: banks * M <= 2^(k-1) - 1).
using System.Numerics;

namespace FraudFed.Protocol;

/// <summary>
/// A signed secure sum could leave the signed range of 2^k and wrap around: refused before the sum runs. Names the
/// modulus, the bound that was exceeded and the smallest k that would fit. Carries no input value.
/// </summary>
public sealed class SumWrapException : OverflowException
{
    internal SumWrapException(int modulusBits, int banks, string what, int requiredBits)
        : base($"{what} could leave the signed range of 2^{modulusBits} ([-2^{modulusBits - 1}, 2^{modulusBits - 1} - 1]) over {banks} banks and wrap around; " +
            (requiredBits <= 64 ? $"use a modulus of at least {requiredBits} bits (ModulusBits), or smaller values (a smaller scale)." : "use smaller values (a smaller scale)."))
    {
        ModulusBits = modulusBits;
        Banks = banks;
        RequiredBits = requiredBits;
    }

    /// <summary>k of the refused sum.</summary>
    public int ModulusBits { get; }
    /// <summary>Number of banks whose values would be summed.</summary>
    public int Banks { get; }
    /// <summary>The smallest k whose signed range holds the sum (may exceed 64: then only smaller values help).</summary>
    public int RequiredBits { get; }
}

/// <summary>Checks that signed sums mod 2^k cannot wrap (see <see cref="SumWrapException"/>).</summary>
public static class SignedSumRange
{
    /// <summary>The largest |sum| a signed k-bit residue holds: 2^(k-1) - 1.</summary>
    public static UInt128 Limit(int modulusBits)
    {
        if (modulusBits is < 2 or > 64) throw new ArgumentOutOfRangeException(nameof(modulusBits), "k must be in 2..64.");
        return (UInt128.One << (modulusBits - 1)) - 1;
    }

    /// <summary>Bits k needed so that 2^(k-1) - 1 &gt;= <paramref name="magnitude"/>.</summary>
    public static int RequiredBits(UInt128 magnitude) => magnitude == 0 ? 2 : 128 - (int)UInt128.LeadingZeroCount(magnitude) + 1;

    /// <summary>
    /// Throws unless, at every index, the sum over banks of |value| is at most 2^(k-1) - 1: then no partial or total sum
    /// can leave the signed range, whatever the order of addition. Exact (128-bit), never clips.
    /// </summary>
    /// <exception cref="SumWrapException">the sum at some index could wrap.</exception>
    public static void EnsureNoWrap(IReadOnlyList<long[]> bankVectors, int modulusBits)
    {
        ArgumentNullException.ThrowIfNull(bankVectors);
        UInt128 limit = Limit(modulusBits);
        int length = bankVectors.Count == 0 ? 0 : bankVectors[0].Length;
        UInt128 worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < length; i++)
        {
            UInt128 total = 0;
            foreach (long[] v in bankVectors) total += v[i] < 0 ? (UInt128)(0UL - (ulong)v[i]) : (UInt128)(ulong)v[i];
            if (total > worst) { worst = total; worstIndex = i; }
        }
        if (worst > limit)
            throw new SumWrapException(modulusBits, bankVectors.Count, $"The sum at index {worstIndex} (sum of |values| needs {RequiredBits(worst)} bits)", RequiredBits(worst));
    }

    /// <summary>Throws unless <paramref name="banks"/> values of magnitude at most <paramref name="maxMagnitude"/> always sum inside the signed range.</summary>
    /// <exception cref="SumWrapException">banks * maxMagnitude &gt; 2^(k-1) - 1.</exception>
    public static void EnsureNoWrap(int banks, long maxMagnitude, int modulusBits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(banks, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMagnitude);
        UInt128 total = (UInt128)(ulong)banks * (ulong)maxMagnitude;
        if (total > Limit(modulusBits))
            throw new SumWrapException(modulusBits, banks, $"{banks} banks x magnitude {maxMagnitude}", RequiredBits(total));
    }
}
