// A masking bank's restart over the real stack (SPEC.md 14.7): loopback sockets, mutual TLS, certificates and state
// directories from `aggregator init`'s code, 5 banks. A bank's client is killed (FederationClient.AbandonAsKilled: what the
// operating system does to a killed process) after session setup or inside a round, and a new client is started from the same state directory: it rejoins without a
// new key setup, leaves the round it was inside (the others finish it through dropout recovery), and every later sum is the
// plaintext sum. The sealed bank-state file of a masking bank is checked for a one-bit tamper and for the mode it records.
using System.Runtime.Versioning;
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using FraudFed.Testing;
using NUnit.Framework;
using static FraudFed.Aggregator.Tests.FiveBankRounds;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
[UnsupportedOSPlatform("windows")]   // file modes are checked as Unix modes
public sealed class MaskingBankRestartTests
{
    private const int Length = 40;

    private static ulong[][] Vectors(int seed, int bits) => FiveBankRounds.Vectors(seed, bits, Length);

    [Test]
    public async Task MaskingBankDroppedAfterSetup_RejoinsFromItsStateDirectory_AndTheNextRoundsAreExact()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking");
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);
        ulong[][] first = Vectors(10, bits);
        FederatedSum[] r1 = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(first[i], ct)));
        Assert.That(r1.Select(r => r.Sum), Has.All.EqualTo(PlainSum(first, Enumerable.Range(0, Banks), bits)));
        string[] files = Directory.GetFiles(StateDir(kit, Banks - 1)).Select(Path.GetFileName).ToArray()!;
        Assert.That(files, Does.Contain(BankStateStore.PartyFile), "the masking bank's state is sealed to its state directory");
        Assert.That(File.GetUnixFileMode(Path.Combine(StateDir(kit, Banks - 1), BankStateStore.PartyFile)), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

        clients[Banks - 1].AbandonAsKilled();   // killed: its state directory's lock is released
        using (var store = new BankStateStore(StateDir(kit, Banks - 1), kit.LoadBank(Banks - 1).StateKey!))
        using (SavedBankState saved = store.Load(BankStateKind.Masking)!)
            Assert.That(saved.InsecureTestParameters, Is.True, "the client's saves record bank.json's insecure_test_parameters (SPEC.md 14.6)");
        clients[Banks - 1] = kit.Client(Banks - 1);   // a new process, the same bank.json and state directory
        await clients[Banks - 1].ConnectAsync(ct);
        Assert.That(clients[Banks - 1].IsConnected, Is.True, "the restored bank is ready without a new key setup");
        for (int round = 0; round < 2; round++)
        {
            ulong[][] vectors = Vectors(11 + round, bits);
            FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
            foreach (FederatedSum r in results)
            {
                Assert.That(r.Sum, Is.EqualTo(PlainSum(vectors, Enumerable.Range(0, Banks), bits)), $"round {r.Round} after the restart");
                Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), "the restarted bank contributes");
                Assert.That(r.Round, Is.EqualTo(results[0].Round));
                Assert.That(r.Round, Is.GreaterThan(r1[0].Round));
            }
        }
    }

    [Test]
    public async Task MaskingBankKilledInsideARound_LeavesIt_TheOthersFinishItExactly_AndTheRestartedBankTakesPartInTheNext()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking");
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);
        using var killedToken = CancellationTokenSource.CreateLinkedTokenSource(ct);

        // Bank 4 dies as soon as it saved its ShareKeys state (before ShareKeys leaves, SPEC.md 14.7): the first write of its
        // state file after setup. Its ShareDelivery cannot come before every bank's ShareKeys reached the appliance, so the kill
        // lands inside the round.
        using var watcher = new FileSystemWatcher(StateDir(kit, Banks - 1), BankStateStore.PartyFile) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite };
        watcher.Created += (_, _) => killedToken.Cancel();
        watcher.Renamed += (_, _) => killedToken.Cancel();
        watcher.Changed += (_, _) => killedToken.Cancel();
        watcher.EnableRaisingEvents = true;
        ulong[][] first = Vectors(20, bits);
        Task<FederatedSum>[] running = clients.Select((c, i) => c.SumAsync(first[i], i == Banks - 1 ? killedToken.Token : ct)).ToArray();
        Assert.That(async () => await running[Banks - 1], Throws.InstanceOf<OperationCanceledException>(), "bank 4 was killed inside the round");
        watcher.EnableRaisingEvents = false;
        clients[Banks - 1].AbandonAsKilled();

        // The saved state says bank 4 was inside round 1: a restart leaves that round.
        using (var store = new BankStateStore(StateDir(kit, Banks - 1), kit.LoadBank(Banks - 1).StateKey!))
        using (SavedBankState saved = store.Load(BankStateKind.Masking)!)
        {
            LoadedBankConfig c4 = kit.LoadBank(Banks - 1);
            var p = c4.Config.Federation.BuildMaskingParameters(saved.PartyState.AsSpan(5, 16));
            using MaskingBank restored = MaskingBank.ImportState(p, Banks - 1, Ed25519SigningKey.Import(c4.ProtocolSeed), c4.Config.Federation.IdentityKeyBytes(),
                saved.PartyState, RandomNumberGenerator.Create());
            Assert.That(restored.InterruptedRound, Is.Not.Null, "the state was saved inside the round");
        }

        clients[Banks - 1] = kit.Client(Banks - 1);   // restarted: resends its saved ShareKeys, then leaves the round
        await clients[Banks - 1].ConnectAsync(ct);
        FederatedSum[] r1 = await Task.WhenAll(running.Take(Banks - 1));
        int[] others = [.. Enumerable.Range(0, Banks - 1)];
        foreach (FederatedSum r in r1)
        {
            Assert.That(r.Contributors, Is.EqualTo(others), "bank 4 sent no masked input in round 1");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(first, others, bits)), "the others finished round 1 through dropout recovery");
        }

        for (int round = 0; round < 2; round++)
        {
            ulong[][] next = Vectors(21 + round, bits);
            FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(next[i], ct)));
            foreach (FederatedSum r in results)
            {
                Assert.That(r.Sum, Is.EqualTo(PlainSum(next, Enumerable.Range(0, Banks), bits)));
                Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), "the restarted bank contributes");
                Assert.That(r.Round, Is.GreaterThan(r1[0].Round));
            }
        }
    }

    /// <summary>A client started on a state that recorded another insecure_test_parameters than its bank.json (the kit's is true)
    /// is refused when it joins, naming the setting with both values, and the state is kept (SPEC.md 14.6, "Recorded settings").</summary>
    [Test]
    public async Task AClientOnAStateSavedUnderTheOtherInsecureTestParameters_IsRefused_NamingTheSetting()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking");
        CancellationToken ct = Bounded(60);
        await kit.StartAsync();
        LoadedBankConfig b = kit.LoadBank(0);
        FederationSettings f = b.Config.Federation;
        Assert.That(f.InsecureTestParameters, Is.True);
        // A state of this bank in an earlier session of this federation, saved when bank.json said false.
        using (var bank = new MaskingBank(f.BuildMaskingParameters(RandomNumberGenerator.GetBytes(MaskingParameters.SessionIdSize)), 0,
            Ed25519SigningKey.Import(b.ProtocolSeed), f.IdentityKeyBytes(), RandomNumberGenerator.Create()))
        using (var store = new BankStateStore(StateDir(kit, 0), b.StateKey!) { InsecureTestParameters = false })
        {
            byte[] advertise = bank.AdvertiseKeys();
            byte[] state = bank.ExportState();
            store.Save(BankStateKind.Masking, state, 1, [advertise]);
            CryptographicOperations.ZeroMemory(state);
        }
        string file = Path.Combine(StateDir(kit, 0), BankStateStore.PartyFile);
        byte[] before = File.ReadAllBytes(file);
        FederationClient client = kit.Client(0);   // disposed with the kit
        StateFileException e = Assert.ThrowsAsync<StateFileException>(() => client.ConnectAsync(ct))!;
        Assert.That(e.Message, Does.Contain("(federation.insecure_test_parameters is true there, false in the state) differ from those this state directory was created with"));
        Assert.That(File.ReadAllBytes(file), Is.EqualTo(before), "the state is never overwritten");
    }

    [Test]
    public void SealedMaskingState_RoundTrips_IsRefusedAfterAnyOneBitFlip_AndIsNotTakenForAHomomorphicState()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-mstate-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            using StateKey key = StateKey.FromBytes(RandomNumberGenerator.GetBytes(32));
            using var store = new BankStateStore(Path.Combine(dir, "state"), key);
            RandomNumberGenerator rng = TestRandom.Create("sealed-masking-state");
            var p = new MaskingParameters(new byte[16], 3, 2, 32);
            Ed25519SigningKey[] ids = Enumerable.Range(0, 3).Select(_ => Ed25519SigningKey.Generate(rng)).ToArray();
            byte[][] pub = ids.Select(k => k.PublicKey.ToArray()).ToArray();
            using var bank = new MaskingBank(p, 1, ids[1], pub, rng);
            byte[] advertise = bank.AdvertiseKeys();
            byte[] state = bank.ExportState();
            store.Save(BankStateKind.Masking, state, 7, [advertise]);

            using (SavedBankState saved = store.Load(BankStateKind.Masking)!)
            {
                Assert.That(saved.PartyState, Is.EqualTo(state));
                Assert.That(saved.LastSequence, Is.EqualTo(7UL));
                Assert.That(saved.Outbox, Is.EqualTo(new[] { advertise }));
            }
            StateFileException kind = Assert.Throws<StateFileException>(() => store.Load(BankStateKind.Homomorphic))!;
            Assert.That(kind.Message, Does.Contain("masking bank's state").And.Contain("homomorphic federation"));

            string path = store.PartyPath;
            byte[] sealedBytes = File.ReadAllBytes(path);
            Assert.That(sealedBytes.AsSpan().IndexOf(state.AsSpan(84, 32)), Is.EqualTo(-1), "the channel private key is not in the clear");
            for (int at = 0; at < sealedBytes.Length; at += Math.Max(1, sealedBytes.Length / 40))
            {
                byte[] flipped = sealedBytes.ToArray();
                flipped[at] ^= (byte)(1 << (at % 8));
                File.WriteAllBytes(path, flipped);
                Assert.That(() => store.Load(BankStateKind.Masking), Throws.TypeOf<StateFileException>(), $"bit {at % 8} of byte {at}");
                Assert.That(File.ReadAllBytes(path), Is.EqualTo(flipped), "a refused file is not rewritten");
            }
            File.WriteAllBytes(path, sealedBytes);
            using (SavedBankState again = store.Load(BankStateKind.Masking)!) Assert.That(again.PartyState, Is.EqualTo(state));

            store.Save(BankStateKind.Homomorphic, [1, 2, 3], 1, []);
            StateFileException he = Assert.Throws<StateFileException>(() => store.Load(BankStateKind.Masking))!;
            Assert.That(he.Message, Does.Contain("homomorphic bank's state").And.Contain("masking federation"));
            CryptographicOperations.ZeroMemory(state);
            foreach (Ed25519SigningKey k in ids) k.Dispose();
        }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
    }
}
