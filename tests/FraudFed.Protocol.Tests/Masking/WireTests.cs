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
        yield return Case("RoundAbort", new RoundAbort(Session, 5, ViolationReason.TooFewParticipants, "round failed").Encode(), b => RoundAbort.Decode(b), m => ((RoundAbort)m).Encode());
        yield return Case("BankAbort", new BankAbort(Session, 5, ViolationReason.TooFewParticipants, "too few holders").Encode(), b => BankAbort.Decode(b), m => ((BankAbort)m).Encode());
    }

    private static TestCaseData Case(string name, byte[] bytes, Func<byte[], object> decode, Func<object, byte[]> encode)
        => new TestCaseData(bytes, decode, encode).SetName($"Wire/RoundTrip/{name}");

    [TestCaseSource(nameof(Messages))]
    public void Decode_ThenEncode_IsIdentity(byte[] bytes, Func<byte[], object> decode, Func<object, byte[]> encode)
    {
        object message = decode(bytes);
        Assert.That(encode(message), Is.EqualTo(bytes));
        Assert.That(Convert.ToHexStringLower(bytes.AsSpan(0, 4)), Is.EqualTo("08011210"), "protocol_version = 1, then a 16-byte session_id (SPEC.md 14.3)");
        Assert.That(bytes.AsSpan(4, 16).ToArray(), Is.EqualTo(Session), "session id at bytes 4..19");
        int body = bytes.AsSpan().IndexOf("FFSA"u8);
        if (message is SignedMessage signed)
        {
            Assert.That(bytes.AsSpan(body, signed.Body().Length).ToArray(), Is.EqualTo(signed.Body()), "the signed body travels byte for byte");
            Assert.That(bytes[body + 4], Is.EqualTo(2), "body version");
        }
        else if (message is not (KeyRoster or GraphSeedRoster)) Assert.That(body, Is.EqualTo(-1), "unsigned steps carry no canonical body");
        else Assert.That(body, Is.GreaterThan(0), "a roster relays signed bodies");
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
        byte[] m = new SurvivorList(Session, 0x01020304, [0x0a0b0c0d]).CanonicalEncoding();
        Assert.That(Convert.ToHexStringLower(m), Is.EqualTo("46465341" + "02" + "06" + "00112233445566778899aabbccddeeff" + "01020304" + "00000001" + "0a0b0c0d"));
    }

    [Test]
    public void OtherVersions_AreRefused()
    {
        // Body version 2 added the graph-seed commitment to AdvertiseKeys and the graph-seed reveal (SPEC.md 8.1, 9): a version-1 body is Malformed.
        byte[] m = new GraphSeedReveal(Session, 1, Bytes(32, 3)).Encode(Key);
        int body = m.AsSpan().IndexOf("FFSA"u8);
        m[body + 4] = 1;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => GraphSeedReveal.Decode(m))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        // A wrapper of another protocol_version is WrongRoundOrState (SPEC.md 14.1).
        byte[] w = new SurvivorList(Session, 1, [1]).Encode();
        Assert.That(w[1], Is.EqualTo(1));
        w[1] = 2;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => SurvivorList.Decode(w))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    [Test]
    public void NonCanonicalWrappers_AreRefused()
    {
        byte[] m = new SurvivorList(Session, 1, [1, 2]).Encode();
        // An unknown field (number 99, varint 1) appended, and the version repeated: both parse, neither is the canonical encoding.
        foreach (byte[] bad in new byte[][] { [.. m, 0x98, 0x06, 0x01], [.. m, 0x08, 0x01] })
            Assert.That(Assert.Throws<ProtocolViolationException>(() => SurvivorList.Decode(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        // Another step than the one expected.
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ShareDelivery.Decode(m))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        // A signed body of another session than its wrapper.
        byte[] reveal = new GraphSeedReveal(Session, 1, Bytes(32, 3)).Encode(Key);
        reveal[reveal.AsSpan().IndexOf("FFSA"u8) + 6] ^= 1;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => GraphSeedReveal.Decode(reveal))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    [Test]
    public void Counts_LargerThanTheMessage_AreRefusedBeforeAllocation()
    {
        byte[] m = new UnmaskResponse(Session, 1, 2, [new RevealedShare(0, ShareKind.SelfMask, Bytes(66, 0))]).Encode(Key);
        m[m.AsSpan().IndexOf("FFSA"u8) + Wire.HeaderSize + 4] = 0x7f; // the body's share count = 0x7f000001
        var ex = Assert.Throws<ProtocolViolationException>(() => UnmaskResponse.Decode(m));
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
