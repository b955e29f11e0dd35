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

    /// <summary>Name of the environment variable that chooses the program of `bank` commands that simulate starts: 0, false, no
    /// or off keeps them in this CLI; 1, true, yes or on requires the native bank program; unset (or empty), the native
    /// program when there is one (<see cref="NativeBankChoice"/>).</summary>
    public const string NativeBankVariable = "FRAUDFED_NATIVE_BANK";

    /// <summary>What a value of <see cref="NativeBankVariable"/> asks for: true (the native bank program), false (this CLI), or
    /// null (unset or blank: the native program when there is one). Case-insensitive, surrounding blanks ignored.</summary>
    /// <exception cref="UsageException">any other value: names the variable, the value and the accepted values (the error line
    /// shows the value escaped and cut, as every error line: ErrorLine).</exception>
    public static bool? NativeBankChoice(string? value)
    {
        string v = (value ?? "").Trim().ToLowerInvariant();
        return v switch
        {
            "" => null,
            "1" or "true" or "yes" or "on" => true,
            "0" or "false" or "no" or "off" => false,
            _ => throw new UsageException($"{NativeBankVariable}='{value}' is not understood: set it to 1, true, yes or on (the native bank program), " +
                "to 0, false, no or off (the CLI's own bank processes), or leave it unset (the native program when the build made one)."),
        };
    }

    /// <summary>The native bank program built beside this CLI (native/fraudfed-bank, Linux x64 builds), or null: turned off by
    /// <see cref="NativeBankVariable"/> (0, false, no, off), or, with the variable unset, not built (another platform, a build
    /// without gcc or with -p:FraudFedNativeBank=false).</summary>
    /// <exception cref="UsageException">the variable has another value (<see cref="NativeBankChoice"/>), or asks for the native
    /// program (1, true, yes, on) and the build made none.</exception>
    public static string? NativeBank() =>
        NativeBank(Environment.GetEnvironmentVariable(NativeBankVariable), Path.Combine(AppContext.BaseDirectory, "native", "fraudfed-bank"));

    /// <summary><see cref="NativeBank()"/> for the variable's <paramref name="value"/> and the program's <paramref name="path"/>.</summary>
    internal static string? NativeBank(string? value, string path)
    {
        bool? wanted = NativeBankChoice(value);
        if (wanted == false) return null;
        if (File.Exists(path)) return path;
        if (wanted == true)
            throw new UsageException($"{NativeBankVariable}={value!.Trim()} asks for the native bank program, and this build has none ({path} does not exist): " +
                "`dotnet build -c Release` makes it on Linux x64 when gcc is on PATH (README, Quick start); or set it to 0, or leave it unset, to run the CLI's own bank processes.");
        return null;
    }

    /// <summary>A start description of a `bank` command (<paramref name="arguments"/> begin with "bank"): in the native bank
    /// program when there is one (<see cref="NativeBank()"/>; <paramref name="native"/> true), whose root holds the `bank`
    /// commands (`fraudfed-bank train ...`: the arguments after "bank"), else in this CLI.</summary>
    /// <exception cref="UsageException"><see cref="NativeBankVariable"/> cannot be followed (<see cref="NativeBank()"/>).</exception>
    public static ProcessStartInfo BankStartInfo(IReadOnlyList<string> arguments, out bool native)
    {
        if (arguments.Count == 0 || arguments[0] != "bank") throw new ArgumentException("not a bank command.", nameof(arguments));
        string? exe = NativeBank();
        native = exe is not null;
        return exe is not null ? StartInfo(exe, arguments.Skip(1)) : StartInfo(arguments);
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
