// ProtoRef: a minimal proto3 encoder and reader for the reference side of the conformance vectors, written from the
// .proto field numbers and the protobuf encoding rules (varints, length-delimited fields, canonical order, default values
// omitted, repeated scalars packed), independent of Google.Protobuf and of the library's mappers (HeWire, MaskingWire).
namespace FraudFed.Conformance.Vectors;

/// <summary>A minimal proto3 encoder for the reference side of the wire vectors.</summary>
internal sealed class ProtoRef
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => [.. _bytes];

    private void Varint(ulong v)
    {
        while (v >= 0x80) { _bytes.Add((byte)(v | 0x80)); v >>= 7; }
        _bytes.Add((byte)v);
    }

    /// <summary>A varint field (omitted when 0, as proto3 does, unless <paramref name="always"/>: a set oneof scalar).</summary>
    public ProtoRef U(int field, ulong value, bool always = false)
    {
        if (value == 0 && !always) return this;
        Varint((ulong)field << 3);
        Varint(value);
        return this;
    }

    /// <summary>A bytes / string / message field (omitted when empty unless <paramref name="always"/>: a set oneof message).</summary>
    public ProtoRef B(int field, byte[] value, bool always = false)
    {
        if (value.Length == 0 && !always) return this;
        Varint(((ulong)field << 3) | 2);
        Varint((ulong)value.Length);
        _bytes.AddRange(value);
        return this;
    }

    /// <summary>A packed repeated uint32/uint64 field (omitted when empty).</summary>
    public ProtoRef Packed(int field, IEnumerable<ulong> values)
    {
        var inner = new ProtoRef();
        foreach (ulong v in values) inner.Varint(v);
        return B(field, inner.ToArray());
    }

    /// <summary>A double field: wire type 1, the IEEE 754 binary64 bits as a little-endian u64 (omitted when +0.0).</summary>
    public ProtoRef D(int field, double value)
    {
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(value);
        if (bits == 0) return this;
        Varint(((ulong)field << 3) | 1);
        for (int i = 0; i < 8; i++) _bytes.Add((byte)(bits >> (8 * i)));
        return this;
    }

    /// <summary>A packed repeated double field: one length-delimited field of 8-byte little-endian binary64 values (omitted when empty).</summary>
    public ProtoRef PackedDoubles(int field, IEnumerable<double> values)
    {
        var inner = new List<byte>();
        foreach (double v in values)
        {
            ulong bits = (ulong)BitConverter.DoubleToInt64Bits(v);
            for (int i = 0; i < 8; i++) inner.Add((byte)(bits >> (8 * i)));
        }
        return B(field, [.. inner]);
    }

    /// <summary>A string field, UTF-8 (omitted when empty).</summary>
    public ProtoRef S(int field, string value) => B(field, System.Text.Encoding.UTF8.GetBytes(value));

    /// <summary>A repeated string field: one UTF-8 length-delimited field per entry, empty entries included.</summary>
    public ProtoRef Strings(int field, IEnumerable<string> values) => Many(field, values.Select(System.Text.Encoding.UTF8.GetBytes).ToArray());

    /// <summary>A message field (emitted even when the message is empty: a set singular or repeated message).</summary>
    public ProtoRef M(int field, ProtoRef message) => B(field, message.ToArray(), always: true);

    /// <summary>Repeated BankBytes entries, bank i = index i.</summary>
    public ProtoRef Banks(int field, byte[][] items)
    {
        for (int i = 0; i < items.Length; i++) B(field, new ProtoRef().U(1, (ulong)i).B(2, items[i]).ToArray(), always: true);
        return this;
    }

    /// <summary>Repeated bytes.</summary>
    public ProtoRef Many(int field, byte[][] items)
    {
        foreach (byte[] x in items) B(field, x, always: true);
        return this;
    }
}

/// <summary>One field of a parsed proto3 message: its number, and its varint value or its length-delimited bytes.</summary>
internal readonly record struct ProtoField(int Number, int WireType, ulong Value, byte[] Data);

