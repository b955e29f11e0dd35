// A bank's restart over the real stack (SPEC.md 14.6): loopback sockets, mutual TLS, certificates from `aggregator init`'s
// code, INSECURE small RLWE parameters. A bank's client is killed (FederationClient.AbandonAsKilled: what the operating system
// does to a killed process) and a new client is started from the same state directory; the sealed state files (key part, round part, ledger) are checked for
// mode, for the absence of the secrets they hold, for a one-bit tamper, for the pairing of the round part with its key part,
// and for the key part being written once per setup.
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
using FraudFed.Sdk.Wire;
using FraudFed.Testing;
using NUnit.Framework;
using static FraudFed.Aggregator.Tests.FiveBankRounds;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
[UnsupportedOSPlatform("windows")]   // file modes are checked as Unix modes
public sealed class BankRestartTests
{
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

    /// <summary>Gives every bank a state directory (<see cref="WithStateDirectories"/>), starts the appliance and makes one client
    /// per bank (not yet connected); the token bounds the test.</summary>
    private static async Task<(FederationClient[] Clients, CancellationToken Ct)> StartWithStateDirectoriesAsync(ApplianceKit kit)
    {
        WithStateDirectories(kit);
        await kit.StartAsync();
        return (Enumerable.Range(0, Banks).Select(kit.Client).ToArray(), Bounded(150));
    }

    /// <summary>The party of <paramref name="c"/>'s bank rebuilt from <paramref name="store"/> (opened on its state directory,
    /// whose lock the store holds: the bank's client is killed or disposed first).</summary>
    private static HomomorphicBankParty RestoredParty(BankStateStore store, LoadedBankConfig c)
    {
        using SavedSplitState saved = store.LoadSplit()!;
        Assert.That(saved.InsecureTestParameters, Is.EqualTo(c.Config.Federation.InsecureTestParameters), "the client's round parts record bank.json's setting (SPEC.md 14.6)");
        return HomomorphicBankParty.ImportState(c.Config.Bank, c.Config.Federation.BuildHeRoster(), Ed25519SigningKey.Import(c.ProtocolSeed), store.Ledger,
            saved.KeyState, saved.RoundState);
    }

    /// <summary>The one key file of a bank's state directory (SPEC.md 14.6).</summary>
    private static string KeyFile(string dir)
    {
        string[] keys = Directory.GetFiles(dir, BankStateStore.KeyFilePrefix + "*.bin");
        Assert.That(keys, Has.Length.EqualTo(1), "one key file");
        return keys[0];
    }

