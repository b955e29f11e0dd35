// `simulate --transport grpc`: the appliance in the test process and one `bank train` child process per bank over loopback
// mutual TLS. The federated model the children train equals, byte for byte, the model of the in-process run on the same
// scenario; a bank that fails or hangs stops the run (exit 1, naming the bank); cancellation kills every child. Every test
// records the children's process ids and start times and checks that none of them is still running afterwards, and that
// the run's temporary directory is gone.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using FraudFed.Learning.Data;
using FraudFed.Learning.Features;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Protocol;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[NonParallelizable]
public sealed partial class SimulateBankProcessTests
{
    private string _out = "";
    private readonly List<(int Bank, int Pid, DateTime Start)> _children = [];
    private string? _work;

    [SetUp]
    public void SetUp()
    {
        _out = Path.Combine(Path.GetTempPath(), "fraudfed-sim-procs-" + Guid.NewGuid().ToString("N"));
        _children.Clear();
        _work = null;
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var c in _children)
            if (Running(c.Pid, c.Start))
                try { using var p = Process.GetProcessById(c.Pid); p.Kill(entireProcessTree: true); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        if (Directory.Exists(_out)) Directory.Delete(_out, recursive: true);
        foreach (string staging in StagingBeside(_out)) Directory.Delete(staging, recursive: true);   // a killed run's, if a test left one
    }

    /// <summary>The staging directories beside <paramref name="target"/> (StagedOutput: `.&lt;name&gt;.fraudfed-&lt;hex&gt;`).</summary>
    private static string[] StagingBeside(string target) =>
        Directory.GetDirectories(Path.GetDirectoryName(target)!, "." + Path.GetFileName(target) + StagedOutput.Infix + "*");

