// `fraudfed conformance`: with no target, the offline check (as `vectors check`: every vector file under protocols/vectors
// recomputed, one line per file). With `--target https://HOST:PORT --banks DIR [--ca CA.pem]` the live check (SPEC.md 13,
// "Live conformance"): the runner plays every roster bank of a fresh appliance session through honest and hostile flows,
// one line per check. `--self` starts local appliances (one per mode, loopback, real mutual TLS, a temporary development
// kit, SQLite in a temporary directory) and runs the live check against each. Both then run the bank-refusal checks
// (this implementation's bank parties facing a malicious-aggregator double) unless --skip-bank-checks. `--json` ends with one JSON line.
// Exit 0 every check passed, 1 a check failed, 2 usage or input error (found before any connection).
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Infrastructure;
using FraudFed.Conformance.Live;
using FraudFed.Conformance.Live.Bank;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;

namespace FraudFed.Cli.Commands;

internal sealed class ConformanceCommand : ICliCommand
{
    /// <summary>The least --stage-timeout takes (1 s): below it a TCP connect and TLS handshake on loopback cannot finish, and
    /// the check blamed the appliance for its own timeout ("accepted the connection but gave no TLS answer within 0.001 s").</summary>
    internal const double MinStageSeconds = 1;

    public Command Build()
    {
        var vectors = new Option<string?>("--vectors") { Description = "Vector directory of the offline check (default: protocols/vectors of the enclosing repository)." };
        var verbose = new Option<bool>("--verbose") { Description = "Offline check: also list every passing case." };
        var target = new Option<string?>("--target") { Description = "Live check: the appliance's mutual-TLS address, https://HOST:PORT (a fresh session whose roster is --banks)." };
        var ca = new Option<string?>("--ca") { Description = "Live check: PEM certificate of the authority of the appliance's server certificate (default: each bank.json's ca)." };
        var banks = new Option<string?>("--banks") { Description = "Live check: the folder `fraudfed aggregator init` wrote (or its banks/ folder); every roster bank's bank.json, certificate, key and protocol key." };
        var maxBytes = new Option<int?>("--max-message-bytes") { Description = "Live check: the appliance's max_message_bytes (default: the banks' max_message_bytes)." }.InRange(1024, int.MaxValue);
        var self = new Option<bool>("--self") { Description = "Live check against local appliances started here (both modes, loopback, real mutual TLS, temporary kits)." };
        var json = new Option<bool>("--json") { Description = "End with one JSON line: passed, failed and every check with its verdict." };
        var fuzz = new Option<int>("--fuzz") { Description = "Live check: mutated genuine messages to send (0: no fuzz checks; default FRAUDFED_FUZZ_MUTANTS or 0)." }.InRange(0, int.MaxValue);
        var fuzzSeconds = new Option<double>("--fuzz-seconds") { Description = "Live check: time budget of the fuzz loop per appliance (0.001 to 86400 seconds; default FRAUDFED_FUZZ_SECONDS or 15)." }.Accepting(NumberOptions.Seconds);
        var fuzzSeed = new Option<int>("--fuzz-seed") { Description = "Live check: seed of the mutations (default FRAUDFED_FUZZ_SEED or 20261201)." }.InRange(int.MinValue, int.MaxValue);
        var skipBank = new Option<bool>("--skip-bank-checks") { Description = "Live check: leave out the bank-refusal checks (this implementation's bank parties facing a malicious-aggregator double, SPEC.md 13)." };
        var stageTimeout = new Option<double>("--stage-timeout") { Description = "Live check: longest wait for the appliance's next message, seconds, 1 to 86400 (default 120); it also bounds connecting to it (TCP connect and TLS handshake).", DefaultValueFactory = _ => 120 }.Accepting(NumberOptions.Seconds);
        var command = new Command("conformance", "Check this implementation against the protocol test vectors (default), or check a running appliance (--target) or local ones (--self) through honest and hostile flows.");
        foreach (Option o in new Option[] { vectors, verbose, target, ca, banks, maxBytes, self, json, fuzz, fuzzSeconds, fuzzSeed, stageTimeout, skipBank }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Guard("conformance", parse.InvocationConfiguration.Error, () =>
        {
            TextWriter stdout = parse.InvocationConfiguration.Output, stderr = parse.InvocationConfiguration.Error;
            string? t = parse.GetValue(target);
            bool local = parse.GetValue(self);
            if (t is null && !local)
            {
                if (parse.GetValue(banks) is not null || parse.GetValue(ca) is not null) throw new UsageException("--banks and --ca need --target.");
                foreach (Option o in new Option[] { maxBytes, fuzz, fuzzSeconds, fuzzSeed, stageTimeout, skipBank })
                    if (parse.GetResult(o) is { Implicit: false })
                        throw new UsageException($"{o.Name} is an option of the live check: it needs --target or --self (the offline check takes --vectors, --verbose and --json).");
                return VectorsCommand.Check(parse.GetValue(vectors), parse.GetValue(verbose), parse.GetValue(json), stdout, stderr);
            }
            if (t is not null && local) throw new UsageException("give either --target or --self, not both.");
            if (local)
                foreach (Option o in new Option[] { banks, ca, maxBytes })
                    if (parse.GetResult(o) is { Implicit: false })
                        throw new UsageException($"{o.Name} is an option of --target: --self provisions its own kit, CA and message limit ({SelfMaxMessageBytes} bytes).");
            // An option given wins; else its variable, read here (in the guarded action, so a bad value is a usage error, exit 2).
            var live = new LiveSettings(
                parse.GetResult(fuzz) is not null ? parse.GetValue(fuzz) : WholeDefault("FRAUDFED_FUZZ_MUTANTS", 0, min: 0),
                parse.GetResult(fuzzSeconds) is not null ? NumberOptions.RequireSeconds(parse, fuzzSeconds) : SecondsDefault("FRAUDFED_FUZZ_SECONDS", 15),
                parse.GetResult(fuzzSeed) is not null ? parse.GetValue(fuzzSeed) : WholeDefault("FRAUDFED_FUZZ_SEED", 20261201, min: int.MinValue),
                NumberOptions.RequireSeconds(parse, stageTimeout, min: MinStageSeconds), !parse.GetValue(skipBank));
            if (local) return Self(live, parse.GetValue(json), stdout);
            if (!Uri.TryCreate(t, UriKind.Absolute, out Uri? uri)) throw new UsageException($"--target must be https://HOST:PORT, not \"{t}\".");
            string dir = parse.GetValue(banks) ?? throw new UsageException("--target needs --banks DIR (the folder `fraudfed aggregator init` wrote).");
            return Target(live.Options(uri, dir, parse.GetValue(ca), parse.GetValue(maxBytes)), live.BankChecks, parse.GetValue(json), stdout);
        }));
        return command;
    }

