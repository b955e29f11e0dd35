// Hypergeometric tails and factorial ratios in log space, for the masking parameter bounds (SPEC.md section 7.1).
// X ~ Hyp(N, K, d): d draws without replacement from N items of which K are marked; X counts marked draws.
//   P(X = i) = C(K, i) C(N - K, d - i) / C(N, d),  max(0, d - (N - K)) <= i <= min(K, d).
// ln m! is an exact sum of logarithms below 256 and the Stirling series
//   ln m! = m ln m - m + ln(2 pi m)/2 + 1/(12 m) - 1/(360 m^3) + 1/(1260 m^5)
// from 256 on (truncation error below 1/(1680 m^7) < 1e-19). Tails are log-sum-exp sums of exact terms, so the
// relative error of a tail is a few ulps of ln C(N, d) (below 1e-9 for N up to 2^20): far finer than the
// 2^-40 scale of the bounds they feed.
namespace FraudFed.Protocol.Masking;

internal static class Hypergeometric
{
    private const int TableSize = 256;
    private static readonly double[] SmallLogFactorials = BuildTable();

    private static double[] BuildTable()
    {
        var t = new double[TableSize];
        for (int m = 2; m < TableSize; m++) t[m] = t[m - 1] + Math.Log(m);
        return t;
    }

    /// <summary>ln(m!) for m >= 0.</summary>
    public static double LogFactorial(int m)
    {
        System.Diagnostics.Debug.Assert(m >= 0);
        if (m < TableSize) return SmallLogFactorials[m];
        double x = m, x2 = x * x;
        return x * Math.Log(x) - x + 0.5 * Math.Log(2 * Math.PI * x) + 1 / (12 * x) - 1 / (360 * x * x2) + 1 / (1260 * x * x2 * x2);
    }

    /// <summary>ln C(n, k); negative infinity outside 0 &lt;= k &lt;= n.</summary>
    public static double LogChoose(int n, int k)
        => k < 0 || k > n || n < 0 ? double.NegativeInfinity : LogFactorial(n) - LogFactorial(k) - LogFactorial(n - k);

    /// <summary>log2 P(X &gt;= x) for X ~ Hyp(population, marked, draws); negative infinity when impossible.</summary>
    public static double Log2UpperTail(int population, int marked, int draws, int x)
    {
        var (lo, hi) = Support(population, marked, draws);
        if (x > hi) return double.NegativeInfinity;
        return Log2Sum(population, marked, draws, Math.Max(x, lo), hi);
    }

    /// <summary>log2 P(X &lt;= x) for X ~ Hyp(population, marked, draws); negative infinity when impossible.</summary>
    public static double Log2LowerTail(int population, int marked, int draws, int x)
    {
        var (lo, hi) = Support(population, marked, draws);
        if (x < lo) return double.NegativeInfinity;
        return Log2Sum(population, marked, draws, lo, Math.Min(x, hi));
    }

    /// <summary>log2 P(X = i) for X ~ Hyp(population, marked, draws); negative infinity outside the support.</summary>
    public static double Log2Pmf(int population, int marked, int draws, int i)
    {
        var (lo, hi) = Support(population, marked, draws);
        if (i < lo || i > hi) return double.NegativeInfinity;
        return (LogChoose(marked, i) + LogChoose(population - marked, draws - i) - LogChoose(population, draws)) / Math.Log(2);
    }

    /// <summary>log2(2^a + 2^b).</summary>
    public static double Log2Add(double a, double b)
    {
        if (double.IsNegativeInfinity(a)) return b;
        if (double.IsNegativeInfinity(b)) return a;
        double hi = Math.Max(a, b), lo = Math.Min(a, b);
        return hi + Math.Log2(1 + Math.Pow(2, lo - hi));
    }

    /// <summary>log2 [C(bad, k) / C(all, k)]: the probability that k given positions of a uniformly random
    /// arrangement of <paramref name="all"/> items are all among the <paramref name="bad"/> ones.</summary>
    public static double Log2AllBad(int all, int bad, int k)
        => k > bad ? double.NegativeInfinity : (LogChoose(bad, k) - LogChoose(all, k)) / Math.Log(2);

    private static (int Lo, int Hi) Support(int population, int marked, int draws)
    {
        System.Diagnostics.Debug.Assert(population >= 0 && marked >= 0 && marked <= population && draws >= 0 && draws <= population);
        return (Math.Max(0, draws - (population - marked)), Math.Min(marked, draws));
    }

    private static double Log2Sum(int population, int marked, int draws, int from, int to)
    {
        double denominator = LogChoose(population, draws);
        double max = double.NegativeInfinity;
        for (int i = from; i <= to; i++) max = Math.Max(max, Term(i));
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        for (int i = from; i <= to; i++) sum += Math.Exp(Term(i) - max);
        return Math.Min(0, (max + Math.Log(sum)) / Math.Log(2));

        double Term(int i) => LogChoose(marked, i) + LogChoose(population - marked, draws - i) - denominator;
    }
}
