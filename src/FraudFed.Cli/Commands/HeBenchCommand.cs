// `fraudfed bench ntt` and `fraudfed bench he`: benchmarks of the RLWE engine and the threshold homomorphic
// secure sum. The last stdout line is one JSON object (with --json); timings are medians over --runs.
// Every option is checked before any work (exit code 2, one line naming the option and the fix); progress
// goes to stderr.
using System.CommandLine;
using FraudFed.Cli.Infrastructure;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Cli.Commands;

/// <summary>The homomorphic benchmarks under `fraudfed bench`.</summary>
internal sealed class HeBenchCommand : ICliSubcommands
{
    public string Group => "bench";
    public string GroupDescription => "Benchmarks.";

    public IEnumerable<Command> BuildSubcommands() => [BuildNtt(), BuildHe()];

    private static double Median(List<double> xs)
    {
        xs.Sort();
        int m = xs.Count / 2;
        return xs.Count % 2 == 1 ? xs[m] : (xs[m - 1] + xs[m]) / 2;
    }

    private static Command BuildNtt()
    {
        var runs = new Option<int>("--runs") { Description = "Timed runs per prime after the warm-up (median), 1..1000000.", DefaultValueFactory = _ => 300 }.InRange(1, 1_000_000);
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line." };
        var cmd = new Command("ntt", "Forward/inverse negacyclic NTT of the default parameter set (n and primes).");
        cmd.Options.Add(runs);
        cmd.Options.Add(json);
        cmd.SetAction(pr => CliErrors.Guard("bench ntt", pr.InvocationConfiguration.Error, () =>
        {
            TextWriter stdout = pr.InvocationConfiguration.Output;
            int requested = pr.GetValue(runs);
            if (requested is < 1 or > 1_000_000) throw new UsageException($"--runs must be in 1..1000000 (got {requested}).");
            RlweParameters p = ParameterSets.Default;
            int n = p.N, r = requested;
            var forward = new List<double>();
            var inverse = new List<double>();
            var warmups = new List<JitWarmup.Result>();
            int bitsTotal = 0;
            var rng = new Random(1);
            for (int prime = 0; prime < p.Primes.Count; prime++)
            {
                ulong q = p.Primes[prime];
                NttTables tables = p.Basis.Table(prime);
                int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(q);
                bitsTotal += bits;
                var data = new ulong[n];
                for (int i = 0; i < n; i++) data[i] = (ulong)rng.NextInt64() % q;
                // Steady state: forward + inverse until a 250 ms block compiles no method (the transforms are also
                // marked AggressiveOptimization, so they never run tier-0 code; the warm-up covers the rest).
                warmups.Add(JitWarmup.UntilQuiet(() => { tables.Forward(data); tables.Inverse(data); },
                    TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10)));
                var f = new List<double>(); var inv = new List<double>();
                for (int k = 0; k < r; k++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    tables.Forward(data);
                    long t1 = Stopwatch.GetTimestamp();
                    tables.Inverse(data);
                    long t2 = Stopwatch.GetTimestamp();
                    f.Add((t1 - t0) * 1e6 / Stopwatch.Frequency);
                    inv.Add((t2 - t1) * 1e6 / Stopwatch.Frequency);
                }
                forward.Add(Median(f));
                inverse.Add(Median(inv));
            }
            double fwd = forward.Average(), invUs = inverse.Average();
            int primeBits = bitsTotal / p.Primes.Count;
            double nsPerCoeffBit = fwd * 1000 / (n * (double)primeBits);
            bool steady = warmups.All(w => w.Quiet);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"NTT n={n}, {p.Primes.Count} primes of {primeBits} bits, median of {r} runs per prime: forward {fwd:F1} us, inverse {invUs:F1} us, {nsPerCoeffBit:F3} ns/coeff/bit; per prime {string.Join("; ", warmups.Select(w => w.Describe()))}"));
            stdout.WriteLine("Comparison with SEAL: measure both in one run with the side-by-side kit (docs/homomorphic-mode.md, \"Side by side with Microsoft SEAL 4.4.3\"); no fixed SEAL figure is printed here.");
            if (pr.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["suite"] = "ntt", ["n"] = n, ["prime_bits"] = primeBits, ["primes"] = p.Primes.Count,
                    ["forward_us"] = Math.Round(fwd, 2), ["inverse_us"] = Math.Round(invUs, 2),
                    ["ns_per_coeff_per_bit"] = Math.Round(nsPerCoeffBit, 4), ["runs"] = r,
                    ["warmup_s"] = Math.Round(warmups.Sum(w => w.Seconds), 3), ["steady_state"] = steady,
                }));
            return 0;
        }));
        return cmd;
    }

    /// <summary>From this many banks on, bench he says up front what the key setup costs.</summary>
    internal const int SetupNoticeBanks = 64;
    /// <summary>At most one key setup progress line per this interval.</summary>
    internal static readonly TimeSpan SetupReportInterval = TimeSpan.FromSeconds(2);
    /// <summary>Key setup seconds per N^2 at the default parameters on 2 cores: 124 s measured at N = 64 (a loaded 2-core machine;
    /// 22 s at N = 16, 76 s at N = 32, noisier).</summary>
    private const double SetupSecondsPerBankSquared = 0.03;

    /// <summary>The up-front line of a large key setup: it grows with N^2 (Thresholdize: every bank seals a Shamir point for every
    /// other and opens one from every other).</summary>
    internal static string SetupNotice(int banks)
    {
        double seconds = SetupSecondsPerBankSquared * banks * banks;
        string estimate = seconds < 90 ? $"{seconds:0} s" : $"{seconds / 60:0} min";
        return string.Create(CultureInfo.InvariantCulture,
            $"fraudfed bench he: key setup grows with N^2 (every bank seals a Shamir point for every other and opens one from every other, SPEC.md 12.0 step 3; about 2 min at 64 banks on 2 cores): for {banks} banks expect roughly {estimate} before the first sum, longer on a loaded machine; progress follows on stderr");
    }

    /// <summary>Key setup progress on stderr: "key setup: bank 37/256 (Thresholdize)", at most one line per interval (none for a
    /// setup shorter than the interval).</summary>
    internal sealed class SetupReporter(TextWriter stderr, Func<TimeSpan> elapsed, TimeSpan interval) : IProgress<HomomorphicSetupProgress>
    {
        private TimeSpan _last = TimeSpan.Zero;

        public void Report(HomomorphicSetupProgress value)
        {
            TimeSpan now = elapsed();
            if (now - _last < interval) return;
            _last = now;
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{now.TotalSeconds,6:0.0}s] key setup: bank {value.BanksDone}/{value.Banks} ({value.Stage})"));
        }
    }

    private static Command BuildHe()
    {
        var banks = new Option<int>("--banks") { Description = "Number of banks N.", DefaultValueFactory = _ => 10 }.InRange(2, 256);
        var threshold = new Option<int?>("--threshold") { Description = "Decryption threshold T; default floor((N + c)/2) + 1, the smallest with 2T > N + c." }.InRange(1, 256);
        var colluders = new Option<int?>("--colluders") { Description = "c, the banks that may collude with the aggregator; default ceil(N/3) - 1." }.InRange(0, 255);
        var values = new Option<int>("--values") { Description = "Values per bank.", DefaultValueFactory = _ => 1_000_000 }.InRange(1, BenchMaskingCommand.MaxValues);
        var bits = new Option<int>("--bits") { Description = "k: values and sums mod 2^k.", DefaultValueFactory = _ => 32 }.InRange(1, 44);
        var runs = new Option<int>("--runs") { Description = "Timed sums (median).", DefaultValueFactory = _ => 3 }.InRange(1, 1000);
        var json = new Option<bool>("--json") { Description = "Print one JSON object as the last line." };
        var cmd = new Command("he", "Threshold homomorphic secure sum (compact BFV, default 128-bit parameters).");
        foreach (Option o in new Option[] { banks, threshold, colluders, values, bits, runs, json }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bench he", pr.InvocationConfiguration.Error, () =>
        {
            TextWriter stdout = pr.InvocationConfiguration.Output, stderr = pr.InvocationConfiguration.Error;
            int nBanks = pr.GetValue(banks), count = pr.GetValue(values), k = pr.GetValue(bits), r = pr.GetValue(runs);
            static void Require(bool ok, string message) { if (!ok) throw new UsageException(message); }
            Require(nBanks is >= 2 and <= 256, $"--banks must be in 2..256 (got {nBanks}).");
            Require(count is >= 1 and <= BenchMaskingCommand.MaxValues, $"--values must be in 1..{BenchMaskingCommand.MaxValues} (got {count}).");
            Require(k is >= 1 and <= 44, $"--bits must be in 1..44 (got {k}): the HE plaintext modulus is 2^44.");
            Require(r is >= 1 and <= 1000, $"--runs must be in 1..1000 (got {r}).");
            Require(pr.GetValue(threshold) is null or >= 1, $"--threshold must be at least 1 (got {pr.GetValue(threshold)}).");
            Require(pr.GetValue(threshold) is not { } tt || tt <= nBanks, $"--threshold {pr.GetValue(threshold)} is above --banks {nBanks}.");
            Require(pr.GetValue(colluders) is null or >= 0, $"--colluders must be 0 or more (got {pr.GetValue(colluders)}).");
            Require(pr.GetValue(colluders) is not { } cc || cc < nBanks, $"--colluders must be below --banks {nBanks} (got {pr.GetValue(colluders)}): c counts the other banks that may collude with the aggregator.");
            int c = pr.GetValue(colluders) ?? DecryptionPolicy.DefaultMaxColluders(nBanks);
            int t = pr.GetValue(threshold) ?? Math.Min(nBanks, (nBanks + Math.Max(0, c)) / 2 + 1);
            var policy = new DecryptionPolicy { Threshold = t, MinContributors = Math.Min(nBanks, Math.Max(2, t)), MaxColluders = c };
            try { policy.Validate(nBanks); }
            catch (ProtocolViolationException e) { throw new UsageException($"--threshold {t} and --colluders {c} are unsafe for {nBanks} banks: {e.Detail.TrimEnd('.')}."); }
            stderr.WriteLine($"fraudfed bench he: key setup for {nBanks} banks (T = {t}, c = {c}), then on 2 cores and on one: warm-up sums until the JIT is quiet, then {Plural.Of(r, "timed sum")} each, {Plural.Of(count, "value", grouped: true)} each");
            if (nBanks >= SetupNoticeBanks) stderr.WriteLine(SetupNotice(nBanks));
            var setup = Stopwatch.StartNew();
            using var he = new HomomorphicSecureSum(nBanks, k, new HomomorphicOptions
            {
                Threshold = t, MinContributors = policy.MinContributors, MaxColluders = c,
                SetupProgress = new SetupReporter(stderr, () => setup.Elapsed, SetupReportInterval),
            });
            double setupS = setup.Elapsed.TotalSeconds;
            var rnd = new Random(42);
            ulong mask = (1UL << k) - 1;
            ulong[][] inputs = Enumerable.Range(0, nBanks).Select(_ => Enumerable.Range(0, count).Select(_ => (ulong)rnd.NextInt64() & mask).ToArray()).ToArray();
            ulong[] expected = new PlainSum(nBanks, k).Sum(inputs).Sum;
            bool exact = true;
            long uploadPerBank = 0;
            HomomorphicSession s = he.Session;
            // Per configuration (chunk-level Parallel.For on 2 cores, then one core): warm-up, then --runs timed sums
            // (medians). Warm-up: sums of two chunks per bank until a 250 ms block of them compiles no method (the
            // runtime moves a method to tier 1 after 30 calls, so code called once per sum needs 30 sums: small ones
            // keep that short), then one untimed full-size sum; the JSON says how many methods that last sum compiled.
            var multi = new List<HomomorphicSumStats>();
            var single = new List<HomomorphicSumStats>();
            var warmups = new List<JitWarmup.Result>();
            var fullWarmupCompiled = new List<long>();
            long timedCompiled = 0;
            TimeSpan gcPause1 = TimeSpan.Zero; // GC pauses during the timed one-core sums
            int gen2 = 0;
            long bytesUp = 0, bytesDown = 0; // the last timed sum's wire bytes, banks to aggregator and back
            int smallCount = Math.Min(count, 2 * s.Parameters.N);
            ulong[][] smallInputs = inputs.Select(v => v[..smallCount]).ToArray();
            ulong[] smallExpected = new PlainSum(nBanks, k).Sum(smallInputs).Sum;
            void OneSum(bool parallel, string? label, ulong[][] vectors, ulong[] sum)
            {
                SecureSumResult result = he.Sum(vectors);
                exact &= result.Sum.AsSpan().SequenceEqual(sum);
                if (label is not null) stderr.WriteLine($"[{setup.Elapsed.TotalSeconds,6:0.0}s] {label} on {(parallel ? "2 cores" : "1 core")}");
            }
            foreach (bool parallel in new[] { true, false })
            {
                s.Parallel = parallel;
                warmups.Add(JitWarmup.UntilQuiet(() => OneSum(parallel, null, smallInputs, smallExpected), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(60)));
                stderr.WriteLine($"[{setup.Elapsed.TotalSeconds,6:0.0}s] on {(parallel ? "2 cores" : "1 core")}, sums of {Plural.Of(smallCount, "value", grouped: true)}: {warmups[^1].Describe()}");
                long before = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
                OneSum(parallel, "untimed full-size sum", inputs, expected);
                fullWarmupCompiled.Add(System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false) - before);
                for (int run = 0; run < r; run++)
                {
                    long jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);
                    TimeSpan pauseBefore = GC.GetTotalPauseDuration();
                    int gen2Before = GC.CollectionCount(2);
                    OneSum(parallel, $"sum {run + 1}", inputs, expected);
                    timedCompiled += System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false) - jitBefore;
                    if (!parallel) { gcPause1 += GC.GetTotalPauseDuration() - pauseBefore; gen2 += GC.CollectionCount(2) - gen2Before; }
                    HomomorphicSumStats st = s.LastStats!;
                    // every ciphertext plus the bank's signed manifest of the round
                    uploadPerBank = st.UploadBytesPerBank;
                    bytesUp = st.BytesUploaded; bytesDown = st.BytesDownloaded;
                    (parallel ? multi : single).Add(st);
                }
            }
            s.Parallel = true;
            double M(List<HomomorphicSumStats> xs, Func<HomomorphicSumStats, TimeSpan> f) => Median(xs.Select(x => f(x).TotalSeconds).ToList());
            double encM = M(multi, x => x.EncryptPerBank), enc1 = M(single, x => x.EncryptPerBank);
            double addM = M(multi, x => x.AddPerBank), add1 = M(single, x => x.AddPerBank);
            double shareM = M(multi, x => x.DecryptionSharePerBank), share1 = M(single, x => x.DecryptionSharePerBank);
            double combM = M(multi, x => x.Combine), comb1 = M(single, x => x.Combine);
            double perValue = (double)uploadPerBank / count;
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"HE sum (compact): {nBanks} banks, T={t}, c={c}, {Plural.Of(count, "value")} of {Plural.Of(k, "bit")}, {s.Parameters}; medians of {r} sums, 2 cores | 1 core: encrypt {encM:F3} | {enc1:F3} s/bank, upload {perValue:F2} B/value, add {addM * 1000:F1} | {add1 * 1000:F1} ms/bank, decryption share {shareM:F3} | {share1:F3} s, combine {combM:F3} | {comb1:F3} s, exact {exact}. Warm-up on 2 cores: {warmups[0].Describe()}, then a full sum ({fullWarmupCompiled[0]} methods compiled); on 1 core: {warmups[1].Describe()}, then a full sum ({fullWarmupCompiled[1]} methods compiled); {timedCompiled} methods compiled during the timed sums (code run once per sum reaches tier 1 only after 30 sums)."));
            if (pr.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["suite"] = "he", ["variant"] = "compact", ["colluders"] = c, ["n"] = s.Parameters.N, ["log_q"] = s.Parameters.LogQ, ["log_t"] = s.Parameters.PlainModulusBits,
                    ["banks"] = nBanks, ["threshold"] = t, ["values"] = count, ["value_bits"] = k,
                    ["encrypt_s"] = Math.Round(encM, 4), ["encrypt_1core_s"] = Math.Round(enc1, 4),
                    ["upload_bytes_per_value"] = Math.Round(perValue, 3),
                    ["add_s_per_bank"] = Math.Round(addM, 5), ["add_1core_s_per_bank"] = Math.Round(add1, 5),
                    ["decrypt_share_s"] = Math.Round(shareM, 4), ["decrypt_share_1core_s"] = Math.Round(share1, 4),
                    ["combine_s"] = Math.Round(combM, 4), ["combine_1core_s"] = Math.Round(comb1, 4),
                    ["bytes_to_aggregator_per_round"] = bytesUp, ["bytes_to_banks_per_round"] = bytesDown,
                    ["setup_s"] = Math.Round(setupS, 3), ["runs"] = r, ["exact"] = exact,
                    ["warmup_small_sums"] = warmups.Sum(w => w.Calls), ["warmup_values_per_small_sum"] = smallCount,
                    ["warmup_full_sum_methods_compiled"] = fullWarmupCompiled.Sum(), ["timed_sums_methods_compiled"] = timedCompiled,
                    ["gc_pause_1core_s_per_sum"] = Math.Round(gcPause1.TotalSeconds / r, 4), ["gen2_gcs_1core_per_sum"] = Math.Round((double)gen2 / r, 2),
                    ["steady_state"] = warmups.All(w => w.Quiet),
                }));
            return exact ? CliErrors.Success : CliErrors.Fail("bench he", stderr, "a sum differs from the plaintext sum.", CliErrors.RunFailed);
        }));
        return cmd;
    }
}
