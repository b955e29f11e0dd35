// What a person sees when a command fails or is interrupted: one line without a .NET type name or parameter name, a vector
// of the wrong length as an input error (exit 2) naming the round's length, and Ctrl+C (SIGINT) on a real `fraudfed`
// process as "cancelled." with exit code 130, while a --timeout that passes is a run failure (exit 1) naming the timeout.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class CliErrorsAndInterruptTests
{
    private static (int Code, string Line) Report(Exception e)
    {
        var stderr = new StringWriter();
        int code = CliErrors.Report("bank sum", stderr, e);
        return (code, stderr.ToString().TrimEnd());
    }

    [Test]
    public void UnexpectedErrors_AreOneLineWithoutADotNetTypeOrParameterName()
    {
        var (code, line) = Report(new InvalidOperationException("the appliance's answer cannot be read"));
        Assert.That(code, Is.EqualTo(CliErrors.RunFailed));
        Assert.That(line, Is.EqualTo("fraudfed bank sum: the appliance's answer cannot be read"));

        (code, line) = Report(new ArgumentException("values[3] is not below 2^32.", "values"));
        Assert.That(code, Is.EqualTo(CliErrors.RunFailed));
        Assert.That(line, Is.EqualTo("fraudfed bank sum: values[3] is not below 2^32."));

        (code, line) = Report(new AggregateException(new TimeoutException("no sum within --timeout 5 s")));
        Assert.That(line, Does.Not.Contain("Exception").And.Contain("--timeout 5 s"));
    }

    [Test]
    public void AVectorOfTheWrongLength_IsAnInputError_NamingTheRoundsLength()
    {
        var (code, line) = Report(new VectorLengthMismatchException(4, 5, "vector length mismatch: round 1 sums vectors of 4 values (the length the first bank to join it asked for), this bank passed 5"));
        Assert.That(code, Is.EqualTo(CliErrors.Usage));
        Assert.That(line, Does.StartWith("fraudfed bank sum: vector length mismatch: round 1 sums vectors of 4 values").And.Contain("give this bank a vector of 4 values"));
    }

    [Test]
    public void AFederationBlockThatIsNotTheAppliances_IsAConfigurationError_NamingBankJsonAndTheSettings_WithoutTheDigest()
    {
        var (code, line) = Report(new FederationSettingsMismatchException(FederationClient.SettingsDifferMessage("kit/banks/bank-0/bank.json")));
        Assert.That(code, Is.EqualTo(CliErrors.Usage), "bank.json's federation block is a configuration error, as README's exit codes say");
        Assert.That(line, Does.StartWith("fraudfed bank sum: the federation settings in kit/banks/bank-0/bank.json differ from the appliance's"));
        foreach (string setting in (string[])["mode", "identity_keys", "aggregator_key", "federation.he", "federation.masking", "insecure_test_parameters", "aggregator init"])
            Assert.That(line, Does.Contain(setting));
        Assert.That(line, Does.Not.Contain("digest"), "an internal term");
        Assert.That(new FederationSettingsMismatchException("x"), Is.InstanceOf<FederationException>(), "a bank program's catch of FederationException sees it");
    }

    [Test]
    public void ARoundOfOneValue_IsSaidInTheSingular()
    {
        var (_, line) = Report(new VectorLengthMismatchException(1, 2, ""));
        Assert.That(line, Does.Contain("the round sums vectors of 1 value, this bank passed 2").And.Contain("give this bank a vector of 1 value,"));
        Assert.That(line, Does.Not.Contain("1 values"));
        Assert.That(Report(new VectorLengthMismatchException(3, 2, "")).Line, Does.Contain("vectors of 3 values"));
        Assert.That(new FraudFed.Protocol.RoundLengthMismatchException(4, 1, 2).Message, Does.Contain("sums vectors of 1 value, this bank passed 2").And.Not.Contain("1 values"));
    }

    [Test]
    public void CancellationWithoutCtrlC_IsARunFailure()
    {
        Assert.That(CliInterrupt.Requested, Is.False, "no SIGINT in the test host");
        Assert.That(Report(new OperationCanceledException()).Code, Is.EqualTo(CliErrors.RunFailed));
    }

    /// <summary>Starts `fraudfed bank sum` against an address that accepts TCP connections but never answers (a listener that is
    /// never accepted from), so the command waits in its connection to the appliance.</summary>
    internal static (Process Process, Func<string> Stderr, TaskCompletionSource Joining) StartBankSumAgainstASilentPort(string dir, int port, params string[] extra)
    {
        string kit = Path.Combine(dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "2", "--mode", "masking", "--out", kit, "--listen", $"127.0.0.1:{port}", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string values = Path.Combine(dir, "values.txt");
        File.WriteAllText(values, "1,2,3");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fraudfed.dll"));
        foreach (string a in (string[])["bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", values, .. extra]) start.ArgumentList.Add(a);
        var stderr = new System.Text.StringBuilder();
        var joining = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var p = new Process { StartInfo = start };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.Contains("joining the session", StringComparison.Ordinal)) joining.TrySetResult();
        };
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return (p, () => { lock (stderr) return stderr.ToString(); }, joining);
    }

    /// <summary>A running `fraudfed bank sum` against a silent port: its process, its stderr so far, "joining" printed (the
    /// client holds its state directory and is about to call), and the temporary directory with the kit and values.</summary>
    internal sealed record SilentBankSum(Process Process, Func<string> Stderr, TaskCompletionSource Joining, string Directory);

    /// <summary>Runs <paramref name="body"/> with `fraudfed bank sum` started against a listener that never answers (see
    /// <see cref="StartBankSumAgainstASilentPort"/>), in a fresh temporary directory named after <paramref name="prefix"/>;
    /// the listener, the process handle and the directory are released afterwards, whatever the body did.</summary>
    internal static async Task WithBankSumAgainstASilentPortAsync(string prefix, Func<SilentBankSum, Task> body, params string[] extra)
    {
        DirectoryInfo dir = Directory.CreateTempSubdirectory(prefix);
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            var (p, stderr, joining) = StartBankSumAgainstASilentPort(dir.FullName, ((IPEndPoint)silent.LocalEndpoint).Port, extra);
            using (p) await body(new SilentBankSum(p, stderr, joining, dir.FullName));
        }
        finally
        {
            silent.Stop();
            dir.Delete(recursive: true);
        }
    }

    [Test]
    [Platform(Include = "Linux,MacOsX")]
    public Task CtrlC_DuringBankSum_PrintsCancelled_AndExits130() =>
        WithBankSumAgainstASilentPortAsync("fraudfed-cli-interrupt-", async run =>
        {
            Process p = run.Process;
            Assert.That(await Task.WhenAny(run.Joining.Task, Task.Delay(TimeSpan.FromSeconds(60))), Is.SameAs(run.Joining.Task), run.Stderr());
            await Task.Delay(300);   // the command is now in its first call to the (silent) appliance
            using (Process kill = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            Assert.That(p.WaitForExit(30_000), Is.True, "the command stops after Ctrl+C");
            p.WaitForExit();
            Assert.That(p.ExitCode, Is.EqualTo(130), run.Stderr());
            string[] lines = run.Stderr().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.That(lines[^1], Is.EqualTo("fraudfed bank sum: cancelled."), run.Stderr());
            Assert.That(run.Stderr(), Does.Not.Contain("   at ").And.Not.Contain("Exception"));
        });

    [Test]
    public Task TimeoutDuringBankSum_IsARunFailure_NamingTheTimeout() =>
        WithBankSumAgainstASilentPortAsync("fraudfed-cli-timeout-", async run =>
        {
            await run.Process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            Assert.That(run.Process.ExitCode, Is.EqualTo(1), run.Stderr());
            Assert.That(run.Stderr(), Does.Contain("fraudfed bank sum: no sum within --timeout 2 s").And.Not.Contain("Exception"));
        }, "--timeout", "2");
}
