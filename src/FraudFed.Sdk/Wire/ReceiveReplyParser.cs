// The bank's reader of Receive answers (SPEC.md 14.5). The generated protobuf parser copies a masking round's SumResult.sum_le
// (length x ceil(k / 8) bytes: 4 MB for a million 32-bit values) out of the gRPC message buffer into a fresh, zeroed array
// of its own, which the bank unpacks once into its ulong[] and drops: a large-object-heap array per bank per round whose
// pages the process faults in again whenever the GC has decommitted them since the last round (on a virtualized host a page
// fault costs microseconds; `bench round --mode masking` counted 30-44 thousand minor faults in an appliance round that
// followed in-process rounds, against 7-13 thousand after an appliance round). ReceiveReplyParser reads the canonical
// encoding the appliance sends (each item: sequence, then the SumResult with round, packed contributors and sum_le, in field
// order) itself. When the bank has said what sum it expects (SumBuffer.Expected: the session's k, the round it asked for, the
// caller's result array) it unpacks sum_le straight from the payload's segments into ulong values (UnpackedSum), into the
// caller's array when the item is that round's and the count fits: the 4 MB copy into a byte array and the read of it back
// (4.1 ms of copy per round of ten banks in a perf profile of `bench round --mode masking --banks 10 --values 1000000`) are
// gone, and the widening reads the payload instead. The byte-count and range checks run there too, but their refusal is
// thrown only when the bank reads the item, exactly as UnpackSum would throw it. Without an expectation sum_le is copied into
// the client's spare array of that length (SumBuffer), which the transport hands back once it has unpacked the sum; every
// other item, and any other shape of a SumResult item, goes to the protobuf parser, so what is accepted and how it is
// refused do not depend on the path taken.
using System.Buffers;
using Google.Protobuf;
using Grpc.Core;

namespace FraudFed.Sdk.Wire;

/// <summary>One spare array for a bank's masking sums (see the file header): a client reads one round's result at a time, and
/// every round of a session has the same length. Thread-safe.</summary>
internal sealed class SumBuffer
{
    private byte[]? _spare;

    /// <summary>Rents arrays for sums of at least <paramref name="minimumBytes"/> bytes (smaller ones protobuf parses as before).</summary>
    public SumBuffer(int minimumBytes = DefaultMinimumBytes) => MinimumBytes = minimumBytes;

    /// <summary>Results below 1 MiB are parsed by protobuf as before (a small-object allocation is cheap).</summary>
    public const int DefaultMinimumBytes = 1 << 20;

    /// <summary>The smallest sum_le this buffer serves.</summary>
    public int MinimumBytes { get; }

    /// <summary>Rents served by a new array (tests).</summary>
    public long Allocations => Interlocked.Read(ref _allocations);
    private long _allocations;

    /// <summary>An array of exactly <paramref name="length"/> bytes with unspecified contents (the caller overwrites all of them).</summary>
    public byte[] Rent(int length)
    {
        byte[]? spare = Interlocked.Exchange(ref _spare, null);
        if (spare is not null && spare.Length == length) return spare;
        Interlocked.Increment(ref _allocations);
        return GC.AllocateUninitializedArray<byte>(length);
    }

    /// <summary>Keeps <paramref name="array"/> for the next <see cref="Rent"/>; the caller no longer reads it.</summary>
    public void Return(byte[] array) => Volatile.Write(ref _spare, array);

    /// <summary>The sum the bank expects now (set by its transport), or null: large sums are then kept as bytes in a rented array.
    /// With it, a canonical SumResult item's sum_le is unpacked while the payload is parsed (<see cref="UnpackedSum"/>).</summary>
    public SumExpectation? Expected
    {
        get => Volatile.Read(ref _expected);
        set => Volatile.Write(ref _expected, value);
    }
    private SumExpectation? _expected;
}

/// <summary>What a bank's next masking sum is unpacked for (see the file header): the session's k, the round it asked for and
/// that round's length, and the caller's result array of that length, or null. The array serves one item only: the first
/// sum of the round unpacked into it takes it (<see cref="TakeInto"/>), so a second item of the same round, or the same reply
/// read again after a retried call, cannot overwrite values already handed over.</summary>
internal sealed class SumExpectation(int modulusBits, ulong round, int length, ulong[]? into)
{
    private ulong[]? _into = into is not null && into.Length == length ? into : null;

