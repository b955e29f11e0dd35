// CapturedLogs: an ILoggerProvider that keeps every log line of an appliance in memory, formatted "<level>: <message>", for
// tests that read what an operator would see in the log.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Tests;

/// <summary>Every log line of the appliance it is given to, formatted, in the order logged.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, string Line)> _lines = new();
    public string[] Lines => [.. _lines.Select(l => l.Line)];
    /// <summary>The lines of the appliance's own loggers (categories FraudFed.*), without the framework's.</summary>
    public string[] OwnLines => [.. _lines.Where(l => l.Category.StartsWith("FraudFed.", StringComparison.Ordinal)).Select(l => l.Line)];
    public ILogger CreateLogger(string categoryName) => new Logger(_lines, categoryName);
    public void Dispose() { }

    private sealed class Logger(ConcurrentQueue<(string, string)> lines, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue((category, $"{logLevel}: {formatter(state, exception)}"));
    }
}
