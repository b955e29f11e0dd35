// ExperimentOptions.OverlapWithFederated: the plain-sum training and the LightGBM baselines on a second thread while the
// federated model trains. The run's outputs (summary.json, report.html, the LightGBM text model) are byte for byte those of
// the run without the overlap, timings aside; progress still reaches IProgress on the calling thread only; a failure on
// either thread ends the run with that failure's error, and the other thread is stopped before Run returns.
using System.Collections.Concurrent;
using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Reporting;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Experiments;

public class OverlapWithFederatedTests
{
    private sealed class Collect : IProgress<ExperimentProgress>
    {
        public ConcurrentQueue<(ExperimentProgress Progress, int Thread)> Items { get; } = new();
        public void Report(ExperimentProgress value) => Items.Enqueue((value, Environment.CurrentManagedThreadId));
    }

    private static ExperimentOptions Options(FederatedModelKind model, bool overlap) => new()
    {
        Model = model,
        Gbdt = new GbdtOptions { Trees = 4, MaxDepth = 3, MaxBins = 32 },
        Logistic = new() { Rounds = 3 },
        Baseline = new() { Iterations = 10 },
        OverlapWithFederated = overlap,
    };

    /// <summary>The result with every timing set to zero (the phases' names and order kept): what must not depend on the overlap.</summary>
    private static ExperimentResult Untimed(ExperimentResult r) => r with
    {
        Wall = TimeSpan.Zero,
        PhaseTimes = r.PhaseTimes.ToDictionary(kv => kv.Key, _ => TimeSpan.Zero),
        Cost = r.Cost with { SecureSumTime = TimeSpan.Zero },
    };

    [TestCase(FederatedModelKind.Gbdt)]
    [TestCase(FederatedModelKind.Logistic)]
    public void Overlap_GivesTheSameReportsByteForByte_AndReportsOnTheCallingThread(FederatedModelKind model)
    {
        IReadOnlyList<BankData> banks = Scenarios.SmallBankData;
        ExperimentResult after = FederatedExperiment.Run(Options(model, overlap: false), banks, n => new MaskingTestSum(n, 40, seed: 3));
        var progress = new Collect();
        int caller = Environment.CurrentManagedThreadId;
        ExperimentResult alongside = FederatedExperiment.Run(Options(model, overlap: true), banks, n => new MaskingTestSum(n, 40, seed: 3), progress);

        Assert.That(alongside.SecureEqualsPlaintext, Is.True);
        Assert.That(alongside.PhaseTimes.Keys, Is.EqualTo(after.PhaseTimes.Keys), "the same phases, in the same order");
        Assert.That(ExperimentReport.ToJson(Untimed(alongside)), Is.EqualTo(ExperimentReport.ToJson(Untimed(after))));
        Assert.That(ExperimentReport.ToHtml(Untimed(alongside)), Is.EqualTo(ExperimentReport.ToHtml(Untimed(after))));
        Assert.That(alongside.LightGbmModelText, Is.EqualTo(after.LightGbmModelText));

        var items = progress.Items.ToArray();
        Assert.That(items.Select(i => i.Thread).Distinct(), Is.EqualTo(new[] { caller }), "IProgress is called on the calling thread only");
        // Each bank's baseline once, on the second thread while the federated phase ran (its line says so) or on this one after it.
        const string Alongside = ", alongside the federated phase";
        string[] local = items.Where(i => i.Progress.Phase == "local").Select(i => i.Progress.Message).ToArray();
        Assert.That(local.Select(m => m.EndsWith(Alongside, StringComparison.Ordinal) ? m[..^Alongside.Length] : m).Order(StringComparer.Ordinal),
            Is.EqualTo(banks.Select((b, i) => $"LightGBM on {b.Name} alone ({i + 1}/{banks.Count})").Order(StringComparer.Ordinal)), string.Join("\n", local));
        Assert.That(items.Count(i => i.Progress.Phase == "plain" && i.Progress.Message.StartsWith("training again with plain sums", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(items.Select(i => i.Progress.Phase), Does.Contain("plain").And.Contain("centralized").And.Contain("federated"));
        Assert.That(items[^1].Progress.Phase, Is.EqualTo("done"));
    }

    [Test]
    public void BaselineFailure_StopsTheFederatedPhase_AndIsTheRunsError()
    {
        // Bank 0's training window without fraud: its local-only LightGBM refuses it, on the second thread, while the
        // federated trainer waits for the cancellation that this failure must bring.
        IReadOnlyList<BankData> banks = Scenarios.SmallBankData;
        LabeledRows t = banks[0].Train;
        var noFraud = new LabeledRows(t.FeatureNames, t.Values, new bool[t.Rows], t.Times);
        BankData[] broken = [banks[0] with { Train = noFraud }, .. banks.Skip(1)];
        bool cancelled = false;
        var options = Options(FederatedModelKind.Gbdt, overlap: true) with
        {
            ExternalTrainer = (_, _, token) =>
            {
                cancelled = token.WaitHandle.WaitOne(TimeSpan.FromMinutes(2));
                token.ThrowIfCancellationRequested();
                throw new InvalidOperationException("the federated phase was never cancelled");
            },
        };

        var e = Assert.Throws<DataFormatException>(() => FederatedExperiment.Run(options, broken, n => new PlainSum(n, 44)));
        Assert.That(e!.Message, Does.Contain("both fraud and legitimate rows"));
        Assert.That(cancelled, Is.True, "the federated phase was cancelled by the baseline's failure");
    }

    [Test]
    public void FederatedFailure_StopsTheOtherThread_BeforeRunReturns()
    {
        var progress = new Collect();
        var options = Options(FederatedModelKind.Gbdt, overlap: true) with
        {
            ExternalTrainer = (_, _, _) => throw new InvalidOperationException("bank 1 failed"),
        };

        var e = Assert.Throws<InvalidOperationException>(() => FederatedExperiment.Run(options, Scenarios.SmallBankData, n => new PlainSum(n, 44), progress));
        Assert.That(e!.Message, Is.EqualTo("bank 1 failed"), "the federated phase's own error, not the cancellation it caused");
        int reported = progress.Items.Count;
        string[] phases = progress.Items.Select(i => i.Progress.Phase).Distinct().ToArray();
        Assert.That(phases, Does.Not.Contain("local").And.Not.Contain("centralized").And.Not.Contain("done"),
            "the other thread stopped in its first step (the plain-sum training, at its next sum)");
        Thread.Sleep(500);
        Assert.That(progress.Items, Has.Count.EqualTo(reported), "nothing runs after Run returned");
    }

    [Test]
    public void Cancellation_StopsBothThreads_WithTheCancellation()
    {
        using var cts = new CancellationTokenSource();
        var options = Options(FederatedModelKind.Gbdt, overlap: true) with
        {
            ExternalTrainer = (_, _, token) =>
            {
                cts.Cancel();   // Ctrl-C while the bank processes train
                token.WaitHandle.WaitOne(TimeSpan.FromMinutes(2));
                token.ThrowIfCancellationRequested();
                throw new InvalidOperationException("the federated phase was never cancelled");
            },
        };

        Assert.That(() => FederatedExperiment.Run(options, Scenarios.SmallBankData, n => new PlainSum(n, 44), cancellationToken: cts.Token),
            Throws.InstanceOf<OperationCanceledException>());
    }
}
