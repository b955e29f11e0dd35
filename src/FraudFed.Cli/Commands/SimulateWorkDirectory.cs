// The private temporary directory of a `simulate --transport grpc` run (the development kit's keys, the banks' plaintext
// partition files, the appliance's state), and the removal of such directories left behind by a run that was killed.
// A run removes its directory itself whatever happens, except when it is killed outright (SIGKILL, a power cut): then
// nothing of it runs any more. So each directory carries a marker naming its owner (OwnerMarker: pid, boot id, start time),
// `.fraudfed-simulate-owner`, and the next grpc run removes the directories of the temporary directory named
// fraudfed-simulate-* whose marker says their owner is gone (every condition: OwnerMarker). Linux only; elsewhere nothing
// is marked or removed.
using FraudFed.Cli.Infrastructure;

namespace FraudFed.Cli.Commands;

/// <summary>The temporary directory of one `simulate --transport grpc` run, marked with its owner, and the removal of those a
/// killed run left behind.</summary>
internal static class SimulateWorkDirectory
{
    /// <summary>Name prefix of every run's directory in the temporary directory.</summary>
    public const string Prefix = "fraudfed-simulate-";
    /// <summary>The marker file in a run's directory.</summary>
    public const string MarkerName = ".fraudfed-simulate-owner";
    /// <summary>The marker's first line: the format.</summary>
    public const string MarkerFormat = "fraudfed simulate work directory, owner marker v1";
    /// <summary>The owner marker of a run's directory.</summary>
    public static readonly OwnerMarker Marker = new(MarkerName, MarkerFormat);

    /// <summary>Makes this run's directory (mode 0700, in <see cref="Path.GetTempPath"/>) and marks it with this process as
    /// owner (unmarked where that fails: removed by this run at its end, never by another).</summary>
    public static string Create()
    {
        string dir = Directory.CreateTempSubdirectory(Prefix).FullName;
        Marker.Mark(dir);
        return dir;
    }

    /// <summary>Removes the directories of <paramref name="root"/> (default the temporary directory) named
    /// <see cref="Prefix"/>* that earlier runs left behind and whose owner process is gone (<see cref="OwnerMarker"/>); returns
    /// their paths. Never throws for a directory it cannot inspect or remove: it leaves it.</summary>
    public static IReadOnlyList<string> RemoveLeftovers(string? root = null) =>
        Marker.RemoveLeftovers(root ?? Path.GetTempPath(), name => name.StartsWith(Prefix, StringComparison.Ordinal));

    /// <summary>The one stderr line that says what <see cref="RemoveLeftovers"/> removed, or null when nothing was.</summary>
    public static string? RemovedLine(IReadOnlyList<string> removed) => OwnerMarker.RemovedLine("fraudfed simulate", removed,
        "the temporary directory (development kit, partition files) of an earlier simulate that was killed (its process is gone)",
        "temporary directories (development kits, partition files) of earlier simulate runs that were killed (their processes are gone)");
}
