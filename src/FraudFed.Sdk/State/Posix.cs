// The few libc calls .NET does not expose (a directory's fsync, fdatasync, O_DIRECT files, reading a lock file without
// taking .NET's own lock), declared once for the SDK's state files and the appliance's payload files. Linux/POSIX only: every
// caller checks the platform (or catches the missing entry point) first.
using System.Runtime.InteropServices;

namespace FraudFed.Sdk.State;

/// <summary>libc entry points (POSIX); return values and errno as libc gives them (<see cref="Marshal.GetLastPInvokeError"/>).</summary>
internal static unsafe partial class Posix
{
    /// <summary>open(2) without a mode (no O_CREAT).</summary>
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int open(string path, int flags);

    /// <summary>open(2) with a mode (for O_CREAT).</summary>
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint read(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint pwrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fdatasync(int fd);

    [LibraryImport("libc")]
    internal static partial int close(int fd);
}
