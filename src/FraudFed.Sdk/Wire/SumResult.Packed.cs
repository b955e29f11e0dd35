// The masking round's sum as it travels in SumResult.sum_le (SPEC.md 14.5, "The masking sum"): each value mod 2^k as
// w = ceil(k / 8) little-endian bytes, back to back. The appliance packs a round's sum once and every participant's mailbox
// item carries the same bytes; a bank unpacks them in one pass into its ulong[], checking cheap to expensive: the byte count
// (a whole number of values, and the round's length when the bank knows it), then every value below 2^k. It replaced a
// packed repeated uint64 (one varint per value): parsing a million varints into a growing RepeatedField and copying it out
// was most of a bank's CPU in the delivery of a result (a profile of `bench round --mode masking` put about two thirds of the
// delivery window's samples there, page faults of the fresh large arrays included).
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FraudFed.Cryptography;
using Google.Protobuf;

namespace FraudFed.Sdk.Wire;

/// <summary>A masking round's result in a bank's mailbox (service.proto, SPEC.md 14.5): round, contributors, and the sum as
/// fixed-width little-endian values (<c>sum_le</c>).</summary>
public sealed partial class SumResult
{
    /// <summary>Bytes per value of <c>sum_le</c> for a session of k = <paramref name="modulusBits"/> (1..64): ceil(k / 8).</summary>
    internal static int ValueBytes(int modulusBits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(modulusBits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(modulusBits, 64);
        return (modulusBits + 7) / 8;
    }

    /// <summary>The <c>sum_le</c> bytes of <paramref name="sum"/>: each value as <see cref="ValueBytes"/> little-endian bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="sum"/> is empty, or a value is not below 2^<paramref name="modulusBits"/>.</exception>
    internal static byte[] PackSum(ReadOnlySpan<ulong> sum, int modulusBits)
    {
        int width = CheckedWidth(sum, modulusBits);
        byte[] packed = GC.AllocateUninitializedArray<byte>(checked(sum.Length * width));
        PackChecked(sum, width, packed);
        return packed;
    }

    /// <summary>The serialized <c>MailboxItem</c> (no sequence) carrying the SumResult of <paramref name="round"/> with
    /// <paramref name="contributors"/> and <paramref name="sum"/> packed as <see cref="PackSum"/> does: the same bytes as
    /// <c>new MailboxItem { SumResult = { Round, Contributors, SumLe = PackSum(sum) } }.ToByteArray()</c>, with the values
    /// packed straight into the item (one array of the sum's size per round, where packing then serializing made two).</summary>
    /// <exception cref="ArgumentException">As <see cref="PackSum"/>.</exception>
    internal static byte[] PackSumItem(ulong round, IReadOnlyList<int> contributors, ReadOnlySpan<ulong> sum, int modulusBits)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        int width = CheckedWidth(sum, modulusBits);
        int sumBytes = checked(sum.Length * width);
        // SumResult: round (field 1, omitted when 0), contributors (field 2, packed, omitted when empty), sum_le (field 4), in
        // field order as the serializer writes them; the item: sum_result (field 4) around it.
        int packedContributors = 0;
        foreach (int c in contributors) packedContributors += CodedOutputStream.ComputeUInt32Size((uint)c);
        int result = (round == 0 ? 0 : 1 + CodedOutputStream.ComputeUInt64Size(round))
            + (contributors.Count == 0 ? 0 : 1 + CodedOutputStream.ComputeLengthSize(packedContributors) + packedContributors)
            + 1 + CodedOutputStream.ComputeLengthSize(sumBytes) + sumBytes;
        byte[] item = GC.AllocateUninitializedArray<byte>(checked(1 + CodedOutputStream.ComputeLengthSize(result) + result));
        var w = new CodedOutputStream(item);
        w.WriteTag(MailboxItem.SumResultFieldNumber, WireFormat.WireType.LengthDelimited);
        w.WriteLength(result);
        if (round != 0)
        {
            w.WriteTag(RoundFieldNumber, WireFormat.WireType.Varint);
            w.WriteUInt64(round);
        }
        if (contributors.Count > 0)
        {
            w.WriteTag(ContributorsFieldNumber, WireFormat.WireType.LengthDelimited);
            w.WriteLength(packedContributors);
            foreach (int c in contributors) w.WriteUInt32((uint)c);
        }
        w.WriteTag(SumLeFieldNumber, WireFormat.WireType.LengthDelimited);
        w.WriteLength(sumBytes);
        w.Flush();
        int at = (int)w.Position;
        if (at + sumBytes != item.Length) throw new InvalidOperationException("The sum item's framing does not add up.");
        PackChecked(sum, width, item.AsSpan(at));
        return item;
    }

