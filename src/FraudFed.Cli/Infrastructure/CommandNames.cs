// What the user typed to run a command, for the first word of its one-line errors and the "(... --help)" hints: the CLI
// is `fraudfed bank train`; the native bank program (src/FraudFed.BankHost) has the `bank` commands at its root and is
// `fraudfed-bank train`. Every caller passes the CLI's command path ("bank train"); the program's CommandCatalog says which
// program this is.
namespace FraudFed.Cli.Infrastructure;

/// <summary>The name of a command as it is invoked in this program.</summary>
internal static class CommandNames
{
    /// <summary>
    /// "fraudfed bank train" for the CLI's command path "bank train" ("fraudfed" for the root, ""); in the native bank program,
    /// whose root holds the subcommands of <see cref="CommandCatalog.RootGroup"/>, "fraudfed-bank train" ("fraudfed-bank"
    /// for "bank" and for "").
    /// </summary>
    public static string Typed(string command)
    {
        string rest = command;
        if (CommandCatalog.RootGroup is { } group)
            rest = command == group ? "" : command.StartsWith(group + " ", StringComparison.Ordinal) ? command[(group.Length + 1)..] : command;
        return rest.Length == 0 ? CommandCatalog.ProgramName : CommandCatalog.ProgramName + " " + rest;
    }
}
