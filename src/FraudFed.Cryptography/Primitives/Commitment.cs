// Hash commitments: c = SHA-256(label || 0x00 || opening(32 random bytes) || value). Binding under SHA-256
// collision resistance, hiding with a 256-bit uniformly random opening (random-oracle model).
// Verification compares with CryptographicOperations.FixedTimeEquals. Layout in SPEC.md 5 (commitments).
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Primitives;

/// <summary>SHA-256 commitments with a domain-separation label.</summary>
internal static class Commitment
{
    /// <summary>Commitment size in bytes.</summary>
    public const int Size = 32;
    /// <summary>Opening (blinding) size in bytes.</summary>
    public const int OpeningSize = 32;

    /// <summary>Computes the commitment to <paramref name="value"/> with <paramref name="opening"/>.</summary>
    public static void Commit(ReadOnlySpan<byte> label, ReadOnlySpan<byte> opening, ReadOnlySpan<byte> value, Span<byte> commitment)
    {
        if (opening.Length != OpeningSize) throw Error.Argument(nameof(opening), $"The opening is {OpeningSize} bytes.");
        if (commitment.Length != Size) throw Error.Argument(nameof(commitment), $"The commitment is {Size} bytes.");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(label);
        hash.AppendData([0]);
        hash.AppendData(opening);
        hash.AppendData(value);
        if (!hash.TryGetHashAndReset(commitment, out _)) throw new CryptographicException("SHA-256 failed.");
    }

    /// <summary>Draws a fresh opening from <paramref name="rng"/> and returns (commitment, opening).</summary>
    public static (byte[] Commitment, byte[] Opening) Create(ReadOnlySpan<byte> label, ReadOnlySpan<byte> value, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var opening = new byte[OpeningSize];
        rng.GetBytes(opening);
        var c = new byte[Size];
        Commit(label, opening, value, c);
        return (c, opening);
    }

    /// <summary>True if <paramref name="commitment"/> opens to <paramref name="value"/>; constant time in the commitment bytes.</summary>
    public static bool Verify(ReadOnlySpan<byte> label, ReadOnlySpan<byte> commitment, ReadOnlySpan<byte> opening, ReadOnlySpan<byte> value)
    {
        if (commitment.Length != Size || opening.Length != OpeningSize) return false;
        Span<byte> expected = stackalloc byte[Size];
        Commit(label, opening, value, expected);
        return CryptographicOperations.FixedTimeEquals(expected, commitment);
    }
}
