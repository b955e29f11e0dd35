// The words for a file a user names that this process may not open: the file itself unreadable ("permission denied"), a folder
// on its way that may not be entered (it then looks missing), or a folder given where a file is needed; never the framework's
// "Access to the path '...' is denied.".
namespace FraudFed.Sdk.Configuration;

/// <summary>Why a named file cannot be opened, in the user's words, with what to do.</summary>
public static class InputFileAccess
{
    /// <summary>"'PATH' cannot be read (permission denied): run as a user that may read it, or fix its permissions".</summary>
    /// <param name="path">The file as the user gave it.</param>
    public static string Denied(string path) =>
        $"'{path}' cannot be read (permission denied): run as a user that may read it, or fix its permissions";

    /// <summary>"'PATH' cannot be reached (permission denied on the folder 'DIR' on the way): ...", for a path that does not
    /// show as a file because a folder on its way may not be entered (searched).</summary>
    /// <param name="path">The file as the user gave it.</param>
    /// <param name="folder">The folder on the way that may not be entered, or null when it is not known which.</param>
    public static string Unreachable(string path, string? folder) =>
        $"'{path}' cannot be reached (permission denied on {(folder is null ? "a folder" : $"the folder '{folder}'")} on the way): "
        + "run as a user that may enter it, or fix the folder's permissions";

    /// <summary>For a path that File.Exists says is not there: the unreachable words (<see cref="Unreachable"/>) when opening
    /// it is refused for permission (a folder on the way may not be entered), else null (it does not exist).</summary>
    /// <param name="path">The file as the user gave it.</param>
    public static string? WhyNotThere(string path)
    {
        try { using var _ = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1); }
        catch (UnauthorizedAccessException) { return Unreachable(path, BlockingFolder(path)); }
        catch (Exception e) when (e is IOException or ArgumentException or NotSupportedException) { }
        return null;
    }

    /// <summary>The nearest existing folder above <paramref name="path"/> when it is the one that may not be entered (what
    /// it holds cannot be looked at); null when that cannot be told.</summary>
    private static string? BlockingFolder(string path)
    {
        try
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            while (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir)) dir = Path.GetDirectoryName(dir);
            if (string.IsNullOrEmpty(dir)) return null;
            try { using var entries = Directory.EnumerateFileSystemEntries(dir).GetEnumerator(); entries.MoveNext(); }
            catch (UnauthorizedAccessException) { return dir; }
            return null;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException) { return null; }
    }
}
