using FraudFed.Learning.Data;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Gbdt;

public class FederatedGbdtTests
{
    private static readonly GbdtOptions Small = new() { Trees = 8, MaxDepth = 4, LearningRate = 0.3, MinChildCount = 10, MaxBins = 32 };

    private static LabeledRows[] Train => Scenarios.SmallBankData.Select(b => b.Train).ToArray();

    [Test]
    public void PlainSumRunEqualsPooledSingleSiteHistogramGbdtBitForBit()
    {
        var banks = Train;
        GbdtModel federated = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(banks), federated.Bins, federated.GradientScaleBits, Small);

        Assert.That(federated.Trees, Has.Count.EqualTo(Small.Trees));
        Assert.That(federated.Trees.Sum(t => t.Leaves), Is.GreaterThan(Small.Trees * 4), "trees should actually split");
        Assert.That(federated.BitwiseEquals(pooled), Is.True);
        for (int t = 0; t < Small.Trees; t++)
            Assert.That(federated.Trees[t].BitwiseEquals(pooled.Trees[t]), Is.True, $"tree {t}");
    }

    [Test]
    public void MaskedSecureSumRunEqualsPlainSumRunBitForBit()
    {
        var banks = Train;
        var masking = new MaskingTestSum(banks.Length, 40, seed: 11);
        GbdtModel plain = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 40));
        GbdtModel secure = new FederatedGbdtTrainer(Small).Train(banks, masking);

        Assert.That(masking.Calls, Is.GreaterThan(Small.Trees));
        Assert.That(secure.BitwiseEquals(plain), Is.True);
    }

    [Test]
    public void DifferentModulusGivesDifferentQuantizationButStillEqualsItsPooledReference()
    {
        var banks = Train;
        GbdtModel k32 = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 32));
        GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(banks), k32.Bins, k32.GradientScaleBits, Small);
        Assert.That(k32.BitwiseEquals(pooled), Is.True);
        GbdtModel k44 = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        Assert.That(k44.GradientScaleBits, Is.GreaterThan(k32.GradientScaleBits));
    }

    [Test]
    public void PredictorMatchesTrainingRoutingOfBins()
    {
        var banks = Train;
        GbdtModel model = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44));
        LabeledRows rows = banks[0];
        byte[] bins = model.Bins.BinRows(rows);
        GbdtTree tree = model.Trees[0];
        for (int i = 0; i < Math.Min(rows.Rows, 2000); i++)
        {
            int node = 0;
            while (node >= 0) node = bins[i * rows.Features + tree.SplitFeature[node]] <= tree.SplitBin[node] ? tree.Left[node] : tree.Right[node];
            Assert.That(tree.LeafOf(rows.Row(i)), Is.EqualTo(~node), $"row {i}");
        }
    }

    [Test]
    public void TooSmallModulusIsRejected()
    {
        var banks = Train;
        Assert.That(() => new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 20)), Throws.ArgumentException);
    }

    [Test]
    public void EmptyBankIsATypedErrorNamingTheBank()
    {
        var banks = Train.ToList();
        banks[1] = banks[1].Where(_ => false);
        var ex = Assert.Throws<DataFormatException>(() => new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Count, 44)));
        Assert.That(ex!.Bank, Is.EqualTo("1"));
        Assert.That(ex.Message, Does.Contain("Bank 1"));
    }

    [Test]
    public void InfiniteFeatureIsATypedErrorNamingColumnAndRow()
    {
        // NaN is a missing value (its own bin); an infinity is refused.
        var banks = Train;
        LabeledRows b0 = banks[0];
        var values = (float[])b0.Values.Clone();
        values[4 * b0.Features + 2] = float.NegativeInfinity;
        banks[0] = new LabeledRows(b0.FeatureNames, values, b0.Labels, b0.Times);
        var ex = Assert.Throws<DataFormatException>(() => new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, 44)));
        Assert.That(ex!.Column, Is.EqualTo(b0.FeatureNames[2]));
        Assert.That(ex.Row, Is.EqualTo(5));
    }
}
