// Where a bank's session stands, over real loopback mutual TLS (insecure test parameters): the SDK's SessionProgress reports
// setup, ready, "waiting" once it asked for a round, then "contributing" only once a round opened after the session's setup (SPEC.md 12.0, 8.1); the CLI's
// `bank sum` prints them in that order.
using System.Collections.Concurrent;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SessionProgressTests
{
    private const int Banks = 3;

    [TestCase("he")]
    [TestCase("masking")]
    public async Task Contributing_IsReportedAfterSetupAndReady_OnlyOnceTheRoundOpenedAfterTheSessionsSetup(string mode)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: Banks);
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var seen = new ConcurrentQueue<(int Bank, SessionProgress Progress, string ApplianceAt)>();
        var clients = new FederationClient[Banks];
        for (int i = 0; i < Banks; i++)
        {
            int bank = i;
            clients[i] = FederationClient.Create(kit.LoadBank(i), ApplianceKit.FastClient with
            {
                SessionProgress = new Inline(p => seen.Enqueue((bank, p, kit.Host!.Coordinator.Position))),
            });
        }
        try
        {
            // Bank 0 joins alone first: its setup cannot finish without the others, so it reports setup and waits.
            Task<FederatedSum> first = clients[0].SumAsync([1, 2, 3], bounded.Token);
            while (!seen.Any(s => s.Bank == 0)) await Task.Delay(20, bounded.Token);
            await Task.Delay(300, bounded.Token);
            Assert.That(seen.Where(s => s.Bank == 0).Select(s => s.Progress.Stage), Is.EqualTo(new[] { SessionProgress.Setup }), "alone, bank 0 is still in setup");
            FederatedSum[] sums = await Task.WhenAll(clients.Skip(1).Select(c => c.SumAsync([10, 20, 30], bounded.Token)).Prepend(first));
            Assert.That(sums.Select(s => s.Sum), Has.All.EqualTo(new ulong[] { 21, 42, 63 }));
            foreach (int bank in Enumerable.Range(0, Banks))
            {
                var mine = seen.Where(s => s.Bank == bank).ToArray();
                Assert.That(mine.Select(s => s.Progress.Stage),
                    Is.EqualTo(new[] { SessionProgress.Setup, SessionProgress.Ready, SessionProgress.Waiting, SessionProgress.Contributing }), $"bank {bank}");
                // "waiting": the bank asked for round 1 (its vector of 3 values) and waits for the others to ask.
                Assert.That(mine[2].Progress, Is.EqualTo(new SessionProgress(SessionProgress.Waiting, 1, 3)), $"bank {bank}");
                Assert.That(mine[3].Progress, Is.EqualTo(new SessionProgress(SessionProgress.Contributing, 1, 3)), $"bank {bank}");
                // When it says "contributing", the appliance's session setup is over and round 1 runs.
                Assert.That(mine[3].ApplianceAt, Does.StartWith("session Ready;").And.Contain("round 1"), $"bank {bank}");
                Assert.That(mine[0].ApplianceAt, Does.StartWith("session setup"), $"bank {bank}");
            }
        }
        finally
        {
            foreach (FederationClient c in clients) await c.DisposeAsync();
        }
    }

    private sealed class Inline(Action<SessionProgress> report) : IProgress<SessionProgress>
    {
        public void Report(SessionProgress value) => report(value);
    }
}
