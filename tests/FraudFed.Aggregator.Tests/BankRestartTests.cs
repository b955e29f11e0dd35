// A bank's restart over the real stack (SPEC.md 14.6): loopback sockets, mutual TLS, certificates from `aggregator init`'s
// code, INSECURE small RLWE parameters. A bank's client is dropped without disposal (as a killed process leaves it) and a
// new client is started from the same state directory; the sealed state files are checked for mode, for the absence of the
// secrets they hold, and for a one-bit tamper.
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
[UnsupportedOSPlatform("windows")]   // file modes are checked as Unix modes
public sealed class BankRestartTests
{
    private const int Banks = 5;
    private const int Length = 300;   // two chunks of the n = 256 test ring
    private const ulong T = 1UL << 44;

    private static ulong[][] Vectors(int seed)
    {
        Random r = TestRandom.Plain(seed);
        return Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64((long)T)).ToArray()).ToArray();
    }

    private static ulong[] PlainSum(IEnumerable<ulong[]> vectors)
    {
        var sum = new ulong[Length];
        foreach (ulong[] v in vectors)
            for (int i = 0; i < Length; i++) sum[i] = (sum[i] + v[i]) % T;
        return sum;
    }

    private static CancellationToken Bounded(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    /// <summary>Gives every bank a state directory and a state key file (0600) beside, not inside, it.</summary>
    private static void WithStateDirectories(ApplianceKit kit)
    {
        for (int i = 0; i < Banks; i++)
        {
            string path = kit.BankConfigPath(i);
            string dir = Path.GetDirectoryName(path)!;
            string keyFile = Path.Combine(dir, "state.key");
            File.WriteAllText(keyFile, "# test state key\n" + Convert.ToHexString(RandomNumberGenerator.GetBytes(32)) + "\n");
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            BankConfig b = ConfigJson.Load<BankConfig>(path);
            File.WriteAllText(path, JsonSerializer.Serialize(b with { StateDirectory = "state", StateKeyFile = "state.key" }, ConfigJson.Options));
        }
    }

    private static string StateDir(ApplianceKit kit, int bank) => Path.Combine(Path.GetDirectoryName(kit.BankConfigPath(bank))!, "state");

    private static HomomorphicBankParty RestoredParty(ApplianceKit kit, LoadedBankConfig c)
    {
        var store = new BankStateStore(c.StateDirectory!, c.StateKey!);
        using SavedBankState saved = store.Load(BankStateKind.Homomorphic)!;
        return HomomorphicBankParty.ImportState(c.Config.Bank, c.Config.Federation.BuildHeRoster(), Ed25519SigningKey.Import(c.ProtocolSeed), store.Ledger, saved.PartyState);
    }

    [Test]
    public async Task BankDroppedWithoutDisposal_RejoinsFromItsStateDirectory_AndTheSessionCompletesWithTheExactSum()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        // Bank 4's first client is never disposed: it is dropped as a killed process would leave it.
        FederationClient killed = FederationClient.Create(kit.LoadBank(Banks - 1), ApplianceKit.FastClient);
        clients[Banks - 1] = killed;
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        ulong[][] first = Vectors(70);
        FederatedSum[] r1 = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(first[i], ct)));
        Assert.That(r1.Select(r => r.Sum), Has.All.EqualTo(PlainSum(first)));

        clients[Banks - 1] = kit.Client(Banks - 1);   // a new process, the same bank.json and state directory
        await clients[Banks - 1].ConnectAsync(ct);
        Assert.That(clients[Banks - 1].IsConnected, Is.True, "the restored bank is ready without a new key setup");
        for (int round = 0; round < 2; round++)
        {
            ulong[][] vectors = Vectors(71 + round);
            FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
            foreach (FederatedSum r in results)
            {
                Assert.That(r.Sum, Is.EqualTo(PlainSum(vectors)), $"round {r.Round} after the restart");
                Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), "the restarted bank contributes");
                Assert.That(r.Round, Is.EqualTo(results[0].Round));
            }
        }
    }

    [Test]
    public async Task BankKilledAfterItsUploadMidRound_TheRoundOpensWithIt_AndTheRestartedBankTakesPartInTheNext()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        var killedToken = CancellationTokenSource.CreateLinkedTokenSource(ct);
        FederationClient killed = FederationClient.Create(kit.LoadBank(Banks - 1), ApplianceKit.FastClient);
        clients[Banks - 1] = killed;
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        int before = kit.Host!.Coordinator.EventCountOf(Banks - 1);
        ulong[][] first = Vectors(75);
        Task<FederatedSum>[] running = clients.Select((c, i) => c.SumAsync(first[i], i == Banks - 1 ? killedToken.Token : ct)).ToArray();
        // Bank 4 (not a decryptor: they are the first T banks) dies once its round request and its upload are stored.
        while (kit.Host.Coordinator.EventCountOf(Banks - 1) < before + 2) await Task.Delay(20, ct);
        killedToken.Cancel();
        // Usually the kill lands while bank 4 waits for the result; when the other banks were fast enough for the round to open
        // within the polling step above, bank 4 already holds the result, which must then be the exact sum as well.
        try
        {
            FederatedSum early = await running[Banks - 1];
            Assert.That(early.Sum, Is.EqualTo(PlainSum(first)), "a bank that finished before the kill got the exact sum");
        }
        catch (OperationCanceledException) { }
        FederatedSum[] r1 = await Task.WhenAll(running.Take(Banks - 1));
        Assert.That(r1.Select(r => r.Sum), Has.All.EqualTo(PlainSum(first)), "bank 4's stored upload is in the sum");

        clients[Banks - 1] = kit.Client(Banks - 1);
        ulong[][] next = Vectors(76);
        FederatedSum[] r2 = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(next[i], ct)));
        foreach (FederatedSum r in r2)
        {
            Assert.That(r.Sum, Is.EqualTo(PlainSum(next)));
            Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)));
        }
    }

    [Test]
    public async Task RestartedBank_StillRefusesASecondActiveSetForASumItHelpedOpen()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        ulong[][] vectors = Vectors(80);
        FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
        ulong round = results[0].Round;

        // Bank 0 restarted: its party and ledger rebuilt from the sealed files only.
        LoadedBankConfig c0 = kit.LoadBank(0);
        using HomomorphicBankParty restored = RestoredParty(kit, c0);
        Assert.That(restored.IsReady, Is.True);
        var ledger = new FileDecryptionLedger(Path.Combine(c0.StateDirectory!, BankStateStore.LedgerFile), c0.StateKey!);
        int threshold = c0.Config.Federation.BuildHeRoster().Policy.Threshold;
        int[] contributors = [.. Enumerable.Range(0, Banks)];
        int[] opened = [.. Enumerable.Range(0, threshold)];                 // the appliance's active set: the first T banks
        int[] other = [0, .. Enumerable.Range(Banks - threshold + 1, threshold - 1)];
        Assert.That(other, Is.Not.EqualTo(opened));
        byte[] tag = restored.SessionTag;
        (uint, byte[])[] Request(int[] active) => [(0u, DecryptionShare.ComputeFingerprint(tag, round, 0, contributors, active))];
        Assert.That(ledger.AnswersRecorded(tag), Is.EqualTo(2), "two chunks answered before the restart");
        Assert.That(ledger.TryRecordAnswers(tag, round, Request(opened), 1 << 20), Is.EqualTo(LedgerDecision.Repeat), "the same request: the same answer");
        Assert.That(ledger.TryRecordAnswers(tag, round, Request(other), 1 << 20), Is.EqualTo(LedgerDecision.Conflict), "another active set is refused");
        Assert.That(ledger.TryRecordEncryption(tag, round, 0, 1), Is.False, "no second encryption under a used common polynomial");
        // The refusals are durable too: a third instance sees the same record.
        var again = new FileDecryptionLedger(Path.Combine(c0.StateDirectory!, BankStateStore.LedgerFile), c0.StateKey!);
        Assert.That(again.AnswersRecorded(tag), Is.EqualTo(2));
        Assert.That(again.TryRecordAnswers(tag, round, Request(other), 1 << 20), Is.EqualTo(LedgerDecision.Conflict));
    }

    [Test]
    public async Task StateFiles_AreMode0600_InA0700Directory_AndHoldNoSecretInTheClear()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        ulong[][] vectors = Vectors(90);
        await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));

        LoadedBankConfig c2 = kit.LoadBank(2);
        string dir = StateDir(kit, 2);
        Assert.That(File.GetUnixFileMode(dir), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        string[] files = Directory.GetFiles(dir).Select(Path.GetFileName).ToArray()!;
        Assert.That(files, Is.EquivalentTo(new[] { BankStateStore.PartyFile, BankStateStore.LedgerFile }), "no temporary file left behind");
        using HomomorphicBankParty restored = RestoredParty(kit, c2);
        byte[] plain = restored.ExportState();
        try
        {
            // The exported state ends with the secret key and the key share: windows across them, the protocol seed and the state key.
            var secrets = new List<byte[]> { c2.ProtocolSeed.ToArray(), c2.StateKey!.Bytes.ToArray() };
            int secretStart = plain.Length - 4 * 1024;
            for (int at = secretStart; at + 32 <= plain.Length; at += 128) secrets.Add(plain.AsSpan(at, 32).ToArray());
            foreach (string f in files)
            {
                string path = Path.Combine(dir, f);
                Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), f);
                byte[] bytes = File.ReadAllBytes(path);
                foreach (byte[] s in secrets) Assert.That(bytes.AsSpan().IndexOf(s), Is.EqualTo(-1), $"{f} holds a secret in the clear");
            }
            // The party file does carry the secret, sealed: its size covers the exported state.
            Assert.That(new FileInfo(Path.Combine(dir, BankStateStore.PartyFile)).Length, Is.GreaterThan(plain.Length));
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    [TestCase(BankStateStore.PartyFile)]
    [TestCase(BankStateStore.LedgerFile)]
    public async Task StateFileWithOneBitFlipped_IsRefusedWithAStateFileException_AndLeftAsItWas(string file)
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        ulong[][] vectors = Vectors(100);
        await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));

        string path = Path.Combine(StateDir(kit, 3), file);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        FederationClient restarted = kit.Client(3);
        StateFileException e = Assert.ThrowsAsync<StateFileException>(() => restarted.ConnectAsync(ct))!;
        Assert.That(e.Path, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain("does not verify"));
        Assert.That(restarted.IsConnected, Is.False);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes), "a refused state file is not rewritten");
    }

    [Test]
    public async Task StateKeyFile_InsideTheStateDirectory_OrReadableByOthers_IsAConfigurationError()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        string path = kit.BankConfigPath(0);
        string keyFile = Path.Combine(Path.GetDirectoryName(path)!, "state.key");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.That(() => BankConfig.Load(path), Throws.TypeOf<ConfigurationException>().With.Message.Contains("chmod 600"));
        BankConfig b = ConfigJson.Load<BankConfig>(path);
        File.WriteAllText(path, JsonSerializer.Serialize(b with { StateKeyFile = "state/state.key" }, ConfigJson.Options));
        Assert.That(() => BankConfig.Load(path), Throws.TypeOf<ConfigurationException>().With.Message.Contains("inside state_directory"));
    }
}
