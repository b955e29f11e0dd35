using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;

namespace FraudFed.Learning.Tests.Experiments;

/// <summary>A run that could measure nothing is refused before any training.</summary>
public class CheckBanksTests
{
    private static LabeledRows Rows(int rows, int fraud) =>
        new(["x"], new float[rows], Enumerable.Range(0, rows).Select(i => i < fraud).ToArray(), new long[rows]);

    [Test]
    public void NoFraudInAnyTestWindow_IsRefused_AndOneBankWithTestFraudIsEnough()
    {
        BankData[] none = [new("bank-0", Rows(100, 2), Rows(50, 0)), new("bank-1", Rows(100, 3), Rows(50, 0))];
        var ex = Assert.Throws<DataFormatException>(() => FederatedExperiment.CheckBanks(none, baselines: true));
        Assert.That(ex!.Message, Does.Contain("test window"));
        BankData[] one = [new("bank-0", Rows(100, 2), Rows(50, 0)), new("bank-1", Rows(100, 3), Rows(50, 1))];
        Assert.DoesNotThrow(() => FederatedExperiment.CheckBanks(one, baselines: true));
    }
}
