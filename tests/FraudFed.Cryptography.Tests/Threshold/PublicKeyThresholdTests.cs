using System.Numerics;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Threshold;

/// <summary>Threshold decryption of sums of public-key ciphertexts under the collective key (DESIGN.md 3a steps 5-7).</summary>
[TestFixture]
public sealed class PublicKeyThresholdTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;

    /// <summary>A threshold setup plus the collective public key and a registry of genuine (signed) uploads.</summary>
    private sealed class PkSetup : IDisposable
    {
        public required ThresholdSetup Base { get; init; }
        public required PublicKeyThresholdScheme Scheme { get; init; }
        public HashSet<string> Genuine { get; } = [];
        public RlweParameters P => Base.P;

        public static PkSetup Create(int banks, int threshold, int minContributors, string label, long budget = 1L << 20, RlweParameters? parameters = null)
        {
            RlweParameters p = parameters ?? Fast;
            ThresholdSetup setup = ThresholdSetup.Create(p, banks, threshold, minContributors, label, budget);
            RnsPoly crp = CommonRandomness.Expand(p, setup.Scheme.Seed, CrpPurpose.PublicKey, 0, 0);
            var ckg = new PublicKeyGenProtocol(p);
            PublicKeyShare aggregate = ckg.AllocateShare();
            for (int i = 0; i < banks; i++) ckg.AggregateShares(PublicKeyShare.Deserialize(p, ckg.GenShare(i, setup.Keys[i], crp, setup.Rng).Serialize()), aggregate);
            return new PkSetup { Base = setup, Scheme = new PublicKeyThresholdScheme(setup.Scheme, ckg.GenPublicKey(aggregate, crp)) };
        }

        /// <summary>Each contributor encrypts and "signs" (registers the digest of) its upload; the aggregator parses the uploads.</summary>
        public List<PublicKeyCiphertext> Upload(ulong round, uint chunk, IEnumerable<int> contributors, int salt, out ulong[] expected)
        {
            ulong mask = (1UL << P.PlainModulusBits) - 1;
            expected = new ulong[P.N];
            var uploads = new List<PublicKeyCiphertext>();
            foreach (int b in contributors)
            {
                ulong[] v = Values(P, b, salt);
                for (int j = 0; j < v.Length; j++) expected[j] = (expected[j] + v[j]) & mask;
                byte[] wire = Scheme.Encrypt(b, round, chunk, v, Base.Rng).Serialize();
                Genuine.Add(Convert.ToHexString(SHA256.HashData(wire)));
                uploads.Add(PublicKeyCiphertext.Deserialize(P, wire));
            }
            return uploads;
        }

        public bool IsAuthentic(int sender, ReadOnlySpan<byte> upload) =>
            PublicKeyCiphertext.Deserialize(P, upload).Sender == sender && Genuine.Contains(Convert.ToHexString(SHA256.HashData(upload)));

        public byte[] Answer(int bank, byte[] request) => Base.KeyShares[bank].GenPublicKeyDecryptionShare(request, IsAuthentic);

        public ulong[] Decrypt(PublicKeyDecryptionRequest request)
        {
            byte[] wire = request.Serialize();
            byte[][] shares = request.Active.Select(j => Answer(j, wire)).ToArray();
            var result = new ulong[P.N];
            Scheme.Combine(request, shares, result);
            return result;
        }

        public void Dispose() => Base.Dispose();
    }

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

    private static ViolationReason Refusal(TestDelegate action) => Assert.Throws<ProtocolViolationException>(action)!.Reason;

    [TestCase(3, 2, TestName = "Threshold/PublicKey/n=256/banks=3/T=2")]
    [TestCase(10, 6, TestName = "Threshold/PublicKey/n=256/banks=10/T=6")]
    public void EveryTestedTSubset_DecryptsTheSum_AndNoTMinus1SubsetDoes(int banks, int threshold)
    {
        using var s = PkSetup.Create(banks, threshold, 2, $"pk/{banks}/{threshold}");
        int[] contributors = Enumerable.Range(0, banks).Where(b => b % 3 != 2 || banks == 3).ToArray();
        RnsBasis basis = Fast.Basis;
        int[] roster = Enumerable.Range(0, banks).ToArray();
        uint chunk = 0;
        foreach (int[] active in Subsets(banks, threshold, 3, banks))
        {
            List<PublicKeyCiphertext> uploads = s.Upload(1, chunk, contributors, (int)chunk, out ulong[] expected);
            PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(1, chunk, uploads, active);
            Assert.That(s.Decrypt(request), Is.EqualTo(expected), $"active set {string.Join(",", active)}");

            // T-1 banks: the key shares refuse; interpolating T-1 points of S (test-only) does not open the sum.
            int[] fewer = active[..^1];
            PublicKeyDecryptionRequest smaller = s.Scheme.BuildRequest(1, chunk, uploads, fewer);
            Assert.That(Refusal(() => s.Answer(fewer.Length > 0 ? fewer[0] : active[0], smaller.Serialize())), Is.EqualTo(ViolationReason.Refused));
            if (fewer.Length > 0)
            {
                var partial = basis.Allocate(true);
                foreach (int j in fewer) basis.Add(partial, s.Base.KeyShares[j].WeightedPoint(roster, fewer), partial);
                RnsPoly c1 = request.C1.Clone();
                basis.ToNtt(c1);
                basis.MulPointwise(c1, partial, c1);
                basis.FromNtt(c1);
                basis.Add(c1, request.C0, c1);
                var wrong = new ulong[Fast.N];
                s.Scheme.Encoder.Decode(c1, wrong);
                Assert.That(wrong.Zip(expected).Count(x => x.First == x.Second), Is.LessThan(Fast.N / 16), "T-1 points reveal (almost) nothing of the sum");
            }
            chunk++;
        }
    }

    [TestCase(3, 2, TestName = "Threshold/PublicKey/Extremes/n=256/banks=3/T=2")]
    [TestCase(10, 6, TestName = "Threshold/PublicKey/Extremes/n=256/banks=10/T=6")]
    public void ExtremeVectors_DecryptExactly(int banks, int threshold)
    {
        using var s = PkSetup.Create(banks, threshold, 2, $"pk/extremes/{banks}");
        ulong t = 1UL << Fast.PlainModulusBits;
        int[] contributors = Enumerable.Range(0, banks).ToArray(), active = Enumerable.Range(banks - threshold, threshold).ToArray();
        uint chunk = 0;
        foreach (ulong value in new[] { t - 1, t / 2, 0UL, 1UL })
        {
            var uploads = contributors.Select(b =>
            {
                byte[] wire = s.Scheme.Encrypt(b, 1, chunk, Enumerable.Repeat(value, Fast.N).ToArray(), s.Base.Rng).Serialize();
                s.Genuine.Add(Convert.ToHexString(SHA256.HashData(wire)));
                return PublicKeyCiphertext.Deserialize(Fast, wire);
            }).ToList();
            ulong expected = (ulong)(((UInt128)value * (ulong)banks) % t);
            Assert.That(s.Decrypt(s.Scheme.BuildRequest(1, chunk, uploads, active)), Is.All.EqualTo(expected), $"{banks} x {value}");
            chunk++;
        }
    }

    [Test]
    public void DigestCheck_SeesTheSha256OfTheExactUploadBytes_AndAnswersAsTheBytesCheck()
    {
        using PkSetup s = PkSetup.Create(4, 3, 2, "pk/digest-path");
        List<PublicKeyCiphertext> uploads = s.Upload(3, 1, [0, 1, 3], 5, out ulong[] expected);
        PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(3, 1, uploads, [0, 2, 3]);
        byte[] wire = request.Serialize();
        var seen = new List<(int, string)>();
        byte[] byDigest = s.Base.KeyShares[2].GenPublicKeyDecryptionShareByDigest(wire, (sender, digest) =>
        {
            seen.Add((sender, Convert.ToHexString(digest)));
            return s.Genuine.Contains(Convert.ToHexString(digest));
        });
        Assert.That(seen.Select(x => x.Item1), Is.EqualTo(new[] { 0, 1, 3 }));
        Assert.That(seen.Select(x => x.Item2), Is.EqualTo(uploads.Select(u => Convert.ToHexString(SHA256.HashData(u.Serialize())))));
        Assert.That(byDigest, Is.EqualTo(s.Answer(2, wire)), "same fingerprint, same key: identical bytes from both paths");
        Assert.That(request.CiphertextDigest(), Is.EqualTo(SHA256.HashData(RlweCodec.Write(s.P, RlweObjectKind.Ciphertext, default,
            Ciphertext(s.P, request)))));
        // The streaming path keeps every guard: a claimed sum that is not the listed uploads' sum, and a flipped bit.
        bool Genuine(int _, ReadOnlySpan<byte> d) => s.Genuine.Contains(Convert.ToHexString(d));
        PublicKeyDecryptionRequest other = s.Scheme.BuildRequest(3, 1, uploads.Take(2).ToList(), [0, 2, 3]);
        var lying = new PublicKeyDecryptionRequest(s.P, request.SessionTag, 3, 1, [.. request.Contributors], [.. request.Active], other.C0, other.C1,
            request.Contributions);
        Assert.That(Refusal(() => s.Base.KeyShares[0].GenPublicKeyDecryptionShareByDigest(lying.Serialize(), Genuine)), Is.EqualTo(ViolationReason.Inconsistent));
        byte[] flipped = (byte[])wire.Clone();
        flipped[RlweCodec.HeaderSize + 100 + 2 * RlweCodec.PolyBytes(s.P)] ^= 4;
        Assert.That(Refusal(() => s.Base.KeyShares[0].GenPublicKeyDecryptionShareByDigest(flipped, Genuine)), Is.EqualTo(ViolationReason.Malformed));
        byte[][] shares = request.Active.Select(j => j == 2 ? byDigest : s.Answer(j, wire)).ToArray();
        var result = new ulong[s.P.N];
        s.Scheme.Combine(request, shares, result);
        Assert.That(result, Is.EqualTo(expected));
    }

    private static RnsPoly[] Ciphertext(RlweParameters p, PublicKeyDecryptionRequest r) => [r.C0, r.C1];

    [Test]
    public void DigestCheckRefusal_OrAContributorSetMismatch_SpendsNothing()
    {
        using PkSetup s = PkSetup.Create(4, 3, 2, "pk/digest-refusal");
        List<PublicKeyCiphertext> uploads = s.Upload(4, 0, [0, 1, 2], 6, out _);
        byte[] wire = s.Scheme.BuildRequest(4, 0, uploads, [0, 1, 3]).Serialize();
        ThresholdKeyShare bank = s.Base.KeyShares[3];
        long before = bank.Remaining;
        Assert.That(Refusal(() => bank.GenPublicKeyDecryptionShareByDigest(wire, (sender, _) => sender != 1)), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(Refusal(() => bank.GenPublicKeyDecryptionShareByDigest(wire, (_, d) => s.Genuine.Contains(Convert.ToHexString(d)),
            (round, chunk, u) => round == 4 && chunk == 0 && u.Order().SequenceEqual([0, 1]))), Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(bank.Remaining, Is.EqualTo(before));
        Assert.DoesNotThrow(() => bank.GenPublicKeyDecryptionShareByDigest(wire, (_, d) => s.Genuine.Contains(Convert.ToHexString(d)),
            (round, chunk, u) => round == 4 && chunk == 0 && u.Order().SequenceEqual([0, 1, 2])));
        Assert.That(bank.Remaining, Is.EqualTo(before - 1));
    }

    [Test]
    public void RealParameters_EndToEnd_n8192_banks3_T2()
    {
        using var s = PkSetup.Create(3, 2, 2, "pk/real", parameters: ParameterSets.Default);
        int[] contributors = [0, 1, 2], active = [0, 2];
        PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(1, 0, s.Upload(1, 0, contributors, 11, out ulong[] expected), active);
        Assert.That(s.Decrypt(request), Is.EqualTo(expected));
        Assert.That(s.Base.KeyShares[0].PublicKeySmudgingBits, Is.GreaterThan(100), "real smudging size");
    }

    [Test]
    public void MeasuredNoise_IsWithinTheAnalyticBound()
    {
        const int banks = 10, threshold = 4;
        using var s = PkSetup.Create(banks, threshold, 2, "pk/noise");
        int[] contributors = Enumerable.Range(0, banks).ToArray(), active = [1, 3, 4, 8];
        PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(7, 3, s.Upload(7, 3, contributors, 1, out ulong[] expected), active);
        RnsBasis basis = Fast.Basis;
        var scaled = basis.Allocate();
        s.Scheme.Encoder.AddScaled(expected, scaled);
        BigInteger Max(RnsPoly x) => Enumerable.Range(0, Fast.N).Select(j => BigInteger.Abs(basis.ReconstructCentered(x, j))).Max();

        // Before smudging (test-only collective secret S = sum s_i): E*u + e0 + e1*S summed over K contributors.
        var secret = basis.Allocate(true);
        foreach (SecretKey k in s.Base.Keys) basis.Add(secret, k.Value, secret);
        RnsPoly raw = request.C1.Clone();
        basis.ToNtt(raw);
        basis.MulPointwise(raw, secret, raw);
        basis.FromNtt(raw);
        basis.Add(raw, request.C0, raw);
        basis.Sub(raw, scaled, raw);
        BigInteger freshBound = PublicKeySmudging.NoiseBound(Fast, contributors.Length, banks);
        BigInteger fresh = Max(raw);
        Assert.That(fresh, Is.LessThanOrEqualTo(freshBound));
        Assert.That(fresh, Is.GreaterThan(new BigInteger(Samplers.GaussianBound)), "pk noise is larger than fresh Gaussian noise");

        // Combined phase: within T * (2^b - 1) + E_pk, which stays below the decryption capacity.
        byte[] wire = request.Serialize();
        byte[][] shares = active.Select(j => s.Answer(j, wire)).ToArray();
        RnsPoly phase = s.Scheme.PhaseCore(request, shares);
        basis.Sub(phase, scaled, phase);
        int b = s.Base.KeyShares[0].PublicKeySmudgingBits;
        BigInteger bound = threshold * ((BigInteger.One << b) - 1) + freshBound;
        BigInteger measured = Max(phase);
        Assert.That(measured, Is.LessThanOrEqualTo(bound));
        Assert.That(measured, Is.GreaterThan(BigInteger.One << (b - 2)), "smudging is present");
        Assert.That(bound, Is.LessThan(s.Scheme.Encoder.NoiseCapacity));
        Assert.That(b, Is.GreaterThan(s.Base.KeyShares[0].SmudgingBits), "pk smudging is sized for the larger pk noise");
    }

    [TestCase(10, TestName = "Threshold/PublicKey/SmudgingLemma/n=8192/banks=10")]
    [TestCase(100, TestName = "Threshold/PublicKey/SmudgingLemma/n=8192/banks=100")]
    [TestCase(166, TestName = "Threshold/PublicKey/SmudgingLemma/n=8192/banks=166")]
    [TestCase(167, TestName = "Threshold/PublicKey/SmudgingLemma/n=8192/banks=167")]
    [TestCase(256, TestName = "Threshold/PublicKey/SmudgingLemma/n=8192/banks=256")]
    public void SmudgingLemma_AtTheDefaultParameters_RefusesRostersItCannotHide(int roster)
    {
        RlweParameters p = ParameterSets.Default;
        var policy = new DecryptionPolicy { Threshold = 10, MinContributors = 2 };
        // Independent recomputation: lambda + log n + log budget + bits of K*(2 n N 19 + 19), K = N.
        BigInteger e = (BigInteger)roster * (2L * p.N * roster * 19 + 19);
        int expected = 60 + 13 + 20 + (int)(e - 1).GetBitLength();
        if (expected > 126)
            Assert.That(Refusal(() => PublicKeySmudging.Bits(p, policy, roster)), Is.EqualTo(ViolationReason.InsecureParameters));
        else
            Assert.That(PublicKeySmudging.Bits(p, policy, roster), Is.EqualTo(expected));
        // A smaller budget brings a large roster back within range.
        Assert.That(PublicKeySmudging.Bits(p, policy with { Budget = 1L << 12 }, roster), Is.LessThanOrEqualTo(126));
    }

    [Test]
    public void Refusals_AreTyped()
    {
        using var s = PkSetup.Create(5, 3, 3, "pk/refusals", budget: 3);
        int[] contributors = [0, 1, 2], active = [0, 1, 2];
        List<PublicKeyCiphertext> uploads = s.Upload(1, 0, contributors, 3, out _);
        PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(1, 0, uploads, active);
        byte[] first = s.Answer(0, request.Serialize());
        Assert.That(s.Base.KeyShares[0].Remaining, Is.EqualTo(2));

        // Same (U, D) again: identical bytes, no budget spent; order of D does not matter.
        Assert.That(s.Answer(0, request.Serialize()), Is.EqualTo(first));
        Assert.That(s.Answer(0, s.Scheme.BuildRequest(1, 0, uploads, [2, 0, 1]).Serialize()), Is.EqualTo(first));
        Assert.That(s.Base.KeyShares[0].Remaining, Is.EqualTo(2));
        // A second active set for the same ciphertext: refused.
        Assert.That(Refusal(() => s.Answer(0, s.Scheme.BuildRequest(1, 0, uploads, [0, 3, 4]).Serialize())), Is.EqualTo(ViolationReason.Refused));

        // One bank's ciphertext: alone (fewer than K_min), or dressed up as a sum of U = {0, 1, 2}.
        List<PublicKeyCiphertext> more = s.Upload(2, 0, [0, 1, 2, 3], 4, out _);
        PublicKeyDecryptionRequest honest = s.Scheme.BuildRequest(2, 0, more.Take(3).ToList(), active);
        Assert.That(Refusal(() => s.Answer(1, s.Scheme.BuildRequest(2, 0, [more[0]], active).Serialize())), Is.EqualTo(ViolationReason.TooFewParticipants));
        var dressed = new PublicKeyDecryptionRequest(Fast, honest.SessionTag, 2, 0, [0, 1, 2], active, more[0].C0, more[0].C1, honest.Contributions);
        Assert.That(Refusal(() => s.Answer(1, dressed.Serialize())), Is.EqualTo(ViolationReason.Inconsistent));
        // C1 not equal to the sum of the listed c1 (C0 correct).
        RnsPoly badC1 = honest.C1.Clone();
        Fast.Basis.Sub(badC1, more[2].C1, badC1);
        Fast.Basis.Add(badC1, more[3].C1, badC1);
        var swapped = new PublicKeyDecryptionRequest(Fast, honest.SessionTag, 2, 0, [0, 1, 2], active, honest.C0, badC1, honest.Contributions);
        Assert.That(Refusal(() => s.Answer(1, swapped.Serialize())), Is.EqualTo(ViolationReason.Inconsistent));
        // Fake contributors forged by the aggregator (zero ciphertexts or its own encryptions): not authentic.
        RnsPoly zero = Fast.Basis.Allocate();
        var forged = new PublicKeyDecryptionRequest(Fast, honest.SessionTag, 2, 0, [0, 1, 2], active, more[0].C0, more[0].C1,
            [more[0].C0, more[0].C1, zero, zero, zero, zero]);
        Assert.That(Refusal(() => s.Answer(1, forged.Serialize())), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // An upload relabelled as another bank's.
        var relabelled = s.Scheme.BuildRequest(2, 0, [more[0], more[1], new PublicKeyCiphertext(Fast, more[2].SessionTag, 2, 0, 4, more[2].C0, more[2].C1)], active);
        Assert.That(Refusal(() => s.Answer(1, relabelled.Serialize())), Is.EqualTo(ViolationReason.AuthenticationFailed));
        // None of the refusals above spent budget.
        Assert.That(s.Base.KeyShares[1].Remaining, Is.EqualTo(3));

        // The honest sum is answered; a different sum reusing its contributions is refused (differencing).
        s.Answer(1, honest.Serialize());
        Assert.That(Refusal(() => s.Answer(1, s.Scheme.BuildRequest(2, 0, [more[0], more[1], more[3]], active).Serialize())), Is.EqualTo(ViolationReason.Refused));
        // Duplicates, roster and session checks.
        Assert.That(Refusal(() => s.Answer(1, new PublicKeyDecryptionRequest(Fast, honest.SessionTag, 2, 0, [0, 0, 1], active, honest.C0, honest.C1, honest.Contributions).Serialize())),
            Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Refusal(() => s.Answer(1, new PublicKeyDecryptionRequest(Fast, new byte[16], 2, 0, [0, 1, 2], active, honest.C0, honest.C1, honest.Contributions).Serialize())),
            Is.EqualTo(ViolationReason.WrongRoundOrState));

        // Budget of 3 for bank 0: two more distinct sums, then exhausted; cached answers stay available.
        s.Answer(0, honest.Serialize());
        s.Answer(0, s.Scheme.BuildRequest(3, 0, s.Upload(3, 0, contributors, 5, out _), active).Serialize());
        Assert.That(s.Base.KeyShares[0].Remaining, Is.Zero);
        Assert.That(Refusal(() => s.Answer(0, s.Scheme.BuildRequest(4, 0, s.Upload(4, 0, contributors, 6, out _), active).Serialize())),
            Is.EqualTo(ViolationReason.BudgetExhausted));
        Assert.That(s.Answer(0, request.Serialize()), Is.EqualTo(first));
    }

    [Test]
    public void BudgetIsSharedWithTheCompactVariant()
    {
        using var s = PkSetup.Create(3, 2, 2, "pk/shared-budget", budget: 2);
        int[] contributors = [0, 1, 2], active = [0, 1];
        s.Base.KeyShares[0].GenDecryptionShare(9, 9, contributors, active);
        s.Answer(0, s.Scheme.BuildRequest(1, 0, s.Upload(1, 0, contributors, 7, out _), active).Serialize());
        Assert.That(Refusal(() => s.Answer(0, s.Scheme.BuildRequest(2, 0, s.Upload(2, 0, contributors, 8, out _), active).Serialize())),
            Is.EqualTo(ViolationReason.BudgetExhausted));
    }

    [Test]
    public void SerializedObjects_RoundTrip_AndOneBitTamperIsRejected()
    {
        using var s = PkSetup.Create(4, 2, 2, "pk/tamper");
        int[] contributors = [0, 1, 3], active = [1, 2];
        List<PublicKeyCiphertext> uploads = s.Upload(5, 1, contributors, 9, out ulong[] expected);
        PublicKeyDecryptionRequest request = s.Scheme.BuildRequest(5, 1, uploads, active);
        byte[] wire = request.Serialize();

        // Round trips.
        PublicKeyDecryptionRequest parsed = PublicKeyDecryptionRequest.Deserialize(Fast, wire, 4);
        Assert.That(parsed.Serialize(), Is.EqualTo(wire));
        Assert.That(parsed.Contributors, Is.EqualTo(contributors));
        Assert.That(parsed.Active, Is.EqualTo(active));
        Assert.That(PublicKeyCiphertext.Deserialize(Fast, uploads[1].Serialize()).Serialize(), Is.EqualTo(uploads[1].Serialize()));

        // One-bit tampering of the request anywhere (header, context, payload, digest) is refused before any answer.
        var rnd = TestRandom.Plain(77);
        int[] positions = [5, 46, 48, RlweCodec.HeaderSize + 3, RlweCodec.HeaderSize + 30, wire.Length / 2, wire.Length - 20, wire.Length - 1, rnd.Next(wire.Length)];
        foreach (int pos in positions)
        {
            byte[] bad = (byte[])wire.Clone();
            bad[pos] ^= (byte)(1 << rnd.Next(8));
            Assert.Throws<ProtocolViolationException>(() => s.Answer(1, bad), $"request byte {pos}");
        }
        Assert.That(s.Base.KeyShares[1].Remaining, Is.EqualTo(s.Base.Policy.Budget), "no tampered request was answered");

        // One-bit tampering of a share is rejected by the combiner; the untampered shares decrypt.
        byte[][] shares = active.Select(j => s.Answer(j, wire)).ToArray();
        var output = new ulong[Fast.N];
        foreach (int pos in new[] { 5, RlweCodec.HeaderSize + 20, RlweCodec.HeaderSize + 70, shares[0].Length - 1 })
        {
            byte[] bad = (byte[])shares[0].Clone();
            bad[pos] ^= 0x10;
            Assert.Throws<ProtocolViolationException>(() => s.Scheme.Combine(request, [bad, shares[1]], output), $"share byte {pos}");
        }
        // A share for another request, a repeated share, and a missing share are refused.
        Assert.That(Refusal(() => s.Scheme.Combine(request, [shares[0], shares[0]], output)), Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(Refusal(() => s.Scheme.Combine(request, [shares[0]], output)), Is.EqualTo(ViolationReason.TooFewParticipants));
        PublicKeyDecryptionRequest other = s.Scheme.BuildRequest(6, 1, s.Upload(6, 1, contributors, 10, out _), active);
        Assert.That(Refusal(() => s.Scheme.Combine(other, shares, output)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        s.Scheme.Combine(request, shares, output);
        Assert.That(output, Is.EqualTo(expected));
    }
}
