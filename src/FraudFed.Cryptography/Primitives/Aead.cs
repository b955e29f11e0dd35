// AEAD for share transport: AES-256-GCM (NIST SP 800-38D) via .NET AesGcm, 32-byte key, 12-byte nonce,
// 16-byte tag. Output layout (SPEC.md section "AEAD"): ciphertext || tag (tag last, 16 bytes).
// Nonce layout pinned by the protocol: round (u32 BE) || sender (u32 BE) || recipient (u32 BE); each
// channel key is used once per (round, direction), so nonces never repeat under one key.
// Any failed open (ciphertext, tag, nonce or associated data altered) is ProtocolViolationException
// (AuthenticationFailed) and the destination is cleared.
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Primitives;

/// <summary>AES-256-GCM with a pinned layout. Dispose to clear the key.</summary>
internal sealed class Aead : IDisposable
{
    /// <summary>Key size in bytes.</summary>
    public const int KeySize = 32;
    /// <summary>Nonce size in bytes.</summary>
    public const int NonceSize = 12;
    /// <summary>Tag size in bytes.</summary>
    public const int TagSize = 16;

    private readonly AesGcm _gcm;

    /// <summary>Creates the AEAD from a 32-byte key (the caller keeps and clears its copy).</summary>
    public Aead(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize) throw Error.Argument(nameof(key), $"An AEAD key is {KeySize} bytes.");
        _gcm = new AesGcm(key, TagSize);
    }

    /// <summary>The protocol's nonce: round || sender || recipient, each u32 big-endian.</summary>
    public static byte[] Nonce(uint round, uint sender, uint recipient)
    {
        var nonce = new byte[NonceSize];
        BinaryPrimitives.WriteUInt32BigEndian(nonce.AsSpan(0, 4), round);
        BinaryPrimitives.WriteUInt32BigEndian(nonce.AsSpan(4, 4), sender);
        BinaryPrimitives.WriteUInt32BigEndian(nonce.AsSpan(8, 4), recipient);
        return nonce;
    }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="destination"/> = ciphertext || tag.</summary>
    public void Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> destination)
    {
        if (nonce.Length != NonceSize) throw Error.Argument(nameof(nonce), $"The nonce is {NonceSize} bytes.");
        if (destination.Length != plaintext.Length + TagSize) throw Error.Argument(nameof(destination), "The destination must be plaintext length + 16.");
        _gcm.Encrypt(nonce, plaintext, destination[..plaintext.Length], destination[plaintext.Length..], associatedData);
    }

    /// <summary>Encrypts and returns ciphertext || tag.</summary>
    public byte[] Seal(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[plaintext.Length + TagSize];
        Seal(nonce, plaintext, associatedData, output);
        return output;
    }

    /// <summary>Decrypts ciphertext || tag into <paramref name="destination"/>.</summary>
    /// <exception cref="ProtocolViolationException">Authentication failed or the input is shorter than a tag.</exception>
    public void Open(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, Span<byte> destination)
    {
        if (nonce.Length != NonceSize) throw Error.Argument(nameof(nonce), $"The nonce is {NonceSize} bytes.");
        if (sealedData.Length < TagSize) throw Error.Violation(ViolationReason.Malformed, "The sealed data is shorter than a tag.");
        int length = sealedData.Length - TagSize;
        if (destination.Length != length) throw Error.Argument(nameof(destination), "The destination must be sealed length - 16.");
        try
        {
            _gcm.Decrypt(nonce, sealedData[..length], sealedData[length..], destination, associatedData);
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(destination);
            throw Error.Violation(ViolationReason.AuthenticationFailed, "The AEAD tag did not verify.");
        }
    }

    /// <summary>Decrypts and returns the plaintext.</summary>
    public byte[] Open(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData)
    {
        if (sealedData.Length < TagSize) throw Error.Violation(ViolationReason.Malformed, "The sealed data is shorter than a tag.");
        var output = new byte[sealedData.Length - TagSize];
        Open(nonce, sealedData, associatedData, output);
        return output;
    }

    /// <inheritdoc />
    public void Dispose() => _gcm.Dispose();
}
