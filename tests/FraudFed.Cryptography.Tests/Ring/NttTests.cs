using System.Numerics;
using FraudFed.Cryptography.Ring;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Ring;

[TestFixture]
public sealed class NttTests
{
    private static readonly int[] Sizes = [2, 8, 256, 1024, 8192];

    private static ulong[] RandomVector(int n, ulong q, int seed)
    {
        var v = new ulong[n];
        Samplers.UniformLimb(v, q, Samplers.From(TestRandom.Create(seed)));
        return v;
    }

    [Test]
    public void Primes_AreDeterministicMillerRabinCorrect()
    {
        // Composite Carmichael numbers and strong pseudoprimes to small bases must be rejected.
        // 3825123056546413051 = 149491 * 747451 * 34233211 is a strong pseudoprime to bases 2..23.
        ulong[] composites = [561, 1105, 2047, 3215031751, 3825123056546413051, 1UL << 61, 4294967297 /* F5 */];
        foreach (ulong c in composites) Assert.That(NttPrimes.IsPrime(c), Is.False, c.ToString());
        ulong f1 = 149491, f2 = 747451, f3 = 34233211;
        Assert.That(f1 * f2 * f3, Is.EqualTo(3825123056546413051UL));
        ulong[] primes = [2, 3, 65537, 2305843009213693951 /* 2^61-1 */, 18446744073709551557 /* largest 64-bit prime */];
        foreach (ulong p in primes) Assert.That(NttPrimes.IsPrime(p), Is.True, p.ToString());
        // Cross-check a range against trial division.
        for (ulong x = 1_000_000_000; x < 1_000_002_000; x++)
            Assert.That(NttPrimes.IsPrime(x), Is.EqualTo(IsPrimeSlow(x)), x.ToString());
    }

    private static bool IsPrimeSlow(ulong x)
    {
        if (x < 2) return false;
        for (ulong d = 2; d * d <= x; d++) if (x % d == 0) return false;
        return true;
    }

    [TestCase(60, 8192, 3)]
    [TestCase(50, 4096, 2)]
    [TestCase(30, 1024, 4)]
    public void Generate_GivesDistinctNttPrimesOfExactSize(int bits, int n, int count)
    {
        ulong[] primes = NttPrimes.Generate(bits, n, count);
        Assert.That(primes, Has.Length.EqualTo(count));
        Assert.That(primes.Distinct().Count(), Is.EqualTo(count));
        foreach (ulong q in primes)
        {
            Assert.That(q % (2UL * (ulong)n), Is.EqualTo(1UL));
            Assert.That(64 - BitOperations.LeadingZeroCount(q), Is.EqualTo(bits));
            Assert.That(NttPrimes.IsPrime(q), Is.True);
        }
    }

    [Test]
    public void Psi_IsPrimitive2NthRoot([Values(256, 8192)] int n)
    {
        foreach (ulong q in NttPrimes.Generate(60, n, 3))
        {
            ulong psi = NttPrimes.PrimitiveRoot2N(q, n);
            Assert.That(ModArith.PowMod(psi, (ulong)n, q), Is.EqualTo(q - 1), "psi^n = -1");
            Assert.That(ModArith.PowMod(psi, 2UL * (ulong)n, q), Is.EqualTo(1UL), "psi^2n = 1");
        }
    }

    [Test]
    public void RoundTrip_InverseOfForwardIsIdentity([ValueSource(nameof(Sizes))] int n, [Values(30, 60, 62)] int bits)
    {
        ulong q = NttPrimes.Generate(bits, n, 1)[0];
        var tables = new NttTables(n, q);
        ulong[] x = RandomVector(n, q, n * 100 + bits);
        ulong[] y = (ulong[])x.Clone();
        tables.Forward(y);
        Assert.That(y, Is.Not.EqualTo(x));
        Assert.That(y.All(v => v < q), Is.True, "forward output fully reduced");
        tables.Inverse(y);
        Assert.That(y, Is.EqualTo(x));
    }

