// CapturedLogs: an ILoggerProvider that keeps every log line of an appliance in memory, formatted "<level>: <message>", for
// tests that read what an operator would see in the log.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Tests;

/// <summary>Every log line of the appliance it is given to, formatted, in the order logged.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();
    public string[] Lines => [.. _lines];
    public ILogger CreateLogger(string categoryName) => new Logger(_lines);
    public void Dispose() { }

    private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }
}
