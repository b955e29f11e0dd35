using FraudFed.Learning.Data;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Gbdt;

public class LightGbmExportTests
{
    [Test]
    public void ExportedModelScoresIdenticallyInLightGbmNativeLibrary()
    {
        var banks = Scenarios.SmallBankData.Select(b => b.Train).ToArray();
        var options = new GbdtOptions { Trees = 12, MaxDepth = 5, LearningRate = 0.2, MinChildCount = 10 };
        GbdtModel model = new FederatedGbdtTrainer(options).Train(banks, new PlainSum(banks.Length, 44));
        string text = LightGbmTextExport.ToLightGbmText(model);

        LabeledRows test = LabeledRows.Concat(Scenarios.SmallBankData.Select(b => b.Test).ToArray());
        double[] mine = model.PredictRaw(test);
        double[] matrix = test.Values.Select(v => (double)v).ToArray();
        double[] native = LightGbmNative.PredictRaw(text, matrix, test.Rows, test.Features, out int iterations);

        Assert.That(iterations, Is.EqualTo(options.Trees));
        Assert.That(mine.Distinct().Count(), Is.GreaterThan(20), "scores should vary");
        for (int i = 0; i < mine.Length; i++)
            Assert.That(native[i], Is.EqualTo(mine[i]).Within(1e-9 * Math.Max(1.0, Math.Abs(mine[i]))), $"row {i}");
    }

    [Test]
    public void SingleLeafTreesExportAndLoad()
    {
        // A model whose trees cannot split (min child count larger than the data) is still valid LightGBM.
        var banks = Scenarios.SmallBankData.Select(b => b.Train).ToArray();
        var options = new GbdtOptions { Trees = 2, MaxDepth = 3, MinChildCount = 1_000_000 };
        GbdtModel model = new FederatedGbdtTrainer(options).Train(banks, new PlainSum(banks.Length, 44));
        Assert.That(model.Trees.All(t => t.Leaves == 1), Is.True);
        LabeledRows rows = banks[0];
        double[] native = LightGbmNative.PredictRaw(LightGbmTextExport.ToLightGbmText(model), rows.Values.Take(rows.Features * 3).Select(v => (double)v).ToArray(), 3, rows.Features, out _);
        Assert.That(native[0], Is.EqualTo(model.PredictRaw(rows.Row(0))).Within(1e-12));
    }
}
