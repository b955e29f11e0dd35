// Gf521: constant-time arithmetic in GF(p), p = 2^521 - 1 (a Mersenne prime; the field of Shamir sharing, SPEC.md
// section 6; also the base field of NIST P-521, SP 800-186 section 3.2.1.5).
//
// Representation: nine 64-bit limbs, little-endian (limb 0 least significant, limb 8 holds bits 512..520), 521 bits.
// Every function takes and returns fully reduced elements 0 <= x < p; outputs may alias inputs.
// Constant time: fixed loop bounds, no branch and no memory index that depends on a value. Carries and borrows are
// computed with the bitwise majority formulas of Hacker's Delight (2nd ed.) section 2-13, never with comparisons;
// 64 x 64 -> 128-bit products with Math.BigMul (one MUL/MULX, constant time on x64 and arm64).
//   add        a + b < 2^522, then reduce
//   sub        a + (p - b), where p - b = p XOR b limb by limb (p is 521 one bits, b <= p), then reduce
//   mul        schoolbook 9 x 9 limbs into 18, then Mersenne folding: x = hi * 2^521 + lo and 2^521 = 1 (mod p), so
//              x = lo + hi (mod p) with lo, hi < 2^521 for x < 2^1042; by a public 32-bit factor (an x coordinate in
//              Horner's rule and the Lagrange numerators) nine limb products and the same reduction
//   reduce     fold once more (v mod 2^521 + v >> 521), then subtract p once in constant time if v >= p (v >= p exactly
//              when v + 1 carries into bit 521)
//   invert     Fermat, x^(p-2), p - 2 = 2^521 - 3, by one fixed addition chain over x_k = x^(2^k - 1)
//              (x_(a+b) = x_a^(2^b) * x_b): x_2, x_3, x_4, x_7, x_8, x_16, ..., x_512, x_519, then x_519^4 * x:
//              524 squarings and 13 multiplications for every input (the exponent is public). 0 is refused.
// Wide and intermediate stack values are zeroed before each function returns (CryptographicOperations.ZeroMemory,
// which the JIT cannot elide).
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Sharing;

/// <summary>Nine little-endian 64-bit limbs of a GF(2^521 - 1) element (stack temporaries).</summary>
[InlineArray(Gf521.LimbCount)]
internal struct Limbs521
{
    private ulong _limb0;
}

/// <summary>Eighteen limbs: a product of two elements before reduction.</summary>
[InlineArray(2 * Gf521.LimbCount)]
internal struct WideLimbs521
{
    private ulong _limb0;
}

/// <summary>Constant-time arithmetic modulo p = 2^521 - 1 on nine 64-bit limbs (see the file header).</summary>
internal static class Gf521
{
    /// <summary>Limbs per element.</summary>
    public const int LimbCount = 9;
    /// <summary>Bytes of the big-endian encoding: ceil(521 / 8).</summary>
    public const int ByteCount = 66;
    /// <summary>Bits of p.</summary>
    public const int Bits = 521;
    private const ulong TopMask = (1UL << (Bits - 512)) - 1; // the 9 bits of limb 8

    /// <summary>s = a + b + carryIn (carryIn in {0, 1}); carry = the carry out of bit 63, computed without a comparison.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AddCarry(ulong a, ulong b, ulong carryIn, out ulong carry)
    {
        ulong s = a + b + carryIn;
        carry = ((a & b) | ((a | b) & ~s)) >> 63;
        return s;
    }

    /// <summary>v mod p for any nine-limb v (&lt; 2^576), in place.</summary>
    private static void Reduce(Span<ulong> v)
    {
        Debug.Assert(v.Length == LimbCount);
        // Fold: v = (v mod 2^521) + (v >> 521) < 2^521 + 2^55.
        ulong high = v[8] >> (Bits - 512);
        v[8] &= TopMask;
        v[0] = AddCarry(v[0], high, 0, out ulong c);
        for (int i = 1; i < LimbCount; i++) v[i] = AddCarry(v[i], 0, c, out c);
        // Now v < 2p, and v >= p exactly when v + 1 reaches 2^521: take bit 521 of v + 1 (carries only, nothing stored),
        // then add that bit and drop bit 521, i.e. subtract p = 2^521 - 1 when v >= p and nothing otherwise
        // (v < p leaves limb 8 within the 9-bit mask).
        ulong top = 0;
        c = 1;
        for (int i = 0; i < LimbCount; i++) top = AddCarry(v[i], 0, c, out c);
        c = top >> (Bits - 512);
        for (int i = 0; i < LimbCount; i++) v[i] = AddCarry(v[i], 0, c, out c);
        v[8] &= TopMask;
    }

