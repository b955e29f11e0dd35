// HeWire.DecodeToAggregatorInPlace (SPEC.md 14.1): the canonical-upload walk that leaves chunks as slices of the received
// buffer must decode exactly what the protobuf parser decodes and refuse exactly what it refuses. Differential tests:
// every one-bit flip and every truncation of an upload message, and non-canonical but valid protobuf encodings written by
// hand from the protobuf encoding rules, go through both decoders and must give the same message or the same typed reason;
// a non-canonical encoding is refused (Malformed) on both paths.
using System.Runtime.InteropServices;
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HeWireInPlaceTests
{
    private const int Roster = 4;
    private static readonly byte[] Sid = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    private static byte[] Bytes(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + seed)).ToArray();

    private static byte[] Upload(ulong round) =>
        HeWire.Encode(new HeUploadMessage(Sid, round, Bytes(100, 7), [Bytes(130, 1), Bytes(1, 2), Bytes(300, 3)]));

    /// <summary>The decoded message re-encoded (equal bytes = equal fields), or the refusal's reason.</summary>
    private static string Outcome(Func<HeToAggregator> decode)
    {
        try { return Convert.ToHexString(HeWire.Encode(decode())); }
        catch (ProtocolViolationException e) { return "refused " + e.Reason; }
    }

    private static void AssertSame(byte[] message, string what)
    {
        string byProtobuf = Outcome(() => HeWire.DecodeToAggregator(message, Roster));
        string inPlace = Outcome(() => HeWire.DecodeToAggregatorInPlace(message, Roster));
        Assert.That(inPlace, Is.EqualTo(byProtobuf), what);
    }

    [TestCase(7UL)]
    [TestCase(0UL)]
    [TestCase(ulong.MaxValue)]
    public void CanonicalUpload_IsWalkedInPlace_AndEqualsTheProtobufDecoding(ulong round)
    {
        byte[] message = Upload(round);
        Assert.That(HeWire.TryWalkUpload(message, out _, out _, out _, out _, out _), Is.True, "the serializer's output is canonical");
        var inPlace = (HeUploadMessage)HeWire.DecodeToAggregatorInPlace(message, Roster);
        var parsed = (HeUploadMessage)HeWire.DecodeToAggregator(message, Roster);
        Assert.That(inPlace.SessionId, Is.EqualTo(Sid));
        Assert.That(inPlace.Round, Is.EqualTo(round));
        Assert.That(inPlace.Manifest, Is.EqualTo(Bytes(100, 7)));
        Assert.That(inPlace.Chunks.Select(c => c.ToArray()), Is.EqualTo(parsed.Chunks.Select(c => c.ToArray())));
        Assert.That(inPlace.Chunks.Select(c => c.ToArray()), Is.EqualTo(new[] { Bytes(130, 1), Bytes(1, 2), Bytes(300, 3) }));
        foreach (ReadOnlyMemory<byte> c in inPlace.Chunks)
            Assert.That(MemoryMarshal.TryGetArray(c, out ArraySegment<byte> seg) && ReferenceEquals(seg.Array, message), Is.True, "a chunk is a slice of the received buffer, not a copy");
    }

    [Test]
    public void EveryOneBitFlip_DecodesOrIsRefusedAsByTheProtobufParser()
    {
        byte[] genuine = Upload(7);
        int refused = 0;
        for (int bit = 0; bit < genuine.Length * 8; bit++)
        {
            byte[] m = (byte[])genuine.Clone();
            m[bit / 8] ^= (byte)(1 << (bit % 8));
            AssertSame(m, $"bit {bit}");
            if (Outcome(() => HeWire.DecodeToAggregatorInPlace(m, Roster)).StartsWith("refused", StringComparison.Ordinal)) refused++;
        }
        Assert.That(refused, Is.GreaterThan(0), "some flips (tags, lengths, version) are refused");
    }

    [Test]
    public void EveryTruncation_IsRefusedAsByTheProtobufParser()
    {
        byte[] genuine = Upload(7);
        for (int length = 0; length < genuine.Length; length++) AssertSame(genuine[..length], $"first {length} bytes");
    }

    [Test]
    public void NonCanonicalEncodings_GoToTheProtobufParser_WithTheSameResult()
    {
        byte[] chunk = Bytes(5, 9), manifest = Bytes(3, 4);
        static byte[] Field(int number, byte[] body) => [.. Varint((ulong)(number << 3 | 2)), .. Varint((ulong)body.Length), .. body];
        static byte[] VarintField(int number, ulong value) => [.. Varint((ulong)(number << 3)), .. Varint(value)];
        static byte[] Varint(ulong v)
        {
            var b = new List<byte>();
            do { byte x = (byte)(v & 0x7F); v >>= 7; b.Add(v != 0 ? (byte)(x | 0x80) : x); } while (v != 0);
            return [.. b];
        }
        byte[] upload = [.. VarintField(1, 7), .. Field(2, manifest), .. Field(3, chunk)];
        byte[] Wrap(byte[] head, byte[] body) => [.. head, .. Field(17, body)];
        byte[] header = [.. VarintField(1, 1), .. Field(2, Sid)];
        var cases = new (string What, byte[] Message, bool Canonical)[]
        {
            ("canonical, written by hand", Wrap(header, upload), true),
            ("session id before version", [.. Field(2, Sid), .. VarintField(1, 1), .. Field(17, upload)], false),
            ("chunk before manifest", Wrap(header, [.. VarintField(1, 7), .. Field(3, chunk), .. Field(2, manifest)]), false),
            ("unknown field in the upload", Wrap(header, [.. upload, .. VarintField(9, 5)]), false),
            ("unknown field after the upload", [.. Wrap(header, upload), .. VarintField(40, 1)], false),
            ("upload field twice (merged)", [.. Wrap(header, upload), .. Field(17, Field(3, chunk))], false),
            ("non-minimal round varint", Wrap(header, [0x08, 0x87, 0x00, .. Field(2, manifest), .. Field(3, chunk)]), false),
            ("round 0 written out", Wrap(header, [.. VarintField(1, 0), .. Field(2, manifest), .. Field(3, chunk)]), false),
            ("empty manifest written out", Wrap(header, [.. VarintField(1, 7), .. Field(2, []), .. Field(3, chunk)]), false),
            ("non-minimal chunk length", Wrap(header, [.. VarintField(1, 7), .. Field(2, manifest), 0x1A, 0x85, 0x00, .. chunk]), false),
            ("non-minimal upload length", [.. header, 0x8A, 0x01, (byte)(upload.Length | 0x80), 0x00, .. upload], false),
            ("version 0 written out", Wrap([.. VarintField(1, 0), .. Field(2, Sid)], upload), false),
            ("protocol version 2", Wrap([.. VarintField(1, 2), .. Field(2, Sid)], upload), true),
            ("15-byte session id", Wrap([.. VarintField(1, 1), .. Field(2, Sid[..15])], upload), true),
            ("no chunk", Wrap(header, [.. VarintField(1, 7), .. Field(2, manifest)]), true),
            ("version as a 10-byte varint", Wrap([0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, .. Field(2, Sid)], upload), false),
            ("crs commit, not an upload", [.. header, .. Field(10, Field(1, Bytes(32, 1)))], false),
        };
        foreach (var (what, message, canonical) in cases)
        {
            Assert.That(HeWire.TryWalkUpload(message, out _, out _, out _, out _, out _), Is.EqualTo(canonical), what);
            AssertSame(message, what);
            if (!canonical && what != "crs commit, not an upload")
                Assert.That(Outcome(() => HeWire.DecodeToAggregatorInPlace(message, Roster)), Is.EqualTo("refused Malformed"),
                    $"{what}: a valid protobuf encoding that is not the canonical one is refused");
        }
        Assert.That(((HeUploadMessage)HeWire.DecodeToAggregatorInPlace(cases[0].Message, Roster)).Chunks.Single().ToArray(), Is.EqualTo(chunk),
            "the canonical encoding written by hand decodes");
    }

    [Test]
    public void OversizedMessage_IsRefusedBeforeAnyWalk()
    {
        byte[] m = Upload(7);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => HeWire.DecodeToAggregatorInPlace(m, Roster, m.Length - 1))!.Reason,
            Is.EqualTo(ViolationReason.Oversized));
    }
}
