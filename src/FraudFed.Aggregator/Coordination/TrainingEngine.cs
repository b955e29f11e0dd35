// The training job on the appliance (SPEC.md 14.5, training on the appliance): the coordinator of the party-split trainer
// (SPEC.md 14.4) driven by the rounds the mode engine closes. It is a deterministic function of the event log: it starts
// when the session's setup is done (the mode engine can open rounds), and after each event it takes the round that event
// closed, if any, feeds that round's sum (reduced mod 2^k) to the coordinator, and emits the next broadcasts to every bank,
// up to and including the next one that needs a secure sum. The banks' answers come back only inside those sums. Replaying
// the log into a fresh engine therefore rebuilds the coordinator step by step; nothing of it is stored on its own.
using System.Security.Cryptography;
using FraudFed.Aggregator.Storage;
using FraudFed.Learning.Federation;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;

namespace FraudFed.Aggregator.Coordination;

/// <summary>The progress of the appliance's training job.</summary>
/// <param name="Started">The job item was sent.</param>
/// <param name="Completed">The model is trained and every bank was told.</param>
/// <param name="Failed">The job ended without a model; <paramref name="Reason"/> says why.</param>
/// <param name="Steps">Broadcasts sent so far.</param>
/// <param name="Sums">Secure sums fed to the coordinator so far.</param>
/// <param name="Reason">Why the job failed, or empty.</param>
public sealed record TrainingStatus(bool Started, bool Completed, bool Failed, ulong Steps, int Sums, string Reason);

internal sealed class TrainingEngine
{
    private readonly TrainingSettings _settings;
    private readonly ITrainingCoordinator<object> _coordinator;
    private readonly int _banks;
    private readonly ulong _mask;
    private bool _started;
    private bool _ended;
    private bool _failed;
    private string _reason = "";
    private ulong _steps;
    private int _sums;
    private bool _awaitingSum;
    private (ulong Round, int Length) _announced;   // the round the last step that needs a sum named, and its length

    public TrainingEngine(TrainingSettings settings, int banks)
    {
        _settings = settings;
        _coordinator = TrainingJobFactory.Coordinator(settings);
        _banks = banks;
        _mask = settings.ModulusBits == 64 ? ulong.MaxValue : (1UL << settings.ModulusBits) - 1;
    }

    public TrainingStatus Status => new(_started, _ended && !_failed, _failed, _steps, _sums, _reason);

    /// <summary>The trained model (GbdtModel or LogisticModel), or null before completion.</summary>
    public object? Model => _ended && !_failed ? _coordinator.Model : null;

    /// <summary>The round the last broadcast step named for its sum and that step's sum length, while the job waits for that
    /// sum: the coordinator opens it (every session bank a participant) as soon as it is the next round (SPEC.md 14.5, training
    /// on the appliance). Null when no sum is awaited.</summary>
    public (ulong Round, int Length)? RoundToOpen => _awaitingSum && !_ended ? _announced : null;

