// The appliance's side of the bulk channel (SPEC.md 14.8; the framing is FraudFed.Sdk.Wire.BulkFrame): a TLS connection on the
// appliance's port whose handshake negotiated the ALPN protocol "fraudfed-bulk/1" carries Submit and Receive calls as
// length-prefixed frames instead of HTTP/2. The connection middleware of ApplianceHost hands such a connection here after the
// same mutual-TLS handshake as gRPC's (the roster pins the client certificate). Each call runs FederationService's own
// SubmitAsync / ReceiveAsync, so the rate limits, size checks, intake buffers, timings, replay detection and refusals are
// those of the gRPC calls; this file only reads frames, parses the request with the gRPC marshallers' readers and writes the
// answer. One call at a time: a request frame, then its answer frame.
using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Aggregator.Hosting;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Services;

/// <summary>Serves bulk-channel connections (see the file header).</summary>
internal sealed class BulkChannel
{
    private readonly FederationService _service;
    private readonly LoadedAggregatorConfig _config;
    private readonly AggregatorMetrics _metrics;
    private readonly ILogger _log;

    /// <summary>A channel that runs its calls on <paramref name="service"/>.</summary>
    /// <param name="service">The gRPC service whose Submit and Receive the channel's calls run.</param>
    /// <param name="config">The appliance's configuration (roster, size cap).</param>
    /// <param name="metrics">The appliance's metrics (refusals counted here: unknown frame kind, oversized frame).</param>
    /// <param name="log">Where connection refusals and failures are logged (never message bytes).</param>
    /// <param name="frameTimeout">Longest wait for the rest of a frame's header once its first byte arrived, and for its payload once
    /// the header arrived (default <see cref="DefaultFrameTimeout"/>).</param>
    /// <param name="idleTimeout">Longest wait for the next request between calls (default <see cref="DefaultIdleTimeout"/>).</param>
    public BulkChannel(FederationService service, LoadedAggregatorConfig config, AggregatorMetrics metrics, ILogger log,
        TimeSpan? frameTimeout = null, TimeSpan? idleTimeout = null)
    {
        _service = service;
        _config = config;
        _metrics = metrics;
        _log = log;
        FrameTimeout = frameTimeout ?? DefaultFrameTimeout;
        IdleTimeout = idleTimeout ?? DefaultIdleTimeout;
    }

    /// <summary>A connection that stops sending in the middle of a frame is closed this long after the frame's first byte
    /// arrived (for the header) or after its header arrived (for the payload): 60 s.</summary>
    public static readonly TimeSpan DefaultFrameTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A connection that sends no request this long after its handshake or its last answer is closed: 5 minutes.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The detail of the refusal of a frame above the size cap: grpc-dotnet's words for the same refusal of a gRPC message.</summary>
    public const string OversizedDetail = "Received message exceeds the maximum configured message size.";

    /// <summary>This channel's <see cref="DefaultFrameTimeout"/>.</summary>
    public TimeSpan FrameTimeout { get; }

    /// <summary>This channel's <see cref="DefaultIdleTimeout"/>.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>Largest request payload: the gRPC receive limit of the same calls, <c>max_message_bytes</c> + 1 KiB.</summary>
    public long MaxPayloadBytes => _config.Config.MaxMessageBytes + 1024L;

    private static readonly byte[] Alpn = System.Text.Encoding.ASCII.GetBytes(BulkFrame.AlpnProtocol);

    /// <summary>True when <paramref name="connection"/>'s TLS handshake negotiated the bulk channel's ALPN protocol.</summary>
    public static bool Negotiated(ConnectionContext connection) =>
        connection.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ITlsApplicationProtocolFeature>() is { } alpn && alpn.ApplicationProtocol.Span.SequenceEqual(Alpn);

