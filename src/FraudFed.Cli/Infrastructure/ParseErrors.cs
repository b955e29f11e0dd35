// The parse errors System.CommandLine reports in its own capitalised sentences ("Required command was not provided.",
// "Unrecognized command or argument 'x'.", "Required argument missing for option: '--banks'.", "Cannot parse argument 'abc'
// for option '--banks' as expected type 'System.Int32'."), said the way the commands' own checks say things: what is wrong,
// with the token the user typed, and what to do. Found from the parse result's structure (unmatched tokens, the command's
// subcommands and required options, an option's tokens and value type), not from the parser's English.
using System.CommandLine;
using System.CommandLine.Parsing;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The house wording of a command line the parser refused.</summary>
internal static class ParseErrors
{
    /// <summary>
    /// One sentence for the first problem of <paramref name="parse"/> that the parser's structure shows: an unknown command
    /// or option ("unknown command 'frobnicate'; use 'sum' or 'train' (fraudfed bank --help)", or for a typo within two edits of
    /// one name "unknown command 'sun'; did you mean 'sum'? (fraudfed bank --help)"), a missing command or required
    /// option, an option without its value, a value that is not of the option's type (a number: NumberOptions.Refusal). Null when none applies (the caller
    /// keeps the parser's message).
    /// </summary>
    /// <param name="parse">A parse result with errors.</param>
    /// <param name="command">The command path, "" for the root ("bank", "aggregator serve").</param>
    public static string? Describe(ParseResult parse, string command)
    {
        string full = CommandNames.Typed(command);
        Command current = parse.CommandResult.Command;
        string[] subcommands = current.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToArray();
        string help = $"({full} --help)";

        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-') && current.Subcommands.Where(c => !c.Hidden && c.Options.Any(o => o.Name == token || o.Aliases.Contains(token))).Select(c => c.Name).ToArray() is [_, ..] owners)
                return $"{token} is an option of {Words(owners)}: name the command first, as in '{full} {owners[0]} {token} ...' {help}.";
            // An option of another subcommand of the same group (`bank train --values`): name the command it belongs to.
            if (token.StartsWith('-') && parse.CommandResult.Parent is CommandResult { Command: var parent }
                && parent.Subcommands.Where(c => !c.Hidden && c != current && c.Options.Any(o => o.Name == token || o.Aliases.Contains(token)))
                    .Select(c => $"{full[..^current.Name.Length]}{c.Name}").ToArray() is [_, ..] siblings)
                return $"unknown option '{token}'; {token} is an option of {Words(siblings)}, not of '{full}' {help}.";
            if (token.StartsWith('-'))
                return Nearest(token, current.Options.Where(o => !o.Hidden).Select(o => o.Name)) is { } near
                    ? $"unknown option '{token}'; did you mean {near}? {help}"
                    : $"unknown option '{token}'; '{full} --help' lists the options.";
            if (subcommands.Length > 0)
                return Nearest(token, subcommands) is { } near
                    ? $"unknown command '{token}'; did you mean '{near}'? {help}"
                    : $"unknown command '{token}'; use {Words(subcommands)} {help}.";
            return $"unexpected argument '{token}': {full} takes options only, each written --name value or --name=value {help}.";
        }
        foreach (ParseError error in parse.Errors)
        {
            OptionResult? option = error.SymbolResult as OptionResult ?? error.SymbolResult?.Parent as OptionResult;
            if (option is null) continue;
            if (option.IdentifierToken is null)   // not on the command line: a required option left out
                return option.Option.Required ? $"{option.Option.Name} is required {help}." : null;
            if (option.Tokens.Count == 0 && option.Option.ValueType != typeof(bool))
                return $"{option.Option.Name} needs a value {help}.";
            if (option.Tokens.Count > 1 && option.Option.Arity.MaximumNumberOfValues == 1)
                return $"{option.Option.Name} is given {option.Tokens.Count} times ({string.Join(", ", option.Tokens.Select(t => t.Value))}); give it once.";
            // A number in the one form every number option takes (NumberOptions: no blanks, no thousands separators, finite).
            if (option.Tokens.Select(t => NumberOptions.Refusal(option.Option, t.Value)).FirstOrDefault(m => m is not null) is { } notANumber)
                return notANumber;
            if ((Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType) == typeof(bool)
                && option.Tokens.FirstOrDefault(t => !bool.TryParse(t.Value, out _)) is { } bad)
                return $"{option.Option.Name} must be true or false (got '{bad.Value}').";
        }
        if (current.Options.FirstOrDefault(o => o.Required && parse.GetResult(o) is null) is { } required)
            return $"{required.Name} is required {help}.";
        if (subcommands.Length > 0 && current.Action is null)
            return $"a command is needed after '{full}'; use {Words(subcommands)} {help}.";
        return null;
    }

    /// <summary>
    /// "--banks= has no value after '=': write --banks=3 or --banks 3." for the first argument of <paramref name="args"/> (before
    /// a lone "--") that is an option of the command line's command (or of a command above it) written with '=' and nothing
    /// after it: typed unquoted as `--banks= 3`, a shell passes "--banks=" and "3", which the parser would read as --banks 3.
    /// Every option of every command, whatever its type; else null.
    /// </summary>
    public static string? EmptyAfterEquals(IReadOnlyList<string> args, ParseResult parse)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (SymbolResult? r = parse.CommandResult; r is not null; r = r.Parent)
            if (r is CommandResult command)
                foreach (Option option in command.Command.Options)
                {
                    names.Add(option.Name);
                    names.UnionWith(option.Aliases);
                }
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--") break;
            if (arg.Length < 2 || arg[0] != '-' || arg[^1] != '=' || !names.Contains(arg[..^1])) continue;
            string name = arg[..^1];
            string value = i + 1 < args.Count && args[i + 1].Trim() is { Length: > 0 } next && !next.StartsWith('-') ? next : "VALUE";
            return $"{arg} has no value after '=': write {name}={value} or {name} {value}.";
        }
        return null;
    }

    /// <summary>"--json is given 2 times; give it once." for a flag (an option without a value) written more than once on
    /// the command line of <paramref name="parse"/>, as an option with a value given twice is refused; else null.</summary>
    public static string? RepeatedFlag(ParseResult parse)
    {
        for (SymbolResult? r = parse.CommandResult; r is not null; r = r.Parent)
            if (r is CommandResult command)
                foreach (OptionResult option in command.Children.OfType<OptionResult>())
                    if (option.IdentifierTokenCount > 1 && (Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType) == typeof(bool))
                        return $"{option.Option.Name} is given {option.IdentifierTokenCount} times; give it once.";
        return null;
    }

    /// <summary>The one name within two edits of <paramref name="token"/> (a typo such as --bankz for --banks), or null.</summary>
    private static string? Nearest(string token, IEnumerable<string> names) => Learning.Data.Spelling.Nearest(token, names);

    private static string Words(string[] names) =>
        names.Length == 1 ? $"'{names[0]}'" : $"{string.Join(", ", names[..^1].Select(n => $"'{n}'"))} or '{names[^1]}'";
}
