// Golden file of the training wrapper (SPEC.md 14.4; protocols/fraudfed/v1/training.proto): one case per `oneof` step of
// TrainingBroadcast, the coordinator's message to every bank. Each case's bytes are checked three ways: the library's
// mapper (TrainingWire, from the domain broadcasts) encodes the documented inputs to them; the independent proto3 encoder
// ProtoRef, written from the .proto field numbers, produces the same bytes (doubles as wire type 1 / packed 8-byte
// little-endian binary64, a set oneof scalar written even when 0, empty nested messages written); decoding them and
// encoding again gives them back. Every case is also refused with a typed error under another protocol_version and when
// truncated.
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Learning.Federation;

namespace FraudFed.Conformance.Vectors;

internal sealed class TrainingWireVectors : IVectorFile
{
    public string Path => "wire/training-wrappers.json";
    public bool Generated => true;

    private static readonly string[] Features = ["amount", "merchant_bucket"];

    private static byte[] Wrapper(int step, ProtoRef inner) => new ProtoRef().U(1, TrainingWire.ProtocolVersion).M(step, inner).ToArray();

    private static ProtoRef Split(int feature, int bin, bool defaultLeft) =>
        new ProtoRef().M(1, new ProtoRef().U(1, (ulong)feature).U(2, (ulong)bin).U(3, defaultLeft ? 1UL : 0));

    private static ProtoRef Leaf(int leaf) => new ProtoRef().U(2, (ulong)leaf, always: true);

    /// <summary>(name, direction, library bytes, reference bytes) of every case.</summary>
    private static IEnumerable<(string Name, string Direction, byte[] Library, byte[] Reference)> Cases()
    {
        yield return ("setup", "to_bank", TrainingWire.Encode(new TrainingSetupRequest(TrainingSetupStep.FineGrid, Features)),
            Wrapper(10, new ProtoRef().U(1, 2).Strings(2, Features)));

        double[] thresholds0 = [-1.5, 0.1, 1e6];
        yield return ("gbdt_start", "to_bank", TrainingWire.Encode(new GbdtTrainingStart([thresholds0, []], [true, false], -3.5, 20, 3)),
            Wrapper(11, new ProtoRef()
                .M(1, new ProtoRef().PackedDoubles(1, thresholds0).U(2, 1))
                .M(1, new ProtoRef())
                .D(2, -3.5).U(3, 20).U(4, 3)));

        GbdtNodeDecision[] previous = [GbdtNodeDecision.Split(1, 5, true), GbdtNodeDecision.LeafNode(0), GbdtNodeDecision.Split(0, 0, false)];
        yield return ("gbdt_level", "to_bank", TrainingWire.Encode(new GbdtLevelRequest(1, 2, previous, [0, 2, 3])),
            Wrapper(12, new ProtoRef().U(1, 1).U(2, 2)
                .M(3, Split(1, 5, true)).M(3, Leaf(0)).M(3, Split(0, 0, false))
                .Packed(4, [0, 2, 3])));

        double[] leaves = [0.5, -0.125, 1.0 / 3];
        yield return ("gbdt_tree_result", "to_bank",
            TrainingWire.Encode(new GbdtTreeResult(1, [GbdtNodeDecision.LeafNode(1), GbdtNodeDecision.LeafNode(2)], leaves)),
            Wrapper(13, new ProtoRef().U(1, 1).M(2, Leaf(1)).M(2, Leaf(2)).PackedDoubles(3, leaves)));

        double[] mean = [0.1, 2.5], std = [1.0, 0.75];
        yield return ("logistic_start", "to_bank", TrainingWire.Encode(new LogisticTrainingStart(mean, std, 24, 5)),
            Wrapper(14, new ProtoRef().PackedDoubles(1, mean).PackedDoubles(2, std).U(3, 24).U(4, 5)));

        double[] weights = [0.0, -1.25, 3.5];
        yield return ("logistic_round", "to_bank", TrainingWire.Encode(new LogisticRoundRequest(3, weights)),
            Wrapper(15, new ProtoRef().U(1, 3).PackedDoubles(2, weights)));
    }

    public JsonObject Generate()
    {
        var cases = new JsonArray();
        foreach (var (name, direction, library, _) in Cases())
            cases.Add(new JsonObject { ["name"] = name, ["direction"] = direction, ["bytes"] = J.H(library) });
        return new JsonObject
        {
            ["description"] = "Golden bytes of every step of the training wrapper TrainingBroadcast of protocols/fraudfed/v1/training.proto " +
                "(SPEC.md 14.4), the coordinator's broadcast to every bank (direction to_bank; there is no bank-to-coordinator wrapper): " +
                "protocol_version 1 and the step's oneof field set. Inputs: setup: step TRAINING_SETUP_STEP_FINE_GRID (2), feature_names " +
                "[\"amount\", \"merchant_bucket\"]; gbdt_start: feature 0 thresholds [-1.5, 0.1, 1000000] with has_missing true, feature 1 " +
                "no thresholds and has_missing false (an empty FeatureBinEdges, still written), base_score -3.5, gradient_scale_bits 20, trees 3; " +
                "gbdt_level: tree 1, level 2, previous_splits [split feature 1 bin 5 default_left true, leaf 0, split feature 0 bin 0 " +
                "default_left false (an empty GbdtSplit, still written)], nodes [0, 2, 3]; gbdt_tree_result: tree 1, final_splits [leaf 1, " +
                "leaf 2], leaf_values [0.5, -0.125, the binary64 nearest 1/3]; logistic_start: mean [0.1, 2.5], std [1, 0.75], " +
                "weight_scale_bits 24, rounds 5; logistic_round: round 3, weights [0, -1.25, 3.5]. Decimal values are the nearest IEEE 754 " +
                "binary64. proto3 canonical encoding: fields in number order, default values omitted (a oneof member is written even when 0, " +
                "so leaf 0 is the bytes 10 00), repeated scalars packed (doubles as 8-byte little-endian binary64), repeated strings and " +
                "messages one field per entry. Generated by `fraudfed vectors generate` (TrainingWire); checked against an independent " +
                "encoder written from the .proto field numbers.",
            ["cases"] = cases,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root) => WireGolden.Cases(root, "TrainingWire", Cases(),
        (_, b) => TrainingWire.Encode(TrainingWire.Decode(b)), FraudFed.Protocol.Wire.V1.TrainingBroadcast.Descriptor, null);
}
