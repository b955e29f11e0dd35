// Outputs of a run are written to a staging directory next to the target (same parent, so same file system)
// and moved into place only when the run has succeeded:
//   target absent   -> the staging directory is renamed to it (one atomic rename);
//   target present  -> each output file is renamed over its old version, and an output of an earlier run that
//                      this run did not produce (e.g. model.txt after a logistic run) is deleted.
// A run that fails or is cancelled leaves the target as it was: Dispose removes the staging directory and any
// parent directories Prepare created. Prepare refuses, before any work, a target that exists and is not a directory, lies under a
// file, or cannot be written (it creates and removes a probe file), so that is never found out after training.
// A run killed outright (SIGKILL, the out-of-memory killer, a power cut) cannot remove its staging directory, which holds
// whatever outputs it had written. So the staging directory, `.<name>.fraudfed-<12 hex digits>` beside the target <name>,
// carries an owner marker (OwnerMarker: `.fraudfed-staging-owner` with the owner's pid, boot id and start time; removed
// before the commit, so that it never reaches the target), and Prepare removes the staging directories of the same target
// whose owner is gone, which the command then says in one line (RemovedLine). Only that target's, named so, of this user,
// marked as staging directories: nothing else beside the target is touched. Linux only, as OwnerMarker.
namespace FraudFed.Cli.Infrastructure;

/// <summary>A staging directory for a run's outputs and the move into place at the end.</summary>
internal sealed class StagedOutput : IDisposable
{
    /// <summary>Name infix of a staging directory: `.&lt;target name&gt;.fraudfed-&lt;12 hex digits&gt;`.</summary>
    public const string Infix = ".fraudfed-";
    /// <summary>Hex digits that end a staging directory's name.</summary>
    private const int SuffixDigits = 12;
    /// <summary>The owner marker of a staging directory.</summary>
    public static readonly OwnerMarker Marker = new(".fraudfed-staging-owner", "fraudfed staged output, owner marker v1");

    private readonly List<string> _createdParents;
    private bool _committed;

    private StagedOutput(string target, string staging, List<string> createdParents, IReadOnlyList<string> removedLeftovers)
    {
        TargetPath = target;
        StagingPath = staging;
        _createdParents = createdParents;
        RemovedLeftovers = removedLeftovers;
    }

    /// <summary>The directory the outputs end up in (full path).</summary>
    public string TargetPath { get; }
    /// <summary>Where outputs are written during the run.</summary>
    public string StagingPath { get; }
    /// <summary>Staging directories of the same target that earlier runs, killed outright, left behind and that
    /// <see cref="Prepare"/> removed (full paths; empty when there were none).</summary>
    public IReadOnlyList<string> RemovedLeftovers { get; }

    /// <summary>True when <paramref name="name"/> is the name of a staging directory of a target named <paramref name="targetName"/>:
    /// `.&lt;targetName&gt;.fraudfed-` and 12 lowercase hex digits.</summary>
    internal static bool IsStagingName(string name, string targetName)
    {
        string prefix = "." + targetName + Infix;
        return name.Length == prefix.Length + SuffixDigits && name.StartsWith(prefix, StringComparison.Ordinal)
            && !name.AsSpan(prefix.Length).ContainsAnyExcept("0123456789abcdef");
    }

    /// <summary>The one stderr line of <paramref name="command"/> (the CLI's command path, e.g. "bank train") that says which
    /// leftover staging directories <see cref="Prepare"/> removed, or null when it removed none.</summary>
    public string? RemovedLine(string command) => OwnerMarker.RemovedLine(CommandNames.Typed(command), RemovedLeftovers,
        $"the staging directory of {ErrorLine.Value(TargetPath)} (outputs not yet moved into place) of an earlier run that was killed (its process is gone)",
        $"staging directories of {ErrorLine.Value(TargetPath)} (outputs not yet moved into place) of earlier runs that were killed (their processes are gone)");

