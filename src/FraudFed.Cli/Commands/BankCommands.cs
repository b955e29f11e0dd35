// `fraudfed bank sum|train`: one bank's side of a secure sum or of the training job, for operators and scripts (SPEC.md
// 14.5, README "Operating the appliance"). Every option and every file is checked before any work (exit 2, one line naming
// the option or file and the fix); a run that fails is exit 1; no stack trace reaches the user. Also compiled into the
// native bank program (src/FraudFed.BankHost), so this file uses nothing of the appliance's, the baselines' or simulate's.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Cli.Commands;

/// <summary>`fraudfed bank sum|train`: one bank's contribution to one secure sum, or its side of the training job, for operators and scripts.</summary>
internal sealed class BankCommands : ICliSubcommands
{
    /// <summary>What a bank's "still" line says while its round has not opened; <see cref="WaitReporter"/> adds one parenthesis
    /// (time so far, --timeout), so this has none.</summary>
    internal static string StillWaitingForRound(ulong round) => $"waiting for round {round} to open: the other banks have not all asked yet";

    /// <summary>The fewest banks a round of the session of <paramref name="federation"/> needs, as the appliance counts them
    /// (SPEC.md 14.5, "Rounds and deadlines"): max(T, K_min) in homomorphic mode (12.3), M in masking mode (11.1, its default
    /// resolved as the appliance resolves it).</summary>
    internal static int RoundMinimum(FederationSettings federation) => federation.IsHomomorphic
        ? Math.Max(federation.He!.Threshold, federation.He.MinContributors)
        : federation.BuildMaskingParameters(new byte[FraudFed.Protocol.Masking.MaskingParameters.SessionIdSize]).MinimumSurvivors;

    public string Group => "bank";
    public string GroupDescription => "One bank against the aggregator appliance.";

    public IEnumerable<Command> BuildSubcommands() => [BuildSum(), BuildTrain()];

