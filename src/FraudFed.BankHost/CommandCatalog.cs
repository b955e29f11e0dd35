using FraudFed.Cli.Commands;

namespace FraudFed.Cli;

/// <summary>The native bank program's commands: the CLI's `bank sum` and `bank train` at its root, invoked as
/// `fraudfed-bank sum` and `fraudfed-bank train`.</summary>
internal static class CommandCatalog
{
    /// <summary>The program's name, first word of its usage lines, error lines and "(... --help)" hints.</summary>
    public const string ProgramName = "fraudfed-bank";

    /// <summary>The CLI's command group whose subcommands sit at this program's root: `fraudfed bank train` is
    /// `fraudfed-bank train`.</summary>
    public static string? RootGroup => "bank";

    /// <summary>The description of the root command (`fraudfed-bank --help`): what the program is, said once.</summary>
    public const string Description =
        "fraudfed-bank: the `fraudfed bank` commands compiled ahead of time (NativeAOT) for the bank processes that "
        + "`fraudfed simulate --transport grpc` starts: same options, same exit codes. Run `fraudfed bank ...` by hand.";

    /// <summary>A fresh instance of each command group.</summary>
    public static IEnumerable<object> Commands() => [new BankCommands()];
}
