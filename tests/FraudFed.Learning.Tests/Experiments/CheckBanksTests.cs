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

    [Test]
    public void EachRefusal_CarriesItsReason_AndGetsTheFixForThatReason()
    {
        static string Fix(BankShortfall why) => $"[fix for {why}]";
        (BankData[] Banks, BankShortfall Why, string Says)[] cases =
        [
            ([new("bank-0", Rows(100, 2), Rows(50, 1)), new("bank-1", Rows(0, 0), Rows(50, 1))], BankShortfall.NoTrainingRows, "Bank 'bank-1' has no rows in its training window."),
            ([new("bank-0", Rows(100, 2), Rows(0, 0)), new("bank-1", Rows(100, 2), Rows(50, 1))], BankShortfall.NoTestRows, "Bank 'bank-0' has no rows in its later test window."),
            ([new("bank-0", Rows(100, 2), Rows(50, 1)), new("bank-1", Rows(100, 0), Rows(50, 1))], BankShortfall.NoTrainingFraud, "Bank 'bank-1' has no fraud in its training window (0 of 100 rows)"),
            ([new("bank-0", Rows(100, 100), Rows(50, 1)), new("bank-1", Rows(100, 3), Rows(50, 1))], BankShortfall.OnlyTrainingFraud, "Bank 'bank-0' has only fraud in its training window (100 rows)."),
            // Every bank without training fraud is said as such, not as bank-0's shortage (no change to one bank mends it).
            ([new("bank-0", Rows(100, 0), Rows(50, 1)), new("bank-1", Rows(100, 0), Rows(50, 1))], BankShortfall.NoTrainingFraudAtAnyBank, "No bank has fraud in its training window."),
            ([new("bank-0", Rows(100, 0), Rows(50, 0)), new("bank-1", Rows(100, 3), Rows(50, 0))], BankShortfall.NoTestFraudAtAnyBank, "No bank has fraud in its later test window"),
        ];
        foreach (var (banks, why, says) in cases)
        {
            var ex = Assert.Throws<DataFormatException>(() => FederatedExperiment.CheckBanks(banks, baselines: true, Fix));
            Assert.That(ex!.Shortfall, Is.EqualTo(why), ex.Message);
            Assert.That(ex.Message, Does.StartWith(says).And.EndWith($" [fix for {why}]"), why.ToString());
            Assert.That(ex.Message.Split("[fix for ").Length, Is.EqualTo(2), "one fix, the one for the reason named");
        }
        // Without baselines a bank's own shortage of fraud is allowed.
        Assert.DoesNotThrow(() => FederatedExperiment.CheckBanks(cases[2].Banks, baselines: false, Fix));
        // The fix function may add nothing.
        var bare = Assert.Throws<DataFormatException>(() => FederatedExperiment.CheckBanks(cases[0].Banks, baselines: true, _ => null));
        Assert.That(bare!.Message, Is.EqualTo("Bank 'bank-1' has no rows in its training window."));
    }
}
