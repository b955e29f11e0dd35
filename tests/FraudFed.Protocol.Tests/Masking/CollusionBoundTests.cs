using System.Numerics;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>The declared collusion bound c and what MaskingParameters refuses (SPEC.md section 11).</summary>
[TestFixture]
public sealed class CollusionBoundTests
{
    private static readonly byte[] Session = new byte[16];

    private static ViolationReason Refusal(TestDelegate setup)
        => Assert.Throws<ProtocolViolationException>(setup)!.Reason;

    [TestCase(10, 3)]
    [TestCase(11, 3)]
    [TestCase(100, 33)]
    [TestCase(100, 7)]
    [TestCase(7, 0)]
    public void Setup_Refuses2MNotAboveNPlusC_TypedInsecureParameters(int n, int c)
    {
        int least = (n + c) / 2 + 1; // the smallest M with 2M > n + c
        int t = Math.Min(least - 1, n - 1);
        Assert.That(Refusal(() => _ = new MaskingParameters(Session, n, t, 32, minimumSurvivors: least - 1, maxColluders: c)),
            Is.EqualTo(ViolationReason.InsecureParameters), $"M = {least - 1}: 2M = {2 * (least - 1)} <= n + c = {n + c}");
        var ok = new MaskingParameters(Session, n, t, 32, minimumSurvivors: least, maxColluders: c);
        Assert.That(2 * ok.MinimumSurvivors, Is.GreaterThan(n + c));
        // The same refusal through the session API: neither the bank nor the aggregator object can be built with it.
        Assert.That(Refusal(() => _ = new MaskingSecureSum(n, 32, new MaskingOptions { Threshold = t, MinimumSurvivors = least - 1, MaxColluders = c, Random = TestRandom.Create("bound") })),
            Is.EqualTo(ViolationReason.InsecureParameters));
    }

    [Test]
    public void DefaultCollusionBound_IsTheLargestCBelowAThird()
    {
        for (int n = 1; n <= 300; n++)
        {
            int c = MaskingParameters.DefaultMaxColluders(n);
            Assert.That(3 * c, Is.LessThan(n), $"n = {n}: c < n/3");
            Assert.That(3 * (c + 1), Is.GreaterThanOrEqualTo(n), $"n = {n}: c + 1 is not below n/3");
        }
    }

    [Test]
    public void CompleteGraphDefaults_MeetTheBound_AndMIsTheClassicThreshold()
    {
        // t = floor(2n/3) + 1 (the pre-existing default) meets both conditions at c = ceil(n/3) - 1: 2t > n + c and t > c.
        for (int n = 3; n <= 300; n++)
        {
            int t = 2 * n / 3 + 1, c = MaskingParameters.DefaultMaxColluders(n);
            var p = new MaskingParameters(Session, n, t, 32);
            Assert.That(p.MaxColluders, Is.EqualTo(c));
            Assert.That(p.MinimumSurvivors, Is.EqualTo(t), $"n = {n}: the default t already satisfies 2t > n + c");
            Assert.That(2 * t, Is.GreaterThan(n + c));
            Assert.That(p.NeighbourhoodColluderBound, Is.GreaterThanOrEqualTo(c));
            Assert.That(double.IsNegativeInfinity(p.CollusionFailureLog2Bound), Is.True);
        }
    }

