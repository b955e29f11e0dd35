// The one way every number option of every command reads its value. System.CommandLine reads a number with the machine's
// culture and the styles of int.TryParse and double.TryParse, so `--bank-timeout 1,5` was read as 15 (a thousands separator),
// `--banks= 3` and `--alpha " 5"` as 3 and 5 (blanks around the number), and `--alpha NaN` got through to the commands'
// checks. Here a whole number is an optional sign and digits (NumberStyles.AllowLeadingSign), and a decimal number an optional
// sign, digits, a decimal point and an exponent (NumberStyles.Float without its blanks: no thousands separator), both in the
// invariant culture, with no blank before or after; a decimal number must also be finite (no NaN, no infinity, no 1e400). A
// value refused is one line, exit 2, naming the option, the value and the form it takes ("--bank-timeout must be a number of
// seconds such as 1.5, written with a decimal point and without thousands separators (got '1,5')."). Program.BuildRoot gives
// every int and double option of every command this parser (MakeStrict); a decimal option declares its form with Accepting,
// in the style of IntegerOptions.InRange. A whole number beyond the option's type is IntegerOptions' refusal (its range).
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The strict reading of number options, and the message for a value that is not a number of the option's kind.</summary>
internal static class NumberOptions
{
    /// <summary>The form of a decimal option of seconds.</summary>
    public const string Seconds = "a number of seconds such as 1.5";

    /// <summary>The form of a decimal option that declares none.</summary>
    public const string AnyDecimal = "a number such as 1.5";

    /// <summary>The styles of a whole number: an optional sign and digits.</summary>
    private const NumberStyles WholeStyle = NumberStyles.AllowLeadingSign;

    /// <summary>The styles of a decimal number: NumberStyles.Float without its leading and trailing blanks (and without
    /// AllowThousands, which Float never had).</summary>
    private const NumberStyles DecimalStyle = NumberStyles.Float & ~(NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite);

    private static readonly ConditionalWeakTable<Option, string> Forms = new();

    /// <summary>The longest time a seconds option of a command that waits takes (a day), unless it declares another.</summary>
    public const double MaxSeconds = 86_400;

    /// <summary>The least a seconds option takes by default: 1 ms, the finest a timer here waits (1e-9 s became a zero
    /// TimeSpan that the runtime refused with its own message, exit 1; re-trial, session 20).</summary>
    public const double MinSeconds = 0.001;

    /// <summary>The value of <paramref name="option"/>, a seconds option, checked to lie in [<paramref name="min"/>,
    /// <paramref name="max"/>].</summary>
    /// <exception cref="UsageException">"--name must be from MIN to MAX seconds (got TEXT)." with the text as typed.</exception>
    public static double RequireSeconds(ParseResult parse, Option<double> option, double max = MaxSeconds, double min = MinSeconds)
    {
        double seconds = parse.GetValue(option);
        if (seconds >= min && seconds <= max) return seconds;
        throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be from {min} to {max} seconds (got {Typed(parse, option, seconds)})."));
    }

    /// <summary>The value of <paramref name="option"/> as the user typed it (its last token), or <paramref name="value"/> (its
    /// default) written in the invariant culture when it was not given.</summary>
    public static string Typed(ParseResult parse, Option option, double value) =>
        parse.GetResult(option)?.Tokens is [.., var last] ? last.Value : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Reads <paramref name="text"/> as a whole-number option's value is read (an optional sign and digits, invariant
    /// culture, no blank), for values that come from elsewhere than the command line (environment variables).</summary>
    public static bool TryReadWhole(string text, out int value) => int.TryParse(text, WholeStyle, CultureInfo.InvariantCulture, out value);

