// ISecureSum over the masking protocol (SecAgg / SecAgg+), in process. One instance = one session: the key
// setup (AdvertiseKeys, KeyRoster) runs once on the first Sum, and every Sum is a new round whose seeds are
// derived per round (SPEC.md "KDF labels"). Randomness: a CSPRNG unless the options inject one (tests).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Quantization;

namespace FraudFed.Protocol.Harness;

/// <summary>Options of <see cref="MaskingSecureSum"/>.</summary>
public sealed record MaskingOptions
{
    /// <summary>Per-neighbourhood Shamir threshold t; default floor(2*holders/3) + 1 (holders = degree + 1).</summary>
    public int? Threshold { get; init; }
    /// <summary>Use the SecAgg+ sparse graph (default: the complete SecAgg graph).</summary>
    public bool Sparse { get; init; }
    /// <summary>Sparse degree (even); default NeighbourGraph.SuggestedDegree(n).</summary>
    public int? Degree { get; init; }
    /// <summary>Public 32-byte seed of the sparse graph; default all zero (it is public anyway).</summary>
    public byte[]? GraphSeed { get; init; }
    /// <summary>Minimum survivors at every stage; default see <see cref="MaskingParameters"/>.</summary>
    public int? MinimumSurvivors { get; init; }
    /// <summary>Random source for keys and round secrets; default the OS CSPRNG. Inject a seeded one only in tests.</summary>
    public RandomNumberGenerator? Random { get; init; }
    /// <summary>16-byte session id; default random.</summary>
    public byte[]? SessionId { get; init; }
    /// <summary>Banks that never join the session (dropped before AdvertiseKeys).</summary>
    public IReadOnlyCollection<int> AbsentFromSetup { get; init; } = [];
    /// <summary>If set, the round setup checks that n quantized vectors sum exactly in k bits.</summary>
    public Quantizer? Quantizer { get; init; }
}

/// <summary>Secure sum by pairwise + self masking. Mode "masking".</summary>
public sealed class MaskingSecureSum : ISecureSum, IDisposable
{
    private readonly MaskingHarness _harness;
    private readonly RandomNumberGenerator _rng;
    private readonly bool _ownsRng;
    private readonly MaskingOptions _options;
    private bool _setUp;

    /// <summary>Creates a session of <paramref name="banks"/> banks summing mod 2^<paramref name="modulusBits"/>.</summary>
    public MaskingSecureSum(int banks, int modulusBits, MaskingOptions? options = null)
    {
        if (banks < 3) throw Error.OutOfRange(nameof(banks), "Masking needs at least 3 banks.");
        if (modulusBits is < 1 or > 64) throw Error.OutOfRange(nameof(modulusBits), "k must be in 1..64.");
        _options = options ?? new MaskingOptions();
        _options.Quantizer?.EnsureExact(banks);
        if (_options.Quantizer is { } q && q.ModulusBits != modulusBits) throw Error.Argument(nameof(options), "The quantizer's k differs from the sum's k.");
        _ownsRng = _options.Random is null;
        _rng = _options.Random ?? RandomNumberGenerator.Create();
        NeighbourGraph graph = _options.Sparse
            ? NeighbourGraph.Sparse(banks, _options.Degree ?? NeighbourGraph.SuggestedDegree(banks), _options.GraphSeed ?? new byte[32])
            : NeighbourGraph.Complete(banks);
        int holders = graph.Degree + 1;
        int t = _options.Threshold ?? Math.Min(holders, 2 * holders / 3 + 1);
        byte[] session = _options.SessionId ?? RandomSession(_rng);
        Parameters = new MaskingParameters(session, t, modulusBits, graph, _options.MinimumSurvivors);
        _harness = new MaskingHarness(Parameters, _rng);
    }

    private static byte[] RandomSession(RandomNumberGenerator rng)
    {
        var id = new byte[MaskingParameters.SessionIdSize];
        rng.GetBytes(id);
        return id;
    }

    /// <summary>The session's parameters (threshold, graph, ...).</summary>
    public MaskingParameters Parameters { get; }
    /// <summary>The underlying harness (banks, aggregator, setup byte counts).</summary>
    public MaskingHarness Harness => _harness;
    /// <summary>The report of the last round.</summary>
    public RoundReport? LastRound { get; private set; }

    /// <inheritdoc />
    public int Banks => Parameters.Banks;
    /// <inheritdoc />
    public int ModulusBits => Parameters.ModulusBits;
    /// <inheritdoc />
    public string Mode => "masking";

    /// <inheritdoc />
    public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default)
        => Sum(bankInputs, DropoutPlan.None, cancellationToken);

    /// <summary>One secure sum with the given dropouts (a new round of the session).</summary>
    public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, DropoutPlan dropouts, CancellationToken cancellationToken = default)
    {
        SumValidation.Check(bankInputs, Banks, ModulusBits);
        ArgumentNullException.ThrowIfNull(dropouts);
        if (bankInputs[0].Length == 0) throw Error.Argument(nameof(bankInputs), "Vectors must not be empty.");
        if (!_setUp)
        {
            _harness.SetupSession(_options.AbsentFromSetup);
            _setUp = true;
        }
        RoundReport report = _harness.RunRound(bankInputs, dropouts, cancellationToken);
        LastRound = report;
        return new SecureSumResult(report.Sum, report.Contributors, report.BytesUploaded, report.BytesDownloaded);
    }

    /// <summary>
    /// Quantizes each bank's real vector with the configured <see cref="MaskingOptions.Quantizer"/> (stochastic
    /// rounding from <paramref name="rng"/>), sums securely, and decodes the signed sum back to reals.
    /// </summary>
    /// <param name="bankInputs">One real vector per bank (absent banks' vectors are ignored).</param>
    /// <param name="rng">Randomness for stochastic rounding (each bank would use its own in deployment).</param>
    /// <param name="dropouts">Dropouts for this round (default none).</param>
    /// <param name="clip">Clamp values outside the clip bound instead of throwing.</param>
    /// <returns>The decoded sum, the secure-sum result, and how many values each bank had clipped.</returns>
    public (double[] Sum, SecureSumResult Result, int[] Clipped) SumReal(IReadOnlyList<double[]> bankInputs, RandomNumberGenerator rng,
        DropoutPlan? dropouts = null, bool clip = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bankInputs);
        ArgumentNullException.ThrowIfNull(rng);
        Quantizer q = _options.Quantizer ?? throw new InvalidOperationException("SumReal needs MaskingOptions.Quantizer.");
        if (bankInputs.Count != Banks) throw Error.Argument(nameof(bankInputs), $"Expected one vector per bank ({Banks}).");
        var quantized = new ulong[Banks][];
        var clipped = new int[Banks];
        for (int b = 0; b < Banks; b++)
        {
            ArgumentNullException.ThrowIfNull(bankInputs[b]);
            quantized[b] = q.Quantize(bankInputs[b], rng, out QuantizationReport report, clip);
            clipped[b] = report.Clipped;
        }
        SecureSumResult result = Sum(quantized, dropouts ?? DropoutPlan.None, cancellationToken);
        return (q.Decode(result.Sum), result, clipped);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _harness.Dispose();
        if (_ownsRng) _rng.Dispose();
    }
}
