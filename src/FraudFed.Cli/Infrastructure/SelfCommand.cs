// How to start this same CLI as a child process, whichever way the parent was started:
//   published single-file   the executable itself (the assembly has no file of its own);
//   apphost                 `dotnet run` and `dotnet publish` start bin/.../FraudFed.Cli (or FraudFed.Cli.exe): run it again;
//   dotnet host             `dotnet FraudFed.Cli.dll ...`, or a host such as the test runner that loaded the CLI assembly:
//                           `<dotnet> exec FraudFed.Cli.dll`, where <dotnet> is the running host, DOTNET_HOST_PATH, or
//                           `dotnet` on the PATH.
// The child then runs the same build as the parent: the same code reads the partition files and replays the sums.
using System.Diagnostics;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Builds a <see cref="ProcessStartInfo"/> that runs this CLI with given arguments.</summary>
internal static class SelfCommand
{
    /// <summary>The executable and the arguments before the command's own.</summary>
    public static (string FileName, IReadOnlyList<string> Prefix) Resolve()
    {
        string? process = Environment.ProcessPath;
        string assembly = typeof(Program).Assembly.Location;
        if (assembly.Length == 0 && process is not null) return (process, []);
        string assemblyName = Path.GetFileNameWithoutExtension(assembly);
        if (process is not null && string.Equals(Path.GetFileNameWithoutExtension(process), assemblyName, StringComparison.OrdinalIgnoreCase))
            return (process, []);
        string dotnet = process is not null && Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? process
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath ? hostPath : "dotnet";
        return (dotnet, ["exec", assembly]);
    }

    /// <summary>A start description of this CLI with <paramref name="arguments"/>, every standard stream redirected.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        (string file, IReadOnlyList<string> prefix) = Resolve();
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (string a in prefix.Concat(arguments)) info.ArgumentList.Add(a);
        return info;
    }
}
