// TrainingWire: the one mapper between the training broadcasts (TrainingMessages.cs) and the protobuf
// `TrainingBroadcast` of protocols/fraudfed/v1/training.proto (SPEC.md 14.4). Decoding goes cheap to expensive: size cap
// before parsing (Oversized), protobuf parsing with unknown fields discarded (Malformed), the canonical-encoding check
// (the re-encoded size must equal the received size: Malformed), the protocol version (WrongRoundOrState), then the
// step: present and known (Malformed), list lengths at most 2^20 and indices below 2^31 (OutOfRange). The rules of each
// step (which tree, level or round, which shapes) are the bank party's. Every failure is a ProtocolViolationException.
// No other code touches the generated types.
using FraudFed.Cryptography;
using Google.Protobuf;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Learning.Federation;

/// <summary>Encodes and decodes training broadcasts (SPEC.md 14.4, <c>training.proto</c>).</summary>
public static class TrainingWire
{
    /// <summary>The wire protocol version this code speaks.</summary>
    public const uint ProtocolVersion = 1;
    /// <summary>Largest broadcast accepted, in bytes (64 MiB).</summary>
    public const int MaxBroadcastBytes = 64 << 20;
    /// <summary>Largest list in a broadcast (features, thresholds, decisions, nodes, weights): 2^20 entries.</summary>
    public const int MaxListLength = 1 << 20;

    private static readonly MessageParser<V1.TrainingBroadcast> Parser = V1.TrainingBroadcast.Parser.WithDiscardUnknownFields(true);

    /// <summary>Serializes a broadcast as a <c>TrainingBroadcast</c> (protocol version 1).</summary>
    /// <param name="broadcast">Any of the broadcasts of <see cref="TrainingBroadcast"/>.</param>
    /// <returns>The protobuf bytes.</returns>
    /// <exception cref="ArgumentException">an unknown broadcast type, or a negative index or count.</exception>
    public static byte[] Encode(TrainingBroadcast broadcast)
    {
        ArgumentNullException.ThrowIfNull(broadcast);
        var w = new V1.TrainingBroadcast { ProtocolVersion = ProtocolVersion };
        switch (broadcast)
        {
            case TrainingSetupRequest m:
                w.Setup = new V1.TrainingSetupRequest { Step = (V1.TrainingSetupStep)(int)m.Step };
                w.Setup.FeatureNames.Add(m.FeatureNames);
                break;
            case GbdtTrainingStart m:
                w.GbdtStart = new V1.GbdtTrainingStart { BaseScore = m.BaseScore, GradientScaleBits = U(m.GradientScaleBits), Trees = U(m.Trees) };
                if (m.Thresholds.Count != m.HasMissing.Count) throw Error.Argument(nameof(broadcast), "Thresholds and HasMissing differ in length.");
                for (int f = 0; f < m.Thresholds.Count; f++)
                {
                    var e = new V1.FeatureBinEdges { HasMissing = m.HasMissing[f] };
                    e.Thresholds.Add(m.Thresholds[f]);
                    w.GbdtStart.Features.Add(e);
                }
                break;
            case GbdtLevelRequest m:
                w.GbdtLevel = new V1.GbdtLevelRequest { Tree = U(m.Tree), Level = U(m.Level) };
                w.GbdtLevel.PreviousSplits.Add(m.PreviousSplits.Select(Decision));
                w.GbdtLevel.Nodes.Add(m.Nodes.Select(U));
                break;
            case GbdtTreeResult m:
                w.GbdtTreeResult = new V1.GbdtTreeResult { Tree = U(m.Tree) };
                w.GbdtTreeResult.FinalSplits.Add(m.FinalSplits.Select(Decision));
                w.GbdtTreeResult.LeafValues.Add(m.LeafValues);
                break;
            case LogisticTrainingStart m:
                w.LogisticStart = new V1.LogisticTrainingStart { WeightScaleBits = U(m.WeightScaleBits), Rounds = U(m.Rounds) };
                w.LogisticStart.Mean.Add(m.Mean);
                w.LogisticStart.Std.Add(m.Std);
                break;
            case LogisticRoundRequest m:
                w.LogisticRound = new V1.LogisticRoundRequest { Round = U(m.Round) };
                w.LogisticRound.Weights.Add(m.Weights);
                break;
            default:
                throw Error.Argument(nameof(broadcast), $"Unknown broadcast type {broadcast.GetType().Name}.");
        }
        return w.ToByteArray();
    }

