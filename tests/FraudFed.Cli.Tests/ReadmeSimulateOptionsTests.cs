// README's table of `simulate` options (section "`simulate` options") against the command itself: every option is in the
// table, every default is the option's default, and the ranges that the command's checks enforce are the ones written.
using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using FraudFed.Cli.Commands;
using FraudFed.Learning.Data;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
public sealed class ReadmeSimulateOptionsTests
{
    /// <summary>The rows of the table: first cell (the option) to (default, meaning).</summary>
    private static List<(string Option, string Default, string Meaning)> Rows()
    {
        string readme = File.ReadAllText(Path.Combine(FraudFed.Testing.Repository.Root, "README.md"));
        int start = readme.IndexOf("### `simulate` options", StringComparison.Ordinal);
        Assert.That(start, Is.Not.Negative, "README has the section");
        int end = readme.IndexOf("\n#", start + 4, StringComparison.Ordinal);
        var rows = new List<(string, string, string)>();
        foreach (string line in readme[start..end].Split('\n'))
        {
            if (!line.StartsWith("| `--", StringComparison.Ordinal)) continue;
            string[] cells = Regex.Split(line.Trim().Trim('|'), @"(?<!\\)\|").Select(c => c.Trim()).ToArray();
            Assert.That(cells, Has.Length.EqualTo(3), line);
            rows.Add((cells[0], cells[1], cells[2]));
        }
        return rows;
    }

    private static (string Option, string Default, string Meaning) Row(string option) =>
        Rows().Single(r => r.Option.StartsWith($"`{option}", StringComparison.Ordinal) && (r.Option.Length == option.Length + 2 || r.Option[option.Length + 1] is '`' or ' '));

    [Test]
    public void EveryOption_IsInTheTable_WithItsDefault()
    {
        Command simulate = new SimulateCommand().Build();
        string table = string.Join('\n', Rows().Select(r => r.Option + " " + r.Meaning));
        foreach (Option option in simulate.Options.Where(o => !o.Hidden && o.Name != "--help"))
        {
            Assert.That(table, Does.Contain(option.Name), $"{option.Name} is in README's table");
            if (!option.HasDefaultValue || option.GetDefaultValue() is not { } value || Rows().All(r => !r.Option.StartsWith($"`{option.Name}`", StringComparison.Ordinal)))
                continue;
            string expected = value switch
            {
                bool b => b ? "on" : "off",
                string s => $"`{s.Replace('\\', '/')}`",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString()!,
            };
            Assert.That(Row(option.Name).Default, Is.EqualTo(expected), $"{option.Name}'s default");
        }
    }

    /// <summary>--bank-timeout takes decimal seconds (1.5, 1e3), and README and --help say so: "seconds, 1 to 86400" read as
    /// whole seconds only.</summary>
    [Test]
    public void BankTimeout_TakesDecimalSeconds_AsReadmeAndHelpSay()
    {
        Assert.That(Row("--bank-timeout").Meaning, Does.Contain("a number of seconds, 1 to 86400; decimals allowed (`1.5`, `1e3`)"));
        Option option = new SimulateCommand().Build().Options.Single(o => o.Name == "--bank-timeout");
        Assert.That(option.Description, Does.Contain("a number of seconds, 1 to 86400; decimals allowed, as in 1.5"));
        foreach (string seconds in new[] { "1.5", "1e3", "86400.0" })
        {
            // Accepted: the run goes on to a later check (--trees), which refuses it before any work.
            var (code, _, stderr) = HostileInputTests.Run(["simulate", "--bank-timeout", seconds, "--trees", "0", "--out", Path.Combine(Path.GetTempPath(), "fraudfed-readme-" + Guid.NewGuid().ToString("N"))]);
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed simulate: --trees must be in 1..10000"), seconds);
        }
        var (refused, _, line) = HostileInputTests.Run(["simulate", "--bank-timeout", "0.5", "--out", Path.Combine(Path.GetTempPath(), "fraudfed-readme-" + Guid.NewGuid().ToString("N"))]);
        Assert.That(refused, Is.EqualTo(2), line);
        Assert.That(line, Does.Contain("--bank-timeout must be in 1..86400 seconds (got 0.5)."));
    }

