// The masking round's sum as it travels in SumResult.sum_le (SPEC.md 14.5, "The masking sum"): each value mod 2^k as
// w = ceil(k / 8) little-endian bytes, back to back. The appliance packs a round's sum once and every participant's mailbox
// item carries the same bytes; a bank unpacks them in one pass into its ulong[], checking cheap to expensive: the byte count
// (a whole number of values, and the round's length when the bank knows it), then every value below 2^k. It replaced a
// packed repeated uint64 (one varint per value): parsing a million varints into a growing RepeatedField and copying it out
// was most of a bank's CPU in the delivery of a result (a profile of `bench round --mode masking` put about two thirds of the
// delivery window's samples there, page faults of the fresh large arrays included).
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
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
        int count = CheckedCount(packed.Length, modulusBits, length);
        ulong[] sum = into is not null && into.Length == count ? into : GC.AllocateUninitializedArray<ulong>(count);
        UnpackValues(packed, width, sum);
        int above = IndexAbove(sum, modulusBits);
        if (above >= 0) throw AboveError(above, modulusBits);
        return sum;
    }

    /// <summary>The number of values in a <c>sum_le</c> of <paramref name="bytes"/> bytes, after the checks of <see cref="UnpackSum"/>
    /// that depend on the byte count only (in its order: a whole, nonzero number of values, then <paramref name="length"/>).</summary>
    /// <exception cref="ProtocolViolationException">Malformed, with <see cref="UnpackSum"/>'s messages.</exception>
    internal static int CheckedCount(int bytes, int modulusBits, int? length)
    {
        int width = ValueBytes(modulusBits);
        if (bytes == 0 || bytes % width != 0)
            throw new ProtocolViolationException(ViolationReason.Malformed, $"a masking sum of {bytes} bytes is not a whole, nonzero number of {width}-byte values (k = {modulusBits}).");
        int count = bytes / width;
        if (length is int n && count != n)
            throw new ProtocolViolationException(ViolationReason.Malformed, $"a masking sum of {count} values ({bytes} bytes) for a round of {n} values; expected {(long)n * width} bytes.");
        return count;
    }

    /// <summary>The first index of a value not below 2^<paramref name="modulusBits"/>, or -1 (always -1 when k fills its bytes).</summary>
    internal static int IndexAbove(ReadOnlySpan<ulong> sum, int modulusBits) =>
        modulusBits < 8 * ValueBytes(modulusBits) ? sum.IndexOfAnyExceptInRange(0UL, (1UL << modulusBits) - 1) : -1;

    /// <summary>UnpackSum's OutOfRange refusal of the value at <paramref name="index"/>.</summary>
    internal static ProtocolViolationException AboveError(int index, int modulusBits) =>
        new(ViolationReason.OutOfRange, $"the masking sum's value at index {index} is not below 2^{modulusBits}.");

    /// <summary>Unpacks <paramref name="packed"/>, exactly <paramref name="width"/> x <paramref name="sum"/>.Length bytes, into
    /// <paramref name="sum"/> (no range check).</summary>
    private static void UnpackValues(ReadOnlySpan<byte> packed, int width, Span<ulong> sum)
    {
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
    }

    /// <summary><see cref="UnpackValues(ReadOnlySpan{byte}, int, Span{ulong})"/> from the segments of a gRPC payload: whole values
    /// straight from each segment, a value cut by a segment boundary through an 8-byte carry.</summary>
    internal static void UnpackValues(ReadOnlySequence<byte> packed, int width, Span<ulong> sum)
    {
        if (packed.Length != (long)sum.Length * width) throw new ArgumentException("The packed bytes are not the values' size.", nameof(packed));
        Span<byte> carry = stackalloc byte[8];
        int carried = 0, done = 0;
        foreach (ReadOnlyMemory<byte> segment in packed)
        {
            ReadOnlySpan<byte> s = segment.Span;
            if (carried > 0)
            {
                int take = Math.Min(width - carried, s.Length);
                s[..take].CopyTo(carry[carried..]);
                carried += take;
                s = s[take..];
                if (carried < width) continue;
                UnpackValues(carry[..width], width, sum.Slice(done++, 1));
                carried = 0;
            }
            int whole = s.Length / width;
            UnpackValues(s[..(whole * width)], width, sum.Slice(done, whole));
            done += whole;
            s = s[(whole * width)..];
            s.CopyTo(carry);
            carried = s.Length;
        }
        Debug.Assert(done == sum.Length && carried == 0);
    }

    /// <summary>The sum when <see cref="ReceiveReplyParser"/> unpacked it from the gRPC payload (<c>sum_le</c> is then empty), else null.</summary>
    internal UnpackedSum? Unpacked { get; init; }

    /// <summary>The byte count of <c>sum_le</c> on the wire, whether it was kept (<see cref="SumLe"/>) or unpacked (<see cref="Unpacked"/>).</summary>
    internal int SumLeLength => Unpacked?.SumBytes ?? SumLe.Length;
}

