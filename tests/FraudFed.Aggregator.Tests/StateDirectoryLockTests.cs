// One client per bank state directory (SPEC.md 14.6, SECURITY.md "What a bank stores"), over the real stack: a second
// FederationClient on a directory that a live client holds is refused at creation with StateDirectoryInUseException, before
// any network call and before anything in the directory is read or written; so are the state directory's check and a second
// copy of the ledger. Once the first client is disposed the lock is free, its file stays, and a new client resumes the session.
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using NUnit.Framework;
using static FraudFed.Aggregator.Tests.FiveBankRounds;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class StateDirectoryLockTests
{
    private const int Length = 8;

    /// <summary>Every file of <paramref name="dir"/>: its bytes, or for the held lock file (which no other open may read) its length
    /// and last write time.</summary>
    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f), f => Path.GetFileName(f) == StateDirectoryLock.FileName
            ? $"{new FileInfo(f).Length} bytes, written {File.GetLastWriteTimeUtc(f).Ticks}"
            : Convert.ToHexString(File.ReadAllBytes(f)));

    [Test]
    public async Task SecondClientOnOneStateDirectory_IsRefusedAtOnce_ChangingNothing_AndSucceedsOnceTheFirstIsDisposed()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);
        ulong[][] first = Vectors(7, bits, Length);
        await Task.WhenAll(clients.Select((c, i) => c.SumAsync(first[i], ct)));

        string dir = StateDir(kit, 0);
        Dictionary<string, string> before = Snapshot(dir);
        Assert.That(before.Keys, Does.Contain(BankStateStore.RoundFile).And.Contain(StateDirectoryLock.FileName));
        int stored = kit.Host!.Coordinator.EventCountOf(0);
        LoadedBankConfig c0 = kit.LoadBank(0);
        StateDirectoryInUseException e = Assert.Throws<StateDirectoryInUseException>(() => FederationClient.Create(c0, ApplianceKit.FastClient))!;
        Assert.That(e, Is.InstanceOf<FederationException>());
        Assert.That(e.Directory, Is.EqualTo(c0.StateDirectory));
        Assert.That(e.HolderProcessId, Is.EqualTo(Environment.ProcessId));
        Assert.That(e.HolderStarted, Is.Not.Null);
        Assert.That(e.Message, Does.StartWith($"bank state directory {c0.StateDirectory} is in use by another client in this process (pid {Environment.ProcessId}, started ")
            .And.EndWith("use one FederationClient per bank, or dispose the first before creating the next."));
        Assert.That(() => FederationClient.CheckStateDirectory(c0), Throws.TypeOf<StateDirectoryInUseException>(), "the state directory's check takes the lock too");
        Assert.That(() => new FileDecryptionLedger(Path.Combine(dir, BankStateStore.LedgerFile), c0.StateKey!), Throws.TypeOf<StateDirectoryInUseException>(),
            "a second copy of the ledger is refused");
        Assert.That(Snapshot(dir), Is.EqualTo(before), "the refused opener read or wrote nothing in the directory");
        Assert.That(kit.Host.Coordinator.EventCountOf(0), Is.EqualTo(stored), "and sent nothing");

        await clients[0].DisposeAsync();
        string lockFile = Path.Combine(dir, StateDirectoryLock.FileName);
        Assert.That(File.Exists(lockFile), Is.True, "the lock file is never deleted");
        string holder = File.ReadAllText(lockFile);
        Assert.That(holder, Does.StartWith($"pid {Environment.ProcessId}\nstarted "));
        Assert.That(holder, Does.Not.Contain(Convert.ToHexString(c0.StateKey!.Bytes)).IgnoreCase, "no secret in the lock file");

        clients[0] = kit.Client(0);   // the lock is free: a new client resumes the session from the directory
        await clients[0].ConnectAsync(ct);
        Assert.That(clients[0].IsConnected, Is.True);
        ulong[][] second = Vectors(8, bits, Length);
        foreach (FederatedSum r in await Task.WhenAll(clients.Select((c, i) => c.SumAsync(second[i], ct))))
        {
            Assert.That(r.Sum, Is.EqualTo(PlainSum(second, Enumerable.Range(0, Banks), bits)));
            Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)));
        }
    }
}
