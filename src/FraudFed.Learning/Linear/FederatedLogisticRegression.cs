// Federated logistic regression by FedAvg (McMahan et al. 2017, Algorithm 1) weighted by example counts,
// every exchange a secure sum of the bank parties' answers (LogisticBankParty, LogisticCoordinator; SPEC.md 14.4).
// Setup: one secure sum of (rows, positives) and one of the public fine-grid counts (FeatureBins); each feature is standardized as z = (t(x) - mean) / std with t(x) = sign(x)log2(1+|x|)
// and mean/std taken from the summed grid (cell midpoints), so banks share one public transform. A missing
// value (NaN) is not on the grid and enters as z = 0, the global mean of its feature (mean imputation).
// Round r: every bank starts from the global weights, takes LocalSteps full-batch gradient steps on its
// rows, and submits round(n_b * w_b * 2^S) per weight (S = k - 2 - bits(N) - WeightBoundBits, rounding
// half to even); the global model is the summed vector / (N * 2^S). A local weight with magnitude
// >= 2^WeightBoundBits is an OverflowException (never clipped).
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Protocol;

namespace FraudFed.Learning.Linear;

/// <summary>FedAvg settings.</summary>
public sealed record LogisticOptions
{
    /// <summary>Communication rounds.</summary>
    public int Rounds { get; init; } = 30;
    /// <summary>Local full-batch gradient steps per round.</summary>
    public int LocalSteps { get; init; } = 5;
    /// <summary>Step size.</summary>
    public double LearningRate { get; init; } = 0.5;
    /// <summary>L2 penalty.</summary>
    public double L2 { get; init; } = 1e-4;
    /// <summary>Weights must stay below 2^WeightBoundBits in magnitude.</summary>
    public int WeightBoundBits { get; init; } = 8;

    /// <summary>Throws <see cref="ArgumentException"/> on an invalid setting.</summary>
    public void Validate()
    {
        if (Rounds < 1) throw new ArgumentException("Rounds must be >= 1.", nameof(Rounds));
        if (LocalSteps < 1) throw new ArgumentException("LocalSteps must be >= 1.", nameof(LocalSteps));
        if (!(LearningRate > 0)) throw new ArgumentException("LearningRate must be > 0.", nameof(LearningRate));
        if (!(L2 >= 0)) throw new ArgumentException("L2 must be >= 0.", nameof(L2));
        if (WeightBoundBits is < 1 or > 20) throw new ArgumentException("WeightBoundBits must be in 1..20.", nameof(WeightBoundBits));
    }
}

/// <summary>A logistic model on standardized signed-log features.</summary>
public sealed class LogisticModel
{
    internal LogisticModel(IReadOnlyList<string> names, double[] mean, double[] std, double[] weights, int scaleBits)
    {
        FeatureNames = names;
        Mean = mean;
        Std = std;
        Weights = weights;
        WeightScaleBits = scaleBits;
    }

