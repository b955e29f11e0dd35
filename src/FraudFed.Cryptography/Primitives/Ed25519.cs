// Ed25519 signatures, RFC 8032 section 5.1 (pure Ed25519, no context, no prehash): 32-byte private seed,
// 32-byte public key, 64-byte signature R || S. Backed by BouncyCastle's Rfc8032 implementation, but no
// BouncyCastle type appears in a public signature. FraudFed signs "label || SHA-256(body)" (SPEC.md
// section "Signatures") so that large messages are hashed once by the platform SHA-256. The private seed lives in one
// pinned array (the GC never copies it) that Dispose zeroes; BouncyCastle's own signing temporaries are outside our reach.
using System.Security.Cryptography;
using Bc = Org.BouncyCastle.Math.EC.Rfc8032;

namespace FraudFed.Cryptography.Primitives;

/// <summary>An Ed25519 signing key (RFC 8032 private seed) with its public key. Dispose to clear the seed.</summary>
public sealed class Ed25519SigningKey : IDisposable
{
    /// <summary>Private seed size in bytes.</summary>
    public const int PrivateKeySize = 32;
    /// <summary>Public key size in bytes.</summary>
    public const int PublicKeySize = 32;
    /// <summary>Signature size in bytes.</summary>
    public const int SignatureSize = 64;

    private readonly byte[] _seed;
    private readonly byte[] _publicKey = new byte[PublicKeySize];
    private bool _disposed;

    private Ed25519SigningKey(byte[] seed)
    {
        _seed = seed;
        Bc.Ed25519.GeneratePublicKey(_seed, 0, _publicKey, 0);
    }

    /// <summary>Generates a fresh signing key from <paramref name="rng"/> (a CSPRNG in production).</summary>
    public static Ed25519SigningKey Generate(RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        byte[] seed = GC.AllocateArray<byte>(PrivateKeySize, pinned: true); // never moved by the GC, so Dispose clears the only copy
        rng.GetBytes(seed);
        return new Ed25519SigningKey(seed);
    }

    /// <summary>Imports a 32-byte RFC 8032 private seed.</summary>
    public static Ed25519SigningKey Import(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != PrivateKeySize) throw Error.Argument(nameof(privateKey), $"An Ed25519 private key is {PrivateKeySize} bytes.");
        byte[] seed = GC.AllocateArray<byte>(PrivateKeySize, pinned: true);
        privateKey.CopyTo(seed);
        return new Ed25519SigningKey(seed);
    }

    /// <summary>The 32-byte public key.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>Signs <paramref name="message"/> into a 64-byte <paramref name="signature"/>.</summary>
    public void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (signature.Length != SignatureSize) throw Error.Argument(nameof(signature), $"The signature buffer must be {SignatureSize} bytes.");
        byte[] m = message.ToArray();
        byte[] sig = new byte[SignatureSize];
        Bc.Ed25519.Sign(_seed, 0, m, 0, m.Length, sig, 0);
        sig.CopyTo(signature);
    }

    /// <summary>Signs <paramref name="message"/> and returns the 64-byte signature.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        var sig = new byte[SignatureSize];
        Sign(message, sig);
        return sig;
    }

    /// <summary>Verifies an Ed25519 signature. Wrong lengths, and a public key that is no valid point encoding, verify as false.</summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeySize || signature.Length != SignatureSize) return false;
        Bc.Ed25519.PublicPoint? point = DecodedPublicKey(publicKey);
        if (point is null) return false;
        byte[] m = message.ToArray();
        return Bc.Ed25519.Verify(signature.ToArray(), 0, point, m, 0, m.Length);
    }

    // Decoded public keys (the point decompression, a field exponentiation, is part of every verification otherwise): a process
    // verifies the same few roster keys once or more per round. Public data only; bounded, beyond the bound a key is decoded
    // each time. The decoding runs the same checks as BouncyCastle's Verify over the encoded key (canonical encoding, not one
    // of the small-order points, on the curve); a key that fails them is not cached and verifies nothing.
    private const int DecodedKeyCapacity = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<KeyBytes, Bc.Ed25519.PublicPoint> DecodedKeys = new();

    private static Bc.Ed25519.PublicPoint? DecodedPublicKey(ReadOnlySpan<byte> publicKey)
    {
        var key = new KeyBytes(publicKey);
        if (DecodedKeys.TryGetValue(key, out Bc.Ed25519.PublicPoint? cached)) return cached;
        Bc.Ed25519.PublicPoint? point = Bc.Ed25519.ValidatePublicKeyPartialExport(publicKey.ToArray(), 0);
        if (point is not null && DecodedKeys.Count < DecodedKeyCapacity) DecodedKeys.TryAdd(key, point);
        return point;
    }

    /// <summary>The 32 bytes of a public key as a dictionary key.</summary>
    private readonly record struct KeyBytes(ulong A, ulong B, ulong C, ulong D)
    {
        public KeyBytes(ReadOnlySpan<byte> key)
            : this(BitConverter.ToUInt64(key), BitConverter.ToUInt64(key[8..]), BitConverter.ToUInt64(key[16..]), BitConverter.ToUInt64(key[24..])) { }
    }

    /// <inheritdoc />
    public override string ToString() => $"Ed25519SigningKey(public={Convert.ToHexStringLower(_publicKey)})";

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CryptographicOperations.ZeroMemory(_seed);
    }
}
