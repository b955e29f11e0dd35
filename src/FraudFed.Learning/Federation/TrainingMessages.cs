// The seam between a bank party and the coordinator of a party-split trainer (protocols/SPEC.md 14.4). The coordinator
// sends the same broadcast to every bank; each bank answers with one vector of residues mod 2^k (possibly empty); the
// wiring turns the N answers into their sum mod 2^k (a secure sum, never the answers themselves) and hands only that sum
// to the coordinator. Nothing else crosses. On the wire, a broadcast is a `TrainingBroadcast` protobuf
// (protocols/fraudfed/v1/training.proto, mapped by TrainingWire).
namespace FraudFed.Learning.Federation;

/// <summary>
/// One message from the coordinator to every bank party (SPEC.md 14.4). Each bank party answers it with a vector mod 2^k
/// whose length the coordinator announces as <c>SumLength</c> (0: the broadcast needs no secure sum).
/// </summary>
public abstract record TrainingBroadcast;

/// <summary>What a setup request asks every bank for (SPEC.md 14.4, setup).</summary>
public enum TrainingSetupStep
{
    /// <summary>[rows, positives] of the bank's training rows: 2 values.</summary>
    Counts = 1,
    /// <summary>The bank's counts of present values on the public fine grid (<see cref="Gbdt.FeatureBins.FineCounts"/>),
    /// feature-major: features x <see cref="Gbdt.FeatureBins.FineCells"/> values.</summary>
    FineGrid = 2,
}

/// <summary>
/// Setup broadcast shared by both trainers: asks for <paramref name="Step"/>'s statistics. <paramref name="FeatureNames"/>
/// is the public schema; a bank whose columns differ refuses the request.
/// </summary>
/// <param name="Step">Which statistics (counts or fine grid).</param>
/// <param name="FeatureNames">Column names, in order, that every bank's rows must have.</param>
public sealed record TrainingSetupRequest(TrainingSetupStep Step, IReadOnlyList<string> FeatureNames) : TrainingBroadcast;

/// <summary>
/// The public result of the GBDT setup (SPEC.md 14.4): global bins, base score log(P/(N-P)) and the gradient scale S
/// (gradients and hessians are quantized as round(v * 2^S)). Answer: none (no secure sum).
/// </summary>
/// <param name="Thresholds">Per feature, ascending finite bin thresholds (<see cref="Gbdt.FeatureBins.Thresholds"/>).</param>
/// <param name="HasMissing">Per feature, whether it has a bin for missing values.</param>
/// <param name="BaseScore">Initial raw score of every row.</param>
/// <param name="GradientScaleBits">S, in 8..30.</param>
/// <param name="Trees">Trees the coordinator will grow.</param>
public sealed record GbdtTrainingStart(IReadOnlyList<double[]> Thresholds, IReadOnlyList<bool> HasMissing, double BaseScore, int GradientScaleBits, int Trees) : TrainingBroadcast;

/// <summary>
/// The coordinator's decision for one open node of a tree level, in frontier order (SPEC.md 14.4): a split (rows whose
/// bin of <paramref name="Feature"/> is at most <paramref name="Bin"/> go left, missing values go left when
/// <paramref name="DefaultLeft"/>), or a leaf (<paramref name="Leaf"/> &gt;= 0, the tree's leaf index). The children of
/// the splits, in order, left before right, form the next level's frontier.
/// </summary>
/// <param name="Feature">Split feature (0-based), -1 for a leaf.</param>
/// <param name="Bin">Split bin within the feature, -1 for a leaf.</param>
/// <param name="DefaultLeft">Missing values go left.</param>
/// <param name="Leaf">Leaf index within the tree, or -1 for a split.</param>
public readonly record struct GbdtNodeDecision(int Feature, int Bin, bool DefaultLeft, int Leaf)
{
    /// <summary>A split decision.</summary>
    public static GbdtNodeDecision Split(int feature, int bin, bool defaultLeft) => new(feature, bin, defaultLeft, -1);
    /// <summary>A leaf decision.</summary>
    public static GbdtNodeDecision LeafNode(int leaf) => new(-1, -1, false, leaf);
    /// <summary>True for a leaf.</summary>
    public bool IsLeaf => Leaf >= 0;
}

