using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>
/// The in-place reader of canonical MaskedInput wrappers (MaskingWire.TryReadCanonicalMaskedInput) against the general
/// protobuf path (MaskingWire.DecodeToAggregatorGeneral): every input gives the same decoded message bit for bit, or the same
/// refusal reason, and the reader takes only bytes that are exactly the canonical encoding.
/// </summary>
[TestFixture]
public sealed class MaskedInputFastPathTests
{
    private static readonly byte[] Session = Convert.FromHexString("00112233445566778899aabbccddeeff");
    private static readonly Ed25519SigningKey Key = Ed25519SigningKey.Import(Enumerable.Repeat((byte)9, 32).ToArray());

    [OneTimeTearDown]
    public void DisposeKey() => Key.Dispose();

    private static MaskedInput Input(int bits, int length, int seed)
    {
        var rng = new Random(seed);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        ulong[] values = Enumerable.Range(0, length).Select(_ => ((ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63)) & mask).ToArray();
        int w = (bits + 7) / 8;
        var packed = new byte[length * w];
        for (int i = 0; i < length; i++)
            for (int b = 0; b < w; b++) packed[i * w + b] = (byte)(values[i] >> (8 * b));
        return new MaskedInput(Session, 7, 3, bits, length, packed);
    }

    // ---- an independent protobuf writer (proto3 rules: fields in number order, defaults omitted, minimal varints) ----

