// A marker file naming the process that owns a directory, and the removal of such directories whose owner is gone. A
// command removes the directories it makes itself whatever happens, except when it is killed outright (SIGKILL, the
// out-of-memory killer, a power cut): then nothing of it runs any more. So each such directory carries a marker, and a later
// run removes the ones whose owner is gone. Two kinds use it: the temporary directory of `simulate --transport grpc`
// (SimulateWorkDirectory) and the staging directory beside --out (StagedOutput); each kind has its own marker name and
// format line, so that one kind's sweep never takes the other's directories.
//   marker   a file in the directory, written (then renamed into place) right after the directory is made: a first line
//            naming the format, then pid=, boot= (the kernel's boot id, /proc/sys/kernel/random/boot_id) and start= (the
//            process's start time in clock ticks since boot, field 22 of /proc/<pid>/stat, proc(5)). A pid alone is not
//            enough: the kernel reuses pids, and the start time tells the owner from a later process that got its pid; the
//            boot id, a run from before a reboot.
//   removed  only a candidate the caller names (by its name: the kind's naming scheme), that is a directory (not a link to
//            one), that belongs to the current user, whose marker is a regular file of the current user of at most 1 KiB in
//            the kind's format, and whose owner is gone: no process with that pid, or one that started at another time, or
//            another boot. Anything else is left alone, a directory whose marker cannot be read or whose owner cannot be told
//            apart included.
// Linux only (the owner's start time from /proc, the directory's owner from statx(2)); elsewhere no marker is written and
// nothing is removed. This file is also compiled into the native bank program (src/FraudFed.BankHost), whose `bank train`
// stages its outputs too.
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The owner marker of one kind of directory (its file name and format line): written into a directory this
/// process makes, and read to remove the directories of that kind whose owner process is gone.</summary>
internal sealed partial class OwnerMarker
{
    private const int MaxMarkerBytes = 1024;

    /// <summary>A marker kind: the file <paramref name="fileName"/> in the directory, whose first line is <paramref name="format"/>.</summary>
    public OwnerMarker(string fileName, string format)
    {
        FileName = fileName;
        Format = format;
    }

    /// <summary>The marker's file name in a marked directory.</summary>
    public string FileName { get; }
    /// <summary>The marker's first line: the kind and format version.</summary>
    public string Format { get; }

