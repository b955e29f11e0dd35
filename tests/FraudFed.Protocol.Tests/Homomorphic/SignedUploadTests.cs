// Tests of SPEC.md 12.2: signed uploads, the aggregator's intake (signature before adding, duplicates, replays) and
// the signed contributor list banks check before answering. INSECURE n = 256 test parameters, seeded randomness.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class SignedUploadTests
{
    private const int Banks = 3;
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    private sealed class Fixture : IDisposable
    {
        public readonly CompactScheme Scheme = new(P, new byte[32]);
        public readonly Ed25519SigningKey[] Keys;
        public readonly Ed25519SigningKey Aggregator;
        public readonly SecretKey[] Secrets;
        public readonly byte[][] Roster;
        private readonly DeterministicRandom _rng;

        public Fixture(string label)
        {
            _rng = TestRandom.Create(label);
            Keys = Enumerable.Range(0, Banks).Select(_ => Ed25519SigningKey.Generate(_rng)).ToArray();
            Aggregator = Ed25519SigningKey.Generate(_rng);
            Secrets = Enumerable.Range(0, Banks).Select(_ => new Bfv(P).GenerateSecretKey(_rng)).ToArray();
            Roster = Keys.Select(k => k.PublicKey.ToArray()).ToArray();
        }

        public byte[] Upload(int bank, ulong round, uint chunk, ulong value = 7) =>
            Scheme.EncryptToBytes(Secrets[bank], bank, round, chunk, Enumerable.Repeat(value, P.N).ToArray(), _rng);

        public UploadIntake Intake(ulong round, int chunks = 2) => new(Roster, Scheme.SessionTag, round, chunks, RlweObjectKind.CompactCiphertext);

        public void Dispose()
        {
            foreach (var k in Keys) k.Dispose();
            Aggregator.Dispose();
            foreach (var s in Secrets) s.Dispose();
        }
    }

    private static Action<int, uint, byte[]> AddTo(CompactScheme scheme, CompactCiphertext sum, byte[] upload) =>
        (sender, _, bodyDigest) => scheme.AddSerialized(sum, upload, sender, bodyDigest);

    private static ViolationReason Reason(TestDelegate action) => Assert.Throws<ProtocolViolationException>(action)!.Reason;

    [Test]
    public void GenuineUploads_AreAccepted_AndListed_InSenderOrder()
    {
        using var f = new Fixture("signed/genuine");
        UploadIntake intake = f.Intake(round: 5);
        CompactCiphertext sum = f.Scheme.AllocateSum(5, 1);
        foreach (int b in new[] { 2, 0 })
        {
            byte[] u = f.Upload(b, 5, 1);
            Assert.That(intake.Accept(u, UploadSignature.Sign(f.Keys[b], u), AddTo(f.Scheme, sum, u)), Is.EqualTo(b));
        }
        Assert.That(intake.Contributors(1), Is.EqualTo(new[] { 0, 2 }));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        ContributorList list = ContributorList.Parse(intake.SignedList(f.Aggregator, 1), f.Aggregator.PublicKey, Banks);
        Assert.That(list.Senders, Is.EqualTo(new[] { 0, 2 }));
        Assert.DoesNotThrow(() => list.VerifyEntries(f.Scheme.SessionTag, 5, 1, RlweObjectKind.CompactCiphertext, [2, 0], f.Roster));
    }

    [TestCase(0)]
    [TestCase(31)]
    [TestCase(32 * 8 + 5)]
    [TestCase(511)]
    public void OneBitFlipInTheSignature_IsRejected_AndChangesNoState(int bit)
    {
        using var f = new Fixture("signed/flip-signature");
        UploadIntake intake = f.Intake(round: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] u = f.Upload(0, 1, 0);
        byte[] sig = UploadSignature.Sign(f.Keys[0], u);
        byte[] before = sum.Serialize();
        byte[] bad = (byte[])sig.Clone();
        bad[bit / 8] ^= (byte)(1 << (bit % 8));
        Assert.That(Reason(() => intake.Accept(u, bad, AddTo(f.Scheme, sum, u))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
        // The genuine upload is still accepted afterwards (the refusal left no trace).
        intake.Accept(u, sig, AddTo(f.Scheme, sum, u));
        Assert.That(intake.AcceptedCount(0), Is.EqualTo(1));
        Assert.That(sum.Serialize(), Is.Not.EqualTo(before));
    }

    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 3, 0)]   // payload
    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 1000, 7)]
    [TestCase(-1, 0)]                                                          // the trailing digest
    public void OneBitFlipInThePayload_IsRejectedAsUnauthentic_AndChangesNoState(int offset, int bit)
    {
        using var f = new Fixture("signed/flip-upload");
        UploadIntake intake = f.Intake(round: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] u = f.Upload(1, 1, 0);
        byte[] sig = UploadSignature.Sign(f.Keys[1], u);
        byte[] before = sum.Serialize();
        byte[] bad = (byte[])u.Clone();
        bad[offset < 0 ? bad.Length + offset : offset] ^= (byte)(1 << bit);
        Assert.That(Reason(() => intake.Accept(bad, sig, AddTo(f.Scheme, sum, bad))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
    }

    [TestCase(-1)]                                                             // the trailing digest
    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 5)]       // the payload
    public void CorruptUpload_SignedByItsOwnBank_FailsTheEnvelopeDigest_AndChangesNoState(int offset)
    {
        // A faulty bank signs bytes whose envelope digest is wrong: the signature verifies, and the digest check,
        // which reuses the digest computed for the signature, still refuses the upload.
        using var f = new Fixture("signed/corrupt-but-signed");
        UploadIntake intake = f.Intake(round: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] bad = f.Upload(1, 1, 0);
        bad[offset < 0 ? bad.Length + offset : offset] ^= 0x10;
        byte[] before = sum.Serialize();
        Assert.That(Reason(() => intake.Accept(bad, UploadSignature.Sign(f.Keys[1], bad), AddTo(f.Scheme, sum, bad))), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
    }

    [Test]
    public void EveryOneBitFlipInTheContext_IsRefused_AndChangesNoState()
    {
        using var f = new Fixture("signed/flip-context");
        UploadIntake intake = f.Intake(round: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] u = f.Upload(1, 1, 0);
        byte[] sig = UploadSignature.Sign(f.Keys[1], u);
        byte[] before = sum.Serialize();
        for (int bit = 0; bit < CompactCiphertext.ContextSize * 8; bit++)
        {
            byte[] bad = (byte[])u.Clone();
            bad[RlweCodec.HeaderSize + bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<ProtocolViolationException>(() => intake.Accept(bad, sig, AddTo(f.Scheme, sum, bad)), $"bit {bit}");
        }
        Assert.That(intake.AcceptedCount(0) + intake.AcceptedCount(1), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
    }

    [Test]
    public void AnUploadSignedByAnotherBanksKey_IsRejected()
    {
        using var f = new Fixture("signed/other-key");
        UploadIntake intake = f.Intake(round: 2);
        CompactCiphertext sum = f.Scheme.AllocateSum(2, 0);
        byte[] u = f.Upload(0, 2, 0);
        Assert.That(Reason(() => intake.Accept(u, UploadSignature.Sign(f.Keys[1], u), AddTo(f.Scheme, sum, u))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // Signed by the aggregator, or a signature without the domain label, fails as well.
        Assert.That(Reason(() => intake.Accept(u, f.Aggregator.Sign(u), AddTo(f.Scheme, sum, u))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => intake.Accept(u, f.Keys[0].Sign(System.Security.Cryptography.SHA256.HashData(u)), AddTo(f.Scheme, sum, u))),
            Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
    }

    [Test]
    public void ReplayedUploads_IntoTheNextRoundOrTwice_AreRejected()
    {
        using var f = new Fixture("signed/replay");
        byte[] u = f.Upload(2, 3, 0);
        byte[] sig = UploadSignature.Sign(f.Keys[2], u);
        UploadIntake round3 = f.Intake(round: 3);
        CompactCiphertext sum3 = f.Scheme.AllocateSum(3, 0);
        round3.Accept(u, sig, AddTo(f.Scheme, sum3, u));
        byte[] after = sum3.Serialize();
        Assert.That(Reason(() => round3.Accept(u, sig, AddTo(f.Scheme, sum3, u))), Is.EqualTo(ViolationReason.Duplicate));
        byte[] again = f.Upload(2, 3, 0); // a second, differently encrypted upload for the same (sender, round, chunk)
        Assert.That(Reason(() => round3.Accept(again, UploadSignature.Sign(f.Keys[2], again), AddTo(f.Scheme, sum3, again))), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(sum3.Serialize(), Is.EqualTo(after));
        Assert.That(round3.AcceptedCount(0), Is.EqualTo(1));

        UploadIntake round4 = f.Intake(round: 4);
        CompactCiphertext sum4 = f.Scheme.AllocateSum(4, 0);
        byte[] empty = sum4.Serialize();
        Assert.That(Reason(() => round4.Accept(u, sig, AddTo(f.Scheme, sum4, u))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(round4.AcceptedCount(0), Is.Zero);
        Assert.That(sum4.Serialize(), Is.EqualTo(empty));
    }

    [Test]
    public void ContributorList_Tampered_ForeignOrNotMatchingTheRequest_IsRefused()
    {
        using var f = new Fixture("signed/list");
        UploadIntake intake = f.Intake(round: 9, chunks: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(9, 0);
        for (int b = 0; b < Banks; b++)
        {
            byte[] u = f.Upload(b, 9, 0);
            intake.Accept(u, UploadSignature.Sign(f.Keys[b], u), AddTo(f.Scheme, sum, u));
        }
        byte[] list = intake.SignedList(f.Aggregator, 0);
        for (int bit = 0; bit < list.Length * 8; bit += 37)
        {
            byte[] bad = (byte[])list.Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<ProtocolViolationException>(() => ContributorList.Parse(bad, f.Aggregator.PublicKey, Banks), $"bit {bit}");
        }
        // Signed by a bank instead of the aggregator.
        ContributorList genuine = ContributorList.Parse(list, f.Aggregator.PublicKey, Banks);
        byte[] forged = ContributorList.Sign(f.Keys[0], f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, genuine.Entries);
        Assert.That(Reason(() => ContributorList.Parse(forged, f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // A request about other contributors, or another round / variant.
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1], f.Roster)), Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 10, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], f.Roster)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.PublicKeyCiphertext, [0, 1, 2], f.Roster)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        // The aggregator signs a list whose entry carries a signature that is not the contributor's.
        ContributorEntry[] entries = [.. genuine.Entries];
        byte[] flipped = (byte[])entries[1].Signature.Clone();
        flipped[0] ^= 1;
        entries[1] = entries[1] with { Signature = flipped };
        ContributorList lying = ContributorList.Parse(ContributorList.Sign(f.Aggregator, f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, entries),
            f.Aggregator.PublicKey, Banks);
        Assert.That(Reason(() => lying.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], f.Roster)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.DoesNotThrow(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], f.Roster));
    }

    [Test]
    public void Session_RosterHoldsDistinctIdentityKeys_AndSumsStayExactInBothVariants()
    {
        foreach (HomomorphicVariant variant in new[] { HomomorphicVariant.Compact, HomomorphicVariant.PublicKey })
        {
            using var s = new HomomorphicSession(4, new HomomorphicOptions
            {
                Parameters = P, Threshold = 3, Variant = variant, TestSeed = System.Text.Encoding.UTF8.GetBytes("signed/session/" + variant),
            });
            Assert.That(s.IdentityPublicKeys.Select(Convert.ToHexString).Distinct().Count(), Is.EqualTo(4));
            Assert.That(s.IdentityPublicKeys.Select(Convert.ToHexString), Does.Not.Contain(Convert.ToHexString(s.AggregatorPublicKey)));
            var rnd = new Random(3);
            ulong[][] inputs = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 600).Select(_ => (ulong)rnd.NextInt64(1L << 44)).ToArray()).ToArray();
            for (int round = 1; round <= 2; round++)
            {
                ulong[] sum = s.Sum(inputs, [0, 2, 3], out int[] used);
                ulong[] expected = Enumerable.Range(0, 600).Select(j => inputs.Aggregate(0UL, (a, v) => (a + v[j]) & ((1UL << 44) - 1))).ToArray();
                Assert.That(sum, Is.EqualTo(expected), $"{variant} round {round}");
                Assert.That(used, Is.EqualTo(new[] { 0, 1, 2, 3 }));
                Assert.That(s.Round, Is.EqualTo((ulong)round));
            }
        }
    }
}
