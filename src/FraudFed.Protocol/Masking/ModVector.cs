// Vector arithmetic mod 2^k (1 <= k <= 64) for masking (Bonawitz et al. CCS'17 section 4: masks are added
// in Z_R with R = 2^k). Values are held in ulong lanes and added with wrap-around mod 2^64; since 2^k
// divides 2^64, reducing once at the end (Reduce) gives the sum mod 2^k. The adds use Vector<ulong>
// (AVX2: 4 lanes), PRG expansion streams AES-256-CTR keystream (Prg) through a reused 64 KiB buffer, so
// nothing is allocated per element. Packing (SPEC.md 9, "Packed values"): each value as ceil(k/8) bytes
// little-endian, values concatenated; a packed value >= 2^k is malformed.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

/// <summary>One mask to expand: PRG(<paramref name="Seed"/>), added or subtracted.</summary>
internal readonly record struct MaskJob(byte[] Seed, bool Subtract);

/// <summary>Span-based arithmetic on vectors of integers mod 2^k.</summary>
internal static class ModVector
{
    private const int ChunkBytes = 64 * 1024;

    /// <summary>The mask 2^k - 1.</summary>
    public static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    /// <summary>Bytes per packed value: ceil(k/8).</summary>
    public static int BytesPerValue(int bits) =>
        bits is >= 1 and <= 64 ? (bits + 7) / 8 : throw Error.OutOfRange(nameof(bits), "A modulus 2^k has 1 <= k <= 64.");

