using FraudFed.Cryptography;
using FraudFed.Learning.Federation;
using FraudFed.Testing.Fuzzing;

namespace FraudFed.Learning.Tests.Federation;

/// <summary>
/// The training broadcast decoder (a bank decodes the appliance's `training_step` bytes, SPEC.md 14.4) under the seeded
/// mutation loop of the other decoders: every mutant of genuine broadcasts is accepted or refused with a typed
/// <see cref="ProtocolViolationException"/>, never another exception; the bytes allocated by one call stay below 64 KiB plus
/// 32 times the input (no allocation follows a lying length field); an accepted mutant is canonical as SPEC.md 14.4 defines
/// it (its re-encoding has its size) and decodes to a broadcast whose encoding is stable.
/// </summary>
public class TrainingWireFuzzTests
{
    private static readonly byte[][] Genuine =
    [
        TrainingWire.Encode(new TrainingSetupRequest(TrainingSetupStep.FineGrid, ["amount", "merchant_bucket", "hour"])),
        TrainingWire.Encode(new GbdtTrainingStart([[-1.5, 0.1, 1e6], [], [2.0]], [true, false, true], -3.5, 20, 3)),
        TrainingWire.Encode(new GbdtLevelRequest(1, 2, [GbdtNodeDecision.Split(1, 5, true), GbdtNodeDecision.LeafNode(0), GbdtNodeDecision.Split(0, 0, false)], [0, 2, 3])),
        TrainingWire.Encode(new GbdtTreeResult(1, [GbdtNodeDecision.LeafNode(1), GbdtNodeDecision.LeafNode(2)], [0.5, -0.125, 1.0 / 3])),
        TrainingWire.Encode(new LogisticTrainingStart([0.1, 2.5], [1.0, 0.75], 24, 5)),
        TrainingWire.Encode(new LogisticRoundRequest(3, [0.0, -1.25, 3.5])),
    ];

    [Test]
    public void Fuzz_TrainingWireDecode_AcceptsOrRefusesTyped_WithBoundedAllocation()
    {
        foreach (byte[] g in Genuine) Assert.That(Check(g, TrainingWire.Decode(g)), Is.Null, "a genuine broadcast holds the property (fixture check)");
        int seed = FuzzRun.Seed(7101);
        FuzzResult r = FuzzRun.Run(new WireMutator(Genuine, protobuf: true), seed, FuzzRun.Mutants(1500), FuzzRun.Budget(4),
            b => TrainingWire.Decode(b), (b, v) => Check(b, (TrainingBroadcast)v!));
        TestContext.Out.WriteLine($"TrainingWire.Decode: {r}");
        Assert.That(r.Failures, Is.Empty, r.ToString());
        Assert.That(r.Cases, Is.GreaterThanOrEqualTo(200), $"enough mutants within the time budget ({r})");
        Assert.That(r.Refused, Is.GreaterThan(r.Cases / 4), $"the mutants reach the checks ({r})");
    }

    private static string? Check(byte[] input, TrainingBroadcast decoded)
    {
        byte[] again = TrainingWire.Encode(decoded);
        if (again.Length != input.Length) return $"re-encoded to {again.Length} bytes, not {input.Length} (not canonical)";
        byte[] third = TrainingWire.Encode(TrainingWire.Decode(again));
        return third.AsSpan().SequenceEqual(again) ? null : "the re-encoding does not decode to the same broadcast";
    }
}
