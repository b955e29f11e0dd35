using System.Numerics;
using FraudFed.Cryptography;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>
/// The SecAgg+ parameter chooser (SPEC.md section 7.1): every choice is re-checked here with exact integer arithmetic
/// (BigInteger binomials, no logarithms), independently of the library's log-space evaluation.
/// </summary>
[TestFixture]
public sealed class SecAggPlusParametersTests
{
    private static BigInteger Choose(int n, int k)
    {
        if (k < 0 || k > n) return BigInteger.Zero;
        BigInteger r = BigInteger.One;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    /// <summary>C(N, d) * P[X in [lo, hi]] for X ~ Hyp(N, K, d), exactly.</summary>
    private static BigInteger HypCount(int population, int marked, int draws, int lo, int hi)
    {
        BigInteger sum = BigInteger.Zero;
        for (int i = Math.Max(lo, 0); i <= Math.Min(hi, draws); i++) sum += Choose(marked, i) * Choose(population - marked, draws - i);
        return sum;
    }

    /// <summary>Tolerated colluders per neighbourhood, from the rule in SPEC.md section 11 (restated, not called).</summary>
    private static int Tolerated(int n, int k, int t, int m) => k - (t - 1) <= n - m ? t - 2 : t - 1;

    private static IEnumerable<TestCaseData> Grid()
    {
        foreach (int n in new[] { 3, 7, 10, 25, 60, 100, 250, 600 })
            foreach (double gamma in new[] { 0.05, 0.2, 1.0 / 3 })
                foreach (double delta in new[] { 0.0, 0.05, 0.1 })
                    yield return new TestCaseData(n, gamma, delta).SetName($"SecAggPlus/Choice/n={n}/gamma={gamma:0.###}/delta={delta:0.##}");
    }

    [TestCaseSource(nameof(Grid))]
    public void Choice_MeetsEveryInequality_CheckedExactly(int n, double gamma, double delta)
    {
        SecAggPlusParameters p;
        try { p = SecAggPlusParameters.Choose(n, gamma, delta); }
        catch (ProtocolViolationException e) when (e.Reason == ViolationReason.InsecureParameters)
        {
            // Refused only when the dropouts cannot fit under the consistency bound.
            int cc = (int)Math.Ceiling(gamma * n - 1e-9) - 1, dd = (int)Math.Floor(delta * n + 1e-9);
            Assert.That(dd, Is.GreaterThan(n - ((n + cc) / 2 + 1)), "a refusal must be forced by D > n - M");
            return;
        }
        int c = p.MaxColluders, d = p.MaxDropouts, k = p.Degree, t = p.Threshold, m = p.MinimumSurvivors;
        int sigma = p.SecurityBits, eta = p.CorrectnessBits;
        Assert.That(c, Is.LessThan(gamma * n).And.GreaterThanOrEqualTo(gamma * n - 1), "c = ceil(gamma n) - 1");
        Assert.That(d, Is.EqualTo((int)Math.Floor(delta * n + 1e-9)));
        Assert.That(2 * m, Is.GreaterThan(n + c), "consistency: 2M > n + c");
        Assert.That(m, Is.EqualTo(Math.Max(t, (n + c) / 2 + 1)));
        Assert.That(d, Is.LessThanOrEqualTo(n - m), "the stated dropouts leave M banks");
        Assert.That(t, Is.InRange(2, k + 1));
        int tolerated = Tolerated(n, k, t, m);
        Assert.That(p.NeighbourhoodColluderBound, Is.EqualTo(tolerated));
        BigInteger budget = BigInteger.Pow(2, sigma + 1) * n; // a bound of 2^-(sigma+1) after the union over n banks

        if (p.IsComplete)
        {
            Assert.That(k, Is.EqualTo(n - 1));
            Assert.That(c, Is.LessThanOrEqualTo(tolerated), "complete graph: every colluder is a neighbour, so c <= c_N");
            Assert.That(t, Is.LessThanOrEqualTo(n - d), "t live holders after D dropouts");
            return;
        }
        Assert.That(k % 2, Is.Zero);
        Assert.That(k, Is.LessThan(n - 1));
        // (a) disconnection: n (n - k - 1)/2 * C(c + D, k) / C(n, k) <= 2^-(sigma+1)
        Assert.That(n * (BigInteger)(n - k - 1) * Choose(c + d, k) * BigInteger.Pow(2, sigma + 1), Is.LessThanOrEqualTo(2 * Choose(n, k)), "(a) disconnection");
        // (b) collusion: n P[Hyp(n - 1, c, k) > c_N] <= 2^-(sigma+1)
        Assert.That(HypCount(n - 1, c, k, tolerated + 1, k) * budget, Is.LessThanOrEqualTo(Choose(n - 1, k)), "(b) colluding neighbours");
        // (c) correctness: n P[Hyp(n - 1, n - 1 - D, k) <= t - 1] <= 2^-eta
        Assert.That(HypCount(n - 1, n - 1 - d, k, 0, t - 1) * BigInteger.Pow(2, eta) * n, Is.LessThanOrEqualTo(Choose(n - 1, k)), "(c) live holders");
        // The library's log2 figures agree with the exact ones.
        double exactCollusion = Math.Log2(n) + (BigInteger.Log(HypCount(n - 1, c, k, tolerated + 1, k)) - BigInteger.Log(Choose(n - 1, k))) / Math.Log(2);
        if (!double.IsNegativeInfinity(p.CollusionLog2)) Assert.That(p.CollusionLog2, Is.EqualTo(exactCollusion).Within(1e-6));
        // The parameters are accepted as they are.
        Assert.DoesNotThrow(() => MaskingParameters.FromChoice(new byte[16], 32, p));
    }

    [TestCase(60, 1.0 / 3, 0.05)]
    [TestCase(250, 0.2, 0.1)]
    [TestCase(600, 0.05, 0.05)]
    public void Choice_IsTheSmallestDegreeThatMeetsTheInequalities(int n, double gamma, double delta)
    {
        SecAggPlusParameters p = SecAggPlusParameters.Choose(n, gamma, delta);
        Assert.That(p.IsComplete, Is.False, "the case is sparse");
        int c = p.MaxColluders, d = p.MaxDropouts, m = p.MinimumSurvivors;
        BigInteger security = BigInteger.Pow(2, p.SecurityBits + 1) * n, correctness = BigInteger.Pow(2, p.CorrectnessBits) * n;
        for (int k = 2; k < p.Degree; k += 2)
        {
            bool connected = n * (BigInteger)(n - k - 1) * Choose(c + d, k) * BigInteger.Pow(2, p.SecurityBits + 1) <= 2 * Choose(n, k);
            bool anyThreshold = Enumerable.Range(2, k).Any(t =>
            {
                int mt = Math.Max(t, m);
                if (mt > n - d) return false;
                return HypCount(n - 1, c, k, Tolerated(n, k, t, mt) + 1, k) * security <= Choose(n - 1, k)
                    && HypCount(n - 1, n - 1 - d, k, 0, t - 1) * correctness <= Choose(n - 1, k);
            });
            Assert.That(connected && anyThreshold, Is.False, $"degree {k} < {p.Degree} would already do");
        }
    }

    [Test]
    public void Degree_IsMonotone_InSigmaEtaGammaAndDelta()
    {
        foreach (int n in new[] { 20, 100, 400 })
        {
            int[] bySigma = new[] { 20, 30, 40, 60 }.Select(s => SecAggPlusParameters.Choose(n, securityBits: s).Degree).ToArray();
            int[] byEta = new[] { 10, 20, 30 }.Select(e => SecAggPlusParameters.Choose(n, correctnessBits: e).Degree).ToArray();
            int[] byGamma = new[] { 0.05, 0.1, 0.2, 1.0 / 3 }.Select(g => SecAggPlusParameters.Choose(n, g).Degree).ToArray();
            int[] byDelta = new[] { 0.0, 0.05, 0.1, 0.15 }.Select(dl => SecAggPlusParameters.Choose(n, dropoutFraction: dl).Degree).ToArray();
            Assert.That(bySigma, Is.Ordered, $"n = {n}: sigma");
            Assert.That(byEta, Is.Ordered, $"n = {n}: eta");
            Assert.That(byGamma, Is.Ordered, $"n = {n}: gamma");
            Assert.That(byDelta, Is.Ordered, $"n = {n}: delta");
        }
    }

    [Test]
    public void LargeRosters_GetALogarithmicDegree()
    {
        SecAggPlusParameters small = SecAggPlusParameters.Choose(1000), large = SecAggPlusParameters.Choose(100_000);
        Assert.That(small.IsComplete, Is.False);
        Assert.That(large.Degree, Is.LessThan(2 * small.Degree), "100x the banks, less than twice the degree");
        Assert.That(large.Degree, Is.LessThan(large.Banks / 100));
        Assert.That(large.SecurityFailureLog2, Is.LessThanOrEqualTo(-40));
        Assert.That(large.CorrectnessFailureLog2, Is.LessThanOrEqualTo(-20));
    }

    [Test]
    public void NoParameters_AreRefusedTyped()
    {
        // With c = 3 of 10 every stage needs M = 7 banks, so 4 dropouts (40%) cannot be tolerated.
        var ex = Assert.Throws<ProtocolViolationException>(() => SecAggPlusParameters.Choose(10, 1.0 / 3, 0.4));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        ex = Assert.Throws<ProtocolViolationException>(() => SecAggPlusParameters.ChooseFor(100, 40, 31));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.InsecureParameters), "M = 71 leaves room for 29 dropouts, not 31");
        Assert.DoesNotThrow(() => SecAggPlusParameters.ChooseFor(100, 40, 29));
        Assert.Throws<ArgumentOutOfRangeException>(() => SecAggPlusParameters.Choose(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SecAggPlusParameters.Choose(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SecAggPlusParameters.Choose(10, 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SecAggPlusParameters.Choose(10, dropoutFraction: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SecAggPlusParameters.Choose(10, securityBits: 0));
    }

    [Test]
    public void SmallRosters_FallBackToTheCompleteGraph_WithTheClassicThreshold()
    {
        SecAggPlusParameters p = SecAggPlusParameters.Choose(5);
        Assert.That(p.IsComplete, Is.True);
        Assert.That(p.Threshold, Is.EqualTo(2 * 5 / 3 + 1));
        Assert.That(p.MinimumSurvivors, Is.EqualTo(4));
        Assert.That(double.IsNegativeInfinity(p.SecurityFailureLog2), Is.True, "the complete graph's guarantee is deterministic");
    }

    [Test]
    public void Description_NamesDegreeThresholdSurvivorsCollusionBoundAndFailureBound()
    {
        SecAggPlusParameters choice = SecAggPlusParameters.Choose(1000);
        MaskingParameters p = MaskingParameters.FromChoice(new byte[16], 32, choice);
        string text = p.Description;
        TestContext.Out.WriteLine(text);
        Assert.That(text, Does.Contain($"degree k = {choice.Degree}"));
        Assert.That(text, Does.Contain($"threshold t = {choice.Threshold}"));
        Assert.That(text, Does.Contain($"minimum survivors M = {choice.MinimumSurvivors}"));
        Assert.That(text, Does.Contain($"collusion bound c = {choice.MaxColluders}"));
        Assert.That(text, Does.Contain("2^-4"), "a failure bound of about 2^-40");
        Assert.That(text, Does.Contain($"D = {choice.MaxDropouts} dropouts"));
    }

    [Test]
    public void MaskingSecureSum_SparseDefaults_AreTheChoosersAndSumExactly()
    {
        const int n = 40, bits = 32;
        using var sum = new MaskingSecureSum(n, bits, new MaskingOptions { Sparse = true, Random = TestRandom.Create("sparse-defaults"), SessionId = new byte[16] });
        SecAggPlusParameters expected = SecAggPlusParameters.Choose(n);
        MaskingParameters p = sum.Parameters;
        Assert.That(p.Choice, Is.Not.Null);
        Assert.That((p.Degree, p.Threshold, p.MinimumSurvivors, p.MaxColluders), Is.EqualTo((expected.Degree, expected.Threshold, expected.MinimumSurvivors, expected.MaxColluders)));
        Assert.That(p.IsComplete, Is.False);
        ulong[][] inputs = SecureSumTests.Inputs(n, 12, bits, 40);
        int[] dropped = [3, 17];
        SecureSumResult r = sum.Sum(inputs, DropoutPlan.At(DropoutStage.AfterShareKeys, dropped));
        int[] survivors = Enumerable.Range(0, n).Except(dropped).ToArray();
        Assert.That(r.Contributors, Is.EqualTo(survivors));
        Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(inputs, survivors, bits)));
        Assert.That(sum.Harness.Graph.Degree, Is.EqualTo(expected.Degree));
    }
}
