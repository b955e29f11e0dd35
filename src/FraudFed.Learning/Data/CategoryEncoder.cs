// Category encoding that every bank computes identically without a shared vocabulary in the clear:
//   bucket(column, value) = BE64(HMAC-SHA-256(K, UTF8(column) || 0x00 || UTF8(value))[0..8]) mod B
// (RFC 2104 HMAC with SHA-256; value trimmed of spaces; modulo bias below B / 2^64). The feature value is the
// bucket number 0..B-1, a number the GBDT bins exactly: the public fine grid (FeatureBins) gives every integer
// up to 60 its own cell, hence B <= 60 (default 32). Missing cells stay missing (their own bin), never a bucket.
// K is the consortium key (at least 32 bytes, shared by the banks, never by the aggregator); without one, a
// fixed public salt, SHA-256("FraudFed category salt v1"). SECURITY.md ("Categorical features") states what
// the buckets reveal under each choice.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FraudFed.Learning.Data;

/// <summary>Maps category text to one of a fixed number of buckets with a keyed hash (HMAC-SHA-256).</summary>
public sealed class CategoryEncoder : IDisposable
{
    /// <summary>Default number of buckets.</summary>
    public const int DefaultBuckets = 32;
    /// <summary>Most buckets: the fine grid of <see cref="Gbdt.FeatureBins"/> separates every integer up to 60.</summary>
    public const int MaxBuckets = 60;
    /// <summary>Fewest bytes of a consortium key.</summary>
    public const int MinKeyBytes = 32;

    private static readonly byte[] PublicSalt = SHA256.HashData("FraudFed category salt v1"u8);
    private readonly byte[] _key;
    private bool _disposed;

    private CategoryEncoder(ReadOnlySpan<byte> key, int buckets, bool keyed)
    {
        if (buckets is < 2 or > MaxBuckets) throw new ArgumentOutOfRangeException(nameof(buckets), $"Buckets must be in 2..{MaxBuckets}.");
        _key = key.ToArray();
        Buckets = buckets;
        IsKeyed = keyed;
    }

    /// <summary>An encoder under the fixed public salt: identical everywhere, and anyone can recompute it.</summary>
    public static CategoryEncoder Public(int buckets = DefaultBuckets) => new(PublicSalt, buckets, keyed: false);

    /// <summary>An encoder under the consortium key (at least 32 bytes); the key is copied, and cleared on Dispose.</summary>
    /// <exception cref="ArgumentException">a key shorter than 32 bytes.</exception>
    public static CategoryEncoder Keyed(ReadOnlySpan<byte> consortiumKey, int buckets = DefaultBuckets)
    {
        if (consortiumKey.Length < MinKeyBytes)
            throw new ArgumentException($"A consortium key has at least {MinKeyBytes} bytes; this one has {consortiumKey.Length}.", nameof(consortiumKey));
        return new CategoryEncoder(consortiumKey, buckets, keyed: true);
    }

    /// <summary>Number of buckets B.</summary>
    public int Buckets { get; }
    /// <summary>True under a consortium key, false under the public salt.</summary>
    public bool IsKeyed { get; }
    /// <summary>One line for reports.</summary>
    public string Description => $"HMAC-SHA-256 under {(IsKeyed ? "the consortium key" : "the public salt")} into {Buckets} buckets";

    /// <summary>The bucket (0..B-1) of <paramref name="value"/> in <paramref name="column"/>.</summary>
    public int Bucket(string column, ReadOnlySpan<char> value)
    {
        ArgumentNullException.ThrowIfNull(column);
        ObjectDisposedException.ThrowIf(_disposed, this);
        value = value.Trim(' ');
        int length = Encoding.UTF8.GetByteCount(column) + 1 + Encoding.UTF8.GetByteCount(value);
        byte[]? rented = length > 512 ? new byte[length] : null;
        Span<byte> message = rented ?? stackalloc byte[length];
        int n = Encoding.UTF8.GetBytes(column, message);
        message[n++] = 0;
        Encoding.UTF8.GetBytes(value, message[n..]);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, message[..length], mac);
        return (int)(BinaryPrimitives.ReadUInt64BigEndian(mac) % (ulong)Buckets);
    }

    /// <summary>Clears the key.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        CryptographicOperations.ZeroMemory(_key);
        _disposed = true;
    }

    /// <summary>Never prints key bytes.</summary>
    public override string ToString() => Description;
}
