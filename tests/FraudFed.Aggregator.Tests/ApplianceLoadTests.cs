// Load: the appliance holds 50 concurrent bank connections over real loopback mutual TLS (50 roster certificates from
// `aggregator init`'s code, one TLS connection per bank). Bounded in count (a fixed number of calls per bank) and in time
// (every call has a deadline, the whole test a cancellation bound); it asserts counts, never timings.
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using FraudFed.Testing;
using Grpc.Health.V1;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
[Category("Load")]
public sealed class ApplianceLoadTests
{
    private const int Banks = 50;

    [Test]
    public async Task FiftyBanks_ConnectAtOnce_EveryCallSucceeds_AndTheApplianceThenSumsAllFiftyExactly()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        await kit.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(240));
        CancellationToken ct = bound.Token;

        // 1. Fifty banks, each on its own TLS connection, all opened before any call is made; then every bank makes the same
        //    calls at once: its session info, a gRPC health check and a mailbox poll (each three times).
        RawBank[] raw = Enumerable.Range(0, Banks).Select(i => kit.Raw(i)).ToArray();
        await Task.WhenAll(raw.Select(r => r.Channel.ConnectAsync(ct)));
        using var start = new SemaphoreSlim(0, Banks);
        int sessionCalls = 0, healthCalls = 0, pollCalls = 0;
        var banksSeen = new System.Collections.Concurrent.ConcurrentBag<uint>();
        Task[] calls = raw.Select(async r =>
        {
            await start.WaitAsync(ct);
            var health = new Health.HealthClient(r.Channel);
            for (int k = 0; k < 3; k++)
            {
                DateTime deadline = DateTime.UtcNow.AddSeconds(60);
                Task<SessionInfo> info = r.Grpc.GetSessionAsync(new GetSessionRequest(), deadline: deadline, cancellationToken: ct).ResponseAsync;
                Task<HealthCheckResponse> check = health.CheckAsync(new HealthCheckRequest(), deadline: deadline, cancellationToken: ct).ResponseAsync;
                Task<ReceiveReply> poll = r.Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = 0, WaitMilliseconds = 200 }, deadline: deadline, cancellationToken: ct).ResponseAsync;
                SessionInfo s = await info;
                banksSeen.Add(s.Bank);
                Assert.That(s.Banks, Is.EqualTo((uint)Banks));
                Interlocked.Increment(ref sessionCalls);
                Assert.That((await check).Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
                Interlocked.Increment(ref healthCalls);
                await poll;
                Interlocked.Increment(ref pollCalls);
            }
        }).ToArray();
        start.Release(Banks);
        await Task.WhenAll(calls);
        Assert.That((sessionCalls, healthCalls, pollCalls), Is.EqualTo((3 * Banks, 3 * Banks, 3 * Banks)));
        Assert.That(banksSeen.Distinct().Order(), Is.EqualTo(Enumerable.Range(0, Banks).Select(i => (uint)i)), "each connection is the bank its certificate names");

        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        string metrics = await http.GetStringAsync(new Uri(ops, "/metrics"), ct);
        Assert.That(metrics.Split('\n'), Has.Some.Match(@"^fraudfed_connected_banks(\{[^}]*\})? 50(\s|$)"), metrics);
        Assert.That(metrics, Does.Not.Contain("reason=\"RateLimited\""));

        // 2. The appliance still serves: the fifty banks (SDK clients, fifty more TLS connections while the first fifty stay
        //    open) run the masking setup and one round; every bank gets the exact plaintext sum mod 2^32.
        const int length = 64;
        Random rng = TestRandom.Plain(50);
        ulong[][] vectors = Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, length).Select(_ => (ulong)rng.NextInt64(1L << 32)).ToArray()).ToArray();
        var expected = new ulong[length];
        foreach (ulong[] v in vectors)
            for (int j = 0; j < length; j++) expected[j] = (expected[j] + v[j]) & 0xFFFF_FFFF;
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
        Assert.That(results.Count(r => r.Sum.SequenceEqual(expected) && r.Contributors.Count == Banks), Is.EqualTo(Banks));
        Assert.That(results.Select(r => r.Round).Distinct().Count(), Is.EqualTo(1));
        Assert.That(await http.GetStringAsync(new Uri(ops, "/healthz"), ct), Is.EqualTo("Healthy"));
    }
}
