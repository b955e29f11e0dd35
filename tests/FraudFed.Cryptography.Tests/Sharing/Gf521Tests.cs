// GF(2^521 - 1) limb arithmetic (Gf521) against System.Numerics.BigInteger as the schoolbook reference: edge values (0, 1,
// p-1, p-2, 2^520, limb boundaries, values with every limb full) and seeded random ones, for add, sub, mul, inversion,
// equality and the 66-byte big-endian codec. BigInteger is the test's reference only.
using System.Numerics;
using FraudFed.Cryptography.Sharing;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Sharing;

[TestFixture]
public sealed class Gf521Tests
{
    private static readonly BigInteger P = BigInteger.Pow(2, 521) - 1;

    /// <summary>Edge values: small, around p, powers of two at limb boundaries, and elements whose limbs are all ones.</summary>
    private static readonly BigInteger[] Edges =
    [
        0, 1, 2, 3, P - 1, P - 2, P - 3, (P - 1) / 2, (P + 1) / 2,
        BigInteger.Pow(2, 520), BigInteger.Pow(2, 520) - 1, BigInteger.Pow(2, 512), BigInteger.Pow(2, 512) - 1,
        BigInteger.Pow(2, 64), BigInteger.Pow(2, 64) - 1, BigInteger.Pow(2, 63), BigInteger.Pow(2, 256), BigInteger.Pow(2, 256) - 1,
        P - BigInteger.Pow(2, 512),          // limbs 0..7 all ones, limb 8 = 0x1fe
        BigInteger.Pow(2, 519) + BigInteger.Pow(2, 512) - 1, // limbs 0..7 all ones, limb 8 = 0x80
        P - BigInteger.Pow(2, 64),           // limb 0 zero, the rest full
    ];

    private static BigInteger[] Randoms(string label, int count)
    {
        using var rng = TestRandom.Create(label);
        var buffer = new byte[72];
        return Enumerable.Range(0, count).Select(_ => { rng.GetBytes(buffer); return new BigInteger(buffer, isUnsigned: true) % P; }).ToArray();
    }

