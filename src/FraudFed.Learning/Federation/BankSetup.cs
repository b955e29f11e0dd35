// The setup answers both bank parties give (SPEC.md 14.4, setup): [rows, positives], then the fine-grid counts. What a
// bank reveals is only what the secure sum reveals of these: the global row and positive counts, and the global count of
// present values per fine-grid cell of every feature.
using FraudFed.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Learning.Gbdt;

namespace FraudFed.Learning.Federation;

/// <summary>Where a bank party is in the setup (counts, then fine grid, then the coordinator's start broadcast).</summary>
internal enum SetupPhase { Counts, FineGrid, Start, Training }

internal static class BankSetup
{
    /// <summary>Refusal of a broadcast, typed, never carrying row data.</summary>
    public static ProtocolViolationException Refuse(ViolationReason reason, string message) => Error.Violation(reason, message);

    /// <summary>Answers a setup request in phase <paramref name="phase"/>; returns the answer and the next phase.</summary>
    public static (ulong[] Answer, SetupPhase Next) Answer(TrainingSetupRequest request, SetupPhase phase, LabeledRows rows, SignedResidues codec)
    {
        var expected = phase switch
        {
            SetupPhase.Counts => TrainingSetupStep.Counts,
            SetupPhase.FineGrid => TrainingSetupStep.FineGrid,
            _ => throw Refuse(ViolationReason.WrongRoundOrState, $"A {request.Step} setup request arrived after the setup."),
        };
        if (request.Step != expected)
            throw Refuse(ViolationReason.WrongRoundOrState, $"Setup step {request.Step} arrived; the bank expects {expected}.");
        if (request.FeatureNames is null || !request.FeatureNames.SequenceEqual(rows.FeatureNames))
            throw Refuse(ViolationReason.Inconsistent, $"The setup request names {request.FeatureNames?.Count ?? 0} features that differ from this bank's {rows.Features} columns.");
        if (expected == TrainingSetupStep.Counts)
            return (codec.Encode([rows.Rows, rows.Positives]), SetupPhase.FineGrid);
        return (codec.Encode(FeatureBins.FineCounts(rows)), SetupPhase.Start);
    }
}
