// The digest the appliance keeps of every accepted bank message (SPEC.md 14.5): the key of idempotent resends (the same bytes
// get the first answer), of the replay check (another bank's accepted bytes under this certificate) and the name and
// integrity check of a payload file. It is a function of the message's bytes alone, 32 bytes:
//   - a canonical masked input (MaskingWire.TryReadCanonicalMaskedInput: prefix || body || suffix, the body non-empty):
//     SHA-256(0x00 || "FraudFed/v1/appliance/masked-input" || u32 BE len(prefix) || prefix || SHA-256(body) || suffix);
//   - any other message: SHA-256(message).
// Why: the masked input is the one large upload (4 MB at 10^6 values, k = 32), and decoding it already computes SHA-256(body)
// for its signature ("FraudFed/v1/secagg/signature" || SHA-256(body), SPEC.md 9); hashing the whole message again cost about
// 2.5 ms of CPU per 4 MB upload, 25 ms per 10-bank round. The derived form reuses that body digest, so the megabytes are
// hashed once.
// Soundness. Every byte of the message is covered: the prefix (wrapper tags, protocol version, session id, the body's
// length) and the suffix (the signature's tag, length and all 64 bytes) are hashed as they are, the body through its own
// SHA-256. The outer input is an injective encoding of (prefix, SHA-256(body), suffix): the prefix length is written first
// and the body digest is 32 bytes, so the input splits back uniquely; and (prefix, body, suffix) give back the message. So two
// different messages with the same digest need two different inputs with one SHA-256 (outer) or two different bodies with
// one SHA-256 (inner): a SHA-256 collision either way, as for SHA-256(message). The two forms cannot meet either: the derived
// input starts with 0x00, a protobuf tag of field 0, which no parser accepts, so it is never the bytes of a message the
// appliance accepted (every accepted message is a parsed protobuf wrapper), and a digest of each form names exactly its bytes.
// A resend of the same bytes takes the same branch (the branch is decided by the bytes) and gets the same digest; one bit
// flipped anywhere (body, signature, framing) gives another message and, but for a collision, another digest.
// State files written before this form stored SHA-256(message) for masked inputs too: the store accepts a payload file that
// matches Legacy, and returns every inbound event's digest in the current form, so that a resend across the upgrade is still
// recognised.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FraudFed.Protocol.Masking;

namespace FraudFed.Aggregator.Storage;

/// <summary>The appliance's digest of an inbound message (the header above): 32 bytes, a function of the bytes alone.</summary>
internal static class IntakeDigest
{
    /// <summary>Domain label of the derived form, after its leading 0x00.</summary>
    private static readonly byte[] Label = [0x00, .. "FraudFed/v1/appliance/masked-input"u8];

    /// <summary>Length of "FraudFed/v1/secagg/signature", the label before SHA-256(body) in a signed message's SignedBytes.</summary>
    private static readonly int SignatureLabelLength = FraudFed.Protocol.Masking.Wire.SignatureLabel.Length;

    /// <summary>Digest size in bytes.</summary>
    public const int Size = 32;

    /// <summary>The digest of <paramref name="message"/>, hashing it (one pass over its bytes).</summary>
    public static byte[] Of(ReadOnlySpan<byte> message)
    {
        if (!MaskingWire.TryLocateCanonicalMaskedInputBody(message, out int at, out int length)) return SHA256.HashData(message);
        Span<byte> body = stackalloc byte[Size];
        SHA256.HashData(message.Slice(at, length), body);
        return Derived(message, at, length, body);
    }

    /// <summary>The digest of <paramref name="message"/>, reusing the body digest its decoding computed when
    /// <paramref name="prepared"/> (the mode engine's Prepare result for these exact bytes) is a masked input read in place;
    /// otherwise as <see cref="Of(ReadOnlySpan{byte})"/>. The same value as <see cref="Of(ReadOnlySpan{byte})"/> either way.</summary>
    public static byte[] Of(byte[] message, object? prepared)
    {
        if (prepared is MaskedInput m && !m.BodyInPlace.IsEmpty
            && MemoryMarshal.TryGetArray(m.BodyInPlace, out ArraySegment<byte> body) && ReferenceEquals(body.Array, message)
            && m.SignedBytes.Length == SignatureLabelLength + Size)
        {
            // BodyInPlace is the body TryReadCanonicalMaskedInput found in these bytes (DecodeToAggregatorInPlace's canonical
            // branch, the only one that sets it), and SignedBytes ends with SHA-256 of exactly those bytes (Seal).
            byte[] digest = Derived(message, body.Offset, body.Count, m.SignedBytes.AsSpan(SignatureLabelLength));
            Debug.Assert(CryptographicOperations.FixedTimeEquals(digest, Of(message.AsSpan())));
            return digest;
        }
        return Of(message.AsSpan());
    }

    /// <summary>The digest state files before the derived form stored for every inbound message: SHA-256 of its bytes.</summary>
    public static byte[] Legacy(ReadOnlySpan<byte> message) => SHA256.HashData(message);

    /// <summary>True when <paramref name="message"/> has a derived digest (a canonical masked input), which differs from its
    /// <see cref="Legacy"/> one. Reads the framing only (no hashing).</summary>
    public static bool IsDerived(ReadOnlySpan<byte> message) => MaskingWire.TryLocateCanonicalMaskedInputBody(message, out _, out _);

    private static byte[] Derived(ReadOnlySpan<byte> message, int bodyAt, int bodyLength, ReadOnlySpan<byte> bodyDigest)
    {
        Debug.Assert(bodyDigest.Length == Size && bodyLength > 0 && bodyAt + bodyLength <= message.Length);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> prefixLength = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefixLength, (uint)bodyAt);
        h.AppendData(Label);
        h.AppendData(prefixLength);
        h.AppendData(message[..bodyAt]);
        h.AppendData(bodyDigest);
        h.AppendData(message[(bodyAt + bodyLength)..]);
        return h.GetHashAndReset();
    }
}
