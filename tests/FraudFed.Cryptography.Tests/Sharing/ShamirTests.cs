using System.Numerics;
using FraudFed.Cryptography.Sharing;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Sharing;

[TestFixture]
public sealed class ShamirTests
{
    private static BigInteger Secret256(string label)
    {
        using var rng = TestRandom.Create(label);
        var seed = new byte[32];
        rng.GetBytes(seed);
        return Shamir.SeedToElement(seed);
    }

    [Test]
    public void AnyTShares_Reconstruct([Values(1, 2, 3, 5)] int t, [Values(5, 7)] int n)
    {
        BigInteger secret = Secret256($"secret/{t}/{n}");
        using var rng = TestRandom.Create($"AnyTShares/{t}/{n}");
        ShamirShare[] shares = Shamir.P521.Split(secret, t, n, rng);
        // Every subset of size t (n <= 7: at most 35 subsets).
        int subsets = 0;
        for (int mask = 0; mask < 1 << n; mask++)
        {
            if (BitOperations.PopCount((uint)mask) != t) continue;
            var subset = Enumerable.Range(0, n).Where(i => (mask >> i & 1) == 1).Select(i => shares[i]).ToArray();
            Assert.That(Shamir.P521.Reconstruct(subset), Is.EqualTo(secret), $"subset {mask:b}");
            subsets++;
        }
        Assert.That(subsets, Is.GreaterThan(0));
    }

    [Test]
    public void TMinusOneShares_DoNotReconstruct()
    {
        BigInteger secret = Secret256("tminus1");
        using var rng = TestRandom.Create("TMinusOne");
        ShamirShare[] shares = Shamir.P521.Split(secret, 4, 6, rng);
        Assert.That(Shamir.P521.Reconstruct(shares.AsSpan(0, 3)), Is.Not.EqualTo(secret));
    }

    [Test]
    public void TMinusOneShares_AreConsistentWithEverySecret()
    {
        // For t-1 shares and ANY candidate secret s', the unique polynomial of degree t-1 through
        // (0, s') and the t-1 shares exists; check it by building it and evaluating it back.
        const int t = 4;
        var field = Shamir.P521;
        using var rng = TestRandom.Create("Consistent");
        ShamirShare[] shares = field.Split(Secret256("real"), t, 6, rng);
        ShamirShare[] seen = shares[..(t - 1)];
        foreach (string candidate in new[] { "cand-a", "cand-b", "cand-c" })
        {
            BigInteger other = Secret256(candidate);
            var basis = seen.Append(new ShamirShare(0, other)).ToArray();
            foreach (ShamirShare s in seen)
                Assert.That(EvaluateInterpolant(field.Prime, basis, s.X), Is.EqualTo(s.Y));
            Assert.That(EvaluateInterpolant(field.Prime, basis, 0), Is.EqualTo(other));
        }
    }

    // Lagrange evaluation at x of the polynomial through the given points (x may be 0).
    private static BigInteger EvaluateInterpolant(BigInteger p, ShamirShare[] pts, int x)
    {
        BigInteger acc = 0;
        for (int i = 0; i < pts.Length; i++)
        {
            BigInteger num = 1, den = 1;
            for (int j = 0; j < pts.Length; j++)
            {
                if (i == j) continue;
                num = num * (((BigInteger)x - pts[j].X) % p + p) % p;
                den = den * (((BigInteger)pts[i].X - pts[j].X) % p + p) % p;
            }
            acc = (acc + pts[i].Y * num % p * BigInteger.ModPow(den, p - 2, p)) % p;
        }
        return acc;
    }

    [Test]
    public void SmallField_TMinusOneShareDistribution_IsTheSameForTwoSecrets()
    {
        // GF(11), t = 3: the pair (y1, y2) of the first two shares must be uniform over 121 cells
        // whatever the secret. Draw N sharings of secret 2 and of secret 9 and compare each histogram
        // with uniform (chi-square, 120 dof; 99.9% quantile ~ 173.6) and with each other.
        var field = new Shamir(11);
        const int N = 24200;
        long[] HistogramFor(int secret)
        {
            using var rng = TestRandom.Create("SmallField/" + secret);
            var h = new long[121];
            for (int i = 0; i < N; i++)
            {
                ShamirShare[] s = field.Split(secret, 3, 3, rng);
                h[(int)(s[0].Y * 11 + s[1].Y)]++;
            }
            return h;
        }
        long[] a = HistogramFor(2), b = HistogramFor(9);
        double expected = N / 121.0;
        double ChiUniform(long[] h) => h.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.That(ChiUniform(a), Is.LessThan(173.6), "secret 2 vs uniform");
        Assert.That(ChiUniform(b), Is.LessThan(173.6), "secret 9 vs uniform");
        double twoSample = 0;
        for (int i = 0; i < 121; i++)
            if (a[i] + b[i] > 0) twoSample += (double)(a[i] - b[i]) * (a[i] - b[i]) / (a[i] + b[i]);
        Assert.That(twoSample, Is.LessThan(173.6), "secret 2 vs secret 9");
        // And all three shares together DO depend on the secret: reconstruct recovers it.
        using var r = TestRandom.Create("SmallField/check");
        Assert.That(field.Reconstruct(field.Split(9, 3, 3, r)), Is.EqualTo(new BigInteger(9)));
    }

    [Test]
    public void Encoding_RoundTrips_AtFixedWidth()
    {
        var field = Shamir.P521;
        Assert.That(field.ElementSize, Is.EqualTo(66));
        using var rng = TestRandom.Create("Encoding");
        foreach (ShamirShare s in field.Split(Secret256("enc"), 3, 5, rng).Append(new ShamirShare(9, BigInteger.Zero)).Append(new ShamirShare(1, field.Prime - 1)))
        {
            var bytes = new byte[field.ShareSize];
            field.Encode(s, bytes);
            Assert.That(field.Decode(bytes), Is.EqualTo(s));
        }
    }

    [Test]
    public void Decode_RefusesValueNotBelowPrime()
    {
        var field = Shamir.P521;
        var bytes = new byte[field.ShareSize];
        bytes[3] = 1;
        bytes[4] = 0x01; // 2^520 * 1 ... set y = p exactly: 0x01 ff..ff
        for (int i = 5; i < bytes.Length; i++) bytes[i] = 0xff;
        var ex = Assert.Throws<FraudFed.Cryptography.ProtocolViolationException>(() => field.Decode(bytes));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        bytes[3] = 0; bytes[4] = 0;
        ex = Assert.Throws<FraudFed.Cryptography.ProtocolViolationException>(() => field.Decode(bytes));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed), "x = 0");
    }

    [Test]
    public void Reconstruct_RefusesDuplicateX()
    {
        var ex = Assert.Throws<FraudFed.Cryptography.ProtocolViolationException>(() =>
            Shamir.P521.Reconstruct(new[] { new ShamirShare(1, 5), new ShamirShare(1, 6) }));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void SeedConversion_RoundTrips()
    {
        using var rng = TestRandom.Create("seed");
        var seed = new byte[32]; rng.GetBytes(seed); seed[0] = 0; // leading zero byte survives
        var back = new byte[32];
        Shamir.ElementToSeed(Shamir.SeedToElement(seed), back);
        Assert.That(back, Is.EqualTo(seed));
        Assert.Throws<FraudFed.Cryptography.ProtocolViolationException>(() => Shamir.ElementToSeed(BigInteger.One << 256, back));
    }
}
