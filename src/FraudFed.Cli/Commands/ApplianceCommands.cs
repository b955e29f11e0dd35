// `fraudfed aggregator init|serve` and `fraudfed bank sum`: the appliance and one bank from the command line
// (SPEC.md 14.5, README "Operating the appliance"). Every option and every file is checked before any work (exit 2,
// one line naming the option or file and the fix); a run that fails is exit 1; no stack trace reaches the user.
// init writes its kit into a staging directory beside --out and moves it into place only when complete.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Cli.Commands;

/// <summary>`fraudfed aggregator init` and `fraudfed aggregator serve`.</summary>
internal sealed class AggregatorCommands : ICliSubcommands
{
    public string Group => "aggregator";
    public string GroupDescription => "The aggregator appliance: a development startup kit, and the gRPC service over mutual TLS.";

    public IEnumerable<Command> BuildSubcommands() => [BuildInit(), BuildServe()];

    private static Command BuildInit()
    {
        var banks = new Option<int>("--banks") { Description = "Number of banks (2..256).", DefaultValueFactory = _ => 5 }.InRange(2, 256);
        var output = new Option<string>("--out") { Description = "Directory for the kit (must not exist, or be empty).", Required = true };
        var mode = new Option<string>("--mode") { Description = "he (threshold homomorphic) or masking (SecAgg).", DefaultValueFactory = _ => "he" };
        mode.OneOf("he", "masking");
        var listen = new Option<string>("--listen") { Description = "The appliance's mutual-TLS address.", DefaultValueFactory = _ => "127.0.0.1:7443" };
        var ops = new Option<string>("--ops-listen") { Description = "The operations address (/metrics, /healthz).", DefaultValueFactory = _ => "127.0.0.1:9464" };
        var insecure = new Option<bool>("--insecure-test-parameters") { Description = "Use the INSECURE n = 256 RLWE test parameters (demonstrations only; --mode he only)." };
        var cmd = new Command("init", "Write a DEVELOPMENT-ONLY startup kit: a CA, the server certificate, per bank a client certificate, an Ed25519 protocol key and bank.json, and aggregator.json with the roster.");
        foreach (Option o in new Option[] { banks, output, mode, listen, ops, insecure }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("aggregator init", pr.InvocationConfiguration.Error, () =>
        {
            int n = pr.GetValue(banks);
            if (n is < 2 or > 256) throw new UsageException($"--banks must be in 2..256 (got {n}).");
            string listenValue = pr.GetValue(listen)!, opsValue = pr.GetValue(ops)!;
            if (!System.Net.IPEndPoint.TryParse(listenValue, out _)) throw new UsageException($"--listen must be an IP address and port such as 127.0.0.1:7443 (got '{listenValue}').");
            if (!System.Net.IPEndPoint.TryParse(opsValue, out _)) throw new UsageException($"--ops-listen must be an IP address and port such as 127.0.0.1:9464 (got '{opsValue}').");
            if (pr.GetValue(insecure) && pr.GetValue(mode) != "he")
                throw new UsageException("--insecure-test-parameters applies to --mode he only (the RLWE ring); masking has no such parameters, drop the flag.");
            string target = pr.GetValue(output)!;
            if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
                throw new UsageException($"--out '{target}' is not empty; init never overwrites a kit (its keys would be lost). Give a new directory.");
            using StagedOutput staged = StagedOutput.Prepare(target);
            DevelopmentProvisioning.Write(staged.StagingPath, new ProvisioningOptions
            {
                Banks = n, Mode = pr.GetValue(mode)!, Listen = listenValue, OpsListen = opsValue, InsecureTestParameters = pr.GetValue(insecure),
            });
            if (Directory.Exists(staged.TargetPath)) Directory.Delete(staged.TargetPath);   // empty: checked above
            staged.Commit(["aggregator.json"]);
            TextWriter stdout = pr.InvocationConfiguration.Output;
            stdout.WriteLine($"wrote a DEVELOPMENT-ONLY kit for {n} banks ({pr.GetValue(mode)}) to {staged.TargetPath}");
            if (n == 2) stdout.WriteLine(TwoBankNote);
            FederationSettings federation = ConfigJson.Load<AggregatorConfig>(Path.Combine(staged.TargetPath, "aggregator.json")).Federation;
            foreach (string line in NextSteps(CliInvocation.Prefix(), staged.TargetPath, n, RoundMinimum(federation), federation.IsHomomorphic)) stdout.WriteLine(line);
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>
    /// The next-step lines `init` prints after writing a kit of <paramref name="banks"/> banks to <paramref name="kit"/> (a full
    /// path): each command line runs as printed from the current directory (<paramref name="fraudfed"/> from
    /// <see cref="CliInvocation.Prefix()"/>, the kit's files by full path, quoted when needed); bank 0's line stands for every
    /// bank, and the line above it says what changes for the others and what its values file v0.txt (the README's name) holds.
    /// The last line says that the banks run at the same time and how many of them a round needs (<paramref name="minimum"/>,
    /// <see cref="RoundMinimum"/>); in homomorphic mode (<paramref name="homomorphic"/>) the key setup needs every bank.
    /// </summary>
    internal static IEnumerable<string> NextSteps(string fraudfed, string kit, int banks, int minimum, bool homomorphic)
    {
        // The other banks' bank.json files by the same path as the printed commands give bank 0's (the kit's full path).
        string Config(int bank) => CliInvocation.Quote(Path.Combine(kit, "banks", $"bank-{bank}", "bank.json"));
        string others = banks switch
        {
            2 => $"bank 1 does the same with its own bank.json ({Config(1)}) and v1.txt, of the same length",
            3 => $"bank 1 and bank 2 do the same, each with its own bank.json ({Config(1)} and {Config(2)}) and values file (v1.txt and v2.txt), all of the same length",
            _ => $"banks 1 to {banks - 1} do the same, each with its own bank.json ({Config(1)} to {Config(banks - 1)}) and values file (v1.txt to v{banks - 1}.txt), all of the same length",
        };
        yield return "next steps (each line runs from this directory):";
        yield return $"  appliance (in its own terminal, or in the background with `&`): {fraudfed} aggregator serve --config {CliInvocation.Quote(Path.Combine(kit, "aggregator.json"))}";
        yield return $"  bank 0 sums the unsigned integers in v0.txt (one per line); {others}";
        yield return $"  (e.g. bank i's values i..i+999: `for i in $(seq 0 {banks - 1}); do seq $i $((i + 999)) > v$i.txt; done`):";
        yield return $"  bank 0:    {NoBuild(fraudfed)} bank sum --config {CliInvocation.Quote(Path.Combine(kit, "banks", "bank-0", "bank.json"))} --values v0.txt";
        string needs = minimum >= banks ? (banks == 2 ? "both banks" : $"all {banks} banks") : $"at least {minimum} of the {banks} banks";
        yield return "  the banks run at the same time, each in its own terminal (or in the background with `&`); each waits for the others";
        yield return $"  (up to its --timeout): a round needs {needs}{(homomorphic && minimum < banks ? $", the first key setup all {banks}" : "")}.";
    }

    /// <summary>A bank's command as the README's loop runs it: "dotnet run --no-build ..." when <paramref name="fraudfed"/> is a
    /// `dotnet run` (the appliance's `dotnet run` has built the project; banks started at once that build too race on the same
    /// bin/ folder, and MSBuild's copy warnings land in their output), else as is.</summary>
    internal static string NoBuild(string fraudfed) =>
        fraudfed.StartsWith("dotnet run ", StringComparison.Ordinal) && !fraudfed.Contains("--no-build", StringComparison.Ordinal)
            ? "dotnet run --no-build " + fraudfed["dotnet run ".Length..]
            : fraudfed;

    /// <summary>What a bank's "still" line says while its round has not opened; <see cref="WaitReporter"/> adds one parenthesis
    /// (time so far, --timeout), so this has none.</summary>
    internal static string StillWaitingForRound(ulong round) => $"waiting for round {round} to open: the other banks have not all asked yet";

    /// <summary>The fewest banks a round of the session of <paramref name="federation"/> needs, as the appliance counts them
    /// (SPEC.md 14.5, "Rounds and deadlines"): max(T, K_min) in homomorphic mode (12.3), M in masking mode (11.1, its default
    /// resolved as the appliance resolves it).</summary>
    internal static int RoundMinimum(FederationSettings federation) => federation.IsHomomorphic
        ? Math.Max(federation.He!.Threshold, federation.He.MinContributors)
        : federation.BuildMaskingParameters(new byte[FraudFed.Protocol.Masking.MaskingParameters.SessionIdSize]).MinimumSurvivors;

    /// <summary>What init says of a 2-bank kit: it runs (he: c = 0, T = K_min = 2, SPEC.md 12.3; masking: t = 2), but the sum
    /// of two banks hides neither bank's values from the other, and every round needs both banks.</summary>
    internal const string TwoBankNote = "note: with 2 banks every sum needs both banks (no bank may drop out of a round), and each bank can subtract its own "
        + "values from the sum and read the other's: the secure sum hides them from the aggregator only; use 3 or more banks to keep each bank's values private.";

    private static Command BuildServe()
    {
        var config = new Option<string>("--config") { Description = "aggregator.json (see `aggregator init`).", Required = true };
        var cmd = new Command("serve", "Run the appliance until SIGTERM or Ctrl+C: gRPC over mutual TLS, state in SQLite, /metrics and /healthz on the operations address.");
        cmd.Options.Add(config);
        cmd.SetAction(pr => CliErrors.Guard("aggregator serve", pr.InvocationConfiguration.Error, () =>
        {
            using LoadedAggregatorConfig loaded = AggregatorConfig.Load(pr.GetValue(config)!);
            // Both addresses are checked before the state file is opened or a session is created, so a busy port is one
            // line naming that port and leaves nothing behind (a port taken between this probe and the bind still fails cleanly).
            string configPath = pr.GetValue(config)!;
            EnsureFree("listen", loaded.Listen, configPath);
            if (loaded.Ops is not null) EnsureFree("ops_listen", loaded.Ops, configPath);
            ApplianceHost host;
            try { host = ApplianceHost.Create(loaded); }
            catch (InvalidDataException e) { throw new UsageException(e.Message); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The configured state path cannot be created or opened (a file where its directory should be, no permission):
                // a configuration error like the others, exit 2.
                throw new UsageException($"state {loaded.StatePath} cannot be created or opened ({e.Message}); point state in the configuration at a writable path");
            }
            // SIGINT and SIGTERM cancel the token (CliInterrupt): the host then stops gracefully (in-flight calls get their grace
            // period; every accepted message is already durable) and serve reports one line and exit 0; a further signal while it
            // stops is absorbed (no "cancelled.").
            using IDisposable listening = CliInterrupt.Listen(stopsGracefully: true);
            try
            {
                TextWriter stderr = pr.InvocationConfiguration.Error;
                host.RunAsync(addresses => stderr.WriteLine(ListeningLine(addresses)), CliInterrupt.Token).GetAwaiter().GetResult();
            }
            catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
            {
                // Taken between the probe and the bind: a failed run (exit 1, README), in the same words as the probe's.
                throw new InvalidOperationException($"cannot listen: {e.Message.TrimEnd('.')}; {Busy(configPath)}", e);
            }
            catch (IOException e) { throw new InvalidOperationException($"cannot listen: {e.Message}", e); }
            finally { host.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            pr.InvocationConfiguration.Error.WriteLine("fraudfed aggregator serve: stopped.");
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>The line serve prints on stderr once its ports are bound: "fraudfed aggregator serve: listening on
    /// https://127.0.0.1:7443 (banks), http://127.0.0.1:9464 (health, metrics)" (the ops part only when configured).</summary>
    internal static string ListeningLine(IReadOnlyList<Uri> addresses)
    {
        static string Of(Uri u) => $"{u.Scheme}://{u.Authority}";
        var parts = addresses.Where(a => a.Scheme == Uri.UriSchemeHttps).Select(a => $"{Of(a)} (banks)")
            .Concat(addresses.Where(a => a.Scheme == Uri.UriSchemeHttp).Select(a => $"{Of(a)} (health, metrics)"));
        return $"fraudfed aggregator serve: listening on {string.Join(", ", parts)}";
    }

    /// <summary>Throws <see cref="UsageException"/> when <paramref name="endpoint"/> cannot be bound (in use, or not an address of
    /// this host); the message names the configuration key <paramref name="name"/> of <paramref name="configPath"/> that sets it.</summary>
    private static void EnsureFree(string name, System.Net.IPEndPoint endpoint, string configPath)
    {
        if (endpoint.Port == 0) return;
        var probe = new System.Net.Sockets.TcpListener(endpoint);
        try { probe.Start(); }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            throw new UsageException($"{name} {endpoint} is already in use: {Busy(configPath)}, or set \"{name}\" in {configPath} "
                + $"(--{name.Replace('_', '-')} of aggregator init) to a free port.");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new UsageException($"{name} {endpoint} cannot be bound ({e.SocketErrorCode}): set \"{name}\" in {configPath} to an address of this host (such as 127.0.0.1:{endpoint.Port}).");
        }
        finally { probe.Stop(); }
    }

    /// <summary>What probably holds a busy port, and the first thing to do about it.</summary>
    private static string Busy(string configPath) =>
        $"another `fraudfed aggregator serve` (perhaps of the same {Path.GetFileName(configPath)}) or another program is probably listening on that port; stop it";
}

/// <summary>`fraudfed bank sum|train`: one bank's contribution to one secure sum, or its side of the training job, for operators and scripts.</summary>
internal sealed class BankCommands : ICliSubcommands
{
    public string Group => "bank";
    public string GroupDescription => "One bank against the aggregator appliance.";

    public IEnumerable<Command> BuildSubcommands() => [BuildSum(), BuildTrain()];

    private static Command BuildSum()
    {
        var config = new Option<string>("--config") { Description = "bank.json (see `aggregator init`).", Required = true };
        var values = new Option<string>("--values") { Description = "File of unsigned integers (one per line, or separated by commas or spaces).", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (round, contributors, sum) as the last line." };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds.", DefaultValueFactory = _ => 600 };
        var retryBudget = RetryBudgetOption();
        var cmd = new Command("sum", "Join the appliance's session (once) and contribute one vector to the next secure sum; prints the sum.");
        foreach (Option o in new Option[] { config, values, json, timeout, retryBudget }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bank sum", pr.InvocationConfiguration.Error, () =>
        {
            double seconds = pr.GetValue(timeout);
            if (seconds is <= 0 or > 86_400) throw new UsageException($"--timeout must be in (0, 86400] seconds (got {seconds}).");
            TimeSpan budget = RetryBudget(pr.GetValue(retryBudget), seconds);
            using LoadedBankConfig bank = BankConfig.Load(pr.GetValue(config)!);
            CheckStateDirectory(bank);
            ulong[] vector = ReadValues(pr.GetValue(values)!, bank.Config.Federation);
            using IDisposable listening = CliInterrupt.Listen();
            using CancellationTokenSource cts = CliInterrupt.WithTimeout(TimeSpan.FromSeconds(seconds));
            FederatedSum result;
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
            var retries = new RetryReporter(pr.InvocationConfiguration.Error, bank.Config.Bank, bank.Aggregator, deadline);
            using var waits = new WaitReporter(pr.InvocationConfiguration.Error, bank.Config.Bank, deadline);
            FederationClient client = FederationClient.Create(bank, ClientOptions(budget, waits, bank, retries));
            try
            {
                // Progress in the order it happens (SessionProgress): joining, the session setup with the other banks, setup done
                // here, and "contributing" only once a round opened and this bank's input goes into it.
                pr.InvocationConfiguration.Error.WriteLine($"bank {bank.Config.Bank}: joining the session at {bank.Aggregator} ...");
                client.ConnectAsync(cts.Token).GetAwaiter().GetResult();
                result = client.SumAsync(vector, cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (CliInterrupt.TimedOut(cts))
            {
                throw new TimeoutException(retries.StillUnreachable()
                    ?? $"no sum within --timeout {seconds} s; check that the appliance runs and that the other banks contribute.");
            }
            finally
            {
                waits.Dispose();
                client.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            TextWriter stdout = pr.InvocationConfiguration.Output;
            if (pr.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new { round = result.Round, contributors = result.Contributors, sum = result.Sum }));
            else
                foreach (ulong v in result.Sum) stdout.WriteLine(v.ToString(CultureInfo.InvariantCulture));
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>`fraudfed bank train`: this bank's side of the appliance's training job (SPEC.md 14.5) from its own CSV file.</summary>
    private static Command BuildTrain()
    {
        var config = new Option<string>("--config") { Description = "bank.json (see `aggregator init`).", Required = true };
        var data = new Option<string>("--data") { Description = "This bank's CSV file (all rows are training rows).", Required = true };
        var schema = new Option<string?>("--schema", "--preset") { Description = "Column roles of --data: ulb, paysim, ieee-cis, or a JSON schema file (see README, \"Your own data\")." };
        var label = new Option<string?>("--label") { Description = "Label column (0/1 or true/false); overrides the schema's." };
        var categoryKey = new Option<string?>("--category-key") { Description = "File with the consortium key for category hashing (at least 32 bytes, raw or hex); default a public salt." };
        var output = new Option<string>("--out") { Description = "Directory for model.txt (GBDT, LightGBM text) or model.json (logistic) and summary.json; written only when training succeeds.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (model, sums, bytes, wall_s) as the last line." };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds.", DefaultValueFactory = _ => 86_400 };
        var progressJson = new Option<bool>("--progress-json") { Description = "Report progress as JSON lines on stdout, one per secure sum (stage, step, total_steps, level: the sum's; sums; bytes_uploaded, bytes_downloaded: the sums' protocol messages since the key setup; wire_bytes_uploaded, wire_bytes_downloaded: all this client sent and read; elapsed_s) instead of text on stderr, for a supervising program." };
        var exactModel = new Option<bool>("--exact-model") { Description = $"Also write {ExactModelFile.FileName}: every field of the model bit for bit (simulate --transport grpc compares it with its plain-sum model)." };
        var stdinLifeline = new Option<bool>("--exit-on-stdin-close") { Description = "Stop (exit 1) when standard input closes: a supervising program that dies takes this bank process with it." };
        var retryBudget = RetryBudgetOption();
        var cmd = new Command("train", "Train the appliance's federated model from this bank's CSV file; every bank of the roster trains at the same time.");
        foreach (Option o in new Option[] { config, data, schema, label, categoryKey, output, json, timeout, progressJson, exactModel, stdinLifeline, retryBudget }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bank train", pr.InvocationConfiguration.Error, () =>
        {
            TextWriter stderr = pr.InvocationConfiguration.Error;
            Sdk.Diagnostics.HopTrace.Mark(-3, "b.main");
            double seconds = pr.GetValue(timeout);
            if (seconds is <= 0 or > 7 * 86_400) throw new UsageException($"--timeout must be in (0, 604800] seconds (got {seconds}).");
            TimeSpan budget = RetryBudget(pr.GetValue(retryBudget), seconds);
            string dataPath = pr.GetValue(data)!;
            SimulateCommand.CheckReadable(dataPath, "--data");
            if (pr.GetValue(schema) is null && pr.GetValue(label) is null) throw new UsageException("--data needs a --schema (ulb, paysim, ieee-cis or a JSON schema file) or at least a --label column.");
            Learning.Data.CsvSchema csvSchema = SimulateCommand.ResolveSchema(new SimulateCommand.CsvSettings(dataPath, pr.GetValue(schema), pr.GetValue(label)));
            Learning.Data.CsvDatasetLoader.CheckHeader(dataPath, csvSchema);
            byte[]? key = pr.GetValue(categoryKey) is { } keyFile ? SimulateCommand.ReadConsortiumKey(keyFile) : null;
            using LoadedBankConfig bank = BankConfig.Load(pr.GetValue(config)!);
            CheckStateDirectory(bank);
            using StagedOutput staged = StagedOutput.Prepare(pr.GetValue(output)!);
            using IDisposable listening = CliInterrupt.Listen();
            using CancellationTokenSource cts = CliInterrupt.WithTimeout(TimeSpan.FromSeconds(seconds));
            if (pr.GetValue(stdinLifeline)) SupervisorLifeline.Watch(cts, stderr, $"bank {bank.Config.Bank}");
            bool jsonProgress = pr.GetValue(progressJson);
            TextWriter stdout = pr.InvocationConfiguration.Output;
            using Learning.Data.CategoryEncoder encoder = key is null ? Learning.Data.CategoryEncoder.Public() : Learning.Data.CategoryEncoder.Keyed(key);
            if (key is not null) System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
            stderr.WriteLine($"bank {bank.Config.Bank}: joining the session at {bank.Aggregator} while loading {dataPath} ...");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainedModel model;
            SumBytes? bytes = null;
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
            var retries = new RetryReporter(stderr, bank.Config.Bank, bank.Aggregator, deadline);
            using var waits = new WaitReporter(stderr, bank.Config.Bank, deadline);
            FederationClient client = FederationClient.Create(bank, ClientOptions(budget, waits, bank, retries, perRound: false));
            // The session setup (key generation with the other banks, SPEC.md 12.0) needs no rows: it runs while the rows load
            // (the header was checked above). A row that fails to load stops the bank after it joined, as a bank stopped
            // mid-session (README, "simulate --transport grpc").
            using CancellationTokenSource joining = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
            Task connected = client.ConnectAsync(joining.Token);
            try
            {
                Learning.Data.LabeledRows rows;
                try { rows = Learning.Data.CsvDatasetLoader.Load(dataPath, csvSchema, encoder, cts.Token).Rows; }
                catch
                {
                    joining.Cancel();
                    connected.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing).GetAwaiter().GetResult();
                    throw;
                }
                Sdk.Diagnostics.HopTrace.Mark(bank.Config.Bank, "b.rows", rows.Rows);
                waits.WriteLine($"bank {bank.Config.Bank}: {rows.Rows:N0} rows of {dataPath}.");
                connected.GetAwaiter().GetResult();
                // The sums' protocol bytes are counted from here: the session setup (key generation) is done.
                var counted = new SumBytes(client);
                bytes = counted;
                DateTime last = default;
                int reportedSums = 0;
                var progress = new InlineProgress(p =>
                {
                    // One report per secure sum, naming that sum's tree, round and level as the in-process run does: a broadcast
                    // that asks for no sum (a tree's last level when every node became a leaf, the tree's result) is not reported.
                    waits.Stop();   // the training runs: no longer waiting for the other banks
                    if (p.Sums == reportedSums) return;
                    reportedSums = p.Sums;
                    if (!jsonProgress && DateTime.UtcNow - last < TimeSpan.FromSeconds(1)) return;
                    last = DateTime.UtcNow;
                    if (jsonProgress) { WriteProgressJson(stdout, p, counted); return; }
                    stderr.WriteLine($"bank {bank.Config.Bank}: {p.Stage} {p.Step}/{p.TotalSteps}{(p.Level >= 0 ? $" level {p.Level}" : "")}, {p.Sums} sums, {counted.Uploaded / 1e6:0.0} MB up, {counted.Downloaded / 1e6:0.0} MB down");
                });
                model = client.TrainAsync(rows, progress, cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (CliInterrupt.TimedOut(cts))
            {
                throw new TimeoutException(retries.StillUnreachable() ?? $"training did not finish within --timeout {seconds} s.");
            }
            finally
            {
                waits.Dispose();
                client.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            double wall = clock.Elapsed.TotalSeconds;
            SumBytes sent = bytes!;   // set once connected, before the model
            if (pr.GetValue(exactModel)) File.WriteAllBytes(staged.Stage(ExactModelFile.FileName), ExactModelFile.Serialize((object?)model.Gbdt ?? model.Logistic!));
            if (model.Gbdt is not null) File.WriteAllText(staged.Stage("model.txt"), model.ToLightGbmText());
            else
                File.WriteAllText(staged.Stage("model.json"), JsonSerializer.Serialize(new
                {
                    feature_names = model.Logistic!.FeatureNames, mean = model.Logistic.Mean, std = model.Logistic.Std,
                    weights = model.Logistic.Weights, weight_scale_bits = model.Logistic.WeightScaleBits,
                }, new JsonSerializerOptions { WriteIndented = true }));
            string summary = JsonSerializer.Serialize(new
            {
                bank = bank.Config.Bank, model = model.Settings.Model, modulus_bits = model.Settings.ModulusBits, broadcasts = model.Broadcasts,
                sums = model.Sums, values = model.Values, bytes_uploaded = sent.Uploaded, bytes_downloaded = sent.Downloaded,
                wire_bytes_uploaded = client.BytesUploaded, wire_bytes_downloaded = client.BytesDownloaded, wall_s = Math.Round(wall, 3),
            });
            File.WriteAllText(staged.Stage("summary.json"), summary + Environment.NewLine);
            IReadOnlyDictionary<string, string> written = staged.Commit(["model.txt", "model.json", ExactModelFile.FileName, "summary.json"]);
            if (jsonProgress)
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    stage = "done", sums = model.Sums, bytes_uploaded = sent.Uploaded, bytes_downloaded = sent.Downloaded,
                    wire_bytes_uploaded = client.BytesUploaded, wire_bytes_downloaded = client.BytesDownloaded, elapsed_s = Math.Round(wall, 3),
                }));
            foreach (string path in written.Values.Order(StringComparer.Ordinal)) stdout.WriteLine($"wrote {path}");
            if (pr.GetValue(json)) stdout.WriteLine(summary);
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>The state directory's checks, before any network work: a refusal is an input error (exit 2), one line naming the
    /// path and the fix (SPEC.md 14.6, 14.7).</summary>
    private static void CheckStateDirectory(LoadedBankConfig bank)
    {
        try { FederationClient.CheckStateDirectory(bank); }
        catch (FraudFed.Sdk.State.StateFileException e) { throw new UsageException(e.Message); }
    }

    /// <summary>--retry-budget of `bank sum|train`.</summary>
    private static Option<double?> RetryBudgetOption() => new("--retry-budget")
    {
        Description = "Keep retrying an unreachable appliance (e.g. while it restarts) for this many seconds per call; default: --timeout, which always ends the run.",
    };

    /// <summary>The checked retry budget: --retry-budget, or the whole --timeout when it is not given.</summary>
    private static TimeSpan RetryBudget(double? retrySeconds, double timeoutSeconds)
    {
        if (retrySeconds is double r && (double.IsNaN(r) || r < 0 || r > timeoutSeconds))
            throw new UsageException($"--retry-budget must be in [0, --timeout] seconds (got {r}, --timeout {timeoutSeconds}).");
        return TimeSpan.FromSeconds(retrySeconds ?? timeoutSeconds);
    }

    /// <summary>Client options of a CLI bank: the retry budget, the retries told to <paramref name="retries"/> (a line at the first
    /// failure, then at most one a minute), and where the session stands (<see cref="SessionLine"/>; with <paramref name="perRound"/>
    /// false, as in training's hundreds of sums, setup lines only);
    /// <paramref name="waits"/> prints the waits for the other banks: after asking for a round (<see cref="SessionProgress.Waiting"/>),
    /// and in training (no <paramref name="perRound"/>) after this bank's setup, until the next line of progress.</summary>
    private static FederationClientOptions ClientOptions(TimeSpan retryBudget, WaitReporter waits, LoadedBankConfig config, RetryReporter retries, bool perRound = true)
    {
        bool setupRan = false;   // a Ready without a Setup before it: the party was resumed from the state directory
        int bank = config.Config.Bank;
        FederationSettings f = config.Config.Federation;
        return new()
        {
            RetryBudget = retryBudget,
            RetryProgress = new InlineRetryProgress(retries.Report),
            SessionProgress = new InlineSessionProgress(p =>
            {
                if (p.Stage == SessionProgress.Setup) setupRan = true;
                if (p.Stage == SessionProgress.Waiting)
                {
                    if (perRound) waits.Start(WaitingLine(p, f, waits.Until), AggregatorCommands.StillWaitingForRound(p.Round));
                    return;
                }
                waits.Stop();
                if (perRound || p.Stage != SessionProgress.Contributing) waits.WriteLine(SessionLine(bank, p, setupRan));
                if (!perRound && p.Stage == SessionProgress.Ready)
                    waits.Start($"waiting for the other banks: the training job starts once all {f.Banks} banks of the roster have finished their key setup, "
                        + $"and every sum needs every bank; this bank waits until {waits.Until} (--timeout) ...",
                        "waiting for the other banks to finish their key setup and join the training");
            }),
        };
    }

    /// <summary>The line of a bank that asked for a round: what it waits for (the other banks' requests), how many banks a round
    /// needs (<see cref="AggregatorCommands.RoundMinimum"/>, from bank.json's federation block), and until when (--timeout).</summary>
    internal static string WaitingLine(SessionProgress p, FederationSettings f, string until)
    {
        int needed = AggregatorCommands.RoundMinimum(f);
        string needs = needed >= f.Banks ? (f.Banks == 2 ? "both banks" : $"all {f.Banks} banks") : $"at least {needed} of the {f.Banks} banks";
        return $"asked for round {p.Round} ({Plural.Of(p.Values, "value")}); waiting for the other banks to ask: a round needs {needs}, and the "
            + "appliance opens it once every bank asked, or at its join deadline (deadlines.join_seconds in aggregator.json) with enough of them; "
            + $"this bank waits until {until} (--timeout) ...";
    }

    /// <summary>The stderr line of a session progress report: "bank 2: key setup with the other banks ...", "bank 2: key setup
    /// done at this bank (the session is ready once every bank is; no round opens before) ...", or for a party resumed from its
    /// state directory (no setup ran in this process, <paramref name="setupRan"/> false) "bank 2: resumed this bank's saved
    /// session state (no key setup needed) ...", then "bank 2: contributing 1000 values to round 1 ...".</summary>
    internal static string SessionLine(int bank, SessionProgress p, bool setupRan = true) => p.Stage switch
    {
        SessionProgress.Setup => $"bank {bank}: key setup with the other banks (waits until every bank of the roster has joined) ...",
        SessionProgress.Ready when setupRan => $"bank {bank}: key setup done at this bank (the session is ready once every bank is; no round opens before) ...",
        SessionProgress.Ready => $"bank {bank}: resumed this bank's saved session state (no key setup needed) ...",
        _ => $"bank {bank}: contributing {Plural.Of(p.Values, "value")} to round {p.Round} ...",
    };

    /// <summary>IProgress of session progress that reports on the client's thread.</summary>
    private sealed class InlineSessionProgress(Action<SessionProgress> report) : IProgress<SessionProgress>
    {
        public void Report(SessionProgress value) => report(value);
    }

    /// <summary>IProgress of retries that reports on the retrying thread.</summary>
    private sealed class InlineRetryProgress(Action<ConnectionRetry> report) : IProgress<ConnectionRetry>
    {
        public void Report(ConnectionRetry value) => report(value);
    }

    /// <summary>One progress line of `bank train --progress-json`: the fields of <see cref="TrainingProgress"/> in snake_case, with
    /// bytes_uploaded and bytes_downloaded the protocol bytes of the sums so far (<see cref="SumBytes"/>, what `simulate
    /// --transport inproc` counts), and wire_bytes_uploaded and wire_bytes_downloaded everything this client sent and read.</summary>
    private static void WriteProgressJson(TextWriter stdout, TrainingProgress p, SumBytes bytes) =>
        stdout.WriteLine(JsonSerializer.Serialize(new
        {
            stage = p.Stage, step = p.Step, total_steps = p.TotalSteps, level = p.Level, sums = p.Sums,
            bytes_uploaded = bytes.Uploaded, bytes_downloaded = bytes.Downloaded,
            wire_bytes_uploaded = p.BytesUploaded, wire_bytes_downloaded = p.BytesDownloaded, elapsed_s = Math.Round(p.Elapsed.TotalSeconds, 3),
        }));

    /// <summary>The protocol bytes of a bank's secure sums since the session setup, as the in-process secure sums count them per sum:
    /// up, the bank's messages (every Submit); down, the aggregator's protocol messages read (the payloads of mailbox
    /// <c>message</c> items) and each masking sum (<see cref="FederationClient.ProtocolBytesDownloaded"/>). Left out, and in
    /// <see cref="FederationClient.BytesUploaded"/> / <see cref="FederationClient.BytesDownloaded"/> only: the key setup's
    /// messages, mailbox item envelopes, the training job and its broadcasts, masking round openings.</summary>
    private sealed class SumBytes(FederationClient client)
    {
        private readonly long _up = client.BytesUploaded, _down = client.ProtocolBytesDownloaded;

        /// <summary>Bytes of this bank's messages since the setup.</summary>
        public long Uploaded => client.BytesUploaded - _up;
        /// <summary>Bytes of the aggregator's protocol messages to this bank since the setup.</summary>
        public long Downloaded => client.ProtocolBytesDownloaded - _down;
    }

    /// <summary>IProgress that reports on the reporting thread.</summary>
    private sealed class InlineProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    /// <summary>Reads and range-checks the values before any connection is made.</summary>
    internal static ulong[] ReadValues(string path, FederationSettings federation)
    {
        if (!File.Exists(path)) throw new UsageException($"--values '{path}': no such file.");
        int bits = federation.IsHomomorphic ? 44 : federation.Masking!.ModulusBits;
        ulong max = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        var list = new List<ulong>();
        int line = 0;
        // File.ReadLines drops the one line break that ends the file, so only a line that holds nothing is an empty line:
        // refused anywhere (between two values, or a blank line at the end), as an empty item between two commas is.
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
                throw new UsageException($"--values '{path}' line {line}, column 1: the line is empty (a value is missing); give one unsigned integer per line, or remove the empty line.");
            string[] items = text.Split([',', ';']);
            int column = 1;
            for (int i = 0; i < items.Length; column += items[i].Length + 1, i++)
                if (items[i].Trim().Length == 0)
                    throw new UsageException($"--values '{path}' line {line}, column {column + items[i].Length}: item {i + 1} of the line is empty (as in '1,,2' or a trailing comma); give one unsigned integer between every two separators.");
            // Items are numbered within the line as they stand, whatever separates them (commas, semicolons, spaces).
            int position = 0;
            foreach (string token in items.SelectMany(item => item.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                position++;
                // Built only for a refusal: a values file holds up to 2^27 values.
                string Where() => $"--values '{path}' line {line}, item {position}";
                if (!ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v))
                {
                    // All digits yet no ulong: 2^64 or more, a value too large rather than a malformed one.
                    if (token.AsSpan().ContainsAnyExceptInRange('0', '9'))
                        throw new UsageException($"{Where()}: '{(token.Length <= 40 ? token : token[..37] + "...")}' is not an unsigned integer; give whole numbers from 0 to 2^{bits} - 1 " +
                            "(quantize real or negative values first).");
                    throw new UsageException($"{Where()}: {Shorten(token)} is too large: values must be below 2^{bits}, {ModulusOrigin(federation)}; quantize the values first.");
                }
                if (v > max) throw new UsageException($"{Where()}: {v} is too large (it is not below 2^{bits}): values must be below 2^{bits}, {ModulusOrigin(federation)}; quantize the values first.");
                list.Add(v);
            }
        }
        if (list.Count == 0) throw new UsageException($"--values '{path}' holds no values.");
        if (list.Count > 1 << 27) throw new UsageException($"--values '{path}' holds {list.Count} values; at most 2^27 per round.");
        return [.. list];
    }

    /// <summary>Where the bound on values comes from, for the messages of <see cref="ReadValues"/>.</summary>
    private static string ModulusOrigin(FederationSettings federation) => federation.IsHomomorphic
        ? "the plaintext modulus t of this session's homomorphic parameters"
        : "k = federation.masking.modulus_bits of bank.json";

    /// <summary>A long token cut to its first and last digits, so that one line of error stays one line.</summary>
    private static string Shorten(string token) => token.Length <= 40 ? token : $"{token[..16]}...{token[^16..]} ({token.Length} digits)";
}
