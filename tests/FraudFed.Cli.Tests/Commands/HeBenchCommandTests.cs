using System.Text.Json;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[NonParallelizable] // redirects Console.Out
public sealed class HeBenchCommandTests
{
    private static JsonElement RunJson(params string[] args)
    {
        TextWriter original = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        int rc;
        try { rc = Program.BuildRoot().Parse(args).Invoke(); }
        finally { Console.SetOut(original); }
        Assert.That(rc, Is.Zero, output.ToString());
        string last = output.ToString().TrimEnd().Split('\n')[^1];
        return JsonDocument.Parse(last).RootElement;
    }

    [Test]
    public void BenchNtt_PrintsTheRequiredJsonFields()
    {
        JsonElement json = RunJson("bench", "ntt", "--runs", "5", "--json");
        Assert.That(json.GetProperty("suite").GetString(), Is.EqualTo("ntt"));
        Assert.That(json.GetProperty("n").GetInt32(), Is.EqualTo(8192));
        Assert.That(json.GetProperty("prime_bits").GetInt32(), Is.EqualTo(60));
        foreach (string key in new[] { "forward_us", "inverse_us", "ns_per_coeff_per_bit" })
            Assert.That(json.GetProperty(key).GetDouble(), Is.GreaterThan(0), key);
    }

    [Test]
    public void BenchHe_SmallRun_IsExact_AndPrintsTheRequiredJsonFields()
    {
        JsonElement json = RunJson("bench", "he", "--banks", "3", "--threshold", "2", "--values", "10000", "--runs", "1", "--json");
        Assert.That(json.GetProperty("suite").GetString(), Is.EqualTo("he"));
        Assert.That(json.GetProperty("exact").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("log_q").GetInt32(), Is.EqualTo(180));
        Assert.That(json.GetProperty("log_t").GetInt32(), Is.EqualTo(44));
        Assert.That(json.GetProperty("values").GetInt32(), Is.EqualTo(10000));
        Assert.That(json.GetProperty("warmup_small_sums").GetInt64(), Is.GreaterThanOrEqualTo(4), "two or more warm-up blocks per configuration");
        Assert.That(json.GetProperty("warmup_values_per_small_sum").GetInt32(), Is.EqualTo(10000), "two chunks of n = 8192 cover the 10,000 values");
        Assert.That(json.GetProperty("steady_state").ValueKind, Is.AnyOf(JsonValueKind.True, JsonValueKind.False));
        foreach (string key in new[] { "encrypt_s", "upload_bytes_per_value", "add_s_per_bank", "decrypt_share_s", "combine_s" })
            Assert.That(json.GetProperty(key).GetDouble(), Is.GreaterThan(0), key);
    }

