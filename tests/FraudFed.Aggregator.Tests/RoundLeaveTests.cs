// A bank killed inside a round before it saved anything of that round (SPEC.md 14.5, "A bank that asks again"): over the real
// stack (loopback sockets, mutual TLS, `aggregator init`'s kit, 5 banks) bank 4 asks to join round 1 and is dropped without
// disposal (as a killed process leaves it) before it sends anything of that round. Restarted from its state directory, it
// asks for the next round: the appliance takes that as bank 4 leaving round 1 at once, so round 1 finishes exactly without it
// long before the stage deadline (120 s here), and bank 4 takes part in round 2. Both modes; then the same appliance is
// restarted and its log replayed, which must give the same decisions.
using System.Diagnostics;
using FraudFed.Sdk;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class RoundLeaveTests
{
    private const int Banks = 5;
    private const int Length = 40;
    private const double StageSeconds = 120;

    private static CancellationToken Bounded(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    private static ulong[][] Vectors(int seed, int bits)
    {
        Random r = TestRandom.Plain(seed);
        return Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64(1L << Math.Min(bits, 62))).ToArray()).ToArray();
    }

    private static ulong[] PlainSum(ulong[][] vectors, IEnumerable<int> banks, int bits)
    {
        ulong mask = (1UL << bits) - 1;
        var sum = new ulong[Length];
        foreach (int b in banks)
            for (int i = 0; i < Length; i++) sum[i] = (sum[i] + vectors[b][i]) & mask;
        return sum;
    }

    [TestCase("masking")]
    [TestCase("he")]
    public async Task BankKilledAfterAskingToJoin_AsksForTheNextRound_LeavesTheOpenRoundAtOnce_AndTakesPartInTheNext(string mode)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, stageSeconds: StageSeconds);
        await kit.StartAsync();
        int bits = mode == "masking" ? kit.LoadBank(0).Config.Federation.BuildMaskingParameters(new byte[16]).ModulusBits : 44;
        CancellationToken ct = Bounded(110);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        // Bank 4's first client is never disposed: it is dropped as a killed process would leave it.
        clients[Banks - 1] = FederationClient.Create(kit.LoadBank(Banks - 1), ApplianceKit.FastClient);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));

        ulong[][] first = Vectors(30, bits);
        Task<FederatedSum>[] running = clients.Take(Banks - 1).Select((c, i) => c.SumAsync(first[i], ct)).ToArray();
        // Bank 4 asks to join round 1 (what SumAsync does first) and dies before it handles anything of the round.
        ulong asked = await clients[Banks - 1].Transport.RequestRoundAsync(Length, ct);
        Assert.That(asked, Is.EqualTo(1UL));
        Assert.That(() => kit.Host!.Coordinator.Position, Does.Not.Contain("asked for round").And.Not.Contain("no round running").After(20_000, 50),
            "round 1 opened with all five banks");

        var clock = Stopwatch.StartNew();
        clients[Banks - 1] = kit.Client(Banks - 1);   // restarted from its state directory
        await clients[Banks - 1].ConnectAsync(ct);
        ulong[][] second = Vectors(31, bits);
        Task<FederatedSum> restarted = clients[Banks - 1].SumAsync(second[Banks - 1], ct);   // asks for round 2: leaves round 1
        FederatedSum[] r1 = await Task.WhenAll(running);
        double waited = clock.Elapsed.TotalSeconds;
        int[] others = [.. Enumerable.Range(0, Banks - 1)];
        foreach (FederatedSum r in r1)
        {
            Assert.That(r.Round, Is.EqualTo(1UL));
            Assert.That(r.Contributors, Is.EqualTo(others), "round 1 finished without bank 4");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(first, others, bits)), "round 1's sum is exactly the other banks' sum");
        }
        Assert.That(waited, Is.LessThan(StageSeconds / 2), "round 1 did not wait for bank 4 until the stage deadline");

        FederatedSum[] r2 = await Task.WhenAll(clients.Take(Banks - 1).Select((c, i) => c.SumAsync(second[i], ct)).Append(restarted));
        foreach (FederatedSum r in r2)
        {
            Assert.That(r.Round, Is.EqualTo(2UL));
            Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), "the restarted bank takes part in round 2");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(second, Enumerable.Range(0, Banks), bits)));
        }

        // The leave is a function of the log: a restarted appliance replays it to the same place and the next round is exact.
        string before = kit.Host!.Coordinator.Position;
        await kit.StopAsync();
        await kit.StartAsync();
        Assert.That(kit.Host!.Coordinator.Position, Is.EqualTo(before));
        ulong[][] third = Vectors(32, bits);
        FederatedSum[] r3 = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(third[i], ct)));
        foreach (FederatedSum r in r3)
        {
            Assert.That(r.Round, Is.EqualTo(3UL));
            Assert.That(r.Sum, Is.EqualTo(PlainSum(third, Enumerable.Range(0, Banks), bits)));
        }
    }
}
