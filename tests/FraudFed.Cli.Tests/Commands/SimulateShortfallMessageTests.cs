// A scenario or a split that leaves a bank short (of rows, of fraud) is refused before any training with one line that names
// one reason and only changes that are possible: no "fewer --banks" at the fewest banks (3), no larger --alpha at its most,
// no more --transactions at their most, and for a shortage no split can mend (all of a file's fraud in one window) no split
// setting at all. (A user trial saw "or fewer --banks" at --banks 3, and "has no rows in its training window" followed by
// "too little of the file's fraud".)
using FraudFed.Cli.Commands;
using FraudFed.Learning.Data;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class SimulateShortfallMessageTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fraudfed-shortfall-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void TooSmallScenario_AtThreeBanks_AsksForMoreTransactionsOnly()
    {
        var (code, stdout, stderr) = HostileInputTests.Run("simulate", "--banks", "3", "--transactions", "3000", "--trees", "1", "--transport", "inproc",
            "--out", Path.Combine(_dir, "out"));
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stdout, Is.Empty);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), stderr);
        Assert.That(lines[0], Does.StartWith("fraudfed simulate: ").And.EndWith(" The scenario is too small for 3 banks: use more --transactions (e.g. --transactions 120000)."));
        Assert.That(lines[0], Does.Not.Contain("--banks"), "3 banks are the fewest a simulation runs");
        Assert.That(Directory.EnumerateFileSystemEntries(_dir), Is.Empty, "nothing written, no staging directory left");
    }

    [TestCase(3, 3000, "use more --transactions (e.g. --transactions 120000).")]
    [TestCase(5, 5000, "use more --transactions (e.g. --transactions 200000) or fewer --banks.")]
    [TestCase(3, 10_000_000, "use more --transactions (e.g. --transactions 20000000).")]
    [TestCase(100, SimulateCommand.MaxTransactions, "use fewer --banks.")]
    [TestCase(3, SimulateCommand.MaxTransactions, "use another --seed.")]
    public void ScenarioFix_SuggestsOnlyWhatTheOptionsAllow(int banks, int transactions, string ending)
    {
        string fix = SimulateCommand.ScenarioFix(banks, transactions);
        Assert.That(fix, Is.EqualTo($"The scenario is too small for {banks} banks: {ending}"));
    }

    [Test]
    public void SkewedCsvSplit_AtThreeBanks_NamesOneReason_AndNoFewerBanks()
    {
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "creditcard.csv"), PublicSchemaFiles.Ulb(400, seed: 2), new CsvStyle());
        var (code, _, stderr) = HostileInputTests.Run("simulate", "--csv", csv, "--schema", "ulb", "--banks", "3", "--alpha", "0.05", "--transport", "inproc",
            "--out", Path.Combine(_dir, "out"));
        Assert.That(code, Is.EqualTo(2), stderr);
        string line = stderr.TrimEnd('\n');
        Assert.That(line.Split('\n'), Has.Length.EqualTo(1), stderr);
        // One reason: a bank left without rows in a window is short of rows (the trial's line went on about the file's fraud),
        // and at 3 banks, the fewest, no "fewer --banks".
        Assert.That(line, Is.EqualTo("fraudfed simulate: Bank 'bank-2' has no rows in its training window. The Dirichlet split (--alpha 0.05) gave it " +
            "too small a share of the file's rows: use a larger --alpha (a more even split, e.g. --alpha 10) or another --seed."));
    }

    private static readonly CsvSchema Ulb = CsvSchema.Ulb;

    [TestCase(BankShortfall.NoTrainingRows, "The Dirichlet split (--alpha 0.05) gave it too small a share of the file's rows: use a larger --alpha (a more even split, e.g. --alpha 10) or another --seed.")]
    [TestCase(BankShortfall.NoTestRows, "The Dirichlet split (--alpha 0.05) gave it too small a share of the file's rows: use a larger --alpha (a more even split, e.g. --alpha 10) or another --seed.")]
    [TestCase(BankShortfall.NoTrainingFraud, "The Dirichlet split (--alpha 0.05) gave it too little of the file's fraud: use a larger --alpha (a more even split, e.g. --alpha 10) or another --seed.")]
    [TestCase(BankShortfall.OnlyTrainingFraud, "The Dirichlet split (--alpha 0.05) gave it too few of the file's legitimate rows: use a larger --alpha (a more even split, e.g. --alpha 10) or another --seed.")]
    public void CsvFix_AtThreeBanks_NamesTheReason_AndNoFewerBanks(BankShortfall why, string expected)
    {
        Assert.That(SimulateCommand.CsvFix(why, Ulb, 3, 0.05), Is.EqualTo(expected));
    }

    [Test]
    public void CsvFix_SuggestsOnlyWhatTheOptionsAllow()
    {
        Assert.That(SimulateCommand.CsvFix(BankShortfall.NoTrainingFraud, Ulb, 8, 50),
            Is.EqualTo("The Dirichlet split (--alpha 50) gave it too little of the file's fraud: use a larger --alpha (a more even split, e.g. --alpha 500), fewer --banks or another --seed."));
        Assert.That(SimulateCommand.CsvFix(BankShortfall.NoTrainingFraud, Ulb, 8, 500_000), Does.Contain("e.g. --alpha 1000000)"), "the example stays within --alpha's range");
        Assert.That(SimulateCommand.CsvFix(BankShortfall.NoTrainingFraud, Ulb, 3, SimulateCommand.MaxAlpha),
            Is.EqualTo("The Dirichlet split (--alpha 1000000) gave it too little of the file's fraud: use another --seed."), "--alpha at its most, 3 banks: only the seed is left");
    }

    [Test]
    public void CsvFix_ForAShortageOfEveryBank_NamesTheTimeColumn_NotTheSplit()
    {
        foreach (BankShortfall why in new[] { BankShortfall.NoTrainingFraudAtAnyBank, BankShortfall.NoTestFraudAtAnyBank })
        {
            string fix = SimulateCommand.CsvFix(why, Ulb, 5, 10);
            Assert.That(fix, Does.Contain("time column 'Time'").And.Contain("which no split changes").And.Contain("--time"), why.ToString());
            Assert.That(fix, Does.Not.Contain("--alpha").And.Not.Contain("--banks").And.Not.Contain("--seed"), why.ToString());
        }
        string withBankColumn = SimulateCommand.CsvFix(BankShortfall.NoTestFraudAtAnyBank, Ulb with { BankColumn = "issuer" }, 5, 10);
        Assert.That(withBankColumn, Does.StartWith("None of the file's fraud lies in the later test window"), "a bank column does not change that either");
    }

    [Test]
    public void CsvFix_WithABankColumn_AsksToMergeThatBank()
    {
        CsvSchema schema = Ulb with { BankColumn = "issuer" };
        foreach (BankShortfall why in new[] { BankShortfall.NoTrainingRows, BankShortfall.NoTestRows, BankShortfall.NoTrainingFraud, BankShortfall.OnlyTrainingFraud })
            Assert.That(SimulateCommand.CsvFix(why, schema, 5, 10), Is.EqualTo("Bank column 'issuer' decides the banks: merge this bank's rows into another bank in the file."), why.ToString());
    }
}
