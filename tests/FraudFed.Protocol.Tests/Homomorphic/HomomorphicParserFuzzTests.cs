// Mutation tests of the homomorphic mode's protocol parsers (SPEC.md 12.0 step 3 and 12.2): signed manifests, contributor
// lists, channel adverts and the aggregator's upload intake. Whatever bytes arrive, the result is acceptance or a
// ProtocolViolationException, never another exception type, and a refused upload leaves the intake and the sum unchanged.
// TEST-ONLY seeded mutations (FraudFed.Testing.Mutations); INSECURE n = 256 parameters.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HomomorphicParserFuzzTests
{
    private const int Banks = 3, Mutants = 400;
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    /// <summary>Feeds every mutant to <paramref name="parse"/>; fails on untyped exceptions and when fewer than half are refused.</summary>
    private static void Run(string name, byte[] genuine, int seed, Action<byte[]> parse, int keepPrefix = 0)
    {
        var (refused, total, untyped) = Mutations.Feed(Mutations.Of(genuine, seed, Mutants, keepPrefix: keepPrefix), parse);
        Assert.That(untyped, Is.Empty, $"{name}: untyped exceptions");
        Assert.That(refused, Is.GreaterThan(total / 2), $"{name}: only {refused} of {total} mutants refused");
    }

    [Test]
    public void ManifestsListsAndAdverts_RefuseEveryMutantWithATypedError()
    {
        DeterministicRandom rng = TestRandom.Create("fuzz/he-protocol");
        Ed25519SigningKey[] keys = Enumerable.Range(0, Banks).Select(_ => Ed25519SigningKey.Generate(rng)).ToArray();
        byte[][] roster = keys.Select(k => k.PublicKey.ToArray()).ToArray();
        byte[] tag = new byte[16];
        byte[][] digests = Enumerable.Range(0, 4).Select(k => System.Security.Cryptography.SHA256.HashData([(byte)k])).ToArray();
        byte[] manifest = UploadManifest.SignDigests(keys[1], tag, 3, RlweObjectKind.CompactCiphertext, 1, digests);
        Assert.DoesNotThrow(() => UploadManifest.Parse(manifest, roster));
        Run("UploadManifest", manifest, 1, b => UploadManifest.Parse(b, roster, 4).Expect(tag, 3, RlweObjectKind.CompactCiphertext, 4));

        byte[][] lists = ContributorList.SignRound(keys[0], tag, 3, RlweObjectKind.CompactCiphertext,
            [[new(0, digests[0]), new(2, digests[2])], [new(1, digests[1])]]);
        Assert.DoesNotThrow(() => ContributorList.ParseRound(lists, roster[0], Banks));
        Run("ContributorList", lists[0], 2, b => ContributorList.ParseRound([b, lists[1]], roster[0], Banks));
        Run("ContributorList (second of the round)", lists[1], 2, b => ContributorList.ParseRound([lists[0], b], roster[0], Banks));

        using var channel = new ShareChannel(0, Banks, tag, rng);
        using var peer = new ShareChannel(2, Banks, tag, rng);
        byte[] advert = peer.Advert(keys[2]);
        Run("ShareChannel advert", advert, 3, b =>
        {
            using var fresh = new ShareChannel(0, Banks, tag, rng);
            fresh.AcceptAdvert(b, roster);
        });
        channel.AcceptAdvert(advert, roster);
        peer.AcceptAdvert(channel.Advert(keys[0]), roster);
        byte[] sealedPoint = channel.Seal(2, new byte[80]);
        Assert.That(peer.Open(0, sealedPoint), Is.EqualTo(new byte[80]));
        Run("sealed Shamir point", sealedPoint, 4, b => peer.Open(0, b));
        foreach (Ed25519SigningKey k in keys) k.Dispose();
    }

    [Test]
    public void UploadIntake_RefusesEveryMutatedUploadWithATypedError_AndChangesNothing()
    {
        DeterministicRandom rng = TestRandom.Create("fuzz/he-intake");
        var scheme = new CompactScheme(P, new byte[32]);
        using var key = Ed25519SigningKey.Generate(rng);
        using SecretKey secret = new Bfv(P).GenerateSecretKey(rng);
        byte[][] roster = [key.PublicKey.ToArray(), key.PublicKey.ToArray()];
        byte[] upload = scheme.EncryptToBytes(secret, 0, 5, 0, Enumerable.Repeat(3UL, P.N).ToArray(), rng);
        var intake = new UploadIntake(roster, scheme.SessionTag, 5, 1, RlweObjectKind.CompactCiphertext);
        intake.AcceptManifest(UploadManifest.Sign(key, scheme.SessionTag, 5, RlweObjectKind.CompactCiphertext, 0, [upload]));
        CompactCiphertext sum = scheme.AllocateSum(5, 0);
        byte[] before = sum.Serialize();
        Run("UploadIntake.Accept", upload, 5, b =>
        {
            if (b.AsSpan().SequenceEqual(upload)) return; // a mutant equal to the genuine upload is not a mutant
            try { intake.Accept(b, (sender, _, bodyDigest) => scheme.AddSerialized(sum, b, sender, bodyDigest)); }
            finally
            {
                Assert.That(intake.AcceptedCount(0), Is.Zero, "a mutant was accepted");
                Assert.That(sum.Serialize(), Is.EqualTo(before), "a refused upload changed the sum");
            }
        }, keepPrefix: RlweCodec.HeaderSize);
        intake.Accept(upload, (sender, _, bodyDigest) => scheme.AddSerialized(sum, upload, sender, bodyDigest));
        Assert.That(intake.Contributors(0), Is.EqualTo(new[] { 0 }));
    }
}
