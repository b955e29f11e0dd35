// Tests of the RLWE parameter hash v2 and envelope version 2 (protocols/SPEC.md section 12): every field of the
// preimage (n, k, t, primes, error sigma, tail cut, secret distribution) changes the hash; version-1 objects are refused.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Rlwe;

[TestFixture]
public sealed class ParameterHashTests
{
    private static RlweParameters P => InsecureTestParameters.N256;

    private static byte[] Hash(int n = 256, int k = -1, ulong sigma = Samplers.SigmaMicros, int tail = Samplers.GaussianBound,
        ulong secret = RlweParameters.SecretDistributionTernary, ulong[]? primes = null) =>
        RlweParameters.ComputeHash(n, primes ?? [.. P.Primes], k < 0 ? P.PlainModulusBits : k, sigma, tail, secret);

    [Test]
    public void Hash_IsTheSpecPreimage_IndependentlyEncoded()
    {
        var pre = new List<byte>(Encoding.ASCII.GetBytes("FraudFed RLWE parameters v2"));
        void U64(ulong v) { var w = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(w, v); pre.AddRange(w); }
        U64((ulong)P.N); U64((ulong)P.PlainModulusBits); U64(1UL << P.PlainModulusBits); U64((ulong)P.Primes.Count);
        foreach (ulong q in P.Primes) U64(q);
        U64(3_200_000); U64(19); U64(1);
        Assert.That(P.Hash.ToArray(), Is.EqualTo(SHA256.HashData(pre.ToArray())));
        Assert.That((ulong)Math.Round(Samplers.Sigma * 1e6), Is.EqualTo(Samplers.SigmaMicros));
    }

    [Test]
    public void EveryField_ChangesTheHash()
    {
        byte[] baseline = Hash();
        Assert.That(baseline, Is.EqualTo(P.Hash.ToArray()));
        var variants = new Dictionary<string, byte[]>
        {
            ["n"] = Hash(n: 512),
            ["k (and t)"] = Hash(k: P.PlainModulusBits - 1),
            ["sigma"] = Hash(sigma: 3_190_000),
            ["tail cut"] = Hash(tail: 20),
            ["secret distribution"] = Hash(secret: 2),
            ["primes"] = Hash(primes: [.. P.Primes.Take(2)]),
        };
        foreach (var (field, h) in variants) Assert.That(h, Is.Not.EqualTo(baseline), field);
        Assert.That(variants.Values.Select(Convert.ToHexString).Distinct().Count(), Is.EqualTo(variants.Count));
    }

    [Test]
    public void Envelope_IsVersion2_AndAVersion1ObjectIsRefused()
    {
        using SecretKey sk = new Bfv(P).GenerateSecretKey(FraudFed.Testing.TestRandom.Create("hash/v2/sk"));
        var ct = new Bfv(P).Encrypt(sk, [1, 2, 3], FraudFed.Testing.TestRandom.Create("hash/v2/enc"));
        byte[] bytes = BfvSerializer.Serialize(ct);
        Assert.That(bytes[4], Is.EqualTo(2));
        Assert.DoesNotThrow(() => BfvSerializer.DeserializeCiphertext(P, bytes));
        bytes[4] = 1;
        SHA256.HashData(bytes.AsSpan(0, bytes.Length - RlweCodec.DigestSize)).AsSpan(0, RlweCodec.DigestSize).CopyTo(bytes.AsSpan(bytes.Length - RlweCodec.DigestSize));
        var ex = Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(P, bytes))!;
        Assert.That(ex.Reason, Is.EqualTo(ViolationReason.Malformed));
    }
}