    /// <summary>acc[i] += x[i] (mod 2^64; reduce mod 2^k once at the end).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(Span<ulong> acc, ReadOnlySpan<ulong> x)
    {
        if (acc.Length != x.Length) throw Error.Argument(nameof(x), "Lengths differ.");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<ulong, Vector<ulong>>(acc);
            var vx = MemoryMarshal.Cast<ulong, Vector<ulong>>(x);
            for (int v = 0; v < va.Length; v++) va[v] += vx[v];
            i = va.Length * Vector<ulong>.Count;
        }
        for (; i < acc.Length; i++) acc[i] += x[i];
    }

    /// <summary>acc[i] -= x[i] (mod 2^64; reduce mod 2^k once at the end).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Subtract(Span<ulong> acc, ReadOnlySpan<ulong> x)
    {
        if (acc.Length != x.Length) throw Error.Argument(nameof(x), "Lengths differ.");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<ulong, Vector<ulong>>(acc);
            var vx = MemoryMarshal.Cast<ulong, Vector<ulong>>(x);
            for (int v = 0; v < va.Length; v++) va[v] -= vx[v];
            i = va.Length * Vector<ulong>.Count;
        }
        for (; i < acc.Length; i++) acc[i] -= x[i];
    }

    /// <summary>acc[i] &amp;= 2^k - 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Reduce(Span<ulong> acc, int bits)
    {
        ulong mask = Mask(bits);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vm = new Vector<ulong>(mask);
            var va = MemoryMarshal.Cast<ulong, Vector<ulong>>(acc);
            for (int v = 0; v < va.Length; v++) va[v] &= vm;
            i = va.Length * Vector<ulong>.Count;
        }
        for (; i < acc.Length; i++) acc[i] &= mask;
    }

    /// <summary>
    /// acc += PRG(seed) (or -= when <paramref name="subtract"/>), where PRG(seed) is the vector of values
    /// mod 2^k that <see cref="Prg.FillModPow2"/> produces from a fresh Prg(seed). <paramref name="scratch"/> (at least 16
    /// bytes; 64 KiB when null) holds keystream while it is added and is zeroed before returning.
    /// </summary>
    public static void AddPrg(Span<ulong> acc, ReadOnlySpan<byte> seed, int bits, bool subtract, byte[]? scratch = null)
    {
        if (seed.Length != Prg.SeedSize) throw Error.Argument(nameof(seed), "A PRG seed is 32 bytes.");
        if (bits is < 1 or > 64) throw Error.OutOfRange(nameof(bits), "Bits must be in 1..64.");
        if (scratch is { Length: < 16 }) throw Error.Argument(nameof(scratch), "The scratch buffer must hold at least one 16-byte block.");
        scratch ??= new byte[ChunkBytes];
        try
        {
            using var prg = new Prg(seed);
            AddPrgCore(acc, prg, bits, subtract, scratch);
        }
        finally { CryptographicOperations.ZeroMemory(scratch); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AddPrgCore(Span<ulong> acc, Prg prg, int bits, bool subtract, byte[] scratch)
    {
        Debug.Assert(BitConverter.IsLittleEndian);
        int wordBytes = bits > 32 ? 8 : 4;
        int perChunk = scratch.Length / wordBytes;
        for (int start = 0; start < acc.Length; start += perChunk)
        {
            int count = Math.Min(perChunk, acc.Length - start);
            Span<byte> bytes = scratch.AsSpan(0, count * wordBytes);
            prg.Fill(bytes);
            Span<ulong> target = acc.Slice(start, count);
            // Adding the unmasked word equals adding (word mod 2^k) modulo 2^k: reduction happens at the end.
            if (wordBytes == 8)
            {
                ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(bytes);
                if (subtract) Subtract(target, words); else Add(target, words);
            }
            else
            {
                AddWidened(target, MemoryMarshal.Cast<byte, uint>(bytes), subtract);
            }
        }
    }

    /// <summary>
    /// acc += sum over jobs of (+/-) PRG(seed) — the same result as calling <see cref="AddPrg"/> per job, but
    /// chunk-major: each cache-sized slice of the accumulator is visited once while every job's PRG stream
    /// fills it, so the accumulator crosses the memory bus once instead of once per job.
    /// </summary>
    public static void AddPrgs(Span<ulong> acc, IReadOnlyList<MaskJob> jobs, int bits)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        if (bits is < 1 or > 64) throw Error.OutOfRange(nameof(bits), "Bits must be in 1..64.");
        foreach (MaskJob j in jobs)
            if (j.Seed is null || j.Seed.Length != Prg.SeedSize) throw Error.Argument(nameof(jobs), "A PRG seed is 32 bytes.");
        AddPrgsCore(acc, 0, jobs, bits, new byte[ChunkBytes / 2]);
    }

    /// <summary>
    /// Like <see cref="AddPrgs"/>, split into contiguous slices over <paramref name="workers"/> threads; each slice
    /// positions its PRG streams at the slice's keystream offset (Prg.AtBlock), so no partial sums are needed.
    /// </summary>
    public static void AddPrgsParallel(ulong[] acc, IReadOnlyList<MaskJob> jobs, int bits, int workers)
    {
        ArgumentNullException.ThrowIfNull(acc);
        ArgumentNullException.ThrowIfNull(jobs);
        if (workers <= 1 || acc.Length < 1 << 16) { AddPrgs(acc, jobs, bits); return; }
        foreach (MaskJob j in jobs)
            if (j.Seed is null || j.Seed.Length != Prg.SeedSize) throw Error.Argument(nameof(jobs), "A PRG seed is 32 bytes.");
        // Slice boundaries on multiples of 4 values keep every slice start on a 16-byte keystream block.
        int per = (acc.Length / workers + 3) & ~3;
        Parallel.For(0, workers, w =>
        {
            int start = Math.Min(acc.Length, w * per);
            int end = w == workers - 1 ? acc.Length : Math.Min(acc.Length, start + per);
            if (end > start) AddPrgsCore(acc.AsSpan(start, end - start), start, jobs, bits, new byte[ChunkBytes / 2]);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddPrgsCore(Span<ulong> acc, int startIndex, IReadOnlyList<MaskJob> jobs, int bits, byte[] scratch)
    {
        Debug.Assert(BitConverter.IsLittleEndian);
        int wordBytes = bits > 32 ? 8 : 4;
        Debug.Assert((long)startIndex * wordBytes % 16 == 0);
        var prgs = new Prg[jobs.Count];
        try
        {
            ulong block = (ulong)startIndex * (ulong)wordBytes / 16;
            for (int j = 0; j < prgs.Length; j++) prgs[j] = Prg.AtBlock(jobs[j].Seed, block);
            int perChunk = scratch.Length / wordBytes;
            for (int start = 0; start < acc.Length; start += perChunk)
            {
                int count = Math.Min(perChunk, acc.Length - start);
                Span<ulong> target = acc.Slice(start, count);
                Span<byte> bytes = scratch.AsSpan(0, count * wordBytes);
                for (int j = 0; j < prgs.Length; j++)
                {
                    prgs[j].Fill(bytes);
                    if (wordBytes == 8)
                    {
                        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(bytes);
                        if (jobs[j].Subtract) Subtract(target, words); else Add(target, words);
                    }
                    else AddWidened(target, MemoryMarshal.Cast<byte, uint>(bytes), jobs[j].Subtract);
                }
            }
        }
        finally
        {
            foreach (Prg? p in prgs) p?.Dispose();
            CryptographicOperations.ZeroMemory(scratch);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddWidened(Span<ulong> acc, ReadOnlySpan<uint> words, bool subtract)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int lanes = Vector<uint>.Count;
            var va = MemoryMarshal.Cast<ulong, Vector<ulong>>(acc);
            var vw = MemoryMarshal.Cast<uint, Vector<uint>>(words);
            int blocks = Math.Min(vw.Length, va.Length / 2);
            for (int v = 0; v < blocks; v++)
            {
                Vector.Widen(vw[v], out Vector<ulong> lo, out Vector<ulong> hi);
                if (subtract) { va[2 * v] -= lo; va[2 * v + 1] -= hi; }
                else { va[2 * v] += lo; va[2 * v + 1] += hi; }
            }
            i = blocks * lanes;
        }
        if (subtract) for (; i < acc.Length; i++) acc[i] -= words[i];
        else for (; i < acc.Length; i++) acc[i] += words[i];
    }

    /// <summary>
    /// The masked input of a bank for k &lt;= 32, straight into its packed bytes: <paramref name="destination"/> (values.Length x
    /// ceil(k/8) bytes) receives (x + sum over jobs of (+/-) PRG(seed)) mod 2^k, packed (SPEC.md 9, "Packed values"), equal to
    /// <see cref="AddPrgs"/> on a ulong copy of <paramref name="values"/>, <see cref="Reduce"/> and <see cref="Pack"/>. Since 2^k
    /// divides 2^32 the sums are kept in 32-bit lanes: each keystream word is added as it comes (no widening), and for k in 25..32
    /// the accumulator is the destination itself, so no 8-byte-per-value copy of the vector is made.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="bits"/> above 32, a seed that is not 32 bytes, or a wrong destination length.</exception>
    public static void MaskAndPack32(ReadOnlySpan<ulong> values, IReadOnlyList<MaskJob> jobs, int bits, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        if (bits is < 1 or > 32) throw Error.OutOfRange(nameof(bits), "The 32-bit masking path takes 1 <= k <= 32.");
        foreach (MaskJob j in jobs)
            if (j.Seed is null || j.Seed.Length != Prg.SeedSize) throw Error.Argument(nameof(jobs), "A PRG seed is 32 bytes.");
        int w = BytesPerValue(bits);
        if (destination.Length != (long)values.Length * w) throw Error.Argument(nameof(destination), "Wrong packed length.");
        uint[]? lanes = w == 4 ? null : new uint[values.Length];
        Span<uint> acc = w == 4 ? MemoryMarshal.Cast<byte, uint>(destination) : lanes;
        Narrow(values, acc);
        byte[] scratch = new byte[ChunkBytes / 2];
        var prgs = new Prg[jobs.Count];
        try
        {
            for (int j = 0; j < prgs.Length; j++) prgs[j] = new Prg(jobs[j].Seed);
            int perChunk = scratch.Length / 4;
            for (int start = 0; start < acc.Length; start += perChunk)
            {
                int count = Math.Min(perChunk, acc.Length - start);
                Span<uint> target = acc.Slice(start, count);
                Span<byte> bytes = scratch.AsSpan(0, count * 4);
                for (int j = 0; j < prgs.Length; j++)
                {
                    prgs[j].Fill(bytes);
                    Add32(target, MemoryMarshal.Cast<byte, uint>(bytes), jobs[j].Subtract);
                }
            }
        }
        finally
        {
            foreach (Prg? p in prgs) p?.Dispose();
            CryptographicOperations.ZeroMemory(scratch);
        }
        Reduce32(acc, bits);
        if (lanes is not null)
        {
            PackFrom32(lanes, w, destination);
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(lanes.AsSpan()));
        }
    }

    /// <summary>d[i] = (uint)s[i] (the low 32 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Narrow(ReadOnlySpan<ulong> s, Span<uint> d)
    {
        Debug.Assert(s.Length == d.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= 2 * Vector<ulong>.Count)
        {
            int step = Vector<uint>.Count;   // two ulong vectors make one uint vector
            ref ulong src = ref MemoryMarshal.GetReference(s);
            ref uint dst = ref MemoryMarshal.GetReference(d);
            for (; i <= s.Length - step; i += step)
            {
                Vector<ulong> lo = Vector.LoadUnsafe(ref src, (nuint)i);
                Vector<ulong> hi = Vector.LoadUnsafe(ref src, (nuint)(i + Vector<ulong>.Count));
                Vector.Narrow(lo, hi).StoreUnsafe(ref dst, (nuint)i);
            }
        }
        for (; i < s.Length; i++) d[i] = (uint)s[i];
    }

    /// <summary>d[i] = s[i] zero-extended to 64 bits (the inverse of <see cref="Narrow"/> for values below 2^32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Widen(ReadOnlySpan<uint> s, Span<ulong> d)
    {
        Debug.Assert(s.Length == d.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated && s.Length >= Vector<uint>.Count)
        {
            int step = Vector<uint>.Count;   // one uint vector makes two ulong vectors
            ref uint src = ref MemoryMarshal.GetReference(s);
            ref ulong dst = ref MemoryMarshal.GetReference(d);
            for (; i <= s.Length - step; i += step)
            {
                Vector.Widen(Vector.LoadUnsafe(ref src, (nuint)i), out Vector<ulong> lo, out Vector<ulong> hi);
                lo.StoreUnsafe(ref dst, (nuint)i);
                hi.StoreUnsafe(ref dst, (nuint)(i + Vector<ulong>.Count));
            }
        }
        for (; i < s.Length; i++) d[i] = s[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Add32(Span<uint> acc, ReadOnlySpan<uint> x, bool subtract)
    {
        Debug.Assert(acc.Length == x.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<uint, Vector<uint>>(acc);
            var vx = MemoryMarshal.Cast<uint, Vector<uint>>(x);
            if (subtract) for (int v = 0; v < va.Length; v++) va[v] -= vx[v];
            else for (int v = 0; v < va.Length; v++) va[v] += vx[v];
            i = va.Length * Vector<uint>.Count;
        }
        if (subtract) for (; i < acc.Length; i++) acc[i] -= x[i];
        else for (; i < acc.Length; i++) acc[i] += x[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Reduce32(Span<uint> acc, int bits)
    {
        if (bits == 32) return;
        uint mask = (1u << bits) - 1;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vm = new Vector<uint>(mask);
            var va = MemoryMarshal.Cast<uint, Vector<uint>>(acc);
            for (int v = 0; v < va.Length; v++) va[v] &= vm;
            i = va.Length * Vector<uint>.Count;
        }
        for (; i < acc.Length; i++) acc[i] &= mask;
    }

    /// <summary>Packs 32-bit lanes (each below 2^k) as <paramref name="w"/>-byte (1..3) little-endian words.</summary>
    private static void PackFrom32(ReadOnlySpan<uint> values, int w, Span<byte> destination)
    {
        Debug.Assert(w is >= 1 and <= 3);
        if (w == 1)
        {
            for (int i = 0; i < values.Length; i++) destination[i] = (byte)values[i];
            return;
        }
        int fast = values.Length - (4 + w - 1) / w;   // indices whose 4-byte write stays in bounds
        int idx = 0;
        for (; idx < fast; idx++) BinaryPrimitives.WriteUInt32LittleEndian(destination[(idx * w)..], values[idx]);
        for (; idx < values.Length; idx++)
            for (int b = 0; b < w; b++) destination[idx * w + b] = (byte)(values[idx] >> (8 * b));
    }

    /// <summary>Packs values (each below 2^k) as ceil(k/8)-byte little-endian words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(ReadOnlySpan<ulong> values, int bits, Span<byte> destination)
    {
        int w = BytesPerValue(bits);
        if (destination.Length != (long)values.Length * w) throw Error.Argument(nameof(destination), "Wrong packed length.");
        if (w == 4)
        {
            Narrow(values, MemoryMarshal.Cast<byte, uint>(destination));
            return;
        }
        if (w == 8)
        {
            values.CopyTo(MemoryMarshal.Cast<byte, ulong>(destination));
            return;
        }
        int fast = values.Length - (8 + w - 1) / w; // indices whose 8-byte write stays in bounds
        int idx = 0;
        for (; idx < fast; idx++) BinaryPrimitives.WriteUInt64LittleEndian(destination[(idx * w)..], values[idx]);
        for (; idx < values.Length; idx++)
        {
            ulong v = values[idx];
            for (int b = 0; b < w; b++) destination[idx * w + b] = (byte)(v >> (8 * b));
        }
    }

    /// <summary>True when every packed value is below 2^k (cheap check before any arithmetic).</summary>
    public static bool IsValidPacked(ReadOnlySpan<byte> packed, int bits)
    {
        int w = BytesPerValue(bits);
        if (packed.Length % w != 0) return false;
        int spare = 8 * w - bits;
        if (spare == 0) return true;
        byte topMask = (byte)(0xFF << (8 - spare));
        for (int i = w - 1; i < packed.Length; i += w)
            if ((packed[i] & topMask) != 0) return false;
        return true;
    }

    /// <summary>acc[i] += packed value i (trusts that the packed data was validated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void UnpackAdd(ReadOnlySpan<byte> packed, int bits, Span<ulong> acc)
    {
        int w = BytesPerValue(bits);
        Debug.Assert(packed.Length == acc.Length * w);
        if (w == 4) { AddWidened(acc, MemoryMarshal.Cast<byte, uint>(packed), subtract: false); return; }
        if (w == 8) { Add(acc, MemoryMarshal.Cast<byte, ulong>(packed)); return; }
        ulong mask = Mask(8 * w);
        int fast = acc.Length - (8 + w - 1) / w;
        int idx = 0;
        for (; idx < fast; idx++) acc[idx] += BinaryPrimitives.ReadUInt64LittleEndian(packed[(idx * w)..]) & mask;
        for (; idx < acc.Length; idx++)
        {
            ulong v = 0;
            for (int b = 0; b < w; b++) v |= (ulong)packed[idx * w + b] << (8 * b);
            acc[idx] += v;
        }
    }

    /// <summary>Unpacks into a fresh array (validates first).</summary>
    public static ulong[] Unpack(ReadOnlySpan<byte> packed, int bits)
    {
        if (!IsValidPacked(packed, bits)) throw Error.Violation(ViolationReason.OutOfRange, "A packed value is not below 2^k.");
        var result = new ulong[packed.Length / BytesPerValue(bits)];
        UnpackAdd(packed, bits, result);
        return result;
    }
}
