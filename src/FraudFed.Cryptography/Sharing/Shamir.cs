// Shamir t-of-n secret sharing (Shamir, CACM 1979) over the prime field GF(p).
// Production field: p = 2^521 - 1 (a Mersenne prime), so any 256-bit secret (a 32-byte seed read as an
// unsigned big-endian integer) is a field element. Share of holder x (x = 1..n, never 0) is f(x) with
// f(0) = secret and t-1 coefficients uniform in [0, p) drawn from the injected RNG by rejection sampling.
// Reconstruction: Lagrange interpolation at 0 from any t shares with distinct x. Any t-1 shares are
// uniformly distributed and independent of the secret. BigInteger is used: sharing is not the hot path.
// Encoding (SPEC.md "Shamir encoding"): x as u32 big-endian, y as ceil(bits(p)/8) bytes big-endian
// (66 bytes for 2^521-1); a y >= p is malformed.
using System.Numerics;
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Sharing;

/// <summary>One Shamir share: the point (X, Y) with Y = f(X) mod p.</summary>
public readonly record struct ShamirShare(int X, BigInteger Y)
{
    /// <inheritdoc />
    public override string ToString() => $"ShamirShare(x={X})"; // never print Y
}

/// <summary>Shamir sharing over a fixed prime field.</summary>
public sealed class Shamir
{
    /// <summary>The production field, p = 2^521 - 1.</summary>
    public static Shamir P521 { get; } = new(BigInteger.Pow(2, 521) - 1);

    /// <summary>Creates a scheme over GF(<paramref name="prime"/>). The caller asserts primality (tests use small primes).</summary>
    public Shamir(BigInteger prime)
    {
        if (prime < 3) throw Error.Argument(nameof(prime), "The modulus must be a prime >= 3.");
        Prime = prime;
        ElementSize = (int)((prime - 1).GetBitLength() + 7) / 8;
    }

    /// <summary>The field modulus p.</summary>
    public BigInteger Prime { get; }

    /// <summary>Bytes per encoded field element (66 for 2^521-1).</summary>
    public int ElementSize { get; }

    /// <summary>Bytes per encoded share: 4 (x) + ElementSize (y).</summary>
    public int ShareSize => 4 + ElementSize;

    /// <summary>Splits <paramref name="secret"/> (0 &lt;= secret &lt; p) into shares for x = 1..n, any t of which reconstruct.</summary>
    public ShamirShare[] Split(BigInteger secret, int threshold, int holders, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (secret.Sign < 0 || secret >= Prime) throw Error.Argument(nameof(secret), "The secret must be a field element.");
        if (threshold < 1) throw Error.OutOfRange(nameof(threshold), "The threshold must be at least 1.");
        if (holders < threshold) throw Error.OutOfRange(nameof(holders), "There must be at least t holders.");
        int[] xs = new int[holders];
        for (int i = 0; i < holders; i++) xs[i] = i + 1;
        return SplitAt(secret, threshold, xs, rng);
    }

    /// <summary>Splits <paramref name="secret"/> for the given distinct non-zero x coordinates.</summary>
    public ShamirShare[] SplitAt(BigInteger secret, int threshold, ReadOnlySpan<int> xs, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (secret.Sign < 0 || secret >= Prime) throw Error.Argument(nameof(secret), "The secret must be a field element.");
        if (threshold < 1 || threshold > xs.Length) throw Error.OutOfRange(nameof(threshold), "Need 1 <= t <= number of holders.");
        var seen = new HashSet<int>();
        foreach (int x in xs)
            if (x <= 0 || BigInteger.Compare(x, Prime) >= 0 || !seen.Add(x)) throw Error.Argument(nameof(xs), "x coordinates must be distinct, non-zero field elements.");
        var coefficients = new BigInteger[threshold];
        coefficients[0] = secret;
        for (int i = 1; i < threshold; i++) coefficients[i] = RandomElement(rng);
        var shares = new ShamirShare[xs.Length];
        for (int h = 0; h < xs.Length; h++)
        {
            BigInteger x = xs[h], y = BigInteger.Zero;
            for (int c = threshold - 1; c >= 0; c--) y = (y * x + coefficients[c]) % Prime; // Horner
            shares[h] = new ShamirShare(xs[h], y);
        }
        Array.Clear(coefficients);
        return shares;
    }

    /// <summary>Reconstructs f(0) from shares with distinct x (uses all given shares; pass exactly t for speed).</summary>
    /// <exception cref="ProtocolViolationException">Duplicate or invalid x, or a y outside the field.</exception>
    public BigInteger Reconstruct(ReadOnlySpan<ShamirShare> shares)
    {
        if (shares.Length == 0) throw Error.Violation(ViolationReason.TooFewParticipants, "No shares to reconstruct from.");
        var seen = new HashSet<int>();
        foreach (ShamirShare s in shares)
        {
            if (s.X <= 0 || BigInteger.Compare(s.X, Prime) >= 0 || !seen.Add(s.X)) throw Error.Violation(ViolationReason.Malformed, "Share x coordinates must be distinct and non-zero.");
            if (s.Y.Sign < 0 || s.Y >= Prime) throw Error.Violation(ViolationReason.OutOfRange, "A share value is not a field element.");
        }
        return ReconstructCore(shares);
    }

    internal BigInteger ReconstructCore(ReadOnlySpan<ShamirShare> shares)
    {
        int[] xs = new int[shares.Length];
        for (int i = 0; i < xs.Length; i++) xs[i] = shares[i].X;
        BigInteger[] lambda = LagrangeAtZero(xs);
        BigInteger result = BigInteger.Zero;
        for (int i = 0; i < shares.Length; i++) result += shares[i].Y * lambda[i];
        return result % Prime;
    }

