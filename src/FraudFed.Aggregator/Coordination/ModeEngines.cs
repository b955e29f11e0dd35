// The two mode engines of the coordinator. Each wraps the aggregator party of its mode and is a deterministic function
// of the event log: Receive (an accepted bank message), OpenRound and Step (coordinator steps) change it, and Due says
// which step the stage's progress or deadline calls for next. Outputs are mailbox items; the coordinator persists them.
// Replaying the same log into a fresh engine gives the same party state (the homomorphic session id, the only random
// choice of the aggregator party, is part of the log).
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;

namespace FraudFed.Aggregator.Coordination;

/// <summary>How a round ended, for metrics and logs.</summary>
internal sealed record RoundEnd(ulong Round, bool Succeeded, string Reason);

/// <summary>A round that closed, for the training engine: the opened sum (mod t or 2^k) and its contributors, or null on failure.</summary>
internal sealed record ClosedRound(ulong Round, ulong[]? Sum, IReadOnlyList<int> Contributors, string Reason)
{
    /// <summary>Of a round that ended without a sum: the participants that sent nothing for one of its stages before that
    /// stage closed at its deadline (ascending bank indexes; no secret). Empty when every bank answered, or the sum opened.</summary>
    public IReadOnlyList<int> Silent { get; init; } = [];
}

internal interface IModeEngine : IDisposable
{
    /// <summary>Changes whenever the party's stage changes (the stage clock restarts).</summary>
    string StageKey { get; }
    /// <summary>Where the session stands, for the operator's log (e.g. "session Ready; round 3 in MaskedInput with 4 of 5 inputs").</summary>
    string Position { get; }
    /// <summary>True when setup is done and no round is running.</summary>
    bool CanOpenRound { get; }
    /// <summary>True while session setup runs (its own deadline applies).</summary>
    bool InSetup { get; }
    /// <summary>While setup runs: the setup stage the engine waits on, how many session banks it has for it, and of how many
    /// (e.g. ("CrsCommit", 3, 5)); otherwise null. For the operator's log (no secret: a stage name and counts).</summary>
    (string Stage, int Have, int Of)? SetupProgress { get; }
    /// <summary>True once the session has ended (setup aborted, or evidence of an attack): no round can open again.</summary>
    bool SessionEnded { get; }
    /// <summary>Once the session has ended: why, in the operator's words, starting "aborted" (e.g. "aborted: bank(s) 3 missed the
    /// CrsCommit setup deadline (deadlines.setup_seconds; it passed at 2026-12-02 12:02:00Z)"; masking adds why setup cannot go on
    /// without them: "aborted: bank(s) 4 missed the AdvertiseKeys setup deadline (...); 4 banks advertised keys; at least 5 are
    /// needed (...)"); otherwise null. A
    /// function of the log (a deadline's time is in its step's payload). No secret: banks, stages, reasons and times.</summary>
    string? EndCause { get; }
    /// <summary>Banks in the session (a round opens early when all of them asked).</summary>
    IReadOnlyCollection<int> SessionBanks { get; }
    /// <summary>Masking: the session id; homomorphic: empty.</summary>
    byte[] SessionId { get; }
    /// <summary>The fewest banks any round of the session needs, and the rule behind that number in the words of the too-few
    /// messages: max(T, K_min) in homomorphic mode (SPEC.md 12.3), M in masking mode (8.3). A request window with fewer banks
    /// ends without a round (SPEC.md 14.5, "Rounds and deadlines"). A function of the configuration (and, masking, of the
    /// session's parameters).</summary>
    (int Needed, string Why) RoundMinimum { get; }
    /// <summary>The first step of a new log (a fresh session).</summary>
    (string Name, byte[] Payload) NewSession();
    /// <summary>The checks of a bank's message that depend on its bytes only (decoding, the sender named in the body), run
    /// outside the coordinator's lock so that banks' messages are decoded in parallel. Thread-safe; changes nothing. Throws
    /// ProtocolViolationException on refusal. The result is passed to <see cref="Receive"/>.</summary>
    object? Prepare(int bank, byte[] message);
    /// <summary>A bank's message, after <see cref="Prepare"/> accepted it (<paramref name="prepared"/> is its result). Throws
    /// ProtocolViolationException on refusal, changing nothing.</summary>
    IReadOnlyList<OutboundItem> Receive(int bank, byte[] message, object? prepared);
    IReadOnlyList<OutboundItem> OpenRound(ulong round, int length, IReadOnlyList<int> participants);
    /// <summary>True while the running round's first stage (homomorphic uploads, masking ShareKeys) still waits for the first
    /// message of <paramref name="bank"/>, one of the round's participants that has neither answered nor left it: the bank has
    /// sent nothing of the round, so it can still run it from the start (SPEC.md 14.5, "Asking again inside a round"). A
    /// function of the engine's state, so of the log; changes nothing.</summary>
    bool AwaitsFirstMessage(int bank);
    IReadOnlyList<OutboundItem> Step(string name, byte[] payload);
    /// <summary>The step that ends the session's setup because <paramref name="bank"/> was restarted during it, or null: called
    /// when the engine refused the bank's message (<paramref name="prepared"/> is its <see cref="Prepare"/> result). Homomorphic:
    /// a setup message of the current key generation whose kind the bank already sent (accepted) with other bytes (a resend of
    /// the accepted bytes never reaches the engine), while setup runs: the bank's setup secrets are gone with its earlier
    /// process, so setup cannot finish (SPEC.md 14.5, 14.6). Masking: always null (its setup goes on without absent banks).
    /// Changes nothing.</summary>
    (string Name, byte[] Payload)? SetupRestartEnd(int bank, object? prepared);
    (string Name, byte[] Payload)? Due(bool deadlinePassed);
    /// <summary>The last round's end since the previous call, if any.</summary>
    RoundEnd? TakeRoundEnd();
    /// <summary>The last closed round since the previous call, with its sum, if any (independent of <see cref="TakeRoundEnd"/>).</summary>
    ClosedRound? TakeClosedRound();
}

