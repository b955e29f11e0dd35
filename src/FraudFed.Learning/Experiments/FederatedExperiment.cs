// The end-to-end experiment behind `fraudfed simulate`: data -> per-bank features -> federated training
// (one bank party per bank and one coordinator, wired in process over the given ISecureSum, SPEC.md 14.4) -> the
// same training through PlainSum (same k) -> LightGBM local-only and centralized baselines -> metrics on each
// bank's later time window. Every setting of the run (the model's, the caller's such as the decryption threshold,
// and the data source with its SHA-256) travels with the result, so summary.json and report.html say exactly what was run.
using System.Diagnostics;
using FraudFed.Learning.Baselines;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Features;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Metrics;
using FraudFed.Protocol;

namespace FraudFed.Learning.Experiments;

/// <summary>Which federated model to train.</summary>
public enum FederatedModelKind
{
    /// <summary>Federated histogram gradient boosting.</summary>
    Gbdt,
    /// <summary>Federated logistic regression (FedAvg).</summary>
    Logistic,
}

/// <summary>Settings of one experiment.</summary>
public sealed record ExperimentOptions
{
    /// <summary>Number of banks.</summary>
    public int Banks { get; init; } = 5;
    /// <summary>Federated model.</summary>
    public FederatedModelKind Model { get; init; } = FederatedModelKind.Gbdt;
    /// <summary>Total transactions of the synthetic scenario.</summary>
    public int Transactions { get; init; } = 200_000;
    /// <summary>Seed of the synthetic data.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Full scenario; when null one is made from Banks, Transactions and Seed.</summary>
    public SyntheticScenario? Scenario { get; init; }
    /// <summary>Federated GBDT settings.</summary>
    public GbdtOptions Gbdt { get; init; } = new();
    /// <summary>Federated logistic regression settings.</summary>
    public LogisticOptions Logistic { get; init; } = new();
    /// <summary>LightGBM baseline settings.</summary>
    public LightGbmBaselineOptions Baseline { get; init; } = new();
    /// <summary>Also train through PlainSum and compare bit for bit.</summary>
    public bool ComparePlain { get; init; } = true;
    /// <summary>Train the LightGBM baselines.</summary>
    public bool RunBaselines { get; init; } = true;
    /// <summary>Maximum points per plotted curve.</summary>
    public int CurvePoints { get; init; } = 200;
    /// <summary>Settings chosen by the caller that the experiment cannot see (e.g. the decryption threshold), shown in reports.</summary>
    public IReadOnlyList<RunSetting> Settings { get; init; } = [];
    /// <summary>What the data is (e.g. a CSV file, its schema and SHA-256); empty: the synthetic scenario describes itself.</summary>
    public IReadOnlyList<RunSetting> DataSource { get; init; } = [];
    /// <summary>Trains the federated model somewhere else than in this process (e.g. on the aggregator appliance with one
    /// bank SDK client per bank, SPEC.md 14.5) from each bank's training rows; null: in process through the secure sum.
    /// The plain comparison run, the baselines and the metrics stay in process.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ExternalFederatedTrainer? ExternalTrainer { get; init; }

    /// <summary>The scenario to generate.</summary>
    public SyntheticScenario EffectiveScenario => Scenario ?? new SyntheticScenario { Banks = Banks, Transactions = Transactions, Seed = Seed };
}

/// <summary>One setting of a run as reports show it: a snake_case key (summary.json), a label (report.html) and a value
/// (string, integer, floating point, Boolean or null).</summary>
public sealed record RunSetting(string Key, string Label, object? Value);

/// <summary>Trains the federated model of <paramref name="options"/> from the banks' training rows (roster order) and returns
/// it (a <see cref="GbdtModel"/> for <see cref="FederatedModelKind.Gbdt"/>, else a <see cref="LogisticModel"/>) with the
/// protocol cost it measured.</summary>
public delegate (object Model, ProtocolCost Cost) ExternalFederatedTrainer(ExperimentOptions options, IReadOnlyList<LabeledRows> train, CancellationToken cancellationToken);

