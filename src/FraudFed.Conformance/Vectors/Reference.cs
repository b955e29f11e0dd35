// Reference computations written from protocols/SPEC.md and the vector descriptions, deliberately NOT through
// the library's own code paths (only .NET's AES, SHA-256, HMAC/HKDF and BigInteger), so that a check compares
// two independent derivations of the same bytes.
using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace FraudFed.Conformance.Vectors;

internal static class Reference
{
    /// <summary>The first <paramref name="length"/> bytes of AES-256(key, counter block i) for i = 0, 1, ... (128-bit big-endian counters).</summary>
    public static byte[] Keystream(ReadOnlySpan<byte> key, int length)
    {
        int blocks = (length + 15) / 16;
        var counters = new byte[blocks * 16];
        for (int i = 0; i < blocks; i++) BinaryPrimitives.WriteUInt64BigEndian(counters.AsSpan(16 * i + 8), (ulong)i);
        using var aes = Aes.Create();
        aes.Key = key.ToArray();
        byte[] stream = aes.EncryptEcb(counters, PaddingMode.None);
        return stream[..length];
    }

    /// <summary>A sequential reader over the AES-256-CTR keystream of a seed.</summary>
    public sealed class Stream(byte[] seed)
    {
        private byte[] _buffer = Keystream(seed, 1 << 16);
        private int _offset;
        private readonly byte[] _seed = seed;

        public byte[] Take(int count)
        {
            while (_offset + count > _buffer.Length) _buffer = Keystream(_seed, _buffer.Length * 2);
            byte[] r = _buffer.AsSpan(_offset, count).ToArray();
            _offset += count;
            return r;
        }

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    }

    /// <summary>PRG expansion to values mod 2^k: u32 LE words (k &lt;= 32) or u64 LE words (k &gt; 32), low k bits.</summary>
    public static ulong[] ModPow2(byte[] seed, int count, int bits)
    {
        int word = bits > 32 ? 8 : 4;
        byte[] ks = Keystream(seed, count * word);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var r = new ulong[count];
        for (int i = 0; i < count; i++)
            r[i] = (word == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(ks.AsSpan(8 * i)) : BinaryPrimitives.ReadUInt32LittleEndian(ks.AsSpan(4 * i))) & mask;
        return r;
    }

