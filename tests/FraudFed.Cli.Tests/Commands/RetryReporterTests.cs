// What `bank sum|train` print while the appliance cannot be reached: one line at the first failure (what is wrong, retrying
// until when), then at most one line a minute, and a final message that says what to check (README, "Operating the appliance").
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class RetryReporterTests
{
    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset Start = new(2026, 12, 2, 22, 0, 0, TimeSpan.Zero);
    private const string Refused = "Error starting gRPC call. HttpRequestException: Connection refused (127.0.0.1:7443) SocketException: Connection refused";

    /// <summary>Ten minutes of an unreachable appliance (the default --timeout), a retry every 8 s as the SDK's capped backoff
    /// gives: one opening line and then one line a minute, not one per retry (~75).</summary>
    [Test]
    public void TenMinutesUnreachable_GiveALineAMinute_NotOnePerRetry()
    {
        var clock = new Clock(Start);
        var stderr = new StringWriter();
        var reporter = new RetryReporter(stderr, 2, new Uri("https://127.0.0.1:7443"), Start.AddSeconds(600), clock);
        int attempt = 0;
        for (double t = 0; t < 600; t += 8)
        {
            clock.Now = Start.AddSeconds(t);
            reporter.Report(new ConnectionRetry(++attempt, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(600 - t - 8), Grpc.Core.StatusCode.Unavailable, Refused));
        }
        string[] lines = stderr.ToString().TrimEnd().Split('\n');
        Assert.That(attempt, Is.GreaterThan(70));
        Assert.That(lines[0], Is.EqualTo("bank 2: cannot reach the appliance at https://127.0.0.1:7443 (connection refused: nothing listens on that port); "
            + "retrying until 22:10:00 UTC (the end of --timeout, 10 min from now), with a line at most once a minute ..."));
        Assert.That(lines, Has.Length.InRange(9, 11), stderr.ToString());
        Assert.That(lines[1], Is.EqualTo("bank 2: still cannot reach the appliance at https://127.0.0.1:7443 (connection refused: nothing listens on that port): 9 attempts so far, 8 min 56 s left ..."));
        Assert.That(lines.Skip(1), Has.All.Match(@"^bank 2: still cannot reach the appliance at https://127\.0\.0\.1:7443 \(connection refused: nothing listens on that port\): \d+ attempts so far, (\d+ min )?(\d+ s )?left \.\.\.$"));

        clock.Now = Start.AddSeconds(600);
        Assert.That(reporter.StillUnreachable(), Is.EqualTo("the appliance at https://127.0.0.1:7443 could not be reached (connection refused: nothing listens on that port; "
            + $"{attempt} attempts since 22:00:00 UTC) until --timeout ended the run; check that `fraudfed aggregator serve` runs (its 'listening on' line names its address), "
            + "that \"aggregator\" in bank.json is that address, and that no firewall blocks the port."));
    }

    /// <summary>An outage that ended long before the timeout is not blamed for it; a later outage opens with its own first line.</summary>
    [Test]
    public void AnOutageThatEnded_IsNotTheFinalWord_AndANewOneOpensAgain()
    {
        var clock = new Clock(Start);
        var stderr = new StringWriter();
        var reporter = new RetryReporter(stderr, 0, new Uri("https://10.0.0.5:7443"), Start.AddSeconds(300), clock);
        Assert.That(reporter.StillUnreachable(), Is.Null, "no retry at all");
        reporter.Report(new ConnectionRetry(1, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(100), Grpc.Core.StatusCode.DeadlineExceeded, "Deadline Exceeded"));
        clock.Now = Start.AddSeconds(1);
        reporter.Report(new ConnectionRetry(2, TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(99), Grpc.Core.StatusCode.DeadlineExceeded, "Deadline Exceeded"));
        Assert.That(stderr.ToString(), Does.StartWith("bank 0: cannot reach the appliance at https://10.0.0.5:7443 (no answer in time); retrying until 22:01:40 UTC (the end of --retry-budget, 1 min 40 s from now)"));
        clock.Now = Start.AddSeconds(120);
        Assert.That(reporter.StillUnreachable(), Is.Null, "the appliance answered since (no retry for long)");
        reporter.Report(new ConnectionRetry(1, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(100), Grpc.Core.StatusCode.Unavailable, Refused));
        Assert.That(stderr.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(2));
        Assert.That(stderr.ToString().TrimEnd().Split('\n')[1], Does.StartWith("bank 0: cannot reach the appliance"));
    }

    /// <summary>`bank sum` against an address where nothing listens: one line saying so and until when, then at the --timeout one
    /// line (exit 1) that says what to check; not a line per retry.</summary>
    /// <summary>A run ended by --retry-budget rather than --timeout says it in the same words (the trial's message carried the
    /// transport's "HttpRequestException: ... SocketException: ..." text), and a budget under 1 s is not "0 s".</summary>
    [Test]
    public void ARunEndedByTheRetryBudget_IsSaidInTheTimeoutsWords_WithTheBudgetToTheMillisecond()
    {
        var clock = new Clock(Start);
        var reporter = new RetryReporter(new StringWriter(), 0, new Uri("https://127.0.0.1:7543"), Start.AddSeconds(3), clock);
        var error = new ApplianceUnreachableException(new Uri("https://127.0.0.1:7543/"), 0, TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(1),
            StatusMapping.TransportReason(Grpc.Core.StatusCode.Unavailable, Refused));
        Assert.That(error.Message, Does.Contain("retry budget 0.001 s; connection refused: nothing listens on that port)").And.Not.Contain("Exception"));
        clock.Now = Start.AddSeconds(1);
        Assert.That(reporter.Unreachable(error), Is.EqualTo("the appliance at https://127.0.0.1:7543 could not be reached (connection refused: nothing listens on that port; "
            + "1 attempt since 22:00:00 UTC) until the end of --retry-budget (0.001 s) ended the run; check that `fraudfed aggregator serve` runs (its 'listening on' line "
            + "names its address), that \"aggregator\" in bank.json is that address, and that no firewall blocks the port."));

        // With retries reported, their count and first time.
        reporter.Report(new ConnectionRetry(1, TimeSpan.FromSeconds(0.2), TimeSpan.FromSeconds(0.8), Grpc.Core.StatusCode.Unavailable, Refused));
        clock.Now = Start.AddSeconds(1.5);
        reporter.Report(new ConnectionRetry(2, TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(0.1), Grpc.Core.StatusCode.Unavailable, Refused));
        var spent = new ApplianceUnreachableException(new Uri("https://127.0.0.1:7543/"), 2, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), "connection refused: nothing listens on that port");
        Assert.That(reporter.Unreachable(spent), Does.StartWith("the appliance at https://127.0.0.1:7543 could not be reached (connection refused: nothing listens on that port; "
            + "2 attempts since 22:00:01 UTC) until the end of --retry-budget (1 s) ended the run; "));

        Assert.That(new[] { 0.001, 0.25, 0.0125, 1, 1.5, 120 }.Select(s => ApplianceUnreachableException.Seconds(TimeSpan.FromSeconds(s))),
            Is.EqualTo(new[] { "0.001 s", "0.25 s", "0.0125 s", "1 s", "1.5 s", "120 s" }));
    }

    /// <summary>`bank sum --retry-budget 1` with nothing listening: exit 1, the final line in the reporter's words.</summary>
    [Test]
    public void BankSum_WithNothingListening_AndAShortRetryBudget_EndsInTheSameWords()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-retry-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (port, kit, values) = KitWithNothingListening(dir);
            var (code, _, stderr) = HostileInputTests.Run("bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", values, "--timeout", "30", "--retry-budget", "1");
            string last = stderr.TrimEnd().Split('\n')[^1];
            Assert.That(code, Is.EqualTo(1), stderr);
            Assert.That(last, Does.Match($@"^fraudfed bank sum: the appliance at https://127\.0\.0\.1:{port} could not be reached \(connection refused: nothing listens on that port; \d+ attempts? since \d\d:\d\d:\d\d UTC\) until the end of --retry-budget \(1 s\) ended the run; check that "));
            Assert.That(stderr, Does.Not.Contain("Exception"));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void BankSum_WithNothingListening_SaysSoOnce_ThenWhatToCheck()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-retry-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (port, kit, values) = KitWithNothingListening(dir);
            var (code, _, stderr) = HostileInputTests.Run("bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", values, "--timeout", "5");
            string[] lines = stderr.TrimEnd().Split('\n');
            Assert.That(code, Is.EqualTo(1), stderr);
            Assert.That(lines.Count(l => l.Contains("cannot reach the appliance", StringComparison.Ordinal)), Is.EqualTo(1), stderr);
            Assert.That(lines, Has.Length.EqualTo(3), "joining, cannot reach, the final line: " + stderr);
            Assert.That(lines[1], Does.StartWith($"bank 0: cannot reach the appliance at https://127.0.0.1:{port} (connection refused: nothing listens on that port); retrying until "));
            Assert.That(lines[2], Does.Match($@"^fraudfed bank sum: the appliance at https://127\.0\.0\.1:{port} could not be reached \(connection refused: nothing listens on that port; \d+ attempts since \d\d:\d\d:\d\d UTC\) until --timeout ended the run; check that "));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A masking kit in <paramref name="dir"/> whose appliance address is a loopback port nothing listens on (taken from
    /// the system and released), and a two-value file for `bank sum`.</summary>
    private static (int Port, string Kit, string Values) KitWithNothingListening(string dir)
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        string kit = Path.Combine(dir, "kit");
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", "masking", "--out", kit, "--listen", $"127.0.0.1:{port}", "--ops-listen", "127.0.0.1:0").Code, Is.EqualTo(0));
        string values = Path.Combine(dir, "v0.txt");
        File.WriteAllText(values, "1\n2\n");
        return (port, kit, values);
    }
}
