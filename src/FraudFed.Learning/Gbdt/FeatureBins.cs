// Global bin edges agreed through one secure sum.
// Every bank counts its values on a public fine grid: cell = floor((t(x) + 48) / w) with
// t(x) = sign(x) * log2(1 + |x|), 4096 cells over t in [-48, 48) (the two end cells are open-ended, so
// every finite value has a cell; values are never altered). The summed counts give global quantile edges
// at cell boundaries (at most MaxBins bins; one bin per occupied cell when there are few distinct cells).
// A row's bin is the index of the first threshold >= x (or the last bin), so "bin <= b" is exactly
// "x <= threshold[b]": the rule LightGBM and FraudFed's predictor apply to raw values.
using FraudFed.Learning.Data;

namespace FraudFed.Learning.Gbdt;

/// <summary>Per-feature split thresholds shared by all banks.</summary>
public sealed class FeatureBins
{
    /// <summary>Cells of the public fine grid per feature.</summary>
    public const int FineCells = 4096;
    private const double GridLimit = 48.0;
    private const double CellWidth = 2 * GridLimit / FineCells;

    /// <summary>Creates bins from explicit thresholds (ascending, finite) per feature.</summary>
    public FeatureBins(IReadOnlyList<double[]> thresholds)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        Thresholds = thresholds;
        Offsets = new int[thresholds.Count + 1];
        for (int f = 0; f < thresholds.Count; f++)
        {
            double[] t = thresholds[f];
            for (int i = 0; i < t.Length; i++)
                if (!double.IsFinite(t[i]) || (i > 0 && t[i] <= t[i - 1]))
                    throw new ArgumentException($"Thresholds of feature {f} must be finite and strictly ascending.", nameof(thresholds));
            if (t.Length > 255) throw new ArgumentException($"Feature {f} has more than 256 bins.", nameof(thresholds));
            Offsets[f + 1] = Offsets[f] + t.Length + 1;
        }
    }

    /// <summary>Ascending thresholds per feature; feature f has Thresholds[f].Length + 1 bins.</summary>
    public IReadOnlyList<double[]> Thresholds { get; }
    /// <summary>Start of each feature's bins in a flat histogram; Offsets[F] is the total number of bins.</summary>
    public int[] Offsets { get; }
    /// <summary>Number of features.</summary>
    public int Features => Thresholds.Count;
    /// <summary>Total number of bins over all features.</summary>
    public int TotalBins => Offsets[^1];

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

    /// <summary>A bank's fine-grid counts, feature-major (F x FineCells); rejects non-finite values naming the row and column.</summary>
    public static long[] FineCounts(LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int f = rows.Features;
        var counts = new long[f * FineCells];
        float[] v = rows.Values;
        for (int i = 0; i < rows.Rows; i++)
            for (int j = 0; j < f; j++)
            {
                float x = Finite(rows, v[i * f + j], i, j);
                counts[j * FineCells + FineCell(x)]++;
            }
        return counts;
    }

    /// <summary>Global bins from summed fine-grid counts (F x FineCells).</summary>
    public static FeatureBins FromFineCounts(ReadOnlySpan<long> counts, int features, int maxBins)
    {
        if (counts.Length != features * FineCells) throw new ArgumentException("Counts must be features x FineCells.", nameof(counts));
        if (maxBins is < 2 or > 256) throw new ArgumentOutOfRangeException(nameof(maxBins), "MaxBins must be in 2..256.");
        var thresholds = new double[features][];
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
            var edges = new List<double>();
            int lastOccupied = -1;
            for (int i = FineCells - 1; i >= 0; i--) if (c[i] > 0) { lastOccupied = i; break; }
            if (occupied <= maxBins)
            {
                for (int i = 0; i < lastOccupied; i++)
                    if (c[i] > 0) edges.Add(CellLowerBoundary(i + 1));
            }
            else
            {
                long cumulative = 0;
                int next = 1;
                for (int i = 0; i < lastOccupied && edges.Count < maxBins - 1; i++)
                {
                    cumulative += c[i];
                    if (c[i] > 0 && cumulative * maxBins >= next * total)
                    {
                        edges.Add(CellLowerBoundary(i + 1));
                        while (next < maxBins && cumulative * maxBins >= next * total) next++;
                    }
                }
            }
            thresholds[f] = edges.ToArray();
        }
        return new FeatureBins(thresholds);
    }

    /// <summary>Bin of value <paramref name="x"/> of feature <paramref name="feature"/>: the first threshold index with x &lt;= threshold, else the last bin.</summary>
    public int BinOf(int feature, double x)
    {
        double[] t = Thresholds[feature];
        int lo = 0, hi = t.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (x <= t[mid]) hi = mid; else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>Row-major bin indices of every row.</summary>
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
                float x = Finite(rows, v[i * f + j], i, j);
                bins[i * f + j] = (byte)BinOf(j, x);
            }
        return bins;
    }

    /// <summary>The value of feature <paramref name="j"/> in row <paramref name="i"/>, refused (typed, naming both) unless finite.</summary>
    private static float Finite(LabeledRows rows, float x, int i, int j) =>
        float.IsFinite(x) ? x : throw new DataFormatException($"Feature '{rows.FeatureNames[j]}' of row {i + 1} is not finite ({x}).", rows.FeatureNames[j], i + 1);
}
