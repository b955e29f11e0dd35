// X25519 Diffie-Hellman key agreement, RFC 7748 section 5 (curve25519, 32-byte little-endian u-coordinates,
// scalars clamped as in section 5). Backed by BouncyCastle's Rfc7748 implementation, but no BouncyCastle
// type appears in a public signature. A shared secret that is all zero (a low-order peer point, RFC 7748
// section 6.1) is refused with ProtocolViolationException(Malformed). The private scalar lives in one pinned array (the GC
// never copies it) that Dispose zeroes; the shared secret's temporary is zeroed in a finally block.
using System.Security.Cryptography;
using Bc = Org.BouncyCastle.Math.EC.Rfc7748;

namespace FraudFed.Cryptography.Primitives;

/// <summary>An X25519 private key with its public key. Dispose to clear the private key.</summary>
internal sealed class X25519KeyPair : IDisposable
{
    /// <summary>Size of private keys, public keys and shared secrets in bytes.</summary>
    public const int KeySize = 32;

    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;
    private bool _disposed;

    private X25519KeyPair(byte[] privateKey)
    {
        _privateKey = privateKey;
        _publicKey = new byte[KeySize];
        Bc.X25519.GeneratePublicKey(_privateKey, 0, _publicKey, 0);
    }

    /// <summary>Generates a fresh key pair from <paramref name="rng"/> (a CSPRNG in production).</summary>
    public static X25519KeyPair Generate(RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        byte[] k = GC.AllocateArray<byte>(KeySize, pinned: true); // never moved by the GC, so Dispose clears the only copy
        rng.GetBytes(k);
        return new X25519KeyPair(k);
    }

    /// <summary>Imports a 32-byte private scalar (RFC 7748 encoding; clamping is applied at use).</summary>
    public static X25519KeyPair Import(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeySize) throw Error.Argument(nameof(privateKey), $"An X25519 private key is {KeySize} bytes.");
        byte[] k = GC.AllocateArray<byte>(KeySize, pinned: true);
        privateKey.CopyTo(k);
        return new X25519KeyPair(k);
    }

    /// <summary>The 32-byte public u-coordinate.</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>Computes the 32-byte shared secret X25519(private, peer) into <paramref name="destination"/>.</summary>
    /// <exception cref="ProtocolViolationException">The peer key has the wrong length or yields the all-zero secret.</exception>
    public void Agree(ReadOnlySpan<byte> peerPublicKey, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (destination.Length != KeySize) throw Error.Argument(nameof(destination), $"The destination must be {KeySize} bytes.");
        if (peerPublicKey.Length != KeySize) throw Error.Violation(ViolationReason.Malformed, "An X25519 public key must be 32 bytes.");
        byte[] u = peerPublicKey.ToArray();
        byte[] r = new byte[KeySize];
        try
        {
            bool ok = Bc.X25519.CalculateAgreement(_privateKey, 0, u, 0, r, 0);
            if (!ok) throw Error.Violation(ViolationReason.Malformed, "The X25519 peer key is of low order (all-zero shared secret).");
            r.CopyTo(destination);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(r);
        }
    }

    /// <summary>Copies the private key out (for test vectors and key stores only).</summary>
    internal void ExportPrivateKey(Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _privateKey.CopyTo(destination);
    }

    /// <inheritdoc />
    public override string ToString() => $"X25519KeyPair(public={Convert.ToHexStringLower(_publicKey)})";

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CryptographicOperations.ZeroMemory(_privateKey);
    }
}
