// Ranking metrics for rare-event (fraud) scoring.
// ROC-AUC: Mann-Whitney U statistic with tied scores counted as one half (equivalently the trapezoidal
// area under the ROC curve whose points are taken only between distinct score values).
// PR-AUC: average precision, AP = sum over distinct thresholds of (R_i - R_{i-1}) * P_i, tied scores
// entering together (the step-wise definition used by scikit-learn's average_precision_score).
// Recall at a false-positive rate: the largest recall of any threshold whose FPR does not exceed it.
namespace FraudFed.Learning.Metrics;

/// <summary>A point of a ROC curve (FPR, TPR) or of a precision-recall curve (recall, precision).</summary>
public readonly record struct CurvePoint(double X, double Y);

/// <summary>Headline scores of one scored set.</summary>
public sealed record MetricSet(int Examples, int Positives, double RocAuc, double PrAuc, double RecallAt1PctFpr);

/// <summary>Metrics and plotting curves of one scored set.</summary>
public sealed record ScoredEvaluation(MetricSet Metrics, IReadOnlyList<CurvePoint> Roc, IReadOnlyList<CurvePoint> PrecisionRecall);

/// <summary>ROC-AUC, PR-AUC, recall at a fixed FPR and curve points; ties handled by grouping equal scores.</summary>
public static class BinaryMetrics
{
    /// <summary>Computes every metric for <paramref name="scores"/> against <paramref name="labels"/>.</summary>
    public static MetricSet Compute(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        var groups = Groups(scores, labels, out int pos, out int neg);
        return new MetricSet(scores.Length, pos, RocAuc(groups, pos, neg), AveragePrecision(groups, pos), RecallAtFpr(groups, pos, neg, 0.01));
    }

    /// <summary>Metrics plus downsampled ROC and PR curves (at most <paramref name="maxPoints"/> points each).</summary>
    public static ScoredEvaluation Evaluate(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, int maxPoints = 200)
    {
        var groups = Groups(scores, labels, out int pos, out int neg);
        var metrics = new MetricSet(scores.Length, pos, RocAuc(groups, pos, neg), AveragePrecision(groups, pos), RecallAtFpr(groups, pos, neg, 0.01));
        var roc = new List<CurvePoint>(groups.Count + 1) { new(0, 0) };
        var pr = new List<CurvePoint>(groups.Count + 1);
        long tp = 0, fp = 0;
        foreach (var (p, n) in groups)
        {
            tp += p; fp += n;
            roc.Add(new CurvePoint(neg == 0 ? 0 : (double)fp / neg, pos == 0 ? 0 : (double)tp / pos));
            pr.Add(new CurvePoint(pos == 0 ? 0 : (double)tp / pos, (double)tp / (tp + fp)));
        }
        if (pr.Count > 0) pr.Insert(0, new CurvePoint(0, pr[0].Y));
        return new ScoredEvaluation(metrics, Downsample(roc, maxPoints), Downsample(pr, maxPoints));
    }

    /// <summary>ROC-AUC with ties counted as one half. NaN if either class is absent.</summary>
    public static double RocAuc(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        var groups = Groups(scores, labels, out int pos, out int neg);
        return RocAuc(groups, pos, neg);
    }

    /// <summary>Average precision (PR-AUC). NaN if there is no positive.</summary>
    public static double AveragePrecision(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels)
    {
        var groups = Groups(scores, labels, out int pos, out _);
        return AveragePrecision(groups, pos);
    }

    /// <summary>Largest recall at a threshold whose false-positive rate is at most <paramref name="maxFpr"/>.</summary>
    public static double RecallAtFpr(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, double maxFpr)
    {
        var groups = Groups(scores, labels, out int pos, out int neg);
        return RecallAtFpr(groups, pos, neg, maxFpr);
    }

    // Distinct scores in descending order, each with its count of positives and negatives.
    private static List<(int Pos, int Neg)> Groups(ReadOnlySpan<double> scores, ReadOnlySpan<bool> labels, out int pos, out int neg)
    {
        if (scores.Length != labels.Length) throw new ArgumentException("Scores and labels differ in length.", nameof(labels));
        int n = scores.Length;
        var order = new int[n];
        var keys = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (double.IsNaN(scores[i])) throw new ArgumentException($"Score at index {i} is NaN.", nameof(scores));
            order[i] = i;
            keys[i] = -scores[i];
        }
        Array.Sort(keys, order);
        var groups = new List<(int, int)>();
        pos = 0; neg = 0;
        int k = 0;
        while (k < n)
        {
            int p = 0, q = 0;
            double key = keys[k];
            while (k < n && keys[k] == key)
            {
                if (labels[order[k]]) p++; else q++;
                k++;
            }
            groups.Add((p, q));
            pos += p; neg += q;
        }
        return groups;
    }

    private static double RocAuc(List<(int Pos, int Neg)> groups, int pos, int neg)
    {
        if (pos == 0 || neg == 0) return double.NaN;
        double area = 0;
        long negAbove = 0;
        foreach (var (p, n) in groups)
        {
            // Each positive in this group beats the negatives below it; ties with the group's negatives count one half.
            area += p * ((double)(neg - negAbove - n) + 0.5 * n);
            negAbove += n;
        }
        return area / ((double)pos * neg);
    }

    private static double AveragePrecision(List<(int Pos, int Neg)> groups, int pos)
    {
        if (pos == 0) return double.NaN;
        double ap = 0;
        long tp = 0, seen = 0;
        foreach (var (p, n) in groups)
        {
            tp += p; seen += p + n;
            if (p > 0) ap += (double)p / pos * ((double)tp / seen);
        }
        return ap;
    }

    private static double RecallAtFpr(List<(int Pos, int Neg)> groups, int pos, int neg, double maxFpr)
    {
        if (pos == 0 || neg == 0) return double.NaN;
        long tp = 0, fp = 0;
        double best = 0;
        foreach (var (p, n) in groups)
        {
            tp += p; fp += n;
            if ((double)fp / neg <= maxFpr) best = (double)tp / pos;
            else break;
        }
        return best;
    }

    // Keeps a point whenever the curve has moved by 1/maxPoints of its total (L1) length since the last kept
    // point, so detail survives where the curve bends (e.g. the first few hundred thresholds of a PR curve).
    private static IReadOnlyList<CurvePoint> Downsample(List<CurvePoint> points, int maxPoints)
    {
        if (points.Count <= maxPoints || maxPoints < 2) return points;
        double length = 0;
        for (int i = 1; i < points.Count; i++)
            length += Math.Abs(points[i].X - points[i - 1].X) + Math.Abs(points[i].Y - points[i - 1].Y);
        double step = length / (maxPoints - 1);
        var result = new List<CurvePoint>(maxPoints + 1) { points[0] };
        double moved = 0;
        for (int i = 1; i < points.Count - 1; i++)
        {
            moved += Math.Abs(points[i].X - points[i - 1].X) + Math.Abs(points[i].Y - points[i - 1].Y);
            if (moved >= step && result.Count < maxPoints - 1)
            {
                result.Add(points[i]);
                moved = 0;
            }
        }
        result.Add(points[^1]);
        return result;
    }
}
