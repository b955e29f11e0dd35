// `fraudfed bench round --mode he|masking --banks N --values V [--rounds R] --json`: secure-sum rounds through the real stack —
// the appliance (Kestrel, mutual TLS, SQLite state) and N bank SDK clients over loopback, all in this process — against the
// in-process harness rounds of the same mode measured in the same run. After session setup, each stack gets untimed warm-up
// rounds (the appliance's first is first_round_s): at least 5, until two in a row each compile at most 50 methods, at most
// 20 (warmup_rounds, inproc_warmup_rounds); then R rounds of each are timed, interleaved (appliance, in-process,
// in-process, appliance, ...), each after a full blocking, compacting collection. An appliance round is timed from the banks'
// first call to the last bank holding its exact sum. The kit is made by `aggregator init`'s code in a temporary directory and
// removed afterwards. wall_s, inproc_wall_s, cpu_s and inproc_cpu_s (process CPU seconds) are medians per round over the R
// rounds (each round's figure in *_all); ratio = wall_s / inproc_wall_s. Last stdout line with --json: {suite, mode, banks,
// values, rounds, setup_s, first_round_s, wall_s, round_median_s (= wall_s), wall_s_mean, inproc_wall_s, ratio, wall_s_all,
// inproc_wall_s_all, cpu_s, inproc_cpu_s, cpu_s_all, inproc_cpu_s_all, jit_s and inproc_jit_s (JIT compilation seconds per
// round, median, all threads: the legs run one at a time), jit_methods and
// inproc_jit_methods (methods compiled during the timed rounds, in all), bank_upload_bytes, peak_rss_mb, exact, the
// appliance's busy times, and the banks' own: bank_*_s summed over banks and rounds}.
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Infrastructure;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;

namespace FraudFed.Cli.Commands;

/// <summary>`fraudfed bench round`: the appliance round against the in-process round.</summary>
internal sealed class BenchRoundCommand : ICliSubcommands
{
    public string Group => "bench";
    public string GroupDescription => "Benchmarks.";

    public IEnumerable<Command> BuildSubcommands() => [Build()];

