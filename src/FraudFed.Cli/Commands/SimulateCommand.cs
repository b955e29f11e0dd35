// `fraudfed simulate`: the main job. Takes a synthetic multi-bank scenario (default) or a CSV file split across
// banks (--csv, with a schema: a preset ulb | paysim | ieee-cis, a JSON schema file, or --label and friends),
// trains a federated model through a secure sum (threshold HE or masking), trains the same model through plain
// sums to prove the secure result is identical, trains LightGBM local-only and centralized baselines, and reports.
// --transport grpc (the default) hosts the appliance and starts one `bank train` process per bank (ApplianceTraining);
// --transport inproc runs banks and aggregator in process (the protocol harnesses); while those train, this process trains the plain-sum
// model and the LightGBM baselines on a second thread of lower priority (ExperimentOptions.OverlapWithFederated), whose
// progress lines are shown once the federated phase's panel is done, stamped with when they happened.
// Fail before work, never after: every option, the input files and the output directory are checked first, the
// data is loaded and every bank checked (fraud to learn from) before any training; outputs are staged next to
// --out and moved into place only at the end (StagedOutput). Exit codes: 0 success, 1 a failed run (including a
// secure model that differs from the plain one), 2 a usage or input error.
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cli.Infrastructure;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Threshold;
using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Reporting;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;

namespace FraudFed.Cli.Commands;

internal sealed class SimulateCommand : ICliCommand
{
    /// <summary>k for every secure sum of the simulation: fits the HE plaintext modulus 2^44 and masking alike.</summary>
    internal const int ModulusBits = 44;
    /// <summary>Most banks a simulation runs.</summary>
    internal const int MaxBanks = 100;
    /// <summary>Most synthetic transactions (memory of one machine).</summary>
    internal const int MaxTransactions = 20_000_000;
    /// <summary>Default Dirichlet concentration of a CSV split without a bank column.</summary>
    internal const double DefaultAlpha = CsvInput.DefaultAlpha;
    /// <summary>Largest --alpha a run takes (CheckOptions).</summary>
    internal const double MaxAlpha = 1e6;
    /// <summary>Default seconds a bank process of --transport grpc may stay silent.</summary>
    internal const double DefaultBankTimeout = 300;
    /// <summary>Every file a run may write; a file of an earlier run that this run did not write is removed.</summary>
    internal static readonly string[] Outputs = ["summary.json", "report.html", "model.txt"];

