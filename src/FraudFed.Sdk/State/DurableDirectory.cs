// fsync of a directory after a rename in it: shared by the bank's sealed state files (StateFiles) and the appliance's
// payload files (FraudFed.Aggregator's SqliteAggregatorStore), which both write a temporary file, flush it, and rename it;
// and fdatasync of a file written in place (the bank's round part, SlottedStateFile).
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace FraudFed.Sdk.State;

/// <summary>Makes a rename durable on POSIX systems.</summary>
internal static class DurableDirectory
{
    /// <summary>fsync of a directory, so that a rename in it is durable (POSIX open(O_RDONLY) + fsync; .NET cannot open a
    /// directory as a file). Windows makes a rename durable with the file's own flush and needs nothing here.</summary>
    /// <exception cref="IOException">the directory cannot be opened or synced.</exception>
    public static void Sync(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD()) return;
        int fd = Posix.open(directory, 0);   // O_RDONLY (0 on every POSIX system .NET runs on)
        if (fd < 0) throw new IOException($"cannot open {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Posix.fsync(fd) != 0) throw new IOException($"cannot sync {directory} (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { Posix.close(fd); }
    }

    /// <summary>Makes the data of <paramref name="file"/> durable: fdatasync of <paramref name="handle"/> (its handle, taken once:
    /// each read of FileStream.SafeFileHandle costs an lseek) on Linux (the file's bytes and the metadata needed to read them back,
    /// such as its length; not its times), a full flush (fsync) elsewhere.</summary>
    /// <exception cref="IOException">the sync failed.</exception>
    public static void DataSync(FileStream file, SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            file.Flush(flushToDisk: true);
            return;
        }
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (Posix.fdatasync((int)handle.DangerousGetHandle()) != 0)
                throw new IOException($"cannot sync {file.Name} (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }
}
