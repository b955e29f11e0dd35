using FraudFed.Learning.Data;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Tests.Support;
using FraudFed.Testing;

namespace FraudFed.Learning.Tests.Gbdt;

/// <summary>The federated GBDT on a generated IEEE-CIS-like file: missing values and hashed categories, still the pooled model.</summary>
public class CsvFederatedGbdtTests
{
    private static readonly Lazy<CsvTable> Ieee = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), "fraudfed-ieee-" + Guid.NewGuid().ToString("N") + ".csv");
        try
        {
            var style = new CsvStyle(Crlf: true, AwkwardText: true);
            PublicSchemaFiles.Write(path, PublicSchemaFiles.IeeeCis(4000, seed: 21, style), style);
            return CsvDatasetLoader.Load(path, CsvSchema.IeeeCis);
        }
        finally { File.Delete(path); }
    });

    [Test]
    public void FederatedGbdtOnIeeeCisLikeFileEqualsPooledSingleSiteModelTreeForTree()
    {
        CsvTable table = Ieee.Value;
        IReadOnlyList<BankData> banks = BankSplitter.ByDirichlet(table.Rows, banks: 3, alpha: 10, seed: 4);
        LabeledRows[] train = banks.Select(b => b.Train).ToArray();
        var options = new GbdtOptions { Trees = 6, MaxDepth = 4, LearningRate = 0.3, MinChildCount = 10, MaxBins = 64 };

        GbdtModel federated = new FederatedGbdtTrainer(options).Train(train, new MaskingTestSum(train.Length, 44, seed: 8));
        GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(train), federated.Bins, federated.GradientScaleBits, options);

        for (int t = 0; t < options.Trees; t++)
            Assert.That(federated.Trees[t].BitwiseEquals(pooled.Trees[t]), Is.True, $"tree {t}");
        Assert.That(federated.BitwiseEquals(pooled), Is.True);

        // The equality covers what this file is about: splits on features with missing values, and on hashed categories.
        IReadOnlyList<string> names = federated.FeatureNames;
        string[] splitOn = federated.Trees.SelectMany(t => t.SplitFeature).Select(f => names[f]).Distinct().ToArray();
        Assert.That(splitOn.Where(n => federated.Bins.HasMissing[names.ToList().IndexOf(n)]), Is.Not.Empty, "a split on a feature with missing values");
        Assert.That(splitOn.Intersect(table.Source!.Categorical), Is.Not.Empty, "a split on a categorical feature");
        Assert.That(federated.Bins.HasMissing.Count(m => m), Is.GreaterThan(250), "D*, M*, two V* in three, dist*, addr*, e-mail domains have holes");
    }

    [Test]
    public void ExportOfTheIeeeCisModelScoresIdenticallyInLightGbm()
    {
        CsvTable table = Ieee.Value;
        IReadOnlyList<BankData> banks = BankSplitter.ByDirichlet(table.Rows, banks: 3, alpha: 10, seed: 4);
        var options = new GbdtOptions { Trees = 5, MaxDepth = 4, LearningRate = 0.3, MinChildCount = 10 };
        GbdtModel model = new FederatedGbdtTrainer(options).Train(banks.Select(b => b.Train).ToArray(), new FraudFed.Protocol.PlainSum(3, 44));
        LabeledRows test = LabeledRows.Concat(banks.Select(b => b.Test).ToArray());
        double[] mine = model.PredictRaw(test);
        double[] native = LightGbmNative.PredictRaw(LightGbmTextExport.ToLightGbmText(model), test.Values.Select(v => (double)v).ToArray(), test.Rows, test.Features, out _);
        Assert.That(mine.Distinct().Count(), Is.GreaterThan(10));
        for (int i = 0; i < mine.Length; i++)
            Assert.That(native[i], Is.EqualTo(mine[i]).Within(1e-9 * Math.Max(1.0, Math.Abs(mine[i]))), $"row {i}");
    }
}
