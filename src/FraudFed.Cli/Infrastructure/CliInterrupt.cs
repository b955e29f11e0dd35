// Ctrl+C (SIGINT) for every command. A command that honours cancellation (simulate, bank sum, bank train) listens: the first
// Ctrl+C cancels Token, the command stops at its next cancellation point, discards its staged outputs (--out is left as it
// was), prints "fraudfed <command>: cancelled." and exits 130 (128 + SIGINT, the shell's convention). Any other command
// prints "fraudfed: cancelled." and the process ends at once with the same status 130; so does a second Ctrl+C.
// `aggregator serve` stops gracefully on Ctrl+C or SIGTERM and exits 0 (the host's own handling; every accepted message is
// already in the state file).
using System.Runtime.InteropServices;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The process-wide interrupt: registered once by <c>Main</c>, read by commands and by <see cref="CliErrors"/>.</summary>
internal static class CliInterrupt
{
    private static readonly CancellationTokenSource Source = new();

    /// <summary>Cancelled by the first Ctrl+C (SIGINT).</summary>
    public static CancellationToken Token => Source.Token;

    /// <summary>True once Ctrl+C was pressed.</summary>
    public static bool Requested => Source.IsCancellationRequested;

    private static int _listeners;

    /// <summary>Handles SIGINT until the returned registration is disposed: the first signal cancels <see cref="Token"/> and keeps
    /// the process alive while a command listens (<see cref="Listen"/>); otherwise, and on a second signal, it prints
    /// "fraudfed: cancelled." and leaves the signal to its default action (the process ends with status 130).</summary>
    public static IDisposable Register() => PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
    {
        if (!Source.IsCancellationRequested && Volatile.Read(ref _listeners) > 0)
        {
            context.Cancel = true;
            Source.Cancel();
            return;
        }
        Console.Error.WriteLine("fraudfed: cancelled.");
    });

    /// <summary>Declares that the running command honours <see cref="Token"/> until the result is disposed.</summary>
    public static IDisposable Listen()
    {
        Interlocked.Increment(ref _listeners);
        return new Listener();
    }

    private sealed class Listener : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Interlocked.Decrement(ref _listeners);
        }
    }

    /// <summary>A token cancelled by Ctrl+C or after <paramref name="timeout"/>; <see cref="TimedOut"/> tells which.</summary>
    public static CancellationTokenSource WithTimeout(TimeSpan timeout)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(Token);
        source.CancelAfter(timeout);
        return source;
    }

    /// <summary>True when <paramref name="source"/> (from <see cref="WithTimeout"/>) was cancelled by its timeout, not by Ctrl+C.</summary>
    public static bool TimedOut(CancellationTokenSource source) => source.IsCancellationRequested && !Requested;
}
