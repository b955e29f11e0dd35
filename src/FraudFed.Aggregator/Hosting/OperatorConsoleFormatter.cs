// The appliance's console log for an operator: one line per entry, "2026-12-02 14:03:05Z info  coordinator: New he session
// for 5 banks". ASP.NET Core's SimpleConsole formatter has options for one line, the timestamp format, UTC, scopes and colour,
// but none to shorten or drop the category, so every line carried "FraudFed.Aggregator.Coordination.Coordinator[0]" (the
// full type name and the event id). This formatter keeps everything else SimpleConsole does with those options (UTC
// timestamp, the level, one line) and writes the category short: the class name of a FraudFed logger in lower case, the full
// category of a framework logger (those reach the log at warning only, and their full name says whose warning it is). The
// message is the logger's own formatted template, so structured logging (templates and their named values, for any other
// provider) is unchanged, and nothing is logged that was not before: no key, share or message bytes. An exception adds its
// type and message on the same line, not its stack trace.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace FraudFed.Aggregator.Hosting;

/// <summary>One line per log entry: UTC timestamp, level, a short category, the message.</summary>
internal sealed class OperatorConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    /// <summary>The name the console logger selects this formatter by.</summary>
    public const string FormatterName = "fraudfed";

    /// <summary>Clock of the timestamps (tests pin it).</summary>
    internal Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    /// <inheritdoc />
    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception) ?? "";
        if (message.Length == 0 && logEntry.Exception is null) return;
        textWriter.Write(Now().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        textWriter.Write(' ');
        textWriter.Write(Level(logEntry.LogLevel));
        textWriter.Write(' ');
        textWriter.Write(ShortCategory(logEntry.Category));
        textWriter.Write(": ");
        textWriter.Write(OneLine(message));
        if (logEntry.Exception is { } e) textWriter.Write($" ({e.GetType().Name}: {OneLine(e.Message)})");
        textWriter.Write(Environment.NewLine);
    }

    /// <summary>"coordinator" for FraudFed.Aggregator.Coordination.Coordinator (a generic's arity dropped); any other category whole.</summary>
    internal static string ShortCategory(string category)
    {
        if (!category.StartsWith("FraudFed.", StringComparison.Ordinal)) return category;
        string name = category[(category.LastIndexOf('.') + 1)..];
        int tick = name.IndexOf('`');
        return (tick > 0 ? name[..tick] : name).ToLowerInvariant();
    }

    /// <summary>Five characters, as a column: "trce", "dbug", "info ", "warn ", "fail ", "crit " like SimpleConsole's names.</summary>
    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce ",
        LogLevel.Debug => "dbug ",
        LogLevel.Information => "info ",
        LogLevel.Warning => "warn ",
        LogLevel.Error => "fail ",
        LogLevel.Critical => "crit ",
        _ => "none ",
    };

    private static string OneLine(string text) =>
        text.Contains('\n') || text.Contains('\r') ? string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) : text;
}
