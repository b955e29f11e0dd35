using FraudFed.Cryptography.Rlwe;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;

namespace FraudFed.Learning.Tests.Federation;

/// <summary>Sums that could wrap around 2^k are refused before they run, in every mode (SumChannel, SignedSumRange).</summary>
public class SumWrapTests
{
    [Test]
    public void TwoBanksAt16384_OverK16_AreRefused_NotDecodedAsMinus32768()
    {
        var channel = new SumChannel(new PlainSum(2, 16));
        var ex = Assert.Throws<SumWrapException>(() => channel.SumSigned([[16384], [16384]], "test", 1, 1, -1));
        Assert.That(ex!.ModulusBits, Is.EqualTo(16));
        Assert.That(ex.RequiredBits, Is.EqualTo(17));
        Assert.That(ex.Message, Does.Contain("2^16").And.Contain("17 bits"));
        Assert.That(channel.Sums, Is.Zero, "nothing was summed");
        // The largest sum that fits, and mixed signs whose |values| add up to the limit, are exact.
        Assert.That(channel.SumSigned([[16383, -16383], [16384, -16384]], "test", 1, 1, -1), Is.EqualTo(new long[] { 32767, -32767 }));
        Assert.Throws<SumWrapException>(() => channel.SumSigned([[-16384], [-16385]], "test", 1, 1, -1));
    }

    [Test]
    public void SignedSumRange_IsExactAtTheBoundary_ForEveryWidth()
    {
        foreach (int k in new[] { 2, 16, 33, 63, 64 })
        {
            long limit = k == 64 ? long.MaxValue : (1L << (k - 1)) - 1;
            Assert.DoesNotThrow(() => SignedSumRange.EnsureNoWrap([[limit / 2], [limit - limit / 2]], k), $"k={k}");
            Assert.Throws<SumWrapException>(() => SignedSumRange.EnsureNoWrap([[limit / 2 + 1], [limit - limit / 2]], k), $"k={k}");
            Assert.DoesNotThrow(() => SignedSumRange.EnsureNoWrap(3, limit / 3, k));
            Assert.Throws<SumWrapException>(() => SignedSumRange.EnsureNoWrap(3, limit / 3 + 1, k));
        }
        Assert.Throws<SumWrapException>(() => SignedSumRange.EnsureNoWrap([[long.MinValue], [0]], 64), "|long.MinValue| = 2^63 does not fit");
    }

    private static LabeledRows[] Banks(int banks, int rowsPerBank)
    {
        var rnd = new Random(5);
        return Enumerable.Range(0, banks).Select(b =>
        {
            var values = new float[rowsPerBank * 2];
            var labels = new bool[rowsPerBank];
            for (int i = 0; i < rowsPerBank; i++)
            {
                labels[i] = rnd.NextDouble() < 0.05;
                values[2 * i] = (float)(rnd.NextDouble() + (labels[i] ? 0.8 : 0.0));
                values[2 * i + 1] = (float)rnd.NextDouble();
            }
            return new LabeledRows(["x", "y"], values, labels, new long[rowsPerBank]);
        }).ToArray();
    }

    private static IEnumerable<TestCaseData> Modes()
    {
        Func<int, int, ISecureSum> plain = (n, k) => new PlainSum(n, k);
        Func<int, int, ISecureSum> masking = (n, k) => new MaskingSecureSum(n, k);
        Func<int, int, ISecureSum> he = (n, k) => HomomorphicSecureSum.SeededForTestsOnly(n, k, new HomomorphicOptions { Parameters = InsecureTestParameters.N256 }, [9]);
        // 2 x 16,384 = 32,768 rows, and 3 x 10,923 = 32,769 rows (masking needs three banks): one past 2^15 - 1.
        yield return new TestCaseData(plain, 2, 16_384).SetName("Wrap/plain/banks=2");
        yield return new TestCaseData(he, 2, 16_384).SetName("Wrap/he/banks=2");
        yield return new TestCaseData(masking, 3, 10_923).SetName("Wrap/masking/banks=3");
        yield return new TestCaseData(he, 3, 10_923).SetName("Wrap/he/banks=3");
    }

    [TestCaseSource(nameof(Modes))]
    public void Gbdt_RowCountPast2To15_AtK16_IsRefusedBeforeTraining_AndTrainsAtK32(Func<int, int, ISecureSum> make, int bankCount, int rowsPerBank)
    {
        LabeledRows[] banks = Banks(bankCount, rowsPerBank);
        var options = new GbdtOptions { Trees = 2, MaxDepth = 2, MinChildCount = 10, MaxBins = 16 };
        ISecureSum k16 = make(bankCount, 16);
        try
        {
            var ex = Assert.Throws<SumWrapException>(() => new FederatedGbdtTrainer(options).Train(banks, k16));
            Assert.That(ex!.RequiredBits, Is.EqualTo(17), "more than 32,767 rows need 17 signed bits");
        }
        finally { (k16 as IDisposable)?.Dispose(); }
        ISecureSum k32 = make(bankCount, 32);
        try
        {
            GbdtModel model = new FederatedGbdtTrainer(options).Train(banks, k32);
            Assert.That(double.IsFinite(model.BaseScore), Is.True);
            GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(banks), model.Bins, model.GradientScaleBits, options);
            Assert.That(model.BitwiseEquals(pooled), Is.True, "the right model once k is large enough");
        }
        finally { (k32 as IDisposable)?.Dispose(); }
    }

    [Test]
    public void Logistic_TwoBanksOf16384Rows_AtK16_IsRefusedWithTheWrapError()
    {
        LabeledRows[] banks = Banks(2, 16_384);
        var ex = Assert.Throws<SumWrapException>(() => new FederatedLogisticTrainer(new LogisticOptions { Rounds = 2 }).Train(banks, new PlainSum(2, 16)));
        Assert.That(ex!.Message, Does.Contain("17 bits"));
    }

    [Test]
    public void ImpossibleDecodedCounts_AreRefused()
    {
        Assert.Throws<InvalidOperationException>(() => FederatedInput.CheckLabels(positives: 10, n: -32768));
        Assert.Throws<InvalidOperationException>(() => FederatedInput.CheckLabels(positives: -1, n: 100));
        Assert.Throws<InvalidOperationException>(() => FederatedInput.CheckLabels(positives: 101, n: 100));
        Assert.Throws<InvalidOperationException>(() => FederatedInput.CheckLabels(positives: 0, n: 0));
        Assert.DoesNotThrow(() => FederatedInput.CheckLabels(positives: 1, n: 100));
    }
}
