using FraudFed.Learning.Data;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Metrics;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Linear;

public class FederatedLogisticTests
{
    private static LabeledRows[] Train => Scenarios.SmallBankData.Select(b => b.Train).ToArray();

    [Test]
    public void MaskedRunEqualsPlainRunBitForBit()
    {
        var options = new LogisticOptions { Rounds = 6, LocalSteps = 3 };
        var banks = Train;
        LogisticModel plain = new FederatedLogisticTrainer(options).Train(banks, new PlainSum(banks.Length, 44));
        LogisticModel secure = new FederatedLogisticTrainer(options).Train(banks, new MaskingTestSum(banks.Length, 44, seed: 3));
        Assert.That(secure.BitwiseEquals(plain), Is.True);
    }

    [Test]
    public void OneLocalStepFedAvgMatchesPooledGradientDescentUpToFixedPointRounding()
    {
        // With one local step, the count-weighted average of bank updates is exactly one full-batch step on
        // the pooled rows; the only difference is rounding every averaged weight to 2^-S each round.
        var options = new LogisticOptions { Rounds = 5, LocalSteps = 1, LearningRate = 0.5 };
        var banks = Train;
        LogisticModel fed = new FederatedLogisticTrainer(options).Train(banks, new PlainSum(banks.Length, 44));
        LabeledRows pooled = LabeledRows.Concat(banks);
        int f = pooled.Features, n = pooled.Rows;
        var w = new double[f + 1];
        w[f] = Math.Log((double)pooled.Positives / (n - pooled.Positives));
        for (int r = 0; r < options.Rounds; r++)
        {
            var grad = new double[f + 1];
            for (int i = 0; i < n; i++)
            {
                double s = w[f];
                var z = new double[f];
                for (int j = 0; j < f; j++) { z[j] = (Math.Sign(pooled.Values[i * f + j]) * Math.Log2(1 + Math.Abs(pooled.Values[i * f + j])) - fed.Mean[j]) / fed.Std[j]; s += w[j] * z[j]; }
                double e = 1 / (1 + Math.Exp(-s)) - (pooled.Labels[i] ? 1 : 0);
                for (int j = 0; j < f; j++) grad[j] += e * z[j];
                grad[f] += e;
            }
            for (int j = 0; j <= f; j++) w[j] -= options.LearningRate * (grad[j] / n + (j < f ? options.L2 * w[j] : 0));
        }
        double tolerance = options.Rounds * 4 * Math.ScaleB(1.0, -fed.WeightScaleBits);
        for (int j = 0; j <= f; j++) Assert.That(fed.Weights[j], Is.EqualTo(w[j]).Within(tolerance), $"weight {j}");
        Assert.That(fed.Weights.Take(f).Any(x => Math.Abs(x) > 100 * tolerance), Is.True, "weights should move");
    }

    [Test]
    public void LearnsSomethingUseful()
    {
        var banks = Train;
        LogisticModel model = new FederatedLogisticTrainer(new LogisticOptions { Rounds = 15 }).Train(banks, new PlainSum(banks.Length, 44));
        LabeledRows test = LabeledRows.Concat(Scenarios.SmallBankData.Select(b => b.Test).ToArray());
        Assert.That(BinaryMetrics.RocAuc(model.PredictRaw(test), test.Labels), Is.GreaterThan(0.8));
    }
}