    [Test]
    public async Task BankDroppedWithoutDisposal_RejoinsFromItsStateDirectory_AndTheSessionCompletesWithTheExactSum()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        ulong[][] first = Vectors(70);
        FederatedSum[] r1 = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(first[i], ct)));
        Assert.That(r1.Select(r => r.Sum), Has.All.EqualTo(PlainSum(first)));

        clients[Banks - 1] = KillAndRestart(kit, clients[Banks - 1]);   // a new process, the same bank.json and state directory
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

    /// <summary>Words every refusal of a restarted homomorphic bank's setup names: both causes it cannot tell apart and the fix.</summary>
    private static void AssertSetupNotResumable(FederationException e, ViolationReason refusal)
    {
        Assert.That(e, Is.Not.InstanceOf<MessageRefusedException>(), "one typed exception, not the raw refusal");
        Assert.That(e.InnerException, Is.InstanceOf<MessageRefusedException>().With.Property(nameof(MessageRefusedException.Reason)).EqualTo(refusal));
        Assert.That(e.Message, Does.Contain("stopped during the session's key setup").And.Contain("does not resume")
            .And.Contain("another holder of this bank's certificate").And.Contain("conformance --target")
            .And.Contain("stop the appliance, start a new session (a new appliance state file) and start every bank again"));
    }

    [Test]
    public async Task HeBankKilledDuringKeySetup_AndRestarted_EndsTheSetupAtOnce_TheOthersFailWithinSeconds_NamingIt()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        WithStateDirectories(kit);
        kit.EditConfig(c => c with { Deadlines = c.Deadlines with { SetupSeconds = 120 } });   // the default: nobody waits for it
        await kit.StartAsync();
        CancellationToken ct = Bounded(150);

        // Bank 0 alone: its CrsCommit is stored, then it is killed while it waits for the others' commitments.
        FederationClient first = kit.Client(0);
        using var killed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task setup = first.ConnectAsync(killed.Token);
        while (kit.Host!.Coordinator.EventCountOf(0) < 1) await Task.Delay(20, ct);
        killed.Cancel();
        Assert.That(async () => await setup, Throws.InstanceOf<OperationCanceledException>());
        first.AbandonAsKilled();
        Assert.That(Directory.GetFiles(StateDir(kit, 0)).Select(Path.GetFileName), Is.SubsetOf(new[] { "lock" }), "nothing saved during key setup");

        // The other banks commit; the session then waits for bank 0's reveal, which no process of it can send.
        Task[] others = Enumerable.Range(1, Banks - 1).Select(b => kit.Client(b).ConnectAsync(ct)).ToArray();
        while (Enumerable.Range(1, Banks - 1).Any(b => kit.Host.Coordinator.EventCountOf(b) < 1)) await Task.Delay(20, ct);
        Assert.That(kit.Host.Coordinator.SessionEnded, Is.False);

        // Bank 0 restarted: its fresh CrsCommit (other bytes than its accepted one) is refused with the one typed exception, and
        // the appliance ends the setup at once (SPEC.md 14.5, 14.6).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        FederationClient second = kit.Client(0);
        FederationException restarted = Assert.ThrowsAsync<FederationException>(async () => await second.ConnectAsync(ct))!;
        Assert.That(restarted.InnerException, Is.InstanceOf<MessageRefusedException>());
        AssertSetupNotResumable(restarted, ((MessageRefusedException)restarted.InnerException!).Reason!.Value);
        second.AbandonAsKilled();
        foreach (Task t in others)
        {
            FederationException e = Assert.ThrowsAsync<FederationException>(async () => await t)!;
            Assert.That(e.Message, Does.Contain("TooFewParticipants").And.Contain("bank 0 restarted during the session's key setup")
                .And.Contain("start a new session and start every bank again"));
        }
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "the others fail within seconds, not at the 120 s setup deadline");
        Assert.That(kit.Host.Coordinator.SessionEnded, Is.True);

        // A later try: the session has ended, and the bank is told so, with the cause and what the operator does (not the words of
        // a bank whose own setup messages are there without its saved state).
        // It is told at its first call (GetSession), before it reports a key setup that cannot run (a fresh-user trial saw "key
        // setup with the other banks ..." first).
        var told = new List<SessionProgress>();
        FederationClient third = kit.Client(0, new Progress(told.Add));
        SessionEndedException ended = Assert.ThrowsAsync<SessionEndedException>(async () => await third.ConnectAsync(ct))!;
        Assert.That(told, Is.Empty, "no session progress before the ended session is known");
        Assert.That(ended.Message, Does.StartWith($"the aggregator at {kit.LoadBank(0).Aggregator} has ended its session (aborted: bank 0 restarted during the session's key setup (it sent its ")
            .And.EndWith("): this bank cannot join or resume it; ask the operator to start a new session (a new appliance state file, then serve again), then run this bank again with the others.")
            .And.Not.Contain("no saved state"));
        third.AbandonAsKilled();

        // Counted once, and durable: the restarted appliance replays the end from its log.
        Uri ops = kit.Host.Addresses.First(a => a.Scheme == "http");
        using (var http = new HttpClient())
        {
            string scrape = await http.GetStringAsync(new Uri(ops, "/metrics"), ct);
            Assert.That(scrape.Split('\n').Where(l => l.StartsWith("fraudfed_rounds_total{", StringComparison.Ordinal) && l.Contains("outcome=\"setup_restart\"", StringComparison.Ordinal))
                .Select(l => l.Split(' ')[^1].Trim()), Is.EqualTo(new[] { "1" }), scrape);
        }
        await kit.StopAsync();
        await kit.StartAsync();
        Assert.That(kit.Host!.Coordinator.SessionEnded, Is.True, "the end of setup is in the log");
        Assert.That(kit.Host.Coordinator.Position, Does.Contain("bank 0 restarted during the session's key setup"));
    }

    [Test]
    public async Task HeSetup_AResendOfAcceptedBytesIsAnsweredAsTheFirstSendAndEndsNothing_OtherBytesOfTheSameStageEndTheSetup()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        await kit.StartAsync();
        CancellationToken ct = Bounded(60);
        using RawBank bank0 = kit.Raw(0);
        var start = (HeSessionStartMessage)HeWire.DecodeToBank((await bank0.NextAsync(ct)).Message.Span, Banks);
        byte[] commit = HeWire.Encode(new HeCrsCommitMessage(start.SessionId, RandomNumberGenerator.GetBytes(32)));
        SubmitReply a = await bank0.SubmitAsync(commit);
        int events = kit.Host!.Coordinator.EventCount;
        SubmitReply b = await bank0.SubmitAsync(commit);
        Assert.That((a.Resend, b.Resend, b.Sequence), Is.EqualTo((false, true, a.Sequence)), "a resend is answered as the first send");
        Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "a resend stores nothing");
        Assert.That(kit.Host.Coordinator.SessionEnded, Is.False, "a resend ends nothing");

        // Another CrsCommit of bank 0 (other bytes): refused as a duplicate, and the setup ends for every bank at once.
        byte[] other = HeWire.Encode(new HeCrsCommitMessage(start.SessionId, RandomNumberGenerator.GetBytes(32)));
        Grpc.Core.RpcException refused = Assert.ThrowsAsync<Grpc.Core.RpcException>(() => bank0.SubmitAsync(other))!;
        Assert.That(StatusMapping.ReasonOf(refused), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(kit.Host.Coordinator.SessionEnded, Is.True);
        for (int bank = 0; bank < Banks; bank++)
        {
            using RawBank raw = kit.Raw(bank);
            HeToBank m;
            do m = HeWire.DecodeToBank((await raw.NextAsync(ct)).Message.Span, Banks);
            while (m is HeSessionStartMessage);
            Assert.That(m, Is.InstanceOf<HeAbortToBank>(), $"bank {bank}'s next item");
            var abort = (HeAbortToBank)m;
            Assert.That((abort.Round, abort.Reason), Is.EqualTo((0UL, ViolationReason.TooFewParticipants)));
            Assert.That(abort.Message, Does.Contain("bank 0 restarted during the session's key setup (it sent its crs_commit again with other bytes")
                .And.Contain("start a new session and start every bank again"));
        }
        // A resend of the accepted bytes after the end is still the first answer; it ends nothing more.
        SubmitReply c = await bank0.SubmitAsync(commit);
        Assert.That((c.Resend, c.Sequence), Is.EqualTo((true, a.Sequence)));
    }

    [Test]
    public async Task BankKilledAfterItsUploadMidRound_TheRoundOpensWithIt_AndTheRestartedBankTakesPartInTheNext()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        var killedToken = CancellationTokenSource.CreateLinkedTokenSource(ct);
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
        clients[Banks - 1].AbandonAsKilled();
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
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        ulong[][] vectors = Vectors(80);
        FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
        ulong round = results[0].Round;

        // Bank 0 killed and restarted: its party and ledger (carried by the round part) rebuilt from the sealed files only.
        clients[0].AbandonAsKilled();
        LoadedBankConfig c0 = kit.LoadBank(0);
        string ledgerPath = Path.Combine(c0.StateDirectory!, BankStateStore.LedgerFile);
        Assert.That(File.Exists(ledgerPath), Is.False, "a client keeps its ledger in the round part, not in ledger.bin");
        var store = new BankStateStore(c0.StateDirectory!, c0.StateKey!);
        using HomomorphicBankParty restored = RestoredParty(store, c0);
        Assert.That(restored.IsReady, Is.True);
        FileDecryptionLedger ledger = store.Ledger;
        Assert.That(() => new FileDecryptionLedger(ledgerPath, c0.StateKey!), Throws.TypeOf<StateDirectoryInUseException>(), "one copy of the ledger in use at a time");
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
        // The records are durable: a third instance, rebuilt from the round part, sees the same ones.
        store.Dispose();
        using var again = new BankStateStore(c0.StateDirectory!, c0.StateKey!);
        using (again.LoadSplit()) { }
        Assert.That(again.Ledger.AnswersRecorded(tag), Is.EqualTo(2));
        Assert.That(again.Ledger.TryRecordAnswers(tag, round, Request(other), 1 << 20), Is.EqualTo(LedgerDecision.Conflict));
        Assert.That(again.Ledger.TryRecordEncryption(tag, round, 1, 1), Is.False, "both chunks of the round were encrypted");
    }

    [Test]
    public async Task StateFiles_AreMode0600_InA0700Directory_AndHoldNoSecretInTheClear()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        ulong[][] vectors = Vectors(90);
        await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
        await clients[2].DisposeAsync();

        LoadedBankConfig c2 = kit.LoadBank(2);
        string dir = StateDir(kit, 2);
        Assert.That(File.GetUnixFileMode(dir), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        string[] files = Directory.GetFiles(dir).Select(Path.GetFileName).ToArray()!;
        Assert.That(files, Is.EquivalentTo(new[] { BankStateStore.RoundFile, Path.GetFileName(KeyFile(dir)), StateDirectoryLock.FileName }),
            "no temporary file left behind; no ledger.bin (the round part carries the ledger); the lock file stays after its release");
        byte[] plain;
        using (var store = new BankStateStore(dir, c2.StateKey!))   // released before the loop below reads the lock file
        using (HomomorphicBankParty restored = RestoredParty(store, c2)) plain = restored.ExportKeyState();
        try
        {
            // The key part ends with the secret key and the key share: windows across them, the protocol seed and the state key.
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
            // The key file does carry the secret, sealed: its size covers the key part.
            Assert.That(new FileInfo(KeyFile(dir)).Length, Is.GreaterThan(plain.Length));
        }
        finally { CryptographicOperations.ZeroMemory(plain); }
    }

    [TestCase(BankStateStore.RoundFile, false)]
    [TestCase(BankStateStore.RoundFile, true)]
    [TestCase(BankStateStore.KeyFilePrefix, false)]
    [TestCase(BankStateStore.KeyFilePrefix, true)]
    public async Task StateFileWithOneBitFlippedOrTruncated_IsRefusedWithAStateFileException_AndLeftAsItWas(string file, bool truncate)
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        ulong[][] vectors = Vectors(100);
        await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));

        string path = file == BankStateStore.KeyFilePrefix ? KeyFile(StateDir(kit, 3)) : Path.Combine(StateDir(kit, 3), file);
        byte[] bytes = File.ReadAllBytes(path);
        if (truncate) bytes = bytes[..^1];   // the round part carries the ledger: a lost last byte loses no record unnoticed
        else bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(path, bytes);
        clients[3].AbandonAsKilled();
        FederationClient restarted = kit.Client(3);
        StateFileException e = Assert.ThrowsAsync<StateFileException>(() => restarted.ConnectAsync(ct))!;
        Assert.That(e.Path, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain("does not verify"));
        Assert.That(restarted.IsConnected, Is.False);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes), "a refused state file is not rewritten");
    }

    [Test]
    public async Task KeyPart_IsWrittenOncePerSetup_NotPerMessage_WhileTheRoundPartFollowsEveryMessageWithReplies()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        string dir = StateDir(kit, 1);
        string key = KeyFile(dir);
        string roundFile = Path.Combine(dir, BankStateStore.RoundFile);
        byte[] keyBytes = File.ReadAllBytes(key);
        byte[] roundBytes = File.ReadAllBytes(roundFile);
        for (int round = 0; round < 2; round++)
        {
            ulong[][] vectors = Vectors(110 + round);
            FederatedSum[] results = await Task.WhenAll(clients.Select((c, i) => c.SumAsync(vectors[i], ct)));
            Assert.That(results.Select(r => r.Sum), Has.All.EqualTo(PlainSum(vectors)));
        }
        // Every write seals under a fresh random file name and nonce: the same name and the same bytes mean no second write.
        Assert.That(KeyFile(dir), Is.EqualTo(key), "the key part keeps its file");
        Assert.That(File.ReadAllBytes(key), Is.EqualTo(keyBytes), "the key part was written once, at setup, not per message");
        Assert.That(File.ReadAllBytes(roundFile), Is.Not.EqualTo(roundBytes), "the round part follows the messages");
        // The last round's result has no replies and is not saved on its own (SPEC.md 14.6): the saved item is the last one
        // bank 1 answered (its decryption share or upload), with that reply in the outbox, before the result's sequence.
        LoadedBankConfig c = kit.LoadBank(1);
        await clients[1].DisposeAsync();
        using var store = new BankStateStore(c.StateDirectory!, c.StateKey!);
        using SavedSplitState saved = store.LoadSplit()!;
        Assert.That(saved.Outbox, Is.Not.Empty, "the saved item is one with replies, not the result");
        Assert.That(saved.LastSequence, Is.LessThan(clients[1].Transport.LastDelivered), "the result read after it was not saved");
    }

    [Test]
    public async Task StrayKeyPartOfACrashBeforeItsRoundPart_IsIgnoredAndRemoved_ButARoundPartPairedWithAnotherKeyPartIsRefused()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        const int Bank = 3;
        var (clients, ct) = await StartWithStateDirectoriesAsync(kit);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        ulong[][] first = Vectors(120);
        Assert.That((await Task.WhenAll(clients.Select((c, i) => c.SumAsync(first[i], ct)))).Select(r => r.Sum), Has.All.EqualTo(PlainSum(first)));

        // The process dies after sealing a new key part (as at a key rotation) and before the round part that would name it.
        clients[Bank].AbandonAsKilled();
        string dir = StateDir(kit, Bank);
        string key = KeyFile(dir);
        byte[] keyBytes = File.ReadAllBytes(key);
        LoadedBankConfig c = kit.LoadBank(Bank);
        string stray;
        using (var store = new BankStateStore(dir, c.StateKey!))
        using (HomomorphicBankParty party = RestoredParty(store, c))
        {
            byte[] keyState = party.ExportKeyState();
            try { stray = Path.Combine(dir, store.SaveKeyPart(keyState).File); }
            finally { CryptographicOperations.ZeroMemory(keyState); }

            // The party checks the pairing too: a round part of another key generation is Inconsistent.
            using SavedSplitState saved = store.LoadSplit()!;
            byte[] otherGeneration = saved.RoundState.ToArray();
            otherGeneration[9] ^= 1;   // "FFHR" | version | index (u32) | key generation (u32)
            ProtocolViolationException pv = Assert.Throws<ProtocolViolationException>(() => HomomorphicBankParty.ImportState(Bank,
                c.Config.Federation.BuildHeRoster(), Ed25519SigningKey.Import(c.ProtocolSeed), new InMemoryDecryptionLedger(), saved.KeyState, otherGeneration))!;
            Assert.That(pv.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        }
        Assert.That(Directory.GetFiles(dir, BankStateStore.KeyFilePrefix + "*.bin"), Has.Length.EqualTo(2));

        // The round part names its key file by SHA-256: another key part under that name (it verifies: same bank, same state
        // key) is refused, and nothing is rewritten.
        File.Copy(stray, key, overwrite: true);
        byte[] swapped = File.ReadAllBytes(key);
        FederationClient refused = kit.Client(Bank);
        StateFileException e = Assert.ThrowsAsync<StateFileException>(() => refused.ConnectAsync(ct))!;
        Assert.That(e.Path, Is.EqualTo(key));
        Assert.That(e.Message, Does.Contain("not the one the round part names"));
        Assert.That(refused.IsConnected, Is.False);
        Assert.That(File.ReadAllBytes(key), Is.EqualTo(swapped), "a refused pair is left as it was");
        Assert.That(File.Exists(stray), Is.True);
        File.WriteAllBytes(key, keyBytes);
        await refused.DisposeAsync();

        // The pair on disk is the state before the crash: the bank resumes from it and the next rounds are exact with it.
        clients[Bank] = kit.Client(Bank);
        await clients[Bank].ConnectAsync(ct);
        for (int round = 0; round < 2; round++)
        {
            ulong[][] vectors = Vectors(121 + round);
            foreach (FederatedSum r in await Task.WhenAll(clients.Select((cl, i) => cl.SumAsync(vectors[i], ct))))
            {
                Assert.That(r.Sum, Is.EqualTo(PlainSum(vectors)));
                Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), "the restarted bank contributes");
            }
        }
        Assert.That(KeyFile(dir), Is.EqualTo(key), "the stray key part is removed at the first save, the named one kept");
    }

    [Test]
    public void HomomorphicStateOfTheSingleFileLayout_IsRefusedWithAdviceToStartANewSession()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-oldstate-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            using StateKey key = StateKey.FromBytes(RandomNumberGenerator.GetBytes(32));
            using var store = new BankStateStore(dir, key);
            Assert.That(store.LoadSplit(), Is.Null, "an empty directory: no state yet");
            store.Save(BankStateKind.Homomorphic, [1, 2, 3], 5, []);
            StateFileException e = Assert.Throws<StateFileException>(() => store.LoadSplit())!;
            Assert.That(e.Path, Is.EqualTo(store.PartyPath));
            Assert.That(e.Message, Does.Contain("single-file layout").And.Contain("start a new session"));
        }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
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

    private sealed class Progress(Action<SessionProgress> report) : IProgress<SessionProgress>
    {
        public void Report(SessionProgress value) => report(value);
    }
}