    /// <summary>Parses a <c>TrainingBroadcast</c>.</summary>
    /// <param name="bytes">The protobuf bytes, at most <see cref="MaxBroadcastBytes"/>.</param>
    /// <returns>The domain broadcast (fresh objects, sharing nothing with the caller).</returns>
    /// <exception cref="ProtocolViolationException">Oversized, Malformed (not protobuf, not canonical, no or unknown step),
    /// WrongRoundOrState (another protocol version) or OutOfRange (a list longer than 2^20, an index of 2^31 or more).</exception>
    public static TrainingBroadcast Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxBroadcastBytes)
            throw Error.Violation(ViolationReason.Oversized, $"A training broadcast of {bytes.Length} bytes exceeds {MaxBroadcastBytes}.");
        V1.TrainingBroadcast w;
        try { w = Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException) { throw Error.Violation(ViolationReason.Malformed, "The training broadcast is not a valid TrainingBroadcast."); }
        if (w.CalculateSize() != bytes.Length)
            throw Error.Violation(ViolationReason.Malformed, "The training broadcast is not in canonical protobuf encoding.");
        if (w.ProtocolVersion != ProtocolVersion)
            throw Error.Violation(ViolationReason.WrongRoundOrState, $"Training protocol version {w.ProtocolVersion}; this party speaks {ProtocolVersion}.");
        switch (w.StepCase)
        {
            case V1.TrainingBroadcast.StepOneofCase.Setup:
            {
                V1.TrainingSetupRequest m = w.Setup;
                if (m.Step is not (V1.TrainingSetupStep.Counts or V1.TrainingSetupStep.FineGrid))
                    throw Error.Violation(ViolationReason.Malformed, "A setup request names no known setup step.");
                return new TrainingSetupRequest((TrainingSetupStep)(int)m.Step, Listed(m.FeatureNames).ToArray());
            }
            case V1.TrainingBroadcast.StepOneofCase.GbdtStart:
            {
                V1.GbdtTrainingStart m = w.GbdtStart;
                var features = Listed(m.Features);
                return new GbdtTrainingStart(features.Select(e => Listed(e.Thresholds).ToArray()).ToArray(), features.Select(e => e.HasMissing).ToArray(),
                    m.BaseScore, I(m.GradientScaleBits), I(m.Trees));
            }
            case V1.TrainingBroadcast.StepOneofCase.GbdtLevel:
            {
                V1.GbdtLevelRequest m = w.GbdtLevel;
                return new GbdtLevelRequest(I(m.Tree), I(m.Level), Listed(m.PreviousSplits).Select(Decision).ToArray(), Listed(m.Nodes).Select(I).ToArray());
            }
            case V1.TrainingBroadcast.StepOneofCase.GbdtTreeResult:
            {
                V1.GbdtTreeResult m = w.GbdtTreeResult;
                return new GbdtTreeResult(I(m.Tree), Listed(m.FinalSplits).Select(Decision).ToArray(), Listed(m.LeafValues).ToArray());
            }
            case V1.TrainingBroadcast.StepOneofCase.LogisticStart:
            {
                V1.LogisticTrainingStart m = w.LogisticStart;
                return new LogisticTrainingStart(Listed(m.Mean).ToArray(), Listed(m.Std).ToArray(), I(m.WeightScaleBits), I(m.Rounds));
            }
            case V1.TrainingBroadcast.StepOneofCase.LogisticRound:
            {
                V1.LogisticRoundRequest m = w.LogisticRound;
                return new LogisticRoundRequest(I(m.Round), Listed(m.Weights).ToArray());
            }
            default:
                throw Error.Violation(ViolationReason.Malformed, "The training broadcast carries no step.");
        }
    }

    private static V1.GbdtNodeDecision Decision(GbdtNodeDecision d) => d.IsLeaf
        ? new V1.GbdtNodeDecision { Leaf = U(d.Leaf) }
        : new V1.GbdtNodeDecision { Split = new V1.GbdtSplit { Feature = U(d.Feature), Bin = U(d.Bin), DefaultLeft = d.DefaultLeft } };

    private static GbdtNodeDecision Decision(V1.GbdtNodeDecision d) => d.KindCase switch
    {
        V1.GbdtNodeDecision.KindOneofCase.Leaf => GbdtNodeDecision.LeafNode(I(d.Leaf)),
        V1.GbdtNodeDecision.KindOneofCase.Split => GbdtNodeDecision.Split(I(d.Split.Feature), I(d.Split.Bin), d.Split.DefaultLeft),
        _ => throw Error.Violation(ViolationReason.Malformed, "A node decision is neither a split nor a leaf."),
    };

    private static uint U(int value) => value >= 0 ? (uint)value : throw Error.Argument(nameof(value), "Indices and counts on the wire are non-negative.");

    private static int I(uint value) => value <= int.MaxValue ? (int)value
        : throw Error.Violation(ViolationReason.OutOfRange, "An index or count in the training broadcast is 2^31 or more.");

    private static IReadOnlyList<T> Listed<T>(IReadOnlyList<T> list) => list.Count <= MaxListLength ? list
        : throw Error.Violation(ViolationReason.OutOfRange, $"A list in the training broadcast has {list.Count} entries; at most {MaxListLength} are accepted.");
}
