// The bank side of the party-split federated GBDT (protocols/SPEC.md 14.4). A bank party holds its own rows, the public
// GbdtOptions and the modulus k, and learns everything else from the coordinator's broadcasts: the bins, base score and
// gradient scale (GbdtTrainingStart), each level's split decisions (GbdtLevelRequest) and each tree's leaf values
// (GbdtTreeResult). It keeps its own row-to-node routing: the rows of each open node are a contiguous range of one index
// array, partitioned in place at every split, so a level's histograms touch only the rows of the nodes being summed.
// Its answers are residues mod 2^k that go only into the secure sum; what the sum reveals is listed in SPEC.md 14.4.
// A broadcast of the wrong kind, tree, level or shape is refused (ProtocolViolationException) before anything changes.
using FraudFed.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;

namespace FraudFed.Learning.Gbdt;

/// <summary>One bank's party in federated GBDT training: its rows, its histograms, its routing (SPEC.md 14.4).</summary>
public sealed class GbdtBankParty : ITrainingBankParty
{
    private readonly LabeledRows _rows;
    private readonly GbdtOptions _options;
    private readonly SignedResidues _codec;
    private SetupPhase _phase = SetupPhase.Counts;
    private Training? _training;

    /// <summary>A party over this bank's own training rows.</summary>
    /// <param name="rows">The bank's training rows (at least one).</param>
    /// <param name="options">The public GBDT settings every party and the coordinator share.</param>
    /// <param name="modulusBits">k: answers are residues mod 2^k (16..64).</param>
    /// <exception cref="ArgumentException">invalid options, or k outside 16..64.</exception>
    /// <exception cref="DataFormatException">the bank has no training rows.</exception>
    public GbdtBankParty(LabeledRows rows, GbdtOptions options, int modulusBits)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (rows.Rows == 0) throw new DataFormatException("The bank has no training rows.", null, null);
        _rows = rows;
        _options = options;
        _codec = new SignedResidues(modulusBits);
    }

    /// <summary>Trees this party has closed (GbdtTreeResult applied).</summary>
    public int CompletedTrees => _training?.CompletedTrees ?? 0;

    /// <inheritdoc />
    public ulong[] Answer(TrainingBroadcast broadcast)
    {
        ArgumentNullException.ThrowIfNull(broadcast);
        switch (broadcast)
        {
            case TrainingSetupRequest setup:
                var (answer, next) = BankSetup.Answer(setup, _phase, _rows, _codec);
                _phase = next;
                return answer;
            case GbdtTrainingStart start:
                if (_phase != SetupPhase.Start)
                    throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, "GbdtTrainingStart arrived outside the end of the setup.");
                _training = new Training(_rows, _options, _codec.Bits, start);
                _phase = SetupPhase.Training;
                return [];
            case GbdtLevelRequest level:
                return _codec.Encode(Trained().Level(level));
            case GbdtTreeResult result:
                Trained().FinishTree(result);
                return [];
            default:
                throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"A GBDT bank party does not take {broadcast.GetType().Name}.");
        }
    }

    private Training Trained() => _training ?? throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, "A tree broadcast arrived before GbdtTrainingStart.");

    /// <summary>The bank's state once the bins are known.</summary>
    private sealed class Training
    {
        private readonly FeatureBins _bins;
        private readonly GbdtOptions _options;
        private readonly int _trees, _scale, _f;
        private readonly ushort[] _globalBins;
        private readonly bool[] _labels;
        private readonly double[] _scores;
        private readonly long[] _g, _h;
        private readonly int[] _order, _scratch, _leaf;
        private (int Start, int Count)[] _ranges = [];
        private int _openTree = -1, _level = -1, _leaves;

        public int CompletedTrees { get; private set; }

        public Training(LabeledRows rows, GbdtOptions options, int modulusBits, GbdtTrainingStart start)
        {
            int f = rows.Features;
            if (start.Thresholds is null || start.HasMissing is null || start.Thresholds.Count != f || start.HasMissing.Count != f)
                throw BankSetup.Refuse(ViolationReason.Malformed, $"GbdtTrainingStart must carry bins for exactly {f} features.");
            if (!double.IsFinite(start.BaseScore))
                throw BankSetup.Refuse(ViolationReason.OutOfRange, "GbdtTrainingStart's base score is not finite.");
            // A bank's histogram sums at most rows * 2^S in magnitude; it must fit k - 2 bits (HistogramMath.GradientScaleBits).
            if (start.GradientScaleBits is < 8 or > 30 || SumChannel.BitLength(rows.Rows) + start.GradientScaleBits > modulusBits - 2)
                throw BankSetup.Refuse(ViolationReason.OutOfRange, $"Gradient scale 2^{start.GradientScaleBits} does not fit this bank's rows in a {modulusBits}-bit sum.");
            if (start.Trees != options.Trees)
                throw BankSetup.Refuse(ViolationReason.Inconsistent, $"GbdtTrainingStart announces {start.Trees} trees; the public options say {options.Trees}.");
            FeatureBins bins;
            try { bins = new FeatureBins(start.Thresholds.Select(t => (double[])t.Clone()).ToArray(), start.HasMissing.ToArray()); }
            catch (ArgumentException e) { throw BankSetup.Refuse(ViolationReason.Malformed, "GbdtTrainingStart's bins are invalid: " + e.Message); }
            if (bins.Thresholds.Any(t => t.Length + 1 > options.MaxBins))
                throw BankSetup.Refuse(ViolationReason.OutOfRange, $"GbdtTrainingStart has a feature with more than MaxBins = {options.MaxBins} bins.");
            byte[] local;
            try { local = bins.BinRows(rows); }
            catch (DataFormatException) { throw BankSetup.Refuse(ViolationReason.Inconsistent, "GbdtTrainingStart gives no missing bin to a feature this bank has missing values in."); }

            _bins = bins;
            _options = options;
            _trees = start.Trees;
            _scale = start.GradientScaleBits;
            _f = f;
            _globalBins = new ushort[local.Length];
            for (int i = 0; i < local.Length; i++) _globalBins[i] = (ushort)(bins.Offsets[i % f] + local[i]);
            _labels = rows.Labels;
            _scores = new double[rows.Rows];
            Array.Fill(_scores, start.BaseScore);
            _g = new long[rows.Rows];
            _h = new long[rows.Rows];
            _order = new int[rows.Rows];
            _scratch = new int[rows.Rows];
            _leaf = new int[rows.Rows];
        }

        public long[] Level(GbdtLevelRequest request)
        {
            if (request.PreviousSplits is null || request.Nodes is null)
                throw BankSetup.Refuse(ViolationReason.Malformed, "GbdtLevelRequest lacks its splits or nodes.");
            int frontier;
            if (_openTree < 0)
            {
                if (request.Tree != CompletedTrees || request.Tree >= _trees || request.Level != 0)
                    throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"GbdtLevelRequest for tree {request.Tree} level {request.Level}; the bank expects tree {CompletedTrees} level 0.");
                if (request.PreviousSplits.Count != 0)
                    throw BankSetup.Refuse(ViolationReason.Malformed, "A level-0 request carries no previous splits.");
                frontier = 1;
            }
            else
            {
                if (request.Tree != _openTree || request.Level != _level + 1)
                    throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"GbdtLevelRequest for tree {request.Tree} level {request.Level}; the bank expects tree {_openTree} level {_level + 1}.");
                if (request.Level > _options.MaxDepth)
                    throw BankSetup.Refuse(ViolationReason.OutOfRange, $"Level {request.Level} is deeper than MaxDepth = {_options.MaxDepth}.");
                frontier = CheckDecisions(request.PreviousSplits, leavesOnly: false);
                if (frontier == 0)
                    throw BankSetup.Refuse(ViolationReason.Malformed, "A level request whose previous splits close every node must be a GbdtTreeResult.");
            }
            for (int s = 0; s < request.Nodes.Count; s++)
                if (request.Nodes[s] < 0 || request.Nodes[s] >= frontier || (s > 0 && request.Nodes[s] <= request.Nodes[s - 1]))
                    throw BankSetup.Refuse(ViolationReason.Malformed, $"GbdtLevelRequest's nodes must be strictly ascending frontier indices below {frontier}.");

            // Everything checked: the state changes from here on.
            if (_openTree < 0)
            {
                HistogramMath.Gradients(_scores, _labels, _scale, _g, _h);
                for (int i = 0; i < _order.Length; i++) _order[i] = i;
                _ranges = [(0, _order.Length)];
                _openTree = request.Tree;
                _leaves = 0;
            }
            else Route(request.PreviousSplits, frontier);
            _level = request.Level;
            return Histograms(request.Nodes);
        }

        public void FinishTree(GbdtTreeResult result)
        {
            if (result.FinalSplits is null || result.LeafValues is null)
                throw BankSetup.Refuse(ViolationReason.Malformed, "GbdtTreeResult lacks its splits or leaf values.");
            if (_openTree < 0 || result.Tree != _openTree)
                throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"GbdtTreeResult for tree {result.Tree}; the open tree is {(_openTree < 0 ? "none" : _openTree.ToString(System.Globalization.CultureInfo.InvariantCulture))}.");
            CheckDecisions(result.FinalSplits, leavesOnly: true);
            int leaves = _leaves + result.FinalSplits.Count;
            if (result.LeafValues.Count != leaves)
                throw BankSetup.Refuse(ViolationReason.Malformed, $"GbdtTreeResult carries {result.LeafValues.Count} leaf values for a tree of {leaves} leaves.");
            foreach (double v in result.LeafValues)
                if (!double.IsFinite(v)) throw BankSetup.Refuse(ViolationReason.OutOfRange, "GbdtTreeResult carries a leaf value that is not finite.");

            Route(result.FinalSplits, 0);
            for (int i = 0; i < _scores.Length; i++) _scores[i] += result.LeafValues[_leaf[i]];
            _openTree = -1;
            _level = -1;
            CompletedTrees++;
        }

        /// <summary>Checks one decision per open node; returns the size of the next frontier. Changes nothing.</summary>
        private int CheckDecisions(IReadOnlyList<GbdtNodeDecision> decisions, bool leavesOnly)
        {
            if (decisions.Count != _ranges.Length)
                throw BankSetup.Refuse(ViolationReason.Malformed, $"{decisions.Count} decisions for {_ranges.Length} open nodes.");
            int next = 0, leaf = _leaves;
            foreach (GbdtNodeDecision d in decisions)
            {
                if (d.IsLeaf)
                {
                    if (d.Leaf != leaf++) throw BankSetup.Refuse(ViolationReason.Malformed, "Leaf indices must be consecutive in frontier order.");
                    continue;
                }
                if (leavesOnly) throw BankSetup.Refuse(ViolationReason.Malformed, "GbdtTreeResult may only close nodes as leaves.");
                if (d.Feature < 0 || d.Feature >= _f || d.Bin < 0 || d.Bin > _bins.Thresholds[d.Feature].Length
                    || (d.Bin == _bins.Thresholds[d.Feature].Length && !_bins.HasMissing[d.Feature]))
                    throw BankSetup.Refuse(ViolationReason.OutOfRange, "A split names a feature or bin that does not exist.");
                next += 2;
            }
            return next;
        }

        /// <summary>Applies checked decisions: leaves record their index, splits partition their range (stable, left first).</summary>
        private void Route(IReadOnlyList<GbdtNodeDecision> decisions, int nextCount)
        {
            var next = new (int Start, int Count)[nextCount];
            int child = 0;
            for (int node = 0; node < _ranges.Length; node++)
            {
                GbdtNodeDecision d = decisions[node];
                var (start, count) = _ranges[node];
                if (d.IsLeaf)
                {
                    for (int k = start; k < start + count; k++) _leaf[_order[k]] = d.Leaf;
                    _leaves++;
                    continue;
                }
                int limit = _bins.Offsets[d.Feature] + d.Bin;
                int missing = d.DefaultLeft && _bins.HasMissing[d.Feature] ? _bins.Offsets[d.Feature] + _bins.MissingBin(d.Feature) : -1;
                int left = 0, right = 0;
                for (int k = start; k < start + count; k++)
                {
                    int i = _order[k];
                    int b = _globalBins[i * _f + d.Feature];
                    if (b <= limit || b == missing) _order[start + left++] = i;
                    else _scratch[right++] = i;
                }
                Array.Copy(_scratch, 0, _order, start + left, right);
                next[child++] = (start, left);
                next[child++] = (start + left, right);
            }
            _ranges = next;
        }

        private long[] Histograms(IReadOnlyList<int> nodes)
        {
            int tb = _bins.TotalBins, f = _f;
            var vec = new long[nodes.Count * 3 * tb];
            ushort[] gb = _globalBins;
            for (int s = 0; s < nodes.Count; s++)
            {
                Span<long> hist = vec.AsSpan(s * 3 * tb, 3 * tb);
                var (start, count) = _ranges[nodes[s]];
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
    }
}
