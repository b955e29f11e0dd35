// The coordinator of one appliance session (SPEC.md 14.5). Every change goes through one lock and one store
// transaction, in this order: the engine applies the event (a refused message throws and changes nothing), the event
// and the mailbox items it produced are appended durably, waiting readers are woken, and only then is the bank answered.
// Rounds: banks ask to join the next round (RequestRound); it opens when every bank of the session has asked, or when
// the join deadline passes, provided the banks that asked can reach the mode's minimum (max(T, K_min) or M); otherwise the
// request window ends without a round (the step refuse_round: the round number is spent, every bank that asked gets a
// RoundRefused item). A training job's rounds open without requests, when the step that needs the sum is broadcast.
// Each stage closes when every expected bank has answered, or at its deadline (the silent
// banks are dropouts; the protocol decides whether enough remain). The session setup's clock starts with the first bank's
// message, not with the appliance: a setup_clock step records each setup stage's start (the first one at the first bank's
// message), so a restart keeps the deadline and an appliance started before its banks waits for them. On start the log is
// replayed into fresh parties.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
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
    private readonly Dictionary<int, TaskCompletionSource> _mailboxWaiters = [];   // under _mailboxLock: per bank, made by a waiting reader
    private readonly List<PendingEvent> _pending = [];
    private readonly object _pendingLock = new();
    private PendingEvent? _lastQueued;   // under _lock: the last event applied (a batch commits everything before it too)
    private readonly Dictionary<(int Bank, string Digest), Task<long>> _inbound = [];
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly object _mailboxLock = new();
    private readonly Dictionary<int, MailboxCache> _mailboxes = [];
    private readonly int _payloadFileThreshold;
    private DateTimeOffset _firstRequest;
    private DateTimeOffset _stageStarted;
    private string _stageKey = "";
    private ulong _nextRound = 1;
    private int _runningLength;   // the vector length of the last round opened (the running one while a round runs)
    private int _roundMessages;
    private (string Stage, int Have, int Of)? _setupLogged;   // the session setup's progress last seen (LogSetupProgress)
    private int _setupStagesLogged;   // setup stages logged complete by this process
    private readonly long _setupClock = System.Diagnostics.Stopwatch.GetTimestamp();   // when this process saw the setup start
    // When this process took the setup's first message from a bank (the first bank to join; 0 until then): the setup's time
    // is counted from here, not from serve's start, which may come minutes before the banks.
    private long _firstJoin;
    private int _roundParticipants;   // banks of the running (or last) round
    private Refusal? _refused;   // the request window the last event ended without a round, for Commit's log line and metric
    private bool _setupJoined;   // a bank's message was accepted during the session setup (from the log)
    private string? _clockStage;   // the setup stage whose clock a setup_clock step started (from the log), or null
    private DateTimeOffset _clockStarted;   // that step's time

    /// <summary>The coordinator step that ends a request window without a round (SPEC.md 14.5, "Rounds and deadlines").</summary>
    internal const string RefuseRoundStep = "refuse_round";

    /// <summary>The coordinator step that starts a session setup stage's clock (SPEC.md 14.5, "Rounds and deadlines"): the first
    /// setup stage's at the first bank message accepted, each later setup stage's when it begins. Payload: the time, u64 Unix
    /// milliseconds, little-endian. Replayed, it gives a restarted appliance the stage's original deadline.</summary>
    internal const string SetupClockStep = "setup_clock";

    /// <summary>A request window that ended without a round: the numbers of its <see cref="RoundRefused"/> item.</summary>
    private sealed record Refusal(ulong Round, int Asked, int Banks, int Needed, string Why);

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
        _payloadFileThreshold = store.PayloadFileThreshold;
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
                // Logged first, before the setup stages the commits log.
                _log.LogInformation("new {Mode} session for {Banks} banks", f.Mode, f.Banks);
                Commit(new StoredEvent(0, EventKind.Step, -1, name, payload, []));
            }
            else if (store.ConfigDigest != digest)
            {
                throw new ConfigurationException($"{config.StatePath}: the state file belongs to another roster or parameters (digest {store.ConfigDigest[..12]}..., this configuration {digest[..12]}...); point state at a new file to start a new session.");
            }
            else
            {
                Replay();
            }
            // A setup stage keeps the clock its setup_clock step started (a restart does not extend its deadline); any other stage's
            // clock starts now.
            _stageStarted = _engine.InSetup && _clockStage == _engine.StageKey ? _clockStarted : _time.GetUtcNow();
            _stageKey = _engine.StageKey;
            if (_engine.SessionEnded)
                _log.LogWarning("the session in {State} has ended ({Cause}); no round can run in it: start a new session with a new state file (point state in aggregator.json at a new path, restart serve) and run every bank again. Until then this appliance answers every bank with that cause, and /healthz says Unhealthy",
                    config.StatePath, _engine.EndCause);
            Advance();
        }
        FlushQueuedAsync().GetAwaiter().GetResult();
    }

    /// <summary>The mode's session id (masking), or empty.</summary>
    public byte[] SessionId { get { lock (_lock) return _engine.SessionId; } }
    /// <summary>Where the session stands, for the operator (e.g. "session Ready; round 3 in MaskedInput with 4 of 5 inputs"),
    /// with the banks queued for the next round.</summary>
    public string Position
    {
        get
        {
            lock (_lock)
                return _requests.Count == 0 ? _engine.Position : $"{_engine.Position}; {_requests.Count} of {_engine.SessionBanks.Count} banks asked for round {_nextRound}";
        }
    }
    /// <summary>The current stage, for logs and health.</summary>
    public string Stage { get { lock (_lock) return _engine.StageKey; } }
    /// <summary>True once the session has ended (setup aborted, or a masking session ended on evidence of an attack, SPEC.md 8.3):
    /// the appliance answers but no round can open until the operator starts a new session (a new state file).</summary>
    public bool SessionEnded { get { lock (_lock) return _engine.SessionEnded; } }
    /// <summary>Once the session has ended: what a bank and the operator are told (why, and what the operator does now), else null.</summary>
    public string? SessionEndedMessage { get { lock (_lock) return EndedMessage(); } }

    /// <summary>Under the lock: the ended session's message (<see cref="SessionEndedMessage"/>), or null.</summary>
    private string? EndedMessage() => _engine.EndCause is { } cause
        ? $"the session has ended ({cause}); no round can run in it: the operator starts a new session (state in aggregator.json pointed at a new file, then aggregator serve again) and every bank runs again"
        : null;
    private string? EndedMessageLocked() { lock (_lock) return EndedMessage(); }
    /// <summary>What a bank is told once the state file failed (SPEC.md 14.5).</summary>
    public const string StateFailedMessage = "the appliance could not persist its state (disk full or a read-only state directory?); it accepts nothing until the operator fixes that and restarts it, and then resumes from its log";
    /// <summary>True after the state file failed: nothing more is accepted until a restart.</summary>
    public bool Failed { get => Volatile.Read(ref _failed); private set => Volatile.Write(ref _failed, value); }
    private bool _failed;
    /// <summary>Events in the durable log, once every event applied so far has been committed (waits for that commit).</summary>
    /// <exception cref="ApplianceUnavailableException">the state file failed.</exception>
    public int EventCount
    {
        get
        {
            FlushQueuedAsync().GetAwaiter().GetResult();
            return _store.ReadEvents().Count;
        }
    }
    /// <summary>Number of stored events that carry a message of <paramref name="bank"/> (tests: nothing refused is stored).</summary>
    internal int EventCountOf(int bank)
    {
        FlushQueuedAsync().GetAwaiter().GetResult();
        return _store.ReadEvents().Count(e => e.Bank == bank);
    }
    /// <summary>Bank messages accepted since the current round opened.</summary>
    public int RoundMessages { get { lock (_lock) return _roundMessages; } }
    /// <summary>The training job's progress, or null when the configuration names no job.</summary>
    public TrainingStatus? Training { get { lock (_lock) return _training?.Status; } }
    /// <summary>The training job's model (a GbdtModel or LogisticModel) once complete, else null.</summary>
    public object? TrainedModel { get { lock (_lock) return _training?.Model; } }
    /// <summary>Events replayed at start.</summary>
    public int ReplayedEvents { get; private set; }

    /// <summary>The bank other than <paramref name="bank"/> whose accepted message has digest <paramref name="digest"/> (<see cref="IntakeDigest"/>), with
    /// its log sequence once durable, or null: tells a replay of another bank's message from a body that merely names another
    /// sender (both fail the sender check, SPEC.md 14.1). Called on the refusal path only.</summary>
    internal (int Bank, long? Sequence)? AcceptedFromAnotherBank(int bank, byte[] digest)
    {
        string hex = Convert.ToHexString(digest);
        lock (_lock)
            for (int other = 0; other < _config.Pins.Count; other++)
                if (other != bank && _inbound.TryGetValue((other, hex), out Task<long>? accepted))
                    return (other, accepted.IsCompletedSuccessfully ? accepted.Result : null);
        return null;
    }
    /// <summary>Where the appliance's time goes (engine, store, lock waits, intake, mailbox replies), for benchmarks.</summary>
    public ApplianceTimings Timings { get; } = new();

    private void Replay()
    {
        IReadOnlyList<StoredEvent> events = _store.ReadEvents();
        int opened = 0, summed = 0, failed = 0;
        var refusedRounds = new List<ulong>();
        foreach (StoredEvent e in events)
        {
            if (e.Kind == EventKind.Inbound) _inbound[(e.Bank, Convert.ToHexString(e.Digest))] = Task.FromResult(e.Sequence);
            try { Apply(e); }
            catch (ProtocolViolationException v) { throw new InvalidDataException($"{_config.StatePath}: event {e.Sequence} ({e.Kind} {e.Name}) is refused on replay ({v.Reason}); the state file does not match this build.", v); }
            if (e.Kind == EventKind.Step && e.Name == "open_round") opened++;
            if (e.Kind == EventKind.Step && e.Name == RefuseRoundStep) refusedRounds.Add(BinaryPrimitives.ReadUInt64LittleEndian(e.Payload));
            if (_engine.TakeRoundEnd() is { Round: > 0 } end)
            {
                if (end.Succeeded) summed++;
                else failed++;
            }
            _refused = null;
        }
        ReplayedEvents = events.Count;
        // In the operator's terms: the session (a state file holds one) and its rounds, then where it stands now.
        // A refused request window spent its round number (SPEC.md 14.5): counted apart, so that the gap in the numbers is explained.
        string refusedWords = refusedRounds.Count == 0 ? ""
            : $", {refusedRounds.Count} refused (round{(refusedRounds.Count == 1 ? "" : "s")} {Plural.List(refusedRounds)} did not open: too few banks asked; the next round is {_nextRound})";
        _log.LogInformation("resumed the {Mode} session of {Banks} banks from {State}: {Rounds} ({Summed} with their sum opened, {Failed} failed){Refused}; {Position}",
            _config.Config.Federation.Mode, _config.Config.Federation.Banks, _config.StatePath, opened == 1 ? "1 round opened" : $"{opened} rounds opened", summed, failed, refusedWords, Position);
    }

    /// <summary>Applies one event to the mode engine, then to the training job (which reacts to the round the event closed):
    /// the same function of the log live and on replay.</summary>
    private IReadOnlyList<OutboundItem> Apply(StoredEvent e, Prepared? prepared = null)
    {
        IReadOnlyList<OutboundItem> outs = ApplyToEngine(e, prepared);
        if (_training is null) return outs;
        IReadOnlyList<OutboundItem> training = _training.After(_engine, _nextRound);
        return training.Count == 0 ? outs : [.. outs, .. training];
    }

    private IReadOnlyList<OutboundItem> ApplyToEngine(StoredEvent e, Prepared? prepared)
    {
        switch (e.Kind)
        {
            case EventKind.Inbound:
                if (_engine.InSetup) _setupJoined = true;
                // Replay (no prepared result): the same checks, inline.
                IReadOnlyList<OutboundItem> outs = _engine.Receive(e.Bank, e.Payload, prepared is null ? _engine.Prepare(e.Bank, e.Payload) : prepared.Value);
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
                _roundParticipants = participants.Length;
                _requests.Clear();
                _nextRound = round + 1;
                _runningLength = len;
                _roundMessages = 0;
                return _engine.OpenRound(round, len, participants);
            case EventKind.Step when e.Name == SetupClockStep:
                _clockStage = _engine.StageKey;
                _clockStarted = Clock.Read(e.Payload);
                _stageStarted = _clockStarted;
                return [];
            case EventKind.Step when e.Name == RefuseRoundStep:
            {
                // The window's requests are answered with the refusal, and the next window asks for the next round number.
                ulong refused = BinaryPrimitives.ReadUInt64LittleEndian(e.Payload);
                int[] asked = Items.Banks(e.Payload[8..]);
                _requests.Clear();
                _nextRound = refused + 1;
                return RefusalItems(refused, asked);
            }
            case EventKind.Step:
                return _engine.Step(e.Name, e.Payload);
            default:
                throw new InvalidDataException($"Unknown event kind {e.Kind}.");
        }
    }

    /// <summary>Applies one event and queues it for the next group commit (under the lock). A refusal throws before anything is
    /// queued. Its mailbox items become visible only once its batch is durable (<see cref="FlushAsync"/>). If the store then
    /// fails, memory is ahead of the log: the coordinator stops serving (Unavailable, health unhealthy) until a restart
    /// replays the log.</summary>
    private PendingEvent Commit(StoredEvent e, bool payloadInFile = false, Prepared? prepared = null)
    {
        if (Failed) throw new ApplianceUnavailableException(StateFailedMessage);
        long t0 = ApplianceTimings.Now;
        // A step (a deadline's, a stage's close) may end a round: where the round stood before it, for the log line that says
        // why it ended (steps are a few per round, so the words are built rarely).
        string? before = e.Kind == EventKind.Step && e.Name != "open_round" ? _engine.Position : null;
        IReadOnlyList<OutboundItem> outs = Apply(e, prepared);
        Timings.Engine(ApplianceTimings.Now - t0);
        if (e.Kind == EventKind.Step && e.Name == "open_round")
            _log.LogInformation("round {Round} opened: {Banks} banks, {Length} values", _nextRound - 1, _roundParticipants, _runningLength);
        var pending = new PendingEvent(new AppendEntry(e, outs, payloadInFile));
        lock (_pendingLock) _pending.Add(pending);
        _lastQueued = pending;
        foreach (OutboundItem o in outs) _metrics.BytesSent(o.Item.Length);
        if (_refused is { } refused)
        {
            _refused = null;
            _metrics.RoundEnded(false, "join_deadline");
            // A warning: the banks that asked are told to give up, and the operator acts (starts the others, or raises the window).
            _log.LogWarning("round {Round} did not open: {Asked} of {Banks} banks asked within {JoinSeconds} s (deadlines.join_seconds); at least {Needed} are needed ({Why}); round {Round} is spent: the next round is {Next}",
                refused.Round, refused.Asked, refused.Banks, _config.Config.Deadlines.JoinSeconds, refused.Needed, refused.Why, refused.Round, refused.Round + 1);
        }
        RoundEnd? end = _engine.TakeRoundEnd();
        if (end is not null)
        {
            _metrics.RoundEnded(end.Succeeded, end.Reason);
            if (end.Round == 0 && !end.Succeeded && _engine.EndCause is { } cause)
                // The banks that missed it and the operator's next step, as the banks' SessionEndedException and /healthz say them;
                // the fraudfed_rounds_total{outcome} label last, as in the round lines.
                _log.LogWarning("session setup failed: {Cause}; no round can run in this session: start a new session (point state in aggregator.json at a new file, then aggregator serve again) and run every bank again ({Reason})",
                    cause.StartsWith(AbortedPrefix, StringComparison.Ordinal) ? cause[AbortedPrefix.Length..] : cause, end.Reason);
            else if (end.Round == 0 && !end.Succeeded)
                _log.LogWarning("session setup failed: {Why} ({Reason}){Stood}", OutcomeWords(end.Reason), end.Reason, before is null ? "" : $"; it stood at {before}");
            else if (end.Succeeded)
                _log.LogInformation("round {Round} ended: sum opened ({Banks} banks in the round)", end.Round, _roundParticipants);
            else
                _log.LogInformation("round {Round} ended without a sum: {Why} ({Outcome}; {Banks} banks in the round; {Messages} messages accepted{Stood})", end.Round,
                    OutcomeWords(end.Reason), end.Reason,
                    _roundParticipants, _roundMessages, before is null ? "" : "; it stood at " + WithoutReady(before));
        }
        if (_setupLogged is not null || _engine.InSetup) LogSetupProgress();
        return pending;
    }

    /// <summary>Numbers in words: "3", "3 and 5", "3, 5 and 8" (at most five, then "and N more").</summary>
    private static class Plural
    {
        public static string List(IReadOnlyList<ulong> numbers)
        {
            if (numbers.Count > 5) return $"{string.Join(", ", numbers.Take(5))} and {numbers.Count - 5} more";
            return numbers.Count == 1 ? numbers[0].ToString(System.Globalization.CultureInfo.InvariantCulture)
                : $"{string.Join(", ", numbers.Take(numbers.Count - 1))} and {numbers[^1]}";
        }
    }

    /// <summary>A round's position without the "session Ready; " in front ("round 3 in stage MaskedInput with 2 of 5 inputs").</summary>
    private static string WithoutReady(string position) =>
        position.StartsWith("session Ready; ", StringComparison.Ordinal) ? position["session Ready; ".Length..] : position;

    /// <summary>The session setup's progress in the log (SPEC.md 12.0 for the homomorphic key setup, 8.1 for masking), the same
    /// in both modes: one Information line per stage completed, with how many banks it completed with ("he setup: stage CrsCommit
    /// complete (5 banks)"), and one summary line when setup is complete ("he setup complete: 7 stages with 5 banks, 3.2 s after
    /// the first bank joined; the session is ready for rounds": timed from the first setup message a bank sent to this process;
    /// after a restart mid-setup, the stages and time this process saw). A stage held up by a
    /// silent bank is the one after the last stage line; at its deadline the "session setup failed" warning names the banks that
    /// missed it (both modes), with no line per bank's message. Stage names, bank indexes and counts only: no key material. Live events only (a replayed log is summed up
    /// by its "resumed" line).</summary>
    private void LogSetupProgress()
    {
        (string Stage, int Have, int Of)? now = _engine.SetupProgress;
        if (now == _setupLogged) return;
        string mode = _config.Config.Federation.IsHomomorphic ? "he" : "masking";
        if (_setupLogged is { } before && (now is null || now.Value.Stage != before.Stage) && !_engine.SessionEnded)
        {
            // A homomorphic stage advances only in the call that brings the last bank's message, so every bank answered; a
            // masking stage closes once every bank answered or at its deadline, with those that answered by then.
            int banks = _config.Config.Federation.IsHomomorphic ? before.Of : before.Have;
            _log.LogInformation("{Mode} setup: stage {Stage} complete ({Banks} banks)", mode, before.Stage, banks);
            _setupStagesLogged++;
        }
        if (now is null && _setupLogged is not null && _engine.CanOpenRound)
            _log.LogInformation("{Mode} setup complete: {Stages} stages with {Banks} banks, {Seconds:0.0} s after the first bank joined; the session is ready for rounds",
                mode, _setupStagesLogged, _engine.SessionBanks.Count, System.Diagnostics.Stopwatch.GetElapsedTime(_firstJoin != 0 ? _firstJoin : _setupClock).TotalSeconds);
        _setupLogged = now;
    }

    /// <summary>Returns once <paramref name="target"/> is durable, and its sequence. Group commit: one caller at a time writes
    /// every event queued so far in one store transaction (one fsync), after the payload files its events name are durable;
    /// callers that queue events meanwhile are written together by the next one. Readers are woken after each commit.</summary>
    /// <exception cref="ApplianceUnavailableException">the batch holding <paramref name="target"/> failed to commit (every caller
    /// in it gets this), or an earlier one did.</exception>
    private async Task<long> FlushAsync(PendingEvent target)
    {
        while (!target.Durable.Task.IsCompleted)
        {
            await _writer.WaitAsync().ConfigureAwait(false);
            try
            {
                if (target.Durable.Task.IsCompleted) break;
                List<PendingEvent> batch;
                lock (_pendingLock)   // not the coordinator's lock: the commit does not wait for the engine's next message
                {
                    batch = [.. _pending];
                    _pending.Clear();
                }
                await WriteBatchAsync(batch).ConfigureAwait(false);
            }
            finally { _writer.Release(); }
        }
        return await target.Durable.Task.ConfigureAwait(false);
    }

    /// <summary>Flushes whatever is queued (steps run by the deadline ticker or at start).</summary>
    private Task FlushQueuedAsync()
    {
        PendingEvent? last;
        lock (_pendingLock) last = _pending.Count > 0 ? _pending[^1] : null;
        return last is null ? Task.CompletedTask : FlushAsync(last);
    }

    private async Task WriteBatchAsync(List<PendingEvent> batch)
    {
        long t0 = ApplianceTimings.Now;
        try
        {
            foreach (PendingEvent p in batch)
                if (p.PayloadFile is { } file) await file.Task.ConfigureAwait(false);
            Sdk.Diagnostics.HopTrace.Mark(-1, "a.batch>", batch.Count);
            AppendedBatch written = _store.AppendBatch(batch.Select(p => p.Entry).ToList());
            Sdk.Diagnostics.HopTrace.Mark(-1, "a.batch<", written.Mailbox.Count);
            IReadOnlyList<long> sequences = written.Sequences;
            Publish(written.Mailbox);
            Timings.Committed(batch.Count, batch.Sum(p => (long)p.Entry.Event.Payload.Length + p.Entry.Outbound.Select(o => o.Item).Distinct(ReferenceEqualityComparer.Instance).Sum(o => (long)((byte[])o!).Length)));
            for (int i = 0; i < batch.Count; i++) batch[i].Durable.TrySetResult(sequences[i]);
        }
        catch (Exception ex)
        {
            var unavailable = new ApplianceUnavailableException(StateFailedMessage);
            List<PendingEvent> stranded;
            lock (_pendingLock)
            {
                Failed = true;
                stranded = [.. _pending];
                _pending.Clear();
            }
            _log.LogCritical("the appliance could not persist its state to {State} ({Error}: {Detail}; disk full or a read-only state directory?); it refuses every bank call until it is restarted (the log is replayed, nothing acknowledged is lost)",
                _config.StatePath, ex.GetType().Name, ex.Message);
            foreach (PendingEvent p in batch.Concat(stranded)) p.Durable.TrySetException(unavailable);
            return;
        }
        finally { Timings.StoreWrite(ApplianceTimings.Now - t0); }
    }

    /// <summary>Makes committed mailbox items readable from memory and wakes waiting readers. Each distinct item's fields are
    /// kept raw (<see cref="MailboxItem.StoredFields"/>), once however many banks it goes to: replies copy them, never re-encode.</summary>
    private void Publish(IReadOnlyList<MailboxPosting> postings)
    {
        var raw = new Dictionary<byte[], Google.Protobuf.UnknownFieldSet?>(ReferenceEqualityComparer.Instance);
        foreach (MailboxPosting m in postings)
            if (!raw.ContainsKey(m.Item)) raw[m.Item] = MailboxItem.StoredFields(m.Item);
        lock (_mailboxLock)
        {
            foreach (MailboxPosting m in postings)
            {
                if (!_mailboxes.TryGetValue(m.Bank, out MailboxCache? cache)) _mailboxes[m.Bank] = cache = new MailboxCache(m.Sequence);
                cache.Add(m.Sequence, raw[m.Item], m.Item.Length);
                // Only the recipients' readers wake: a commit that posts nothing for a bank (an upload, most commits of a sum) leaves
                // its long poll asleep, where waking every reader on every commit cost each of them a thread-pool wake-up for nothing.
                if (_mailboxWaiters.Remove(m.Bank, out TaskCompletionSource? waiting)) waiting.TrySetResult();
            }
        }
    }

    /// <summary>Completes once a commit posts an item to <paramref name="bank"/>'s mailbox (under <see cref="_mailboxLock"/>, taken
    /// before the reader looks: a commit after the look completes it). One task per bank, shared by its waiting readers.</summary>
    private Task MailboxChanged(int bank)
    {
        if (!_mailboxWaiters.TryGetValue(bank, out TaskCompletionSource? waiting))
            _mailboxWaiters[bank] = waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return waiting.Task;
    }

    /// <summary>Waits until <paramref name="changed"/> completes or <paramref name="wait"/> passes, whichever is first. The timer is
    /// removed when the mailbox changes first (Task.WaitAsync), where a Task.Delay raced against it stayed queued, and later
    /// fired, for the whole long-poll time of every wake-up.</summary>
    /// <exception cref="OperationCanceledException">the call was cancelled.</exception>
    private static async Task WaitForChange(Task changed, TimeSpan wait, CancellationToken cancellationToken)
    {
        try { await changed.WaitAsync(wait, cancellationToken).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    /// <summary>A bank's committed mailbox items since <see cref="First"/> (every item with a sequence at or above it), in order.
    /// Items at or below the sequence a bank has read after are dropped; an earlier read (a restarted bank) goes to the store.</summary>
    private sealed class MailboxCache(long first)
    {
        /// <summary>A bank that stops reading (dropped, or gone) holds at most this much here; older items are read from the store.</summary>
        private const long MaxBytes = 64L << 20;
        private long _bytes;
        public long First { get; private set; } = first;
        public List<(long Sequence, Google.Protobuf.UnknownFieldSet? Item, int Size)> Items { get; } = [];

        public void Add(long sequence, Google.Protobuf.UnknownFieldSet? item, int size)
        {
            Items.Add((sequence, item, size));
            _bytes += size;
            while (_bytes > MaxBytes && Items.Count > 1) DropFirst();
        }

        /// <summary>Drops the items at or below <paramref name="after"/> (the bank has them) and returns up to <paramref name="max"/> of the rest.</summary>
        public List<(long Sequence, Google.Protobuf.UnknownFieldSet? Item, int Size)> ReadAfter(long after, int max)
        {
            while (Items.Count > 0 && Items[0].Sequence <= after) DropFirst();
            First = Math.Max(First, after + 1);
            return Items.Take(max).ToList();
        }

        private void DropFirst()
        {
            _bytes -= Items[0].Size;
            First = Items[0].Sequence + 1;
            Items.RemoveAt(0);
        }
    }

    /// <summary>The result of <see cref="IModeEngine.Prepare"/> for an inbound message (a class, so that null means "not prepared").</summary>
    private sealed record Prepared(object? Value);

    /// <summary>An event applied in memory and waiting for its group commit.</summary>
    private sealed class PendingEvent(AppendEntry entry)
    {
        public AppendEntry Entry { get; } = entry;
        /// <summary>Completes with the event's sequence when its batch commits, or fails with the batch.</summary>
        public TaskCompletionSource<long> Durable { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>Completes when the payload file is durable (only for events whose payload goes to a file).</summary>
        public TaskCompletionSource? PayloadFile { get; } = entry.PayloadInFile ? new(TaskCreationOptions.RunContinuationsAsynchronously) : null;
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
            if (_engine.InSetup && _setupJoined && _clockStage != _stageKey)
            {
                // A bank has joined (this or an earlier stage): this setup stage's clock starts now, durably.
                Commit(new StoredEvent(0, EventKind.Step, -1, SetupClockStep, Clock.Write(now), []));
                continue;
            }
            DeadlineSettings d = _config.Config.Deadlines;
            double limit = _engine.InSetup ? d.SetupSeconds : d.StageSeconds;
            // Before the first bank joined, the setup has no clock: an appliance started long before its banks waits for them.
            bool late = (!_engine.InSetup || _clockStage == _stageKey) && (now - _stageStarted).TotalSeconds >= limit;
            (string Name, byte[] Payload)? step = _engine.Due(late);
            // The deadline made the step only when a stage is running whose step was not due anyway: a deadline that passes
            // while no round runs (between rounds, the clock counts the idle Ready stage) closes nothing and is not logged.
            bool missed = late && step is not null && _engine.Due(false) is null;
            if (step is { Name: HeEngine.FailSetupStep }) step = (HeEngine.FailSetupStep, Clock.Write(_stageStarted.AddSeconds(limit)));
            // A masking setup stage the deadline closes carries the deadline's time: the banks it names, if the close ends the
            // session, missed it then (the same words as the homomorphic setup's).
            if (missed && step is { Name: MaskingEngine.CloseAdvertiseStep or MaskingEngine.CloseGraphSeedStep } close)
                step = (close.Name, Clock.Write(_stageStarted.AddSeconds(limit)));
            if (step is null && _engine.CanOpenRound && _training?.RoundToOpen is { } due && due.Round == _nextRound && _engine.SessionBanks.Count > 0)
            {
                // Training: the round the step just broadcast names opens at once, with every session bank (SPEC.md 14.5, training
                // on the appliance): its round start is committed with the step, and the banks send no RoundRequest for it.
                step = OpenRound(due.Round, due.Length, _engine.SessionBanks.Order());
            }
            if (step is null && _engine.CanOpenRound && _requests.Count > 0)
            {
                IReadOnlyCollection<int> session = _engine.SessionBanks;
                bool everyone = session.Count > 0 && session.All(_requests.ContainsKey);
                if (everyone || (now - _firstRequest).TotalSeconds >= d.JoinSeconds)
                {
                    // A round opens only when the banks that asked can reach the mode's minimum; a round of fewer could only run
                    // its stages to their deadlines and end TooFewParticipants (SPEC.md 14.5, "Rounds and deadlines").
                    step = _requests.Count >= _engine.RoundMinimum.Needed
                        ? OpenRound(_nextRound, _requests.First().Value, _requests.Keys)
                        : RefuseRound(_nextRound, _requests.Keys);
                }
            }
            if (step is null) return;
            if (missed)
                _log.LogInformation("stage deadline passed ({Deadline}) at {Position}: {Action}",
                    _engine.InSetup ? "deadlines.setup_seconds" : "deadlines.stage_seconds", WithoutReady(_engine.Position), DeadlineAction(step.Value.Name));
            Commit(new StoredEvent(0, EventKind.Step, -1, step.Value.Name, step.Value.Payload, []));
            if (Sdk.Diagnostics.HopTrace.On) Sdk.Diagnostics.HopTrace.Mark(-1, "a.step:" + step.Value.Name);
        }
    }

    /// <summary>How an engine's <see cref="IModeEngine.EndCause"/> of an aborted setup begins ("aborted: bank(s) 2, 3 missed ...").</summary>
    private const string AbortedPrefix = "aborted: ";

    /// <summary>Why a round or the session's setup ended without a sum, in the operator's words; the log adds the reason's label as
    /// <c>fraudfed_rounds_total{outcome}</c> has it (a <see cref="ViolationReason"/> name, or setup_deadline / setup_restart).</summary>
    internal static string OutcomeWords(string reason) => reason switch
    {
        "setup_deadline" => "a bank did not send its setup message before the setup deadline",
        "setup_restart" => "a bank restarted during the key setup",
        nameof(ViolationReason.TooFewParticipants) => "too few banks answered in time",
        nameof(ViolationReason.Inconsistent) => "the banks' messages do not agree with each other (a bank or the aggregator's state is at fault)",
        nameof(ViolationReason.AuthenticationFailed) => "a message failed its signature or tag check",
        nameof(ViolationReason.BudgetExhausted) => "the decryption budget is spent",
        nameof(ViolationReason.Refused) => "a bank refused the round",
        nameof(ViolationReason.InsecureParameters) => "the parameters fail the security policy",
        _ => "a bank's message was refused",
    };

    /// <summary>What a step taken at a stage's deadline does, in the operator's words (SPEC.md 14.5, "Rounds and deadlines"; no
    /// step identifier: the log names stages by their SPEC.md names).</summary>
    internal static string DeadlineAction(string step) => step switch
    {
        HeEngine.FailSetupStep => "the session's setup ends (a bank did not send its setup message in time)",
        "he.close_uploads" => "the stage closes with the uploads received so far",
        "he.fail_round" => "the round ends without a sum (too few decryption shares came in time)",
        MaskingEngine.CloseAdvertiseStep or MaskingEngine.CloseGraphSeedStep => "the setup stage closes with the banks that answered",
        "masking.close_share_keys" or "masking.close_masked_input" or "masking.close_consistency" => "the stage closes with the banks that answered",
        "masking.finish" => "the round finishes with the unmasking responses received so far",
        _ => "the stage closes",
    };

    /// <summary>The `open_round` step: round (u64) | length (u32) | participants (u32 each), little-endian; replayed by
    /// ApplyToEngine's <see cref="EventKind.Step"/> case.</summary>
    private static (string Name, byte[] Payload) OpenRound(ulong round, int length, IEnumerable<int> participants)
    {
        var payload = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, round);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(8), (uint)length);
        return ("open_round", [.. payload, .. Items.Banks(participants)]);
    }

    /// <summary>The <see cref="RefuseRoundStep"/> step: round (u64) | the banks that asked (u32 each), little-endian; replayed by
    /// ApplyToEngine's <see cref="EventKind.Step"/> case.</summary>
    private static (string Name, byte[] Payload) RefuseRound(ulong round, IEnumerable<int> asked)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, round);
        return (RefuseRoundStep, [.. payload, .. Items.Banks(asked)]);
    }

    /// <summary>The mailbox items of a refused window: one <see cref="RoundRefused"/> item, the same bytes for every bank that
    /// asked, naming the counts and the fix in the too-few wording (<see cref="Error.TooFewAsked"/>).</summary>
    private List<OutboundItem> RefusalItems(ulong round, int[] asked)
    {
        var (needed, why) = _engine.RoundMinimum;
        int banks = _engine.SessionBanks.Count;
        double join = _config.Config.Deadlines.JoinSeconds;
        string message = Error.TooFewAsked(round, asked.Length, banks, join, needed, why);
        _refused = new Refusal(round, asked.Length, banks, needed, why);
        byte[] item = new MailboxItem
        {
            RoundRefused = new RoundRefused
            {
                Round = round, Reason = Sdk.StatusMapping.TrailerValue(ViolationReason.TooFewParticipants), Asked = (uint)asked.Length,
                Needed = (uint)needed, Banks = (uint)banks, JoinMilliseconds = (uint)Math.Min(uint.MaxValue, Math.Round(join * 1000)), Message = message,
            },
        }.ToByteArray();
        return asked.Select(b => new OutboundItem(b, item)).ToList();
    }

    /// <summary>Runs due steps (called by the deadline ticker).</summary>
    public void Tick()
    {
        lock (_lock) if (!Failed) Advance();
        FlushQueuedAsync().GetAwaiter().GetResult();
    }

    /// <summary>A bank's wrapper message, from the bank its certificate names. Answered once the message is durable (its
    /// group commit done); a resend of accepted bytes gets the first answer, also only once those bytes are durable.</summary>
    /// <returns>The log sequence of the accepted message and whether it was a resend of bytes already accepted.</returns>
    /// <exception cref="ProtocolViolationException">the message is refused; nothing was stored or changed.</exception>
    /// <exception cref="ApplianceUnavailableException">the state file failed (now or earlier); nothing is acknowledged.</exception>
    /// <exception cref="EndedSessionException">the session has ended and the message is not a resend of accepted bytes; nothing was stored.</exception>
    public async Task<(long Sequence, bool Resend)> SubmitAsync(int bank, byte[] message)
    {
        long t0 = ApplianceTimings.Now;
        // Outside the lock: the checks that depend on the bytes only (decoding), so that banks' messages decode in parallel.
        // An ended session answers bytes that do not even decode with its cause too (nothing about them matters any more).
        Prepared prepared;
        try { prepared = new Prepared(_engine.Prepare(bank, message)); }
        catch (ProtocolViolationException) when (EndedMessageLocked() is { } ended) { throw new EndedSessionException(ended); }
        long t1 = ApplianceTimings.Now;
        Timings.Engine(t1 - t0);
        // The idempotency key: a function of the bytes alone, covering every byte (IntakeDigest). A masked input's reuses the body
        // digest its decoding just computed for the signature, so its megabytes are hashed once, not twice. A message Prepare
        // refuses is never looked up (a resend of accepted bytes passes Prepare as the first send did: the checks depend on the
        // bytes only).
        byte[] digest = IntakeDigest.Of(message, prepared.Value);
        var key = (bank, Convert.ToHexString(digest));
        long t2 = ApplianceTimings.Now;
        Timings.Intake(t2 - t1);
        // An ended session takes nothing more, whatever the bytes (a resend of accepted bytes still gets its first answer).
        lock (_lock)
            if (EndedMessage() is { } over && !_inbound.ContainsKey(key)) throw new EndedSessionException(over);
        PendingEvent pending;
        PendingEvent last;
        Task<long>? earlier;
        ProtocolViolationException? endedSetup = null;
        lock (_lock)
        {
            Timings.LockWait(ApplianceTimings.Now - t2);
            if (_firstJoin == 0 && _engine.InSetup) _firstJoin = System.Diagnostics.Stopwatch.GetTimestamp();
            if (!_inbound.TryGetValue(key, out earlier))
            {
                // An ended session takes nothing more; the bank is told why and what the operator does (not the state check's words).
                if (EndedMessage() is { } ended) throw new EndedSessionException(ended);
                var sw = Stopwatch.StartNew();
                try
                {
                    pending = Commit(new StoredEvent(0, EventKind.Inbound, bank, "", message, digest), message.Length >= _payloadFileThreshold, prepared);
                }
                catch (ProtocolViolationException refused) when (_engine.SetupRestartEnd(bank, prepared.Value) is { } end)
                {
                    // The bank sent a setup message of a stage it already has, with other bytes: a new process of it, whose earlier
                    // process took its setup secrets along. Setup cannot finish, so it ends now, durably and for every bank, rather
                    // than at the stage's deadline (SPEC.md 14.5, 14.6); the bank itself gets the refusal as before.
                    _log.LogWarning("bank {Bank} sent a setup message it already sent, with other bytes ({Reason}): ending the session's setup", bank, refused.Reason);
                    pending = Commit(new StoredEvent(0, EventKind.Step, -1, end.Name, end.Payload, []));
                    endedSetup = refused;
                }
                if (endedSetup is null)
                {
                    _inbound[key] = pending.Durable.Task;
                    _metrics.Accepted(message.Length, sw.Elapsed.TotalSeconds);
                }
                Advance();
            }
            else pending = _lastQueued!;
            // The steps this message made due (a stage it completed) are answered with it: the caller, whom the next stage waits
            // for last, then finds their mailbox items committed (SPEC.md 14.5, delivery with the answer).
            last = _lastQueued!;
        }
        if (endedSetup is not null)
        {
            // The refusal is answered once the end of setup is durable (every bank's abort is then readable).
            await FlushAsync(last).ConfigureAwait(false);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(endedSetup);
        }
        if (earlier is not null)
        {
            // A resend of accepted bytes: the first answer, once those bytes are durable (they may still be queued; everything
            // queued up to now, which includes them, is flushed).
            if (!earlier.IsCompleted) await FlushAsync(pending).ConfigureAwait(false);
            return (await earlier.ConfigureAwait(false), true);
        }
        if (pending.PayloadFile is { } file)
        {
            // Outside the lock: the banks' payload files are written and fsynced in parallel while the engine takes the next message.
            long t3 = ApplianceTimings.Now;
            try
            {
                Sdk.Diagnostics.HopTrace.Mark(bank, "a.file>");
                _store.WritePayloadFile(bank, digest, message);
                Sdk.Diagnostics.HopTrace.Mark(bank, "a.file<");
                file.TrySetResult();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                file.TrySetException(ex);
            }
            Timings.StoreWrite(ApplianceTimings.Now - t3);
        }
        await FlushAsync(last).ConfigureAwait(false);   // commits pending too: batches keep the order events were applied in
        return (await FlushAsync(pending).ConfigureAwait(false), false);
    }

    /// <summary>Bank <paramref name="bank"/> will contribute <paramref name="length"/> values to the next round, or to the running
    /// round when it is one of that round's participants and the round's first stage still waits for its first message (SPEC.md
    /// 14.5, "Asking again inside a round": nothing is stored then). A request after a window that ended without a round (too
    /// few banks asked by its join deadline) starts a fresh window for the next round number; the refused window's banks find
    /// its <see cref="RoundRefused"/> item in their mailboxes (SPEC.md 14.5, "Rounds and deadlines").</summary>
    /// <returns>The round it is queued for, or the running round it takes part in.</returns>
    /// <exception cref="ProtocolViolationException">OutOfRange (a length outside 1..2^27); WrongRoundOrState (this bank already
    /// asked for another length).</exception>
    /// <exception cref="RoundLengthMismatchException">another bank set the pending round's length and it differs, or the bank is
    /// answered with the running round and that round's length differs.</exception>
    /// <exception cref="ApplianceUnavailableException">the state file failed (now or earlier).</exception>
    /// <exception cref="EndedSessionException">the session has ended; nothing was stored.</exception>
    public async Task<ulong> RequestRoundAsync(int bank, int length)
    {
        if (length is < 1 or > (1 << 27)) throw Error.Violation(ViolationReason.OutOfRange, "a round length is 1..2^27 values");
        PendingEvent? pending;
        ulong round;
        lock (_lock)
        {
            if (EndedMessage() is { } ended) throw new EndedSessionException(ended);
            if (_requests.TryGetValue(bank, out int asked))
            {
                // This bank's own earlier request (typically from a run of it that stopped before the round opened) set its
                // length: the same refusal as another bank's length, so the SDK names the length to pass (SPEC.md 14.5).
                if (asked != length) throw new RoundLengthMismatchException(_nextRound, asked, length, ownRequest: true);
                // A resend: the first request may still be in the queued batch, so it is answered once that is durable.
                pending = _lastQueued;
                round = _nextRound;
            }
            else if (_engine.AwaitsFirstMessage(bank))
            {
                // A participant of the running round that has sent nothing of it yet (an SDK retrying its request after the round
                // opened, or a bank restarted before it saved anything of the round): it is answered with the running round and
                // runs it from the start (SPEC.md 14.5, "Asking again inside a round"). Nothing is stored: the answer is a function
                // of the log. The round's opening may still be in the queued batch, so this is answered once that is durable.
                round = _nextRound - 1;
                if (length != _runningLength) throw new RoundLengthMismatchException(round, _runningLength, length);
                pending = _lastQueued;
                _log.LogInformation("bank {Bank} asked for a round while round {Round} waits for its first message: answered with round {Round}", bank, round, round);
            }
            else
            {
                if (_requests.Count > 0 && _requests.First().Value != length)
                    throw new RoundLengthMismatchException(_nextRound, _requests.First().Value, length);
                var payload = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)length);
                Commit(new StoredEvent(0, EventKind.RoundRequest, bank, "", payload, []));
                round = _nextRound;
                Advance();
                pending = _lastQueued;   // the round opening this request completed, if any, is durable when it is answered (SPEC.md 14.5)
            }
        }
        if (pending is not null) await FlushAsync(pending).ConfigureAwait(false);
        return round;
    }

    /// <summary>Items of <paramref name="bank"/>'s mailbox after <paramref name="after"/>, waiting up to <paramref name="wait"/> for one.
    /// The items are for a reply: each carries its sequence and its stored fields unparsed (it serializes as the stored item with
    /// that sequence; parse the bytes to read it).</summary>
    public async Task<IReadOnlyList<MailboxItem>> ReceiveAsync(int bank, ulong after, TimeSpan wait, int maxItems, CancellationToken cancellationToken)
    {
        DateTimeOffset end = _time.GetUtcNow() + wait;
        while (true)
        {
            Task changed;
            IReadOnlyList<MailboxEntry> entries;
            long t0 = ApplianceTimings.Now;
            long from = (long)Math.Min(after, long.MaxValue);
            List<(long Sequence, Google.Protobuf.UnknownFieldSet? Item, int Size)>? cached = null;
            lock (_mailboxLock)
            {
                changed = MailboxChanged(bank);   // taken before reading: a commit after the read completes it
                if (_mailboxes.TryGetValue(bank, out MailboxCache? cache) && from + 1 >= cache.First) cached = cache.ReadAfter(from, maxItems);
            }
            long t1 = ApplianceTimings.Now;
            Timings.LockWait(t1 - t0);
            if (cached is not null)
            {
                TimeSpan remaining = end - _time.GetUtcNow();
                if (cached.Count > 0 || remaining <= TimeSpan.Zero)
                {
                    List<MailboxItem> fromMemory = cached.Select(c => MailboxItem.FromStored((ulong)c.Sequence, c.Item)).ToList();
                    Timings.Mailbox(ApplianceTimings.Now - t1);
                    return fromMemory;
                }
                await WaitForChange(changed, remaining, cancellationToken).ConfigureAwait(false);
                continue;
            }
            entries = _store.ReadMailbox(bank, from, maxItems);
            Timings.StoreRead(ApplianceTimings.Now - t1);
            TimeSpan left = end - _time.GetUtcNow();
            if (entries.Count > 0 || left <= TimeSpan.Zero)
            {
                long t2 = ApplianceTimings.Now;
                List<MailboxItem> items = entries.Select(e => MailboxItem.FromStored((ulong)e.Sequence, MailboxItem.StoredFields(e.Item))).ToList();
                Timings.Mailbox(ApplianceTimings.Now - t2);
                return items;
            }
            await WaitForChange(changed, left, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock) _engine.Dispose();
        _writer.Dispose();
    }
}

