// Zeroization of secrets, observed (issue 10, hardening): for every type that owns secret bytes, the buffer it owns is read
// before Dispose (not all zero: the test is not vacuous) and after Dispose (all zero). The buffers are private, so they are
// read by reflection: the test observes the very array the object holds, not a copy. Covered: X25519 private keys, Ed25519
// seeds, CRS nonces, RLWE secret keys (s and its Shoup form), Shamir polynomials and points over R_Q, threshold key shares
// (every received point and the smudging key), GF(2^521 - 1) elements and Shamir shares of masking seeds, a whole HE bank
// party (its secret key, key share and a submitted input wiped once uploaded) and a whole masking bank (channel and mask
// keys, graph nonce, pairwise masters, the round's self-mask seed and own shares). TEST-ONLY seeded randomness.
using System.Reflection;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Sharing;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Tests.Fuzzing;
using FraudFed.Protocol.Tests.Masking;
using FraudFed.Testing;
using NUnit.Framework;
using ThresholdShamirShare = FraudFed.Cryptography.Threshold.ShamirShare;

namespace FraudFed.Protocol.Tests.Hardening;

[TestFixture]
public sealed class ZeroizationTests
{
    private const BindingFlags Any = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    /// <summary>The object's private field or (internal) property <paramref name="name"/>, read without copying.</summary>
    private static object Member(object o, string name)
    {
        for (Type? t = o.GetType(); t is not null; t = t.BaseType)
        {
            if (t.GetField(name, Any) is { } f) return f.GetValue(o) ?? throw new InvalidOperationException($"{name} is null");
            if (t.GetProperty(name, Any) is { } p) return p.GetValue(o) ?? throw new InvalidOperationException($"{name} is null");
        }
        throw new MissingMemberException(o.GetType().Name, name);
    }

    /// <summary>Every secret buffer inside <paramref name="x"/> (byte/ulong arrays, polynomials, lists of them).</summary>
    private static bool AllZero(object x) => x switch
    {
        byte[] b => b.All(v => v == 0),
        ulong[] u => u.All(v => v == 0),
        RnsPoly p => p.Data.All(v => v == 0),
        FieldElement521 e => AllZero(Member(e, "_limbs")),
        System.Collections.IEnumerable list => list.Cast<object?>().Where(o => o is not null).All(o => AllZero(o!)),
        _ => throw new ArgumentException($"no secret buffer in a {x.GetType().Name}"),
    };

    private static void AssertCleared(string what, object owner, IDisposable disposable, params string[] members)
    {
        object[] buffers = members.Select(m => Member(owner, m)).ToArray();
        for (int i = 0; i < buffers.Length; i++) Assert.That(AllZero(buffers[i]), Is.False, $"{what}.{members[i]} holds a secret before Dispose");
        disposable.Dispose();
        for (int i = 0; i < buffers.Length; i++) Assert.That(AllZero(buffers[i]), Is.True, $"{what}.{members[i]} is all zero after Dispose");
    }

    [Test]
    public void Primitives_ClearTheirKeysOnDispose()
    {
        using var rng = TestRandom.Create("zeroize/primitives");
        var x = X25519KeyPair.Generate(rng);
        AssertCleared("X25519KeyPair", x, x, "_privateKey");
        var ed = Ed25519SigningKey.Generate(rng);
        AssertCleared("Ed25519SigningKey", ed, ed, "_seed");
        var crs = CrsContribution.Create(new byte[16], 0, rng);
        AssertCleared("CrsContribution", crs, crs, "_nonce");
    }

    [Test]
    public void RlweSecrets_SecretKeyShamirPolynomialPointsAndKeyShare_ClearOnDispose()
    {
        RlweParameters p = InsecureTestParameters.N256;
        using var rng = TestRandom.Create("zeroize/rlwe");
        var bfv = new Bfv(p);
        SecretKey sk = bfv.GenerateSecretKey(rng);
        var thresholdizer = new Thresholdizer(p);
        ShamirPolynomial f = thresholdizer.GenShamirPolynomial(2, sk, rng);
        ThresholdShamirShare point = thresholdizer.GenShareForParty(f, 0, 1);
        AssertCleared("ShamirShare (R_Q)", point, point, "Value");
        AssertCleared("ShamirPolynomial", f, f, "Coefficients");
        AssertCleared("SecretKey", sk, sk, "Value", "ValueShoup");
    }