    /// <summary>Mailbox items due after one applied event (called in live runs and on replay alike). <paramref name="nextRound"/>
    /// is the number of the next round the coordinator opens: a step that needs a sum names it.</summary>
    public IReadOnlyList<OutboundItem> After(IModeEngine engine, ulong nextRound)
    {
        ClosedRound? closed = engine.TakeClosedRound();
        var outs = new List<OutboundItem>();
        if (_ended) return outs;
        if (!_started)
        {
            if (!engine.CanOpenRound) return outs;
            _started = true;
            var job = new TrainingJob { Model = _settings.Model, OptionsJson = TrainingJobFactory.OptionsJson(_settings), ModulusBits = (uint)_settings.ModulusBits };
            job.FeatureNames.AddRange(_settings.FeatureNames);
            ToAll(outs, new MailboxItem { TrainingJob = job });
            Emit(outs, nextRound);
            return outs;
        }
        if (closed is null || !_awaitingSum) return outs;
        if (closed.Sum is null)
        {
            Fail(outs, RoundFailedReason(closed));
            return outs;
        }
        if (closed.Contributors.Count != _banks)
        {
            var missing = Enumerable.Range(0, _banks).Except(closed.Contributors);
            Fail(outs, $"bank(s) {string.Join(", ", missing)} dropped out of round {closed.Round}; federated training needs every bank in every sum");
            return outs;
        }
        if (closed.Sum.Length != _coordinator.SumLength)
        {
            Fail(outs, $"round {closed.Round} summed {closed.Sum.Length} values, the training step expects {_coordinator.SumLength}");
            return outs;
        }
        var sum = new ulong[closed.Sum.Length];
        for (int i = 0; i < sum.Length; i++) sum[i] = closed.Sum[i] & _mask;
        _awaitingSum = false;
        try { _coordinator.Accept(sum); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FraudFed.Learning.Data.DataFormatException)
        {
            Fail(outs, $"the coordinator refused the sum of round {closed.Round}: {e.Message}");
            return outs;
        }
        _sums++;
        Emit(outs, nextRound);
        return outs;
    }

    /// <summary>Why the job ends when <paramref name="closed"/>'s round gave no sum: the round, its outcome, and the banks that
    /// stayed silent in it (their indexes, <see cref="ClosedRound.Silent"/>) when some did. No secret.</summary>
    internal static string RoundFailedReason(ClosedRound closed) => closed.Silent.Count > 0
        ? $"secure sum round {closed.Round} failed ({closed.Reason}): {Clock.SilentInRound(closed.Silent, "message for one of its stages")}; federated training needs every sum"
        : $"secure sum round {closed.Round} failed ({closed.Reason}); federated training needs every sum";

    /// <summary>Sends broadcasts until one needs a sum (it names <paramref name="nextRound"/>, which the coordinator opens for
    /// it at once), or the job ends.</summary>
    private void Emit(List<OutboundItem> outs, ulong nextRound)
    {
        while (true)
        {
            if (_coordinator.IsComplete)
            {
                _ended = true;
                ToAll(outs, new MailboxItem { TrainingEnd = new TrainingEnd { Succeeded = true, Steps = _steps } });
                return;
            }
            TrainingBroadcast broadcast = _coordinator.Broadcast ?? throw new InvalidOperationException("The coordinator has no broadcast but is not complete.");
            int length = _coordinator.SumLength;
            _steps++;
            ToAll(outs, new MailboxItem { TrainingStep = new TrainingStep { Step = _steps, Broadcast = ByteString.CopyFrom(TrainingWire.Encode(broadcast)), SumLength = (uint)length, Round = length > 0 ? nextRound : 0 } });
            if (length > 0)
            {
                _awaitingSum = true;
                _announced = (nextRound, length);
                return;
            }
            try { _coordinator.Accept(ReadOnlySpan<ulong>.Empty); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                Fail(outs, $"the coordinator stopped: {e.Message}");
                return;
            }
        }
    }

    private void Fail(List<OutboundItem> outs, string reason)
    {
        _ended = true;
        _failed = true;
        _reason = reason;
        ToAll(outs, new MailboxItem { TrainingEnd = new TrainingEnd { Succeeded = false, Reason = reason, Steps = _steps } });
    }

    private void ToAll(List<OutboundItem> outs, MailboxItem item)
    {
        byte[] bytes = item.ToByteArray();
        for (int b = 0; b < _banks; b++) outs.Add(new OutboundItem(b, bytes));
    }

    /// <summary>The digest of the job, folded into the state file's configuration digest.</summary>
    public static string Digest(string federationDigest, TrainingSettings? settings)
    {
        if (settings is null) return federationDigest;
        string canonical = System.Text.Json.JsonSerializer.Serialize(settings, ConfigJson.Canonical);
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(federationDigest + "\n" + canonical)));
    }
}
