// Global bin edges agreed through one secure sum.
// Every bank counts its values on a public fine grid: cell = floor((t(x) + 48) / w) with
// t(x) = sign(x) * log2(1 + |x|), 4096 cells over t in [-48, 48) (the two end cells are open-ended, so
// every finite value has a cell; values are never altered). The summed counts give global quantile edges
// at cell boundaries (at most MaxBins bins; one bin per occupied cell when there are few distinct cells).
// A row's bin is the index of the first threshold >= x (or the last bin), so "bin <= b" is exactly
// "x <= threshold[b]": the rule LightGBM and FraudFed's predictor apply to raw values.
// Missing values (NaN) follow LightGBM's missing_type=NaN convention: they are not counted on the grid; a
// feature whose summed grid counts fall short of the global row count N has missing values, and gets one
// more bin, after its regular bins, that holds every missing value (regular bins are then at most
// MaxBins - 1). Each split later sends that bin left or right, a learned default direction. Infinities are
// refused: they are not missing, and no bin edge can hold them.
using FraudFed.Learning.Data;

namespace FraudFed.Learning.Gbdt;

/// <summary>Per-feature split thresholds shared by all banks.</summary>
public sealed class FeatureBins
{
    /// <summary>Cells of the public fine grid per feature.</summary>
    public const int FineCells = 4096;
    private const double GridLimit = 48.0;
    private const double CellWidth = 2 * GridLimit / FineCells;

