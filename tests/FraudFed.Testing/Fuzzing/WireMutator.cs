// Seeded structure-aware mutants of genuine messages (tests only): byte-level operators (bit flips, byte insertion and
// deletion, truncation, appended bytes, u32 fields overwritten with boundary values in either byte order, random bodies
// behind a genuine prefix, splices of two genuine messages) and, when the message is protobuf, field-level operators on
// the parsed tree (overlong varints, lying length prefixes, duplicated, deleted and reordered fields, boundary varint
// values, mutated bytes fields with their lengths kept right so the inner parser is reached, fields grafted from another
// genuine message). Mutant i of seed s depends on (s, i) only, so a failure reproduces from the two numbers.
// TEST-ONLY System.Random: it chooses mutations, never key material.
namespace FraudFed.Testing.Fuzzing;

/// <summary>Produces reproducible mutants of a pool of genuine messages (tests only).</summary>
public sealed class WireMutator
{
    private static readonly uint[] U32Boundaries = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x100000, 0x100001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF];
    private static readonly ulong[] VarintBoundaries = [0, 1, 2, 0x7F, 0x80, 0xFFFF, 0x100000, 0x100001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, long.MaxValue, ulong.MaxValue];

    private readonly byte[][] _pool;
    private readonly double _primaryShare;
    private readonly List<ProtoField>?[] _trees;

    /// <summary>Mutants of <paramref name="pool"/> (at least one message); splices take their second part from the pool too.</summary>
    /// <param name="pool">Genuine messages.</param>
    /// <param name="protobuf">Whether the messages are protobuf wrappers (enables the field-level operators).</param>
    /// <param name="primaryShare">Share of the mutants made from <c>pool[0]</c> (the rest from a uniform pick); 0: uniform.</param>
    public WireMutator(IReadOnlyList<byte[]> pool, bool protobuf, double primaryShare = 0)
    {
        _primaryShare = primaryShare;
        ArgumentNullException.ThrowIfNull(pool);
        if (pool.Count == 0 || pool.Any(p => p is null || p.Length == 0)) throw new ArgumentException("At least one non-empty genuine message.", nameof(pool));
        _pool = pool.ToArray();
        _trees = _pool.Select(p => protobuf ? ProtoFields.TryParse(p) : null).ToArray();
    }

    /// <summary>The genuine messages.</summary>
    public IReadOnlyList<byte[]> Pool => _pool;

    /// <summary>Mutant <paramref name="index"/> of seed <paramref name="seed"/>: the operator's description and the bytes.</summary>
    public (string What, byte[] Bytes) Mutant(int seed, long index)
    {
        var rnd = new Random(unchecked((int)(((uint)seed * 0x9E3779B1u) ^ (uint)index ^ (uint)(index >> 32) * 0x85EBCA6Bu)));
        int source = rnd.NextDouble() < _primaryShare ? 0 : rnd.Next(_pool.Length);
        byte[] g = _pool[source];
        List<ProtoField>? tree = _trees[source];
        int op = rnd.Next(tree is null ? 9 : 17);
        (string what, byte[] bytes) = op < 9 ? ByteLevel(op, g, rnd) : FieldLevel(op, tree!, rnd);
        return ($"message {source}: {what}", bytes);
    }

    private (string, byte[]) ByteLevel(int op, byte[] g, Random rnd)
    {
        switch (op)
        {
            case 0:
            {
                byte[] b = (byte[])g.Clone();
                int flips = 1 + rnd.Next(3);
                var bits = new List<int>();
                for (int i = 0; i < flips; i++) { int bit = rnd.Next(b.Length * 8); b[bit / 8] ^= (byte)(1 << (bit % 8)); bits.Add(bit); }
                return ($"flip bits {string.Join(",", bits)}", b);
            }
            case 1:
            {
                int at = rnd.Next(g.Length + 1), count = 1 + rnd.Next(rnd.Next(2) == 0 ? 4 : 64);
                return ($"insert {count} bytes at {at}", [.. g[..at], .. Random(rnd, count), .. g[at..]]);
            }
            case 2:
            {
                int at = rnd.Next(g.Length), count = Math.Min(g.Length - at, 1 + rnd.Next(rnd.Next(2) == 0 ? 4 : 64));
                return ($"delete {count} bytes at {at}", [.. g[..at], .. g[(at + count)..]]);
            }
            case 3:
            {
                int length = rnd.Next(g.Length);
                return ($"truncate to {length}", g[..length]);
            }
            case 4:
            {
                int count = 1 + rnd.Next(rnd.Next(4) == 0 ? 4096 : 64);
                return ($"append {count} bytes", [.. g, .. Random(rnd, count)]);
            }
            case 5:
            case 6:
            {
                if (g.Length < 4) goto case 3;
                byte[] b = (byte[])g.Clone();
                int at = rnd.Next(g.Length - 3);
                uint v = U32Boundaries[rnd.Next(U32Boundaries.Length)];
                if (op == 5) System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);
                else System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), v);
                return ($"u32 {(op == 5 ? "LE" : "BE")} at {at} = 0x{v:x}", b);
            }
            case 7:
            {
                int keep = rnd.Next(g.Length);
                return ($"random bytes after {keep} genuine ones", [.. g[..keep], .. Random(rnd, g.Length - keep + rnd.Next(32))]);
            }
            default:
            {
                byte[] other = _pool[rnd.Next(_pool.Length)];
                int cutA = rnd.Next(g.Length + 1), cutB = rnd.Next(other.Length + 1);
                return ($"splice [..{cutA}) + other[{cutB}..)", [.. g[..cutA], .. other[cutB..]]);
            }
        }
    }

    private (string, byte[]) FieldLevel(int op, List<ProtoField> genuine, Random rnd)
    {
        List<ProtoField> tree = genuine.Select(f => f.Clone()).ToList();
        var all = ProtoFields.All(tree);
        var (siblings, f) = all[rnd.Next(all.Count)];
        string site = $"field {f.Number} (wire type {f.WireType})";
        string what;
        switch (op)
        {
            case 9:
                if (rnd.Next(2) == 0) { f.TagPadding = 1 + rnd.Next(9); what = $"{site}: tag varint overlong by {f.TagPadding}"; }
                else { f.ValuePadding = 1 + rnd.Next(9); what = $"{site}: value/length varint overlong by {f.ValuePadding}"; }
                break;
            case 10:
                if (f.WireType != 2) goto case 12;
                {
                    int len = f.Children is null ? f.Payload.Length : ProtoFields.Write(f.Children).Length;
                    ulong[] lies = [(ulong)len + 1, (ulong)Math.Max(0, len - 1), 0x7FFFFFFF, 0xFFFFFFFF, 0x100000000, long.MaxValue, ulong.MaxValue];
                    f.LengthOverride = lies[rnd.Next(lies.Length)];
                    what = $"{site}: length prefix {len} -> 0x{f.LengthOverride:x}";
                }
                break;
            case 11:
            {
                int at = siblings.IndexOf(f);
                int to = rnd.Next(2) == 0 ? at + 1 : siblings.Count;
                siblings.Insert(to, f.Clone());
                what = $"{site}: duplicated at {to}";
                break;
            }
            case 12:
                if (f.WireType is 0 or 1 or 5)
                {
                    ulong v = VarintBoundaries[rnd.Next(VarintBoundaries.Length)];
                    f.Value = f.WireType == 5 ? (uint)v : v;
                    what = $"{site}: value = 0x{f.Value:x}";
                }
                else
                {
                    siblings.Remove(f);
                    what = $"{site}: removed";
                }
                break;
            case 13:
                siblings.Remove(f);
                what = $"{site}: removed";
                break;
            case 14:
            {
                if (siblings.Count < 2) goto case 11;
                int a = siblings.IndexOf(f), b = rnd.Next(siblings.Count);
                (siblings[a], siblings[b]) = (siblings[b], siblings[a]);
                what = $"{site}: swapped positions {a} and {b}";
                break;
            }
            case 15:
            {
                // A bytes leaf (or a nested field's bytes) mutated with its length kept right: the inner parser sees it.
                var leaves = all.Where(x => x.Field.WireType == 2 && x.Field.Children is null && x.Field.Payload.Length > 0).ToList();
                if (leaves.Count == 0) goto case 11;
                ProtoField leaf = leaves[rnd.Next(leaves.Count)].Field;
                var inner = new WireMutator([leaf.Payload], protobuf: false);
                var (how, bytes) = inner.Mutant(rnd.Next(), rnd.Next());
                leaf.Payload = bytes;
                what = $"field {leaf.Number} payload: {how}";
                break;
            }
            default:
            {
                // Graft: a field of another genuine message (possibly another step) into this one.
                List<ProtoField>? other = _trees[rnd.Next(_trees.Length)];
                if (other is null || other.Count == 0) goto case 11;
                var donors = ProtoFields.All(other);
                ProtoField donor = donors[rnd.Next(donors.Count)].Field.Clone();
                if (rnd.Next(2) == 0) { siblings[siblings.IndexOf(f)] = donor; what = $"{site}: replaced by another message's field {donor.Number}"; }
                else { siblings.Insert(rnd.Next(siblings.Count + 1), donor); what = $"another message's field {donor.Number} inserted beside {site}"; }
                break;
            }
        }
        return (what, ProtoFields.Write(tree));
    }

    private static byte[] Random(Random rnd, int count)
    {
        var b = new byte[count];
        rnd.NextBytes(b);
        return b;
    }
}
