// A minimal protobuf wire-format walker for mutation tests (https://protobuf.dev/programming-guides/encoding/): a message
// is a list of fields (tag varint = field number << 3 | wire type; wire type 0 varint, 1 fixed64, 2 length-delimited, 5
// fixed32). Length-delimited payloads that parse completely as fields are kept as a nested list too, so a mutation can
// reach the fields of a step inside its wrapper and the parent lengths are recomputed on writing. TEST-ONLY: it builds
// wrong encodings on purpose (overlong varints, duplicated or reordered fields) and never validates anything.
namespace FraudFed.Testing.Fuzzing;

/// <summary>One protobuf field as read from the wire (tests only).</summary>
public sealed class ProtoField
{
    /// <summary>Field number.</summary>
    public ulong Number { get; set; }
    /// <summary>Wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.</summary>
    public int WireType { get; set; }
    /// <summary>The value of a varint field, or the little-endian value of a fixed field.</summary>
    public ulong Value { get; set; }
    /// <summary>Extra continuation bytes written for the tag (an overlong, non-canonical but decodable varint).</summary>
    public int TagPadding { get; set; }
    /// <summary>Extra continuation bytes written for the value or length varint.</summary>
    public int ValuePadding { get; set; }
    /// <summary>When set, written instead of the payload's real length (a lying length prefix).</summary>
    public ulong? LengthOverride { get; set; }
    /// <summary>Payload of a length-delimited field (ignored on writing when <see cref="Children"/> is set).</summary>
    public byte[] Payload { get; set; } = [];
    /// <summary>The payload parsed as fields, when it parses completely (depth-limited).</summary>
    public List<ProtoField>? Children { get; set; }

    /// <summary>A deep copy.</summary>
    public ProtoField Clone() => new()
    {
        Number = Number, WireType = WireType, Value = Value, TagPadding = TagPadding, ValuePadding = ValuePadding, LengthOverride = LengthOverride,
        Payload = (byte[])Payload.Clone(), Children = Children?.Select(c => c.Clone()).ToList(),
    };
}

/// <summary>Reads and writes protobuf fields for mutation tests.</summary>
public static class ProtoFields
{
    /// <summary>Parses <paramref name="data"/> as a list of fields; null when it is not a complete field list.</summary>
    public static List<ProtoField>? TryParse(ReadOnlySpan<byte> data, int depth = 4)
    {
        var fields = new List<ProtoField>();
        int pos = 0;
        while (pos < data.Length)
        {
            if (!TryVarint(data, ref pos, out ulong tag)) return null;
            var f = new ProtoField { Number = tag >> 3, WireType = (int)(tag & 7) };
            if (f.Number == 0) return null;
            switch (f.WireType)
            {
                case 0:
                    if (!TryVarint(data, ref pos, out ulong v)) return null;
                    f.Value = v;
                    break;
                case 1:
                    if (data.Length - pos < 8) return null;
                    f.Value = BitConverter.ToUInt64(data.Slice(pos, 8));
                    pos += 8;
                    break;
                case 5:
                    if (data.Length - pos < 4) return null;
                    f.Value = BitConverter.ToUInt32(data.Slice(pos, 4));
                    pos += 4;
                    break;
                case 2:
                    if (!TryVarint(data, ref pos, out ulong len) || len > (ulong)(data.Length - pos)) return null;
                    f.Payload = data.Slice(pos, (int)len).ToArray();
                    pos += (int)len;
                    if (depth > 0 && f.Payload.Length > 0) f.Children = TryParse(f.Payload, depth - 1);
                    break;
                default:
                    return null;
            }
            fields.Add(f);
        }
        return fields;
    }

    /// <summary>Serializes <paramref name="fields"/> (nested lists first, so parent lengths follow mutated children).</summary>
    public static byte[] Write(IEnumerable<ProtoField> fields)
    {
        var o = new List<byte>();
        foreach (ProtoField f in fields)
        {
            WriteVarint(o, (f.Number << 3) | (uint)f.WireType, f.TagPadding);
            switch (f.WireType)
            {
                case 0: WriteVarint(o, f.Value, f.ValuePadding); break;
                case 1: o.AddRange(BitConverter.GetBytes(f.Value)); break;
                case 5: o.AddRange(BitConverter.GetBytes((uint)f.Value)); break;
                default:
                    byte[] payload = f.Children is null ? f.Payload : Write(f.Children);
                    WriteVarint(o, f.LengthOverride ?? (ulong)payload.Length, f.ValuePadding);
                    o.AddRange(payload);
                    break;
            }
        }
        return [.. o];
    }

    /// <summary>Every field of the tree with the list that holds it (depth-first), for picking a mutation site.</summary>
    public static List<(List<ProtoField> Siblings, ProtoField Field)> All(List<ProtoField> fields)
    {
        var all = new List<(List<ProtoField>, ProtoField)>();
        void Walk(List<ProtoField> list)
        {
            foreach (ProtoField f in list)
            {
                all.Add((list, f));
                if (f.Children is not null) Walk(f.Children);
            }
        }
        Walk(fields);
        return all;
    }

    /// <summary>Writes a varint with <paramref name="padding"/> extra continuation bytes (0x80 ... 0x00: same value, overlong).</summary>
    public static void WriteVarint(List<byte> o, ulong value, int padding = 0)
    {
        while (value >= 0x80 || padding > 0)
        {
            if (value < 0x80)
            {
                // the last real group, then padding groups of zero bits
                o.Add((byte)(value | 0x80));
                value = 0;
                for (int i = 1; i < padding; i++) o.Add(0x80);
                o.Add(0x00);
                return;
            }
            o.Add((byte)(value | 0x80));
            value >>= 7;
        }
        o.Add((byte)value);
    }

    private static bool TryVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (pos >= data.Length) return false;
            byte b = data[pos++];
            if (shift < 64) value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }
}
