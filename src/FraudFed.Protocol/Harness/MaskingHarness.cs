// In-process harness for the masking protocol: n MaskingBank endpoints and one MaskingAggregator talking
// through the mailboxes of an InMemorySumTransport that move the serialized wrappers (so every message goes through its
// codec and its size is counted). Dropouts are injectable at every stage. A bank that refuses a step (e.g. fewer than t holders
// of its shares present) leaves the round as a dropout would; a round that fails benignly at the aggregator (too few
// participants, cancellation) is announced to every bank that took part with the aggregator's RoundAbort, so every
// party is back in Ready with the round spent before the exception reaches the caller (SPEC.md 8.3). Timings are taken with Stopwatch here, in
// the harness, never in the protocol classes (which stay clock-free).
using System.Diagnostics;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;

namespace FraudFed.Protocol.Harness;

/// <summary>When a bank stops answering.</summary>
public enum DropoutStage
{
    /// <summary>Takes part in everything.</summary>
    None,
    /// <summary>Never advertises keys: out of the whole session (only meaningful for session setup).</summary>
    BeforeAdvertiseKeys,
    /// <summary>Skips this round entirely (sends no ShareKeys); may return next round.</summary>
    BeforeShareKeys,
    /// <summary>Sends ShareKeys, then nothing: its pairwise seeds of this round must be recovered.</summary>
    AfterShareKeys,
    /// <summary>Sends its masked input, then nothing (no consistency signature, no shares).</summary>
    AfterMaskedInput,
    /// <summary>Signs the survivor list, then never answers the unmask request.</summary>
    DuringUnmasking,
}

/// <summary>Which banks drop out, and when, in one round.</summary>
public sealed class DropoutPlan
{
    private readonly Dictionary<int, DropoutStage> _stages;

    /// <summary>Creates a plan from (bank, stage) pairs.</summary>
    public DropoutPlan(IEnumerable<KeyValuePair<int, DropoutStage>> stages) => _stages = new Dictionary<int, DropoutStage>(stages);

    /// <summary>Nobody drops.</summary>
    public static DropoutPlan None { get; } = new([]);

    /// <summary>Drops the given banks at one stage.</summary>
    public static DropoutPlan At(DropoutStage stage, params IEnumerable<int> banks) => new(banks.Select(b => KeyValuePair.Create(b, stage)));

    /// <summary>The stage at which <paramref name="bank"/> drops (None if it does not).</summary>
    public DropoutStage this[int bank] => _stages.TryGetValue(bank, out DropoutStage s) ? s : DropoutStage.None;

    /// <summary>Banks with a dropout.</summary>
    public IEnumerable<int> Banks => _stages.Where(kv => kv.Value != DropoutStage.None).Select(kv => kv.Key);
}

/// <summary>What one round cost and produced.</summary>
/// <param name="Sum">The unmasked sum mod 2^k.</param>
/// <param name="Contributors">Survivors whose inputs are in the sum.</param>
/// <param name="BytesUploaded">Bytes sent by banks to the aggregator in this round.</param>
/// <param name="BytesDownloaded">Bytes sent by the aggregator to banks in this round.</param>
/// <param name="MaskedInputBytes">Bytes of the MaskedInput messages alone.</param>
/// <param name="ClientSeconds">Per participating bank: time in its own protocol calls this round.</param>
/// <param name="ServerUnmaskSeconds">Aggregator time in Finish (reconstruction and mask removal).</param>
/// <param name="ServerSeconds">Total aggregator time in this round.</param>
/// <param name="BankRefusals">Banks that left the round by refusing a step, with the reason (empty when none did).</param>
public sealed record RoundReport(ulong[] Sum, IReadOnlyList<int> Contributors, long BytesUploaded, long BytesDownloaded, long MaskedInputBytes,
    IReadOnlyDictionary<int, double> ClientSeconds, double ServerUnmaskSeconds, double ServerSeconds, IReadOnlyDictionary<int, ViolationReason> BankRefusals);

/// <summary>n banks and an aggregator in one process.</summary>
public sealed class MaskingHarness : IDisposable
{
    private readonly Ed25519SigningKey[] _identities;
    private readonly InMemorySumTransport _transport;
    private uint _round;

    /// <summary>Creates the parties. Identity keys, X25519 keys and round secrets come from <paramref name="rng"/>.</summary>
    public MaskingHarness(MaskingParameters parameters, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(rng);
        Parameters = parameters;
        _identities = Enumerable.Range(0, parameters.Banks).Select(_ => Ed25519SigningKey.Generate(rng)).ToArray();
        byte[][] publicKeys = _identities.Select(k => k.PublicKey.ToArray()).ToArray();
        Banks = Enumerable.Range(0, parameters.Banks).Select(i => new MaskingBank(parameters, i, _identities[i], publicKeys, rng)).ToArray();
        Aggregator = new MaskingAggregator(parameters, publicKeys);
        _transport = new InMemorySumTransport(parameters.Banks);
    }