    // Every shape of the stage schedule (one lone radix-2 stage for odd log n, radix-4 passes, the fused last
    // passes) against the definition, with random inputs and with every coefficient q - 1 (the lazy ranges' edge).
    [Test]
    public void Forward_EvaluatesAtOddPowersOfPsiInBitReversedOrder([Values(2, 4, 8, 16, 32, 64, 128)] int n, [Values(40, 62)] int bits, [Values(false, true)] bool allMax)
    {
        ulong q = NttPrimes.Generate(bits, n, 1)[0];
        var tables = new NttTables(n, q);
        ulong[] x = allMax ? Enumerable.Repeat(q - 1, n).ToArray() : RandomVector(n, q, 5);
        ulong[] y = (ulong[])x.Clone();
        tables.Forward(y);
        int logN = BitOperations.Log2((uint)n);
        for (int k = 0; k < n; k++)
        {
            ulong point = ModArith.PowMod(tables.Psi, (ulong)(2 * NttTables.BitReverse(k, logN) + 1), q);
            ulong acc = 0, pw = 1;
            for (int j = 0; j < n; j++) { acc = ModArith.AddMod(acc, ModArith.MulMod(x[j], pw, q), q); pw = ModArith.MulMod(pw, point, q); }
            Assert.That(y[k], Is.EqualTo(acc), $"k={k}");
        }
        ulong[] back = (ulong[])y.Clone();
        tables.Inverse(back);
        Assert.That(back, Is.EqualTo(x), "the inverse gives the coefficients back");
    }

    // The inverse against its definition: Inverse(y)[j] = n^-1 * sum_k y[k] * point_k^-j, from arbitrary evaluations.
    [Test]
    public void Inverse_InterpolatesAtOddPowersOfPsi([Values(2, 4, 8, 16, 32, 64)] int n, [Values(false, true)] bool allMax)
    {
        ulong q = NttPrimes.Generate(62, n, 1)[0];
        var tables = new NttTables(n, q);
        ulong[] y = allMax ? Enumerable.Repeat(q - 1, n).ToArray() : RandomVector(n, q, 9);
        ulong[] x = (ulong[])y.Clone();
        tables.Inverse(x);
        int logN = BitOperations.Log2((uint)n);
        ulong nInv = ModArith.InvMod((ulong)n, q);
        for (int j = 0; j < n; j++)
        {
            ulong acc = 0;
            for (int k = 0; k < n; k++)
            {
                ulong point = ModArith.PowMod(tables.Psi, (ulong)(2 * NttTables.BitReverse(k, logN) + 1), q);
                ulong pointInvJ = ModArith.InvMod(ModArith.PowMod(point, (ulong)j, q), q);
                acc = ModArith.AddMod(acc, ModArith.MulMod(y[k], pointInvJ, q), q);
            }
            Assert.That(x[j], Is.EqualTo(ModArith.MulMod(acc, nInv, q)), $"j={j}");
        }
    }

    [Test]
    public void Product_EqualsSchoolbookNegacyclic([Values(8, 64, 1024, 8192)] int n)
    {
        ulong[] primes = NttPrimes.Generate(60, n, 2);
        var basis = new RnsBasis(n, primes);
        var rng = Samplers.From(TestRandom.Create($"product/{n}"));
        RnsPoly a = Samplers.Uniform(basis, rng, isNtt: false);
        RnsPoly b = Samplers.Uniform(basis, rng, isNtt: false);
        RnsPoly c = basis.Multiply(a, b);
        // Schoolbook per prime, every coefficient for the first prime (n^2 products, 67M at n = 8192) and a
        // sample of coefficients for the second; products accumulated exactly in 128 bits, reduced once.
        for (int i = 0; i < primes.Length; i++)
        {
            ulong q = primes[i];
            var barrett = new Barrett128(q);
            ulong[] x = a.Limb(i).ToArray(), y = b.Limb(i).ToArray(), z = c.Limb(i).ToArray();
            int[] check = i == 0 || n <= 1024 ? Enumerable.Range(0, n).ToArray() : [0, 1, 2, 4095, 4096, 8190, 8191, 1234, 7777];
            var wrong = new System.Collections.Concurrent.ConcurrentBag<int>();
            Parallel.ForEach(check, k =>
            {
                // sum_{j <= k} x_j y_{k-j} - sum_{j > k} x_j y_{n+k-j}: reduce each product, accumulate per sign.
                UInt128 plus = 0, minus = 0;
                for (int j = 0; j <= k; j++) plus += barrett.MulMod(x[j], y[k - j]);
                for (int j = k + 1; j < n; j++) minus += barrett.MulMod(x[j], y[n + k - j]);
                ulong pr = barrett.Reduce((ulong)(plus >> 64), (ulong)plus), mr = barrett.Reduce((ulong)(minus >> 64), (ulong)minus);
                if (z[k] != ModArith.SubMod(pr, mr, q)) wrong.Add(k);
            });
            Assert.That(wrong, Is.Empty, $"prime {i}");
        }
    }

