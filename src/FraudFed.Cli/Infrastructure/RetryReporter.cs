// What `bank sum|train` say while the appliance cannot be reached (README, "When a sum does not come"): the SDK retries each
// call with capped exponential backoff (FederationClient's Polly pipeline, up to one retry every ~8 s) and reports every
// retry; printed as they come, an appliance that is down for the default --timeout of 600 s gave ~100 lines. Here: one line
// at the first failure (what is wrong, and that the bank keeps retrying until a named time), then at most one "still cannot
// reach" line per minute (attempts so far, time left), and, if the run ends while the appliance is still unreachable, a
// final message (exit 1) that says what to check. The SDK's reports are unchanged: a library caller still sees each retry.
using System.Globalization;
using FraudFed.Sdk;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Throttled stderr lines for the retries of one bank process's client (<see cref="FederationClientOptions.RetryProgress"/>).</summary>
/// <param name="stderr">Where the lines go.</param>
/// <param name="bank">The bank's roster index, the prefix of every line ("bank 2: ...").</param>
/// <param name="aggregator">The appliance's address from bank.json.</param>
/// <param name="deadline">When the run's --timeout ends it (UTC).</param>
/// <param name="time">The clock (tests pass their own); null: the system's.</param>
internal sealed class RetryReporter(TextWriter stderr, int bank, Uri aggregator, DateTimeOffset deadline, TimeProvider? time = null)
{
    /// <summary>The least time between two "still cannot reach" lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>How long after its last retry an outage counts as still going on (longer than the SDK's longest retry delay, 8 s).</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(20);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly object _lock = new();
    private DateTimeOffset? _since;       // the first failure of the current outage
    private DateTimeOffset _lastLine, _lastRetry;
    private int _attempts;                // failed attempts of the current outage
    private string _reason = "";

    /// <summary>Takes one retry report of the SDK and prints a line when one is due.</summary>
    public void Report(ConnectionRetry retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            // A call's first retry after a quiet spell starts a new outage (the appliance answered in between).
            bool fresh = _since is null || (retry.Attempt == 1 && now - _lastRetry > Quiet);
            if (fresh)
            {
                _since = now;
                _attempts = 0;
            }
            _attempts = Math.Max(_attempts + 1, retry.Attempt);
            _lastRetry = now;
            _reason = Reason(retry);
            // The retries stop at the end of this call's retry budget or of --timeout, whichever comes first.
            DateTimeOffset budgetEnd = now + retry.Delay + retry.Remaining;
            bool byTimeout = deadline <= budgetEnd;
            DateTimeOffset until = byTimeout ? deadline : budgetEnd;
            if (fresh)
            {
                stderr.WriteLine($"bank {bank}: cannot reach the appliance at {Address} ({_reason}); retrying until {Clock(until)} UTC "
                    + $"(the end of {(byTimeout ? "--timeout" : "--retry-budget")}, {Span(until - now)} from now), with a line at most once a minute ...");
                _lastLine = now;
            }
            else if (now - _lastLine >= Interval)
            {
                stderr.WriteLine($"bank {bank}: still cannot reach the appliance at {Address} ({_reason}): {_attempts} attempts so far, {Span(until - now)} left ...");
                _lastLine = now;
            }
        }
    }

    /// <summary>When the run ended at its --timeout while the appliance was still unreachable, the message that says so and what
    /// to check; else null.</summary>
    public string? StillUnreachable()
    {
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_since is not { } since || now - _lastRetry > Quiet) return null;
            return NotReached(_reason, _attempts, since, "--timeout");
        }
    }

    /// <summary>The message for a call that ran out of its retry budget (<paramref name="error"/>, the SDK's) while the appliance was
    /// unreachable: the words of <see cref="StillUnreachable"/> with --retry-budget and its length as what ended the run.</summary>
    public string Unreachable(ApplianceUnreachableException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        DateTimeOffset now = _time.GetUtcNow();
        lock (_lock)
        {
            bool reported = _since is not null && now - _lastRetry <= Quiet;
            return NotReached(reported ? _reason : error.Reason, reported ? _attempts : error.Retries + 1, reported ? _since!.Value : now - error.Waited,
                $"the end of --retry-budget ({ApplianceUnreachableException.Seconds(error.RetryBudget)})");
        }
    }

    private string NotReached(string reason, int attempts, DateTimeOffset since, string endedBy) =>
        $"the appliance at {Address} could not be reached ({reason}; {attempts} attempt{(attempts == 1 ? "" : "s")} since {Clock(since)} UTC) until {endedBy} ended the run; "
        + "check that `fraudfed aggregator serve` runs (its 'listening on' line names its address), that \"aggregator\" in bank.json "
        + "is that address, and that no firewall blocks the port.";

    private string Address => $"{aggregator.Scheme}://{aggregator.Authority}";

    /// <summary>The failed attempt in a few words: what the transport said, without .NET type names.</summary>
    internal static string Reason(ConnectionRetry retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        return StatusMapping.TransportReason(retry.Status, retry.Detail);
    }

    private static string Clock(DateTimeOffset t) => t.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>"45 s", "9 min 58 s", "2 h 5 min".</summary>
    internal static string Span(TimeSpan t)
    {
        long s = Math.Max(0, (long)Math.Round(t.TotalSeconds));
        if (s < 60) return $"{s} s";
        if (s < 3600) return s % 60 == 0 ? $"{s / 60} min" : $"{s / 60} min {s % 60} s";
        return $"{s / 3600} h {s % 3600 / 60} min";
    }
}