/// <summary>Progress of an experiment.</summary>
/// <param name="Phase">"data", "features", "federated", "plain", "local", "centralized", "metrics" or "done".</param>
/// <param name="Message">Human-readable detail.</param>
/// <param name="Step">Tree or round (1-based) during training, else 0.</param>
/// <param name="TotalSteps">Planned trees or rounds during training, else 0.</param>
/// <param name="Level">Tree level of the last secure sum (GBDT), else -1.</param>
/// <param name="Sums">Secure sums so far in this phase.</param>
/// <param name="BytesUploaded">Bytes sent by banks so far in this phase.</param>
/// <param name="BytesDownloaded">Bytes sent to banks so far in this phase.</param>
/// <param name="Elapsed">Time since the experiment started.</param>
public sealed record ExperimentProgress(string Phase, string Message, int Step, int TotalSteps, int Level, int Sums, long BytesUploaded, long BytesDownloaded, TimeSpan Elapsed);

/// <summary>Evaluation of one kind of model: over all banks' test rows and per bank.</summary>
public sealed record ModelEvaluation(string Name, ScoredEvaluation Overall, IReadOnlyList<MetricSet> PerBank)
{
    /// <summary>Mean over banks of the per-bank PR-AUC (banks without fraud in their test window are skipped).</summary>
    public double MeanBankPrAuc => PerBank.Where(m => !double.IsNaN(m.PrAuc)).Select(m => m.PrAuc).DefaultIfEmpty(double.NaN).Average();
    /// <summary>Mean over banks of the per-bank ROC-AUC.</summary>
    public double MeanBankRocAuc => PerBank.Where(m => !double.IsNaN(m.RocAuc)).Select(m => m.RocAuc).DefaultIfEmpty(double.NaN).Average();
}

/// <summary>Sizes of one bank's data.</summary>
public sealed record BankSummary(string Name, int TrainRows, int TrainPositives, int TestRows, int TestPositives);

/// <summary>Everything an experiment measured.</summary>
public sealed record ExperimentResult
{
    /// <summary>Secure-sum mode name.</summary>
    public required string Mode { get; init; }
    /// <summary>"gbdt" or "logistic".</summary>
    public required string Model { get; init; }
    /// <summary>Number of banks.</summary>
    public required int Banks { get; init; }
    /// <summary>Total transactions (train + test).</summary>
    public required int Transactions { get; init; }
    /// <summary>Seed.</summary>
    public required int Seed { get; init; }
    /// <summary>Per-bank sizes.</summary>
    public required IReadOnlyList<BankSummary> BankData { get; init; }
    /// <summary>The federated model trained through the secure sum.</summary>
    public required ModelEvaluation Federated { get; init; }
    /// <summary>Each bank's LightGBM on its own rows, scored on its own test rows (Overall pools those scores).</summary>
    public ModelEvaluation? LocalOnly { get; init; }
    /// <summary>LightGBM on all banks' pooled rows.</summary>
    public ModelEvaluation? Centralized { get; init; }
    /// <summary>Protocol cost of the federated training through the secure sum.</summary>
    public required ProtocolCost Cost { get; init; }
    /// <summary>Whether the secure-trained model equals the PlainSum-trained one bit for bit (null if not compared).</summary>
    public bool? SecureEqualsPlaintext { get; init; }
    /// <summary>The federated GBDT as a LightGBM text model (null for logistic).</summary>
    public string? LightGbmModelText { get; init; }
    /// <summary>Wall time per phase.</summary>
    public required IReadOnlyDictionary<string, TimeSpan> PhaseTimes { get; init; }
    /// <summary>Every setting of the run: secure sum, model, baselines, and the caller's.</summary>
    public IReadOnlyList<RunSetting> Settings { get; init; } = [];
    /// <summary>The data: source, file and SHA-256 or synthetic scenario, split.</summary>
    public IReadOnlyList<RunSetting> DataSource { get; init; } = [];
    /// <summary>Trains the federated model somewhere else than in this process (e.g. on the aggregator appliance with one
    /// bank SDK client per bank, SPEC.md 14.5) from each bank's training rows; null: in process through the secure sum.
    /// The plain comparison run, the baselines and the metrics stay in process.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ExternalFederatedTrainer? ExternalTrainer { get; init; }
    /// <summary>Total wall time.</summary>
    public required TimeSpan Wall { get; init; }