    /// <summary>True while the process <paramref name="pid"/> that started at <paramref name="start"/> still runs (a reused pid is another process).</summary>
    private static bool Running(int pid, DateTime start)
    {
        try
        {
            using Process p = Process.GetProcessById(pid);
            return !p.HasExited && Math.Abs((p.StartTime.ToUniversalTime() - start).TotalSeconds) < 2;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private SimulateCommand.SimulateSettings Settings(string mode, string transport, string dir, double bankTimeout = SimulateCommand.DefaultBankTimeout,
        Action<int, ProcessStartInfo>? beforeStart = null, Action<int>? started = null) =>
        new(3, mode, "gbdt", 6000, 7, dir, null, Json: true, Trees: 3, Transport: transport, BankTimeout: bankTimeout,
            Processes: new BankProcessSettings
            {
                InsecureTestParameters = true,
                BeforeStart = beforeStart,
                Started = (bank, pid, start) => { lock (_children) _children.Add((bank, pid, start)); started?.Invoke(bank); },
                WorkDirectory = d => _work = d,
            });

    private static (int Code, string Stdout, string Stderr) Run(SimulateCommand.SimulateSettings s, CancellationToken cancellationToken = default)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SimulateCommand.Run(s, stdout, stderr, cancellationToken);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private void AssertNoChildLeft(int expected)
    {
        Assert.That(_children.Select(c => c.Bank).Order(), Is.EqualTo(Enumerable.Range(0, expected)), "one process per bank was started");
        Assert.That(_children.Select(c => c.Pid), Has.None.EqualTo(Environment.ProcessId), "the banks are other processes");
        foreach (var c in _children) Assert.That(Running(c.Pid, c.Start), Is.False, $"bank {c.Bank}'s process {c.Pid} is still running");
        Assert.That(_work, Is.Not.Null);
        Assert.That(Directory.Exists(_work), Is.False, "the temporary kit, state and partition files are removed");
    }

    [TestCase("masking")]
    [TestCase("he")]
    public void BankProcesses_TrainTheInprocModel_ByteForByte(string mode)
    {
        var inproc = Run(Settings(mode, "inproc", Path.Combine(_out, "inproc")));
        var procs = Run(Settings(mode, "grpc", Path.Combine(_out, "grpc")));

        Assert.That(inproc.Code, Is.Zero, inproc.Stderr);
        Assert.That(procs.Code, Is.Zero, procs.Stderr);
        Assert.That(File.ReadAllBytes(Path.Combine(_out, "grpc", "model.txt")), Is.EqualTo(File.ReadAllBytes(Path.Combine(_out, "inproc", "model.txt"))),
            "the same trees, byte for byte");
        Assert.That(inproc.Stdout, Does.Match(@"MB down, \d+\.\d s in secure sums\n"), "in process: the time of the secure sums");
        Assert.That(procs.Stdout, Does.Match(@"MB down, \d+\.\d s in the federated phase \(bank processes over gRPC\)\n"),
            "over gRPC the banks' sums are not timed apart from their training: the phase's time, said as such");
        using JsonDocument a = JsonDocument.Parse(inproc.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        using JsonDocument b = JsonDocument.Parse(procs.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        foreach (string key in new[] { "pr_auc_federated", "roc_auc_federated", "pr_auc_centralized", "pr_auc_local_mean" })
            Assert.That(b.RootElement.GetProperty(key).GetDouble(), Is.EqualTo(a.RootElement.GetProperty(key).GetDouble()), key);
        Assert.That(b.RootElement.GetProperty("secure_equals_plaintext").GetBoolean(), Is.True);
        Assert.That(b.RootElement.GetProperty("settings").GetProperty("transport").GetString(), Is.EqualTo("grpc"));
        // Which program ran the banks: native (compiled ahead of time) or the CLI's own JIT-compiled one; none in process.
        string program = SelfCommand.NativeBank() is null ? "dotnet" : "native";
        Assert.That(b.RootElement.GetProperty("settings").GetProperty("bank_program").GetString(), Is.EqualTo(program));
        Assert.That(a.RootElement.GetProperty("settings").TryGetProperty("bank_program", out _), Is.False, "in process no bank process runs");
        using (JsonDocument written = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "grpc", "summary.json"))))
            Assert.That(written.RootElement.GetProperty("settings").GetProperty("bank_program").GetString(), Is.EqualTo(program), "summary.json");
        Assert.That(File.ReadAllText(Path.Combine(_out, "grpc", "report.html")), Does.Contain("bank program (native: compiled ahead of time").And.Contain(">" + program + "<"), "report.html");
        Assert.That(procs.Stderr, Does.Contain("appliance on https://127.0.0.1:").And.Contain(SelfCommand.NativeBank() is null ? "3 bank processes" : "3 native bank processes"));
        Assert.That(procs.Stderr, Does.Match(@"bank 2 \(pid \d+\): (done after )?tree 3/3 level \d, \d+ sums, \d+\.\d MB up"), "one progress line per bank: stage, tree, level, sums, bytes");

        // The protocol figures are the same quantity on both transports: the secure sums' protocol messages after the key setup.
        using JsonDocument sa = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "inproc", "summary.json")));
        using JsonDocument sb = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "grpc", "summary.json")));
        JsonElement pa = sa.RootElement.GetProperty("protocol"), pb = sb.RootElement.GetProperty("protocol");
        foreach (string key in new[] { "secure_sums", "values_per_bank", "bytes_uploaded", "bytes_downloaded" })
            Assert.That(pb.GetProperty(key).GetInt64(), Is.EqualTo(pa.GetProperty(key).GetInt64()), $"protocol.{key}");
        Assert.That(pb.GetProperty("bytes_uploaded").GetInt64(), Is.Positive);

        // Both outputs read alike: a `federated` phase line, stamped lines, and the same last line of the phase (the last sum's
        // tree and level, its sums and the MB up), stamps aside. The bank panel names the level of the last sum, as in process.
        static string LastFederated(string stderr) => stderr.Split('\n').Last(l => l.Contains("] federated   ", StringComparison.Ordinal)).TrimEnd('\r');
        static string Unstamped(string line) => line[(line.IndexOf(']', StringComparison.Ordinal) + 1)..];
        string inprocLast = LastFederated(inproc.Stderr), grpcLast = LastFederated(procs.Stderr);
        Assert.That(inprocLast, Does.Match(@"^\[\s*\d+\.\ds\] federated   tree 3/3 level \d  \(\d+ sums, \d+\.\d MB up, \d+\.\d MB down\)$"), inproc.Stderr);
        Assert.That(Unstamped(grpcLast), Is.EqualTo(Unstamped(inprocLast)), procs.Stderr);
        // The sums before the first tree (bin edges, totals) end with the same phase line on both transports.
        static string Setup(string stderr) => stderr.Split('\n').Last(l => l.Contains("] federated   setup (before the first step)", StringComparison.Ordinal)).TrimEnd('\r');
        Assert.That(Setup(inproc.Stderr), Does.Match(@"^\[\s*\d+\.\ds\] federated   setup \(before the first step\)  \(\d+ sums?, \d+\.\d MB up, \d+\.\d MB down\)$"), inproc.Stderr);
        Assert.That(Unstamped(Setup(procs.Stderr)), Is.EqualTo(Unstamped(Setup(inproc.Stderr))), procs.Stderr);
        // A masking bank downloads the sum of every round: counted, so its download is not 0 (it is at least the sums' values).
        Assert.That(pb.GetProperty("bytes_downloaded").GetInt64(), Is.GreaterThanOrEqualTo(pb.GetProperty("values_per_bank").GetInt64() * 3 * (mode == "masking" ? 6 : 1)));
        Assert.That(inproc.Stdout, Does.Contain(string.Join('\n', SimulateCommand.LegendLines)), "the terms of the tables are explained under them");
        Assert.That(procs.Stdout, Does.Contain(string.Join('\n', SimulateCommand.LegendLines)), "on both transports");
        Assert.That(grpcLast, Does.StartWith("["), "stamped as the in-process lines");
        Assert.That(procs.Stderr, Does.Match(@"\[\s*\d+\.\ds\] federated   training on the appliance"), "the phase line");
        string level = System.Text.RegularExpressions.Regex.Match(inprocLast, @"level \d").Value;
        Assert.That(procs.Stderr, Does.Match(@"\[\s*\d+\.\ds\] bank 2 \(pid \d+\): (done after )?tree 3/3 " + level + ","),
            "the bank panel's lines are stamped and name the last sum's level, as the in-process line");
        // Why a bank uploads less is said once (he: 3 banks, T = 2 asked for shares; masking: every bank sends the same messages).
        Assert.That(procs.Stderr.Contains("decryption shares come from the first", StringComparison.Ordinal), Is.EqualTo(mode == "he"), procs.Stderr);
        // The plain-sum training and the LightGBM baselines ran in this process alongside the bank processes: their lines are
        // shown as they happen, among the bank panel's (a fresh-user trial saw them held back until the federated phase had
        // ended, stamped after it), each whole and naming its phase (no line torn by the two threads).
        string[] lines = procs.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.All.Match(@"^(\[\s*\d+\.\ds\] (federated|plain|metrics|local|centralized|done|bank \d \(pid \d+\):) |fraudfed simulate: |  \()"), procs.Stderr);
        int phaseEnd = Array.FindLastIndex(lines, l => l.Contains("] federated   tree 3/3", StringComparison.Ordinal));
        int firstLocal = Array.FindIndex(lines, l => l.Contains("] local       LightGBM on bank-0 alone (1/3)", StringComparison.Ordinal));
        int plainStart = Array.FindIndex(lines, l => l.Contains("] plain       training again with plain sums", StringComparison.Ordinal));
        Assert.That(firstLocal, Is.Not.Negative, procs.Stderr);
        Assert.That(plainStart, Is.Not.Negative.And.LessThan(phaseEnd), "the plain training's start is shown before the federated phase ends\n" + procs.Stderr);
        Assert.That(lines.Count(l => l.Contains("] plain       training again with plain sums", StringComparison.Ordinal)), Is.EqualTo(1), procs.Stderr);
        // One clock for the whole run: the overlapped baseline lines and the federated phase's lines go forward in time (a
        // fresh-user trial saw them go backwards, each phase on its own clock).
        double[] stamps = [.. lines.Where(l => l.StartsWith('[')).Select(l => double.Parse(l[1..l.IndexOf('s', StringComparison.Ordinal)], CultureInfo.InvariantCulture))];
        Assert.That(stamps, Is.Ordered, procs.Stderr);
        AssertNoChildLeft(3);
    }

    [Test]
    public void FailingBankProcess_ExitsOne_NamingTheBankAndItsError()
    {
        var r = Run(Settings("masking", "grpc", _out, beforeStart: (bank, info) =>
        {
            if (bank != 1) return;
            int i = info.ArgumentList.IndexOf("--data");
            info.ArgumentList[i + 1] += ".missing";
        }));

        Assert.That(r.Code, Is.EqualTo(1), r.Stderr);
        string last = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        // The bank's own line names the program it ran: the native bank program (`fraudfed-bank train`) or this CLI.
        string bankLine = SelfCommand.NativeBank() is null ? "fraudfed bank train: --data '" : "fraudfed-bank train: --data '";
        Assert.That(last, Does.StartWith("fraudfed simulate: bank 1 (pid ").And.Contain("exited with code 2; its stderr ends: " + bankLine)
            .And.EndWith(".missing' does not exist."), "the bank, its exit code and the tail of its stderr");
        Assert.That(Directory.Exists(_out), Is.False, "nothing written to --out");
        AssertNoChildLeft(3);
    }

    [Test]
    public void BankProcessKilledByASignal_IsSaidSo_NotAsAnExitCode()
    {
        // Bank 1's process kills itself with SIGKILL (as the out-of-memory killer would): .NET reports exit code 137.
        var r = Run(Settings("masking", "grpc", _out, beforeStart: (bank, info) =>
        {
            if (bank != 1) return;
            info.FileName = "sh";
            info.ArgumentList.Clear();
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("kill -KILL $$");
        }));

        Assert.That(r.Code, Is.EqualTo(1), r.Stderr);
        string last = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.That(last, Does.Match(@"^fraudfed simulate: bank 1 \(pid \d+\) was killed by signal 9 \(SIGKILL\); it wrote nothing on stderr$"), r.Stderr);
        Assert.That(Directory.Exists(_out), Is.False, "nothing written to --out");
        AssertNoChildLeft(3);
    }

    [TestCase(2, "exited with code 2", "exited 2")]
    [TestCase(1, "exited with code 1", "exited 1")]
    [TestCase(137, "was killed by signal 9 (SIGKILL)", "killed by SIGKILL")]
    [TestCase(139, "was killed by signal 11 (SIGSEGV)", "killed by SIGSEGV")]
    [TestCase(134, "was killed by signal 6 (SIGABRT)", "killed by SIGABRT")]
    [TestCase(130, "was stopped by SIGINT (exit code 130)", "stopped by SIGINT")]
    [TestCase(143, "was stopped by SIGTERM (exit code 143)", "stopped by SIGTERM")]
    [TestCase(128, "exited with code 128", "exited 128")]
    [TestCase(255, "exited with code 255", "exited 255")]
    [TestCase(-1, "exited with code -1", "exited -1")]
    public void BankProcessEnd_NamesTheSignal_OfAnExitCode128PlusN(int exitCode, string ended, string panel)
    {
        Assert.That(ApplianceTraining.Ended(exitCode), Is.EqualTo(ended));
        Assert.That(ApplianceTraining.EndedShort(exitCode), Is.EqualTo(panel));
    }

    [Test]
    public void BankProcessEnd_ARealTimeSignal_IsNamedByItsNumber()
    {
        // Linux's real-time signals (34..64) have no fixed names: the number alone.
        Assert.That(ApplianceTraining.Ended(128 + 40), Is.EqualTo(OperatingSystem.IsLinux() ? "was killed by signal 40" : "exited with code 168"));
        Assert.That(ApplianceTraining.Ended(128 + 65), Is.EqualTo("exited with code 193"), "beyond the signals: the process's own code");
    }

    [Test]
    public void HungBankProcess_IsStoppedAtTheDeadline_AndTheRunExitsOne()
    {
        var clock = Stopwatch.StartNew();
        var r = Run(Settings("masking", "grpc", _out, bankTimeout: 10, beforeStart: (bank, info) =>
        {
            if (bank != 0) return;   // started first, so its deadline comes first even if every bank starts slowly
            info.FileName = "sleep";   // a process that says nothing and does nothing
            info.ArgumentList.Clear();
            info.ArgumentList.Add("600");
        }));

        Assert.That(r.Code, Is.EqualTo(1), r.Stderr);
        Assert.That(r.Stderr, Does.Contain("fraudfed simulate: bank 0 (pid ").And.Contain("wrote nothing for 10 s"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(120)), "the deadline, not the sleep, ended the run");
        AssertNoChildLeft(3);
    }

    [Test]
    public void Cancellation_KillsEveryBankProcess_AndLeavesNothing()
    {
        using var cts = new CancellationTokenSource();
        // Cancelled as the last bank process starts (a native bank process trains this small job in about a second, so a
        // fixed delay could let the run finish first).
        var r = Run(Settings("masking", "grpc", _out, started: bank => { if (bank == 2) cts.Cancel(); }), cts.Token);

        Assert.That(r.Code, Is.EqualTo(1), r.Stderr);
        Assert.That(r.Stderr, Does.Contain("fraudfed simulate: cancelled."));
        Assert.That(Directory.Exists(_out), Is.False);
        AssertNoChildLeft(3);
    }

    private const int SigInt = 2, SigKill = 9;   // POSIX signal numbers (Linux and macOS agree on both)

    /// <summary>kill(2) from libc: the signal goes straight to the process, with no helper program in between.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [TestCase("INT")]
    [TestCase("KILL")]
    public void SimulateProcessSignalled_LeavesNoBankProcess(string signal)
    {
        // The whole CLI as its own process. SIGINT (Ctrl-C) cancels the run, which kills the children and removes the
        // temporary directory; SIGKILL gives it no chance at all: the children see their standard input close and stop.
        ProcessStartInfo info = SelfCommand.StartInfo(["simulate", "--banks", "3", "--transactions", "6000", "--seed", "7", "--trees", "50",
            "--mode", "masking", "--transport", "grpc", "--out", _out]);
        using Process parent = Process.Start(info)!;
        parent.StandardInput.Close();
        var pids = new List<int>();
        string? work = null;
        while (pids.Count == 0)
        {
            string? line = parent.StandardError.ReadLine();
            if (line is null) break;
            const string Marker = "bank processes (`bank train`, pids ";
            if (!line.Contains(Marker, StringComparison.Ordinal)) continue;
            pids.AddRange(line[(line.IndexOf(Marker, StringComparison.Ordinal) + Marker.Length)..].TrimEnd(')').Split(", ").Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
            string kit = line[(line.IndexOf("development kit in ", StringComparison.Ordinal) + "development kit in ".Length)..line.IndexOf(')')];
            work = Path.GetDirectoryName(kit);
        }
        Task<string> rest = parent.StandardError.ReadToEndAsync();   // keep draining, or the parent blocks on a full pipe
        Assert.That(pids, Has.Count.EqualTo(3), "the parent named its bank processes");
        for (int b = 0; b < pids.Count; b++)
        {
            using Process c = Process.GetProcessById(pids[b]);
            _children.Add((b, pids[b], c.StartTime.ToUniversalTime()));
        }
        Thread.Sleep(1000);
        Assert.That(Kill(parent.Id, signal == "INT" ? SigInt : SigKill), Is.EqualTo(0), $"kill(2) SIG{signal} to the simulate process");
        Assert.That(parent.WaitForExit(60_000), Is.True, "the parent ended");
        string stderr = rest.Result;

        var wait = Stopwatch.StartNew();
        while (_children.Any(c => Running(c.Pid, c.Start)) && wait.Elapsed < SupervisorLifeline.Grace + TimeSpan.FromSeconds(30)) Thread.Sleep(200);
        foreach (var c in _children) Assert.That(Running(c.Pid, c.Start), Is.False, $"bank {c.Bank}'s process {c.Pid} outlived its parent (SIG{signal})");
        Assert.That(Directory.Exists(_out), Is.False, "--out is written only by a run that succeeds");
        if (signal == "INT")
        {
            Assert.That(parent.ExitCode, Is.Not.Zero);
            Assert.That(stderr, Does.Contain("fraudfed simulate: cancelled."));
            Assert.That(Directory.Exists(work), Is.False, "the temporary directory is removed");
            Assert.That(StagingBeside(_out), Is.Empty, "so is the staging directory beside --out");
        }
        else
        {
            // A SIGKILLed process cannot clean up after itself: its temporary directory (kit keys, plaintext partitions) and its
            // staging directory beside --out stay, each marked with its owner, until the next grpc run writing to the same --out
            // sees that owner gone and removes both, saying so in one line each.
            Assert.That(work, Is.Not.Null);
            string[] staging = StagingBeside(_out);
            Assert.That(staging, Has.Length.EqualTo(1), "the killed run's staging directory beside --out");
            try
            {
                if (!OperatingSystem.IsLinux()) return;   // the owner is told apart through /proc: elsewhere nothing is removed
                Assert.That(File.Exists(Path.Combine(work!, SimulateWorkDirectory.MarkerName)), Is.True, "the killed run's directory is marked");
                Assert.That(File.Exists(Path.Combine(staging[0], StagedOutput.Marker.FileName)), Is.True, "so is its staging directory");
                var next = Run(Settings("masking", "grpc", _out));
                Assert.That(next.Code, Is.Zero, next.Stderr);
                Assert.That(Directory.Exists(work), Is.False, "the next run removed the killed run's directory");
                string[] said = [.. next.Stderr.Split('\n').Where(l => l.Contains(work!, StringComparison.Ordinal))];
                Assert.That(said, Has.Length.EqualTo(1), next.Stderr);
                Assert.That(said[0], Does.StartWith("fraudfed simulate: removed ").And.Contain("killed"));
                Assert.That(Directory.Exists(_work), Is.False, "and its own directory at its end");
                Assert.That(StagingBeside(_out), Is.Empty, "the next run removed the killed run's staging directory, and its own at its end");
                string[] saidStaging = [.. next.Stderr.Split('\n').Where(l => l.Contains(staging[0], StringComparison.Ordinal))];
                Assert.That(saidStaging, Has.Length.EqualTo(1), next.Stderr);
                Assert.That(saidStaging[0], Does.StartWith($"fraudfed simulate: removed {staging[0]}, the staging directory of {_out} ").And.Contain("killed"));
                Assert.That(File.Exists(Path.Combine(_out, "summary.json")), Is.True, "the next run wrote its outputs");
                Assert.That(File.Exists(Path.Combine(_out, StagedOutput.Marker.FileName)), Is.False, "and no marker among them");
            }
            finally
            {
                if (work is not null && Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
        }
    }

    [TestCase("key setup done at this bank (the session is ready once every bank is; no round opens before) ...", "key setup done at this bank ...")]
    [TestCase("key setup with the other banks (waits until every bank of the roster has joined) ...", "key setup with the other banks ...")]
    [TestCase("tree 3/200 level 2, 12 sums, 1.0 MB up, 0.3 MB down", "tree 3/200 level 2, 12 sums, 1.0 MB up, 0.3 MB down")]
    public void PanelStatus_DropsRemarksBeforeCuttingAWord(string line, string shown)
    {
        Assert.That(BankProcess.Shorten(line, 60), Is.EqualTo(shown));
        Assert.That(BankProcess.Shorten(line, line.Length), Is.EqualTo(line), "a line that fits is shown whole");
        string cut = BankProcess.Shorten(new string('x', 80) + " (remark)", 60);
        Assert.That(cut, Has.Length.EqualTo(60).And.EndsWith("..."), "still too long without its remarks: cut, and marked as cut");
    }

    [TestCase(5, 4, "(bank 4 uploads about half as much")]
    [TestCase(7, 5, "(banks 5-6 upload about half as much")]
    [TestCase(3, 3, null)]
    [TestCase(3, 0, null)]
    public void NonDecryptorsNote_NamesTheBanksOutsideTheFirstT(int banks, int threshold, string? starts)
    {
        string? note = ApplianceTraining.NonDecryptorsNote(banks, threshold);
        if (starts is null) Assert.That(note, Is.Null);
        else Assert.That(note?.Trim(), Does.StartWith(starts).And.Contain($"first {threshold} contributing banks"));
    }

    [Test]
    public void PartitionFile_ReadsBackTheSameBits()
    {
        float[] tricky = [0f, -0f, float.NaN, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1e-38f, 0.1f, 1f / 3f, 16777217f, 3.4028233e38f, 1.17549435e-38f, 7.006492e-45f];
        var names = new[] { "amount", "quote\"d,name", "fraudfed_label" };
        // The tricky values, then random bit patterns over the whole float range (every exponent, both signs).
        int rows = 4000;
        var values = new float[rows * names.Length];
        var rng = new Random(5);
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31)) is var x && float.IsFinite(x) ? x : 1.5f;
        for (int r = 0; r < tricky.Length; r++) values[r * names.Length] = tricky[r];
        var original = new LabeledRows(names, values, Enumerable.Range(0, rows).Select(r => r % 3 == 0).ToArray(), new long[rows]);
        Directory.CreateDirectory(_out);
        string csv = Path.Combine(_out, "bank.csv"), schema = Path.Combine(_out, "schema.json");
        string label = BankPartitionFile.LabelColumn(names);
        Assert.That(names, Does.Not.Contain(label));
        BankPartitionFile.WriteSchema(schema, names, label);
        BankPartitionFile.WriteCsv(csv, original, label);

        LabeledRows read = CsvDatasetLoader.Load(csv, CsvSchema.FromFile(schema)).Rows;
        Assert.That(read.FeatureNames, Is.EqualTo(names));
        Assert.That(read.Labels, Is.EqualTo(original.Labels));
        Assert.That(read.Values.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(original.Values.Select(BitConverter.SingleToInt32Bits)), "every float, bit for bit (NaN stays missing)");
    }

    [Test]
    public void ExactModelFile_RoundTripsBothModels_BitForBit()
    {
        IReadOnlyList<BankData> data = TransactionFeatures.BuildAll(SyntheticBankGenerator.Generate(new SyntheticScenario { Banks = 3, Transactions = 3_000, Seed = 11, FraudRate = 0.04 }));
        LabeledRows[] train = data.Select(d => d.Train).ToArray();
        var gbdtSum = new PlainSum(3, 44);
        GbdtModel gbdt = new FederatedGbdtTrainer(new GbdtOptions { Trees = 3, MaxDepth = 3, MaxBins = 16, MinChildCount = 5 }).Train(train, gbdtSum);
        var logisticSum = new PlainSum(3, 44);
        LogisticModel logistic = new FederatedLogisticTrainer(new LogisticOptions { Rounds = 2 }).Train(train, logisticSum);

        var g = (GbdtModel)ExactModelFile.Deserialize(ExactModelFile.Serialize(gbdt));
        var l = (LogisticModel)ExactModelFile.Deserialize(ExactModelFile.Serialize(logistic));
        Assert.That(g.BitwiseEquals(gbdt), Is.True);
        Assert.That(l.BitwiseEquals(logistic), Is.True);
        Assert.That(g.PredictRaw(data[0].Test), Is.EqualTo(gbdt.PredictRaw(data[0].Test)));
        Assert.That(LightGbmTextExport.ToLightGbmText(g), Is.EqualTo(LightGbmTextExport.ToLightGbmText(gbdt)));

        var node = System.Text.Json.Nodes.JsonNode.Parse(ExactModelFile.Serialize(gbdt))!;
        node["model"]!["base_score"] = Math.BitIncrement(gbdt.BaseScore);
        Assert.That(((GbdtModel)ExactModelFile.Deserialize(JsonSerializer.SerializeToUtf8Bytes(node))).BitwiseEquals(gbdt), Is.False, "one bit of the base score changed is seen");
        Assert.Throws<InvalidDataException>(() => ExactModelFile.Deserialize("{\"format\":\"other\"}"u8));
    }
}
