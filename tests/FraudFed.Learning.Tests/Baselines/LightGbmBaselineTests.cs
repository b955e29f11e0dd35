using FraudFed.Learning.Baselines;
using FraudFed.Learning.Data;
using FraudFed.Learning.Metrics;
using FraudFed.Learning.Tests.Support;

namespace FraudFed.Learning.Tests.Baselines;

public class LightGbmBaselineTests
{
    [Test]
    public void OneThreadBaselineIsDeterministicAndLearns()
    {
        BankData bank = Scenarios.SmallBankData[0];
        var options = new LightGbmBaselineOptions { Iterations = 30 };
        double[] a = LightGbmBaseline.Train(bank.Train, options).Score(bank.Test);
        double[] b = LightGbmBaseline.Train(bank.Train, options).Score(bank.Test);
        Assert.That(a, Is.EqualTo(b));
        Assert.That(BinaryMetrics.RocAuc(a, bank.Test.Labels), Is.GreaterThan(0.8));
    }

    [Test]
    public void BaselineWithoutFraudRowsIsATypedError()
    {
        BankData bank = Scenarios.SmallBankData[0];
        LabeledRows legit = bank.Train.Where(i => !bank.Train.Labels[i]);
        var ex = Assert.Throws<DataFormatException>(() => LightGbmBaseline.Train(legit, new LightGbmBaselineOptions()));
        Assert.That(ex!.Column, Is.EqualTo("label"));
    }
}
