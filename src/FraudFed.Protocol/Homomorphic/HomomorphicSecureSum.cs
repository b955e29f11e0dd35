// HomomorphicSecureSum: ISecureSum over the threshold homomorphic harness (mode "he"). One key setup per
// instance, any number of sums. Sums are exact mod 2^k for k <= log2 t (t = 2^44 by default): the harness
// sums mod t and 2^k divides t. Banks listed in OfflineBanks neither submit nor decrypt in the next sums;
// decryption rotates over the online banks (T of them per sum).
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Exact secure sum mod 2^k where only T banks together can open the sum of the submitted vectors.</summary>
public sealed class HomomorphicSecureSum : ISecureSum, IDisposable
{
    private readonly HomomorphicSession _session;
    private int _sums;

    /// <summary>Sets up keys for <paramref name="banks"/> banks summing mod 2^<paramref name="modulusBits"/>.</summary>
    public HomomorphicSecureSum(int banks, int modulusBits, HomomorphicOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(banks, 2);
        options ??= new HomomorphicOptions();
        int maxBits = (options.Parameters ?? Cryptography.Rlwe.ParameterSets.Default).PlainModulusBits;
        if (modulusBits < 1 || modulusBits > maxBits)
            throw new ArgumentOutOfRangeException(nameof(modulusBits), $"k must be in 1..{maxBits} (log2 t).");
        Banks = banks;
        ModulusBits = modulusBits;
        _session = new HomomorphicSession(banks, options);
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
            throw Error.Violation(ViolationReason.TooFewParticipants, $"{online.Length} banks online, fewer than T = {threshold} or K_min = {_session.Policy.MinContributors}");
        // Rotate the decrypting set over the online banks.
        int offset = _sums++ % online.Length;
        int[] decryptors = Enumerable.Range(0, threshold).Select(i => online[(offset + i) % online.Length]).Order().ToArray();
        var inputs = new ulong[]?[Banks];
        foreach (int b in online) inputs[b] = bankInputs[b];
        ulong[] sum = _session.Sum(inputs, decryptors, out int[] contributors, cancellationToken);
        ulong mask = ModulusBits == 64 ? ulong.MaxValue : (1UL << ModulusBits) - 1;
        for (int i = 0; i < sum.Length; i++) sum[i] &= mask;
        HomomorphicSumStats stats = _session.LastStats!;
        int bytesPerValue = (ModulusBits + 7) / 8;
        return new SecureSumResult(sum, contributors, stats.BytesUploaded, stats.BytesDownloaded + (long)sum.Length * bytesPerValue);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