    /// <summary>Reads <paramref name="text"/> as a decimal option's value is read (invariant culture, no blank, no thousands
    /// separator), for values that come from elsewhere than the command line (environment variables); false unless finite.</summary>
    public static bool TryReadDecimal(string text, out double value) =>
        double.TryParse(text, DecimalStyle, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>Declares what <paramref name="option"/>, a decimal option, takes, in words that follow "must be" ("a number of
    /// seconds such as 1.5"), for the message of <see cref="Refusal"/>; returns the option.</summary>
    public static T Accepting<T>(this T option, string form) where T : Option
    {
        Forms.AddOrUpdate(option, form);
        return option;
    }

    /// <summary>Gives every int, long and double option of <paramref name="command"/> and its subcommands the strict parser
    /// (<see cref="Refusal"/> for a value it refuses, as a parse error: exit 2 before the command runs).</summary>
    public static void MakeStrict(Command command)
    {
        foreach (Option option in command.Options)
        {
            switch (option)
            {
                case Option<int> o: o.CustomParser = r => Read(r, o, (string s, out int v) => int.TryParse(s, WholeStyle, CultureInfo.InvariantCulture, out v)) ?? default; break;
                case Option<int?> o: o.CustomParser = r => Read(r, o, (string s, out int v) => int.TryParse(s, WholeStyle, CultureInfo.InvariantCulture, out v)); break;
                case Option<long> o: o.CustomParser = r => Read(r, o, (string s, out long v) => long.TryParse(s, WholeStyle, CultureInfo.InvariantCulture, out v)) ?? default; break;
                case Option<long?> o: o.CustomParser = r => Read(r, o, (string s, out long v) => long.TryParse(s, WholeStyle, CultureInfo.InvariantCulture, out v)); break;
                case Option<double> o: o.CustomParser = r => Read(r, o, (string s, out double v) => double.TryParse(s, DecimalStyle, CultureInfo.InvariantCulture, out v)) ?? default; break;
                case Option<double?> o: o.CustomParser = r => Read(r, o, (string s, out double v) => double.TryParse(s, DecimalStyle, CultureInfo.InvariantCulture, out v)); break;
            }
        }
        foreach (Command sub in command.Subcommands) MakeStrict(sub);
    }

    /// <summary>Whether <paramref name="option"/> has the strict parser of <see cref="MakeStrict"/>.</summary>
    public static bool IsStrict(Option option) => option switch
    {
        Option<int> o => o.CustomParser is not null,
        Option<int?> o => o.CustomParser is not null,
        Option<long> o => o.CustomParser is not null,
        Option<long?> o => o.CustomParser is not null,
        Option<double> o => o.CustomParser is not null,
        Option<double?> o => o.CustomParser is not null,
        _ => false,
    };

    /// <summary>Reads a token as a number (false: it is not one, or it is beyond the type).</summary>
    private delegate bool TryParse<T>(string token, out T value);

    /// <summary>The value of the last token of <paramref name="result"/> (null without one), or null with a parse error for the
    /// first token refused (a value given twice is the parser's own error, which ParseErrors words).</summary>
    private static T? Read<T>(ArgumentResult result, Option option, TryParse<T> parse) where T : struct
    {
        T? last = null;
        foreach (Token token in result.Tokens)
        {
            string? refusal = Refusal(option, token.Value);
            T value = default;
            if (refusal is null && !parse(token.Value, out value)) refusal = IntegerOptions.RangeMessage(option, token.Value);   // beyond its type
            if (refusal is not null)
            {
                result.AddError(refusal);
                return null;
            }
            last = value;
        }
        return last;
    }

    /// <summary>The <see cref="Refusal"/> of the number option of <paramref name="error"/> for its first value refused, else
    /// null: said before any other parse error (a required option left out), as a number beyond its type is
    /// (IntegerOptions.OutOfRange), since it names what the user typed.</summary>
    public static string? NotANumber(ParseError error)
    {
        OptionResult? result = error.SymbolResult as OptionResult ?? error.SymbolResult?.Parent as OptionResult;
        return result is null ? null : result.Tokens.Select(t => Refusal(result.Option, t.Value)).FirstOrDefault(m => m is not null);
    }

    /// <summary>
    /// Null when <paramref name="token"/> is a value of <paramref name="option"/>'s kind, read as <see cref="MakeStrict"/>
    /// reads it; else one sentence naming the option, the value and what it takes: "--banks must be a whole number, written
    /// without spaces (got ' 3'), as in --banks=3.", "--bank-timeout must be a number of seconds such as 1.5, written with a
    /// decimal point and without thousands separators (got '1,5').", "--alpha must be a positive number such as 0.5 (got
    /// 'NaN', which is not a finite number)." Also null for an option that is not a number, and for a whole number beyond its
    /// type (IntegerOptions says the range).
    /// </summary>
    public static string? Refusal(Option option, string token)
    {
        Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        bool whole = type == typeof(int) || type == typeof(long);
        if (!whole && type != typeof(double)) return null;
        string form = whole ? "a whole number" : Forms.TryGetValue(option, out string? declared) ? declared : AnyDecimal;
        string got = $"got '{token}'";
        if (token.Length > 0 && (char.IsWhiteSpace(token[0]) || char.IsWhiteSpace(token[^1])))
        {
            string trimmed = token.Trim();
            string example = trimmed.Length > 0 && Refusal(option, trimmed) is null ? $", as in {option.Name}={trimmed}" : "";
            return $"{option.Name} must be {form}, written without spaces ({got}){example}.";
        }
        if (whole)
        {
            if (BigInteger.TryParse(token, WholeStyle, CultureInfo.InvariantCulture, out _)) return null;   // a whole number; beyond its type: IntegerOptions
            return $"{option.Name} must be {form} ({got}).";
        }
        if (!double.TryParse(token, DecimalStyle, CultureInfo.InvariantCulture, out double value))
            return token.Contains(',', StringComparison.Ordinal)
                ? $"{option.Name} must be {form}, written with a decimal point and without thousands separators ({got})."
                : $"{option.Name} must be {form} ({got}).";
        if (!double.IsFinite(value)) return $"{option.Name} must be {form} ({got}, which is not a finite number).";
        return null;
    }
}
