// Federated histogram gradient boosting over ISecureSum.
// Setup: one secure sum of (rows, positives) per bank -> N, P, base score log(P/(N-P)); one secure sum of
// fine-grid counts (FeatureBins) -> global bins. Per tree level: ONE secure sum of the quantized
// (gradient, hessian, count) histograms of the nodes that need one; when both children of a split can
// split further, only the child with fewer rows is summed and its sibling is the parent minus it (exact:
// integer arithmetic). The aggregate reveals only summed histograms; split choice and leaf values are
// computed from them and broadcast. Everything is integer until the split search, so the model equals the
// single-site histogram GBDT on pooled rows (PooledHistogramGbdt) bit for bit, whatever the secure sum mode.
// Missing values: the fine-grid sum counts present values only, so N minus a feature's summed counts is its
// global missing count; features with missing values get a missing bin (FeatureBins) whose rows every split
// sends to its learned default side.
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Protocol;

namespace FraudFed.Learning.Gbdt;

/// <summary>Trains a <see cref="GbdtModel"/> across banks, exchanging only secure sums.</summary>
public sealed class FederatedGbdtTrainer
{
    private readonly GbdtOptions _options;

    /// <summary>Creates a trainer.</summary>
    public FederatedGbdtTrainer(GbdtOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains on one table per bank (same columns) through <paramref name="secureSum"/>.</summary>
    public GbdtModel Train(IReadOnlyList<LabeledRows> banks, ISecureSum secureSum, Action<FederationProgress>? progress = null, CancellationToken cancellationToken = default)
        => Train(banks, new SumChannel(secureSum, progress), cancellationToken);

    /// <summary>Trains through an existing channel (its cost counters keep accumulating).</summary>
    public GbdtModel Train(IReadOnlyList<LabeledRows> banks, SumChannel channel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(channel);
        FederatedInput.Check(banks, channel.Banks);
        GbdtOptions o = _options;
        int bankCount = banks.Count;
        int f = banks[0].Features;

        // Setup 1: global counts.
        long[] counts = channel.SumSigned(banks.Select(b => new long[] { b.Rows, b.Positives }).ToArray(), "setup", 0, o.Trees, -1, cancellationToken);
        long n = counts[0], positives = counts[1];
        FederatedInput.CheckLabels(positives, n);
        double baseScore = Math.Log((double)positives / (n - positives));
        int scale = HistogramMath.GradientScaleBits(channel.Bits, n);

        // Setup 2: global bins from fine-grid counts.
        var fine = new long[bankCount][];
        BankParallel.For(bankCount, b => fine[b] = FeatureBins.FineCounts(banks[b]));
        long[] fineSum = channel.SumSigned(fine, "setup", 0, o.Trees, -1, cancellationToken);
        FeatureBins bins = FeatureBins.FromFineCounts(fineSum, f, o.MaxBins, rows: n);

        var states = new BankState[bankCount];
        BankParallel.For(bankCount, b => states[b] = new BankState(banks[b], bins, baseScore));

        int tb = bins.TotalBins;
        var trees = new List<GbdtTree>(o.Trees);
        for (int t = 0; t < o.Trees; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            BankParallel.For(bankCount, b => states[b].StartTree(scale));
            var assembler = new TreeAssembler(scale, o);
            var frontier = new List<OpenNode> { new() { Depth = 0, Parent = -1, NeedsTotals = true } };
            for (int level = 0; frontier.Count > 0; level++)
            {
                // Which nodes need a summed histogram, and which are derived by subtraction.
                var build = new List<int>();
                for (int i = 0; i < frontier.Count; i++)
                {
                    OpenNode node = frontier[i];
                    if (node.NeedsTotals) { build.Add(i); continue; }
                    if (!node.Eligible(scale, o)) continue;
                    if (node.IsLeft)
                    {
                        OpenNode sibling = frontier[i + 1];
                        bool siblingEligible = sibling.Eligible(scale, o);
                        if (siblingEligible && sibling.C < node.C) { build.Add(i + 1); node.DeriveFrom = i + 1; }
                        else { build.Add(i); if (siblingEligible) sibling.DeriveFrom = i; }
                    }
                    else if (node.DeriveFrom < 0 && !build.Contains(i)) build.Add(i);
                }
                build.Sort();
                if (build.Count > 0)
                {
                    var slotOf = new int[frontier.Count];
                    Array.Fill(slotOf, -1);
                    for (int s = 0; s < build.Count; s++) slotOf[build[s]] = s;
                    var vectors = new long[bankCount][];
                    BankParallel.For(bankCount, b => vectors[b] = states[b].Histograms(slotOf, build.Count, bins));
                    long[] sum = channel.SumSigned(vectors, "tree", t + 1, o.Trees, level, cancellationToken);
                    for (int s = 0; s < build.Count; s++)
                    {
                        OpenNode node = frontier[build[s]];
                        node.Hist = sum.AsSpan(s * 3 * tb, 3 * tb).ToArray();
                        if (node.NeedsTotals) { (node.G, node.H, node.C) = HistogramMath.Totals(node.Hist, bins); node.NeedsTotals = false; }
                    }
                    foreach (OpenNode node in frontier)
                        if (node.DeriveFrom >= 0)
                        {
                            long[] other = frontier[node.DeriveFrom].Hist!;
                            var hist = new long[3 * tb];
                            for (int j = 0; j < hist.Length; j++) hist[j] = node.ParentHist![j] - other[j];
                            node.Hist = hist;
                        }
                }

                var routes = new Route[frontier.Count];
                var next = new List<OpenNode>();
                for (int i = 0; i < frontier.Count; i++)
                {
                    OpenNode node = frontier[i];
                    SplitChoice? split = node.Hist is not null && node.Eligible(scale, o)
                        ? HistogramMath.BestSplit(node.Hist, node.G, node.H, node.C, bins, scale, o) : null;
                    if (split is { } sp)
                    {
                        int idx = assembler.AddInternal(node.Parent, node.IsLeft, sp, bins, node.G, node.H, node.C);
                        routes[i] = new Route(sp.Feature, sp.Bin, sp.DefaultLeft, next.Count, next.Count + 1, -1);
                        next.Add(new OpenNode { Depth = node.Depth + 1, Parent = idx, IsLeft = true, G = sp.LeftG, H = sp.LeftH, C = sp.LeftCount, ParentHist = node.Hist });
                        next.Add(new OpenNode { Depth = node.Depth + 1, Parent = idx, IsLeft = false, G = node.G - sp.LeftG, H = node.H - sp.LeftH, C = node.C - sp.LeftCount, ParentHist = node.Hist });
                    }
                    else
                    {
                        routes[i] = new Route(-1, -1, false, -1, -1, assembler.AddLeaf(node.Parent, node.IsLeft, node.G, node.H, node.C));
                    }
                }
                BankParallel.For(bankCount, b => states[b].Route(routes, next.Count, bins));
                frontier = next;
            }
            GbdtTree tree = assembler.Build();
            trees.Add(tree);
            BankParallel.For(bankCount, b => states[b].FinishTree(tree));
        }
        return new GbdtModel(banks[0].FeatureNames, bins, baseScore, trees, scale, o);
    }


    private readonly record struct Route(int Feature, int Bin, bool DefaultLeft, int Left, int Right, int Leaf);

    private sealed class OpenNode
    {
        public int Depth, Parent;
        public bool IsLeft, NeedsTotals;
        public long G, H, C;
        public long[]? Hist, ParentHist;
        public int DeriveFrom = -1;
        public bool Eligible(int scale, GbdtOptions o) => HistogramMath.CanSplit(Depth, C, H, scale, o);
    }

    /// <summary>
    /// What one bank keeps locally: its rows' global bin indices (offset + bin, row-major), scores, quantized
    /// gradients, and the rows of each open node as contiguous ranges of one index array (partitioned in
    /// place at every split), so a level's histograms touch only the rows of the nodes being summed.
    /// </summary>
    private sealed class BankState
    {
        private readonly ushort[] _globalBins;
        private readonly bool[] _labels;
        private readonly double[] _scores;
        private readonly long[] _g, _h;
        private readonly int[] _order, _scratch, _leaf;
        private readonly int _f;
        private (int Start, int Count)[] _ranges = [];

        public BankState(LabeledRows rows, FeatureBins bins, double baseScore)
        {
            byte[] local = bins.BinRows(rows);
            _f = rows.Features;
            _globalBins = new ushort[local.Length];
            for (int i = 0; i < local.Length; i++) _globalBins[i] = (ushort)(bins.Offsets[i % _f] + local[i]);
            _labels = rows.Labels;
            _scores = new double[rows.Rows];
            Array.Fill(_scores, baseScore);
            _g = new long[rows.Rows];
            _h = new long[rows.Rows];
            _order = new int[rows.Rows];
            _scratch = new int[rows.Rows];
            _leaf = new int[rows.Rows];
        }

        public void StartTree(int scale)
        {
            HistogramMath.Gradients(_scores, _labels, scale, _g, _h);
            for (int i = 0; i < _order.Length; i++) _order[i] = i;
            _ranges = [(0, _order.Length)];
        }

        public long[] Histograms(int[] slotOf, int slots, FeatureBins bins)
        {
            int tb = bins.TotalBins, f = _f;
            var vec = new long[slots * 3 * tb];
            ushort[] gb = _globalBins;
            for (int node = 0; node < _ranges.Length; node++)
            {
                int s = slotOf[node];
                if (s < 0) continue;
                Span<long> hist = vec.AsSpan(s * 3 * tb, 3 * tb);
                var (start, count) = _ranges[node];
                for (int k = start; k < start + count; k++)
                {
                    int i = _order[k];
                    long g = _g[i], h = _h[i];
                    int row = i * f;
                    for (int j = 0; j < f; j++)
                    {
                        int b = 3 * gb[row + j];
                        hist[b] += g;
                        hist[b + 1] += h;
                        hist[b + 2]++;
                    }
                }
            }
            return vec;
        }

        public void Route(Route[] routes, int nextCount, FeatureBins bins)
        {
            var next = new (int Start, int Count)[nextCount];
            for (int node = 0; node < _ranges.Length; node++)
            {
                Route r = routes[node];
                var (start, count) = _ranges[node];
                if (r.Leaf >= 0)
                {
                    for (int k = start; k < start + count; k++) _leaf[_order[k]] = r.Leaf;
                    continue;
                }
                // Stable partition: rows with bin <= split bin first, and missing values if they go left.
                int limit = bins.Offsets[r.Feature] + r.Bin;
                int missing = r.DefaultLeft && bins.HasMissing[r.Feature] ? bins.Offsets[r.Feature] + bins.MissingBin(r.Feature) : -1;
                int left = 0, right = 0;
                for (int k = start; k < start + count; k++)
                {
                    int i = _order[k];
                    int b = _globalBins[i * _f + r.Feature];
                    if (b <= limit || b == missing) _order[start + left++] = i;
                    else _scratch[right++] = i;
                }
                Array.Copy(_scratch, 0, _order, start + left, right);
                next[r.Left] = (start, left);
                next[r.Right] = (start + left, right);
            }
            _ranges = next;
        }

        public void FinishTree(GbdtTree tree)
        {
            for (int i = 0; i < _scores.Length; i++) _scores[i] += tree.LeafValue[_leaf[i]];
        }
    }
}

/// <summary>Checks shared by the federated trainers.</summary>
internal static class FederatedInput
{
    public static void Check(IReadOnlyList<LabeledRows> banks, int expectedBanks)
    {
        if (banks.Count != expectedBanks)
            throw new ArgumentException($"The secure sum has {expectedBanks} banks but {banks.Count} tables were given.", nameof(banks));
        for (int b = 0; b < banks.Count; b++)
        {
            if (banks[b] is null) throw new ArgumentException($"Bank {b}'s table is null.", nameof(banks));
            if (banks[b].Rows == 0)
                throw new DataFormatException($"Bank {b} has no training rows.", column: null, row: null, bank: b.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!banks[b].FeatureNames.SequenceEqual(banks[0].FeatureNames))
                throw new ArgumentException($"Bank {b}'s columns differ from bank 0's.", nameof(banks));
        }
    }

    /// <summary>Sanity of the decoded global counts (a wrapped or tampered sum fails here), then label balance.</summary>
    /// <exception cref="InvalidOperationException">rows &lt; 1 or positives outside [0, rows]: the secure sum is wrong.</exception>
    /// <exception cref="DataFormatException">no positive, or only positives.</exception>
    public static void CheckLabels(long positives, long n)
    {
        if (n < 1 || positives < 0 || positives > n)
            throw new InvalidOperationException($"The secure sum of row counts decoded to {n} rows with {positives} positives, which is impossible; the sum is wrong (wrapped or tampered).");
        if (positives == 0) throw new DataFormatException("No bank has a positive (fraud) label in its training rows.", "label", null);
        if (positives == n) throw new DataFormatException("Every training row is labelled positive (fraud); nothing to learn.", "label", null);
    }
}
