// Choice of the SecAgg+ degree k and threshold t (SPEC.md section 7.1), after the analysis of Bell, Bonawitz,
// Gascon, Lepoint and Raykova, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020,
// section 3 (random Harary graphs H(n, k)), in the exact form Google's fcp library evaluates it
// (secagg/server/graph_parameter_finder.cc): three bad events, each bounded exactly and by a union bound over the
// n banks, with the security budget 2^-sigma split evenly over the two security events.
//
// Inputs: n banks, c = ceil(gamma n) - 1 colluders (fewer than gamma n), D = floor(delta n) dropouts (a dropout
// fraction the deployment expects, independent of the graph), sigma (security), eta (correctness).
// M = floor((n + c)/2) + 1 (consistency, 2M > n + c; requires D <= n - M). For k = 2, 4, ... below n - 1:
//   (a) disconnection  A set of removed banks disconnects H(n, k) only if it covers k/2 consecutive ring places
//       twice; with B = c + D bad banks placed uniformly, at most n (n - k - 1)/2 pairs of gaps, each all bad with
//       probability C(B, k)/C(n, k):      log2[n (n - k - 1)/2] + log2[C(B, k)/C(n, k)] <= -(sigma + 1).
//       (An input is summed with every bank of its connected component of honest survivors; this event is what
//       keeps a graph-independent dropout pattern from splitting the honest banks.)
//   (b) collusion      x = the least count with n P[Hyp(n - 1, c, k) >= x] <= 2^-(sigma + 1); t is the least
//       threshold whose tolerated count c_N(t) (MaskingParameters, SPEC.md section 11) is at least x - 1.
//   (c) correctness    every bank keeps t live holders among its neighbours:
//                        n P[Hyp(n - 1, n - 1 - D, k) <= t - 1] <= 2^-eta.
// The first k meeting (a)-(c) with t <= k + 1 is chosen. Otherwise the complete graph (k = n - 1) is chosen with
// t = floor(2n/3) + 1, moved into [least t with c_N(t) >= c, n - D]; if that interval is empty, or D > n - M, no
// parameters exist and Choose refuses (InsecureParameters).
using System.Globalization;
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Masking;

/// <summary>
/// SecAgg+ degree and threshold for a stated corruption fraction gamma, dropout fraction delta, security parameter
/// sigma and correctness parameter eta (Bell et al. CCS'20 section 3; SPEC.md section 7.1).
/// </summary>
public sealed class SecAggPlusParameters
{
    /// <summary>Default gamma: fewer than a third of the banks collude with the aggregator.</summary>
    public const double DefaultCorruptionFraction = 1.0 / 3;
    /// <summary>Default delta: up to 5% of the banks drop out, independently of the graph.</summary>
    public const double DefaultDropoutFraction = 0.05;
    /// <summary>Default sigma: security failures (disconnection, too many colluding neighbours) below 2^-40.</summary>
    public const int DefaultSecurityBits = MaskingParameters.DefaultSecurityBits;
    /// <summary>Default eta: a round aborts for lack of live holders with probability below 2^-20.</summary>
    public const int DefaultCorrectnessBits = 20;
    /// <summary>Largest roster the chooser accepts.</summary>
    public const int MaxBanks = 1 << 20;

    private SecAggPlusParameters(int banks, int colluders, int dropouts, int sigma, int eta, int degree, int threshold, int minimum,
        double disconnection, double collusion, double correctness)
    {
        Banks = banks;
        MaxColluders = colluders;
        MaxDropouts = dropouts;
        SecurityBits = sigma;
        CorrectnessBits = eta;
        Degree = degree;
        Threshold = threshold;
        MinimumSurvivors = minimum;
        NeighbourhoodColluderBound = MaskingParameters.ToleratedColluders(banks, degree, threshold, minimum);
        DisconnectionLog2 = disconnection;
        CollusionLog2 = collusion;
        CorrectnessFailureLog2 = correctness;
    }

    /// <summary>n.</summary>
    public int Banks { get; }
    /// <summary>c: colluding banks the choice tolerates.</summary>
    public int MaxColluders { get; }
    /// <summary>D: graph-independent dropouts the choice tolerates.</summary>
    public int MaxDropouts { get; }
    /// <summary>sigma.</summary>
    public int SecurityBits { get; }
    /// <summary>eta.</summary>
    public int CorrectnessBits { get; }
    /// <summary>k: n - 1 when no sparse degree meets the bounds (the complete graph).</summary>
    public int Degree { get; }
    /// <summary>True when the choice is the complete graph.</summary>
    public bool IsComplete => Degree == Banks - 1;
    /// <summary>t.</summary>
    public int Threshold { get; }
    /// <summary>M = max(t, floor((n + c)/2) + 1).</summary>
    public int MinimumSurvivors { get; }
    /// <summary>c_N: colluders one neighbourhood may hold (SPEC.md section 11).</summary>
    public int NeighbourhoodColluderBound { get; }
    /// <summary>log2 of the bound of event (a), disconnection of the honest survivors; negative infinity for the complete graph.</summary>
    public double DisconnectionLog2 { get; }
    /// <summary>log2 of the bound of event (b), a bank with more than c_N colluding neighbours; negative infinity when impossible.</summary>
    public double CollusionLog2 { get; }
    /// <summary>log2 of the sum of the two security bounds (a) + (b).</summary>
    public double SecurityFailureLog2 => Hypergeometric.Log2Add(DisconnectionLog2, CollusionLog2);
    /// <summary>log2 of the bound of event (c), a bank with fewer than t live neighbours; negative infinity when impossible.</summary>
    public double CorrectnessFailureLog2 { get; }

