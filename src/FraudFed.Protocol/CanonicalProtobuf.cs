// CanonicalProtobuf: the one parser front end of the protocol wrappers (SPEC.md 14.1): the size cap before parsing
// (Oversized), protobuf parsing (Malformed), then the canonical-encoding rule: the received bytes must be exactly what the
// protobuf serializer writes for the parsed message. Unknown fields are discarded by the parser, a repeated or duplicated
// field is merged, a non-minimal varint or length is folded and an explicitly written default value is dropped, so each
// of them changes the re-encoded size; fields out of field-number order keep the size, so the bytes are compared too
// (Malformed). MaskingWire and HeWire decode through it.
using System.Buffers;
using FraudFed.Cryptography;
using Google.Protobuf;

namespace FraudFed.Protocol;

/// <summary>Parses a protocol wrapper and accepts only its canonical encoding (SPEC.md 14.1).</summary>
internal static class CanonicalProtobuf
{
    /// <summary>
    /// Parses <paramref name="data"/> as a <typeparamref name="T"/> of at most <paramref name="maxMessageBytes"/> bytes and
    /// refuses any encoding other than the one <c>WriteTo</c> produces for the parsed message. Unknown fields are discarded
    /// while parsing (whatever <paramref name="parser"/>'s own setting), so that they too change the re-encoded size and are refused.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed (not protobuf, or not canonical).</exception>
    public static T Parse<T>(ReadOnlySpan<byte> data, int maxMessageBytes, MessageParser<T> parser) where T : IMessage<T>
    {
        if (data.Length > maxMessageBytes) throw Error.Violation(ViolationReason.Oversized, $"A message of {data.Length} bytes, limit {maxMessageBytes}.");
        T message;
        // Unknown fields are dropped by the parser (not kept for re-encoding), so that they change the re-encoded size.
        try { message = parser.WithDiscardUnknownFields(true).ParseFrom(data); }
        catch (InvalidProtocolBufferException) { throw Error.Violation(ViolationReason.Malformed, "Not a protocol message."); }
        int size = message.CalculateSize();
        if (size != data.Length) throw Error.Violation(ViolationReason.Malformed, "Not the canonical encoding (unknown, repeated or default-valued fields, or non-minimal varints).");
        byte[] canonical = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            message.WriteTo(canonical.AsSpan(0, size));
            if (!canonical.AsSpan(0, size).SequenceEqual(data)) throw Error.Violation(ViolationReason.Malformed, "Not the canonical encoding (fields out of number order).");
        }
        finally { ArrayPool<byte>.Shared.Return(canonical); } // public bytes: nothing to clear
        return message;
    }

    /// <summary>Bytes of <paramref name="value"/> as a minimal protobuf varint (1 to 10): what the serializer writes, for the wire
    /// mappers that lay a canonical message out around bytes the caller writes in place (HeWire, MaskingWire).</summary>
    public static int VarintSize(ulong value) => Math.Max(1, (64 - System.Numerics.BitOperations.LeadingZeroCount(value) + 6) / 7);

    /// <summary>Writes <paramref name="value"/> as a minimal protobuf varint at <paramref name="offset"/> and moves it past.</summary>
    public static void WriteVarint(Span<byte> destination, ref int offset, ulong value)
    {
        while (value >= 0x80)
        {
            destination[offset++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[offset++] = (byte)value;
    }
}
