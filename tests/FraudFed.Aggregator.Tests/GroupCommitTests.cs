// Group commit of the appliance's state (SPEC.md 14.5, durability): messages that arrive while a transaction is being
// written share the next one, no caller is answered before the transaction holding its message commits, every
// acknowledged message is in the log after a reopen (payload files included), and a batch that fails to commit fails
// every caller in it. Real SQLite and real files; the coordinator is driven directly with real masking AdvertiseKeys.
using System.Security.Cryptography;
using FraudFed.Aggregator.Coordination;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class GroupCommitTests
{
    private const int Banks = 5;

    [Test]
    public async Task ConcurrentSubmissions_ShareACommit_NoneIsAnsweredBeforeIt_AndAllSurviveAReopen()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", Banks);
        using LoadedAggregatorConfig config = AggregatorConfig.Load(kit.ConfigPath);
        byte[][] messages;
        long[] sequences;
        using (var store = new GatedStore(new SqliteAggregatorStore(config.StatePath) { PayloadFileThreshold = 1 }))
        using (var metrics = new AggregatorMetrics())
        using (var coordinator = new Coordinator(config, store, metrics, NullLogger<Coordinator>.Instance))
        {
            messages = AdvertiseKeys(kit, coordinator.SessionId);
            store.Hold();   // the next transaction waits until released
            Task<(long Sequence, bool Resend)>[] submits = Enumerable.Range(0, Banks).Select(b => Task.Run(() => coordinator.SubmitAsync(b, messages[b]))).ToArray();
            while (coordinator.RoundMessages < Banks) await Task.Delay(10);   // every message applied, at most the first batch written
            await Task.Delay(100);
            Assert.That(submits.Count(t => t.IsCompleted), Is.Zero, "no caller is answered before its transaction commits");
            store.Release();
            (long Sequence, bool Resend)[] answers = await Task.WhenAll(submits).WaitAsync(TimeSpan.FromSeconds(60));
            sequences = answers.Select(a => a.Sequence).ToArray();
            Assert.That(answers.Select(a => a.Resend), Is.All.False);
            Assert.That(sequences.Distinct().Count(), Is.EqualTo(Banks));
            Assert.That(store.BatchSizes.Max(), Is.GreaterThanOrEqualTo(2), $"messages that arrived during a commit share the next one (batches: {string.Join(",", store.BatchSizes)})");
            Assert.That(store.BatchSizes.Sum(), Is.GreaterThan(store.BatchSizes.Count));

            var again = await coordinator.SubmitAsync(2, messages[2]);
            Assert.That(again, Is.EqualTo((sequences[2], true)), "a resend gets the first answer");
        }

        using (var reopened = new SqliteAggregatorStore(config.StatePath))
        {
            Dictionary<long, StoredEvent> log = reopened.ReadEvents().ToDictionary(e => e.Sequence);
            for (int b = 0; b < Banks; b++)
            {
                StoredEvent e = log[sequences[b]];
                Assert.That((e.Kind, e.Bank), Is.EqualTo((EventKind.Inbound, b)));
                Assert.That(e.Payload, Is.EqualTo(messages[b]), "the payload file holds the submitted bytes");
            }
        }

        // One flipped bit in a payload file: the log no longer replays, and says which file to restore.
        string file = Directory.GetFiles(config.StatePath + ".payloads", "0-*.bin").Single();
        byte[] bytes = File.ReadAllBytes(file);
        bytes[^1] ^= 1;
        File.WriteAllBytes(file, bytes);
        using (var tampered = new SqliteAggregatorStore(config.StatePath))
            Assert.That(() => tampered.ReadEvents(), Throws.TypeOf<InvalidDataException>().With.Message.Contains(Path.GetFileName(file)));
    }

    [Test]
    public async Task ABatchThatFailsToCommit_FailsEveryCallerInIt_AndNothingOfItIsStored()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", Banks);
        using LoadedAggregatorConfig config = AggregatorConfig.Load(kit.ConfigPath);
        int before;
        using (var store = new GatedStore(new SqliteAggregatorStore(config.StatePath)))
        using (var metrics = new AggregatorMetrics())
        using (var coordinator = new Coordinator(config, store, metrics, NullLogger<Coordinator>.Instance))
        {
            before = store.ReadEvents().Count;
            byte[][] messages = AdvertiseKeys(kit, coordinator.SessionId);
            store.Hold(fail: true);
            Task<(long, bool)>[] submits = Enumerable.Range(0, Banks).Select(b => Task.Run(() => coordinator.SubmitAsync(b, messages[b]))).ToArray();
            while (coordinator.RoundMessages < Banks) await Task.Delay(10);
            store.Release();
            foreach (Task<(long, bool)> t in submits)
                Assert.That(async () => await t.WaitAsync(TimeSpan.FromSeconds(60)), Throws.TypeOf<ApplianceUnavailableException>());
            Assert.That(coordinator.Failed, Is.True);
            Assert.That(async () => await coordinator.SubmitAsync(0, messages[0]), Throws.TypeOf<ApplianceUnavailableException>(),
                "nothing is accepted after a failed commit, not even a resend of a message that was never durable");
        }
        using var reopened = new SqliteAggregatorStore(config.StatePath);
        Assert.That(reopened.ReadEvents().Count, Is.EqualTo(before));
    }

    private static byte[][] AdvertiseKeys(ApplianceKit kit, byte[] sessionId) =>
        Enumerable.Range(0, Banks).Select(b =>
        {
            LoadedBankConfig bank = kit.LoadBank(b);
            FederationSettings f = bank.Config.Federation;
            using var party = new MaskingBank(f.BuildMaskingParameters(sessionId), b, Ed25519SigningKey.Import(bank.ProtocolSeed), f.IdentityKeyBytes(), RandomNumberGenerator.Create());
            return party.AdvertiseKeys();
        }).ToArray();

    /// <summary>A real store whose next transaction, once held, waits for the test (and then commits or fails).</summary>
    private sealed class GatedStore(SqliteAggregatorStore inner) : IAggregatorStore
    {
        private readonly ManualResetEventSlim _gate = new(true);
        private volatile bool _held, _fail;
        public List<int> BatchSizes { get; } = [];

        public void Hold(bool fail = false)
        {
            _fail = fail;
            _gate.Reset();
            _held = true;
        }

        public void Release() => _gate.Set();

        public string? ConfigDigest => inner.ConfigDigest;
        public int PayloadFileThreshold => inner.PayloadFileThreshold;
        public void Initialize(string configDigest) => inner.Initialize(configDigest);
        public IReadOnlyList<StoredEvent> ReadEvents() => inner.ReadEvents();
        public long Append(StoredEvent e, IReadOnlyList<OutboundItem> outbound) => AppendBatch([new AppendEntry(e, outbound)]).Sequences[0];

        public AppendedBatch AppendBatch(IReadOnlyList<AppendEntry> entries)
        {
            if (_held)
            {
                _gate.Wait(TimeSpan.FromSeconds(60));
                _held = false;
                if (_fail) throw new IOException("disk full (test)");
            }
            lock (BatchSizes) BatchSizes.Add(entries.Count);
            return inner.AppendBatch(entries);
        }

        public void WritePayloadFile(int bank, byte[] digest, byte[] payload) => inner.WritePayloadFile(bank, digest, payload);
        public long? FindInbound(int bank, byte[] digest) => inner.FindInbound(bank, digest);
        public IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems) => inner.ReadMailbox(bank, afterSequence, maxItems);
        public long LastMailboxSequence(int bank) => inner.LastMailboxSequence(bank);

        public void Dispose()
        {
            inner.Dispose();
            _gate.Dispose();
        }
    }
}
