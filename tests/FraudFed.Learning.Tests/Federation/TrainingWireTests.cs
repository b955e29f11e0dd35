using FraudFed.Cryptography;
using FraudFed.Learning.Federation;
using Google.Protobuf;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Learning.Tests.Federation;

/// <summary>Every training broadcast round-trips through training.proto bit for bit; bad bytes are typed refusals.</summary>
public class TrainingWireTests
{
    private static IEnumerable<TestCaseData> Broadcasts()
    {
        yield return new TestCaseData(new TrainingSetupRequest(TrainingSetupStep.Counts, ["amount", "hour", "ünïcode"])).SetName("Wire/setup/counts");
        yield return new TestCaseData(new TrainingSetupRequest(TrainingSetupStep.FineGrid, ["a"])).SetName("Wire/setup/fine-grid");
        yield return new TestCaseData(new GbdtTrainingStart([[-1.5, 0.0, 3.25e10], [], [double.Epsilon]], [true, false, true], -4.123456789012345, 30, 200)).SetName("Wire/gbdt/start");
        yield return new TestCaseData(new GbdtLevelRequest(0, 0, [], [0])).SetName("Wire/gbdt/level-0");
        yield return new TestCaseData(new GbdtLevelRequest(7, 3, [GbdtNodeDecision.Split(12, 0, true), GbdtNodeDecision.LeafNode(0), GbdtNodeDecision.Split(0, 127, false)], [1, 2])).SetName("Wire/gbdt/level-3");
        yield return new TestCaseData(new GbdtLevelRequest(1, 5, [GbdtNodeDecision.LeafNode(4)], [])).SetName("Wire/gbdt/level-no-nodes");
        yield return new TestCaseData(new GbdtTreeResult(199, [GbdtNodeDecision.LeafNode(2), GbdtNodeDecision.LeafNode(3)], [-0.0, 0.1, -1e-300, 2.5])).SetName("Wire/gbdt/tree-result");
        yield return new TestCaseData(new LogisticTrainingStart([0.5, -2.0], [1e-3, 7.75], 23, 30)).SetName("Wire/logistic/start");
        yield return new TestCaseData(new LogisticRoundRequest(30, [0.1, -0.2, Math.PI])).SetName("Wire/logistic/round");
    }

    [TestCaseSource(nameof(Broadcasts))]
    public void RoundTripsBitForBit(TrainingBroadcast broadcast)
    {
        byte[] bytes = TrainingWire.Encode(broadcast);
        TrainingBroadcast back = TrainingWire.Decode(bytes);
        Assert.That(back.GetType(), Is.EqualTo(broadcast.GetType()));
        Assert.That(TrainingWire.Encode(back), Is.EqualTo(bytes), "re-encoding the decoded broadcast gives the same bytes");
        Assert.That(Describe(back), Is.EqualTo(Describe(broadcast)), "every field, doubles compared by their bits");
        var parsed = V1.TrainingBroadcast.Parser.ParseFrom(bytes);
        Assert.That(parsed.ProtocolVersion, Is.EqualTo(1u));
    }

    /// <summary>Bytes worked out by hand from the protobuf encoding rules (varint tags, packed repeated fields,
    /// little-endian doubles), pinning the wire format of training.proto.</summary>
    [Test]
    public void GoldenBytes_FromTheProtobufEncodingRules()
    {
        // version 1 (08 01); field 15 logistic_round, 12 bytes (7A 0C): round 1 (08 01), weights packed, 8 bytes (12 08), 0.5 LE.
        Assert.That(Convert.ToHexString(TrainingWire.Encode(new LogisticRoundRequest(1, [0.5]))),
            Is.EqualTo("08017A0C08011208" + "000000000000E03F"));
        // field 12 gbdt_level, 21 bytes (62 15): tree 2 (08 02), level 1 (10 01); decision 1 (1A 08): split (0A 06) feature 3,
        // bin 5, default_left (08 03 10 05 18 01); decision 2 (1A 02): leaf 0, present although 0 (10 00); nodes packed [1] (22 01 01).
        var level = new GbdtLevelRequest(2, 1, [GbdtNodeDecision.Split(3, 5, true), GbdtNodeDecision.LeafNode(0)], [1]);
        Assert.That(Convert.ToHexString(TrainingWire.Encode(level)),
            Is.EqualTo("0801621508021001" + "1A080A06080310051801" + "1A021000" + "220101"));
        Assert.That(TrainingWire.Decode(Convert.FromHexString("0801621508021001" + "1A080A06080310051801" + "1A021000" + "220101")), Is.TypeOf<GbdtLevelRequest>());
    }

