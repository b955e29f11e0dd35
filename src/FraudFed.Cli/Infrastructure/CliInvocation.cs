// How to run this CLI again, for commands that print next steps (`aggregator init`): a build in a source checkout (the
// README's `dotnet run`) is run as `dotnet run -c Release --project <dir> --`, with the project directory relative to the
// current directory when that lies inside the checkout (the directory holding FraudFed.sln) and absolute otherwise, so the
// printed line works where it was printed; an installed or published executable as `fraudfed`.
namespace FraudFed.Cli.Infrastructure;

/// <summary>The command prefix that starts this CLI the way it was started.</summary>
internal static class CliInvocation
{
    private const string ProjectFile = "FraudFed.Cli.csproj";
    private const string SolutionFile = "FraudFed.sln";

    /// <summary>The prefix for this process (<see cref="AppContext.BaseDirectory"/>, the current directory).</summary>
    public static string Prefix() => Prefix(AppContext.BaseDirectory, Environment.CurrentDirectory);

    /// <summary>
    /// "dotnet run -c Release --project src/FraudFed.Cli --" when <paramref name="baseDirectory"/> (where the running CLI's
    /// files are) lies below a directory holding FraudFed.Cli.csproj, that is, the CLI runs from its own build output in a
    /// source checkout (the path is relative to <paramref name="currentDirectory"/> when that lies inside the checkout, the
    /// nearest directory above the project holding FraudFed.sln, and absolute otherwise; quoted when needed); otherwise
    /// "fraudfed".
    /// </summary>
    public static string Prefix(string baseDirectory, string currentDirectory)
    {
        for (DirectoryInfo? d = new(baseDirectory); d is not null; d = d.Parent)
        {
            if (!File.Exists(Path.Combine(d.FullName, ProjectFile))) continue;
            DirectoryInfo? checkout = d;
            while (checkout is not null && !File.Exists(Path.Combine(checkout.FullName, SolutionFile))) checkout = checkout.Parent;
            string root = (checkout ?? d).FullName;
            string current = Path.GetFullPath(currentDirectory);
            string fromRoot = Path.GetRelativePath(root, current);   // "..", "../x" or rooted (another drive) when outside
            bool inside = fromRoot != ".." && !fromRoot.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) && !Path.IsPathRooted(fromRoot);
            string project = inside ? Path.GetRelativePath(current, d.FullName) : d.FullName;
            return $"dotnet run -c Release --project {Quote(project)} --";
        }
        return "fraudfed";
    }

    /// <summary><paramref name="path"/> as one shell word: in double quotes when it holds a space or a character a shell
    /// treats specially, as is otherwise.</summary>
    public static string Quote(string path) =>
        path.Length > 0 && path.All(c => char.IsAsciiLetterOrDigit(c) || "/\\._-+:=,@%".Contains(c)) ? path : $"\"{path}\"";
}
