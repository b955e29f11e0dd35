using FraudFed.Learning.Data;
using FraudFed.Learning.Features;
using FraudFed.Learning.Tests.Support;

namespace FraudFed.Learning.Tests.Data;

public class SyntheticGeneratorTests
{
    private static readonly SyntheticScenario Scenario = new() { Banks = 5, Transactions = 40_000, Seed = 3, FraudRate = 0.01 };

    [Test]
    public void SameSeedGivesIdenticalDataAndADifferentSeedDoesNot()
    {
        var small = Scenario with { Transactions = 5_000 };
        SyntheticData a = SyntheticBankGenerator.Generate(small);
        SyntheticData b = SyntheticBankGenerator.Generate(small);
        SyntheticData c = SyntheticBankGenerator.Generate(small with { Seed = 4 });
        Assert.That(a.Transactions.SequenceEqual(b.Transactions), Is.True);
        Assert.That(a.Credits.SequenceEqual(b.Credits), Is.True);
        Assert.That(a.Transactions.SequenceEqual(c.Transactions), Is.False);
        var fa = TransactionFeatures.Build(a, 2);
        var fb = TransactionFeatures.Build(b, 2);
        Assert.That(fa.Train.Values.SequenceEqual(fb.Train.Values), Is.True);
        Assert.That(fa.Test.Labels.SequenceEqual(fb.Test.Labels), Is.True);
    }

    [Test]
    public void TotalCountAndTimeOrderMatchTheScenario()
    {
        SyntheticData d = Scenarios.Small;
        Assert.That(d.Transactions, Has.Count.EqualTo(d.Scenario.Transactions));
        for (int i = 1; i < d.Transactions.Count; i++)
            Assert.That(d.Transactions[i].Time, Is.GreaterThanOrEqualTo(d.Transactions[i - 1].Time));
    }

    [Test]
    public void FraudRateMatchesWithinBinomialTolerance()
    {
        SyntheticData d = SyntheticBankGenerator.Generate(Scenario);
        int n = d.Transactions.Count;
        double observed = d.Transactions.Count(t => t.IsFraud) / (double)n;
        double p = Scenario.FraudRate;
        double tolerance = 4 * Math.Sqrt(p * (1 - p) / n);
        Assert.That(observed, Is.EqualTo(p).Within(tolerance));
    }

    [Test]
    public void TypologyMixOfEventsMatchesWithinBinomialTolerance()
    {
        SyntheticData d = SyntheticBankGenerator.Generate(Scenario);
        double[] expected = Scenario.EventProbabilities();
        int events = d.Events.Count;
        Assert.That(events, Is.GreaterThan(100));
        for (int t = 0; t < 4; t++)
        {
            FraudTypology typology = SyntheticScenario.Typologies[t];
            double observed = d.Events.Count(e => e.Typology == typology) / (double)events;
            double tolerance = 4 * Math.Sqrt(expected[t] * (1 - expected[t]) / events);
            Assert.That(observed, Is.EqualTo(expected[t]).Within(tolerance), typology.ToString());
        }
        // The share of fraud transactions per typology follows TypologyMix (events have random sizes: 6 sigma of a cluster sample).
        double totalFraud = d.Events.Sum(e => e.Transactions);
        double mixTotal = Scenario.TypologyMix.Sum();
        for (int t = 0; t < 4; t++)
        {
            FraudTypology typology = SyntheticScenario.Typologies[t];
            double share = d.Events.Where(e => e.Typology == typology).Sum(e => e.Transactions) / totalFraud;
            double meanSize = d.Events.Sum(e => (double)e.Transactions) / events;
            double spread = Math.Sqrt(d.Events.Sum(e => Math.Pow((e.Typology == typology ? e.Transactions : 0) - share * e.Transactions, 2)) / events);
            double tolerance = 6 * spread / (meanSize * Math.Sqrt(events));
            Assert.That(share, Is.EqualTo(Scenario.TypologyMix[t] / mixTotal).Within(tolerance), "fraud transaction share of " + typology);
        }
    }

    [TestCase(false)]
    [TestCase(true)]
    public void EachTypologyIsConcentratedAtItsHomeBanks(bool laterWindow)
    {
        SyntheticScenario scenario = Scenario with { Transactions = 200_000, FraudRate = 0.05 };
        SyntheticData d = SyntheticBankGenerator.Generate(scenario);
        for (int t = 0; t < 4; t++)
        {
            FraudTypology typology = SyntheticScenario.Typologies[t];
            var events = d.Events.Where(e => e.Typology == typology && (e.Time >= d.TestStart) == laterWindow).ToList();
            int[] home = scenario.HomeBanks(t, laterWindow);
            double[] dist = scenario.TypologyBankDistribution(t, laterWindow);
            double expected = home.Sum(h => dist[h]);
            double observed = events.Count(e => home.Contains(e.Bank)) / (double)events.Count;
            double tolerance = 4 * Math.Sqrt(expected * (1 - expected) / events.Count);
            Assert.That(events, Has.Count.GreaterThan(10), typology.ToString());
            Assert.That(observed, Is.EqualTo(expected).Within(tolerance), typology.ToString());
            Assert.That(expected, Is.GreaterThan(Scenario.Concentration));
        }
    }

    [Test]
    public void CampaignsMoveToOtherBanksInTheLaterWindow()
    {
        for (int t = 0; t < 4; t++)
            Assert.That(Scenario.HomeBanks(t, laterWindow: true), Is.Not.EquivalentTo(Scenario.HomeBanks(t)));
        var still = Scenario with { CampaignShift = 0 };
        Assert.That(still.HomeBanks(2, laterWindow: true), Is.EquivalentTo(still.HomeBanks(2)));
    }

    [Test]
    public void BanksDifferInSizeAndFraudRate()
    {
        SyntheticData d = SyntheticBankGenerator.Generate(Scenario);
        int[] sizes = Enumerable.Range(0, Scenario.Banks).Select(b => d.Transactions.Count(t => t.Bank == b)).ToArray();
        double[] shares = Scenario.BankShares();
        Assert.That(sizes[0], Is.GreaterThan(sizes[^1]));
        Assert.That(shares[0], Is.GreaterThan(shares[^1]));
        double[] rates = Enumerable.Range(0, Scenario.Banks).Select(b => d.Transactions.Count(t => t.Bank == b && t.IsFraud) / (double)sizes[b]).ToArray();
        Assert.That(rates.Max() / rates.Min(), Is.GreaterThan(1.3));
    }

    [Test]
    public void FeaturesAreFiniteAndSplitByTime()
    {
        var banks = Scenarios.SmallBankData;
        long testStart = Scenarios.Small.TestStart;
        foreach (BankData b in banks)
        {
            Assert.That(b.Train.Values.All(float.IsFinite), Is.True);
            Assert.That(b.Train.Times.Max(), Is.LessThan(testStart));
            Assert.That(b.Test.Times.Min(), Is.GreaterThanOrEqualTo(testStart));
            Assert.That(b.Train.Positives, Is.GreaterThan(0), b.Name);
        }
        Assert.That(banks.Sum(b => b.Train.Rows + b.Test.Rows), Is.EqualTo(Scenarios.Small.Transactions.Count));
    }
}
