// Dense labelled feature rows of one bank: the unit every trainer and evaluator consumes.
namespace FraudFed.Learning.Data;

/// <summary>A dense, row-major table of float features with a binary label and a timestamp per row.</summary>
public sealed class LabeledRows
{
    /// <summary>Creates a table; <paramref name="values"/> is row-major with <c>featureNames.Count</c> columns.</summary>
    public LabeledRows(IReadOnlyList<string> featureNames, float[] values, bool[] labels, long[] times)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(times);
        if (featureNames.Count == 0) throw new ArgumentException("At least one feature is needed.", nameof(featureNames));
        if (values.Length != labels.Length * featureNames.Count)
            throw new ArgumentException($"Expected {labels.Length} x {featureNames.Count} values, got {values.Length}.", nameof(values));
        if (times.Length != labels.Length) throw new ArgumentException("One time per row is needed.", nameof(times));
        FeatureNames = featureNames;
        Values = values;
        Labels = labels;
        Times = times;
    }

    /// <summary>Feature names, one per column.</summary>
    public IReadOnlyList<string> FeatureNames { get; }
    /// <summary>Row-major values.</summary>
    public float[] Values { get; }
    /// <summary>True for fraud.</summary>
    public bool[] Labels { get; }
    /// <summary>Row times (seconds, or the data set's own unit).</summary>
    public long[] Times { get; }
    /// <summary>Number of rows.</summary>
    public int Rows => Labels.Length;
    /// <summary>Number of feature columns.</summary>
    public int Features => FeatureNames.Count;
    /// <summary>Number of positive rows.</summary>
    public int Positives => Labels.Count(l => l);

    /// <summary>The features of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<float> Row(int row) => Values.AsSpan(row * Features, Features);

    /// <summary>The rows selected by <paramref name="keep"/>, in order.</summary>
    public LabeledRows Where(Func<int, bool> keep)
    {
        var idx = new List<int>();
        for (int i = 0; i < Rows; i++) if (keep(i)) idx.Add(i);
        return Select(idx);
    }

    /// <summary>The rows at <paramref name="indices"/>, in that order.</summary>
    public LabeledRows Select(IReadOnlyList<int> indices)
    {
        int f = Features;
        var values = new float[indices.Count * f];
        var labels = new bool[indices.Count];
        var times = new long[indices.Count];
        for (int k = 0; k < indices.Count; k++)
        {
            int i = indices[k];
            Array.Copy(Values, i * f, values, k * f, f);
            labels[k] = Labels[i];
            times[k] = Times[i];
        }
        return new LabeledRows(FeatureNames, values, labels, times);
    }

    /// <summary>Concatenates tables with the same columns (e.g. the pooled, centralized data set).</summary>
    public static LabeledRows Concat(IReadOnlyList<LabeledRows> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("Nothing to concatenate.", nameof(parts));
        var names = parts[0].FeatureNames;
        foreach (var p in parts)
            if (!p.FeatureNames.SequenceEqual(names)) throw new ArgumentException("Tables have different columns.", nameof(parts));
        return new LabeledRows(names, parts.SelectMany(p => p.Values).ToArray(), parts.SelectMany(p => p.Labels).ToArray(), parts.SelectMany(p => p.Times).ToArray());
    }
}

/// <summary>One bank's training rows and its held-out later time window.</summary>
public sealed record BankData(string Name, LabeledRows Train, LabeledRows Test);
