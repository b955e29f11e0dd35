// Canonical byte strings of the masking protocol (SPEC.md 9): the bodies banks sign and the survivor list they sign in
// the consistency check. On the wire they travel inside the protobuf wrappers of masking.proto (MaskingWire, SPEC.md 14.3).
// Every body: prefix "FFSA" | version 0x02 | type u8 | session id (16 bytes) | round u32 BE, then its fields.
// Integers are unsigned big-endian; bank ids are u32 (0-based); counts are u32 and bounded by the remaining bytes
// before anything is allocated; packed vector values are little-endian (ModVector). A signature is Ed25519 over
// ASCII "FraudFed/v1/secagg/signature" || SHA-256(body). Parsing checks lengths exactly: trailing or missing bytes are Malformed.
using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

/// <summary>Type codes of the canonical bodies (byte 5 of the prefix, SPEC.md 9). Codes 2, 4, 7, 8, 11 and 12 named the hand-written
/// encodings of unsigned messages before the protobuf wrappers (SPEC.md 14.3); they no longer occur in any body and are refused.</summary>
internal enum MessageType : byte
{
    /// <summary>Bank to aggregator: signed X25519 public keys (once per session).</summary>
    AdvertiseKeys = 1,
    /// <summary>Aggregator to banks: the advertised keys that were received.</summary>
    KeyRoster = 2,
    /// <summary>Bank to aggregator: encrypted shares of the round secrets and the pairwise-seed escrow.</summary>
    ShareKeys = 3,
    /// <summary>Aggregator to one bank: the encrypted shares addressed to it.</summary>
    ShareDelivery = 4,
    /// <summary>Bank to aggregator: the masked, packed input vector.</summary>
    MaskedInput = 5,
    /// <summary>Aggregator to banks: the survivors whose masked inputs are in the sum.</summary>
    SurvivorList = 6,
    /// <summary>Bank to aggregator: a signature over the survivor list.</summary>
    ConsistencySignature = 7,
    /// <summary>Aggregator to one bank: the signed survivor list and the shares requested from it.</summary>
    UnmaskRequest = 8,
    /// <summary>Bank to aggregator: the requested shares.</summary>
    UnmaskResponse = 9,
    /// <summary>Bank to aggregator: the signed opening of the bank's graph-seed commitment (once per session).</summary>
    GraphSeedReveal = 10,
    /// <summary>Aggregator to banks: every GraphSeedReveal received, in bank order.</summary>
    GraphSeedRoster = 11,
    /// <summary>Aggregator to banks: round r ended without a sum (now the wrapper's <c>abort</c> step).</summary>
    RoundAbort = 12,
}

/// <summary>Which of a peer's round secrets a share opens.</summary>
public enum ShareKind : byte
{
    /// <summary>b_j: the self-mask seed (requested for survivors).</summary>
    SelfMask = 1,
    /// <summary>kappa_j: the key of j's pairwise-seed escrow (requested for banks that dropped after ShareKeys).</summary>
    PairwiseKey = 2,
}

/// <summary>The prefix fields of a canonical body.</summary>
internal readonly record struct MessageHeader(MessageType Type, byte[] SessionId, uint Round);

internal static class Wire
{
    public static readonly byte[] Magic = "FFSA"u8.ToArray();
    public const byte Version = 2; // 1: AdvertiseKeys without the graph-seed commitment and no GraphSeedReveal/Roster; refused
    public const int HeaderSize = 4 + 1 + 1 + 16 + 4;
    public const int SignatureSize = Ed25519SigningKey.SignatureSize;
    public static readonly byte[] SignatureLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/signature");
    public static readonly byte[] SurvivorsLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/survivors");
    public static readonly byte[] ShareAdLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/share");
    public const int MaxCount = 1 << 20;

    public static byte[] SignedMessage(byte[] label, ReadOnlySpan<byte> body)
    {
        var m = new byte[label.Length + 32];
        label.CopyTo(m, 0);
        SHA256.HashData(body, m.AsSpan(label.Length));
        return m;
    }
}