/// <summary>The times the coordinator records in step payloads (a stage clock's start, a deadline): u64 Unix milliseconds, little-endian.</summary>
internal static class Clock
{
    public static byte[] Write(DateTimeOffset time)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(payload, time.ToUnixTimeMilliseconds());
        return payload;
    }
    public static DateTimeOffset Read(byte[] payload) => DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(payload));
    /// <summary>A time in the operator log's form, UTC to the second ("2026-12-02 12:02:00Z").</summary>
    public static string Words(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The operator's words for banks that missed a setup stage's deadline, the same in both modes: "bank(s) 3, 4 missed
    /// the CrsCommit setup deadline (deadlines.setup_seconds; it passed at 2026-12-02 12:02:00Z)". <paramref name="payload"/> is
    /// the closing step's payload, the deadline's time (<see cref="Write"/>); empty in logs written before the time was recorded,
    /// which leave the parenthesis out. Bank indexes, a stage name and a time: no secret.</summary>
    public static string MissedSetup(IEnumerable<int> banks, string stage, byte[] payload)
    {
        string at = payload.Length >= 8 ? $" (deadlines.setup_seconds; it passed at {Words(Read(payload))})" : "";
        return $"bank(s) {string.Join(", ", banks)} missed the {stage} setup deadline{at}";
    }

    /// <summary>The operator's and the banks' words for the participants of a round that stayed silent: "bank(s) 1, 3 sent no
    /// decryption shares before the stage deadline (deadlines.stage_seconds)". Bank indexes and a stage: no secret.</summary>
    public static string SilentInRound(IEnumerable<int> banks, string what) =>
        $"bank(s) {string.Join(", ", banks)} sent no {what} before the stage deadline (deadlines.stage_seconds)";
}

internal static class Items
{
    /// <summary>One item per recipient; recipients of the same bytes (a broadcast) share one serialized item, which the store
    /// then writes once.</summary>
    public static List<OutboundItem> Messages(IEnumerable<(int Bank, byte[] Bytes)> messages)
    {
        var wrapped = new Dictionary<byte[], byte[]>(ReferenceEqualityComparer.Instance);
        var list = new List<OutboundItem>();
        foreach (var (bank, bytes) in messages)
        {
            if (!wrapped.TryGetValue(bytes, out byte[]? item)) wrapped[bytes] = item = Wrap(bytes);
            list.Add(new OutboundItem(bank, item));
        }
        return list;
    }
    private static byte[] Wrap(byte[] bytes) => new MailboxItem { Message = UnsafeByteOperations.UnsafeWrap(bytes) }.ToByteArray();
    public static byte[] Banks(IEnumerable<int> banks) => banks.SelectMany(b => BitConverter.GetBytes((uint)b)).ToArray();
    public static int[] Banks(byte[] payload) => Enumerable.Range(0, payload.Length / 4).Select(i => (int)BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(4 * i))).ToArray();
}