/// <summary>
/// Asks every bank for the (gradient, hessian, count) histograms of some open nodes of one tree level (SPEC.md 14.4).
/// The bank first applies <paramref name="PreviousSplits"/> (one decision per node of the previous level; empty at level
/// 0, where the bank computes the tree's gradients), then answers, for each node of <paramref name="Nodes"/> in order,
/// 3 x TotalBins values: for global bin j, [3j] = sum of quantized gradients, [3j+1] = of hessians, [3j+2] = row count.
/// </summary>
/// <param name="Tree">Tree index, 0-based.</param>
/// <param name="Level">Level (depth) within the tree, 0-based.</param>
/// <param name="PreviousSplits">Decisions for the previous level's frontier, in order.</param>
/// <param name="Nodes">Frontier indices (strictly ascending) whose histograms are summed; may be empty (no secure sum).</param>
public sealed record GbdtLevelRequest(int Tree, int Level, IReadOnlyList<GbdtNodeDecision> PreviousSplits, IReadOnlyList<int> Nodes) : TrainingBroadcast;

/// <summary>
/// Closes a tree (SPEC.md 14.4): <paramref name="FinalSplits"/> are the decisions (all leaves) for the last level's
/// frontier, <paramref name="LeafValues"/> the tree's leaf values by leaf index, which each bank adds to its rows' scores.
/// Answer: none.
/// </summary>
/// <param name="Tree">Tree index, 0-based.</param>
/// <param name="FinalSplits">Leaf decisions for the last open level, in frontier order.</param>
/// <param name="LeafValues">Leaf values (raw score units), one per leaf of the tree.</param>
public sealed record GbdtTreeResult(int Tree, IReadOnlyList<GbdtNodeDecision> FinalSplits, IReadOnlyList<double> LeafValues) : TrainingBroadcast;

/// <summary>
/// The public result of the logistic setup (SPEC.md 14.4): per-feature mean and standard deviation of t(x) from the summed
/// fine grid, and the fixed-point scale S of the weights each bank submits (round(n_b * w * 2^S)). Answer: none.
/// </summary>
/// <param name="Mean">Mean of t(x) per feature.</param>
/// <param name="Std">Standard deviation of t(x) per feature (&gt; 0).</param>
/// <param name="WeightScaleBits">S, in 6..62.</param>
/// <param name="Rounds">FedAvg rounds the coordinator will run.</param>
public sealed record LogisticTrainingStart(double[] Mean, double[] Std, int WeightScaleBits, int Rounds) : TrainingBroadcast;

/// <summary>
/// FedAvg round <paramref name="Round"/> (1-based; SPEC.md 14.4): every bank starts from <paramref name="Weights"/>, takes
/// its local steps and answers round(n_b * w_b * 2^S) per weight (features + 1 values, the bias last).
/// </summary>
/// <param name="Round">Round number, 1-based.</param>
/// <param name="Weights">Global weights (features, then bias).</param>
public sealed record LogisticRoundRequest(int Round, double[] Weights) : TrainingBroadcast;

/// <summary>Labels a secure sum for progress reports: stage "setup", "tree" or "round", 1-based step, tree level or -1.</summary>
/// <param name="Stage">"setup", "tree" (GBDT) or "round" (logistic).</param>
/// <param name="Step">Tree or round number, 1-based; 0 during setup.</param>
/// <param name="TotalSteps">Planned trees or rounds.</param>
/// <param name="Level">Tree level (GBDT), else -1.</param>
public readonly record struct SumLabel(string Stage, int Step, int TotalSteps, int Level);

/// <summary>
/// The wiring's secure sum: turns the N bank parties' answers (each a vector of residues mod 2^k, all the same length)
/// into their sum mod 2^k. In process this is <see cref="SumChannel.SumResidues"/> over an ISecureSum.
/// </summary>
/// <param name="bankVectors">One vector per bank, in roster order.</param>
/// <param name="label">What the sum is for (progress).</param>
/// <param name="cancellationToken">Cancels the sum.</param>
/// <returns>The sum mod 2^k, same length as each vector.</returns>
public delegate ulong[] BankVectorSum(IReadOnlyList<ulong[]> bankVectors, SumLabel label, CancellationToken cancellationToken);

