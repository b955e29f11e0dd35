// The training job on the appliance (SPEC.md 14.5) over real loopback sockets with real mutual TLS, 3 banks, INSECURE
// small parameters, small synthetic data: the model every bank gets from TrainAsync is, bit for bit (LightGBM text, or
// every logistic weight's bits), the model of the in-process TrainingRun over the same bank rows with a schoolbook sum
// mod 2^k; the appliance's own coordinator holds the same model, and a restart rebuilds it from the event log alone.
using FraudFed.Aggregator.Coordination;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Features;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class TrainingOnApplianceTests
{
    private const int Banks = 3;
    private const int Bits = 32;   // within the masking kit's 2^32 and the homomorphic test set's t = 2^44

    private static readonly Lazy<IReadOnlyList<BankData>> Data = new(() => TransactionFeatures.BuildAll(
        SyntheticBankGenerator.Generate(new SyntheticScenario { Banks = Banks, Transactions = 3_000, Seed = 11, FraudRate = 0.04 })));

    private static TrainingSettings Job(string model) => new()
    {
        Model = model,
        ModulusBits = Bits,
        FeatureNames = Data.Value[0].Train.FeatureNames.ToArray(),
        Gbdt = model == "gbdt" ? new GbdtOptions { Trees = 3, MaxDepth = 3, MaxBins = 16, LearningRate = 0.3, MinChildCount = 5 } : null,
        Logistic = model == "logistic" ? new LogisticOptions { Rounds = 3, LocalSteps = 2 } : null,
    };

    /// <summary>The in-process reference: TrainingRun with each bank's party and a schoolbook sum mod 2^k.</summary>
    private static object InProcess(TrainingSettings job)
    {
        ITrainingBankParty[] parties = Data.Value.Select(b => TrainingJobFactory.BankParty(job, b.Train)).ToArray();
        return TrainingRun.Run(TrainingJobFactory.Coordinator(job), parties, (answers, _, _) =>
        {
            ulong mask = (1UL << Bits) - 1;
            var sum = new ulong[answers[0].Length];
            foreach (ulong[] a in answers)
                for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + a[i]) & mask;
            return sum;
        });
    }

    private static string Fingerprint(object model) => model switch
    {
        GbdtModel g => LightGbmTextExport.ToLightGbmText(g),
        LogisticModel l => string.Join(",", l.Weights.Concat(l.Mean).Concat(l.Std).Select(w => BitConverter.DoubleToInt64Bits(w).ToString("x16"))) + $"/{l.WeightScaleBits}",
        _ => throw new ArgumentException("unknown model"),
    };

    private static string Fingerprint(TrainedModel m) => m.Gbdt is not null ? m.ToLightGbmText() : Fingerprint(m.Logistic!);

    [TestCase("he", "gbdt")]
    [TestCase("masking", "gbdt")]
    [TestCase("he", "logistic")]
    [TestCase("masking", "logistic")]
    public async Task ThreeBanks_TrainAsync_GivesTheInProcessModelBitForBit_AndARestartReplaysIt(string mode, string model)
    {
        TrainingSettings job = Job(model);
        string expected = Fingerprint(InProcess(job));

        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: Banks, maxMessageBytes: 64 << 20);   // the fine grid is features x 4096 values
        kit.EditConfig(c => c with { Training = job });
        await kit.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(240));
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        var progress = new List<TrainingProgress>();
        var reporter = new SynchronousProgress(p => { lock (progress) progress.Add(p); });
        TrainedModel[] models = await Task.WhenAll(clients.Select((c, i) => c.TrainAsync(Data.Value[i].Train, i == 0 ? reporter : null, cts.Token)));

        foreach (TrainedModel m in models) Assert.That(Fingerprint(m), Is.EqualTo(expected), $"{mode}/{model}: a bank's model differs from the in-process model");
        Assert.That(kit.Host!.Coordinator.Training!.Completed, Is.True);
        Assert.That(Fingerprint(kit.Host.Coordinator.TrainedModel!), Is.EqualTo(expected), "the appliance's coordinator model");
        Assert.That(progress, Is.Not.Empty);
        Assert.That(progress[^1].Sums, Is.EqualTo(models[0].Sums));
        Assert.That(progress[^1].BytesUploaded, Is.GreaterThan(0));
        Assert.That(progress.Select(p => p.Broadcasts), Is.Ordered.Ascending);
        Assert.That(models[0].Sums, Is.GreaterThan(0));
        Assert.That(clients.Select(c => c.Transport.Timings.Requests), Is.All.EqualTo(0L),
            "every round of the job was opened by the appliance with its step (TrainingStep.round): no bank sent a RoundRequest");

        TrainingStatus before = kit.Host.Coordinator.Training!;
        await kit.StopAsync();
        await kit.StartAsync();
        Assert.That(kit.Host!.Coordinator.Training, Is.EqualTo(before), "replaying the event log rebuilds the job's progress");
        Assert.That(Fingerprint(kit.Host.Coordinator.TrainedModel!), Is.EqualTo(expected), "replaying the event log rebuilds the model");
    }

    [TestCase("he")]
    [TestCase("masking")]
    public async Task ABankThatAsksForTheStepsRound_IsAnsweredWithTheRoundTheStepNamed_AndNothingIsQueued(string mode)
    {
        // An SDK that does not read TrainingStep.round asks with RoundRequest (SPEC.md 14.5): the appliance opened the round
        // with the step, so the request is answered with that round (Asking again inside a round), not queued for the next.
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: Banks, maxMessageBytes: 64 << 20);
        kit.EditConfig(c => c with { Training = Job("logistic") });
        await kit.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(cts.Token)));
        Sdk.Wire.TrainingStep? step = null;
        while (step is not { SumLength: > 0 })
        {
            Sdk.Wire.MailboxItem item = await clients[0].Transport.NextTrainingItemAsync(cts.Token);
            Assert.That(item.ItemCase, Is.Not.EqualTo(Sdk.Wire.MailboxItem.ItemOneofCase.TrainingEnd));
            if (item.ItemCase == Sdk.Wire.MailboxItem.ItemOneofCase.TrainingStep) step = item.TrainingStep;
        }
        Assert.That(step.Round, Is.EqualTo(1UL), "the job's first sum is the session's first round");
        Assert.That(kit.Host!.Coordinator.Position, Does.Not.Contain("asked for round"));
        ulong asked = await clients[0].Transport.RequestRoundAsync((int)step.SumLength, cts.Token);
        Assert.That(asked, Is.EqualTo(step.Round));
        Assert.That(kit.Host.Coordinator.Position, Does.Not.Contain("asked for round"), "the request was not queued for a next round");
        Assert.ThrowsAsync<VectorLengthMismatchException>(async () => await clients[1].Transport.RequestRoundAsync((int)step.SumLength + 1, cts.Token));
    }

    [Test]
    public async Task ABankWhoseColumnsDifferFromTheJob_GetsATypedErrorNamingTheFix()
    {
        TrainingSettings job = Job("logistic") with { FeatureNames = [.. Data.Value[0].Train.FeatureNames.Reverse()] };
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        kit.EditConfig(c => c with { Training = job });
        await kit.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        FederationClient[] clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        Task<TrainedModel>[] runs = clients.Select((c, i) => c.TrainAsync(Data.Value[i].Train, null, cts.Token)).ToArray();
        TrainingFailedException? e = Assert.ThrowsAsync<TrainingFailedException>(async () => await runs[0]);
        Assert.That(e!.Message, Does.Contain("differ from the training job's schema"));
        Assert.That(kit.Host!.Coordinator.Training!.Sums, Is.Zero, "no sum ran");
    }

    [Test]
    public async Task AJobWhoseModulusExceedsTheSession_IsRefusedAtLoad()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        kit.EditConfig(c => c with { Training = Job("gbdt") with { ModulusBits = 44 } });
        ConfigurationException? e = Assert.Throws<ConfigurationException>(() => Hosting.AggregatorConfig.Load(kit.ConfigPath));
        Assert.That(e!.Message, Does.Contain("training.modulus_bits"));
    }

    /// <summary>IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool, out of order).</summary>
    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
