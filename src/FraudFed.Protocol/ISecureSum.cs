// The secure-sum API every model trainer calls: one call = one exact sum of integer vectors mod 2^k.
// Implementations: PlainSum (reference, no protection), the masking harness (SecAgg/SecAgg+) and the
// threshold-HE harness. Whatever the protection, the result is bit for bit the plaintext modular sum
// of the contributors' vectors; which banks contributed is reported so callers can check it.
namespace FraudFed.Protocol;

/// <summary>The result of one secure sum.</summary>
/// <param name="Sum">Sum mod 2^k of the contributors' vectors.</param>
/// <param name="Contributors">Indices (0-based) of the banks whose vectors are in the sum, ascending.</param>
/// <param name="BytesUploaded">Total bytes sent by banks to the aggregator for this sum (protocol cost).</param>
/// <param name="BytesDownloaded">Total bytes sent by the aggregator to banks for this sum.</param>
public sealed record SecureSumResult(ulong[] Sum, IReadOnlyList<int> Contributors, long BytesUploaded, long BytesDownloaded);

/// <summary>An exact aggregation of per-bank integer vectors modulo 2^<see cref="ModulusBits"/>.</summary>
public interface ISecureSum
{
    /// <summary>Number of banks in the session.</summary>
    int Banks { get; }

    /// <summary>k: sums are computed mod 2^k.</summary>
    int ModulusBits { get; }

    /// <summary>Short name for reports, e.g. "plain", "masking", "he".</summary>
    string Mode { get; }

    /// <summary>
    /// Sums one vector per bank (all the same length, every value below 2^k). Banks that drop out are
    /// left out of <see cref="SecureSumResult.Contributors"/>; fewer than the threshold is an error.
    /// </summary>
    SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default);
}

/// <summary>Reference implementation with no protection at all: every bank's vector is seen in the clear.</summary>
public sealed class PlainSum : ISecureSum
{
    /// <summary>Creates a plain summer for <paramref name="banks"/> banks modulo 2^<paramref name="modulusBits"/>.</summary>
    public PlainSum(int banks, int modulusBits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(banks, 1);
        if (modulusBits is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(modulusBits), "k must be in 1..64.");
        Banks = banks;
        ModulusBits = modulusBits;
    }

    /// <inheritdoc />
    public int Banks { get; }
    /// <inheritdoc />
    public int ModulusBits { get; }
    /// <inheritdoc />
    public string Mode => "plain";

    /// <inheritdoc />
    public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default)
    {
        SumValidation.Check(bankInputs, Banks, ModulusBits);
        int length = bankInputs[0].Length;
        ulong mask = ModulusBits == 64 ? ulong.MaxValue : (1UL << ModulusBits) - 1;
        var sum = new ulong[length];
        foreach (ulong[] v in bankInputs)
            for (int i = 0; i < length; i++) sum[i] += v[i];
        for (int i = 0; i < length; i++) sum[i] &= mask;
        int bytesPerValue = (ModulusBits + 7) / 8;
        return new SecureSumResult(sum, Enumerable.Range(0, Banks).ToArray(), (long)Banks * length * bytesPerValue, (long)length * bytesPerValue);
    }
}

/// <summary>Shared argument checks for <see cref="ISecureSum"/> implementations.</summary>
public static class SumValidation
{
    /// <summary>Throws <see cref="ArgumentException"/> unless there is one vector per bank, all equal length, all values below 2^k.</summary>
    public static void Check(IReadOnlyList<ulong[]> bankInputs, int banks, int modulusBits)
    {
        ArgumentNullException.ThrowIfNull(bankInputs);
        if (bankInputs.Count != banks)
            throw new ArgumentException($"Expected one vector per bank ({banks}), got {bankInputs.Count}.", nameof(bankInputs));
        int length = bankInputs[0]?.Length ?? throw new ArgumentException("Bank 0's vector is null.", nameof(bankInputs));
        ulong limit = modulusBits == 64 ? ulong.MaxValue : (1UL << modulusBits) - 1;
        for (int b = 0; b < banks; b++)
        {
            ulong[] v = bankInputs[b] ?? throw new ArgumentException($"Bank {b}'s vector is null.", nameof(bankInputs));
            if (v.Length != length)
                throw new ArgumentException($"Bank {b}'s vector has length {v.Length}, expected {length}.", nameof(bankInputs));
            for (int i = 0; i < v.Length; i++)
                if (v[i] > limit)
                    throw new ArgumentException($"Bank {b}'s value at index {i} is not below 2^{modulusBits}.", nameof(bankInputs));
        }
    }
}
