// The coordinator side of the party-split federated GBDT (protocols/SPEC.md 14.4). It sees only sums mod 2^k of the
// banks' answers and sends only broadcasts:
//   setup 1  TrainingSetupRequest(Counts)    -> sum of [rows, positives] = [N, P]; base score log(P/(N-P)); scale S
//   setup 2  TrainingSetupRequest(FineGrid)  -> summed fine-grid counts -> global bins (FeatureBins.FromFineCounts)
//   start    GbdtTrainingStart               -> no sum
//   level    GbdtLevelRequest                -> ONE sum of the (g, h, count) histograms of the nodes that need one; when
//            both children of a split can split further, only the child with fewer rows is summed and its sibling is
//            the parent minus it (exact: integer arithmetic); no sum when no node needs one
//   close    GbdtTreeResult                  -> no sum
// Everything is integer until the split search, so the model equals the single-site histogram GBDT on pooled rows
// (PooledHistogramGbdt) bit for bit, whatever the secure sum mode. Missing values: N minus a feature's summed grid
// counts is its global missing count; such a feature gets a missing bin whose rows every split sends to its learned
// default side (FeatureBins, HistogramMath).
using FraudFed.Learning.Federation;

namespace FraudFed.Learning.Gbdt;

/// <summary>The coordinator of federated GBDT training: bins, split search, leaf values and the model (SPEC.md 14.4).</summary>
public sealed class GbdtCoordinator : TrainingCoordinator<GbdtModel>
{
    private enum Phase { FineGrid, Start, Level, TreeResult }

    private readonly GbdtOptions _options;
    private readonly List<GbdtTree> _trees = new();
    private Phase _phase = Phase.FineGrid;
    private double _baseScore;
    private int _scale;
    private FeatureBins? _bins;
    private int _tree, _level;
    private TreeAssembler? _assembler;
    private List<OpenNode> _frontier = new();
    private List<int> _build = new();

    /// <summary>A coordinator for banks whose rows have columns <paramref name="featureNames"/>, summing mod 2^<paramref name="modulusBits"/>.</summary>
    /// <param name="options">The public GBDT settings.</param>
    /// <param name="featureNames">The public schema: column names in order.</param>
    /// <param name="modulusBits">k of the secure sum (16..64).</param>
    /// <exception cref="ArgumentException">invalid options, no feature, or k outside 16..64.</exception>
    public GbdtCoordinator(GbdtOptions options, IReadOnlyList<string> featureNames, int modulusBits)
        : base(featureNames, modulusBits, (options ?? throw new ArgumentNullException(nameof(options))).Trees)
    {
        options.Validate();
        _options = options;
    }

    private protected override void OnCounts(long positives)
    {
        _baseScore = Math.Log((double)positives / (Rows - positives));
        _scale = HistogramMath.GradientScaleBits(Codec.Bits, Rows);
    }

    private protected override void Step(ReadOnlySpan<ulong> sum)
    {
        GbdtOptions o = _options;
        switch (_phase)
        {
            case Phase.FineGrid:
                _bins = FeatureBins.FromFineCounts(Codec.Decode(sum), FeatureNames.Count, o.MaxBins, rows: Rows);
                _phase = Phase.Start;
                Set(new GbdtTrainingStart(_bins.Thresholds.Select(t => (double[])t.Clone()).ToArray(), _bins.HasMissing.ToArray(), _baseScore, _scale, o.Trees), 0, Label);
                break;
            case Phase.Start:
                StartTree(0);
                break;
            case Phase.Level:
                TakeLevel(Codec.Decode(sum));
                break;
            case Phase.TreeResult:
                if (_tree + 1 < o.Trees) StartTree(_tree + 1);
                else Complete(new GbdtModel(FeatureNames, _bins!, _baseScore, _trees.ToArray(), _scale, o));
                break;
        }
    }

    private void StartTree(int tree)
    {
        _tree = tree;
        _assembler = new TreeAssembler(_scale, _options);
        _frontier = [new OpenNode { Depth = 0, Parent = -1, NeedsTotals = true }];
        OpenLevel(0, []);
    }