    /// <summary>r = a + b mod p.</summary>
    public static void Add(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Span<ulong> r)
    {
        Debug.Assert(a.Length == LimbCount && b.Length == LimbCount && r.Length == LimbCount);
        ulong c = 0;
        for (int i = 0; i < LimbCount; i++) r[i] = AddCarry(a[i], b[i], c, out c); // < 2^522: no carry out of limb 8
        Reduce(r);
    }

    /// <summary>r = a - b mod p, as a + (p - b).</summary>
    public static void Sub(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Span<ulong> r)
    {
        Debug.Assert(a.Length == LimbCount && b.Length == LimbCount && r.Length == LimbCount);
        ulong c = 0;
        for (int i = 0; i < LimbCount - 1; i++) r[i] = AddCarry(a[i], ~b[i], c, out c);
        r[8] = AddCarry(a[8], b[8] ^ TopMask, c, out _);
        Reduce(r);
    }

    /// <summary>r = a * b mod p (schoolbook, then Mersenne folding).</summary>
    public static unsafe void Mul(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Span<ulong> r)
    {
        Debug.Assert(a.Length == LimbCount && b.Length == LimbCount && r.Length == LimbCount);
        WideLimbs521 wide = default;
        ulong* t = (ulong*)Unsafe.AsPointer(ref wide); // a stack local: never moved
        fixed (ulong* pa = a, pb = b)
        {
            for (int i = 0; i < LimbCount; i++)
            {
                ulong ai = pa[i], carry = 0;
                for (int j = 0; j < LimbCount; j++)
                {
                    // ai * b[j] + t[i+j] + carry <= (2^64 - 1)^2 + 2 (2^64 - 1) = 2^128 - 1: the high word cannot overflow.
                    ulong high = Math.BigMul(ai, pb[j], out ulong low);
                    low = AddCarry(low, t[i + j], 0, out ulong c1);
                    low = AddCarry(low, carry, 0, out ulong c2);
                    t[i + j] = low;
                    carry = high + c1 + c2;
                }
                t[i + LimbCount] = carry;
            }
        }
        // r = (t mod 2^521) + (t >> 521); both below 2^521 since t < p^2 < 2^1042. a and b are no longer read.
        fixed (ulong* pr = r)
        {
            ulong c = 0;
            for (int k = 0; k < LimbCount; k++)
            {
                ulong low = k < LimbCount - 1 ? t[k] : t[k] & TopMask; // k is public
                ulong high = (t[8 + k] >> (Bits - 512)) | (t[9 + k] << (576 - Bits));
                pr[k] = AddCarry(low, high, c, out c);
            }
        }
        CryptographicOperations.ZeroMemory(new Span<byte>(t, 2 * LimbCount * sizeof(ulong)));
        Reduce(r);
    }

    /// <summary>r = a * x mod p for a public small factor x (an x coordinate): nine limb products, then the same reduction.</summary>
    public static void MulSmall(ReadOnlySpan<ulong> a, uint x, Span<ulong> r)
    {
        Debug.Assert(a.Length == LimbCount && r.Length == LimbCount);
        ulong carry = 0;
        for (int i = 0; i < LimbCount; i++)
        {
            ulong high = Math.BigMul(a[i], x, out ulong low);
            r[i] = AddCarry(low, carry, 0, out ulong c);
            carry = high + c; // a[i] * x + carry < 2^96: no overflow
        }
        Debug.Assert(carry == 0); // a < 2^521 and x < 2^32: the product fits nine limbs (limb 8 < 2^41)
        Reduce(r);
    }

    /// <summary>x = x^(2^n) mod p (n squarings, n public).</summary>
    private static void SquareTimes(Span<ulong> x, int n)
    {
        for (int i = 0; i < n; i++) Mul(x, x, x);
    }