    [Test]
    public void Crt_ReconstructsSignedValues()
    {
        var basis = new RnsBasis(8, NttPrimes.Generate(60, 8, 3));
        var p = basis.Allocate();
        BigInteger[] values = [0, 1, -1, basis.Q / 2, -(basis.Q / 2) + 1, BigInteger.Pow(2, 150) + 12345, -BigInteger.Pow(2, 170), 42];
        for (int j = 0; j < 8; j++) basis.SetCoefficient(p, j, values[j]);
        for (int j = 0; j < 8; j++) Assert.That(basis.ReconstructCentered(p, j), Is.EqualTo(values[j]), $"j={j}");
    }

    [Test]
    public void Barrett_MatchesUInt128Remainder()
    {
        var rnd = TestRandom.Plain(3);
        foreach (ulong q in NttPrimes.Generate(60, 1024, 2).Concat(NttPrimes.Generate(31, 1024, 1)))
        {
            var b = new Barrett128(q);
            for (int k = 0; k < 20000; k++)
            {
                ulong hi = (ulong)rnd.NextInt64() ^ ((ulong)rnd.Next() << 40), lo = (ulong)rnd.NextInt64() * 3;
                Assert.That(b.Reduce(hi, lo), Is.EqualTo((ulong)(new UInt128(hi, lo) % q)));
            }
            Assert.That(b.Reduce(ulong.MaxValue, ulong.MaxValue), Is.EqualTo((ulong)(UInt128.MaxValue % q)));
        }
    }

    // The share's inverse transform with the pointwise multiply folded into its first pass and its last stage run apart
    // (InverseMultiplyHead, then InverseLastStage) against MulPointwiseShoup and the whole Inverse, bit for bit, for ring
    // sizes whose first inverse pass is radix-2 (log2 n - 1 odd) and radix-4, on random values and on 0 / q - 1 everywhere.
    [Test]
    public void InverseMultiplyHead_ThenLastStage_EqualsMultiplyThenInverse([Values(2, 4, 8, 16, 256, 1024, 8192, 16384)] int n,
        [Values(false, true)] bool edge)
    {
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, 2));
        for (int i = 0; i < basis.Count; i++)
        {
            ulong q = basis.Primes[i];
            ulong[] a = edge ? Enumerable.Range(0, n).Select(j => j % 3 == 0 ? 0 : q - 1).ToArray() : RandomVector(n, q, n + i);
            ulong[] b = edge ? Enumerable.Repeat(q - 1, n).ToArray() : RandomVector(n, q, 7 * n + i);
            ulong[] bShoup = b.Select(x => ModArith.ShoupPrecompute(x, q)).ToArray();
            // Straightforward: the product reduced to [0, q), then the whole inverse transform.
            ulong[] expected = a.Select((x, j) => (ulong)((UInt128)x * b[j] % q)).ToArray();
            basis.Table(i).Inverse(expected);
            ulong[] fused = (ulong[])a.Clone();
            basis.Table(i).InverseMultiplyHead(fused, b, bShoup);
            Assert.That(fused.All(x => x < 2 * q), "head output in [0, 2q)");
            basis.Table(i).InverseLastStage(fused);
            Assert.That(fused, Is.EqualTo(expected), $"prime {i}");
        }
    }
}
