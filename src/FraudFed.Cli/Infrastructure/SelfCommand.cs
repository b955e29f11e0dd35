// How to start this same CLI as a child process, whichever way the parent was started:
//   published single-file   the executable itself (the assembly has no file of its own);
//   apphost                 `dotnet run` and `dotnet publish` start bin/.../FraudFed.Cli (or FraudFed.Cli.exe): run it again;
//   dotnet host             `dotnet FraudFed.Cli.dll ...`, or a host such as the test runner that loaded the CLI assembly:
//                           `<dotnet> exec FraudFed.Cli.dll`, where <dotnet> is the running host, DOTNET_HOST_PATH, or
//                           `dotnet` on the PATH.
// The child then runs the same build as the parent: the same code reads the partition files and replays the sums.
// A `bank` command may instead run in the native bank program (native/fraudfed-bank beside this CLI's assembly): the same
// source files of the bank commands, compiled ahead of time by this build (src/FraudFed.BankHost), so the same code too.
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
        return StartInfo(file, prefix.Concat(arguments));
    }

    /// <summary>Name of the environment variable that, set to 0, keeps `bank` commands in this CLI (no native bank program).</summary>
    public const string NativeBankVariable = "FRAUDFED_NATIVE_BANK";

    /// <summary>The native bank program built beside this CLI (native/fraudfed-bank, Linux x64 builds), or null: not built
    /// (another platform, -p:FraudFedNativeBank=false) or turned off by <see cref="NativeBankVariable"/>=0.</summary>
    public static string? NativeBank()
    {
        if (Environment.GetEnvironmentVariable(NativeBankVariable) == "0") return null;
        string path = Path.Combine(AppContext.BaseDirectory, "native", "fraudfed-bank");
        return File.Exists(path) ? path : null;
    }

    /// <summary>A start description of a `bank` command (<paramref name="arguments"/> begin with "bank"): in the native bank
    /// program when there is one (<see cref="NativeBank"/>; <paramref name="native"/> true), else in this CLI.</summary>
    public static ProcessStartInfo BankStartInfo(IReadOnlyList<string> arguments, out bool native)
    {
        if (arguments.Count == 0 || arguments[0] != "bank") throw new ArgumentException("not a bank command.", nameof(arguments));
        string? exe = NativeBank();
        native = exe is not null;
        return exe is not null ? StartInfo(exe, arguments) : StartInfo(arguments);
    }

    private static ProcessStartInfo StartInfo(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (string a in arguments) info.ArgumentList.Add(a);
        return info;
    }
}