/// <summary>A RandomNumberGenerator that hands out bytes the coordinator queued (recorded in the log), and nothing else.</summary>
internal sealed class LoggedRandom : RandomNumberGenerator
{
    private readonly Queue<byte[]> _queued = new();
    public void Enqueue(byte[] bytes) => _queued.Enqueue(bytes);
    public override void GetBytes(byte[] data) => GetBytes(data.AsSpan());
    public override void GetBytes(byte[] data, int offset, int count) => GetBytes(data.AsSpan(offset, count));
    public override void GetBytes(Span<byte> data)
    {
        if (!_queued.TryDequeue(out byte[]? next) || next.Length != data.Length)
            throw new InvalidOperationException("The aggregator party drew randomness the coordinator did not log.");
        next.CopyTo(data);
    }
    public override void GetNonZeroBytes(byte[] data) => throw new NotSupportedException("Not used by the aggregator party.");
}

/// <summary>Threshold homomorphic mode around <see cref="HomomorphicAggregatorParty"/> (SPEC.md 14.2).</summary>
internal sealed class HeEngine : IModeEngine
{
    private readonly HomomorphicAggregatorParty _party;
    private readonly LoggedRandom _random = new();
    private readonly int _banks;
    private readonly int _maxMessageBytes;
    private readonly HashSet<int> _answered = [];
    private readonly HashSet<(int Bank, string Step)> _setupSent = [];   // setup messages accepted in this key generation
    private int[] _expected = [];
    private HeRoundOutcome? _reported;
    private RoundEnd? _setupFailure;
    private HeRoundOutcome? _closed;
    private readonly SortedSet<int> _silent = [];   // participants of the running round that missed a stage's deadline
    private string? _endCause;   // set by the step that ended the session (a bank's own abort leaves it null: the party's state says it)

    /// <summary>The step that ends a setup a bank missed: its payload is the deadline's time (u64 Unix milliseconds, little-endian;
    /// empty in logs written before the time was recorded).</summary>
    internal const string FailSetupStep = "he.fail_setup";

    public HeEngine(FederationSettings settings, byte[] aggregatorSeed, int maxMessageBytes)
    {
        HomomorphicRoster roster = settings.BuildHeRoster();
        _banks = roster.Banks;
        _maxMessageBytes = maxMessageBytes;
        _party = new HomomorphicAggregatorParty(roster, Ed25519SigningKey.Import(aggregatorSeed), _random, maxMessageBytes) { Parallel = true };
    }