    /// <summary><see cref="ValueBytes"/> of k = <paramref name="modulusBits"/>, after checking that <paramref name="sum"/> is not empty
    /// and every value is below 2^k.</summary>
    /// <exception cref="ArgumentException">As <see cref="PackSum"/>.</exception>
    private static int CheckedWidth(ReadOnlySpan<ulong> sum, int modulusBits)
    {
        int width = ValueBytes(modulusBits);
        if (sum.IsEmpty) throw new ArgumentException("A sum has at least one value.", nameof(sum));
        ulong max = modulusBits == 64 ? ulong.MaxValue : (1UL << modulusBits) - 1;
        int above = sum.IndexOfAnyExceptInRange(0UL, max);
        if (above >= 0) throw new ArgumentException($"The value at index {above} is not below 2^{modulusBits}.", nameof(sum));
        return width;
    }

    /// <summary>Packs <paramref name="sum"/> (non-empty, every value checked below 2^k) into <paramref name="b"/>, exactly
    /// <paramref name="width"/> bytes per value.</summary>
    private static void PackChecked(ReadOnlySpan<ulong> sum, int width, Span<byte> b)
    {
        if (width == 8 && BitConverter.IsLittleEndian)
            MemoryMarshal.AsBytes(sum).CopyTo(b);
        else if (width == 4 && BitConverter.IsLittleEndian)
            // Truncated to 32 bits a vector at a time (every value was checked below 2^k <= 2^32): the masked input's narrowing.
            FraudFed.Protocol.Masking.ModVector.Narrow(sum, MemoryMarshal.Cast<byte, uint>(b));
        else
        {
            // Other widths: one 64-bit store per value while 8 bytes remain (its high bytes are zero, the next value overwrites
            // them), then byte by byte.
            int i = 0, at = 0;
            for (; i < sum.Length && at <= b.Length - 8; i++, at += width) BinaryPrimitives.WriteUInt64LittleEndian(b[at..], sum[i]);
            for (; i < sum.Length; i++)
                for (int j = 0; j < width; j++) b[at++] = (byte)(sum[i] >> (8 * j));
        }
    }

    /// <summary>The values of <c>sum_le</c> <paramref name="packed"/> for a session of k = <paramref name="modulusBits"/>.</summary>
    /// <param name="packed">The field's bytes.</param>
    /// <param name="modulusBits">The session's k (1..64).</param>
    /// <param name="length">The round's vector length when the caller knows it (the length it asked the round for), or null.</param>
    /// <param name="into">The array to write the values into when its length is the values' count (a bank's own result array),
    /// else null: a new array. Its contents are unspecified when the call throws.</param>
    /// <returns>One value per position, each below 2^k: <paramref name="into"/> when it was used.</returns>
    /// <exception cref="ProtocolViolationException">Malformed: the bytes are empty, not a whole number of values, or not
    /// <paramref name="length"/> values; OutOfRange: a value is not below 2^k. Nothing is returned then.</exception>
    internal static ulong[] UnpackSum(ReadOnlySpan<byte> packed, int modulusBits, int? length, ulong[]? into = null)
    {
        int width = ValueBytes(modulusBits);
        if (packed.IsEmpty || packed.Length % width != 0)
            throw new ProtocolViolationException(ViolationReason.Malformed, $"a masking sum of {packed.Length} bytes is not a whole, nonzero number of {width}-byte values (k = {modulusBits}).");
        int count = packed.Length / width;
        if (length is int n && count != n)
            throw new ProtocolViolationException(ViolationReason.Malformed, $"a masking sum of {count} values ({packed.Length} bytes) for a round of {n} values; expected {(long)n * width} bytes.");
        ulong[] sum = into is not null && into.Length == count ? into : GC.AllocateUninitializedArray<ulong>(count);
        Span<ulong> s = sum;
        if (width == 8 && BitConverter.IsLittleEndian)
            packed.CopyTo(MemoryMarshal.AsBytes(s));
        else if (width == 4 && BitConverter.IsLittleEndian)
            // Zero-extended a vector at a time (unaligned reads are allowed).
            FraudFed.Protocol.Masking.ModVector.Widen(MemoryMarshal.Cast<byte, uint>(packed), s);
        else
        {
            // One masked 64-bit load per value while 8 bytes remain, then byte by byte.
            ulong mask = width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;
            int i = 0, at = 0;
            for (; i < s.Length && at <= packed.Length - 8; i++, at += width) s[i] = BinaryPrimitives.ReadUInt64LittleEndian(packed[at..]) & mask;
            for (; i < s.Length; i++, at += width)
            {
                ulong v = 0;
                for (int j = 0; j < width; j++) v |= (ulong)packed[at + j] << (8 * j);
                s[i] = v;
            }
        }
        if (modulusBits < 8 * width)
        {
            int above = s.IndexOfAnyExceptInRange(0UL, (1UL << modulusBits) - 1);
            if (above >= 0)
                throw new ProtocolViolationException(ViolationReason.OutOfRange, $"the masking sum's value at index {above} is not below 2^{modulusBits}.");
        }
        return sum;
    }
}
