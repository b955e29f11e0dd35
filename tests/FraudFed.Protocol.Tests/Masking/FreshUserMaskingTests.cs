// Issue 8, what a fresh-user trial found in the masking parties: the round outcome has a byte form (MaskingSumOutcome of
// masking.proto, SPEC.md 15.2) that round-trips and refuses bad bytes; a bank parses before it checks its state (SPEC.md 14.1:
// garbage and an empty buffer are Malformed in every state); a party's message-size limit is a setting, and a message above
// it is Oversized before it is parsed.
using FraudFed.Cryptography;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;
using Google.Protobuf;
using NUnit.Framework;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class FreshUserMaskingTests
{
    private static MaskingParameters Params(byte fill = 5) => new(Enumerable.Repeat(fill, MaskingParameters.SessionIdSize).ToArray(), 4, 3, 20, null, null, MaskingParameters.DefaultMaxColluders(4));

    // ------------------------------------------------------------------ 4. the outcome's byte form

    [Test]
    public void Outcome_RoundTrips_CompletedAndFailed_AndIsTheProtoMessageFieldForField()
    {
        MaskingParameters p = Params();
        var done = new SumOutcomeNotice(7, [0, 1, (1UL << 20) - 1, 12345], [0, 2, 3], null);
        byte[] bytes = MaskingWire.EncodeOutcome(done, p);
        SumOutcomeNotice back = MaskingWire.DecodeOutcome(bytes, p);
        Assert.That((back.Round, back.Sum, back.Contributors, back.Failure), Is.EqualTo((done.Round, done.Sum, done.Contributors, done.Failure)));

        // Read independently through the generated type: every field where masking.proto says it is.
        V1.MaskingSumOutcome w = V1.MaskingSumOutcome.Parser.ParseFrom(bytes);
        Assert.That(w.ProtocolVersion, Is.EqualTo(1u));
        Assert.That(w.SessionId.ToByteArray(), Is.EqualTo(p.SessionId));
        Assert.That(w.Round, Is.EqualTo(7UL));
        Assert.That(w.Contributors, Is.EqualTo(new uint[] { 0, 2, 3 }));
        Assert.That(w.Sum, Is.EqualTo(done.Sum));
        Assert.That(w.Failure, Is.EqualTo(V1.ViolationReasonCode.Unspecified));
        Assert.That(w.ToByteArray(), Is.EqualTo(bytes), "canonical protobuf");

        var failed = new SumOutcomeNotice(8, null, [], ViolationReason.TooFewParticipants);
        SumOutcomeNotice f = MaskingWire.DecodeOutcome(MaskingWire.EncodeOutcome(failed, p), p);
        Assert.That((f.Round, f.Sum, f.Contributors, f.Failure), Is.EqualTo((8UL, (ulong[]?)null, Array.Empty<int>(), (ViolationReason?)ViolationReason.TooFewParticipants)));
        Assert.That(V1.MaskingSumOutcome.Parser.ParseFrom(MaskingWire.EncodeOutcome(failed, p)).Failure, Is.EqualTo(V1.ViolationReasonCode.TooFewParticipants));
    }

    [Test]
    public void Outcome_BadBytes_AreRefusedWithTypedReasons_AndBadNoticesAreCallerErrors()
    {
        MaskingParameters p = Params();
        byte[] Bytes(Action<V1.MaskingSumOutcome> change)
        {
            var w = new V1.MaskingSumOutcome { ProtocolVersion = 1, SessionId = ByteString.CopyFrom(p.SessionId), Round = 3 };
            w.Contributors.Add([0u, 1u, 2u]);
            w.Sum.Add([1UL, 2UL]);
            change(w);
            return w.ToByteArray();
        }
        ViolationReason Refused(byte[] b) => Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeOutcome(b, p))!.Reason;

        Assert.That(MaskingWire.DecodeOutcome(Bytes(_ => { }), p).Sum, Is.EqualTo(new ulong[] { 1, 2 }), "the base case is valid");
        Assert.That(Refused([]), Is.EqualTo(ViolationReason.Malformed), "empty");
        Assert.That(Refused([0xFF, 0xFF]), Is.EqualTo(ViolationReason.Malformed), "garbage");
        Assert.That(Refused(Bytes(w => w.ProtocolVersion = 2)), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Refused(Bytes(w => w.SessionId = ByteString.CopyFrom(Params(6).SessionId))), Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Refused(Bytes(w => w.Round = 0)), Is.EqualTo(ViolationReason.OutOfRange));
        Assert.That(Refused(Bytes(w => w.Round = 1UL << 32)), Is.EqualTo(ViolationReason.OutOfRange));
        Assert.That(Refused(Bytes(w => { w.Contributors.Clear(); w.Contributors.Add([2u, 1u]); })), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Refused(Bytes(w => w.Contributors.Add(4u))), Is.EqualTo(ViolationReason.UnknownSender), "N = 4");
        Assert.That(Refused(Bytes(w => w.Sum.Add(1UL << 20))), Is.EqualTo(ViolationReason.OutOfRange), "k = 20");
        Assert.That(Refused(Bytes(w => w.Sum.Clear())), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Refused(Bytes(w => w.Failure = V1.ViolationReasonCode.Refused)), Is.EqualTo(ViolationReason.Malformed), "a failure with a sum");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeOutcome(Bytes(_ => { }), p, maxMessageBytes: 8))!.Reason, Is.EqualTo(ViolationReason.Oversized));

        Assert.Throws<ArgumentException>(() => MaskingWire.EncodeOutcome(new SumOutcomeNotice(1, [1UL << 20], [0], null), p));
        Assert.Throws<ArgumentException>(() => MaskingWire.EncodeOutcome(new SumOutcomeNotice(1, [1], [1, 0], null), p));
        Assert.Throws<ArgumentException>(() => MaskingWire.EncodeOutcome(new SumOutcomeNotice(1, [1], [0], ViolationReason.Refused), p));
        Assert.Throws<ArgumentException>(() => MaskingWire.EncodeOutcome(new SumOutcomeNotice(0, [1], [0], null), p));
    }

    // ------------------------------------------------------------------ 5. parse first

    private static readonly byte[] Garbage = [0xFF, 0xFF, 0xFF];

    [Test]
    public void Bank_GarbageAndEmptyMessages_AreMalformed_InEveryReceive_BeforeTheStateCheck()
    {
        using var d = new Driver(4, 3, "fresh/parse-first").UpToReady();
        MaskingBank bank = d.H.Banks[0];
        BankState before = bank.State;   // Ready: none of these messages is expected now, yet each is refused for its bytes
        foreach (byte[] bad in new[] { Garbage, Array.Empty<byte>() })
        {
            string what = bad.Length == 0 ? "empty" : "garbage";
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveRoster(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"roster, {what}");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveGraphSeed(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"graph seed, {what}");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveShares(bad, new ulong[Driver.Length]))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"shares, {what}");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveSurvivors(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"survivors, {what}");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveUnmaskRequest(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"unmask, {what}");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveRoundAbort(bad))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"abort, {what}");
        }
        var empty = Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeToBank([]))!;
        Assert.That(empty.Message, Does.Not.Contain("Protocol version 0"));
        Assert.That(bank.State, Is.SameAs(before), "nothing changed");
        // A well-formed message in the wrong state is still WrongRoundOrState.
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveRoster(d.Roster))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    // ------------------------------------------------------------------ 6. the size limit is a setting

    [Test]
    public void Parties_MessageSizeLimit_IsASetting_AndALargerMessageIsOversizedBeforeParsing()
    {
        using var d = new Driver(4, 3, "fresh/size");
        MaskingParameters p = d.Parameters;
        byte[][] keys = Enumerable.Range(0, 4).Select(i => d.H.IdentityOf(i).PublicKey.ToArray()).ToArray();
        var agg = new MaskingAggregator(p, keys, maxMessageBytes: 4096);
        byte[] zeros = new byte[8192];
        Assert.That(Assert.Throws<ProtocolViolationException>(() => agg.Receive(0, zeros))!.Reason, Is.EqualTo(ViolationReason.Oversized));
        agg.Receive(0, d.H.Banks[0].AdvertiseKeys());   // below the limit: accepted

        using var rng = FraudFed.Testing.TestRandom.Create("fresh/size/bank");
        using var bank = new MaskingBank(p, 1, d.H.IdentityOf(1), keys, rng, maxMessageBytes: 4096);
        bank.AdvertiseKeys();
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveRoster(zeros))!.Reason, Is.EqualTo(ViolationReason.Oversized));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingAggregator(p, keys, maxMessageBytes: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingBank(p, 1, d.H.IdentityOf(1), keys, rng, maxMessageBytes: 0));
    }

    // ------------------------------------------------------------------ 7. messages a person can act on

    [Test]
    public void TooFewParticipants_SaysHowManyArrived_AndTheMinimum_AndAWrongKindNamesItWithItsArticle()
    {
        using var d = new Driver(4, 3, "fresh/counts");
        MaskingParameters p = d.Parameters;
        byte[][] keys = Enumerable.Range(0, 4).Select(i => d.H.IdentityOf(i).PublicKey.ToArray()).ToArray();
        var agg = new MaskingAggregator(p, keys);
        agg.Receive(0, d.H.Banks[0].AdvertiseKeys());
        agg.Receive(2, d.H.Banks[2].AdvertiseKeys());
        var ex = Assert.Throws<ProtocolViolationException>(() => agg.CloseAdvertiseKeys())!;
        Assert.That(ex.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(ex.Message, Does.Contain($"2 banks advertised keys; at least {p.MinimumSurvivors} are needed (the minimum M of surviving banks, SPEC.md 8.3)."));
        var alone = new MaskingAggregator(p, keys);
        alone.Receive(1, d.H.Banks[1].AdvertiseKeys());
        Assert.That(Assert.Throws<ProtocolViolationException>(() => alone.CloseAdvertiseKeys())!.Message, Does.Contain("1 bank advertised keys; at least"));

        // A bank handed the wrong kind of aggregator message: "an UnmaskRequest", not "a UnmaskRequest".
        using var rng = FraudFed.Testing.TestRandom.Create("fresh/counts/bank");
        using var bank = new MaskingBank(p, 1, d.H.IdentityOf(1), keys, rng);
        bank.AdvertiseKeys();
        byte[] roster = MaskingWire.Encode(new KeyRoster(p.SessionId, []));
        var wrong = Assert.Throws<ProtocolViolationException>(() => bank.ReceiveUnmaskRequest(roster))!;
        Assert.That(wrong.Message, Does.Contain("is not an UnmaskRequest"));
    }
}
