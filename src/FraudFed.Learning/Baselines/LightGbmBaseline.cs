// Non-private baselines with Microsoft.ML.LightGbm: a model per bank on its own rows (local-only) and one
// model on all banks' pooled rows (centralized, forbidden in real life). One thread and a fixed seed, so
// the runs are deterministic.
using FraudFed.Learning.Data;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;

namespace FraudFed.Learning.Baselines;

/// <summary>LightGBM baseline settings.</summary>
public sealed record LightGbmBaselineOptions
{
    /// <summary>Boosting iterations.</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>Maximum leaves per tree.</summary>
    public int Leaves { get; init; } = 31;
    /// <summary>Learning rate.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>Minimum rows per leaf.</summary>
    public int MinExamplesPerLeaf { get; init; } = 20;
    /// <summary>Maximum bins per feature.</summary>
    public int MaxBins { get; init; } = 255;
    /// <summary>L2 regularization.</summary>
    public double L2 { get; init; } = 1.0;
    /// <summary>Seed of ML.NET and LightGBM.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>A trained LightGBM baseline.</summary>
public sealed class LightGbmBaselineModel
{
    private readonly MLContext _ml;
    private readonly ITransformer _model;

    internal LightGbmBaselineModel(MLContext ml, ITransformer model)
    {
        _ml = ml;
        _model = model;
    }

    /// <summary>Raw scores (log-odds) of <paramref name="rows"/>.</summary>
    public double[] Score(LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        IDataView scored = _model.Transform(DataViewInterop.ToDataView(_ml, rows));
        return scored.GetColumn<float>("Score").Select(s => (double)s).ToArray();
    }
}

/// <summary>Trains LightGBM baselines through ML.NET.</summary>
public static class LightGbmBaseline
{
    /// <summary>Trains one model on <paramref name="rows"/>.</summary>
    public static LightGbmBaselineModel Train(LabeledRows rows, LightGbmBaselineOptions options)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(options);
        if (rows.Rows == 0) throw new DataFormatException("No rows to train a baseline on.", null, null);
        int positives = rows.Positives;
        if (positives == 0 || positives == rows.Rows)
            throw new DataFormatException("A baseline needs both fraud and legitimate rows.", "label", null);
        var ml = new MLContext(options.Seed);
        var trainer = ml.BinaryClassification.Trainers.LightGbm(new LightGbmBinaryTrainer.Options
        {
            LabelColumnName = DataViewInterop.LabelColumn,
            FeatureColumnName = DataViewInterop.FeaturesColumn,
            NumberOfIterations = options.Iterations,
            NumberOfLeaves = options.Leaves,
            LearningRate = options.LearningRate,
            MinimumExampleCountPerLeaf = options.MinExamplesPerLeaf,
            MaximumBinCountPerFeature = options.MaxBins,
            NumberOfThreads = 1,
            Seed = options.Seed,
            Silent = true,
            Verbose = false,
            Booster = new GradientBooster.Options { L2Regularization = options.L2 },
        });
        ITransformer model = trainer.Fit(DataViewInterop.ToDataView(ml, rows));
        return new LightGbmBaselineModel(ml, model);
    }
}
