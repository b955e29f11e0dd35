// TrainAsync: one bank's side of the appliance's training job (SPEC.md 14.4, 14.5). The appliance sends the job (model,
// options, k, schema), then the coordinator's broadcasts, each as a TrainingStep mailbox item. The bank answers each
// broadcast with its bank party (its own rows only) and, when the step asks for a sum, contributes the answer to the next
// secure sum round through the mode's protocol client (the SumAsync path). Protocol items the mailbox holds between sums stay
// for that client (ApplianceBankTransport). Every bank receives every opened sum, so the bank also
// runs its own copy of the coordinator on those sums: each broadcast of the appliance must equal, byte for byte, the one
// its copy computes (an appliance that deviates is caught at the first differing step), and the final model is its
// copy's model: the same model at every bank and at the appliance, without a model transfer.
using System.Diagnostics;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Microsoft.ML;

namespace FraudFed.Sdk;

/// <summary>Progress of <see cref="FederationClient.TrainAsync(LabeledRows, IProgress{TrainingProgress}?, CancellationToken)"/>,
/// reported after each broadcast this bank answered.</summary>
/// <param name="Stage">"setup", "tree" (GBDT) or "round" (logistic regression).</param>
/// <param name="Step">Tree or round number, 1-based (0 during setup).</param>
/// <param name="TotalSteps">Planned trees or rounds.</param>
/// <param name="Level">Tree level (GBDT), 0-based; -1 otherwise.</param>
/// <param name="Broadcasts">Broadcasts answered so far.</param>
/// <param name="Sums">Secure sums this bank contributed to so far.</param>
/// <param name="BytesUploaded">Bytes this bank submitted so far (all calls of this client).</param>
/// <param name="BytesDownloaded">Bytes of mailbox items this bank read so far.</param>
/// <param name="Elapsed">Time since training started.</param>
public sealed record TrainingProgress(string Stage, int Step, int TotalSteps, int Level, long Broadcasts, int Sums, long BytesUploaded, long BytesDownloaded, TimeSpan Elapsed);

/// <summary>The model a training job produced, identical at every bank.</summary>
public sealed class TrainedModel
{
    internal TrainedModel(TrainingSettings settings, object model, long broadcasts, int sums, long values)
    {
        Values = values;
        Settings = settings;
        Gbdt = model as GbdtModel;
        Logistic = model as LogisticModel;
        Broadcasts = broadcasts;
        Sums = sums;
    }

    /// <summary>The job: model kind, options, k, schema.</summary>
    public TrainingSettings Settings { get; }
    /// <summary>The federated GBDT (model "gbdt"), else null.</summary>
    public GbdtModel? Gbdt { get; }
    /// <summary>The logistic model (model "logistic"), else null.</summary>
    public LogisticModel? Logistic { get; }
    /// <summary>Broadcasts answered.</summary>
    public long Broadcasts { get; }
    /// <summary>Secure sums contributed to.</summary>
    public int Sums { get; }
    /// <summary>Values this bank contributed over all sums (residues mod 2^k).</summary>
    public long Values { get; }

    /// <summary>The GBDT as a LightGBM text model (LightGBM scores it identically).</summary>
    /// <exception cref="InvalidOperationException">the model is the logistic one.</exception>
    public string ToLightGbmText() => Gbdt is null
        ? throw new InvalidOperationException("A logistic model has no LightGBM text form; use Logistic.")
        : LightGbmTextExport.ToLightGbmText(Gbdt);
}

