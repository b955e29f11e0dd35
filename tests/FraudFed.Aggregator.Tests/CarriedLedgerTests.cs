// The homomorphic round part carries the bank's decryption ledger (SPEC.md 14.6): one durable write per handled message. A
// ledger record is pending (in memory only) until a round part holds it; a restart reads the ledger of the last round part
// written, so a record whose round part was never written is absent (nothing it allowed left the bank), and a record whose
// round part was written is refused again. A round part of the layout before (version 1, its ledger in ledger.bin) is refused.
using System.Security.Cryptography;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class CarriedLedgerTests : StateDirectoryFixture
{
    private static readonly byte[] Tag = [.. Enumerable.Range(1, 16).Select(i => (byte)i)];
    private static readonly byte[] RoundState = "FFHR-test-round-state"u8.ToArray();   // the store does not parse it (the party does)

    protected override string DirectoryPrefix => "fraudfed-carried-ledger-";

    private static (uint, byte[])[] Answer(byte fill) => [(0u, Enumerable.Repeat(fill, 32).ToArray())];

    [Test]
    public void LedgerRecords_AreDurableWithTheNextRoundPart_AndOnlyThen()
    {
        string keyFile;
        byte[] digest;
        using (var store = new BankStateStore(_dir, _key))
        {
            (keyFile, digest) = store.SaveKeyPart("key part"u8);
            Assert.That(store.Ledger.TryRecordEncryption(Tag, 1, 0, 2), Is.True);
            Assert.That(store.Ledger.Pending, Is.True, "a record is in memory until a round part holds it");
            Assert.That(File.Exists(Path.Combine(_dir, BankStateStore.LedgerFile)), Is.False, "no ledger.bin is written");
            store.SaveRoundPart(keyFile, digest, RoundState, lastSequence: 7, outbox: [], deleteOtherKeyFiles: false);
            Assert.That(store.Ledger.Pending, Is.False);
            Assert.That(store.Ledger.TryRecordAnswers(Tag, 1, Answer(0xAA), budget: 100), Is.EqualTo(LedgerDecision.Recorded));
            Assert.That(store.Ledger.Pending, Is.True);
            // Killed here: the answer's round part was never written, so the answer never left the bank.
        }
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            Assert.That(saved.LastSequence, Is.EqualTo(7UL));
            Assert.That(saved.RoundState, Is.EqualTo(RoundState));
            Assert.That(store.Ledger.Pending, Is.False);
            Assert.That(store.Ledger.TryRecordEncryption(Tag, 1, 1, 1), Is.False, "the saved encryption of round 1's chunks is refused again");
            Assert.That(store.Ledger.AnswersRecorded(Tag), Is.EqualTo(0), "the answer whose round part was not written is not there");
            // Answered again (another request this time: the first answer never left), and this time saved.
            Assert.That(store.Ledger.TryRecordAnswers(Tag, 1, Answer(0xBB), budget: 100), Is.EqualTo(LedgerDecision.Recorded));
            store.SaveRoundPart(saved.KeyFile, saved.KeyDigest, RoundState, lastSequence: 8, outbox: [[1, 2, 3]], deleteOtherKeyFiles: false);
        }
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            Assert.That(saved.Outbox, Has.Count.EqualTo(1));
            Assert.That(store.Ledger.AnswersRecorded(Tag), Is.EqualTo(1));
            Assert.That(store.Ledger.TryRecordAnswers(Tag, 1, Answer(0xBB), budget: 100), Is.EqualTo(LedgerDecision.Repeat), "the same request: the same answer");
            Assert.That(store.Ledger.TryRecordAnswers(Tag, 1, Answer(0xAA), budget: 100), Is.EqualTo(LedgerDecision.Conflict), "another request for the chunk is refused");
        }
    }

    [Test]
    public void ManyAnswersOfTwoTags_ReadBackEachAsRecorded_ThroughTheRoundPart()
    {
        byte[] other = [.. Enumerable.Range(100, 16).Select(i => (byte)i)];
        static byte[] Fp(ulong round, uint chunk, byte salt) => SHA256.HashData([.. BitConverter.GetBytes(round), .. BitConverter.GetBytes(chunk), salt]);
        using (var store = new BankStateStore(_dir, _key))
        {
            (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
            for (ulong round = 1; round <= 150; round++)
            {
                Assert.That(store.Ledger.TryRecordAnswers(Tag, round, [(0u, Fp(round, 0, 1)), (1u, Fp(round, 1, 1))], budget: 1000), Is.EqualTo(LedgerDecision.Recorded));
                Assert.That(store.Ledger.TryRecordAnswers(other, round, [(0u, Fp(round, 0, 2))], budget: 1000), Is.EqualTo(LedgerDecision.Recorded));
                store.SaveRoundPart(keyFile, digest, RoundState, lastSequence: round, outbox: [], deleteOtherKeyFiles: false);
            }
        }
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            Assert.That(store.Ledger.AnswersRecorded(Tag), Is.EqualTo(300));
            Assert.That(store.Ledger.AnswersRecorded(other), Is.EqualTo(150));
            foreach (ulong round in new ulong[] { 1, 77, 150 })
            {
                Assert.That(store.Ledger.TryRecordAnswers(Tag, round, [(0u, Fp(round, 0, 1)), (1u, Fp(round, 1, 1))], budget: 1000), Is.EqualTo(LedgerDecision.Repeat), $"round {round}");
                Assert.That(store.Ledger.TryRecordAnswers(Tag, round, [(1u, Fp(round, 1, 2))], budget: 1000), Is.EqualTo(LedgerDecision.Conflict), $"round {round}");
                Assert.That(store.Ledger.TryRecordAnswers(other, round, [(0u, Fp(round, 0, 2))], budget: 1000), Is.EqualTo(LedgerDecision.Repeat), $"round {round}");
                Assert.That(store.Ledger.TryRecordAnswers(other, round, [(0u, Fp(round, 0, 1))], budget: 1000), Is.EqualTo(LedgerDecision.Conflict), $"round {round}");
            }
            // Re-encoded from what it read: every answer once, none lost or doubled.
            (byte[] again, _) = store.Ledger.Serialize();
            Assert.That(again, Has.Length.EqualTo(4 + 1 + 4 + 2 * (1 + 16 + 1 + 8 + 4 + 8 + 4) + 450 * 44));
        }
    }

    [Test]
    public void RoundPartOfVersion1_WhoseLedgerWasLedgerBin_IsRefusedWithAdviceToStartANewSession()
    {
        using var store = new BankStateStore(_dir, _key);
        (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
        byte[] name = System.Text.Encoding.ASCII.GetBytes(keyFile);
        // "FFBR" || 0x01 || u8 len || name || digest || u64 last_sequence || u32 replies || u32 len || round_state (the earlier layout).
        byte[] v1 = [.. "FFBR"u8, 1, (byte)name.Length, .. name, .. digest, .. new byte[8], .. new byte[4], (byte)RoundState.Length, 0, 0, 0, .. RoundState];
        EncryptedStateFile.Write(store.RoundPath, BankStateStore.RoundPurpose, _key, v1);
        StateFileException e = Assert.Throws<StateFileException>(() => store.LoadSplit())!;
        Assert.That(e.Path, Is.EqualTo(store.RoundPath));
        Assert.That(e.Message, Does.Contain("earlier version").And.Contain("start a new session"));
    }
}