    /// <summary>A one-line account of the inputs and the failure bounds.</summary>
    public string Description => string.Create(CultureInfo.InvariantCulture,
        $"chosen for n = {Banks}, c = {MaxColluders} colluders, D = {MaxDropouts} dropouts (sigma = {SecurityBits}, eta = {CorrectnessBits}): " +
        $"{(IsComplete ? "complete graph" : $"degree {Degree}")}, t = {Threshold}, M = {MinimumSurvivors}; " +
        $"security failure <= {MaskingParameters.Bound(SecurityFailureLog2)} (disconnection {MaskingParameters.Bound(DisconnectionLog2)}, colluding neighbours {MaskingParameters.Bound(CollusionLog2)}), " +
        $"correctness failure <= {MaskingParameters.Bound(CorrectnessFailureLog2)}");

    /// <inheritdoc />
    public override string ToString() => Description;

    /// <summary>c for a corruption fraction: the largest count strictly below gamma * n, ceil(gamma n) - 1.</summary>
    public static int ColludersFor(int banks, double corruptionFraction)
    {
        if (banks < 1) throw Error.OutOfRange(nameof(banks), "At least one bank.");
        if (!(corruptionFraction > 0 && corruptionFraction < 1)) throw Error.OutOfRange(nameof(corruptionFraction), "gamma must be in (0, 1).");
        return Math.Max(0, (int)Math.Ceiling(corruptionFraction * banks - 1e-9) - 1);
    }

    /// <summary>D for a dropout fraction: floor(delta * n).</summary>
    public static int DropoutsFor(int banks, double dropoutFraction)
    {
        if (banks < 1) throw Error.OutOfRange(nameof(banks), "At least one bank.");
        if (!(dropoutFraction >= 0 && dropoutFraction < 1)) throw Error.OutOfRange(nameof(dropoutFraction), "delta must be in [0, 1).");
        return (int)Math.Floor(dropoutFraction * banks + 1e-9);
    }

    /// <summary>Chooses (k, t, M) for fractions gamma and delta: c = ceil(gamma n) - 1, D = floor(delta n).</summary>
    /// <param name="banks">n, 3..2^20.</param>
    /// <param name="corruptionFraction">gamma in (0, 1): fewer than gamma n banks collude with the aggregator.</param>
    /// <param name="dropoutFraction">delta in [0, 1): up to delta n banks drop out, independently of the graph.</param>
    /// <param name="securityBits">sigma, 1..256.</param>
    /// <param name="correctnessBits">eta, 1..256.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument outside its range.</exception>
    /// <exception cref="ProtocolViolationException"><see cref="ViolationReason.InsecureParameters"/> when no degree and threshold meet the bounds.</exception>
    public static SecAggPlusParameters Choose(int banks, double corruptionFraction = DefaultCorruptionFraction, double dropoutFraction = DefaultDropoutFraction,
        int securityBits = DefaultSecurityBits, int correctnessBits = DefaultCorrectnessBits)
        => ChooseFor(banks, ColludersFor(banks, corruptionFraction), DropoutsFor(banks, dropoutFraction), securityBits, correctnessBits);

    /// <summary>Chooses (k, t, M) for c colluders and D dropouts (see the file header for the inequalities).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An argument outside its range.</exception>
    /// <exception cref="ProtocolViolationException"><see cref="ViolationReason.InsecureParameters"/> when no degree and threshold meet the bounds.</exception>
    public static SecAggPlusParameters ChooseFor(int banks, int maxColluders, int maxDropouts,
        int securityBits = DefaultSecurityBits, int correctnessBits = DefaultCorrectnessBits)
    {
        if (banks is < 3 or > MaxBanks) throw Error.OutOfRange(nameof(banks), $"n must be in 3..{MaxBanks}.");
        if (maxColluders < 0 || maxColluders >= banks) throw Error.OutOfRange(nameof(maxColluders), "c must be in 0..n-1.");
        if (maxDropouts < 0 || maxDropouts >= banks) throw Error.OutOfRange(nameof(maxDropouts), "D must be in 0..n-1.");
        if (securityBits is < 1 or > 256) throw Error.OutOfRange(nameof(securityBits), "sigma must be in 1..256.");
        if (correctnessBits is < 1 or > 256) throw Error.OutOfRange(nameof(correctnessBits), "eta must be in 1..256.");

        int n = banks, c = maxColluders, dropouts = maxDropouts;
        int m = MaskingParameters.ConsistencyMinimum(n, c);
        if (dropouts > n - m)
            throw Error.Violation(ViolationReason.InsecureParameters,
                $"With c = {c} colluders every stage needs M = {m} banks (2M > n + c), so at most {n - m} of {n} may drop out, not {dropouts}.");
        for (int k = 2; k < n - 1; k += 2)
            if (TrySparse(n, c, dropouts, k, securityBits, correctnessBits) is { } sparse) return sparse;
        return Complete(n, c, dropouts, securityBits, correctnessBits)
            ?? throw Error.Violation(ViolationReason.InsecureParameters,
                $"No degree and threshold tolerate c = {c} colluders and D = {dropouts} dropouts among n = {n} banks.");
    }

