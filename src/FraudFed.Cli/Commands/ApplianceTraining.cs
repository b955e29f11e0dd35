// `simulate --transport grpc`: the federated model trained on the real stack, one operating-system process per bank.
//   1. A development kit (the code of `aggregator init`) is written to a private temporary directory (mode 0700): CA, server
//      certificate, and per bank a client certificate, an Ed25519 protocol key, a bank.json and, in he mode, a sealed
//      state directory with its key.
//   2. The appliance is hosted in this process on a free loopback port, with mutual TLS and the kit's training job. Hosting
//      it here rather than as an `aggregator serve` child: the bound port is known at once (no port picked in advance and
//      raced for), its state file and lifetime are this run's, and there is one process less to leave behind; the banks
//      still reach it only through gRPC over mutual TLS, each with its own certificate.
//   3. Each bank's training rows are written to its own partition file (CSV, every float in its shortest round-trip form, or
//      as the double it widens to where the float form would not read back as the same bits through the child's double
//      parse; missing values as empty cells), while the appliance starts.
//   4. One child per bank runs this same CLI's `bank train` (SelfCommand: the apphost, `dotnet exec` of the assembly, or a
//      single-file executable) with its bank.json, its partition file and its own output directory, reporting progress as
//      JSON lines on stdout (--progress-json) and holding a pipe on stdin that ends it if this process dies
//      (--exit-on-stdin-close). Each child writes model.exact.json (every field of the model bit for bit).
//   5. This process shows one line per bank (stage, tree and level, sums, bytes). A child that exits non-zero, or reports
//      nothing for the bank deadline, stops the run: every child is killed (with its process tree) and the error names the
//      bank, its pid and the tail of its stderr. Cancellation (Ctrl-C) kills every child the same way.
//   6. Every bank must have written the same model bytes; that model is read back and returned. The experiment trains the
//      plain-sum model in process (on a second thread while the bank processes train, with the LightGBM baselines:
//      ExperimentOptions.OverlapWithFederated) and compares bit for bit (secure_equals_plaintext): the banks' model comes
//      only from the sums the appliance opened, through the processes' own copies of the coordinator.
// The temporary directory (kit, appliance state, partitions, the banks' outputs) is deleted whatever happens, except when this
// process is killed outright (SIGKILL): the directory carries a marker naming this process (SimulateWorkDirectory), and the
// next grpc run removes it once this process is gone.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Infrastructure;
using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Federation;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;

namespace FraudFed.Cli.Commands;

/// <summary>Settings of the bank processes of `simulate --transport grpc`, and the seams tests use.</summary>
internal sealed record BankProcessSettings
{
    /// <summary>A bank process that writes nothing for this long is taken as hung: it is killed and the run fails.</summary>
    public TimeSpan Silence { get; init; } = TimeSpan.FromSeconds(300);
    /// <summary>Use the INSECURE n = 256 RLWE test ring in he mode (tests only), on both transports: the development kit of the
    /// bank processes, and the in-process secure sum of a run given these settings (so that the two runs' protocol bytes compare).</summary>
    public bool InsecureTestParameters { get; init; }
    /// <summary>Test seam: changes bank i's start description (e.g. to make it fail) before it starts.</summary>
    public Action<int, ProcessStartInfo>? BeforeStart { get; init; }
    /// <summary>Test seam: called with (bank, process id, start time) after each bank process started.</summary>
    public Action<int, int, DateTime>? Started { get; init; }
    /// <summary>Test seam: called with the run's temporary directory (kit, appliance state, partitions), deleted at the end.</summary>
    public Action<string>? WorkDirectory { get; init; }
}


/// <summary>Trains a simulation's federated model through the appliance and one `bank train` process per bank over loopback mutual TLS.</summary>
internal static class ApplianceTraining
{
    /// <summary>An <see cref="ExternalFederatedTrainer"/> for <paramref name="mode"/> with k = <paramref name="modulusBits"/>;
    /// progress goes to <paramref name="stderr"/>, every line stamped with <paramref name="runClock"/> (the time since the run
    /// started, the clock of the run's other progress lines: the baseline phase overlaps this one, and two clocks gave stamps
    /// that went backwards).</summary>
    public static ExternalFederatedTrainer Trainer(string mode, int modulusBits, int? threshold, BankProcessSettings settings, TextWriter stderr, Stopwatch runClock) =>
        (options, train, cancellationToken) => Train(mode, modulusBits, threshold, settings, options, train, stderr, runClock, cancellationToken);