    private static Limbs521 ToLimbs(BigInteger v)
    {
        Assert.That(v.Sign >= 0 && v < P, Is.True, "test values are field elements");
        var bytes = new byte[Gf521.ByteCount];
        v.TryWriteBytes(bytes.AsSpan(Gf521.ByteCount - v.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        Limbs521 limbs = default;
        Assert.That(Gf521.TryDecode(bytes, limbs), Is.True);
        return limbs;
    }

    private static BigInteger ToBig(ReadOnlySpan<ulong> limbs)
    {
        BigInteger v = 0;
        for (int i = Gf521.LimbCount - 1; i >= 0; i--) v = (v << 64) + limbs[i];
        return v;
    }

    private static IEnumerable<(BigInteger A, BigInteger B)> Pairs()
    {
        foreach (BigInteger a in Edges)
            foreach (BigInteger b in Edges) yield return (a, b);
        BigInteger[] r = Randoms("gf521/pairs", 400);
        for (int i = 0; i + 1 < r.Length; i += 2) yield return (r[i], r[i + 1]);
        foreach (BigInteger e in Edges)
            foreach (BigInteger x in r.Take(10)) { yield return (e, x); yield return (x, e); }
    }

    [Test]
    public void Limbs_RoundTripThroughTheReference()
    {
        foreach (BigInteger v in Edges.Concat(Randoms("gf521/roundtrip", 50)))
        {
            Limbs521 limbs = ToLimbs(v);
            Assert.That(ToBig(limbs), Is.EqualTo(v), v.ToString("x"));
        }
    }

    [Test]
    public void AddSubMul_EqualTheBigIntegerReference_OnEdgeAndRandomValues()
    {
        int checkedPairs = 0;
        var wrong = new List<string>();
        foreach (var (a, b) in Pairs())
        {
            Limbs521 la = ToLimbs(a), lb = ToLimbs(b), r = default;
            Gf521.Add(la, lb, r);
            if (ToBig(r) != (a + b) % P) wrong.Add($"add {a:x} {b:x}");
            Gf521.Sub(la, lb, r);
            if (ToBig(r) != ((a - b) % P + P) % P) wrong.Add($"sub {a:x} {b:x}");
            Gf521.Mul(la, lb, r);
            if (ToBig(r) != a * b % P) wrong.Add($"mul {a:x} {b:x}");
            checkedPairs++;
        }
        Assert.That(checkedPairs, Is.GreaterThan(Edges.Length * Edges.Length));
        Assert.That(wrong, Is.Empty);
    }

    [Test]
    public void MulSmall_EqualsTheReference_ForPublicFactorsUpTo2To32()
    {
        uint[] factors = [0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0x80000000, uint.MaxValue];
        foreach (BigInteger a in Edges.Concat(Randoms("gf521/mulsmall", 20)))
            foreach (uint x in factors)
            {
                Limbs521 la = ToLimbs(a), r = default;
                Gf521.MulSmall(la, x, r);
                Assert.That(ToBig(r), Is.EqualTo(a * x % P), $"{a:x} * {x}");
                Gf521.MulSmall(la, x, la);
                Assert.That(ToBig(la), Is.EqualTo(a * x % P), $"{a:x} * {x} in place");
            }
    }

    [Test]
    public void Operations_MayWriteOverTheirInputs()
    {
        foreach (var (a, b) in Pairs().Take(200))
        {
            Limbs521 x = ToLimbs(a), y = ToLimbs(b);
            Gf521.Mul(x, y, x);
            Assert.That(ToBig(x), Is.EqualTo(a * b % P), "mul into a");
            x = ToLimbs(a);
            Gf521.Sub(x, y, y);
            Assert.That(ToBig(y), Is.EqualTo(((a - b) % P + P) % P), "sub into b");
            y = ToLimbs(b);
            Gf521.Add(x, x, x);
            Assert.That(ToBig(x), Is.EqualTo(2 * a % P), "add into both");
        }
    }

    [Test]
    public void Invert_GivesTheInverse_AndEqualsFermatOnTheReference()
    {
        foreach (BigInteger v in Edges.Where(e => !e.IsZero).Concat(Randoms("gf521/invert", 40)).Where(v => !v.IsZero))
        {
            Limbs521 x = ToLimbs(v), inv = default, product = default;
            Gf521.Invert(x, inv);
            Gf521.Mul(x, inv, product);
            Assert.That(ToBig(product), Is.EqualTo(BigInteger.One), $"x * x^-1 for {v:x}");
            Assert.That(ToBig(inv), Is.EqualTo(BigInteger.ModPow(v, P - 2, P)), $"x^(p-2) for {v:x}");
        }
        Limbs521 one = ToLimbs(1), r = default;
        Gf521.Invert(one, r);
        Assert.That(ToBig(r), Is.EqualTo(BigInteger.One));
        Limbs521 minusOne = ToLimbs(P - 1);
        Gf521.Invert(minusOne, r);
        Assert.That(ToBig(r), Is.EqualTo(P - 1), "-1 is its own inverse");
    }

    [Test]
    public void Invert_RefusesZero_NamingTheOperand()
    {
        var ex = Assert.Throws<ArgumentException>(() => { Limbs521 zero = default, r = default; Gf521.Invert(zero, r); });
        Assert.That(ex!.ParamName, Is.EqualTo("a"));
    }

    [Test]
    public void EqualAndIsZero_MatchTheReference()
    {
        BigInteger[] values = Edges.Concat(Randoms("gf521/equal", 10)).ToArray();
        foreach (BigInteger a in values)
        {
            Limbs521 la = ToLimbs(a);
            Assert.That(Gf521.IsZero(la), Is.EqualTo(a.IsZero), $"{a:x}");
            foreach (BigInteger b in values)
            {
                Limbs521 lb = ToLimbs(b);
                Assert.That(Gf521.Equal(la, lb), Is.EqualTo(a == b), $"{a:x} {b:x}");
            }
        }
        // A difference in any single limb is seen.
        for (int limb = 0; limb < Gf521.LimbCount; limb++)
        {
            Limbs521 a = ToLimbs(12345), b = ToLimbs(12345);
            b[limb] ^= 1;
            Assert.That(Gf521.Equal(a, b), Is.False, $"limb {limb}");
        }
    }

    [Test]
    public void Decode_AcceptsExactlyTheValuesBelowP_AndEncodeInvertsIt()
    {
        BigInteger[] below = [0, 1, P - 1, P - 2, BigInteger.Pow(2, 520), P - BigInteger.Pow(2, 512)];
        BigInteger[] notBelow = [P, P + 1, BigInteger.Pow(2, 521), BigInteger.Pow(2, 528) - 1, BigInteger.Pow(2, 527)];
        foreach (BigInteger v in below.Concat(notBelow))
        {
            var bytes = new byte[Gf521.ByteCount];
            v.TryWriteBytes(bytes.AsSpan(Gf521.ByteCount - v.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
            Limbs521 limbs = default;
            bool ok = Gf521.TryDecode(bytes, limbs);
            Assert.That(ok, Is.EqualTo(v < P), $"{v:x}");
            if (!ok) continue;
            Assert.That(ToBig(limbs), Is.EqualTo(v));
            var back = new byte[Gf521.ByteCount];
            Gf521.Encode(limbs, back);
            Assert.That(back, Is.EqualTo(bytes));
        }
    }
}
