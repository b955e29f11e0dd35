using System.CommandLine;
using System.CommandLine.Invocation;
using FraudFed.Cli.Infrastructure;

namespace FraudFed.Cli;

/// <summary>A top-level `fraudfed` command group or command. Implementations are discovered by reflection,
/// so each command lives in its own file and adding one touches nothing else.</summary>
internal interface ICliCommand
{
    /// <summary>Builds the command. Commands with the same name (e.g. several "bench" suites) are merged:
    /// return a command whose subcommands will be added under the shared parent.</summary>
    Command Build();
}

internal static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Parses and runs a command line. A parse error (unknown option, a value of the wrong type, a value outside an
    /// option's choices) is one line and exit code 2; an exception from a command is one line and its exit code
    /// (<see cref="CliErrors"/>); `--help` works on every command.
    /// </summary>
    internal static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        ParseResult parse = BuildRoot().Parse(args);
        string command = CommandPath(parse);
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null)
            return CliErrors.Fail(command, stderr, $"{parse.Errors[0].Message} (see 'fraudfed {command} --help')");
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try { return parse.Invoke(invocation); }
        catch (Exception e) { return CliErrors.Report(command, stderr, e); }
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null && r.Command is not RootCommand; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return names.Count == 0 ? "" : string.Join(' ', names);
    }

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("FraudFed: secure aggregation for cross-bank federated fraud detection.");
        var byName = new Dictionary<string, Command>(StringComparer.Ordinal);
        IEnumerable<Type> types = typeof(Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(ICliCommand).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (Type type in types)
        {
            var command = ((ICliCommand)Activator.CreateInstance(type, nonPublic: true)!).Build();
            if (byName.TryGetValue(command.Name, out Command? existing))
            {
                foreach (Command sub in command.Subcommands) existing.Subcommands.Add(sub);
            }
            else
            {
                byName.Add(command.Name, command);
                root.Subcommands.Add(command);
            }
        }
        return root;
    }
}