    private static (object Model, ProtocolCost Cost) Train(string mode, int modulusBits, int? threshold, BankProcessSettings settings, ExperimentOptions options,
        IReadOnlyList<LabeledRows> train, TextWriter stderr, Stopwatch runClock, CancellationToken cancellationToken)
    {
        // Ctrl-C and SIGTERM cancel the run here, whoever else listens: the hosted appliance's console lifetime also takes
        // SIGINT (to stop itself), which would otherwise leave the bank processes waiting for it until their retries ran out.
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; interrupted.Cancel(); });
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; interrupted.Cancel(); });
        return TrainCore(mode, modulusBits, threshold, settings, options, train, stderr, runClock, interrupted.Token);
    }

    private static (object Model, ProtocolCost Cost) TrainCore(string mode, int modulusBits, int? threshold, BankProcessSettings settings, ExperimentOptions options,
        IReadOnlyList<LabeledRows> train, TextWriter stderr, Stopwatch runClock, CancellationToken cancellationToken)
    {
        int n = train.Count;
        // Mode 0700 on Unix, marked with this process as its owner: should this process be killed outright (SIGKILL), the next
        // grpc run removes it (SimulateWorkDirectory.RemoveLeftovers).
        string dir = SimulateWorkDirectory.Create();
        var banks = new List<BankProcess>();
        ApplianceHost? host = null;
        LoadedAggregatorConfig? loaded = null;
        Task? partitions = null;
        var clock = Stopwatch.StartNew();
        settings.WorkDirectory?.Invoke(dir);
        Sdk.Diagnostics.HopTrace.Mark(-1, "s.train");
        try
        {
            // 1-2. Kit and appliance.
            string kit = Path.Combine(dir, "kit");
            DevelopmentProvisioning.Write(kit, new ProvisioningOptions
            {
                Banks = n, Mode = mode, Listen = "127.0.0.1:0", OpsListen = null, InsecureTestParameters = settings.InsecureTestParameters && mode == "he",
            });
            string aggregatorPath = Path.Combine(kit, "aggregator.json");
            Sdk.Diagnostics.HopTrace.Mark(-1, "s.kit");
            AggregatorConfig config = ConfigJson.Load<AggregatorConfig>(aggregatorPath);
            FederationSettings federation = config.Federation;
            if (mode == "masking") federation = federation with { Masking = (federation.Masking ?? new MaskingSettings()) with { ModulusBits = modulusBits } };
            if (threshold is { } t)
                federation = mode == "masking"
                    ? federation with { Masking = federation.Masking! with { Threshold = t } }
                    : federation with { He = (federation.He ?? new HeSettings()) with { Threshold = t } };
            var job = new TrainingSettings
            {
                Model = options.Model == FederatedModelKind.Gbdt ? "gbdt" : "logistic",
                ModulusBits = modulusBits,
                FeatureNames = train[0].FeatureNames.ToArray(),
                Gbdt = options.Model == FederatedModelKind.Gbdt ? options.Gbdt : null,
                Logistic = options.Model == FederatedModelKind.Logistic ? options.Logistic : null,
            };
            // ops_listen: a null is left out of the file and would read back as the default 127.0.0.1:9464, which another
            // appliance on this machine may hold; a free port instead.
            File.WriteAllText(aggregatorPath, JsonSerializer.Serialize(config with { Federation = federation, Training = job, OpsListen = "127.0.0.1:0" }, ConfigJson.Options));
            loaded = AggregatorConfig.Load(aggregatorPath);

            // 3. Partition files (they do not depend on the appliance's port: written while the appliance starts, one task per bank).
            string label = BankPartitionFile.LabelColumn(job.FeatureNames);
            string schemaPath = Path.Combine(dir, "partition-schema.json");
            BankPartitionFile.WriteSchema(schemaPath, job.FeatureNames, label);
            partitions = Task.WhenAll(Enumerable.Range(0, n).Select(b => Task.Run(() =>
                BankPartitionFile.WriteCsv(Path.Combine(dir, $"bank-{b}.csv"), train[b], label), cancellationToken)));
            host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
            host.StartAsync(cancellationToken).GetAwaiter().GetResult();
            Uri address = host.Addresses.First(a => a.Scheme == "https");
            Sdk.Diagnostics.HopTrace.Mark(-1, "s.up");
            partitions.GetAwaiter().GetResult();
            Sdk.Diagnostics.HopTrace.Mark(-1, "s.parts");

            // bank.json files and the bank processes' command lines.
            var outputs = new string[n];
            var starts = new ProcessStartInfo[n];
            bool native = false;
            for (int b = 0; b < n; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string bankDir = Path.Combine(kit, "banks", $"bank-{b}");
                string bankPath = Path.Combine(bankDir, "bank.json");
                BankConfig bank = ConfigJson.Load<BankConfig>(bankPath);
                File.WriteAllText(bankPath, JsonSerializer.Serialize(bank with { Aggregator = $"https://127.0.0.1:{address.Port}", Federation = federation }, ConfigJson.Options));
                string data = Path.Combine(dir, $"bank-{b}.csv");
                outputs[b] = Path.Combine(dir, "out", $"bank-{b}");
                starts[b] = SelfCommand.BankStartInfo(["bank", "train", "--config", bankPath, "--data", data, "--schema", schemaPath, "--out", outputs[b],
                    "--progress-json", "--exact-model", "--exit-on-stdin-close"], out native);
                settings.BeforeStart?.Invoke(b, starts[b]);
            }

            // 4. The bank processes.
            for (int b = 0; b < n; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                BankProcess p = BankProcess.Start(b, starts[b]);
                banks.Add(p);
                settings.Started?.Invoke(b, p.Id, p.StartTime);
            }
            Sdk.Diagnostics.HopTrace.Mark(-1, "s.spawned");
            stderr.WriteLine($"fraudfed simulate: appliance on {address} (mutual TLS, development kit in {ErrorLine.Value(kit)}); {n} {(native ? "native " : "")}bank processes " +
                $"(`bank train`, pids {string.Join(", ", banks.Select(p => p.Id))})");

            // 5. Supervise until every bank is done: the phase line, one stamped line per bank, and the phase's last line as the
            //    in-process run prints it (the time since the federated phase began, as the in-process stamps).
            stderr.WriteLine($"{Stamp(runClock.Elapsed)} {"federated",-12}training on the appliance, one line per bank process:");
            Supervise(banks, settings.Silence, new BankBoard(stderr, n, runClock), cancellationToken);
            stderr.WriteLine(PhaseLine(runClock.Elapsed, banks[0].LastStep, banks[0].Sums, banks.Sum(p => p.BytesUploaded), banks.Sum(p => p.BytesDownloaded)));
            if (mode == "he" && federation.He is { } he && NonDecryptorsNote(n, he.Threshold) is { } note) stderr.WriteLine(note);

            // 6. The same model at every bank, read back exactly.
            byte[] first = File.ReadAllBytes(Path.Combine(outputs[0], ExactModelFile.FileName));
            for (int b = 1; b < n; b++)
                if (!File.ReadAllBytes(Path.Combine(outputs[b], ExactModelFile.FileName)).AsSpan().SequenceEqual(first))
                    throw new BankProcessException($"bank {b} ended with another model than bank 0; the run is not valid.");
            object model = ExactModelFile.Deserialize(first);
            var summaries = outputs.Select(o => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(o, "summary.json"))).RootElement.Clone()).ToArray();
            var cost = new ProtocolCost(mode, modulusBits, summaries[0].GetProperty("sums").GetInt32(), summaries[0].GetProperty("values").GetInt64(),
                summaries.Sum(s => s.GetProperty("bytes_uploaded").GetInt64()), summaries.Sum(s => s.GetProperty("bytes_downloaded").GetInt64()), clock.Elapsed);
            return (model, cost);
        }
        finally
        {
            // A failed start leaves no writer behind in the directory about to be deleted.
            try { partitions?.Wait(CancellationToken.None); } catch (AggregateException) { }
            foreach (BankProcess p in banks) p.Kill();
            foreach (BankProcess p in banks) p.Dispose();
            if (host is not null)
            {
                host.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
                host.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            loaded?.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>"[  12.3s] federated   tree 3/3 level 4  (20 sums, 1.2 MB up, 0.3 MB down)": a federated phase line as the in-process
    /// run prints it (SimulateCommand's console progress), with the sums and the protocol bytes of every bank so far.</summary>
    internal static string PhaseLine(TimeSpan elapsed, string step, long sums, long up, long down) =>
        $"{Stamp(elapsed)} {"federated",-12}{step}  ({Plural.Of(sums, "sum")}, {up / 1e6:0.0} MB up, {down / 1e6:0.0} MB down)";

    /// <summary>"[  12.3s]": the time stamp of a progress line, as the in-process run's (SimulateCommand's console progress).</summary>
    internal static string Stamp(TimeSpan elapsed) => string.Create(CultureInfo.InvariantCulture, $"[{elapsed.TotalSeconds,6:0.0}s]");

    /// <summary>Why the last banks upload about half as much in homomorphic mode: the appliance asks the first T contributors
    /// (ascending) for each sum's decryption shares (SPEC.md 14.5), so with every bank contributing, banks T..N-1 send their
    /// ciphertexts only. Null when every bank decrypts (T = N).</summary>
    internal static string? NonDecryptorsNote(int banks, int threshold)
    {
        if (threshold <= 0 || threshold >= banks) return null;
        string which = threshold == banks - 1 ? $"bank {threshold} uploads" : $"banks {threshold}-{banks - 1} upload";
        return $"  ({which} about half as much: each sum's decryption shares come from the first {threshold} contributing banks, SPEC.md 14.5.)";
    }

    /// <summary>Waits for every bank process to exit 0; throws (after killing them all) when one fails, goes silent, or the run is cancelled.</summary>
    private static void Supervise(IReadOnlyList<BankProcess> banks, TimeSpan silence, BankBoard board, CancellationToken cancellationToken)
    {
        bool setupShown = false;
        try
        {
            while (true)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    foreach (BankProcess p in banks) p.Kill();
                    cancellationToken.ThrowIfCancellationRequested();
                }
                bool done = true;
                foreach (BankProcess p in banks)
                {
                    if (p.HasExited)
                    {
                        if (p.ExitCode != 0) Fail(banks, p, Ended(p.ExitCode));
                    }
                    else
                    {
                        done = false;
                        if (p.Silent > silence) Fail(banks, p, $"wrote nothing for {silence.TotalSeconds:0} s (hung) and was stopped");
                    }
                }
                if (!setupShown && banks.All(p => p.Setup is not null))
                {
                    // Every bank is past the setup sums: the phase line the in-process run prints for them, once.
                    setupShown = true;
                    var setup = banks.Select(p => p.Setup!.Value).ToArray();
                    board.Note(ApplianceTraining.PhaseLine(board.Elapsed, "setup (before the first step)", setup[0].Sums, setup.Sum(x => x.Up), setup.Sum(x => x.Down)));
                }
                board.Show(banks, final: done);
                if (done) return;
                cancellationToken.WaitHandle.WaitOne(200);
            }
        }
        finally { board.Finish(); }
    }

    /// <summary>How a bank process that exited with <paramref name="exitCode"/> (not 0) ended, after "bank 1 (pid 4242) ": "exited
    /// with code 2"; on Unix, where .NET reports a process ended by signal N as exit code 128 + N, "was killed by signal 9
    /// (SIGKILL)" (signal(7)), except for 130 and 143, with which FraudFed's own processes exit on purpose after SIGINT and
    /// SIGTERM (CliErrors.Interrupted, CliErrors.Terminated): "was stopped by SIGINT (exit code 130)".</summary>
    internal static string Ended(int exitCode) => Signal(exitCode) switch
    {
        null => $"exited with code {exitCode}",
        (_, string name) when exitCode is CliErrors.Interrupted or CliErrors.Terminated => $"was stopped by {name} (exit code {exitCode})",
        (int number, string name) => $"was killed by signal {number} ({name})",
        (int number, null) => $"was killed by signal {number}",
    };

    /// <summary><see cref="Ended"/> in short, for a bank's panel line: "exited 2", "killed by SIGKILL", "stopped by SIGTERM".</summary>
    internal static string EndedShort(int exitCode) => Signal(exitCode) switch
    {
        null => $"exited {exitCode}",
        (_, string name) when exitCode is CliErrors.Interrupted or CliErrors.Terminated => $"stopped by {name}",
        (_, string name) => $"killed by {name}",
        (int number, null) => $"killed by signal {number}",
    };

    /// <summary>The signal (number, and name where known) that exit code <paramref name="exitCode"/> stands for (128 + N on Unix:
    /// N in 1..64 on Linux, 1..31 elsewhere), or null (an exit code the process chose, or Windows).</summary>
    private static (int Number, string? Name)? Signal(int exitCode)
    {
        if (OperatingSystem.IsWindows()) return null;
        int n = exitCode - 128;
        if (n < 1 || n > (OperatingSystem.IsLinux() ? 64 : 31)) return null;
        // Linux's numbering (signal(7)); elsewhere only the numbers POSIX systems share.
        string? name = OperatingSystem.IsLinux() ? (n <= LinuxSignals.Length ? "SIG" + LinuxSignals[n - 1] : null)
            : n is 1 or 2 or 3 or 4 or 5 or 6 or 8 or 9 or 11 or 13 or 14 or 15 ? "SIG" + LinuxSignals[n - 1] : null;
        return (n, name);
    }

    /// <summary>Linux's signals 1..31 (signal(7)); 32..64 are the real-time signals, which have no fixed names.</summary>
    private static readonly string[] LinuxSignals =
    [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT",
        "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];

    private static void Fail(IReadOnlyList<BankProcess> banks, BankProcess failed, string what)
    {
        foreach (BankProcess p in banks) p.Kill();
        string tail = failed.StderrTail(3);
        throw new BankProcessException($"bank {failed.Bank} (pid {failed.Id}) {what}" + (tail.Length > 0 ? $"; its stderr ends: {tail}" : "; it wrote nothing on stderr"));
    }

    /// <summary>One line per bank on stderr: redrawn in place on a terminal, else the block every 10 seconds and at the end.</summary>
    private sealed class BankBoard(TextWriter stderr, int banks, Stopwatch clock)
    {
        private readonly bool _interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        private readonly Stopwatch _since = new();
        private bool _drawn;

        public void Show(IReadOnlyList<BankProcess> processes, bool final)
        {
            TimeSpan every = _interactive ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromSeconds(10);
            if (_since.IsRunning && _since.Elapsed < every && !final) return;
            _since.Restart();
            var sb = new StringBuilder();
            if (_interactive && _drawn) sb.Append(CultureInfo.InvariantCulture, $"\x1b[{banks}F");
            foreach (BankProcess p in processes)
            {
                if (_interactive) sb.Append("\x1b[2K");
                sb.Append(p.StatusLine(clock)).Append('\n');
            }
            stderr.Write(sb.ToString());
            _drawn = true;
        }

        /// <summary>Time since the run began, for a stamp.</summary>
        public TimeSpan Elapsed => clock.Elapsed;

        /// <summary>Writes <paramref name="line"/> above the panel: on a terminal over the panel's first line (the panel is redrawn
        /// below it at the next <see cref="Show"/>), else as the next line.</summary>
        public void Note(string line)
        {
            if (_interactive && _drawn)
            {
                stderr.Write($"\x1b[{banks}F\x1b[2K{line}\n\x1b[J");
                _drawn = false;
                _since.Reset();
            }
            else stderr.WriteLine(line);
        }

        public void Finish() => stderr.Flush();
    }
}

