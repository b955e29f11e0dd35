// Shared arithmetic of histogram boosting (XGBoost-style second-order split gain, Chen & Guestrin 2016, eq. 7):
// gain = GL^2/(HL+l2) + GR^2/(HR+l2) - G^2/(H+l2); leaf = -lr * G/(H+l2).
// Gradients g = p - y in [-1, 1] and hessians h = p(1-p) in [0, 1/4] are quantized to integers
// round(v * 2^S) (round half to even: deterministic, identical at every site). Histograms hold exact
// integer sums, flat per node: for bin j, [3j] = sum g, [3j+1] = sum h, [3j+2] = count.
// Missing values (LightGBM's missing_type=NaN): a feature's missing bin is never ordered with the others; for
// every threshold a node with missing rows tries them on the left, then on the right (a tie keeps left, as
// LightGBM's reverse scan does), plus "every present value left, missing right". A node without missing rows
// sends future missing values to its larger child (left on a tie).
namespace FraudFed.Learning.Gbdt;

/// <summary>A chosen split of one node; <paramref name="DefaultLeft"/>: missing values go left.</summary>
internal readonly record struct SplitChoice(int Feature, int Bin, double Gain, long LeftG, long LeftH, long LeftCount, bool DefaultLeft);

internal static class HistogramMath
{
    /// <summary>Largest S so that N rows of |q| &lt;= 2^S sum below 2^(k-2) (headroom for two's complement).</summary>
    public static int GradientScaleBits(int modulusBits, long totalRows)
    {
        int s = modulusBits - 2 - Federation.SumChannel.BitLength(totalRows);
        if (s < 8)
            throw new ArgumentException($"A {modulusBits}-bit modulus leaves only {s} fractional bits for {totalRows} rows; use a larger modulus.", nameof(modulusBits));
        return Math.Min(s, 30);
    }

    public static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));

    /// <summary>Quantized gradient and hessian of every row at the current raw scores.</summary>
    public static void Gradients(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, int scaleBits, Span<long> g, Span<long> h)
    {
        double scale = Math.ScaleB(1.0, scaleBits);
        for (int i = 0; i < scores.Length; i++)
        {
            double p = Sigmoid(scores[i]);
            double gi = p - (labels[i] ? 1.0 : 0.0);
            double hi = p * (1.0 - p);
            g[i] = (long)Math.Round(gi * scale, MidpointRounding.ToEven);
            h[i] = (long)Math.Round(hi * scale, MidpointRounding.ToEven);
        }
    }

    public static double ToReal(long q, int scaleBits) => Math.ScaleB(q, -scaleBits);

    public static double LeafValue(long g, long h, int scaleBits, GbdtOptions o)
        => -o.LearningRate * ToReal(g, scaleBits) / (ToReal(h, scaleBits) + o.L2);

    public static bool CanSplit(int depth, long count, long h, int scaleBits, GbdtOptions o)
        => depth < o.MaxDepth && count >= 2L * o.MinChildCount && ToReal(h, scaleBits) >= 2 * o.MinChildWeight;

    /// <summary>Totals (G, H, count) of a node histogram, from feature 0's bins.</summary>
    public static (long G, long H, long C) Totals(ReadOnlySpan<long> hist, FeatureBins bins)
    {
        long g = 0, h = 0, c = 0;
        for (int j = bins.Offsets[0]; j < bins.Offsets[1]; j++) { g += hist[3 * j]; h += hist[3 * j + 1]; c += hist[3 * j + 2]; }
        return (g, h, c);
    }

    /// <summary>Best split of a node, or null. Scans features, then bins, in order; ties keep the first.</summary>
    public static SplitChoice? BestSplit(ReadOnlySpan<long> hist, long totalG, long totalH, long totalC, FeatureBins bins, int scaleBits, GbdtOptions o)
    {
        double g = ToReal(totalG, scaleBits), h = ToReal(totalH, scaleBits);
        double parent = g * g / (h + o.L2);
        SplitChoice? best = null;
        double bestGain = o.MinSplitGain;
        for (int f = 0; f < bins.Features; f++)
        {
            int start = bins.Offsets[f], regularEnd = start + bins.Thresholds[f].Length + 1;
            int missing = bins.MissingBin(f);
            long mc = missing < 0 ? 0 : hist[3 * (start + missing) + 2];
            long lg = 0, lh = 0, lc = 0;
            if (mc == 0)
            {
                for (int j = start; j < regularEnd - 1; j++)
                {
                    lg += hist[3 * j]; lh += hist[3 * j + 1]; lc += hist[3 * j + 2];
                    long rc = totalC - lc;
                    if (lc < o.MinChildCount) continue;
                    if (rc < o.MinChildCount) break;
                    Consider(f, j - start, lg, lh, lc, defaultLeft: lc >= rc, ref best, ref bestGain);
                }
                continue;
            }
            long mg = hist[3 * (start + missing)], mh = hist[3 * (start + missing) + 1];
            for (int j = start; j < regularEnd; j++)
            {
                lg += hist[3 * j]; lh += hist[3 * j + 1]; lc += hist[3 * j + 2];
                Consider(f, j - start, lg + mg, lh + mh, lc + mc, defaultLeft: true, ref best, ref bestGain);
                Consider(f, j - start, lg, lh, lc, defaultLeft: false, ref best, ref bestGain);
            }
        }
        return best;

        void Consider(int f, int bin, long lg, long lh, long lc, bool defaultLeft, ref SplitChoice? best, ref double bestGain)
        {
            long rc = totalC - lc;
            if (lc < o.MinChildCount || rc < o.MinChildCount) return;
            double gl = ToReal(lg, scaleBits), hl = ToReal(lh, scaleBits);
            double gr = ToReal(totalG - lg, scaleBits), hr = ToReal(totalH - lh, scaleBits);
            if (hl < o.MinChildWeight || hr < o.MinChildWeight) return;
            double gain = gl * gl / (hl + o.L2) + gr * gr / (hr + o.L2) - parent;
            if (gain > bestGain)
            {
                bestGain = gain;
                best = new SplitChoice(f, bin, gain, lg, lh, lc, defaultLeft);
            }
        }
    }
}