    /// <summary>Serves <paramref name="connection"/> until the client closes it, it breaks a rule of the channel, or it stays
    /// silent past a timeout. <paramref name="called"/> is invoked when a request frame's header arrives.</summary>
    public async Task ServeAsync(ConnectionContext connection, Action called)
    {
        X509Certificate2? certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        int bank = _config.BankOf(certificate);
        if (bank < 0)
        {
            // The handshake refuses an unpinned certificate; this covers a connection that reached the channel some other way.
            _metrics.Rejected("UnknownCertificate");
            _log.LogWarning("closed a bulk-channel connection whose client certificate is not pinned in the roster");
            return;
        }
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        CancellationToken closed = connection.ConnectionClosed;
        // The server is stopping (Kestrel asks every connection to close, then waits for them): a connection waiting for its
        // next request closes at once; a call in progress is answered first, as HTTP/2 lets its running streams finish.
        CancellationToken stopping = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        try
        {
            while (!closed.IsCancellationRequested)
            {
                // The next request's first byte within the idle timeout, the rest of its header within the frame timeout.
                if (stopping.IsCancellationRequested) return;
                ReadResult header;
                using (var between = CancellationTokenSource.CreateLinkedTokenSource(closed, stopping))
                    header = await ReadAtLeastAsync(input, 1, IdleTimeout, between.Token).ConfigureAwait(false);
                if (header.Buffer.Length < BulkFrame.HeaderBytes && !header.IsCompleted)
                {
                    input.AdvanceTo(header.Buffer.Start, header.Buffer.End);
                    header = await ReadAtLeastAsync(input, BulkFrame.HeaderBytes, FrameTimeout, closed).ConfigureAwait(false);
                }
                if (header.Buffer.Length < BulkFrame.HeaderBytes) return;   // closed between calls (or within a header)
                (byte kind, uint length) = ReadHeader(header.Buffer);
                called();
                if (kind is not (BulkFrame.SubmitKind or BulkFrame.ReceiveKind))
                {
                    input.AdvanceTo(header.Buffer.Start, header.Buffer.End);
                    _metrics.Rejected("Malformed");
                    _log.LogInformation("closed a bulk-channel connection of bank {Bank}: unknown frame kind 0x{Kind:x2}", bank, kind);
                    await WriteErrorAsync(output, SubmitRequestParser.Malformed($"the request frame's kind 0x{kind:x2} is neither 0x01 (Submit) nor 0x02 (Receive)"), closed).ConfigureAwait(false);
                    return;
                }
                if (length > MaxPayloadBytes)
                {
                    // Refused on the header alone: nothing of the payload is read or allocated, and the connection is closed.
                    input.AdvanceTo(header.Buffer.Start, header.Buffer.End);
                    _metrics.Rejected(AggregatorMetrics.TransportOversizedReason);
                    _log.LogInformation("closed a bulk-channel connection of bank {Bank}: a {Length}-byte request, the limit is {Limit}", bank, length, MaxPayloadBytes);
                    await WriteErrorAsync(output, new RpcException(new Status(StatusCode.ResourceExhausted, OversizedDetail)), closed).ConfigureAwait(false);
                    return;
                }
                input.AdvanceTo(header.Buffer.GetPosition(BulkFrame.HeaderBytes));

                // The whole payload, within the frame timeout (an empty payload, e.g. a ReceiveRequest of defaults, waits for
                // nothing: a read would wait for the next byte).
                ReadOnlySequence<byte> payload = ReadOnlySequence<byte>.Empty;
                if (length > 0)
                {
                    ReadResult frame = await ReadAtLeastAsync(input, (int)length, FrameTimeout, closed).ConfigureAwait(false);
                    if (frame.Buffer.Length < length) return;   // closed or stalled mid-frame: nothing was parsed, nothing is stored
                    payload = frame.Buffer.Slice(0, length);
                }
                _metrics.Seen(bank);
                IMessage reply;
                try
                {
                    if (kind == BulkFrame.SubmitKind)
                    {
                        SubmitRequest request;
                        try { request = Counted(() => SubmitRequestParser.ParseOrRefuse(payload, FederationServiceBase.Intake), "Submit", bank); }
                        finally { Consumed(input, payload); }   // the request holds its own copy of the bytes
                        reply = await _service.SubmitAsync(bank, request, closed).ConfigureAwait(false);
                    }
                    else
                    {
                        ReceiveRequest request;
                        try { request = Counted(() => SubmitRequestParser.ParseOrRefuse(ReceiveRequest.Parser, payload), "Receive", bank); }
                        finally { Consumed(input, payload); }
                        reply = await _service.ReceiveAsync(bank, request, closed).ConfigureAwait(false);
                    }
                }
                catch (RpcException e)
                {
                    // A refusal: the gRPC call's status, detail and trailers; the connection serves the next call.
                    await WriteErrorAsync(output, e, closed).ConfigureAwait(false);
                    continue;
                }
                WriteOk(output, reply);
                await output.FlushAsync(closed).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The connection closed, or a timeout passed: the connection ends (a call in progress was cancelled with it).
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException)
        {
            // The connection broke under a read or a write: nothing to answer.
        }
        catch (Exception e)
        {
            // The exception's type only: its message could quote what it was reading.
            _log.LogError("a bulk-channel call of bank {Bank} failed ({Error}); the connection is closed", bank, e.GetType().Name);
            try { await WriteErrorAsync(output, new RpcException(new Status(StatusCode.Internal, "the appliance failed to answer the call")), closed).ConfigureAwait(false); }
            catch (Exception ignored) when (ignored is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or ObjectDisposedException)
            {
                // The connection is going anyway.
            }
        }
    }

    /// <summary>A read of at least <paramref name="minimum"/> bytes (fewer only when the client completed its side), cancelled
    /// when the connection closes or <paramref name="limit"/> passes.</summary>
    private static async ValueTask<ReadResult> ReadAtLeastAsync(PipeReader input, int minimum, TimeSpan limit, CancellationToken closed)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(closed);
        timeout.CancelAfter(limit);
        return await input.ReadAtLeastAsync(minimum, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>The request <paramref name="parse"/> reads; a payload that is not one is refused as over gRPC (INVALID_ARGUMENT,
    /// <c>Malformed</c>), and counted and logged here, naming the bank and the call, never the bytes.</summary>
    /// <exception cref="RpcException">the payload is not the call's request message.</exception>
    private T Counted<T>(Func<T> parse, string call, int bank)
    {
        try { return parse(); }
        catch (RpcException e)
        {
            _metrics.Rejected("Malformed");
            _log.LogInformation("refused a bulk-channel {Call} request of bank {Bank} (Malformed): {Detail}", call, bank, e.Status.Detail);
            throw;
        }
    }

    /// <summary>Marks a read payload consumed (nothing to mark for an empty one, which no read returned).</summary>
    private static void Consumed(PipeReader input, ReadOnlySequence<byte> payload)
    {
        if (payload.Length > 0) input.AdvanceTo(payload.End);
    }

    private static (byte Kind, uint Length) ReadHeader(ReadOnlySequence<byte> buffer)
    {
        Span<byte> header = stackalloc byte[BulkFrame.HeaderBytes];
        buffer.Slice(0, BulkFrame.HeaderBytes).CopyTo(header);
        return BulkFrame.ReadHeader(header);
    }

    /// <summary>Writes an OK frame holding <paramref name="reply"/>, serialized as the gRPC call's response marshaller does.</summary>
    private static void WriteOk(PipeWriter output, IMessage reply)
    {
        int size = reply.CalculateSize();
        BulkFrame.WriteHeader(output.GetSpan(BulkFrame.HeaderBytes), BulkFrame.OkKind, size);
        output.Advance(BulkFrame.HeaderBytes);
        reply.WriteTo(output);
    }

    /// <summary>Writes and flushes an Error frame with <paramref name="refusal"/>'s status, detail and text trailers.</summary>
    private static async ValueTask WriteErrorAsync(PipeWriter output, RpcException refusal, CancellationToken cancellationToken)
    {
        byte[] payload = ErrorPayload(refusal);
        BulkFrame.WriteHeader(output.GetSpan(BulkFrame.HeaderBytes), BulkFrame.ErrorKind, payload.Length);
        output.Advance(BulkFrame.HeaderBytes);
        output.Write(payload);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The error payload of <paramref name="refusal"/>; trailers that cannot travel in one (binary ones) are left out.</summary>
    internal static byte[] ErrorPayload(RpcException refusal)
    {
        var trailers = new Metadata();
        foreach (Metadata.Entry e in refusal.Trailers)
            if (!e.IsBinary && trailers.Count < BulkFrame.MaxTrailers) trailers.Add(e);
        try { return BulkFrame.EncodeError(refusal.StatusCode, refusal.Status.Detail, trailers); }
        catch (ArgumentException) { return BulkFrame.EncodeError(refusal.StatusCode, refusal.Status.Detail, null); }
    }
}
