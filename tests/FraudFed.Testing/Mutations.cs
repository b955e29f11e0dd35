// Mutants of a genuine encoding for parser robustness tests: bit flips, truncations, appended bytes, little-endian u32
// fields overwritten with extreme values, and random bodies behind a genuine prefix. TEST-ONLY seeded System.Random.
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
