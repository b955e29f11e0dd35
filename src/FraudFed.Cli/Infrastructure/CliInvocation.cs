// How to run this CLI again, for commands that print next steps (`aggregator init`): a build in a source checkout (the
// README's `dotnet run`) is run as `dotnet run -c Release --project <dir> --`, with the project directory relative to the
// current directory; an installed or published executable as `fraudfed`.
namespace FraudFed.Cli.Infrastructure;

/// <summary>The command prefix that starts this CLI the way it was started.</summary>
internal static class CliInvocation
{
    private const string ProjectFile = "FraudFed.Cli.csproj";

    /// <summary>The prefix for this process (<see cref="AppContext.BaseDirectory"/>, the current directory).</summary>
    public static string Prefix() => Prefix(AppContext.BaseDirectory, Environment.CurrentDirectory);

    /// <summary>
    /// "dotnet run -c Release --project src/FraudFed.Cli --" when <paramref name="baseDirectory"/> (where the running CLI's
    /// files are) lies below a directory holding FraudFed.Cli.csproj, that is, the CLI runs from its own build output in a
    /// source checkout (the path is relative to <paramref name="currentDirectory"/>, quoted when it has a space); otherwise
    /// "fraudfed".
    /// </summary>
    public static string Prefix(string baseDirectory, string currentDirectory)
    {
        for (DirectoryInfo? d = new(baseDirectory); d is not null; d = d.Parent)
        {
            if (!File.Exists(Path.Combine(d.FullName, ProjectFile))) continue;
            string project = Path.GetRelativePath(currentDirectory, d.FullName);
            if (project.Contains(' ', StringComparison.Ordinal)) project = $"\"{project}\"";
            return $"dotnet run -c Release --project {project} --";
        }
        return "fraudfed";
    }
}
