// HeWire's canonical-encoding rule (SPEC.md 14.1, as for MaskingWire and TrainingWire): a wrapper is accepted only in the
// encoding the protobuf serializer writes. Every step of both wrappers round-trips; hand-made encodings of the same content
// that protobuf parsers accept (an unknown field, a repeated field, a non-minimal varint or length, fields out of number
// order, a trailing byte) are refused as Malformed; and every message with a byte inserted, deleted or changed gets one
// verdict from the protobuf path and the in-place upload path, and is accepted only if it is exactly the serializer's
// encoding of what was decoded.
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HeWireCanonicalTests
{
    private const int Roster = 4;
    private static readonly byte[] Sid = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    private static byte[] Bytes(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + seed + 1)).ToArray();
    private static byte[][] PerBank(int length, int seed) => Enumerable.Range(0, Roster).Select(b => Bytes(length, seed + b)).ToArray();

    private static IEnumerable<(string Name, HeToAggregator Message)> BankMessages() =>
    [
        ("crs_commit", new HeCrsCommitMessage(Sid, Bytes(32, 1))),
        ("crs_reveal", new HeCrsRevealMessage(Sid, Bytes(32, 2))),
        ("key_share_commit", new HeKeyShareCommitMessage(Sid, Bytes(32, 3))),
        ("key_share_reveal", new HeKeyShareRevealMessage(Sid, Bytes(70, 4))),
        ("channel_advert", new HeChannelAdvertMessage(Sid, Bytes(ShareChannel.AdvertSize, 5))),
        ("sealed_points", new HeSealedPointsMessage(Sid, PerBank(20, 6))),
        ("key_ready", new HeKeyReadyMessage(Sid, Bytes(32, 7))),
        ("upload", new HeUploadMessage(Sid, 7, Bytes(40, 8), [Bytes(130, 9), Bytes(1, 10), Bytes(60, 11)])),
        ("decryption_shares", new HeDecryptionSharesMessage(Sid, 7, [Bytes(50, 12), Bytes(3, 13)])),
        ("abort", new HeAbortToAggregator(Sid, ViolationReason.TooFewParticipants, "too few", 7)),
    ];

    private static IEnumerable<(string Name, HeToBank Message)> AggregatorMessages() =>
    [
        ("session_start", new HeSessionStartMessage(Sid, Bytes(32, 1), 2)),
        ("crs_commitments", new HeCrsCommitmentsMessage(Sid, PerBank(32, 2))),
        ("crs_reveals", new HeCrsRevealsMessage(Sid, PerBank(32, 3))),
        ("key_share_commitments", new HeKeyShareCommitmentsMessage(Sid, PerBank(32, 4))),
        ("key_share_reveals", new HeKeyShareRevealsMessage(Sid, PerBank(40, 5))),
        ("channel_adverts", new HeChannelAdvertsMessage(Sid, PerBank(ShareChannel.AdvertSize, 6))),
        ("sealed_points", new HeSealedPointsForBankMessage(Sid, PerBank(20, 7))),
        ("round_start", new HeRoundStartMessage(Sid, 7, 1000, 4)),
        ("decryption_request", new HeDecryptionRequestMessage(Sid, 7, 2, [0, 1, 2], [0, 1, 3], [Bytes(30, 8), Bytes(30, 9), Bytes(30, 10)], [Bytes(20, 11), Bytes(20, 12)])),
        ("round_result", new HeRoundResultMessage(Sid, 7, [0, 2], [1, 2, 300])),
        ("abort", new HeAbortToBank(Sid, ViolationReason.Inconsistent, "views differ", 0)),
    ];

    /// <summary>The decoded message re-encoded, or the refusal's reason.</summary>
    private static string Outcome(Func<byte[]> decodeAndEncode)
    {
        try { return Convert.ToHexString(decodeAndEncode()); }
        catch (ProtocolViolationException e) { return "refused " + e.Reason; }
    }

    private static string ToAggregator(byte[] m) => Outcome(() => HeWire.Encode(HeWire.DecodeToAggregator(m, Roster)));
    private static string ToAggregatorInPlace(byte[] m) => Outcome(() => HeWire.Encode(HeWire.DecodeToAggregatorInPlace(m, Roster)));
    private static string ToBank(byte[] m) => Outcome(() => HeWire.Encode(HeWire.DecodeToBank(m, Roster)));

    /// <summary>Valid protobuf encodings of <paramref name="g"/>'s content (or of a merge of it) that are not the canonical one.</summary>
    private static IEnumerable<(string What, byte[] Bytes)> NonCanonical(byte[] g)
    {
        // Every wrapper starts 08 01 (protocol_version = 1) 12 10 <16-byte session id>; the step follows at offset 20.
        Assert.That(g[..4], Is.EqualTo(new byte[] { 0x08, 0x01, 0x12, 0x10 }), "the canonical wrapper prefix");
        yield return ("unknown varint field 40 appended", [.. g, 0xC0, 0x02, 0x01]);
        yield return ("unknown bytes field 41 appended", [.. g, 0xCA, 0x02, 0x01, 0xAA]);
        yield return ("protocol_version repeated", [.. g, 0x08, 0x01]);
        yield return ("session_id repeated", [.. g, 0x12, 0x10, .. Sid]);
        yield return ("non-minimal protocol_version varint", [0x08, 0x81, 0x00, .. g[2..]]);
        yield return ("non-minimal session_id length", [0x08, 0x01, 0x12, 0x90, 0x00, .. g[4..]]);
        yield return ("session_id before protocol_version", [.. g[2..20], 0x08, 0x01, .. g[20..]]);
        yield return ("step before session_id", [0x08, 0x01, .. g[20..], .. g[2..20]]);
        yield return ("a trailing zero byte", [.. g, 0x00]);
    }

    [Test]
    public void EveryStepOfBothWrappers_RoundTripsInItsCanonicalEncoding()
    {
        foreach (var (name, m) in BankMessages())
        {
            byte[] g = HeWire.Encode(m);
            Assert.That(ToAggregator(g), Is.EqualTo(Convert.ToHexString(g)), name);
            Assert.That(ToAggregatorInPlace(g), Is.EqualTo(Convert.ToHexString(g)), name);
        }
        foreach (var (name, m) in AggregatorMessages())
        {
            byte[] g = HeWire.Encode(m);
            Assert.That(ToBank(g), Is.EqualTo(Convert.ToHexString(g)), name);
        }
    }

    [Test]
    public void NonCanonicalEncodingsOfEveryStep_AreRefusedAsMalformed_OnEveryPath()
    {
        foreach (var (name, m) in BankMessages())
            foreach (var (what, bytes) in NonCanonical(HeWire.Encode(m)))
            {
                Assert.That(ToAggregator(bytes), Is.EqualTo("refused Malformed"), $"{name}: {what}");
                Assert.That(ToAggregatorInPlace(bytes), Is.EqualTo("refused Malformed"), $"{name}: {what} (in place)");
            }
        foreach (var (name, m) in AggregatorMessages())
            foreach (var (what, bytes) in NonCanonical(HeWire.Encode(m)))
                Assert.That(ToBank(bytes), Is.EqualTo("refused Malformed"), $"{name}: {what}");
    }

    [Test]
    public void ExplicitDefaultValues_AreRefusedAsMalformed()
    {
        // round_start with chunks = 0 written out (canonical proto3 omits a zero scalar): 8A 01 (field 17) len | 08 07 10 E8 07 18 00.
        byte[] head = HeWire.Encode(new HeRoundStartMessage(Sid, 7, 1000, 0))[..20];
        byte[] roundStart = [0x08, 0x07, 0x10, 0xE8, 0x07, 0x18, 0x00];
        Assert.That(ToBank([.. head, 0x8A, 0x01, (byte)roundStart.Length, .. roundStart]), Is.EqualTo("refused Malformed"));
        Assert.That(ToBank([.. head, 0x8A, 0x01, (byte)(roundStart.Length - 2), .. roundStart[..^2]]), Is.Not.StartWith("refused"),
            "the same message with the zero omitted is accepted");
        // An upload whose round 0 is written out.
        byte[] upload = HeWire.Encode(new HeUploadMessage(Sid, 0, Bytes(3, 1), [Bytes(4, 2)]));
        byte[] body = upload[23..];
        byte[] withZero = [.. upload[..20], 0x8A, 0x01, (byte)(body.Length + 2), 0x08, 0x00, .. body];
        Assert.That(ToAggregator(withZero), Is.EqualTo("refused Malformed"));
        Assert.That(ToAggregatorInPlace(withZero), Is.EqualTo("refused Malformed"));
    }

    /// <summary>Every single-byte insertion (of several values), deletion and change of <paramref name="g"/>.</summary>
    private static IEnumerable<(string What, byte[] Bytes)> Edits(byte[] g)
    {
        byte[] values = [0x00, 0x01, 0x02, 0x08, 0x0A, 0x12, 0x7F, 0x80, 0xFF];
        for (int i = 0; i <= g.Length; i++)
        {
            foreach (byte v in values) yield return ($"insert {v:X2} at {i}", [.. g[..i], v, .. g[i..]]);
            if (i == g.Length) break;
            yield return ($"delete at {i}", [.. g[..i], .. g[(i + 1)..]]);
            foreach (byte x in new byte[] { 0x01, 0x7F, 0x80, 0xFF })
            {
                byte[] b = (byte[])g.Clone();
                b[i] ^= x;
                yield return ($"xor {x:X2} at {i}", b);
            }
        }
    }

    [Test]
    public void EveryEditedBankMessage_GetsOneVerdictOnBothPaths_AndIsAcceptedOnlyInCanonicalForm()
    {
        int accepted = 0, refused = 0;
        foreach (var (name, m) in BankMessages())
            foreach (var (what, bytes) in Edits(HeWire.Encode(m)))
            {
                string byProtobuf = ToAggregator(bytes), inPlace = ToAggregatorInPlace(bytes);
                Assert.That(inPlace, Is.EqualTo(byProtobuf), $"{name}: {what}");
                if (byProtobuf.StartsWith("refused", StringComparison.Ordinal)) { refused++; continue; }
                accepted++;
                Assert.That(byProtobuf, Is.EqualTo(Convert.ToHexString(bytes)), $"{name}: {what} was accepted but is not the serializer's encoding");
            }
        Assert.That(refused, Is.GreaterThan(0));
        Assert.That(accepted, Is.GreaterThan(0), "edits inside a bytes field keep the encoding canonical and are decoded");
    }

    [Test]
    public void EveryEditedAggregatorMessage_IsAcceptedOnlyInCanonicalForm()
    {
        int accepted = 0, refused = 0;
        foreach (var (name, m) in AggregatorMessages())
            foreach (var (what, bytes) in Edits(HeWire.Encode(m)))
            {
                string outcome = ToBank(bytes);
                if (outcome.StartsWith("refused", StringComparison.Ordinal)) { refused++; continue; }
                accepted++;
                Assert.That(outcome, Is.EqualTo(Convert.ToHexString(bytes)), $"{name}: {what} was accepted but is not the serializer's encoding");
            }
        Assert.That(refused, Is.GreaterThan(0));
        Assert.That(accepted, Is.GreaterThan(0));
    }
}
