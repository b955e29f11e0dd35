// IntakeDigest, the appliance's key of idempotent resends and replays (SPEC.md 14.5): a masked input's digest reuses the body
// digest its decoding computed for the signature, yet covers every byte of the message (framing, body, signature); the value
// does not depend on which path computed it; any other message keeps SHA-256 of its bytes; a payload file written by a build
// before the derived form (named and checked by SHA-256) still reads back, with its digest in the current form.
using System.Security.Cryptography;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class IntakeDigestTests
{
    private static readonly byte[] Session = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    /// <summary>A signed masked input of <paramref name="length"/> 32-bit values, as a bank sends it.</summary>
    private static byte[] MaskedInputMessage(int length, int seed = 7)
    {
        var r = new Random(seed);
        byte[] packed = new byte[length * 4];
        r.NextBytes(packed);
        using var key = Ed25519SigningKey.Generate(RandomNumberGenerator.Create());
        return new MaskedInput(Session, 3, 1, 32, length, packed).Encode(key);
    }

    [Test]
    public void MaskedInput_TheDigestFromItsDecodingEqualsTheOneFromItsBytes_AndIsNotSha256OfTheMessage()
    {
        byte[] message = MaskedInputMessage(1000);
        var decoded = (MaskedInput)MaskingWire.DecodeToAggregatorInPlace(message);
        Assert.That(decoded.BodyInPlace.IsEmpty, Is.False, "decoded in place: the reused body digest is taken");
        byte[] fromDecoding = IntakeDigest.Of(message, decoded);
        Assert.That(fromDecoding, Is.EqualTo(IntakeDigest.Of(message.AsSpan())));
        Assert.That(fromDecoding, Has.Length.EqualTo(32));
        Assert.That(IntakeDigest.IsDerived(message), Is.True);
        Assert.That(fromDecoding, Is.Not.EqualTo(SHA256.HashData(message)), "the derived form is domain-separated from SHA-256(message)");
    }

    [Test]
    public void MaskedInput_OneBitFlippedInAnyByte_ChangesTheDigest()
    {
        // Every byte of a small masked input: wrapper framing, body header, packed values, signature (the last 64 bytes).
        byte[] message = MaskedInputMessage(16);
        byte[] digest = IntakeDigest.Of(message.AsSpan());
        var seen = new HashSet<string> { Convert.ToHexString(digest) };
        for (int i = 0; i < message.Length; i++)
            foreach (int bit in new[] { 0, 7 })
            {
                byte[] tampered = (byte[])message.Clone();
                tampered[i] ^= (byte)(1 << bit);
                byte[] d = IntakeDigest.Of(tampered.AsSpan());
                Assert.That(d, Is.Not.EqualTo(digest), $"byte {i} of {message.Length}, bit {bit}");
                Assert.That(seen.Add(Convert.ToHexString(d)), Is.True, $"byte {i}, bit {bit}: two tampered messages share a digest");
            }
    }

    [Test]
    public void MaskedInput_ASignatureBitFlipped_DecodesAndGivesAnotherDigest_OnTheReusedPathToo()
    {
        byte[] message = MaskedInputMessage(1000);
        byte[] tampered = (byte[])message.Clone();
        tampered[^1] ^= 0x01;   // the signature is the last field of the canonical encoding
        var original = (MaskedInput)MaskingWire.DecodeToAggregatorInPlace(message);
        var decoded = (MaskedInput)MaskingWire.DecodeToAggregatorInPlace(tampered);
        Assert.That(decoded.Signature, Is.Not.EqualTo(original.Signature));
        Assert.That(IntakeDigest.Of(tampered, decoded), Is.Not.EqualTo(IntakeDigest.Of(message, original)));
        Assert.That(IntakeDigest.Of(tampered, decoded), Is.EqualTo(IntakeDigest.Of(tampered.AsSpan())));
    }

    [Test]
    public void OtherMessages_AndANonCanonicalMaskedInput_KeepSha256OfTheirBytes()
    {
        using var key = Ed25519SigningKey.Generate(RandomNumberGenerator.Create());
        using var bank = new MaskingBank(new MaskingParameters(Session, 3, 2, 32), 0, key, [key.PublicKey.ToArray(), key.PublicKey.ToArray(), key.PublicKey.ToArray()],
            RandomNumberGenerator.Create());
        byte[] advert = bank.AdvertiseKeys();
        Assert.That(IntakeDigest.IsDerived(advert), Is.False);
        Assert.That(IntakeDigest.Of(advert, MaskingWire.DecodeToAggregatorInPlace(advert)), Is.EqualTo(SHA256.HashData(advert)));
        // A masked input with an unknown field appended (field 15, varint 1): not the canonical encoding, so hashed whole.
        byte[] extended = [.. MaskedInputMessage(10), 0x78, 0x01];
        Assert.That(IntakeDigest.IsDerived(extended), Is.False);
        Assert.That(IntakeDigest.Of(extended.AsSpan()), Is.EqualTo(SHA256.HashData(extended)));
    }

    [Test]
    public void PayloadFile_NamedAndCheckedBySha256ByAnEarlierBuild_ReadsBack_WithItsDigestInTheCurrentForm_AndATamperedOneIsRefused()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ff-intake-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string state = Path.Combine(dir, "state.db");
            byte[] message = MaskedInputMessage(1000);
            byte[] legacy = SHA256.HashData(message);
            using (var store = new SqliteAggregatorStore(state) { PayloadFileThreshold = 1 })
            {
                store.Initialize("config");
                // What a build before the derived form wrote: the file and the row named by SHA-256 of the message.
                store.WritePayloadFile(1, legacy, message);
                store.AppendBatch([new AppendEntry(new StoredEvent(0, EventKind.Inbound, 1, "", message, legacy), [], PayloadInFile: true)]);
            }
            using (var store = new SqliteAggregatorStore(state) { PayloadFileThreshold = 1 })
            {
                StoredEvent e = store.ReadEvents().Single();
                Assert.That(e.Payload, Is.EqualTo(message));
                Assert.That(e.Digest, Is.EqualTo(IntakeDigest.Of(message.AsSpan())), "a resend after the upgrade finds it");
            }
            string file = Directory.GetFiles(state + ".payloads").Single();
            byte[] bytes = File.ReadAllBytes(file);
            bytes[^1] ^= 0x01;
            File.WriteAllBytes(file, bytes);
            using (var store = new SqliteAggregatorStore(state) { PayloadFileThreshold = 1 })
                Assert.Throws<InvalidDataException>(() => store.ReadEvents());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
