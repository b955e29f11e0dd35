// The appliance's console log reads as an operator expects (found by a fresh-user trial: every line of `aggregator serve`
// carried "FraudFed.Aggregator.Coordination.Coordinator[0]"): UTC date and time, the level, the class name of a FraudFed
// logger, the message, one line per entry; and `serve`'s default logging selects this formatter.
using FraudFed.Aggregator.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class OperatorConsoleFormatterTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 14, 3, 5, 250, TimeSpan.FromHours(1));

    private static string Write(LogLevel level, string category, string message, Exception? exception = null)
    {
        var formatter = new OperatorConsoleFormatter { Now = () => At };
        var entry = new LogEntry<string>(level, category, new EventId(0), message, exception, (s, _) => s);
        var text = new StringWriter();
        formatter.Write(entry, null, text);
        return text.ToString();
    }

    [Test]
    public void ALine_HasTheUtcTime_TheLevel_TheClassName_AndTheMessage_WithoutNamespaceOrEventId()
    {
        string line = Write(LogLevel.Information, "FraudFed.Aggregator.Coordination.Coordinator", "new he session for 5 banks");
        Assert.That(line, Is.EqualTo("2026-12-02 13:03:05Z info  coordinator: new he session for 5 banks" + Environment.NewLine));
        Assert.That(line, Does.Not.Contain("FraudFed.").And.Not.Contain("[0]"));
    }

    [Test]
    public void AGenericLogger_AFrameworkLogger_AMultiLineMessage_AndAnException_StayOneReadableLine()
    {
        Assert.That(Write(LogLevel.Warning, "FraudFed.Aggregator.Hosting.DeadlineTicker`1", "late"), Does.Contain(" warn  deadlineticker: late"));
        Assert.That(Write(LogLevel.Warning, "Microsoft.AspNetCore.Server.Kestrel", "slow client"),
            Does.Contain(" warn  Microsoft.AspNetCore.Server.Kestrel: slow client"), "a framework warning names whose it is");
        string failed = Write(LogLevel.Error, "FraudFed.Aggregator.Coordination.Coordinator", "A state write failed\nretrying", new IOException("disk full"));
        Assert.That(failed, Is.EqualTo("2026-12-02 13:03:05Z fail  coordinator: A state write failed retrying (IOException: disk full)" + Environment.NewLine));
    }

    [Test]
    public void ServesDefaultLogging_SelectsTheOperatorFormatter()
    {
        using ServiceProvider services = new ServiceCollection().AddLogging(ApplianceHost.DefaultLogging).BuildServiceProvider();
        Assert.That(services.GetRequiredService<IOptions<ConsoleLoggerOptions>>().Value.FormatterName, Is.EqualTo(OperatorConsoleFormatter.FormatterName));
        Assert.That(services.GetServices<ConsoleFormatter>().Select(f => f.Name), Does.Contain(OperatorConsoleFormatter.FormatterName));
    }

    /// <summary>The generic host's own lines for a start that fails ("Hosting failed to start (IOException: Failed to bind ...)",
    /// "BackgroundService failed", the exception-behavior notice) are not logged: serve says it in one line naming the key.
    /// The appliance's own lines and Kestrel's warnings still are.</summary>
    [Test]
    public void ServesDefaultLogging_LeavesOutTheHostsOwnFailureLines()
    {
        using ServiceProvider services = new ServiceCollection().AddLogging(ApplianceHost.DefaultLogging).BuildServiceProvider();
        ILoggerFactory factory = services.GetRequiredService<ILoggerFactory>();
        Assert.That(factory.CreateLogger("Microsoft.Extensions.Hosting.Internal.Host").IsEnabled(LogLevel.Critical), Is.False);
        Assert.That(factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(LogLevel.Warning), Is.True);
        Assert.That(factory.CreateLogger("FraudFed.Aggregator.Coordination.Coordinator").IsEnabled(LogLevel.Information), Is.True);
    }
}
