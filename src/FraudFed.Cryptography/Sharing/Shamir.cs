// Shamir t-of-n secret sharing (Shamir, CACM 1979) over GF(p), p = 2^521 - 1 (a Mersenne prime), so any 256-bit secret
// (a 32-byte seed read as an unsigned big-endian integer) is a field element. Share of holder x (x = 1..n, never 0) is
// f(x) with f(0) = secret and t-1 coefficients uniform in [0, p) drawn from the injected RNG by rejection sampling: 66 bytes,
// the first masked with 0x01, rejected when >= p (probability 2^-521). Reconstruction: Lagrange interpolation at 0 from any t
// shares with distinct x. Any t-1 shares are uniformly distributed and independent of the secret.
// Arithmetic: Gf521 (nine 64-bit limbs, constant time: schoolbook products, Mersenne folding, Fermat inversion by a fixed
// addition chain). Secrets, coefficients and share values live in FieldElement521 (pinned limbs zeroed on Dispose) or in
// stack temporaries zeroed in finally blocks; nothing secret goes through System.Numerics.BigInteger. The x coordinates and
// Lagrange weights are public (the weights are cached per x-set: unmasking reuses one responder set for many secrets).
// Encoding (SPEC.md section 6): x as u32 big-endian, y as 66 bytes big-endian; a y >= p is OutOfRange, x = 0 Malformed.
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Sharing;

/// <summary>One Shamir share: the point (X, Y) with Y = f(X) mod p. Owns <see cref="Y"/>; Dispose zeroes it.</summary>
internal sealed class ShamirShare : IDisposable
{
    /// <summary>Creates a share, taking ownership of <paramref name="y"/> (disposing the share disposes it).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="x"/> is not positive.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="y"/> is null.</exception>
    public ShamirShare(int x, FieldElement521 y)
    {
        if (x <= 0) throw Error.OutOfRange(nameof(x), "A share's x coordinate is a positive integer.");
        ArgumentNullException.ThrowIfNull(y);
        X = x;
        Y = y;
    }

    /// <summary>The holder's x coordinate (bank id + 1 in masking mode).</summary>
    public int X { get; }

    /// <summary>The share's value f(X), secret.</summary>
    public FieldElement521 Y { get; }

    /// <summary>Zeroes the value.</summary>
    public void Dispose() => Y.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"ShamirShare(x={X})"; // never print Y
}

/// <summary>Shamir sharing over GF(2^521 - 1) (SPEC.md section 6).</summary>
internal sealed class Shamir
{
    private const int StackLimbsLimit = 64 * Gf521.LimbCount; // coefficient polynomials up to t = 64 live on the stack

    /// <summary>The production (and only) field, p = 2^521 - 1.</summary>
    public static Shamir P521 { get; } = new();

    private Shamir() { }

    /// <summary>Bytes per encoded field element: 66.</summary>
    public int ElementSize => FieldElement521.EncodedSize;

    /// <summary>Bytes per encoded share: 4 (x) + 66 (y).</summary>
    public int ShareSize => 4 + ElementSize;

    /// <summary>Splits <paramref name="secret"/> into shares for x = 1..<paramref name="holders"/>, any <paramref name="threshold"/> of which reconstruct.</summary>
    /// <returns>One share per holder; the caller disposes them.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="secret"/> or <paramref name="rng"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">t &lt; 1 or fewer holders than t.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="secret"/> was disposed.</exception>
    public ShamirShare[] Split(FieldElement521 secret, int threshold, int holders, RandomNumberGenerator rng)
    {
        if (threshold < 1) throw Error.OutOfRange(nameof(threshold), "The threshold must be at least 1.");
        if (holders < threshold) throw Error.OutOfRange(nameof(holders), "There must be at least t holders.");
        int[] xs = new int[holders];
        for (int i = 0; i < holders; i++) xs[i] = i + 1;
        return SplitAt(secret, threshold, xs, rng);
    }

