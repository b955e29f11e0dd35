// `aggregator serve` logs the session setup's progress the same way in both modes (SPEC.md 12.0 homomorphic key setup, 8.1
// masking AdvertiseKeys and graph seed): one line per stage completed, with its bank count, and one summary line when setup
// is complete (no line per bank's message); read from the appliance's log over real loopback mutual TLS (insecure test
// parameters).
using FraudFed.Sdk;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SetupLogTests
{
    private static readonly string[] HeStages = ["CrsCommit", "CrsReveal", "KeyShareCommit", "KeyShareReveal", "ChannelAdverts", "Thresholdize", "KeyReady"];
    private static readonly string[] MaskingStages = ["AdvertiseKeys", "GraphSeed"];

    [TestCase(3)]
    [TestCase(5)]
    public Task ServeLogsEachHomomorphicSetupStageCompleted_ThenOneSummary(int banks) =>
        AssertSetupLogAsync("he", banks, HeStages);

    [TestCase(3)]
    [TestCase(5)]
    public Task ServeLogsEachMaskingSetupStageCompleted_ThenOneSummary(int banks) =>
        AssertSetupLogAsync("masking", banks, MaskingStages);

    private static async Task AssertSetupLogAsync(string mode, int banks, string[] stages)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: banks);
        using var logs = new CapturedLogs();
        kit.Logs = logs;
        kit.LogLevel = LogLevel.Information;
        await kit.StartAsync();
        // The banks join a while after serve started: the setup's time counts from the first bank's join, not from the start.
        const double idle = 3;
        await Task.Delay(TimeSpan.FromSeconds(idle));
        var joined = System.Diagnostics.Stopwatch.StartNew();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        FederationClient[] clients = Enumerable.Range(0, banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(bounded.Token)));
        while (!logs.Lines.Any(l => l.Contains($"{mode} setup complete", StringComparison.Ordinal))) await Task.Delay(20, bounded.Token);

        string[] setup = logs.Lines.Where(l => l.Contains(" setup", StringComparison.Ordinal) && !l.Contains("session setup failed", StringComparison.Ordinal)).ToArray();
        string all = string.Join("\n", setup);
        // One line per stage completed, in order, then one summary: a 5-bank homomorphic setup logs 7 + 1 lines, not one per bank.
        string[] expected = [.. stages.Select(stage => $"Information: {mode} setup: stage {stage} complete ({banks} banks)")];
        Assert.That(setup[..^1], Is.EqualTo(expected), all);
        Assert.That(setup[^1], Does.Match($@"^Information: {mode} setup complete: {stages.Length} stages with {banks} banks, \d+\.\d s after the first bank joined; the session is ready for rounds$"), all);
        double said = double.Parse(System.Text.RegularExpressions.Regex.Match(setup[^1], @"(\d+\.\d) s after").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(said, Is.LessThanOrEqualTo(joined.Elapsed.TotalSeconds + 0.1), "timed from the first bank's join, not from serve's start " + idle + " s before");
        Assert.That(setup, Has.None.Match(@"\d+/\d+ banks"), "no line per bank's message");
        string[] every = logs.Lines;
        int created = Array.FindIndex(every, l => l.Contains($"new {mode} session for {banks} banks", StringComparison.Ordinal));
        Assert.That(created, Is.GreaterThanOrEqualTo(0).And.LessThan(Array.IndexOf(every, setup[0])), "the session's creation is logged before its setup's first line\n" + string.Join("\n", every));
        Assert.That(logs.OwnLines, Is.Not.Empty.And.All.Match(@"^\w+: [a-z]"), "every message of the appliance starts in lower case");
    }
}
