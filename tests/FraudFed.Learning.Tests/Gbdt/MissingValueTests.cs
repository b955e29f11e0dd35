using FraudFed.Learning.Data;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Gbdt;

/// <summary>Missing values (NaN) as their own bin with a learned default side (LightGBM's missing_type=NaN).</summary>
public class MissingValueTests
{
    private static readonly GbdtOptions Small = new() { Trees = 8, MaxDepth = 4, LearningRate = 0.3, MinChildCount = 10, MaxBins = 32 };

    /// <summary>
    /// The small scenario with holes: feature 0 is missing on most fraud rows and few legitimate ones (missingness is
    /// informative), feature 1 on a random 20% of rows, and every other feature is complete.
    /// </summary>
    private static LabeledRows WithHoles(LabeledRows rows, int seed)
    {
        var rng = new Random(seed);
        var values = (float[])rows.Values.Clone();
        int f = rows.Features;
        for (int i = 0; i < rows.Rows; i++)
        {
            if (rng.NextDouble() < (rows.Labels[i] ? 0.7 : 0.05)) values[i * f] = float.NaN;
            if (rng.NextDouble() < 0.2) values[i * f + 1] = float.NaN;
        }
        return new LabeledRows(rows.FeatureNames, values, rows.Labels, rows.Times);
    }

    private static LabeledRows[] Train => Scenarios.SmallBankData.Select((b, i) => WithHoles(b.Train, 10 + i)).ToArray();

    [Test]
    public void FederatedRunThroughMaskedSumEqualsPooledSingleSiteModelTreeForTree()
    {
        LabeledRows[] banks = Train;
        GbdtModel federated = new FederatedGbdtTrainer(Small).Train(banks, new MaskingTestSum(banks.Length, 44, seed: 3));
        GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(banks), federated.Bins, federated.GradientScaleBits, Small);