    /// <summary>Headline: federated PR-AUC over all test rows.</summary>
    public double PrAucFederated => Federated.Overall.Metrics.PrAuc;
    /// <summary>Headline: centralized LightGBM PR-AUC over all test rows.</summary>
    public double PrAucCentralized => Centralized?.Overall.Metrics.PrAuc ?? double.NaN;
    /// <summary>Headline: mean over banks of each local-only model's PR-AUC on its own bank.</summary>
    public double PrAucLocalMean => LocalOnly?.MeanBankPrAuc ?? double.NaN;
    /// <summary>Headline: federated ROC-AUC over all test rows.</summary>
    public double RocAucFederated => Federated.Overall.Metrics.RocAuc;
}

/// <summary>Runs experiments; the entry point of `fraudfed simulate`.</summary>
public static class FederatedExperiment
{
    /// <summary>Generates the synthetic scenario and runs the experiment on it.</summary>
    /// <param name="options">Settings.</param>
    /// <param name="secureSumFactory">Makes the secure sum for a number of banks (called once).</param>
    /// <param name="progress">Receives progress; Report is called on the calling thread after every secure sum and phase change.</param>
    /// <param name="cancellationToken">Cancels between steps.</param>
    public static ExperimentResult Run(ExperimentOptions options, Func<int, ISecureSum> secureSumFactory, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var times = new Dictionary<string, TimeSpan>();
        IReadOnlyList<BankData> banks = GenerateSynthetic(options, progress, clock, times);
        return RunCore(options with { Scenario = options.EffectiveScenario }, banks, secureSumFactory, progress, clock, times, cancellationToken);
    }

    /// <summary>The synthetic scenario's per-bank rows (generated, then featurized at each bank), e.g. to check them before training.</summary>
    /// <param name="options">The scenario (options.EffectiveScenario).</param>
    /// <param name="progress">Receives the "data" and "features" phases.</param>
    /// <param name="phaseTimes">If given, receives the times of those phases (to pass on to Run).</param>
    public static IReadOnlyList<BankData> GenerateSynthetic(ExperimentOptions options, IProgress<ExperimentProgress>? progress = null, IDictionary<string, TimeSpan>? phaseTimes = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var times = new Dictionary<string, TimeSpan>();
        IReadOnlyList<BankData> banks = GenerateSynthetic(options, progress, Stopwatch.StartNew(), times);
        if (phaseTimes is not null) foreach (var kv in times) phaseTimes[kv.Key] = kv.Value;
        return banks;
    }

    private static IReadOnlyList<BankData> GenerateSynthetic(ExperimentOptions options, IProgress<ExperimentProgress>? progress, Stopwatch clock, Dictionary<string, TimeSpan> times)
    {
        SyntheticScenario scenario = options.EffectiveScenario;
        var start = clock.Elapsed;
        Report(progress, "data", $"generating {scenario.Transactions} transactions over {scenario.Banks} banks", clock);
        SyntheticData data = SyntheticBankGenerator.Generate(scenario);
        times["data"] = clock.Elapsed - start;
        Report(progress, "features", "computing features at each bank", clock);
        start = clock.Elapsed;
        IReadOnlyList<BankData> banks = TransactionFeatures.BuildAll(data);
        times["features"] = clock.Elapsed - start;
        return banks;
    }

