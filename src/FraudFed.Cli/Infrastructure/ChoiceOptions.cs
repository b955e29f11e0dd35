// The one way every option with a fixed set of values reports another value: `simulate --transport tcp` is "--transport must
// be inproc or grpc (got tcp).", exit 2, in the words of the commands' own checks, instead of System.CommandLine's
// "Argument 'tcp' not recognized. Must be one of: ..." text. An option declares its values once with OneOf (which also keeps
// System.CommandLine's completions and help).
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.CompilerServices;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Declared values of options that accept only a few, and the message for another value.</summary>
internal static class ChoiceOptions
{
    private static readonly ConditionalWeakTable<Option, string[]> Choices = new();

    /// <summary>Restricts <paramref name="option"/> to <paramref name="values"/> (System.CommandLine's AcceptOnlyFromAmong) and
    /// declares them for the message of <see cref="NotAChoice"/>; returns the option.</summary>
    public static Option<string> OneOf(this Option<string> option, params string[] values)
    {
        option.AcceptOnlyFromAmong(values);
        Choices.AddOrUpdate(option, values);
        return option;
    }

    /// <summary>The values <paramref name="option"/> accepts, or null when it declared none with <see cref="OneOf"/>.</summary>
    public static IReadOnlyList<string>? Of(Option option) => Choices.TryGetValue(option, out string[]? values) ? values : null;

    /// <summary>"--name must be a or b (got TOKEN)." when <paramref name="error"/> is a value outside an option's declared
    /// values, "--name needs a value: a or b." when the option was given without one; otherwise null (the parser's own message
    /// stands).</summary>
    public static string? NotAChoice(ParseError error)
    {
        OptionResult? result = error.SymbolResult as OptionResult ?? error.SymbolResult?.Parent as OptionResult;
        if (result is null || !Choices.TryGetValue(result.Option, out string[]? values)) return null;
        if (result.Tokens.Count == 0) return $"{result.Option.Name} needs a value: {Words(values)}.";
        foreach (Token token in result.Tokens)
            if (!values.Contains(token.Value, StringComparer.Ordinal))
                return $"{result.Option.Name} must be {Words(values)} (got {token.Value}).";
        return null;
    }

    private static string Words(string[] values) => values.Length == 1 ? values[0] : $"{string.Join(", ", values[..^1])} or {values[^1]}";
}
