// Federated logistic regression by FedAvg (McMahan et al. 2017, Algorithm 1) weighted by example counts,
// every exchange a secure sum. Setup: one secure sum of (rows, positives) and one of the public fine-grid
// counts (FeatureBins); each feature is standardized as z = (t(x) - mean) / std with t(x) = sign(x)log2(1+|x|)
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

/// <summary>Trains a <see cref="LogisticModel"/> by FedAvg over secure sums.</summary>
public sealed class FederatedLogisticTrainer
{
    private readonly LogisticOptions _options;

    /// <summary>Creates a trainer.</summary>
    public FederatedLogisticTrainer(LogisticOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains on one table per bank through <paramref name="secureSum"/>.</summary>
    public LogisticModel Train(IReadOnlyList<LabeledRows> banks, ISecureSum secureSum, Action<FederationProgress>? progress = null, CancellationToken cancellationToken = default)
        => Train(banks, new SumChannel(secureSum, progress), cancellationToken);

    /// <summary>Trains through an existing channel.</summary>
    public LogisticModel Train(IReadOnlyList<LabeledRows> banks, SumChannel channel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(channel);
        FederatedInput.Check(banks, channel.Banks);
        LogisticOptions o = _options;
        int f = banks[0].Features, bankCount = banks.Count;

        long[] counts = channel.SumSigned(banks.Select(b => new long[] { b.Rows, b.Positives }).ToArray(), "setup", 0, o.Rounds, -1, cancellationToken);
        long n = counts[0], positives = counts[1];
        FederatedInput.CheckLabels(positives, n);
        var fine = new long[bankCount][];
        BankParallel.For(bankCount, b => fine[b] = FeatureBins.FineCounts(banks[b]));
        long[] grid = channel.SumSigned(fine, "setup", 0, o.Rounds, -1, cancellationToken);
        var mean = new double[f];
        var std = new double[f];
        double width = 96.0 / FeatureBins.FineCells;
        for (int j = 0; j < f; j++)
        {
            double s1 = 0, s2 = 0;
            long present = 0;
            for (int c = 0; c < FeatureBins.FineCells; c++)
            {
                long k = grid[j * FeatureBins.FineCells + c];
                if (k == 0) continue;
                if (k < 0) throw new InvalidOperationException($"The secure sum of fine-grid counts decoded to a negative count for feature {j}; the sum is wrong (wrapped or tampered).");
                double t = -48.0 + (c + 0.5) * width;
                s1 += k * t;
                s2 += k * t * t;
                present += k;
            }
            if (present > n)
                throw new InvalidOperationException($"The secure sum of fine-grid counts decoded to {present} values for feature {j} but there are {n} rows; the sum is wrong (wrapped or tampered).");
            long m = Math.Max(1, present);
            mean[j] = s1 / m;
            std[j] = Math.Max(1e-3, Math.Sqrt(Math.Max(0, s2 / m - mean[j] * mean[j])));
        }

        int scale = channel.Bits - 2 - SumChannel.BitLength(n) - o.WeightBoundBits;
        if (scale < 6)
            throw new ArgumentException($"A {channel.Bits}-bit modulus leaves only {scale} fractional bits for averaged weights over {n} rows.", nameof(channel));
        double unit = Math.ScaleB(1.0, scale);
        double bound = Math.ScaleB(1.0, o.WeightBoundBits);

        var z = new double[bankCount][];
        BankParallel.For(bankCount, b =>
        {
            LabeledRows rows = banks[b];
            var zb = new double[rows.Rows * f];
            for (int i = 0; i < rows.Rows; i++)
                for (int j = 0; j < f; j++)
                {
                    float x = rows.Values[i * f + j];
                    zb[i * f + j] = float.IsNaN(x) ? 0.0 : (LogisticModel.Transform(x) - mean[j]) / std[j];
                }
            z[b] = zb;
        });

        var w = new double[f + 1];
        w[f] = Math.Log((double)positives / (n - positives));
        for (int r = 0; r < o.Rounds; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var submissions = new long[bankCount][];
            double[] global = w;
            BankParallel.For(bankCount, b =>
            {
                double[] local = LocalSteps(z[b], banks[b].Labels, f, global, o);
                var q = new long[f + 1];
                for (int j = 0; j <= f; j++)
                {
                    if (!double.IsFinite(local[j]) || Math.Abs(local[j]) >= bound)
                        throw new OverflowException($"Bank {b}'s weight {j} ({local[j]}) is outside the fixed-point bound 2^{o.WeightBoundBits}.");
                    q[j] = (long)Math.Round(local[j] * banks[b].Rows * unit, MidpointRounding.ToEven);
                }
                submissions[b] = q;
            });
            long[] sum = channel.SumSigned(submissions, "round", r + 1, o.Rounds, -1, cancellationToken);
            var next = new double[f + 1];
            for (int j = 0; j <= f; j++) next[j] = sum[j] / unit / n;
            w = next;
        }
        return new LogisticModel(banks[0].FeatureNames, mean, std, w, scale);
    }

    private static double[] LocalSteps(double[] z, bool[] labels, int f, double[] start, LogisticOptions o)
    {
        var w = (double[])start.Clone();
        var grad = new double[f + 1];
        int rows = labels.Length;
        for (int step = 0; step < o.LocalSteps; step++)
        {
            Array.Clear(grad);
            for (int i = 0; i < rows; i++)
            {
                int row = i * f;
                double s = w[f];
                for (int j = 0; j < f; j++) s += w[j] * z[row + j];
                double e = 1.0 / (1.0 + Math.Exp(-s)) - (labels[i] ? 1.0 : 0.0);
                for (int j = 0; j < f; j++) grad[j] += e * z[row + j];
                grad[f] += e;
            }
            for (int j = 0; j <= f; j++)
                w[j] -= o.LearningRate * (grad[j] / rows + (j < f ? o.L2 * w[j] : 0));
        }
        return w;
    }
}
