// One bank as the live conformance runner plays it (SPEC.md 13, "Live conformance"): its own mutual-TLS channel to the
// appliance, the generated Federation client of service.proto, and the bank party of the session's mode driven message by
// message. Every Submit goes through one place that records the appliance's answer as a status (never an exception), so
// a check can send genuine, replayed or hostile bytes and read exactly what the appliance said.
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace FraudFed.Conformance.Live;

/// <summary>The appliance's answer to one Submit: a status code, and on OK the log sequence, the resend flag and the mailbox
/// items delivered with the answer (SPEC.md 14.5, "Delivery with the answer"; empty unless the request set deliver_after).</summary>
internal sealed record SubmitOutcome(StatusCode Status, ulong Sequence, bool Resend, string? Reason, string Detail)
{
    public IReadOnlyList<MailboxItem> Items { get; init; } = [];

    public bool Accepted => Status == StatusCode.OK;

    public override string ToString() => Accepted
        ? $"OK (sequence {Sequence}{(Resend ? ", resend" : "")})"
        : $"{Status}{(Reason is null ? "" : $" ({Reason})")}";
}

/// <summary>A round's outcome as the bank saw it.</summary>
internal sealed record WireSum(ulong Round, ulong[] Sum, int[] Contributors);

/// <summary>A round that ended without a sum, or a refusal the honest flow cannot go past.</summary>
/// <remarks>A refusal carries the appliance's answer (<see cref="Refusal"/>), so the report can say it in words.</remarks>
internal sealed class LiveFlowException(string message, SubmitOutcome? refusal = null) : Exception(message)
{
    /// <summary>The appliance's refusal that stopped the flow, or null.</summary>
    public SubmitOutcome? Refusal { get; } = refusal;

    /// <summary>The RoundRefused item that ended the flow's request window without a round (SPEC.md 14.5), or null.</summary>
    public RoundRefused? RoundRefused { get; init; }
}

