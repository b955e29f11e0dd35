using System.Numerics;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Threshold;

[TestFixture]
public sealed class ThresholdTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;

    private static ulong[] Values(RlweParameters p, int bank, int salt)
    {
        ulong t = 1UL << p.PlainModulusBits;
        var rnd = TestRandom.Plain(bank * 7919 + salt);
        return Enumerable.Range(0, p.N).Select(j => ((j + bank) % 4) switch { 0 => t - 1, 1 => t / 2, 2 => 0UL, _ => (ulong)rnd.NextInt64() & (t - 1) }).ToArray();
    }

    private static IEnumerable<int[]> Subsets(int banks, int size, int count, int seed)
    {
        yield return Enumerable.Range(0, size).ToArray();
        yield return Enumerable.Range(banks - size, size).ToArray();
        var rnd = TestRandom.Plain(seed);
        for (int k = 0; k < count; k++) yield return Enumerable.Range(0, banks).OrderBy(_ => rnd.Next()).Take(size).Order().ToArray();
    }

    [TestCase(3, 2, TestName = "Threshold/n=256/banks=3/T=2")]
    [TestCase(10, 6, TestName = "Threshold/n=256/banks=10/T=6")]
    [TestCase(100, 51, TestName = "Threshold/n=256/banks=100/T=51")]
    public void EveryTestedTSubset_DecryptsTheSum_AndNoTMinus1SubsetDoes(int banks, int threshold)
    {
        using var setup = ThresholdSetup.Create(Fast, banks, threshold, 2, $"threshold/{banks}/{threshold}");
        // Some banks never submit: contributors are all banks but every third one (at least 2).
        int[] contributors = Enumerable.Range(0, banks).Where(b => b % 3 != 2 || banks == 3).ToArray();
        uint chunk = 0;
        foreach (int[] active in Subsets(banks, threshold, 4, banks))
        {
            CompactCiphertext sum = setup.EncryptAndSum(1, chunk, contributors, b => Values(Fast, b, (int)chunk), out ulong[] expected);
            Assert.That(setup.Decrypt(sum, contributors, active), Is.EqualTo(expected), $"active set {string.Join(",", active)}");

            // Test-only: the Lagrange-weighted points recombine to S_U = sum of the contributors' secrets.
            var basis = Fast.Basis;
            var recombined = basis.Allocate(true);
            foreach (int j in active) basis.Add(recombined, setup.KeyShares[j].WeightedPoint(contributors, active), recombined);
            var secretSum = basis.Allocate(true);
            foreach (int i in contributors) basis.Add(secretSum, setup.Keys[i].Value, secretSum);
            Assert.That(recombined.Data, Is.EqualTo(secretSum.Data));

            // T-1 banks: the key shares refuse, and interpolating T-1 points (test-only) gives neither S_U nor the sum.
            int[] fewer = active[..^1];
            var ex = Assert.Throws<ProtocolViolationException>(() => setup.KeyShares[fewer[0]].GenDecryptionShare(1, chunk + 1000, contributors, fewer));
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Refused));
            if (fewer.Length > 0)
            {
                var partial = basis.Allocate(true);
                foreach (int j in fewer) basis.Add(partial, setup.KeyShares[j].WeightedPoint(contributors, fewer), partial);
                Assert.That(partial.Data, Is.Not.EqualTo(secretSum.Data));
                RnsPoly a = setup.Scheme.CommonPolynomial(1, chunk);
                basis.MulPointwise(partial, a, a);
                basis.FromNtt(a);
                basis.Add(a, setup.Scheme.Lift(sum), a);
                var wrong = new ulong[Fast.N];
                setup.Scheme.Encoder.Decode(a, wrong);
                int agree = wrong.Zip(expected).Count(x => x.First == x.Second);
                Assert.That(agree, Is.LessThan(Fast.N / 16), "T-1 points reveal (almost) nothing of the sum");
            }
            chunk++;
        }
    }

    private static readonly BigInteger Two64 = BigInteger.One << 64;

    private static BigInteger Mod(BigInteger a, BigInteger m) => ((a % m) + m) % m;

    /// <summary>Centred x mod 2^64, in [-2^63, 2^63).</summary>
    private static BigInteger Centred64(BigInteger x)
    {
        BigInteger r = Mod(x, Two64);
        return r >= Two64 / 2 ? r - Two64 : r;
    }

    /// <summary>SPEC.md 12.0 step 7, written out independently of SmudgingLemma: the switched combine is exact while
    /// 2^64 E / Q + (K + T)(1/2 + 2^-60) &lt; 2^(63-k), E = T (2^b - 1) + 19 K + K / 2. Compared as exact rationals
    /// (multiplied by 2^61 Q).</summary>
    private static bool SpecBoundHolds(RlweParameters p, int threshold, long contributors, int bits, long roundedWords)
    {
        BigInteger q = p.Basis.Q;
        BigInteger twiceE = 2 * (threshold * ((BigInteger.One << bits) - 1) + 19 * (BigInteger)contributors) + contributors;
        BigInteger lhs = (twiceE << 124) + roundedWords * ((BigInteger.One << 60) + 2) * q;
        return lhs < (q << (124 - p.PlainModulusBits));
    }

    /// <summary>b = lambda + ceil(log2 n) + ceil(log2 budget) + ceil(log2(19 K_max)) at the defaults lambda = 60, budget = 2^20
    /// (SPEC.md 12.0 step 5); ceil(log2 x) = the bit length of x - 1.</summary>
    private static int SpecBits(RlweParameters p, long maxContributors) =>
        60 + (int)((BigInteger)(p.N - 1)).GetBitLength() + 20 + (int)(19 * (BigInteger)maxContributors - 1).GetBitLength();

    [Test]
    public void MeasuredNoise_IsWithinTheAnalyticBound()
    {
        using var setup = ThresholdSetup.Create(Fast, 5, 3, 2, "threshold/noise");
        int[] contributors = [0, 1, 2, 3, 4], active = [1, 3, 4];
        int k = Fast.PlainModulusBits;
        CompactCiphertext sum = setup.EncryptAndSum(7, 3, contributors, b => Values(Fast, b, 1), out ulong[] expected);
        var shares = active.Select(j => setup.KeyShares[j].GenDecryptionShare(7, 3, contributors, active)).ToArray();
        var w = new ulong[Fast.N];
        ThresholdCombiner.SwitchedSumCore(setup.Scheme, sum, contributors, active, shares, w);
        // Switched-domain noise W - 2^(64-k) m, against 2^64 E / Q + (K + T)(1/2 + 2^-60) (SPEC.md 12.0 step 7), as exact
        // rationals times 2^61 Q.
        BigInteger q = Fast.Basis.Q;
        int b = setup.KeyShares[0].SmudgingBits;
        BigInteger twiceE = 2 * (active.Length * ((BigInteger.One << b) - 1) + 19 * contributors.Length) + contributors.Length;
        BigInteger bound61 = (twiceE << 124) + (contributors.Length + active.Length) * ((BigInteger.One << 60) + 2) * q;
        BigInteger worst = Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(Centred64((BigInteger)w[j] - ((BigInteger)expected[j] << (64 - k))))).Max();
        Assert.That((worst << 61) * q, Is.LessThanOrEqualTo(bound61));
        Assert.That(bound61, Is.LessThan(q << (124 - k)), "the bound is below 2^(63-k)");
        // The smudging alone (test-only, from the secrets and the unswitched shares): sum_j h_j - a S_U is the T banks'
        // uniform noise, present and within T (2^b - 1).
        var basis = Fast.Basis;
        RnsPoly secretSum = basis.Allocate(true);
        foreach (int i in contributors) basis.Add(secretSum, setup.Keys[i].Value, secretSum);
        RnsPoly aS = setup.Scheme.CommonPolynomial(7, 3);
        basis.MulPointwise(aS, secretSum, aS);
        basis.FromNtt(aS);
        RnsPoly smudging = basis.Allocate();
        foreach (int j in active) basis.Add(smudging, setup.KeyShares[j].GenUnswitchedShare(7, 3, contributors, active), smudging);
        basis.Sub(smudging, aS, smudging);
        BigInteger smudge = Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(basis.ReconstructCentered(smudging, j))).Max();
        Assert.That(smudge, Is.LessThanOrEqualTo(active.Length * ((BigInteger.One << b) - 1)));
        Assert.That(smudge, Is.GreaterThan(BigInteger.One << (b - 2)), "smudging is present");
    }

    [TestCase(3, 2, TestName = "Threshold/switched/n=256/banks=3/T=2")]
    [TestCase(10, 7, TestName = "Threshold/switched/n=256/banks=10/T=7")]
    [TestCase(100, 67, TestName = "Threshold/switched/n=256/banks=100/T=67")]
    public void SwitchedCombine_GivesExactSums_AtZero_Half_Max_AndRandom(int banks, int threshold)
    {
        using var setup = ThresholdSetup.Create(Fast, banks, threshold, 2, $"threshold/switched/{banks}");
        ulong t = 1UL << Fast.PlainModulusBits;
        int[] contributors = Enumerable.Range(0, banks).ToArray();
        int[] active = Enumerable.Range(banks - threshold, threshold).ToArray();
        var patterns = new (string Name, Func<int, ulong[]> Values)[]
        {
            ("0", b => new ulong[Fast.N]),
            ("t/2", b => Enumerable.Repeat(t / 2, Fast.N).ToArray()),
            ("t-1", b => Enumerable.Repeat(t - 1, Fast.N).ToArray()),
            ("random", b => { var r = TestRandom.Plain(banks * 1000 + b); return Enumerable.Range(0, Fast.N).Select(_ => (ulong)r.NextInt64() & (t - 1)).ToArray(); }),
        };
        uint chunk = 0;
        foreach (var (name, values) in patterns)
        {
            CompactCiphertext sum = setup.EncryptAndSum(2, chunk, contributors, values, out ulong[] expected);
            // The plaintext sum, by schoolbook arithmetic: N copies of the value mod t (or the random vectors' sum).
            if (name != "random") Assert.That(expected, Is.All.EqualTo((ulong)((BigInteger)values(0)[0] * banks % t)));
            Assert.That(setup.Decrypt(sum, contributors, active), Is.EqualTo(expected), name);
            chunk++;
        }
    }

    [Test]
    public void SwitchedShare_IsTheExactRounding_Of2To64TimesHOverQ()
    {
        using var setup = ThresholdSetup.Create(Fast, 4, 3, 2, "threshold/switched-share");
        int[] contributors = [0, 1, 3], active = [0, 2, 3];
        BigInteger q = Fast.Basis.Q;
        foreach (int j in active)
        {
            byte[] bytes = setup.KeyShares[j].GenDecryptionShare(4, 1, contributors, active);
            Assert.That(bytes, Has.Length.EqualTo(DecryptionShare.SerializedSize(Fast)));
            Assert.That(bytes.Length, Is.EqualTo(56 + 64 + 8 * Fast.N + 16), "kind 11: header, 64-byte context, n u64 words, trailer");
            Assert.That(bytes[5], Is.EqualTo(11));
            DecryptionShare parsed = DecryptionShare.Deserialize(Fast, bytes);
            RnsPoly h = setup.KeyShares[j].GenUnswitchedShare(4, 1, contributors, active);
            for (int c = 0; c < Fast.N; c++)
            {
                BigInteger x = Fast.Basis.Reconstruct(h, c);
                BigInteger exact = Mod((2 * Two64 * x + q) / (2 * q), Two64);   // floor(2^64 x / Q + 1/2); Q odd: never a tie
                Assert.That((BigInteger)parsed.Words[c], Is.EqualTo(exact), $"bank {j}, coefficient {c}");
            }
        }
    }

    // The old combine (lift C0' to Q, add the unswitched shares mod Q, decode in RNS) and the switched one (add the words mod
    // 2^64, shift) agree on the same inputs: on protocol runs, and on synthetic phases Delta m + e whose noise e reaches
    // the edge of the region where the switched combine is exact (T shares rounded: |e| <= (2^(63-k) - T - 1) Q / 2^64),
    // which lies inside the old decoder's region (|e| <= Q/(2t) (1 - 2^-58)).
    [TestCase(3, 2, TestName = "Threshold/switched-vs-rns/banks=3/T=2")]
    [TestCase(10, 7, TestName = "Threshold/switched-vs-rns/banks=10/T=7")]
    public void SwitchedCombine_EqualsTheRnsCombine_WhereverTheRnsOneIsWithinItsBound(int banks, int threshold)
    {
        using var setup = ThresholdSetup.Create(Fast, banks, threshold, 2, $"threshold/switched-vs-rns/{banks}");
        RnsBasis basis = Fast.Basis;
        BigInteger q = basis.Q;
        int k = Fast.PlainModulusBits;
        int[] contributors = Enumerable.Range(0, banks).ToArray();
        var rnd = TestRandom.Plain(banks);
        ulong[] RnsCombine(CompactCiphertext sum, IEnumerable<RnsPoly> unswitched)
        {
            RnsPoly phase = setup.Scheme.Lift(sum);
            foreach (RnsPoly h in unswitched) basis.Add(phase, h, phase);
            var m = new ulong[Fast.N];
            setup.Scheme.Encoder.Decode(phase, m);
            return m;
        }
        // Protocol runs: random active sets and values.
        for (uint chunk = 0; chunk < 4; chunk++)
        {
            int[] active = contributors.OrderBy(_ => rnd.Next()).Take(threshold).Order().ToArray();
            CompactCiphertext sum = setup.EncryptAndSum(3, chunk, contributors, b => Values(Fast, b, (int)chunk + 10), out ulong[] expected);
            ulong[] rns = RnsCombine(sum, active.Select(j => setup.KeyShares[j].GenUnswitchedShare(3, chunk, contributors, active)));
            Assert.That(setup.Decrypt(sum, contributors, active), Is.EqualTo(rns));
            Assert.That(rns, Is.EqualTo(expected));
        }
        // Synthetic phases: C0' random words; T - 1 shares uniform mod Q; the last share completes C0 + sum h_j to
        // round(Q m / t) + e mod Q. Both combines must give m.
        var sw = new ModulusSwitch(Fast);
        BigInteger edge = (((BigInteger.One << (63 - k)) - threshold - 1) * q) >> 64;
        Assert.That(edge, Is.LessThan(setup.Scheme.Encoder.NoiseCapacity));
        for (int trial = 0; trial < 3; trial++)
        {
            CompactCiphertext sum = setup.Scheme.AllocateSum(9, (uint)trial);
            for (int j = 0; j < Fast.N; j++) sum.Words[j] = (ulong)rnd.NextInt64() ^ ((ulong)rnd.Next(2) << 63);
            RnsPoly c0 = setup.Scheme.Lift(sum);
            var m = new ulong[Fast.N];
            var shares = new RnsPoly[threshold];
            for (int i = 0; i < threshold; i++) shares[i] = basis.Allocate();
            var bytes = new byte[32];
            for (int j = 0; j < Fast.N; j++)
            {
                m[j] = (ulong)rnd.NextInt64() & ((1UL << k) - 1);
                BigInteger e = j switch { 0 => edge, 1 => -edge, 2 => 0, _ => Mod(new BigInteger(RandomBytes(rnd, bytes), isUnsigned: true), 2 * edge + 1) - edge };
                BigInteger target = Mod((q * m[j] * 2 + (BigInteger.One << k)) / (BigInteger.One << (k + 1)) + e, q);   // round(Q m / t) + e
                BigInteger rest = Mod(target - basis.Reconstruct(c0, j), q);
                for (int i = 0; i < threshold - 1; i++)
                {
                    BigInteger h = Mod(new BigInteger(RandomBytes(rnd, bytes), isUnsigned: true), q);
                    SetCoefficient(basis, shares[i], j, h);
                    rest = Mod(rest - h, q);
                }
                SetCoefficient(basis, shares[threshold - 1], j, rest);
            }
            Assert.That(RnsCombine(sum, shares), Is.EqualTo(m), "the RNS combine is within its bound");
            var words = new ulong[Fast.N];
            var w = (ulong[])sum.Words.Clone();
            foreach (RnsPoly h in shares)
            {
                sw.Switch(h, words);
                for (int j = 0; j < Fast.N; j++) w[j] = unchecked(w[j] + words[j]);
            }
            ulong[] switched = w.Select(x => unchecked(x + (1UL << (63 - k))) >> (64 - k)).ToArray();
            Assert.That(switched, Is.EqualTo(m), $"trial {trial}");
        }
    }

    private static byte[] RandomBytes(Random rnd, byte[] buffer) { rnd.NextBytes(buffer); return buffer; }

    private static void SetCoefficient(RnsBasis basis, RnsPoly poly, int j, BigInteger value)
    {
        for (int i = 0; i < basis.Count; i++) poly.Data[i * basis.N + j] = (ulong)(value % basis.Primes[i]);
    }

    // SmudgingLemma refuses a policy whose opened sums would not decode exactly in Z_{2^64}. At n = 256, log Q = 180,
    // k = 44 the smudging adds only ~2^-2 to the switched noise even at b = 113, so the edge is set by the roundings: K_max
    // uploads and T shares, 1/2 + 2^-60 each, must stay below 2^(63-k) = 2^19. The test finds the largest K_max that
    // SPEC.md 12.0 step 7's inequality admits (computed here independently) and expects it accepted and K_max + 1 refused.
    [TestCase(2, TestName = "Threshold/policy-bound/T=2")]
    [TestCase(7, TestName = "Threshold/policy-bound/T=7")]
    public void SwitchedNoisePolicy_JustInsideIsAccepted_JustPastIsRefused(int threshold)
    {
        RlweParameters p = Fast;
        DecryptionPolicy Policy(long maxContributors) => new() { Threshold = threshold, MinContributors = 2, MaxColluders = 0, MaxContributors = (int)maxContributors };
        long inside = (1L << 20) + 16;
        while (!SpecBoundHolds(p, threshold, inside, SpecBits(p, inside), inside + threshold)) inside--;
        Assert.That(SpecBoundHolds(p, threshold, inside + 1, SpecBits(p, inside + 1), inside + 1 + threshold), Is.False);
        // Schoolbook estimate: the smudging's share of the switched noise is s = 2^64 T (2^b - 1) / Q (about T / 8 here; the fresh
        // errors and the 2^-60 terms are below 2^-30), so (K_max + T) / 2 + s < 2^19 admits K_max + T = ceil(2^20 - 2 s) - 1.
        int b = SpecBits(p, inside);
        double smudging = (double)((threshold * ((BigInteger.One << b) - 1)) << 64) / (double)p.Basis.Q;
        Assert.That(inside, Is.EqualTo((long)Math.Ceiling((1 << 20) - 2 * smudging) - 1 - threshold));
        // Without the T share roundings (the count before this revision) K_max + 1 would have passed: they are what refuses it.
        Assert.That(SpecBoundHolds(p, threshold, inside + 1, SpecBits(p, inside + 1), inside + 1), Is.True);

        int bits = SmudgingLemma.Bits(p, Policy(inside));
        Assert.That(bits, Is.EqualTo(SpecBits(p, inside)));
        var ex = Assert.Throws<ProtocolViolationException>(() => SmudgingLemma.Bits(p, Policy(inside + 1)))!;
        Assert.That(ex.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.That(ex.Message, Does.Contain("2^(63-k)"));
        // The same refusal where a bank builds its key share (SPEC.md 12.3 checks first, then the noise).
        using var rng = TestRandom.Create("policy-bound");
        var refused = Assert.Throws<ProtocolViolationException>(() => new ThresholdKeyShare(new CompactScheme(p, new byte[32]), 0, threshold + 1,
            Policy(inside + 1), [], rng))!;
        Assert.That((refused.Reason, refused.Message.Contains("2^(63-k)")), Is.EqualTo((ViolationReason.InsecureParameters, true)));
        // The default set: the usual K_max = 256 is far inside; K_max = 2^20 is refused.
        Assert.That(SmudgingLemma.Bits(ParameterSets.Default, Policy(256)), Is.EqualTo(106));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => SmudgingLemma.Bits(ParameterSets.Default, Policy(1 << 20)))!.Reason,
            Is.EqualTo(ViolationReason.InsecureParameters));
    }

    [Test]
    public void RequestChecks_AreTyped_AndShareGenerationIsDeterministicPerRequest()
    {
        using var setup = ThresholdSetup.Create(Fast, 5, 3, 3, "threshold/refusals", budget: 3);
        int[] contributors = [0, 1, 2], active = [0, 1, 2];
        ThresholdKeyShare bank0 = setup.KeyShares[0];
        byte[] first = bank0.GenDecryptionShare(1, 0, contributors, active);
        // The same request again: the identical bytes (smudging from a PRF of the request), whatever the order.
        Assert.That(bank0.GenDecryptionShare(1, 0, contributors, active), Is.EqualTo(first));
        Assert.That(bank0.GenDecryptionShare(1, 0, [2, 0, 1], [1, 2, 0]), Is.EqualTo(first), "order does not matter");
        Assert.That(bank0.GenDecryptionShare(1, 0, contributors, [0, 3, 4]), Is.Not.EqualTo(first), "another active set is another share");
        // Fewer than K_min contributors (and never a single bank); outside the roster; a wrong active set.
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, [0, 1], active))!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, [4], active))!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, [0, 1, 9], active))!.Reason, Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, [0, 1, 1], active))!.Reason, Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, contributors, [1, 2, 3]))!.Reason, Is.EqualTo(ViolationReason.Refused), "D without this bank");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank0.GenDecryptionShare(1, 1, contributors, [0, 1]))!.Reason, Is.EqualTo(ViolationReason.Refused), "|D| != T");
        // K_min below 2 is refused when the key share is built.
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdSetup.Create(Fast, 3, 2, 1, "threshold/kmin1"))!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
    }

    [Test]
    public void Combine_RefusesTamperedOrMismatchedShares()
    {
        using var setup = ThresholdSetup.Create(Fast, 4, 3, 2, "threshold/combine");
        int[] contributors = [0, 1, 2, 3], active = [1, 2, 3];
        CompactCiphertext sum = setup.EncryptAndSum(1, 0, contributors, b => Values(Fast, b, 2), out _);
        byte[][] shares = active.Select(j => setup.KeyShares[j].GenDecryptionShare(1, 0, contributors, active)).ToArray();
        var output = new ulong[Fast.N];
        byte[] tampered = (byte[])shares[0].Clone();
        tampered[RlweCodec.HeaderSize + 70] ^= 0x10;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, contributors, active, [tampered, shares[1], shares[2]], output))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, contributors, active, [shares[0], shares[0], shares[2]], output))!.Reason, Is.EqualTo(ViolationReason.UnknownSender));
        // One bit of any payload word flipped: the trailer no longer matches (Malformed), before any addition.
        foreach (int word in new[] { 0, Fast.N / 2, Fast.N - 1 })
            foreach (int bit in new[] { 0, 63 })
            {
                byte[] flippedShare = (byte[])shares[1].Clone();
                flippedShare[RlweCodec.HeaderSize + DecryptionShare.ContextSize + 8 * word + bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, contributors, active, [shares[0], flippedShare, shares[2]], output))!.Reason,
                    Is.EqualTo(ViolationReason.Malformed), $"word {word}, bit {bit}");
                Assert.That(Assert.Throws<ProtocolViolationException>(() => DecryptionShare.Deserialize(Fast, flippedShare))!.Reason, Is.EqualTo(ViolationReason.Malformed));
            }
        // The retired kind 6 (h_j as packed residues) is refused, even with a recomputed trailer.
        byte[] kind6 = (byte[])shares[1].Clone();
        kind6[5] = 6;
        System.Security.Cryptography.SHA256.HashData(kind6.AsSpan(0, kind6.Length - RlweCodec.DigestSize)).AsSpan(0, RlweCodec.DigestSize).CopyTo(kind6.AsSpan(kind6.Length - RlweCodec.DigestSize));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, contributors, active, [shares[0], kind6, shares[2]], output))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => DecryptionShare.Deserialize(Fast, kind6))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, [0, 1, 2], active, shares, output))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => ThresholdCombiner.Combine(setup.Scheme, sum, contributors, active, [shares[0], shares[1]], output))!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        // Serialized uploads are validated before they touch the sum; a refused one leaves it unchanged.
        byte[] before = sum.Serialize();
        byte[] upload = setup.Scheme.Encrypt(setup.Keys[0], 0, 1, 0, [1], setup.Rng).Serialize();
        Assert.That(Assert.Throws<ProtocolViolationException>(() => setup.Scheme.AddSerialized(sum, upload, 1))!.Reason, Is.EqualTo(ViolationReason.UnknownSender));
        byte[] otherChunk = setup.Scheme.Encrypt(setup.Keys[0], 0, 1, 1, [1], setup.Rng).Serialize();
        Assert.That(Assert.Throws<ProtocolViolationException>(() => setup.Scheme.AddSerialized(sum, otherChunk, 0))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
        byte[] flipped = (byte[])upload.Clone();
        flipped[^40] ^= 1;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => setup.Scheme.AddSerialized(sum, flipped, 0))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(sum.Serialize(), Is.EqualTo(before));
        setup.Scheme.AddSerialized(sum, upload, 0);
        Assert.That(sum.Serialize(), Is.Not.EqualTo(before));
        // Ciphertexts of another round cannot be added into this sum.
        CompactCiphertext other = setup.Scheme.Encrypt(setup.Keys[0], 0, 2, 0, [1], setup.Rng);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => setup.Scheme.AddInPlace(sum, other))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    [Test]
    public void Crs_RevealNotMatchingCommitment_IsRefused()
    {
        using var rng = TestRandom.Create("crs");
        byte[] session = [1, 2, 3];
        var c = Enumerable.Range(0, 3).Select(b => CrsContribution.Create(session, b, rng)).ToArray();
        var commitments = c.ToDictionary(x => x.Bank, x => x.Commitment);
        var reveals = c.ToDictionary(x => x.Bank, x => x.Reveal());
        byte[] seed = CommonRandomness.DeriveSeed(session, 3, commitments, reveals);
        Assert.That(CommonRandomness.DeriveSeed(session, 3, commitments, reveals), Is.EqualTo(seed));
        reveals[1][0] ^= 1;
        Assert.That(Assert.Throws<ProtocolViolationException>(() => CommonRandomness.DeriveSeed(session, 3, commitments, reveals))!.Reason, Is.EqualTo(ViolationReason.AuthenticationFailed));
        reveals.Remove(1);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => CommonRandomness.DeriveSeed(session, 3, commitments, reveals))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        // Distinct (round, chunk) give distinct common polynomials; the same one is reproducible.
        var p = Fast;
        ulong[] again = CommonRandomness.Expand(p, seed, CrpPurpose.CompactCiphertext, 1, 0).Data;
        Assert.That(CommonRandomness.Expand(p, seed, CrpPurpose.CompactCiphertext, 1, 0).Data, Is.EqualTo(again));
        Assert.That(CommonRandomness.Expand(p, seed, CrpPurpose.CompactCiphertext, 1, 1).Data, Is.Not.EqualTo(CommonRandomness.Expand(p, seed, CrpPurpose.CompactCiphertext, 1, 0).Data));
        Assert.That(CommonRandomness.Expand(p, seed, CrpPurpose.PublicKey, 1, 0).Data, Is.Not.EqualTo(CommonRandomness.Expand(p, seed, CrpPurpose.CompactCiphertext, 1, 0).Data));
    }

    [Test]
    public void CollectivePublicKey_EncryptsUnderTheSumOfSecrets()
    {
        using var rng = TestRandom.Create("ckg");
        var p = Fast;
        var bfv = new Bfv(p);
        byte[] seed = new byte[32]; rng.GetBytes(seed);
        RnsPoly crp = CommonRandomness.Expand(p, seed, CrpPurpose.PublicKey, 0, 0);
        var ckg = new PublicKeyGenProtocol(p);
        SecretKey[] keys = Enumerable.Range(0, 4).Select(_ => bfv.GenerateSecretKey(rng)).ToArray();
        PublicKeyShare aggregate = ckg.AllocateShare();
        foreach (var (k, i) in keys.Select((k, i) => (k, i)))
        {
            PublicKeyShare share = ckg.GenShare(i, k, crp, rng);
            byte[] commitment = share.Commitment();
            PublicKeyShare received = PublicKeyShare.Deserialize(p, share.Serialize());
            Assert.That(received.Commitment(), Is.EqualTo(commitment));
            ckg.AggregateShares(received, aggregate);
        }
        PublicKey pk = ckg.GenPublicKey(aggregate, crp);
        ulong[] m = Values(p, 0, 9);
        Ciphertext ct = bfv.Encrypt(pk, m, rng);
        // Test-only: the collective secret s = sum s_i decrypts.
        var s = p.Basis.Allocate(true);
        foreach (SecretKey k in keys) p.Basis.Add(s, k.Value, s);
        using var collective = new SecretKey(p, s);
        var decoded = new ulong[p.N];
        bfv.Decrypt(collective, ct, decoded);
        Assert.That(decoded, Is.EqualTo(m));
        foreach (SecretKey k in keys) k.Dispose();
    }

    [Test]
    public void EveryShareType_RoundTrips()
    {
        using var setup = ThresholdSetup.Create(Fast, 3, 2, 2, "threshold/roundtrip");
        var thr = new Thresholdizer(Fast);
        using ShamirPolynomial f = thr.GenShamirPolynomial(2, setup.Keys[0], setup.Rng);
        using ShamirShare point = thr.GenShareForParty(f, 0, 2);
        byte[] pointBytes = point.Serialize();
        using ShamirShare pointBack = ShamirShare.Deserialize(Fast, pointBytes);
        Assert.That((pointBack.From, pointBack.To), Is.EqualTo((0, 2)));
        Assert.That(pointBack.Serialize(), Is.EqualTo(pointBytes));
        CompactCiphertext ct = setup.Scheme.Encrypt(setup.Keys[1], 1, 5, 6, [1, 2, 3], setup.Rng);
        byte[] ctBytes = ct.Serialize();
        Assert.That(ctBytes, Has.Length.EqualTo(CompactCiphertext.SerializedSize(Fast)));
        CompactCiphertext ctBack = CompactCiphertext.Deserialize(Fast, ctBytes);
        Assert.That((ctBack.Round, ctBack.Chunk, ctBack.Sender), Is.EqualTo((5UL, 6U, 1)));
        Assert.That(ctBack.Serialize(), Is.EqualTo(ctBytes));
        byte[] share = setup.KeyShares[1].GenDecryptionShare(5, 6, [0, 1, 2], [1, 2]);
        DecryptionShare shareBack = DecryptionShare.Deserialize(Fast, share);
        Assert.That((shareBack.Round, shareBack.Chunk, shareBack.Sender), Is.EqualTo((5UL, 6U, 1)));
        Assert.That(shareBack.Serialize(), Is.EqualTo(share));
        // A flipped bit in any of them is a typed refusal.
        foreach (byte[] bytes in new[] { pointBytes, ctBytes, share })
        {
            byte[] t = (byte[])bytes.Clone();
            t[t.Length / 2] ^= 4;
            Assert.Throws<ProtocolViolationException>(() =>
            {
                if (bytes == pointBytes) ShamirShare.Deserialize(Fast, t);
                else if (bytes == ctBytes) CompactCiphertext.Deserialize(Fast, t);
                else DecryptionShare.Deserialize(Fast, t);
            });
        }
    }

    [Test]
    public void EncryptToBytes_EqualsEncryptThenSerialize_ForTheSameRandomness()
    {
        using var setup = ThresholdSetup.Create(Fast, 3, 2, 2, "threshold/encrypt-to-bytes");
        ulong[] m = Values(Fast, 1, 4);
        using var r1 = TestRandom.Create("same");
        using var r2 = TestRandom.Create("same");
        byte[] direct = setup.Scheme.EncryptToBytes(setup.Keys[1], 1, 3, 4, m, r1);
        byte[] viaObject = setup.Scheme.Encrypt(setup.Keys[1], 1, 3, 4, m, r2).Serialize();
        Assert.That(direct, Is.EqualTo(viaObject));
    }

    [Test]
    public void RealParameters_EndToEnd_n8192_banks3_T2()
    {
        using var setup = ThresholdSetup.Create(ParameterSets.Default, 3, 2, 2, "Threshold/n=8192/banks=3/T=2");
        int[] contributors = [0, 2], active = [1, 2];
        CompactCiphertext sum = setup.EncryptAndSum(1, 0, contributors, b => Values(ParameterSets.Default, b, 3), out ulong[] expected);
        Assert.That(setup.Decrypt(sum, contributors, active), Is.EqualTo(expected));
        Assert.That(setup.KeyShares[1].SmudgingBits, Is.GreaterThanOrEqualTo(100));
    }
}