    /// <summary>Checks <paramref name="target"/> (named <paramref name="option"/> in errors) and creates the staging directory.</summary>
    /// <exception cref="UsageException">a file, under a file, not writable, or not a valid path.</exception>
    public static StagedOutput Prepare(string target, string option = "--out")
    {
        string full;
        try { full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target)); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UsageException($"{option} '{target}' is not a valid path ({e.Message}).");
        }
        if (File.Exists(full)) throw new UsageException($"{option} '{target}' exists and is not a directory; give a directory (it is created if needed).");
        string? parent = Path.GetDirectoryName(full);
        if (parent is null) throw new UsageException($"{option} '{target}' is a file-system root; give a directory below it.");

        // Find the nearest existing ancestor; every missing one is created (and removed again if the run fails).
        var missing = new Stack<string>();
        string? probe = parent;
        while (probe is not null && !Directory.Exists(probe))
        {
            if (File.Exists(probe)) throw new UsageException($"{option} '{target}': '{probe}' is not a directory, so no directory can be made under it.");
            missing.Push(probe);
            probe = Path.GetDirectoryName(probe);
        }
        var created = new List<string>();
        string name = Path.GetFileName(full);
        string staging = Path.Combine(parent, "." + name + Infix + Guid.NewGuid().ToString("N")[..SuffixDigits]);
        string writingIn = parent;   // the user's directory a new entry is being made in (named in the error, not the hidden entry)
        try
        {
            while (missing.Count > 0)
            {
                string dir = missing.Pop();
                writingIn = Path.GetDirectoryName(dir) ?? dir;
                Directory.CreateDirectory(dir);
                created.Add(dir);
            }
            writingIn = parent;
            Directory.CreateDirectory(staging);
            Marker.Mark(staging);   // unmarked where that fails: removed by this run, never by another
            if (Directory.Exists(full))
            {
                // The files are renamed into the target at the end: check now that it takes new files.
                writingIn = full;
                string probeFile = Path.Combine(full, ".fraudfed-probe-" + Guid.NewGuid().ToString("N")[..12]);
                File.WriteAllBytes(probeFile, []);
                File.Delete(probeFile);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(staging);
            for (int i = created.Count - 1; i >= 0; i--) TryDelete(created[i]);
            throw new UsageException($"{option} '{target}' cannot be written: nothing can be created in '{writingIn}' ({Reason(e)}); give a directory you can write to.");
        }
        // Staging directories of this target left by runs killed outright (this run's own has a live owner: it stays).
        IReadOnlyList<string> removed = created.Count > 0 ? [] : Marker.RemoveLeftovers(parent, n => IsStagingName(n, name));
        return new StagedOutput(full, staging, created, removed);
    }

    /// <summary>Why a new file or directory could not be made, in words (the runtime's message names the hidden staging or
    /// probe entry, which the user never gave).</summary>
    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        DirectoryNotFoundException or FileNotFoundException => "the file system there does not take new files, e.g. /proc, or the directory was removed meanwhile",
        PathTooLongException => "the path is too long",
        _ when e.Message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase) => "read-only file system",
        _ when e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) => "no space left on the device",
        _ when e.Message.Contains("quota", StringComparison.OrdinalIgnoreCase) => "disk quota exceeded",
        _ => "the file system refused it",
    };

    /// <summary>Path of output <paramref name="name"/> in the staging directory.</summary>
    public string Stage(string name) => Path.Combine(StagingPath, name);

    /// <summary>Moves the staged outputs into place; <paramref name="outputNames"/> are all the names a run of this command may write.</summary>
    /// <returns>The final path of each staged file, by name.</returns>
    public IReadOnlyDictionary<string, string> Commit(IReadOnlyCollection<string> outputNames)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        File.Delete(Path.Combine(StagingPath, Marker.FileName));   // the marker is not an output (absent: nothing to do)
        foreach (string name in outputNames)
            if (File.Exists(Stage(name))) result[name] = Path.Combine(TargetPath, name);
        if (!Directory.Exists(TargetPath))
        {
            Directory.Move(StagingPath, TargetPath);
        }
        else
        {
            foreach (string name in outputNames)
            {
                string staged = Stage(name), final = Path.Combine(TargetPath, name);
                if (File.Exists(staged)) File.Move(staged, final, overwrite: true);
                else if (File.Exists(final)) File.Delete(final);
            }
            Directory.Delete(StagingPath, recursive: true);
        }
        _committed = true;
        return result;
    }

    /// <summary>Without a commit: removes the staging directory and the parents Prepare created.</summary>
    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        TryDelete(StagingPath);
        for (int i = _createdParents.Count - 1; i >= 0; i--) TryDelete(_createdParents[i]);
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (!Directory.Exists(dir)) return;
            // A created parent is removed only if nothing else appeared in it meanwhile.
            if (Path.GetFileName(dir).Contains(".fraudfed-", StringComparison.Ordinal)) Directory.Delete(dir, recursive: true);
            else if (!Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
