// In-process wiring of a party-split trainer (SPEC.md 14.4): one coordinator and N bank parties in one process. Every
// broadcast crosses as serialized protobuf bytes (TrainingWire), each bank parsing its own copy, so no bank party shares
// an object with the coordinator or with another bank; each bank's answer goes only into the wiring's secure sum.
using FraudFed.Learning.Data;

namespace FraudFed.Learning.Federation;

/// <summary>Drives one coordinator and N bank parties until the model is trained.</summary>
public static class TrainingRun
{
    /// <summary>
    /// Runs <paramref name="coordinator"/> with <paramref name="banks"/>: for each broadcast, every bank answers (on up to two
    /// threads), <paramref name="sum"/> turns the answers into their sum mod 2^k (skipped when the coordinator expects no
    /// sum), and the coordinator takes only that sum.
    /// </summary>
    /// <param name="coordinator">The coordinator, not yet started.</param>
    /// <param name="banks">The bank parties in roster order.</param>
    /// <param name="sum">The wiring's secure sum (in process: <see cref="SumChannel.SumResidues"/>).</param>
    /// <param name="cancellationToken">Cancels between broadcasts.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="ArgumentException">no bank, or a bank answered with another length than the coordinator announced.</exception>
    public static TModel Run<TModel>(ITrainingCoordinator<TModel> coordinator, IReadOnlyList<ITrainingBankParty> banks, BankVectorSum sum, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(sum);
        if (banks.Count == 0) throw new ArgumentException("At least one bank party is needed.", nameof(banks));
        var answers = new ulong[banks.Count][];
        while (!coordinator.IsComplete)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TrainingBroadcast broadcast = coordinator.Broadcast ?? throw new InvalidOperationException("The coordinator has no broadcast but is not complete.");
            byte[] wire = TrainingWire.Encode(broadcast);
            int length = coordinator.SumLength;
            BankParallel.For(banks.Count, b => answers[b] = banks[b].Answer(TrainingWire.Decode(wire)));
            for (int b = 0; b < banks.Count; b++)
                if (answers[b].Length != length)
                    throw new ArgumentException($"Bank {b} answered {answers[b].Length} values; the coordinator expects {length}.", nameof(banks));
            coordinator.Accept(length == 0 ? ReadOnlySpan<ulong>.Empty : sum(answers, coordinator.Label, cancellationToken));
        }
        return coordinator.Model;
    }
}

/// <summary>Checks shared by the federated trainers.</summary>
internal static class FederatedInput
{
    public static void Check(IReadOnlyList<LabeledRows> banks, int expectedBanks)
    {
        if (banks.Count != expectedBanks)
            throw new ArgumentException($"The secure sum has {expectedBanks} banks but {banks.Count} tables were given.", nameof(banks));
        for (int b = 0; b < banks.Count; b++)
        {
            if (banks[b] is null) throw new ArgumentException($"Bank {b}'s table is null.", nameof(banks));
            if (banks[b].Rows == 0)
                throw new DataFormatException($"Bank {b} has no training rows.", column: null, row: null, bank: b.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!banks[b].FeatureNames.SequenceEqual(banks[0].FeatureNames))
                throw new ArgumentException($"Bank {b}'s columns differ from bank 0's.", nameof(banks));
        }
    }

    /// <summary>Sanity of the decoded global counts (a wrapped or tampered sum fails here), then label balance.</summary>
    /// <exception cref="InvalidOperationException">rows &lt; 1 or positives outside [0, rows]: the secure sum is wrong.</exception>
    /// <exception cref="DataFormatException">no positive, or only positives.</exception>
    public static void CheckLabels(long positives, long n)
    {
        if (n < 1 || positives < 0 || positives > n)
            throw new InvalidOperationException($"The secure sum of row counts decoded to {n} rows with {positives} positives, which is impossible; the sum is wrong (wrapped or tampered).");
        if (positives == 0) throw new DataFormatException("No bank has a positive (fraud) label in its training rows.", "label", null);
        if (positives == n) throw new DataFormatException("Every training row is labelled positive (fraud); nothing to learn.", "label", null);
    }
}