/// <summary>Appends big-endian fields to a growable buffer.</summary>
internal sealed class WireWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public WireWriter(int capacity = 256) => _buffer = new ArrayBufferWriter<byte>(capacity);

    public void Header(MessageType type, byte[] sessionId, uint round)
    {
        Bytes(Wire.Magic);
        U8(Wire.Version);
        U8((byte)type);
        Bytes(sessionId);
        U32(round);
    }

    public void U8(byte v) { _buffer.GetSpan(1)[0] = v; _buffer.Advance(1); }
    public void U32(uint v) { BinaryPrimitives.WriteUInt32BigEndian(_buffer.GetSpan(4), v); _buffer.Advance(4); }
    public void Bytes(ReadOnlySpan<byte> v) { v.CopyTo(_buffer.GetSpan(v.Length)); _buffer.Advance(v.Length); }
    public Span<byte> Reserve(int length) { Span<byte> s = _buffer.GetSpan(length)[..length]; _buffer.Advance(length); return s; }
    public ReadOnlySpan<byte> Written => _buffer.WrittenSpan;

    /// <summary>The bytes written. A buffer filled exactly to its capacity (a size hint that was exact, e.g. a masked input's body)
    /// is returned as it is, without a second copy: the writer is done with it, and a later write would grow into a new array.</summary>
    public byte[] ToArray() =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(_buffer.WrittenMemory, out ArraySegment<byte> seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
            ? seg.Array : _buffer.WrittenSpan.ToArray();
}

/// <summary>Reads big-endian fields; any underrun is ProtocolViolationException(Malformed).</summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _offset;

    public WireReader(ReadOnlySpan<byte> data) { _data = data; _offset = 0; }

    public readonly int Offset => _offset;
    public readonly int Remaining => _data.Length - _offset;

    public MessageHeader Header()
    {
        if (_data.Length < Wire.HeaderSize) throw Malformed("shorter than a header");
        if (!_data[..4].SequenceEqual(Wire.Magic)) throw Malformed("bad magic");
        _offset = 4;
        if (U8() != Wire.Version) throw Malformed("unknown version");
        byte type = U8();
        if (type is not (1 or 3 or 5 or 6 or 9 or 10)) throw Malformed("unknown body type");
        byte[] session = Bytes(16).ToArray();
        uint round = U32();
        return new MessageHeader((MessageType)type, session, round);
    }

    public MessageHeader Header(MessageType expected)
    {
        MessageHeader h = Header();
        if (h.Type != expected) throw Malformed($"expected {expected}, got {h.Type}");
        return h;
    }

    public byte U8()
    {
        if (Remaining < 1) throw Malformed("truncated");
        return _data[_offset++];
    }

    public uint U32()
    {
        if (Remaining < 4) throw Malformed("truncated");
        uint v = BinaryPrimitives.ReadUInt32BigEndian(_data[_offset..]);
        _offset += 4;
        return v;
    }

    public int Id()
    {
        uint v = U32();
        if (v >= Wire.MaxCount) throw Error.Violation(ViolationReason.UnknownSender, "A bank id is out of range.");
        return (int)v;
    }

    public int Count(int elementSize)
    {
        uint v = U32();
        if (v > Wire.MaxCount || (long)v * elementSize > Remaining) throw Error.Violation(ViolationReason.Oversized, "A count exceeds the message.");
        return (int)v;
    }

    public ReadOnlySpan<byte> Bytes(int length)
    {
        if (length < 0 || Remaining < length) throw Malformed("truncated");
        ReadOnlySpan<byte> s = _data.Slice(_offset, length);
        _offset += length;
        return s;
    }

    public readonly void End()
    {
        if (Remaining != 0) throw Malformed("trailing bytes");
    }

    private static ProtocolViolationException Malformed(string what) => Error.Violation(ViolationReason.Malformed, "Message " + what + ".");
}