    [Test]
    public void GbdtNodeDecisionsKeepSplitAndLeafApart_Leaf0IsStillALeaf()
    {
        var level = (GbdtLevelRequest)TrainingWire.Decode(TrainingWire.Encode(new GbdtLevelRequest(0, 1, [GbdtNodeDecision.LeafNode(0), GbdtNodeDecision.Split(0, 0, false)], [0, 1])));
        Assert.That(level.PreviousSplits[0], Is.EqualTo(GbdtNodeDecision.LeafNode(0)));
        Assert.That(level.PreviousSplits[1], Is.EqualTo(GbdtNodeDecision.Split(0, 0, false)));
    }

    [Test]
    public void TruncatedBytes_AreMalformed()
    {
        byte[] bytes = TrainingWire.Encode(new LogisticRoundRequest(2, [0.1, 0.2, 0.3]));
        var ex = Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void AnotherProtocolVersion_IsWrongRoundOrState()
    {
        var w = V1.TrainingBroadcast.Parser.ParseFrom(TrainingWire.Encode(new LogisticRoundRequest(1, [0.0])));
        w.ProtocolVersion = 2;
        var ex = Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(w.ToByteArray()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    [Test]
    public void NoStep_UnknownSetupStep_AndEmptyDecision_AreMalformed()
    {
        var none = new V1.TrainingBroadcast { ProtocolVersion = 1 };
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(none.ToByteArray()))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        var unknown = new V1.TrainingBroadcast { ProtocolVersion = 1, Setup = new V1.TrainingSetupRequest { Step = V1.TrainingSetupStep.Unspecified } };
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(unknown.ToByteArray()))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        var empty = new V1.TrainingBroadcast { ProtocolVersion = 1, GbdtLevel = new V1.GbdtLevelRequest { Tree = 0, Level = 1 } };
        empty.GbdtLevel.PreviousSplits.Add(new V1.GbdtNodeDecision());
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(empty.ToByteArray()))!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void AnIndexOf2To31_IsOutOfRange()
    {
        var w = new V1.TrainingBroadcast { ProtocolVersion = 1, LogisticRound = new V1.LogisticRoundRequest { Round = 1u << 31 } };
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(w.ToByteArray()))!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
    }

    [Test]
    public void NonCanonicalEncoding_IsMalformed()
    {
        // Field 1 (protocol_version) = 1 written with a two-byte varint (0x81 0x00) instead of 0x01.
        byte[] canonical = TrainingWire.Encode(new LogisticRoundRequest(1, [0.5]));
        Assert.That(canonical[0..2], Is.EqualTo(new byte[] { 0x08, 0x01 }));
        byte[] padded = [0x08, 0x81, 0x00, .. canonical[2..]];
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(padded))!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    [Test]
    public void MoreThanTheLimit_IsOversizedBeforeParsing()
    {
        var big = new byte[TrainingWire.MaxBroadcastBytes + 1];
        Assert.That(Assert.Throws<ProtocolViolationException>(() => TrainingWire.Decode(big))!.Reason, Is.EqualTo(ViolationReason.Oversized));
    }

    private static string Describe(TrainingBroadcast b)
    {
        static string D(double d) => BitConverter.DoubleToInt64Bits(d).ToString("x16");
        static string L(IEnumerable<double> ds) => "[" + string.Join(",", ds.Select(D)) + "]";
        static string N(IEnumerable<GbdtNodeDecision> ds) => "[" + string.Join(",", ds) + "]";
        return b switch
        {
            TrainingSetupRequest m => $"setup {m.Step} {string.Join("|", m.FeatureNames)}",
            GbdtTrainingStart m => $"gstart {string.Join(";", m.Thresholds.Select(L))} {string.Join(",", m.HasMissing)} {D(m.BaseScore)} {m.GradientScaleBits} {m.Trees}",
            GbdtLevelRequest m => $"level {m.Tree} {m.Level} {N(m.PreviousSplits)} {string.Join(",", m.Nodes)}",
            GbdtTreeResult m => $"tree {m.Tree} {N(m.FinalSplits)} {L(m.LeafValues)}",
            LogisticTrainingStart m => $"lstart {L(m.Mean)} {L(m.Std)} {m.WeightScaleBits} {m.Rounds}",
            LogisticRoundRequest m => $"round {m.Round} {L(m.Weights)}",
            _ => throw new ArgumentException("unknown"),
        };
    }
}
