// What `bank sum|train` print while they wait for the other banks: one line when the wait starts (what for, how many banks a
// round needs, until when), then at most one line per interval, none after the next progress line (a fresh-user trial saw a
// bank silent for the 30 s of the appliance's join window).
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class WaitReporterTests
{
    private static readonly DateTimeOffset Deadline = new(2026, 12, 3, 7, 12, 3, TimeSpan.Zero);

    [Test]
    public void AWait_PrintsOneLineAtOnce_ThenOnePerInterval_AndNothingAfterStop()
    {
        var stderr = new StringWriter();
        using var waits = new WaitReporter(TextWriter.Synchronized(stderr), 2, Deadline, TimeSpan.FromMilliseconds(200));
        waits.Start("asked for round 3 ...", "waiting for round 3 to open");
        Assert.That(stderr.ToString(), Is.EqualTo("bank 2: asked for round 3 ..." + Environment.NewLine), "the first line comes at once");
        Thread.Sleep(1100);
        waits.Stop();
        string[] lines = stderr.ToString().TrimEnd().Split(Environment.NewLine);
        // 1.1 s at one line per 0.2 s: at most 5 more (a loaded machine may give fewer, never more).
        Assert.That(lines.Length, Is.InRange(2, 6), stderr.ToString());
        Assert.That(lines[1..], Has.All.Match(@"^bank 2: still waiting for round 3 to open \(\d+ s so far; --timeout ends the run at 07:12:03 UTC\) \.\.\.$"));
        int stopped = lines.Length;
        Thread.Sleep(500);
        Assert.That(stderr.ToString().TrimEnd().Split(Environment.NewLine), Has.Length.EqualTo(stopped), "no line after Stop");
    }

    [Test]
    public void TheStillWaitingLineOfARound_HasOneParenthesis_TheTimeSoFar()
    {
        var stderr = new StringWriter();
        using var waits = new WaitReporter(TextWriter.Synchronized(stderr), 0, Deadline, TimeSpan.FromMilliseconds(100));
        waits.Start("asked for round 2 ...", BankCommands.StillWaitingForRound(2));
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (stderr.ToString().TrimEnd().Split(Environment.NewLine).Length < 2 && wait.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(50);
        waits.Stop();
        string still = stderr.ToString().TrimEnd().Split(Environment.NewLine)[1];
        Assert.That(still, Does.Match(@"^bank 0: still waiting for round 2 to open: the other banks have not all asked yet \(\d+ s so far; --timeout ends the run at 07:12:03 UTC\) \.\.\.$"));
        Assert.That(still.Count(c => c == '('), Is.EqualTo(1), still);
    }

    [Test]
    public void TheWaitingLine_SaysWhatItWaitsFor_HowManyARoundNeeds_AndUntilWhen()
    {
        var masking = new FederationSettings
        {
            Mode = "masking", IdentityKeys = [.. Enumerable.Range(0, 5).Select(i => new string((char)('a' + i), 64))],
            Masking = new MaskingSettings { Threshold = 4 },
        };
        string line = BankCommands.WaitingLine(new SessionProgress(SessionProgress.Waiting, 3, 1000), masking, "07:12:03 UTC");
        int needed = BankCommands.RoundMinimum(masking);
        Assert.That(line, Does.StartWith("asked for round 3 (1000 values); waiting for the other banks to ask: a round needs ")
            .And.Contain(needed >= 5 ? "all 5 banks" : $"at least {needed} of the 5 banks")
            .And.Contain("deadlines.join_seconds").And.EndWith("this bank waits until 07:12:03 UTC (--timeout) ..."));
    }
}
