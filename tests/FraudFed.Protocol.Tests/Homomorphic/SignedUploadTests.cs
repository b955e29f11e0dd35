// Tests of SPEC.md 12.2: signed upload manifests, the aggregator's intake (manifest before adding, digests, duplicates,
// replays) and the signed contributor list banks check against the manifests before answering. INSECURE n = 256 test parameters, seeded randomness.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Harness;
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

        public byte[] Manifest(int bank, ulong round, params byte[][] uploads) =>
            UploadManifest.Sign(Keys[bank], Scheme.SessionTag, round, RlweObjectKind.CompactCiphertext, bank, uploads);

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

    // The upload digest of SPEC.md 12.2 from its definition: SHA-256 of every byte but the 16-byte trailer.
    private static byte[] UploadDigest(byte[] upload) => System.Security.Cryptography.SHA256.HashData(upload.AsSpan(0, upload.Length - 16));

    private static ViolationReason Reason(TestDelegate action) => Assert.Throws<ProtocolViolationException>(action)!.Reason;

    private static byte[] Flip(byte[] data, int bit)
    {
        byte[] bad = (byte[])data.Clone();
        bad[bit / 8] ^= (byte)(1 << (bit % 8));
        return bad;
    }

    [Test]
    public void GenuineUploads_AreAccepted_AfterTheirManifest_AndListed_InSenderOrder()
    {
        using var f = new Fixture("signed/genuine");
        UploadIntake intake = f.Intake(round: 5);
        CompactCiphertext sum = f.Scheme.AllocateSum(5, 1);
        foreach (int b in new[] { 2, 0 })
        {
            byte[] u0 = f.Upload(b, 5, 0), u1 = f.Upload(b, 5, 1);
            Assert.That(intake.AcceptManifest(f.Manifest(b, 5, u0, u1)), Is.EqualTo(b));
            Assert.That(intake.Accept(u1, AddTo(f.Scheme, sum, u1)), Is.EqualTo(b));
            if (b == 2) Assert.That(intake.Accept(u0, AddTo(f.Scheme, f.Scheme.AllocateSum(5, 0), u0)), Is.EqualTo(b));
        }
        Assert.That(intake.Contributors(1), Is.EqualTo(new[] { 0, 2 }));
        Assert.That(intake.AcceptedCount(0), Is.EqualTo(1));
        ContributorList[] lists = ContributorList.ParseRound(intake.SignedLists(f.Aggregator), f.Aggregator.PublicKey, Banks);
        Assert.That(lists[0].Senders, Is.EqualTo(new[] { 2 }));
        ContributorList list = lists[1];
        Assert.That(list.Senders, Is.EqualTo(new[] { 0, 2 }));
        var manifests = new VerifiedManifests(intake.Manifests([0, 2]), f.Roster, f.Scheme.SessionTag, 5, RlweObjectKind.CompactCiphertext, 2);
        Assert.DoesNotThrow(() => list.VerifyEntries(f.Scheme.SessionTag, 5, 1, RlweObjectKind.CompactCiphertext, [2, 0], manifests));
        // The accepted uploads were added.
        Assert.That(sum.Serialize(), Is.Not.EqualTo(f.Scheme.AllocateSum(5, 1).Serialize()));
    }

    [Test]
    public void AnUploadBeforeItsSendersManifest_IsRefused_AndChangesNoState()
    {
        using var f = new Fixture("signed/no-manifest");
        UploadIntake intake = f.Intake(round: 1, chunks: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] before = sum.Serialize();
        byte[] u = f.Upload(1, 1, 0);
        intake.AcceptManifest(f.Manifest(0, 1, f.Upload(0, 1, 0))); // another bank's manifest does not cover it
        Assert.That(Reason(() => intake.Accept(u, AddTo(f.Scheme, sum, u))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
        intake.AcceptManifest(f.Manifest(1, 1, u));
        intake.Accept(u, AddTo(f.Scheme, sum, u));
        Assert.That(intake.Contributors(0), Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void EveryOneBitFlipInAManifest_IsRefused_AndLeavesTheIntakeOpenForTheGenuineOne()
    {
        using var f = new Fixture("signed/flip-manifest");
        UploadIntake intake = f.Intake(round: 1);
        byte[] u0 = f.Upload(0, 1, 0), u1 = f.Upload(0, 1, 1);
        byte[] manifest = f.Manifest(0, 1, u0, u1);
        Assert.That(manifest, Has.Length.EqualTo(UploadManifest.SerializedSize(2)));
        for (int bit = 0; bit < manifest.Length * 8; bit++)
            Assert.Throws<ProtocolViolationException>(() => intake.AcceptManifest(Flip(manifest, bit)), $"bit {bit}");
        // Flips of the signed body or the signature itself are authentication failures.
        Assert.That(Reason(() => intake.AcceptManifest(Flip(manifest, 8 * (UploadManifest.FixedSize + 40)))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => intake.AcceptManifest(Flip(manifest, 8 * (manifest.Length - 1)))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        Assert.That(Reason(() => intake.Accept(u0, AddTo(f.Scheme, sum, u0))), Is.EqualTo(ViolationReason.WrongRoundOrState), "no manifest was recorded");
        Assert.That(intake.AcceptManifest(manifest), Is.Zero);
        intake.Accept(u0, AddTo(f.Scheme, sum, u0));
        Assert.That(intake.AcceptedCount(0), Is.EqualTo(1));
    }

    [Test]
    public void AManifestOfTheWrongShape_IsRefused_WithItsReason()
    {
        using var f = new Fixture("signed/manifest-shape");
        UploadIntake intake = f.Intake(round: 4, chunks: 2);
        byte[] u0 = f.Upload(1, 4, 0), u1 = f.Upload(1, 4, 1);
        // One chunk short, or one too many (the count is bounded by the round's before anything else is read).
        Assert.That(Reason(() => intake.AcceptManifest(f.Manifest(1, 4, u0))), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Reason(() => intake.AcceptManifest(f.Manifest(1, 4, u0, u1, u1))), Is.EqualTo(ViolationReason.Oversized));
        // Another round, another variant, another session.
        Assert.That(Reason(() => intake.AcceptManifest(f.Manifest(1, 3, u0, u1))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => intake.AcceptManifest(UploadManifest.Sign(f.Keys[1], f.Scheme.SessionTag, 4, (RlweObjectKind)7, 1, [u0, u1]))),
            Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => intake.AcceptManifest(UploadManifest.Sign(f.Keys[1], new byte[16], 4, RlweObjectKind.CompactCiphertext, 1, [u0, u1]))),
            Is.EqualTo(ViolationReason.WrongRoundOrState));
        // A sender outside the roster; truncated; empty.
        Assert.That(Reason(() => intake.AcceptManifest(UploadManifest.Sign(f.Keys[1], f.Scheme.SessionTag, 4, RlweObjectKind.CompactCiphertext, Banks, [u0, u1]))),
            Is.EqualTo(ViolationReason.UnknownSender));
        byte[] genuine = f.Manifest(1, 4, u0, u1);
        Assert.That(Reason(() => intake.AcceptManifest(genuine[..^1])), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Reason(() => intake.AcceptManifest([])), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(intake.AcceptManifest(genuine), Is.EqualTo(1));
    }

    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 3, 0, ViolationReason.AuthenticationFailed)]   // payload
    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 1000, 7, ViolationReason.AuthenticationFailed)]
    [TestCase(-1, 0, ViolationReason.Malformed)]    // the trailer: not signed itself, it must repeat the signed digest
    [TestCase(-16, 3, ViolationReason.Malformed)]
    public void OneBitFlipInThePayload_IsRejectedAsUnauthentic_AndChangesNoState(int offset, int bit, ViolationReason reason)
    {
        using var f = new Fixture("signed/flip-upload");
        UploadIntake intake = f.Intake(round: 1, chunks: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] u = f.Upload(1, 1, 0);
        intake.AcceptManifest(f.Manifest(1, 1, u));
        byte[] before = sum.Serialize();
        byte[] bad = (byte[])u.Clone();
        bad[offset < 0 ? bad.Length + offset : offset] ^= (byte)(1 << bit);
        Assert.That(Reason(() => intake.Accept(bad, AddTo(f.Scheme, sum, bad))), Is.EqualTo(reason));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
        // The genuine upload is still accepted afterwards (the refusal left no trace).
        intake.Accept(u, AddTo(f.Scheme, sum, u));
        Assert.That(intake.AcceptedCount(0), Is.EqualTo(1));
        Assert.That(sum.Serialize(), Is.Not.EqualTo(before));
    }

    [Test]
    public void ManifestDigest_IsTheSha256OfTheBody_WhoseFirstHalfIsTheTrailer()
    {
        using var f = new Fixture("signed/digest-definition");
        byte[] u0 = f.Upload(0, 3, 0), u1 = f.Upload(0, 3, 1, value: (1UL << 44) - 1);
        UploadManifest m = UploadManifest.Parse(f.Manifest(0, 3, u0, u1), f.Roster);
        foreach (var (u, k) in new[] { (u0, 0u), (u1, 1u) })
        {
            byte[] body = System.Security.Cryptography.SHA256.HashData(u.AsSpan(0, u.Length - 16));
            Assert.That(m.Digest(k).ToArray(), Is.EqualTo(body), $"chunk {k}");
            Assert.That(u.AsSpan(u.Length - 16).ToArray(), Is.EqualTo(body.AsSpan(0, 16).ToArray()), $"chunk {k} trailer");
            Assert.That(System.Security.Cryptography.SHA256.HashData(u), Is.Not.EqualTo(body), "the trailer is not hashed");
        }
    }

    [TestCase(-1, ViolationReason.Malformed)]
    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 9, ViolationReason.AuthenticationFailed)]
    public void AcceptRound_WithOneChunkFlipped_RefusesBeforeAnyAddition(int offset, ViolationReason reason)
    {
        using var f = new Fixture("signed/round-flip");
        UploadIntake intake = f.Intake(round: 2);
        CompactCiphertext[] sums = [f.Scheme.AllocateSum(2, 0), f.Scheme.AllocateSum(2, 1)];
        byte[][] before = sums.Select(s => s.Serialize()).ToArray();
        byte[] u0 = f.Upload(1, 2, 0), u1 = f.Upload(1, 2, 1);
        byte[] manifest = f.Manifest(1, 2, u0, u1);
        byte[] bad = (byte[])u1.Clone();
        bad[offset < 0 ? bad.Length + offset : offset] ^= 0x04;
        byte[][] uploads = [u0, bad];
        Action<int, uint, byte[]> add = (sender, k, digest) => f.Scheme.AddSerialized(sums[k], uploads[k], sender, digest);
        Assert.That(Reason(() => intake.AcceptRound(1, manifest, uploads, add, parallel: false)), Is.EqualTo(reason));
        Assert.That(intake.Tainted, Is.False);
        Assert.That(sums.Select(s => s.Serialize()), Is.EqualTo(before), "no chunk was added");
        Assert.That(intake.AcceptedCount(0) + intake.AcceptedCount(1), Is.Zero);
        uploads[1] = u1;
        intake.AcceptRound(1, manifest, uploads, add, parallel: false);
        Assert.That(intake.Contributors(0), Is.EqualTo(new[] { 1 }));
        Assert.That(intake.Contributors(1), Is.EqualTo(new[] { 1 }));
    }

    [TestCase(-1)]                                                             // the trailing digest
    [TestCase(RlweCodec.HeaderSize + CompactCiphertext.ContextSize + 5)]       // the payload
    public void CorruptUpload_SignedByItsOwnBank_FailsTheEnvelopeDigest_AndChangesNoState(int offset)
    {
        // A faulty bank signs a manifest over bytes whose envelope digest is wrong: the manifest digest matches, and the
        // envelope check, which reuses the digest computed in the same pass, still refuses the upload.
        using var f = new Fixture("signed/corrupt-but-signed");
        UploadIntake intake = f.Intake(round: 1, chunks: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] bad = f.Upload(1, 1, 0);
        bad[offset < 0 ? bad.Length + offset : offset] ^= 0x10;
        intake.AcceptManifest(f.Manifest(1, 1, bad));
        byte[] before = sum.Serialize();
        Assert.That(Reason(() => intake.Accept(bad, AddTo(f.Scheme, sum, bad))), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
    }

    [Test]
    public void EveryOneBitFlipInTheContext_IsRefused_AndChangesNoState()
    {
        using var f = new Fixture("signed/flip-context");
        UploadIntake intake = f.Intake(round: 1, chunks: 2);
        CompactCiphertext sum = f.Scheme.AllocateSum(1, 0);
        byte[] u = f.Upload(1, 1, 0);
        intake.AcceptManifest(f.Manifest(1, 1, u, f.Upload(1, 1, 1)));
        byte[] before = sum.Serialize();
        for (int bit = 0; bit < CompactCiphertext.ContextSize * 8; bit++)
        {
            byte[] bad = Flip(u, 8 * RlweCodec.HeaderSize + bit);
            Assert.Throws<ProtocolViolationException>(() => intake.Accept(bad, AddTo(f.Scheme, sum, bad)), $"bit {bit}");
        }
        Assert.That(intake.AcceptedCount(0) + intake.AcceptedCount(1), Is.Zero);
        Assert.That(sum.Serialize(), Is.EqualTo(before));
    }

    [Test]
    public void AManifestSignedByAnotherKey_OrWithoutTheLabel_IsRejected()
    {
        using var f = new Fixture("signed/other-key");
        UploadIntake intake = f.Intake(round: 2, chunks: 1);
        byte[] u = f.Upload(0, 2, 0);
        // Bank 1's key signing a manifest that names bank 0; the aggregator's key.
        Assert.That(Reason(() => intake.AcceptManifest(UploadManifest.Sign(f.Keys[1], f.Scheme.SessionTag, 2, RlweObjectKind.CompactCiphertext, 0, [u]))),
            Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => intake.AcceptManifest(UploadManifest.Sign(f.Aggregator, f.Scheme.SessionTag, 2, RlweObjectKind.CompactCiphertext, 0, [u]))),
            Is.EqualTo(ViolationReason.AuthenticationFailed));
        // The right key over the right body, but without the domain label.
        byte[] unlabelled = f.Manifest(0, 2, u);
        int body = unlabelled.Length - Ed25519SigningKey.SignatureSize;
        f.Keys[0].Sign(System.Security.Cryptography.SHA256.HashData(unlabelled.AsSpan(0, body))).CopyTo(unlabelled, body);
        Assert.That(Reason(() => intake.AcceptManifest(unlabelled)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        CompactCiphertext sum = f.Scheme.AllocateSum(2, 0);
        Assert.That(Reason(() => intake.Accept(u, AddTo(f.Scheme, sum, u))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(intake.AcceptedCount(0), Is.Zero);
    }

    [Test]
    public void ReplayedUploadsAndManifests_IntoTheNextRoundOrTwice_AreRejected()
    {
        using var f = new Fixture("signed/replay");
        byte[] u = f.Upload(2, 3, 0);
        byte[] manifest = f.Manifest(2, 3, u);
        UploadIntake round3 = f.Intake(round: 3, chunks: 1);
        CompactCiphertext sum3 = f.Scheme.AllocateSum(3, 0);
        round3.AcceptManifest(manifest);
        round3.Accept(u, AddTo(f.Scheme, sum3, u));
        byte[] after = sum3.Serialize();
        Assert.That(Reason(() => round3.Accept(u, AddTo(f.Scheme, sum3, u))), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Reason(() => round3.AcceptManifest(manifest)), Is.EqualTo(ViolationReason.Duplicate));
        // A second, different upload for the same (sender, round, chunk). (Another value: re-encrypting the same values gives
        // the same switched words almost everywhere, since the switch to 2^64 rounds the fresh error away, SPEC.md 12.0 step 4.)
        byte[] again = f.Upload(2, 3, 0, value: 8);
        Assert.That(again, Is.Not.EqualTo(u));
        Assert.That(Reason(() => round3.AcceptManifest(f.Manifest(2, 3, again))), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Reason(() => round3.Accept(again, AddTo(f.Scheme, sum3, again))), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(sum3.Serialize(), Is.EqualTo(after));
        Assert.That(round3.AcceptedCount(0), Is.EqualTo(1));

        UploadIntake round4 = f.Intake(round: 4, chunks: 1);
        CompactCiphertext sum4 = f.Scheme.AllocateSum(4, 0);
        byte[] empty = sum4.Serialize();
        Assert.That(Reason(() => round4.AcceptManifest(manifest)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => round4.Accept(u, AddTo(f.Scheme, sum4, u))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(round4.AcceptedCount(0), Is.Zero);
        Assert.That(sum4.Serialize(), Is.EqualTo(empty));
    }

    [Test]
    public void ContributorList_Tampered_ForeignOrNotMatchingTheManifests_IsRefused()
    {
        using var f = new Fixture("signed/list");
        UploadIntake intake = f.Intake(round: 9, chunks: 1);
        CompactCiphertext sum = f.Scheme.AllocateSum(9, 0);
        for (int b = 0; b < Banks; b++)
        {
            byte[] u = f.Upload(b, 9, 0);
            intake.AcceptManifest(f.Manifest(b, 9, u));
            intake.Accept(u, AddTo(f.Scheme, sum, u));
        }
        var manifests = new VerifiedManifests(intake.Manifests([0, 1, 2]), f.Roster, f.Scheme.SessionTag, 9, RlweObjectKind.CompactCiphertext, 1);
        byte[] list = intake.SignedLists(f.Aggregator)[0];
        for (int bit = 0; bit < list.Length * 8; bit += 7)
            Assert.Throws<ProtocolViolationException>(() => ContributorList.ParseRound([Flip(list, bit)], f.Aggregator.PublicKey, Banks), $"bit {bit}");
        // Signed by a bank instead of the aggregator.
        ContributorList genuine = ContributorList.ParseRound([list], f.Aggregator.PublicKey, Banks)[0];
        byte[] forged = ContributorList.SignRound(f.Keys[0], f.Scheme.SessionTag, 9, RlweObjectKind.CompactCiphertext, [genuine.Entries])[0];
        Assert.That(Reason(() => ContributorList.ParseRound([forged], f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // A request about other contributors, or another round / variant.
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1], manifests)), Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 10, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], manifests)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, (RlweObjectKind)7, [0, 1, 2], manifests)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        // The aggregator signs a list whose entry carries a digest its contributor did not sign.
        ContributorEntry[] entries = [.. genuine.Entries];
        entries[1] = entries[1] with { UploadDigest = Flip(entries[1].UploadDigest, 0) };
        ContributorList lying = ContributorList.ParseRound(ContributorList.SignRound(f.Aggregator, f.Scheme.SessionTag, 9, RlweObjectKind.CompactCiphertext, [entries]),
            f.Aggregator.PublicKey, Banks)[0];
        Assert.That(Reason(() => lying.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], manifests)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // A contributor whose manifest the bank was not given.
        var partial = new VerifiedManifests(intake.Manifests([0, 2]), f.Roster, f.Scheme.SessionTag, 9, RlweObjectKind.CompactCiphertext, 1);
        Assert.That(Reason(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], partial)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.DoesNotThrow(() => genuine.VerifyEntries(f.Scheme.SessionTag, 9, 0, RlweObjectKind.CompactCiphertext, [0, 1, 2], manifests));
    }

    [Test]
    public void RoundContributorLists_OneSignature_RefuseEveryOneBitFlip_Reordering_AndMixing()
    {
        using var f = new Fixture("signed/round-lists");
        byte[][] digests = Enumerable.Range(0, 3).Select(k => System.Security.Cryptography.SHA256.HashData([(byte)k])).ToArray();
        ContributorEntry[][] entries = [[new(0, digests[0]), new(1, digests[1])], [new(0, digests[1]), new(2, digests[2])], [new(1, digests[2])]];
        byte[][] lists = ContributorList.SignRound(f.Aggregator, f.Scheme.SessionTag, 4, RlweObjectKind.CompactCiphertext, entries);
        // Independent check of the signed message: label || SHA-256(u32 C || SHA-256(body_k) ...), one signature in every list.
        byte[] signature = lists[0][^64..];
        Assert.That(lists.Select(l => l[^64..]), Is.All.EqualTo(signature));
        byte[] inner = [3, 0, 0, 0, .. lists.SelectMany(l => System.Security.Cryptography.SHA256.HashData(l.AsSpan(0, l.Length - 64)))];
        byte[] message = [.. "FraudFed/v1/he/contributors-round"u8, .. System.Security.Cryptography.SHA256.HashData(inner)];
        Assert.That(Ed25519SigningKey.Verify(f.Aggregator.PublicKey, message, signature), Is.True);
        ContributorList[] parsed = ContributorList.ParseRound(lists, f.Aggregator.PublicKey, Banks);
        Assert.That(parsed.Select(l => l.Chunk), Is.EqualTo(new uint[] { 0, 1, 2 }));
        Assert.That(parsed[1].Senders, Is.EqualTo(new[] { 0, 2 }));
        Assert.That(parsed[1].Entries[1].UploadDigest, Is.EqualTo(digests[2]));
        // A one-bit flip in every byte of every list (each field of the body, and its copy of the signature) is refused.
        for (int k = 0; k < lists.Length; k++)
            for (int bit = 0; bit < lists[k].Length * 8; bit += 3)
            {
                byte[][] bad = [.. lists];
                bad[k] = Flip(lists[k], bit);
                Assert.Throws<ProtocolViolationException>(() => ContributorList.ParseRound(bad, f.Aggregator.PublicKey, Banks), $"list {k} bit {bit}");
            }
        // Reordered, truncated, or mixed with a list of another signed round.
        Assert.That(Reason(() => ContributorList.ParseRound([lists[1], lists[0], lists[2]], f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => ContributorList.ParseRound(lists[..2], f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        byte[][] other = ContributorList.SignRound(f.Aggregator, f.Scheme.SessionTag, 4, RlweObjectKind.CompactCiphertext, [entries[0], entries[0], entries[2]]);
        Assert.That(Reason(() => ContributorList.ParseRound([lists[0], other[1], lists[2]], f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => ContributorList.ParseRound([other[0], lists[1], other[2]], f.Aggregator.PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => ContributorList.ParseRound(lists, f.Keys[0].PublicKey, Banks)), Is.EqualTo(ViolationReason.AuthenticationFailed));
    }

    [Test]
    public void VerifiedManifests_RefuseAForgedDuplicatedOrForeignManifest()
    {
        using var f = new Fixture("signed/verified-manifests");
        byte[][] uploads = Enumerable.Range(0, Banks).Select(b => f.Upload(b, 6, 0)).ToArray();
        byte[][] manifests = Enumerable.Range(0, Banks).Select(b => f.Manifest(b, 6, uploads[b])).ToArray();
        VerifiedManifests Verify(byte[][] m, ulong round = 6) => new(m, f.Roster, f.Scheme.SessionTag, round, RlweObjectKind.CompactCiphertext, 1);
        VerifiedManifests ok = Verify(manifests);
        Assert.That(ok.IsSigned(1, 0, UploadDigest(uploads[1])), Is.True);
        Assert.That(ok.IsSigned(1, 0, UploadDigest(uploads[2])), Is.False);
        Assert.That(ok.IsSigned(1, 1, UploadDigest(uploads[1])), Is.False, "chunk outside the manifest");
        Assert.That(Reason(() => Verify([manifests[0], Flip(manifests[1], 300), manifests[2]])), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => Verify([manifests[0], manifests[0]])), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Reason(() => Verify(manifests, round: 7)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Reason(() => Verify([.. manifests, manifests[0]])), Is.EqualTo(ViolationReason.Oversized));
    }

    [Test]
    public void VerifiedManifests_TakeTheBanksOwnManifestByItsExactBytes_AndVerifyAnyOtherBytes()
    {
        using var f = new Fixture("signed/own-manifest");
        byte[][] uploads = Enumerable.Range(0, Banks).Select(b => f.Upload(b, 6, 0)).ToArray();
        byte[][] manifests = Enumerable.Range(0, Banks).Select(b => f.Manifest(b, 6, uploads[b])).ToArray();
        VerifiedManifests Verify(byte[][] m, byte[]? signedHere) => new(m, f.Roster, f.Scheme.SessionTag, 6, RlweObjectKind.CompactCiphertext, 1, signedHere);
        byte[] own = manifests[1];
        int signatureBit = 8 * (UploadManifest.FixedSize + 32 + 10), digestBit = 8 * (UploadManifest.FixedSize + 5);

        VerifiedManifests ok = Verify(manifests, own.ToArray());
        Assert.That(ok.IsSigned(1, 0, UploadDigest(uploads[1])), Is.True, "the own manifest's digests are used as signed");
        Assert.That(ok.IsSigned(2, 0, UploadDigest(uploads[2])), Is.True);
        // Bytes that are not exactly the bank's own are verified, whichever sender they name: a tampered copy of its own manifest
        // (signature or signed digest) and a tampered manifest of another bank are refused as before.
        Assert.That(Reason(() => Verify([manifests[0], Flip(own, signatureBit), manifests[2]], own)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => Verify([manifests[0], Flip(own, digestBit), manifests[2]], own)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Reason(() => Verify([manifests[0], own, Flip(manifests[2], signatureBit)], own)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // The other checks still run on the own manifest: another round is refused.
        byte[] ownOfRound7 = f.Manifest(1, 7, uploads[1]);
        Assert.That(Reason(() => Verify([manifests[0], ownOfRound7], ownOfRound7)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        // The shortcut is the exact bytes the caller signed, nothing more: bytes passed as signed here are not verified (the bank
        // passes only the manifest it signed itself, HomomorphicBank.ReceiveManifests); the same bytes from anyone else are.
        byte[] unsigned = Flip(own, signatureBit);
        Assert.That(Verify([manifests[0], unsigned], unsigned).IsSigned(1, 0, UploadDigest(uploads[1])), Is.True);
        Assert.That(Reason(() => Verify([manifests[0], unsigned], null)), Is.EqualTo(ViolationReason.AuthenticationFailed));
    }

    [Test]
    public void Session_RosterHoldsDistinctIdentityKeys_AndSumsStayExact()
    {
        foreach (string variant in new[] { "compact" })
        {
            using var s = HomomorphicSession.SeededForTestsOnly(4, new HomomorphicOptions { Parameters = P, Threshold = 3 },
                System.Text.Encoding.UTF8.GetBytes("signed/session/" + variant));
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
