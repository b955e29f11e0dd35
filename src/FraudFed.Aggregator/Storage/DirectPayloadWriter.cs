// How a payload file's bytes reach the disk (SqliteAggregatorStore.WritePayloadFile) on Linux x64: with O_DIRECT, from an aligned
// bounce buffer, instead of through the page cache. A payload file is written once, fsynced, and read again only when the log is
// replayed after a restart, so caching its pages buys nothing; copying a 4 MB masked input into fresh page-cache pages cost about
// 4 ms of CPU per file on the 2-vCPU guest (30 to 40 ms per masking round of ten banks), the O_DIRECT write about 1 ms. O_DIRECT
// needs the buffer address, the length and the file offset aligned to the device's logical block (512 or 4096 bytes): the
// payload is copied a chunk at a time into a 4096-byte-aligned buffer, the last chunk zero-padded to a whole block, and the file
// cut back to the payload's length (ftruncate) before the fsync that makes data and size durable. A file system without O_DIRECT
// (open fails with EINVAL: some network or FUSE mounts, tmpfs before Linux 6.6) gets the buffered write, as does every other
// platform. Durability is unchanged: the file is fsynced before it is renamed into place and the folder fsynced, as before.
using System.Runtime.InteropServices;
using FraudFed.Sdk.State;

namespace FraudFed.Aggregator.Storage;

/// <summary>Writes a new file with O_DIRECT (see the file header). Thread-safe; holds a few aligned buffers until disposed.</summary>
internal sealed unsafe class DirectPayloadWriter : IDisposable
{
    /// <summary>Bytes per write: the bounce buffer's size (1 MiB; a 4 MB masked input is four writes).</summary>
    internal const int ChunkBytes = 1 << 20;
    private const int Alignment = 4096;
    private const int MaxIdleBuffers = 4;
    private readonly Stack<nint> _idle = new();
    private bool _disposed;

    /// <summary>True where O_DIRECT is used at all (Linux on x64, whose O_DIRECT flag value this file uses).</summary>
    internal static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Creates <paramref name="path"/> (which must not exist) holding exactly <paramref name="payload"/>, written with O_DIRECT
    /// and fsynced. False, with nothing created, when the file system refuses O_DIRECT: the caller writes it another way.</summary>
    /// <exception cref="IOException">the file cannot be created, written, cut or synced (errno in the message); a partly written
    /// file may remain (the caller deletes it).</exception>
    public bool TryWrite(string path, ReadOnlySpan<byte> payload)
    {
        if (!Supported) return false;
        int fd = Posix.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0x180);   // mode 0600
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINVAL) return false;
            throw new IOException($"cannot create {path} (errno {errno})");
        }
        nint buffer = Rent();
        try
        {
            var chunk = new Span<byte>((void*)buffer, ChunkBytes);
            for (long offset = 0; offset < payload.Length; offset += ChunkBytes)
            {
                int n = (int)Math.Min(ChunkBytes, payload.Length - offset);
                payload.Slice((int)offset, n).CopyTo(chunk);
                int padded = (n + Alignment - 1) / Alignment * Alignment;
                chunk[n..padded].Clear();
                WriteAll(fd, path, (byte*)buffer, padded, offset);
            }
            if (payload.Length % Alignment != 0 && Posix.ftruncate(fd, payload.Length) != 0)
                throw new IOException($"cannot cut {path} to {payload.Length} bytes (errno {Marshal.GetLastPInvokeError()})");
            if (Posix.fsync(fd) != 0) throw new IOException($"cannot sync {path} (errno {Marshal.GetLastPInvokeError()})");
            return true;
        }
        finally
        {
            Return(buffer);
            Posix.close(fd);
        }
    }

    private static void WriteAll(int fd, string path, byte* data, int count, long offset)
    {
        while (count > 0)
        {
            nint written = Posix.pwrite(fd, data, count, offset);
            if (written < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                throw new IOException($"cannot write {path} (errno {errno})");
            }
            if (written == 0 || written % Alignment != 0) throw new IOException($"cannot write {path}: a short direct write ({written} of {count} bytes)");
            data += written;
            count -= (int)written;
            offset += written;
        }
    }

    private nint Rent()
    {
        lock (_idle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idle.TryPop(out nint kept)) return kept;
        }
        return (nint)NativeMemory.AlignedAlloc(ChunkBytes, Alignment);
    }

    private void Return(nint buffer)
    {
        lock (_idle)
        {
            if (!_disposed && _idle.Count < MaxIdleBuffers)
            {
                _idle.Push(buffer);
                return;
            }
        }
        NativeMemory.AlignedFree((void*)buffer);
    }

    /// <summary>Frees the idle buffers (a write still running frees its own when it ends).</summary>
    public void Dispose()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.TryPop(out nint b)) NativeMemory.AlignedFree((void*)b);
        }
    }

    // Linux x86-64 values (asm-generic/fcntl.h; O_DIRECT differs on other architectures, see Supported).
    private const int O_WRONLY = 0x1, O_CREAT = 0x40, O_EXCL = 0x80, O_DIRECT = 0x4000, O_CLOEXEC = 0x80000;
    private const int EINTR = 4, EINVAL = 22;
}
