// ISecureSum over the masking protocol (SecAgg / SecAgg+), in process. One instance = one session: the setup
// (AdvertiseKeys with graph-seed commitments, KeyRoster, GraphSeedReveal, GraphSeedRoster) runs once on the first
// Sum, and every Sum is a new round whose seeds are derived per round (SPEC.md 2). The sparse graph's
// degree and threshold come from SecAggPlusParameters and its seed from the banks' commit-then-reveal, so it is new
// in every session and unknown before it. Randomness: a CSPRNG unless the options inject one (tests and vectors).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Quantization;

namespace FraudFed.Protocol.Harness;

/// <summary>Options of <see cref="MaskingSecureSum"/>. Every default meets the declared collusion bound (SPEC.md section 11).</summary>
public sealed record MaskingOptions
{
    /// <summary>Per-neighbourhood Shamir threshold t. Default: floor(2n/3) + 1 for the complete graph; for the sparse graph the
    /// <see cref="SecAggPlusParameters"/> choice, or with an explicit <see cref="Degree"/> the least t that meets the bound.</summary>
    public int? Threshold { get; init; }
    /// <summary>Use the SecAgg+ sparse graph when <see cref="SecAggPlusParameters"/> finds a degree below n - 1 (default: the complete SecAgg graph).</summary>
    public bool Sparse { get; init; }
    /// <summary>Sparse degree (even); default chosen by <see cref="SecAggPlusParameters.ChooseFor"/>.</summary>
    public int? Degree { get; init; }
    /// <summary>Minimum survivors M at every stage; default max(t, floor((n + c)/2) + 1).</summary>
    public int? MinimumSurvivors { get; init; }
    /// <summary>c: banks that may collude with the aggregator; default ceil(n/3) - 1 (<see cref="MaskingParameters.DefaultMaxColluders"/>).</summary>
    public int? MaxColluders { get; init; }
    /// <summary>delta for the sparse choice: the fraction of banks expected to drop out; default <see cref="SecAggPlusParameters.DefaultDropoutFraction"/>.</summary>
    public double? DropoutFraction { get; init; }
    /// <summary>sigma: sparse-graph failures at most 2^-sigma; default 40.</summary>
    public int? SecurityBits { get; init; }
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
    /// <exception cref="ArgumentOutOfRangeException">Fewer than 3 banks, k outside 1..64, or an option outside its range.</exception>
    /// <exception cref="ProtocolViolationException"><see cref="ViolationReason.InsecureParameters"/> when the options do not meet the
    /// declared collusion bound (SPEC.md section 11), or no SecAgg+ parameters exist for them.</exception>
    public MaskingSecureSum(int banks, int modulusBits, MaskingOptions? options = null)
    {
        if (banks < 3) throw Error.OutOfRange(nameof(banks), "Masking needs at least 3 banks.");
        if (modulusBits is < 1 or > 64) throw Error.OutOfRange(nameof(modulusBits), "k must be in 1..64.");
        _options = options ?? new MaskingOptions();
        _options.Quantizer?.EnsureExact(banks);
        if (_options.Quantizer is { } q && q.ModulusBits != modulusBits) throw Error.Argument(nameof(options), "The quantizer's k differs from the sum's k.");
        _ownsRng = _options.Random is null;
        _rng = _options.Random ?? RandomNumberGenerator.Create();
        byte[] session = _options.SessionId ?? RandomSession(_rng);
        Parameters = ChooseParameters(session, banks, modulusBits, _options);
        _harness = new MaskingHarness(Parameters, _rng);
    }

    /// <summary>The session's parameters from the options (see <see cref="MaskingOptions"/> for the defaults).</summary>
    private static MaskingParameters ChooseParameters(byte[] session, int n, int bits, MaskingOptions o)
    {
        int c = o.MaxColluders ?? MaskingParameters.DefaultMaxColluders(n);
        int sigma = o.SecurityBits ?? MaskingParameters.DefaultSecurityBits;
        if (!o.Sparse)
        {
            // floor(2n/3) + 1 meets the bound at the default c; a larger declared c may need more.
            int complete = o.Threshold ?? Math.Min(n, Math.Max(2 * n / 3 + 1, SecAggPlusParameters.LeastThreshold(n, n - 1, c, o.MinimumSurvivors, sigma)));
            return new MaskingParameters(session, n, complete, bits, null, o.MinimumSurvivors, c, sigma);
        }
        SecAggPlusParameters? choice = o.Degree is null
            ? SecAggPlusParameters.ChooseFor(n, c, SecAggPlusParameters.DropoutsFor(n, o.DropoutFraction ?? SecAggPlusParameters.DefaultDropoutFraction), sigma)
            : null;
        if (choice is not null && o.Threshold is null && o.MinimumSurvivors is null)
            return MaskingParameters.FromChoice(session, bits, choice);
        int k = o.Degree ?? choice!.Degree;
        int t = o.Threshold ?? (choice is not null ? choice.Threshold : SecAggPlusParameters.LeastThreshold(n, k, c, o.MinimumSurvivors, sigma));
        return new MaskingParameters(session, n, t, bits, k, o.MinimumSurvivors, c, sigma);
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
        // Every bank that began the round is sent the sum (the appliance's SumResult, SPEC.md 14.5: each value in ceil(k / 8)
        // bytes): counted as downloaded, as a homomorphic sum's result is.
        long recipients = _harness.InSession.Count(id => dropouts[id] != DropoutStage.BeforeShareKeys);
        RoundReport report = _harness.RunRound(bankInputs, dropouts, cancellationToken);
        LastRound = report;
        long sumBytes = recipients * report.Sum.Length * (long)((ModulusBits + 7) / 8);
        return new SecureSumResult(report.Sum, report.Contributors, report.BytesUploaded, report.BytesDownloaded + sumBytes);
    }

    /// <summary>
    /// Quantizes each bank's real vector with the configured <see cref="MaskingOptions.Quantizer"/> (stochastic
    /// rounding from <paramref name="rng"/>), sums securely, and decodes the signed sum back to reals.
    /// </summary>
    /// <param name="bankInputs">One real vector per bank (absent banks' vectors are ignored).</param>
    /// <param name="rng">Randomness for stochastic rounding (each bank would use its own in deployment).</param>
    /// <param name="dropouts">Dropouts for this round (default none).</param>
    /// <param name="clip">Clamp values outside the clip bound instead of throwing.</param>
    /// <param name="cancellationToken">Cancels the round between protocol steps.</param>
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
