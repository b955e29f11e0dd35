// A bank's saved state records the federation.insecure_test_parameters it was saved under (SPEC.md 14.6: bank-state.bin and
// he-round.bin of version 3), so that the state directory's check can name a bank.json whose setting was flipped after the
// save. A state of version 2 (written by earlier versions, whose layout is built here byte by byte) still loads, with the
// setting not recorded, and the check then passes it; a recorded byte other than 0 or 1 is damage.
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class RecordedSettingsTests : StateDirectoryFixture
{
    private static readonly byte[] RoundState = "FFHR-test-round-state"u8.ToArray();   // the store does not parse it (the party does)
    private static readonly byte[] PartyState = "FFMS-test-party-state"u8.ToArray();
    private static readonly byte[] EmptyLedger = [.. "FFDL"u8, 1, 0, 0, 0, 0];

    protected override string DirectoryPrefix => "fraudfed-recorded-settings-";

    private static byte[] U32(int v) => BitConverter.GetBytes((uint)v);   // the layouts are little-endian (SPEC.md 14.6)

    /// <summary>The tail both layouts end with: u64 last sequence, u32 replies (one reply of <paramref name="reply"/>), u32 len || state.</summary>
    private static byte[] Tail(ulong last, byte[] reply, byte[] state) =>
        [.. BitConverter.GetBytes(last), .. U32(1), .. U32(reply.Length), .. reply, .. U32(state.Length), .. state];

    [Test]
    public void ARoundPartOfVersion2_WithoutTheSetting_Loads_AsNotRecorded()
    {
        using var store = new BankStateStore(_dir, _key);
        (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
        byte[] name = System.Text.Encoding.ASCII.GetBytes(keyFile);
        // "FFBR" || 0x02 || u8 len || name || digest || u32 len || ledger || tail: the layout the previous version writes.
        byte[] v2 = [.. "FFBR"u8, 2, (byte)name.Length, .. name, .. digest, .. U32(EmptyLedger.Length), .. EmptyLedger, .. Tail(41, [7, 7], RoundState)];
        EncryptedStateFile.Write(store.RoundPath, BankStateStore.RoundPurpose, _key, v2);
        using SavedSplitState saved = store.LoadSplit()!;
        Assert.That(saved.InsecureTestParameters, Is.Null);
        Assert.That((saved.LastSequence, saved.KeyFile), Is.EqualTo((41UL, keyFile)));
        Assert.That(saved.RoundState, Is.EqualTo(RoundState));
        Assert.That(saved.Outbox, Is.EqualTo(new[] { new byte[] { 7, 7 } }));
        Assert.That(saved.KeyState, Is.EqualTo("key part"u8.ToArray()));
    }

    [Test]
    public void ABankStateOfVersion2_WithoutTheSetting_Loads_AsNotRecorded()
    {
        using var store = new BankStateStore(_dir, _key);
        // "FFBS" || 0x02 || kind (2, masking) || tail.
        byte[] v2 = [.. "FFBS"u8, 2, 2, .. Tail(9, [1, 2, 3], PartyState)];
        EncryptedStateFile.Write(store.PartyPath, BankStateStore.PartyPurpose, _key, v2);
        using SavedBankState saved = store.Load(BankStateKind.Masking)!;
        Assert.That(saved.InsecureTestParameters, Is.Null);
        Assert.That(saved.LastSequence, Is.EqualTo(9UL));
        Assert.That(saved.PartyState, Is.EqualTo(PartyState));
        Assert.That(saved.Outbox, Is.EqualTo(new[] { new byte[] { 1, 2, 3 } }));
    }

    [TestCase(false)]
    [TestCase(true)]
    [TestCase(null)]
    public void EverySave_RecordsTheSettingItWasGiven_AndAStoreGivenNoneWritesVersion2(bool? insecure)
    {
        bool? other = insecure is null ? true : !insecure;   // the reader's own setting: what is read is what the file recorded
        string keyFile;
        using (var store = new BankStateStore(_dir, _key) { InsecureTestParameters = insecure })
        {
            byte[] digest;
            (keyFile, digest) = store.SaveKeyPart("key part"u8);
            store.SaveRoundPart(keyFile, digest, RoundState, lastSequence: 5, outbox: [[4]], deleteOtherKeyFiles: false);
        }
        using (var store = new BankStateStore(_dir, _key) { InsecureTestParameters = other })
        using (SavedSplitState split = store.LoadSplit()!)
        {
            Assert.That(split.InsecureTestParameters, Is.EqualTo(insecure));
            Assert.That((split.LastSequence, split.KeyFile), Is.EqualTo((5UL, keyFile)));
            Assert.That(split.RoundState, Is.EqualTo(RoundState));
            Assert.That(split.Outbox, Is.EqualTo(new[] { new byte[] { 4 } }));
        }
        Directory.Delete(_dir, recursive: true);   // a masking bank-state.bin beside a round part is refused as the other mode's

        using (var store = new BankStateStore(_dir, _key) { InsecureTestParameters = insecure })
            store.Save(BankStateKind.Masking, PartyState, 6, [[5]]);
        using (var store = new BankStateStore(_dir, _key) { InsecureTestParameters = other })
        using (SavedBankState party = store.Load(BankStateKind.Masking)!)
        {
            Assert.That(party.InsecureTestParameters, Is.EqualTo(insecure));
            Assert.That(party.LastSequence, Is.EqualTo(6UL));
            Assert.That(party.PartyState, Is.EqualTo(PartyState));
            Assert.That(party.Outbox, Is.EqualTo(new[] { new byte[] { 5 } }));
        }
        byte[] plain = EncryptedStateFile.Read(Path.Combine(_dir, BankStateStore.PartyFile), BankStateStore.PartyPurpose, _key)!;
        Assert.That(plain[4], Is.EqualTo(insecure is null ? 2 : 3), "the layout's version");
        if (insecure is bool on) Assert.That(plain[6], Is.EqualTo(on ? 1 : 0), "the byte after the kind");
    }

    [Test]
    public void ARecordedByteOtherThan0Or1_IsDamage()
    {
        using var store = new BankStateStore(_dir, _key);
        byte[] v3 = [.. "FFBS"u8, 3, 2, 2, .. Tail(9, [1], PartyState)];
        EncryptedStateFile.Write(store.PartyPath, BankStateStore.PartyPurpose, _key, v3);
        StateFileException e = Assert.Throws<StateFileException>(() => store.Load(BankStateKind.Masking)?.Dispose())!;
        Assert.That(e.Message, Does.Contain("insecure_test_parameters byte is 2"));

        (string keyFile, byte[] digest) = store.SaveKeyPart("key part"u8);
        byte[] name = System.Text.Encoding.ASCII.GetBytes(keyFile);
        File.Delete(store.PartyPath);
        byte[] round = [.. "FFBR"u8, 3, 7, (byte)name.Length, .. name, .. digest, .. U32(EmptyLedger.Length), .. EmptyLedger, .. Tail(1, [1], RoundState)];
        EncryptedStateFile.Write(store.RoundPath, BankStateStore.RoundPurpose, _key, round);
        e = Assert.Throws<StateFileException>(() => store.LoadSplit()?.Dispose())!;
        Assert.That(e.Message, Does.Contain("insecure_test_parameters byte is 7"));
    }
}