    [Test]
    public void MaskingSecrets_FieldElementsAndShamirShares_ClearOnDispose()
    {
        using var rng = TestRandom.Create("zeroize/gf521");
        byte[] seed = new byte[32];
        rng.GetBytes(seed);
        FieldElement521 secret = Shamir.SeedToElement(seed);
        FraudFed.Cryptography.Sharing.ShamirShare[] shares = Shamir.P521.Split(secret, 2, 3, rng);
        AssertCleared("Shamir share (GF(p))", shares[1], shares[1], "Y");
        AssertCleared("FieldElement521", secret, secret, "_limbs");
        foreach (var s in shares) s.Dispose();
    }

    [Test]
    public void HomomorphicBankParty_WipesItsInputOnUpload_AndItsKeysOnDispose()
    {
        var world = new HeWorld("zeroize/he-party");
        try
        {
            HomomorphicBankParty bank = world.Parties[0];
            var inputs = (Dictionary<ulong, ulong[]>)Member(bank, "_inputs");
            ulong[]? submitted = null;
            foreach (HeDelivery d in world.Script())
            {
                // Just before the round opens at bank 0, its submitted vector is held (a copy of the caller's).
                if (submitted is null && d.To == 0 && d.Step == nameof(HeRoundStartMessage))
                {
                    submitted = inputs[HeWorld.Round];
                    Assert.That(AllZero(submitted), Is.False, "the submitted input is held until the round opens");
                }
            }
            Assert.That(submitted, Is.Not.Null, "the round opened at bank 0");
            Assert.That(AllZero(submitted!), Is.True, "the input is wiped once encrypted and uploaded");
            Assert.That(world.Aggregator.LastOutcome?.Sum, Is.EqualTo(HeWorld.ExpectedSum()), "and the sum is still exact");

            HomomorphicBank core = bank.CoreForTestsOnly;
            SecretKey sk = core.SecretKey;
            ThresholdKeyShare share = core.KeyShare!;
            object[] buffers = [Member(sk, "Value"), Member(sk, "ValueShoup"), Member(share, "_points"), Member(share, "_smudgingKey"), Member(core.Identity, "_seed")];
            Assert.That(buffers.Select(AllZero), Is.All.False, "secret key, Shamir points, smudging key and identity seed are held while ready");
            bank.Dispose();
            Assert.That(buffers.Select(AllZero), Is.All.True, "all of them are zero after the party's Dispose");
        }
        finally { world.Dispose(); }
    }

    [Test]
    public void MaskingBank_Dispose_ClearsKeysNonceMastersAndTheRoundsSecrets()
    {
        using var d = new Driver(3, 2, "zeroize/masking-bank").UpToShareKeys();
        MaskingBank bank = d.H.Banks[0];
        var state = (BankShareKeys)bank.State;
        object[] buffers =
        [
            Member(Member(bank, "_channelKey"), "_privateKey"), Member(Member(bank, "_maskKey"), "_privateKey"),
            ((System.Collections.IDictionary)Member(bank, "_pairMasters")).Values, state.SelfSeed, Member(state, "OwnSelfShare"), Member(state, "OwnPairwiseShare"),
        ];
        Assert.That(buffers.Select(AllZero), Is.All.False, "keys, masters, b_i and the bank's own shares are held during ShareKeys");
        Assert.That(((System.Collections.IDictionary)Member(bank, "_pairMasters")).Count, Is.EqualTo(2), "one pairwise master per peer");
        bank.Dispose();
        Assert.That(buffers.Select(AllZero), Is.All.True, "all of them are zero after Dispose");
        Assert.That(AllZero(Member(bank, "_graphNonce")), Is.True, "the graph nonce too");
    }
}
