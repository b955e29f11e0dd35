// Federated histogram gradient boosting over ISecureSum, all banks in one call: a thin wrapper that wires one
// GbdtBankParty per bank and one GbdtCoordinator in process (TrainingRun, SPEC.md 14.4). The protocol, what each sum
// reveals and why the model equals PooledHistogramGbdt bit for bit are described in GbdtCoordinator.
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Protocol;

namespace FraudFed.Learning.Gbdt;

/// <summary>Trains a <see cref="GbdtModel"/> across banks held in one process, exchanging only secure sums and broadcasts.</summary>
public sealed class FederatedGbdtTrainer
{
    private readonly GbdtOptions _options;

    /// <summary>Creates a trainer.</summary>
    /// <exception cref="ArgumentException">invalid options.</exception>
    public FederatedGbdtTrainer(GbdtOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Trains on one table per bank (same columns) through <paramref name="secureSum"/>.</summary>
    /// <exception cref="SumWrapException">a sum could wrap around 2^k (use a larger modulus).</exception>
    /// <exception cref="DataFormatException">a bank without rows, no positive or only positives.</exception>
    public GbdtModel Train(IReadOnlyList<LabeledRows> banks, ISecureSum secureSum, Action<FederationProgress>? progress = null, CancellationToken cancellationToken = default)
        => Train(banks, new SumChannel(secureSum, progress), cancellationToken);

    /// <summary>Trains through an existing channel (its cost counters keep accumulating): N bank parties, one coordinator.</summary>
    /// <exception cref="SumWrapException">a sum could wrap around 2^k (use a larger modulus).</exception>
    /// <exception cref="DataFormatException">a bank without rows, no positive or only positives.</exception>
    public GbdtModel Train(IReadOnlyList<LabeledRows> banks, SumChannel channel, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(channel);
        FederatedInput.Check(banks, channel.Banks);
        var parties = banks.Select(rows => (ITrainingBankParty)new GbdtBankParty(rows, _options, channel.Bits)).ToArray();
        var coordinator = new GbdtCoordinator(_options, banks[0].FeatureNames, channel.Bits);
        return TrainingRun.Run(coordinator, parties, channel.SumResidues, cancellationToken);
    }
}