    public string StageKey => _party.State;
    public string Position
    {
        get
        {
            string s = _party.State;
            if (SessionEnded) return $"session ended ({EndCause})";
            if (_party.IsReady) return _party.LastOutcome is { } last ? $"session Ready; no round running (round {last.Round} ended)" : "session Ready; no round running";
            if (InSetup) return $"session setup in stage {s}, waiting for {_party.MissingSetupBanks.Count} of {_banks} banks";
            int answered = _expected.Count(_answered.Contains);
            // The round stages by their SPEC.md names (14.5: "homomorphic: uploads, decryption shares"), not the party's state names.
            bool uploads = s.StartsWith("CollectingUploads", StringComparison.Ordinal);
            string round = System.Text.RegularExpressions.Regex.Match(s, @"\d+").Value;
            return $"session Ready; round {round} in stage {(uploads ? "uploads" : "decryption shares")} with {answered} of {_expected.Length} {(uploads ? "uploads" : "decryption share messages")}";
        }
    }
    public bool CanOpenRound => _party.IsReady;
    public bool InSetup => !_party.IsReady && !_party.State.StartsWith("Collecting", StringComparison.Ordinal) && !_party.State.StartsWith("Aborted", StringComparison.Ordinal);
    public (string Stage, int Have, int Of)? SetupProgress => InSetup && _party.State != "Idle" ? (_party.State, _banks - _party.MissingSetupBanks.Count, _banks) : null;
    public bool SessionEnded => _party.State.StartsWith("Aborted", StringComparison.Ordinal);
    // The party names its aborted state "Aborted(<why>)": a bank's abort of the session is "bank 3: Inconsistent".
    public string? EndCause => !SessionEnded ? null : _endCause ?? $"aborted: {_party.State["Aborted(".Length..^1]}";
    public IReadOnlyCollection<int> SessionBanks => Enumerable.Range(0, _banks).ToArray();
    public byte[] SessionId => [];
    public (int Needed, string Why) RoundMinimum
    {
        get
        {
            // The decryptors are contributors where they can be (Due pads the set with other banks only when fewer contributed):
            // a window of fewer than T banks relies on banks that did not ask to decrypt, and one below K_min cannot open at all.
            var policy = _party.Roster.Policy;
            return (Math.Max(policy.Threshold, policy.MinContributors), Error.HomomorphicMinimum(policy.Threshold, policy.MinContributors));
        }
    }

    public (string Name, byte[] Payload) NewSession() => ("he.start_session", RandomNumberGenerator.GetBytes(16));

    // Only the message's kind is needed here: an upload is walked in place (its ~38 MB of chunks are not copied).
    public object? Prepare(int bank, byte[] message) => HeWire.DecodeToAggregatorInPlace(message, _banks, _maxMessageBytes);

    public IReadOnlyList<OutboundItem> Receive(int bank, byte[] message, object? prepared)
    {
        // Prepare's decoding (same bytes) is handed to the party: an upload is not walked, nor decryption shares copied, twice.
        var m = (HeToAggregator)prepared!;
        IReadOnlyList<HeOutgoing> outs = _party.ReceiveDecoded(bank, m);
        if (m is HeUploadMessage or HeDecryptionSharesMessage or HeAbortToAggregator) _answered.Add(bank);
        if (IsSetupMessage(m)) _setupSent.Add((bank, HeWire.StepName(m)));
        return Map(outs);
    }

    private static bool IsSetupMessage(HeToAggregator m) => m is HeCrsCommitMessage or HeCrsRevealMessage or HeKeyShareCommitMessage
        or HeKeyShareRevealMessage or HeChannelAdvertMessage or HeSealedPointsMessage or HeKeyReadyMessage;

    public (string Name, byte[] Payload)? SetupRestartEnd(int bank, object? prepared)
    {
        if (!InSetup || prepared is not HeToAggregator m || !IsSetupMessage(m) || !m.SessionId.AsSpan().SequenceEqual(_party.SessionId)) return null;
        string step = HeWire.StepName(m);
        if (!_setupSent.Contains((bank, step))) return null;
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)bank);
        return ("he.end_setup_restart", [.. payload, .. System.Text.Encoding.ASCII.GetBytes(step)]);
    }

    /// <summary>What every bank is told when <paramref name="bank"/> was restarted during the key setup (its <paramref name="step"/>
    /// came again with other bytes): the cause, and that the session cannot finish.</summary>
    internal static string SetupRestartMessage(int bank, string step) =>
        $"bank {bank} restarted during the session's key setup (it sent its {step} again with other bytes: its setup secrets went with its earlier process, and homomorphic key setup needs every bank and does not resume); the session cannot finish: start a new session and start every bank again";

    public IReadOnlyList<OutboundItem> OpenRound(ulong round, int length, IReadOnlyList<int> participants)
    {
        IReadOnlyList<HeOutgoing> outs = _party.StartRound(round, length);
        _expected = participants.ToArray();
        _answered.Clear();
        _silent.Clear();
        return Map(outs);
    }

    public bool AwaitsFirstMessage(int bank) =>
        _party.IsCollectingUploads && _expected.Contains(bank) && !_answered.Contains(bank);

    public IReadOnlyList<OutboundItem> Step(string name, byte[] payload)
    {
        switch (name)
        {
            case "he.start_session":
                _random.Enqueue(payload);
                _setupSent.Clear();
                return Map(_party.StartSession());
            case "he.close_uploads":
                _silent.UnionWith(_expected.Where(b => !_answered.Contains(b)));   // the uploads' deadline passed without them
                int[] active = Items.Banks(payload);
                IReadOnlyList<HeOutgoing> outs = _party.CloseUploads(active);
                _expected = active;
                _answered.Clear();
                return Map(outs);
            case FailSetupStep:
            {
                // A bank missed a setup stage's deadline: setup cannot finish without every roster bank's key material.
                string missed = Clock.MissedSetup(_party.MissingSetupBanks, _party.State, payload);
                _setupFailure = new RoundEnd(0, false, "setup_deadline");
                _endCause = $"aborted: {missed}";
                return Map(_party.AbortSetup(ViolationReason.TooFewParticipants,
                    $"{missed}; start a new session and start every bank again (homomorphic key setup needs every bank and does not resume)"));
            }
            case "he.end_setup_restart":
            {
                // A bank was restarted during setup (SetupRestartEnd): setup ends at once rather than at the stage's deadline.
                int restarted = (int)BinaryPrimitives.ReadUInt32LittleEndian(payload);
                string step = System.Text.Encoding.ASCII.GetString(payload, 4, payload.Length - 4);
                _setupFailure = new RoundEnd(0, false, "setup_restart");
                _endCause = $"aborted: bank {restarted} restarted during the session's key setup (it sent its {step} again with other bytes)";
                return Map(_party.AbortSetup(ViolationReason.TooFewParticipants, SetupRestartMessage(restarted, step)));
            }
            case "he.fail_round":
            {
                int[] missed = _expected.Where(b => !_answered.Contains(b)).ToArray();
                _silent.UnionWith(missed);
                return Map(_party.FailRound(ViolationReason.TooFewParticipants,
                    missed.Length > 0 ? $"a decryptor missed the stage deadline: {Clock.SilentInRound(missed, "decryption shares")}" : "a decryptor missed the stage deadline"));
            }
            default:
                throw new InvalidDataException($"Unknown homomorphic step '{name}' in the state file.");
        }
    }

    public (string Name, byte[] Payload)? Due(bool deadlinePassed)
    {
        string s = _party.State;
        if (deadlinePassed && _party.MissingSetupBanks.Count > 0) return (FailSetupStep, []);   // the coordinator adds the deadline's time
        if (s.StartsWith("CollectingUploads", StringComparison.Ordinal))
        {
            if (!deadlinePassed && !_expected.All(_answered.Contains)) return null;
            int t = _party.Roster.Policy.Threshold;
            int[] active = _answered.Order().Take(t).Concat(Enumerable.Range(0, _banks).Where(b => !_answered.Contains(b))).Take(t).Order().ToArray();
            return ("he.close_uploads", Items.Banks(active));
        }
        if (s.StartsWith("CollectingShares", StringComparison.Ordinal) && deadlinePassed) return ("he.fail_round", []);
        return null;
    }

    public RoundEnd? TakeRoundEnd()
    {
        if (_setupFailure is { } failed) { _setupFailure = null; return failed; }
        HeRoundOutcome? o = _party.LastOutcome;
        if (o is null || ReferenceEquals(o, _reported)) return null;
        _reported = o;
        return new RoundEnd(o.Round, o.Sum is not null, o.Failure?.Reason.ToString() ?? "ok");
    }

    public ClosedRound? TakeClosedRound()
    {
        HeRoundOutcome? o = _party.LastOutcome;
        if (o is null || ReferenceEquals(o, _closed)) return null;
        _closed = o;
        return new ClosedRound(o.Round, o.Sum, o.Contributors, o.Failure?.Reason.ToString() ?? "ok") { Silent = o.Sum is null ? [.. _silent] : [] };
    }

    private static List<OutboundItem> Map(IReadOnlyList<HeOutgoing> outs) => Items.Messages(outs.Select(o => (o.To, o.Bytes)));

    public void Dispose() => _party.Dispose();
}

