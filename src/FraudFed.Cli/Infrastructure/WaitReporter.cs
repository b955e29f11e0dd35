// What `bank sum|train` say while they wait for the other banks (README, "What `bank sum` prints"): a bank that asked for a
// round waits for the appliance to open it (every session bank asked, or the join deadline passed with enough of them), and
// a training bank waits for the job once its own key setup is done. A fresh-user trial saw up to 30 s of silence there. Here:
// one line when the wait starts (what it waits for, how many banks a round needs, until when), then at most one "still
// waiting" line per interval (30 s), until the next progress line or the end of the run.
using System.Globalization;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Throttled stderr lines while one bank process waits for the others.</summary>
/// <param name="stderr">Where the lines go (written under a lock: the timer's lines come from another thread).</param>
/// <param name="bank">The bank's roster index, the prefix of every line ("bank 2: ...").</param>
/// <param name="deadline">When the run's --timeout ends it (UTC).</param>
/// <param name="interval">The least time between two lines of one wait; null: <see cref="Interval"/>.</param>
internal sealed class WaitReporter(TextWriter stderr, int bank, DateTimeOffset deadline, TimeSpan? interval = null) : IDisposable
{
    /// <summary>The least time between two "still waiting" lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly object _lock = new();
    private readonly TimeSpan _every = interval ?? Interval;
    private Timer? _timer;
    private string _still = "";
    private long _started;
    private bool _disposed;

    /// <summary>When the run's --timeout ends, as printed: "07:12:03 UTC".</summary>
    public string Until => deadline.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>Prints <paramref name="first"/> now and, while the wait lasts, "bank N: still <paramref name="still"/> (45 s so
    /// far) ..." once per interval. A wait already running is replaced.</summary>
    public void Start(string first, string still)
    {
        lock (_lock)
        {
            if (_disposed) return;
            _timer?.Dispose();
            stderr.WriteLine($"bank {bank}: {first}");
            _still = still;
            _started = System.Diagnostics.Stopwatch.GetTimestamp();
            _timer = new Timer(_ => Tick(), null, _every, _every);
        }
    }

    /// <summary>Ends the current wait (the next progress line came): no more lines of it.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>Writes <paramref name="line"/> under the lock the timer's lines take, so that lines never interleave.</summary>
    public void WriteLine(string line)
    {
        lock (_lock) stderr.WriteLine(line);
    }

    private void Tick()
    {
        lock (_lock)
        {
            if (_timer is null || _disposed) return;
            TimeSpan waited = System.Diagnostics.Stopwatch.GetElapsedTime(_started);
            stderr.WriteLine($"bank {bank}: still {_still} ({RetryReporter.Span(waited)} so far; --timeout ends the run at {Until}) ...");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }
}
