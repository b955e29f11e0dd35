// The switch to 2^64 of uploads and decryption shares and the reference lift back to Q (SPEC.md 12.0 steps 4, 5 and 7),
// against schoolbook big-integer arithmetic: the switch is the exact rounding round(2^64 x / Q) mod 2^64 (the fixed point
// differs from it only within 2^-60 of a half, which random inputs do not reach), the lift is exactly
// floor((Q w + 2^63) / 2^64) mod q_i, and a sum of K switched polynomials mod 2^64 is within K (1/2 + 2^-60) of
// 2^64 (their sum mod Q) / Q: the rounding term the policy check counts (ThresholdTests has the policy's edge).
using System.Numerics;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Threshold;

[TestFixture]
public sealed class ModulusSwitchTests
{
    private static readonly RlweParameters Fast = InsecureTestParameters.N256;
    private static readonly BigInteger Two64 = BigInteger.One << 64;

    private static IEnumerable<TestCaseData> Sets()
    {
        yield return new TestCaseData(Fast).SetName("ModulusSwitch/n=256");
        yield return new TestCaseData(ParameterSets.Default).SetName("ModulusSwitch/default");
    }

    private static BigInteger Mod(BigInteger a, BigInteger m) => ((a % m) + m) % m;

    /// <summary>A coefficient-domain polynomial with random residues, plus the residues of 0, 1, Q - 1, (Q - 1) / 2 and
    /// (Q + 1) / 2 in its first five coefficients.</summary>
    private static RnsPoly RandomPoly(RlweParameters p, string label)
    {
        using var rng = TestRandom.Create("modulus-switch/" + label);
        var bytes = new byte[8 * p.Primes.Count * p.N];
        rng.GetBytes(bytes);
        RnsPoly x = p.Basis.Allocate();
        BigInteger Q = p.Basis.Q;
        BigInteger[] special = [0, 1, Q - 1, (Q - 1) / 2, (Q + 1) / 2];
        for (int i = 0; i < p.Primes.Count; i++)
            for (int j = 0; j < p.N; j++)
                x.Data[i * p.N + j] = j < special.Length ? (ulong)(special[j] % p.Primes[i]) : BitConverter.ToUInt64(bytes, 8 * (i * p.N + j)) % p.Primes[i];
        return x;
    }

    [TestCaseSource(nameof(Sets))]
    public void Switch_IsTheExactRounding_Of2To64TimesXOverQ(RlweParameters p)
    {
        RnsPoly x = RandomPoly(p, "switch");
        var words = new ulong[p.N];
        new ModulusSwitch(p).Switch(x, words);
        BigInteger Q = p.Basis.Q;
        for (int j = 0; j < p.N; j++)
        {
            BigInteger value = p.Basis.Reconstruct(x, j);   // in [0, Q)
            BigInteger expected = Mod((Two64 * value * 2 + Q) / (2 * Q), Two64);   // floor(2^64 x / Q + 1/2); Q odd: never a tie
            Assert.That((BigInteger)words[j], Is.EqualTo(expected), $"coefficient {j}");
        }
    }

    [TestCaseSource(nameof(Sets))]
    public void Lift_IsFloorOfQTimesWPlusHalf_Over2To64_InEveryResidue(RlweParameters p)
    {
        var rng = TestRandom.Plain(17);
        ulong[] words = Enumerable.Range(0, p.N).Select(j => j switch
        {
            0 => 0UL, 1 => 1UL, 2 => 1UL << 63, 3 => (1UL << 63) - 1, 4 => (1UL << 63) + 1, 5 => ulong.MaxValue, 6 => ulong.MaxValue - 1,
            _ => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63),
        }).ToArray();
        RnsPoly lifted = p.Basis.Allocate(true);
        new ModulusSwitch(p).Lift(words, lifted);
        Assert.That(lifted.IsNtt, Is.False);
        BigInteger Q = p.Basis.Q;
        for (int j = 0; j < p.N; j++)
        {
            BigInteger y = (Q * words[j] + (BigInteger.One << 63)) >> 64;
            for (int i = 0; i < p.Primes.Count; i++)
                Assert.That(lifted.Data[i * p.N + j], Is.EqualTo((ulong)(y % p.Primes[i])), $"coefficient {j}, prime {i}");
        }
    }

    [TestCase(3)]
    [TestCase(10)]
    [TestCase(100)]
    public void SumOfSwitchedWords_IsWithinKRoundings_Of2To64TimesTheSumModQOverQ(int contributors)
    {
        RlweParameters p = Fast;
        var sw = new ModulusSwitch(p);
        var words = new ulong[p.N];
        var sum = new ulong[p.N];
        RnsPoly exact = p.Basis.Allocate();
        for (int b = 0; b < contributors; b++)
        {
            RnsPoly x = RandomPoly(p, $"sum/{contributors}/{b}");
            sw.Switch(x, words);
            for (int j = 0; j < p.N; j++) sum[j] = unchecked(sum[j] + words[j]);
            p.Basis.Add(exact, x, exact);
        }
        // |sum_j - 2^64 X_j / Q| (centred mod 2^64) <= K (1/2 + 2^-60), compared times 2^60 Q: |sum Q - 2^64 X| 2^60 <= K (2^59 + 1) Q.
        BigInteger Q = p.Basis.Q, modulus = Q << 64, worst = 0;
        for (int j = 0; j < p.N; j++)
        {
            BigInteger diff = Mod((BigInteger)sum[j] * Q - (p.Basis.Reconstruct(exact, j) << 64), modulus);
            if (diff > modulus / 2) diff -= modulus;
            worst = BigInteger.Max(worst, BigInteger.Abs(diff));
        }
        BigInteger bound = contributors * ((BigInteger.One << 59) + 1) * Q;
        Assert.That(worst << 60, Is.LessThanOrEqualTo(bound));
        // The bound is not loose by orders of magnitude: random roundings reach a good part of it.
        Assert.That((worst << 60) * 64, Is.GreaterThan(bound));
    }
}