    /// <summary>The least threshold t that <see cref="MaskingParameters"/> accepts for degree <paramref name="degree"/>, c colluders
    /// and sigma (k + 1 when none does, which the parameters then refuse).</summary>
    /// <exception cref="ArgumentOutOfRangeException">n below 2, or c outside 0..n-1.</exception>
    public static int LeastThreshold(int banks, int degree, int maxColluders, int? minimumSurvivors = null, int securityBits = DefaultSecurityBits)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        if (maxColluders < 0 || maxColluders >= banks) throw Error.OutOfRange(nameof(maxColluders), "c must be in 0..n-1.");
        int k = Math.Min(degree, banks - 1);
        for (int t = 2; t <= k; t++)
        {
            int m = minimumSurvivors ?? Math.Max(t, MaskingParameters.ConsistencyMinimum(banks, maxColluders));
            if (m < t) break;
            if (MaskingParameters.CollusionFailureLog2(banks, k, maxColluders, MaskingParameters.ToleratedColluders(banks, k, t, m)) <= -securityBits) return t;
        }
        return k + 1;
    }

    /// <summary>The sparse candidate of degree <paramref name="k"/>, or null when one of (a)-(c) fails.</summary>
    internal static SecAggPlusParameters? TrySparse(int n, int c, int dropouts, int k, int sigma, int eta)
    {
        int m = MaskingParameters.ConsistencyMinimum(n, c);
        double perEvent = -(sigma + 1);
        double disconnection = Math.Log2(n) + Math.Log2(n - k - 1) - 1 + Hypergeometric.Log2AllBad(n, c + dropouts, k);
        if (disconnection > perEvent) return null;
        int x = LeastSafeCount(n, c, k, perEvent);
        int t = Math.Max(2, x);
        if (MaskingParameters.ToleratedColluders(n, k, t, Math.Max(t, m)) < x - 1) t++;
        if (t > k + 1) return null;
        int minimum = Math.Max(t, m);
        if (minimum > n - dropouts) return null;
        double collusion = MaskingParameters.CollusionFailureLog2(n, k, c, MaskingParameters.ToleratedColluders(n, k, t, minimum));
        if (collusion > perEvent) return null;
        double correctness = Math.Min(0, Math.Log2(n) + Hypergeometric.Log2LowerTail(n - 1, n - 1 - dropouts, k, t - 1));
        if (correctness > -eta) return null;
        return new SecAggPlusParameters(n, c, dropouts, sigma, eta, k, t, minimum, disconnection, collusion, correctness);
    }

    /// <summary>The least x with n P[Hyp(n - 1, c, k) &gt;= x] &lt;= 2^perEvent (min(c, k) + 1 at most).</summary>
    private static int LeastSafeCount(int n, int c, int k, double perEvent)
    {
        int x = Math.Min(c, k) + 1; // P[X >= x] = 0
        double tail = double.NegativeInfinity, log2n = Math.Log2(n); // log2 P[X >= x], accumulated downwards
        while (x > 0)
        {
            double next = Hypergeometric.Log2Add(tail, Hypergeometric.Log2Pmf(n - 1, c, k, x - 1));
            if (log2n + next > perEvent) break;
            tail = next;
            x--;
        }
        return x;
    }

    private static SecAggPlusParameters? Complete(int n, int c, int dropouts, int sigma, int eta)
    {
        int k = n - 1, m = MaskingParameters.ConsistencyMinimum(n, c);
        int least = 2;
        while (least <= n && MaskingParameters.ToleratedColluders(n, k, least, Math.Max(least, m)) < c) least++;
        int t = Math.Clamp(2 * n / 3 + 1, least, Math.Max(least, n - dropouts));
        int minimum = Math.Max(t, m);
        if (t > n || minimum > n - dropouts || MaskingParameters.ToleratedColluders(n, k, t, minimum) < c) return null;
        return new SecAggPlusParameters(n, c, dropouts, sigma, eta, k, t, minimum, double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity);
    }
}
