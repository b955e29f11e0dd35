// `fraudfed bank train` against a running appliance with a training job: three banks, each a `bank train` invocation on
// its own CSV file, over loopback mutual TLS (masking mode, INSECURE test kit). Each writes model.txt, and each equals
// the LightGBM text of the in-process TrainingRun over the rows read from the same files with a schoolbook sum mod 2^k.
using System.Globalization;
using System.Text;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Learning.Data;
using FraudFed.Learning.Features;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[NonParallelizable]
public sealed class BankTrainCommandTests
{
    private const int Banks = 3;
    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fraudfed-cli-train-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    private static void WriteCsv(string path, LabeledRows rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", rows.FeatureNames) + ",label");
        for (int r = 0; r < rows.Rows; r++)
        {
            for (int f = 0; f < rows.Features; f++)
            {
                float v = rows.Values[r * rows.Features + f];
                sb.Append(float.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture)).Append(',');
            }
            sb.AppendLine(rows.Labels[r] ? "1" : "0");
        }
        File.WriteAllText(path, sb.ToString());
    }

    [Test]
    public async Task ThreeBanks_BankTrain_WriteTheInProcessModel()
    {
        IReadOnlyList<BankData> data = TransactionFeatures.BuildAll(SyntheticBankGenerator.Generate(new SyntheticScenario { Banks = Banks, Transactions = 3_000, Seed = 11, FraudRate = 0.04 }));
        string kit = Path.Combine(_dir, "kit");
        DevelopmentProvisioning.Write(kit, new ProvisioningOptions { Banks = Banks, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = null, InsecureTestParameters = true });
        var job = new TrainingSettings
        {
            Model = "gbdt", ModulusBits = 32, FeatureNames = data[0].Train.FeatureNames.ToArray(),
            Gbdt = new GbdtOptions { Trees = 2, MaxDepth = 3, MaxBins = 16, LearningRate = 0.3, MinChildCount = 5 },
        };
        string aggregatorPath = Path.Combine(kit, "aggregator.json");
        File.WriteAllText(aggregatorPath, JsonSerializer.Serialize(ConfigJson.Load<AggregatorConfig>(aggregatorPath) with { Training = job, OpsListen = "127.0.0.1:0" }, ConfigJson.Options));
        using LoadedAggregatorConfig loaded = AggregatorConfig.Load(aggregatorPath);
        await using ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync();
        int port = host.Addresses.First(a => a.Scheme == "https").Port;

        var csv = new string[Banks];
        var rows = new LabeledRows[Banks];
        for (int b = 0; b < Banks; b++)
        {
            string bankPath = Path.Combine(kit, "banks", $"bank-{b}", "bank.json");
            File.WriteAllText(bankPath, JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(bankPath) with { Aggregator = $"https://127.0.0.1:{port}" }, ConfigJson.Options));
            csv[b] = Path.Combine(_dir, $"bank-{b}.csv");
            WriteCsv(csv[b], data[b].Train);
            rows[b] = CsvDatasetLoader.Load(csv[b], new CsvSchema { LabelColumn = "label", Name = "test" }).Rows;
        }
        var runs = Enumerable.Range(0, Banks).Select(b => Task.Run(() => HostileInputTests.Run("bank", "train", "--config", Path.Combine(kit, "banks", $"bank-{b}", "bank.json"),
            "--data", csv[b], "--label", "label", "--out", Path.Combine(_dir, $"out-{b}"), "--json", "--timeout", "240"))).ToArray();
        var results = await Task.WhenAll(runs);

        ITrainingBankParty[] parties = rows.Select(r => TrainingJobFactory.BankParty(job, r)).ToArray();
        var expected = (GbdtModel)TrainingRun.Run(TrainingJobFactory.Coordinator(job), parties, (answers, _, _) =>
        {
            var sum = new ulong[answers[0].Length];
            foreach (ulong[] a in answers)
                for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + a[i]) & 0xFFFF_FFFFUL;
            return sum;
        });
        string expectedText = LightGbmTextExport.ToLightGbmText(expected);
        for (int b = 0; b < Banks; b++)
        {
            Assert.That(results[b].Code, Is.EqualTo(0), results[b].Stderr);
            Assert.That(File.ReadAllText(Path.Combine(_dir, $"out-{b}", "model.txt")), Is.EqualTo(expectedText), $"bank {b}'s model.txt");
            using JsonDocument summary = JsonDocument.Parse(results[b].Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
            Assert.That(summary.RootElement.GetProperty("bank").GetInt32(), Is.EqualTo(b));
            Assert.That(summary.RootElement.GetProperty("sums").GetInt32(), Is.GreaterThan(2));
        }
        await host.StopAsync();
    }

    [Test]
    public void BankTrain_MissingDataFile_ExitsTwoBeforeAnyConnection()
    {
        var (code, _, stderr) = HostileInputTests.Run("bank", "train", "--config", Path.Combine(_dir, "none.json"), "--data", Path.Combine(_dir, "none.csv"), "--label", "label", "--out", Path.Combine(_dir, "out"));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.StartWith("fraudfed bank train: ").And.Contain("--data"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")), Is.False);
    }
}
