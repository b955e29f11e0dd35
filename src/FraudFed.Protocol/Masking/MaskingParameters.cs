// Public parameters of one masking session (SPEC.md section 8 "Parameters", section 11 "Collusion bound"):
// session id, roster size n, graph degree k (n - 1 = the complete SecAgg graph), per-neighbourhood Shamir
// threshold t (the holders of bank i's shares are i and its k neighbours), modulus bits, the minimum number of
// survivors M at every stage, and the declared collusion bound c (banks that may collude with the aggregator).
//
// The graph itself is not a parameter: for a sparse graph it is derived from the session's graph seed, which the
// banks fix by commit-then-reveal during setup (SPEC.md section 8.1), so nobody knows it before the session.
//
// Checks (SPEC.md section 11; a refusal is ProtocolViolationException(InsecureParameters)):
//   (1) consistency   2M > n + c. Two survivor lists that each carry M signatures share at least 2M - n signers;
//                     with 2M - n > c one of them is honest, and an honest bank signs one list per round. So every
//                     honest bank that reveals shares does so for the same U2 (Bonawitz et al. CCS'17 section 6).
//   (2) threshold     with one U2, an honest holder reveals one kind of share per bank; what breaks a secret is
//                     colluders inside one neighbourhood: a bank v with x colluding neighbours is safe when
//                       x < t, and
//                       x < t - 1 whenever the aggregator can exclude v's other k - x neighbours from U2
//                       (k - x <= n - M): then v's own self-mask share and the x colluders' would be t.
//                     The largest safe x is c_N = t - 2 if k - (t - 1) <= n - M, else t - 1.
//                     Complete graph: every colluder is a neighbour, so c <= c_N is required.
//                     Sparse graph: the neighbourhood is a uniform k-subset of the other n - 1 banks, fixed by the
//                     session's graph seed after the colluders are fixed, so the number of colluding neighbours of
//                     a bank is Hyp(n - 1, c, k) and, by a union bound over the n banks,
//                       P[some bank has more than c_N colluding neighbours] <= n * P[Hyp(n - 1, c, k) > c_N],
//                     which must be at most 2^-sigma (0 when min(c, k) <= c_N).
using System.Globalization;
using System.Text;
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Masking;

/// <summary>
/// Parameters every bank and the aggregator agree on before a masking session starts (SPEC.md section 8).
/// The constructor refuses parameter sets that do not meet the declared collusion bound (SPEC.md section 11).
/// </summary>
public sealed class MaskingParameters
{
    /// <summary>Session id length in bytes.</summary>
    public const int SessionIdSize = 16;
    /// <summary>Default statistical security parameter sigma: sparse-graph failures are at most 2^-40.</summary>
    public const int DefaultSecurityBits = 40;

    /// <summary>Creates and validates a parameter set.</summary>
    /// <param name="sessionId">16 bytes: the HKDF salt of every derivation and part of every message header.</param>
    /// <param name="banks">n, the roster size (at least 2).</param>
    /// <param name="threshold">t, shares of a bank's round secrets needed to reconstruct them (2..k+1).</param>
    /// <param name="modulusBits">k of the sums mod 2^k (1..64).</param>
    /// <param name="degree">Sparse SecAgg+ degree (even, at least 2); null or at least n - 1 gives the complete graph.</param>
    /// <param name="minimumSurvivors">M, the fewest banks allowed at any stage and the consistency signatures needed;
    /// default max(t, floor((n + c) / 2) + 1).</param>
    /// <param name="maxColluders">c, banks that may collude with the aggregator; default <see cref="DefaultMaxColluders"/>(n) = ceil(n/3) - 1.</param>
    /// <param name="securityBits">sigma: a sparse graph may fail the threshold check with probability at most 2^-sigma (1..256).</param>
    /// <exception cref="ArgumentException">A session id that is not 16 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">n, t, k, the degree, M, c or sigma outside its range.</exception>
    /// <exception cref="ProtocolViolationException"><see cref="ViolationReason.InsecureParameters"/>: 2M &lt;= n + c, or t too low
    /// for c colluders (SPEC.md section 11).</exception>
    public MaskingParameters(ReadOnlySpan<byte> sessionId, int banks, int threshold, int modulusBits,
        int? degree = null, int? minimumSurvivors = null, int? maxColluders = null, int securityBits = DefaultSecurityBits)
        : this(sessionId, banks, threshold, modulusBits, degree, minimumSurvivors, maxColluders, securityBits, null)
    {
    }