    /// <summary>The session's k (1..64).</summary>
    public int ModulusBits { get; } = modulusBits;
    /// <summary>The round the bank asked for (0: none).</summary>
    public ulong Round { get; } = round;
    /// <summary>That round's vector length.</summary>
    public int Length { get; } = length;

    /// <summary>The caller's array for a sum of <paramref name="count"/> values of <paramref name="round"/>, once: null when it is
    /// another round, another count, or the array was taken already.</summary>
    public ulong[]? TakeInto(ulong round, int count) =>
        round != 0 && round == Round && count == Length && Volatile.Read(ref _into) is not null ? Interlocked.Exchange(ref _into, null) : null;
}

/// <summary>A SumResult whose <c>sum_le</c> bytes are a rented <see cref="SumBuffer"/> array (set by <see cref="ReceiveReplyParser"/>).</summary>
public sealed partial class SumResult
{
    /// <summary>The buffer <c>sum_le</c>'s array was rented from, or null when protobuf allocated it.</summary>
    internal SumBuffer? RentedFrom { get; set; }

    /// <summary>Hands <c>sum_le</c>'s array back to its buffer (once its values have been read) and clears the field; nothing
    /// when it was not rented.</summary>
    internal void ReturnSumLe()
    {
        if (RentedFrom is not { } buffer) return;
        RentedFrom = null;
        byte[] array = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(SumLe.Memory, out ArraySegment<byte> s) ? s.Array! : [];
        SumLe = ByteString.Empty;
        if (array.Length > 0) buffer.Return(array);
    }
}

/// <summary>The ReceiveReply reader of the bank's Receive calls (see the file header).</summary>
internal static class ReceiveReplyParser
{
    private const byte ItemTag = (1 << 3) | 2;             // ReceiveReply.items, length-delimited
    private const byte SequenceTag = (1 << 3) | 0;         // MailboxItem.sequence, varint
    private const byte SumResultTag = (4 << 3) | 2;        // MailboxItem.sum_result, length-delimited
    private const byte RoundTag = (1 << 3) | 0;            // SumResult.round, varint
    private const byte ContributorsTag = (2 << 3) | 2;     // SumResult.contributors, packed
    private const byte SumLeTag = (4 << 3) | 2;            // SumResult.sum_le, length-delimited

    /// <summary>The reply in <paramref name="payload"/>, exactly as <c>ReceiveReply.Parser.ParseFrom</c> reads it; a canonical
    /// SumResult item's <c>sum_le</c> of at least <see cref="SumBuffer.MinimumBytes"/> bytes is an array rented from <paramref name="buffer"/>.</summary>
    /// <exception cref="InvalidProtocolBufferException">the bytes are not a ReceiveReply (from the protobuf parser).</exception>
    public static ReceiveReply Parse(ReadOnlySequence<byte> payload, SumBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var reader = new SequenceReader<byte>(payload);
        var reply = new ReceiveReply();
        return TryReadItems(ref reader, payload, ItemTag, buffer, reply.Items) ? reply : ReceiveReply.Parser.ParseFrom(payload);
    }

    /// <summary>Reads the rest of <paramref name="payload"/> as entries of the repeated MailboxItem field <paramref name="itemTag"/>
    /// into <paramref name="items"/>; false at anything else, with the arrays rented so far returned (the caller's fallback, the
    /// protobuf parser, replaces what was read).</summary>
    private static bool TryReadItems(ref SequenceReader<byte> reader, ReadOnlySequence<byte> payload, byte itemTag, SumBuffer buffer,
        Google.Protobuf.Collections.RepeatedField<MailboxItem> items)
    {
        while (!reader.End)
        {
            if (!reader.TryRead(out byte tag) || tag != itemTag || !TryReadVarint(ref reader, 5, out ulong length) || length > (ulong)reader.Remaining)
            {
                ReturnAll(items);
                return false;
            }
            ReadOnlySequence<byte> item = payload.Slice(reader.Position, (long)length);
            reader.Advance((long)length);
            // Each entry of a repeated message field is a message of its own: parsed alone it is what the whole reply's parse gives.
            items.Add(TryParseSumItem(item, buffer) ?? MailboxItem.Parser.ParseFrom(item));
        }
        return true;
    }

