// `aggregator init --banks 2` is accepted in both modes while `simulate` takes 3..100 banks (a fresh-user trial asked whether a
// 2-bank kit can run a sum at all). It can: he with N = 2 has c = 0, T = K_min = 2 (2T = 4 > N + c = 2 and K_min >= c + 2,
// SPEC.md 12.3), masking has t = M = 2; both banks must take part in every round. This runs a kit made by init's own code
// (DevelopmentProvisioning) on the appliance over mutual TLS and checks the sums are exact. What a 2-bank sum cannot hide is
// said by init and SECURITY.md: each bank can subtract its own values from the sum and read the other's.
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture, Parallelizable(ParallelScope.Children)]
public sealed class TwoBankKitTests
{
    [TestCase("he", TestName = "TwoBankKit/he")]
    [TestCase("masking", TestName = "TwoBankKit/masking")]
    public async Task ATwoBankKit_RunsExactSums_WithBothBanksAsContributors(string mode)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: 2);
        FederationSettings settings = kit.LoadBank(0).Config.Federation;
        if (mode == "he")
            Assert.That((settings.He!.Threshold, settings.He.MinContributors, settings.He.MaxColluders), Is.EqualTo((2, 2, 0)), "T = K_min = 2, c = 0 (SPEC.md 12.3)");
        else
            Assert.That(settings.Masking!.Threshold, Is.EqualTo(2));
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await kit.StartAsync();
        FederationClient[] clients = [kit.Client(0), kit.Client(1)];
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(bounded.Token)));
        for (int round = 0; round < 2; round++)
        {
            ulong[][] vectors = [.. Enumerable.Range(0, 2).Select(b => Enumerable.Range(0, 300).Select(j => (ulong)(b * 100_000 + round * 1_000 + j)).ToArray())];
            FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], bounded.Token)));
            ulong[] expected = [.. vectors[0].Zip(vectors[1], (a, b) => a + b)];
            foreach (FederatedSum r in results)
            {
                Assert.That(r.Sum, Is.EqualTo(expected), $"{mode} round {r.Round}");
                Assert.That(r.Contributors, Is.EqualTo(new[] { 0, 1 }));
            }
        }
    }
}
