// Where the appliance's time goes, for `bench round` and profiling: cumulative seconds in the mode engine (the protocol
// work the in-process round also does), in the state store (appends with their fsync, mailbox and resend reads), waiting
// for the coordinator's lock, copying and hashing inbound messages, and building mailbox replies; plus the number of
// store transactions and the bytes they wrote. Spans overlap across concurrent calls (10 banks submit at once), so the
// sums are busy time, not wall time. Counters only: no label, no message content.
using System.Diagnostics;

namespace FraudFed.Aggregator.Hosting;

/// <summary>Cumulative busy time of the appliance's parts (thread-safe counters; seconds are sums over concurrent calls).</summary>
public sealed class ApplianceTimings
{
    private long _engine, _storeWrite, _storeRead, _lockWait, _intake, _mailbox, _submit, _transactions, _events, _bytesWritten;

    /// <summary>Seconds in the mode engine (validating and applying messages and steps).</summary>
    public double EngineSeconds => Seconds(_engine);
    /// <summary>Seconds writing the state store (each transaction with its fsync, waiting for a group commit included).</summary>
    public double StoreWriteSeconds => Seconds(_storeWrite);
    /// <summary>Seconds reading the state store (mailbox reads, resend lookups).</summary>
    public double StoreReadSeconds => Seconds(_storeRead);
    /// <summary>Seconds callers waited for the coordinator's lock.</summary>
    public double LockWaitSeconds => Seconds(_lockWait);
    /// <summary>Seconds copying and hashing inbound messages before they reach the coordinator.</summary>
    public double IntakeSeconds => Seconds(_intake);
    /// <summary>Seconds turning stored mailbox items into replies.</summary>
    public double MailboxSeconds => Seconds(_mailbox);
    /// <summary>Seconds in Submit handlers, from the parsed request to the acknowledgement (everything above included; what a
    /// bank's send time has beyond this is TLS, HTTP/2 and protobuf).</summary>
    public double SubmitSeconds => Seconds(_submit);
    /// <summary>Store transactions committed (one fsync each).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);
    /// <summary>Events those transactions carried (more than <see cref="Transactions"/> when commits are grouped).</summary>
    public long Events => Interlocked.Read(ref _events);
    /// <summary>Payload and mailbox bytes handed to the store.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    internal void Engine(long ticks) => Interlocked.Add(ref _engine, ticks);
    internal void StoreWrite(long ticks) => Interlocked.Add(ref _storeWrite, ticks);
    internal void StoreRead(long ticks) => Interlocked.Add(ref _storeRead, ticks);
    internal void LockWait(long ticks) => Interlocked.Add(ref _lockWait, ticks);
    internal void Intake(long ticks) => Interlocked.Add(ref _intake, ticks);
    internal void Mailbox(long ticks) => Interlocked.Add(ref _mailbox, ticks);
    internal void Submit(long ticks) => Interlocked.Add(ref _submit, ticks);
    internal void Committed(int events, long bytes)
    {
        Interlocked.Increment(ref _transactions);
        Interlocked.Add(ref _events, events);
        Interlocked.Add(ref _bytesWritten, bytes);
    }

    /// <summary>A copy of the counters now, for differences over a span of work.</summary>
    public ApplianceTimingsSnapshot Snapshot() => new(EngineSeconds, StoreWriteSeconds, StoreReadSeconds, LockWaitSeconds, IntakeSeconds, MailboxSeconds,
        Transactions, Events, BytesWritten) { SubmitSeconds = SubmitSeconds };

    internal static long Now => Stopwatch.GetTimestamp();
    private static double Seconds(long ticks) => Interlocked.Read(ref ticks) / (double)Stopwatch.Frequency;
}

/// <summary>The counters of <see cref="ApplianceTimings"/> at one moment.</summary>
/// <param name="EngineSeconds">See <see cref="ApplianceTimings.EngineSeconds"/>.</param>
/// <param name="StoreWriteSeconds">See <see cref="ApplianceTimings.StoreWriteSeconds"/>.</param>
/// <param name="StoreReadSeconds">See <see cref="ApplianceTimings.StoreReadSeconds"/>.</param>
/// <param name="LockWaitSeconds">See <see cref="ApplianceTimings.LockWaitSeconds"/>.</param>
/// <param name="IntakeSeconds">See <see cref="ApplianceTimings.IntakeSeconds"/>.</param>
/// <param name="MailboxSeconds">See <see cref="ApplianceTimings.MailboxSeconds"/>.</param>
/// <param name="Transactions">See <see cref="ApplianceTimings.Transactions"/>.</param>
/// <param name="Events">See <see cref="ApplianceTimings.Events"/>.</param>
/// <param name="BytesWritten">See <see cref="ApplianceTimings.BytesWritten"/>.</param>
public sealed record ApplianceTimingsSnapshot(double EngineSeconds, double StoreWriteSeconds, double StoreReadSeconds, double LockWaitSeconds,
    double IntakeSeconds, double MailboxSeconds, long Transactions, long Events, long BytesWritten)
{
    /// <summary>See <see cref="ApplianceTimings.SubmitSeconds"/>.</summary>
    public double SubmitSeconds { get; init; }

    /// <summary>This snapshot minus <paramref name="earlier"/>.</summary>
    public ApplianceTimingsSnapshot Minus(ApplianceTimingsSnapshot earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        return new(EngineSeconds - earlier.EngineSeconds, StoreWriteSeconds - earlier.StoreWriteSeconds, StoreReadSeconds - earlier.StoreReadSeconds,
            LockWaitSeconds - earlier.LockWaitSeconds, IntakeSeconds - earlier.IntakeSeconds, MailboxSeconds - earlier.MailboxSeconds,
            Transactions - earlier.Transactions, Events - earlier.Events, BytesWritten - earlier.BytesWritten) { SubmitSeconds = SubmitSeconds - earlier.SubmitSeconds };
    }
}