    private static Command Build()
    {
        var mode = new Option<string>("--mode") { Description = "he or masking.", DefaultValueFactory = _ => "he" };
        mode.OneOf("he", "masking");
        var banks = new Option<int>("--banks") { Description = "Banks (3..64).", DefaultValueFactory = _ => 10 }.InRange(3, 64);
        var values = new Option<int>("--values") { Description = "Values per bank (1..16777216), each below 2^32.", DefaultValueFactory = _ => 1_000_000 }.InRange(1, 1 << 24);
        var rounds = new Option<int>("--rounds") { Description = "Rounds to time in each stack (1..1000), interleaved; wall and CPU times are the median per round.", DefaultValueFactory = _ => 1 }.InRange(1, 1000);
        var insecure = new Option<bool>("--insecure-test-parameters") { Description = "Homomorphic mode: the INSECURE n = 256 ring (quick checks only)." };
        var grpcOnly = new Option<bool>("--grpc-only") { Description = "Every bank call over gRPC, without the bulk channel (SPEC.md 14.8): the transport before it, for comparison." };
        var json = new Option<bool>("--json") { Description = "End with one JSON line of results." };
        var cmd = new Command("round", "One secure-sum round through the appliance and bank SDK over loopback mutual TLS, against the in-process round of the same mode.");
        foreach (Option o in new Option[] { mode, banks, values, rounds, insecure, grpcOnly, json }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bench round", pr.InvocationConfiguration.Error, () =>
        {
            int n = pr.GetValue(banks), v = pr.GetValue(values);
            if (n is < 3 or > 64) throw new UsageException($"--banks must be in 3..64 (got {n}).");
            if (v is < 1 or > 1 << 24) throw new UsageException($"--values must be in 1..16777216 (got {v}).");
            int r = pr.GetValue(rounds);
            if (r is < 1 or > 1000) throw new UsageException($"--rounds must be in 1..1000 (got {r}).");
            if (pr.GetValue(insecure) && pr.GetValue(mode) != "he")
                throw new UsageException("--insecure-test-parameters applies to --mode he only (the RLWE ring); masking has no such parameters, drop the flag.");
            return Run(pr.GetValue(mode)!, n, v, r, pr.GetValue(insecure), !pr.GetValue(grpcOnly), pr.GetValue(json), pr.InvocationConfiguration.Output, pr.InvocationConfiguration.Error)
                .GetAwaiter().GetResult();
        }));
        return cmd;
    }

    private static async Task<int> Run(string mode, int n, int count, int rounds, bool insecure, bool bulk, bool json, TextWriter stdout, TextWriter stderr)
    {
        var random = new Random(1);   // benchmark data, not secrets
        ulong[][] vectors = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, count).Select(_ => (ulong)random.NextInt64(1L << 32)).ToArray()).ToArray();
        string dir = Directory.CreateTempSubdirectory("fraudfed-bench-round-").FullName;
        var clients = new List<FederationClient>();
        var configs = new List<LoadedBankConfig>();
        LoadedAggregatorConfig? loaded = null;
        ApplianceHost? host = null;
        try
        {
            string configPath = DevelopmentProvisioning.Write(dir, new ProvisioningOptions
            {
                Banks = n, Mode = mode, Listen = "127.0.0.1:0", OpsListen = null, InsecureTestParameters = insecure,
                Deadlines = new DeadlineSettings { SetupSeconds = 3600, JoinSeconds = 3600, StageSeconds = 3600 },
            });
            AggregatorConfig c = ConfigJson.Load<AggregatorConfig>(configPath);
            File.WriteAllText(configPath, JsonSerializer.Serialize(c with { MaxMessageBytes = 1 << 30, OpsListen = "127.0.0.1:0" }, ConfigJson.Options));
            loaded = AggregatorConfig.Load(configPath);
            host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
            await host.StartAsync();
            int port = host.Addresses.First(a => a.Scheme == "https").Port;
            for (int i = 0; i < n; i++)
            {
                string path = Path.Combine(dir, "banks", $"bank-{i}", "bank.json");
                BankConfig b = ConfigJson.Load<BankConfig>(path);
                File.WriteAllText(path, JsonSerializer.Serialize(b with { Aggregator = $"https://127.0.0.1:{port}", MaxMessageBytes = 1 << 29 }, ConfigJson.Options));
                LoadedBankConfig bank = BankConfig.Load(path);
                configs.Add(bank);
                clients.Add(FederationClient.Create(bank, new FederationClientOptions { StageTimeout = TimeSpan.FromHours(1), BulkChannel = bulk }));
            }
            stderr.WriteLine($"bench round: {mode}, {n} banks, {Plural.Of(count, "value")}; session setup over loopback TLS ...");
            var setup = Stopwatch.StartNew();
            await Task.WhenAll(clients.Select(cl => cl.ConnectAsync()));
            setup.Stop();
            ulong applianceModulus = mode == "he" ? 1UL << 44 : 1UL << 32;
            ulong[] plain44 = Plain(vectors, applianceModulus), plain32 = Plain(vectors, 1UL << 32);
            // Untimed warm-up rounds, as the in-process stack gets below (same rule, same fairness): the first round through the
            // appliance also pays JIT compilation, first large allocations and connection warm-up (it is reported as
            // first_round_s), and tiered compilation goes on compiling for a round or more; warm-up runs at least MinWarmupRounds rounds and
            // ends after two rounds in a row that each compiled at most QuietJitMethods methods, or after MaxWarmupRounds rounds.
            stderr.WriteLine("bench round: appliance warm-up (untimed) ...");
            TimeSpan? firstRound = null;
            // Each bank's result array, reused round after round (FederationClient.SumIntoAsync), as a bank that sums repeatedly does.
            ulong[][] sums = [.. vectors.Select(v => new ulong[v.Length])];
            bool exact = true;
            int warmups = await WarmUpAsync(async () =>
            {
                long t0 = Stopwatch.GetTimestamp();
                FederatedSum[] warm = await Task.WhenAll(clients.Select((cl, i) => cl.SumIntoAsync(vectors[i], sums[i])));
                firstRound ??= Stopwatch.GetElapsedTime(t0);
                exact &= warm.All(r => r.Sum.AsSpan().SequenceEqual(plain44));
            });
            double firstRoundSeconds = firstRound!.Value.TotalSeconds;

            ISecureSum inproc = mode == "he"
                ? new HomomorphicSecureSum(n, 32, new HomomorphicOptions
                {
                    MaxColluders = DecryptionPolicy.DefaultMaxColluders(n),
                    Parameters = insecure ? RlweParameters.InsecureForTestsOnly(RlweParameters.InsecureTestSetNames[0]) : null,
                })
                : new MaskingSecureSum(n, 32, new MaskingOptions { Threshold = 2 * n / 3 + 1 });
            var applianceLeg = new LegFigures();
            var inprocLeg = new LegFigures();
            var bankWall = new long[n];
            int inprocWarmups = 0;
            long upload;
            ApplianceTimingsSnapshot spent;
            BankTimes bt;
            try
            {
                stderr.WriteLine("bench round: in-process warm-up (untimed) ...");
                SecureSumResult local = null!;
                inprocWarmups = await WarmUpAsync(() =>
                {
                    local = inproc.Sum(vectors);          // the first also sets the session up
                    exact &= local.Sum.AsSpan().SequenceEqual(plain32);
                    return Task.CompletedTask;
                });
                long uploadBefore = clients.Sum(cl => cl.BytesUploaded);
                ApplianceTimingsSnapshot before = host.Coordinator.Timings.Snapshot();
                BankTimes banksBefore = BankTimes.Of(clients);
                stderr.WriteLine($"bench round: {Plural.Of(rounds, "round")} in each stack, interleaved ...");
                // Interleaved (appliance, in-process, in-process, appliance, ...), each measured round after a full blocking,
                // compacting collection (large object heap included): neither stack inherits the other's garbage, heap shape or
                // a collection it triggered, and both see the same phases of background JIT and machine load.
                for (int round = 0; round < rounds; round++)
                {
                    for (int leg = 0; leg < 2; leg++)
                    {
                        bool appliance = (leg == 0) == (round % 2 == 0);
                        FullCollection();
                        LegStart start = LegStart.Now();
                        if (appliance)
                        {
                            // From the banks' first call to the last bank holding its exact sum.
                            FederatedSum[] results = await Task.WhenAll(clients.Select(async (cl, i) =>
                            {
                                long b0 = Stopwatch.GetTimestamp();
                                FederatedSum sum = await cl.SumIntoAsync(vectors[i], sums[i]);
                                bankWall[i] += Stopwatch.GetTimestamp() - b0;
                                return sum;
                            }));
                            applianceLeg.Record(start);
                            exact &= results.All(r => r.Sum.AsSpan().SequenceEqual(plain44));
                        }
                        else
                        {
                            local = inproc.Sum(vectors);
                            inprocLeg.Record(start);
                            exact &= local.Sum.AsSpan().SequenceEqual(plain32);
                        }
                    }
                }
                spent = host.Coordinator.Timings.Snapshot().Minus(before);
                bt = BankTimes.Of(clients).Minus(banksBefore);
                upload = clients.Sum(cl => cl.BytesUploaded) - uploadBefore;
            }
            finally { (inproc as IDisposable)?.Dispose(); }
            double bankWallSeconds = bankWall.Sum() / (double)Stopwatch.Frequency;

            double peak = Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
            double wallPerRound = Median(applianceLeg.Wall), inprocPerRound = Median(inprocLeg.Wall);
            double cpuPerRound = Median(applianceLeg.Cpu), inprocCpuPerRound = Median(inprocLeg.Cpu);
            double ratio = wallPerRound / Math.Max(1e-9, inprocPerRound);
            double bankWork = bankWallSeconds - bt.Send - bt.Wait - bt.Request;
            stdout.WriteLine($"bench round ({mode}, {n} banks, {Plural.Of(count, "value")}, {rounds} round{(rounds > 1 ? "s" : "")})");
            stdout.WriteLine($"  session setup (s)            {setup.Elapsed.TotalSeconds:0.000}");
            stdout.WriteLine($"  first appliance round (s)    {firstRoundSeconds:0.000} (untimed warm-up: {Plural.Of(warmups, "round")} through the appliance, {inprocWarmups} in process)");
            stdout.WriteLine($"  appliance round (s)          {wallPerRound:0.000}{(rounds > 1 ? $" (median; mean {applianceLeg.Wall.Average():0.000})" : "")}");
            stdout.WriteLine($"  in-process round (s)         {inprocPerRound:0.000}{(rounds > 1 ? $" (median; mean {inprocLeg.Wall.Average():0.000})" : "")}");
            stdout.WriteLine($"  ratio                        {ratio:0.00}");
            stdout.WriteLine($"  CPU per round (s)            {cpuPerRound:0.000} appliance stack, {inprocCpuPerRound:0.000} in process (medians)");
            stdout.WriteLine($"  JIT during the rounds         {Median(applianceLeg.Jit):0.000} s per round, {applianceLeg.JitMethods} methods in all (appliance stack); {Median(inprocLeg.Jit):0.000} s, {inprocLeg.JitMethods} methods (in process)");
            long bulkConnections = clients.Sum(cl => cl.BulkConnectionsOpened);
            stdout.WriteLine($"  bank calls                   {(bulkConnections > 0 ? $"Submit and Receive over the bulk channel ({Plural.Of(bulkConnections, "connection")}), the rest over gRPC" : bulk ? "all over gRPC (the appliance did not select the bulk channel)" : "all over gRPC (--grpc-only)")}");
            stdout.WriteLine($"  bank upload, all banks (B)   {upload}");
            stdout.WriteLine($"  peak RSS (MiB)               {peak:0.0}");
            stdout.WriteLine($"  exact                        {(exact ? "yes" : "NO")}");
            stdout.WriteLine("  appliance busy time during the round (s, summed over concurrent calls):");
            stdout.WriteLine($"    engine {spent.EngineSeconds:0.000}  store write {spent.StoreWriteSeconds:0.000}  store read {spent.StoreReadSeconds:0.000}  lock wait {spent.LockWaitSeconds:0.000}  intake {spent.IntakeSeconds:0.000}  mailbox {spent.MailboxSeconds:0.000}");
            stdout.WriteLine($"    store transactions {spent.Transactions} carrying {spent.Events} events, {spent.BytesWritten} bytes; submit handlers {spent.SubmitSeconds:0.000}");
            stdout.WriteLine("  banks' time during the rounds (s, summed over banks):");
            stdout.WriteLine($"    in SumAsync {bankWallSeconds:0.000} = send {bt.Send:0.000} ({bt.Sends} submits) + mailbox wait {bt.Wait:0.000} ({bt.Items} items) + round requests {bt.Request:0.000} + own work {bankWork:0.000}");
            if (json)
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["suite"] = "round", ["mode"] = mode, ["banks"] = n, ["values"] = count, ["rounds"] = rounds,
                    ["setup_s"] = Math.Round(setup.Elapsed.TotalSeconds, 3), ["first_round_s"] = Math.Round(firstRoundSeconds, 4),
                    ["warmup_rounds"] = warmups, ["inproc_warmup_rounds"] = inprocWarmups,
                    ["wall_s"] = Math.Round(wallPerRound, 4),
                    ["round_median_s"] = Math.Round(wallPerRound, 4), ["wall_s_mean"] = Math.Round(applianceLeg.Wall.Average(), 4),
                    ["inproc_wall_s"] = Math.Round(inprocPerRound, 4), ["ratio"] = Math.Round(ratio, 3),
                    ["wall_s_all"] = Rounded(applianceLeg.Wall), ["inproc_wall_s_all"] = Rounded(inprocLeg.Wall),
                    ["cpu_s"] = Math.Round(cpuPerRound, 4), ["inproc_cpu_s"] = Math.Round(inprocCpuPerRound, 4),
                    ["cpu_s_all"] = Rounded(applianceLeg.Cpu), ["inproc_cpu_s_all"] = Rounded(inprocLeg.Cpu),
                    ["jit_s"] = Math.Round(Median(applianceLeg.Jit), 4), ["inproc_jit_s"] = Math.Round(Median(inprocLeg.Jit), 4),
                    ["jit_methods"] = applianceLeg.JitMethods, ["inproc_jit_methods"] = inprocLeg.JitMethods,
                    ["bank_upload_bytes"] = upload, ["bulk_channel"] = bulkConnections > 0, ["bulk_connections"] = bulkConnections, ["peak_rss_mb"] = OneDecimal(peak), ["exact"] = exact,
                    ["engine_s"] = Math.Round(spent.EngineSeconds, 3), ["store_s"] = Math.Round(spent.StoreWriteSeconds + spent.StoreReadSeconds, 3),
                    ["store_write_s"] = Math.Round(spent.StoreWriteSeconds, 3), ["store_read_s"] = Math.Round(spent.StoreReadSeconds, 3),
                    ["lock_wait_s"] = Math.Round(spent.LockWaitSeconds, 3), ["intake_s"] = Math.Round(spent.IntakeSeconds, 3),
                    ["mailbox_s"] = Math.Round(spent.MailboxSeconds, 3), ["store_transactions"] = spent.Transactions,
                    ["store_events"] = spent.Events, ["store_bytes"] = spent.BytesWritten, ["submit_handler_s"] = Math.Round(spent.SubmitSeconds, 3),
                    ["bank_wall_s"] = Math.Round(bankWallSeconds, 3), ["bank_send_s"] = Math.Round(bt.Send, 3), ["bank_wait_s"] = Math.Round(bt.Wait, 3),
                    ["bank_request_s"] = Math.Round(bt.Request, 3), ["bank_work_s"] = Math.Round(bankWork, 3),
                    ["bank_submits"] = bt.Sends, ["bank_items"] = bt.Items, ["bank_requests"] = bt.Requests,
                }));
            return exact ? CliErrors.Success : CliErrors.RunFailed;
        }
        finally
        {
            foreach (FederationClient cl in clients) await cl.DisposeAsync();
            if (host is not null) { await host.StopAsync(); await host.DisposeAsync(); }
            foreach (LoadedBankConfig b in configs) b.Dispose();
            loaded?.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary><paramref name="x"/> rounded to one decimal as a decimal of scale 1, so JSON always shows it (173.0, not 173).</summary>
    internal static decimal OneDecimal(double x) =>
        decimal.Parse(x.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CPU time of this process (user + system, all threads): the appliance, the banks and the in-process harness all
    /// run here, so CPU per round compares the stacks' work even on a machine other jobs load (wall time then mostly waits for a core).</summary>
    /// <summary>Runs <paramref name="round"/> at least <see cref="MinWarmupRounds"/> times and until two rounds in a row each
    /// JIT-compiled at most <see cref="QuietJitMethods"/> methods, at most <see cref="MaxWarmupRounds"/> times (the same rule for
    /// both stacks); returns how many rounds ran.</summary>
    private static async Task<int> WarmUpAsync(Func<Task> round)
    {
        int rounds = 0, quietInARow = 0;
        while (rounds < MaxWarmupRounds && (rounds < MinWarmupRounds || quietInARow < 2))
        {
            long m0 = System.Runtime.JitInfo.GetCompiledMethodCount();
            await round();
            rounds++;
            quietInARow = System.Runtime.JitInfo.GetCompiledMethodCount() - m0 <= QuietJitMethods ? quietInARow + 1 : 0;
        }
        return rounds;
    }

    /// <summary>Process CPU, JIT time, methods compiled and the clock at the start of one timed round.</summary>
    private readonly record struct LegStart(TimeSpan Cpu, TimeSpan Jit, long Methods, long Timestamp)
    {
        public static LegStart Now() => new(ProcessCpu(), System.Runtime.JitInfo.GetCompilationTime(), System.Runtime.JitInfo.GetCompiledMethodCount(), Stopwatch.GetTimestamp());
    }

    /// <summary>One stack's timed rounds: wall, process CPU and JIT seconds per round, and the methods compiled in all.</summary>
    private sealed class LegFigures
    {
        public List<double> Wall { get; } = [];
        public List<double> Cpu { get; } = [];
        public List<double> Jit { get; } = [];
        public long JitMethods { get; private set; }

        /// <summary>Adds the round that began at <paramref name="start"/> and has just ended.</summary>
        public void Record(LegStart start)
        {
            Wall.Add(Stopwatch.GetElapsedTime(start.Timestamp).TotalSeconds);
            Cpu.Add((ProcessCpu() - start.Cpu).TotalSeconds);
            Jit.Add((System.Runtime.JitInfo.GetCompilationTime() - start.Jit).TotalSeconds);
            JitMethods += System.Runtime.JitInfo.GetCompiledMethodCount() - start.Methods;
        }
    }

    private static TimeSpan ProcessCpu()
    {
        using Process self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>A full blocking, compacting collection of every generation, the large object heap included, and the finalizers it
    /// made due (then a second collection for what they released): what one measured round leaves behind is not charged to the next.</summary>
    private static void FullCollection()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    /// <summary>A stack's warm-up ends after two rounds in a row that each JIT-compiled at most this many methods (tiered
    /// compilation settled) ...</summary>
    private const int QuietJitMethods = 50;
    /// <summary>... but not before this many rounds: the precompiled (ReadyToRun) code needs no JIT at first, so the first rounds
    /// are quiet while its hot methods still wait for their tier-1 compilation (call counting starts 100 ms after the last new
    /// method and promotes a method after 30 calls). Ending after the first quiet round, a run measured 554 to 2,477 methods
    /// compiled during 5 timed rounds of a stack (28 to 105 ms of JIT per appliance round) after 2 warm-up rounds.</summary>
    private const int MinWarmupRounds = 5;
    /// <summary>Or after this many warm-up rounds of the stack.</summary>
    private const int MaxWarmupRounds = 20;

    private static double[] Rounded(List<double> xs) => [.. xs.Select(x => Math.Round(x, 4))];

    private static double Median(List<double> xs)
    {
        List<double> s = [.. xs.Order()];
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>The banks' transport timers summed over banks (seconds; counts).</summary>
    private sealed record BankTimes(double Send, double Wait, double Request, long Sends, long Items, long Requests)
    {
        public static BankTimes Of(IEnumerable<FederationClient> clients)
        {
            BankTransportTimings[] t = clients.Select(c => c.Transport.Timings).ToArray();
            return new(t.Sum(x => x.SendSeconds), t.Sum(x => x.WaitSeconds), t.Sum(x => x.RequestSeconds), t.Sum(x => x.Sends), t.Sum(x => x.Items), t.Sum(x => x.Requests));
        }

        public BankTimes Minus(BankTimes e) => new(Send - e.Send, Wait - e.Wait, Request - e.Request, Sends - e.Sends, Items - e.Items, Requests - e.Requests);
    }

    private static ulong[] Plain(ulong[][] vectors, ulong modulus)
    {
        var sum = new ulong[vectors[0].Length];
        foreach (ulong[] v in vectors)
            for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + v[i]) % modulus;
        return sum;
    }
}