    private static void ReturnAll(IEnumerable<MailboxItem> items)
    {
        foreach (MailboxItem i in items)
            if (i.ItemCase == MailboxItem.ItemOneofCase.SumResult) i.SumResult.ReturnSumLe();
    }

    private const byte SubmitSequenceTag = (1 << 3) | 0;   // SubmitReply.sequence, varint
    private const byte SubmitResendTag = (2 << 3) | 0;     // SubmitReply.resend, varint
    private const byte SubmitItemTag = (3 << 3) | 2;       // SubmitReply.items, length-delimited

    /// <summary>The Submit answer in <paramref name="payload"/>, exactly as <c>SubmitReply.Parser.ParseFrom</c> reads it; its items
    /// as <see cref="Parse"/> reads a Receive answer's (the last Submit of a masking round brings the round's sum with its answer,
    /// SPEC.md 14.5, delivery with the answer). The canonical order (sequence, resend, items) is read here; anything else goes to
    /// the protobuf parser.</summary>
    /// <exception cref="InvalidProtocolBufferException">the bytes are not a SubmitReply (from the protobuf parser).</exception>
    public static SubmitReply ParseSubmit(ReadOnlySequence<byte> payload, SumBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var reader = new SequenceReader<byte>(payload);
        var reply = new SubmitReply();
        if (reader.TryPeek(out byte tag) && tag == SubmitSequenceTag)
        {
            reader.Advance(1);
            if (!TryReadVarint(ref reader, 10, out ulong sequence) || sequence == 0) return SubmitParser(payload);
            reply.Sequence = sequence;
        }
        if (reader.TryPeek(out tag) && tag == SubmitResendTag)
        {
            reader.Advance(1);
            if (!reader.TryRead(out byte resend) || resend != 1) return SubmitParser(payload);   // true, as the serializer writes it
            reply.Resend = true;
        }
        return TryReadItems(ref reader, payload, SubmitItemTag, buffer, reply.Items) ? reply : SubmitParser(payload);
    }

    private static SubmitReply SubmitParser(ReadOnlySequence<byte> payload) => SubmitReply.Parser.ParseFrom(payload);

    /// <summary>A canonical SumResult item with a large <c>sum_le</c>, or null (the protobuf parser reads the item).</summary>
    private static MailboxItem? TryParseSumItem(ReadOnlySequence<byte> item, SumBuffer buffer)
    {
        var r = new SequenceReader<byte>(item);
        ulong sequence = 0;
        if (!r.TryRead(out byte tag)) return null;
        if (tag == SequenceTag)
        {
            if (!TryReadVarint(ref r, 10, out sequence) || sequence == 0 || !r.TryRead(out tag)) return null;
        }
        if (tag != SumResultTag || !TryReadVarint(ref r, 5, out ulong resultLength) || resultLength != (ulong)r.Remaining) return null;

        // SumResult: round (nonzero), contributors (packed, nonempty), sum_le (nonempty), each at most once and in field order.
        ulong round = 0;
        var contributors = new List<uint>();
        if (!r.TryRead(out tag)) return null;
        if (tag == RoundTag)
        {
            if (!TryReadVarint(ref r, 10, out round) || round == 0 || !r.TryRead(out tag)) return null;
        }
        if (tag == ContributorsTag)
        {
            if (!TryReadVarint(ref r, 5, out ulong packedLength) || packedLength == 0 || packedLength > (ulong)r.Remaining) return null;
            long end = r.Consumed + (long)packedLength;
            while (r.Consumed < end)
            {
                if (!TryReadVarint(ref r, 5, out ulong c) || c > uint.MaxValue || r.Consumed > end) return null;
                contributors.Add((uint)c);
            }
            if (!r.TryRead(out tag)) return null;
        }
        if (tag != SumLeTag || !TryReadVarint(ref r, 5, out ulong sumLength) || sumLength != (ulong)r.Remaining || sumLength < (ulong)buffer.MinimumBytes)
            return null;
        SumResult result;
        if (buffer.Expected is { } expected)
        {
            // Straight from the payload's segments into ulong values (see the file header); a bad sum is refused when it is read.
            int width = SumResult.ValueBytes(expected.ModulusBits);
            ulong[]? into = sumLength % (ulong)width == 0 ? expected.TakeInto(round, (int)(sumLength / (ulong)width)) : null;
            result = new SumResult { Round = round, Unpacked = UnpackedSum.Read(item.Slice(r.Position), expected.ModulusBits, into, checked((int)item.Length)) };
        }
        else
        {
            byte[] sum = buffer.Rent((int)sumLength);
            item.Slice(r.Position).CopyTo(sum);
            result = new SumResult { Round = round, SumLe = UnsafeByteOperations.UnsafeWrap(sum), RentedFrom = buffer };
        }
        result.Contributors.AddRange(contributors);
        return new MailboxItem { Sequence = sequence, SumResult = result };
    }

