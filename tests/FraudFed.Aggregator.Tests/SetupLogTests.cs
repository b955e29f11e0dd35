// `aggregator serve` logs the session setup's progress the same way in both modes (SPEC.md 12.0 homomorphic key setup, 8.1
// masking AdvertiseKeys and graph seed): each stage with how many banks it has while some are missing, once per change, the
// stage's completion with its bank count (no "n/n" line before it), and one line when setup is complete; read from the
// appliance's log over real loopback mutual TLS (insecure test parameters).
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
    public Task ServeLogsEachHomomorphicSetupStage_WithItsBankCount_OncePerChange_ThenSetupComplete(int banks) =>
        AssertSetupLogAsync("he", banks, HeStages);

    [TestCase(3)]
    [TestCase(5)]
    public Task ServeLogsEachMaskingSetupStage_WithItsBankCount_OncePerChange_ThenSetupComplete(int banks) =>
        AssertSetupLogAsync("masking", banks, MaskingStages);

    private static async Task AssertSetupLogAsync(string mode, int banks, string[] stages)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: banks);
        using var logs = new CapturedLogs();
        kit.Logs = logs;
        kit.LogLevel = LogLevel.Information;
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        FederationClient[] clients = Enumerable.Range(0, banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(bounded.Token)));
        while (!logs.Lines.Any(l => l.Contains($"{mode} setup complete", StringComparison.Ordinal))) await Task.Delay(20, bounded.Token);

        string[] setup = logs.Lines.Where(l => l.Contains(" setup", StringComparison.Ordinal) && !l.Contains("Session setup failed", StringComparison.Ordinal)).ToArray();
        string all = string.Join("\n", setup);
        Assert.That(setup, Has.All.Match($@"^Information: {mode} setup( complete: the session is ready for rounds|: \w+ (\d/{banks} banks|complete \({banks} banks\)))$"), all);
        Assert.That(setup, Is.Unique, "once per change");
        Assert.That(setup, Has.None.Contains($"{banks}/{banks} banks"), "the stage's completion line says it has every bank\n" + all);
        Assert.That(setup[^1], Is.EqualTo($"Information: {mode} setup complete: the session is ready for rounds"), all);
        string[] every = logs.Lines;
        int created = Array.FindIndex(every, l => l.Contains($"New {mode} session", StringComparison.Ordinal));
        Assert.That(created, Is.GreaterThanOrEqualTo(0).And.LessThan(Array.IndexOf(every, setup[0])), "the session's creation is logged before its setup's first line\n" + string.Join("\n", every));
        int at = -1;
        foreach (string stage in stages)
        {
            // The stage's count lines rise one bank at a time, then the stage completes, before the next stage's lines.
            foreach (string line in Enumerable.Range(0, banks).Select(n => $"Information: {mode} setup: {stage} {n}/{banks} banks").Append($"Information: {mode} setup: {stage} complete ({banks} banks)"))
            {
                int next = Array.IndexOf(setup, line);
                Assert.That(next, Is.GreaterThan(at), $"'{line}' after the line before it\n{all}");
                at = next;
            }
        }
        // Every line is one of those: a 5-bank homomorphic setup logs 7 x 6 + 1 = 43 lines, a masking one 2 x 6 + 1 = 13.
        Assert.That(setup, Has.Length.EqualTo(stages.Length * (banks + 1) + 1), all);
    }
}