/// <summary>One roster bank: channel, raw client and party. Not thread-safe: one flow drives it at a time.</summary>
internal sealed class WireBank : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly Uri _target;
    private readonly FederationSettings _settings;
    private readonly byte[] _seed;
    private readonly int _maxMessageBytes;
    private readonly TimeSpan _stageTimeout;
    private readonly Queue<MailboxItem> _buffer = new();
    private ulong _after;
    private ulong _previous;
    private HomomorphicBankParty? _he;
    private MaskingBank? _masking;
    private MaskingParameters? _parameters;

    public WireBank(int bank, Uri target, X509Certificate2 certificate, X509Certificate2 authority, FederationSettings settings, byte[] seed,
        int maxMessageBytes, TimeSpan stageTimeout)
    {
        Bank = bank;
        _target = target;
        _settings = settings;
        _seed = seed;
        _maxMessageBytes = maxMessageBytes;
        _stageTimeout = stageTimeout;
        _channel = OpenChannel(target, certificate, authority, () => Volatile.Write(ref _serverCertificateRefused, true),
            () => Volatile.Write(ref _serverCertificateSeen, true), stageTimeout);
        Grpc = new Federation.FederationClient(_channel);
    }

    private bool _serverCertificateRefused;
    private bool _serverCertificateSeen;

    /// <summary>True once this bank's channel was shown the appliance's server certificate (the peer speaks TLS).</summary>
    public bool ServerCertificateSeen => Volatile.Read(ref _serverCertificateSeen);

    /// <summary>True once this bank's channel refused the appliance's server certificate (the runner's side of a failed handshake).</summary>
    public bool ServerCertificateRefused => Volatile.Read(ref _serverCertificateRefused);

    /// <summary>A channel presenting <paramref name="certificate"/> and trusting only <paramref name="authority"/> for the appliance;
    /// <paramref name="refused"/> is called when that check refuses the appliance's certificate. No client-side message size
    /// limit: the appliance's own limits are under test. <paramref name="seen"/> is called whenever the appliance presents its
    /// certificate; <paramref name="connectTimeout"/> bounds the TCP connect and TLS handshake (default 60 s).</summary>
    public static GrpcChannel OpenChannel(Uri target, X509Certificate2 certificate, X509Certificate2 authority, Action? refused = null, Action? seen = null,
        TimeSpan? connectTimeout = null)
    {
        RemoteCertificateValidationCallback validator = TlsFiles.ServerValidator(authority);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                RemoteCertificateValidationCallback = (sender, server, chain, errors) =>
                {
                    seen?.Invoke();
                    bool ok = validator(sender, server, chain, errors);
                    if (!ok) refused?.Invoke();
                    return ok;
                },
            },
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(60),
        };
        return GrpcChannel.ForAddress(target, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxSendMessageSize = null,
            MaxReceiveMessageSize = null,
        });
    }

    public int Bank { get; }
    public Federation.FederationClient Grpc { get; }
    public bool IsHomomorphic => _settings.IsHomomorphic;

    /// <summary>Every message of this bank the appliance accepted, oldest first (public wire bytes; templates for other checks).</summary>
    public List<byte[]> Accepted { get; } = [];

    /// <summary>Called once with the bank's genuine upload of a round (HeUpload or MaskedInput) before it is sent; the hostile
    /// checks run inside it while the round waits for this bank. Cleared after use.</summary>
    public Func<byte[], Task>? BeforeUpload { get; set; }

    /// <summary>The signing key of this bank's protocol identity (callers dispose it).</summary>
    public Ed25519SigningKey IdentityKey() => Ed25519SigningKey.Import(_seed);

    /// <summary>The masking session id (empty in homomorphic mode or before setup).</summary>
    public byte[] SessionId => _parameters?.SessionId.ToArray() ?? [];

    /// <summary>Sends <paramref name="message"/> (with <paramref name="deliverAfter"/> and <paramref name="waitMilliseconds"/> set
    /// when given) and returns the appliance's answer, whatever it is.</summary>
    public async Task<SubmitOutcome> TrySubmitAsync(byte[] message, CancellationToken cancellationToken, ulong? deliverAfter = null, uint waitMilliseconds = 0)
    {
        try
        {
            var request = new SubmitRequest { Message = ByteString.CopyFrom(message), WaitMilliseconds = waitMilliseconds };
            if (deliverAfter is { } after) request.DeliverAfter = after;
            SubmitReply reply = await Grpc.SubmitAsync(request, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!reply.Resend) Accepted.Add(message);
            return new SubmitOutcome(StatusCode.OK, reply.Sequence, reply.Resend, null, "") { Items = [.. reply.Items] };
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            return new SubmitOutcome(e.StatusCode, 0, false, e.Trailers.GetValue(StatusMapping.ReasonTrailer), e.Status.Detail);
        }
    }

    /// <summary>A genuine Submit sent with deliver_after (<see cref="DeliverWithAnswers"/>), and the same bytes sent again with it.</summary>
    /// <param name="DeliverAfter">The deliver_after sent both times.</param>
    /// <param name="Read">The last mailbox sequence the bank had read before the first call (items up to it were committed).</param>
    /// <param name="Answer">The first answer.</param>
    /// <param name="Resend">The answer to the same bytes sent again.</param>
    public sealed record Delivery(ulong DeliverAfter, ulong Read, SubmitOutcome Answer, SubmitOutcome Resend);

    /// <summary>When true, every genuine Submit sets deliver_after to the sequence before the last mailbox item this bank read
    /// (so that item, committed before the call, must come back with the answer), is sent again with the same deliver_after
    /// once accepted, and both answers are recorded in <see cref="Deliveries"/> (SPEC.md 14.5, "Delivery with the answer").</summary>
    public bool DeliverWithAnswers { get; set; }

    /// <summary>The genuine Submits sent with deliver_after while <see cref="DeliverWithAnswers"/> was set, oldest first.</summary>
    public List<Delivery> Deliveries { get; } = [];

    private async Task SubmitAsync(byte[] message, CancellationToken cancellationToken)
    {
        ulong read = _after;
        ulong? deliverAfter = DeliverWithAnswers ? _previous : null;
        SubmitOutcome o = await TrySubmitAsync(message, cancellationToken, deliverAfter).ConfigureAwait(false);
        if (o.Accepted && deliverAfter is { } d)
            Deliveries.Add(new Delivery(d, read, o, await TrySubmitAsync(message, cancellationToken, d).ConfigureAwait(false)));
        if (!o.Accepted) throw new LiveFlowException($"bank {Bank}: the appliance refused a genuine message: {o} {LiveFailure.PlainDetail(o.Detail)}", o);
    }

    private async Task<MailboxItem> NextAsync(CancellationToken cancellationToken)
    {
        DateTime giveUp = DateTime.UtcNow + _stageTimeout;
        while (_buffer.Count == 0)
        {
            if (DateTime.UtcNow > giveUp) throw new LiveFlowException($"bank {Bank}: no message from the appliance for {_stageTimeout.TotalSeconds:0} s.");
            ReceiveReply reply = await Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = _after, WaitMilliseconds = 1000, MaxItems = 64 },
                deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (MailboxItem item in reply.Items.Where(i => i.Sequence > _after).OrderBy(i => i.Sequence)) _buffer.Enqueue(item);
        }
        MailboxItem next = _buffer.Dequeue();
        _previous = _after;
        _after = next.Sequence;
        return next;
    }

    /// <summary>GetSession, the bank's first call: a failure is thrown as a <see cref="LiveFlowException"/> whose message names
    /// why in words (the side that refused a certificate, an address without TLS, nothing listening).</summary>
    public async Task<SessionInfo> ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await Grpc.GetSessionAsync(new GetSessionRequest(), deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            throw new LiveFlowException(await LiveFailure.ConnectionAsync(e, _target, Bank, ServerCertificateRefused, ServerCertificateSeen, _stageTimeout, cancellationToken).ConfigureAwait(false));
        }
    }

    /// <summary>Session setup of the mode (homomorphic key generation, SPEC.md 12.0; masking AdvertiseKeys and graph seed, 8.1).</summary>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        SessionInfo info = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (info.Bank != (uint)Bank) throw new LiveFlowException($"the appliance knows bank {Bank}'s certificate as bank {info.Bank}.");
        if (info.RosterDigest != _settings.Digest()) throw new LiveFlowException("the appliance's roster digest differs from the banks' federation block.");
        if (_settings.IsHomomorphic)
        {
            _he = new HomomorphicBankParty(Bank, _settings.BuildHeRoster(), IdentityKey(), new InMemoryDecryptionLedger(), maxMessageBytes: _maxMessageBytes);
            while (!_he.IsReady)
            {
                MailboxItem item = await NextAsync(cancellationToken).ConfigureAwait(false);
                if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
                foreach (byte[] reply in Step(() => _he.Receive(item.Message.Span))) await SubmitAsync(reply, cancellationToken).ConfigureAwait(false);
                if (_he.IsAborted) throw new LiveFlowException($"bank {Bank}: the appliance ended the session during setup ({_he.AbortReason}).");
            }
            return;
        }
        _parameters = _settings.BuildMaskingParameters(info.SessionId.Span);
        _masking = new MaskingBank(_parameters, Bank, IdentityKey(), _settings.IdentityKeyBytes(), RandomNumberGenerator.Create());
        await SubmitAsync(_masking.AdvertiseKeys(), cancellationToken).ConfigureAwait(false);
        while (_masking.State is not BankReady)
        {
            MailboxItem item = await NextAsync(cancellationToken).ConfigureAwait(false);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            switch (MaskingWire.DecodeToBank(item.Message.Span))
            {
                case KeyRoster: await SubmitAsync(Step(() => _masking.ReceiveRoster(item.Message.Span)), cancellationToken).ConfigureAwait(false); break;
                case GraphSeedRoster: Step(() => { _masking.ReceiveGraphSeed(item.Message.Span); return Array.Empty<byte>(); }); break;
                case RoundAbort { Round: 0 } a: throw new LiveFlowException($"bank {Bank}: the appliance ended the session during setup ({a.Reason}).");
            }
        }
    }

    /// <summary>Contributes <paramref name="values"/> to the next round and returns the opened sum the appliance announced.</summary>
    public Task<WireSum> SumAsync(ulong[] values, CancellationToken cancellationToken) =>
        _settings.IsHomomorphic ? HeSumAsync(values, cancellationToken) : MaskingSumAsync(values, cancellationToken);

    private async Task<WireSum> HeSumAsync(ulong[] values, CancellationToken cancellationToken)
    {
        HomomorphicBankParty party = _he ?? throw new LiveFlowException("setup first");
        RoundRequestReply asked = await Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)values.Length }, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
        ulong round = asked.Round;
        party.Submit(round, values);
        while (true)
        {
            MailboxItem item = await NextAsync(cancellationToken).ConfigureAwait(false);
            ThrowIfRefused(item, round);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            HeToBank m = HeWire.DecodeToBank(item.Message.Span, _settings.Banks, _maxMessageBytes);
            foreach (byte[] reply in Step(() => party.Receive(item.Message.Span)))
            {
                if (BeforeUpload is { } hook && HeWire.DecodeToAggregator(reply, _settings.Banks, _maxMessageBytes) is HeUploadMessage)
                {
                    BeforeUpload = null;
                    await hook(reply).ConfigureAwait(false);
                }
                await SubmitAsync(reply, cancellationToken).ConfigureAwait(false);
            }
            if (party.TryGetResult(round, out ulong[] sum, out int[] contributors)) return new WireSum(round, sum, contributors);
            if (m is HeAbortToBank a && (a.Round == round || a.Round == 0)) throw new LiveFlowException($"round {round} ended without a sum ({a.Reason}: {a.Message}).");
        }
    }

    /// <summary>SumResult.sum_le read as SPEC.md 14.5 lays it out (written from the SPEC, not with the SDK's unpacker): exactly
    /// <paramref name="length"/> values of ceil(k / 8) little-endian bytes, each below 2^k.</summary>
    /// <exception cref="LiveFlowException">the bytes are not that layout.</exception>
    internal static ulong[] SumFromWire(ReadOnlySpan<byte> packed, int modulusBits, int length)
    {
        int width = (modulusBits + 7) / 8;
        if (packed.Length != length * width)
            throw new LiveFlowException($"the appliance's sum_le has {packed.Length} bytes, SPEC.md 14.5 says {length} values x {width} bytes = {length * width}.");
        var sum = new ulong[length];
        for (int i = 0; i < length; i++)
        {
            ulong v = 0;
            for (int j = width - 1; j >= 0; j--) v = (v << 8) | packed[i * width + j];
            if (modulusBits < 64 && v >> modulusBits != 0) throw new LiveFlowException($"the appliance's sum value {i} is not below 2^{modulusBits}.");
            sum[i] = v;
        }
        return sum;
    }

    private async Task<WireSum> MaskingSumAsync(ulong[] values, CancellationToken cancellationToken)
    {
        MaskingBank bank = _masking ?? throw new LiveFlowException("setup first");
        RoundRequestReply asked = await Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)values.Length }, deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
        ulong round = asked.Round;
        while (true)
        {
            MailboxItem item = await NextAsync(cancellationToken).ConfigureAwait(false);
            ThrowIfRefused(item, round);
            switch (item.ItemCase)
            {
                case MailboxItem.ItemOneofCase.RoundOpen when item.RoundOpen.Round == round:
                    await SubmitAsync(Step(() => bank.BeginRound((uint)round)), cancellationToken).ConfigureAwait(false);
                    break;
                case MailboxItem.ItemOneofCase.SumResult when item.SumResult.Round == round:
                    return new WireSum(round, SumFromWire(item.SumResult.SumLe.Span, _parameters!.ModulusBits, values.Length), item.SumResult.Contributors.Select(c => (int)c).ToArray());
                case MailboxItem.ItemOneofCase.Message:
                    byte[] bytes = item.Message.ToByteArray();
                    switch (MaskingWire.DecodeToBank(bytes))
                    {
                        case ShareDelivery d when d.Round == round:
                            byte[] input = Step(() => bank.ReceiveShares(bytes, values));
                            if (BeforeUpload is { } hook)
                            {
                                BeforeUpload = null;
                                await hook(input).ConfigureAwait(false);
                            }
                            await SubmitAsync(input, cancellationToken).ConfigureAwait(false);
                            break;
                        case SurvivorList s when s.Round == round: await SubmitAsync(Step(() => bank.ReceiveSurvivors(bytes)), cancellationToken).ConfigureAwait(false); break;
                        case UnmaskRequest u when u.Round == round: await SubmitAsync(Step(() => bank.ReceiveUnmaskRequest(bytes)), cancellationToken).ConfigureAwait(false); break;
                        case RoundAbort a when a.Round == round || a.Round == 0: throw new LiveFlowException($"round {round} ended without a sum ({a.Reason}: {a.Message}).");
                    }
                    break;
            }
        }
    }

    /// <summary>A RoundRefused item of <paramref name="round"/> ends the wait: that round never opens (SPEC.md 14.5, "Rounds and
    /// deadlines"). One of another round (an earlier window) is passed over like any item of another round.</summary>
    private static void ThrowIfRefused(MailboxItem item, ulong round)
    {
        if (item.ItemCase != MailboxItem.ItemOneofCase.RoundRefused || item.RoundRefused.Round != round) return;
        RoundRefused r = item.RoundRefused;
        throw new LiveFlowException($"round {round} did not open ({r.Reason}): {r.Message}") { RoundRefused = r };
    }

    private T Step<T>(Func<T> step)
    {
        try { return step(); }
        catch (ProtocolViolationException e) { throw new LiveFlowException($"bank {Bank} refused the appliance's message ({e.Reason}: {e.Message})."); }
    }

    public void Dispose()
    {
        _he?.Dispose();
        _masking?.Dispose();
        _channel.Dispose();
        CryptographicOperations.ZeroMemory(_seed);
    }
}
