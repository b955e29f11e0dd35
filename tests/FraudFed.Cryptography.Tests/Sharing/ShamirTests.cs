// Shamir sharing over GF(2^521 - 1) (SPEC.md section 6): reconstruction from every t-subset, t-1 shares independent of the
// secret, the named vector protocols/vectors/sharing/shamir-p521.json (split from its RNG label, Lagrange reconstruction from
// every 3-subset), the 66-byte encoding and its refusals, one-bit tampering of encoded shares, and the zeroizable value type.
// BigInteger appears only as the tests' independent reference. TEST-ONLY seeded randomness (TestRandom).
using System.Buffers.Binary;
using System.Numerics;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;
using FraudFed.Cryptography.Tests.Primitives;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Sharing;

[TestFixture]
public sealed class ShamirTests
{
    private static readonly BigInteger P = BigInteger.Pow(2, 521) - 1;
    private static Shamir Field => Shamir.P521;

    private static byte[] Seed(string label)
    {
        using var rng = TestRandom.Create(label);
        var seed = new byte[32];
        rng.GetBytes(seed);
        return seed;
    }

    private static byte[] SeedOf(FieldElement521 value)
    {
        var seed = new byte[32];
        Shamir.ElementToSeed(value, seed);
        return seed;
    }

    /// <summary>The reference value of a share: its 66-byte encoding read as an unsigned big-endian integer.</summary>
    private static BigInteger Big(FieldElement521 value)
    {
        var bytes = new byte[Field.ElementSize];
        Field.EncodeElement(value, bytes);
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
    }

