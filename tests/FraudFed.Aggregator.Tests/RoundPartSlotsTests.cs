// The homomorphic round part is saved in place into two alternating slots with one data sync (SPEC.md 14.6, "Two slots"):
// a save that was torn (its process killed or its machine stopped before the sync returned) never returned, so nothing it
// allowed left the bank, and the reader falls back to the other slot; damage the reader cannot place (one flipped bit in
// either slot) is refused, never read as the older state; a slot copied in from an older state is refused when the two
// slots' sequence numbers betray it. The file is 2C blocks of 4096 bytes; slot s owns the blocks at file offsets (sC + i) * 4096;
// save q goes to slot q mod 2.
using System.Security.Cryptography;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class RoundPartSlotsTests : StateDirectoryFixture
{
    private const int Block = SlottedStateFile.BlockSize;
    private static readonly byte[] Tag = [.. Enumerable.Range(1, 16).Select(i => (byte)i)];

    protected override string DirectoryPrefix => "fraudfed-slots-";

    private string RoundPath => Path.Combine(_dir, BankStateStore.RoundFile);

    /// <summary>Four saves (mailbox sequences 1..4, a round state of three blocks, one ledger answer per save for round q); returns
    /// the file as it was after each save (index q - 1). Save q is record q, in slot q mod 2.</summary>
    private byte[][] FourSaves()
    {
        var files = new byte[4][];
        using var store = new BankStateStore(_dir, _key);
        (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
        for (ulong q = 1; q <= 4; q++)
        {
            Assert.That(store.Ledger.TryRecordAnswers(Tag, q, [(0u, Enumerable.Repeat((byte)q, 32).ToArray())], budget: 100), Is.EqualTo(LedgerDecision.Recorded));
            byte[] round = RandomNumberGenerator.GetBytes(10_000);   // three blocks of payload
            store.SaveRoundPart(keyFile, digest, round, lastSequence: q, outbox: [[(byte)q]], deleteOtherKeyFiles: false);
            files[q - 1] = File.ReadAllBytes(RoundPath);
        }
        return files;
    }

    /// <summary>The blocks of <paramref name="slot"/> from index <paramref name="from"/> to <paramref name="to"/> (exclusive) of
    /// <paramref name="source"/> copied into <paramref name="target"/>.</summary>
    private static byte[] WithSlotBlocks(byte[] target, byte[] source, int slot, int from, int to)
    {
        Assert.That(source, Has.Length.EqualTo(target.Length), "one capacity");
        byte[] b = target.ToArray();
        for (int i = from; i < to; i++) source.AsSpan(At(target, slot, i), Block).CopyTo(b.AsSpan(At(target, slot, i)));
        return b;
    }

    /// <summary>Offset of block <paramref name="index"/> of <paramref name="slot"/> in <paramref name="file"/>.</summary>
    private static int At(byte[] file, int slot, int index) => (slot * (file.Length / Block / 2) + index) * Block;

    private (ulong LastSequence, long Answers) Load()
    {
        using var store = new BankStateStore(_dir, _key);
        using SavedSplitState saved = store.LoadSplit()!;
        return (saved.LastSequence, store.Ledger.AnswersRecorded(Tag));
    }

    private StateFileException Refusal()
    {
        using var store = new BankStateStore(_dir, _key);
        return Assert.Throws<StateFileException>(() => store.LoadSplit()?.Dispose())!;
    }

    [Test]
    public void Saves_AreWrittenInPlace_IntoAlternatingSlots_OneFileNoTemporary()
    {
        byte[][] files = FourSaves();
        Assert.That(files.Select(f => f.Length).Distinct().Count(), Is.EqualTo(1), "the file does not grow or move once created");
        Assert.That(Directory.GetFiles(_dir, "*.tmp-*"), Is.Empty);
        // Save 4 (slot 0) left slot 1 (save 3) as it was, and save 3 left slot 0 (save 2) as it was.
        Assert.That(WithSlotBlocks(files[3], files[2], slot: 0, 0, 3), Is.EqualTo(files[2]));
        Assert.That(WithSlotBlocks(files[2], files[1], slot: 1, 0, 3), Is.EqualTo(files[1]));
        Assert.That(Load(), Is.EqualTo((4UL, 4L)), "the newest record, with every ledger record");
    }

    [TestCase(0, 1, TestName = "TornNewestSlot/first block written, the rest not")]
    [TestCase(1, 3, TestName = "TornNewestSlot/first block not written, the rest written")]
    [TestCase(2, 3, TestName = "TornNewestSlot/last block not written")]
    public void TornNewestSlot_FallsBackToTheOtherSlot_WhoseRecordIsTheLastThatReturned(int oldFrom, int oldTo)
    {
        byte[][] files = FourSaves();
        // Save 4 torn: some of its blocks in slot 0 still hold save 2's.
        File.WriteAllBytes(RoundPath, WithSlotBlocks(files[3], files[1], slot: 0, oldFrom, oldTo));
        Assert.That(Load(), Is.EqualTo((3UL, 3L)), "save 3's state: save 4 never returned, so its answer never left the bank");
        // The next save goes on from there and is read back.
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            store.SaveRoundPart(saved.KeyFile, saved.KeyDigest, [1, 2, 3], lastSequence: 9, outbox: [], deleteOtherKeyFiles: false);
        }
        Assert.That(Load(), Is.EqualTo((9UL, 3L)));
    }

    [TestCase(0, 0)]
    [TestCase(0, 2)]
    [TestCase(1, 0)]
    [TestCase(1, 2)]
    public void OneFlippedBitInEitherSlot_IsRefused_NeverReadAsTheOlderState(int slot, int index)
    {
        byte[][] files = FourSaves();
        byte[] damaged = files[3].ToArray();
        damaged[At(damaged, slot, index) + 100] ^= 0x04;
        File.WriteAllBytes(RoundPath, damaged);
        StateFileException e = Refusal();
        Assert.That(e.Path, Is.EqualTo(RoundPath));
        Assert.That(e.Message, Does.StartWith(StateFileException.DamagedHead).And.Contain("does not verify"));
        Assert.That(File.ReadAllBytes(RoundPath), Is.EqualTo(damaged), "a refused file is not rewritten");
    }

    [Test]
    public void AnOlderSlotCopiedIn_IsRefused_WhenTheSequenceNumbersBetrayIt()
    {
        byte[][] files = FourSaves();
        // Slot 1 of save 1 over slot 1 of save 3: records 4 and 1 cannot both be the last two saves.
        File.WriteAllBytes(RoundPath, WithSlotBlocks(files[3], files[0], slot: 1, 0, 3));
        Assert.That(Refusal().Message, Does.Contain("not consecutive"));
    }

    [Test]
    public void ABlockNewerThanTheNewestRecordsSuccessor_IsRefused()
    {
        byte[][] files = FourSaves();
        // Slot 1 back to save 1, slot 0 back to save 2 but for its last block (save 4's): the only whole record is save 1, and a
        // block of save 4 cannot exist before save 3 returned.
        byte[] b = WithSlotBlocks(files[3], files[1], slot: 0, 0, 2);
        b = WithSlotBlocks(b, files[0], slot: 1, 0, 3);
        File.WriteAllBytes(RoundPath, b);
        Assert.That(Refusal().Message, Does.Contain("newer than the newest whole record"));
    }

    [Test]
    public void ARecordThatOutgrowsItsSlot_RecreatesTheFile_WithTheNewestDurableRecordInTheOtherSlot()
    {
        using (var store = new BankStateStore(_dir, _key))
        {
            (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
            store.SaveRoundPart(keyFile, digest, [1], lastSequence: 1, outbox: [], deleteOtherKeyFiles: false);
            store.SaveRoundPart(keyFile, digest, [2], lastSequence: 2, outbox: [], deleteOtherKeyFiles: false);
            int small = File.ReadAllBytes(RoundPath).Length;
            store.SaveRoundPart(keyFile, digest, RandomNumberGenerator.GetBytes(60_000), lastSequence: 3, outbox: [], deleteOtherKeyFiles: false);
            Assert.That(File.ReadAllBytes(RoundPath).Length, Is.GreaterThan(small), "re-created larger");
        }
        Assert.That(Load().LastSequence, Is.EqualTo(3UL));
        // Save 3 (slot 1) torn at its first block (a filler of slot 0 where its header was): the copy of save 2 in slot 0 is read.
        byte[] file = File.ReadAllBytes(RoundPath);
        byte[] torn = file.ToArray();
        file.AsSpan(At(file, 0, 5), Block).CopyTo(torn.AsSpan(At(file, 1, 0)));
        File.WriteAllBytes(RoundPath, torn);
        Assert.That(Load().LastSequence, Is.EqualTo(2UL));
    }

    [Test]
    public void RoundPartOfTheSingleSealedLayout_IsRead_AndTheNextSaveRewritesItInSlots()
    {
        string keyFile;
        byte[] digest;
        using (var store = new BankStateStore(_dir, _key))
        {
            (keyFile, digest) = store.SaveKeyPart("key part"u8);
            store.SaveRoundPart(keyFile, digest, [7, 7], lastSequence: 5, outbox: [], deleteOtherKeyFiles: false);
        }
        // The same plaintext sealed as one file, as earlier versions wrote he-round.bin.
        byte[] plain;
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            Assert.That(saved.LastSequence, Is.EqualTo(5UL));
        }
        using (var slots = new SlottedStateFile(RoundPath, BankStateStore.RoundPurpose, _key)) plain = slots.Read()!;
        EncryptedStateFile.Write(RoundPath, BankStateStore.RoundPurpose, _key, plain);
        CryptographicOperations.ZeroMemory(plain);
        Assert.That(File.ReadAllBytes(RoundPath).AsSpan(0, 4).SequenceEqual("FFSF"u8), Is.True);
        using (var store = new BankStateStore(_dir, _key))
        {
            using SavedSplitState saved = store.LoadSplit()!;
            Assert.That(saved.LastSequence, Is.EqualTo(5UL), "the earlier layout reads back");
            store.SaveRoundPart(saved.KeyFile, saved.KeyDigest, [8], lastSequence: 6, outbox: [], deleteOtherKeyFiles: false);
        }
        Assert.That(File.ReadAllBytes(RoundPath).AsSpan(0, 4).SequenceEqual("FFSB"u8), Is.True, "rewritten in slots");
        Assert.That(Load().LastSequence, Is.EqualTo(6UL));
    }
}
