// Issue 8 item 1 at the seams between codecs: code outside a codec reads that codec's bytes only through the codec
// (RlweCodec.PeekContext for the RLWE envelope's kind and context, ShareChannel.AdvertBank for a channel advert's bank),
// and the refusal reason's wire code is written in one place (WireReasons), the same for HeWire, MaskingWire and the
// gRPC trailer.
using System.Buffers.Binary;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using Google.Protobuf;
using NUnit.Framework;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class WireBoundaryTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    private static byte[] Upload(byte[] context) =>
        RlweCodec.WriteWords(P, RlweObjectKind.CompactCiphertext, context, [], Enumerable.Range(0, P.N).Select(i => (ulong)i * 0x9E37_79B9_7F4A_7C15UL).ToArray());

    [Test]
    public void PeekContext_ReturnsTheWrittenContext_AndRefusesAnotherKindContextLengthOrATruncatedObject()
    {
        byte[] context = Enumerable.Range(0, CompactCiphertext.ContextSize).Select(i => (byte)(i * 7 + 1)).ToArray();
        byte[] upload = Upload(context);
        Assert.That(RlweCodec.PeekContext(upload, RlweObjectKind.CompactCiphertext, context.Length).ToArray(), Is.EqualTo(context));

        // The envelope layout of SPEC.md 12: kind at byte 5, context length (u32 LE) at byte 48.
        byte[] otherKind = (byte[])upload.Clone();
        otherKind[5] = (byte)RlweObjectKind.SwitchedDecryptionShare;
        byte[] otherLength = (byte[])upload.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(otherLength.AsSpan(48), (uint)context.Length + 1);
        foreach (var (what, bytes, length) in new[]
        {
            ("another kind", otherKind, context.Length),
            ("another context length field", otherLength, context.Length),
            ("another expected length", upload, context.Length - 1),
            ("header only", upload[..RlweCodec.HeaderSize], context.Length),
            ("no room for the trailer", upload[..(RlweCodec.HeaderSize + context.Length + RlweCodec.DigestSize - 1)], context.Length),
            ("empty", Array.Empty<byte>(), context.Length),
        })
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => RlweCodec.PeekContext(bytes, RlweObjectKind.CompactCiphertext, length), what);
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed), what);
        }
    }

    [Test]
    public void TheAggregatorsIntake_RefusesAnUploadOfAnotherKindOrContextLength_BeforeAnythingIsAdded()
    {
        using var key = Ed25519SigningKey.Generate(TestRandom.Create("boundary/bank0"));
        byte[] tag = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var label = new byte[ChunkLabel.Size];
        ChunkLabel.Write(label, tag, 5, 0, 0);   // round 5, chunk 0, sender 0
        byte[] upload = Upload(label);
        byte[] manifest = UploadManifest.Sign(key, tag, 5, RlweObjectKind.CompactCiphertext, 0, [upload]);

        byte[] otherKind = (byte[])upload.Clone();
        otherKind[5] = (byte)RlweObjectKind.Ciphertext;
        byte[] otherLength = (byte[])upload.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(otherLength.AsSpan(48), 0);
        foreach (byte[] bad in new[] { otherKind, otherLength, upload[..60] })
        {
            var intake = new UploadIntake([key.PublicKey.ToArray()], tag, 5, 1, RlweObjectKind.CompactCiphertext);
            int added = 0;
            var ex = Assert.Throws<ProtocolViolationException>(() => intake.AcceptRound(0, manifest, new[] { bad }, (_, _, _) => added++, parallel: false));
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed));
            Assert.That(added, Is.Zero);
            Assert.That(intake.AcceptedCount(0), Is.Zero);
            intake.AcceptRound(0, manifest, new[] { upload }, (_, _, _) => added++, parallel: false);
            Assert.That(added, Is.EqualTo(1), "the genuine upload is still accepted after the refusal");
        }
    }

    [Test]
    public void AdvertBank_IsTheBankTheAdvertWasMadeFor_AndAnAdvertOfAnotherSizeIsMalformed()
    {
        byte[] sid = Enumerable.Range(0, 16).Select(i => (byte)(100 + i)).ToArray();
        using var identity = Ed25519SigningKey.Generate(TestRandom.Create("boundary/advert"));
        for (int bank = 0; bank < 5; bank++)
        {
            using var channel = new ShareChannel(bank, 5, sid, TestRandom.Create($"boundary/channel/{bank}"));
            byte[] advert = channel.Advert(identity);
            Assert.That(ShareChannel.AdvertBank(advert), Is.EqualTo(bank));
            Assert.That(Assert.Throws<ProtocolViolationException>(() => ShareChannel.AdvertBank(advert.AsSpan(0, advert.Length - 1)))!.Reason,
                Is.EqualTo(ViolationReason.Malformed));
            Assert.That(Assert.Throws<ProtocolViolationException>(() => ShareChannel.AdvertBank([.. advert, 0]))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        }
    }

    [Test]
    public void EveryReason_HasTheCodeAndNameOfCommonProto_InBothMappersAndTheTrailer()
    {
        V1.ViolationReasonCode[] codes = Enum.GetValues<V1.ViolationReasonCode>();
        Google.Protobuf.Reflection.EnumDescriptor codeEnum = V1.CommonReflection.Descriptor.EnumTypes.Single(e => e.Name == "ViolationReasonCode");
        foreach (ViolationReason reason in Enum.GetValues<ViolationReason>())
        {
            // common.proto: the code is the reason plus one; its C# name is the proto name without the prefix, in Pascal case.
            var descriptor = codeEnum.FindValueByNumber((int)reason + 1);
            Assert.That(descriptor, Is.Not.Null, $"{reason} has a code in common.proto");
            string pascal = string.Concat(descriptor.Name["VIOLATION_REASON_CODE_".Length..].Split('_')
                .Select(w => w[0] + w[1..].ToLowerInvariant()));
            Assert.That(pascal, Is.EqualTo(reason.ToString()), "the proto name and the C# reason name agree");
            Assert.That(WireReasons.Name(reason), Is.EqualTo(pascal));
            Assert.That(WireReasons.TryParseName(WireReasons.Name(reason), out ViolationReason back), Is.True);
            Assert.That(back, Is.EqualTo(reason));

            byte[] sid = new byte[16];
            var he = V1.HeAggregatorMessage.Parser.ParseFrom(HeWire.Encode(new HeAbortToBank(sid, reason, "m", 3)));
            Assert.That((int)he.Abort.Reason, Is.EqualTo((int)reason + 1), "HeWire writes the common.proto code");
            Assert.That(((HeAbortToAggregator)HeWire.DecodeToAggregator(HeWire.Encode(new HeAbortToAggregator(sid, reason, "m", 3)), 4)).Reason, Is.EqualTo(reason));
            var masking = V1.MaskingAggregatorMessage.Parser.ParseFrom(MaskingWire.Encode(new RoundAbort(sid, 3, reason, "m")));
            Assert.That((int)masking.Abort.Reason, Is.EqualTo((int)reason + 1), "MaskingWire writes the common.proto code");
        }
        Assert.That(codes, Has.Length.EqualTo(Enum.GetValues<ViolationReason>().Length + 1), "one code per reason, and UNSPECIFIED");
        foreach (string? bad in new[] { null, "", "Unspecified", "malformed", "NoSuchReason", "0", "999" })
            Assert.That(WireReasons.TryParseName(bad, out _), Is.False, bad ?? "null");

        // A received abort with UNSPECIFIED or an unknown code is Malformed in both mappers.
        foreach (int code in new[] { 0, codes.Length, 1000 })
        {
            byte[] he = new V1.HeBankMessage { ProtocolVersion = 1, SessionId = ByteString.CopyFrom(new byte[16]), Abort = new V1.Abort { Reason = (V1.ViolationReasonCode)code, Round = 3 } }.ToByteArray();
            Assert.That(Assert.Throws<ProtocolViolationException>(() => HeWire.DecodeToAggregator(he, 4))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"he code {code}");
            byte[] m = new V1.MaskingAggregatorMessage { ProtocolVersion = MaskingWire.ProtocolVersion, SessionId = ByteString.CopyFrom(new byte[16]), Abort = new V1.Abort { Reason = (V1.ViolationReasonCode)code, Round = 3 } }.ToByteArray();
            Assert.That(Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeToBank(m))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"masking code {code}");
        }
    }
}
