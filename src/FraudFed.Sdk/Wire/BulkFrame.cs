// The bulk channel's framing (SPEC.md 14.8). Submit and Receive, the two calls that carry a round's megabytes (masked inputs,
// homomorphic uploads, sums), can also travel framed directly over TLS on the appliance's own port: a connection whose TLS
// handshake negotiates the ALPN protocol "fraudfed-bulk/1" instead of "h2" carries, instead of HTTP/2, a sequence of
// request and answer frames. The request and answer payloads are the same protobuf messages as the gRPC calls' (SubmitRequest
// and SubmitReply, ReceiveRequest and ReceiveReply, service.proto), so the appliance and the bank run the same code on both;
// the channel only leaves out HTTP/2's framing, its flow control and the copies they cost (a probe on this project's
// 2-core machine: 10 connections each moving 4 MB up and 4 MB down over loopback TLS took about 2.5 ns less CPU per byte
// than gRPC unary calls). Mutual TLS, the roster check of the certificate, the bank's identity taken from the certificate,
// the size cap, the rate limits and the status codes are the gRPC calls' own.
//
// A frame is a 5-byte header, then its payload:
//   kind (1 byte) | payload length (4 bytes, unsigned, little-endian) | payload
// Requests: 0x01 Submit (payload: a SubmitRequest), 0x02 Receive (a ReceiveRequest). Answers: 0x80 OK (the call's reply
// message), 0x81 Error (an error payload, below). One call at a time on a connection: a request, then its answer.
//
// Error payload (all integers little-endian; at most MaxErrorBytes in all):
//   status code (4 bytes: a gRPC StatusCode) | detail length (2 bytes) | detail (UTF-8) |
//   trailer count (1 byte, at most MaxTrailers) | per trailer: key length (1 byte) | key (ASCII, lower case, not ending in
//   "-bin") | value length (2 bytes) | value (UTF-8)
using System.Buffers.Binary;
using System.Text;
using Grpc.Core;

namespace FraudFed.Sdk.Wire;

/// <summary>The bulk channel's frame header and error payload (SPEC.md 14.8; see the file header).</summary>
internal static class BulkFrame
{
    /// <summary>The ALPN protocol id that selects the bulk channel in the TLS handshake.</summary>
    public const string AlpnProtocol = "fraudfed-bulk/1";

    /// <summary>Bytes of a frame header: kind (1) and payload length (4, little-endian).</summary>
    public const int HeaderBytes = 5;

    /// <summary>Request kind: a Submit call; the payload is a SubmitRequest.</summary>
    public const byte SubmitKind = 0x01;

    /// <summary>Request kind: a Receive call; the payload is a ReceiveRequest.</summary>
    public const byte ReceiveKind = 0x02;

    /// <summary>Answer kind: the call succeeded; the payload is its reply message (SubmitReply or ReceiveReply).</summary>
    public const byte OkKind = 0x80;

    /// <summary>Answer kind: the call was refused or failed; the payload is an error payload (see the file header).</summary>
    public const byte ErrorKind = 0x81;

    /// <summary>Largest error payload, in bytes: 8192.</summary>
    public const int MaxErrorBytes = 8192;

    /// <summary>Largest detail of an error payload, in UTF-8 bytes (a longer one is cut at a character boundary): 4096.</summary>
    public const int MaxDetailBytes = 4096;

    /// <summary>Most trailers in an error payload: 8.</summary>
    public const int MaxTrailers = 8;