    private static Command BuildSum()
    {
        var config = new Option<string>("--config") { Description = "bank.json (see `aggregator init`).", Required = true };
        var values = new Option<string>("--values") { Description = "File of unsigned integers (one per line, or separated by commas or spaces).", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (round, contributors, sum) as the last line." };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds (0.001 to 86400).", DefaultValueFactory = _ => 600 }.Accepting(NumberOptions.Seconds);
        var retryBudget = RetryBudgetOption();
        var grpcOnly = GrpcOnlyOption();
        var cmd = new Command("sum", "Join the appliance's session (once) and contribute one vector to the next secure sum; prints the sum.");
        foreach (Option o in new Option[] { config, values, json, timeout, retryBudget, grpcOnly }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bank sum", pr.InvocationConfiguration.Error, () =>
        {
            double seconds = NumberOptions.RequireSeconds(pr, timeout);   // the value as typed when refused
            TimeSpan budget = RetryBudget(pr, retryBudget, timeout, seconds);
            using LoadedBankConfig bank = BankConfig.Load(pr.GetValue(config)!);
            CheckStateDirectory(bank);
            ulong[] vector = ReadValues(pr.GetValue(values)!, bank.Config.Federation);
            using IDisposable listening = CliInterrupt.Listen();
            using CancellationTokenSource cts = CliInterrupt.WithTimeout(TimeSpan.FromSeconds(seconds));
            FederatedSum result;
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
            var retries = new RetryReporter(pr.InvocationConfiguration.Error, bank.Config.Bank, bank.Aggregator, deadline);
            using var waits = new WaitReporter(pr.InvocationConfiguration.Error, bank.Config.Bank, deadline);
            FederationClient client = FederationClient.Create(bank, ClientOptions(budget, waits, bank, retries) with { BulkChannel = !pr.GetValue(grpcOnly) });
            try
            {
                // Progress in the order it happens (SessionProgress): joining, the session setup with the other banks, setup done
                // here, and "contributing" only once a round opened and this bank's input goes into it.
                pr.InvocationConfiguration.Error.WriteLine($"bank {bank.Config.Bank}: joining the session at {ErrorLine.Value(bank.Aggregator.ToString())} ...");
                client.ConnectAsync(cts.Token).GetAwaiter().GetResult();
                result = client.SumAsync(vector, cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (CliInterrupt.TimedOut(cts))
            {
                throw new TimeoutException(retries.StillUnreachable()
                    ?? $"no sum within --timeout {seconds} s; check that the appliance runs and that the other banks contribute.");
            }
            catch (ApplianceUnreachableException e)
            {
                // The retry budget ended the run: the same words as when --timeout does (RetryReporter), not the transport's text.
                throw new FederationException(retries.Unreachable(e), e);
            }
            finally
            {
                waits.Dispose();
                client.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            TextWriter stdout = pr.InvocationConfiguration.Output;
            if (pr.GetValue(json))
                stdout.WriteLine(new JsonObject { ["round"] = result.Round, ["contributors"] = JsonList(result.Contributors.Select(c => (JsonNode?)c)), ["sum"] = JsonList(result.Sum.Select(v => (JsonNode?)v)) }.ToJsonString());
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
        var data = new Option<string>("--data") { Description = "This bank's CSV file (all rows are training rows; a file, not a pipe or standard input).", Required = true };
        var schema = new Option<string?>("--schema", "--preset") { Description = "Column roles of --data: ulb, paysim, ieee-cis, or a JSON schema file (see README, \"Your own data\")." };
        var label = new Option<string?>("--label") { Description = "Label column (0/1 or true/false); overrides the schema's." };
        var ids = new Option<string[]>("--id-columns") { Description = "Identifier columns to drop (comma-separated); replace the schema's." };
        var categoryKey = new Option<string?>("--category-key") { Description = "File with the consortium key for category hashing (at least 32 bytes, raw or hex); default a public salt." };
        var output = new Option<string>("--out") { Description = "Directory for model.txt (GBDT, LightGBM text) or model.json (logistic) and summary.json; written only when training succeeds.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (model, sums, bytes, wall_s) as the last line." };
        var timeout = new Option<double>("--timeout") { Description = "Give up after this many seconds (0.001 to 604800).", DefaultValueFactory = _ => 86_400 }.Accepting(NumberOptions.Seconds);
        var progressJson = new Option<bool>("--progress-json") { Description = "Report progress as JSON lines on stdout, one per secure sum (stage, step, total_steps, level: the sum's; sums; bytes_uploaded, bytes_downloaded: the sums' protocol messages since the key setup; wire_bytes_uploaded, wire_bytes_downloaded: all this client sent and read; elapsed_s) instead of text on stderr, for a supervising program." };
        var exactModel = new Option<bool>("--exact-model") { Description = $"Also write {ExactModelFile.FileName}: every field of the model bit for bit (simulate --transport grpc compares it with its plain-sum model)." };
        var stdinLifeline = new Option<bool>("--exit-on-stdin-close") { Description = "Stop (exit 1) when standard input closes: a supervising program that dies takes this bank process with it." };
        var retryBudget = RetryBudgetOption();
        var cmd = new Command("train", "Train the appliance's federated model from this bank's CSV file; every bank of the roster trains at the same time.");
        var grpcOnly = GrpcOnlyOption();
        foreach (Option o in new Option[] { config, data, schema, label, ids, categoryKey, output, json, timeout, progressJson, exactModel, stdinLifeline, retryBudget, grpcOnly }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("bank train", pr.InvocationConfiguration.Error, () =>
        {
            TextWriter stderr = pr.InvocationConfiguration.Error;
            Sdk.Diagnostics.HopTrace.Mark(-3, "b.main");
            double seconds = NumberOptions.RequireSeconds(pr, timeout, 7 * 86_400);
            TimeSpan budget = RetryBudget(pr, retryBudget, timeout, seconds);
            string dataPath = pr.GetValue(data)!;
            CsvInput.CheckCsvFile(dataPath, "--data");
            if (pr.GetValue(schema) is null && pr.GetValue(label) is null) throw new UsageException("--data needs a --schema (ulb, paysim, ieee-cis or a JSON schema file) or at least a --label column.");
            Learning.Data.CsvSchema csvSchema = CsvInput.ResolveSchema(new CsvSettings(dataPath, pr.GetValue(schema), pr.GetValue(label), IdColumns: CsvInput.Columns("--id-columns", pr.GetValue(ids))));
            Learning.Data.CsvDatasetLoader.CheckHeader(dataPath, csvSchema);
            byte[]? key = pr.GetValue(categoryKey) is { } keyFile ? CsvInput.ReadConsortiumKey(keyFile) : null;
            using LoadedBankConfig bank = BankConfig.Load(pr.GetValue(config)!);
            CheckStateDirectory(bank);
            using StagedOutput staged = StagedOutput.Prepare(pr.GetValue(output)!);
            if (staged.RemovedLine("bank train") is { } removed) stderr.WriteLine(removed);   // a killed run's staging directory
            using IDisposable listening = CliInterrupt.Listen();
            using CancellationTokenSource cts = CliInterrupt.WithTimeout(TimeSpan.FromSeconds(seconds));
            if (pr.GetValue(stdinLifeline)) SupervisorLifeline.Watch(cts, stderr, $"bank {bank.Config.Bank}");
            bool jsonProgress = pr.GetValue(progressJson);
            TextWriter stdout = pr.InvocationConfiguration.Output;
            using Learning.Data.CategoryEncoder encoder = key is null ? Learning.Data.CategoryEncoder.Public() : Learning.Data.CategoryEncoder.Keyed(key);
            if (key is not null) System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
            stderr.WriteLine($"bank {bank.Config.Bank}: joining the session at {ErrorLine.Value(bank.Aggregator.ToString())} while loading {ErrorLine.Value(dataPath)} ...");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainedModel model;
            SumBytes? bytes = null;
            DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
            var retries = new RetryReporter(stderr, bank.Config.Bank, bank.Aggregator, deadline);
            using var waits = new WaitReporter(stderr, bank.Config.Bank, deadline);
            FederationClient client = FederationClient.Create(bank, ClientOptions(budget, waits, bank, retries, perRound: false) with { BulkChannel = !pr.GetValue(grpcOnly) });
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
                waits.WriteLine($"bank {bank.Config.Bank}: {rows.Rows:N0} rows of {ErrorLine.Value(dataPath)}.");
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
            catch (ApplianceUnreachableException e)
            {
                throw new FederationException(retries.Unreachable(e), e);
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
                File.WriteAllText(staged.Stage("model.json"), new JsonObject
                {
                    ["feature_names"] = JsonList(model.Logistic!.FeatureNames.Select(n => (JsonNode?)n)), ["mean"] = JsonList(model.Logistic.Mean.Select(v => (JsonNode?)v)),
                    ["std"] = JsonList(model.Logistic.Std.Select(v => (JsonNode?)v)), ["weights"] = JsonList(model.Logistic.Weights.Select(v => (JsonNode?)v)),
                    ["weight_scale_bits"] = model.Logistic.WeightScaleBits,
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            string summary = new JsonObject
            {
                ["bank"] = bank.Config.Bank, ["model"] = model.Settings.Model, ["modulus_bits"] = model.Settings.ModulusBits, ["broadcasts"] = model.Broadcasts,
                ["sums"] = model.Sums, ["values"] = model.Values, ["bytes_uploaded"] = sent.Uploaded, ["bytes_downloaded"] = sent.Downloaded,
                ["wire_bytes_uploaded"] = client.BytesUploaded, ["wire_bytes_downloaded"] = client.BytesDownloaded, ["wall_s"] = Math.Round(wall, 3),
            }.ToJsonString();
            File.WriteAllText(staged.Stage("summary.json"), summary + Environment.NewLine);
            IReadOnlyDictionary<string, string> written = staged.Commit(["model.txt", "model.json", ExactModelFile.FileName, "summary.json"]);
            if (jsonProgress)
                stdout.WriteLine(new JsonObject
                {
                    ["stage"] = "done", ["sums"] = model.Sums, ["bytes_uploaded"] = sent.Uploaded, ["bytes_downloaded"] = sent.Downloaded,
                    ["wire_bytes_uploaded"] = client.BytesUploaded, ["wire_bytes_downloaded"] = client.BytesDownloaded, ["elapsed_s"] = Math.Round(wall, 3),
                }.ToJsonString());
            foreach (string path in written.Values.Order(StringComparer.Ordinal)) stdout.WriteLine($"wrote {ErrorLine.Value(path)}");
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
    private static Option<double?> RetryBudgetOption() => new Option<double?>("--retry-budget")
    {
        Description = "Keep retrying an unreachable appliance (e.g. while it restarts) for this many seconds per call; default: --timeout, which always ends the run.",
    }.Accepting(NumberOptions.Seconds);

    /// <summary>The checked retry budget: --retry-budget, or the whole --timeout when it is not given; a refusal quotes both
    /// values as typed (99999999999999999999, not 1E+20).</summary>
    private static TimeSpan RetryBudget(ParseResult parse, Option<double?> retryBudget, Option<double> timeout, double timeoutSeconds)
    {
        double? retrySeconds = parse.GetValue(retryBudget);
        if (retrySeconds is double r && (double.IsNaN(r) || r < 0 || r > timeoutSeconds))
            throw new UsageException($"--retry-budget must be in [0, --timeout] seconds (got {NumberOptions.Typed(parse, retryBudget, r)}, "
                + $"--timeout {NumberOptions.Typed(parse, timeout, timeoutSeconds)}).");
        return TimeSpan.FromSeconds(retrySeconds ?? timeoutSeconds);
    }

    /// <summary>`--grpc-only`: every call over gRPC, the bulk channel (SPEC.md 14.8) off, e.g. behind a TLS-terminating proxy that
    /// speaks HTTP/2 only (a bank falls back to gRPC by itself when the appliance's handshake does not select the channel).</summary>
    private static Option<bool> GrpcOnlyOption() => new("--grpc-only")
    {
        Description = "Send every call over gRPC: no bulk channel (SPEC.md 14.8) for Submit and Receive. The bank falls back to gRPC by itself when the appliance does not offer the channel.",
    };

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
                    if (perRound) waits.Start(WaitingLine(p, f, waits.Until), StillWaitingForRound(p.Round));
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
    /// needs (<see cref="RoundMinimum"/>, from bank.json's federation block), and until when (--timeout).</summary>
    internal static string WaitingLine(SessionProgress p, FederationSettings f, string until)
    {
        int needed = RoundMinimum(f);
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
        stdout.WriteLine(new JsonObject
        {
            ["stage"] = p.Stage, ["step"] = p.Step, ["total_steps"] = p.TotalSteps, ["level"] = p.Level, ["sums"] = p.Sums,
            ["bytes_uploaded"] = bytes.Uploaded, ["bytes_downloaded"] = bytes.Downloaded,
            ["wire_bytes_uploaded"] = p.BytesUploaded, ["wire_bytes_downloaded"] = p.BytesDownloaded, ["elapsed_s"] = Math.Round(p.Elapsed.TotalSeconds, 3),
        }.ToJsonString());

    /// <summary>A JSON array of <paramref name="items"/> (the JSON lines are built as nodes, not by reflection: the native bank
    /// program is compiled ahead of time).</summary>
    private static JsonArray JsonList(IEnumerable<JsonNode?> items) => new([.. items]);

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
        if (Directory.Exists(path)) throw new UsageException($"--values '{path}' is a directory; give a file.");
        if (!File.Exists(path)) throw new UsageException(InputFileAccess.WhyNotThere(path) is { } why ? $"--values {why}." : $"--values '{path}': no such file.");
        // Opened here so that a file this user may not read is refused in words (the lines below are read lazily).
        try { using var _ = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException(CsvInput.CannotRead(path, "--values", e)); }
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
