// Seeded mutations of genuine wire messages for the live fuzz loop (SPEC.md 13, "Live conformance"): truncation, a bit
// flip, inserted random bytes, and length-field inflation (a length-delimited protobuf field, at the top level or one level
// down, whose varint length is rewritten to a value far beyond the message). The same seed gives the same mutants.
namespace FraudFed.Conformance.Live;

/// <summary>Mutates protobuf wrapper bytes; deterministic for a seed.</summary>
internal sealed class WireMutator(int seed, int maxMessageBytes)
{
    private readonly Random _random = new(seed);

    /// <summary>One mutant of <paramref name="message"/> and the name of the mutation (never longer than the size limit).</summary>
    public (string Kind, byte[] Mutant) Mutate(byte[] message)
    {
        switch (_random.Next(4))
        {
            case 0:
                return ("truncate", message[.._random.Next(message.Length)]);
            case 1:
            {
                byte[] m = (byte[])message.Clone();
                int bit = _random.Next(m.Length * 8);
                m[bit / 8] ^= (byte)(1 << (bit % 8));
                return ("flip", m);
            }
            case 2:
            {
                int at = _random.Next(message.Length + 1);
                byte[] extra = new byte[1 + _random.Next(Math.Min(64, Math.Max(1, maxMessageBytes - message.Length)))];
                _random.NextBytes(extra);
                return ("insert", [.. message.AsSpan(0, at), .. extra, .. message.AsSpan(at)]);
            }
            default:
                return Inflate(message) is { } inflated ? ("inflate-length", inflated) : ("flip", Flip(message));
        }
    }

    private byte[] Flip(byte[] message)
    {
        byte[] m = (byte[])message.Clone();
        m[_random.Next(m.Length)] ^= (byte)(1 << _random.Next(8));
        return m;
    }

    /// <summary>Rewrites the varint length of one length-delimited field (top level, or inside one) to a huge value.</summary>
    private byte[]? Inflate(byte[] message)
    {
        var fields = new List<(int LengthAt, int LengthBytes, int Start, int Length)>();
        Scan(message, 0, message.Length, fields, depth: 0);
        if (fields.Count == 0) return null;
        var (at, bytes, _, _) = fields[_random.Next(fields.Count)];
        ulong huge = _random.Next(3) switch { 0 => (ulong)int.MaxValue, 1 => uint.MaxValue, _ => (ulong)message.Length + 1 + (ulong)_random.Next(1 << 20) };
        var varint = new List<byte>();
        for (ulong v = huge; ; v >>= 7)
        {
            if (v < 0x80) { varint.Add((byte)v); break; }
            varint.Add((byte)(v | 0x80));
        }
        return [.. message.AsSpan(0, at), .. varint, .. message.AsSpan(at + bytes)];
    }

    private static void Scan(byte[] m, int start, int end, List<(int, int, int, int)> fields, int depth)
    {
        int p = start;
        while (p < end)
        {
            if (!TryVarint(m, ref p, end, out ulong tag)) return;
            switch ((int)(tag & 7))
            {
                case 0: if (!TryVarint(m, ref p, end, out _)) return; break;
                case 1: p += 8; break;
                case 5: p += 4; break;
                case 2:
                    int lengthAt = p;
                    if (!TryVarint(m, ref p, end, out ulong length) || length > (ulong)(end - p)) return;
                    fields.Add((lengthAt, p - lengthAt, p, (int)length));
                    if (depth == 0) Scan(m, p, p + (int)length, fields, depth + 1);
                    p += (int)length;
                    break;
                default: return;
            }
        }
    }

    private static bool TryVarint(byte[] m, ref int p, int end, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64 && p < end; shift += 7)
        {
            byte b = m[p++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    }
}
