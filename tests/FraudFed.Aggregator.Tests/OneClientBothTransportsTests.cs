// One bank client for both transports (SPEC.md 15): the protocol layer's HomomorphicSecureSumClient drives the same five
// bank parties (built from the kit's bank.json files: their own protocol keys, the kit's roster) once in process over an
// InMemorySumTransport with the HomomorphicCoordinator, and once over the appliance's gRPC mailbox (loopback sockets, real
// mutual TLS) through the SDK's ApplianceBankTransport. Both sums are checked against the plaintext sum mod t computed here.
// INSECURE small RLWE parameters.
using FraudFed.Aggregator.Hosting;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class OneClientBothTransportsTests
{
    private const int Banks = 5;
    private const int Length = 300;   // two chunks of the n = 256 test ring
    private const int TBits = 44;
    private const ulong T = 1UL << TBits;

    private static ulong[][] Vectors(int seed)
    {
        Random r = TestRandom.Plain(seed);
        return Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64((long)T)).ToArray()).ToArray();
    }

    private static ulong[] PlainSum(ulong[][] vectors)
    {
        var sum = new ulong[Length];
        foreach (ulong[] v in vectors)
            for (int i = 0; i < Length; i++) sum[i] = (sum[i] + v[i]) % T;
        return sum;
    }

    private static HomomorphicBankParty Party(LoadedBankConfig c) =>
        new(c.Config.Bank, c.Config.Federation.BuildHeRoster(), Ed25519SigningKey.Import(c.ProtocolSeed), new InMemoryDecryptionLedger());

    private static void AssertExact(SecureSumClientResult[] results, ulong[][] vectors, string transport)
    {
        ulong[] expected = PlainSum(vectors);
        foreach (SecureSumClientResult r in results)
        {
            Assert.That(r.Sum, Is.EqualTo(expected), $"{transport}: bank sum of round {r.Round}");
            Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), transport);
            Assert.That(r.Contributed, Is.True, transport);
        }
    }

    [Test]
    public async Task HomomorphicSecureSumClient_DrivesTheSameBanks_InProcessAndOverTheAppliancesMutualTls_ToTheExactSum()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        CancellationToken ct = timeout.Token;
        LoadedBankConfig[] configs = Enumerable.Range(0, Banks).Select(kit.LoadBank).ToArray();

        // In process: the kit's roster and keys, an in-memory transport, the coordinator of the protocol layer.
        using LoadedAggregatorConfig aggregatorConfig = AggregatorConfig.Load(kit.ConfigPath);
        using Ed25519SigningKey aggregatorKey = Ed25519SigningKey.Import(aggregatorConfig.AggregatorSeed!);
        using (var aggregator = new HomomorphicAggregatorParty(configs[0].Config.Federation.BuildHeRoster(), aggregatorKey))
        {
            var memory = new InMemorySumTransport(Banks);
            HomomorphicBankParty[] parties = configs.Select(Party).ToArray();
            try
            {
                HomomorphicSecureSumClient[] clients = parties.Select((p, i) => new HomomorphicSecureSumClient(p, memory.Bank(i))).ToArray();
                var coordinator = new HomomorphicCoordinator(aggregator, memory.Aggregator);
                await Task.WhenAll(clients.Select(c => c.JoinAsync(ct)).Append(coordinator.SetupAsync(ct)));
                ulong[][] vectors = Vectors(120);
                Task<CoordinatorRoundResult> round = coordinator.RunRoundAsync(1, Length, cancellationToken: ct);
                SecureSumClientResult[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], new SumContext(1, Length, TBits), ct)));
                Assert.That((await round).Sum, Is.EqualTo(PlainSum(vectors)), "in process: the coordinator's sum");
                AssertExact(results, vectors, "in process");
            }
            finally { foreach (HomomorphicBankParty p in parties) p.Dispose(); }
        }

        // Over gRPC: new parties with the same keys, the same client type, the appliance's mailbox as the transport.
        await kit.StartAsync();
        FederationClient[] sdk = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        HomomorphicBankParty[] remote = Enumerable.Range(0, Banks).Select(kit.LoadBank).Select(Party).ToArray();
        try
        {
            HomomorphicSecureSumClient[] clients = remote.Select((p, i) => new HomomorphicSecureSumClient(p, sdk[i].Transport)).ToArray();
            await Task.WhenAll(clients.Select(c => c.JoinAsync(ct)));
            for (int r = 0; r < 2; r++)
            {
                ulong[][] vectors = Vectors(121 + r);
                ulong[] rounds = await Task.WhenAll(sdk.Select(s => s.Transport.RequestRoundAsync(Length, ct)));
                Assert.That(rounds, Has.All.EqualTo(rounds[0]), "every bank is queued for the same round");
                SecureSumClientResult[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], new SumContext(rounds[i], Length, TBits), ct)));
                AssertExact(results, vectors, "over gRPC");
                Assert.That(results.Select(x => x.Round), Has.All.EqualTo(rounds[0]));
            }
            Assert.That(clients.SelectMany(c => c.Refusals), Is.Empty, "no aggregator message was refused");
        }
        finally { foreach (HomomorphicBankParty p in remote) p.Dispose(); }
    }
}