/// <summary>A bank party: holds only its own rows, the public options and what the broadcasts told it.</summary>
public interface ITrainingBankParty
{
    /// <summary>
    /// Applies <paramref name="broadcast"/> and returns this bank's answer: residues mod 2^k (two's complement of signed
    /// integers), of the length the coordinator announced (possibly 0).
    /// </summary>
    /// <exception cref="FraudFed.Cryptography.ProtocolViolationException">a broadcast of the wrong kind, tree, level,
    /// round or shape; the party's state is then unchanged.</exception>
    /// <exception cref="OverflowException">a value of the answer does not fit k signed bits (the party's state is unchanged).</exception>
    ulong[] Answer(TrainingBroadcast broadcast);
}

/// <summary>A coordinator: holds the public setup, the split search or averaging, and the model; sees only sums.</summary>
/// <typeparam name="TModel">The trained model.</typeparam>
public interface ITrainingCoordinator<out TModel>
{
    /// <summary>The broadcast every bank must answer now (null once <see cref="IsComplete"/>).</summary>
    TrainingBroadcast? Broadcast { get; }
    /// <summary>Length of each bank's answer to <see cref="Broadcast"/>, values mod 2^k; 0: no secure sum is run.</summary>
    int SumLength { get; }
    /// <summary>What the pending sum is for.</summary>
    SumLabel Label { get; }
    /// <summary>True when the model is trained.</summary>
    bool IsComplete { get; }
    /// <summary>The model (only once <see cref="IsComplete"/>).</summary>
    /// <exception cref="InvalidOperationException">training is not complete.</exception>
    TModel Model { get; }
    /// <summary>Takes the sum mod 2^k of every bank's answer to <see cref="Broadcast"/> (empty if <see cref="SumLength"/> is 0) and moves on.</summary>
    /// <exception cref="ArgumentException">the sum has another length than <see cref="SumLength"/>.</exception>
    /// <exception cref="InvalidOperationException">the decoded sum is impossible (wrapped or tampered), or training is complete.</exception>
    void Accept(ReadOnlySpan<ulong> sum);
}

/// <summary>Two's complement of signed integers mod 2^k (k in 16..64), the encoding of every answer (SPEC.md 14.4).</summary>
public readonly struct SignedResidues
{
    private readonly ulong _mask;

    /// <summary>Encoding mod 2^<paramref name="modulusBits"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="modulusBits"/> outside 16..64.</exception>
    public SignedResidues(int modulusBits)
    {
        if (modulusBits is < 16 or > 64) throw new ArgumentOutOfRangeException(nameof(modulusBits), "The modulus must have 16..64 bits.");
        Bits = modulusBits;
        _mask = modulusBits == 64 ? ulong.MaxValue : (1UL << modulusBits) - 1;
    }

    /// <summary>k.</summary>
    public int Bits { get; }

    /// <summary>Residue of <paramref name="value"/> mod 2^k.</summary>
    /// <exception cref="OverflowException">the value does not fit k signed bits.</exception>
    public ulong Encode(long value)
    {
        if (Bits < 64)
        {
            long limit = 1L << (Bits - 1);
            if (value >= limit || value < -limit)
                throw new OverflowException($"Value {value} does not fit the {Bits}-bit signed fixed-point range.");
        }
        return (ulong)value & _mask;
    }

    /// <summary>Encodes every value (see <see cref="Encode(long)"/>).</summary>
    public ulong[] Encode(ReadOnlySpan<long> values)
    {
        var e = new ulong[values.Length];
        for (int i = 0; i < values.Length; i++) e[i] = Encode(values[i]);
        return e;
    }

    /// <summary>Signed value in [-2^(k-1), 2^(k-1)) of a residue mod 2^k.</summary>
    public long Decode(ulong residue)
    {
        residue &= _mask;
        if (Bits == 64) return (long)residue;
        return residue >= (1UL << (Bits - 1)) ? (long)residue - (long)(_mask + 1) : (long)residue;
    }

    /// <summary>Decodes every residue.</summary>
    public long[] Decode(ReadOnlySpan<ulong> residues)
    {
        var d = new long[residues.Length];
        for (int i = 0; i < residues.Length; i++) d[i] = Decode(residues[i]);
        return d;
    }
}