    /// <summary>A base-128 varint of at most <paramref name="maxBytes"/> bytes in its shortest form (canonical; low 64 bits kept);
    /// false when it runs past the input, past <paramref name="maxBytes"/>, or has a redundant zero last byte.</summary>
    private static bool TryReadVarint(ref SequenceReader<byte> reader, int maxBytes, out ulong value)
    {
        value = 0;
        for (int i = 0; i < maxBytes; i++)
        {
            if (!reader.TryRead(out byte b)) return false;
            if (i == 9 && b > 1) return false;   // bits beyond 64
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) return i == 0 || b != 0;
        }
        return false;
    }

    /// <summary>The Receive method of service.proto with this reader for its answers (the generated serializer for the request).</summary>
    public static Method<ReceiveRequest, ReceiveReply> ReceiveMethod(SumBuffer buffer) =>
        new(MethodType.Unary, "fraudfed.v1.Federation", "Receive",
            Marshallers.Create<ReceiveRequest>(Serialize, context => ReceiveRequest.Parser.ParseFrom(context.PayloadAsReadOnlySequence())),
            Marshallers.Create<ReceiveReply>(Serialize, context => Parse(context.PayloadAsReadOnlySequence(), buffer)));

    /// <summary>The Submit method of service.proto with <see cref="ParseSubmit"/> for its answers (the generated serializer for the
    /// request, which wraps the caller's message bytes).</summary>
    public static Method<SubmitRequest, SubmitReply> SubmitMethod(SumBuffer buffer) =>
        new(MethodType.Unary, "fraudfed.v1.Federation", "Submit",
            Marshallers.Create<SubmitRequest>(Serialize, context => SubmitRequest.Parser.ParseFrom(context.PayloadAsReadOnlySequence())),
            Marshallers.Create<SubmitReply>(Serialize, context => ParseSubmit(context.PayloadAsReadOnlySequence(), buffer)));

    // The one copy of a Submit's message (4 MB for a masked input of a million 32-bit values): protobuf's WriteRawBytes into the
    // buffer gRPC rents for the call (Grpc.Net.Client's GrpcCallSerializationContext, an ArrayPool array of the payload length).
    // Writing the framing here instead would still copy the bytes once, and Complete(byte[]) copies too; only masking straight
    // into gRPC's buffer would avoid it, but the message must outlive that buffer (each retried attempt serializes it again,
    // and the bank writes its next masked input into the same array), and it is built and signed inside the protocol layer.
    private static void Serialize<T>(T message, SerializationContext context) where T : IBufferMessage
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }
}

/// <summary>The generated client, with a Receive call that reads its answer with <see cref="ReceiveReplyParser"/>.</summary>
public static partial class Federation
{
    public partial class FederationClient
    {
        /// <summary>Receive through <paramref name="method"/> (<see cref="ReceiveReplyParser.ReceiveMethod"/>).</summary>
        internal AsyncUnaryCall<ReceiveReply> ReceiveAsync(ReceiveRequest request, CallOptions options, Method<ReceiveRequest, ReceiveReply> method) =>
            CallInvoker.AsyncUnaryCall(method, null, options, request);

        /// <summary>Submit through <paramref name="method"/> (<see cref="ReceiveReplyParser.SubmitMethod"/>).</summary>
        internal AsyncUnaryCall<SubmitReply> SubmitAsync(SubmitRequest request, CallOptions options, Method<SubmitRequest, SubmitReply> method) =>
            CallInvoker.AsyncUnaryCall(method, null, options, request);
    }
}
