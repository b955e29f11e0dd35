// The coordinator of one appliance session (SPEC.md 14.5). Every change goes through one lock and one store
// transaction, in this order: the engine applies the event (a refused message throws and changes nothing), the event
// and the mailbox items it produced are appended durably, waiting readers are woken, and only then is the bank answered.
// Rounds: banks ask to join the next round (RequestRound); it opens when every bank of the session has asked, or when
// the join deadline passes. Each stage closes when every expected bank has answered, or at its deadline (the silent
// banks are dropouts; the protocol decides whether enough remain). On start the log is replayed into fresh parties.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Coordination;

/// <summary>Drives the aggregator party of the configured mode from bank messages, round requests and stage deadlines,
/// with every accepted change persisted before it is acknowledged.</summary>
public sealed class Coordinator : IDisposable
{
    private readonly object _lock = new();
    private readonly IAggregatorStore _store;
    private readonly LoadedAggregatorConfig _config;
    private readonly AggregatorMetrics _metrics;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly IModeEngine _engine;
    private readonly TrainingEngine? _training;
    private readonly SortedDictionary<int, int> _requests = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private DateTimeOffset _firstRequest;
    private DateTimeOffset _stageStarted;
    private string _stageKey = "";
    private ulong _nextRound = 1;
    private int _roundMessages;

    /// <summary>Creates the coordinator and rebuilds its state from <paramref name="store"/> (a new store starts a session).</summary>
    /// <exception cref="ConfigurationException">the state file belongs to another roster or parameters.</exception>
    /// <exception cref="InvalidDataException">the state file's log cannot be replayed.</exception>
    public Coordinator(LoadedAggregatorConfig config, IAggregatorStore store, AggregatorMetrics metrics, ILogger<Coordinator> log, TimeProvider? time = null)
    {
        _config = config;
        _store = store;
        _metrics = metrics;
        _log = log;
        _time = time ?? TimeProvider.System;
        FederationSettings f = config.Config.Federation;
        _engine = f.IsHomomorphic ? new HeEngine(f, config.AggregatorSeed!, config.Config.MaxMessageBytes) : new MaskingEngine(f, config.Config.MaxMessageBytes);
        if (config.Config.Training is { } job) _training = new TrainingEngine(job, f.Banks);
        string digest = TrainingEngine.Digest(f.Digest(), config.Config.Training);
        lock (_lock)
        {
            if (store.ConfigDigest is null)
            {
                store.Initialize(digest);
                var (name, payload) = _engine.NewSession();
                Commit(new StoredEvent(0, EventKind.Step, -1, name, payload, []));
                _log.LogInformation("New {Mode} session for {Banks} banks", f.Mode, f.Banks);
            }
            else if (store.ConfigDigest != digest)
            {
                throw new ConfigurationException($"{config.StatePath}: the state file belongs to another roster or parameters (digest {store.ConfigDigest[..12]}..., this configuration {digest[..12]}...); point state at a new file to start a new session.");
            }
            else
            {
                Replay();
            }
            _stageStarted = _time.GetUtcNow();
            _stageKey = _engine.StageKey;
            Advance();
        }
    }

    /// <summary>The mode's session id (masking), or empty.</summary>
    public byte[] SessionId { get { lock (_lock) return _engine.SessionId; } }
    /// <summary>The current stage, for logs and health.</summary>
    public string Stage { get { lock (_lock) return _engine.StageKey; } }
    /// <summary>True once the session has ended (setup aborted, or a masking session ended on evidence of an attack, SPEC.md 8.3):
    /// the appliance answers but no round can open until the operator starts a new session (a new state file).</summary>
    public bool SessionEnded { get { lock (_lock) return _engine.SessionEnded; } }
    /// <summary>True after the state file failed: nothing more is accepted until a restart.</summary>
    public bool Failed { get; private set; }
    /// <summary>Events in the durable log.</summary>
    public int EventCount { get { lock (_lock) return _store.ReadEvents().Count; } }
    /// <summary>Number of stored events that carry a message of <paramref name="bank"/> (tests: nothing refused is stored).</summary>
    internal int EventCountOf(int bank) { lock (_lock) return _store.ReadEvents().Count(e => e.Bank == bank); }
    /// <summary>Bank messages accepted since the current round opened.</summary>
    public int RoundMessages { get { lock (_lock) return _roundMessages; } }
    /// <summary>The training job's progress, or null when the configuration names no job.</summary>
    public TrainingStatus? Training { get { lock (_lock) return _training?.Status; } }
    /// <summary>The training job's model (a GbdtModel or LogisticModel) once complete, else null.</summary>
    public object? TrainedModel { get { lock (_lock) return _training?.Model; } }
    /// <summary>Events replayed at start.</summary>
    public int ReplayedEvents { get; private set; }