public sealed partial class FederationClient
{
    /// <summary>Trains the appliance's job from this bank's rows of a CSV file (read with <see cref="CsvDatasetLoader"/>).</summary>
    /// <param name="csvPath">The bank's own CSV file (all rows are training rows).</param>
    /// <param name="schema">Column roles; its features must be the job's schema, in order.</param>
    /// <param name="categories">Category encoder (the consortium's key, so that buckets agree at every bank); null: the public salt.</param>
    /// <param name="progress">Progress after each broadcast, or null.</param>
    /// <param name="cancellationToken">Cancels between and inside calls.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="DataFormatException">the file does not fit the schema (names the row and column).</exception>
    /// <exception cref="TrainingFailedException">the job failed or the data does not fit the job (the message says what to do).</exception>
    /// <exception cref="FederationException">the appliance refused a message, ended the session or stayed unreachable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<TrainedModel> TrainAsync(string csvPath, CsvSchema schema, CategoryEncoder? categories = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(csvPath);
        ArgumentNullException.ThrowIfNull(schema);
        LabeledRows rows = CsvDatasetLoader.Load(csvPath, schema, categories, cancellationToken).Rows;
        return TrainAsync(rows, progress, cancellationToken);
    }

    /// <summary>Trains the appliance's job from an ML.NET <see cref="IDataView"/> (read with <see cref="DataViewInterop.FromDataView"/>).</summary>
    /// <param name="data">The bank's training rows.</param>
    /// <param name="labelColumn">Boolean or 0/1 label column.</param>
    /// <param name="featureColumns">Feature columns in the job's schema order; null: every column but label and time.</param>
    /// <param name="progress">Progress after each broadcast, or null.</param>
    /// <param name="cancellationToken">Cancels between and inside calls.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="TrainingFailedException">the job failed or the data does not fit the job.</exception>
    /// <exception cref="FederationException">the appliance refused a message, ended the session or stayed unreachable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<TrainedModel> TrainAsync(IDataView data, string labelColumn = DataViewInterop.LabelColumn, IReadOnlyList<string>? featureColumns = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return TrainAsync(DataViewInterop.FromDataView(data, labelColumn, featureColumns), progress, cancellationToken);
    }

    /// <summary>
    /// Trains the appliance's job (SPEC.md 14.5) from this bank's <paramref name="rows"/>: connects if needed, reads the job,
    /// answers every broadcast with the bank party and contributes each answer that needs a sum to the next round, and
    /// returns the model its own copy of the coordinator computed from the opened sums (checked against every broadcast).
    /// Every bank of the roster must train at the same time: every sum needs every bank.
    /// </summary>
    /// <param name="rows">The bank's training rows; column names must equal the job's schema, in order.</param>
    /// <param name="progress">Progress after each broadcast, or null.</param>
    /// <param name="cancellationToken">Cancels between and inside calls.</param>
    /// <returns>The trained model.</returns>
    /// <exception cref="TrainingFailedException">the appliance has no training job, the job ended without a model (a bank
    /// dropped out), the rows do not fit the job, or a broadcast differs from this bank's replay of the sums.</exception>
    /// <exception cref="FederationException">the appliance refused a message, ended the session or stayed unreachable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<TrainedModel> TrainAsync(LabeledRows rows, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Rows == 0) throw new TrainingFailedException("this bank has no training rows; give it its transactions before training.");
        if (_session is not { IsReady: true }) await ConnectAsync(cancellationToken).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        TrainingSettings? job = null;
        ITrainingBankParty? party = null;
        ITrainingCoordinator<object>? replica = null;
        ulong mask = 0;
        long broadcasts = 0;
        int sums = 0;
        long values = 0;
        while (true)
        {
            MailboxItem item;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { item = await Transport.NextTrainingItemAsync(cancellationToken).ConfigureAwait(false); }
            finally { _gate.Release(); }
            switch (item.ItemCase)
            {
                case MailboxItem.ItemOneofCase.TrainingJob:
                {
                    TrainingJob j = item.TrainingJob;
                    job = TrainingJobFactory.FromJob(j.Model, j.OptionsJson, (int)j.ModulusBits, j.FeatureNames);
                    if (!rows.FeatureNames.SequenceEqual(job.FeatureNames, StringComparer.Ordinal))
                        throw new TrainingFailedException($"this bank's columns ({string.Join(", ", rows.FeatureNames)}) differ from the training job's schema ({string.Join(", ", job.FeatureNames)}); load the data with the consortium's schema, same columns in the same order.");
                    try
                    {
                        party = TrainingJobFactory.BankParty(job, rows);
                        replica = TrainingJobFactory.Coordinator(job);
                    }
                    catch (ArgumentException e) { throw new TrainingFailedException($"the training job's settings are not usable here ({e.Message}); ask the operator.", e); }
                    mask = job.ModulusBits == 64 ? ulong.MaxValue : (1UL << job.ModulusBits) - 1;
                    break;
                }
                case MailboxItem.ItemOneofCase.TrainingStep:
                {
                    if (party is null || replica is null || job is null)
                        throw new TrainingFailedException("the appliance sent a training step before its job; this bank joined a job already under way, which cannot be resumed: ask the operator to start a new session.");
                    TrainingStep s = item.TrainingStep;
                    if (replica.IsComplete || replica.Broadcast is null
                        || !TrainingWire.Encode(replica.Broadcast).AsSpan().SequenceEqual(s.Broadcast.Span) || (uint)replica.SumLength != s.SumLength)
                        throw new TrainingFailedException($"the appliance's training step {s.Step} differs from this bank's replay of the opened sums; the appliance is misconfigured or misbehaving: stop and tell the operator.");
                    TrainingBroadcast broadcast = TrainingWire.Decode(s.Broadcast.Span);
                    ulong[] answer;
                    try { answer = party.Answer(broadcast); }
                    catch (Exception e) when (e is Cryptography.ProtocolViolationException or OverflowException or DataFormatException)
                    {
                        throw new TrainingFailedException($"this bank cannot answer training step {s.Step}: {e.Message}", e);
                    }
                    broadcasts++;
                    SumLabel label = replica.Label;
                    if (s.SumLength == 0)
                    {
                        replica.Accept(ReadOnlySpan<ulong>.Empty);
                    }
                    else
                    {
                        // The round the appliance opened for this step when it broadcast it (SPEC.md 14.5): no RoundRequest, its round
                        // start is already in the mailbox. An appliance that names none gets a request.
                        FederatedSum sum = await SumInRoundAsync(answer, s.Round == 0 ? null : s.Round, into: null, cancellationToken).ConfigureAwait(false);
                        if (sum.Contributors.Count != Settings.Banks)
                            throw new TrainingFailedException($"round {sum.Round} summed only banks {string.Join(", ", sum.Contributors)}; federated training needs every bank in every sum: check that every bank runs and retry in a new session.");
                        var reduced = new ulong[sum.Sum.Length];
                        for (int i = 0; i < reduced.Length; i++) reduced[i] = sum.Sum[i] & mask;
                        try { replica.Accept(reduced); }
                        catch (Exception e) when (e is ArgumentException or InvalidOperationException or DataFormatException)
                        {
                            throw new TrainingFailedException($"the sum of round {sum.Round} cannot train the model: {e.Message}", e);
                        }
                        sums++;
                        values += answer.Length;
                    }
                    progress?.Report(new TrainingProgress(label.Stage, label.Step, label.TotalSteps, label.Level, broadcasts, sums, BytesUploaded, BytesDownloaded, clock.Elapsed));
                    break;
                }
                case MailboxItem.ItemOneofCase.TrainingEnd:
                {
                    TrainingEnd end = item.TrainingEnd;
                    if (!end.Succeeded)
                        throw new TrainingFailedException($"the appliance ended the training job: {end.Reason}. Check that every bank is running, then ask the operator to start a new session.");
                    if (replica is not { IsComplete: true } || job is null)
                        throw new TrainingFailedException("the appliance reports the training job complete, but this bank's replay of the sums is not; stop and tell the operator.");
                    return new TrainedModel(job, replica.Model, broadcasts, sums, values);
                }
            }
        }
    }
}
