using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Reporting;
using FraudFed.Learning.Tests.Support;

namespace FraudFed.Learning.Tests.Experiments;

public class FederatedExperimentTests
{
    private sealed class Collect : IProgress<ExperimentProgress>
    {
        public List<ExperimentProgress> Items { get; } = new();
        public void Report(ExperimentProgress value) => Items.Add(value);
    }

    [Test]
    public void SmallGbdtExperimentThroughAMaskedSumReportsEverything()
    {
        var options = new ExperimentOptions
        {
            Scenario = new SyntheticScenario { Banks = 3, Transactions = 15_000, Seed = 5, FraudRate = 0.02 },
            Gbdt = new GbdtOptions { Trees = 10, MaxDepth = 4, LearningRate = 0.3 },
            Baseline = new() { Iterations = 20 },
        };
        var progress = new Collect();
        ExperimentResult r = FederatedExperiment.Run(options, n => new MaskingTestSum(n, 40, seed: 1), progress);

        Assert.That(r.SecureEqualsPlaintext, Is.True);
        Assert.That(r.Mode, Is.EqualTo("test-masking"));
        Assert.That(r.Banks, Is.EqualTo(3));
        Assert.That(r.Transactions, Is.EqualTo(15_000));
        Assert.That(r.Federated.PerBank, Has.Count.EqualTo(3));
        Assert.That(r.LocalOnly!.PerBank, Has.Count.EqualTo(3));
        Assert.That(r.PrAucFederated, Is.InRange(0.0, 1.0));
        Assert.That(r.RocAucFederated, Is.GreaterThan(0.8));
        Assert.That(r.PrAucCentralized, Is.InRange(0.0, 1.0));
        Assert.That(r.Federated.Overall.Roc, Has.Count.GreaterThan(2));
        Assert.That(r.Cost.Sums, Is.GreaterThanOrEqualTo(2 + options.Gbdt.Trees));
        Assert.That(r.Cost.BytesUploaded, Is.GreaterThan(0));
        Assert.That(r.LightGbmModelText, Does.StartWith("tree\n"));

        var trees = progress.Items.Where(p => p.Phase == "federated" && p.TotalSteps == options.Gbdt.Trees && p.Step > 0).ToList();
        Assert.That(trees.Max(p => p.Step), Is.EqualTo(options.Gbdt.Trees));
        Assert.That(trees.Select(p => p.BytesUploaded), Is.Ordered);
        Assert.That(progress.Items.Select(p => p.Phase), Does.Contain("centralized").And.Contain("local").And.Contain("plain"));
        Assert.That(progress.Items[^1].Phase, Is.EqualTo("done"));
        // Messages a person reads on a redirected stderr, where only some lines are shown: every local line says which of how
        // many banks it is, the plain phase first says what it is for, and the sums before the first tree have no "0/10" step.
        Assert.That(progress.Items.Where(p => p.Phase == "local").Select(p => p.Message),
            Is.EqualTo(new[] { "LightGBM on bank-0 alone (1/3)", "LightGBM on bank-1 alone (2/3)", "LightGBM on bank-2 alone (3/3)" }));
        Assert.That(progress.Items.First(p => p.Phase == "plain").Message, Does.StartWith("training again with plain sums"));
        Assert.That(progress.Items.Where(p => p.Phase is "federated" or "plain").Select(p => p.Message), Has.None.Contains(" 0/"));
        Assert.That(progress.Items.Where(p => p.Phase is "federated" or "plain").Select(p => p.Message), Has.Some.EqualTo("setup (before the first step)"));

        using var json = System.Text.Json.JsonDocument.Parse(ExperimentReport.ToJson(r));
        var root = json.RootElement;
        foreach (string key in new[] { "mode", "model", "banks", "transactions", "pr_auc_federated", "pr_auc_centralized", "pr_auc_local_mean", "roc_auc_federated", "secure_equals_plaintext", "wall_s" })
            Assert.That(root.TryGetProperty(key, out _), Is.True, key);
        Assert.That(root.GetProperty("pr_auc_federated").GetDouble(), Is.EqualTo(r.PrAucFederated).Within(1e-6));
        Assert.That(root.GetProperty("secure_equals_plaintext").GetBoolean(), Is.True);
        Assert.That(root.GetProperty("per_bank").GetArrayLength(), Is.EqualTo(3));
        // Every setting of the run travels with it: the model's, the secure sum's, and the data source's.
        JsonSettings(root.GetProperty("settings"), ("mode", "test-masking"), ("trees", "10"), ("max_depth", "4"), ("model", "gbdt"), ("modulus_bits", "40"));
        JsonSettings(root.GetProperty("data"), ("source", "synthetic"), ("seed", "5"), ("transactions", "15000"), ("campaign_shift", "1"));

        string html = ExperimentReport.ToHtml(r);
        Assert.That(System.Text.RegularExpressions.Regex.Matches(html, "<polyline").Count, Is.EqualTo(6), "3 models x (ROC, PR)");
        // The federated curve is drawn last (on top) and dashed; the centralized one first and widest.
        var lines = System.Text.RegularExpressions.Regex.Matches(html, "<polyline[^>]*>").Select(m => m.Value).ToArray();
        Assert.That(lines[2], Does.Contain("stroke-dasharray"), "federated last and dashed");
        Assert.That(lines[0], Does.Not.Contain("stroke-dasharray").And.Contain("stroke-width=\"5.0\""), "centralized first and wide");
        Assert.That(html, Does.Contain("Settings of this run").And.Contain("campaign shift").And.Contain("<td>trees</td><td>10</td>"));
        Assert.That(html, Does.Contain("bank-2").And.Contain("bit-for-bit identical").And.Not.Contain("<script"));
    }

