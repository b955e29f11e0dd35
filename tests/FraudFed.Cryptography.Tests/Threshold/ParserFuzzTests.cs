// Mutation tests of every RLWE object parser (SPEC.md section 12): whatever bytes arrive, a parser returns an object or
// throws ProtocolViolationException, never another exception type, and a refused addition or decryption request changes
// nothing (the sum's bytes, the key share's remaining budget). Each genuine object is mutated by bit flips, truncation,
// appended bytes, header fields overwritten with extreme values (every size field with every size extreme, e.g. counts whose
// byte sizes wrap 32 bits) and random bodies; every mutant is tried twice, as is and
// with its trailing SHA-256/16 digest recomputed, so the checks behind the digest (lengths, residues below their primes,
// padding bits, contexts) are reached too. TEST-ONLY seeded System.Random (TestRandom.Plain); INSECURE n = 256 parameters.
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Threshold;

[TestFixture]
public sealed class ParserFuzzTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;
    private const int MutantsPerObject = 400;

    /// <summary>
    /// Mutants of <paramref name="genuine"/>, each as is and with its envelope digest recomputed: the seeded random ones, then
    /// every size field of the header (n, L, count, context and payload length) set to each size extreme.
    /// </summary>
    private static IEnumerable<(string What, byte[] Bytes)> Mutants(byte[] genuine, int seed)
    {
        foreach (var (what, b) in Mutations.Of(genuine, seed, MutantsPerObject, keepPrefix: RlweCodec.HeaderSize)
                     .Concat(Mutations.Fields(genuine, Mutations.RlweEnvelopeSizeFields)))
        {
            yield return (what, b);
            if (b.Length >= RlweCodec.HeaderSize + RlweCodec.DigestSize)
            {
                byte[] fixedDigest = (byte[])b.Clone();
                int body = fixedDigest.Length - RlweCodec.DigestSize;
                SHA256.HashData(fixedDigest.AsSpan(0, body)).AsSpan(0, RlweCodec.DigestSize).CopyTo(fixedDigest.AsSpan(body));
                yield return (what + ", digest recomputed", fixedDigest);
            }
        }
    }

    /// <summary>Runs <paramref name="parse"/> on every mutant; returns how many were refused. Fails on any other exception type.</summary>
    private static int Run(string name, byte[] genuine, int seed, Action<byte[]> parse)
    {
        Assert.DoesNotThrow(() => parse(genuine), $"{name}: the genuine object must parse");
        var (refused, total, untyped) = Mutations.Feed(Mutants(genuine, seed), parse);
        Assert.That(untyped, Is.Empty, $"{name}: untyped exceptions");
        // Most mutants change a digest-covered byte or a length, so most must be refused (the test is not vacuous).
        Assert.That(refused, Is.GreaterThan(total / 2), $"{name}: only {refused} of {total} mutants refused");
        return refused;
    }

    [Test]
    public void CompactCiphertext_AndItsAddition_RefuseEveryMutantWithATypedError_AndChangeNothing()
    {
        using var setup = ThresholdSetup.Create(Fast, 3, 2, 2, "fuzz/compact");
        byte[] genuine = setup.Scheme.Encrypt(setup.Keys[1], 1, 4, 0, [5, 6, 7], setup.Rng).Serialize();
        Run("CompactCiphertext", genuine, 1, b => CompactCiphertext.Deserialize(Fast, b));
        CompactCiphertext sum = setup.Scheme.AllocateSum(4, 0);
        byte[] before = sum.Serialize();
        Run("CompactScheme.AddSerialized", genuine, 2, b =>
        {
            try { setup.Scheme.AddSerialized(sum, b, 1); }
            catch (ProtocolViolationException)
            {
                Assert.That(sum.Serialize(), Is.EqualTo(before), "a refused addition changed the sum");
                throw;
            }
            before = sum.Serialize(); // an accepted mutant (e.g. a valid residue flip with its digest fixed) moves the baseline
        });
    }

    [Test]
    public void SetupAndShareObjects_RefuseEveryMutantWithATypedError()
    {
        using var setup = ThresholdSetup.Create(Fast, 3, 2, 2, "fuzz/setup-objects");
        var thresholdizer = new Thresholdizer(Fast);
        using ShamirPolynomial f = thresholdizer.GenShamirPolynomial(2, setup.Keys[0], setup.Rng);
        using ShamirShare point = thresholdizer.GenShareForParty(f, 0, 2);
        Run("ShamirShare", point.Serialize(), 3, b => ShamirShare.Deserialize(Fast, b).Dispose());

        RnsPoly crp = CommonRandomness.Expand(Fast, setup.Scheme.Seed, CrpPurpose.PublicKey, 0, 0);
        var ckg = new PublicKeyGenProtocol(Fast);
        Run("PublicKeyShare", ckg.GenShare(1, setup.Keys[1], crp, setup.Rng).Serialize(), 4, b => PublicKeyShare.Deserialize(Fast, b));

        byte[] share = setup.KeyShares[1].GenDecryptionShare(9, 0, [0, 1, 2], [1, 2]);
        Run("DecryptionShare", share, 5, b => DecryptionShare.Deserialize(Fast, b));
    }

    [Test]
    public void BfvObjects_RefuseEveryMutantWithATypedError()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("fuzz/bfv");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        PublicKey pk = bfv.GeneratePublicKey(sk, rng);
        Run("PublicKey", BfvSerializer.Serialize(pk), 6, b => BfvSerializer.DeserializePublicKey(Fast, b));
        byte[] ct = BfvSerializer.Serialize(bfv.Encrypt(pk, new ulong[Fast.N], rng));
        Run("Ciphertext", ct, 7, b => BfvSerializer.DeserializeCiphertext(Fast, b));
    }
}
