// Prg: AES-256 in counter mode (NIST SP 800-38A section 6.5) as a pseudorandom generator.
//
// Pinned encoding (protocols/SPEC.md section "PRG"):
//   key          = the 32-byte seed
//   counter block = 128-bit unsigned big-endian integer, starting at 0 unless stated otherwise,
//                  incremented by one per 16-byte block (wraps mod 2^128)
//   keystream     = AES-256(key, counter_0) || AES-256(key, counter_1) || ...
// Expansion to integers mod 2^k: k <= 32 reads little-endian uint32 words, 32 < k <= 64 reads
// little-endian uint64 words; each word is masked to its low k bits. Since 2^k divides 2^32 (2^64),
// the masked words are exactly uniform mod 2^k.
//
// .NET's AES (OpenSSL, AES-NI) ECB over counter blocks runs at ~2-2.7 GB/s on the reference machine.
//
// Key lifetime (read from dotnet/runtime's System.Security.Cryptography sources and checked on .NET 10): the seed is handed
// over with SymmetricAlgorithm.SetKey(ReadOnlySpan<byte>), never through the Key property (whose setter takes an array the
// caller would have to allocate, and whose getter returns a fresh copy). AesImplementation.SetKeyCore copies the key into a
// FixedMemoryKeyBox: a SafeHandle over NativeMemory.Alloc'ed bytes, outside the GC heap (never moved, so never copied by a
// compacting GC); the managed SymmetricAlgorithm.KeyValue field stays null. Each EncryptEcb builds an OpenSSL EVP cipher
// context from that key box and frees it before returning (OpenSSL 3's AES provider frees a context with
// OPENSSL_clear_free, which cleanses the expanded key schedule).
// Aes.Dispose disposes the key box, whose ReleaseHandle zeroes the native bytes (CryptographicOperations.ZeroMemory) before
// NativeMemory.Free; a PRG that is never disposed has it zeroed by the SafeHandle's critical finalizer. This class keeps no
// copy of the seed itself; Dispose zeroes its keystream buffer and disposes the AES object. Every use after Dispose throws
// ObjectDisposedException: that guard is ours, since a disposed .NET Aes would silently generate a fresh random key on its
// next EncryptEcb. The caller owns (and should clear) the seed span it passes in.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FraudFed.Cryptography.Primitives;

/// <summary>
/// A deterministic pseudorandom generator keyed by a 256-bit seed (AES-256-CTR). Seeds must come from a
/// CSPRNG or a KDF; the generator is a stream, each call continues where the last one stopped.
/// </summary>
internal sealed class Prg : IDisposable
{
    /// <summary>Seed length in bytes.</summary>
    public const int SeedSize = 32;
    private const int BlockSize = 16;
    private const int ChunkBlocks = 1024; // 16 KiB of counter blocks per AES call

    private const int FirstRefillBlocks = 64; // 1 KiB: the first refill after a direct fill (e.g. a rejection sampler's last few words)

    private readonly Aes _aes;
    private UInt128 _counter;
    // Keystream for requests too small to be generated in place: allocated on first need and grown with the refills (a PRG
    // that only serves large requests, as the smudging sampler's, allocates none), refilled with 1 KiB after a direct fill and doubling up to 16 KiB
    // over consecutive refills, so that a sampler's short tail does not pay for 16 KiB of AES. The stream does not depend on
    // how it is cut: block i is always AES(key, counter_0 + i).
    private byte[]? _buffer;
    private int _bufferOffset, _bufferLength; // valid keystream is _buffer[_bufferOffset.._bufferLength)
    private int _refillBlocks = FirstRefillBlocks;
    private bool _disposed;

    /// <summary>Creates a PRG whose first counter block is zero (SPEC.md section 1).</summary>
    /// <param name="seed">The 32-byte AES-256 key; copied into native memory, so the caller may clear its span at once.</param>
    /// <exception cref="ArgumentException"><paramref name="seed"/> is not 32 bytes.</exception>
    public Prg(ReadOnlySpan<byte> seed) : this(seed, UInt128.Zero) { }

    /// <summary>Creates a PRG positioned at keystream block <paramref name="block"/> (byte offset 16*block), so
    /// that disjoint slices of one long expansion can be produced independently (e.g. on several cores).</summary>
    /// <exception cref="ArgumentException"><paramref name="seed"/> is not 32 bytes.</exception>
    public static Prg AtBlock(ReadOnlySpan<byte> seed, ulong block) => new(seed, block);

    /// <summary>Creates a PRG starting at the given counter block (used by SP 800-38A vectors).</summary>
    internal Prg(ReadOnlySpan<byte> seed, UInt128 initialCounter)
    {
        if (seed.Length != SeedSize)
            throw Error.Argument(nameof(seed), $"A PRG seed must be {SeedSize} bytes.");
        _aes = Aes.Create();
        try { _aes.SetKey(seed); } // straight from the span into the runtime's native key box: no managed copy (header)
        catch
        {
            _aes.Dispose();
            throw;
        }
        _counter = initialCounter;
    }

    /// <summary>The AES object, for tests of the key's lifetime only.</summary>
    internal SymmetricAlgorithm Cipher => _aes;

    /// <summary>The internal keystream buffer, for tests of Dispose only.</summary>
    internal ReadOnlySpan<byte> BufferForTests => _buffer;

