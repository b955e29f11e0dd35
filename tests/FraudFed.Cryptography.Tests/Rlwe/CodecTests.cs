using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Rlwe;

[TestFixture]
public sealed class CodecTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;

    [Test]
    public void Pack_RoundTrips_AtEveryWidth([Values(1, 7, 30, 59, 60, 61, 62)] int width)
    {
        var rnd = TestRandom.Plain(width);
        ulong q = width == 1 ? 2 : (1UL << width) - 1;
        ulong[] values = Enumerable.Range(0, 37).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
        values[0] = q - 1;
        var bytes = new byte[(37 * width + 7) / 8];
        RlweCodec.Pack(values, width, bytes);
        var back = new ulong[37];
        Assert.That(RlweCodec.Unpack(bytes, width, q, back), Is.True);
        Assert.That(back, Is.EqualTo(values));
    }

    [Test]
    public void FastUnpack_EqualsPortableUnpack_IncludingInvalidInputs([Values(20, 30, 44, 59, 60, 61, 62)] int width, [Values(1, 7, 64, 256, 8192)] int n)
    {
        var rnd = TestRandom.Plain(width * 1000 + n);
        ulong q = NttPrimes.Generate(Math.Max(width, 10), 8, 1)[0];
        int bytes = (int)(((long)n * width + 7) / 8);
        for (int trial = 0; trial < 4; trial++)
        {
            var source = new byte[bytes];
            if (trial == 0)
            {
                ulong[] values = Enumerable.Range(0, n).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
                RlweCodec.Pack(values, width, source);
            }
            else rnd.NextBytes(source); // random bits: out-of-range values and nonzero padding likely
            if (trial == 3 && bytes > 0) Array.Clear(source); // all zero: valid
            var fast = new ulong[n];
            var portable = new ulong[n];
            bool okFast = RlweCodec.Unpack(source, width, q, fast);
            bool okPortable = RlweCodec.UnpackPortable(source, width, q, portable);
            Assert.That(okFast, Is.EqualTo(okPortable), $"trial {trial}");
            Assert.That(fast, Is.EqualTo(portable), $"trial {trial}");
        }
    }

    [Test]
    public void Ciphertext_And_PublicKey_RoundTrip()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("codec/roundtrip");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        PublicKey pk = bfv.GeneratePublicKey(sk, rng);
        byte[] pkBytes = BfvSerializer.Serialize(pk);
        Assert.That(BfvSerializer.Serialize(BfvSerializer.DeserializePublicKey(Fast, pkBytes)), Is.EqualTo(pkBytes));
        Ciphertext ct = bfv.Encrypt(pk, [1, 2, 3], rng);
        byte[] ctBytes = BfvSerializer.Serialize(ct);
        Assert.That(ctBytes, Has.Length.EqualTo(RlweCodec.Size(Fast, 0, 2)));
        Assert.That(ctBytes, Has.Length.EqualTo(RlweCodec.HeaderSize + 2 * 3 * 256 * 60 / 8 + RlweCodec.DigestSize));
        Assert.That(BfvSerializer.Serialize(BfvSerializer.DeserializeCiphertext(Fast, ctBytes)), Is.EqualTo(ctBytes));
    }

    [Test]
    public void FlippingAnyHeaderBit_OrASampleOfBodyBits_IsATypedRefusal()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("codec/flip");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        byte[] bytes = BfvSerializer.Serialize(bfv.Encrypt(sk, [5, 6], rng));
        var positions = Enumerable.Range(0, RlweCodec.HeaderSize * 8)
            .Concat(Enumerable.Range(0, 200).Select(k => RlweCodec.HeaderSize * 8 + k * 61 % ((bytes.Length - RlweCodec.HeaderSize) * 8)))
            .Concat(Enumerable.Range((bytes.Length - RlweCodec.DigestSize) * 8, RlweCodec.DigestSize * 8));
        foreach (int bit in positions)
        {
            byte[] tampered = (byte[])bytes.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            var ex = Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, tampered), $"bit {bit}");
            Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.Malformed, ViolationReason.Inconsistent, ViolationReason.Oversized, ViolationReason.OutOfRange), $"bit {bit}");
        }
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, bytes.AsSpan(0, bytes.Length - 1)))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, [.. bytes, 0]))!.Reason, Is.EqualTo(ViolationReason.Oversized));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(InsecureTestParameters.N1024, bytes))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
    }

    [Test]
    public void ResidueNotBelowItsPrime_IsOutOfRange_EvenWithAValidDigest()
    {
        var p = Fast;
        var poly = p.Basis.Allocate();
        poly.Limb(1)[17] = p.Primes[1]; // exactly q: out of range
        byte[] bytes = RlweCodec.Write(p, RlweObjectKind.Ciphertext, default, poly, p.Basis.Allocate());
        var ex = Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(p, bytes));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        poly.Limb(1)[17] = p.Primes[1] - 1;
        bytes = RlweCodec.Write(p, RlweObjectKind.Ciphertext, default, poly, p.Basis.Allocate());
        Assert.DoesNotThrow(() => BfvSerializer.DeserializeCiphertext(p, bytes));
    }
}
