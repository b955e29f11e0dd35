// Tests of the homomorphic setup's bank-to-bank channels (SPEC.md 12.0 step 3, ShareChannel.cs): signed X25519 adverts,
// pairwise keys only the two banks derive, and typed refusals. Seeded randomness (TestRandom).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class ShareChannelTests
{
    private const int Banks = 3;

    private sealed class Fixture : IDisposable
    {
        public readonly Ed25519SigningKey[] Identities;
        public readonly byte[][] Roster;
        public readonly byte[] SessionId;
        public readonly ShareChannel[] Channels;
        public readonly byte[][] Adverts;

        public Fixture(string label)
        {
            DeterministicRandom rng = TestRandom.Create(label);
            Identities = Enumerable.Range(0, Banks).Select(_ => Ed25519SigningKey.Generate(rng)).ToArray();
            Roster = Identities.Select(k => k.PublicKey.ToArray()).ToArray();
            SessionId = new byte[16];
            rng.GetBytes(SessionId);
            Channels = Enumerable.Range(0, Banks).Select(b => new ShareChannel(b, Banks, SessionId, rng)).ToArray();
            Adverts = Enumerable.Range(0, Banks).Select(b => Channels[b].Advert(Identities[b])).ToArray();
        }

        public void ConnectAll()
        {
            foreach (ShareChannel c in Channels)
                foreach (byte[] a in Adverts) c.AcceptAdvert(a, Roster);
        }

        public void Dispose()
        {
            foreach (var c in Channels) c.Dispose();
            foreach (var k in Identities) k.Dispose();
        }
    }

    private static ViolationReason Reason(TestDelegate action) => Assert.Throws<ProtocolViolationException>(action)!.Reason;

    [Test]
    public void APointSealedForOneBank_OpensOnlyThere_AndOnlyFromItsSender()
    {
        using var f = new Fixture("channel/pairs");
        f.ConnectAll();
        byte[] point = RandomNumberGenerator.GetBytes(100);
        byte[] sealedPoint = f.Channels[0].Seal(2, point);
        Assert.That(sealedPoint, Has.Length.EqualTo(point.Length + Aead.TagSize));
        Assert.That(sealedPoint.AsSpan(0, point.Length).SequenceEqual(point), Is.False, "the aggregator sees ciphertext");
        Assert.That(f.Channels[2].Open(0, sealedPoint), Is.EqualTo(point));
        // Bank 1 cannot open it, nor can bank 2 as if it came from bank 1 (other key), nor bank 0 reflecting it back.
        Assert.That(Reason(() => f.Channels[1].Open(0, sealedPoint)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => f.Channels[2].Open(1, sealedPoint)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => f.Channels[0].Open(2, sealedPoint)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        for (int bit = 0; bit < sealedPoint.Length * 8; bit += 61)
        {
            byte[] bad = (byte[])sealedPoint.Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.That(Reason(() => f.Channels[2].Open(0, bad)), Is.EqualTo(ViolationReason.AuthenticationFailed), $"bit {bit}");
        }
    }

    [Test]
    public void ASealedPoint_IsTheSpecAesGcm_UnderHkdfOfX25519()
    {
        // Independent recomputation of SPEC.md 12.0 step 3 with .NET's HKDF and AesGcm and BouncyCastle-backed X25519 from
        // an imported private key: key = HKDF(X25519(c_1, C_2), salt = session id, info = label || u32 1 || u32 2).
        byte[] private1 = SHA256.HashData("FraudFed test/channel/spec/1"u8), private2 = SHA256.HashData("FraudFed test/channel/spec/2"u8);
        using var f = new Fixture("channel/spec");
        using var one = new ShareChannel(1, Banks, f.SessionId, X25519KeyPair.Import(private1));
        using var two = new ShareChannel(2, Banks, f.SessionId, X25519KeyPair.Import(private2));
        two.AcceptAdvert(one.Advert(f.Identities[1]), f.Roster);
        one.AcceptAdvert(two.Advert(f.Identities[2]), f.Roster);
        byte[] point = [9, 8, 7, 6, 5];
        byte[] sealedPoint = one.Seal(2, point);

        using var k1 = X25519KeyPair.Import(private1);
        using var k2 = X25519KeyPair.Import(private2);
        var shared = new byte[32];
        k1.Agree(k2.PublicKey, shared);
        byte[] info = [.. "FraudFed/v1/he/channel-key"u8, 0, 0, 0, 1, 0, 0, 0, 2];
        byte[] key = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, 32, f.SessionId, info);
        byte[] nonce = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        byte[] ad = [.. "FraudFed/v1/he/shamir-point"u8, .. f.SessionId];
        var expected = new byte[point.Length + 16];
        using (var gcm = new AesGcm(key, 16)) gcm.Encrypt(nonce, point, expected.AsSpan(0, point.Length), expected.AsSpan(point.Length), ad);
        Assert.That(sealedPoint, Is.EqualTo(expected));
        Assert.That(two.Open(1, sealedPoint), Is.EqualTo(point));
        // The nonce carries the direction: the same bytes presented as the reverse direction fail.
        Assert.That(Reason(() => one.Open(2, sealedPoint)), Is.EqualTo(ViolationReason.AuthenticationFailed));
    }

    [Test]
    public void Adverts_AreVerified_BeforeAnyKeyIsDerived()
    {
        using var f = new Fixture("channel/adverts");
        ShareChannel c = f.Channels[0];
        // No advert yet: no channel.
        Assert.That(Reason(() => c.Seal(1, [1])), Is.EqualTo(ViolationReason.WrongRoundOrState));
        // Every one-bit flip of an advert is refused and records nothing.
        for (int bit = 0; bit < ShareChannel.AdvertSize * 8; bit++)
        {
            byte[] bad = (byte[])f.Adverts[1].Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<ProtocolViolationException>(() => c.AcceptAdvert(bad, f.Roster), $"bit {bit}");
        }
        Assert.That(Reason(() => c.Seal(1, [1])), Is.EqualTo(ViolationReason.WrongRoundOrState));
        // Bank 2's identity signing bank 1's advert (a substituted key) is refused.
        using var other = new ShareChannel(1, Banks, f.SessionId, TestRandom.Create("channel/adverts/other"));
        Assert.That(Reason(() => c.AcceptAdvert(other.Advert(f.Identities[2]), f.Roster)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // Another setup's advert, a bank outside the roster, a wrong size.
        using var stale = new ShareChannel(1, Banks, new byte[16], TestRandom.Create("channel/adverts/stale"));
        Assert.That(Reason(() => c.AcceptAdvert(stale.Advert(f.Identities[1]), f.Roster)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => c.AcceptAdvert(f.Adverts[1], f.Roster.Take(1).ToArray())), Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(Reason(() => c.AcceptAdvert(f.Adverts[1][..^1], f.Roster)), Is.EqualTo(ViolationReason.Malformed));
        // The genuine advert, once.
        Assert.That(c.AcceptAdvert(f.Adverts[1], f.Roster), Is.EqualTo(1));
        Assert.That(Reason(() => c.AcceptAdvert(f.Adverts[1], f.Roster)), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(c.Seal(1, [1]), Has.Length.EqualTo(1 + Aead.TagSize));
    }
}
