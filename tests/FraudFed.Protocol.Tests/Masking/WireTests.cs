using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

using Wire = FraudFed.Protocol.Masking.Wire;

[TestFixture]
public sealed class WireTests
{
    private static readonly byte[] Session = Convert.FromHexString("00112233445566778899aabbccddeeff");

    private static readonly Ed25519SigningKey Key = Ed25519SigningKey.Import(Enumerable.Repeat((byte)7, 32).ToArray());

    [OneTimeTearDown]
    public void DisposeKey() => Key.Dispose();

    private static byte[] Bytes(int n, byte fill) => Enumerable.Repeat(fill, n).ToArray();

    private static IEnumerable<TestCaseData> Messages()
    {
        Ed25519SigningKey key = Key;
        var adv = AdvertiseKeys.Decode(new AdvertiseKeys(Session, 3, Bytes(32, 1), Bytes(32, 2), Bytes(32, 0xC0)).Encode(key));
        yield return Case("AdvertiseKeys", adv.Encode(key), b => AdvertiseKeys.Decode(b), m => ((AdvertiseKeys)m).Encode(key));
        yield return Case("KeyRoster", new KeyRoster(Session, [adv, adv with { Sender = 4 }]).Encode(), b => KeyRoster.Decode(b), m => ((KeyRoster)m).Encode());
        var reveal = GraphSeedReveal.Decode(new GraphSeedReveal(Session, 3, Bytes(32, 0x5E)).Encode(key));
        yield return Case("GraphSeedReveal", reveal.Encode(key), b => GraphSeedReveal.Decode(b), m => ((GraphSeedReveal)m).Encode(key));
        yield return Case("GraphSeedRoster", new GraphSeedRoster(Session, [reveal, reveal with { Sender = 4 }]).Encode(), b => GraphSeedRoster.Decode(b), m => ((GraphSeedRoster)m).Encode());
        var shares = new[] { new EncryptedShare(1, Bytes(EncryptedShare.CiphertextSize, 3)), new EncryptedShare(2, Bytes(EncryptedShare.CiphertextSize, 4)) };
        yield return Case("ShareKeys", new ShareKeys(Session, 5, 0, shares, [new EscrowedSeed(1, Bytes(32, 5))]).Encode(key), b => ShareKeys.Decode(b), m => ((ShareKeys)m).Encode(key));
        yield return Case("ShareDelivery", new ShareDelivery(Session, 5, 2, shares).Encode(), b => ShareDelivery.Decode(b), m => ((ShareDelivery)m).Encode());
        yield return Case("MaskedInput", new MaskedInput(Session, 5, 1, 20, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]).Encode(key), b => MaskedInput.Decode(b), m => ((MaskedInput)m).Encode(key));
        yield return Case("SurvivorList", new SurvivorList(Session, 5, [0, 2, 9]).Encode(), b => SurvivorList.Decode(b), m => ((SurvivorList)m).Encode());
        yield return Case("ConsistencySignature", new ConsistencySignature(Session, 5, 2, Bytes(64, 8)).Encode(), b => ConsistencySignature.Decode(b), m => ((ConsistencySignature)m).Encode());
        yield return Case("UnmaskRequest", new UnmaskRequest(Session, 5, 2, [0, 2], [new SignerSignature(0, Bytes(64, 9))], [new ShareRequest(0, ShareKind.SelfMask), new ShareRequest(3, ShareKind.PairwiseKey)]).Encode(),
            b => UnmaskRequest.Decode(b), m => ((UnmaskRequest)m).Encode());
        yield return Case("UnmaskResponse", new UnmaskResponse(Session, 5, 2, [new RevealedShare(0, ShareKind.SelfMask, Bytes(66, 0)), new RevealedShare(3, ShareKind.PairwiseKey, [1, .. Bytes(65, 0xAB)])]).Encode(key),
            b => UnmaskResponse.Decode(b), m => ((UnmaskResponse)m).Encode(key));
    }

    private static TestCaseData Case(string name, byte[] bytes, Func<byte[], object> decode, Func<object, byte[]> encode)
        => new TestCaseData(bytes, decode, encode).SetName($"Wire/RoundTrip/{name}");

    [TestCaseSource(nameof(Messages))]
    public void Decode_ThenEncode_IsIdentity(byte[] bytes, Func<byte[], object> decode, Func<object, byte[]> encode)
    {
        object message = decode(bytes);
        Assert.That(encode(message), Is.EqualTo(bytes));
        Assert.That(Convert.ToHexStringLower(bytes.AsSpan(0, 4)), Is.EqualTo("46465341"), "magic FFSA");
        Assert.That(bytes[4], Is.EqualTo(2), "version");
        Assert.That(bytes.AsSpan(6, 16).ToArray(), Is.EqualTo(Session), "session id at bytes 6..21");
    }

    [TestCaseSource(nameof(Messages))]
    public void TruncatedOrExtended_IsMalformed(byte[] bytes, Func<byte[], object> decode, Func<object, byte[]> encode)
    {
        _ = encode;
        foreach (byte[] bad in new[] { bytes[..^1], [.. bytes, 0], bytes[..10] })
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => decode(bad));
            Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.Malformed, ViolationReason.Oversized));
        }
    }

    [Test]
    public void SignedMessages_VerifyOnlyWithTheSignersKey()
    {
        using var rng = TestRandom.Create("wire-sign");
        using var a = Ed25519SigningKey.Generate(rng);
        using var b = Ed25519SigningKey.Generate(rng);
        var m = MaskedInput.Decode(new MaskedInput(Session, 1, 0, 8, 2, [1, 2]).Encode(a));
        Assert.That(m.VerifySignature(a.PublicKey), Is.True);
        Assert.That(m.VerifySignature(b.PublicKey), Is.False);
    }

    [Test]
    public void Header_Fields_AreBigEndian()
    {
        byte[] m = new SurvivorList(Session, 0x01020304, [0x0a0b0c0d]).Encode();
        Assert.That(Convert.ToHexStringLower(m), Is.EqualTo("46465341" + "02" + "06" + "00112233445566778899aabbccddeeff" + "01020304" + "00000001" + "0a0b0c0d"));
    }

    [Test]
    public void Version1Messages_AreRefused()
    {
        // Version 2 added the graph-seed commitment to AdvertiseKeys and messages 10-11 (SPEC.md 8.1, 9).
        byte[] m = new SurvivorList(Session, 1, [1]).Encode();
        m[4] = 1;
        var ex = Assert.Throws<ProtocolViolationException>(() => SurvivorList.Decode(m));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void Counts_LargerThanTheMessage_AreRefusedBeforeAllocation()
    {
        byte[] m = new SurvivorList(Session, 1, [1]).Encode();
        m[Wire.HeaderSize] = 0x7f; // count = 0x7f000001
        var ex = Assert.Throws<ProtocolViolationException>(() => SurvivorList.Decode(m));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Oversized));
    }

    [Test]
    public void SurvivorIds_MustAscend()
    {
        var ex = Assert.Throws<ProtocolViolationException>(() => SurvivorList.Decode(new SurvivorList(Session, 1, [2, 1]).Encode()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }
}

[TestFixture]
public sealed class ShareBundleTests
{
    [Test]
    public void Bundle_RoundTrips_AndRefusesWrongFieldsOrValues()
    {
        var field = FraudFed.Cryptography.Sharing.Shamir.P521;
        byte[] small = new byte[66], top = new byte[66];
        small[64] = 0x30; small[65] = 0x39;                       // 12345
        top[0] = 0x01; top.AsSpan(1, 64).Fill(0xFF); top[65] = 0xFE; // p - 1
        var plain = new byte[EncryptedShare.PlaintextSize];
        using (var self = field.DecodeElement(small))
        using (var pairwise = field.DecodeElement(top))
            ShareBundle.Encode(3, 5, 9, self, pairwise, plain);
        Assert.That(plain.AsSpan(12, 66).ToArray(), Is.EqualTo(small), "y_b, 66 bytes big-endian");
        Assert.That(plain.AsSpan(78, 66).ToArray(), Is.EqualTo(top), "y_kappa, 66 bytes big-endian");
        var (b, kappa) = ShareBundle.Decode(plain, 3, 5, 9);
        byte[] back = new byte[66];
        field.EncodeElement(b, back);
        Assert.That(back, Is.EqualTo(small));
        field.EncodeElement(kappa, back);
        Assert.That(back, Is.EqualTo(top));
        b.Dispose();
        kappa.Dispose();
        foreach (var (owner, holder, round) in new[] { (4, 5, 9u), (3, 6, 9u), (3, 5, 8u) })
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => ShareBundle.Decode(plain, owner, holder, round));
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
        }
        byte[] notInField = (byte[])plain.Clone();
        notInField.AsSpan(78, 66).Fill(0xFF); // y_kappa >= p
        var range = Assert.Throws<ProtocolViolationException>(() => ShareBundle.Decode(notInField, 3, 5, 9));
        Assert.That(range!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        Assert.Throws<ProtocolViolationException>(() => ShareBundle.Decode(plain.AsSpan(1), 3, 5, 9));
    }
}