/// <summary>Collects a tree's nodes in breadth-first order.</summary>
internal sealed class TreeAssembler(int scaleBits, GbdtOptions options)
{
    private readonly List<int> _feature = new(), _bin = new(), _left = new(), _right = new();
    private readonly List<bool> _defaultLeft = new();
    private readonly List<double> _threshold = new(), _gain = new(), _iWeight = new(), _iValue = new();
    private readonly List<long> _iCount = new();
    private readonly List<double> _leafValue = new(), _leafWeight = new();
    private readonly List<long> _leafCount = new();

    /// <summary>Adds an internal node and links it to its parent; returns its index.</summary>
    public int AddInternal(int parent, bool isLeft, SplitChoice split, FeatureBins bins, long g, long h, long c)
    {
        int index = _feature.Count;
        _feature.Add(split.Feature);
        _bin.Add(split.Bin);
        _threshold.Add(bins.SplitThreshold(split.Feature, split.Bin));
        _defaultLeft.Add(split.DefaultLeft);
        _gain.Add(split.Gain);
        _left.Add(0);
        _right.Add(0);
        _iCount.Add(c);
        _iWeight.Add(HistogramMath.ToReal(h, scaleBits));
        _iValue.Add(HistogramMath.LeafValue(g, h, scaleBits, options));
        Link(parent, isLeft, index);
        return index;
    }

    /// <summary>Adds a leaf and links it to its parent; returns its leaf index.</summary>
    public int AddLeaf(int parent, bool isLeft, long g, long h, long c)
    {
        int leaf = _leafValue.Count;
        _leafValue.Add(HistogramMath.LeafValue(g, h, scaleBits, options));
        _leafWeight.Add(HistogramMath.ToReal(h, scaleBits));
        _leafCount.Add(c);
        Link(parent, isLeft, ~leaf);
        return leaf;
    }

    private void Link(int parent, bool isLeft, int child)
    {
        if (parent < 0) return;
        if (isLeft) _left[parent] = child; else _right[parent] = child;
    }

    public GbdtTree Build() => new()
    {
        SplitFeature = _feature.ToArray(), SplitBin = _bin.ToArray(), Threshold = _threshold.ToArray(), DefaultLeft = _defaultLeft.ToArray(), Gain = _gain.ToArray(),
        Left = _left.ToArray(), Right = _right.ToArray(), InternalCount = _iCount.ToArray(), InternalWeight = _iWeight.ToArray(),
        InternalValue = _iValue.ToArray(), LeafValue = _leafValue.ToArray(), LeafCount = _leafCount.ToArray(), LeafWeight = _leafWeight.ToArray(),
    };
}
