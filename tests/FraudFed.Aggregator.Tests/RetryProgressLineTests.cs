// The SDK's retry progress line (ConnectionRetry.ToString) and ApplianceUnreachableException's message write a duration with
// the one formatter, ApplianceUnreachableException.Seconds: the line used to have its own ("0.0" below 1 s), so a last try
// 1 ms before the end of the budget read "last try in 0.0 s" while the exception said "0.001 s", and 0.25 s read "0.3 s".
using System.Text.RegularExpressions;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class RetryProgressLineTests
{
    private static readonly Uri Aggregator = new("https://127.0.0.1:7543/");

    /// <summary>The duration between "last try in " / "retrying in " and " (attempt".</summary>
    private static string DelayOf(ConnectionRetry retry) =>
        Regex.Match(retry.ToString(), @"^appliance unreachable, (?:last try|retrying) in (.+?) \(attempt ").Groups[1].Value;

    /// <summary>The duration between "retry budget " and "; " in the exception's message.</summary>
    private static string BudgetOf(ApplianceUnreachableException e) => Regex.Match(e.Message, @"\(retry budget (.+?); ").Groups[1].Value;

    [TestCase(0.25, "0.25 s")]
    [TestCase(1.5, "1.5 s")]
    [TestCase(8, "8 s")]
    [TestCase(120, "120 s")]
    [TestCase(0.001, "0.001 s")]
    public void TheProgressLineAndTheExceptionMessage_WriteOneDurationTheSameWay(double seconds, string expected)
    {
        TimeSpan t = TimeSpan.FromSeconds(seconds);
        var lastTry = new ConnectionRetry(6, t, TimeSpan.Zero, Grpc.Core.StatusCode.Unavailable, "");
        var retrying = new ConnectionRetry(2, t, TimeSpan.FromSeconds(95), Grpc.Core.StatusCode.Unavailable, "");
        var error = new ApplianceUnreachableException(Aggregator, 3, t, t, "connection refused: nothing listens on that port");

        Assert.That(lastTry.ToString(), Is.EqualTo($"appliance unreachable, last try in {expected} (attempt 6; the retry budget ends with it)"));
        Assert.That(DelayOf(retrying), Is.EqualTo(expected));
        Assert.That(BudgetOf(error), Is.EqualTo(expected));
        Assert.That(error.Message, Does.Contain($"3 retries over {expected} ("));
        Assert.That(DelayOf(lastTry), Is.EqualTo(ApplianceUnreachableException.Seconds(t)));
    }

    /// <summary>The time left is a duration too: 1.5 s left is not floored to "1 s" while the exception would say "1.5 s".</summary>
    [TestCase(1.5, "1.5 s")]
    [TestCase(120, "120 s")]
    public void TheTimeLeft_IsWrittenByTheSameFormatter(double seconds, string expected)
    {
        var retrying = new ConnectionRetry(5, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(seconds), Grpc.Core.StatusCode.Unavailable, "");
        Assert.That(retrying.ToString(), Is.EqualTo($"appliance unreachable, retrying in 4 s (attempt 5, {expected} left)"));
    }
}