    private MaskingParameters(ReadOnlySpan<byte> sessionId, int banks, int threshold, int modulusBits,
        int? degree, int? minimumSurvivors, int? maxColluders, int securityBits, SecAggPlusParameters? choice)
    {
        if (sessionId.Length != SessionIdSize) throw Error.Argument(nameof(sessionId), $"A session id is {SessionIdSize} bytes.");
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        if (modulusBits is < 1 or > 64) throw Error.OutOfRange(nameof(modulusBits), "k must be in 1..64.");
        int k = degree is { } d && d < banks - 1 ? d : banks - 1;
        if (k < banks - 1 && (k < 2 || k % 2 != 0)) throw Error.OutOfRange(nameof(degree), "A sparse degree must be even and at least 2.");
        int holders = k + 1;
        if (threshold < 2 || threshold > holders) throw Error.OutOfRange(nameof(threshold), $"The threshold must be in 2..{holders} (degree + 1).");
        int c = maxColluders ?? DefaultMaxColluders(banks);
        if (c < 0 || c >= banks) throw Error.OutOfRange(nameof(maxColluders), "The collusion bound must be in 0..n-1.");
        if (securityBits is < 1 or > 256) throw Error.OutOfRange(nameof(securityBits), "sigma must be in 1..256.");
        int m = minimumSurvivors ?? Math.Max(threshold, ConsistencyMinimum(banks, c));
        if (m < threshold || m > banks) throw Error.OutOfRange(nameof(minimumSurvivors), "The minimum number of survivors must be in t..n.");

        if (2L * m <= (long)banks + c)
            throw Error.Violation(ViolationReason.InsecureParameters,
                $"2 * MinimumSurvivors = {2 * m} must exceed n + c = {banks + c}: with {c} colluders the aggregator could collect {m} signatures on two different survivor lists. Use MinimumSurvivors >= {ConsistencyMinimum(banks, c)}.");
        int tolerated = ToleratedColluders(banks, k, threshold, m);
        double failure = CollusionFailureLog2(banks, k, c, tolerated);
        if (failure > -securityBits)
            throw Error.Violation(ViolationReason.InsecureParameters, k == banks - 1
                ? $"The threshold t = {threshold} tolerates {tolerated} colluders (SPEC.md section 11), fewer than the declared c = {c}."
                : $"With c = {c} colluders a neighbourhood of k = {k} holds more than the {tolerated} that t = {threshold} tolerates with probability up to 2^{F(failure)}, above 2^-{securityBits}: raise t or the degree, or lower c.");

        SessionId = sessionId.ToArray();
        Banks = banks;
        Degree = k;
        Threshold = threshold;
        ModulusBits = modulusBits;
        MinimumSurvivors = m;
        MaxColluders = c;
        SecurityBits = securityBits;
        NeighbourhoodColluderBound = tolerated;
        CollusionFailureLog2Bound = failure;
        Choice = choice;
    }

    /// <summary>Parameters from a <see cref="SecAggPlusParameters"/> choice (degree, t, M and c as chosen).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="choice"/> is null.</exception>
    public static MaskingParameters FromChoice(ReadOnlySpan<byte> sessionId, int modulusBits, SecAggPlusParameters choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        return new MaskingParameters(sessionId, choice.Banks, choice.Threshold, modulusBits, choice.Degree, choice.MinimumSurvivors,
            choice.MaxColluders, choice.SecurityBits, choice);
    }

    /// <summary>The default collusion bound: the largest c below n/3, ceil(n/3) - 1 (corruption fraction 1/3).</summary>
    public static int DefaultMaxColluders(int banks)
    {
        if (banks < 1) throw Error.OutOfRange(nameof(banks), "At least one bank.");
        return (banks + 2) / 3 - 1;
    }

    /// <summary>The smallest M with 2M &gt; n + c: floor((n + c) / 2) + 1.</summary>
    public static int ConsistencyMinimum(int banks, int maxColluders) => (banks + maxColluders) / 2 + 1;