        Assert.That(federated.Bins.HasMissing.Take(3), Is.EqualTo(new[] { true, true, false }));
        Assert.That(federated.Bins.HasMissing.Skip(2), Has.None.True, "complete features get no missing bin");
        for (int t = 0; t < Small.Trees; t++)
            Assert.That(federated.Trees[t].BitwiseEquals(pooled.Trees[t]), Is.True, $"tree {t}");
        Assert.That(federated.BitwiseEquals(pooled), Is.True);
        // Both default sides occur, so the equality covers the learned direction, not just one constant.
        bool[] sides = federated.Trees.SelectMany(t => t.DefaultLeft).Distinct().ToArray();
        Assert.That(sides, Has.Length.EqualTo(2));
    }

    [Test]
    public void InformativeMissingnessIsLearned()
    {
        LabeledRows[] banks = Train;
        GbdtModel model = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        Assert.That(model.Trees.SelectMany(t => t.SplitFeature), Does.Contain(0), "feature 0 is split on");
        LabeledRows test = WithHoles(LabeledRows.Concat(Scenarios.SmallBankData.Select(b => b.Test).ToArray()), 99);
        double[] scores = model.PredictRaw(test);
        double meanMissing = Enumerable.Range(0, test.Rows).Where(i => float.IsNaN(test.Row(i)[0])).Average(i => scores[i]);
        double meanPresent = Enumerable.Range(0, test.Rows).Where(i => !float.IsNaN(test.Row(i)[0])).Average(i => scores[i]);
        Assert.That(meanMissing, Is.GreaterThan(meanPresent + 1.0), "rows missing feature 0 are mostly fraud");
    }

    [Test]
    public void PredictorRoutesMissingValuesLikeTrainingBins()
    {
        LabeledRows[] banks = Train;
        GbdtModel model = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        LabeledRows rows = banks[0];
        byte[] bins = model.Bins.BinRows(rows);
        int checkedMissing = 0;
        foreach (GbdtTree tree in model.Trees)
            for (int i = 0; i < rows.Rows; i++)
            {
                int node = 0;
                while (node >= 0)
                {
                    int f = tree.SplitFeature[node];
                    int b = bins[i * rows.Features + f];
                    bool left = b == model.Bins.MissingBin(f) ? tree.DefaultLeft[node] : b <= tree.SplitBin[node];
                    if (b == model.Bins.MissingBin(f)) checkedMissing++;
                    node = left ? tree.Left[node] : tree.Right[node];
                }
                Assert.That(tree.LeafOf(rows.Row(i)), Is.EqualTo(~node), $"row {i}");
            }
        Assert.That(checkedMissing, Is.GreaterThan(100));
    }

    [Test]
    public void ExportWithMissingValuesScoresIdenticallyInLightGbm()
    {
        LabeledRows[] banks = Train;
        GbdtModel model = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        string text = LightGbmTextExport.ToLightGbmText(model);

        LabeledRows test = WithHoles(LabeledRows.Concat(Scenarios.SmallBankData.Select(b => b.Test).ToArray()), 5);
        double[] mine = model.PredictRaw(test);
        double[] native = LightGbmNative.PredictRaw(text, test.Values.Select(v => (double)v).ToArray(), test.Rows, test.Features, out _);
        Assert.That(test.Values.Count(float.IsNaN), Is.GreaterThan(500));
        for (int i = 0; i < mine.Length; i++)
            Assert.That(native[i], Is.EqualTo(mine[i]).Within(1e-9 * Math.Max(1.0, Math.Abs(mine[i]))), $"row {i}");
    }

    [Test]
    public void SplitOfPresentFromMissingUsesTheLargestFloatAsThreshold()
    {
        // Feature 0 is missing exactly on the fraud rows: the best first split is "present left, missing right".
        LabeledRows[] banks = Scenarios.SmallBankData.Select(b =>
        {
            var values = (float[])b.Train.Values.Clone();
            for (int i = 0; i < b.Train.Rows; i++) if (b.Train.Labels[i]) values[i * b.Train.Features] = float.NaN;
            return new LabeledRows(b.Train.FeatureNames, values, b.Train.Labels, b.Train.Times);
        }).ToArray();
        var options = Small with { Trees = 1, MaxDepth = 1 };
        GbdtModel model = new FederatedGbdtTrainer(options).Train(banks, new PlainSum(banks.Length, 44));
        GbdtTree tree = model.Trees[0];
        Assert.That(tree.SplitFeature[0], Is.EqualTo(0));
        Assert.That(tree.DefaultLeft[0], Is.False);
        Assert.That(tree.Threshold[0], Is.EqualTo((double)float.MaxValue));
        Assert.That(tree.LeafCount[~tree.Right[0]], Is.EqualTo(banks.Sum(b => b.Positives)));

        string text = LightGbmTextExport.ToLightGbmText(model);
        var probe = new double[banks[0].Features];
        probe[0] = float.MaxValue;
        double present = LightGbmNative.PredictRaw(text, probe, 1, probe.Length, out _)[0];
        probe[0] = double.NaN;
        double missing = LightGbmNative.PredictRaw(text, probe, 1, probe.Length, out _)[0];
        Assert.That(missing, Is.GreaterThan(present), "LightGBM sends NaN right and the largest float left");
    }

    [Test]
    public void InfinityIsRefusedButNaNIsMissing()
    {
        LabeledRows b0 = Train[0];
        Assert.That(() => FeatureBins.FineCounts(b0), Throws.Nothing);
        var values = (float[])b0.Values.Clone();
        values[3 * b0.Features + 4] = float.PositiveInfinity;
        var ex = Assert.Throws<DataFormatException>(() => FeatureBins.FineCounts(new LabeledRows(b0.FeatureNames, values, b0.Labels, b0.Times)));
        Assert.That(ex!.Row, Is.EqualTo(4));
        Assert.That(ex.Column, Is.EqualTo(b0.FeatureNames[4]));
    }
}
