// SIGTERM and SIGINT on real `fraudfed` processes, sent with kill(2): `bank sum` treats SIGTERM as Ctrl+C (one line
// "cancelled.", exit 143 = 128 + 15), and `aggregator serve` stops gracefully on either signal with one line "stopped."
// and exit 0 (no "cancelled.").
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using FraudFed.Cli.Infrastructure;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[Platform(Include = "Linux,MacOsX")]
public sealed partial class SignalTests
{
    private const int SigInt = 2, SigTerm = 15;   // POSIX signal numbers (Linux and macOS agree on both)

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Test]
    public Task SigTermDuringBankSum_IsLikeCtrlC_OneCancelledLine_Exit143() =>
        CliErrorsAndInterruptTests.WithBankSumAgainstASilentPortAsync("fraudfed-cli-sigterm-", async run =>
        {
            Process p = run.Process;
            Assert.That(await Task.WhenAny(run.Joining.Task, Task.Delay(TimeSpan.FromSeconds(60))), Is.SameAs(run.Joining.Task), run.Stderr());
            await Task.Delay(300);   // the command is now in its first call to the (silent) appliance
            Assert.That(Kill(p.Id, SigTerm), Is.EqualTo(0), "kill(2) SIGTERM");
            Assert.That(p.WaitForExit(30_000), Is.True, "the command stops after SIGTERM");
            p.WaitForExit();
            Assert.That(p.ExitCode, Is.EqualTo(CliErrors.Terminated), run.Stderr());
            string[] lines = Lines(run.Stderr());
            Assert.That(lines[^1], Is.EqualTo("fraudfed bank sum: cancelled."), run.Stderr());
            Assert.That(lines.Count(l => l.Contains("cancelled", StringComparison.Ordinal)), Is.EqualTo(1), run.Stderr());
            Assert.That(run.Stderr(), Does.Not.Contain("   at ").And.Not.Contain("Exception"));
        });

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [TestCase("INT", 1)]
    [TestCase("TERM", 1)]
    [TestCase("TERM", 2)]   // `kill %1` on `dotnet run` signals both dotnet and the app: a second SIGTERM while serve stops
    public async Task AggregatorServe_StopsGracefully_OnSignal_OneStoppedLine_Exit0(string signal, int times)
    {
        DirectoryInfo dir = Directory.CreateTempSubdirectory("fraudfed-cli-serve-signal-");
        try
        {
            string kit = Path.Combine(dir.FullName, "kit");
            int ops = FreePort(), listen = FreePort();
            var init = HostileInputTests.Run("aggregator", "init", "--banks", "2", "--mode", "masking", "--out", kit,
                "--listen", $"127.0.0.1:{listen}", "--ops-listen", $"127.0.0.1:{ops}");
            Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
            using Process p = Process.Start(SelfCommand.StartInfo(["aggregator", "serve", "--config", Path.Combine(kit, "aggregator.json")]))!;
            p.StandardInput.Close();
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            // serve says where it listens once both ports are bound: right after that line, both accept a connection.
            var head = new List<string>();
            using (var lineWait = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
                while (!head.Any(l => l.Contains("listening on", StringComparison.Ordinal)) && await p.StandardError.ReadLineAsync(lineWait.Token) is string line)
                    head.Add(line);
            Assert.That(head.LastOrDefault(), Is.EqualTo($"fraudfed aggregator serve: listening on https://127.0.0.1:{listen} (banks), http://127.0.0.1:{ops} (health, metrics)"), string.Join("\n", head));
            foreach (int port in new[] { listen, ops })
            {
                using var connection = new TcpClient();
                Assert.DoesNotThrow(() => connection.Connect(IPAddress.Loopback, port), $"port {port} is bound when the line is printed");
            }
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var wait = Stopwatch.StartNew();
            bool healthy = false;
            while (!healthy && !p.HasExited && wait.Elapsed < TimeSpan.FromSeconds(60))
            {
                try { healthy = await http.GetStringAsync(new Uri($"http://127.0.0.1:{ops}/healthz")) == "Healthy"; }
                catch (HttpRequestException) { await Task.Delay(200); }
                catch (TaskCanceledException) { }
            }
            Assert.That(healthy, Is.True, "serve answered /healthz");
            for (int i = 0; i < times; i++)
                Assert.That(Kill(p.Id, signal == "INT" ? SigInt : SigTerm), Is.EqualTo(0), $"kill(2) SIG{signal}");
            Assert.That(p.WaitForExit(30_000), Is.True, "serve stops after the signal");
            p.WaitForExit();
            string err = await stderr;
            string all = err + await stdout;
            Assert.That(p.ExitCode, Is.EqualTo(0), all);
            Assert.That(Lines(err)[^1], Is.EqualTo("fraudfed aggregator serve: stopped."), all);
            Assert.That(all, Does.Not.Contain("cancelled").And.Not.Contain("Exception"));
            Assert.That(Lines(err).Count(l => l.Contains("stopped.", StringComparison.Ordinal)), Is.EqualTo(1), all);
            Assert.That(head.Concat(Lines(err)).Count(l => l.Contains("listening on", StringComparison.Ordinal)), Is.EqualTo(1), all);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
