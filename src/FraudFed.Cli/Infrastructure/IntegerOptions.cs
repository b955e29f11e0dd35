// The one way every integer option of every command reports a number it cannot hold: `--runs 99999999999` (beyond Int32) is
// "--runs must be in 1..1000 (got 99999999999)", exit 2, in the words of the commands' own range checks (`--runs 0` says the
// same), instead of System.CommandLine's "cannot parse" text. An option declares its range once with InRange; an option
// without a declared range names the range of its type.
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Declared ranges of integer options, and the message for a number out of the option type's range.</summary>
internal static class IntegerOptions
{
    private static readonly ConditionalWeakTable<Option, StrongBox<(long Min, long Max)>> Ranges = new();

    /// <summary>Declares the values <paramref name="option"/> accepts, <paramref name="min"/>..<paramref name="max"/>, for the
    /// message of <see cref="OutOfRange"/>; returns the option.</summary>
    public static T InRange<T>(this T option, long min, long max) where T : Option
    {
        Ranges.AddOrUpdate(option, new StrongBox<(long, long)>((min, max)));
        return option;
    }

    /// <summary>"--name must be in MIN..MAX (got TOKEN)" (the words of the commands' own range checks) when <paramref name="error"/> is an integer option's value
    /// that is a whole number beyond its type's range; otherwise null (the parser's own message stands).</summary>
    public static string? OutOfRange(ParseError error)
    {
        OptionResult? result = error.SymbolResult as OptionResult ?? error.SymbolResult?.Parent as OptionResult;
        if (result is null || Bounds(result.Option.ValueType) is not { } type) return null;
        foreach (Token token in result.Tokens)
        {
            if (!BigInteger.TryParse(token.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out BigInteger value)) continue;
            if (value >= type.Min && value <= type.Max) continue;
            return RangeMessage(result.Option, token.Value);
        }
        return null;
    }

    /// <summary>"--name must be in MIN..MAX (got TOKEN)." for <paramref name="option"/>: its declared range, else its type's.</summary>
    public static string RangeMessage(Option option, string token)
    {
        (long min, long max) = Ranges.TryGetValue(option, out StrongBox<(long, long)>? declared) ? declared.Value
            : Bounds(option.ValueType) ?? (long.MinValue, long.MaxValue);
        return string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be in {min}..{max} (got {token}).");
    }

    private static (long Min, long Max)? Bounds(Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        Type t when t == typeof(int) => (int.MinValue, int.MaxValue),
        Type t when t == typeof(uint) => (0, uint.MaxValue),
        Type t when t == typeof(short) => (short.MinValue, short.MaxValue),
        Type t when t == typeof(long) => (long.MinValue, long.MaxValue),
        _ => null,
    };
}