    /// <summary>The default an environment variable gives a whole-number option, read as the option is (an optional sign and
    /// digits, invariant culture, no blanks), at least <paramref name="min"/>; unset or empty gives <paramref name="fallback"/>.</summary>
    /// <exception cref="UsageException">the variable holds anything else: said with its name, never silently replaced by the default.</exception>
    internal static int WholeDefault(string variable, int fallback, int min)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(text)) return fallback;
        if (NumberOptions.TryReadWhole(text, out int v) && v >= min) return v;
        throw new UsageException(string.Create(CultureInfo.InvariantCulture,
            $"the environment variable {variable} must be a whole number from {min} to {int.MaxValue}, written as digits with an optional sign (got '{text}'); unset it for the default, {fallback}."));
    }

    /// <summary>The default an environment variable gives a seconds option, read as the option is (invariant culture, no
    /// blanks, no thousands separator) and in its range, <see cref="NumberOptions.MinSeconds"/> to <see cref="NumberOptions.MaxSeconds"/>; unset or empty gives
    /// <paramref name="fallback"/>.</summary>
    /// <exception cref="UsageException">the variable holds anything else: said with its name, never silently replaced by the default.</exception>
    internal static double SecondsDefault(string variable, double fallback)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(text)) return fallback;
        if (NumberOptions.TryReadDecimal(text, out double v) && v >= NumberOptions.MinSeconds && v <= NumberOptions.MaxSeconds) return v;
        throw new UsageException(string.Create(CultureInfo.InvariantCulture,
            $"the environment variable {variable} must be a number of seconds from {NumberOptions.MinSeconds} to {NumberOptions.MaxSeconds} such as 1.5, written without spaces or thousands separators (got '{text}'); unset it for the default, {fallback}."));
    }

    /// <summary>The live options common to --target and --self.</summary>
    internal sealed record LiveSettings(int Fuzz, double FuzzSeconds, int FuzzSeed, double StageTimeout, bool BankChecks = true)
    {
        public LiveOptions Options(Uri target, string banks, string? ca, int? maxMessageBytes, Func<long>? memory = null) => new()
        {
            Target = target, BanksDirectory = banks, CaPath = ca, MaxMessageBytes = maxMessageBytes, FuzzMutants = Fuzz, FuzzSeconds = FuzzSeconds,
            FuzzSeed = FuzzSeed, StageTimeoutSeconds = StageTimeout, MemoryProbe = memory,
        };
    }

    /// <summary>The live check against a running appliance; every input is checked (exit 2) before the first connection.</summary>
    internal static int Target(LiveOptions options, bool bankChecks, bool json, TextWriter stdout)
    {
        using LiveTarget target = LiveTarget.Load(options);
        var results = new List<LiveCheckResult>(ApplianceChecks.RunAsync(target).GetAwaiter().GetResult());
        if (!ApplianceChecks.SetupFailed(results)) results.AddRange(BulkChannelChecks.RunAsync(target).GetAwaiter().GetResult());
        if (bankChecks && !ApplianceChecks.SetupFailed(results)) results.AddRange(BankRefusalChecks.RunAsync(CancellationToken.None).GetAwaiter().GetResult());
        return Report(results, json, stdout);
    }

    /// <summary>The table (or, when session setup failed, its line and one line saying the run stopped), the JSON line; exit 0/1.</summary>
    private static int Report(IReadOnlyList<LiveCheckResult> results, bool json, TextWriter stdout)
    {
        if (ApplianceChecks.SetupFailed(results)) LiveReport.WriteStopped(results, stdout);
        else LiveReport.WriteTable(results, stdout);
        if (json) stdout.WriteLine(LiveReport.Json(results));
        return results.All(r => r.Passed) ? CliErrors.Success : CliErrors.RunFailed;
    }

    /// <summary>Bank count of the --self appliances: a dropout leaves 3, enough for both modes' thresholds (HE K_min 3, masking t 3).</summary>
    internal const int SelfBanks = 4;

    /// <summary>Message limit of the --self appliances (the oversized check sends one byte more).</summary>
    internal const int SelfMaxMessageBytes = 1 << 20;

    /// <summary>Per-bank call limit of the --self appliances (requests_per_second): above the default 200 so that more fuzz mutants
    /// reach the decoders; the fuzz loop still paces itself when the limiter answers.</summary>
    internal const int SelfRequestsPerSecond = 1000;

    /// <summary>Starts a local appliance per mode and runs the live check against each; the kits and state files are deleted after.</summary>
    internal static int Self(LiveSettings settings, bool json, TextWriter stdout)
    {
        var results = new List<LiveCheckResult>();
        foreach (string mode in new[] { "he", "masking" })
        {
            results.AddRange(SelfModeAsync(mode, settings).GetAwaiter().GetResult());
            if (ApplianceChecks.SetupFailed(results)) return Report(results, json, stdout);
        }
        if (settings.BankChecks) results.AddRange(BankRefusalChecks.RunAsync(CancellationToken.None).GetAwaiter().GetResult());
        return Report(results, json, stdout);
    }

    /// <summary>One local appliance of <paramref name="mode"/> (INSECURE test RLWE parameters in he; short join deadline for the dropout
    /// check; <paramref name="requestsPerSecond"/> calls per second per bank); the appliance checks, then (with
    /// <paramref name="bulkChecks"/>, when session setup passed) the bulk-channel checks.</summary>
    internal static async Task<IReadOnlyList<LiveCheckResult>> SelfModeAsync(string mode, LiveSettings settings, Func<Uri, string, Task<Uri>>? front = null,
        int requestsPerSecond = SelfRequestsPerSecond, bool bulkChecks = true)
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-conformance-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            string config = DevelopmentProvisioning.Write(dir, new ProvisioningOptions
            {
                Banks = SelfBanks, Mode = mode, Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0", InsecureTestParameters = mode == "he",
                Deadlines = new DeadlineSettings { SetupSeconds = 60, JoinSeconds = 3, StageSeconds = 60 },
            });
            AggregatorConfig c = ConfigJson.Load<AggregatorConfig>(config);
            File.WriteAllText(config, JsonSerializer.Serialize(c with { MaxMessageBytes = SelfMaxMessageBytes, RequestsPerSecond = requestsPerSecond }, ConfigJson.Options));
            using LoadedAggregatorConfig loaded = AggregatorConfig.Load(config);
            await using ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.None));
            await host.StartAsync().ConfigureAwait(false);
            Uri address = host.Addresses.First(a => a.Scheme == "https");
            if (front is not null) address = await front(address, dir).ConfigureAwait(false);
            LiveOptions options = settings.Options(address, dir, null, SelfMaxMessageBytes, () => GC.GetTotalMemory(forceFullCollection: true));
            using LiveTarget target = LiveTarget.Load(options);
            var results = new List<LiveCheckResult>(await ApplianceChecks.RunAsync(target).ConfigureAwait(false));
            if (bulkChecks && !ApplianceChecks.SetupFailed(results)) results.AddRange(await BulkChannelChecks.RunAsync(target).ConfigureAwait(false));
            await host.StopAsync().ConfigureAwait(false);
            return results;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
