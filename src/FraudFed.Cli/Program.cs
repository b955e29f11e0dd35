using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using FraudFed.Cli.Infrastructure;

namespace FraudFed.Cli;

/// <summary>A top-level `fraudfed` command, in its own file and listed in <see cref="CommandCatalog"/> (no reflection: the
/// native bank program is compiled ahead of time and trimmed).</summary>
internal interface ICliCommand
{
    /// <summary>Builds the command.</summary>
    Command Build();
}

/// <summary>Subcommands of a shared group (e.g. the suites of `fraudfed bench`), each suite in its own file. The
/// group command is made once and every subcommand is added to it directly (a command has one parent, so that
/// options such as --help are found through it).</summary>
internal interface ICliSubcommands
{
    /// <summary>Name of the group, e.g. "bench".</summary>
    string Group { get; }
    /// <summary>Description of the group.</summary>
    string GroupDescription { get; }
    /// <summary>Builds the subcommands.</summary>
    IEnumerable<Command> BuildSubcommands();
}

internal static class Program
{
    public static int Main(string[] args)
    {
        SocketCompletions.PreferInline();   // before any socket: see SocketCompletions
        using IDisposable interrupt = CliInterrupt.Register();   // Ctrl+C / SIGTERM: "cancelled.", exit 130 / 143 (serve: "stopped.", 0)
        return Run(args, Console.Out, Console.Error);
    }

    /// <summary>
    /// Parses and runs a command line. A parse error (unknown option, a value of the wrong type, a value outside an
    /// option's choices) is one line and exit code 2; an exception from a command is one line and its exit code
    /// (<see cref="CliErrors"/>); `--help` works on every command, and `help [command]` is `[command] --help`.
    /// </summary>
    internal static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        // `fraudfed help` is `fraudfed --help`, and `fraudfed help bank sum` is `fraudfed bank sum --help` (no command is named help).
        if (args.Count > 0 && args[0] == "help") args = [.. args.Skip(1), "--help"];
        ParseResult parse = BuildRoot().Parse(args);
        string command = CommandPath(parse);
        CliInterrupt.Command = command;   // its "cancelled." line names the command
        if (ParseErrors.EmptyAfterEquals(args, parse) is { } empty)
            return CliErrors.Fail(command, stderr, empty);   // `--banks= 3` in a shell: "--banks=" and "3", never read as --banks 3
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null
            && parse.Errors.Select(IntegerOptions.OutOfRange).FirstOrDefault(m => m is not null) is { } outOfRange)
            return CliErrors.Fail(command, stderr, outOfRange);   // a number beyond an integer option's type, in words
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null
            && parse.Errors.Select(NumberOptions.NotANumber).FirstOrDefault(m => m is not null) is { } notANumber)
            return CliErrors.Fail(command, stderr, notANumber);   // a number in another form than the one every number option takes
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null
            && parse.Errors.Select(ChoiceOptions.NotAChoice).FirstOrDefault(m => m is not null) is { } notAChoice)
            return CliErrors.Fail(command, stderr, notAChoice);   // a value outside an option's few values, in words

        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null && ParseErrors.Describe(parse, command) is { } described)
            return CliErrors.Fail(command, stderr, described);   // an unknown command or option, a missing value, a value of the wrong type, in words
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction or null)
            return CliErrors.Fail(command, stderr, $"{WithoutTypeNames(parse.Errors[0].Message)} (see '{CommandNames.Typed(command)} --help')");
        if (parse.Errors.Count == 0 && parse.Action is not HelpAction && ParseErrors.RepeatedFlag(parse) is { } repeated)
            return CliErrors.Fail(command, stderr, repeated);   // a flag written twice, refused as any option given twice
        var invocation = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        try { return parse.Invoke(invocation); }
        catch (Exception e) { return CliErrors.Report(command, stderr, e); }
    }

    /// <summary>A parse error in words: "as expected type 'System.Nullable`1[System.Int32]'" becomes "as a whole number".</summary>
    internal static string WithoutTypeNames(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"(?:as )?expected type '(?:System\.Nullable`1\[)?System\.(\w+)\]?'", m => m.Groups[1].Value switch
        {
            "Int32" or "Int64" or "UInt32" or "UInt64" or "Int16" or "UInt16" or "Byte" => "as a whole number",
            "Double" or "Single" or "Decimal" => "as a number",
            "Boolean" => "as true or false",
            _ => "as a value of this option",
        });

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null && r.Command is not RootCommand; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        if (CommandCatalog.RootGroup is { } group) names.Insert(0, group);   // the native bank program: "train" is `bank train`
        return names.Count == 0 ? "" : string.Join(' ', names);
    }

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand(CommandCatalog.Description);
        var groups = new Dictionary<string, Command>(StringComparer.Ordinal);
        foreach (object instance in CommandCatalog.Commands())
        {
            if (instance is ICliCommand single) root.Subcommands.Add(single.Build());
            if (instance is ICliSubcommands flat && flat.Group == CommandCatalog.RootGroup)
            {
                foreach (Command sub in flat.BuildSubcommands()) root.Subcommands.Add(sub);   // the native bank program's `train`, `sum`
                continue;
            }
            if (instance is ICliSubcommands suite)
            {
                if (!groups.TryGetValue(suite.Group, out Command? group))
                {
                    group = new Command(suite.Group, suite.GroupDescription);
                    groups.Add(suite.Group, group);
                    root.Subcommands.Add(group);
                }
                foreach (Command sub in suite.BuildSubcommands()) group.Subcommands.Add(sub);
            }
        }
        NumberOptions.MakeStrict(root);   // every number option of every command: one reading, one refusal (NumberOptions)
        return root;
    }
}
