// The end-to-end experiment behind `fraudfed simulate`: data -> per-bank features -> federated training
// (one bank party per bank and one coordinator, wired in process over the given ISecureSum, SPEC.md 14.4) -> the
// same training through PlainSum (same k) -> LightGBM local-only and centralized baselines -> metrics on each
// bank's later time window. Every setting of the run (the model's, the caller's such as the decryption threshold,
// and the data source with its SHA-256) travels with the result, so summary.json and report.html say exactly what was run.
// OverlapWithFederated (simulate --transport grpc) runs the plain-sum training and the baselines, which do not need the
// federated model, as steps on a second thread of lower priority (LowPriority) while the federated phase runs; this thread
// takes the steps left when that phase is over, and compares the plain model once both are done. The results are the same
// byte for byte; a failure on either thread cancels the other, which is waited for, and the first failure is the run's
// error; progress of the second thread is queued and reported on the calling thread (at its next report, with the time it
// happened); PhaseTimes keeps each phase's own wall time, so overlapped phases add up to more than the run's wall time.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
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
    /// <summary>Run the work that does not need the federated model (the plain-sum training and the LightGBM baselines) on a
    /// second thread of lower scheduling priority (nice 10 on Linux) while the federated model trains, the steps it has not
    /// begun when the federated phase ends on the calling thread. The results are the same; a failure on either thread cancels
    /// the other and is the run's error; the second thread's progress is reported on the calling thread at its next report,
    /// with the time it happened; PhaseTimes then holds overlapping phases (each its own wall time). Pays when the federated
    /// phase leaves a core partly idle (bank processes waiting on one another); measured no gain in process.</summary>
    public bool OverlapWithFederated { get; init; }

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
    /// <summary>Wall time of each phase (of its steps: local is the sum of the banks' baselines), in the order data, features,
    /// federated, plain, metrics, local, centralized. With <see cref="ExperimentOptions.OverlapWithFederated"/> plain, local and
    /// centralized ran (mostly) during the federated phase, so the phases add up to more than <see cref="Wall"/>.</summary>
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
    /// Refuses, before any training, banks the experiment cannot use: a bank with no training or no test rows, then no fraud
    /// in any bank's training window or in any bank's test window, and, when <paramref name="baselines"/> are trained, a bank
    /// whose training window lacks fraud or legitimate rows (its local-only LightGBM would have nothing to learn). A bank
    /// without fraud in its test window is allowed while another has some: its PR-AUC is undefined and reported as n/a. The
    /// first of these found is the one named (a shortage of every bank before one bank's, which a change to one bank cannot mend).
    /// </summary>
    /// <param name="banks">The banks.</param>
    /// <param name="baselines">Whether local-only baselines will be trained.</param>
    /// <param name="fix">What the caller can change, appended to the message whatever the reason (e.g. "use more --transactions").</param>
    /// <exception cref="DataFormatException">naming the bank, what it lacks and the fix; <see cref="DataFormatException.Shortfall"/> says which.</exception>
    public static void CheckBanks(IReadOnlyList<BankData> banks, bool baselines, string? fix = null) => CheckBanks(banks, baselines, _ => fix);

    /// <summary>
    /// <see cref="CheckBanks(IReadOnlyList{BankData}, bool, string?)"/> with a fix for each reason: <paramref name="fix"/> gives,
    /// for the reason found, what the caller can change (appended to the message), or null for nothing to add.
    /// </summary>
    /// <param name="banks">The banks.</param>
    /// <param name="baselines">Whether local-only baselines will be trained.</param>
    /// <param name="fix">The fix for a reason, or null.</param>
    /// <exception cref="DataFormatException">naming the bank, what it lacks and the fix for that; <see cref="DataFormatException.Shortfall"/> says which.</exception>
    public static void CheckBanks(IReadOnlyList<BankData> banks, bool baselines, Func<BankShortfall, string?> fix)
    {
        ArgumentNullException.ThrowIfNull(banks);
        ArgumentNullException.ThrowIfNull(fix);
        if (banks.Count == 0) throw new DataFormatException("There are no banks.", null, null);
        string Tail(BankShortfall why) => fix(why) is { Length: > 0 } f ? " " + f : "";
        DataFormatException Refuse(string message, BankShortfall why, string? bank = null) =>
            new($"{message}.{Tail(why)}", bank is null ? "label" : null, null, bank) { Shortfall = why };
        foreach (BankData b in banks)
        {
            if (b.Train.Rows == 0) throw Refuse($"Bank '{b.Name}' has no rows in its training window", BankShortfall.NoTrainingRows, b.Name);
            if (b.Test.Rows == 0) throw Refuse($"Bank '{b.Name}' has no rows in its later test window", BankShortfall.NoTestRows, b.Name);
        }
        if (banks.All(b => b.Train.Positives == 0))
            throw Refuse("No bank has fraud in its training window", BankShortfall.NoTrainingFraudAtAnyBank);
        if (banks.All(b => b.Test.Positives == 0))
            throw Refuse("No bank has fraud in its later test window, so no model could be measured (PR-AUC needs fraud to find)", BankShortfall.NoTestFraudAtAnyBank);
        if (!baselines) return;
        foreach (BankData b in banks)
        {
            int fraud = b.Train.Positives;
            if (fraud == 0)
                throw Refuse($"Bank '{b.Name}' has no fraud in its training window (0 of {b.Train.Rows:N0} rows), so its local-only model has nothing to learn", BankShortfall.NoTrainingFraud, b.Name);
            if (fraud == b.Train.Rows)
                throw Refuse($"Bank '{b.Name}' has only fraud in its training window ({fraud:N0} rows)", BankShortfall.OnlyTrainingFraud, b.Name);
        }
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

        // The work that does not need the federated model: the plain-sum training (compared with it afterwards) and the
        // LightGBM baselines, as steps (IndependentWork). With OverlapWithFederated a second thread at a lower scheduling
        // priority takes them one by one while the federated model trains, and this thread takes the steps left once the
        // federated phase is over; the second thread's progress is queued and reported from this thread (IProgress is only
        // ever called on the calling thread).
        bool overlap = options.OverlapWithFederated;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);   // cancelled when either side fails
        CancellationToken token = overlap ? either.Token : cancellationToken;
        var forward = overlap && progress is not null ? new ForwardingProgress(progress) : null;
        IProgress<ExperimentProgress>? main = (IProgress<ExperimentProgress>?)forward ?? progress;
        var independent = new IndependentWork(options, banks, train, test, secure.ModulusBits, clock, token, overlap);
        Task? side = overlap
            ? Task.Factory.StartNew(() =>
            {
                LowPriority.ForThisThread();
                BankParallel.ThisThreadOnly();   // the plain training's bank steps stay at this thread's priority
                try { while (independent.RunNext(forward?.Queue, alongside: true)) { } }
                catch { either.Cancel(); throw; }   // the federated phase stops at its next cancellation point
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : null;

        // Federated through the secure sum.
        var start = clock.Elapsed;
        var channel = new SumChannel(secure, p => Report(main, "federated", Describe(p, withLevel: true), clock, p));
        Func<LabeledRows, double[]> score;
        Func<object, bool> equalsFederated;
        string? lightGbmText = null;
        ProtocolCost? externalCost = null;
        T External<T>(ExternalFederatedTrainer trainer) where T : class
        {
            (object m, ProtocolCost c) = RunDraining(() => trainer(options, train, token), forward);
            externalCost = c;
            return m as T ?? throw new InvalidOperationException($"The external trainer returned a {m?.GetType().Name ?? "null"}, expected a {typeof(T).Name}.");
        }
        TimeSpan federatedTime, metricsTime;
        ProtocolCost cost;
        ModelEvaluation federated;
        try
        {
            if (options.Model == FederatedModelKind.Gbdt)
            {
                GbdtModel model = options.ExternalTrainer is { } external ? External<GbdtModel>(external) : (GbdtModel)independent.Train(channel);
                score = model.PredictRaw;
                lightGbmText = LightGbmTextExport.ToLightGbmText(model);
                equalsFederated = plain => ((GbdtModel)plain).BitwiseEquals(model);
            }
            else
            {
                LogisticModel model = options.ExternalTrainer is { } external ? External<LogisticModel>(external) : (LogisticModel)independent.Train(channel);
                score = model.PredictRaw;
                equalsFederated = plain => ((LogisticModel)plain).BitwiseEquals(model);
            }
            federatedTime = clock.Elapsed - start;
            cost = externalCost ?? channel.Cost;
            independent.FederatedDone();

            if (side is null && options.ComparePlain) independent.RunNext(progress, alongside: false);   // the plain step comes first

            start = clock.Elapsed;
            Report(main, "metrics", "scoring the federated model", clock);
            federated = Evaluate("federated", test, test.Select(score).ToArray(), options.CurvePoints);
            metricsTime = clock.Elapsed - start;

            // The steps nobody took yet, here; then the second thread's last step, its progress shown as it comes.
            while (independent.RunNext(main, alongside: false)) { }
            if (side is not null)
            {
                while (!side.Wait(100, CancellationToken.None)) forward?.Drain();
                forward?.Drain();
                side.GetAwaiter().GetResult();
            }
        }
        catch (Exception mainError) when (side is not null)
        {
            // Stop the other thread too, and wait for it (a step under way finishes first: seconds at most). If it failed first,
            // its error is the run's: this thread only saw the cancellation that error caused.
            either.Cancel();
            try { side.Wait(CancellationToken.None); }
            catch (AggregateException sideError) when (mainError is OperationCanceledException && !cancellationToken.IsCancellationRequested
                && sideError.InnerException is { } inner and not OperationCanceledException)
            {
                ExceptionDispatchInfo.Capture(inner).Throw();
            }
            catch (AggregateException) { }
            finally { forward?.Drain(); }   // what the other thread did before it stopped
            throw;
        }
        independent.Finish();
        bool? same = independent.PlainModel is { } plainModel ? equalsFederated(plainModel) : null;

        // Phase times in the order the phases run without the overlap. A phase's time is the wall time of its steps; with
        // OverlapWithFederated, plain, local and centralized ran (mostly) alongside the federated phase, so the phases add up to
        // more than the run's wall time.
        times["federated"] = federatedTime;
        if (independent.PlainTime is { } plainTime) times["plain"] = plainTime;
        times["metrics"] = metricsTime;
        if (independent.LocalTime is { } localTime) times["local"] = localTime;
        if (independent.CentralizedTime is { } centralTime) times["centralized"] = centralTime;
        ModelEvaluation? local = independent.Local, central = independent.Centralized;

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

    /// <summary>The experiment's work besides the federated training, which does not need the federated model, as steps that
    /// two threads may take one by one (<see cref="RunNext"/>): the same training through PlainSum (phase "plain"), each bank's
    /// local-only LightGBM ("local") and the pooled one ("centralized"). Without the overlap the plain step comes first (it
    /// runs before the metrics, as it always did); with it, the plain step (the longest) is taken first by the second thread,
    /// so that the steps left when the federated phase ends are the short ones.</summary>
    private sealed class IndependentWork
    {
        private readonly ExperimentOptions _options;
        private readonly IReadOnlyList<BankData> _banks;
        private readonly LabeledRows[] _train, _test;
        private readonly int _modulusBits;
        private readonly Stopwatch _clock;
        private readonly CancellationToken _cancellationToken;
        private readonly Action<IProgress<ExperimentProgress>?, string>[] _steps;
        private readonly double[][] _localScores;
        private long _localTicks;
        private int _next = -1;
        private bool _federatedRunning = true;

        public IndependentWork(ExperimentOptions options, IReadOnlyList<BankData> banks, LabeledRows[] train, LabeledRows[] test, int modulusBits,
            Stopwatch clock, CancellationToken cancellationToken, bool overlap)
        {
            _options = options;
            _banks = banks;
            _train = train;
            _test = test;
            _modulusBits = modulusBits;
            _clock = clock;
            _cancellationToken = cancellationToken;
            _localScores = new double[banks.Count][];
            var steps = new List<Action<IProgress<ExperimentProgress>?, string>>();
            if (options.ComparePlain) steps.Add(Plain);
            if (options.RunBaselines)
            {
                for (int b = 0; b < banks.Count; b++)
                {
                    int bank = b;
                    steps.Add((progress, suffix) => LocalOnly(bank, progress, suffix));
                }
                steps.Add(Pooled);
            }
            _steps = [.. steps];
        }

        public object? PlainModel { get; private set; }
        public TimeSpan? PlainTime { get; private set; }
        public ModelEvaluation? Local { get; private set; }
        public ModelEvaluation? Centralized { get; private set; }
        public TimeSpan? LocalTime { get; private set; }
        public TimeSpan? CentralizedTime { get; private set; }

        /// <summary>The federated model of options.Model trained in process through <paramref name="sums"/>.</summary>
        public object Train(SumChannel sums) => _options.Model == FederatedModelKind.Gbdt
            ? TrainingRun.Run(new GbdtCoordinator(_options.Gbdt, _train[0].FeatureNames, sums.Bits),
                _train.Select(rows => (ITrainingBankParty)new GbdtBankParty(rows, _options.Gbdt, sums.Bits)).ToArray(), sums.SumResidues, _cancellationToken)
            : TrainingRun.Run(new LogisticCoordinator(_options.Logistic, _train[0].FeatureNames, sums.Bits),
                _train.Select(rows => (ITrainingBankParty)new LogisticBankParty(rows, _options.Logistic, sums.Bits)).ToArray(), sums.SumResidues, _cancellationToken);

        /// <summary>Runs the next step nobody took yet, reporting to <paramref name="progress"/> (<paramref name="alongside"/>: on the
        /// second thread, which its messages say); false when every step was taken.</summary>
        public bool RunNext(IProgress<ExperimentProgress>? progress, bool alongside)
        {
            int i = Interlocked.Increment(ref _next);
            if (i >= _steps.Length) return false;
            _cancellationToken.ThrowIfCancellationRequested();
            _steps[i](progress, alongside && Volatile.Read(ref _federatedRunning) ? ", alongside the federated phase" : "");
            return true;
        }

        /// <summary>The federated phase is over: a step begun from now on does not say "alongside the federated phase".</summary>
        public void FederatedDone() => Volatile.Write(ref _federatedRunning, false);

        /// <summary>After every step: the local-only evaluation (its time counts as the local phase's).</summary>
        public void Finish()
        {
            if (!_options.RunBaselines) return;
            long begin = Stopwatch.GetTimestamp();
            Local = Evaluate("local-only", _test, _localScores, _options.CurvePoints);
            LocalTime = TimeSpan.FromTicks(Interlocked.Read(ref _localTicks)) + Stopwatch.GetElapsedTime(begin);
        }

        private void Plain(IProgress<ExperimentProgress>? progress, string suffix)
        {
            TimeSpan start = _clock.Elapsed;
            Report(progress, "plain", "training again with plain sums, to check the secure model bit for bit" + suffix, _clock);
            PlainModel = Train(new SumChannel(new PlainSum(_banks.Count, _modulusBits), p => Report(progress, "plain", Describe(p, withLevel: false), _clock, p)));
            PlainTime = _clock.Elapsed - start;
        }

        private void LocalOnly(int b, IProgress<ExperimentProgress>? progress, string suffix)
        {
            long begin = Stopwatch.GetTimestamp();
            Report(progress, "local", $"LightGBM on {_banks[b].Name} alone ({b + 1}/{_banks.Count}){suffix}", _clock);
            _localScores[b] = LightGbmBaseline.Train(_train[b], _options.Baseline).Score(_test[b]);
            Interlocked.Add(ref _localTicks, Stopwatch.GetElapsedTime(begin).Ticks);
        }

        private void Pooled(IProgress<ExperimentProgress>? progress, string suffix)
        {
            TimeSpan start = _clock.Elapsed;
            Report(progress, "centralized", "LightGBM on pooled data" + suffix, _clock);
            LightGbmBaselineModel pooled = LightGbmBaseline.Train(LabeledRows.Concat(_train), _options.Baseline);
            Centralized = Evaluate("centralized", _test, _test.Select(pooled.Score).ToArray(), _options.CurvePoints);
            CentralizedTime = _clock.Elapsed - start;
        }
    }

    /// <summary>Runs <paramref name="work"/> (an external trainer, which reports nothing through this run's progress) on its own
    /// thread while this thread shows the second thread's queued progress every quarter of a second, so that a step running
    /// alongside is shown when it happens, not when the external trainer returns; without <paramref name="forward"/>, runs it here.</summary>
    private static TResult RunDraining<TResult>(Func<TResult> work, ForwardingProgress? forward)
    {
        if (forward is null) return work();
        Task<TResult> task = Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(250)) forward.Drain();
        forward.Drain();
        return task.GetAwaiter().GetResult();
    }

    /// <summary>Progress of two threads through one <see cref="IProgress{T}"/> that is called on the calling thread only: the second
    /// thread's reports wait in <see cref="Queue"/> until this thread's next report or <see cref="Drain"/>, and keep their time stamps.</summary>
    private sealed class ForwardingProgress(IProgress<ExperimentProgress> target) : IProgress<ExperimentProgress>
    {
        private readonly ConcurrentQueue<ExperimentProgress> _queue = new();

        /// <summary>Where the second thread reports.</summary>
        public IProgress<ExperimentProgress> Queue => new Enqueue(_queue);

        public void Report(ExperimentProgress value)
        {
            Drain();
            target.Report(value);
        }

        public void Drain()
        {
            while (_queue.TryDequeue(out ExperimentProgress? p)) target.Report(p);
        }

        private sealed class Enqueue(ConcurrentQueue<ExperimentProgress> queue) : IProgress<ExperimentProgress>
        {
            public void Report(ExperimentProgress value) => queue.Enqueue(value);
        }
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