    private static FieldElement521 Element(BigInteger v)
    {
        var bytes = new byte[66];
        v.TryWriteBytes(bytes.AsSpan(66 - v.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return Field.DecodeElement(bytes);
    }

    private static ShamirShare[] SplitSeed(byte[] seed, int t, int n, string label)
    {
        using var rng = TestRandom.Create(label);
        using FieldElement521 secret = Shamir.SeedToElement(seed);
        return Field.Split(secret, t, n, rng);
    }

    [Test]
    public void AnyTShares_Reconstruct([Values(1, 2, 3, 5)] int t, [Values(5, 7)] int n)
    {
        byte[] seed = Seed($"secret/{t}/{n}");
        ShamirShare[] shares = SplitSeed(seed, t, n, $"AnyTShares/{t}/{n}");
        int subsets = 0;
        for (int mask = 0; mask < 1 << n; mask++)
        {
            if (BitOperations.PopCount((uint)mask) != t) continue;
            var subset = Enumerable.Range(0, n).Where(i => (mask >> i & 1) == 1).Select(i => shares[i]).ToArray();
            using FieldElement521 secret = Field.Reconstruct(subset);
            Assert.That(SeedOf(secret), Is.EqualTo(seed), $"subset {mask:b}");
            subsets++;
        }
        Assert.That(subsets, Is.GreaterThan(0));
        foreach (ShamirShare s in shares) s.Dispose();
    }

    [Test]
    public void Shares_AreThePolynomialOfTheReference_AtTheirX()
    {
        // The same RNG stream read by hand (66 bytes, first byte & 0x01, rejected when >= p) gives the coefficients;
        // f(x) computed with BigInteger must equal every share.
        byte[] seed = Seed("reference/secret");
        const int t = 4;
        int[] xs = [3, 1, 9, 200, 2_000_000_000];
        ShamirShare[] shares;
        using (var rng = TestRandom.Create("reference/split"))
        using (FieldElement521 secret = Shamir.SeedToElement(seed))
            shares = Field.SplitAt(secret, t, xs, rng);
        var coefficients = new List<BigInteger> { new(seed, isUnsigned: true, isBigEndian: true) };
        using (var rng = TestRandom.Create("reference/split"))
        {
            var buffer = new byte[66];
            while (coefficients.Count < t)
            {
                rng.GetBytes(buffer);
                buffer[0] &= 0x01;
                var c = new BigInteger(buffer, isUnsigned: true, isBigEndian: true);
                if (c < P) coefficients.Add(c);
            }
        }
        for (int k = 0; k < xs.Length; k++)
        {
            BigInteger y = 0;
            for (int c = t - 1; c >= 0; c--) y = (y * xs[k] + coefficients[c]) % P;
            Assert.That(shares[k].X, Is.EqualTo(xs[k]));
            Assert.That(Big(shares[k].Y), Is.EqualTo(y), $"share at x = {xs[k]}");
        }
    }

    [Test]
    public void TMinusOneShares_DoNotReconstruct()
    {
        byte[] seed = Seed("tminus1");
        ShamirShare[] shares = SplitSeed(seed, 4, 6, "TMinusOne");
        using FieldElement521 wrong = Field.Reconstruct(shares.AsSpan(0, 3));
        using FieldElement521 right = Field.Reconstruct(shares.AsSpan(0, 4));
        Assert.That(wrong.FixedTimeEquals(right), Is.False);
        Assert.That(SeedOf(right), Is.EqualTo(seed));
    }

    [Test]
    public void TMinusOneShares_AreConsistentWithEverySecret()
    {
        // For t-1 shares and ANY candidate secret s', the unique polynomial of degree t-1 through (0, s') and the t-1
        // shares exists; check it by building it (BigInteger reference) and evaluating it back.
        const int t = 4;
        ShamirShare[] shares = SplitSeed(Seed("real"), t, 6, "Consistent");
        (BigInteger X, BigInteger Y)[] seen = shares[..(t - 1)].Select(s => ((BigInteger)s.X, Big(s.Y))).ToArray();
        foreach (string candidate in new[] { "cand-a", "cand-b", "cand-c" })
        {
            var other = new BigInteger(Seed(candidate), isUnsigned: true, isBigEndian: true);
            var basis = seen.Append((BigInteger.Zero, other)).ToArray();
            foreach (var (x, y) in seen) Assert.That(EvaluateInterpolant(basis, x), Is.EqualTo(y));
            Assert.That(EvaluateInterpolant(basis, 0), Is.EqualTo(other));
        }
    }

    // Lagrange evaluation at x of the polynomial through the given points (BigInteger reference).
    private static BigInteger EvaluateInterpolant((BigInteger X, BigInteger Y)[] pts, BigInteger x)
    {
        BigInteger acc = 0;
        for (int i = 0; i < pts.Length; i++)
        {
            BigInteger num = 1, den = 1;
            for (int j = 0; j < pts.Length; j++)
            {
                if (i == j) continue;
                num = num * ((x - pts[j].X) % P + P) % P;
                den = den * ((pts[i].X - pts[j].X) % P + P) % P;
            }
            acc = (acc + pts[i].Y * num % P * BigInteger.ModPow(den, P - 2, P)) % P;
        }
        return acc;
    }

    [Test]
    public void TMinusOneShares_AreUniform_WhateverTheSecret()
    {
        // t = 3: the pair (y1, y2) of the first two shares is uniform over GF(p)^2 whatever the secret, so (y1 mod 11,
        // y2 mod 11) is uniform over 121 cells (bias 11/p). Draw N sharings of two secrets and compare each histogram with
        // uniform (chi-square, 120 dof; 99.9% quantile ~ 173.6) and with each other.
        const int N = 24200;
        long[] HistogramFor(string secretLabel)
        {
            byte[] seed = Seed(secretLabel);
            using var rng = TestRandom.Create("Uniform/" + secretLabel);
            using FieldElement521 secret = Shamir.SeedToElement(seed);
            var h = new long[121];
            for (int i = 0; i < N; i++)
            {
                ShamirShare[] s = Field.Split(secret, 3, 3, rng);
                h[(int)(Big(s[0].Y) % 11 * 11 + Big(s[1].Y) % 11)]++;
                foreach (ShamirShare share in s) share.Dispose();
            }
            return h;
        }
        long[] a = HistogramFor("uniform-a"), b = HistogramFor("uniform-b");
        double expected = N / 121.0;
        double ChiUniform(long[] h) => h.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.That(ChiUniform(a), Is.LessThan(173.6), "secret a vs uniform");
        Assert.That(ChiUniform(b), Is.LessThan(173.6), "secret b vs uniform");
        double twoSample = 0;
        for (int i = 0; i < 121; i++)
            if (a[i] + b[i] > 0) twoSample += (double)(a[i] - b[i]) * (a[i] - b[i]) / (a[i] + b[i]);
        Assert.That(twoSample, Is.LessThan(173.6), "secret a vs secret b");
    }

    [Test]
    public void NamedVector_SplitsAndReconstructsFromEveryThreeSubset()
    {
        JsonElementView v = new(VectorFile.Load("sharing", "shamir-p521.json"));
        byte[] seed = v.Hex("secret_seed");
        int t = v.Int("threshold");
        var encodings = v.Shares.Select(Convert.FromHexString).ToArray();
        int[] xs = encodings.Select(e => (int)BinaryPrimitives.ReadUInt32BigEndian(e)).ToArray();
        // Split from the vector's RNG label: byte-identical encodings.
        using (var rng = DeterministicRandom.FromLabel(v.Str("rng_label")))
        using (FieldElement521 secret = Shamir.SeedToElement(seed))
        {
            ShamirShare[] split = Field.SplitAt(secret, t, xs, rng);
            for (int k = 0; k < split.Length; k++)
            {
                var enc = new byte[Field.ShareSize];
                Field.Encode(split[k], enc);
                Assert.That(enc, Is.EqualTo(encodings[k]), $"share {k}");
                split[k].Dispose();
            }
        }
        // Lagrange reconstruction from every t-subset of the decoded shares.
        ShamirShare[] decoded = encodings.Select(e => Field.Decode(e)).ToArray();
        int subsets = 0;
        for (int mask = 0; mask < 1 << decoded.Length; mask++)
        {
            if (BitOperations.PopCount((uint)mask) != t) continue;
            using FieldElement521 s = Field.Reconstruct(Enumerable.Range(0, decoded.Length).Where(i => (mask >> i & 1) == 1).Select(i => decoded[i]).ToArray());
            Assert.That(SeedOf(s), Is.EqualTo(seed), $"subset {mask:b}");
            subsets++;
        }
        Assert.That(subsets, Is.EqualTo(10));
        foreach (ShamirShare s in decoded) s.Dispose();
    }

    /// <summary>The fields of the vector file the test reads.</summary>
    private readonly struct JsonElementView(System.Text.Json.JsonElement root)
    {
        public byte[] Hex(string name) => root.Hex(name);
        public string Str(string name) => root.Str(name);
        public int Int(string name) => root.GetProperty(name).GetInt32();
        public IEnumerable<string> Shares => root.GetProperty("shares").EnumerateArray().Select(s => s.GetProperty("encoding").GetString()!);
    }

    [Test]
    public void EveryOneBitTamperOfAnEncodedShare_IsRefused_OrMovesTheSecret()
    {
        // Flip each of the 560 bits of one encoded share of the named vector; decode it and reconstruct with two genuine
        // shares. A flip in x may collide with a genuine x (Malformed), zero it (Malformed) or set bit 31 (Malformed); a flip in
        // y may push it to p or above (OutOfRange); every other flip decodes, and then the secret must change.
        JsonElementView v = new(VectorFile.Load("sharing", "shamir-p521.json"));
        byte[] seed = v.Hex("secret_seed");
        byte[][] encodings = v.Shares.Select(Convert.FromHexString).ToArray();
        using ShamirShare b = Field.Decode(encodings[1]), c = Field.Decode(encodings[2]);
        int refused = 0, moved = 0;
        for (int bit = 0; bit < encodings[0].Length * 8; bit++)
        {
            byte[] tampered = (byte[])encodings[0].Clone();
            tampered[bit / 8] ^= (byte)(0x80 >> (bit % 8));
            try
            {
                using ShamirShare a = Field.Decode(tampered);
                using FieldElement521 s = Field.Reconstruct([a, b, c]);
                Assert.That(SeedOrNull(s), Is.Not.EqualTo(seed), $"bit {bit} still reconstructs the secret");
                moved++;
            }
            catch (ProtocolViolationException e)
            {
                Assert.That(e.Reason, Is.AnyOf(ViolationReason.Malformed, ViolationReason.OutOfRange), $"bit {bit}");
                refused++;
            }
        }
        Assert.That(refused + moved, Is.EqualTo(560));
        Assert.That(refused, Is.GreaterThanOrEqualTo(2), "x high bit and a collision with x = 2 or 3 are refused");
        Assert.That(moved, Is.GreaterThan(500));
    }

    private static byte[]? SeedOrNull(FieldElement521 value)
    {
        var seed = new byte[32];
        try { Shamir.ElementToSeed(value, seed); return seed; }
        catch (ProtocolViolationException) { return null; } // not even a 256-bit value any more
    }

    [Test]
    public void Encoding_RoundTrips_AtFixedWidth()
    {
        Assert.That(Field.ElementSize, Is.EqualTo(66));
        Assert.That(Field.ShareSize, Is.EqualTo(70));
        ShamirShare[] shares = SplitSeed(Seed("enc"), 3, 5, "Encoding");
        using var zero = new ShamirShare(9, Element(0));
        using var top = new ShamirShare(1, Element(P - 1));
        foreach (ShamirShare s in shares.Append(zero).Append(top))
        {
            var bytes = new byte[Field.ShareSize];
            Field.Encode(s, bytes);
            using ShamirShare back = Field.Decode(bytes);
            Assert.That(back.X, Is.EqualTo(s.X));
            Assert.That(back.Y.FixedTimeEquals(s.Y), Is.True);
            Assert.That(Big(back.Y), Is.EqualTo(Big(s.Y)));
        }
        var p1 = new byte[66];
        Field.EncodeElement(top.Y, p1);
        Assert.That(Convert.ToHexStringLower(p1), Is.EqualTo("01" + new string('f', 128) + "fe"), "p - 1, big-endian, 66 bytes");
        foreach (ShamirShare s in shares) s.Dispose();
    }

    [Test]
    public void Decode_RefusesValuesNotBelowPrime_ZeroX_AndWrongLengths()
    {
        var bytes = new byte[Field.ShareSize];
        bytes[3] = 1;
        bytes[4] = 0x01; // y = p exactly: 0x01 ff..ff
        for (int i = 5; i < bytes.Length; i++) bytes[i] = 0xff;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Decode(bytes))!.Reason, Is.EqualTo(ViolationReason.OutOfRange), "y = p");
        bytes[4] = 0xff;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Decode(bytes))!.Reason, Is.EqualTo(ViolationReason.OutOfRange), "y = 2^528 - 1");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.ValidateElement(bytes.AsSpan(4)))!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        bytes[3] = 0; bytes[4] = 0;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Decode(bytes))!.Reason, Is.EqualTo(ViolationReason.Malformed), "x = 0");
        BinaryPrimitives.WriteUInt32BigEndian(bytes, 0x80000000);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Decode(bytes))!.Reason, Is.EqualTo(ViolationReason.Malformed), "x >= 2^31");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Decode(bytes.AsSpan(1)))!.Reason, Is.EqualTo(ViolationReason.Malformed), "69 bytes");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.DecodeElement(new byte[65]))!.Reason, Is.EqualTo(ViolationReason.Malformed), "65 bytes");
        Assert.DoesNotThrow(() => Field.ValidateElement(new byte[66]));
    }

    [Test]
    public void Reconstruct_RefusesDuplicateX_AndNoShares()
    {
        using var a = new ShamirShare(1, Element(5));
        using var b = new ShamirShare(1, Element(6));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Reconstruct([a, b]))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Field.Reconstruct([]))!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
    }

    [Test]
    public void SplitArguments_AreCheckedBeforeAnyRandomnessIsDrawn()
    {
        using var rng = TestRandom.Create("split-arguments");
        using FieldElement521 secret = Shamir.SeedToElement(new byte[32]);
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Field.Split(secret, 0, 3, rng))!.ParamName, Is.EqualTo("threshold"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Field.Split(secret, 4, 3, rng))!.ParamName, Is.EqualTo("holders"));
        Assert.That(Assert.Throws<ArgumentException>(() => Field.SplitAt(secret, 2, [1, 1, 2], rng))!.ParamName, Is.EqualTo("xs"));
        Assert.That(Assert.Throws<ArgumentException>(() => Field.SplitAt(secret, 2, [0, 1, 2], rng))!.ParamName, Is.EqualTo("xs"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => new ShamirShare(0, Element(1)))!.ParamName, Is.EqualTo("x"));
        // Nothing was drawn: the next bytes are the stream's first.
        var first = new byte[16];
        rng.GetBytes(first);
        using var fresh = TestRandom.Create("split-arguments");
        var expected = new byte[16];
        fresh.GetBytes(expected);
        Assert.That(first, Is.EqualTo(expected));
    }

    [Test]
    public void SeedConversion_RoundTrips_AndRefusesValuesFrom2To256()
    {
        byte[] seed = Seed("seed");
        seed[0] = 0; // a leading zero byte survives
        using (FieldElement521 e = Shamir.SeedToElement(seed)) Assert.That(SeedOf(e), Is.EqualTo(seed));
        using FieldElement521 big = Element(BigInteger.One << 256);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => SeedOf(big))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        using FieldElement521 max = Element((BigInteger.One << 256) - 1);
        Assert.That(SeedOf(max), Is.EqualTo(Enumerable.Repeat((byte)0xff, 32).ToArray()));
        Assert.That(Assert.Throws<ArgumentException>(() => Shamir.SeedToElement(new byte[31]))!.ParamName, Is.EqualTo("seed"));
    }

    [Test]
    public void Values_AreZeroedOnDispose_NeverPrinted_AndUnusableAfterwards()
    {
        ShamirShare[] shares = SplitSeed(Seed("dispose"), 2, 3, "Dispose");
        ShamirShare s = shares[0];
        var hex = new byte[66];
        Field.EncodeElement(s.Y, hex);
        string valueHex = Convert.ToHexStringLower(hex);
        Assert.That(s.ToString(), Does.Not.Contain(valueHex[^16..]));
        Assert.That(s.Y.ToString(), Does.Not.Contain(valueHex[^16..]));
        Assert.That(s.Y.LimbsForTests.IndexOfAnyExcept(0UL), Is.GreaterThanOrEqualTo(0));
        s.Dispose();
        Assert.That(s.Y.LimbsForTests.IndexOfAnyExcept(0UL), Is.EqualTo(-1), "limbs left after Dispose");
        Assert.Throws<ObjectDisposedException>(() => Field.EncodeElement(s.Y, hex));
        Assert.Throws<ObjectDisposedException>(() => Field.Encode(s, new byte[70]));
        Assert.Throws<ObjectDisposedException>(() => Field.Reconstruct([s, shares[1]]));
        Assert.Throws<ObjectDisposedException>(() => shares[1].Y.FixedTimeEquals(s.Y));
        using var rng = TestRandom.Create("dispose/split");
        Assert.Throws<ObjectDisposedException>(() => Field.Split(s.Y, 1, 1, rng));
        Assert.DoesNotThrow(s.Dispose, "Dispose is idempotent");
        shares[1].Dispose();
        shares[2].Dispose();
    }
}
