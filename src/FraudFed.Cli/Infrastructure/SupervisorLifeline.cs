// A child process started by another fraudfed process (simulate --transport grpc starts one `bank train` per bank) holds
// the read end of a pipe as its standard input and never receives data on it: when the supervisor exits in any way,
// even killed with SIGKILL, the operating system closes the write end and the read returns 0 bytes. The child then
// cancels its work and, if that does not end it within a grace period, exits, so no bank process outlives its supervisor.
namespace FraudFed.Cli.Infrastructure;

/// <summary>Ends this process when its standard input closes.</summary>
internal static class SupervisorLifeline
{
    /// <summary>Time the work has, after cancellation, to end on its own before the process exits.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    /// <summary>Watches standard input on a background thread; at end of input cancels <paramref name="work"/>, writes one line
    /// naming <paramref name="who"/> to <paramref name="stderr"/>, and exits with code 1 after <see cref="Grace"/>.</summary>
    public static void Watch(CancellationTokenSource work, TextWriter stderr, string who)
    {
        var thread = new Thread(() =>
        {
            try
            {
                using Stream input = Console.OpenStandardInput();
                var buffer = new byte[256];
                while (input.Read(buffer, 0, buffer.Length) > 0) { }
            }
            catch (IOException) { }
            stderr.WriteLine($"{who}: standard input closed (the supervising process is gone); stopping.");
            try { work.Cancel(); } catch (ObjectDisposedException) { }
            Thread.Sleep(Grace);
            Environment.Exit(CliErrors.RunFailed);
        }) { IsBackground = true, Name = "supervisor lifeline" };
        thread.Start();
    }
}