    /// <summary>HKDF-SHA256 with info = ASCII label || each field as u32 big-endian.</summary>
    public static byte[] Hkdf(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> salt, string label, params uint[] fields)
    {
        byte[] info = Info(label, fields);
        var okm = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, okm, salt, info);
        return okm;
    }

    public static byte[] Info(string label, params uint[] fields)
    {
        byte[] l = Encoding.ASCII.GetBytes(label);
        var info = new byte[l.Length + 4 * fields.Length];
        l.CopyTo(info, 0);
        for (int i = 0; i < fields.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(info.AsSpan(l.Length + 4 * i), fields[i]);
        return info;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] U32Be(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }
    public static byte[] U32Le(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return b; }
    public static byte[] U64Le(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return b; }

    /// <summary>The Mersenne prime 2^521 - 1 of FraudFed's Shamir sharing.</summary>
    public static readonly BigInteger P521 = BigInteger.Pow(2, 521) - 1;

    /// <summary>f(0) by Lagrange interpolation over GF(p) from points (x, y).</summary>
    public static BigInteger Interpolate(IReadOnlyList<(BigInteger X, BigInteger Y)> points, BigInteger at, BigInteger p)
    {
        BigInteger result = 0;
        for (int i = 0; i < points.Count; i++)
        {
            BigInteger num = 1, den = 1;
            for (int j = 0; j < points.Count; j++)
            {
                if (i == j) continue;
                num = Mod(num * (at - points[j].X), p);
                den = Mod(den * (points[i].X - points[j].X), p);
            }
            result = Mod(result + points[i].Y * num * BigInteger.ModPow(den, p - 2, p), p);
        }
        return result;
    }

    public static BigInteger Mod(BigInteger v, BigInteger p) { BigInteger r = v % p; return r.Sign < 0 ? r + p : r; }

    public static BigInteger BigEndian(ReadOnlySpan<byte> b) => new(b, isUnsigned: true, isBigEndian: true);

    public static ulong MulMod(ulong a, ulong b, ulong q) => (ulong)((UInt128)a * b % q);

    public static ulong PowMod(ulong b, ulong e, ulong q)
    {
        ulong r = 1;
        b %= q;
        while (e > 0)
        {
            if ((e & 1) == 1) r = MulMod(r, b, q);
            b = MulMod(b, b, q);
            e >>= 1;
        }
        return r;
    }

    /// <summary>Miller-Rabin with the first twelve prime bases (exact below 3.3e24, so for 64-bit n), via BigInteger.</summary>
    public static bool IsPrime(ulong n)
    {
        if (n < 2) return false;
        int[] bases = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
        foreach (int p in bases) { if (n == (ulong)p) return true; if (n % (ulong)p == 0) return false; }
        BigInteger N = n, d = n - 1;
        int s = 0;
        while (d.IsEven) { d >>= 1; s++; }
        foreach (int a in bases)
        {
            BigInteger x = BigInteger.ModPow(a, d, N);
            if (x.IsOne || x == N - 1) continue;
            bool witness = true;
            for (int r = 1; r < s && witness; r++) { x = BigInteger.ModPow(x, 2, N); if (x == N - 1) witness = false; }
            if (witness) return false;
        }
        return true;
    }

    /// <summary>psi = g^((q-1)/2n) for the smallest g = 2, 3, ... with psi^n = -1 mod q.</summary>
    public static ulong SmallestRoot(ulong q, int n)
    {
        ulong e = (q - 1) / (2UL * (ulong)n);
        for (ulong g = 2; ; g++)
        {
            ulong psi = PowMod(g, e, q);
            if (PowMod(psi, (ulong)n, q) == q - 1) return psi;
        }
    }

    public static int BitReverse(int x, int bits)
    {
        int r = 0;
        for (int i = 0; i < bits; i++) { r = (r << 1) | (x & 1); x >>= 1; }
        return r;
    }

    /// <summary>Forward negacyclic NTT output k = a(psi^(2*bitrev(k)+1)), evaluated directly (O(n) per index).</summary>
    public static ulong NttAt(ReadOnlySpan<ulong> a, ulong q, ulong psi, int k)
    {
        int n = a.Length, logN = BitOperations.Log2((uint)n);
        ulong w = PowMod(psi, 2UL * (ulong)BitReverse(k, logN) + 1, q);
        ulong acc = 0, x = 1;
        for (int j = 0; j < n; j++)
        {
            acc = (ulong)(((UInt128)acc + MulMod(a[j], x, q)) % q);
            x = MulMod(x, w, q);
        }
        return acc;
    }

    /// <summary>Unpacks n values of <paramref name="width"/> bits, LSB-first little-endian bit stream.</summary>
    public static ulong[] UnpackBits(ReadOnlySpan<byte> data, int n, int width)
    {
        var r = new ulong[n];
        for (int j = 0; j < n; j++)
        {
            ulong v = 0;
            for (int b = 0; b < width; b++)
            {
                long bit = (long)j * width + b;
                if (((data[(int)(bit >> 3)] >> (int)(bit & 7)) & 1) != 0) v |= 1UL << b;
            }
            r[j] = v;
        }
        return r;
    }

    /// <summary>Packs values of <paramref name="width"/> bits LSB-first into ceil(n*width/8) bytes.</summary>
    public static byte[] PackBits(ReadOnlySpan<ulong> values, int width)
    {
        var r = new byte[(values.Length * (long)width + 7) / 8];
        for (int j = 0; j < values.Length; j++)
            for (int b = 0; b < width; b++)
                if (((values[j] >> b) & 1) != 0)
                {
                    long bit = (long)j * width + b;
                    r[bit >> 3] |= (byte)(1 << (int)(bit & 7));
                }
        return r;
    }

    /// <summary>SPEC.md 12: error sigma 3.2 as sigma * 10^6, Gaussian tail cut 19, secret distribution 1 = uniform ternary.</summary>
    public const ulong SigmaMicros = 3_200_000, TailCut = 19, SecretTernary = 1;

    /// <summary>The RLWE parameter-hash preimage: ASCII "FraudFed RLWE parameters v2" || n || k || t = 2^k || count || primes ||
    /// sigma * 10^6 || tail cut || secret distribution, each u64 LE.</summary>
    public static byte[] ParameterPreimage(int n, int plainBits, IReadOnlyList<ulong> primes,
        ulong sigmaMicros = SigmaMicros, ulong tailCut = TailCut, ulong secretDistribution = SecretTernary) =>
        Concat(Encoding.ASCII.GetBytes("FraudFed RLWE parameters v2"), U64Le((ulong)n), U64Le((ulong)plainBits), U64Le(1UL << plainBits),
            U64Le((ulong)primes.Count), primes.SelectMany(U64Le).ToArray(), U64Le(sigmaMicros), U64Le(tailCut), U64Le(secretDistribution));

    /// <summary>Uniform residues mod q from a keystream: u64 LE words masked to bitlen(q-1) bits, rejected when &gt;= q,
    /// read one after another until n are accepted (no word is skipped or discarded).</summary>
    public static ulong[] UniformLimb(Stream s, int n, ulong q)
    {
        int bits = 64 - BitOperations.LeadingZeroCount(q - 1);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var r = new ulong[n];
        for (int filled = 0; filled < n;)
        {
            ulong v = s.U64() & mask;
            if (v < q) r[filled++] = v;
        }
        return r;
    }
}
