// The exclusive lock on a bank's state directory (SPEC.md 14.6): one process, and in it one client, per directory. The
// decryption ledger answers at most one decryption request per (round, chunk) only if one copy of it is in use: two
// processes that each read ledger.bin at start could each answer a different request for the same chunk. The lock is the
// file `lock` in the directory, opened with FileShare.None: on Linux and macOS .NET takes a non-blocking flock(LOCK_EX) on
// it, which conflicts between two open file descriptions even inside one process; on Windows the share mode denies a second
// open. The operating system releases it when the holder closes the file or dies (a killed bank restarts without manual
// clean-up); the file is never deleted (deleting races with a new opener, who would lock a file no longer in the directory).
// While held it says who holds it: "pid <n>\nstarted <process start, UTC ISO 8601>\nhost <machine name>\n" (no secret).
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace FraudFed.Sdk.State;

/// <summary>A bank's state directory is held by another process, or by another client or state store in this process
/// (SPEC.md 14.6): nothing in the directory was read or written, and no network call was made.</summary>
public sealed class StateDirectoryInUseException : FederationException
{
    /// <summary>Creates the exception for <paramref name="directory"/>; <paramref name="holderProcessId"/> and
    /// <paramref name="holderStarted"/> are null when the lock file does not say (or cannot be read, as on Windows).</summary>
    public StateDirectoryInUseException(string directory, int? holderProcessId, DateTimeOffset? holderStarted, string? holderHost)
        : base(Describe(directory, holderProcessId, holderStarted, holderHost))
    {
        Directory = directory;
        HolderProcessId = holderProcessId;
        HolderStarted = holderStarted;
    }

    /// <summary>The state directory.</summary>
    public string Directory { get; }
    /// <summary>The holder's process id, as its lock file says, or null.</summary>
    public int? HolderProcessId { get; }
    /// <summary>When the holder's process started (UTC), as its lock file says, or null.</summary>
    public DateTimeOffset? HolderStarted { get; }

    private static string Describe(string directory, int? pid, DateTimeOffset? started, string? host)
    {
        string when = started is { } s ? ", started " + s.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "";
        string where = host is not null && !string.Equals(host, Environment.MachineName, StringComparison.Ordinal) ? " on host " + host : "";
        if (pid == Environment.ProcessId && where.Length == 0)
            return $"bank state directory {directory} is in use by another client in this process (pid {pid}{when}); use one FederationClient per bank, or dispose the first before creating the next.";
        string holder = pid is { } p ? $" (pid {p}{where}{when})" : "";
        return $"bank state directory {directory} is in use by another process{holder}; run one process per bank, or wait for it to finish.";
    }
}

/// <summary>The held lock of one state directory. Dispose releases it (idempotent); the lock file stays.</summary>
internal sealed class StateDirectoryLock : IDisposable
{
    /// <summary>The lock file's name in the state directory.</summary>
    public const string FileName = "lock";
    private const int MaxContentBytes = 512;

    private FileStream? _file;

    private StateDirectoryLock(string directory, FileStream file)
    {
        Directory = directory;
        _file = file;
    }

    /// <summary>The locked directory.</summary>
    public string Directory { get; }

    /// <summary>True until <see cref="Dispose"/>.</summary>
    public bool IsHeld => Volatile.Read(ref _file) is not null;

    /// <summary>Creates <paramref name="directory"/> if needed (mode 0700), then takes its lock without waiting and writes this
    /// process's id, start time and host into the lock file.</summary>
    /// <exception cref="StateDirectoryInUseException">another process, or another client or store of this process, holds it
    /// (nothing read or written).</exception>
    /// <exception cref="StateFileException">the directory cannot be created, or the lock file cannot be opened or written.</exception>
    public static StateDirectoryLock Acquire(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        EncryptedStateFile.EnsureDirectory(directory);
        string path = Path.Combine(directory, FileName);
        FileStream file;
        try
        {
            // OpenOrCreate, never Create: truncating at open would wipe the holder's lines before the lock is even tried.
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            file = new FileStream(path, options);
        }
        catch (IOException e) when (IsLockConflict(e))
        {
            (int? pid, DateTimeOffset? started, string? host) = ReadHolder(path);
            throw new StateDirectoryInUseException(directory, pid, started, host);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StateFileException(path, e is UnauthorizedAccessException
                ? "the state directory's lock file cannot be opened (permission denied): run as the user that owns the state directory (the 'state_directory' setting of bank.json) or fix its permissions, or point state_directory at a writable directory."
                : "the state directory's lock file cannot be opened (an input/output error): check the disk, or point state_directory in bank.json at a writable directory.", e);
        }
        try
        {
            DateTime start;
            using (var self = System.Diagnostics.Process.GetCurrentProcess()) start = self.StartTime.ToUniversalTime();
            byte[] content = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"pid {Environment.ProcessId}\nstarted {start:yyyy-MM-ddTHH:mm:ssZ}\nhost {Environment.MachineName}\n"));
            file.SetLength(0);
            file.Write(content);
            file.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file.Dispose();
            throw new StateFileException(path, $"the state directory's lock file cannot be written ({e.Message}); check the disk and the directory's permissions.", e);
        }
        return new StateDirectoryLock(directory, file);
    }

    /// <summary>Throws unless the lock is still held: a store writes only under its lock.</summary>
    /// <exception cref="StateFileException">the lock was released (its client was disposed or abandoned); nothing is written.</exception>
    public void EnsureHeld()
    {
        if (!IsHeld) throw new StateFileException(Directory, "the state directory's lock was released (its client was disposed); nothing more is written to it.");
    }

    /// <inheritdoc />
    public void Dispose() => Interlocked.Exchange(ref _file, null)?.Dispose();

    /// <summary>The open failed because another open file description holds the lock: EWOULDBLOCK from flock on Unix (11 on
    /// Linux, 35 on macOS and FreeBSD, carried as the IOException's HResult), a sharing or lock violation on Windows.</summary>
    private static bool IsLockConflict(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33 : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35);

    /// <summary>The holder's lines of the lock file, each null when absent or unreadable. On Unix the file is read through
    /// open(2)/read(2), which take no lock (.NET's FileStream would take a shared flock and be refused); on Windows the
    /// holder's share mode denies any open, so nothing is known.</summary>
    private static (int? Pid, DateTimeOffset? Started, string? Host) ReadHolder(string path)
    {
        if (OperatingSystem.IsWindows()) return (null, null, null);
        var buffer = new byte[MaxContentBytes];
        int fd = Posix.open(path, 0);   // O_RDONLY
        if (fd < 0) return (null, null, null);
        int n;
        try { n = (int)Posix.read(fd, buffer, buffer.Length); }
        finally { Posix.close(fd); }
        if (n <= 0) return (null, null, null);
        int? pid = null;
        DateTimeOffset? started = null;
        string? host = null;
        foreach (string line in Encoding.UTF8.GetString(buffer, 0, n).Split('\n'))
        {
            if (line.StartsWith("pid ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int p)) pid = p;
            else if (line.StartsWith("started ", StringComparison.Ordinal)
                && DateTimeOffset.TryParseExact(line.AsSpan(8), "yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset s)) started = s;
            else if (line.StartsWith("host ", StringComparison.Ordinal) && line.Length > 5) host = line[5..];
        }
        return (pid, started, host);
    }
}