    /// <summary>
    /// r = a^-1 = a^(p-2) mod p by the fixed addition chain of the header; the schedule does not depend on a. Zero has no inverse
    /// and is refused: that verdict (a = 0 or not) is the only thing the call reveals about a.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="a"/> is 0.</exception>
    public static void Invert(ReadOnlySpan<ulong> a, Span<ulong> r)
    {
        Debug.Assert(a.Length == LimbCount && r.Length == LimbCount);
        if (IsZero(a)) throw Error.Argument(nameof(a), "0 has no inverse in GF(2^521 - 1).");
        Limbs521 x2 = default, x3 = default, x4 = default, x7 = default, t = default, u = default;
        a.CopyTo(t);
        SquareTimes(t, 1); Mul(t, a, x2);    // x2 = a^3
        ((ReadOnlySpan<ulong>)x2).CopyTo(t);
        SquareTimes(t, 1); Mul(t, a, x3);    // x3 = a^7
        ((ReadOnlySpan<ulong>)x2).CopyTo(t);
        SquareTimes(t, 2); Mul(t, x2, x4);   // x4 = a^(2^4 - 1)
        ((ReadOnlySpan<ulong>)x4).CopyTo(t);
        SquareTimes(t, 3); Mul(t, x3, x7);   // x7 = a^(2^7 - 1)
        ((ReadOnlySpan<ulong>)x4).CopyTo(t);
        SquareTimes(t, 4); Mul(t, x4, t);    // t = x8
        for (int k = 8; k <= 256; k *= 2)    // t = x16, x32, ..., x512
        {
            ((ReadOnlySpan<ulong>)t).CopyTo(u);
            SquareTimes(u, k);
            Mul(u, t, t);
        }
        SquareTimes(t, 7); Mul(t, x7, t);    // t = x519 = a^(2^519 - 1)
        SquareTimes(t, 2); Mul(t, a, r);     // a^(2^521 - 4) * a = a^(p - 2)
        Clear(x2); Clear(x3); Clear(x4); Clear(x7); Clear(t); Clear(u);
    }

    /// <summary>True when a = b, comparing every limb (no early exit).</summary>
    public static bool Equal(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        Debug.Assert(a.Length == LimbCount && b.Length == LimbCount);
        ulong diff = 0;
        for (int i = 0; i < LimbCount; i++) diff |= a[i] ^ b[i];
        return ((diff | (0UL - diff)) >> 63) == 0;
    }

    /// <summary>True when a = 0, reading every limb.</summary>
    public static bool IsZero(ReadOnlySpan<ulong> a)
    {
        Debug.Assert(a.Length == LimbCount);
        ulong any = 0;
        for (int i = 0; i < LimbCount; i++) any |= a[i];
        return ((any | (0UL - any)) >> 63) == 0;
    }

    /// <summary>r = v for a small non-negative integer.</summary>
    public static void FromUInt32(uint v, Span<ulong> r)
    {
        Debug.Assert(r.Length == LimbCount);
        r.Clear();
        r[0] = v;
    }

    /// <summary>
    /// Reads a 66-byte big-endian integer into r (always written) and returns whether it is below p; the check reads every
    /// limb. Only the verdict depends on the value.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, Span<ulong> r)
    {
        Debug.Assert(source.Length == ByteCount && r.Length == LimbCount);
        for (int k = 0; k < LimbCount - 1; k++) r[k] = BinaryPrimitives.ReadUInt64BigEndian(source.Slice(ByteCount - 8 * (k + 1), 8));
        r[8] = BinaryPrimitives.ReadUInt16BigEndian(source);
        ulong above = r[8] >> (Bits - 512);      // non-zero: r >= 2^521
        ulong notP = r[8] ^ TopMask;             // zero only when r = p (all 521 bits set)
        for (int k = 0; k < LimbCount - 1; k++) notP |= ~r[k];
        return above == 0 && notP != 0;
    }

    /// <summary>Writes a (reduced) element as 66 bytes big-endian.</summary>
    public static void Encode(ReadOnlySpan<ulong> a, Span<byte> destination)
    {
        Debug.Assert(a.Length == LimbCount && destination.Length == ByteCount);
        for (int k = 0; k < LimbCount - 1; k++) BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(ByteCount - 8 * (k + 1), 8), a[k]);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)a[8]);
    }

    /// <summary>Zeroes a stack temporary (not elided by the JIT).</summary>
    public static void Clear(Span<ulong> limbs) => CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(limbs));
}