/// <summary>
/// A masking sum that <see cref="ReceiveReplyParser"/> unpacked straight from the segments of the gRPC payload into ulong values,
/// with no byte array between (SPEC.md 14.5, the masking sum): for a million 32-bit values it saves copying 4 MB per bank per
/// round into an array and reading them back. What the byte-count and range checks of <see cref="SumResult.UnpackSum"/> found
/// is kept, and <see cref="Take"/> throws the very exception UnpackSum throws for the same bytes and the same round length, in
/// the same order, when the bank reads the item: accepting and refusing do not depend on the path.
/// </summary>
internal sealed class UnpackedSum
{
    private readonly ulong[]? _values;   // null when the byte count is not a whole, nonzero number of values
    private readonly int _above;         // the first value not below 2^k, or -1
    private readonly bool _callersArray; // _values is an array the caller handed in (a bank's result array)

    private UnpackedSum(int modulusBits, int sumBytes, int itemBytes, ulong[]? values, int above, bool callersArray)
    {
        ModulusBits = modulusBits;
        SumBytes = sumBytes;
        ItemBytes = itemBytes;
        _values = values;
        _above = above;
        _callersArray = callersArray;
    }

    /// <summary>The session's k the values were unpacked for.</summary>
    public int ModulusBits { get; }
    /// <summary>The byte count of <c>sum_le</c> on the wire.</summary>
    public int SumBytes { get; }
    /// <summary>The byte count of the whole serialized MailboxItem on the wire (what <c>CalculateSize</c> of the parsed item gives).</summary>
    public int ItemBytes { get; }

    /// <summary>Unpacks <paramref name="packed"/> (the field's bytes) for k = <paramref name="modulusBits"/>: into
    /// <paramref name="into"/> when its length is the values' count, else into a new array. Throws nothing for bad bytes (the
    /// refusal waits for <see cref="Take"/>); <paramref name="into"/>'s contents are unspecified afterwards.</summary>
    public static UnpackedSum Read(ReadOnlySequence<byte> packed, int modulusBits, ulong[]? into, int itemBytes)
    {
        int width = SumResult.ValueBytes(modulusBits);
        int bytes = checked((int)packed.Length);
        if (bytes == 0 || bytes % width != 0) return new UnpackedSum(modulusBits, bytes, itemBytes, null, -1, false);
        int count = bytes / width;
        bool callers = into is not null && into.Length == count;
        ulong[] values = callers ? into! : GC.AllocateUninitializedArray<ulong>(count);
        SumResult.UnpackValues(packed, width, values);
        return new UnpackedSum(modulusBits, bytes, itemBytes, values, SumResult.IndexAbove(values, modulusBits), callers);
    }

    /// <summary>What <c>SumResult.UnpackSum(sum_le, modulusBits, length, into)</c> returns for the bytes this was read from, or the
    /// exception it throws. The values are <paramref name="into"/> when its length is their count (copied there if they were
    /// unpacked elsewhere), else an array no caller holds.</summary>
    /// <exception cref="ProtocolViolationException">As <see cref="SumResult.UnpackSum"/>.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="modulusBits"/> is not the k this sum was unpacked for.</exception>
    public ulong[] Take(int modulusBits, int? length, ulong[]? into)
    {
        if (modulusBits != ModulusBits) throw new InvalidOperationException($"a sum unpacked for k = {ModulusBits} read for k = {modulusBits}.");
        // UnpackSum's own checks, in its order: the byte count (whole values, then the round's length), then the values' range.
        int count = SumResult.CheckedCount(SumBytes, modulusBits, length);
        if (_above >= 0) throw SumResult.AboveError(_above, modulusBits);
        ulong[] values = _values!;
        if (into is not null && into.Length == count)
        {
            if (!ReferenceEquals(values, into)) values.CopyTo(into, 0);
            return into;
        }
        // Unpacked into a caller's array that this read did not hand in (an item read again after its call): a copy of its own.
        return _callersArray ? (ulong[])values.Clone() : values;
    }
}
