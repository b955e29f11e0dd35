// `simulate --transport grpc`: the federated model trained on the real stack in one process. A development kit is made
// (the code of `aggregator init`) in a temporary directory, the appliance is started on a free loopback port with mutual
// TLS and the kit's training job, and one bank SDK client per bank (each with its own certificate and protocol key,
// over its own TLS connection) trains from that bank's rows only (FederationClient.TrainAsync). Every bank must end with
// the same model; the kit is deleted afterwards. Bank processes are in-process clients here, not separate processes.
using System.Diagnostics;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Learning.Data;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;

namespace FraudFed.Cli.Commands;

/// <summary>Trains a simulation's federated model through the appliance and bank SDK clients over loopback mutual TLS.</summary>
internal static class ApplianceTraining
{
    /// <summary>An <see cref="ExternalFederatedTrainer"/> for <paramref name="mode"/> with k = <paramref name="modulusBits"/>;
    /// progress lines go to <paramref name="stderr"/> (each bank at most once a second).</summary>
    public static ExternalFederatedTrainer Trainer(string mode, int modulusBits, int? threshold, TextWriter stderr) =>
        (options, train, cancellationToken) => Train(mode, modulusBits, threshold, options, train, stderr, cancellationToken);

    private static (object Model, ProtocolCost Cost) Train(string mode, int modulusBits, int? threshold, ExperimentOptions options,
        IReadOnlyList<LabeledRows> train, TextWriter stderr, CancellationToken cancellationToken)
    {
        int n = train.Count;
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-simulate-" + Guid.NewGuid().ToString("N")[..12]);
        var clients = new List<FederationClient>();
        var configs = new List<LoadedBankConfig>();
        ApplianceHost? host = null;
        LoadedAggregatorConfig? loaded = null;
        var clock = Stopwatch.StartNew();
        try
        {
            DevelopmentProvisioning.Write(dir, new ProvisioningOptions { Banks = n, Mode = mode, Listen = "127.0.0.1:0", OpsListen = null });
            string aggregatorPath = Path.Combine(dir, "aggregator.json");
            AggregatorConfig config = ConfigJson.Load<AggregatorConfig>(aggregatorPath);
            FederationSettings federation = config.Federation;
            if (mode == "masking") federation = federation with { Masking = (federation.Masking ?? new MaskingSettings()) with { ModulusBits = modulusBits } };
            if (threshold is { } t)
                federation = mode == "masking"
                    ? federation with { Masking = federation.Masking! with { Threshold = t } }
                    : federation with { He = (federation.He ?? new HeSettings()) with { Threshold = t } };
            var job = new TrainingSettings
            {
                Model = options.Model == FederatedModelKind.Gbdt ? "gbdt" : "logistic",
                ModulusBits = modulusBits,
                FeatureNames = train[0].FeatureNames.ToArray(),
                Gbdt = options.Model == FederatedModelKind.Gbdt ? options.Gbdt : null,
                Logistic = options.Model == FederatedModelKind.Logistic ? options.Logistic : null,
            };
            config = config with { Federation = federation, Training = job };
            File.WriteAllText(aggregatorPath, JsonSerializer.Serialize(config, ConfigJson.Options));
            loaded = AggregatorConfig.Load(aggregatorPath);
            host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
            host.StartAsync(cancellationToken).GetAwaiter().GetResult();
            Uri address = host.Addresses.First(a => a.Scheme == "https");
            for (int b = 0; b < n; b++)
            {
                string path = Path.Combine(dir, "banks", $"bank-{b}", "bank.json");
                BankConfig bank = ConfigJson.Load<BankConfig>(path);
                File.WriteAllText(path, JsonSerializer.Serialize(bank with { Aggregator = $"https://127.0.0.1:{address.Port}", Federation = federation }, ConfigJson.Options));
                LoadedBankConfig c = BankConfig.Load(path);
                configs.Add(c);
                clients.Add(FederationClient.Create(c));
            }
            stderr.WriteLine($"fraudfed simulate: appliance on {address} (mutual TLS, development kit in {dir}); {n} bank SDK clients training");
            var last = new DateTime[n];
            Task<TrainedModel>[] runs = clients.Select((c, b) => c.TrainAsync(train[b], new LineProgress(p =>
            {
                DateTime now = DateTime.UtcNow;
                lock (last)
                {
                    if (now - last[b] < TimeSpan.FromSeconds(1)) return;
                    last[b] = now;
                    stderr.WriteLine($"  bank {b}: {p.Stage} {p.Step}/{p.TotalSteps}{(p.Level >= 0 ? $" level {p.Level}" : "")}, {p.Sums} sums, {p.BytesUploaded / 1e6:0.0} MB up, {p.BytesDownloaded / 1e6:0.0} MB down");
                }
            }), cancellationToken)).ToArray();
            TrainedModel[] models = Task.WhenAll(runs).GetAwaiter().GetResult();
            object model = models[0].Gbdt ?? (object)models[0].Logistic!;
            for (int b = 1; b < n; b++)
            {
                bool same = model is GbdtModel g ? models[b].Gbdt!.BitwiseEquals(g) : models[b].Logistic!.BitwiseEquals((LogisticModel)model);
                if (!same) throw new FederationException($"bank {b} ended with another model than bank 0; the run is not valid.");
            }
            var cost = new ProtocolCost(mode, modulusBits, models[0].Sums, models[0].Values,
                clients.Sum(c => c.BytesUploaded), clients.Sum(c => c.BytesDownloaded), clock.Elapsed);
            return (model, cost);
        }
        finally
        {
            foreach (FederationClient c in clients) c.DisposeAsync().AsTask().GetAwaiter().GetResult();
            foreach (LoadedBankConfig c in configs) c.Dispose();
            if (host is not null)
            {
                host.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
                host.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            loaded?.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>IProgress that reports on the reporting thread.</summary>
    private sealed class LineProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