/// <summary>A minimal proto3 reader (wire types 0 and 2 only: all the mode wrappers use; training.proto's doubles are not read here).</summary>
internal static class ProtoRead
{
    /// <summary>Every field of <paramref name="bytes"/> in order; anything that is not well-formed is a ConformanceException.</summary>
    public static List<ProtoField> Fields(byte[] bytes, string what)
    {
        var fields = new List<ProtoField>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            ulong key = Varint(bytes, ref pos, what);
            int number = (int)(key >> 3), type = (int)(key & 7);
            if (number == 0) throw new ConformanceException($"{what}: field number 0");
            switch (type)
            {
                case 0: fields.Add(new ProtoField(number, 0, Varint(bytes, ref pos, what), [])); break;
                case 2:
                    ulong length = Varint(bytes, ref pos, what);
                    if (length > (ulong)(bytes.Length - pos)) throw new ConformanceException($"{what}: field {number} runs past the end");
                    fields.Add(new ProtoField(number, 2, length, bytes.AsSpan(pos, (int)length).ToArray()));
                    pos += (int)length;
                    break;
                default: throw new ConformanceException($"{what}: wire type {type} is not used by fraudfed.v1");
            }
        }
        return fields;
    }

    /// <summary>The varint of field <paramref name="number"/> (0 when absent, as proto3 omits defaults); at most one occurrence.</summary>
    public static ulong U(List<ProtoField> fields, int number, string what) => One(fields, number, 0, what)?.Value ?? 0;

    /// <summary>The bytes of field <paramref name="number"/> (empty when absent); at most one occurrence.</summary>
    public static byte[] B(List<ProtoField> fields, int number, string what) => One(fields, number, 2, what)?.Data ?? [];

    /// <summary>Every occurrence of a length-delimited field <paramref name="number"/>.</summary>
    public static List<byte[]> Many(List<ProtoField> fields, int number) => fields.Where(f => f.Number == number).Select(f => f.Data).ToList();

    /// <summary>A packed repeated varint field.</summary>
    public static List<ulong> Packed(List<ProtoField> fields, int number, string what)
    {
        byte[] data = B(fields, number, what);
        var values = new List<ulong>();
        int pos = 0;
        while (pos < data.Length) values.Add(Varint(data, ref pos, what));
        return values;
    }

    private static ProtoField? One(List<ProtoField> fields, int number, int type, string what)
    {
        var found = fields.Where(f => f.Number == number).ToList();
        if (found.Count > 1) throw new ConformanceException($"{what}: field {number} appears {found.Count} times");
        if (found.Count == 1 && found[0].WireType != type) throw new ConformanceException($"{what}: field {number} has wire type {found[0].WireType}");
        return found.Count == 1 ? found[0] : null;
    }

    private static ulong Varint(byte[] bytes, ref int pos, string what)
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= bytes.Length) throw new ConformanceException($"{what}: truncated varint");
            byte b = bytes[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return v;
        }
        throw new ConformanceException($"{what}: varint longer than 10 bytes");
    }
}

/// <summary>The checks every wrapper golden file runs (SPEC.md 14): the file's bytes equal the reference and library
/// encodings, decode-then-encode gives them back, and another version or a truncation is refused with a typed error.</summary>
internal static class WireGolden
{
    /// <summary>Case checks for (name, direction, library bytes, reference bytes) against the file, then the coverage check.</summary>
    /// <param name="root">The golden file's JSON root (its "cases" array holds name, direction and hex bytes).</param>
    /// <param name="mapper">The mapper's name, used in check names.</param>
    /// <param name="cases">The cases built now: name, direction, bytes from the library's encoder and from the reference encoder.</param>
    /// <param name="roundTrip">Decodes bytes of a direction ("to_bank" / "to_aggregator") and encodes them again.</param>
    /// <param name="toBank">Descriptor of the aggregator-to-bank wrapper message.</param>
    /// <param name="toAggregator">Descriptor of the bank-to-aggregator wrapper message; null when the wrapper has one direction
    /// only (training.proto), and then no case may be "to_aggregator".</param>
    /// <param name="extra">Further refusals of a case's bytes (may be null).</param>
    public static IEnumerable<CheckCase> Cases(System.Text.Json.JsonElement root, string mapper,
        IEnumerable<(string Name, string Direction, byte[] Library, byte[] Reference)> cases, Func<string, byte[], byte[]> roundTrip,
        Google.Protobuf.Reflection.MessageDescriptor toBank, Google.Protobuf.Reflection.MessageDescriptor? toAggregator,
        Action<string, string, byte[]>? extra = null)
    {
        var expected = root.Arr("cases").ToDictionary(c => c.Str("name"), c => (Direction: c.Str("direction"), Bytes: c.Str("bytes")));
        foreach (var (name, direction, library, reference) in cases)
        {
            yield return new CheckCase(name, () =>
            {
                Expect.True(expected.TryGetValue(name, out var e), $"{name}: case missing from the file");
                Expect.Equal($"{name} direction", e.Direction, direction);
                Expect.Hex($"{name}: independent protobuf encoding", e.Bytes, reference);
                Expect.Hex($"{name}: {mapper} encoding", e.Bytes, library);
                byte[] bytes = Convert.FromHexString(e.Bytes);
                Expect.Hex($"{name}: decode then encode", e.Bytes, roundTrip(direction, bytes));
                byte[] flipped = (byte[])bytes.Clone();
                flipped[1] ^= 0x02; // protocol_version 1 -> 3
                Expect.Refused($"{name}: another protocol version", () => roundTrip(direction, flipped), FraudFed.Cryptography.ViolationReason.WrongRoundOrState);
                Expect.Refused($"{name}: truncated", () => roundTrip(direction, bytes[..^1]), FraudFed.Cryptography.ViolationReason.Malformed);
                extra?.Invoke(name, direction, bytes);
            });
        }
        yield return new CheckCase("every-step-covered", () =>
        {
            Expect.Equal($"to_bank cases = steps of {toBank.Name}", toBank.Oneofs[0].Fields.Count, expected.Values.Count(v => v.Direction == "to_bank"));
            Expect.Equal($"to_aggregator cases = steps of {toAggregator?.Name ?? "(none)"}", toAggregator?.Oneofs[0].Fields.Count ?? 0, expected.Values.Count(v => v.Direction == "to_aggregator"));
        });
    }
}