    /// <summary>Moves bank <paramref name="bank"/>'s message through the transport and hands it to the aggregator.</summary>
    private void ToAggregator(int bank, byte[] message)
    {
        _transport.PostFromBank(bank, message);
        _transport.TryTakeAtAggregator(out AggregatorDelivery d);
        Aggregator.Receive(d.Bank, d.Message.Span);
    }

    /// <summary>Moves an aggregator message for <paramref name="bank"/> through the transport; returns what the bank receives.</summary>
    private ReadOnlyMemory<byte> ToBank(int bank, byte[] message)
    {
        _transport.PostToBank(bank, new BankDelivery(message, null));
        _transport.TryTakeAtBank(bank, out BankDelivery d);
        return d.Message!.Value;
    }

    /// <summary>The session parameters.</summary>
    public MaskingParameters Parameters { get; }
    /// <summary>The banks, by id.</summary>
    public IReadOnlyList<MaskingBank> Banks { get; }
    /// <summary>The aggregator.</summary>
    public MaskingAggregator Aggregator { get; }
    /// <summary>Banks whose keys are in the session roster.</summary>
    public IReadOnlyCollection<int> InSession => Aggregator.Advertised.Where(id => Banks[id].State is not (BankAdvertiseKeys or BankGraphSeed)).ToArray();
    /// <summary>A bank's identity key (tests craft signed messages with it).</summary>
    internal Ed25519SigningKey IdentityOf(int bank) => _identities[bank];

    /// <summary>Bytes uploaded during setup.</summary>
    public long SetupBytesUploaded { get; private set; }
    /// <summary>Bytes downloaded during setup.</summary>
    public long SetupBytesDownloaded { get; private set; }

    /// <summary>The session's neighbour graph (after <see cref="SetupSession"/>).</summary>
    public NeighbourGraph Graph => Aggregator.Graph;

    /// <summary>Runs the session setup once (SPEC.md 8.1): AdvertiseKeys, KeyRoster, GraphSeedReveal, GraphSeedRoster.
    /// Banks in <paramref name="absent"/> never advertise.</summary>
    public void SetupSession(IEnumerable<int>? absent = null)
    {
        var away = new HashSet<int>(absent ?? []);
        MaskingBank[] present = Banks.Where(b => !away.Contains(b.Id)).ToArray();
        foreach (MaskingBank bank in present)
        {
            byte[] m = bank.AdvertiseKeys();
            SetupBytesUploaded += m.Length;
            ToAggregator(bank.Id, m);
        }
        byte[] roster = Aggregator.CloseAdvertiseKeys();
        foreach (MaskingBank bank in present)
        {
            SetupBytesDownloaded += roster.Length;
            byte[] reveal = bank.ReceiveRoster(ToBank(bank.Id, roster).Span);
            SetupBytesUploaded += reveal.Length;
            ToAggregator(bank.Id, reveal);
        }
        byte[] seeds = Aggregator.CloseGraphSeed();
        foreach (MaskingBank bank in present)
        {
            SetupBytesDownloaded += seeds.Length;
            bank.ReceiveGraphSeed(ToBank(bank.Id, seeds).Span);
        }
    }

    /// <summary>Banks that refused a step of the last round (begun with <see cref="RunRound"/>), with the reason.</summary>
    public IReadOnlyDictionary<int, ViolationReason> LastRoundRefusals { get; private set; } = new Dictionary<int, ViolationReason>();

