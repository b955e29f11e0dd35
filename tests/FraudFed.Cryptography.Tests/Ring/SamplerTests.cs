using System.Numerics;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Ring;

[TestFixture]
public sealed class SamplerTests
{
    [Test]
    public void Uniform_ChiSquarePerPrime()
    {
        const int n = 8192, bins = 64;
        var basis = new RnsBasis(n, [.. NttPrimes.Generate(60, n, 2), .. NttPrimes.Generate(30, n, 1)]);
        RnsPoly p = Samplers.Uniform(basis, TestRandom.Create("uniform-chi2"), isNtt: false);
        for (int i = 0; i < basis.Count; i++)
        {
            ulong q = basis.Primes[i];
            var counts = new long[bins];
            foreach (ulong v in p.Limb(i))
            {
                Assert.That(v, Is.LessThan(q));
                counts[(int)((UInt128)v * bins / q)]++;
            }
            double expected = (double)n / bins, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
            // 63 degrees of freedom: P(chi2 > 110) ~ 2e-4.
            Assert.That(chi2, Is.LessThan(110), $"prime {i}");
        }
    }

    [Test]
    public void Uniform_FromPrg_IsReproducibleFromSeed()
    {
        var basis = new RnsBasis(256, NttPrimes.Generate(60, 256, 3));
        byte[] seed = new byte[32]; seed[3] = 9;
        using var p1 = new Prg(seed);
        using var p2 = new Prg(seed);
        seed[0] = 1;
        using var p3 = new Prg(seed);
        Assert.That(Samplers.Uniform(basis, p1).Data, Is.EqualTo(Samplers.Uniform(basis, p2).Data));
        Assert.That(Samplers.Uniform(basis, p3).Data, Is.Not.EqualTo(Samplers.Uniform(basis, new Prg(new byte[32])).Data));
    }

    [Test]
    public void Ternary_IsBalanced()
    {
        sbyte[] t = Samplers.Ternary(300_000, Samplers.From(TestRandom.Create("ternary")));
        foreach (sbyte v in new sbyte[] { -1, 0, 1 })
        {
            double frac = t.Count(x => x == v) / 300_000.0;
            Assert.That(frac, Is.EqualTo(1.0 / 3).Within(0.005), $"value {v}");
        }
        Assert.That(t.All(x => x is >= -1 and <= 1), Is.True);
    }

    [Test]
    public void Gaussian_MomentsAndTail()
    {
        var v = new long[400_000];
        Samplers.Gaussian(v, Samplers.From(TestRandom.Create("gaussian")));
        double mean = v.Average(), variance = v.Select(x => (x - mean) * (x - mean)).Average();
        Assert.That(mean, Is.EqualTo(0).Within(0.03));
        Assert.That(Math.Sqrt(variance), Is.EqualTo(Samplers.Sigma).Within(0.03));
        Assert.That(v.Max(x => Math.Abs(x)), Is.LessThanOrEqualTo(Samplers.GaussianBound));
        // Tail P(|x| >= 7) against the exact discrete Gaussian mass (computed here independently).
        double norm = 0, massTail = 0;
        for (int k = -40; k <= 40; k++)
        {
            double rho = Math.Exp(-k * k / (2 * 3.2 * 3.2));
            norm += rho;
            if (Math.Abs(k) >= 7) massTail += rho;
        }
        double tail = v.Count(x => Math.Abs(x) >= 7) / (double)v.Length;
        Assert.That(tail, Is.EqualTo(massTail / norm).Within(0.0015)); // ~5 standard errors
        // Symmetry.
        Assert.That(v.Count(x => x > 0) / (double)v.Length, Is.EqualTo(v.Count(x => x < 0) / (double)v.Length).Within(0.005));
    }

    [Test]
    public void Smudging_RangeIsExactAtTheExtremes([Values(1, 3, 5)] int bits)
    {
        Int128 bound = (Int128.One << bits) - 1;
        Int128[] v = Samplers.SmudgingValues(20_000, bits, Samplers.From(TestRandom.Create($"smudge/{bits}")));
        Assert.That(v.Min(), Is.EqualTo(-bound));
        Assert.That(v.Max(), Is.EqualTo(bound));
        Assert.That(v.Distinct().Count(), Is.EqualTo((int)(2 * bound + 1)), "every value in [-B, B] occurs");
    }