/// <summary>The appliance cannot accept work now (its state file failed); the call may be retried after a restart.</summary>
public sealed class ApplianceUnavailableException(string message) : Exception(message);

/// <summary>The session has ended (setup aborted, or evidence of an attack, SPEC.md 14.5): nothing more is accepted, and a retry
/// changes nothing until the operator starts a new session. The message says why and what the operator does.</summary>
public sealed class EndedSessionException(string message) : Exception(message);

/// <summary>A bank asked to join the pending round with another vector length than the round's: the first bank to ask sets the
/// length (SPEC.md 14.5) and every other bank must pass the same. The appliance answers INVALID_ARGUMENT (reason OutOfRange) with
/// the round's length in the trailer <see cref="FraudFed.Sdk.StatusMapping.RoundLengthTrailer"/>; nothing is stored. With
/// <paramref name="ownRequest"/>, the length is the one this bank itself asked for earlier (a run of it that stopped before the
/// round opened): it holds until the round opens or its join deadline passes.</summary>
public sealed class RoundLengthMismatchException(ulong round, int expected, int actual, bool ownRequest = false)
    : Exception($"vector length mismatch: round {round} sums vectors of {expected} value{(expected == 1 ? "" : "s")} " +
        (ownRequest ? "(this bank asked to join it with that length before, e.g. in a run that stopped; it holds until the round opens or its join deadline passes)"
            : "(the length the first bank to join it asked for)") +
        $", this bank passed {actual}; every bank of a round passes vectors of the same length")
{
    /// <summary>The pending round.</summary>
    public ulong Round { get; } = round;
    /// <summary>The round's vector length.</summary>
    public int ExpectedLength { get; } = expected;
    /// <summary>The length this bank asked for.</summary>
    public int ActualLength { get; } = actual;
}