/// <summary>One `bank train` child: its progress (JSON lines on stdout), the tail of its stderr, and its last sign of life.</summary>
internal sealed class BankProcess : IDisposable
{
    private const int TailLines = 20;
    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly object _gate = new();
    private long _lastActivity = Stopwatch.GetTimestamp();
    private string _status = "starting";
    private string _where = "setup";
    private string _step = "setup (before the first step)";
    private long _stamp = Stopwatch.GetTimestamp();
    private long _sums, _up, _down;
    private (long Sums, long Up, long Down)? _setup;   // the last report of the setup sums (bin edges, totals), once the first step began
    private (long Sums, long Up, long Down) _setupSoFar;

    private BankProcess(int bank, Process process)
    {
        Bank = bank;
        _process = process;
    }

    /// <summary>Roster index.</summary>
    public int Bank { get; }
    /// <summary>Process id.</summary>
    public int Id { get; private set; }
    /// <summary>When the process started.</summary>
    public DateTime StartTime { get; private set; }
    /// <summary>Time since the process last wrote a line on stdout or stderr.</summary>
    public TimeSpan Silent => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    /// <summary>True once the process has exited and its output has been read to the end.</summary>
    public bool HasExited
    {
        get
        {
            if (!_process.HasExited) return false;
            _process.WaitForExit();   // drains the redirected streams
            return true;
        }
    }