    /// <summary>
    /// Splits <paramref name="secret"/> for the given distinct positive x coordinates: f(X) = secret + a_1 X + ... + a_{t-1} X^{t-1},
    /// the a_i drawn in order from <paramref name="rng"/> (66 bytes each, first byte masked with 0x01, rejected when &gt;= p).
    /// </summary>
    /// <returns>One share per x, in the order of <paramref name="xs"/>; the caller disposes them.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="secret"/> or <paramref name="rng"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Not 1 &lt;= t &lt;= number of x coordinates.</exception>
    /// <exception cref="ArgumentException">An x is not positive or appears twice.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="secret"/> was disposed.</exception>
    public ShamirShare[] SplitAt(FieldElement521 secret, int threshold, ReadOnlySpan<int> xs, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(rng);
        if (threshold < 1 || threshold > xs.Length) throw Error.OutOfRange(nameof(threshold), "Need 1 <= t <= number of holders.");
        var seen = new HashSet<int>();
        foreach (int x in xs)
            if (x <= 0 || !seen.Add(x)) throw Error.Argument(nameof(xs), "x coordinates must be distinct, positive integers.");
        ReadOnlySpan<ulong> s = secret.Limbs; // throws when disposed, before any randomness is drawn

        int words = threshold * Gf521.LimbCount;
        Span<ulong> coefficients = words <= StackLimbsLimit ? stackalloc ulong[words] : new ulong[words];
        byte[] sample = new byte[Gf521.ByteCount];
        Limbs521 y = default;
        var shares = new ShamirShare[xs.Length];
        int made = 0;
        try
        {
            s.CopyTo(coefficients);
            for (int c = 1; c < threshold; c++) RandomElement(rng, sample, coefficients.Slice(c * Gf521.LimbCount, Gf521.LimbCount));
            for (int h = 0; h < xs.Length; h++)
            {
                uint x = (uint)xs[h];
                ((Span<ulong>)y).Clear();
                for (int c = threshold - 1; c >= 0; c--) // Horner: y = y x + a_c
                {
                    Gf521.MulSmall(y, x, y);
                    Gf521.Add(y, coefficients.Slice(c * Gf521.LimbCount, Gf521.LimbCount), y);
                }
                var value = new FieldElement521();
                ((ReadOnlySpan<ulong>)y).CopyTo(value.Limbs);
                shares[h] = new ShamirShare(xs[h], value);
                made++;
            }
            return shares;
        }
        catch
        {
            for (int h = 0; h < made; h++) shares[h].Dispose();
            throw;
        }
        finally
        {
            Gf521.Clear(coefficients);
            Gf521.Clear(y);
            CryptographicOperations.ZeroMemory(sample);
        }
    }

    /// <summary>Reconstructs f(0) from shares with distinct x by Lagrange interpolation (uses all given shares; pass exactly t for speed).</summary>
    /// <returns>The secret; the caller disposes it.</returns>
    /// <exception cref="ProtocolViolationException">TooFewParticipants (no share), Malformed (duplicate x).</exception>
    /// <exception cref="ArgumentNullException">A share is null.</exception>
    /// <exception cref="ObjectDisposedException">A share was disposed.</exception>
    public FieldElement521 Reconstruct(ReadOnlySpan<ShamirShare> shares)
    {
        if (shares.Length == 0) throw Error.Violation(ViolationReason.TooFewParticipants, "No shares to reconstruct from.");
        var seen = new HashSet<int>();
        foreach (ShamirShare s in shares)
        {
            if (s is null) throw new ArgumentNullException(nameof(shares), "A share is null.");
            if (!seen.Add(s.X)) throw Error.Violation(ViolationReason.Malformed, "Share x coordinates must be distinct.");
            ObjectDisposedException.ThrowIf(s.Y.IsDisposed, s.Y);
        }
        return ReconstructCore(shares);
    }

