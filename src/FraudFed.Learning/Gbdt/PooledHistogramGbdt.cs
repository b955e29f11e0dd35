// Single-site histogram GBDT on pooled rows: the reference the federated trainer must equal.
// It builds every node's histogram directly from the node's own rows (no secure sum, no modular
// encoding, no sibling subtraction), visiting nodes breadth first, with the same bins, the same gradient
// quantization, the same split rule and the same handling of missing values (a row in a feature's missing bin
// follows the split's default side).
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;

namespace FraudFed.Learning.Gbdt;

/// <summary>Centralized (non-private) histogram boosting with given bins: the reference for equality tests.</summary>
public static class PooledHistogramGbdt
{
    /// <summary>Trains on <paramref name="pooled"/> with <paramref name="bins"/> and gradients quantized at 2^-<paramref name="gradientScaleBits"/>.</summary>
    public static GbdtModel Train(LabeledRows pooled, FeatureBins bins, int gradientScaleBits, GbdtOptions options)
    {
        ArgumentNullException.ThrowIfNull(pooled);
        ArgumentNullException.ThrowIfNull(bins);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int n = pooled.Rows, f = pooled.Features, tb = bins.TotalBins;
        long positives = pooled.Positives;
        FederatedInput.CheckLabels(positives, n);
        double baseScore = Math.Log((double)positives / (n - positives));
        byte[] binned = bins.BinRows(pooled);
        var scores = new double[n];
        Array.Fill(scores, baseScore);
        var g = new long[n];
        var h = new long[n];
        var leafOf = new int[n];
        var trees = new List<GbdtTree>();
        for (int t = 0; t < options.Trees; t++)
        {
            HistogramMath.Gradients(scores, pooled.Labels, gradientScaleBits, g, h);
            var assembler = new TreeAssembler(gradientScaleBits, options);
            var queue = new Queue<(int[] Rows, int Depth, int Parent, bool IsLeft)>();
            queue.Enqueue((Enumerable.Range(0, n).ToArray(), 0, -1, false));
            while (queue.Count > 0)
            {
                var (rows, depth, parent, isLeft) = queue.Dequeue();
                long sg = 0, sh = 0;
                foreach (int i in rows) { sg += g[i]; sh += h[i]; }
                SplitChoice? split = null;
                if (HistogramMath.CanSplit(depth, rows.Length, sh, gradientScaleBits, options))
                {
                    var hist = new long[3 * tb];
                    foreach (int i in rows)
                        for (int j = 0; j < f; j++)
                        {
                            int k = 3 * (bins.Offsets[j] + binned[i * f + j]);
                            hist[k] += g[i];
                            hist[k + 1] += h[i];
                            hist[k + 2] += 1;
                        }
                    split = HistogramMath.BestSplit(hist, sg, sh, rows.Length, bins, gradientScaleBits, options);
                }
                if (split is { } sp)
                {
                    int idx = assembler.AddInternal(parent, isLeft, sp, bins, sg, sh, rows.Length);
                    int missing = sp.DefaultLeft ? bins.MissingBin(sp.Feature) : -1;
                    bool GoesLeft(int i) => binned[i * f + sp.Feature] <= sp.Bin || binned[i * f + sp.Feature] == missing;
                    queue.Enqueue((rows.Where(GoesLeft).ToArray(), depth + 1, idx, true));
                    queue.Enqueue((rows.Where(i => !GoesLeft(i)).ToArray(), depth + 1, idx, false));
                }
                else
                {
                    int leaf = assembler.AddLeaf(parent, isLeft, sg, sh, rows.Length);
                    foreach (int i in rows) leafOf[i] = leaf;
                }
            }
            GbdtTree tree = assembler.Build();
            trees.Add(tree);
            for (int i = 0; i < n; i++) scores[i] += tree.LeafValue[leafOf[i]];
        }
        return new GbdtModel(pooled.FeatureNames, bins, baseScore, trees, gradientScaleBits, options);
    }
}