    /// <summary>Marks <paramref name="dir"/> with this process as its owner; false when no marker could be written (not Linux,
    /// or the file system refused it): the directory is then removed by its own run only, never by another.</summary>
    public bool Mark(string dir)
    {
        try { return Write(dir, Environment.ProcessId); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>Writes the marker naming process <paramref name="pid"/> (as it runs now) as the owner of <paramref name="dir"/>;
    /// returns false and writes nothing where the owner's start time cannot be read (not Linux, no such process).</summary>
    /// <exception cref="IOException">the file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">the directory cannot be written.</exception>
    public bool Write(string dir, int pid)
    {
        if (Owner(pid) is not { } owner) return false;
        string text = string.Create(CultureInfo.InvariantCulture, $"{Format}\npid={pid}\nboot={owner.Boot}\nstart={owner.Start}\n");
        string temporary = Path.Combine(dir, FileName + ".tmp");
        File.WriteAllText(temporary, text, new UTF8Encoding(false));
        File.Move(temporary, Path.Combine(dir, FileName), overwrite: true);   // whole or absent, never half written
        return true;
    }

    /// <summary>Removes the directories of <paramref name="root"/> whose name <paramref name="isCandidate"/> accepts, that
    /// carry this kind's marker and whose owner process is gone (see the file's head for every condition); returns their full
    /// paths. Never throws for a directory it cannot inspect or remove, nor for a root it cannot list: it leaves them.</summary>
    public IReadOnlyList<string> RemoveLeftovers(string root, Func<string, bool> isCandidate)
    {
        var removed = new List<string>();
        if (!OperatingSystem.IsLinux()) return removed;
        uint user;
        string boot;
        IEnumerable<string> candidates;
        try
        {
            user = GetEffectiveUserId();
            boot = BootId();
            candidates = Directory.EnumerateDirectories(root).Where(d => isCandidate(Path.GetFileName(d))).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException)
        {
            return removed;
        }
        foreach (string dir in candidates)
        {
            try
            {
                if (!IsLeftover(dir, user, boot)) continue;
                Directory.Delete(dir, recursive: true);
                removed.Add(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException) { }
        }
        return removed;
    }

    private bool IsLeftover(string dir, uint user, string boot)
    {
        // The directory itself (not a link), the current user's; its marker a regular file of the same user.
        if (Stat(dir) is not { } d || !d.IsDirectory || d.Uid != user) return false;
        string marker = Path.Combine(dir, FileName);
        if (Stat(marker) is not { } m || !m.IsRegularFile || m.Uid != user || m.Size > MaxMarkerBytes) return false;
        if (Parse(File.ReadAllText(marker)) is not { } owner) return false;
        return OwnerGone(owner.Pid, owner.Boot, owner.Start, boot);
    }

    /// <summary>The owner a marker names (pid, boot id, start ticks), or null when the text is not a marker of this kind.</summary>
    public (int Pid, string Boot, ulong Start)? Parse(string text)
    {
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != 4 || lines[0] != Format) return null;
        string? Value(string line, string key) => line.StartsWith(key + "=", StringComparison.Ordinal) ? line[(key.Length + 1)..] : null;
        if (!int.TryParse(Value(lines[1], "pid"), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0) return null;
        if (Value(lines[2], "boot") is not { Length: > 0 } bootId) return null;
        if (!ulong.TryParse(Value(lines[3], "start"), NumberStyles.None, CultureInfo.InvariantCulture, out ulong start)) return null;
        return (pid, bootId, start);
    }

    /// <summary>True when no process <paramref name="pid"/> of this boot started at <paramref name="start"/> (clock ticks since
    /// boot): the marker's boot is not <paramref name="currentBoot"/>, the pid has no process, or its process started at another
    /// time (a reused pid). False when it runs, or when that cannot be told.</summary>
    public static bool OwnerGone(int pid, string boot, ulong start, string currentBoot)
    {
        if (!string.Equals(boot, currentBoot, StringComparison.Ordinal)) return true;
        if (!Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}")) return true;
        return StartTicks(pid) is { } now && now != start;
    }

    /// <summary>Process <paramref name="pid"/>'s boot id and start time (clock ticks since boot), or null (not Linux, no such process).</summary>
    public static (string Boot, ulong Start)? Owner(int pid)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            string boot = BootId();
            return StartTicks(pid) is { } start && boot.Length > 0 ? (boot, start) : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>True when <paramref name="path"/> (links followed) is a pipe: a named FIFO, or an anonymous pipe as /dev/stdin or
    /// <c>&lt;(...)</c> give it; false when it is something else; null when that cannot be told (not Linux, no such file).
    /// statx(2) does not open the file, so a FIFO that no process writes does not block it, as an open would. (Here beside the
    /// marker's own statx call.)</summary>
    internal static bool? IsPipe(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0 || (BitConverter.ToUInt32(buffer, 0) & StatxType) == 0) return null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return null; }
        return (BitConverter.ToUInt16(buffer, 28) & 0xF000) == 0x1000;   // S_IFIFO
    }

    /// <summary>The kernel's boot id (/proc/sys/kernel/random/boot_id), which changes at every boot.</summary>
    /// <exception cref="IOException">it cannot be read.</exception>
    private static string BootId() => File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();

    /// <summary>The one stderr line <paramref name="prefix"/> ("fraudfed simulate") writes after removing <paramref name="removed"/>,
    /// or null when nothing was removed: "removed PATH, <paramref name="one"/>." for one directory, "removed N <paramref name="many"/>:
    /// PATH, PATH." for more.</summary>
    public static string? RemovedLine(string prefix, IReadOnlyList<string> removed, string one, string many) => removed.Count switch
    {
        0 => null,
        1 => $"{prefix}: removed {removed[0]}, {one}.",
        _ => $"{prefix}: removed {removed.Count} {many}: {string.Join(", ", removed)}.",
    };

    /// <summary>Field 22 of /proc/<paramref name="pid"/>/stat (starttime, clock ticks after boot), or null when it cannot be read.
    /// The fields are counted after the last ')', which closes the command name (a name may hold spaces and parentheses).</summary>
    private static ulong? StartTicks(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        int close = stat.LastIndexOf(')');
        if (close < 0) return null;
        string[] fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state): starttime, field 22, is fields[19].
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out ulong ticks) ? ticks : null;
    }

    private readonly record struct FileStatus(uint Uid, ushort Mode, ulong Size)
    {
        public bool IsDirectory => (Mode & 0xF000) == 0x4000;
        public bool IsRegularFile => (Mode & 0xF000) == 0x8000;
    }

    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8, StatxSize = 0x200;

    /// <summary>The owner, type and size of <paramref name="path"/> itself (a link is not followed), or null. statx(2): its
    /// struct statx has the same layout on every Linux architecture (stx_uid at byte 20, stx_mode at 28, stx_size at 40).</summary>
    private static FileStatus? Stat(string path)
    {
        var buffer = new byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxMode | StatxUid | StatxSize, buffer) != 0) return null;
        uint mask = BitConverter.ToUInt32(buffer, 0);
        if ((mask & (StatxType | StatxMode | StatxUid | StatxSize)) != (StatxType | StatxMode | StatxUid | StatxSize)) return null;
        return new FileStatus(BitConverter.ToUInt32(buffer, 20), BitConverter.ToUInt16(buffer, 28), BitConverter.ToUInt64(buffer, 40));
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
