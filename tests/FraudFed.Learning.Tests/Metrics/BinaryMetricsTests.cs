using FraudFed.Learning.Metrics;

namespace FraudFed.Learning.Tests.Metrics;

public class BinaryMetricsTests
{
    [Test]
    public void RocAucOfAKnownRanking()
    {
        // Positives at scores 0.9 and 0.4; negatives at 0.8, 0.3, 0.2. Pairs won: 0.9 beats 3, 0.4 beats 2 -> 5/6.
        double[] s = [0.9, 0.8, 0.4, 0.3, 0.2];
        bool[] y = [true, false, true, false, false];
        Assert.That(BinaryMetrics.RocAuc(s, y), Is.EqualTo(5.0 / 6.0).Within(1e-15));
    }

    [Test]
    public void RocAucCountsTiesAsOneHalf()
    {
        double[] s = [0.5, 0.5, 0.5, 0.1];
        bool[] y = [true, false, false, false];
        // The positive beats 0.1 (1) and ties two negatives (0.5 each): 2/3.
        Assert.That(BinaryMetrics.RocAuc(s, y), Is.EqualTo(2.0 / 3.0).Within(1e-15));
        double[] all = [1, 1, 1, 1];
        Assert.That(BinaryMetrics.RocAuc(all, [true, false, true, false]), Is.EqualTo(0.5));
    }

    [Test]
    public void AveragePrecisionOfAKnownRanking()
    {
        // Ranking: P N P N N -> precision at the two positives: 1/1 and 2/3; AP = (1 + 2/3)/2 = 5/6.
        double[] s = [0.9, 0.8, 0.4, 0.3, 0.2];
        bool[] y = [true, false, true, false, false];
        Assert.That(BinaryMetrics.AveragePrecision(s, y), Is.EqualTo(5.0 / 6.0).Within(1e-15));
    }

    [Test]
    public void AveragePrecisionGroupsTies()
    {
        // Top group {P, N} at 0.9 enters together: recall 1/2 at precision 1/2; then P alone: recall 1 at precision 2/3.
        double[] s = [0.9, 0.9, 0.5, 0.1];
        bool[] y = [true, false, true, false];
        Assert.That(BinaryMetrics.AveragePrecision(s, y), Is.EqualTo(0.5 * 0.5 + 0.5 * (2.0 / 3.0)).Within(1e-15));
    }

    [Test]
    public void RecallAtOnePercentFpr()
    {
        // 200 negatives: 1% FPR allows 2 negatives above the threshold.
        var scores = new List<double>();
        var labels = new List<bool>();
        for (int i = 0; i < 200; i++) { scores.Add(i / 1000.0); labels.Add(false); }
        // Negatives with the highest scores: 0.199, 0.198, 0.197.
        scores.AddRange([0.5, 0.4, 0.1985, 0.1975, 0.0]); labels.AddRange([true, true, true, true, true]);
        // Thresholds: 0.5, 0.4 (tp 2), 0.199 (fp 1), 0.1985 (tp 3), 0.198 (fp 2), 0.1975 (tp 4), 0.197 (fp 3 > 2) -> recall 4/5.
        Assert.That(BinaryMetrics.RecallAtFpr(scores.ToArray(), labels.ToArray(), 0.01), Is.EqualTo(0.8).Within(1e-15));
    }

    [Test]
    public void PerfectAndReversedRankings()
    {
        double[] s = [4, 3, 2, 1];
        Assert.That(BinaryMetrics.RocAuc(s, [true, true, false, false]), Is.EqualTo(1.0));
        Assert.That(BinaryMetrics.RocAuc(s, [false, false, true, true]), Is.EqualTo(0.0));
        Assert.That(BinaryMetrics.AveragePrecision(s, [true, true, false, false]), Is.EqualTo(1.0));
        Assert.That(BinaryMetrics.AveragePrecision(s, [false, false, true, true]), Is.EqualTo((1.0 / 3 + 2.0 / 4) / 2).Within(1e-15));
    }

    [Test]
    public void CurvesStartAtOriginAndEndAtOne()
    {
        double[] s = [0.9, 0.8, 0.4, 0.3, 0.2];
        bool[] y = [true, false, true, false, false];
        ScoredEvaluation e = BinaryMetrics.Evaluate(s, y);
        Assert.That(e.Roc[0], Is.EqualTo(new CurvePoint(0, 0)));
        Assert.That(e.Roc[^1], Is.EqualTo(new CurvePoint(1, 1)));
        Assert.That(e.PrecisionRecall[^1].X, Is.EqualTo(1.0));
        Assert.That(e.PrecisionRecall[^1].Y, Is.EqualTo(2.0 / 5.0));
        Assert.That(e.Metrics.RocAuc, Is.EqualTo(5.0 / 6.0).Within(1e-15));
    }

    [Test]
    public void MismatchedLengthsAndNaNScoresAreRejected()
    {
        Assert.That(() => BinaryMetrics.RocAuc([0.1, 0.2], [true]), Throws.ArgumentException);
        Assert.That(() => BinaryMetrics.RocAuc([double.NaN, 0.2], [true, false]), Throws.ArgumentException);
    }

    [Test]
    public void DownsampledCurvesKeepEndpointsAndStayWithinTheLimit()
    {
        var rng = new Random(3);
        int n = 20_000;
        var labels = new bool[n];
        var scores = new double[n];
        for (int i = 0; i < n; i++) { labels[i] = rng.NextDouble() < 0.02; scores[i] = rng.NextDouble() + (labels[i] ? 0.7 : 0); }
        ScoredEvaluation e = BinaryMetrics.Evaluate(scores, labels, maxPoints: 100);
        Assert.That(e.Roc, Has.Count.LessThanOrEqualTo(100).And.Count.GreaterThan(50));
        Assert.That(e.Roc[0], Is.EqualTo(new CurvePoint(0, 0)));
        Assert.That(e.Roc[^1], Is.EqualTo(new CurvePoint(1, 1)));
        Assert.That(e.Roc.Select(p => p.X), Is.Ordered);
        Assert.That(e.PrecisionRecall.Select(p => p.X), Is.Ordered);
        // The steep early part of the ROC curve (FPR < 5%) keeps several points.
        Assert.That(e.Roc.Count(p => p.X < 0.05), Is.GreaterThan(5));
    }
}