/// <summary>Masking mode around <see cref="MaskingAggregator"/> (SPEC.md 8, 14.3).</summary>
internal sealed class MaskingEngine : IModeEngine
{
    private readonly FederationSettings _settings;
    private readonly byte[][] _keys;
    private readonly int _maxMessageBytes;
    private readonly HashSet<int> _answered = [];
    private readonly HashSet<int> _left = [];   // banks that left the running round (their abort): no later stage waits for them
    private MaskingAggregator? _aggregator;
    private MaskingParameters? _parameters;
    private int[] _expected = [];
    private int[] _participants = [];
    private RoundEnd? _end;
    private ClosedRound? _closed;
    private readonly SortedSet<int> _silent = [];   // participants of the running round that missed a stage's deadline
    private string? _endCause;

    /// <summary>The steps that close a setup stage (SPEC.md 8.1). At the setup deadline the coordinator gives them the deadline's
    /// time as payload (u64 Unix milliseconds, little-endian; empty when every bank answered, and in logs written before the
    /// time was recorded), for the operator's words should the close end the session.</summary>
    internal const string CloseAdvertiseStep = "masking.close_advertise", CloseGraphSeedStep = "masking.close_graph_seed";

    public MaskingEngine(FederationSettings settings, int maxMessageBytes)
    {
        _settings = settings;
        _keys = settings.IdentityKeyBytes();
        _maxMessageBytes = maxMessageBytes;
    }