    /// <summary>The parser takes --name=value as well as --name value: README says both where the options are introduced, and
    /// so does the error for a stray argument.</summary>
    [Test]
    public void BothFormsOfAnOption_AreSaid_AndBothWork()
    {
        string readme = File.ReadAllText(Path.Combine(FraudFed.Testing.Repository.Root, "README.md"));
        int start = readme.IndexOf("### `simulate` options", StringComparison.Ordinal);
        string introduction = readme[start..readme.IndexOf("| option | default | meaning |", start, StringComparison.Ordinal)];
        Assert.That(introduction, Does.Contain("`--name value` or `--name=value`"));
        string output = Path.Combine(Path.GetTempPath(), "fraudfed-readme-" + Guid.NewGuid().ToString("N"));
        foreach (string[] args in new[] { new[] { "--trees=0" }, ["--trees", "0"] })
        {
            var (code, _, stderr) = HostileInputTests.Run(["simulate", .. args, "--out=" + output]);
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Is.EqualTo("fraudfed simulate: --trees must be in 1..10000 (got 0)." + Environment.NewLine), string.Join(' ', args));
        }
        var (stray, _, line) = HostileInputTests.Run(["simulate", "--banks", "3", "7", "--out", output]);
        Assert.That(stray, Is.EqualTo(2), line);
        Assert.That(line, Does.Contain("unexpected argument '7': fraudfed simulate takes options only, each written --name value or --name=value"));
        Assert.That(Directory.Exists(output), Is.False);
    }

    [Test]
    public void TheRanges_AreTheCommandsChecks()
    {
        Assert.That(Row("--banks").Meaning, Does.Contain($"3..{SimulateCommand.MaxBanks}"));
        Assert.That(Row("--transactions").Meaning, Does.Contain("1,000 per bank").And.Contain(SimulateCommand.MaxTransactions.ToString("N0", CultureInfo.InvariantCulture)));
        Assert.That(Row("--trees").Meaning, Does.Contain("1..10000"));
        Assert.That(Row("--rounds").Meaning, Does.Contain("1..10000"));
        Assert.That(Row("--threshold").Meaning, Does.Contain("2..`--banks`"));
        Assert.That(Row("--campaign-shift").Meaning, Does.Contain("0..N-1 for N banks"));
        Assert.That(Row("--alpha").Meaning, Does.Contain("at most 1,000,000"));
        Assert.That(Row("--category-buckets").Meaning, Does.Contain($"2..{CategoryEncoder.MaxBuckets}"));
        Assert.That(Row("--category-buckets").Default, Is.EqualTo(CategoryEncoder.DefaultBuckets.ToString(CultureInfo.InvariantCulture)));
        Assert.That(Row("--category-key FILE").Meaning, Does.Contain($"at least {CategoryEncoder.MinKeyBytes} bytes"));
        // Each range above is the one the command refuses beyond (its one-line message names the same range).
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--banks", "101"], $"--banks must be in 3..{SimulateCommand.MaxBanks}"),
            (["--trees", "10001"], "--trees must be in 1..10000"),
            (["--model", "logistic", "--rounds", "0"], "--rounds must be in 1..10000"),
            (["--transactions", "20000001"], "--transactions must be at most 20,000,000"),
            (["--campaign-shift", "5"], "--campaign-shift must be in 0..4"),
            (["--threshold", "6"], "it must be in 2..5"),
        })
        {
            var (code, _, stderr) = HostileInputTests.Run(["simulate", .. args, "--out", Path.Combine(Path.GetTempPath(), "fraudfed-readme-" + Guid.NewGuid().ToString("N"))]);
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.Contain(message), string.Join(' ', args));
        }
    }
}
