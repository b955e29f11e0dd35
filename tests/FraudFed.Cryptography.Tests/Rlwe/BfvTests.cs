using System.Numerics;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Rlwe;

[TestFixture]
public sealed class BfvTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;

    private static ulong[] Extremes(RlweParameters p, int seed)
    {
        // Values at the ends of the plaintext range mod t: 0, 1, t/2-1, t/2, t-1, and random values.
        ulong t = 1UL << p.PlainModulusBits;
        var rnd = TestRandom.Plain(seed);
        var v = new ulong[p.N];
        for (int j = 0; j < v.Length; j++)
            v[j] = (j % 6) switch { 0 => 0, 1 => 1, 2 => t / 2 - 1, 3 => t / 2, 4 => t - 1, _ => (ulong)rnd.NextInt64() & (t - 1) };
        return v;
    }

    [Test]
    public void Encoder_ScalesWithExactRounding()
    {
        RlweParameters p = Fast;
        var enc = new Encoder(p);
        BigInteger t = BigInteger.One << p.PlainModulusBits, Q = p.Basis.Q;
        ulong[] m = Extremes(p, 1);
        var poly = p.Basis.Allocate();
        enc.AddScaled(m, poly);
        for (int j = 0; j < p.N; j++)
        {
            BigInteger expected = (Q * m[j] + t / 2) / t; // round(Q*m/t), Q odd so no ties beyond half-up
            Assert.That(p.Basis.Reconstruct(poly, j), Is.EqualTo(expected % Q), $"j={j}");
        }
        var decoded = new ulong[p.N];
        enc.Decode(poly, decoded);
        Assert.That(decoded, Is.EqualTo(m));
    }

    [Test]
    public void Decode_IsExactUpToTheNoiseCapacity()
    {
        RlweParameters p = Fast;
        var enc = new Encoder(p);
        BigInteger cap = enc.NoiseCapacity;
        ulong[] m = Extremes(p, 2);
        var poly = p.Basis.Allocate();
        enc.AddScaled(m, poly);
        // Add +-capacity alternately (as exact big integers) and check decoding still returns m.
        for (int j = 0; j < p.N; j++)
            p.Basis.SetCoefficient(poly, j, p.Basis.Reconstruct(poly, j) + (j % 2 == 0 ? cap : -cap));
        var decoded = new ulong[p.N];
        enc.Decode(poly, decoded);
        Assert.That(decoded, Is.EqualTo(m));
        // Just past Q/(2t) (by 2^-56 relative) the rounding flips: the capacity is tight, so the test can fail.
        BigInteger beyond = p.Basis.Q / (BigInteger.One << (p.PlainModulusBits + 1)) + p.Basis.Q / (BigInteger.One << (p.PlainModulusBits + 56));
        var poly2 = p.Basis.Allocate();
        enc.AddScaled(m, poly2);
        p.Basis.SetCoefficient(poly2, 0, p.Basis.Reconstruct(poly2, 0) + beyond);
        enc.Decode(poly2, decoded);
        Assert.That(decoded[0], Is.Not.EqualTo(m[0]));
    }

    [Test]
    public void EncryptDecrypt_AtPlaintextExtremes([Values("pk", "sk")] string mode)
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create($"bfv/extremes/{mode}");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        ulong[] m = Extremes(Fast, 3);
        Ciphertext ct = mode == "pk" ? bfv.Encrypt(bfv.GeneratePublicKey(sk, rng), m, rng) : bfv.Encrypt(sk, m, rng);
        var decoded = new ulong[Fast.N];
        bfv.Decrypt(sk, ct, decoded);
        Assert.That(decoded, Is.EqualTo(m));
        // Noise within its analytic bound: sk encryption B = 19; pk encryption 2nB + B.
        BigInteger bound = mode == "pk" ? 2 * Fast.N * Samplers.GaussianBound + Samplers.GaussianBound : Samplers.GaussianBound;
        BigInteger noise = bfv.MeasureNoise(sk, ct, m);
        Assert.That(noise, Is.LessThanOrEqualTo(bound));
        Assert.That(noise, Is.GreaterThan(BigInteger.Zero));
    }

    [Test]
    public void Sum_Of1000Ciphertexts_OfExtremeValues_DecryptsExactly()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("bfv/sum1000");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        PublicKey pk = bfv.GeneratePublicKey(sk, rng);
        ulong t = 1UL << Fast.PlainModulusBits;
        var expected = new ulong[Fast.N];
        Ciphertext? acc = null;
        for (int c = 0; c < 1000; c++)
        {
            ulong[] m = Enumerable.Range(0, Fast.N).Select(j => (ulong)((j + c) % 3 == 0 ? t - 1 : (j + c) % 3 == 1 ? t / 2 : 1)).ToArray();
            for (int j = 0; j < m.Length; j++) expected[j] = (expected[j] + m[j]) & (t - 1);
            Ciphertext ct = bfv.Encrypt(pk, m, rng);
            if (acc is null) acc = ct; else bfv.AddInPlace(acc, ct);
        }
        var decoded = new ulong[Fast.N];
        bfv.Decrypt(sk, acc!, decoded);
        Assert.That(decoded, Is.EqualTo(expected));
        BigInteger noise = bfv.MeasureNoise(sk, acc!, expected);
        Assert.That(noise, Is.LessThanOrEqualTo(new BigInteger(1000) * (2 * Fast.N * Samplers.GaussianBound + Samplers.GaussianBound)));
    }

    [Test]
    public void RealParameters_EndToEnd_n8192()
    {
        RlweParameters p = ParameterSets.Default;
        Assert.That(p.LogQ, Is.LessThanOrEqualTo(218));
        var bfv = new Bfv(p);
        using var rng = TestRandom.Create("bfv/n8192");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        PublicKey pk = bfv.GeneratePublicKey(sk, rng);
        ulong[] m = Extremes(p, 4);
        Ciphertext ct = bfv.Add(bfv.Encrypt(pk, m, rng), bfv.Encrypt(sk, m, rng));
        byte[] wire = BfvSerializer.Serialize(ct);
        Ciphertext back = BfvSerializer.DeserializeCiphertext(p, wire);
        var decoded = new ulong[p.N];
        bfv.Decrypt(sk, back, decoded);
        ulong mask = (1UL << p.PlainModulusBits) - 1;
        Assert.That(decoded, Is.EqualTo(m.Select(x => (2 * x) & mask).ToArray()));
    }

    [Test]
    public void ParameterSet_AboveTheSecurityTable_IsRefused()
    {
        var ex = Assert.Throws<ProtocolViolationException>(() =>
            RlweParameters.Create("too-big", 8192, NttPrimes.Generate(60, 8192, 4), 44)); // 240 > 218
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        var ex2 = Assert.Throws<ProtocolViolationException>(() =>
            RlweParameters.Create("not-in-table", 256, NttPrimes.Generate(30, 256, 1), 16));
        Assert.That(ex2!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.DoesNotThrow(() => RlweParameters.Create("at-bound", 4096, [.. NttPrimes.Generate(55, 4096, 1), .. NttPrimes.Generate(54, 4096, 1)], 20)); // 109
        Assert.Throws<ProtocolViolationException>(() => RlweParameters.Create("over-by-one", 4096, [.. NttPrimes.Generate(55, 4096, 2)], 20)); // 110
        Assert.That(InsecureTestParameters.N256.IsInsecure, Is.True);
        Assert.That(ParameterSets.Default.IsInsecure, Is.False);
    }
}