    private MaskingAggregator Aggregator => _aggregator ?? throw Error.Violation(ViolationReason.WrongRoundOrState, "the masking session is not created yet");

    public string StageKey => _aggregator is null ? "none" : $"{_aggregator.State.Stage}/{_aggregator.State.Round}";
    public string Position
    {
        get
        {
            int answered = _expected.Count(_answered.Contains);
            return _aggregator?.State switch
            {
                null => "no session yet",
                AggregatorAdvertiseKeys or AggregatorGraphSeed => $"session setup in stage {_aggregator.State.Stage} with {answered} of {_expected.Length} banks' messages",
                AggregatorCompleted done => $"session Ready; no round running (round {done.Round} ended)",
                AggregatorReady => "session Ready; no round running",
                AggregatorAborted => $"session ended ({EndCause})",
                var state => $"session Ready; round {state.Round} in stage {state.Stage} with {answered} of {_expected.Length} {Inputs(state.Stage)}",
            };
        }
    }

    private static string Inputs(MaskingStage stage) => stage switch
    {
        MaskingStage.ShareKeys => "ShareKeys messages",
        MaskingStage.MaskedInput => "inputs",
        MaskingStage.ConsistencyCheck => "consistency signatures",
        _ => "unmasking responses",
    };
    public bool CanOpenRound => _aggregator?.State is AggregatorReady or AggregatorCompleted;
    public bool InSetup => _aggregator?.State is AggregatorAdvertiseKeys or AggregatorGraphSeed;
    public (string Stage, int Have, int Of)? SetupProgress =>
        InSetup ? (_aggregator!.State.Stage.ToString(), _expected.Count(_answered.Contains), _expected.Length) : null;
    public bool SessionEnded => _aggregator?.State is AggregatorAborted;
    public string? EndCause => SessionEnded ? _endCause ?? "aborted" : null;
    public IReadOnlyCollection<int> SessionBanks => _aggregator?.State is AggregatorAdvertiseKeys or AggregatorGraphSeed or null ? [] : _aggregator.Advertised;
    public byte[] SessionId => _parameters?.SessionId ?? [];
    public (int Needed, string Why) RoundMinimum => (_parameters?.MinimumSurvivors ?? 0, Error.MaskingMinimum);

    public (string Name, byte[] Payload) NewSession() => ("masking.create_session", RandomNumberGenerator.GetBytes(MaskingParameters.SessionIdSize));

    public object? Prepare(int bank, byte[] message)
    {
        // A masked input's values are read where they are (the Submit's array, unchanged until the call is answered, after Receive).
        MaskingToAggregator m = MaskingWire.DecodeToAggregatorInPlace(message, _maxMessageBytes);
        int? named = MaskingAggregator.NamedSender(m);
        // SPEC.md 14.1: the sender is the certificate's bank; a body naming another bank is refused before the party sees it.
        if (named is { } sender && sender != bank)
            throw Error.Violation(ViolationReason.UnknownSender, $"the message names bank {sender} as its sender, the client certificate is bank {bank}'s");
        if (m is BankAbort { Round: 0 }) throw Error.Violation(ViolationReason.WrongRoundOrState, "a bank leaves the session by stopping; a session abort from a bank is not accepted here");
        return m;
    }

    public IReadOnlyList<OutboundItem> Receive(int bank, byte[] message, object? prepared)
    {
        // Prepare's decoding of the same bytes (sender already checked) is handed to the aggregator: no second decoding.
        var m = (MaskingToAggregator)prepared!;
        Aggregator.ReceiveDecoded(m);
        _answered.Add(bank);
        if (m is BankAbort) _left.Add(bank);   // the bank leaves the round: later stages stop waiting for it
        return [];
    }

