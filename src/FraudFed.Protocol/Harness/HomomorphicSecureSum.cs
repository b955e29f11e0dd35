// HomomorphicSecureSum: ISecureSum over the threshold homomorphic harness (mode "he"). One key setup per
// instance, any number of sums. Sums are exact mod 2^k for k <= log2 t (t = 2^44 by default): the harness
// sums mod t and 2^k divides t. Banks listed in OfflineBanks neither submit nor decrypt in the next sums;
// decryption rotates over the online banks (T of them per sum).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Quantization;

namespace FraudFed.Protocol.Harness;

/// <summary>Exact secure sum mod 2^k where only T banks together can open the sum of the submitted vectors.</summary>
public sealed class HomomorphicSecureSum : ISecureSum, IDisposable
{
    private readonly HomomorphicSession _session;
    private readonly Quantizer? _quantizer;
    private int _sums;

    /// <summary>Sets up keys for <paramref name="banks"/> banks summing mod 2^<paramref name="modulusBits"/>.</summary>
    public HomomorphicSecureSum(int banks, int modulusBits, HomomorphicOptions? options = null) : this(banks, modulusBits, options, testSeed: null)
    {
    }

    /// <summary>TESTS ONLY: as the public constructor, every party's randomness derived from <paramref name="seed"/>
    /// (<see cref="HomomorphicSession.SeededForTestsOnly"/>), so nothing is secret.</summary>
    internal static HomomorphicSecureSum SeededForTestsOnly(int banks, int modulusBits, HomomorphicOptions? options, ReadOnlySpan<byte> seed)
        => new(banks, modulusBits, options, seed.ToArray());

    private HomomorphicSecureSum(int banks, int modulusBits, HomomorphicOptions? options, byte[]? testSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(banks, 2);
        options ??= new HomomorphicOptions();
        int maxBits = (options.Parameters ?? Cryptography.Rlwe.ParameterSets.Default).PlainModulusBits;
        if (modulusBits < 1 || modulusBits > maxBits)
            throw new ArgumentOutOfRangeException(nameof(modulusBits), $"k must be in 1..{maxBits} (log2 t).");
        if (options.Quantizer is { } q)
        {
            if (q.ModulusBits != modulusBits) throw Error.Argument(nameof(options), $"The quantizer's k ({q.ModulusBits}) differs from the sum's k ({modulusBits}).");
            q.EnsureExact(banks);   // before any key is generated: N * M <= 2^(k-1) - 1
        }
        Banks = banks;
        ModulusBits = modulusBits;
        _quantizer = options.Quantizer;
        _session = testSeed is null ? new HomomorphicSession(banks, options) : HomomorphicSession.SeededForTestsOnly(banks, options, testSeed);
    }

    /// <inheritdoc />
    public int Banks { get; }
    /// <inheritdoc />
    public int ModulusBits { get; }
    /// <inheritdoc />
    public string Mode => "he";
    /// <summary>The underlying harness (statistics, parameters, policy).</summary>
    public HomomorphicSession Session => _session;
    /// <summary>Banks that neither submit nor decrypt in the following sums.</summary>
    public ISet<int> OfflineBanks { get; } = new HashSet<int>();

    /// <inheritdoc />
    public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default)
    {
        SumValidation.Check(bankInputs, Banks, ModulusBits);
        int[] online = Enumerable.Range(0, Banks).Where(b => !OfflineBanks.Contains(b)).ToArray();
        int threshold = _session.Policy.Threshold;
        if (online.Length < Math.Max(threshold, _session.Policy.MinContributors))
            throw Error.TooFewContributors(_session.Round + 1, online.Length, Math.Max(threshold, _session.Policy.MinContributors), threshold, _session.Policy.MinContributors,
                silent: OfflineBanks.ToArray());
        // Rotate the decrypting set over the online banks.
        int offset = _sums++ % online.Length;
        int[] decryptors = Enumerable.Range(0, threshold).Select(i => online[(offset + i) % online.Length]).Order().ToArray();
        var inputs = new ulong[]?[Banks];
        foreach (int b in online) inputs[b] = bankInputs[b];
        ulong[] sum = _session.Sum(inputs, decryptors, out int[] contributors, cancellationToken);
        ulong mask = ModulusBits == 64 ? ulong.MaxValue : (1UL << ModulusBits) - 1;
        for (int i = 0; i < sum.Length; i++) sum[i] &= mask;
        HomomorphicSumStats stats = _session.LastStats!;
        return new SecureSumResult(sum, contributors, stats.BytesUploaded, stats.BytesDownloaded);   // downloads include the result sent to every bank
    }

    /// <summary>
    /// Quantizes each online bank's real vector with <see cref="HomomorphicOptions.Quantizer"/> (stochastic rounding from
    /// <paramref name="rng"/>; values outside the clip bound throw unless <paramref name="clip"/>), sums securely, and
    /// decodes the exact signed sum. Setup already checked that N banks' quantized values cannot wrap around 2^k.
    /// </summary>
    /// <returns>The decoded sum, the secure-sum result, and how many values each bank had clipped.</returns>
    /// <exception cref="InvalidOperationException">no quantizer was configured.</exception>
    /// <exception cref="QuantizationRangeException">a value outside the clip bound and <paramref name="clip"/> false.</exception>
    public (double[] Sum, SecureSumResult Result, int[] Clipped) SumReal(IReadOnlyList<double[]> bankInputs, RandomNumberGenerator rng,
        bool clip = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bankInputs);
        ArgumentNullException.ThrowIfNull(rng);
        Quantizer q = _quantizer ?? throw new InvalidOperationException("SumReal needs HomomorphicOptions.Quantizer.");
        if (bankInputs.Count != Banks) throw Error.Argument(nameof(bankInputs), $"Expected one vector per bank ({Banks}).");
        var quantized = new ulong[Banks][];
        var clipped = new int[Banks];
        for (int b = 0; b < Banks; b++)
        {
            ArgumentNullException.ThrowIfNull(bankInputs[b]);
            quantized[b] = q.Quantize(bankInputs[b], rng, out QuantizationReport report, clip);
            clipped[b] = report.Clipped;
        }
        SecureSumResult result = Sum(quantized, cancellationToken);
        return (q.Decode(result.Sum), result, clipped);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
