// Ctrl+C (SIGINT) and SIGTERM for every command. A command that honours cancellation (simulate, bank sum, bank train,
// aggregator serve) listens: the first SIGINT or SIGTERM cancels Token, the command stops at its next cancellation point,
// discards its staged outputs (--out is left as it was), prints "fraudfed <command>: cancelled." and exits 130 after SIGINT
// (128 + 2, the shell's convention) or 143 after SIGTERM (128 + 15). Any other command prints "fraudfed <command>: cancelled."
// and the signal takes its default action (the process ends at once with that status); so does a second signal.
// `aggregator serve` stops gracefully on either signal instead, prints "fraudfed aggregator serve: stopped." and exits 0
// (every accepted message is already in the state file); a further signal while it stops prints nothing and lets the stop
// finish (`kill %1` on `dotnet run` signals both dotnet and the app, so the app often sees two SIGTERMs).
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
    private static int _graceful;
    private static int _signal;
    private static string _command = "";

    /// <summary>The running command's path ("bank sum"; empty for the root), named in the "cancelled." line.</summary>
    public static string Command { get => Volatile.Read(ref _command); set => Volatile.Write(ref _command, value); }

    /// <summary>The line a cancelled command prints: "fraudfed <paramref name="command"/>: cancelled." ("fraudfed: cancelled."
    /// for the root; the native bank program's own name there: <see cref="CommandNames.Typed"/>).</summary>
    public static string CancelledLine(string command) => $"{CommandNames.Typed(command)}: cancelled.";

    /// <summary>Handles SIGINT and SIGTERM until the returned registration is disposed: the first signal cancels <see cref="Token"/>
    /// and keeps the process alive while a command listens (<see cref="Listen"/>); otherwise, and on a second signal, it prints
    /// "fraudfed &lt;command&gt;: cancelled." and leaves the signal to its default action (the process ends with status 130 or 143),
    /// except while a command that stops gracefully (<c>aggregator serve</c>) stops: then it prints nothing and the stop goes on.</summary>
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
        if (Source.IsCancellationRequested && Volatile.Read(ref _graceful) > 0)
        {
            // Already stopping gracefully: the stop reports "stopped."; a "cancelled." here would contradict it.
            context.Cancel = true;
            return;
        }
        Console.Error.WriteLine(CancelledLine(Command));
    }

    private sealed class Registrations(params IDisposable[] all) : IDisposable
    {
        public void Dispose()
        {
            foreach (IDisposable d in all) d.Dispose();
        }
    }

    /// <summary>Declares that the running command honours <see cref="Token"/> until the result is disposed.</summary>
    /// <param name="stopsGracefully">True for a command that stops gracefully and reports it (<c>aggregator serve</c>): a further
    /// signal while it stops is absorbed silently instead of ending the process.</param>
    public static IDisposable Listen(bool stopsGracefully = false)
    {
        Interlocked.Increment(ref _listeners);
        if (stopsGracefully) Interlocked.Increment(ref _graceful);
        return new Listener(stopsGracefully);
    }

    private sealed class Listener(bool graceful) : IDisposable
    {
        private int _disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            if (graceful) Interlocked.Decrement(ref _graceful);
            Interlocked.Decrement(ref _listeners);
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
