// HeWire.DecodeToAggregatorInPlace (SPEC.md 14.1): the canonical-upload walk that leaves chunks as slices of the received
// buffer, and the canonical decryption-shares walk of both decoders, must decode exactly what the protobuf parser alone
// (DecodeToAggregatorByParser) decodes and refuse exactly what it refuses. Differential tests:
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

    /// <summary>The protobuf parser alone (no walk), the span decoder (walks that copy) and the in-place decoder agree.</summary>
    private static void AssertSame(byte[] message, string what)
    {
        string byProtobuf = Outcome(() => HeWire.DecodeToAggregatorByParser(message, Roster));
        string bySpan = Outcome(() => HeWire.DecodeToAggregator(message, Roster));
        string inPlace = Outcome(() => HeWire.DecodeToAggregatorInPlace(message, Roster));
        Assert.That(bySpan, Is.EqualTo(byProtobuf), what + " (span decoder)");
        Assert.That(inPlace, Is.EqualTo(byProtobuf), what + " (in place)");
    }

    private static byte[][] SharesOf(int seed) => [Bytes(130, seed), Bytes(1, seed + 1), Bytes(0, 0), Bytes(300, seed + 2)];

    private static byte[] Shares(ulong round) => HeWire.Encode(new HeDecryptionSharesMessage(Sid, round, SharesOf(5)));

    [TestCase(7UL)]
    [TestCase(0UL)]
    [TestCase(ulong.MaxValue)]
    public void CanonicalDecryptionShares_AreWalked_AndEqualTheProtobufDecoding(ulong round)
    {
        byte[] message = Shares(round);
        Assert.That(HeWire.TryWalkDecryptionShares(message, out _, out _, out _, out _), Is.True, "the serializer's output is canonical");
        Assert.That(HeWire.TryWalkUpload(message, out _, out _, out _, out _, out _), Is.False, "shares are not an upload");
        var parsed = (HeDecryptionSharesMessage)HeWire.DecodeToAggregatorByParser(message, Roster);
        foreach (var walked in new[] { (HeDecryptionSharesMessage)HeWire.DecodeToAggregatorInPlace(message, Roster), (HeDecryptionSharesMessage)HeWire.DecodeToAggregator(message, Roster) })
        {
            Assert.That(walked.SessionId, Is.EqualTo(Sid));
            Assert.That(walked.Round, Is.EqualTo(round));
            Assert.That(walked.Shares, Is.EqualTo(SharesOf(5)));
            Assert.That(walked.Shares, Is.EqualTo(parsed.Shares));
        }
    }

    [Test]
    public void DecryptionShares_EveryByteValueAtEveryPosition_DecodesOrIsRefusedAsByTheProtobufParser()
    {
        // Every one-byte change (not only one-bit flips) of a short message: each value at each framing position.
        byte[] genuine = HeWire.Encode(new HeDecryptionSharesMessage(Sid, 7, [Bytes(3, 1), Bytes(0, 0), Bytes(2, 2)]));
        for (int at = 0; at < genuine.Length; at++)
            for (int value = 0; value < 256; value++)
            {
                if (value == genuine[at]) continue;
                byte[] m = (byte[])genuine.Clone();
                m[at] = (byte)value;
                AssertSame(m, $"byte {at} = {value:X2}");
            }
    }

    [Test]
    public void DecryptionShares_NonCanonicalEncodings_GoToTheProtobufParser_WithTheSameResult()
    {
        byte[] share = Bytes(5, 9);
        byte[] shares = [.. VarintField(1, 7), .. Field(2, share), .. Field(2, [])];
        byte[] Wrap(byte[] head, byte[] body) => [.. head, .. Field(18, body)];
        byte[] header = [.. VarintField(1, 1), .. Field(2, Sid)];
        var cases = new (string What, byte[] Message, bool Canonical)[]
        {
            ("canonical, written by hand", Wrap(header, shares), true),
            ("session id before version", [.. Field(2, Sid), .. VarintField(1, 1), .. Field(18, shares)], false),
            ("share before round", Wrap(header, [.. Field(2, share), .. VarintField(1, 7)]), false),
            ("unknown field in the shares", Wrap(header, [.. shares, .. VarintField(9, 5)]), false),
            ("unknown field after the shares", [.. Wrap(header, shares), .. VarintField(40, 1)], false),
            ("shares field twice (merged)", [.. Wrap(header, shares), .. Field(18, Field(2, share))], false),
            ("non-minimal round varint", Wrap(header, [0x08, 0x87, 0x00, .. Field(2, share)]), false),
            ("round 0 written out", Wrap(header, [.. VarintField(1, 0), .. Field(2, share)]), false),
            ("non-minimal share length", Wrap(header, [.. VarintField(1, 7), 0x12, 0x85, 0x00, .. share]), false),
            ("non-minimal step length", [.. header, 0x92, 0x01, (byte)(shares.Length | 0x80), 0x00, .. shares], false),
            ("version 0 written out", Wrap([.. VarintField(1, 0), .. Field(2, Sid)], shares), false),
            ("protocol version 2", Wrap([.. VarintField(1, 2), .. Field(2, Sid)], shares), true),
            ("15-byte session id", Wrap([.. VarintField(1, 1), .. Field(2, Sid[..15])], shares), true),
            ("no share", Wrap(header, VarintField(1, 7)), true),
            ("empty step", Wrap(header, []), true),
            ("shares as an upload's chunks field", Wrap(header, [.. VarintField(1, 7), .. Field(3, share)]), false),
            ("abort, not shares", [.. header, .. Field(19, VarintField(1, 2))], false),
        };
        AssertWalkedOnlyWhenCanonical(cases, m => HeWire.TryWalkDecryptionShares(m, out _, out _, out _, out _), "abort, not shares");
        Assert.That(((HeDecryptionSharesMessage)HeWire.DecodeToAggregatorInPlace(cases[0].Message, Roster)).Shares, Is.EqualTo(new[] { share, [] }),
            "the canonical encoding written by hand decodes");
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

    /// <summary>A genuine message of each walked kind: an upload, or decryption shares.</summary>
    private static byte[] Genuine(string kind) => kind == "upload" ? Upload(7) : Shares(7);

    [TestCase("upload")]
    [TestCase("decryption-shares")]
    public void EveryOneBitFlip_DecodesOrIsRefusedAsByTheProtobufParser(string kind)
    {
        byte[] genuine = Genuine(kind);
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

    [TestCase("upload")]
    [TestCase("decryption-shares")]
    public void EveryTruncation_IsRefusedAsByTheProtobufParser(string kind)
    {
        byte[] genuine = Genuine(kind);
        for (int length = 0; length < genuine.Length; length++) AssertSame(genuine[..length], $"first {length} bytes");
    }

    // Protobuf encoding by hand (the wire rules, not the library): a length-delimited field, a varint field, a varint.
    private static byte[] Field(int number, byte[] body) => [.. Varint((ulong)(number << 3 | 2)), .. Varint((ulong)body.Length), .. body];
    private static byte[] VarintField(int number, ulong value) => [.. Varint((ulong)(number << 3)), .. Varint(value)];
    private static byte[] Varint(ulong v)
    {
        var b = new List<byte>();
        do { byte x = (byte)(v & 0x7F); v >>= 7; b.Add(v != 0 ? (byte)(x | 0x80) : x); } while (v != 0);
        return [.. b];
    }

    /// <summary>Each hand-written case: the walk takes it exactly when it is canonical, both decoders agree on it, and a
    /// non-canonical encoding of the walked kind (every case but <paramref name="otherKind"/>, a message of another kind) is
    /// refused as Malformed.</summary>
    private static void AssertWalkedOnlyWhenCanonical((string What, byte[] Message, bool Canonical)[] cases, Func<byte[], bool> walks, string otherKind)
    {
        foreach (var (what, message, canonical) in cases)
        {
            Assert.That(walks(message), Is.EqualTo(canonical), what);
            AssertSame(message, what);
            if (!canonical && what != otherKind)
                Assert.That(Outcome(() => HeWire.DecodeToAggregatorInPlace(message, Roster)), Is.EqualTo("refused Malformed"),
                    $"{what}: a valid protobuf encoding that is not the canonical one is refused");
        }
    }

    [Test]
    public void NonCanonicalEncodings_GoToTheProtobufParser_WithTheSameResult()
    {
        byte[] chunk = Bytes(5, 9), manifest = Bytes(3, 4);
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
        AssertWalkedOnlyWhenCanonical(cases, m => HeWire.TryWalkUpload(m, out _, out _, out _, out _, out _), "crs commit, not an upload");
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