    /// <summary>Chooses which nodes of the frontier need a summed histogram (the others are derived) and broadcasts the level.</summary>
    private void OpenLevel(int level, GbdtNodeDecision[] previousSplits)
    {
        GbdtOptions o = _options;
        var build = new List<int>();
        for (int i = 0; i < _frontier.Count; i++)
        {
            OpenNode node = _frontier[i];
            if (node.NeedsTotals) { build.Add(i); continue; }
            if (!node.Eligible(_scale, o)) continue;
            if (node.IsLeft)
            {
                OpenNode sibling = _frontier[i + 1];
                bool siblingEligible = sibling.Eligible(_scale, o);
                if (siblingEligible && sibling.C < node.C) { build.Add(i + 1); node.DeriveFrom = i + 1; }
                else { build.Add(i); if (siblingEligible) sibling.DeriveFrom = i; }
            }
            else if (node.DeriveFrom < 0 && !build.Contains(i)) build.Add(i);
        }
        build.Sort();
        _build = build;
        _level = level;
        _phase = Phase.Level;
        Set(new GbdtLevelRequest(_tree, level, previousSplits, build.ToArray()), build.Count * 3 * _bins!.TotalBins, new SumLabel("tree", _tree + 1, o.Trees, level));
    }

    private void TakeLevel(long[] sum)
    {
        GbdtOptions o = _options;
        FeatureBins bins = _bins!;
        int tb = bins.TotalBins;
        if (_build.Count > 0)
        {
            for (int s = 0; s < _build.Count; s++)
            {
                OpenNode node = _frontier[_build[s]];
                node.Hist = sum.AsSpan(s * 3 * tb, 3 * tb).ToArray();
                if (node.NeedsTotals) { (node.G, node.H, node.C) = HistogramMath.Totals(node.Hist, bins); node.NeedsTotals = false; }
            }
            foreach (OpenNode node in _frontier)
                if (node.DeriveFrom >= 0)
                {
                    long[] other = _frontier[node.DeriveFrom].Hist!;
                    var hist = new long[3 * tb];
                    for (int j = 0; j < hist.Length; j++) hist[j] = node.ParentHist![j] - other[j];
                    node.Hist = hist;
                }
        }

        TreeAssembler assembler = _assembler!;
        var decisions = new GbdtNodeDecision[_frontier.Count];
        var next = new List<OpenNode>();
        for (int i = 0; i < _frontier.Count; i++)
        {
            OpenNode node = _frontier[i];
            SplitChoice? split = node.Hist is not null && node.Eligible(_scale, o)
                ? HistogramMath.BestSplit(node.Hist, node.G, node.H, node.C, bins, _scale, o) : null;
            if (split is { } sp)
            {
                int idx = assembler.AddInternal(node.Parent, node.IsLeft, sp, bins, node.G, node.H, node.C);
                decisions[i] = GbdtNodeDecision.Split(sp.Feature, sp.Bin, sp.DefaultLeft);
                next.Add(new OpenNode { Depth = node.Depth + 1, Parent = idx, IsLeft = true, G = sp.LeftG, H = sp.LeftH, C = sp.LeftCount, ParentHist = node.Hist });
                next.Add(new OpenNode { Depth = node.Depth + 1, Parent = idx, IsLeft = false, G = node.G - sp.LeftG, H = node.H - sp.LeftH, C = node.C - sp.LeftCount, ParentHist = node.Hist });
            }
            else
            {
                decisions[i] = GbdtNodeDecision.LeafNode(assembler.AddLeaf(node.Parent, node.IsLeft, node.G, node.H, node.C));
            }
        }
        if (next.Count > 0)
        {
            _frontier = next;
            OpenLevel(_level + 1, decisions);
            return;
        }
        GbdtTree tree = assembler.Build();
        _trees.Add(tree);
        _frontier = [];
        _phase = Phase.TreeResult;
        Set(new GbdtTreeResult(_tree, decisions, tree.LeafValue.ToArray()), 0, Label);
    }

    private sealed class OpenNode
    {
        public int Depth, Parent;
        public bool IsLeft, NeedsTotals;
        public long G, H, C;
        public long[]? Hist, ParentHist;
        public int DeriveFrom = -1;
        public bool Eligible(int scale, GbdtOptions o) => HistogramMath.CanSplit(Depth, C, H, scale, o);
    }
}