    public IReadOnlyList<OutboundItem> OpenRound(ulong round, int length, IReadOnlyList<int> participants)
    {
        if (round > uint.MaxValue) throw Error.Violation(ViolationReason.OutOfRange, "masking rounds are below 2^32");
        // The last round's sum was packed into its mailbox items at Finish, and a training job took its closed round (and copied
        // the values) right after that event: nothing reads the array any more, so the new round's running sum reuses it.
        if (_aggregator?.State is AggregatorCompleted done && (_closed is null || ReferenceEquals(_closed.Sum, done.Sum)))
        {
            _closed = null;
            _aggregator.RecycleSum(done.Sum);
        }
        Aggregator.BeginRound((uint)round, length);
        _participants = participants.ToArray();
        _expected = _participants;
        _answered.Clear();
        _left.Clear();
        _silent.Clear();
        var open = new MailboxItem { RoundOpen = new RoundOpen { Round = round, Length = (uint)length } }.ToByteArray();
        return _participants.Select(b => new OutboundItem(b, open)).ToList();
    }

    public (string Name, byte[] Payload)? SetupRestartEnd(int bank, object? prepared) => null;

    public bool AwaitsFirstMessage(int bank) =>
        _aggregator?.State is AggregatorShareKeys && _participants.Contains(bank) && !_answered.Contains(bank) && !_left.Contains(bank);

    public IReadOnlyList<OutboundItem> Step(string name, byte[] payload)
    {
        if (name == "masking.create_session")
        {
            _parameters = _settings.BuildMaskingParameters(payload);
            _aggregator = new MaskingAggregator(_parameters, _keys);
            _expected = Enumerable.Range(0, _keys.Length).ToArray();
            _answered.Clear();
            return [];
        }
        MaskingAggregator agg = Aggregator;
        uint round = agg.State.Round;
        string stageBefore = agg.State.Stage.ToString();
        // A setup stage that closes with banks missing (at its deadline): they are named if the close ends the session.
        int[] silent = agg.State is AggregatorAdvertiseKeys or AggregatorGraphSeed ? _expected.Where(b => !_answered.Contains(b)).ToArray() : [];
        // A round's stage that closes without some participants (its deadline passed; a bank that left the round said so).
        MaskingStage stage = agg.State.Stage;
        if (silent.Length == 0 && agg.State is not (AggregatorReady or AggregatorCompleted or AggregatorAborted))
            _silent.UnionWith(_expected.Where(b => !_answered.Contains(b) && !_left.Contains(b)));
        try
        {
            switch (name)
            {
                case CloseAdvertiseStep:
                {
                    byte[] roster = agg.CloseAdvertiseKeys();
                    return Next(agg.Advertised.ToDictionary(b => b, _ => roster));
                }
                case CloseGraphSeedStep:
                {
                    byte[] seeds = agg.CloseGraphSeed();
                    return Next(agg.Advertised.ToDictionary(b => b, _ => seeds));
                }
                case "masking.close_share_keys": return Next(agg.CloseShareKeys());
                case "masking.close_masked_input": return Next(agg.CloseMaskedInput());
                case "masking.close_consistency": return Next(agg.CloseConsistencyCheck());
                case "masking.finish":
                {
                    ulong[] sum = agg.Finish();
                    var done = (AggregatorCompleted)agg.State;
                    // Packed once (SPEC.md 14.5, the masking sum): every participant's item is these same bytes.
                    // Packed straight into the item's bytes (no packed array serialized into a second one).
                    byte[] item = SumResult.PackSumItem(done.Round, done.Contributors, sum, _parameters!.ModulusBits);
                    _end = new RoundEnd(done.Round, true, "ok");
                    _closed = new ClosedRound(done.Round, sum, done.Contributors.ToArray(), "ok");
                    _expected = [];
                    return _participants.Select(b => new OutboundItem(b, item)).ToList();
                }
                case "masking.abandon_round":
                {
                    byte[] notice = agg.AbandonRound();
                    _end = new RoundEnd(round, false, ViolationReason.TooFewParticipants.ToString());
                    _closed = new ClosedRound(round, null, [], _end.Reason) { Silent = [.. _silent] };
                    return Items.Messages(_participants.Select(b => (b, notice)));
                }
                default:
                    throw new InvalidDataException($"Unknown masking step '{name}' in the state file.");
            }
        }
        catch (ProtocolViolationException e)
        {
            _expected = [];
            if (agg.State is AggregatorReady { AbortNotice: { } notice })
            {
                _end = new RoundEnd(round, false, e.Reason.ToString());
                _closed = new ClosedRound(round, null, [], _end.Reason) { Silent = [.. _silent] };
                // The banks are told which participants stayed silent (the aggregator's notice carries no text of its own).
                if (_silent.Count > 0) notice = MaskingWire.Encode(new RoundAbort(_parameters!.SessionId, round, e.Reason, SilentNotice(e, _silent, stage)));
                return Items.Messages(_participants.Select(b => (b, notice)));
            }
            // The session ended (a setup that cannot finish, or evidence of an attack): every bank is told with round 0.
            string text = e.Message.StartsWith(e.Reason + ": ", StringComparison.Ordinal) ? e.Message[(e.Reason.ToString().Length + 2)..] : e.Message;
            _endCause = silent.Length > 0 ? $"aborted: {Clock.MissedSetup(silent, stageBefore, payload)}; {SetupNeeds(stageBefore, text)}"
                : $"aborted in stage {stageBefore} ({e.Reason}: {text})";
            _end = new RoundEnd(round, false, e.Reason.ToString());
            _closed = new ClosedRound(round, null, [], _end.Reason);
            byte[] end = MaskingWire.Encode(new RoundAbort(_parameters!.SessionId, 0, e.Reason, "the session ended"));
            return Items.Messages(Enumerable.Range(0, _keys.Length).Select(b => (b, end)));
        }
    }