    /// <summary>
    /// Lagrange coefficients at 0 for distinct x: lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p.
    /// One modular inversion per x-set (batch inversion), cached: unmasking reuses the same responders
    /// for every bank's secret.
    /// </summary>
    internal BigInteger[] LagrangeAtZero(int[] xs)
    {
        string key = string.Join(',', xs);
        if (_lagrangeCache.TryGetValue(key, out BigInteger[]? cached)) return cached;
        int t = xs.Length;
        var num = new BigInteger[t];
        var den = new BigInteger[t];
        for (int i = 0; i < t; i++)
        {
            BigInteger n = BigInteger.One, d = BigInteger.One;
            for (int j = 0; j < t; j++)
            {
                if (j == i) continue;
                n = n * xs[j] % Prime;
                d = d * Mod((BigInteger)xs[j] - xs[i]) % Prime;
            }
            num[i] = n;
            den[i] = d;
        }
        // Batch inversion: prefix products, one inverse, then walk back.
        var prefix = new BigInteger[t + 1];
        prefix[0] = BigInteger.One;
        for (int i = 0; i < t; i++) prefix[i + 1] = prefix[i] * den[i] % Prime;
        BigInteger inv = BigInteger.ModPow(prefix[t], Prime - 2, Prime);
        var lambda = new BigInteger[t];
        for (int i = t - 1; i >= 0; i--)
        {
            lambda[i] = num[i] * (inv * prefix[i] % Prime) % Prime;
            inv = inv * den[i] % Prime;
        }
        if (_lagrangeCache.Count > 4096) _lagrangeCache.Clear();
        _lagrangeCache[key] = lambda;
        return lambda;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, BigInteger[]> _lagrangeCache = new();

    /// <summary>Encodes a share: x (u32 BE) || y (ElementSize bytes BE).</summary>
    public void Encode(ShamirShare share, Span<byte> destination)
    {
        if (destination.Length != ShareSize) throw Error.Argument(nameof(destination), $"A share encodes to {ShareSize} bytes.");
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)share.X);
        EncodeElement(share.Y, destination[4..]);
    }

    /// <summary>Decodes a share, refusing a y that is not a field element or x = 0.</summary>
    public ShamirShare Decode(ReadOnlySpan<byte> source)
    {
        if (source.Length != ShareSize) throw Error.Violation(ViolationReason.Malformed, $"A share is {ShareSize} bytes.");
        uint x = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(source);
        if (x == 0 || x > int.MaxValue) throw Error.Violation(ViolationReason.Malformed, "A share's x must be non-zero.");
        return new ShamirShare((int)x, DecodeElement(source[4..]));
    }

    /// <summary>Writes a field element big-endian in exactly ElementSize bytes.</summary>
    public void EncodeElement(BigInteger value, Span<byte> destination)
    {
        if (destination.Length != ElementSize) throw Error.Argument(nameof(destination), $"A field element encodes to {ElementSize} bytes.");
        if (value.Sign < 0 || value >= Prime) throw Error.Argument(nameof(value), "Not a field element.");
        destination.Clear();
        int length = value.GetByteCount(isUnsigned: true);
        if (!value.TryWriteBytes(destination[(ElementSize - length)..], out _, isUnsigned: true, isBigEndian: true))
            throw new CryptographicException("Field element encoding failed.");
    }

    /// <summary>Reads a big-endian field element of ElementSize bytes, refusing values >= p.</summary>
    public BigInteger DecodeElement(ReadOnlySpan<byte> source)
    {
        if (source.Length != ElementSize) throw Error.Violation(ViolationReason.Malformed, $"A field element is {ElementSize} bytes.");
        var value = new BigInteger(source, isUnsigned: true, isBigEndian: true);
        if (value >= Prime) throw Error.Violation(ViolationReason.OutOfRange, "A share value is not a field element.");
        return value;
    }

    /// <summary>A uniform field element by rejection sampling on ElementSize bytes masked to bits(p).</summary>
    internal BigInteger RandomElement(RandomNumberGenerator rng)
    {
        int bits = (int)(Prime - 1).GetBitLength();
        byte[] buffer = new byte[ElementSize];
        int topBits = bits - 8 * (ElementSize - 1);
        byte topMask = (byte)((1 << topBits) - 1);
        try
        {
            while (true)
            {
                rng.GetBytes(buffer);
                buffer[0] &= topMask;
                var candidate = new BigInteger(buffer, isUnsigned: true, isBigEndian: true);
                if (candidate < Prime) return candidate;
            }
        }
        finally { CryptographicOperations.ZeroMemory(buffer); }
    }

    private BigInteger Mod(BigInteger v)
    {
        BigInteger r = v % Prime;
        return r.Sign < 0 ? r + Prime : r;
    }

    /// <summary>Reads a 32-byte seed as an unsigned big-endian integer (always below 2^256 &lt; p).</summary>
    public static BigInteger SeedToElement(ReadOnlySpan<byte> seed) => new(seed, isUnsigned: true, isBigEndian: true);

    /// <summary>Writes a reconstructed secret back as a 32-byte big-endian seed; values >= 2^256 are malformed.</summary>
    public static void ElementToSeed(BigInteger value, Span<byte> seed)
    {
        if (seed.Length != 32) throw Error.Argument(nameof(seed), "A seed is 32 bytes.");
        if (value.Sign < 0 || value.GetBitLength() > 256) throw Error.Violation(ViolationReason.Malformed, "The reconstructed secret is not a 256-bit seed.");
        seed.Clear();
        int length = value.GetByteCount(isUnsigned: true);
        value.TryWriteBytes(seed[(32 - length)..], out _, isUnsigned: true, isBigEndian: true);
    }
}
