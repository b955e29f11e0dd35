// Set-up shared by the restart and rejoin tests over the real stack (five banks of `aggregator init`'s kit): a bounded wait,
// the value bits of the kit's mode, seeded random vectors and their plaintext sum, a bank's state directory, and the kill
// of a bank's client (FederationClient.AbandonAsKilled: what the operating system does to a killed process) with its restart
// from the same bank.json and state directory.
using FraudFed.Sdk;
using FraudFed.Testing;

namespace FraudFed.Aggregator.Tests;

internal static class FiveBankRounds
{
    public const int Banks = 5;

    public static CancellationToken Bounded(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    /// <summary>Values are below 2^bits: masking's k of the kit's parameters, or t = 2^44 of the homomorphic test set.</summary>
    public static int ValueBits(ApplianceKit kit) =>
        kit.Mode == "masking" ? kit.LoadBank(0).Config.Federation.BuildMaskingParameters(new byte[16]).ModulusBits : 44;

    /// <summary>One vector of <paramref name="length"/> values below 2^min(bits, 62) per bank, from <paramref name="seed"/>.</summary>
    public static ulong[][] Vectors(int seed, int bits, int length)
    {
        Random r = TestRandom.Plain(seed);
        return Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64(1L << Math.Min(bits, 62))).ToArray()).ToArray();
    }

    /// <summary>The plaintext sum mod 2^bits of the vectors of <paramref name="banks"/>, position by position.</summary>
    public static ulong[] PlainSum(ulong[][] vectors, IEnumerable<int> banks, int bits)
    {
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var sum = new ulong[vectors[0].Length];
        foreach (int b in banks)
            for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + vectors[b][i]) & mask;
        return sum;
    }

    /// <summary>Starts the appliance and connects one client per bank (each holds its bank's state directory until the kit is
    /// disposed or the client is killed); returns them, the value bits of the kit's mode, and a token cancelled after
    /// <paramref name="seconds"/>, which bounds the test.</summary>
    public static async Task<(FederationClient[] Clients, int Bits, CancellationToken Ct)> StartConnectedAsync(ApplianceKit kit, int seconds)
    {
        CancellationToken ct = Bounded(seconds);
        await kit.StartAsync();
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        return (clients, ValueBits(kit), ct);
    }

    public static string StateDir(ApplianceKit kit, int bank) => Path.Combine(Path.GetDirectoryName(kit.BankConfigPath(bank))!, "state");

    /// <summary>Kills <paramref name="client"/> as the operating system kills a process (its state directory's lock released, its
    /// connection closed, nothing more written or sent) and starts its bank again from the same bank.json and state directory.</summary>
    public static FederationClient KillAndRestart(ApplianceKit kit, FederationClient client)
    {
        client.AbandonAsKilled();
        return kit.Client(client.Bank);
    }
}