    internal FieldElement521 ReconstructCore(ReadOnlySpan<ShamirShare> shares)
    {
        int[] xs = new int[shares.Length];
        for (int i = 0; i < xs.Length; i++) xs[i] = shares[i].X;
        Limbs521[] lambda = LagrangeAtZero(xs);
        var result = new FieldElement521();
        Span<ulong> acc = result.Limbs; // 0
        Limbs521 term = default;
        try
        {
            for (int i = 0; i < shares.Length; i++)
            {
                Gf521.Mul(shares[i].Y.Limbs, lambda[i], term);
                Gf521.Add(acc, term, acc);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
        finally { Gf521.Clear(term); }
    }

    /// <summary>
    /// Lagrange coefficients at 0 for distinct positive x: lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p. Public values: one
    /// field inversion per x-set (batch inversion over the denominators), cached.
    /// </summary>
    internal Limbs521[] LagrangeAtZero(int[] xs)
    {
        string key = string.Join(',', xs);
        if (_lagrangeCache.TryGetValue(key, out Limbs521[]? cached)) return cached;
        int t = xs.Length;
        var num = new Limbs521[t];
        var den = new Limbs521[t];
        Limbs521 xi = default, xj = default, diff = default;
        for (int i = 0; i < t; i++)
        {
            Gf521.FromUInt32(1, num[i]);
            Gf521.FromUInt32(1, den[i]);
            Gf521.FromUInt32((uint)xs[i], xi);
            for (int j = 0; j < t; j++)
            {
                if (j == i) continue; // public indices
                Gf521.FromUInt32((uint)xs[j], xj);
                Gf521.MulSmall(num[i], (uint)xs[j], num[i]);
                Gf521.Sub(xj, xi, diff);
                Gf521.Mul(den[i], diff, den[i]);
            }
        }
        // Batch inversion: prefix products, one inverse, then walk back.
        var prefix = new Limbs521[t + 1];
        Gf521.FromUInt32(1, prefix[0]);
        for (int i = 0; i < t; i++) Gf521.Mul(prefix[i], den[i], prefix[i + 1]);
        // prefix[t] != 0: the x are distinct positive integers below 2^31 < p (checked by the callers), so no x_j - x_i vanishes.
        Limbs521 inv = default, w = default;
        Gf521.Invert(prefix[t], inv);
        var lambda = new Limbs521[t];
        for (int i = t - 1; i >= 0; i--)
        {
            Gf521.Mul(inv, prefix[i], w);      // 1 / den_i
            Gf521.Mul(num[i], w, lambda[i]);
            Gf521.Mul(inv, den[i], inv);       // 1 / (den_0 ... den_{i-1})
        }
        if (_lagrangeCache.Count > 4096) _lagrangeCache.Clear();
        _lagrangeCache[key] = lambda;
        return lambda;
    }

    private readonly ConcurrentDictionary<string, Limbs521[]> _lagrangeCache = new();

    /// <summary>Encodes a share: x (u32 big-endian) || y (66 bytes big-endian).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="share"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not <see cref="ShareSize"/> bytes.</exception>
    /// <exception cref="ObjectDisposedException">The share was disposed.</exception>
    public void Encode(ShamirShare share, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(share);
        if (destination.Length != ShareSize) throw Error.Argument(nameof(destination), $"A share encodes to {ShareSize} bytes.");
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)share.X);
        EncodeElement(share.Y, destination[4..]);
    }

    /// <summary>Decodes an untrusted share encoding.</summary>
    /// <returns>The share; the caller disposes it.</returns>
    /// <exception cref="ProtocolViolationException">Malformed (length, or x = 0 or x &gt;= 2^31), OutOfRange (y &gt;= p).</exception>
    public ShamirShare Decode(ReadOnlySpan<byte> source)
    {
        if (source.Length != ShareSize) throw Error.Violation(ViolationReason.Malformed, $"A share is {ShareSize} bytes.");
        uint x = BinaryPrimitives.ReadUInt32BigEndian(source);
        if (x == 0 || x > int.MaxValue) throw Error.Violation(ViolationReason.Malformed, "A share's x must be a positive 31-bit integer.");
        return new ShamirShare((int)x, DecodeElement(source[4..]));
    }

    /// <summary>Writes a field element big-endian in exactly 66 bytes (SPEC.md section 6).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not 66 bytes.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="value"/> was disposed.</exception>
    public void EncodeElement(FieldElement521 value, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (destination.Length != ElementSize) throw Error.Argument(nameof(destination), $"A field element encodes to {ElementSize} bytes.");
        Gf521.Encode(value.Limbs, destination);
    }