    private void Replay()
    {
        IReadOnlyList<StoredEvent> events = _store.ReadEvents();
        foreach (StoredEvent e in events)
        {
            try { Apply(e); }
            catch (ProtocolViolationException v) { throw new InvalidDataException($"{_config.StatePath}: event {e.Sequence} ({e.Kind} {e.Name}) is refused on replay ({v.Reason}); the state file does not match this build.", v); }
            _engine.TakeRoundEnd();
        }
        ReplayedEvents = events.Count;
        _log.LogInformation("Replayed {Events} events; stage {Stage}", events.Count, _engine.StageKey);
    }

    /// <summary>Applies one event to the mode engine, then to the training job (which reacts to the round the event closed):
    /// the same function of the log live and on replay.</summary>
    private IReadOnlyList<OutboundItem> Apply(StoredEvent e)
    {
        IReadOnlyList<OutboundItem> outs = ApplyToEngine(e);
        if (_training is null) return outs;
        IReadOnlyList<OutboundItem> training = _training.After(_engine);
        return training.Count == 0 ? outs : [.. outs, .. training];
    }

    private IReadOnlyList<OutboundItem> ApplyToEngine(StoredEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Inbound:
                IReadOnlyList<OutboundItem> outs = _engine.Receive(e.Bank, e.Payload);
                _roundMessages++;
                return outs;
            case EventKind.RoundRequest:
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(e.Payload);
                if (_requests.Count == 0) _firstRequest = _time.GetUtcNow();
                _requests[e.Bank] = length;
                return [];
            case EventKind.Step when e.Name == "open_round":
                ulong round = BinaryPrimitives.ReadUInt64LittleEndian(e.Payload);
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(e.Payload.AsSpan(8));
                int[] participants = Items.Banks(e.Payload[12..]);
                _requests.Clear();
                _nextRound = round + 1;
                _roundMessages = 0;
                return _engine.OpenRound(round, len, participants);
            case EventKind.Step:
                return _engine.Step(e.Name, e.Payload);
            default:
                throw new InvalidDataException($"Unknown event kind {e.Kind}.");
        }
    }

    /// <summary>Applies, persists and announces one event (under the lock). A refusal throws before anything is stored. If the
    /// store fails after the party changed, memory is ahead of the log: the coordinator stops serving (Unavailable, health
    /// unhealthy) until a restart replays the log.</summary>
    private long Commit(StoredEvent e)
    {
        if (Failed) throw new ApplianceUnavailableException("the appliance's state file failed; restart it (the log is replayed)");
        IReadOnlyList<OutboundItem> outs = Apply(e);
        long seq;
        try { seq = _store.Append(e, outs); }
        catch (Exception ex) when (ex is not ProtocolViolationException)
        {
            Failed = true;
            _log.LogCritical("Writing the state file failed ({Error}); the appliance stops accepting messages until it is restarted", ex.GetType().Name);
            throw new ApplianceUnavailableException("the appliance's state file failed; restart it (the log is replayed)");
        }
        foreach (OutboundItem o in outs) _metrics.BytesSent(o.Item.Length);
        RoundEnd? end = _engine.TakeRoundEnd();
        if (end is not null)
        {
            _metrics.RoundEnded(end.Succeeded, end.Reason);
            if (end.Round == 0 && !end.Succeeded)
                _log.LogWarning("Session setup failed ({Reason}): {State}", end.Reason, _engine.StageKey);
            else
                _log.LogInformation("Round {Round} ended: {Outcome}", end.Round, end.Succeeded ? "sum opened" : end.Reason);
        }
        TaskCompletionSource old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
        return seq;
    }

    /// <summary>Runs every step now due (a stage complete, a deadline passed, a round to open), each as its own event.</summary>
    private void Advance()
    {
        for (int guard = 0; guard < 64; guard++)
        {
            DateTimeOffset now = _time.GetUtcNow();
            if (_engine.StageKey != _stageKey)
            {
                _metrics.StageEnded(_stageKey, (now - _stageStarted).TotalSeconds);
                _stageKey = _engine.StageKey;
                _stageStarted = now;
            }
            DeadlineSettings d = _config.Config.Deadlines;
            double limit = _engine.InSetup ? d.SetupSeconds : d.StageSeconds;
            bool late = (now - _stageStarted).TotalSeconds >= limit;
            (string Name, byte[] Payload)? step = _engine.Due(late);
            if (step is null && _engine.CanOpenRound && _requests.Count > 0)
            {
                IReadOnlyCollection<int> session = _engine.SessionBanks;
                bool everyone = session.Count > 0 && session.All(_requests.ContainsKey);
                if (everyone || (now - _firstRequest).TotalSeconds >= d.JoinSeconds)
                {
                    var payload = new byte[12];
                    BinaryPrimitives.WriteUInt64LittleEndian(payload, _nextRound);
                    BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(8), (uint)_requests.First().Value);
                    step = ("open_round", [.. payload, .. Items.Banks(_requests.Keys)]);
                }
            }
            if (step is null) return;
            if (late) _log.LogInformation("Stage {Stage} deadline passed; step {Step}", _stageKey, step.Value.Name);
            Commit(new StoredEvent(0, EventKind.Step, -1, step.Value.Name, step.Value.Payload, []));
        }
    }

    /// <summary>Runs due steps (called by the deadline ticker).</summary>
    public void Tick()
    {
        lock (_lock) if (!Failed) Advance();
    }

    /// <summary>A bank's wrapper message, from the bank its certificate names.</summary>
    /// <returns>The log sequence of the accepted message and whether it was a resend of bytes already accepted.</returns>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing was stored or changed.</exception>
    public (long Sequence, bool Resend) Submit(int bank, byte[] message)
    {
        byte[] digest = SHA256.HashData(message);
        lock (_lock)
        {
            if (_store.FindInbound(bank, digest) is { } earlier) return (earlier, true);
            var sw = Stopwatch.StartNew();
            long seq = Commit(new StoredEvent(0, EventKind.Inbound, bank, "", message, digest));
            _metrics.Accepted(message.Length, sw.Elapsed.TotalSeconds);
            Advance();
            return (seq, false);
        }
    }

    /// <summary>Bank <paramref name="bank"/> will contribute <paramref name="length"/> values to the next round.</summary>
    /// <returns>The round it is queued for.</returns>
    /// <exception cref="ProtocolViolationException">OutOfRange (a length outside 1..2^27); WrongRoundOrState (this bank already
    /// asked for another length).</exception>
    /// <exception cref="RoundLengthMismatchException">another bank set the pending round's length and it differs.</exception>
    public ulong RequestRound(int bank, int length)
    {
        if (length is < 1 or > (1 << 27)) throw Error.Violation(ViolationReason.OutOfRange, "a round length is 1..2^27 values");
        lock (_lock)
        {
            if (_requests.TryGetValue(bank, out int asked))
            {
                if (asked == length) return _nextRound;
                throw Error.Violation(ViolationReason.WrongRoundOrState, $"this bank already asked to join round {_nextRound} with {asked} values");
            }
            if (_requests.Count > 0 && _requests.First().Value != length)
                throw new RoundLengthMismatchException(_nextRound, _requests.First().Value, length);
            var payload = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)length);
            Commit(new StoredEvent(0, EventKind.RoundRequest, bank, "", payload, []));
            ulong round = _nextRound;
            Advance();
            return round;
        }
    }

    /// <summary>Items of <paramref name="bank"/>'s mailbox after <paramref name="after"/>, waiting up to <paramref name="wait"/> for one.</summary>
    public async Task<IReadOnlyList<MailboxItem>> ReceiveAsync(int bank, ulong after, TimeSpan wait, int maxItems, CancellationToken cancellationToken)
    {
        DateTimeOffset end = _time.GetUtcNow() + wait;
        while (true)
        {
            Task changed;
            IReadOnlyList<MailboxEntry> entries;
            lock (_lock)
            {
                entries = _store.ReadMailbox(bank, (long)Math.Min(after, long.MaxValue), maxItems);
                changed = _changed.Task;
            }
            TimeSpan left = end - _time.GetUtcNow();
            if (entries.Count > 0 || left <= TimeSpan.Zero)
                return entries.Select(e => { MailboxItem item = MailboxItem.Parser.ParseFrom(e.Item); item.Sequence = (ulong)e.Sequence; return item; }).ToList();
            await Task.WhenAny(changed, Task.Delay(left, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock) _engine.Dispose();
    }
}

/// <summary>The appliance cannot accept work now (its state file failed); the call may be retried after a restart.</summary>
public sealed class ApplianceUnavailableException(string message) : Exception(message);

/// <summary>A bank asked to join the pending round with another vector length than the round's: the first bank to ask sets the
/// length (SPEC.md 14.5) and every other bank must pass the same. The appliance answers INVALID_ARGUMENT (reason OutOfRange) with
/// the round's length in the trailer <see cref="FraudFed.Sdk.StatusMapping.RoundLengthTrailer"/>; nothing is stored.</summary>
public sealed class RoundLengthMismatchException(ulong round, int expected, int actual)
    : Exception($"vector length mismatch: round {round} sums vectors of {expected} values (the length the first bank to join it asked for), this bank passed {actual}; every bank of a round passes vectors of the same length")
{
    /// <summary>The pending round.</summary>
    public ulong Round { get; } = round;
    /// <summary>The round's vector length.</summary>
    public int ExpectedLength { get; } = expected;
    /// <summary>The length this bank asked for.</summary>
    public int ActualLength { get; } = actual;
}