    /// <summary>
    /// A model from its parts, e.g. read back from a file a bank wrote; <see cref="BitwiseEquals"/> then tells whether it is
    /// the model a training run produced.
    /// </summary>
    /// <param name="featureNames">Feature names (F of them).</param>
    /// <param name="mean">Mean of t(x) per feature (F values).</param>
    /// <param name="std">Standard deviation of t(x) per feature (F positive values).</param>
    /// <param name="weights">Weights per feature, then the bias (F + 1 values).</param>
    /// <param name="weightScaleBits">Fixed-point scale of the averaged weights (0..62).</param>
    /// <exception cref="ArgumentException">lengths that do not match F, a value that is not finite, a standard deviation that is not positive, or a scale outside 0..62.</exception>
    public static LogisticModel FromParts(IReadOnlyList<string> featureNames, double[] mean, double[] std, double[] weights, int weightScaleBits)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        ArgumentNullException.ThrowIfNull(weights);
        int f = featureNames.Count;
        if (f == 0) throw new ArgumentException("At least one feature is needed.", nameof(featureNames));
        if (mean.Length != f || std.Length != f) throw new ArgumentException($"mean and std need {f} values each (got {mean.Length} and {std.Length}).", nameof(mean));
        if (weights.Length != f + 1) throw new ArgumentException($"weights need {f + 1} values (the features, then the bias; got {weights.Length}).", nameof(weights));
        if (!mean.All(double.IsFinite) || !weights.All(double.IsFinite)) throw new ArgumentException("mean and weights must be finite.", nameof(weights));
        if (!std.All(s => double.IsFinite(s) && s > 0)) throw new ArgumentException("std must be finite and positive.", nameof(std));
        if (weightScaleBits is < 0 or > 62) throw new ArgumentException($"weightScaleBits must be in 0..62 (got {weightScaleBits}).", nameof(weightScaleBits));
        return new LogisticModel(featureNames.ToArray(), (double[])mean.Clone(), (double[])std.Clone(), (double[])weights.Clone(), weightScaleBits);
    }

    /// <summary>Feature names.</summary>
    public IReadOnlyList<string> FeatureNames { get; }
    /// <summary>Mean of t(x) per feature.</summary>
    public double[] Mean { get; }
    /// <summary>Standard deviation of t(x) per feature.</summary>
    public double[] Std { get; }
    /// <summary>Weights per feature, then the bias last.</summary>
    public double[] Weights { get; }
    /// <summary>Fixed-point scale of the averaged weights.</summary>
    public int WeightScaleBits { get; }

    internal static double Transform(double x) => Math.Sign(x) * Math.Log2(1.0 + Math.Abs(x));

    /// <summary>z of value <paramref name="x"/> of feature <paramref name="j"/>; a missing value (NaN) is 0, the mean.</summary>
    internal double Standardize(float x, int j) => float.IsNaN(x) ? 0.0 : (Transform(x) - Mean[j]) / Std[j];

    /// <summary>Raw score (log-odds) of one row.</summary>
    public double PredictRaw(ReadOnlySpan<float> row)
    {
        int f = FeatureNames.Count;
        double s = Weights[f];
        for (int j = 0; j < f; j++) s += Weights[j] * Standardize(row[j], j);
        return s;
    }

    /// <summary>Raw scores of every row.</summary>
    public double[] PredictRaw(LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var r = new double[rows.Rows];
        for (int i = 0; i < r.Length; i++) r[i] = PredictRaw(rows.Row(i));
        return r;
    }

    /// <summary>True if both models are identical bit for bit.</summary>
    public bool BitwiseEquals(LogisticModel other)
    {
        ArgumentNullException.ThrowIfNull(other);
        static bool Same(double[] a, double[] b) => a.Length == b.Length && a.Select(BitConverter.DoubleToInt64Bits).SequenceEqual(b.Select(BitConverter.DoubleToInt64Bits));
        return Same(Mean, other.Mean) && Same(Std, other.Std) && Same(Weights, other.Weights);
    }
}

/// <summary>Trains a <see cref="LogisticModel"/> by FedAvg over secure sums, all banks held in one process: a thin wrapper
/// that wires one <see cref="LogisticBankParty"/> per bank and one <see cref="LogisticCoordinator"/> (SPEC.md 14.4).</summary>
public sealed class FederatedLogisticTrainer
{
    private readonly LogisticOptions _options;

    /// <summary>Creates a trainer.</summary>
    /// <exception cref="ArgumentException">invalid options.</exception>
    public FederatedLogisticTrainer(LogisticOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains on one table per bank through <paramref name="secureSum"/>.</summary>
    /// <exception cref="SumWrapException">a sum could wrap around 2^k.</exception>
    /// <exception cref="OverflowException">a bank's local weight reached 2^WeightBoundBits.</exception>
    public LogisticModel Train(IReadOnlyList<LabeledRows> banks, ISecureSum secureSum, Action<FederationProgress>? progress = null, CancellationToken cancellationToken = default)
        => Train(banks, new SumChannel(secureSum, progress), cancellationToken);

    /// <summary>Trains through an existing channel: N bank parties, one coordinator.</summary>
    /// <exception cref="SumWrapException">a sum could wrap around 2^k.</exception>
    /// <exception cref="OverflowException">a bank's local weight reached 2^WeightBoundBits.</exception>
    public LogisticModel Train(IReadOnlyList<LabeledRows> banks, SumChannel channel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(channel);
        FederatedInput.Check(banks, channel.Banks);
        var parties = banks.Select(rows => (ITrainingBankParty)new LogisticBankParty(rows, _options, channel.Bits)).ToArray();
        var coordinator = new LogisticCoordinator(_options, banks[0].FeatureNames, channel.Bits);
        return TrainingRun.Run(coordinator, parties, channel.SumResidues, cancellationToken);
    }
}