    /// <summary>16-byte session id; the HKDF salt of every derivation and part of every message header.</summary>
    public byte[] SessionId { get; }
    /// <summary>n.</summary>
    public int Banks { get; }
    /// <summary>Neighbours per bank: n - 1 for the complete graph, the even SecAgg+ degree otherwise.</summary>
    public int Degree { get; }
    /// <summary>True for the SecAgg complete graph.</summary>
    public bool IsComplete => Degree == Banks - 1;
    /// <summary>t: shares of each bank's round secrets needed to reconstruct them.</summary>
    public int Threshold { get; }
    /// <summary>k: sums are mod 2^k.</summary>
    public int ModulusBits { get; }
    /// <summary>M: fewest banks allowed at any stage, and signatures needed in the consistency check (2M &gt; n + c).</summary>
    public int MinimumSurvivors { get; }
    /// <summary>c: the declared number of banks that may collude with the aggregator.</summary>
    public int MaxColluders { get; }
    /// <summary>sigma: the accepted failure probability of a sparse graph is 2^-sigma.</summary>
    public int SecurityBits { get; }
    /// <summary>c_N: the most colluders one neighbourhood may hold without exposing a bank's input (SPEC.md section 11).</summary>
    public int NeighbourhoodColluderBound { get; }
    /// <summary>log2 of the probability, over the session's graph seed, that some bank has more than
    /// <see cref="NeighbourhoodColluderBound"/> colluding neighbours; negative infinity when it cannot happen.</summary>
    public double CollusionFailureLog2Bound { get; }
    /// <summary>The SecAgg+ choice these parameters came from, if any.</summary>
    public SecAggPlusParameters? Choice { get; }

    /// <summary>The neighbour graph of a session whose banks agreed on <paramref name="graphSeed"/> (32 bytes; SPEC.md 7, 8.1).</summary>
    public NeighbourGraph BuildGraph(ReadOnlySpan<byte> graphSeed)
        => IsComplete ? NeighbourGraph.Complete(Banks) : NeighbourGraph.Sparse(Banks, Degree, graphSeed);

    /// <summary>One line per fact: graph, threshold, minimum survivors, collusion bound and failure bound.</summary>
    public string Description
    {
        get
        {
            var s = new StringBuilder();
            s.Append(CultureInfo.InvariantCulture, $"n = {Banks} banks, ");
            s.AppendLine(IsComplete ? "complete graph (SecAgg)" : $"sparse graph (SecAgg+), degree k = {Degree}, from the session's committed graph seed");
            s.AppendLine(CultureInfo.InvariantCulture, $"threshold t = {Threshold} of {Degree + 1} holders; minimum survivors M = {MinimumSurvivors} (2M = {2 * MinimumSurvivors} > n + c = {Banks + MaxColluders})");
            s.Append(CultureInfo.InvariantCulture, $"collusion bound c = {MaxColluders} banks; at most {NeighbourhoodColluderBound} colluders tolerated in one neighbourhood: ");
            s.AppendLine(double.IsNegativeInfinity(CollusionFailureLog2Bound)
                ? "always met (failure probability 0)"
                : $"exceeded with probability <= {Bound(CollusionFailureLog2Bound)} over the graph seed (sigma = {SecurityBits})");
            if (Choice is { } c) s.AppendLine(c.Description);
            return s.ToString().TrimEnd();
        }
    }

    /// <inheritdoc />
    public override string ToString() => Description;

    /// <summary>c_N for (n, k, t, M): see the file header.</summary>
    internal static int ToleratedColluders(int banks, int degree, int threshold, int minimumSurvivors)
        => degree - (threshold - 1) <= banks - minimumSurvivors ? threshold - 2 : threshold - 1;

    /// <summary>log2 min(1, n * P[Hyp(n - 1, c, k) &gt; c_N]); negative infinity when min(c, k) &lt;= c_N.</summary>
    internal static double CollusionFailureLog2(int banks, int degree, int maxColluders, int tolerated)
    {
        if (Math.Min(maxColluders, degree) <= tolerated) return double.NegativeInfinity;
        return Math.Min(0, Math.Log2(banks) + Hypergeometric.Log2UpperTail(banks - 1, maxColluders, degree, tolerated + 1));
    }

    internal static string F(double log2) => double.IsNegativeInfinity(log2) ? "-inf" : log2.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>"0" for an impossible event, else "2^x.x".</summary>
    internal static string Bound(double log2) => double.IsNegativeInfinity(log2) ? "0" : "2^" + F(log2);
}
