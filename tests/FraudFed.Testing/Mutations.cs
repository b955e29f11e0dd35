// Mutants of a genuine encoding for parser robustness tests: bit flips, truncations, appended bytes, little-endian u32
// fields overwritten with extreme values, and random bodies behind a genuine prefix (Of, seeded); and named header fields
// overwritten exhaustively with size extremes (Fields). TEST-ONLY seeded System.Random.
namespace FraudFed.Testing;

/// <summary>Seeded mutants of genuine message bytes (tests only).</summary>
public static class Mutations
{
    private static readonly uint[] Extremes = [0, 1, 2, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF];

    /// <summary>
    /// <paramref name="count"/> mutants of <paramref name="genuine"/>, cycling through the five kinds; u32 overwrites land in the
    /// first <paramref name="fieldWindow"/> bytes and random bodies keep the first <paramref name="keepPrefix"/> bytes.
    /// </summary>
    public static IEnumerable<(string What, byte[] Bytes)> Of(byte[] genuine, int seed, int count, int fieldWindow = 120, int keepPrefix = 0)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        if (genuine.Length < 4) throw new ArgumentException("At least 4 bytes to mutate.", nameof(genuine));
        Random rnd = TestRandom.Plain(seed);
        keepPrefix = Math.Min(keepPrefix, genuine.Length);
        for (int m = 0; m < count; m++)
        {
            switch (m % 5)
            {
                case 0:
                {
                    byte[] b = (byte[])genuine.Clone();
                    int bit = rnd.Next(b.Length * 8);
                    b[bit / 8] ^= (byte)(1 << (bit % 8));
                    yield return ($"flip bit {bit}", b);
                    break;
                }
                case 1:
                {
                    int length = rnd.Next(genuine.Length);
                    yield return ($"truncate to {length}", genuine[..length]);
                    break;
                }
                case 2:
                {
                    int extra = 1 + rnd.Next(64);
                    yield return ($"append {extra}", [.. genuine, .. Bytes(rnd, extra)]);
                    break;
                }
                case 3:
                {
                    byte[] b = (byte[])genuine.Clone();
                    int field = 4 * rnd.Next(Math.Max(1, Math.Min(b.Length, fieldWindow) / 4));
                    uint value = Extremes[rnd.Next(Extremes.Length)];
                    BitConverter.TryWriteBytes(b.AsSpan(field, 4), value);
                    yield return ($"u32 at {field} = 0x{value:x}", b);
                    break;
                }
                default:
                    yield return ($"random bytes after {keepPrefix} genuine ones", [.. genuine[..keepPrefix], .. Bytes(rnd, genuine.Length - keepPrefix)]);
                    break;
            }
        }
    }

    /// <summary>
    /// Values for <see cref="Fields"/>: the u32 extremes, plus counts whose products with a per-element size wrap 32-bit
    /// arithmetic (23,302 polynomials of 184,320 bytes are 57,344 bytes mod 2^32) and the u16 edges.
    /// </summary>
    public static IReadOnlyList<ulong> SizeExtremes { get; } =
        [0, 1, 2, 0x7F, 0xFF, 0x5B06, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF];

    /// <summary>The RLWE envelope's size fields (SPEC.md section 12, little-endian): n, L, polynomial count, context and payload length.</summary>
    public static IReadOnlyList<(string Name, int Offset, int Width)> RlweEnvelopeSizeFields { get; } =
        [("n", 40, 4), ("L", 44, 2), ("polynomial count", 46, 2), ("context length", 48, 4), ("payload length", 52, 4)];

    /// <summary>
    /// Every field in <paramref name="fields"/> (name, byte offset, width 1..8 bytes) of <paramref name="genuine"/> overwritten,
    /// one at a time, with every value of <paramref name="values"/> (default <see cref="SizeExtremes"/>) truncated to the
    /// field's width, little-endian unless <paramref name="bigEndian"/>. Deterministic and exhaustive, for the count and length
    /// fields of a header whose products and sums a parser must compute without wrapping. Mutants equal to the genuine bytes
    /// are skipped.
    /// </summary>
    public static IEnumerable<(string What, byte[] Bytes)> Fields(byte[] genuine, IEnumerable<(string Name, int Offset, int Width)> fields,
        IEnumerable<ulong>? values = null, bool bigEndian = false)
    {
        ArgumentNullException.ThrowIfNull(genuine);
        ArgumentNullException.ThrowIfNull(fields);
        ulong[] candidates = (values ?? SizeExtremes).ToArray();
        foreach (var (name, offset, width) in fields)
        {
            if (width is < 1 or > 8 || offset < 0 || offset + width > genuine.Length)
                throw new ArgumentOutOfRangeException(nameof(fields), $"Field {name} does not fit the message.");
            ulong keep = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
            foreach (ulong value in candidates.Select(v => v & keep).Distinct())
            {
                byte[] b = (byte[])genuine.Clone();
                for (int i = 0; i < width; i++)
                    b[offset + (bigEndian ? width - 1 - i : i)] = (byte)(value >> (8 * i));
                if (b.AsSpan().SequenceEqual(genuine)) continue;
                yield return ($"{name} (offset {offset}, {width} bytes) = 0x{value:x}", b);
            }
        }
    }

    /// <summary>
    /// Feeds every mutant to <paramref name="parse"/> and counts typed refusals (ProtocolViolationException); every other
    /// exception is listed in <c>Untyped</c> as "mutation: type: message".
    /// </summary>
    public static (int Refused, int Total, List<string> Untyped) Feed(IEnumerable<(string What, byte[] Bytes)> mutants, Action<byte[]> parse)
    {
        ArgumentNullException.ThrowIfNull(mutants);
        ArgumentNullException.ThrowIfNull(parse);
        int refused = 0, total = 0;
        var untyped = new List<string>();
        foreach (var (what, bytes) in mutants)
        {
            total++;
            try { parse(bytes); }
            catch (FraudFed.Cryptography.ProtocolViolationException) { refused++; }
            catch (Exception e) { untyped.Add($"{what}: {e.GetType().Name}: {e.Message}"); }
        }
        return (refused, total, untyped);
    }

    private static byte[] Bytes(Random rnd, int count)
    {
        var b = new byte[count];
        rnd.NextBytes(b);
        return b;
    }
}