    /// <summary>The text of a round's abort notice when participants stayed silent: the aggregator's reason (counts against the
    /// minimum) and "bank(s) 2 sent no inputs before the stage deadline (deadlines.stage_seconds)". No secret.</summary>
    internal static string SilentNotice(ProtocolViolationException e, IEnumerable<int> silent, MaskingStage stage)
    {
        string text = e.Message.StartsWith(e.Reason + ": ", StringComparison.Ordinal) ? e.Message[(e.Reason.ToString().Length + 2)..] : e.Message;
        return $"{text.TrimEnd('.')}; {Clock.SilentInRound(silent, Inputs(stage))}";
    }

    /// <summary>Why a setup stage without the banks that missed it cannot finish: AdvertiseKeys, the aggregator's count against M
    /// (<paramref name="text"/>, "4 banks advertised keys; at least 5 are needed (...)"); GraphSeed, the nonce of every bank of the key roster.</summary>
    private static string SetupNeeds(string stage, string text) => stage == nameof(MaskingStage.GraphSeed)
        ? "the graph seed needs the nonce of every bank in the key roster (SPEC.md 8.1)"
        : text.TrimEnd('.');

    private List<OutboundItem> Next(IReadOnlyDictionary<int, byte[]> messages)
    {
        _expected = messages.Keys.Order().ToArray();
        _answered.Clear();
        return Items.Messages(messages.OrderBy(kv => kv.Key).Select(kv => (kv.Key, kv.Value)));
    }

    public (string Name, byte[] Payload)? Due(bool deadlinePassed)
    {
        if (_aggregator is null) return null;
        bool all = _expected.All(b => _answered.Contains(b) || _left.Contains(b));
        if (!all && !deadlinePassed) return null;
        return _aggregator.State switch
        {
            AggregatorAdvertiseKeys => (CloseAdvertiseStep, []),   // the coordinator adds the deadline's time when the deadline made it
            AggregatorGraphSeed => (CloseGraphSeedStep, []),
            AggregatorShareKeys => ("masking.close_share_keys", []),
            AggregatorMaskedInput => ("masking.close_masked_input", []),
            AggregatorConsistencyCheck => ("masking.close_consistency", []),
            AggregatorUnmasking => ("masking.finish", []),
            _ => null,
        };
    }

    public RoundEnd? TakeRoundEnd()
    {
        RoundEnd? e = _end;
        _end = null;
        return e;
    }

    public ClosedRound? TakeClosedRound()
    {
        ClosedRound? c = _closed;
        _closed = null;
        return c;
    }

    public void Dispose() { }
}