    private static void JsonSettings(System.Text.Json.JsonElement o, params (string Key, string Value)[] expected)
    {
        foreach (var (key, value) in expected)
            Assert.That(o.GetProperty(key).ToString(), Is.EqualTo(value), key);
    }

    [Test]
    public void LogisticExperimentRunsOnCsvStyleBanks()
    {
        var banks = Scenarios.SmallBankData;
        var options = new ExperimentOptions { Model = FederatedModelKind.Logistic, Logistic = new() { Rounds = 5 }, RunBaselines = false };
        ExperimentResult r = FederatedExperiment.Run(options, banks, n => new FraudFed.Protocol.PlainSum(n, 44));
        Assert.That(r.Model, Is.EqualTo("logistic"));
        Assert.That(r.SecureEqualsPlaintext, Is.True);
        Assert.That(r.LocalOnly, Is.Null);
        Assert.That(double.IsNaN(r.PrAucCentralized), Is.True);
        Assert.That(r.Cost.Sums, Is.EqualTo(2 + 5));
    }

    [Test]
    public void FederatedModelBeatsLocalOnlyModelsWhenCampaignsMoveBetweenBanks()
    {
        // A smaller version of the default scenario: each bank's later window brings typologies that were
        // concentrated at other banks during training; pooling knowledge through secure sums must help.
        var options = new ExperimentOptions
        {
            Scenario = new SyntheticScenario { Banks = 5, Transactions = 40_000, Seed = 2, FraudRate = 0.01 },
            Gbdt = new GbdtOptions { Trees = 60, MaxDepth = 5, LearningRate = 0.1 },
            Baseline = new() { Iterations = 60 },
            ComparePlain = false,
        };
        ExperimentResult r = FederatedExperiment.Run(options, n => new FraudFed.Protocol.PlainSum(n, 44));
        Assert.That(r.Federated.MeanBankPrAuc, Is.GreaterThan(r.PrAucLocalMean + 0.02));
        Assert.That(r.PrAucFederated, Is.GreaterThan(r.LocalOnly!.Overall.Metrics.PrAuc));
    }
}
