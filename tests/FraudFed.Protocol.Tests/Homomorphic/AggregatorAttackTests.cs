// The attacks on the homomorphic mode, run as an attacker would (SPEC.md 12.3): the test plays a malicious aggregator,
// holding its own signing key and, for colluding banks, their key shares; honest banks run the real bank-side code
// (HomomorphicBank: signed-list checks, DecryptionGuard over its ledger). The bound in SECURITY.md is tight: at the
// declared number of colluders c the difference attack fails, with c + 1 it succeeds.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class AggregatorAttackTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;
    private const ulong Round = 7;

    private static HomomorphicSession Session(int banks, int? threshold, int? colluders, string label, int? kMin = null) => HomomorphicSession.SeededForTestsOnly(banks, new HomomorphicOptions
    {
        Parameters = P, Threshold = threshold, MaxColluders = colluders, MinContributors = kMin, Parallel = false,
    }, System.Text.Encoding.UTF8.GetBytes(label));

    // The upload digest of SPEC.md 12.2 from its definition: SHA-256 of every byte but the 16-byte trailer.
    private static byte[] UploadDigest(byte[] upload) => System.Security.Cryptography.SHA256.HashData(upload.AsSpan(0, upload.Length - 16));

    private static ulong[] Input(int bank, int length = 40) =>
        Enumerable.Range(0, length).Select(j => (ulong)((bank + 1) * 1_000_003L + j * 7919L) & ((1UL << 44) - 1)).ToArray();

    /// <summary>What a malicious aggregator gets out of one round: the uploads, sums over any set, shares it can collect.</summary>
    private sealed class MaliciousAggregator(HomomorphicSession session, int[] colluders)
    {
        private readonly Dictionary<int, byte[]> _uploads = [];
        private readonly Dictionary<int, byte[]> _manifests = [];
        public int Refusals { get; private set; }

        public void CollectUploads()
        {
            for (int b = 0; b < session.Banks; b++)
            {
                HomomorphicBank bank = session.BankCoreForTestsOnly(b);
                byte[][] upload = bank.Encrypt(Round, Input(b), 1, parallel: false);
                _uploads[b] = upload[0];
                _manifests[b] = bank.SignManifest(Round, upload, parallel: false);
            }
        }

        private byte[] SignedList(int[] contributors) => ContributorList.SignRound(session.AggregatorSigningKey, session.Scheme!.SessionTag, Round,
            RlweObjectKind.CompactCiphertext, [contributors.Select(b => new ContributorEntry(b, UploadDigest(_uploads[b])))])[0];

        /// <summary>Opens the sum over <paramref name="contributors"/> with decryptor set <paramref name="active"/>, or null when
        /// an honest decryptor refuses. Colluders hand over their key shares: their shares need no consent.</summary>
        public ulong[]? TryOpen(int[] contributors, int[] active)
        {
            CompactScheme scheme = session.Scheme!;
            byte[] list = SignedList(contributors);
            byte[][] forwarded = contributors.Select(b => _manifests[b]).ToArray();
            var shares = new List<byte[]>();
            foreach (int d in active)
            {
                HomomorphicBank bank = session.BankCoreForTestsOnly(d);
                if (colluders.Contains(d))
                {
                    shares.Add(bank.KeyShare!.GenDecryptionShare(Round, 0, contributors, active));
                    continue;
                }
                try
                {
                    bank.ReceiveManifests(Round, 1, forwarded);
                    shares.Add(bank.DecryptionShares(Round, 1, contributors, active, [list], parallel: false)[0]);
                }
                catch (ProtocolViolationException e) when (e.Reason == ViolationReason.Refused)
                {
                    Refusals++;
                }
            }
            if (shares.Count < active.Length) return null;
            CompactCiphertext sum = scheme.AllocateSum(Round, 0);
            foreach (int b in contributors) scheme.AddSerialized(sum, _uploads[b], b);
            var result = new ulong[40];
            ThresholdCombiner.Combine(scheme, sum, contributors, active, shares, result);
            return result;
        }
    }

    /// <summary>
    /// The difference attack (both decryptor sets chosen to overlap only in colluders where possible): open U = every bank
    /// with D1, then U' = every bank but the victim with D2. Returns the victim's vector if both sums opened.
    /// </summary>
    private static (ulong[]? Recovered, int Refusals) DifferenceAttack(HomomorphicSession session, int[] colluders, int victim)
    {
        int n = session.Banks, t = session.Policy.Threshold;
        int[] honest = Enumerable.Range(0, n).Where(b => !colluders.Contains(b)).OrderBy(b => b == victim ? 0 : 1).ThenBy(b => b).ToArray();
        int fromHonest = t - colluders.Length;
        Assert.That(fromHonest, Is.GreaterThan(0), "fewer colluders than T: they cannot decrypt alone");
        int[] d1 = [.. colluders, .. honest.Take(fromHonest)];            // the victim's side first
        int[] d2 = [.. colluders, .. honest.Reverse().Take(fromHonest)];   // as disjoint from D1's honest banks as possible
        var adversary = new MaliciousAggregator(session, colluders);
        adversary.CollectUploads();
        int[] everyone = Enumerable.Range(0, n).ToArray();
        int[] withoutVictim = everyone.Where(b => b != victim).ToArray();
        ulong[]? all = adversary.TryOpen(everyone, [.. d1.Order()]);
        Assert.That(all, Is.EqualTo(Sum(everyone)), "the first, agreed sum opens");
        ulong[]? allButVictim = adversary.TryOpen(withoutVictim, [.. d2.Order()]);
        if (allButVictim is null) return (null, adversary.Refusals);
        ulong mask = (1UL << 44) - 1;
        return (all!.Zip(allButVictim, (a, b) => (a - b) & mask).ToArray(), adversary.Refusals);
    }

    private static ulong[] Sum(IEnumerable<int> banks) =>
        banks.Select(b => Input(b)).Aggregate(new ulong[40], (acc, v) => acc.Zip(v, (a, x) => (a + x) & ((1UL << 44) - 1)).ToArray());

    [Test]
    public void DifferenceAttack_AsReported_N6_T3_IsRefusedAtSetup_ByTheHarnessAndByEveryBank()
    {
        // N = 6, T = 3: two decryptor sets of three can be disjoint, so no colluder is needed at all.
        var ex = Assert.Throws<ProtocolViolationException>(() => Session(6, 3, 0, "attack/6-3"));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.That(ex.Message, Does.Contain("2T must exceed N + c"));
        // A bank checks on its own before it accepts a key share under such a policy.
        var policy = new DecryptionPolicy { Threshold = 3, MinContributors = 3, MaxColluders = 0 };
        Assert.That(Assert.Throws<ProtocolViolationException>(() => policy.Validate(6))!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.DoesNotThrow(() => (policy with { Threshold = 4 }).Validate(6));
    }

    [TestCase(6, 5, 3, TestName = "DifferenceAttack/N=6/T=5/c=3")]
    [TestCase(10, null, null, TestName = "DifferenceAttack/N=10/defaults(T=7,c=3)")]
    [TestCase(7, null, null, TestName = "DifferenceAttack/N=7/defaults(T=5,c=2)")]
    public void DifferenceAttack_FailsWithTheDeclaredColluders_AndSucceedsWithOneMore(int banks, int? threshold, int? declared)
    {
        using (HomomorphicSession session = Session(banks, threshold, declared, $"attack/{banks}/bound"))
        {
            int c = session.Policy.MaxColluders;
            Assert.That(2 * session.Policy.Threshold, Is.GreaterThan(banks + c));
            int[] colluders = Enumerable.Range(banks - c, c).ToArray();   // adversarially: never the victim, all in both D1 and D2
            var (recovered, refusals) = DifferenceAttack(session, colluders, victim: 0);
            Assert.That(recovered, Is.Null, "an honest bank sits in both decryptor sets and refuses the second contributor set");
            Assert.That(refusals, Is.GreaterThanOrEqualTo(2 * session.Policy.Threshold - banks - c));
        }
        using (HomomorphicSession session = Session(banks, threshold, declared, $"attack/{banks}/beyond"))
        {
            int c = session.Policy.MaxColluders + 1;                      // one colluder beyond the declared bound
            int[] colluders = Enumerable.Range(banks - c, c).ToArray();
            var (recovered, refusals) = DifferenceAttack(session, colluders, victim: 0);
            Assert.That(refusals, Is.Zero);
            Assert.That(recovered, Is.EqualTo(Input(0)), "with 2T - N colluders the two sums subtract to the victim's vector");
        }
    }

    [Test]
    public void AHonestBank_AnswersOneContributorSetPerRoundAndChunk_EvenAfterARestartWithItsLedger()
    {
        using HomomorphicSession session = Session(5, null, null, "attack/restart");   // c = 1, T = 4
        var adversary = new MaliciousAggregator(session, []);
        adversary.CollectUploads();
        HomomorphicBank bank = session.BankCoreForTestsOnly(0);
        long before = bank.RemainingBudget;
        Assert.That(adversary.TryOpen([0, 1, 2, 3, 4], [0, 1, 2, 3]), Is.EqualTo(Sum([0, 1, 2, 3, 4])));
        Assert.That(bank.RemainingBudget, Is.EqualTo(before - 1));
        // The same bank, restarted: a new guard over the ledger that remembers, same key share.
        var restarted = new DecryptionGuard(bank.KeyShare!, bank.Ledger);
        byte[] again = restarted.GenDecryptionShare(Round, 0, [0, 1, 2, 3, 4], [0, 1, 2, 3]);
        Assert.That(again, Is.EqualTo(bank.KeyShare!.GenDecryptionShare(Round, 0, [0, 1, 2, 3, 4], [0, 1, 2, 3])), "the same request gets identical bytes");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => restarted.GenDecryptionShare(Round, 0, [1, 2, 3, 4], [0, 1, 2, 3]))!.Reason,
            Is.EqualTo(ViolationReason.Refused), "another contributor set");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => restarted.GenDecryptionShare(Round, 0, [0, 1, 2, 3, 4], [0, 1, 2, 4]))!.Reason,
            Is.EqualTo(ViolationReason.Refused), "another active set");
        Assert.That(bank.RemainingBudget, Is.EqualTo(before - 1), "refusals and repeats spend nothing");
        // A ledger that forgot (a bank restarted without its state) would answer: that is why the SDK must persist it.
        var forgetful = new DecryptionGuard(bank.KeyShare!, new InMemoryDecryptionLedger());
        Assert.DoesNotThrow(() => forgetful.GenDecryptionShare(Round, 0, [1, 2, 3, 4], [0, 1, 2, 3]));
    }

    [Test]
    public void KMin_BelowCPlus2_IsRefused_AndCColludersCannotIsolateOneBank()
    {
        // Inherent: K_min - 1 colluders and one victim form an admissible sum. Setup refuses K_min <= c + 1.
        Assert.That(Assert.Throws<ProtocolViolationException>(() => Session(6, 5, 3, "attack/kmin", kMin: 4))!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        using HomomorphicSession session = Session(6, 5, 3, "attack/kmin-ok");
        Assert.That(session.Policy.MinContributors, Is.EqualTo(5));
        int[] colluders = [3, 4, 5];
        var adversary = new MaliciousAggregator(session, colluders);
        adversary.CollectUploads();
        var ex = Assert.Throws<ProtocolViolationException>(() => adversary.TryOpen([0, 3, 4, 5], [0, 1, 3, 4, 5]));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
    }

    [Test]
    public void PublicKeyVariantUploads_AreRefused_BeforeAnyDecryption()
    {
        using HomomorphicSession session = Session(3, null, null, "attack/pk-upload");
        CompactScheme scheme = session.Scheme!;
        // A colluding contributor sends an authentic (signed) kind-7 (c0, c1) upload, the retired public-key variant.
        byte[] honest = session.BankCoreForTestsOnly(1).Encrypt(Round, Input(1), 1, parallel: false)[0];
        byte[] kind7 = (byte[])honest.Clone();
        kind7[5] = 7;
        byte[] manifest = UploadManifest.Sign(session.BankCoreForTestsOnly(1).Identity, scheme.SessionTag, Round, (RlweObjectKind)7, 1, [kind7]);
        var intake = new UploadIntake(session.IdentityPublicKeys, scheme.SessionTag, Round, 1, RlweObjectKind.CompactCiphertext);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => intake.AcceptManifest(manifest))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => intake.Accept(kind7, (_, _, _) => Assert.Fail("added")))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.Throws<ArgumentException>(() => _ = new UploadIntake(session.IdentityPublicKeys, scheme.SessionTag, Round, 1, (RlweObjectKind)7));
        // Kinds 7-9 are unknown to the RLWE codec.
        foreach (byte kind in new byte[] { 7, 8, 9 })
            Assert.That(Enum.IsDefined(typeof(RlweObjectKind), kind), Is.False, $"kind {kind}");
    }

    [Test]
    public void CompactShares_DoNotDependOnTheUploads_SoAMalformedCiphertextCannotSteerADecryption()
    {
        // Two runs with the same keys (same test seed): in the second, a colluding contributor uploads garbage. The honest
        // banks' decryption shares are byte-identical: a share is lambda * sigma(U) * a_{r,k} + smudging, a function of
        // (round, chunk, U, D) and the bank's key only, so no ciphertext an attacker chooses is ever multiplied by a key.
        byte[][] Shares(bool malicious)
        {
            using HomomorphicSession session = Session(4, null, null, "attack/independent");
            var uploads = new byte[4][];
            var manifests = new byte[4][];
            for (int b = 0; b < 4; b++)
            {
                ulong[] values = malicious && b == 3 ? Enumerable.Repeat((1UL << 44) - 1, 40).ToArray() : Input(b);
                byte[][] u = session.BankCoreForTestsOnly(b).Encrypt(Round, values, 1, parallel: false);
                if (malicious && b == 3)
                {
                    // flip payload bytes and re-sign: authentic but not a ciphertext of anything the bank knows
                    for (int i = RlweCodec.HeaderSize + 40; i < RlweCodec.HeaderSize + 80; i++) u[0][i] = 0;
                    SHA256.HashData(u[0].AsSpan(0, u[0].Length - RlweCodec.DigestSize)).AsSpan(0, RlweCodec.DigestSize).CopyTo(u[0].AsSpan(u[0].Length - RlweCodec.DigestSize));
                }
                uploads[b] = u[0];
                manifests[b] = session.BankCoreForTestsOnly(b).SignManifest(Round, u, parallel: false);
            }
            int[] all = [0, 1, 2, 3], active = [0, 1, 2];
            byte[] list = ContributorList.SignRound(session.AggregatorSigningKey, session.Scheme!.SessionTag, Round, RlweObjectKind.CompactCiphertext,
                [all.Select(b => new ContributorEntry(b, UploadDigest(uploads[b])))])[0];
            return active.Select(d =>
            {
                HomomorphicBank bank = session.BankCoreForTestsOnly(d);
                bank.ReceiveManifests(Round, 1, manifests);
                return bank.DecryptionShares(Round, 1, all, active, [list], parallel: false)[0];
            }).ToArray();
        }
        byte[][] honestRun = Shares(malicious: false), attackedRun = Shares(malicious: true);
        Assert.That(attackedRun, Is.EqualTo(honestRun));
    }

    [Test]
    public void ASecondEncryptionUnderTheSameCommonPolynomial_IsRefused()
    {
        using HomomorphicSession session = Session(3, null, null, "attack/reencrypt");
        HomomorphicBank bank = session.BankCoreForTestsOnly(0);
        bank.Encrypt(Round, Input(0), 2, parallel: false);
        // Two ciphertexts under a_{7,k} would subtract to Delta*(m - m') + noise, with no key at all.
        foreach (var (round, what) in new[] { (Round, "the same round"), (Round - 1, "an earlier round") })
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => bank.Encrypt(round, Input(9), 1, parallel: false), what);
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Refused), what);
        }
        Assert.DoesNotThrow(() => bank.Encrypt(Round + 1, Input(0), 1, parallel: false));
        // The record is per key generation (session tag); chunk ranges within a round must move forward.
        var ledger = new InMemoryDecryptionLedger();
        byte[] tag = new byte[16];
        Assert.That(ledger.TryRecordEncryption(tag, 3, 0, 2), Is.True);
        Assert.That(ledger.TryRecordEncryption(tag, 3, 1, 1), Is.False, "chunk 1 of round 3 again");
        Assert.That(ledger.TryRecordEncryption(tag, 3, 2, 1), Is.True, "the next chunk of the round");
        Assert.That(ledger.TryRecordEncryption([1, .. new byte[15]], 3, 0, 1), Is.True, "another key generation");
        // A value out of range is refused before anything is recorded.
        HomomorphicBank other = session.BankCoreForTestsOnly(1);
        Assert.Throws<ArgumentException>(() => other.Encrypt(Round, [1UL << 44], 1, parallel: false));
        Assert.DoesNotThrow(() => other.Encrypt(Round, Input(1), 1, parallel: false));
    }

    [Test]
    public void BodyDigestsFromEncryption_AreTheSpecDigests_AndSignTheSameManifest([Values(1, 3)] int chunks)
    {
        using HomomorphicSession session = Session(3, null, null, $"digests/{chunks}");
        HomomorphicBank bank = session.BankCoreForTestsOnly(0);
        byte[][] uploads = bank.Encrypt(Round, Input(0, length: 200), chunks, parallel: chunks > 1, out byte[][] digests);
        Assert.That(digests, Has.Length.EqualTo(chunks));
        for (int k = 0; k < chunks; k++)
        {
            Assert.That(digests[k], Is.EqualTo(UploadDigest(uploads[k])), $"chunk {k}: SHA-256 of the body (SPEC.md 12.2)");
            Assert.That(uploads[k][^16..], Is.EqualTo(digests[k][..16]), $"chunk {k}: the trailer is the digest's first half");
        }
        // Ed25519 is deterministic: the manifest signed from the kept digests is the one signed by hashing the uploads again.
        Assert.That(bank.SignManifestFromDigests(Round, digests), Is.EqualTo(bank.SignManifest(Round, uploads, parallel: false)));
    }

    [Test]
    public void Harness_UsesEveryBanksLedger_AndItsSumsStayExact()
    {
        var ledgers = Enumerable.Range(0, 4).Select(_ => new InMemoryDecryptionLedger()).ToArray();
        using var session = HomomorphicSession.SeededForTestsOnly(4, new HomomorphicOptions { Parameters = P, Ledgers = i => ledgers[i], Parallel = false }, [4, 2]);
        ulong[][] inputs = Enumerable.Range(0, 4).Select(b => Input(b)).ToArray();
        Assert.That(session.Sum(inputs, [0, 1, 2], out _), Is.EqualTo(Sum([0, 1, 2, 3])));
        Assert.That(session.Sum(inputs, [1, 2, 3], out _), Is.EqualTo(Sum([0, 1, 2, 3])));
        byte[] tag = session.Scheme!.SessionTag;
        Assert.That(ledgers.Select(l => l.AnswersRecorded(tag)), Is.EqualTo(new long[] { 1, 2, 2, 1 }));
        Assert.That(ledgers.All(l => !l.TryRecordEncryption(tag, session.Round, 0, 1)), Is.True, "every contributor recorded the round");
    }
}
