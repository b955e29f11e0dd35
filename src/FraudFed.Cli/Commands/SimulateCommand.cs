// `fraudfed simulate`: the main job. Generates a synthetic multi-bank scenario, trains a federated model
// through a secure sum (threshold HE or masking), trains the same model through plain sums to prove the
// secure result is identical, trains LightGBM local-only and centralized baselines, and reports.
// Until the aggregator appliance lands, banks and aggregator run in process (the protocol harnesses).
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Reporting;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Cli.Commands;

internal sealed class SimulateCommand : ICliCommand
{
    /// <summary>k for every secure sum of the simulation: fits the HE plaintext modulus 2^44 and masking alike.</summary>
    internal const int ModulusBits = 44;

    public Command Build()
    {
        var banks = new Option<int>("--banks") { Description = "Number of banks (at least 3).", DefaultValueFactory = _ => 5 };
        var mode = new Option<string>("--mode") { Description = "Secure-sum mode: he (threshold homomorphic) or masking (SecAgg).", DefaultValueFactory = _ => "he" };
        mode.AcceptOnlyFromAmong("he", "masking");
        var model = new Option<string>("--model") { Description = "Federated model: gbdt or logistic.", DefaultValueFactory = _ => "gbdt" };
        model.AcceptOnlyFromAmong("gbdt", "logistic");
        var transactions = new Option<int>("--transactions") { Description = "Transactions in the synthetic scenario.", DefaultValueFactory = _ => 200_000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic data.", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Directory for summary.json, report.html and model.txt.", DefaultValueFactory = _ => Path.Combine("out", "simulate") };
        var threshold = new Option<int?>("--threshold") { Description = "Banks needed to open a sum (default about 2/3 of the banks)." };
        var trees = new Option<int?>("--trees") { Description = "Boosting rounds of the federated GBDT (default 100)." };
        var rounds = new Option<int?>("--rounds") { Description = "FedAvg rounds of the federated logistic regression (default 30)." };
        var shift = new Option<int>("--campaign-shift") { Description = "Banks each fraud campaign's home moves between the training and the later test window (0: campaigns stay put).", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "End with one JSON line of headline results." };
        var command = new Command("simulate", "Train a federated fraud model across simulated banks and compare it with local-only and centralized baselines.");
        foreach (Option o in new Option[] { banks, mode, model, transactions, seed, output, threshold, trees, rounds, shift, json }) command.Options.Add(o);
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(new SimulateSettings(
            parse.GetValue(banks), parse.GetValue(mode)!, parse.GetValue(model)!, parse.GetValue(transactions), parse.GetValue(seed),
            parse.GetValue(output)!, parse.GetValue(threshold), parse.GetValue(json), parse.GetValue(trees), parse.GetValue(rounds), parse.GetValue(shift)), Console.Out, Console.Error, cancellationToken)));
        return command;
    }

    internal sealed record SimulateSettings(int Banks, string Mode, string Model, int Transactions, int Seed, string OutDirectory, int? Threshold, bool Json, int? Trees = null, int? Rounds = null, int CampaignShift = 1);

    internal static int Run(SimulateSettings s, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (s.Banks < 3) return Fail(stderr, "--banks must be at least 3.");
        if (s.Transactions < 1000 * s.Banks) return Fail(stderr, $"--transactions must be at least {1000 * s.Banks} (1000 per bank).");
        if (s.Threshold is { } t && (t < 2 || t > s.Banks)) return Fail(stderr, "--threshold must be in 2..banks.");
        if (s.Mode != "masking" && s.Threshold is { } heT)
        {
            int c = FraudFed.Cryptography.Threshold.DecryptionPolicy.DefaultMaxColluders(s.Banks);
            var policy = new FraudFed.Cryptography.Threshold.DecryptionPolicy { Threshold = heT, MinContributors = Math.Max(2, heT), MaxColluders = c };
            try { policy.Validate(s.Banks); }
            catch (FraudFed.Cryptography.ProtocolViolationException e) { return Fail(stderr, $"--threshold {heT}: {e.Message}"); }
        }
        if (s.Trees is < 1 or > 10_000) return Fail(stderr, "--trees must be in 1..10000.");
        if (s.Rounds is < 1 or > 10_000) return Fail(stderr, "--rounds must be in 1..10000.");
        if (s.CampaignShift < 0) return Fail(stderr, "--campaign-shift must be 0 or more.");

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
        var disposables = new List<IDisposable>();
        Func<int, ISecureSum> factory = s.Mode switch
        {
            "masking" => n => Track(disposables, new MaskingSecureSum(n, ModulusBits, new MaskingOptions { Threshold = s.Threshold })),
            _ => n => Track(disposables, new HomomorphicSecureSum(n, ModulusBits, new HomomorphicOptions { Threshold = s.Threshold })),
        };

        stderr.WriteLine($"fraudfed simulate: {s.Banks} banks, {s.Transactions:N0} transactions, mode {s.Mode}, model {s.Model}, seed {s.Seed}, campaign shift {s.CampaignShift}");
        var progress = new ConsoleProgress(stderr);
        ExperimentResult result;
        try
        {
            result = FederatedExperiment.Run(options, factory, progress, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            progress.Finish();
            return Fail(stderr, "cancelled.");
        }
        catch (DataFormatException e)
        {
            progress.Finish();
            return Fail(stderr, e.Message);
        }
        catch (FraudFed.Cryptography.ProtocolViolationException e) when (e.Reason == FraudFed.Cryptography.ViolationReason.InsecureParameters)
        {
            progress.Finish();
            return Fail(stderr, $"insecure parameters for {s.Banks} banks (--threshold {s.Threshold?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default"}): {e.Message}");
        }
        finally
        {
            foreach (IDisposable d in disposables) d.Dispose();
        }
        progress.Finish();

        (string summaryPath, string reportPath) = ExperimentReport.WriteFiles(result, s.OutDirectory);
        string? modelPath = null;
        if (result.LightGbmModelText is { } text)
        {
            modelPath = Path.Combine(s.OutDirectory, "model.txt");
            File.WriteAllText(modelPath, text);
        }

        WriteTable(stdout, result);
        stdout.WriteLine(s.CampaignShift == 0
            ? "scenario: fraud campaigns stay at the same banks in the test window"
            : $"scenario: each fraud campaign's home banks move by {s.CampaignShift} between training and the test window (--campaign-shift)");
        stdout.WriteLine();
        stdout.WriteLine($"summary: {summaryPath}");
        stdout.WriteLine($"report:  {reportPath}");
        if (modelPath is not null) stdout.WriteLine($"model:   {modelPath} (LightGBM text format)");
        if (s.Json) stdout.WriteLine(ExperimentReport.ToJson(result));
        if (result.SecureEqualsPlaintext == false)
        {
            stderr.WriteLine("ERROR: the model trained through secure sums differs from the plain-sum model.");
            return 1;
        }
        return 0;
    }

    private static T Track<T>(List<IDisposable> list, T item) where T : IDisposable
    {
        list.Add(item);
        return item;
    }

    private static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine("fraudfed simulate: " + message);
        return 2;
    }

    internal static void WriteTable(TextWriter w, ExperimentResult r)
    {
        static string F(double v) => double.IsFinite(v) ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "-";
        w.WriteLine();
        w.WriteLine($"PR-AUC on each bank's later time window ({r.Model}, {r.Mode}):");
        w.WriteLine($"{"bank",-10} {"train",9} {"fraud",7} {"test",8} {"fraud",7} {"local",8} {"federated",10} {"central",8}");
        for (int i = 0; i < r.BankData.Count; i++)
        {
            BankSummary b = r.BankData[i];
            w.WriteLine($"{b.Name,-10} {b.TrainRows,9} {b.TrainPositives,7} {b.TestRows,8} {b.TestPositives,7} " +
                $"{F(r.LocalOnly?.PerBank[i].PrAuc ?? double.NaN),8} {F(r.Federated.PerBank[i].PrAuc),10} {F(r.Centralized?.PerBank[i].PrAuc ?? double.NaN),8}");
        }
        w.WriteLine($"{"mean",-10} {"",9} {"",7} {"",8} {"",7} {F(r.PrAucLocalMean),8} {F(r.Federated.MeanBankPrAuc),10} {F(r.Centralized?.MeanBankPrAuc ?? double.NaN),8}");
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
        w.WriteLine();
        w.WriteLine($"protocol: {r.Cost.Sums} secure sums mod 2^{r.Cost.ModulusBits}, {r.Cost.ValuesPerBank:N0} values per bank, " +
            $"{r.Cost.BytesUploaded / 1e6:0.0} MB up, {r.Cost.BytesDownloaded / 1e6:0.0} MB down, {r.Cost.SecureSumTime.TotalSeconds:0.0} s in secure sums");
        w.WriteLine($"secure result equals plain-sum training: {(r.SecureEqualsPlaintext is { } same ? (same ? "yes (bit for bit)" : "NO") : "not checked")}");
        w.WriteLine($"wall time: {r.Wall.TotalSeconds:0.0} s");
    }

    /// <summary>One status line on stderr: rewritten in place on a terminal; when redirected, a line per phase
    /// plus at most one every two seconds, and the last line of each phase so the final step is always shown.</summary>
    private sealed class ConsoleProgress(TextWriter stderr) : IProgress<ExperimentProgress>
    {
        private readonly bool _interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        private readonly Stopwatch _sinceLine = Stopwatch.StartNew();
        private string _phase = "";
        private string? _pending;
        private int _width;

        public void Report(ExperimentProgress p)
        {
            string line = $"[{p.Elapsed.TotalSeconds,6:0.0}s] {p.Phase,-11} {p.Message}" +
                (p.Sums > 0 ? $"  sums {p.Sums}, {p.BytesUploaded / 1e6:0.0} MB up" : "");
            if (_interactive)
            {
                string padded = line.PadRight(_width);
                _width = line.Length;
                stderr.Write("\r" + padded);
            }
            else if (p.Phase != _phase || _sinceLine.Elapsed.TotalSeconds >= 2)
            {
                if (p.Phase != _phase && _pending is not null) stderr.WriteLine(_pending);
                stderr.WriteLine(line);
                _pending = null;
                _sinceLine.Restart();
            }
            else
            {
                _pending = line;
            }
            _phase = p.Phase;
        }

        public void Finish()
        {
            if (_interactive && _width > 0) stderr.WriteLine();
            if (!_interactive && _pending is not null) stderr.WriteLine(_pending);
            _pending = null;
            _width = 0;
        }
    }
}
