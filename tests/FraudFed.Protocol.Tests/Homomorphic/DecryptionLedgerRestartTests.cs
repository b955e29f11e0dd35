// The one-answer rule survives a bank restart (SPEC.md 12.3): bank 0's ledger is replaced mid-session by a new instance
// that reads the same stored records (a "disk" of plain byte arrays), as the SDK's durable ledger would after a restart.
// The identical decryption request then gets the identical answer bytes, served from the stored answer; a request for
// the same (round, chunk) with another active set is refused. A ledger that forgot everything would answer it (contrast).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class DecryptionLedgerRestartTests
{
    /// <summary>What a durable ledger keeps on disk: plain copies, nothing shared with a ledger instance.</summary>
    private sealed class LedgerDisk
    {
        public readonly Dictionary<string, (ulong Round, uint Chunk)> LastEncryption = [];
        public readonly Dictionary<(string, ulong, uint), byte[]> Fingerprints = [];
        public readonly Dictionary<(string, ulong, uint), (byte[] Fingerprint, byte[] Share)> Shares = [];
    }

    /// <summary>A ledger instance over a disk: every record is written through; a new instance reads what is stored.</summary>
    private sealed class DiskLedger(LedgerDisk disk) : IDecryptionLedger
    {
        public int StoredAnswersServed;
        private static string Key(ReadOnlySpan<byte> tag) => Convert.ToHexString(tag);

        public bool TryRecordEncryption(ReadOnlySpan<byte> sessionTag, ulong round, uint firstChunk, uint chunkCount)
        {
            string key = Key(sessionTag);
            if (disk.LastEncryption.TryGetValue(key, out var last) && (round < last.Round || (round == last.Round && firstChunk <= last.Chunk))) return false;
            disk.LastEncryption[key] = (round, firstChunk + chunkCount - 1);
            return true;
        }

        public LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> sessionTag, ulong round, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> answers, long budget)
        {
            string key = Key(sessionTag);
            int fresh = 0;
            foreach (var (chunk, fingerprint) in answers)
            {
                if (disk.Fingerprints.TryGetValue((key, round, chunk), out byte[]? previous))
                {
                    if (!CryptographicOperations.FixedTimeEquals(previous, fingerprint)) return LedgerDecision.Conflict;
                }
                else fresh++;
            }
            if (fresh == 0) return LedgerDecision.Repeat;
            if (AnswersRecorded(sessionTag) + fresh > budget) return LedgerDecision.BudgetExhausted;
            foreach (var (chunk, fingerprint) in answers) disk.Fingerprints.TryAdd((key, round, chunk), fingerprint.ToArray());
            return LedgerDecision.Recorded;
        }

        public long AnswersRecorded(ReadOnlySpan<byte> sessionTag)
        {
            string key = Key(sessionTag);
            return disk.Fingerprints.Keys.Count(k => k.Item1 == key);
        }

        public void StoreAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, ReadOnlySpan<byte> share) =>
            disk.Shares[(Key(sessionTag), round, chunk)] = (fingerprint.ToArray(), share.ToArray());

        public bool TryGetAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? share)
        {
            if (disk.Shares.TryGetValue((Key(sessionTag), round, chunk), out var kept) && CryptographicOperations.FixedTimeEquals(kept.Fingerprint, fingerprint))
            {
                StoredAnswersServed++;
                share = kept.Share.ToArray();
                return true;
            }
            share = null;
            return false;
        }
    }

    /// <summary>The ledger a bank holds; <see cref="Inner"/> is replaced to simulate a restart.</summary>
    private sealed class ReplaceableLedger(IDecryptionLedger inner) : IDecryptionLedger
    {
        public IDecryptionLedger Inner { get; set; } = inner;
        public bool TryRecordEncryption(ReadOnlySpan<byte> t, ulong r, uint k, uint c) => Inner.TryRecordEncryption(t, r, k, c);
        public LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> t, ulong r, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> a, long b) => Inner.TryRecordAnswers(t, r, a, b);
        public long AnswersRecorded(ReadOnlySpan<byte> t) => Inner.AnswersRecorded(t);
        public void StoreAnswer(ReadOnlySpan<byte> t, ulong r, uint k, ReadOnlySpan<byte> f, ReadOnlySpan<byte> s) => Inner.StoreAnswer(t, r, k, f, s);
        public bool TryGetAnswer(ReadOnlySpan<byte> t, ulong r, uint k, ReadOnlySpan<byte> f, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? s) => Inner.TryGetAnswer(t, r, k, f, out s);
    }

    private static readonly RlweParameters P = InsecureTestParameters.N256;

    [Test]
    public void ARestartedLedger_AnswersTheSameRequestWithIdenticalBytes_AndRefusesAnotherActiveSet()
    {
        const int banks = 3;   // c = 0, T = K_min = 2
        var disk = new LedgerDisk();
        var ledger0 = new ReplaceableLedger(new DiskLedger(disk));
        var ids = Enumerable.Range(0, banks).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"restart/id/{b}"))).ToArray();
        var aggregatorKey = Ed25519SigningKey.Generate(TestRandom.Create("restart/agg"));
        var roster = new HomomorphicRoster(P, new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 },
            ids.Select(k => k.PublicKey.ToArray()).ToArray(), aggregatorKey.PublicKey.ToArray(), allowInsecureTestParameters: true);
        var parties = Enumerable.Range(0, banks).Select(b => new HomomorphicBankParty(b, roster, ids[b],
            b == 0 ? ledger0 : new InMemoryDecryptionLedger(), l => TestRandom.Create($"restart/{b}/{l}"))).ToArray();
        using var aggregator = new HomomorphicAggregatorParty(roster, aggregatorKey, TestRandom.Create("restart/agg-rng"));
        try
        {
            Route(parties, aggregator, aggregator.StartSession());
            Assert.That(aggregator.IsReady, Is.True);
            for (int b = 0; b < banks; b++) parties[b].Submit(1, Enumerable.Range(0, 300).Select(j => (ulong)(b * 1000 + j)).ToArray());   // two chunks
            Route(parties, aggregator, aggregator.StartRound(1, 300));
            byte[] request = aggregator.CloseUploads([0, 1]).Single(o => o.To == 0).Bytes;

            byte[] first = parties[0].Receive(request).Single();
            Assert.That(HeWire.DecodeToAggregator(first, banks), Is.TypeOf<HeDecryptionSharesMessage>());

            // Restart: a new ledger instance over what was stored.
            var restarted = new DiskLedger(disk);
            ledger0.Inner = restarted;
            byte[] again = parties[0].Receive(request).Single();
            Assert.That(again, Is.EqualTo(first), "the same request gets the identical bytes");
            Assert.That(restarted.StoredAnswersServed, Is.EqualTo(2), "both chunks' answers came from the stored bytes");

            // The same (round, chunks) with another active set: refused, and nothing new recorded.
            var original = (HeDecryptionRequestMessage)HeWire.DecodeToBank(request, banks);
            byte[] otherSet = HeWire.Encode(original with { Active = [0, 2] });
            long recorded = restarted.AnswersRecorded(parties[0].CoreForTestsOnly.Scheme!.SessionTag);
            var refusal = HeWire.DecodeToAggregator(parties[0].Receive(otherSet).Single(), banks);
            Assert.That(refusal, Is.TypeOf<HeAbortToAggregator>().And.Property("Reason").EqualTo(ViolationReason.Refused));
            Assert.That(restarted.AnswersRecorded(parties[0].CoreForTestsOnly.Scheme!.SessionTag), Is.EqualTo(recorded));

            // Contrast: a ledger that forgot everything would answer the other set (the rule lives in the ledger's records).
            ledger0.Inner = new InMemoryDecryptionLedger();
            Assert.That(HeWire.DecodeToAggregator(parties[0].Receive(otherSet).Single(), banks), Is.TypeOf<HeDecryptionSharesMessage>());
        }
        finally
        {
            foreach (HomomorphicBankParty p in parties) p.Dispose();
        }
    }

    [Test]
    public void InMemoryLedger_KeepsAnswerBytesOfTheLatestRoundsOnly_AndOnlyUnderTheRecordedFingerprint()
    {
        var ledger = new InMemoryDecryptionLedger { AnswerRoundsKept = 2 };
        byte[] tag = new byte[16], f = Enumerable.Repeat((byte)7, 32).ToArray(), g = Enumerable.Repeat((byte)8, 32).ToArray();
        for (ulong r = 1; r <= 3; r++)
        {
            Assert.That(ledger.TryRecordAnswers(tag, r, [(0u, f)], 10), Is.EqualTo(LedgerDecision.Recorded));
            ledger.StoreAnswer(tag, r, 0, f, [(byte)r, 1, 2]);
        }
        ledger.StoreAnswer(tag, 3, 1, f, [9]);   // never recorded: not kept
        Assert.That(ledger.TryGetAnswer(tag, 1, 0, f, out _), Is.False, "round 1 is older than the two kept");
        Assert.That(ledger.TryGetAnswer(tag, 3, 0, f, out byte[]? kept), Is.True);
        Assert.That(kept, Is.EqualTo(new byte[] { 3, 1, 2 }));
        kept![0] = 99;
        Assert.That(ledger.TryGetAnswer(tag, 3, 0, f, out byte[]? again) && again![0] == 3, Is.True, "a copy is returned");
        Assert.That(ledger.TryGetAnswer(tag, 3, 0, g, out _), Is.False, "another fingerprint gets nothing");
        Assert.That(ledger.TryGetAnswer(tag, 3, 1, f, out _), Is.False);
    }

    private static void Route(HomomorphicBankParty[] banks, HomomorphicAggregatorParty aggregator, IReadOnlyList<HeOutgoing> outgoing)
    {
        var queue = new Queue<HeOutgoing>(outgoing);
        while (queue.Count > 0)
        {
            HeOutgoing o = queue.Dequeue();
            foreach (byte[] a in banks[o.To].Receive(o.Bytes))
                foreach (HeOutgoing next in aggregator.Receive(o.To, a)) queue.Enqueue(next);
        }
    }
}
