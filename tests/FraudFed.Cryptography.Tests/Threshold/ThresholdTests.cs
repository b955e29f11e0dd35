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

    [Test]
    public void MeasuredNoise_IsWithinTheAnalyticBound()
    {
        using var setup = ThresholdSetup.Create(Fast, 5, 3, 2, "threshold/noise");
        int[] contributors = [0, 1, 2, 3, 4], active = [1, 3, 4];
        CompactCiphertext sum = setup.EncryptAndSum(7, 3, contributors, b => Values(Fast, b, 1), out ulong[] expected);
        var shares = active.Select(j => setup.KeyShares[j].GenDecryptionShare(7, 3, contributors, active)).ToArray();
        RnsPoly phase = ThresholdCombiner.PhaseCore(setup.Scheme, sum, contributors, active, shares);
        var scaled = Fast.Basis.Allocate();
        setup.Scheme.Encoder.AddScaled(expected, scaled);
        Fast.Basis.Sub(phase, scaled, phase);
        BigInteger max = Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(Fast.Basis.ReconstructCentered(phase, j))).Max();
        int b = setup.KeyShares[0].SmudgingBits;
        // Smudging, fresh errors, and the switch of every upload to 2^64 and the lift of the sum (SPEC.md 12.0 steps 4, 7).
        BigInteger rounding = ModulusSwitch.RoundingBound(Fast, contributors.Length);
        BigInteger bound = active.Length * ((BigInteger.One << b) - 1) + contributors.Length * Samplers.GaussianBound + rounding;
        Assert.That(max, Is.LessThanOrEqualTo(bound));
        Assert.That(bound, Is.LessThan(setup.Scheme.Encoder.NoiseCapacity));
        // The smudging alone (test-only, from the secrets): sum_j h_j - a S_U is the T banks' uniform noise.
        var basis = Fast.Basis;
        RnsPoly secretSum = basis.Allocate(true);
        foreach (int i in contributors) basis.Add(secretSum, setup.Keys[i].Value, secretSum);
        RnsPoly aS = setup.Scheme.CommonPolynomial(7, 3);
        basis.MulPointwise(aS, secretSum, aS);
        basis.FromNtt(aS);
        RnsPoly smudging = basis.Allocate();
        foreach (byte[] share in shares) RlweCodec.ReadAndAdd(Fast, share, RlweObjectKind.DecryptionShare, DecryptionShare.ContextSize, smudging);
        basis.Sub(smudging, aS, smudging);
        BigInteger smudge = Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(basis.ReconstructCentered(smudging, j))).Max();
        Assert.That(smudge, Is.LessThanOrEqualTo(active.Length * ((BigInteger.One << b) - 1)));
        Assert.That(smudge, Is.GreaterThan(BigInteger.One << (b - 2)), "smudging is present");
        // What is left is the rounding and the fresh errors, within their bound.
        basis.Sub(phase, smudging, phase);
        BigInteger rest = Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(basis.ReconstructCentered(phase, j))).Max();
        Assert.That(rest, Is.LessThanOrEqualTo(contributors.Length * Samplers.GaussianBound + rounding));
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
