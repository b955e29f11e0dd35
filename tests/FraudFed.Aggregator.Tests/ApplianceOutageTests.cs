// What a bank sees while the appliance is down or cannot write its state: the SDK retries an unreachable appliance for a
// time budget (not a count), so an appliance restart of ~20 s is ridden out and the waiting banks finish the exact sum; each
// retry is reported. Real loopback mutual TLS and a real SQLite state file (the kit of `aggregator init`).
using System.Collections.Concurrent;
using FraudFed.Sdk;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class ApplianceOutageTests
{
    private const int Banks = 5;
    private const int Length = 40;

    private sealed class Recorder : IProgress<ConnectionRetry>
    {
        public ConcurrentQueue<ConnectionRetry> Retries { get; } = new();
        public void Report(ConnectionRetry value) => Retries.Enqueue(value);
    }

    [Test]
    public async Task ApplianceRestartedAfter20Seconds_OnTheSamePortAndStateFile_WaitingBanksFinishTheExactSum()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bounded.Token;
        var recorder = new Recorder();
        // A 60 s budget: the count-based policy this replaces (8 retries, ~17 s) gave up during such a restart.
        FederationClientOptions options = ApplianceKit.FastClient with { RetryBudget = TimeSpan.FromSeconds(60), MaxRetryDelay = TimeSpan.FromSeconds(2), RetryProgress = recorder };
        var clients = new List<FederationClient>();
        for (int i = 0; i < Banks; i++) clients.Add(FederationClient.Create(kit.LoadBank(i), options));
        try
        {
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
            int before = kit.Host!.Coordinator.EventCount;
            Random r = TestRandom.Plain(71);
            ulong[][] vectors = Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64(1L << 32)).ToArray()).ToArray();
            // Four banks ask for the round and wait for it to open (the fifth has not asked yet): they are in their long polls.
            Task<FederatedSum>[] waiting = Enumerable.Range(0, Banks - 1).Select(i => clients[i].SumAsync(vectors[i], ct)).ToArray();
            while (kit.Host.Coordinator.EventCount < before + Banks - 1) await Task.Delay(50, ct);   // their round requests are stored
            await kit.StopAsync();
            var down = System.Diagnostics.Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(20), ct);
            Assert.That(waiting.Where(t => t.IsCompleted), Is.Empty, "no bank gave up while the appliance was down");
            await kit.StartAsync();
            FederatedSum last = await clients[Banks - 1].SumAsync(vectors[Banks - 1], ct);
            FederatedSum[] results = [.. await Task.WhenAll(waiting), last];
            var expected = new ulong[Length];
            foreach (ulong[] v in vectors)
                for (int j = 0; j < Length; j++) expected[j] = (expected[j] + v[j]) & 0xFFFF_FFFFUL;
            foreach (FederatedSum s in results)
            {
                Assert.That(s.Sum, Is.EqualTo(expected));
                Assert.That(s.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)));
            }
            Assert.That(down.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(20)));
            ConnectionRetry[] seen = [.. recorder.Retries];
            Assert.That(seen.Length, Is.GreaterThanOrEqualTo(Banks - 1), "every waiting bank reported its retries");
            Assert.That(seen.Max(x => x.Attempt), Is.GreaterThan(8), "more retries than the old count allowed");
            Assert.That(seen.Select(x => x.ToString()), Has.All.Match(@"^appliance unreachable, retrying in [0-9.]+ s \(attempt \d+, \d+ s left\)$"));
            Assert.That(seen.All(x => x.Delay <= TimeSpan.FromSeconds(2)), "capped backoff");
        }
        finally
        {
            foreach (FederationClient c in clients) await c.DisposeAsync();
        }
    }

    [Test]
    public async Task UnreachableAppliance_FailsWhenTheBudgetIsSpent_NotBefore_NamingTheBudget()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        await kit.StopAsync();   // the port is closed: connection refused
        var recorder = new Recorder();
        await using FederationClient client = FederationClient.Create(kit.LoadBank(0),
            ApplianceKit.FastClient with { RetryBudget = TimeSpan.FromSeconds(3), MaxRetryDelay = TimeSpan.FromSeconds(1), RetryProgress = recorder });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        FederationException? e = Assert.ThrowsAsync<FederationException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token));
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(2.9)).And.LessThan(TimeSpan.FromSeconds(20)));
        Assert.That(e!.Message, Does.Contain("is unreachable after").And.Contain("retry budget 3 s"));
        Assert.That(recorder.Retries, Is.Not.Empty);
        Assert.That(recorder.Retries.Last().Remaining, Is.LessThan(TimeSpan.FromSeconds(1)));
    }
}