    [Test]
    public void BenchHe_KeySetupProgress_IsAtMostOneLinePerInterval_NamingBankAndStage()
    {
        var stderr = new StringWriter();
        TimeSpan now = TimeSpan.Zero;
        var reporter = new FraudFed.Cli.Commands.HeBenchCommand.SetupReporter(stderr, () => now, TimeSpan.FromSeconds(2));
        // 256 banks of one stage, each handled 0.1 s after the previous: 25.6 s, so a line every 2 s, 12 lines.
        for (int bank = 1; bank <= 256; bank++)
        {
            now += TimeSpan.FromSeconds(0.1);
            reporter.Report(new FraudFed.Protocol.Harness.HomomorphicSetupProgress("Thresholdize", bank, 256));
        }
        string[] lines = stderr.ToString().TrimEnd().Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Length.EqualTo(12));
            Assert.That(lines[0], Does.EndWith("key setup: bank 20/256 (Thresholdize)"));
            Assert.That(lines[0], Does.StartWith("[   2.0s]"));
            Assert.That(lines[^1], Does.EndWith("key setup: bank 240/256 (Thresholdize)"));
        });
    }

    [Test]
    public void BenchHe_ALargeKeySetup_IsAnnouncedWithItsCost_OnStderrOnly()
    {
        // N^2 growth from about 2 min at 64 banks: 256 banks cost 16 times as much, about half an hour.
        string large = FraudFed.Cli.Commands.HeBenchCommand.SetupNotice(256);
        string medium = FraudFed.Cli.Commands.HeBenchCommand.SetupNotice(64);
        Assert.That(large, Does.Contain("for 256 banks expect roughly 33 min").And.Contain("N^2"));
        Assert.That(medium, Does.Contain("for 64 banks expect roughly 2 min"));
        Assert.That(FraudFed.Cli.Commands.HeBenchCommand.SetupNotice(32), Does.Contain("for 32 banks expect roughly 31 s"));

        TextWriter originalErr = Console.Error, originalOut = Console.Out;
        var err = new StringWriter();
        var stdout = new StringWriter();
        Console.SetError(err);
        Console.SetOut(stdout);
        int rc;
        try { rc = Program.BuildRoot().Parse(["bench", "he", "--banks", "3", "--threshold", "2", "--values", "10", "--runs", "1", "--json"]).Invoke(); }
        finally { Console.SetError(originalErr); Console.SetOut(originalOut); }
        Assert.Multiple(() =>
        {
            Assert.That(rc, Is.Zero, err.ToString());
            Assert.That(err.ToString(), Does.Not.Contain("expect roughly"), "a small setup is not announced");
            Assert.That(stdout.ToString(), Does.Not.Contain("key setup"), "progress never goes to stdout");
            Assert.That(JsonDocument.Parse(stdout.ToString().TrimEnd().Split('\n')[^1]).RootElement.GetProperty("exact").GetBoolean(), Is.True);
        });
    }

    [Test]
    public void BenchHe_AThresholdBelowTheCollusionBound_IsAUsageError_BeforeAnyWork()
    {
        TextWriter originalErr = Console.Error, originalOut = Console.Out;
        var err = new StringWriter();
        Console.SetError(err);
        Console.SetOut(new StringWriter());
        int rc;
        try { rc = Program.BuildRoot().Parse(["bench", "he", "--banks", "6", "--threshold", "3", "--values", "10", "--json"]).Invoke(); }
        finally { Console.SetError(originalErr); Console.SetOut(originalOut); }
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(err.ToString(), Does.StartWith("fraudfed bench he: --threshold 3 and --colluders ").And.Contain(" are unsafe for 6 banks: T = 3 is too small")
            .And.Contain("2T must exceed N + c"));
        Assert.That(err.ToString(), Does.Not.Contain("InsecureParameters"), "words, not the reason code's enum name");
    }

    [Test]
    public void BenchHe_ThePublicKeyVariant_IsGone()
    {
        var result = Program.BuildRoot().Parse(["bench", "he", "--variant", "pk"]);
        Assert.That(result.Errors, Is.Not.Empty, "the public-key variant was removed (SPEC.md 12.1)");
    }

    // --runs is honoured as given (1..4 used to become 5), the output says whether the timed runs followed a warm-up
    // that reached the JIT's steady state, and no fixed SEAL figure is printed (SEAL is compared only with the
    // side-by-side kit, in one run).
    [TestCase(1)]
    [TestCase(3)]
    public void BenchNtt_HonoursSmallRuns_AndReportsTheWarmup(int runs)
    {
        var (code, stdout, stderr) = HostileInputTests.Run("bench", "ntt", "--runs", runs.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json");
        Assert.That(code, Is.EqualTo(0), stderr);
        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        using var json = JsonDocument.Parse(lines[^1]);
        JsonElement root = json.RootElement;
        Assert.That(root.GetProperty("runs").GetInt32(), Is.EqualTo(runs));
        Assert.That(root.GetProperty("steady_state").ValueKind, Is.AnyOf(JsonValueKind.True, JsonValueKind.False));
        Assert.That(root.GetProperty("warmup_s").GetDouble(), Is.GreaterThanOrEqualTo(0.5 * 3), "at least two 250 ms blocks per prime (warmup_s is rounded to ms, so exactly 1.5 is possible)");
        Assert.That(stdout, Does.Contain($"median of {runs} runs per prime").And.Contain("warm-up"));
        Assert.That(stdout, Does.Not.Contain("162 us").And.Not.Contain("0.45)"), "no hard-coded SEAL figure");
    }

    [TestCase("0")]
    [TestCase("1000001")]
    public void BenchNtt_RunsOutOfRange_IsAUsageError_BeforeAnyWork(string runs)
    {
        var (code, stdout, stderr) = HostileInputTests.Run("bench", "ntt", "--runs", runs);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--runs must be in 1..1000000"));
        Assert.That(stdout, Is.Empty);
    }

}