    [Test]
    public void CompleteGraph_ThresholdMustExceedTheColluders()
    {
        // n = 10, c = 3, M = 7: t = 4 tolerates 3 colluders; t = 3 only 2.
        Assert.That(new MaskingParameters(Session, 10, 4, 32).NeighbourhoodColluderBound, Is.EqualTo(3));
        Assert.That(Refusal(() => _ = new MaskingParameters(Session, 10, 3, 32)), Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.That(new MaskingParameters(Session, 10, 3, 32, maxColluders: 2).NeighbourhoodColluderBound, Is.EqualTo(2));
    }

    [Test]
    public void WhenANeighbourhoodCanBeExcludedWhole_TheVictimsOwnShareCounts()
    {
        // n = 100, k = 14, t = 11, M = 54: excluding the victim's 14 - x honest neighbours fits in n - M = 46, so with
        // x = t - 1 = 10 colluding neighbours b_v would have t shares (the victim's own and ten): c_N = t - 2 = 9.
        var sparse = new MaskingParameters(Session, 100, 11, 32, degree: 14, maxColluders: 7);
        Assert.That(sparse.NeighbourhoodColluderBound, Is.EqualTo(9));
        // Complete graph, t < M: excluding the n - 1 - x others never fits in n - M, so c_N = t - 1.
        Assert.That(new MaskingParameters(Session, 10, 5, 32).NeighbourhoodColluderBound, Is.EqualTo(4));
    }

    [Test]
    public void SparseGraph_ThresholdBelowTheColludersIsRefused_UnlessRareOverTheGraphSeed()
    {
        // The old sparse shape at the default c = 33: a neighbourhood of 14 holds more than 9 colluders far too often.
        Assert.That(Refusal(() => _ = new MaskingParameters(Session, 100, 11, 32, degree: 14)), Is.EqualTo(ViolationReason.InsecureParameters));
        // The chooser's n = 100 shape: t = 31 < c = 33, accepted because P[some bank has > c_N colluding neighbours] <= 2^-40.
        var p = new MaskingParameters(Session, 100, 31, 32, degree: 36);
        Assert.That(p.MaxColluders, Is.EqualTo(33));
        Assert.That(p.CollusionFailureLog2Bound, Is.LessThanOrEqualTo(-40));
        Assert.That(p.Description, Does.Contain("over the graph seed"));
    }

    [Test]
    public void SparseFailureBound_IsTheExactHypergeometricUnionBound()
    {
        var p = new MaskingParameters(Session, 100, 31, 32, degree: 36);
        int cn = p.NeighbourhoodColluderBound;
        BigInteger all = Binomial(99, 36), over = BigInteger.Zero;
        for (int i = cn + 1; i <= 33; i++) over += Binomial(33, i) * Binomial(66, 36 - i);
        double exact = Math.Log2(100) + (BigInteger.Log(over) - BigInteger.Log(all)) / Math.Log(2);
        Assert.That(p.CollusionFailureLog2Bound, Is.EqualTo(exact).Within(1e-6));
    }

    [Test]
    public void ColludersFixedBeforeTheSeed_StayWithinTheNeighbourhoodBound_ColludersChosenAfterItDoNot()
    {
        var p = new MaskingParameters(Session, 100, 31, 32, degree: 36); // c = 33, c_N = 29, failure <= 2^-40 per session
        var colluders = new HashSet<int>(Enumerable.Range(0, p.MaxColluders)); // fixed before any seed exists
        Span<byte> seed = stackalloc byte[32];
        int worst = 0;
        for (int s = 0; s < 200; s++)
        {
            RandomNumberGenerator.Fill(seed);
            NeighbourGraph g = p.BuildGraph(seed);
            for (int v = 0; v < p.Banks; v++) worst = Math.Max(worst, g.Neighbours(v).Count(colluders.Contains));
        }
        Assert.That(worst, Is.LessThanOrEqualTo(p.NeighbourhoodColluderBound), "200 fresh graphs, every neighbourhood within c_N");
        // With the graph known first (the old all-zero seed), the same 33 banks can be placed in one neighbourhood.
        NeighbourGraph known = p.BuildGraph(new byte[32]);
        int placed = known.Neighbours(0).Take(p.MaxColluders).Count();
        Assert.That(placed, Is.GreaterThan(p.NeighbourhoodColluderBound), "why the seed must not be known before the colluders are fixed");
    }

    private static BigInteger Binomial(int n, int k)
    {
        BigInteger r = BigInteger.One;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }
}
