// HKDF-SHA256, RFC 5869 (extract-then-expand), via System.Security.Cryptography.HKDF.
// FraudFed's domain-separation labels (ASCII, no terminator) live here and in protocols/SPEC.md
// section "KDF labels"; every derivation's info = label || fixed-width big-endian context fields.
// Output length bound: 255 * 32 bytes (RFC 5869 section 2.3).
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FraudFed.Cryptography.Primitives;

/// <summary>HKDF-SHA256 and FraudFed's pinned derivation labels.</summary>
internal static class Kdf
{
    /// <summary>Label: per-pair AEAD channel key from the X25519 channel-key agreement (once per session).</summary>
    public static readonly byte[] ChannelLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/channel-key");
    /// <summary>Label: per-pair session master secret from the X25519 mask-key agreement (once per session).</summary>
    public static readonly byte[] PairwiseMasterLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/pairwise-master");
    /// <summary>Label: per-round pairwise mask seed derived from the pair's session master.</summary>
    public static readonly byte[] PairwiseMaskLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/pairwise-mask");
    /// <summary>Label: one-time pad that escrows a round's pairwise seed under the bank's round escrow key.</summary>
    public static readonly byte[] EscrowLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/pairwise-escrow");
    /// <summary>Label: PRG seed of the self mask from the round's self-mask secret b_i.</summary>
    public static readonly byte[] SelfMaskLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/self-mask");

    /// <summary>Hash output size of SHA-256 in bytes.</summary>
    public const int HashSize = 32;

    /// <summary>HKDF-Extract-and-Expand (RFC 5869 section 2) into <paramref name="output"/>.</summary>
    public static void DeriveKey(ReadOnlySpan<byte> ikm, Span<byte> output, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info)
    {
        if (output.Length is 0 or > 255 * HashSize) throw Error.Argument(nameof(output), "HKDF output must be 1..8160 bytes.");
        HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, output, salt, info);
    }

    /// <summary>HKDF-Extract (RFC 5869 section 2.2) into a 32-byte <paramref name="prk"/>.</summary>
    public static void Extract(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> salt, Span<byte> prk)
    {
        if (prk.Length != HashSize) throw Error.Argument(nameof(prk), "A PRK is 32 bytes.");
        HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt, prk);
    }

    /// <summary>HKDF-Expand (RFC 5869 section 2.3) from a PRK of at least 32 bytes.</summary>
    public static void Expand(ReadOnlySpan<byte> prk, Span<byte> output, ReadOnlySpan<byte> info)
    {
        if (prk.Length < HashSize) throw Error.Argument(nameof(prk), "A PRK is at least 32 bytes.");
        if (output.Length is 0 or > 255 * HashSize) throw Error.Argument(nameof(output), "HKDF output must be 1..8160 bytes.");
        HKDF.Expand(HashAlgorithmName.SHA256, prk, output, info);
    }

    /// <summary>Builds info = label || each field as a 4-byte big-endian unsigned integer.</summary>
    public static byte[] Info(ReadOnlySpan<byte> label, params ReadOnlySpan<uint> fields)
    {
        var info = new byte[label.Length + 4 * fields.Length];
        label.CopyTo(info);
        for (int i = 0; i < fields.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(label.Length + 4 * i, 4), fields[i]);
        return info;
    }
}
