// FederationClient: one bank's connection to the aggregator appliance (SPEC.md 14.5). Mutual TLS with the bank's
// pinned client certificate, the appliance's certificate checked against the configured authority only; every call
// retried with capped exponential backoff and jitter (Polly) while the appliance is unreachable, for a time budget (a restart
// of the appliance is ridden out), not a count; the bank's mailbox read in
// sequence order so that a reconnect resumes where it stopped and a resend is answered as the first send was.
// The protocol work is done by the protocol layer's per-bank client of the session's mode (HomomorphicSecureSumClient or
// MaskingSecureSumClient, SPEC.md 15) over this client's mailbox (ApplianceBankTransport): this class only moves bytes.
using System.Net.Security;
using Grpc.Core;
using Grpc.Net.Client;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using FraudFed.Sdk.Wire;
using Polly;
using Polly.Retry;

namespace FraudFed.Sdk;

/// <summary>The opened sum of one round.</summary>
/// <param name="Round">The round number.</param>
/// <param name="Sum">One value per position: the sum mod t (homomorphic) or mod 2^k (masking) of the contributors' vectors.</param>
/// <param name="Contributors">Roster indices of the banks whose vectors are in the sum, ascending.</param>
public sealed record FederatedSum(ulong Round, ulong[] Sum, IReadOnlyList<int> Contributors);

