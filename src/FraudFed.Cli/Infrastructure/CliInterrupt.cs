// Ctrl+C (SIGINT) and SIGTERM for every command. A command that honours cancellation (simulate, bank sum, bank train,
// aggregator serve) listens: the first SIGINT or SIGTERM cancels Token, the command stops at its next cancellation point,
// discards its staged outputs (--out is left as it was), prints "fraudfed <command>: cancelled." and exits 130 after SIGINT
// (128 + 2, the shell's convention) or 143 after SIGTERM (128 + 15). Any other command prints "fraudfed: cancelled." and
// the signal takes its default action (the process ends at once with that status); so does a second signal.
// `aggregator serve` stops gracefully on either signal instead, prints "fraudfed aggregator serve: stopped." and exits 0
// (every accepted message is already in the state file).
using System.Runtime.InteropServices;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The process-wide interrupt: registered once by <c>Main</c>, read by commands and by <see cref="CliErrors"/>.</summary>
internal static class CliInterrupt
{
    private static readonly CancellationTokenSource Source = new();

    /// <summary>Cancelled by the first Ctrl+C (SIGINT) or SIGTERM while a command listens.</summary>
    public static CancellationToken Token => Source.Token;

    /// <summary>True once Ctrl+C or SIGTERM cancelled <see cref="Token"/>.</summary>
    public static bool Requested => Source.IsCancellationRequested;

    /// <summary>The exit status of a command stopped by the signal: 130 (SIGINT) or 143 (SIGTERM).</summary>
    public static int ExitCode => Volatile.Read(ref _signal) == (int)PosixSignal.SIGTERM ? CliErrors.Terminated : CliErrors.Interrupted;

    private static int _listeners;
    private static int _signal;

    /// <summary>Handles SIGINT and SIGTERM until the returned registration is disposed: the first signal cancels <see cref="Token"/>
    /// and keeps the process alive while a command listens (<see cref="Listen"/>); otherwise, and on a second signal, it prints
    /// "fraudfed: cancelled." and leaves the signal to its default action (the process ends with status 130 or 143).</summary>
    public static IDisposable Register() => new Registrations(PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle));

    private static void Handle(PosixSignalContext context)
    {
        if (!Source.IsCancellationRequested && Volatile.Read(ref _listeners) > 0)
        {
            context.Cancel = true;
            Volatile.Write(ref _signal, (int)context.Signal);
            Source.Cancel();
            return;
        }
        Console.Error.WriteLine("fraudfed: cancelled.");
    }

    private sealed class Registrations(params IDisposable[] all) : IDisposable
    {
        public void Dispose()
        {
            foreach (IDisposable d in all) d.Dispose();
        }
    }

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