    /// <summary>Fills <paramref name="destination"/> with the next keystream bytes.</summary>
    /// <exception cref="ObjectDisposedException">The PRG was disposed.</exception>
    public void Fill(Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (destination.Length > 0)
        {
            if (_bufferOffset == _bufferLength)
            {
                // Requests of a refill or more go straight into the destination (whole blocks), with no copy.
                if (destination.Length >= _refillBlocks * BlockSize)
                {
                    int blocks = destination.Length / BlockSize;
                    GenerateBlocks(destination[..(blocks * BlockSize)]);
                    destination = destination[(blocks * BlockSize)..];
                    _refillBlocks = FirstRefillBlocks;
                    continue;
                }
                int refill = Math.Max(_refillBlocks, (destination.Length + BlockSize - 1) / BlockSize) * BlockSize;
                if (_buffer is null || _buffer.Length < refill)
                {
                    // Grown with the refill (1 KiB first): a sampler's short tail allocates 1 KiB, not 16.
                    if (_buffer is not null) CryptographicOperations.ZeroMemory(_buffer);
                    _buffer = new byte[refill];
                }
                GenerateBlocks(_buffer.AsSpan(0, refill));
                _bufferOffset = 0;
                _bufferLength = refill;
                _refillBlocks = Math.Min(2 * _refillBlocks, ChunkBlocks);
            }
            int take = Math.Min(destination.Length, _bufferLength - _bufferOffset);
            _buffer.AsSpan(_bufferOffset, take).CopyTo(destination);
            _bufferOffset += take;
            destination = destination[take..];
        }
    }

    /// <summary>Fills <paramref name="destination"/> with values uniform mod 2^<paramref name="bits"/> (SPEC.md section 1).</summary>
    /// <exception cref="ArgumentException"><paramref name="bits"/> is outside 1..64.</exception>
    /// <exception cref="ObjectDisposedException">The PRG was disposed.</exception>
    public void FillModPow2(Span<ulong> destination, int bits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (bits is < 1 or > 64) throw Error.Argument(nameof(bits), "Bits must be in 1..64.");
        FillModPow2Core(destination, bits);
    }

    internal void FillModPow2Core(Span<ulong> destination, int bits)
    {
        Debug.Assert(bits is >= 1 and <= 64);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        if (bits > 32)
        {
            Span<byte> bytes = MemoryMarshal.AsBytes(destination);
            Fill(bytes);
            for (int i = 0; i < destination.Length; i++)
                destination[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(i * 8, 8)) & mask;
            return;
        }
        // 32-bit words: expand into the upper half of the destination, then widen front to back.
        Span<byte> words = MemoryMarshal.AsBytes(destination)[(destination.Length * 4)..];
        Fill(words);
        for (int i = 0; i < destination.Length; i++)
            destination[i] = BinaryPrimitives.ReadUInt32LittleEndian(words.Slice(i * 4, 4)) & mask;
    }

    /// <summary>Returns a new array of <paramref name="count"/> values uniform mod 2^<paramref name="bits"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="bits"/> is outside 1..64.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The PRG was disposed.</exception>
    public ulong[] NextModPow2(int count, int bits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count < 0) throw Error.OutOfRange(nameof(count), "The count cannot be negative.");
        var result = new ulong[count];
        FillModPow2(result, bits);
        return result;
    }

    private void GenerateBlocks(Span<byte> destination)
    {
        Debug.Assert(destination.Length % BlockSize == 0 && !_disposed);
        // Write counter blocks into the destination, then encrypt in place with ECB.
        _counter = WriteCounterBlocks(destination, _counter);
        _aes.EncryptEcb(destination, destination, PaddingMode.None);
    }

    /// <summary>
    /// Writes destination.Length / 16 consecutive 128-bit big-endian counter blocks starting at <paramref name="counter"/>
    /// (wrapping mod 2^128) and returns the counter after the last one. One pass of two byte-swapped 64-bit stores per
    /// block; bit for bit <see cref="WriteCounterBlocksReference"/> (PrgTests).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static unsafe UInt128 WriteCounterBlocks(Span<byte> destination, UInt128 counter)
    {
        Debug.Assert(destination.Length % BlockSize == 0);
        int blocks = destination.Length / BlockSize;
        ulong hi = (ulong)(counter >> 64), lo = (ulong)counter;
        fixed (byte* d = destination)
        {
            ulong* w = (ulong*)d;
            bool little = BitConverter.IsLittleEndian;
            for (int b = 0; b < blocks; b++)
            {
                ulong h = little ? BinaryPrimitives.ReverseEndianness(hi) : hi;
                ulong l = little ? BinaryPrimitives.ReverseEndianness(lo) : lo;
                Unsafe.WriteUnaligned(w + 2 * b, h);
                Unsafe.WriteUnaligned(w + 2 * b + 1, l);
                lo = unchecked(lo + 1);
                if (lo == 0) hi = unchecked(hi + 1);
            }
        }
        return new UInt128(hi, lo);
    }

    /// <summary>The counter-block writer as first written (one UInt128 increment and two BinaryPrimitives writes per block):
    /// the reference <see cref="WriteCounterBlocks"/> is tested against.</summary>
    internal static UInt128 WriteCounterBlocksReference(Span<byte> destination, UInt128 counter)
    {
        for (int offset = 0; offset < destination.Length; offset += BlockSize)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(offset, 8), (ulong)(counter >> 64));
            BinaryPrimitives.WriteUInt64BigEndian(destination.Slice(offset + 8, 8), (ulong)counter);
            counter++;
        }
        return counter;
    }

    /// <summary>Zeroes the keystream buffer and disposes the AES object, which zeroes and frees its native copy of the key (header).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CryptographicOperations.ZeroMemory(_buffer);
        _bufferOffset = _bufferLength = 0;
        _aes.Dispose();
    }
}
