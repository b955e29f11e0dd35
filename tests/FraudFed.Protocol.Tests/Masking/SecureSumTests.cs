using FraudFed.Cryptography;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

using Wire = FraudFed.Protocol.Masking.Wire;

[TestFixture, Parallelizable(ParallelScope.Children)]
public sealed class SecureSumTests
{
    internal static ulong[][] Inputs(int n, int length, int bits, int seed)
    {
        var r = TestRandom.Plain(seed);
        ulong mask = ModVector.Mask(bits);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() & mask).ToArray()).ToArray();
    }

    internal static ulong[] PlainSum(IReadOnlyList<ulong[]> inputs, IEnumerable<int> who, int bits)
    {
        var sum = new ulong[inputs[0].Length];
        foreach (int b in who) for (int i = 0; i < sum.Length; i++) sum[i] += inputs[b][i];
        for (int i = 0; i < sum.Length; i++) sum[i] &= ModVector.Mask(bits);
        return sum;
    }

    public sealed record Case(int N, int T, int? Degree, int? C, DropoutStage Stage, int Dropped)
    {
        public bool Sparse => Degree is not null;
        public override string ToString() => $"{(Sparse ? $"sparse/k={Degree}" : "complete")}/n={N}/t={T}/c={C?.ToString() ?? "default"}/{Stage}/dropped={Dropped}";
    }

    private static IEnumerable<TestCaseData> Sweep()
    {
        // Complete graphs at the default collusion bound c = ceil(n/3) - 1; sparse graphs with a declared c small enough
        // for t to exceed every neighbourhood's colluders (deterministic guarantee, SPEC.md section 11).
        var configs = new (int N, int T, int? Degree, int? C)[] { (3, 2, null, null), (3, 3, null, null), (10, 4, null, null), (10, 7, null, null), (50, 26, null, null), (10, 3, 4, 1), (50, 6, 12, 4) };
        DropoutStage[] stages = [DropoutStage.None, DropoutStage.BeforeAdvertiseKeys, DropoutStage.BeforeShareKeys, DropoutStage.AfterShareKeys, DropoutStage.AfterMaskedInput, DropoutStage.DuringUnmasking];
        foreach (var (n, t, degree, colluders) in configs)
            foreach (DropoutStage stage in stages)
            {
                using var probe = new MaskingSecureSum(n, 32, Options(t, degree, colluders, "probe"));
                int max = n - probe.Parameters.MinimumSurvivors;
                // Sparse neighbourhoods must keep t live holders: drop at most holders - t there.
                if (degree is not null) max = Math.Min(max, probe.Parameters.Degree + 1 - t);
                int dropped = stage == DropoutStage.None ? 0 : max;
                var c = new Case(n, t, degree, colluders, stage, dropped);
                yield return new TestCaseData(c).SetName("SecureSum/" + c);
            }
    }

    private static MaskingOptions Options(int t, int? degree, int? maxColluders, string label, IReadOnlyCollection<int>? absent = null) => new()
    {
        Threshold = t,
        Sparse = degree is not null,
        Degree = degree,
        MaxColluders = maxColluders,
        Random = TestRandom.Create(label),
        SessionId = new byte[16],
        AbsentFromSetup = absent ?? [],
    };

    [TestCaseSource(nameof(Sweep))]
    public void EqualsPlaintextSumOfSurvivors(Case c)
    {
        const int bits = 32, length = 37;
        var pick = TestRandom.Plain(c.GetHashCode());
        int[] dropped = Enumerable.Range(0, c.N).OrderBy(_ => pick.Next()).Take(c.Dropped).Order().ToArray();
        IReadOnlyCollection<int> absent = c.Stage == DropoutStage.BeforeAdvertiseKeys ? dropped : [];
        using var sum = new MaskingSecureSum(c.N, bits, Options(c.T, c.Degree, c.C, c.ToString(), absent));
        ulong[][] inputs = Inputs(c.N, length, bits, c.N * 100 + c.T);
        DropoutPlan plan = c.Stage == DropoutStage.BeforeAdvertiseKeys ? DropoutPlan.None : DropoutPlan.At(c.Stage, dropped);
        SecureSumResult result = sum.Sum(inputs, plan);
        bool contributes(int b) => !dropped.Contains(b) || c.Stage is DropoutStage.None or DropoutStage.AfterMaskedInput or DropoutStage.DuringUnmasking;
        int[] expectedContributors = Enumerable.Range(0, c.N).Where(contributes).ToArray();
        Assert.That(result.Contributors, Is.EqualTo(expectedContributors));
        Assert.That(result.Sum, Is.EqualTo(PlainSum(inputs, expectedContributors, bits)));
    }

    [Test]
    public void EveryModulusWidth_SumsExactly([Values(1, 2, 8, 17, 31, 32, 33, 63, 64)] int bits)
    {
        const int n = 4;
        using var sum = new MaskingSecureSum(n, bits, Options(3, null, null, "bits-" + bits));
        ulong[][] inputs = Inputs(n, 29, bits, bits);
        inputs[0][0] = ModVector.Mask(bits); // the largest value
        SecureSumResult r = sum.Sum(inputs, DropoutPlan.At(DropoutStage.AfterShareKeys, 2));
        Assert.That(r.Sum, Is.EqualTo(PlainSum(inputs, [0, 1, 3], bits)));
        // Three MaskedInput wrappers: body (prefix + 9 + ceil(k/8) bytes per value) + signature + the protobuf framing of SPEC.md 14.3
        // (version 2, session 18, step tag and length 3, body and signature tags and lengths 4-5 bytes).
        long total = sum.LastRound!.MaskedInputBytes;
        Assert.That(total % 3, Is.Zero);
        Assert.That(total / 3 - (Wire.HeaderSize + 9 + 29 * ModVector.BytesPerValue(bits) + 64), Is.InRange(27, 28), "ceil(k/8) bytes per value plus a constant");
    }

    [Test]
    public void MixedDropoutsAtEveryStage_DownToMinimumSurvivorsAndThreshold()
    {
        // c = 0 declared: M = floor(n/2) + 1 = 6 signers, and t = 4 answering holders.
        const int n = 10, t = 4, bits = 24;
        using var sum = new MaskingSecureSum(n, bits, Options(t, null, 0, "mixed", absent: [0]));
        Assert.That(sum.Parameters.MinimumSurvivors, Is.EqualTo(6));
        ulong[][] inputs = Inputs(n, 50, bits, 7);
        var plan = new DropoutPlan(new Dictionary<int, DropoutStage>
        {
            [1] = DropoutStage.BeforeShareKeys, [2] = DropoutStage.AfterShareKeys,
            [3] = DropoutStage.AfterMaskedInput, [4] = DropoutStage.DuringUnmasking, [5] = DropoutStage.DuringUnmasking,
        });
        SecureSumResult result = sum.Sum(inputs, plan);
        int[] contributors = [3, 4, 5, 6, 7, 8, 9];
        Assert.That(result.Contributors, Is.EqualTo(contributors));
        Assert.That(result.Sum, Is.EqualTo(PlainSum(inputs, contributors, bits)));
    }

    [Test]
    public void SeveralRounds_OneKeySetup_DroppedBankReturns()
    {
        const int n = 6, bits = 40;
        using var sum = new MaskingSecureSum(n, bits, Options(4, null, null, "rounds"));
        for (int round = 1; round <= 3; round++)
        {
            ulong[][] inputs = Inputs(n, 20, bits, round);
            DropoutPlan plan = round == 1 ? DropoutPlan.At(DropoutStage.AfterShareKeys, 2) : round == 2 ? DropoutPlan.At(DropoutStage.DuringUnmasking, 2) : DropoutPlan.None;
            SecureSumResult r = sum.Sum(inputs, plan);
            int[] expected = round == 1 ? [0, 1, 3, 4, 5] : [0, 1, 2, 3, 4, 5];
            Assert.That(r.Contributors, Is.EqualTo(expected), $"round {round}");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(inputs, expected, bits)), $"round {round}");
        }
        Assert.That(sum.Harness.Aggregator.State.Round, Is.EqualTo(3u));
    }

    [Test]
    public void FewerThanMinimumSurvivors_AfterShareKeys_AbortsTyped()
    {
        const int n = 10;
        using var sum = new MaskingSecureSum(n, 32, Options(7, null, null, "toofew"));
        var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(Inputs(n, 8, 32, 1), DropoutPlan.At(DropoutStage.AfterShareKeys, 0, 1, 2, 3)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(sum.Harness.Aggregator.State, Is.TypeOf<AggregatorReady>(), "a benign failure ends only the round (SPEC.md 8.3)");
        Assert.That(sum.Harness.Aggregator.State.Round, Is.EqualTo(1u), "round 1 is spent");
    }

    [Test]
    public void FewerThanTHoldersAnswering_AbortsTyped()
    {
        const int n = 10;
        // Minimum survivors 7 lets the consistency check pass with 7 signers, but t = 8 shares are needed.
        using var sum = new MaskingSecureSum(n, 32, Options(8, null, null, "toofew-unmask") with { MinimumSurvivors = 8 });
        var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(Inputs(n, 8, 32, 1), DropoutPlan.At(DropoutStage.DuringUnmasking, 0, 1, 2)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
    }

    [Test]
    public void FewerThanMinimumAtSetup_AbortsTyped()
    {
        using var sum = new MaskingSecureSum(5, 32, Options(4, null, null, "toofew-setup", absent: [0, 1]));
        var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(Inputs(5, 8, 32, 1)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
    }
}

[TestFixture]
public sealed class MaskingSecureSumApiTests
{
    [Test]
    public void ProductionDefaults_CsprngAndDefaultThreshold_SumExactly()
    {
        using var sum = new MaskingSecureSum(5, 48);
        Assert.That(sum.Mode, Is.EqualTo("masking"));
        Assert.That(sum.Parameters.Threshold, Is.EqualTo(4));
        ulong[][] inputs = SecureSumTests.Inputs(5, 33, 48, 3);
        SecureSumResult r = sum.Sum(inputs);
        Assert.That(r.Sum, Is.EqualTo(new PlainSum(5, 48).Sum(inputs).Sum));
        Assert.That(r.BytesUploaded, Is.GreaterThan(5L * 33 * 6), "at least the packed inputs");
    }

    [Test]
    public void BadArguments_AreArgumentExceptions()
    {
        using var sum = new MaskingSecureSum(4, 16, new MaskingOptions { Random = TestRandom.Create("api-bad"), Threshold = 3 });
        Assert.Throws<ArgumentException>(() => sum.Sum([new ulong[3], new ulong[3], new ulong[3], new ulong[4]]));
        Assert.Throws<ArgumentException>(() => sum.Sum([new ulong[3], new ulong[3], new ulong[3]]));
        Assert.Throws<ArgumentException>(() => sum.Sum([new ulong[] { 1 << 16 }, new ulong[1], new ulong[1], new ulong[1]]));
        Assert.Throws<ArgumentException>(() => sum.Sum([new ulong[1], new ulong[1], new ulong[1], new ulong[1]], DropoutPlan.At(DropoutStage.BeforeAdvertiseKeys, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingSecureSum(2, 16));
    }

    [Test]
    public void SumReal_QuantizesSumsAndDecodes()
    {
        var q = new FraudFed.Protocol.Quantization.Quantizer(32, 1.0, 1 << 16);
        using var sum = new MaskingSecureSum(4, 32, new MaskingOptions { Random = TestRandom.Create("api-real"), Threshold = 3, Quantizer = q });
        using var rounding = TestRandom.Create("api-real-rounding");
        double[][] inputs = [[0.5, -0.25, 1.0], [0.25, -0.25, -1.0], [-0.125, 0.5, 0.0], [0.0, 0.0, 0.75]];
        var (decoded, result, clipped) = sum.SumReal(inputs, rounding);
        Assert.That(result.Contributors, Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(clipped, Is.All.Zero);
        Assert.That(decoded, Is.EqualTo(new[] { 0.625, 0.0, 0.75 }).Within(1e-12), "dyadic inputs are exact at scale 2^16");
        Assert.Throws<FraudFed.Protocol.Quantization.QuantizationRangeException>(() => sum.SumReal([[2.0], [0.0], [0.0], [0.0]], rounding));
        var (_, _, clippedCounts) = sum.SumReal([[2.0], [0.0], [-3.0], [0.0]], rounding, clip: true);
        Assert.That(clippedCounts, Is.EqualTo(new[] { 1, 0, 1, 0 }));
    }
}
