// What every party-split coordinator shares (SPEC.md 14.4): the public schema and k, the pending broadcast, and the first
// setup step, TrainingSetupRequest(Counts) -> [N, P], after which every coordinator asks for the fine grid. The model's own
// steps (bins and trees, or the FedAvg rounds) are the subclass's.
using FraudFed.Learning.Gbdt;

namespace FraudFed.Learning.Federation;

/// <summary>Base of the training coordinators: the broadcast plumbing and the Counts setup step (SPEC.md 14.4).</summary>
/// <typeparam name="TModel">The trained model.</typeparam>
public abstract class TrainingCoordinator<TModel> : ITrainingCoordinator<TModel> where TModel : class
{
    private TModel? _model;
    private bool _counted;

    /// <summary>Checks the schema and k, and asks for the counts first.</summary>
    /// <param name="featureNames">The public schema: column names in order.</param>
    /// <param name="modulusBits">k of the secure sum (16..64).</param>
    /// <param name="steps">Planned trees or rounds (for the labels).</param>
    /// <exception cref="ArgumentException">no feature, or k outside 16..64.</exception>
    private protected TrainingCoordinator(IReadOnlyList<string> featureNames, int modulusBits, int steps)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        if (featureNames.Count == 0) throw new ArgumentException("At least one feature is needed.", nameof(featureNames));
        FeatureNames = featureNames.ToArray();
        Codec = new SignedResidues(modulusBits);
        SetupLabel = new SumLabel("setup", 0, steps, -1);
        Set(new TrainingSetupRequest(TrainingSetupStep.Counts, FeatureNames), 2, SetupLabel);
    }

    /// <summary>The public schema, in order.</summary>
    private protected IReadOnlyList<string> FeatureNames { get; }
    /// <summary>Two's complement mod 2^k.</summary>
    private protected SignedResidues Codec { get; }
    /// <summary>N, the rows of all banks (known after the Counts step).</summary>
    private protected long Rows { get; private set; }
    /// <summary>The label of every setup sum.</summary>
    private protected SumLabel SetupLabel { get; }

    /// <inheritdoc />
    public TrainingBroadcast? Broadcast { get; private set; }
    /// <inheritdoc />
    public int SumLength { get; private set; }
    /// <inheritdoc />
    public SumLabel Label { get; private set; }
    /// <inheritdoc />
    public bool IsComplete => _model is not null;
    /// <inheritdoc />
    public TModel Model => _model ?? throw new InvalidOperationException("Training is not complete.");

    /// <inheritdoc />
    public void Accept(ReadOnlySpan<ulong> sum)
    {
        if (IsComplete) throw new InvalidOperationException("Training is complete.");
        if (sum.Length != SumLength) throw new ArgumentException($"The sum has {sum.Length} values; {SumLength} were expected.", nameof(sum));
        if (_counted)
        {
            Step(sum);
            return;
        }
        long n = Codec.Decode(sum[0]), positives = Codec.Decode(sum[1]);
        FederatedInput.CheckLabels(positives, n);
        Rows = n;
        OnCounts(positives);
        _counted = true;
        Set(new TrainingSetupRequest(TrainingSetupStep.FineGrid, FeatureNames), FeatureNames.Count * FeatureBins.FineCells, SetupLabel);
    }

    /// <summary>Called once N (<see cref="Rows"/>) and the positives P are known, before the fine grid is asked for.</summary>
    private protected abstract void OnCounts(long positives);

    /// <summary>Takes every later sum (the fine grid first); <paramref name="sum"/> has <see cref="SumLength"/> values.</summary>
    private protected abstract void Step(ReadOnlySpan<ulong> sum);

    /// <summary>The next broadcast and the length of the answers to sum (0: none).</summary>
    private protected void Set(TrainingBroadcast? broadcast, int sumLength, SumLabel label)
    {
        Broadcast = broadcast;
        SumLength = sumLength;
        Label = label;
    }

    /// <summary>Ends training with <paramref name="model"/>: no broadcast is pending any more.</summary>
    private protected void Complete(TModel model)
    {
        _model = model;
        Set(null, 0, Label);
    }
}
