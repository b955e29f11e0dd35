// `aggregator serve` logs the session setup's progress (SPEC.md 12.0): each homomorphic key-setup stage it completes, with how
// many banks it has for the stage it waits on, once per change, and one line when setup is complete; read from the appliance's
// log over real loopback mutual TLS (insecure test parameters).
using FraudFed.Sdk;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SetupLogTests
{
    private const int Banks = 3;

    [Test]
    public async Task ServeLogsEachHomomorphicSetupStage_WithItsBankCount_OncePerChange_ThenSetupComplete()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: Banks);
        using var logs = new CapturedLogs();
        kit.Logs = logs;
        kit.LogLevel = LogLevel.Information;
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(bounded.Token)));
        while (!logs.Lines.Any(l => l.Contains("he setup complete", StringComparison.Ordinal))) await Task.Delay(20, bounded.Token);

        string[] setup = logs.Lines.Where(l => l.Contains(" setup", StringComparison.Ordinal) && !l.Contains("Session setup failed", StringComparison.Ordinal)).ToArray();
        string all = string.Join("\n", setup);
        Assert.That(setup, Has.All.Match(@"^Information: he setup( complete: the session is ready for rounds|: \w+ (\d/3 banks|complete \(3 banks\)))$"), all);
        Assert.That(setup, Is.Unique, "once per change");
        Assert.That(setup[^1], Is.EqualTo("Information: he setup complete: the session is ready for rounds"), all);
        string[] every = logs.Lines;
        int created = Array.FindIndex(every, l => l.Contains("New he session", StringComparison.Ordinal));
        Assert.That(created, Is.GreaterThanOrEqualTo(0).And.LessThan(Array.IndexOf(every, setup[0])), "the session's creation is logged before its setup's first line\n" + string.Join("\n", every));
        string[] stages = ["CrsCommit", "CrsReveal", "KeyShareCommit", "KeyShareReveal", "ChannelAdverts", "Thresholdize", "KeyReady"];
        int at = -1;
        foreach (string stage in stages)
        {
            // The stage's count lines rise one bank at a time, then the stage completes, before the next stage's lines.
            foreach (string line in Enumerable.Range(0, Banks).Select(n => $"Information: he setup: {stage} {n}/3 banks").Append($"Information: he setup: {stage} complete (3 banks)"))
            {
                int next = Array.IndexOf(setup, line);
                Assert.That(next, Is.GreaterThan(at), $"'{line}' after the line before it\n{all}");
                at = next;
            }
        }
        Assert.That(setup, Has.Length.EqualTo(stages.Length * (Banks + 1) + 1), all);
    }
}
