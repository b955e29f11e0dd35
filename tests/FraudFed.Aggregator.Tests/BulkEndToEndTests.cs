// The bulk channel end to end (SPEC.md 14.8): FederationClient against the real appliance over loopback sockets with real
// mutual TLS. A bank's client offers the bulk channel and h2 in its handshake and the appliance chooses the bulk channel, so
// the megabyte calls (Submit, Receive) travel framed; a client with the channel off, and a gRPC-only client in the same round,
// still reach the same exact sum. INSECURE small RLWE parameters in the homomorphic case.
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class BulkEndToEndTests
{
    private const int Banks = 5;

    private static ulong Modulus(string mode) => mode == "he" ? 1UL << 44 : 1UL << 32;

    private static ulong[][] Vectors(string mode, int length, int seed)
    {
        Random r = FraudFed.Testing.TestRandom.Plain(seed);
        ulong m = Modulus(mode);
        return Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64((long)m)).ToArray()).ToArray();
    }

    private static ulong[] PlainSum(string mode, ulong[][] vectors)
    {
        ulong m = Modulus(mode);
        var sum = new ulong[vectors[0].Length];
        foreach (ulong[] v in vectors)
            for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + v[i]) % m;
        return sum;
    }

    /// <summary>Every bank's client (bulk channel on, or off for the banks in <paramref name="grpcOnly"/>) sums two rounds
    /// through the appliance; returns the clients' bulk connection counts.</summary>
    private static async Task<long[]> TwoRoundsAsync(string mode, int length, int[] grpcOnly)
    {
        // A masking sum of `length` 32-bit values is 4 x length bytes in one Submit and one answer: several TLS records.
        await using ApplianceKit kit = ApplianceKit.Create(mode, maxMessageBytes: 8 << 20);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        CancellationToken ct = timeout.Token;
        await kit.StartAsync();
        var clients = new List<FederationClient>();
        try
        {
            for (int i = 0; i < Banks; i++)
                clients.Add(FederationClient.Create(kit.LoadBank(i), ApplianceKit.FastClient with { BulkChannel = !grpcOnly.Contains(i) }));
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
            for (int round = 0; round < 2; round++)
            {
                ulong[][] vectors = Vectors(mode, length, 40 + round);
                FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
                ulong[] expected = PlainSum(mode, vectors);
                foreach (FederatedSum r in results) Assert.That(r.Sum, Is.EqualTo(expected), $"{mode} round {round}");
            }
            return [.. clients.Select(c => c.BulkConnectionsOpened)];
        }
        finally
        {
            foreach (FederationClient c in clients) await c.DisposeAsync();
        }
    }

    [TestCase("masking", 300_000)]
    [TestCase("he", 300)]
    public async Task BankClients_UseTheBulkChannel_AndSumExactly(string mode, int length)
    {
        long[] opened = await TwoRoundsAsync(mode, length, grpcOnly: []);
        Assert.That(opened, Has.All.GreaterThan(0), "every bank's Submit and Receive went over the bulk channel");
    }

    [Test]
    public async Task ClientsWithTheChannelOff_AndBulkClients_ShareOneRound_ToTheExactSum()
    {
        long[] opened = await TwoRoundsAsync("masking", 300_000, grpcOnly: [1, 3]);
        Assert.That(opened[1], Is.Zero, "bank 1 has the channel off: gRPC only");
        Assert.That(opened[3], Is.Zero, "bank 3 has the channel off: gRPC only");
        Assert.That(new[] { opened[0], opened[2], opened[4] }, Has.All.GreaterThan(0), "the others used the bulk channel");
    }
}
