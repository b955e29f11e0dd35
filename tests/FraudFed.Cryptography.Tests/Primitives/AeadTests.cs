using FraudFed.Cryptography.Primitives;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Primitives;

[TestFixture]
public sealed class AeadTests
{
    private static (byte[] Key, byte[] Nonce, byte[] Ad, byte[] Plain) Material()
    {
        using var rng = TestRandom.Create("AeadTests");
        var key = new byte[32]; rng.GetBytes(key);
        var plain = new byte[140]; rng.GetBytes(plain);
        return (key, Aead.Nonce(3, 1, 2), "FraudFed/v1/secagg/share-ad"u8.ToArray(), plain);
    }

    [Test]
    public void SealThenOpen_RoundTrips()
    {
        var (key, nonce, ad, plain) = Material();
        using var aead = new Aead(key);
        byte[] sealedData = aead.Seal(nonce, plain, ad);
        Assert.That(sealedData, Has.Length.EqualTo(plain.Length + Aead.TagSize));
        Assert.That(aead.Open(nonce, sealedData, ad), Is.EqualTo(plain));
    }

    [Test]
    public void Nonce_Layout_IsRoundSenderRecipientBigEndian()
    {
        Assert.That(Convert.ToHexStringLower(Aead.Nonce(0x01020304, 5, 0xa0b0c0d0)), Is.EqualTo("0102030400000005a0b0c0d0"));
    }

    public enum Part { Ciphertext, Tag, AssociatedData, Nonce }

    [Test]
    public void OneBitTamper_IsRejected([Values] Part part, [Values(0, 7, 77)] int bit)
    {
        var (key, nonce, ad, plain) = Material();
        using var aead = new Aead(key);
        byte[] sealedData = aead.Seal(nonce, plain, ad);
        byte[] n = (byte[])nonce.Clone(), a = (byte[])ad.Clone(), s = (byte[])sealedData.Clone();
        switch (part)
        {
            case Part.Ciphertext: s[bit / 8 % plain.Length] ^= (byte)(1 << (bit % 8)); break;
            case Part.Tag: s[plain.Length + bit / 8 % Aead.TagSize] ^= (byte)(1 << (bit % 8)); break;
            case Part.AssociatedData: a[bit / 8 % a.Length] ^= (byte)(1 << (bit % 8)); break;
            case Part.Nonce: n[bit / 8 % n.Length] ^= (byte)(1 << (bit % 8)); break;
        }
        var output = new byte[plain.Length];
        var ex = Assert.Throws<ProtocolViolationException>(() => aead.Open(n, s, a, output));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(output, Is.All.EqualTo((byte)0), "destination cleared on failure");
    }

    [Test]
    public void Truncated_IsMalformed()
    {
        var (key, nonce, ad, _) = Material();
        using var aead = new Aead(key);
        var ex = Assert.Throws<ProtocolViolationException>(() => aead.Open(nonce, new byte[15], ad));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }
}

[TestFixture]
public sealed class CommitmentTests
{
    [Test]
    public void Commitment_OpensOnlyToItsValue()
    {
        using var rng = TestRandom.Create("CommitmentTests");
        byte[] label = "FraudFed/v1/test/commit"u8.ToArray();
        byte[] value = [1, 2, 3, 4];
        var (c, opening) = Commitment.Create(label, value, rng);
        Assert.That(Commitment.Verify(label, c, opening, value), Is.True);
        Assert.That(Commitment.Verify(label, c, opening, [1, 2, 3, 5]), Is.False, "other value");
        Assert.That(Commitment.Verify("FraudFed/v1/test/other"u8, c, opening, value), Is.False, "other label");
        byte[] badOpening = (byte[])opening.Clone(); badOpening[0] ^= 1;
        Assert.That(Commitment.Verify(label, c, badOpening, value), Is.False, "other opening");
    }
}

[TestFixture]
public sealed class KeyTypeTests
{
    [Test]
    public void Ed25519_ToString_HasNoPrivateSeed()
    {
        byte[] seed = Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        using var key = Ed25519SigningKey.Import(seed);
        Assert.That(key.ToString(), Does.Not.Contain("9d61b19d"));
    }

    [Test]
    public void DisposedKeys_RefuseUse()
    {
        using var rng = TestRandom.Create("DisposedKeys");
        var ed = Ed25519SigningKey.Generate(rng);
        ed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ed.Sign([1]));
        var x = X25519KeyPair.Generate(rng);
        using var y = X25519KeyPair.Generate(rng);
        x.Dispose();
        Assert.Throws<ObjectDisposedException>(() => x.Agree(y.PublicKey, new byte[32]));
    }
}