    /// <summary>Runs one round: every bank in the session contributes <c>inputs[id]</c> unless the plan drops it.</summary>
    /// <exception cref="ProtocolViolationException">TooFewParticipants when the round fails benignly: the round number is spent and
    /// the aggregator and the banks that took part are back in Ready (SPEC.md 8.3); the next call runs the next round.</exception>
    public RoundReport RunRound(IReadOnlyList<ulong[]> inputs, DropoutPlan? plan = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count != Parameters.Banks) throw Error.Argument(nameof(inputs), "One input per bank.");
        plan ??= DropoutPlan.None;
        if (plan.Banks.Any(b => plan[b] == DropoutStage.BeforeAdvertiseKeys))
            throw Error.Argument(nameof(plan), "BeforeAdvertiseKeys is a session-level dropout: pass those banks to SetupSession (MaskingOptions.AbsentFromSetup).");
        uint round = _round = Math.Max(_round, Aggregator.State.Round) + 1; // rounds driven by hand (tests) are spent too
        var refusals = new Dictionary<int, ViolationReason>();
        LastRoundRefusals = refusals;
        try
        {
            return RunRoundCore(round, inputs, plan, refusals, cancellationToken);
        }
        catch (ProtocolViolationException) when (Aggregator.State is AggregatorReady { AbortNotice: not null } ready && ready.Round == round)
        {
            AnnounceRoundAbort(round, ready.AbortNotice);
            throw;
        }
        catch (OperationCanceledException) when (Aggregator.State.Round == round && Aggregator.State is not (AggregatorReady or AggregatorCompleted or AggregatorAborted))
        {
            AnnounceRoundAbort(round, Aggregator.AbandonRound());
            throw;
        }
    }

    /// <summary>Delivers the aggregator's RoundAbort to every bank still in <paramref name="round"/> (dropped ones included: their
    /// transport delivers it when they come back).</summary>
    private void AnnounceRoundAbort(uint round, byte[] notice)
    {
        foreach (int id in InSession)
        {
            BankState st = Banks[id].State;
            if (st.Round == round && st is not (BankReady or BankAborted)) Banks[id].ReceiveRoundAbort(ToBank(id, notice).Span);
        }
    }

    private RoundReport RunRoundCore(uint round, IReadOnlyList<ulong[]> inputs, DropoutPlan plan, Dictionary<int, ViolationReason> refusals, CancellationToken cancellationToken)
    {
        int length = inputs[0].Length;
        long up = 0, down = 0, maskedBytes = 0;
        var client = new Dictionary<int, double>();
        var server = new Stopwatch();
        var sw = new Stopwatch();
        // A bank's refusal takes it out of the round like a dropout (it sends nothing); the reason is reported.
        bool Client(int id, Action a)
        {
            sw.Restart();
            try { a(); }
            catch (ProtocolViolationException ex)
            {
                refusals[id] = ex.Reason;
                // A bank that ended the round for itself says so (SPEC.md 8.3); the aggregator treats it as a dropout.
                if (Banks[id].State is BankReady { LastRoundFailure: { } reason } ready && ready.Round == round)
                    Upload(id, new BankAbort(Parameters.SessionId, round, reason).Encode());
                return false;
            }
            finally { sw.Stop(); client[id] = client.GetValueOrDefault(id) + sw.Elapsed.TotalSeconds; }
            return true;
        }
        void Server(Action a) { server.Start(); a(); server.Stop(); }
        void Upload(int id, byte[] m) { up += m.Length; Server(() => ToAggregator(id, m)); }

        Server(() => Aggregator.BeginRound(round, length));
        foreach (int id in InSession)
        {
            if (plan[id] == DropoutStage.BeforeShareKeys) continue;
            byte[] m = [];
            if (Client(id, () => m = Banks[id].BeginRound(round))) Upload(id, m);
        }
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyDictionary<int, byte[]> deliveries = new Dictionary<int, byte[]>();
        Server(() => deliveries = Aggregator.CloseShareKeys());
        foreach (var (id, delivery) in deliveries)
        {
            down += delivery.Length;
            if (plan[id] == DropoutStage.AfterShareKeys) continue;
            byte[] m = [];
            ReadOnlyMemory<byte> received = ToBank(id, delivery);
            if (!Client(id, () => m = Banks[id].ReceiveShares(received.Span, inputs[id]))) continue;
            maskedBytes += m.Length;
            Upload(id, m);
        }
        cancellationToken.ThrowIfCancellationRequested();
        IReadOnlyDictionary<int, byte[]> lists = new Dictionary<int, byte[]>();
        Server(() => lists = Aggregator.CloseMaskedInput());
        foreach (var (id, list) in lists)
        {
            down += list.Length;
            if (plan[id] == DropoutStage.AfterMaskedInput) continue;
            byte[] m = [];
            ReadOnlyMemory<byte> received = ToBank(id, list);
            if (Client(id, () => m = Banks[id].ReceiveSurvivors(received.Span))) Upload(id, m);
        }
        IReadOnlyDictionary<int, byte[]> requests = new Dictionary<int, byte[]>();
        Server(() => requests = Aggregator.CloseConsistencyCheck());
        foreach (var (id, request) in requests)
        {
            down += request.Length;
            if (plan[id] == DropoutStage.DuringUnmasking) continue;
            byte[] m = [];
            ReadOnlyMemory<byte> received = ToBank(id, request);
            if (Client(id, () => m = Banks[id].ReceiveUnmaskRequest(received.Span))) Upload(id, m);
        }
        ulong[] sum = [];
        var unmask = Stopwatch.StartNew();
        Server(() => sum = Aggregator.Finish());
        unmask.Stop();
        var done = (AggregatorCompleted)Aggregator.State;
        return new RoundReport(sum, done.Contributors, up, down, maskedBytes, client, unmask.Elapsed.TotalSeconds, server.Elapsed.TotalSeconds, refusals);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (MaskingBank b in Banks) b.Dispose();
        foreach (Ed25519SigningKey k in _identities) k.Dispose();
    }
}
