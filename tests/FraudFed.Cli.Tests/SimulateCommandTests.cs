using System.Text.Json;
using FraudFed.Cli.Commands;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
public sealed class SimulateCommandTests
{
    private string _out = "";

    [SetUp]
    public void SetUp() => _out = Path.Combine(Path.GetTempPath(), "fraudfed-sim-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
    }

    [TestCase("masking", "gbdt")]
    [TestCase("he", "logistic")]
    public void Simulate_SmallScenario_WritesReportsAndJsonWithSecureEqualsPlain(string mode, string model)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = SimulateCommand.Run(new SimulateCommand.SimulateSettings(3, mode, model, 6000, 7, _out, null, Json: true,
            Trees: model == "gbdt" ? 4 : null, Rounds: model == "logistic" ? 3 : null, Transport: "inproc"),
            stdout, stderr, CancellationToken.None);

        Assert.That(rc, Is.EqualTo(0), stderr.ToString());
        // Redirected (not a terminal), stdout begins with the table itself: no empty first line (a user trial saw one).
        Assert.That(stdout.ToString(), Does.StartWith("PR-AUC on each bank's later time window ("));
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using JsonDocument doc = JsonDocument.Parse(lines[^1]);
        JsonElement j = doc.RootElement;
        foreach (string key in new[] { "mode", "model", "banks", "transactions", "pr_auc_federated", "pr_auc_centralized", "pr_auc_local_mean", "roc_auc_federated", "secure_equals_plaintext", "wall_s" })
            Assert.That(j.TryGetProperty(key, out _), Is.True, key);
        Assert.That(j.GetProperty("mode").GetString(), Is.EqualTo(mode));
        Assert.That(j.GetProperty("model").GetString(), Is.EqualTo(model));
        Assert.That(j.GetProperty("banks").GetInt32(), Is.EqualTo(3));
        Assert.That(j.GetProperty("secure_equals_plaintext").GetBoolean(), Is.True);
        Assert.That(j.GetProperty("roc_auc_federated").GetDouble(), Is.InRange(0.5, 1.0), "the model ranks better than chance");

        Assert.That(File.Exists(Path.Combine(_out, "summary.json")), Is.True);
        string html = File.ReadAllText(Path.Combine(_out, "report.html"));
        Assert.That(html, Does.Contain("<svg"));
        Assert.That(File.Exists(Path.Combine(_out, "model.txt")), Is.EqualTo(model == "gbdt"));
        Assert.That(stderr.ToString(), Does.Contain(model == "gbdt" ? "tree" : "round"), "progress names the tree or round");
        // The legend under the tables keeps its words and fits a terminal of 100 columns: printed as several lines, each at most 100.
        int legend = Array.FindIndex(lines, l => l.StartsWith("(fraud: ", StringComparison.Ordinal));
        Assert.That(legend, Is.GreaterThan(0), stdout.ToString());
        string[] printed = lines[legend..].TakeWhile(l => !l.StartsWith("protocol: ", StringComparison.Ordinal)).ToArray();
        Assert.That(printed, Has.Length.GreaterThan(1).And.All.Length.LessThanOrEqualTo(SimulateCommand.LegendWidth), string.Join("\n", printed));
        Assert.That(string.Join(' ', printed), Is.EqualTo(SimulateCommand.Legend), "the same words");
    }

    [Test]
    public void SimulateHelp_NamesTheVariableThatChoosesTheBankProgram()
    {
        var (code, stdout, stderr) = HostileInputTests.Run("simulate", "--help");
        Assert.That(code, Is.Zero, stderr);
        string help = string.Join(' ', stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));   // the help wraps its lines
        Assert.That(help, Does.Contain("FRAUDFED_NATIVE_BANK=0"), help);
        Assert.That(help, Does.Contain("native bank program"), help);
    }

    [Test]
    public void Simulate_CampaignShift_MovesTestWindowFraud_AndIsReported()
    {
        string Run(int shift, out string stdout)
        {
            var o = new StringWriter();
            int rc = SimulateCommand.Run(new SimulateCommand.SimulateSettings(3, "masking", "gbdt", 6000, 3, Path.Combine(_out, "s" + shift), null, Json: true, Trees: 2, CampaignShift: shift, Transport: "inproc"),
                o, new StringWriter(), CancellationToken.None);
            Assert.That(rc, Is.EqualTo(0));
            stdout = o.ToString();
            return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        }
        using JsonDocument a = JsonDocument.Parse(Run(0, out string textA));
        using JsonDocument b = JsonDocument.Parse(Run(2, out string textB));
        Assert.That(textA, Does.Contain("stay at the same banks"));
        Assert.That(textB, Does.Contain("move by 2"));
        JsonElement banksA = a.RootElement.GetProperty("per_bank"), banksB = b.RootElement.GetProperty("per_bank");
        bool testDiffers = false;
        for (int i = 0; i < 3; i++)
        {
            testDiffers |= banksB[i].GetProperty("test_fraud").GetInt32() != banksA[i].GetProperty("test_fraud").GetInt32();
        }
        Assert.That(testDiffers, Is.True, "the shift moves fraud between banks in the test window");
    }

    [TestCase(2, 6000, null, "--banks")]
    [TestCase(3, 100, null, "--transactions")]
    [TestCase(4, 8000, 5, "--threshold")]
    [TestCase(6, 8000, 3, "2T must exceed N + c")] // T = 3 of 6 banks: two decryptor sets need share no bank
    public void Simulate_BadArguments_ExitTwoNamingTheOption(int banks, int transactions, int? threshold, string option)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = SimulateCommand.Run(new SimulateCommand.SimulateSettings(banks, "he", "gbdt", transactions, 1, _out, threshold, Json: true, Transport: "inproc"),
            stdout, stderr, CancellationToken.None);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stderr.ToString(), Does.Contain(option));
        Assert.That(Directory.Exists(_out), Is.False, "nothing written on bad input");
    }

    [Test]
    public void Root_HasEveryCommand()
    {
        var root = Program.BuildRoot();
        Assert.That(root.Subcommands.Select(c => c.Name), Does.Contain("simulate").And.Contain("bench"));
        var bench = root.Subcommands.Single(c => c.Name == "bench");
        Assert.That(bench.Subcommands.Select(c => c.Name), Is.SupersetOf(new[] { "masking", "ntt", "he" }));
    }

    [Test]
    public void Parse_UnknownMode_IsAParseError()
    {
        var result = Program.BuildRoot().Parse(["simulate", "--mode", "carrier-pigeon"]);
        Assert.That(result.Errors, Is.Not.Empty);
    }
}
