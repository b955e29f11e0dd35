// The coordinator side of party-split FedAvg logistic regression (protocols/SPEC.md 14.4; McMahan et al. 2017,
// Algorithm 1, weighted by example counts). It sees only sums mod 2^k and sends only broadcasts:
//   setup 1  TrainingSetupRequest(Counts)    -> [N, P]; initial bias log(P/(N-P))
//   setup 2  TrainingSetupRequest(FineGrid)  -> per feature, mean and std of t(x) = sign(x)log2(1+|x|) from the summed
//            fine grid (cell midpoints); S = k - 2 - bits(N) - WeightBoundBits fractional bits for the weights
//   start    LogisticTrainingStart(mean, std, S)  -> no sum
//   round r  LogisticRoundRequest(r, w)      -> sum of round(n_b * w_b * 2^S); the global weights are sum / (N * 2^S)
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;

namespace FraudFed.Learning.Linear;

/// <summary>The coordinator of federated logistic regression: the public transform, the average and the model (SPEC.md 14.4).</summary>
public sealed class LogisticCoordinator : TrainingCoordinator<LogisticModel>
{
    private enum Phase { FineGrid, Start, Round }

    private readonly LogisticOptions _options;
    private Phase _phase = Phase.FineGrid;
    private double[] _mean = [], _std = [], _w = [];
    private int _scale, _round;

    /// <summary>A coordinator for banks whose rows have columns <paramref name="featureNames"/>, summing mod 2^<paramref name="modulusBits"/>.</summary>
    /// <param name="options">The public FedAvg settings.</param>
    /// <param name="featureNames">The public schema: column names in order.</param>
    /// <param name="modulusBits">k of the secure sum (16..64).</param>
    /// <exception cref="ArgumentException">invalid options, no feature, or k outside 16..64.</exception>
    public LogisticCoordinator(LogisticOptions options, IReadOnlyList<string> featureNames, int modulusBits)
        : base(featureNames, modulusBits, (options ?? throw new ArgumentNullException(nameof(options))).Rounds)
    {
        options.Validate();
        _options = options;
    }

    private protected override void OnCounts(long positives)
    {
        int f = FeatureNames.Count;
        _w = new double[f + 1];
        _w[f] = Math.Log((double)positives / (Rows - positives));
    }

    /// <exception cref="ArgumentException">k leaves fewer than 6 fractional bits for the averaged weights over N rows.</exception>
    private protected override void Step(ReadOnlySpan<ulong> sum)
    {
        LogisticOptions o = _options;
        int f = FeatureNames.Count;
        switch (_phase)
        {
            case Phase.FineGrid:
                TakeGrid(Codec.Decode(sum), f);
                _phase = Phase.Start;
                Set(new LogisticTrainingStart((double[])_mean.Clone(), (double[])_std.Clone(), _scale, o.Rounds), 0, Label);
                break;
            case Phase.Start:
                _round = 1;
                _phase = Phase.Round;
                Set(new LogisticRoundRequest(1, (double[])_w.Clone()), f + 1, new SumLabel("round", 1, o.Rounds, -1));
                break;
            case Phase.Round:
            {
                double unit = Math.ScaleB(1.0, _scale);
                var next = new double[f + 1];
                for (int j = 0; j <= f; j++) next[j] = Codec.Decode(sum[j]) / unit / Rows;
                _w = next;
                if (_round < o.Rounds)
                {
                    _round++;
                    Set(new LogisticRoundRequest(_round, (double[])_w.Clone()), f + 1, new SumLabel("round", _round, o.Rounds, -1));
                }
                else Complete(new LogisticModel(FeatureNames, _mean, _std, _w, _scale));
                break;
            }
        }
    }

    private void TakeGrid(long[] grid, int f)
    {
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
            if (present > Rows)
                throw new InvalidOperationException($"The secure sum of fine-grid counts decoded to {present} values for feature {j} but there are {Rows} rows; the sum is wrong (wrapped or tampered).");
            long m = Math.Max(1, present);
            mean[j] = s1 / m;
            std[j] = Math.Max(1e-3, Math.Sqrt(Math.Max(0, s2 / m - mean[j] * mean[j])));
        }
        int scale = Codec.Bits - 2 - SumChannel.BitLength(Rows) - _options.WeightBoundBits;
        if (scale < 6)
            throw new ArgumentException($"A {Codec.Bits}-bit modulus leaves only {scale} fractional bits for averaged weights over {Rows} rows.", "modulusBits");
        _mean = mean;
        _std = std;
        _scale = scale;
    }
}