    /// <summary>Writes a frame header into the first <see cref="HeaderBytes"/> bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="HeaderBytes"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    public static void WriteHeader(Span<byte> destination, byte kind, int length)
    {
        if (destination.Length < HeaderBytes) throw new ArgumentException($"a frame header needs {HeaderBytes} bytes", nameof(destination));
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        destination[0] = kind;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[1..], (uint)length);
    }

    /// <summary>Reads a frame header from the first <see cref="HeaderBytes"/> bytes of <paramref name="source"/>: its kind and
    /// its payload length in bytes (0..2^32 - 1; the reader compares it with its own cap before it allocates anything).</summary>
    /// <exception cref="ArgumentException"><paramref name="source"/> is shorter than <see cref="HeaderBytes"/>.</exception>
    public static (byte Kind, uint Length) ReadHeader(ReadOnlySpan<byte> source)
    {
        if (source.Length < HeaderBytes) throw new ArgumentException($"a frame header needs {HeaderBytes} bytes", nameof(source));
        return (source[0], BinaryPrimitives.ReadUInt32LittleEndian(source[1..]));
    }

    /// <summary>The error payload of a refusal with status <paramref name="code"/>, <paramref name="detail"/> (cut to
    /// <see cref="MaxDetailBytes"/> UTF-8 bytes at a character boundary) and <paramref name="trailers"/> (text trailers only).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="code"/> is not a refusal (outside 1..16: OK is no error).</exception>
    /// <exception cref="ArgumentException">more than <see cref="MaxTrailers"/> trailers, a binary key or one the decoder refuses
    /// (not printable lower-case ASCII), or a value over 65535 UTF-8 bytes.</exception>
    public static byte[] EncodeError(StatusCode code, string detail, Metadata? trailers)
    {
        if ((int)code is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(code), code, "an error payload carries a refusal: a status code in 1..16");
        byte[] text = Encoding.UTF8.GetBytes(Cut(detail ?? "", MaxDetailBytes));
        var entries = trailers is null ? [] : trailers.ToList();
        if (entries.Count > MaxTrailers) throw new ArgumentException($"at most {MaxTrailers} trailers", nameof(trailers));
        using var buffer = new MemoryStream();
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(four, (int)code);
        buffer.Write(four);
        BinaryPrimitives.WriteUInt16LittleEndian(four, (ushort)text.Length);
        buffer.Write(four[..2]);
        buffer.Write(text);
        buffer.WriteByte((byte)entries.Count);
        foreach (Metadata.Entry e in entries)
        {
            if (e.IsBinary || e.Key.Length is 0 or > 255 || e.Key.Any(c => c is < '!' or > '~' || char.IsUpper(c)))
                throw new ArgumentException($"trailer key '{e.Key}' cannot travel in an error payload", nameof(trailers));
            byte[] value = Encoding.UTF8.GetBytes(e.Value);
            if (value.Length > ushort.MaxValue) throw new ArgumentException($"trailer '{e.Key}' is too long", nameof(trailers));
            buffer.WriteByte((byte)e.Key.Length);
            buffer.Write(Encoding.ASCII.GetBytes(e.Key));
            BinaryPrimitives.WriteUInt16LittleEndian(four, (ushort)value.Length);
            buffer.Write(four[..2]);
            buffer.Write(value);
        }
        if (buffer.Length > MaxErrorBytes) throw new ArgumentException($"an error payload holds at most {MaxErrorBytes} bytes", nameof(trailers));
        return buffer.ToArray();
    }

    /// <summary>The refusal an error payload carries, as the <see cref="RpcException"/> the same refusal over gRPC would be
    /// (status, detail, trailers), so the SDK reads both channels' refusals one way.</summary>
    /// <exception cref="InvalidDataException">the payload is longer than <see cref="MaxErrorBytes"/>, truncated, has bytes left
    /// over, more than <see cref="MaxTrailers"/> trailers, a status code outside gRPC's 1..16, a key that is not lower-case
    /// ASCII or is binary, or text that is not UTF-8.</exception>
    public static RpcException DecodeError(ReadOnlySpan<byte> payload)
    {
        if (payload.Length > MaxErrorBytes) throw Bad($"{payload.Length} bytes, at most {MaxErrorBytes}");
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        int at = 0;
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> p, int n, ref int pos)
        {
            if (n > p.Length - pos) throw Bad("truncated");
            ReadOnlySpan<byte> s = p.Slice(pos, n);
            pos += n;
            return s;
        }
        int code = BinaryPrimitives.ReadInt32LittleEndian(Take(payload, 4, ref at));
        if (code is < 1 or > 16) throw Bad($"status code {code}");
        int detailLength = BinaryPrimitives.ReadUInt16LittleEndian(Take(payload, 2, ref at));
        string detail;
        try { detail = strict.GetString(Take(payload, detailLength, ref at)); }
        catch (DecoderFallbackException) { throw Bad("the detail is not UTF-8"); }
        int count = Take(payload, 1, ref at)[0];
        if (count > MaxTrailers) throw Bad($"{count} trailers, at most {MaxTrailers}");
        var trailers = new Metadata();
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> key = Take(payload, Take(payload, 1, ref at)[0], ref at);
            if (key.Length == 0 || key.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E) || key.ContainsAnyInRange((byte)'A', (byte)'Z') || key.EndsWith("-bin"u8))
                throw Bad("a trailer key that is not lower-case ASCII text");
            int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(Take(payload, 2, ref at));
            string value;
            try { value = strict.GetString(Take(payload, valueLength, ref at)); }
            catch (DecoderFallbackException) { throw Bad("a trailer value that is not UTF-8"); }
            trailers.Add(Encoding.ASCII.GetString(key), value);
        }
        if (at != payload.Length) throw Bad($"{payload.Length - at} bytes after the last trailer");
        return new RpcException(new Status((StatusCode)code, detail), trailers);
    }

    private static InvalidDataException Bad(string what) => new($"a malformed bulk-channel error payload: {what}");

    /// <summary><paramref name="s"/> cut to at most <paramref name="maxBytes"/> UTF-8 bytes, never inside a character.</summary>
    private static string Cut(string s, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(s) <= maxBytes) return s;
        int bytes = 0, i = 0;
        while (i < s.Length)
        {
            int step = char.IsSurrogatePair(s, i) ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(s.AsSpan(i, step));
            if (bytes + size > maxBytes) break;
            bytes += size;
            i += step;
        }
        return s[..i];
    }
}
