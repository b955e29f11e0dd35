using System.Numerics;
using System.Text.Json;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Primitives;

/// <summary>FraudFed's own derived vectors (protocols/vectors/*/fraudfed-*.json).</summary>
[TestFixture]
public sealed class DerivedVectorTests
{
    private static IEnumerable<TestCaseData> PrgCases()
    {
        foreach (JsonElement c in VectorFile.Load("prg", "fraudfed-modpow2.json").GetProperty("cases").EnumerateArray())
            yield return new TestCaseData(c).SetName($"Vectors/Prg/ModPow2/bits={c.GetProperty("bits").GetInt32()}");
    }

    [TestCaseSource(nameof(PrgCases))]
    public void Prg_FillModPow2(JsonElement c)
    {
        using var prg = new Prg(c.Hex("seed"));
        ulong[] expected = c.GetProperty("values").EnumerateArray().Select(v => ulong.Parse(v.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(prg.NextModPow2(expected.Length, c.GetProperty("bits").GetInt32()), Is.EqualTo(expected));
    }

    [Test]
    public void Aead_ShareBundle()
    {
        JsonElement v = VectorFile.Load("aead", "fraudfed-share.json");
        using var aead = new Aead(v.Hex("key"));
        Assert.That(Convert.ToHexStringLower(Aead.Nonce(7, 1, 4)), Is.EqualTo(v.Str("nonce")));
        Assert.That(Convert.ToHexStringLower(aead.Seal(v.Hex("nonce"), v.Hex("plaintext"), v.Hex("ad"))), Is.EqualTo(v.Str("sealed")));
        Assert.That(aead.Open(v.Hex("nonce"), v.Hex("sealed"), v.Hex("ad")), Is.EqualTo(v.Hex("plaintext")));
    }

    [Test]
    public void Shamir_P521_SplitAndReconstruct()
    {
        JsonElement v = VectorFile.Load("shamir", "fraudfed-p521.json");
        int t = v.GetProperty("threshold").GetInt32();
        BigInteger secret = Shamir.SeedToElement(v.Hex("secret"));
        var expected = v.GetProperty("shares").EnumerateArray().Select(s => (X: s.GetProperty("x").GetInt32(), Encoded: s.Str("encoded"))).ToArray();
        using var rng = DeterministicRandom.FromLabel("vectors/shamir/coefficients");
        ShamirShare[] shares = Shamir.P521.SplitAt(secret, t, expected.Select(e => e.X).ToArray(), rng);
        var decoded = new List<ShamirShare>();
        for (int i = 0; i < shares.Length; i++)
        {
            var enc = new byte[Shamir.P521.ShareSize];
            Shamir.P521.Encode(shares[i], enc);
            Assert.That(Convert.ToHexStringLower(enc), Is.EqualTo(expected[i].Encoded), $"share x={expected[i].X}");
            decoded.Add(Shamir.P521.Decode(Convert.FromHexString(expected[i].Encoded)));
        }
        Assert.That(Shamir.P521.Reconstruct(decoded.Skip(2).ToArray()), Is.EqualTo(secret));
        Assert.That(Shamir.P521.Reconstruct(new[] { decoded[0], decoded[2], decoded[4] }), Is.EqualTo(secret));
    }
}