    /// <summary>Reads an untrusted 66-byte big-endian field element.</summary>
    /// <returns>The element; the caller disposes it.</returns>
    /// <exception cref="ProtocolViolationException">Malformed (not 66 bytes), OutOfRange (value &gt;= p).</exception>
    public FieldElement521 DecodeElement(ReadOnlySpan<byte> source)
    {
        if (source.Length != ElementSize) throw Error.Violation(ViolationReason.Malformed, $"A field element is {ElementSize} bytes.");
        var value = new FieldElement521();
        if (!Gf521.TryDecode(source, value.Limbs))
        {
            value.Dispose();
            throw Error.Violation(ViolationReason.OutOfRange, "A share value is not a field element.");
        }
        return value;
    }

    /// <summary>Checks that an untrusted 66-byte encoding is a field element (below p) without keeping its value.</summary>
    /// <exception cref="ProtocolViolationException">Malformed (not 66 bytes), OutOfRange (value &gt;= p).</exception>
    public void ValidateElement(ReadOnlySpan<byte> source)
    {
        if (source.Length != ElementSize) throw Error.Violation(ViolationReason.Malformed, $"A field element is {ElementSize} bytes.");
        Limbs521 scratch = default;
        bool valid = Gf521.TryDecode(source, scratch);
        Gf521.Clear(scratch);
        if (!valid) throw Error.Violation(ViolationReason.OutOfRange, "A share value is not a field element.");
    }

    /// <summary>
    /// A uniform field element into <paramref name="destination"/>: 66 bytes from <paramref name="rng"/> into
    /// <paramref name="sample"/>, the first byte masked with 0x01 (521 bits), rejected and redrawn when &gt;= p.
    /// </summary>
    internal static void RandomElement(RandomNumberGenerator rng, byte[] sample, Span<ulong> destination)
    {
        Debug.Assert(sample.Length == Gf521.ByteCount && destination.Length == Gf521.LimbCount);
        const byte TopMask = (1 << (Gf521.Bits - 8 * (Gf521.ByteCount - 1))) - 1; // 0x01
        while (true)
        {
            rng.GetBytes(sample);
            sample[0] &= TopMask;
            if (Gf521.TryDecode(sample, destination)) return; // public verdict; the rejection has probability 2^-521
        }
    }

    /// <summary>Reads a 32-byte seed as an unsigned big-endian integer, always below 2^256 &lt; p (SPEC.md section 6).</summary>
    /// <returns>The element; the caller disposes it.</returns>
    /// <exception cref="ArgumentException"><paramref name="seed"/> is not 32 bytes.</exception>
    public static FieldElement521 SeedToElement(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != 32) throw Error.Argument(nameof(seed), "A seed is 32 bytes.");
        var value = new FieldElement521();
        Span<ulong> limbs = value.Limbs;
        for (int k = 0; k < 4; k++) limbs[k] = BinaryPrimitives.ReadUInt64BigEndian(seed.Slice(32 - 8 * (k + 1), 8));
        return value;
    }

    /// <summary>Writes a reconstructed secret back as a 32-byte big-endian seed (SPEC.md section 6).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="seed"/> is not 32 bytes.</exception>
    /// <exception cref="ProtocolViolationException">Malformed: the value is 2^256 or more (the shares were not of a seed).</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="value"/> was disposed.</exception>
    public static void ElementToSeed(FieldElement521 value, Span<byte> seed)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (seed.Length != 32) throw Error.Argument(nameof(seed), "A seed is 32 bytes.");
        ReadOnlySpan<ulong> limbs = value.Limbs;
        ulong above = 0;
        for (int k = 4; k < Gf521.LimbCount; k++) above |= limbs[k];
        if (above != 0) throw Error.Violation(ViolationReason.Malformed, "The reconstructed secret is not a 256-bit seed.");
        for (int k = 0; k < 4; k++) BinaryPrimitives.WriteUInt64BigEndian(seed.Slice(32 - 8 * (k + 1), 8), limbs[k]);
    }
}