    [Test]
    public void Smudging_IntoRnsLimbs_IsExactAndWide([Values(4, 100, 126)] int bits)
    {
        const int n = 4096;
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, 3));
        var p = basis.Allocate();
        Samplers.AddSmudging(basis, p, bits, Samplers.From(TestRandom.Create($"smudge-rns/{bits}")));
        BigInteger bound = BigInteger.Pow(2, bits) - 1;
        var values = Enumerable.Range(0, n).Select(j => basis.ReconstructCentered(p, j)).ToArray();
        Assert.That(values.All(x => BigInteger.Abs(x) <= bound), Is.True);
        // The extremes of the sample come close to +-B: the largest of 4096 uniforms is within B/256 w.h.p.
        BigInteger max = values.Max(), min = values.Min();
        if (bits == 4) { Assert.That(max, Is.EqualTo(bound)); Assert.That(min, Is.EqualTo(-bound)); }
        else { Assert.That(max, Is.GreaterThan(bound - bound / 256)); Assert.That(min, Is.LessThan(-bound + bound / 256)); }
        // Mean near 0 relative to B.
        BigInteger sum = values.Aggregate(BigInteger.Zero, (a, b) => a + b);
        Assert.That(BigInteger.Abs(sum) * 20, Is.LessThan(bound * n));
    }

    // The batched RNS addition gives exactly the integers SmudgingValues draws from the same stream, added to an
    // arbitrary polynomial: CRT-reconstructing each coefficient minus its old value is the drawn integer.
    [Test]
    public void Smudging_IntoRnsLimbs_AddsExactlyTheDrawnIntegers([Values(4, 106, 126)] int bits, [Values(256, 4096)] int n)
    {
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, 3));
        var p = basis.Allocate();
        var rnd = TestRandom.Plain(bits + n);
        for (int i = 0; i < basis.Count; i++)
            for (int j = 0; j < n; j++) p.Limb(i)[j] = (ulong)rnd.NextInt64() % basis.Primes[i];
        BigInteger[] before = Enumerable.Range(0, n).Select(j => basis.ReconstructCentered(p, j)).ToArray();
        Samplers.AddSmudging(basis, p, bits, Samplers.From(TestRandom.Create($"smudge-exact/{bits}")));
        Int128[] drawn = Samplers.SmudgingValues(n, bits, Samplers.From(TestRandom.Create($"smudge-exact/{bits}")));
        BigInteger q = basis.Primes.Aggregate(BigInteger.One, (a, b) => a * b);
        for (int j = 0; j < n; j++)
        {
            BigInteger diff = ((basis.ReconstructCentered(p, j) - before[j] - (BigInteger)drawn[j]) % q + q) % q;
            Assert.That(diff, Is.EqualTo(BigInteger.Zero), $"coefficient {j}");
        }
    }

    // The fused one-pass smudging (AddSmudging) against the batched reference it replaced (AddSmudgingReference): same
    // stream, same starting residues, every residue equal, for widths around the 64-bit word boundary, 1 to 4 limbs and
    // lengths that end inside a 1,024-draw batch.
    [Test]
    public void Smudging_FastPath_EqualsReference_OnRandomDraws([Values(1, 2, 62, 63, 64, 65, 106, 126)] int bits, [Values(1, 2, 3, 4)] int limbs)
    {
        int n = limbs == 3 ? 8192 : 2048;
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, limbs));
        RnsPoly fast = RandomPoly(basis, bits * 10 + limbs), reference = fast.Clone();
        Samplers.AddSmudging(basis, fast, bits, Samplers.From(TestRandom.Create($"smudge-fast/{bits}/{limbs}")));
        Samplers.AddSmudgingReference(basis, reference, bits, Samplers.From(TestRandom.Create($"smudge-fast/{bits}/{limbs}")));
        Assert.That(fast.Data, Is.EqualTo(reference.Data));
    }

    // Edge draws: every third 128-bit draw is all ones (the rejected value 2^(b+1) - 1 once masked), the others alternate
    // between 0 (noise -B) and all ones but the lowest bit (2B once masked, noise +B); residues start at 0 and q - 1.
    [Test]
    public void Smudging_FastPath_EqualsReference_OnRejectedAndExtremeDraws([Values(1, 63, 64, 106, 126)] int bits, [Values(1, 3)] int limbs)
    {
        const int n = 2048;
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, limbs));
        RnsPoly fast = basis.Allocate();
        for (int i = 0; i < limbs; i++)
            for (int j = 0; j < n; j++) fast.Limb(i)[j] = j % 2 == 0 ? 0 : basis.Primes[i] - 1;
        RnsPoly reference = fast.Clone();
        Samplers.AddSmudging(basis, fast, bits, EdgeDraws());
        Samplers.AddSmudgingReference(basis, reference, bits, EdgeDraws());
        Assert.That(fast.Data, Is.EqualTo(reference.Data));
        // Independent fact (where Q > 4B, so centred residues are the integers): coefficient 0 (from 0) got draw 1 (value 0,
        // noise -B), coefficient 1 (from -1) got draw 2 (2B, noise +B).
        BigInteger bound = BigInteger.Pow(2, bits) - 1;
        if (bits + 2 >= 60 * limbs - 1) return;
        Assert.That(basis.ReconstructCentered(fast, 0), Is.EqualTo(-bound));
        Assert.That(basis.ReconstructCentered(fast, 1), Is.EqualTo(bound - 1));
    }

    // The vector mask-and-compare of UniformLimbCore against the word-at-a-time reference: same stream, same values, for
    // 60-bit NTT primes (almost no rejections), primes just above a power of two (about half rejected), a tiny prime, and
    // lengths that are not multiples of the four-word block; and on an edge stream of all-ones words (always rejected),
    // zeros and words whose masked value is q - 1 or q.
    [Test]
    public void UniformLimb_VectorPath_EqualsReference([Values(1, 3, 4, 5, 1023, 8192)] int length, [Values(false, true)] bool edge)
    {
        ulong[] primes = [.. NttPrimes.Generate(60, 8192, 2), 17, 65537, (1UL << 61) - 1, 4294967311 /* 2^32 + 15 */];
        foreach (ulong q in primes)
        {
            var fast = new ulong[length];
            var reference = new ulong[length];
            Func<RandomFill> stream = edge ? () => EdgeWords(q) : () => Samplers.From(TestRandom.Create($"uniform-vector/{q}/{length}"));
            Samplers.UniformLimbCore(fast, q, stream());
            Samplers.UniformLimbReference(reference, q, stream());
            Assert.That(fast, Is.EqualTo(reference), $"q = {q}");
            Assert.That(fast.All(v => v < q), $"q = {q}");
        }
    }

    /// <summary>Little-endian words cycling through all ones, 0, q - 1, q and q | ~mask (q once masked), by word position.</summary>
    private static RandomFill EdgeWords(ulong q)
    {
        long word = 0;
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(q - 1);
        ulong high = bits == 64 ? 0 : ~((1UL << bits) - 1);
        ulong[] cycle = [ulong.MaxValue, 0, q - 1, q, q | high, (q - 1) | high, 1];
        return destination =>
        {
            Assert.That(destination.Length % 8, Is.EqualTo(0));
            for (int b = 0; b < destination.Length; b += 8, word++)
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(destination[b..], cycle[word % cycle.Length]);
        };
    }

    private static RandomFill EdgeDraws()
    {
        long position = 0; // bytes emitted so far, so that the pattern does not depend on how the stream is cut
        return destination =>
        {
            for (int b = 0; b < destination.Length; b++, position++)
            {
                long draw = position / 16, offset = position % 16;
                destination[b] = (draw % 3) switch { 0 => 0xFF, 1 => 0x00, _ => offset == 0 ? (byte)0xFE : (byte)0xFF };
            }
        };
    }

    private static RnsPoly RandomPoly(RnsBasis basis, int seed)
    {
        var p = basis.Allocate();
        var rnd = TestRandom.Plain(seed);
        for (int i = 0; i < basis.Count; i++)
            for (int j = 0; j < basis.N; j++) p.Limb(i)[j] = (ulong)rnd.NextInt64() % basis.Primes[i];
        return p;
    }
}
