using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HomomorphicSecureSumTests
{
    private static HomomorphicOptions Fast(int threshold, int? kMin = null) => new()
    {
        Parameters = InsecureTestParameters.N256,
        Threshold = threshold,
        MinContributors = kMin,
    };

    /// <summary>A session seeded from <paramref name="label"/> (reproducible; the only seeding path is the test-only factory).</summary>
    private static HomomorphicSecureSum Seeded(int banks, int bits, string label, HomomorphicOptions options) =>
        HomomorphicSecureSum.SeededForTestsOnly(banks, bits, options, System.Text.Encoding.UTF8.GetBytes(label));

    /// <summary>Collects reports on the reporting thread, in order (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class Collect<T> : IProgress<T>
    {
        public List<T> Seen { get; } = [];
        public void Report(T value) => Seen.Add(value);
    }

    [Test]
    public void SetupProgress_ReportsEveryBankOfEverySetupStage_InOrder_AndAgainAtRekey()
    {
        const int banks = 4;
        var progress = new Collect<HomomorphicSetupProgress>();
        using var session = HomomorphicSession.SeededForTestsOnly(banks, Fast(3) with { MaxColluders = 0, SetupProgress = progress }, "he/progress"u8);
        var stages = progress.Seen.Select(p => p.Stage).Distinct().ToList();
        Assert.Multiple(() =>
        {
            // SPEC.md 12.0 steps 1-3: CRS commit and reveal, key share commit and reveal, channel adverts, the sealed points, key ready.
            Assert.That(stages, Is.EqualTo(new[] { "CrsCommit", "CrsReveal", "KeyShareCommit", "KeyShareReveal", "ChannelAdverts", "Thresholdize", "KeyReady" }));
            foreach (string stage in stages)
                Assert.That(progress.Seen.Where(p => p.Stage == stage).Select(p => p.BanksDone), Is.EqualTo(Enumerable.Range(1, banks)), stage);
            Assert.That(progress.Seen.Select(p => p.Banks), Has.All.EqualTo(banks));
        });
        int before = progress.Seen.Count;
        session.Rekey();
        Assert.That(progress.Seen.Count - before, Is.EqualTo(before), "a rekey runs the same setup");
    }

    private static ulong[][] Inputs(int banks, int length, int bits, int seed)
    {
        var rnd = new Random(seed);
        ulong max = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        return Enumerable.Range(0, banks).Select(b => Enumerable.Range(0, length)
            .Select(j => (j % 5) switch { 0 => max, 1 => 0UL, _ => (ulong)rnd.NextInt64() & max }).ToArray()).ToArray();
    }

    [TestCase(3, 2, 32, 700, TestName = "HeSum/n=256/banks=3/T=2/k=32")]
    [TestCase(10, 7, 44, 1000, TestName = "HeSum/n=256/banks=10/T=7/k=44")]
    [TestCase(10, 7, 20, 256, TestName = "HeSum/n=256/banks=10/T=7/k=20/one-chunk")]
    public void Sums_EqualThePlainModularSum_OverSeveralRounds(int banks, int threshold, int bits, int length)
    {
        using var he = Seeded(banks, bits, $"he/{banks}/{bits}", Fast(threshold));
        var plain = new PlainSum(banks, bits);
        Assert.That(he.Mode, Is.EqualTo("he"));
        for (int round = 0; round < 3; round++)
        {
            ulong[][] inputs = Inputs(banks, length, bits, round);
            SecureSumResult result = he.Sum(inputs);
            Assert.That(result.Sum, Is.EqualTo(plain.Sum(inputs).Sum), $"round {round}");
            Assert.That(result.Contributors, Is.EqualTo(Enumerable.Range(0, banks).ToArray()));
            int chunks = (length + 255) / 256;
            Assert.That(result.BytesUploaded, Is.GreaterThanOrEqualTo((long)banks * chunks * CompactCiphertext(InsecureTestParameters.N256)));
        }
    }

    private static int CompactCiphertext(RlweParameters p) => FraudFed.Cryptography.Threshold.CompactCiphertext.SerializedSize(p);

    [Test]
    public void BanksThatNeverSubmit_AreLeftOut_AndAnyTOnlineBanksDecrypt()
    {
        const int banks = 10, bits = 32;
        using var he = Seeded(banks, bits, "he/offline", Fast(7));
        he.OfflineBanks.UnionWith([1, 4, 7]);
        var plain = new PlainSum(banks, bits);
        for (int round = 0; round < 4; round++) // decryptor set rotates over the 7 online banks
        {
            ulong[][] inputs = Inputs(banks, 600, bits, 10 + round);
            SecureSumResult result = he.Sum(inputs);
            ulong[][] onlineOnly = inputs.Select((v, b) => he.OfflineBanks.Contains(b) ? new ulong[v.Length] : v).ToArray();
            Assert.That(result.Sum, Is.EqualTo(plain.Sum(onlineOnly).Sum));
            Assert.That(result.Contributors, Is.EqualTo(new[] { 0, 2, 3, 5, 6, 8, 9 }));
        }
        he.OfflineBanks.UnionWith([0, 2]); // 5 online < T = 7
        var ex = Assert.Throws<ProtocolViolationException>(() => he.Sum(Inputs(banks, 10, bits, 99)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
    }

    [Test]
    public void Session_DecryptsWithAnExplicitDecryptorSet_AndRefusesTooFewContributors()
    {
        using var session = HomomorphicSession.SeededForTestsOnly(5, Fast(3, kMin: 3) with { MaxColluders = 0 }, "he/session"u8); // 2T = 6 > N + c = 5
        ulong[]?[] inputs = [[1, 2, 3], null, [10, 20, 30], null, [100, 200, 300]];
        ulong[] sum = session.Sum(inputs, [1, 3, 4], out int[] contributors);
        Assert.That(sum, Is.EqualTo(new ulong[] { 111, 222, 333 }));
        Assert.That(contributors, Is.EqualTo(new[] { 0, 2, 4 }));
        ulong[]?[] two = [[1], null, [2], null, null];
        var ex = Assert.Throws<ProtocolViolationException>(() => session.Sum(two, [0, 1, 2], out _));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(session.SetupBytesUploaded, Is.GreaterThan(0));
        Assert.That(session.CollectivePublicKeyDigest, Has.Length.EqualTo(32), "every bank reported the same collective key");
    }

    [Test]
    public void SpentDecryptionBudget_RotatesKeys_AndSumsStayExact()
    {
        const int banks = 4, bits = 40;
        var options = Fast(3) with { DecryptionBudget = 3 };
        using var he = Seeded(banks, bits, "he/rekey", options);
        var plain = new PlainSum(banks, bits);
        Assert.That(he.Session.KeyGeneration, Is.EqualTo(1));
        byte[] firstSession = he.Session.SessionId;
        for (int round = 0; round < 3; round++)
        {
            ulong[][] inputs = Inputs(banks, 700, bits, 50 + round); // 3 chunks at n = 256: a whole budget per sum
            Assert.That(he.Sum(inputs).Sum, Is.EqualTo(plain.Sum(inputs).Sum), $"round {round}");
        }
        Assert.That(he.Session.KeyGeneration, Is.GreaterThanOrEqualTo(2));
        Assert.That(he.Session.SessionId, Is.Not.EqualTo(firstSession));
        var ex = Assert.Throws<ProtocolViolationException>(() => he.Sum(Inputs(banks, 1000, bits, 60))); // 4 chunks > budget 3
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.BudgetExhausted));
    }

    [Test]
    public void OutOfRangeInputs_AreRejectedLoudly()
    {
        using var he = Seeded(3, 16, "he/range", Fast(2));
        Assert.Throws<ArgumentException>(() => he.Sum([[1], [1UL << 16], [0]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = Seeded(3, 45, "he/k45", Fast(2)));
    }

    [Test]
    public void RealParameters_EndToEnd_n8192_banks4_T3()
    {
        const int banks = 4, bits = 32;
        using var he = HomomorphicSecureSum.SeededForTestsOnly(banks, bits, new HomomorphicOptions { Threshold = 3 }, [1, 2, 3]);
        Assert.That(he.Session.Parameters.N, Is.EqualTo(8192));
        ulong[][] inputs = Inputs(banks, 9000, bits, 5); // two chunks, the second partial
        SecureSumResult result = he.Sum(inputs);
        Assert.That(result.Sum, Is.EqualTo(new PlainSum(banks, bits).Sum(inputs).Sum));
        // Compact upload: at most 24 bytes per value for full chunks.
        double perValue = (double)FraudFed.Cryptography.Threshold.CompactCiphertext.SerializedSize(he.Session.Parameters) / 8192;
        Assert.That(perValue, Is.LessThanOrEqualTo(24.0));
    }

    [Test]
    public void QuantizedSums_ThatCouldWrap_AreRefusedAtSetup_AndTheLargestAdmissibleRosterIsExact()
    {
        // Quantizer(12, 1, 170): M = 170, and 13 x 170 = 2210 > 2^11 - 1 = 2047. Before, 13 banks at +C decoded to about -11.
        var q = new FraudFed.Protocol.Quantization.Quantizer(12, 1.0, 170);
        var ex = Assert.Throws<ProtocolViolationException>(() => _ = Seeded(13, 12, "he/wrap13", Fast(9) with { Quantizer = q }));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.That(ex.Message, Does.Contain("wrap").And.Contain("k >= 13"));
        Assert.That(q.MaxBanks, Is.EqualTo(12));
        using var he = Seeded(12, 12, "he/wrap12", Fast(8) with { Quantizer = q });
        using var rng = System.Security.Cryptography.RandomNumberGenerator.Create();
        double[][] atBound = Enumerable.Range(0, 12).Select(_ => new[] { 1.0, -1.0, 0.0 }).ToArray();
        var (sum, _, clipped) = he.SumReal(atBound, rng);
        Assert.That(sum, Is.EqualTo(new[] { 12.0, -12.0, 0.0 }));
        Assert.That(clipped, Is.All.Zero);
        Assert.Throws<ArgumentException>(() => _ = Seeded(3, 16, "he/wrap-k", Fast(2) with { Quantizer = q }), "the quantizer's k must be the sum's");
    }
}
