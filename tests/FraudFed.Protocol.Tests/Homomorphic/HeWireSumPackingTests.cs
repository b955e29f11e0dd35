// HeRoundResult's sum (SPEC.md 14.2): `length` values, each as `value_bytes` little-endian bytes, value_bytes the fewest that
// hold the largest value. The packing is checked against a schoolbook byte-by-byte packing written here, for every width 1..8
// and lengths around the 8-byte word the packer writes at once; the decoder returns the values and refuses any other
// width or length (Malformed).
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Wire.V1;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HeWireSumPackingTests
{
    private static readonly byte[] Sid = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    private static byte[] Schoolbook(ulong[] values, int width)
    {
        var bytes = new List<byte>();
        foreach (ulong v in values)
            for (int b = 0; b < width; b++) bytes.Add((byte)(v >> (8 * b)));
        return [.. bytes];
    }

    /// <summary>Values whose largest needs exactly <paramref name="width"/> bytes.</summary>
    private static ulong[] Values(int width, int length, int seed)
    {
        var random = new Random(seed);
        ulong top = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
        var values = new ulong[length];
        for (int i = 0; i < length; i++) values[i] = (ulong)random.NextInt64() * 2654435761UL & top;
        values[random.Next(length)] = top;   // the largest value fills the width
        return values;
    }

    [Test]
    public void Sum_IsPackedAsTheSchoolbookLittleEndianBytes_AndDecodesBack(
        [Range(1, 8)] int width, [Values(1, 2, 7, 8, 9, 15, 16, 17, 1000)] int length)
    {
        ulong[] values = Values(width, length, width * 1000 + length);
        byte[] wire = HeWire.Encode(new HeRoundResultMessage(Sid, 7, [0, 1], values));
        HeRoundResult r = HeAggregatorMessage.Parser.ParseFrom(wire).RoundResult;
        Assert.That(r.ValueBytes, Is.EqualTo((uint)width));
        Assert.That(r.Sum.ToByteArray(), Is.EqualTo(Schoolbook(values, width)));
        var decoded = (HeRoundResultMessage)HeWire.DecodeToBank(wire, 3);
        Assert.That(decoded.Sum, Is.EqualTo(values));
    }

    [Test]
    public void Unpack_RefusesAnyOtherWidthOrLength([Range(1, 8)] int width)
    {
        ulong[] values = Values(width, 9, width);
        byte[] packed = Schoolbook(values, width);
        Assert.That(HeWire.Unpack(packed, (uint)width), Is.EqualTo(values));
        foreach (uint other in new uint[] { 0, 9 })
            Assert.That(Assert.Throws<ProtocolViolationException>(() => HeWire.Unpack(packed, other))!.Reason, Is.EqualTo(ViolationReason.Malformed), $"width {other}");
        if (width > 1)
            Assert.That(Assert.Throws<ProtocolViolationException>(() => HeWire.Unpack(packed[..^1], (uint)width))!.Reason,
                Is.EqualTo(ViolationReason.Malformed), "not a whole number of values");
        // The same values written one byte wider: decodable, but not the fewest bytes, so refused.
        if (width < 8)
            Assert.That(Assert.Throws<ProtocolViolationException>(() => HeWire.Unpack(Schoolbook(values, width + 1), (uint)width + 1))!.Reason,
                Is.EqualTo(ViolationReason.Malformed), "a wider width than needed");
    }
}