/// <summary>Timeouts and retries of a <see cref="FederationClient"/>.</summary>
public sealed record FederationClientOptions
{
    /// <summary>Deadline of one call, long polls excluded (default 60 s).</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How long one call keeps retrying while the appliance is unreachable (UNAVAILABLE, connection refused or reset,
    /// a call past its deadline), counted from the call's first attempt (default 120 s): long enough to ride out an appliance
    /// restart. The caller's cancellation token (an operation timeout) ends the retries earlier. Certificate, permission and
    /// argument failures are never retried.</summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Optional cap on the number of retries of one call within <see cref="RetryBudget"/>; null (default): only the budget counts.</summary>
    public int? MaxRetries { get; init; }
    /// <summary>First retry delay; doubled each retry up to <see cref="MaxRetryDelay"/>, with jitter (each delay is 50..100 % of
    /// its nominal value) and never past the end of <see cref="RetryBudget"/> (default 200 ms).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Longest nominal delay between two retries (default 8 s).</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);
    /// <summary>Told of every retry before its delay (e.g. to print "appliance unreachable, retrying in 4 s (attempt 5, 95 s
    /// left)"), or null. Called on the retrying thread; keep it short.</summary>
    public IProgress<ConnectionRetry>? RetryProgress { get; init; }
    /// <summary>Told where this bank's session stands (<see cref="SessionProgress"/>: the session setup started, setup done at
    /// this bank, its input going into a round), or null. Called on the client's thread; keep it short.</summary>
    public IProgress<SessionProgress>? SessionProgress { get; init; }
    /// <summary>How long one long poll waits for a mailbox item (default 10 s).</summary>
    public TimeSpan PollWait { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Longest wait for the appliance's next message during setup or a round (default 10 min).</summary>
    public TimeSpan StageTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Whether Submit and Receive, the calls that carry a round's megabytes, use the appliance's bulk channel (SPEC.md
    /// 14.8: length-prefixed frames straight over TLS on the same port, with the same mutual TLS, chosen in the TLS handshake;
    /// less CPU per byte than gRPC over HTTP/2) when the appliance offers it (default true). An appliance without the channel
    /// is found out at the first such call, which then goes over gRPC, as every later call of this client does. False: every
    /// call goes over gRPC. Refusals, retries and errors are the same either way.</summary>
    public bool BulkChannel { get; init; } = true;
}

/// <summary>Where a bank's session stands (<see cref="FederationClientOptions.SessionProgress"/>), in order: <see cref="Setup"/>
/// (a new party: the session setup with the other banks runs, homomorphic key generation SPEC.md 12.0 or masking AdvertiseKeys
/// 8.1), <see cref="Ready"/> (setup is done at this bank; the session's setup may still wait for other banks, and a round opens
/// only after it), then per sum <see cref="Waiting"/> (this bank asked for a round; not reported for a round the appliance opened
/// without a request, as a training step's) and <see cref="Contributing"/> (the round opened and this bank's input goes into it).</summary>
/// <param name="Stage"><see cref="Setup"/>, <see cref="Ready"/>, <see cref="Waiting"/> or <see cref="Contributing"/>.</param>
/// <param name="Round">The round of <see cref="Waiting"/> and <see cref="Contributing"/>; 0 otherwise.</param>
/// <param name="Values">The vector's length for <see cref="Waiting"/> and <see cref="Contributing"/>; 0 otherwise.</param>
public sealed record SessionProgress(string Stage, ulong Round, int Values)
{
    /// <summary>The session setup runs (this bank waits for the other banks' setup messages).</summary>
    public const string Setup = "setup";
    /// <summary>Setup is done at this bank.</summary>
    public const string Ready = "ready";
    /// <summary>This bank asked for a place in a round (RequestRound answered with <see cref="SessionProgress.Round"/>, for
    /// <see cref="SessionProgress.Values"/> values) and waits for the round to open: the appliance opens it once every session
    /// bank asked, or at its join deadline when enough did (SPEC.md 14.5, "Rounds and deadlines").</summary>
    public const string Waiting = "waiting";
    /// <summary>A round opened and this bank's input goes into it: the homomorphic upload is about to be sent (the round start
    /// arrived), or the masking RoundOpen arrived.</summary>
    public const string Contributing = "contributing";
}

/// <summary>One retry of a call that found the appliance unreachable (<see cref="FederationClientOptions.RetryProgress"/>).</summary>
/// <param name="Attempt">The retry's number (1 for the first retry).</param>
/// <param name="Delay">The wait before it.</param>
/// <param name="Remaining">What is left of the call's retry budget after that wait.</param>
/// <param name="Status">The gRPC status of the failed attempt (Unavailable, DeadlineExceeded, or Internal for a reset connection).</param>
/// <param name="Detail">The failed attempt's status detail (no secret: transport text only).</param>
public sealed record ConnectionRetry(int Attempt, TimeSpan Delay, TimeSpan Remaining, Grpc.Core.StatusCode Status, string Detail)
{
    /// <summary>"appliance unreachable, retrying in 4 s (attempt 5, 95 s left)", or for the retry that spends the budget
    /// "appliance unreachable, last try in 0.25 s (attempt 6; the retry budget ends with it)". Both durations are written by
    /// <see cref="ApplianceUnreachableException.Seconds"/>, so a time reads the same here and in the exception's message.</summary>
    public override string ToString() => Remaining.TotalSeconds < 1
        ? $"appliance unreachable, last try in {ApplianceUnreachableException.Seconds(Delay)} (attempt {Attempt}; the retry budget ends with it)"
        : $"appliance unreachable, retrying in {ApplianceUnreachableException.Seconds(Delay)} (attempt {Attempt}, {ApplianceUnreachableException.Seconds(Remaining)} left)";
}

/// <summary>A bank's client of the aggregator appliance: <see cref="ConnectAsync"/> joins the session, <see cref="SumAsync"/>
/// contributes one vector to one secure sum.</summary>
public sealed partial class FederationClient : IAsyncDisposable
{
    private readonly LoadedBankConfig _config;
    private readonly FederationClientOptions _options;
    private readonly GrpcChannel _channel;
    /// <summary>The bulk channel's invoker of Submit and Receive (SPEC.md 14.8), or null when <see cref="FederationClientOptions.BulkChannel"/> is off.</summary>
    private readonly BulkCallInvoker? _bulk;
    private readonly Federation.FederationClient _grpc;
    /// <summary>Receive with a masking sum's bytes read into <see cref="SumBuffer"/> (ReceiveReplyParser).</summary>
    private readonly Method<ReceiveRequest, ReceiveReply> _receive;
    /// <summary>Submit with a masking sum that comes with the answer read into <see cref="SumBuffer"/> as well.</summary>
    private readonly Method<SubmitRequest, SubmitReply> _submit;
    /// <summary>The spare array for this bank's masking sums: the transport returns each once it has unpacked it.</summary>
    internal SumBuffer SumBuffer { get; } = new();
    private readonly ResiliencePipeline _retry;
    private readonly Queue<MailboxItem> _buffer = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ulong _after;
    private IBankSession? _session;
    private BankStateStore? _store;
    /// <summary>The state directory's lock, held from creation to disposal (SPEC.md 14.6); null without a state directory.</summary>
    private readonly StateDirectoryLock? _lock;

    private FederationClient(LoadedBankConfig config, FederationClientOptions options)
    {
        _config = config;
        _options = options;
        _receive = ReceiveReplyParser.ReceiveMethod(SumBuffer);
        _submit = ReceiveReplyParser.SubmitMethod(SumBuffer);
        // First, before any state is read or any call made: one process, and one client, per state directory.
        if (config.StateDirectory is { } stateDirectory && config.StateKey is not null) _lock = StateDirectoryLock.Acquire(stateDirectory);
        try { (_channel, _bulk, _grpc, _retry) = Connection(config, options); }
        catch
        {
            _lock?.Dispose();
            throw;
        }
        Transport = new ApplianceBankTransport(this);
    }

    /// <summary>Largest answer this client accepts, gRPC and bulk channel alike: any size an array holds (a Receive answer carries
    /// up to 64 mailbox items, each up to the appliance's max_message_bytes, and a masking sum is not bound by it).</summary>
    private const int MaxReceiveMessageBytes = int.MaxValue;

    private (GrpcChannel, BulkCallInvoker?, Federation.FederationClient, ResiliencePipeline) Connection(LoadedBankConfig config, FederationClientOptions options)
    {
        // One check of the appliance's certificate for both channels, so that a refusal is recorded whichever channel saw it.
        RemoteCertificateValidationCallback validator = RecordingRefusals(TlsFiles.ServerValidator(config.Ca));
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [config.Certificate],
                RemoteCertificateValidationCallback = validator,
            },
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            // Mailbox replies can be MBs (a masking sum, homomorphic broadcasts): start the receive window at 8 MiB instead of
            // 64 KiB rather than waiting for the dynamic window to grow.
            InitialHttp2StreamWindowSize = 8 << 20,
        };
        // The TLS records of one HTTP/2 write leave in one send, and receives take up to 64 KiB at a time (CoalescingSocketStream).
        CoalescingSocketStream.Install(handler);
        var channel = GrpcChannel.ForAddress(config.Aggregator, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxSendMessageSize = config.Config.MaxMessageBytes + 1024,
            MaxReceiveMessageSize = MaxReceiveMessageBytes,
        });
        BulkCallInvoker? bulk = options.BulkChannel
            ? new BulkCallInvoker(channel.CreateCallInvoker(), new BulkEndpoint(config.Aggregator.IdnHost, config.Aggregator.Port, config.Certificate, validator,
                config.Config.MaxMessageBytes + 1024, MaxReceiveMessageBytes))
            : null;
        var grpc = bulk is null ? new Federation.FederationClient(channel) : new Federation.FederationClient(bulk);
        var retry = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            // Retries while this call's budget lasts (SPEC.md 14.5): the budget, not a count, is what rides out a restart.
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is RpcException e && IsTransportFailure(e) && AuthenticationFailure(e, CountSuspects(e, args.Context)) is null
                && Remaining(args.Context) > TimeSpan.Zero),
            MaxRetryAttempts = options.MaxRetries is int cap ? Math.Max(0, cap) : int.MaxValue,
            // A first suspected refusal is confirmed at once and silently (it is not "unreachable"): the second one is the refusal.
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(IsConfirming(args.Context) ? TimeSpan.Zero : RetryDelay(args.AttemptNumber, Remaining(args.Context))),
            OnRetry = args =>
            {
                args.Context.Properties.Set(RetriesKey, args.AttemptNumber + 1);
                if (!IsConfirming(args.Context) && _options.RetryProgress is { } progress && args.Outcome.Exception is RpcException e)
                    progress.Report(new ConnectionRetry(args.AttemptNumber + 1, args.RetryDelay, Remaining(args.Context) - args.RetryDelay, e.StatusCode, e.Status.Detail));
                return ValueTask.CompletedTask;
            },
        }).Build();
        return (channel, bulk, grpc, retry);
    }

    private static readonly ResiliencePropertyKey<long> StartKey = new("fraudfed.first-attempt");
    private static readonly ResiliencePropertyKey<int> RetriesKey = new("fraudfed.retries");
    private static readonly ResiliencePropertyKey<int> SuspectKey = new("fraudfed.suspected-refusals");
    private static readonly ResiliencePropertyKey<bool> ConfirmingKey = new("fraudfed.confirming");
    private static readonly ResiliencePropertyKey<int> HandshakesKey = new("fraudfed.handshakes-at-attempt");

    /// <summary>
    /// Counts the attempts of this call that look like the appliance refusing this bank's client certificate without saying so
    /// (SPEC.md 14.5): a handshake cut short (<see cref="TlsFailures.IsCutHandshake"/>), or, while the appliance has never
    /// answered this client, a connection that failed after this bank accepted the appliance's certificate in the same attempt
    /// (TLS 1.3: the appliance checks the client certificate after the client's handshake is done and then closes the
    /// connection; the client sees an EOF, a reset, a broken pipe or a disposed stream, in whichever order the race gives).
    /// Returns the count; the first one is retried at once without a retry report, the second is the refusal.
    /// </summary>
    private int CountSuspects(RpcException e, ResilienceContext context)
    {
        int suspects = context.Properties.GetValue(SuspectKey, 0);
        bool closedAfterTls = !Volatile.Read(ref _applianceAnswered)
            && Volatile.Read(ref _acceptedHandshakes) > context.Properties.GetValue(HandshakesKey, int.MaxValue);
        bool suspect = TlsFailures.IsCutHandshake(e) || closedAfterTls;
        if (suspect) context.Properties.Set(SuspectKey, ++suspects);
        context.Properties.Set(ConfirmingKey, suspect && suspects == 1);
        return suspects;
    }

    /// <summary>True when the retry about to run confirms a first suspected refusal (<see cref="CountSuspects"/>).</summary>
    private static bool IsConfirming(ResilienceContext context) => context.Properties.GetValue(ConfirmingKey, false);

    /// <summary>What is left of the retry budget of the call that <paramref name="context"/> runs.</summary>
    private TimeSpan Remaining(ResilienceContext context) =>
        _options.RetryBudget - System.Diagnostics.Stopwatch.GetElapsedTime(context.Properties.GetValue(StartKey, System.Diagnostics.Stopwatch.GetTimestamp()));

    /// <summary>The wait before retry <paramref name="attempt"/> (0-based): RetryDelay * 2^attempt capped at MaxRetryDelay, times a
    /// uniform jitter in [0.5, 1], and never longer than what is left of the budget.</summary>
    private TimeSpan RetryDelay(int attempt, TimeSpan remaining)
    {
        double nominal = Math.Min(_options.MaxRetryDelay.TotalMilliseconds, _options.RetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        double jittered = nominal * (0.5 + 0.5 * Random.Shared.NextDouble());   // not a secret: spreads the banks' reconnects
        return TimeSpan.FromMilliseconds(Math.Max(0, Math.Min(jittered, remaining.TotalMilliseconds)));
    }

    /// <summary>Checks <paramref name="config"/>'s state directory without any network call (SPEC.md 14.6, 14.7): it exists or can
    /// be created (mode 0700), it is writable, and a state already in it verifies under the state key and belongs to this bank,
    /// this mode and this federation (roster and parameters of bank.json). A state of another federation is never overwritten.
    /// Does nothing without state_directory. <see cref="ConnectAsync"/> makes the same checks; a command line tool calls this
    /// first, to refuse bad input before it connects.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="StateFileException">the directory or a state in it cannot be used; the message names the path and the fix.</exception>
    /// <exception cref="StateDirectoryInUseException">another process or client holds the directory's lock (the check takes it for
    /// its duration and releases it).</exception>
    public static void CheckStateDirectory(LoadedBankConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        StatePreflight.Check(config);
    }

    /// <summary>A client for the bank described by <paramref name="config"/> (the client does not own it). With a state directory,
    /// the client takes the directory's exclusive lock here (creating the directory, mode 0700, if needed) and holds it until
    /// <see cref="DisposeAsync"/> (SPEC.md 14.6): one process, and one client, per bank state directory.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="StateDirectoryInUseException">another process, or another client of this process, holds the state directory
    /// (nothing read or written, no network call made).</exception>
    /// <exception cref="StateFileException">the state directory or its lock file cannot be created.</exception>
    public static FederationClient Create(LoadedBankConfig config, FederationClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new FederationClient(config, options ?? new FederationClientOptions());
    }

    /// <summary>This bank's roster index.</summary>
    public int Bank => _config.Config.Bank;
    /// <summary>The session's settings.</summary>
    public FederationSettings Settings => _config.Config.Federation;
    /// <summary>Values of a sum are below 2^ValueBits: the plaintext modulus t of the homomorphic parameter set (44 bits), or
    /// masking's k, from this bank's configuration (no network call).</summary>
    public int ValueBits => _valueBits ??= Settings.IsHomomorphic ? Settings.BuildHeRoster().Parameters.PlainModulusBits : Settings.Masking!.ModulusBits;
    private int? _valueBits;
    /// <summary>True once the session's setup is complete for this bank.</summary>
    public bool IsConnected => _session is { IsReady: true };
    /// <summary>This bank's mailbox as the protocol layer's <see cref="FraudFed.Protocol.Coordination.IBankTransport"/>: any
    /// per-bank secure-sum client runs over it (SPEC.md 15). <see cref="SumAsync"/> uses it too; do not mix the two at once.</summary>
    public ApplianceBankTransport Transport { get; }
    /// <summary>The protocol client that runs this bank's rounds (a <see cref="FraudFed.Protocol.Coordination.HomomorphicSecureSumClient"/>
    /// or <see cref="FraudFed.Protocol.Coordination.MaskingSecureSumClient"/>), once <see cref="ConnectAsync"/> started the session; else null.</summary>
    public FraudFed.Protocol.ISecureSumClient? SecureSumClient => _session?.Client;
    /// <summary>Bytes this bank has submitted (wrapper bytes).</summary>
    public long BytesUploaded { get; private set; }
    /// <summary>Bytes of mailbox items this bank has read.</summary>
    public long BytesDownloaded { get; private set; }
    /// <summary>Bulk-channel connections this client has opened (SPEC.md 14.8); 0 with <see cref="FederationClientOptions.BulkChannel"/>
    /// false or while every call went over gRPC.</summary>
    internal long BulkConnectionsOpened => _bulk?.ConnectionsOpened ?? 0;
    /// <summary>Bytes of the aggregator's protocol messages this bank has taken from its mailbox: the payloads of its
    /// <c>message</c> items (serialized HeAggregatorMessage or MaskingAggregatorMessage, SPEC.md 14.5) and the sum of each
    /// masking result (its <c>sum_le</c> bytes: a masking bank downloads the sum every round, as a homomorphic bank downloads
    /// its result in a message), without the item envelopes, the results' round and contributors, round openings or training
    /// items. With <see cref="BytesUploaded"/> (every Submit is one such message of the bank) it is the quantity the in-process
    /// secure sums count per sum.</summary>
    public long ProtocolBytesDownloaded { get; private set; }

    /// <summary>Joins the appliance's session: checks that it runs this bank's settings (mode, roster digest, index), then runs
    /// the session setup of the mode (homomorphic key generation, SPEC.md 12.0; masking AdvertiseKeys and graph seed, 8.1)
    /// until this bank is ready for rounds. Does nothing when already connected.</summary>
    /// <exception cref="FederationSettingsMismatchException">the appliance runs another federation than bank.json describes (mode, settings digest or bank index): a configuration error.</exception>
    /// <exception cref="FederationException">the appliance runs another session, refused a message, or stayed unreachable.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_session is { IsReady: true }) return;
            Diagnostics.HopTrace.Mark(Bank, "b.connect>");
            SessionInfo info = await CallAsync(t => _grpc.GetSessionAsync(new GetSessionRequest(), deadline: Deadline(), cancellationToken: t).ResponseAsync, cancellationToken).ConfigureAwait(false);
            Diagnostics.HopTrace.Mark(Bank, "b.session");
            Mode expected = Settings.IsHomomorphic ? Mode.Homomorphic : Mode.Masking;
            if (info.Mode != expected) throw new FederationSettingsMismatchException($"the aggregator runs mode {info.Mode}, {_config.ConfigPath} says {Settings.Mode}; use the bank.json of this appliance.");
            if (info.Bank != (uint)Bank) throw new FederationSettingsMismatchException($"the aggregator knows this certificate as bank {info.Bank}, {_config.ConfigPath} says bank {Bank}; use the bank.json issued with this certificate.");
            if (!string.Equals(info.RosterDigest, Settings.Digest(), StringComparison.Ordinal))
                throw new FederationSettingsMismatchException(SettingsDifferMessage(_config.ConfigPath));
            _session?.Dispose();
            _session = null;
            _session = Settings.IsHomomorphic
                ? new HomomorphicBankSession(Transport, Settings, _config.ProtocolSeed, _config.Config.MaxMessageBytes, StateStore())
                : new MaskingBankSession(Transport, Settings, _config.ProtocolSeed, info.SessionId.ToByteArray(), StateStore());
            Diagnostics.HopTrace.Mark(Bank, "b.party");
            if (!_session.IsReady) Report(new SessionProgress(SessionProgress.Setup, 0, 0));
            await _session.SetupAsync(cancellationToken).ConfigureAwait(false);
            Report(new SessionProgress(SessionProgress.Ready, 0, 0));
            Diagnostics.HopTrace.Mark(Bank, "b.ready");
        }
        finally { _gate.Release(); }
    }

    /// <summary>What a bank is told when the appliance's digest of the federation settings (<see cref="FederationSettings.Digest"/>)
    /// is not bank.json's: the settings the digest covers, and where the right block comes from.</summary>
    internal static string SettingsDifferMessage(string configPath) =>
        $"the federation settings in {configPath} differ from the appliance's (one or more of: mode, identity_keys, aggregator_key, "
        + "the mode's parameters in federation.he or federation.masking, insecure_test_parameters); no protocol message was sent: copy the federation "
        + "block of this bank's bank.json from the kit the operator made with `aggregator init` (or ask the operator for it), then run this bank again.";

    /// <summary>Contributes <paramref name="values"/> to the next round and returns its opened sum. Values are below t = 2^44
    /// (homomorphic) or below 2^k (masking). Every bank of a round passes vectors of the same length. Connects first if needed.</summary>
    /// <exception cref="ArgumentException">an empty vector.</exception>
    /// <exception cref="ValueOutOfRangeException">a value is not below 2^bits of the session (checked before any network call).</exception>
    /// <exception cref="RoundFailedException">the round ended without a sum (the session goes on: call again).</exception>
    /// <exception cref="FederationException">a refused message, a session that ended, or an unreachable appliance.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<FederatedSum> SumAsync(ulong[] values, CancellationToken cancellationToken = default) => SumInRoundAsync(values, opened: null, into: null, cancellationToken);

    /// <summary><see cref="SumAsync(ulong[], CancellationToken)"/> with the opened sum written into <paramref name="sum"/>, the caller's
    /// array of the vector's length, which the result's <see cref="FederatedSum.Sum"/> is: a bank that sums round after round
    /// reuses one array instead of receiving a fresh one per round (a million values are 8 MB of new memory each time). A masking
    /// round's <c>sum_le</c> (SPEC.md 14.5) is unpacked straight into it; a homomorphic round's sum is copied into it. When the
    /// call throws, <paramref name="sum"/> holds no sum (its contents are unspecified).</summary>
    /// <param name="values">This bank's vector, as for <see cref="SumAsync(ulong[], CancellationToken)"/>.</param>
    /// <param name="sum">The array the sum is written into: as long as <paramref name="values"/>, and not that array.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="ArgumentException">an empty vector, <paramref name="sum"/> of another length, or <paramref name="sum"/> is
    /// <paramref name="values"/>.</exception>
    /// <exception cref="ValueOutOfRangeException">a value is not below 2^bits of the session (checked before any network call).</exception>
    /// <exception cref="RoundFailedException">the round ended without a sum (the session goes on: call again).</exception>
    /// <exception cref="FederationException">a refused message, a session that ended, or an unreachable appliance.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<FederatedSum> SumIntoAsync(ulong[] values, ulong[] sum, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(sum);
        if (sum.Length != values.Length) throw new ArgumentException($"The sum array has {sum.Length} values, the vector {values.Length}.", nameof(sum));
        if (ReferenceEquals(sum, values)) throw new ArgumentException("The sum array must not be the vector itself.", nameof(sum));
        return SumInRoundAsync(values, opened: null, into: sum, cancellationToken);
    }

    /// <summary><see cref="SumAsync(ulong[], CancellationToken)"/>, in <paramref name="opened"/> when the appliance already opened
    /// that round for this bank (a training step names it, SPEC.md 14.5: no RoundRequest), else in the next round it asks for;
    /// the sum goes into <paramref name="into"/> when given (<see cref="SumIntoAsync"/>), else into a new array.</summary>
    private async Task<FederatedSum> SumInRoundAsync(ulong[] values, ulong? opened, ulong[]? into, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0) throw new ArgumentException("At least one value.", nameof(values));
        // Checked from the configuration before connecting or requesting a round: a bad vector costs no network call.
        int bits = ValueBits;
        ulong max = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        int above = bits == 64 ? -1 : values.AsSpan().IndexOfAnyExceptInRange(0UL, max);   // vectorized: no delegate call per value
        if (above >= 0) throw new ValueOutOfRangeException(above, values[above], bits);
        if (_session is not { IsReady: true }) await ConnectAsync(cancellationToken).ConfigureAwait(false);
        IBankSession session = _session!;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try { return await session.SumAsync(values, opened, into, cancellationToken).ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    /// <summary>Tells <see cref="FederationClientOptions.SessionProgress"/>, if any, where the session stands.</summary>
    internal void Report(SessionProgress progress) => _options.SessionProgress?.Report(progress);

    private BankStateStore? StateStore() =>
        _lock is { } held && _config.StateKey is { } key ? _store ??= new BankStateStore(held, key) { InsecureTestParameters = _config.Config.Federation.InsecureTestParameters } : null;

    /// <summary>Reads the mailbox after <paramref name="sequence"/> from now on (a restored bank: the last item its saved state handled).</summary>
    internal void ReadAfter(ulong sequence)
    {
        _buffer.Clear();
        _after = sequence;
        _fetched = sequence;
    }

    internal async Task<ulong> RequestRoundAsync(int length, CancellationToken cancellationToken)
    {
        Diagnostics.HopTrace.Mark(Bank, "req>", length);
        var request = new RoundRequest { Length = (uint)length, DeliverAfter = Fetched };
        RoundRequestReply reply = await CallAsync(t => _grpc.RequestRoundAsync(request, deadline: Deadline(), cancellationToken: t).ResponseAsync, cancellationToken,
            e => StatusMapping.RoundLengthOf(e) is int expected ? new VectorLengthMismatchException(expected, length, e.Status.Detail) : null).ConfigureAwait(false);
        Diagnostics.HopTrace.Mark(Bank, "req<", (long)reply.Round);
        Buffer(reply.Items);
        return reply.Round;
    }

    /// <summary>TEST ONLY: when it returns true for a message about to be submitted, the call throws instead (nothing is sent), as
    /// a bank killed between its save and its send; the restart tests then kill the client (<see cref="AbandonAsKilled"/>).</summary>
    internal Func<ReadOnlyMemory<byte>, bool>? KilledBeforeSubmitForTests { get; set; }

    /// <summary>Submits <paramref name="message"/>; the answer's mailbox items are buffered for <see cref="NextItemAsync"/>. With
    /// <paramref name="waitForItem"/> (only when the buffer is empty: the caller reads its mailbox next and sends nothing before)
    /// the appliance holds the answer until a first item after the ones held here is committed, up to the poll wait
    /// (SPEC.md 14.5, delivery with the answer), which saves the Receive that would follow.</summary>
    internal async Task SubmitAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken, bool waitForItem = false)
    {
        if (KilledBeforeSubmitForTests?.Invoke(message) == true) throw new OperationCanceledException("TEST: killed before this message was submitted");
        // No copy of the message (an upload is ~38 MB): the bytes are only read until this call (retries included) returns.
        var request = new SubmitRequest { Message = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(message), DeliverAfter = Fetched };
        bool wait = waitForItem && _buffer.Count == 0;
        if (wait) request.WaitMilliseconds = (uint)_options.PollWait.TotalMilliseconds;
        Diagnostics.HopTrace.Mark(Bank, "sub>", message.Length);
        SubmitReply submitted = await CallAsync(t => _grpc.SubmitAsync(request, new CallOptions(deadline: wait ? DateTime.UtcNow + _options.PollWait + _options.CallTimeout : Deadline(), cancellationToken: t), _submit).ResponseAsync, cancellationToken).ConfigureAwait(false);
        Diagnostics.HopTrace.Mark(Bank, "sub<", (long)submitted.Sequence);
        BytesUploaded += message.Length;
        Buffer(submitted.Items);
    }

    /// <summary>The last mailbox sequence this client holds: read (<see cref="_after"/>) or buffered for reading. Requests that may
    /// carry items (RequestRound, Submit: SPEC.md 14.5, delivery with the answer) ask for the items after it.</summary>
    private ulong Fetched => _buffer.Count == 0 ? _after : Math.Max(_after, _fetched);
    private ulong _fetched;

    /// <summary>Buffers the items of an answer that are new to this client (sequence above <see cref="Fetched"/>), in sequence order:
    /// the next <see cref="NextItemAsync"/> calls return them without a poll.</summary>
    private void Buffer(IEnumerable<MailboxItem> items)
    {
        foreach (MailboxItem item in items.OrderBy(i => i.Sequence))
        {
            if (item.Sequence <= Fetched) continue;
            _buffer.Enqueue(item);
            _fetched = item.Sequence;
            // A sum unpacked while parsing has no bytes left to measure: its size on the wire was recorded then.
            BytesDownloaded += item.ItemCase == MailboxItem.ItemOneofCase.SumResult && item.SumResult.Unpacked is { } u ? u.ItemBytes : item.CalculateSize();
        }
    }

    /// <summary>The next mailbox item, in sequence order, waiting up to the stage timeout.</summary>
    internal async Task<MailboxItem> NextItemAsync(CancellationToken cancellationToken)
    {
        DateTime giveUp = DateTime.UtcNow + _options.StageTimeout;
        while (_buffer.Count == 0)
        {
            if (DateTime.UtcNow > giveUp)
                throw new FederationException($"no message from the aggregator for {_options.StageTimeout.TotalSeconds:0} s; check that the appliance is running and the other banks are connected.");
            var request = new ReceiveRequest { AfterSequence = _after, WaitMilliseconds = (uint)_options.PollWait.TotalMilliseconds, MaxItems = 64 };
            Diagnostics.HopTrace.Mark(Bank, "rcv>", (long)_after);
            ReceiveReply reply = await CallAsync(t => _grpc.ReceiveAsync(request, new CallOptions(deadline: DateTime.UtcNow + _options.PollWait + _options.CallTimeout, cancellationToken: t), _receive).ResponseAsync, cancellationToken).ConfigureAwait(false);
            Diagnostics.HopTrace.Mark(Bank, "rcv<", reply.Items.Count);
            Buffer(reply.Items);
        }
        MailboxItem next = _buffer.Dequeue();
        _after = next.Sequence;
        if (next.ItemCase == MailboxItem.ItemOneofCase.Message) ProtocolBytesDownloaded += next.Message.Length;
        else if (next.ItemCase == MailboxItem.ItemOneofCase.SumResult) ProtocolBytesDownloaded += next.SumResult.SumLeLength;   // the masking sum itself
        if (Diagnostics.HopTrace.On) Diagnostics.HopTrace.Mark(Bank, "item:" + next.ItemCase, (long)next.Sequence);
        return next;
    }

    /// <summary>The appliance could not be reached or the connection failed (retried): Unavailable, DeadlineExceeded, or a call
    /// that failed in the HTTP/2 or TLS layer before the appliance answered (e.g. a client certificate the roster does not pin,
    /// which TLS 1.3 reports only after the handshake).</summary>
    private static bool IsTransportFailure(RpcException e) =>
        e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded
        || (e.StatusCode == StatusCode.Internal && e.Status.DebugException is HttpRequestException or IOException)
        || TlsFailures.IsHandshakeFailure(e);

    /// <summary>Wraps this bank's check of the appliance's certificate so that a refusal is remembered: a handshake failure
    /// after it is the appliance's certificate, not the network, and is not retried.</summary>
    private RemoteCertificateValidationCallback RecordingRefusals(RemoteCertificateValidationCallback validator) =>
        (sender, certificate, chain, errors) =>
        {
            Volatile.Write(ref _serverCertificateSeen, true);
            bool ok = validator(sender, certificate, chain, errors);
            if (!ok) Volatile.Write(ref _serverCertificateRefused, true);
            else Interlocked.Increment(ref _acceptedHandshakes);
            return ok;
        };

    private bool _serverCertificateRefused;
    private bool _serverCertificateSeen;
    /// <summary>TLS handshakes in which this bank accepted the appliance's certificate.</summary>
    private int _acceptedHandshakes;
    /// <summary>True once a call got an answer from the appliance (a reply or a gRPC status of its own): past the handshake.</summary>
    private bool _applianceAnswered;

    /// <summary>The message for a call that failed because a TLS certificate was refused (not retried: the same certificates
    /// fail the same way), or null for any other failure. A refusal by this bank is known from its own validator; a refusal
    /// by the appliance arrives as a TLS alert (certificate_unknown, bad_certificate, ...), as an authentication failure, or
    /// as a connection closed after the handshake for the second time in this call (<paramref name="suspects"/>, see
    /// <see cref="CountSuspects"/>; once can be a restart).</summary>
    private string? AuthenticationFailure(RpcException e, int suspects)
    {
        if (Volatile.Read(ref _serverCertificateRefused))
            return $"this bank refused the certificate of the aggregator at {_config.Aggregator}: it is not issued by the CA in this bank's `ca` file, does not name the host of `aggregator`, or has expired; check that `ca` is the appliance's CA certificate and `aggregator` the host its certificate names.";
        // TLS 1.2 reports the appliance's alert as an AuthenticationException; with TLS 1.3 the client's handshake completes
        // and the appliance then closes the connection before HTTP/2 starts (InvalidResponse, an EOF inside the handshake, or a
        // disposed SslStream), which a restart or an overloaded appliance does not do (those refuse the connection or time out,
        // and stay retryable).
        if (!TlsFailures.IsRefusal(e) && suspects < 2) return null;
        if (TlsFailures.Classify(e, Volatile.Read(ref _serverCertificateSeen)) == HandshakeOutcome.NotTls)
            return $"the aggregator address {_config.Aggregator} closed the connection before completing a TLS handshake (is this the appliance's gRPC address?): it never presented a server certificate; check that `aggregator` in bank.json is the appliance's `listen` address, not its ops port.";
        return $"the aggregator at {_config.Aggregator} refused this bank's TLS client certificate (it closed the connection at the TLS/HTTP/2 handshake): its roster does not pin this certificate, or it has expired or comes from another CA; check that `certificate` and `key` in bank.json are the files issued for bank {Bank} with this appliance's kit and that the appliance's roster lists this bank, and that `aggregator` is the appliance's gRPC address.";
    }

    private DateTime Deadline() => DateTime.UtcNow + _options.CallTimeout;

    private async Task<T> CallAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken, Func<RpcException, FederationException?>? refusal = null)
    {
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(StartKey, System.Diagnostics.Stopwatch.GetTimestamp());
        try
        {
            return await _retry.ExecuteAsync(static async (ctx, state) =>
            {
                FederationClient self = state.Self;
                ctx.Properties.Set(HandshakesKey, Volatile.Read(ref self._acceptedHandshakes));
                try
                {
                    T reply = await state.Call(ctx.CancellationToken).ConfigureAwait(false);
                    Volatile.Write(ref self._applianceAnswered, true);
                    return reply;
                }
                catch (RpcException e) when (!IsTransportFailure(e) && e.StatusCode != StatusCode.Cancelled)
                {
                    Volatile.Write(ref self._applianceAnswered, true);
                    throw;
                }
            }, context, (Self: this, Call: call)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (RpcException e) when (IsTransportFailure(e) && AuthenticationFailure(e, context.Properties.GetValue(SuspectKey, 0)) is { } refused)
        {
            throw new FederationException(refused, e);
        }
        catch (RpcException e) when (IsTransportFailure(e))
        {
            int retries = context.Properties.GetValue(RetriesKey, 0);
            double waited = System.Diagnostics.Stopwatch.GetElapsedTime(context.Properties.GetValue(StartKey, 0L)).TotalSeconds;
            throw new ApplianceUnreachableException(_config.Aggregator, retries, TimeSpan.FromSeconds(waited), _options.RetryBudget, StatusMapping.TransportReason(e.StatusCode, e.Status.Detail), e);
        }
        catch (RpcException e) when (StatusMapping.IsApplianceStateFailure(e))
        {
            throw new ApplianceStateFailedException(_config.Aggregator.ToString(), e.Status.Detail);
        }
        catch (RpcException e) when (StatusMapping.IsSessionEnded(e))
        {
            throw new SessionEndedException(_config.Aggregator.ToString(), e.Status.Detail);
        }
        catch (RpcException e)
        {
            if (refusal?.Invoke(e) is { } specific) throw specific;
            throw new MessageRefusedException(StatusMapping.ReasonOf(e), e.StatusCode, e.Status.Detail);
        }
        finally { ResilienceContextPool.Shared.Return(context); }
    }

    /// <summary>Ends the session's local state, closes the connection and releases the state directory's lock (the lock file stays).</summary>
    public ValueTask DisposeAsync()
    {
        _session?.Dispose();
        _bulk?.Dispose();
        _channel.Dispose();
        _gate.Dispose();
        _lock?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>TEST ONLY: leaves this client as the operating system leaves a killed bank process: releases the state directory's
    /// lock and closes the connection, and nothing else (no graceful shutdown: the session is not disposed, nothing is written or
    /// sent; a state write still pending fails, its lock being gone). The restart tests use it where a process would be killed.</summary>
    internal void AbandonAsKilled()
    {
        _lock?.Dispose();
        _bulk?.Dispose();
        _channel.Dispose();
    }
}