    private static byte[] Varint(ulong v)
    {
        var o = new List<byte>();
        while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; }
        o.Add((byte)v);
        return [.. o];
    }

    private static byte[] Delimited(byte tag, byte[] payload) => [tag, .. Varint((ulong)payload.Length), .. payload];

    private static byte[] Wrapper(uint version, byte[] session, byte[] body, byte[] signature)
    {
        byte[] inner = [.. body.Length > 0 ? Delimited(0x0A, body) : [], .. signature.Length > 0 ? Delimited(0x12, signature) : []];
        return [.. version != 0 ? [(byte)0x08, .. Varint(version)] : Array.Empty<byte>(), .. session.Length > 0 ? Delimited(0x12, session) : [], .. Delimited(0x6A, inner)];
    }

    private static (byte[] Body, byte[] Signature) Signed(MaskedInput m)
    {
        byte[] body = m.Body();
        byte[] signed = [.. Encoding.ASCII.GetBytes("FraudFed/v1/secagg/signature"), .. SHA256.HashData(body)];
        return (body, Key.Sign(signed));
    }

    /// <summary>What a decoder made of the bytes: every field of the decoded masked input, or the refusal reason.</summary>
    private static string Outcome(Func<MaskingToAggregator> decode)
    {
        try
        {
            MaskingToAggregator m = decode();
            if (m is not MaskedInput x) return $"other:{m.GetType().Name}";
            return $"masked:{Convert.ToHexString(x.SessionId)}:{x.Round}:{x.Sender}:{x.ModulusBits}:{x.Length}:{Convert.ToHexString(SHA256.HashData(x.PackedValues))}:" +
                $"{x.PackedValues.Length}:{Convert.ToHexString(x.Signature)}:{Convert.ToHexString(x.SignedBytes)}:{x.VerifySignature(Key.PublicKey.ToArray())}";
        }
        catch (ProtocolViolationException e) { return $"refused:{e.Reason}"; }
    }

    private static void AssertSame(byte[] data, string what, int max = MaskingWire.DefaultMaxMessageBytes)
    {
        string fast = Outcome(() => MaskingWire.DecodeToAggregator(data, max));
        string general = Outcome(() => MaskingWire.DecodeToAggregatorGeneral(data, max));
        Assert.That(fast, Is.EqualTo(general), what);
        // The appliance's decoding, which reads the values where they are instead of copying them.
        Assert.That(Outcome(() => MaskingWire.DecodeToAggregatorInPlace(data, max)), Is.EqualTo(general), what + " (in place)");
    }

    [TestCase(1, 0)]
    [TestCase(1, 1)]
    [TestCase(20, 3)]
    [TestCase(32, 1000)]
    [TestCase(64, 257)]
    [TestCase(7, 20_000)] // body above 2^14 bytes: three-byte length varints
    public void GenuineMaskedInput_IsReadInPlace_AndEqualsTheGeneralPath(int bits, int length)
    {
        MaskedInput m = Input(bits, length, bits * 1000 + length);
        byte[] wire = m.Encode(Key);
        var (body, signature) = Signed(m);
        Assert.That(wire, Is.EqualTo(Wrapper(MaskingWire.ProtocolVersion, Session, body, signature)), "the encoder writes the canonical layout the reader expects");
        Assert.That(MaskingWire.TryReadCanonicalMaskedInput(wire, out uint v, out ReadOnlySpan<byte> sid, out ReadOnlySpan<byte> b, out ReadOnlySpan<byte> s), Is.True);
        Assert.That((v, sid.ToArray(), b.ToArray(), s.ToArray()), Is.EqualTo((MaskingWire.ProtocolVersion, Session, body, signature)));
        var fast = (MaskedInput)MaskingWire.DecodeToAggregator(wire);
        Assert.That(fast.Packed, Is.EqualTo(m.Packed));
        Assert.That((fast.Round, fast.Sender, fast.ModulusBits, fast.Length), Is.EqualTo((7u, 3, bits, length)));
        Assert.That(fast.VerifySignature(Key.PublicKey.ToArray()), Is.True);
        AssertSame(wire, "genuine");
        // In place: the values are the wire's own bytes (no copy), equal to the encoded ones; Packed stays empty.
        var inPlace = (MaskedInput)MaskingWire.DecodeToAggregatorInPlace(wire);
        Assert.That(inPlace.PackedValues.ToArray(), Is.EqualTo(m.Packed));
        if (length > 0)
        {
            Assert.That(inPlace.Packed, Is.Empty);
            Assert.That(wire.AsSpan().Overlaps(inPlace.PackedValues), Is.True, "read in the caller's array");
        }
    }

    private static IEnumerable<TestCaseData> Variants()
    {
        MaskedInput m = Input(20, 5, 1);
        var (body, sig) = Signed(m);
        byte[] canonical = Wrapper(1, Session, body, sig);
        byte[] inner = [.. Delimited(0x0A, body), .. Delimited(0x12, sig)];
        byte[] versionField = [0x08, 0x01], sessionField = Delimited(0x12, Session);
        TestCaseData Case(string name, byte[] data, bool canonicalForm) => new TestCaseData(data, canonicalForm).SetName($"Variant_{name}");

        // Canonical encodings with refused contents: the reader takes them, the refusal is the same.
        yield return Case("Version0Omitted", Wrapper(0, Session, body, sig), true);
        yield return Case("Version2", Wrapper(2, Session, body, sig), true);
        yield return Case("VersionMax", Wrapper(uint.MaxValue, Session, body, sig), true);
        yield return Case("SessionOmitted", Wrapper(1, [], body, sig), true);
        yield return Case("Session15", Wrapper(1, Session[..15], body, sig), true);
        yield return Case("OtherSessionInBody", Wrapper(1, [.. Session[..15], 0xEE], body, sig), true);
        yield return Case("NoSignature", Wrapper(1, Session, body, []), true);
        yield return Case("ShortSignature", Wrapper(1, Session, body, sig[..63]), true);
        yield return Case("NoBody", Wrapper(1, Session, [], sig), true);
        yield return Case("EmptyStep", Wrapper(1, Session, [], []), true);
        yield return Case("BodyTrailingByte", Wrapper(1, Session, [.. body, 0], sig), true);
        yield return Case("BodyShort", Wrapper(1, Session, body[..^1], sig), true);
        byte[] high = (byte[])body.Clone();
        high[^1] |= 0x80; // 20-bit values in 3 bytes: the top bit makes the last value >= 2^20
        yield return Case("ValueNotBelow2k", Wrapper(1, Session, high, sig), true);
        byte[] flipped = (byte[])body.Clone();
        flipped[^2] ^= 1;
        yield return Case("OneBitInBody", Wrapper(1, Session, flipped, sig), true);

        // Not the canonical encoding: the reader declines, the general path refuses (Malformed).
        yield return Case("VersionNonMinimal", [0x08, 0x81, 0x00, .. sessionField, .. Delimited(0x6A, inner)], false);
        yield return Case("VersionZeroWritten", [0x08, 0x00, .. sessionField, .. Delimited(0x6A, inner)], false);
        yield return Case("SessionBeforeVersion", [.. sessionField, .. versionField, .. Delimited(0x6A, inner)], false);
        yield return Case("VersionRepeated", [.. versionField, .. versionField, .. sessionField, .. Delimited(0x6A, inner)], false);
        yield return Case("UnknownFieldAppended", [.. canonical, 0x98, 0x06, 0x01], false);
        yield return Case("UnknownFieldInStep", [.. versionField, .. sessionField, .. Delimited(0x6A, [.. inner, 0x18, 0x01])], false);
        yield return Case("StepTwice", [.. canonical, .. Delimited(0x6A, inner)], false);
        yield return Case("SignatureBeforeBody", [.. versionField, .. sessionField, .. Delimited(0x6A, [.. Delimited(0x12, sig), .. Delimited(0x0A, body)])], false);
        yield return Case("EmptyBodyWritten", [.. versionField, .. sessionField, .. Delimited(0x6A, [0x0A, 0x00, .. Delimited(0x12, sig)])], false);
        byte[] length = Varint((ulong)inner.Length);
        length[^1] |= 0x80; // one more, empty, group
        yield return Case("StepLengthNonMinimal", [.. versionField, .. sessionField, 0x6A, .. length, 0x00, .. inner], false);
        yield return Case("TrailingByte", [.. canonical, 0x00], false);
        yield return Case("Truncated", canonical[..^1], false);
        yield return Case("Empty", [], false);
        yield return Case("OtherStep", Delimited(0x62, inner), false);
    }

    [TestCaseSource(nameof(Variants))]
    public void Variant_SameOutcomeOnBothPaths_AndOnlyCanonicalBytesReadInPlace(byte[] data, bool canonicalForm)
    {
        Assert.That(MaskingWire.TryReadCanonicalMaskedInput(data, out _, out _, out _, out _), Is.EqualTo(canonicalForm));
        AssertSame(data, "variant");
        if (!canonicalForm)
            Assert.That(Outcome(() => MaskingWire.DecodeToAggregator(data)), Does.StartWith("refused:"), "a non-canonical wrapper is refused");
    }

    [Test]
    public void OversizedMaskedInput_IsRefusedBeforeReading_OnBothPaths()
    {
        byte[] wire = Input(32, 100, 2).Encode(Key);
        AssertSame(wire, "oversized", max: wire.Length - 1);
        Assert.That(Outcome(() => MaskingWire.DecodeToAggregator(wire, wire.Length - 1)), Is.EqualTo("refused:Oversized"));
    }

    [Test]
    public void EveryOneByteChangeAndTruncation_SameOutcomeOnBothPaths()
    {
        byte[] wire = Input(12, 40, 3).Encode(Key);
        var rng = new Random(77);
        for (int i = 0; i < wire.Length; i++)
        {
            byte[] bad = (byte[])wire.Clone();
            bad[i] ^= (byte)(1 << rng.Next(8));
            AssertSame(bad, $"bit flipped at byte {i}");
            byte[] other = (byte[])wire.Clone();
            other[i] = (byte)rng.Next(256);
            AssertSame(other, $"byte {i} replaced");
            AssertSame(wire[..i], $"truncated to {i} bytes");
        }
    }
}