    /// <summary>Runs the experiment on given per-bank data (e.g. from a CSV split).</summary>
    /// <param name="options">Settings (Scenario is ignored; DataSource describes the data).</param>
    /// <param name="banks">Each bank's training rows and later test window.</param>
    /// <param name="secureSumFactory">Makes the secure sum for a number of banks (called once).</param>
    /// <param name="progress">Receives progress.</param>
    /// <param name="cancellationToken">Cancels between steps.</param>
    /// <param name="phaseTimes">Times of phases the caller already ran (e.g. "data" for loading a file), reported first.</param>
    public static ExperimentResult Run(ExperimentOptions options, IReadOnlyList<BankData> banks, Func<int, ISecureSum> secureSumFactory, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellationToken = default, IReadOnlyDictionary<string, TimeSpan>? phaseTimes = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(banks);
        var times = new Dictionary<string, TimeSpan>(phaseTimes ?? new Dictionary<string, TimeSpan>());
        TimeSpan earlier = times.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b);
        return RunCore(options, banks, secureSumFactory, progress, Stopwatch.StartNew(), times, cancellationToken, earlier);
    }

    /// <summary>
    /// Refuses, before any training, banks the experiment cannot use: a bank with no training or no test rows, and, when
    /// <paramref name="baselines"/> are trained, a bank whose training window lacks fraud or legitimate rows (its
    /// local-only LightGBM would have nothing to learn). A bank without fraud in its test window is allowed: its
    /// PR-AUC is undefined and reported as n/a.
    /// </summary>
    /// <param name="banks">The banks.</param>
    /// <param name="baselines">Whether local-only baselines will be trained.</param>
    /// <param name="fix">What the caller can change, appended to the message (e.g. "use more --transactions").</param>
    /// <exception cref="DataFormatException">naming the bank, what it lacks and the fix.</exception>
    public static void CheckBanks(IReadOnlyList<BankData> banks, bool baselines, string? fix = null)
    {
        ArgumentNullException.ThrowIfNull(banks);
        if (banks.Count == 0) throw new DataFormatException("There are no banks.", null, null);
        string tail = fix is null ? "" : " " + fix;
        foreach (BankData b in banks)
        {
            int fraud = b.Train.Positives;
            string? lack = b.Train.Rows == 0 ? "has no rows in its training window"
                : b.Test.Rows == 0 ? "has no rows in its later test window"
                : baselines && fraud == 0 ? $"has no fraud in its training window (0 of {b.Train.Rows:N0} rows), so its local-only model has nothing to learn"
                : baselines && fraud == b.Train.Rows ? $"has only fraud in its training window ({fraud:N0} rows)"
                : null;
            if (lack is not null) throw new DataFormatException($"Bank '{b.Name}' {lack}.{tail}", null, null, b.Name);
        }
        if (banks.All(b => b.Train.Positives == 0))
            throw new DataFormatException($"No bank has fraud in its training window.{tail}", "label", null);
        if (banks.All(b => b.Test.Positives == 0))
            throw new DataFormatException($"No bank has fraud in its later test window, so no model could be measured (PR-AUC needs fraud to find).{tail}", "label", null);
    }

    private static ExperimentResult RunCore(ExperimentOptions options, IReadOnlyList<BankData> banks, Func<int, ISecureSum> secureSumFactory,
        IProgress<ExperimentProgress>? progress, Stopwatch clock, Dictionary<string, TimeSpan> times, CancellationToken cancellationToken, TimeSpan earlier = default)
    {
        ArgumentNullException.ThrowIfNull(secureSumFactory);
        if (banks.Count < 1) throw new ArgumentException("At least one bank is needed.", nameof(banks));
        for (int b = 0; b < banks.Count; b++)
            if (banks[b].Train.Rows == 0 || banks[b].Test.Rows == 0)
                throw new DataFormatException($"Bank '{banks[b].Name}' has no {(banks[b].Train.Rows == 0 ? "training" : "test")} rows.", null, null, banks[b].Name);
        ISecureSum secure = secureSumFactory(banks.Count) ?? throw new ArgumentException("The factory returned null.", nameof(secureSumFactory));
        if (secure.Banks != banks.Count) throw new ArgumentException($"The secure sum has {secure.Banks} banks, the data {banks.Count}.", nameof(secureSumFactory));
        FederatedInput.Check(banks.Select(b => b.Train).ToArray(), banks.Count);
        LabeledRows[] train = banks.Select(b => b.Train).ToArray();
        LabeledRows[] test = banks.Select(b => b.Test).ToArray();

        // Federated through the secure sum.
        var start = clock.Elapsed;
        var channel = new SumChannel(secure, p => Report(progress, "federated", Describe(p, withLevel: true), clock, p));
        Func<LabeledRows, double[]> score;
        Func<SumChannel, bool>? equalsPlainRun;
        string? lightGbmText = null;
        ProtocolCost? externalCost = null;
        T External<T>(ExternalFederatedTrainer trainer) where T : class
        {
            (object m, ProtocolCost c) = trainer(options, train, cancellationToken);
            externalCost = c;
            return m as T ?? throw new InvalidOperationException($"The external trainer returned a {m?.GetType().Name ?? "null"}, expected a {typeof(T).Name}.");
        }
        if (options.Model == FederatedModelKind.Gbdt)
        {
            GbdtModel TrainGbdt(SumChannel sums) => TrainingRun.Run(new GbdtCoordinator(options.Gbdt, train[0].FeatureNames, sums.Bits),
                train.Select(rows => (ITrainingBankParty)new GbdtBankParty(rows, options.Gbdt, sums.Bits)).ToArray(), sums.SumResidues, cancellationToken);
            GbdtModel model = options.ExternalTrainer is { } external ? External<GbdtModel>(external) : TrainGbdt(channel);
            score = model.PredictRaw;
            lightGbmText = LightGbmTextExport.ToLightGbmText(model);
            equalsPlainRun = plain => TrainGbdt(plain).BitwiseEquals(model);
        }
        else
        {
            LogisticModel TrainLogistic(SumChannel sums) => TrainingRun.Run(new LogisticCoordinator(options.Logistic, train[0].FeatureNames, sums.Bits),
                train.Select(rows => (ITrainingBankParty)new LogisticBankParty(rows, options.Logistic, sums.Bits)).ToArray(), sums.SumResidues, cancellationToken);
            LogisticModel model = options.ExternalTrainer is { } external ? External<LogisticModel>(external) : TrainLogistic(channel);
            score = model.PredictRaw;
            equalsPlainRun = plain => TrainLogistic(plain).BitwiseEquals(model);
        }
        times["federated"] = clock.Elapsed - start;
        ProtocolCost cost = externalCost ?? channel.Cost;

        bool? same = null;
        if (options.ComparePlain)
        {
            start = clock.Elapsed;
            Report(progress, "plain", "training again with plain sums, to check the secure model bit for bit", clock);
            var plain = new SumChannel(new PlainSum(banks.Count, secure.ModulusBits), p => Report(progress, "plain", Describe(p, withLevel: false), clock, p));
            same = equalsPlainRun(plain);
            times["plain"] = clock.Elapsed - start;
        }

        start = clock.Elapsed;
        Report(progress, "metrics", "scoring the federated model", clock);
        ModelEvaluation federated = Evaluate("federated", test, test.Select(score).ToArray(), options.CurvePoints);
        times["metrics"] = clock.Elapsed - start;

        ModelEvaluation? local = null, central = null;
        if (options.RunBaselines)
        {
            start = clock.Elapsed;
            var localScores = new double[banks.Count][];
            for (int b = 0; b < banks.Count; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Report(progress, "local", $"LightGBM on {banks[b].Name} alone ({b + 1}/{banks.Count})", clock);
                localScores[b] = LightGbmBaseline.Train(train[b], options.Baseline).Score(test[b]);
            }
            local = Evaluate("local-only", test, localScores, options.CurvePoints);
            times["local"] = clock.Elapsed - start;

            start = clock.Elapsed;
            Report(progress, "centralized", "LightGBM on pooled data", clock);
            LightGbmBaselineModel pooled = LightGbmBaseline.Train(LabeledRows.Concat(train), options.Baseline);
            central = Evaluate("centralized", test, test.Select(pooled.Score).ToArray(), options.CurvePoints);
            times["centralized"] = clock.Elapsed - start;
        }

        Report(progress, "done", "finished", clock);
        var settings = new List<RunSetting>
        {
            new("mode", "secure-sum mode", secure.Mode),
            new("modulus_bits", "secure sums modulo 2^k, k", secure.ModulusBits),
            new("banks", "banks", banks.Count),
            new("model", "federated model", options.Model == FederatedModelKind.Gbdt ? "gbdt" : "logistic"),
        };
        settings.AddRange(options.Settings);
        if (options.Model == FederatedModelKind.Gbdt)
            settings.AddRange([
                new("trees", "trees", options.Gbdt.Trees), new("max_depth", "maximum depth", options.Gbdt.MaxDepth),
                new("learning_rate", "learning rate", options.Gbdt.LearningRate), new("max_bins", "bins per feature", options.Gbdt.MaxBins),
                new("min_child_count", "fewest rows per leaf", options.Gbdt.MinChildCount), new("l2", "L2 on leaf values", options.Gbdt.L2)]);
        else
            settings.AddRange([
                new("rounds", "FedAvg rounds", options.Logistic.Rounds), new("local_steps", "local steps per round", options.Logistic.LocalSteps),
                new("learning_rate", "learning rate", options.Logistic.LearningRate), new("l2", "L2 penalty", options.Logistic.L2)]);
        settings.Add(new("compare_plain", "also trained through plain sums", options.ComparePlain));
        if (options.RunBaselines)
            settings.AddRange([
                new("baseline_iterations", "LightGBM baseline iterations", options.Baseline.Iterations),
                new("baseline_leaves", "LightGBM baseline leaves", options.Baseline.Leaves)]);
        return new ExperimentResult
        {
            Mode = secure.Mode,
            Model = options.Model == FederatedModelKind.Gbdt ? "gbdt" : "logistic",
            Banks = banks.Count,
            Transactions = banks.Sum(b => b.Train.Rows + b.Test.Rows),
            Seed = options.EffectiveScenario.Seed,
            BankData = banks.Select(b => new BankSummary(b.Name, b.Train.Rows, b.Train.Positives, b.Test.Rows, b.Test.Positives)).ToArray(),
            Federated = federated,
            LocalOnly = local,
            Centralized = central,
            Cost = cost,
            SecureEqualsPlaintext = same,
            LightGbmModelText = lightGbmText,
            PhaseTimes = times,
            Wall = earlier + clock.Elapsed,
            Settings = settings,
            DataSource = options.DataSource.Count > 0 ? options.DataSource : SyntheticSource(options.EffectiveScenario),
        };
    }

    private static IReadOnlyList<RunSetting> SyntheticSource(SyntheticScenario s) =>
    [
        new("source", "data source", "synthetic"),
        new("transactions", "transactions", s.Transactions),
        new("seed", "seed of the data", s.Seed),
        new("campaign_shift", "campaign shift (banks each fraud campaign moves in the test window)", s.CampaignShift),
        new("fraud_rate", "fraud rate", s.FraudRate),
        new("days", "days", s.Days),
        new("test_fraction", "later window held out for testing", s.TestFraction),
    ];

    private static ModelEvaluation Evaluate(string name, LabeledRows[] test, double[][] scores, int curvePoints)
    {
        var perBank = new MetricSet[test.Length];
        for (int b = 0; b < test.Length; b++) perBank[b] = BinaryMetrics.Compute(scores[b], test[b].Labels);
        double[] all = scores.SelectMany(s => s).ToArray();
        bool[] labels = test.SelectMany(t => t.Labels).ToArray();
        return new ModelEvaluation(name, BinaryMetrics.Evaluate(all, labels, curvePoints), perBank);
    }

    /// <summary>A sum's progress message: "tree 12/200 level 3" (GBDT), "round 4/30" (logistic), or "setup (before the first step)" for the sums
    /// before the first tree or round (bin edges, totals), which have no step of their own.</summary>
    private static string Describe(FederationProgress p, bool withLevel) =>
        p.Stage == "setup" ? "setup (before the first step)" : $"{p.Stage} {p.Step}/{p.TotalSteps}" + (withLevel && p.Level >= 0 ? $" level {p.Level}" : "");

    private static void Report(IProgress<ExperimentProgress>? progress, string phase, string message, Stopwatch clock, FederationProgress? p = null)
        => progress?.Report(new ExperimentProgress(phase, message, p?.Step ?? 0, p?.TotalSteps ?? 0, p?.Level ?? -1, p?.Sums ?? 0, p?.BytesUploaded ?? 0, p?.BytesDownloaded ?? 0, clock.Elapsed));
}