    /// <summary>
    /// Creates bins from explicit thresholds (ascending, finite) per feature; <paramref name="hasMissing"/> (default: none)
    /// marks the features that get a bin for missing values after their regular bins.
    /// </summary>
    /// <exception cref="ArgumentException">thresholds not finite or not strictly ascending, more than 256 bins in a feature,
    /// or a <paramref name="hasMissing"/> list of another length.</exception>
    public FeatureBins(IReadOnlyList<double[]> thresholds, IReadOnlyList<bool>? hasMissing = null)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        if (hasMissing is not null && hasMissing.Count != thresholds.Count)
            throw new ArgumentException($"hasMissing has {hasMissing.Count} entries for {thresholds.Count} features.", nameof(hasMissing));
        Thresholds = thresholds;
        HasMissing = hasMissing?.ToArray() ?? new bool[thresholds.Count];
        Offsets = new int[thresholds.Count + 1];
        for (int f = 0; f < thresholds.Count; f++)
        {
            double[] t = thresholds[f];
            for (int i = 0; i < t.Length; i++)
                if (!double.IsFinite(t[i]) || (i > 0 && t[i] <= t[i - 1]))
                    throw new ArgumentException($"Thresholds of feature {f} must be finite and strictly ascending.", nameof(thresholds));
            int count = t.Length + 1 + (HasMissing[f] ? 1 : 0);
            if (count > 256) throw new ArgumentException($"Feature {f} has more than 256 bins.", nameof(thresholds));
            Offsets[f + 1] = Offsets[f] + count;
        }
    }

    /// <summary>Ascending thresholds per feature; feature f has Thresholds[f].Length + 1 regular bins.</summary>
    public IReadOnlyList<double[]> Thresholds { get; }
    /// <summary>Per feature: true if it has a bin for missing values (some training row had none).</summary>
    public IReadOnlyList<bool> HasMissing { get; }
    /// <summary>Start of each feature's bins in a flat histogram; Offsets[F] is the total number of bins.</summary>
    public int[] Offsets { get; }
    /// <summary>Number of features.</summary>
    public int Features => Thresholds.Count;
    /// <summary>Total number of bins over all features.</summary>
    public int TotalBins => Offsets[^1];

    /// <summary>Bin index (within feature <paramref name="feature"/>) of missing values, or -1 if the feature has none.</summary>
    public int MissingBin(int feature) => HasMissing[feature] ? Thresholds[feature].Length + 1 : -1;

    /// <summary>
    /// The split threshold of "bin &lt;= <paramref name="bin"/> goes left": the bin's upper edge, or for the last regular
    /// bin (a split of every present value from the missing ones) the largest float, which every present value is at most.
    /// </summary>
    public double SplitThreshold(int feature, int bin)
    {
        double[] t = Thresholds[feature];
        return bin < t.Length ? t[bin] : float.MaxValue;
    }

    /// <summary>Fine-grid cell of a finite value.</summary>
    public static int FineCell(double x)
    {
        double t = Math.Sign(x) * Math.Log2(1.0 + Math.Abs(x));
        int c = (int)Math.Floor((t + GridLimit) / CellWidth);
        return Math.Clamp(c, 0, FineCells - 1);
    }

    /// <summary>The value at the lower boundary of fine cell <paramref name="cell"/> (1..FineCells-1).</summary>
    public static double CellLowerBoundary(int cell)
    {
        double t = -GridLimit + cell * CellWidth;
        return Math.Sign(t) * (Math.Pow(2.0, Math.Abs(t)) - 1.0);
    }

    /// <summary>
    /// A bank's fine-grid counts, feature-major (F x FineCells). Missing values (NaN) are not counted; infinities are
    /// refused (typed, naming the row and column).
    /// </summary>
    public static long[] FineCounts(LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int f = rows.Features;
        var counts = new long[f * FineCells];
        float[] v = rows.Values;
        for (int i = 0; i < rows.Rows; i++)
            for (int j = 0; j < f; j++)
            {
                float x = v[i * f + j];
                if (float.IsNaN(x)) continue;
                counts[j * FineCells + FineCell(NotInfinite(rows, x, i, j))]++;
            }
        return counts;
    }

    /// <summary>
    /// Global bins from summed fine-grid counts (F x FineCells) of <paramref name="rows"/> rows in all: a feature whose
    /// counts add up to fewer than <paramref name="rows"/> has missing values and gets a missing bin (and at most
    /// <paramref name="maxBins"/> - 1 regular bins). Without <paramref name="rows"/>, no feature has a missing bin.
    /// </summary>
    /// <exception cref="InvalidOperationException">a negative count, or more counts than rows: the sum is wrong.</exception>
    public static FeatureBins FromFineCounts(ReadOnlySpan<long> counts, int features, int maxBins, long? rows = null)
    {
        if (counts.Length != features * FineCells) throw new ArgumentException("Counts must be features x FineCells.", nameof(counts));
        if (maxBins is < 2 or > 256) throw new ArgumentOutOfRangeException(nameof(maxBins), "MaxBins must be in 2..256.");
        var thresholds = new double[features][];
        var hasMissing = new bool[features];
        for (int f = 0; f < features; f++)
        {
            ReadOnlySpan<long> c = counts.Slice(f * FineCells, FineCells);
            long total = 0;
            int occupied = 0;
            for (int i = 0; i < FineCells; i++)
            {
                if (c[i] < 0) throw new InvalidOperationException($"The secure sum of fine-grid counts decoded to a negative count for feature {f}; the sum is wrong (wrapped or tampered).");
                total += c[i];
                if (c[i] > 0) occupied++;
            }
            if (rows is { } n && total > n)
                throw new InvalidOperationException($"The secure sum of fine-grid counts decoded to {total} values for feature {f} but there are {n} rows; the sum is wrong (wrapped or tampered).");
            hasMissing[f] = rows is { } all && total < all;
            int regularBins = hasMissing[f] ? maxBins - 1 : maxBins;
            var edges = new List<double>();
            int lastOccupied = -1;
            for (int i = FineCells - 1; i >= 0; i--) if (c[i] > 0) { lastOccupied = i; break; }
            if (occupied <= regularBins)
            {
                for (int i = 0; i < lastOccupied; i++)
                    if (c[i] > 0) edges.Add(CellLowerBoundary(i + 1));
            }
            else
            {
                long cumulative = 0;
                int next = 1;
                for (int i = 0; i < lastOccupied && edges.Count < regularBins - 1; i++)
                {
                    cumulative += c[i];
                    if (c[i] > 0 && cumulative * regularBins >= next * total)
                    {
                        edges.Add(CellLowerBoundary(i + 1));
                        while (next < regularBins && cumulative * regularBins >= next * total) next++;
                    }
                }
            }
            thresholds[f] = edges.ToArray();
        }
        return new FeatureBins(thresholds, hasMissing);
    }

    /// <summary>
    /// Bin of value <paramref name="x"/> of feature <paramref name="feature"/>: the first threshold index with x &lt;= threshold,
    /// else the last regular bin; NaN (missing) is the missing bin.
    /// </summary>
    /// <exception cref="ArgumentException">NaN for a feature without a missing bin.</exception>
    public int BinOf(int feature, double x)
    {
        if (double.IsNaN(x))
            return HasMissing[feature] ? Thresholds[feature].Length + 1
                : throw new ArgumentException($"Feature {feature} had no missing value in training, so it has no missing bin.", nameof(x));
        double[] t = Thresholds[feature];
        int lo = 0, hi = t.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (x <= t[mid]) hi = mid; else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>Row-major bin indices of every row (missing values in the missing bin).</summary>
    /// <exception cref="DataFormatException">an infinite value, or a missing value of a feature without a missing bin (naming row and column).</exception>
    public byte[] BinRows(LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Features != Features) throw new ArgumentException($"Rows have {rows.Features} features, bins {Features}.", nameof(rows));
        int f = Features;
        var bins = new byte[rows.Rows * f];
        float[] v = rows.Values;
        for (int i = 0; i < rows.Rows; i++)
            for (int j = 0; j < f; j++)
            {
                float x = v[i * f + j];
                if (float.IsNaN(x))
                {
                    if (!HasMissing[j])
                        throw new DataFormatException($"Feature '{rows.FeatureNames[j]}' of row {i + 1} is missing, but the bins were built from rows where it never is.", rows.FeatureNames[j], i + 1);
                    bins[i * f + j] = (byte)(Thresholds[j].Length + 1);
                    continue;
                }
                bins[i * f + j] = (byte)BinOf(j, NotInfinite(rows, x, i, j));
            }
        return bins;
    }

    /// <summary>The value of feature <paramref name="j"/> in row <paramref name="i"/>, refused (typed, naming both) if infinite.</summary>
    private static float NotInfinite(LabeledRows rows, float x, int i, int j) =>
        !float.IsInfinity(x) ? x : throw new DataFormatException($"Feature '{rows.FeatureNames[j]}' of row {i + 1} is not finite ({x}); only a missing value (NaN) may stand for no value.", rows.FeatureNames[j], i + 1);
}
