using FraudFed.Learning.Federation;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Federation;

public class SumChannelTests
{
    [TestCase(16)]
    [TestCase(40)]
    [TestCase(44)]
    [TestCase(64)]
    public void SignedValuesRoundTripAsTwosComplement(int bits)
    {
        var channel = new SumChannel(new PlainSum(2, bits));
        long max = bits == 64 ? long.MaxValue : (1L << (bits - 1)) - 1;
        long min = bits == 64 ? long.MinValue : -(1L << (bits - 1));
        foreach (long v in new[] { 0L, 1L, -1L, 12345L, -12345L, max, min })
            Assert.That(channel.Decode(channel.Encode(v)), Is.EqualTo(v));
        if (bits < 64)
        {
            Assert.That(channel.Encode(-1), Is.EqualTo((1UL << bits) - 1));
            Assert.That(() => channel.Encode(max + 1), Throws.TypeOf<OverflowException>());
            Assert.That(() => channel.Encode(min - 1), Throws.TypeOf<OverflowException>());
        }
    }

    [Test]
    public void SumOfSignedVectorsIsExactAndCounted()
    {
        var channel = new SumChannel(new MaskingTestSum(3, 40, seed: 2));
        long[] sum = channel.SumSigned([[5, -7, 100], [-5, -8, 1], [0, 20, -300]], "test", 1, 1, -1);
        Assert.That(sum, Is.EqualTo(new long[] { 0, 5, -199 }));
        Assert.That(channel.Sums, Is.EqualTo(1));
        Assert.That(channel.ValuesPerBank, Is.EqualTo(3));
        Assert.That(channel.BytesUploaded, Is.GreaterThan(0));
    }

    private sealed class DroppingSum(int banks, int dropped) : ISecureSum
    {
        public int Banks => banks;
        public int ModulusBits => 40;
        public string Mode => "dropping";
        public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default)
        {
            var sum = new ulong[bankInputs[0].Length];
            var contributors = Enumerable.Range(0, banks).Where(b => b != dropped).ToArray();
            foreach (int b in contributors)
                for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + bankInputs[b][i]) & ((1UL << 40) - 1);
            return new SecureSumResult(sum, contributors, 0, 0);
        }
    }

    [Test]
    public void ABankMissingFromASumStopsTrainingNamingTheBank()
    {
        var channel = new SumChannel(new DroppingSum(3, dropped: 1));
        var ex = Assert.Throws<InvalidOperationException>(() => channel.SumSigned([[1], [2], [3]], "test", 1, 1, -1));
        Assert.That(ex!.Message, Does.Contain("Bank(s) 1"));
    }

    [Test]
    public void LogisticWeightsBeyondTheFixedPointBoundAreRejectedNotClipped()
    {
        var banks = Scenarios.SmallBankData.Select(b => b.Train).ToArray();
        var options = new LogisticOptions { Rounds = 3, LearningRate = 500, WeightBoundBits = 1 };
        Assert.That(() => new FederatedLogisticTrainer(options).Train(banks, new PlainSum(banks.Length, 44)), Throws.TypeOf<OverflowException>());
    }
}
