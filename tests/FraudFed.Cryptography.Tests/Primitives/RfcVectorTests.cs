using System.Text.Json;
using FraudFed.Cryptography.Primitives;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Primitives;

[TestFixture]
public sealed class RfcVectorTests
{
    private static IEnumerable<TestCaseData> Cases(string area, string file, string array)
    {
        JsonElement root = VectorFile.Load(area, file);
        foreach (JsonElement c in root.GetProperty(array).EnumerateArray())
            yield return new TestCaseData(c).SetArgDisplayNames(c.Str("description"));
    }

    private static IEnumerable<TestCaseData> X25519ScalarMult() => Cases("x25519", "rfc7748.json", "scalar_mult");
    private static IEnumerable<TestCaseData> X25519Dh() => Cases("x25519", "rfc7748.json", "diffie_hellman");
    private static IEnumerable<TestCaseData> Ed25519Cases() => Cases("ed25519", "rfc8032.json", "cases");
    private static IEnumerable<TestCaseData> HkdfCases() => Cases("hkdf", "rfc5869.json", "cases");
    private static IEnumerable<TestCaseData> PrgCases() => Cases("prg", "sp800-38a.json", "cases");

    [TestCaseSource(nameof(X25519ScalarMult))]
    public void X25519_ScalarMult_Rfc7748(JsonElement c)
    {
        using var key = X25519KeyPair.Import(c.Hex("scalar"));
        var output = new byte[32];
        key.Agree(c.Hex("u"), output);
        Assert.That(Convert.ToHexStringLower(output), Is.EqualTo(c.Str("output")));
    }

    [TestCaseSource(nameof(X25519Dh))]
    public void X25519_DiffieHellman_Rfc7748(JsonElement c)
    {
        using var alice = X25519KeyPair.Import(c.Hex("alice_private"));
        using var bob = X25519KeyPair.Import(c.Hex("bob_private"));
        Assert.That(Convert.ToHexStringLower(alice.PublicKey), Is.EqualTo(c.Str("alice_public")));
        Assert.That(Convert.ToHexStringLower(bob.PublicKey), Is.EqualTo(c.Str("bob_public")));
        var ab = new byte[32];
        var ba = new byte[32];
        alice.Agree(bob.PublicKey, ab);
        bob.Agree(alice.PublicKey, ba);
        Assert.That(Convert.ToHexStringLower(ab), Is.EqualTo(c.Str("shared")));
        Assert.That(ba, Is.EqualTo(ab));
    }

    [Test]
    public void X25519_LowOrderPeer_IsRefused()
    {
        using var key = X25519KeyPair.Import(new byte[32] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 });
        var zeroPoint = new byte[32]; // u = 0 has order 4: the shared secret is all zero
        var ex = Assert.Throws<ProtocolViolationException>(() => key.Agree(zeroPoint, new byte[32]));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void X25519_ToString_DoesNotContainPrivateKey()
    {
        byte[] priv = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        using var key = X25519KeyPair.Import(priv);
        Assert.That(key.ToString(), Does.Not.Contain("77076d0a"));
    }

    [TestCaseSource(nameof(Ed25519Cases))]
    public void Ed25519_SignAndVerify_Rfc8032(JsonElement c)
    {
        using var key = Ed25519SigningKey.Import(c.Hex("private"));
        Assert.That(Convert.ToHexStringLower(key.PublicKey), Is.EqualTo(c.Str("public")));
        byte[] message = c.Hex("message");
        byte[] sig = key.Sign(message);
        Assert.That(Convert.ToHexStringLower(sig), Is.EqualTo(c.Str("signature")));
        Assert.That(Ed25519SigningKey.Verify(c.Hex("public"), message, sig), Is.True);
    }

    [TestCaseSource(nameof(Ed25519Cases))]
    public void Ed25519_OneBitFlip_FailsVerification(JsonElement c)
    {
        byte[] pk = c.Hex("public"), msg = c.Hex("message"), sig = c.Hex("signature");
        for (int bit = 0; bit < 512; bit += 37)
        {
            byte[] bad = (byte[])sig.Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.That(Ed25519SigningKey.Verify(pk, msg, bad), Is.False, $"signature bit {bit}");
        }
        byte[] longer = [.. msg, 0];
        Assert.That(Ed25519SigningKey.Verify(pk, longer, sig), Is.False, "message changed");
    }

    [TestCaseSource(nameof(Ed25519Cases))]
    public void Ed25519_PublicKeyBitFlip_FailsVerification_AfterTheKeyVerified(JsonElement c)
    {
        // Verify keeps decoded public keys: a key it has decoded must not stand in for a neighbouring encoding, and an encoding
        // that is no point (y >= p here) verifies nothing, however often it is asked.
        byte[] pk = c.Hex("public"), msg = c.Hex("message"), sig = c.Hex("signature");
        Assert.That(Ed25519SigningKey.Verify(pk, msg, sig), Is.True);
        for (int bit = 0; bit < 256; bit++)
        {
            byte[] bad = (byte[])pk.Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.That(Ed25519SigningKey.Verify(bad, msg, sig), Is.False, $"public key bit {bit}");
        }
        Assert.That(Ed25519SigningKey.Verify(pk, msg, sig), Is.True, "the key itself still verifies");
        byte[] notAPoint = [.. Enumerable.Repeat((byte)0xFF, 31), 0x7F];
        for (int k = 0; k < 2; k++) Assert.That(Ed25519SigningKey.Verify(notAPoint, msg, sig), Is.False, $"non-canonical key, call {k}");
    }

    [TestCaseSource(nameof(HkdfCases))]
    public void Hkdf_Rfc5869(JsonElement c)
    {
        byte[] ikm = c.Hex("ikm"), salt = c.Hex("salt"), info = c.Hex("info");
        int length = c.GetProperty("length").GetInt32();
        var prk = new byte[32];
        Kdf.Extract(ikm, salt, prk);
        Assert.That(Convert.ToHexStringLower(prk), Is.EqualTo(c.Str("prk")), "PRK");
        var okm = new byte[length];
        Kdf.Expand(prk, okm, info);
        Assert.That(Convert.ToHexStringLower(okm), Is.EqualTo(c.Str("okm")), "OKM via expand");
        var okm2 = new byte[length];
        Kdf.DeriveKey(ikm, okm2, salt, info);
        Assert.That(okm2, Is.EqualTo(okm), "OKM via extract-and-expand");
    }

    [TestCaseSource(nameof(PrgCases))]
    public void Prg_Sp80038aVectorFile(JsonElement c)
    {
        UInt128 counter = UInt128.Parse(c.Str("initial_counter"), System.Globalization.NumberStyles.HexNumber);
        using var prg = new Prg(c.Hex("key"), counter);
        byte[] plain = c.Hex("plaintext"), expected = c.Hex("ciphertext");
        var ks = new byte[plain.Length];
        prg.Fill(ks);
        for (int i = 0; i < ks.Length; i++) ks[i] ^= plain[i];
        Assert.That(Convert.ToHexStringLower(ks), Is.EqualTo(c.Str("ciphertext")));
        Assert.That(ks, Is.EqualTo(expected));
    }
}
