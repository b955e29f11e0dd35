using FraudFed.Cryptography;
using FraudFed.Protocol.Quantization;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests;

[TestFixture]
public sealed class QuantizerTests
{
    [Test]
    public void QuantizeThenDecode_IsWithinOneStep([Values(16, 32, 48)] int bits)
    {
        var q = new Quantizer(bits, clipBound: 4.0, scale: 1000);
        using var rng = TestRandom.Create("q" + bits);
        double[] v = [-4.0, -1.23456, 0, 0.0004, 3.99999, 4.0];
        ulong[] enc = q.Quantize(v, rng, out QuantizationReport report);
        Assert.That(report.Clipped, Is.Zero);
        double[] back = q.Decode(enc);
        for (int i = 0; i < v.Length; i++) Assert.That(back[i], Is.EqualTo(v[i]).Within(1.0 / 1000), $"index {i}");
        Assert.That(enc[0], Is.EqualTo(((1UL << bits) - 4000) & ((1UL << bits) - 1)), "two's complement mod 2^k");
    }

    [Test]
    public void StochasticRounding_IsUnbiased()
    {
        var q = new Quantizer(32, 1.0, 1.0);
        using var rng = TestRandom.Create("unbiased");
        const int n = 200_000;
        double[] v = Enumerable.Repeat(0.3, n).ToArray();
        ulong[] enc = q.Quantize(v, rng, out _);
        double mean = enc.Select(q.DecodeSigned).Average();
        // Bernoulli(0.3): standard error sqrt(0.21 / n) ~ 0.001; allow 5 standard errors.
        Assert.That(mean, Is.EqualTo(0.3).Within(0.005));
        Assert.That(enc.Distinct().Order(), Is.EqualTo(new ulong[] { 0, 1 }));
    }

    [Test]
    public void OutOfRange_ThrowsNamingTheIndex_AndLeavesDestinationUntouched()
    {
        var q = new Quantizer(32, 1.0, 100);
        using var rng = TestRandom.Create("oor");
        var dest = new ulong[4];
        dest[0] = 77;
        var ex = Assert.Throws<QuantizationRangeException>(() => q.Quantize([0.5, 0.1, 1.5, -3], dest, rng));
        Assert.That(ex!.Index, Is.EqualTo(2));
        Assert.That(ex.Message, Does.Contain("index 2"));
        Assert.That(dest[0], Is.EqualTo(77UL));
        Assert.Throws<QuantizationRangeException>(() => q.Quantize([double.NaN], new ulong[1], rng, clip: true));
    }

    [Test]
    public void Clipping_OptIn_ReportsHowManyWereClipped()
    {
        var q = new Quantizer(32, 1.0, 100);
        using var rng = TestRandom.Create("clip");
        var dest = new ulong[5];
        QuantizationReport r = q.Quantize([0.5, 2, -7, 1, double.PositiveInfinity], dest, rng, clip: true);
        Assert.That(r.Clipped, Is.EqualTo(3));
        Assert.That(q.Decode(dest), Is.EqualTo(new[] { 0.5, 1, -1, 1, 1 }));
    }

    [Test]
    public void ExactnessCheck_RefusesSumsThatCouldWrap()
    {
        var q = new Quantizer(16, 1.0, 1000); // M = 1000, 2^15 - 1 = 32767: at most 32 banks
        Assert.That(q.MaxBanks, Is.EqualTo(32));
        Assert.DoesNotThrow(() => q.EnsureExact(32));
        var ex = Assert.Throws<ProtocolViolationException>(() => q.EnsureExact(33));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.Throws<ProtocolViolationException>(() => _ = new FraudFed.Protocol.Harness.MaskingSecureSum(40, 16, new() { Quantizer = q }));
    }

    [Test]
    public void SumOfQuantized_DecodesToSumOfValues()
    {
        var q = new Quantizer(20, 2.0, 100);
        using var rng = TestRandom.Create("sum");
        double[][] banks = [[1.5, -2, 0.25], [-1.5, -2, 0.5], [2, -2, -0.75]];
        var sum = new ulong[3];
        foreach (double[] b in banks) { ulong[] e = q.Quantize(b, rng, out _); for (int i = 0; i < 3; i++) sum[i] += e[i]; }
        for (int i = 0; i < 3; i++) sum[i] &= (1UL << 20) - 1;
        Assert.That(q.Decode(sum), Is.EqualTo(new[] { 2.0, -6, 0 }).Within(1e-9));
    }

    [Test]
    public void DecodeSigned_TwoComplement([Values(2, 8, 33, 64)] int bits)
    {
        var q = new Quantizer(bits, 1, 1);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        Assert.That(q.DecodeSigned(mask), Is.EqualTo(-1));
        Assert.That(q.DecodeSigned(1UL << (bits - 1)), Is.EqualTo(bits == 64 ? long.MinValue : -(1L << (bits - 1))));
        Assert.That(q.DecodeSigned((1UL << (bits - 1)) - 1), Is.EqualTo((long)((1UL << (bits - 1)) - 1)));
    }

    [Test]
    public void NaN_IsRefusedEvenWithClipping_WithAMessageThatDoesNotSuggestClipping()
    {
        var q = new Quantizer(32, 4.0, 1 << 20);
        using var rng = System.Security.Cryptography.RandomNumberGenerator.Create();
        var ex = Assert.Throws<QuantizationRangeException>(() => q.Quantize([1.0, double.NaN], rng, out _, clip: true));
        Assert.That(ex!.Index, Is.EqualTo(1));
        Assert.That(ex.Message, Does.Contain("NaN").And.Not.Contain("pass clip"));
        Assert.That(q.Quantize([double.PositiveInfinity], rng, out QuantizationReport report, clip: true), Has.Length.EqualTo(1));
        Assert.That(report.Clipped, Is.EqualTo(1));
    }
}