    public Command Build()
    {
        var banks = new Option<int>("--banks") { Description = $"Number of banks (3..{MaxBanks}); with --csv, banks of the Dirichlet split.", DefaultValueFactory = _ => 5 }.InRange(3, MaxBanks);
        var mode = new Option<string>("--mode") { Description = "Secure-sum mode: he (threshold homomorphic) or masking (SecAgg).", DefaultValueFactory = _ => "he" };
        mode.OneOf("he", "masking");
        var model = new Option<string>("--model") { Description = "Federated model: gbdt or logistic.", DefaultValueFactory = _ => "gbdt" };
        model.OneOf("gbdt", "logistic");
        var transactions = new Option<int>("--transactions") { Description = "Transactions in the synthetic scenario (at least 1000 per bank).", DefaultValueFactory = _ => 200_000 }.InRange(1000, MaxTransactions);
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic data, or of the split of a CSV file.", DefaultValueFactory = _ => 1 }.InRange(int.MinValue, int.MaxValue);
        var output = new Option<string>("--out") { Description = "Directory for summary.json, report.html and model.txt (created if needed; written only when the run succeeds).", DefaultValueFactory = _ => Path.Combine("out", "simulate") };
        var threshold = new Option<int?>("--threshold") { Description = "Banks needed to open a sum (default about 2/3 of the banks)." }.InRange(2, MaxBanks);
        var trees = new Option<int?>("--trees") { Description = "Boosting rounds of the federated GBDT, with --model gbdt (1..10000, default 200)." }.InRange(1, 10_000);
        var rounds = new Option<int?>("--rounds") { Description = "FedAvg rounds of the federated logistic regression, with --model logistic (1..10000, default 30)." }.InRange(1, 10_000);
        var shift = new Option<int>("--campaign-shift") { Description = "Banks each fraud campaign's home moves between the training and the later test window (0: campaigns stay put; below --banks).", DefaultValueFactory = _ => 1 }.InRange(0, MaxBanks - 1);
        var json = new Option<bool>("--json") { Description = "End with one JSON line of headline results." };
        var transport = new Option<string>("--transport") { Description = "grpc: the aggregator appliance and one `bank train` process per bank over loopback mutual TLS (a temporary development kit); inproc: banks and aggregator in one process over an in-memory transport (faster; the same model and protocol bytes). With grpc the banks run the native bank program the build made (Linux x64), else this CLI's own `bank train`; FRAUDFED_NATIVE_BANK=0 chooses the CLI's, =1 requires the native program.", DefaultValueFactory = _ => "grpc" };
        transport.OneOf("inproc", "grpc");
        var bankTimeout = new Option<double>("--bank-timeout") { Description = "With --transport grpc (the default): a bank process that writes nothing for this many seconds is stopped and the run fails (a number of seconds, 1 to 86400; decimals allowed, as in 1.5).", DefaultValueFactory = _ => DefaultBankTimeout }.Accepting(NumberOptions.Seconds);
        var csv = new Option<string?>("--csv") { Description = "Train on this CSV file instead of the synthetic scenario (RFC 4180; BOM, CRLF, quoted line breaks are fine; a file, not a pipe or standard input)." };
        var schema = new Option<string?>("--schema") { Description = "Column roles of --csv: ulb, paysim, ieee-cis, or a JSON schema file (see README, \"Your own data\")." };
        var label = new Option<string?>("--label") { Description = "Label column (0/1 or true/false); overrides the schema's." };
        var time = new Option<string?>("--time") { Description = "Time column (the latest quarter is each bank's test window); overrides the schema's." };
        var bankColumn = new Option<string?>("--bank-column") { Description = "Column naming each row's bank (instead of a Dirichlet split); overrides the schema's." };
        var ids = new Option<string[]>("--id-columns") { Description = "Identifier columns to drop (comma-separated); replace the schema's." };
        var categorical = new Option<string[]>("--categorical") { Description = "Categorical columns (comma-separated), hashed into buckets; replace the schema's." };
        var ignore = new Option<string[]>("--ignore") { Description = "Columns to read past (comma-separated); replace the schema's." };
        var separator = new Option<string?>("--separator") { Description = "Field separator: one character, or tab, comma, semicolon, pipe (default: detected from the header)." };
        var alpha = new Option<double>("--alpha") { Description = "Dirichlet concentration of the split across banks when there is no bank column (small: uneven banks).", DefaultValueFactory = _ => DefaultAlpha }.Accepting("a positive number such as 0.5");
        var categoryKey = new Option<string?>("--category-key") { Description = "File with the consortium key for category hashing (at least 32 bytes, raw or hex); default a public salt." };
        var buckets = new Option<int>("--category-buckets") { Description = $"Buckets of the category hash (2..{CategoryEncoder.MaxBuckets}).", DefaultValueFactory = _ => CategoryEncoder.DefaultBuckets }.InRange(2, CategoryEncoder.MaxBuckets);
        Option[] all = [banks, mode, model, transactions, seed, output, threshold, trees, rounds, shift, json, transport, bankTimeout, csv, schema, label, time, bankColumn, ids, categorical, ignore, separator, alpha, categoryKey, buckets];
        var command = new Command("simulate", "Train a federated fraud model across banks (synthetic, or your CSV file) and compare it with local-only and centralized baselines.");
        foreach (Option o in all) command.Options.Add(o);
        command.SetAction((parse, cancellationToken) =>
        {
            var given = all.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            static IReadOnlyList<string>? Columns(string option, string[]? values) => CsvInput.Columns(option, values);
            var csvSettings = new CsvSettings(parse.GetValue(csv), parse.GetValue(schema), parse.GetValue(label), parse.GetValue(time), parse.GetValue(bankColumn),
                Columns("--id-columns", parse.GetValue(ids)), Columns("--categorical", parse.GetValue(categorical)), Columns("--ignore", parse.GetValue(ignore)), parse.GetValue(separator),
                parse.GetValue(alpha), parse.GetValue(categoryKey), parse.GetValue(buckets));
            var settings = new SimulateSettings(parse.GetValue(banks), parse.GetValue(mode)!, parse.GetValue(model)!, parse.GetValue(transactions), parse.GetValue(seed),
                parse.GetValue(output)!, parse.GetValue(threshold), parse.GetValue(json), parse.GetValue(trees), parse.GetValue(rounds), parse.GetValue(shift),
                csvSettings, given, parse.GetValue(transport)!, parse.GetValue(bankTimeout),
                Typed: new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    [bankTimeout.Name] = NumberOptions.Typed(parse, bankTimeout, parse.GetValue(bankTimeout)),
                    [alpha.Name] = NumberOptions.Typed(parse, alpha, parse.GetValue(alpha)),
                });
            using IDisposable listening = CliInterrupt.Listen();   // Ctrl+C cancels the run: exit 130 (CliInterrupt)
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, CliInterrupt.Token);
            return Task.FromResult(Run(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel.Token));
        });
        return command;
    }

    /// <summary>Every option of a run; <paramref name="Given"/> names the options written on the command line (null: infer from non-default values).</summary>
    internal sealed record SimulateSettings(int Banks, string Mode, string Model, int Transactions, int Seed, string OutDirectory, int? Threshold, bool Json,
        int? Trees = null, int? Rounds = null, int CampaignShift = 1, CsvSettings? Csv = null, IReadOnlySet<string>? Given = null, string Transport = "grpc",
        double BankTimeout = DefaultBankTimeout, BankProcessSettings? Processes = null, IReadOnlyDictionary<string, string>? Typed = null)
    {
        public bool IsGiven(string option, bool nonDefault) => Given?.Contains(option) ?? nonDefault;

        /// <summary>A decimal option's value as the user typed it (<see cref="Typed"/>), else <paramref name="value"/> in the
        /// invariant culture: a refusal quotes 99999999999999999999, not 1E+20.</summary>
        public string Shown(string option, double value) =>
            Typed is not null && Typed.TryGetValue(option, out string? typed) ? typed : value.ToString(CultureInfo.InvariantCulture);
    }

    internal static int Run(SimulateSettings s, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken) =>
        CliErrors.Guard("simulate", stderr, () => RunCore(s, stdout, stderr, cancellationToken));

    private static int RunCore(SimulateSettings s, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        // 1. Options alone (nothing read or written yet).
        CsvSettings? csv = s.Csv?.Path is null ? null : s.Csv;
        CheckOptions(s, csv);
        // The bank processes' program: FRAUDFED_NATIVE_BANK is followed or refused here, before any work.
        string? nativeBank = s.Transport == "grpc" ? SelfCommand.NativeBank() : null;

        // 2. Input files, read-only: the schema, the key, the CSV.
        CsvSchema? schema = csv is null ? null : CsvInput.ResolveSchema(csv);
        if (schema?.BankColumn is { } column && s.IsGiven("--banks", s.Banks != 5))
            throw new UsageException($"--banks and the bank column '{column}' both say how many banks there are: the bank column decides; leave --banks out.");
        if (schema is { CategoricalColumns.Count: 0 }
            && (s.IsGiven("--category-buckets", csv!.CategoryBuckets != CategoryEncoder.DefaultBuckets) ? "--category-buckets" : csv!.CategoryKeyFile is not null ? "--category-key" : null) is { } unused)
            throw new UsageException($"{unused} applies to categorical columns, and the schema has none: name them with --categorical, or leave {unused} out.");
        if (schema?.BankColumn is { } col && s.IsGiven("--alpha", csv!.Alpha != DefaultAlpha))
            throw new UsageException($"--alpha sets a Dirichlet split, but the bank column '{col}' already assigns each row its bank: leave --alpha out.");
        // The threshold against the number of banks, when the options alone decide it (a bank column decides it after loading).
        IReadOnlyList<RunSetting>? secureSettings = schema?.BankColumn is null ? CheckSecureSum(s.Mode, s.Banks, s.Threshold, "--banks") : null;
        if (csv is not null)
        {
            CsvInput.CheckCsvFile(csv.Path!, "--csv");
            CsvDatasetLoader.CheckHeader(csv.Path!, schema!);
        }
        byte[]? key = csv?.CategoryKeyFile is { } keyFile ? CsvInput.ReadConsortiumKey(keyFile) : null;

        // 3. The output directory: staged next to --out, moved into place only at the end.
        using StagedOutput output = StagedOutput.Prepare(s.OutDirectory);
        // Staging directories of the same --out that earlier runs, killed outright, left behind (StagedOutput): said in one line.
        if (output.RemovedLine("simulate") is { } removedStaging) stderr.WriteLine(removedStaging);
        // The temporary directories (kit keys, plaintext partition files) of earlier grpc runs that were killed outright
        // (SIGKILL): only those marked by simulate, of this user, whose owner process is gone (SimulateWorkDirectory).
        if (s.Transport == "grpc" && SimulateWorkDirectory.RemovedLine(SimulateWorkDirectory.RemoveLeftovers()) is { } removed)
            stderr.WriteLine(removed);
        // One clock stamps every progress line of the run (time since it started): over gRPC the baseline phase overlaps the
        // federated phase, whose lines come from the bank processes' panel; the summary keeps each phase's own time.
        var runClock = Stopwatch.StartNew();
        var progress = new ConsoleProgress(stderr, runClock);
        try
        {
            // 4. Data, then every bank checked before any training.
            var options = new ExperimentOptions
            {
                Banks = s.Banks,
                Transactions = s.Transactions,
                Seed = s.Seed,
                Model = s.Model == "logistic" ? FederatedModelKind.Logistic : FederatedModelKind.Gbdt,
                Scenario = new SyntheticScenario { Banks = s.Banks, Transactions = s.Transactions, Seed = s.Seed, CampaignShift = s.CampaignShift },
            };
            if (s.Trees is { } treeCount) options = options with { Gbdt = options.Gbdt with { Trees = treeCount } };
            if (s.Rounds is { } roundCount) options = options with { Logistic = options.Logistic with { Rounds = roundCount } };

            IReadOnlyList<BankData> banks;
            var phases = new Dictionary<string, TimeSpan>();
            var clock = Stopwatch.StartNew();
            if (csv is null)
            {
                banks = FederatedExperiment.GenerateSynthetic(options, progress: null, phases);
                FederatedExperiment.CheckBanks(banks, options.RunBaselines, ScenarioFix(s.Banks, s.Transactions));
                options = options with { DataSource = SyntheticSource(options.EffectiveScenario, banks) };
                stderr.WriteLine($"fraudfed simulate: {s.Banks} banks, {s.Transactions:N0} transactions, mode {s.Mode}, model {s.Model}, seed {s.Seed}, campaign shift {s.CampaignShift} " +
                    $"(generated in {clock.Elapsed.TotalSeconds:0.0} s)");
            }
            else
            {
                (banks, IReadOnlyList<RunSetting> source) = LoadCsv(csv, schema!, key, s, stderr, cancellationToken);
                phases["data"] = clock.Elapsed;
                // The path and names as given: summary.json's JSON escapes control characters (\u001B) and report.html writes them
                // as text (\x1b), as every line of the CLI does (ErrorLine.Value).
                options = options with { Banks = banks.Count, DataSource = source };
            }
            int bankCount = banks.Count;
            secureSettings ??= CheckSecureSum(s.Mode, bankCount, s.Threshold, $"bank column '{schema!.BankColumn}'");
            options = options with { Settings = [.. secureSettings, new RunSetting("transport", "transport", s.Transport), .. BankProgramSetting(s.Transport, nativeBank)] };
            if (s.Transport == "grpc")
                options = options with
                {
                    ExternalTrainer = ApplianceTraining.Trainer(s.Mode, ModulusBits, s.Threshold,
                        (s.Processes ?? new BankProcessSettings()) with { Silence = TimeSpan.FromSeconds(s.BankTimeout) }, stderr, runClock),
                    // The plain-sum training and the LightGBM baselines run in this process while the bank processes train
                    // (figures: LowPriority). Not in process: there the federated phase keeps both cores busy, and the overlap
                    // (nice 10, 2026-12-02, default run, 5 pairs, load 5 to 25) gave 21.7, 21.1, 26.3, 41.0, 20.0 s and 31.5,
                    // 30.9, 31.6, 31.4, 30.6 CPU s against 25.5, 22.8, 25.2, 33.6, 31.9 s and 29.9, 28.9, 29.9, 31.5, 30.2:
                    // more CPU, and wall times within the noise.
                    OverlapWithFederated = true,
                };

            // 5. Training.
            var disposables = new List<IDisposable>();
            Func<int, ISecureSum> factory = s.Mode switch
            {
                "masking" => n => Track(disposables, new MaskingSecureSum(n, ModulusBits, new MaskingOptions { Threshold = s.Threshold })),
                _ => n => Track(disposables, new HomomorphicSecureSum(n, ModulusBits, new HomomorphicOptions
                {
                    Threshold = s.Threshold,
                    // Tests only: the ring of the bank processes' test kit, so that both transports' protocol bytes compare.
                    Parameters = s.Processes?.InsecureTestParameters == true ? Cryptography.Rlwe.RlweParameters.InsecureForTestsOnly(Cryptography.Rlwe.RlweParameters.InsecureTestSetNames[0]) : null,
                })),
            };
            if (csv is not null)
                stderr.WriteLine($"fraudfed simulate: {bankCount} banks, {banks.Sum(b => b.Train.Rows + b.Test.Rows):N0} rows of {ErrorLine.Value(csv.Path!)}, mode {s.Mode}, model {s.Model}, seed {s.Seed}");
            ExperimentResult result;
            try { result = FederatedExperiment.Run(options, banks, factory, progress, cancellationToken, phases); }
            finally
            {
                progress.Finish();
                foreach (IDisposable d in disposables) d.Dispose();
            }

            // 6. Outputs: staged, then moved into place together.
            ExperimentReport.WriteFiles(result, output.StagingPath);
            if (result.LightGbmModelText is { } text) File.WriteAllText(output.Stage("model.txt"), text);
            IReadOnlyDictionary<string, string> written = output.Commit(Outputs);

            // An empty line first only where it sets the table apart from the progress lines above it: both streams on a
            // terminal. Redirected, stdout begins with the table.
            if (ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected) stdout.WriteLine();
            WriteTable(stdout, result);
            if (csv is null)
                stdout.WriteLine(s.CampaignShift == 0
                    ? "scenario: fraud campaigns stay at the same banks in the test window"
                    : $"scenario: each fraud campaign's home banks move by {s.CampaignShift} between training and the test window (--campaign-shift)");
            else
                stdout.WriteLine($"data: {ErrorLine.Value(csv.Path!)} (schema {ErrorLine.Value(schema!.Name)}), {result.DataSource.FirstOrDefault(d => d.Key == "split")?.Value}");
            stdout.WriteLine();
            stdout.WriteLine($"summary: {ErrorLine.Value(written["summary.json"])}");
            stdout.WriteLine($"report:  {ErrorLine.Value(written["report.html"])}");
            if (written.TryGetValue("model.txt", out string? modelPath)) stdout.WriteLine($"model:   {ErrorLine.Value(modelPath)} (LightGBM text format)");
            if (s.Json) stdout.WriteLine(ExperimentReport.ToJson(result));
            if (result.SecureEqualsPlaintext == false)
                return CliErrors.Fail("simulate", stderr, "the model trained through secure sums differs from the plain-sum model.", CliErrors.RunFailed);
            return CliErrors.Success;
        }
        finally
        {
            progress.Finish();
            if (key is not null) CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Which program ran the bank processes of a grpc run, as a setting of summary.json and report.html: bank_program =
    /// native (the native bank program, <paramref name="nativeBank"/> its path) or dotnet (this CLI's own `bank train`, compiled
    /// by the JIT in each process); none in process (no bank process).</summary>
    internal static IReadOnlyList<RunSetting> BankProgramSetting(string transport, string? nativeBank) => transport != "grpc" ? [] :
        [new RunSetting("bank_program", "bank program (native: compiled ahead of time; dotnet: the CLI's own, JIT-compiled)", nativeBank is null ? "dotnet" : "native")];

    /// <summary>Every option on its own and in combination; throws <see cref="UsageException"/> naming the option and the fix.</summary>
    private static void CheckOptions(SimulateSettings s, CsvSettings? csv)
    {
        static void Require(bool ok, string message) { if (!ok) throw new UsageException(message); }
        bool bankColumn = csv?.BankColumn is not null;
        if (csv is null || !bankColumn)
            Require(s.Banks is >= 3 and <= MaxBanks, $"--banks must be in 3..{MaxBanks} (got {s.Banks}).");
        Require(s.Transport is "inproc" or "grpc", $"--transport must be inproc or grpc (got {s.Transport}).");
        Require(double.IsFinite(s.BankTimeout) && s.BankTimeout is >= 1 and <= 86_400, $"--bank-timeout must be in 1..86400 seconds (got {s.Shown("--bank-timeout", s.BankTimeout)}).");
        Require(s.Transport == "grpc" || !s.IsGiven("--bank-timeout", s.BankTimeout != DefaultBankTimeout), "--bank-timeout applies to --transport grpc (bank processes, the default): leave out --transport inproc, or leave --bank-timeout out.");
        Require(s.Trees is null or (>= 1 and <= 10_000), $"--trees must be in 1..10000 (got {s.Trees}).");
        Require(s.Rounds is null or (>= 1 and <= 10_000), $"--rounds must be in 1..10000 (got {s.Rounds}).");
        Require(s.Threshold is null or >= 2, $"--threshold must be at least 2 (got {s.Threshold}).");
        // An option of the other model would be ignored silently: refuse it, as --alpha without --csv is refused.
        Require(s.Trees is null || s.Model == "gbdt", $"--trees applies to --model gbdt (boosting rounds); --model {s.Model} takes --rounds (FedAvg rounds): leave --trees out, or add --model gbdt.");
        Require(s.Rounds is null || s.Model == "logistic", $"--rounds applies to --model logistic (FedAvg rounds); --model {s.Model} takes --trees (boosting rounds): leave --rounds out, or add --model logistic.");
        Require(!string.IsNullOrWhiteSpace(s.OutDirectory), "--out must name a directory.");
        if (csv is null)
        {
            string[] csvOnly = ["--schema", "--label", "--time", "--bank-column", "--id-columns", "--categorical", "--ignore", "--separator", "--alpha", "--category-key", "--category-buckets"];
            string? stray = csvOnly.FirstOrDefault(o => s.Given?.Contains(o) == true)
                ?? (s.Csv is { } c && (c.Schema ?? c.Label ?? c.Time ?? c.BankColumn ?? c.Separator ?? c.CategoryKeyFile) is not null ? "--schema" : null);
            Require(stray is null, $"{stray} applies to a CSV file: add --csv FILE, or leave {stray} out for the synthetic scenario.");
            Require(s.Transactions >= 1000 * s.Banks, $"--transactions must be at least {1000 * s.Banks} (1000 per bank; got {s.Transactions}).");
            Require(s.Transactions <= MaxTransactions, $"--transactions must be at most {MaxTransactions:N0} (got {s.Transactions:N0}).");
            Require(s.CampaignShift >= 0 && s.CampaignShift < s.Banks, $"--campaign-shift must be in 0..{s.Banks - 1} (a shift by all {s.Banks} banks is no shift; got {s.CampaignShift}).");
            if (s.Threshold is { } t) Require(t <= s.Banks, $"--threshold {t} is above --banks {s.Banks}: it must be in 2..{s.Banks}.");
            return;
        }
        foreach (string synthetic in new[] { "--transactions", "--campaign-shift" })
            Require(!s.IsGiven(synthetic, synthetic == "--transactions" ? s.Transactions != 200_000 : s.CampaignShift != 1),
                $"{synthetic} applies to the synthetic scenario, not to --csv: leave it out.");
        Require(csv.Schema is not null || csv.Label is not null, "--csv needs a --schema (ulb, paysim, ieee-cis or a JSON schema file) or at least a --label column.");
        Require(double.IsFinite(csv.Alpha) && csv.Alpha > 0 && csv.Alpha <= MaxAlpha, $"--alpha must be a positive number up to {MaxAlpha.ToString(CultureInfo.InvariantCulture)} (got {s.Shown("--alpha", csv.Alpha)}).");
        Require(csv.CategoryBuckets is >= 2 and <= CategoryEncoder.MaxBuckets, $"--category-buckets must be in 2..{CategoryEncoder.MaxBuckets} (got {csv.CategoryBuckets}).");
        if (csv.Separator is { } sep)
            Require(CsvSchema.ParseSeparator(sep) is { } c && c is not ('"' or '\r' or '\n') && !char.IsLetterOrDigit(c) && c is not ('.' or '-'),
                $"--separator '{sep}' is not a separator: give one character such as ';' or '|', or tab, comma, semicolon, pipe.");
    }

    /// <summary>The secure sum's threshold for <paramref name="banks"/> banks, refused (naming the fix) if unsafe; returns the settings to report.</summary>
    private static IReadOnlyList<RunSetting> CheckSecureSum(string mode, int banks, int? threshold, string what)
    {
        if (banks is < 3 or > MaxBanks) throw new UsageException($"{what}: {banks} banks; a simulation needs 3..{MaxBanks}.");
        if (threshold is { } t && t > banks) throw new UsageException($"--threshold {t} is above the {banks} banks: it must be in 2..{banks}.");
        if (mode == "masking")
        {
            // The session's own parameter checks (collusion bound, threshold range), before any work: a session does
            // nothing until its first sum.
            try
            {
                using var probe = new MaskingSecureSum(banks, ModulusBits, new MaskingOptions { Threshold = threshold });
                MaskingParameters p = probe.Parameters;
                return [new("threshold", "threshold t (Shamir shares needed to recover a bank's masks)", p.Threshold),
                    new("minimum_survivors", "fewest banks in every round", p.MinimumSurvivors), new("colluders", "declared colluders c", p.MaxColluders),
                    new("graph", "masking graph", p.IsComplete ? "complete" : "sparse")];
            }
            catch (ProtocolViolationException e) { throw new UsageException($"insecure parameters for {banks} banks (--threshold {threshold?.ToString(CultureInfo.InvariantCulture) ?? "default"}): {e.Detail.TrimEnd('.')}."); }
            catch (ArgumentException e) { throw new UsageException($"--threshold {threshold}: {e.Message.Split(" (Parameter")[0]}"); }
        }
        int c = DecryptionPolicy.DefaultMaxColluders(banks);
        int th = threshold ?? Math.Min(banks, (banks + c) / 2 + 1);
        var policy = new DecryptionPolicy { Threshold = th, MinContributors = Math.Max(2, th), MaxColluders = c };
        try { policy.Validate(banks); }
        catch (ProtocolViolationException e) { throw new UsageException($"--threshold {th}: {e.Detail.TrimEnd('.')}."); }
        return [new("threshold", "threshold T (banks needed to decrypt a sum)", th), new("colluders", "declared colluders c", c), new("min_contributors", "fewest contributors of an opened sum", policy.MinContributors)];
    }

    private static (IReadOnlyList<BankData> Banks, IReadOnlyList<RunSetting> Source) LoadCsv(CsvSettings csv, CsvSchema schema, byte[]? key, SimulateSettings s, TextWriter stderr, CancellationToken cancellationToken)
    {
        // A large file takes seconds: say so first (a small one reads at once, so a refusal stays one line).
        long size = new FileInfo(csv.Path!).Length;
        if (size > 50_000_000) stderr.WriteLine($"fraudfed simulate: reading {ErrorLine.Value(csv.Path!)} ({size / 1e6:0} MB) with schema {ErrorLine.Value(schema.Name)}...");
        var clock = Stopwatch.StartNew();
        using CategoryEncoder encoder = key is null ? CategoryEncoder.Public(csv.CategoryBuckets) : CategoryEncoder.Keyed(key, csv.CategoryBuckets);
        var split = new CsvSplit { Banks = s.Banks, Alpha = csv.Alpha, Seed = s.Seed };
        CsvExperimentData data = CsvExperimentData.Load(csv.Path!, schema, split, encoder, why => CsvFix(why, schema, s.Banks, csv.Alpha), cancellationToken);
        if (data.Table.Banks is not null && data.Banks.Count is < 3 or > MaxBanks)
            throw new UsageException($"bank column '{schema.BankColumn}' names {data.Banks.Count} banks; a simulation needs 3..{MaxBanks}.");
        CsvSource src = data.Table.Source!;
        stderr.WriteLine($"fraudfed simulate: read {ErrorLine.Value(csv.Path!)} ({src.Bytes / 1e6:0.0} MB, schema {ErrorLine.Value(schema.Name)}): {src.Rows:N0} rows, {src.Features.Count} features ({src.Categorical.Count} categorical, {src.MissingCells.Values.Sum():N0} missing cells), " +
            $"{data.Table.Rows.Positives:N0} fraud, separator {CsvSchema.SeparatorName(src.Separator)}, read and split in {clock.Elapsed.TotalSeconds:0.0} s");
        return (data.Banks, data.Source);
    }

    /// <summary>What to change when the synthetic scenario of <paramref name="banks"/> banks and <paramref name="transactions"/>
    /// transactions leaves a bank (or every bank) short of rows or fraud: more --transactions (while below the most), fewer
    /// --banks (above the fewest, 3), and another --seed only when neither is possible.</summary>
    internal static string ScenarioFix(int banks, int transactions)
    {
        var changes = new List<string>();
        if (transactions < MaxTransactions)
            changes.Add($"more --transactions (e.g. --transactions {Math.Min(MaxTransactions, Math.Max(4L * transactions, 40_000L * banks)).ToString(CultureInfo.InvariantCulture)})");
        if (banks > 3) changes.Add("fewer --banks");
        if (changes.Count == 0) changes.Add("another --seed");
        return $"The scenario is too small for {banks} banks: use {string.Join(" or ", changes)}.";
    }

    /// <summary>What to change for <paramref name="why"/>, the one reason a bank of a --csv run is unusable, naming only what can
    /// change: with a bank column, that bank merged into another in the file; with a Dirichlet split, a larger --alpha (below
    /// its most), fewer --banks (above 3) or another --seed; and when no bank has fraud in one of the windows, which no split
    /// changes, the time column.</summary>
    internal static string CsvFix(BankShortfall why, CsvSchema schema, int banks, double alpha)
    {
        string time = schema.TimeColumn is { } t ? $"time column '{t}'" : "row order (no time column)";
        switch (why)
        {
            case BankShortfall.NoTrainingFraudAtAnyBank:
                return $"All of the file's fraud lies in the later test window (the latest quarter by {time}), which no split changes: check the time column (--time), or give a file with fraud before that window.";
            case BankShortfall.NoTestFraudAtAnyBank:
                return $"None of the file's fraud lies in the later test window (the latest quarter by {time}), which no split changes: check the time column (--time), or give a file with fraud in that window.";
        }
        if (schema.BankColumn is { } column)
            return $"Bank column '{column}' decides the banks: merge this bank's rows into another bank in the file.";
        string share = why switch
        {
            BankShortfall.NoTrainingFraud => "too little of the file's fraud",
            BankShortfall.OnlyTrainingFraud => "too few of the file's legitimate rows",
            _ => "too small a share of the file's rows",
        };
        var changes = new List<string>();
        if (alpha < MaxAlpha)
            changes.Add($"a larger --alpha (a more even split, e.g. --alpha {Math.Min(MaxAlpha, Math.Max(10, alpha * 10)).ToString(CultureInfo.InvariantCulture)})");
        if (banks > 3) changes.Add("fewer --banks");
        changes.Add("another --seed");
        string list = changes.Count == 1 ? changes[0] : string.Join(", ", changes.Take(changes.Count - 1)) + " or " + changes[^1];
        return $"The Dirichlet split (--alpha {alpha.ToString(CultureInfo.InvariantCulture)}) gave it {share}: use {list}.";
    }

    private static IReadOnlyList<RunSetting> SyntheticSource(SyntheticScenario scenario, IReadOnlyList<BankData> banks) =>
    [
        new("source", "data source", "synthetic"),
        new("transactions", "transactions", scenario.Transactions),
        new("seed", "seed of the data", scenario.Seed),
        new("campaign_shift", "campaign shift (banks each fraud campaign's home moves in the test window)", scenario.CampaignShift),
        new("fraud_rate", "fraud rate", scenario.FraudRate),
        new("days", "days", scenario.Days),
        new("test_fraction", "later window held out for testing", scenario.TestFraction),
        new("sha256", "SHA-256 of the generated rows (all banks, train then test)", Fingerprint(banks)),
    ];

    /// <summary>SHA-256 over every bank's rows (name, then train and test: features, labels, times), little-endian.</summary>
    private static string Fingerprint(IReadOnlyList<BankData> banks)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (BankData b in banks)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(b.Name + "\0"));
            foreach (LabeledRows rows in new[] { b.Train, b.Test })
            {
                hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.Values.AsSpan()));
                hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.Labels.AsSpan()));
                hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.Times.AsSpan()));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static T Track<T>(List<IDisposable> list, T item) where T : IDisposable
    {
        list.Add(item);
        return item;
    }

    /// <summary>What the tables' less obvious terms mean (README, "Reading the output"), printed under them wrapped at
    /// <see cref="LegendWidth"/> columns (<see cref="LegendLines"/>).</summary>
    internal const string Legend = "(fraud: fraud rows in each bank's training and later test window; local-only (pooled): each bank's own model on its own " +
        "test rows, all scores ranked together; recall@1%FPR: share of fraud caught when 1% of genuine transactions are flagged; " +
        "values per bank: numbers each bank put into all the secure sums.)";

    /// <summary>The widest line of the legend, in columns (a terminal of 100 columns shows it without wrapping mid-word).</summary>
    internal const int LegendWidth = 100;

    /// <summary><see cref="Legend"/> as printed: wrapped at word boundaries into lines of at most <see cref="LegendWidth"/> columns.</summary>
    internal static IReadOnlyList<string> LegendLines { get; } = Wrap(Legend, LegendWidth);

    /// <summary><paramref name="text"/> broken at spaces into lines of at most <paramref name="width"/> characters (a word longer
    /// than that stands alone on its line); joined with single spaces, the lines give the text back.</summary>
    internal static IReadOnlyList<string> Wrap(string text, int width)
    {
        var lines = new List<string>();
        var line = new System.Text.StringBuilder();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                lines.Add(line.ToString());
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) lines.Add(line.ToString());
        return lines;
    }

    internal static void WriteTable(TextWriter w, ExperimentResult r)
    {
        static string F(double v) => double.IsFinite(v) ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "n/a";
        w.WriteLine($"PR-AUC on each bank's later time window ({r.Model}, {r.Mode}):");
        w.WriteLine($"{"bank",-10} {"train",9} {"fraud",7} {"test",8} {"fraud",7} {"local",8} {"federated",10} {"central",8}");
        for (int i = 0; i < r.BankData.Count; i++)
        {
            BankSummary b = r.BankData[i];
            w.WriteLine($"{b.Name,-10} {b.TrainRows,9} {b.TrainPositives,7} {b.TestRows,8} {b.TestPositives,7} " +
                $"{F(r.LocalOnly?.PerBank[i].PrAuc ?? double.NaN),8} {F(r.Federated.PerBank[i].PrAuc),10} {F(r.Centralized?.PerBank[i].PrAuc ?? double.NaN),8}");
        }
        w.WriteLine($"{"mean",-10} {"",9} {"",7} {"",8} {"",7} {F(r.PrAucLocalMean),8} {F(r.Federated.MeanBankPrAuc),10} {F(r.Centralized?.MeanBankPrAuc ?? double.NaN),8}");
        if (r.BankData.Any(b => b.TestPositives == 0))
            w.WriteLine("n/a: no fraud in that bank's test window, so it has no PR-AUC (left out of the means).");
        w.WriteLine();
        w.WriteLine($"{"all banks",-22} {"PR-AUC",8} {"ROC-AUC",8} {"recall@1%FPR",13}");
        void Row(string name, ModelEvaluation? e)
        {
            if (e is null) return;
            w.WriteLine($"{name,-22} {F(e.Overall.Metrics.PrAuc),8} {F(e.Overall.Metrics.RocAuc),8} {F(e.Overall.Metrics.RecallAt1PctFpr),13}");
        }
        Row("federated", r.Federated);
        Row("local-only (pooled)", r.LocalOnly);
        Row("centralized LightGBM", r.Centralized);
        foreach (string line in LegendLines) w.WriteLine(line);
        w.WriteLine();
        w.WriteLine($"protocol: {r.Cost.Sums} secure sums mod 2^{r.Cost.ModulusBits}, {r.Cost.ValuesPerBank:N0} values per bank, " +
            $"{r.Cost.BytesUploaded / 1e6:0.0} MB up, {r.Cost.BytesDownloaded / 1e6:0.0} MB down, {r.Cost.SecureSumTime.TotalSeconds:0.0} s " +
            (r.Settings.Any(x => x.Key == "transport" && "grpc".Equals(x.Value)) ? "in the federated phase (bank processes over gRPC)" : "in secure sums"));
        w.WriteLine($"secure result equals plain-sum training: {(r.SecureEqualsPlaintext is { } same ? (same ? "yes (bit for bit)" : "NO") : "not checked")}");
        w.WriteLine($"wall time: {r.Wall.TotalSeconds:0.0} s");
    }

    /// <summary>One status line on stderr: rewritten in place on a terminal; when redirected, a line per phase and per step
    /// without sums (each local baseline), sum progress at most once every two seconds, and the last line of each phase so
    /// the final step is always shown.</summary>
    private sealed class ConsoleProgress(TextWriter stderr, Stopwatch runClock) : IProgress<ExperimentProgress>
    {
        private readonly bool _interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
        private string _phase = "";
        private ExperimentProgress? _pending;   // a thinned line held back: shown, stamped when shown, at the phase's end
        private int _width;

        /// <summary>The line of <paramref name="p"/> stamped <paramref name="at"/> on the run's clock (not the experiment's
        /// p.Elapsed: one clock for every line, the bank processes' included, so that the stamps only go forward).</summary>
        private static string Line(ExperimentProgress p, TimeSpan at) => p.Phase == "federated" && p.Sums > 0
            // Protocol bytes only for the secure sums; the plain phase's sums move nothing over a network.
            ? ApplianceTraining.PhaseLine(at, p.Message, p.Sums, p.BytesUploaded, p.BytesDownloaded)
            : $"{ApplianceTraining.Stamp(at)} {p.Phase,-12}{p.Message}" + (p.Sums > 0 ? $"  ({Plural.Of(p.Sums, "sum")})" : "");

        public void Report(ExperimentProgress p)
        {
            TimeSpan at = runClock.Elapsed;
            string line = Line(p, at);
            // The setup sums (before the first tree or round) end like a phase: their last line is always shown, as over gRPC.
            string phase = p.Message.StartsWith("setup (", StringComparison.Ordinal) ? p.Phase + " setup" : p.Phase;
            if (_interactive)
            {
                string padded = line.PadRight(_width);
                _width = line.Length;
                stderr.Write("\r" + padded);
            }
            // Lines of sum progress (many a second) are thinned to one per 2 s; every other line (a bank's baseline, a phase) is shown.
            else if (phase != _phase || p.Sums == 0 || _sinceLine.Elapsed.TotalSeconds >= 2)
            {
                if (phase != _phase && _pending is not null) stderr.WriteLine(Line(_pending, at));   // as of now: other lines came since
                stderr.WriteLine(line);
                _pending = null;
                _sinceLine.Restart();
            }
            else
            {
                _pending = p;
            }
            _phase = phase;
        }

        public void Finish()
        {
            if (_interactive && _width > 0) stderr.WriteLine();
            if (!_interactive && _pending is not null) stderr.WriteLine(Line(_pending, runClock.Elapsed));
            _pending = null;
            _width = 0;
        }
    }
}