    /// <summary>Exit code (after <see cref="HasExited"/>).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts bank <paramref name="bank"/>'s process.</summary>
    public static BankProcess Start(int bank, ProcessStartInfo info)
    {
        var process = new Process { StartInfo = info };
        var p = new BankProcess(bank, process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) p.OnStdout(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) p.OnStderr(e.Data); };
        if (!process.Start()) throw new BankProcessException($"bank {bank}: the process could not be started ({info.FileName}).");
        p.Id = process.Id;
        try { p.StartTime = process.StartTime.ToUniversalTime(); } catch (InvalidOperationException) { p.StartTime = DateTime.UtcNow; }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return p;
    }

    private void OnStdout(string line)
    {
        Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
        if (!line.StartsWith('{')) return;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement j = doc.RootElement;
            if (!j.TryGetProperty("stage", out JsonElement stage)) return;
            long Long(string key, long missing = 0) => j.TryGetProperty(key, out JsonElement v) && v.TryGetInt64(out long x) ? x : missing;
            long level = Long("level", -1);
            lock (_gate)
            {
                string? name = stage.GetString();
                _where = name switch
                {
                    "done" => "done after " + _where,
                    "setup" => "setup",
                    var s => $"{s} {Long("step")}/{Long("total_steps")}" + (level >= 0 ? $" level {level}" : ""),
                };
                if (name is not ("done" or "setup")) _step = _where;
                // The setup's figures are those of its last report, taken once the first step (or the end) shows it is over.
                if (name is not "setup" && _setup is null) _setup = _setupSoFar;
                _sums = Long("sums");
                _up = Long("bytes_uploaded");
                _down = Long("bytes_downloaded");
                if (name is "setup") _setupSoFar = (_sums, _up, _down);
                _status = $"{_where}, {Plural.Of(_sums, "sum")}, {_up / 1e6:0.0} MB up, {_down / 1e6:0.0} MB down";
                _stamp = Stopwatch.GetTimestamp();
            }
        }
        catch (JsonException) { }
    }

    private void OnStderr(string line)
    {
        Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
        if (line.Trim().Length == 0) return;
        lock (_gate)
        {
            _tail.Enqueue(line.Trim());
            while (_tail.Count > TailLines) _tail.Dequeue();
            if (_status is "starting" || _status.StartsWith("log: ", StringComparison.Ordinal))
            {
                _status = "log: " + StripPrefix(line.Trim());
                _stamp = Stopwatch.GetTimestamp();
            }
        }
    }

    private string StripPrefix(string line)
    {
        string prefix = $"bank {Bank}: ";
        return line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..] : line;
    }

    /// <summary>The last sum's place as the in-process progress names it: "tree 3/3 level 4", "round 2/30", or "setup (before the
    /// first step)" before the first tree or round.</summary>
    public string LastStep { get { lock (_gate) return _step; } }
    /// <summary>Secure sums the bank reported so far.</summary>
    public long Sums { get { lock (_gate) return _sums; } }
    /// <summary>Protocol bytes of its sums the bank reported uploading so far (`bank train --progress-json` bytes_uploaded).</summary>
    public long BytesUploaded { get { lock (_gate) return _up; } }
    /// <summary>Protocol bytes of its sums the bank reported downloading so far (`bank train --progress-json` bytes_downloaded).</summary>
    public long BytesDownloaded { get { lock (_gate) return _down; } }
    /// <summary>Sums and protocol bytes of the setup sums (before the first tree or round) once the bank reported a later step,
    /// else null (the setup still runs).</summary>
    public (long Sums, long Up, long Down)? Setup { get { lock (_gate) return _setup; } }

    /// <summary>"[  12.3s] bank i (pid p): stage, sums, bytes", or the last stderr line before the first progress, or how it ended;
    /// stamped with the time of the panel (since <paramref name="clock"/>, the run's clock, started), so that the run's lines go
    /// forward in time; a report older than <see cref="StaleReport"/> says how old it is.</summary>
    public string StatusLine(Stopwatch clock)
    {
        string status;
        long stamp;
        lock (_gate)
        {
            status = _status.StartsWith("log: ", StringComparison.Ordinal) ? _status[5..] : _status;
            stamp = _stamp;
        }
        status = Shorten(status, 100);
        string ended = _process.HasExited && _process.ExitCode != 0 ? $" ({ApplianceTraining.EndedShort(_process.ExitCode)})" : "";
        TimeSpan age = Stopwatch.GetElapsedTime(stamp);
        string stale = age > StaleReport && !_process.HasExited ? $" (reported {age.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s ago)" : "";
        return $"{ApplianceTraining.Stamp(clock.Elapsed)} bank {Bank} (pid {Id}): {status}{ended}{stale}";
    }

    /// <summary>A bank's last report older than this is marked as such on its panel line.</summary>
    internal static readonly TimeSpan StaleReport = TimeSpan.FromSeconds(5);

    /// <summary><paramref name="line"/> in at most <paramref name="width"/> characters for the panel: a longer line first loses
    /// its parenthesized remarks (a bank's "key setup done at this bank (the session is ready once every bank is; ...) ..."
    /// becomes "key setup done at this bank ..."), and only a line still too long is cut, ending in "...".</summary>
    internal static string Shorten(string line, int width)
    {
        if (line.Length <= width) return line;
        string bare = System.Text.RegularExpressions.Regex.Replace(line, @" \([^()]*\)", "");
        return bare.Length <= width ? bare : bare[..(width - 3)] + "...";
    }

    /// <summary>The last <paramref name="lines"/> lines of stderr, joined with " | ".</summary>
    public string StderrTail(int lines)
    {
        lock (_gate) return string.Join(" | ", _tail.Skip(Math.Max(0, _tail.Count - lines)));
    }

    /// <summary>Kills the process and its children, if it still runs.</summary>
    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Kills the process if it runs, waits for it, closes its pipes.</summary>
    public void Dispose()
    {
        Kill();
        try { _process.StandardInput.Close(); } catch (InvalidOperationException) { } catch (IOException) { }
        try { _process.WaitForExit(10_000); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>A bank's training rows as the CSV file its `bank train` process reads: the features in order, then the label.</summary>
internal static class BankPartitionFile
{
    /// <summary>A label column name that is not a feature name.</summary>
    public static string LabelColumn(IReadOnlyList<string> features)
    {
        string name = "fraudfed_label";
        for (int i = 2; features.Contains(name, StringComparer.Ordinal); i++) name = $"fraudfed_label_{i}";
        return name;
    }

    /// <summary>The schema of every partition file: the label and the feature list (so no column is guessed).</summary>
    public static void WriteSchema(string path, IReadOnlyList<string> features, string label) =>
        File.WriteAllText(path, JsonSerializer.Serialize(new { name = "simulate-partition", label, features, separator = "," }));

    /// <summary>Writes <paramref name="rows"/>: each float in its shortest round-trip form when the reader's double parse and
    /// narrowing give back the same bits (checked here, cell by cell), else as the double it widens to in shortest round-trip form
    /// (which always does); a missing value (NaN) as an empty cell, the label as 0/1. The float form is about half as long, so
    /// the bank processes read and hash half the bytes.</summary>
    public static void WriteCsv(string path, LabeledRows rows, string label)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        writer.Write(string.Join(',', rows.FeatureNames.Append(label).Select(Quote)));
        writer.Write('\n');
        Span<char> cell = stackalloc char[32];
        int f = rows.Features;
        float[] v = rows.Values;
        for (int r = 0; r < rows.Rows; r++)
        {
            for (int j = 0; j < f; j++)
            {
                float x = v[r * f + j];
                if (!float.IsNaN(x)) writer.Write(cell[..Cell(x, cell)]);
                writer.Write(',');
            }
            writer.Write(rows.Labels[r] ? '1' : '0');
            writer.Write('\n');
        }
    }

    /// <summary>Formats <paramref name="x"/> into <paramref name="cell"/> (the float form if it reads back as the same bits through
    /// a double, else the double form); returns the characters written.</summary>
    private static int Cell(float x, Span<char> cell)
    {
        if (x.TryFormat(cell, out int written, default, CultureInfo.InvariantCulture)
            && double.TryParse(cell[..written], NumberStyles.Float, CultureInfo.InvariantCulture, out double back)
            && Math.Abs(back) <= float.MaxValue   // the reader refuses more (float.MaxValue's own short form reads back above it)
            && BitConverter.SingleToInt32Bits((float)back) == BitConverter.SingleToInt32Bits(x))
            return written;
        if (!((double)x).TryFormat(cell, out written, default, CultureInfo.InvariantCulture)) throw new InvalidOperationException("A cell did not fit its buffer.");
        return written;
    }

    private static string Quote(string name) =>
        name.AsSpan().IndexOfAny(",\"\r\n") >= 0 || name != name.Trim() ? "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : name;
}
