// The bank's side of the bulk channel (SPEC.md 14.8, Wire/BulkFrame.cs): Submit and Receive, the two calls that carry a round's
// megabytes, go as length-prefixed frames straight over TLS on the appliance's own port (ALPN "fraudfed-bulk/1") instead of
// through HTTP/2 and gRPC's message buffers. Everything else about a call stays as over gRPC: the request bytes are what the
// Method's own request marshaller writes, the answer is read by the Method's own response marshaller (the SDK's
// ReceiveReplyParser reads PayloadAsReadOnlySequence exactly as it does over gRPC), a refusal is the RpcException the same
// refusal is over gRPC (status, detail, trailers), and a transport failure is an RpcException with status Unavailable whose
// debug exception is the socket, IO or TLS error, so the client's retries and its reading of certificate refusals
// (TlsFailures) treat both channels alike. Every other call goes to the wrapped gRPC invoker, and so does every call once an
// appliance's TLS handshake chose another protocol than the bulk channel's (an appliance without the channel).
//
// Connections: one call at a time per connection (a request frame, then its answer frame); a call takes an idle connection
// from a small pool or opens one, and gives it back only after a whole answer was read. A failed, cancelled or timed-out call
// disposes its connection: a connection is never reused after anything went wrong on it.
using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk.Wire;
using Grpc.Core;

namespace FraudFed.Sdk;

/// <summary>Where and how a <see cref="BulkCallInvoker"/> opens its connections: the appliance's host and port (those of the
/// gRPC channel's address), this bank's client certificate and the check of the appliance's certificate (the ones the gRPC
/// channel's handler uses), and the size caps of the gRPC channel.</summary>
/// <param name="Host">The appliance's host name or address (also the TLS target host the certificate must name).</param>
/// <param name="Port">The appliance's port.</param>
/// <param name="ClientCertificate">This bank's client certificate with its private key.</param>
/// <param name="ServerValidator">The check of the appliance's certificate.</param>
/// <param name="MaxSendBytes">Largest request payload sent (the gRPC channel's MaxSendMessageSize).</param>
/// <param name="MaxAnswerBytes">Largest answer payload accepted, compared with the frame header before anything is allocated
/// (the gRPC channel's MaxReceiveMessageSize).</param>
internal sealed record BulkEndpoint(string Host, int Port, X509Certificate2 ClientCertificate, RemoteCertificateValidationCallback ServerValidator,
    int MaxSendBytes, int MaxAnswerBytes)
{
    /// <summary>Idle connections kept for later calls (a Submit and a long-poll Receive at once each take their own).</summary>
    public int MaxIdleConnections { get; init; } = 4;
    /// <summary>An idle connection older than this is closed instead of reused.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>A <see cref="CallInvoker"/> that sends the Federation service's Submit and Receive over the bulk channel and every
/// other call through the wrapped invoker (see the file header).</summary>
internal sealed class BulkCallInvoker : CallInvoker, IDisposable
{
    /// <summary>The full name of the Submit method (service.proto).</summary>
    public const string SubmitMethod = "/fraudfed.v1.Federation/Submit";
    /// <summary>The full name of the Receive method (service.proto).</summary>
    public const string ReceiveMethod = "/fraudfed.v1.Federation/Receive";

    private readonly CallInvoker _inner;
    private readonly BulkEndpoint _endpoint;
    private readonly Stack<BulkConnection> _idle = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _unsupported;
    private long _opened;

    /// <summary>An invoker over <paramref name="inner"/> (the gRPC channel's) that opens bulk connections to <paramref name="endpoint"/>.</summary>
    public BulkCallInvoker(CallInvoker inner, BulkEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(endpoint);
        _inner = inner;
        _endpoint = endpoint;
    }

    /// <summary>True once an appliance's TLS handshake chose another protocol than the bulk channel's: every call goes over gRPC.</summary>
    public bool BulkUnsupported => Volatile.Read(ref _unsupported) != 0;

    /// <summary>Bulk connections whose TLS handshake completed with the bulk channel's protocol (tests, counters).</summary>
    public long ConnectionsOpened => Interlocked.Read(ref _opened);

    /// <summary>Idle connections in the pool now (tests).</summary>
    public int IdleConnections { get { lock (_idle) return _idle.Count; } }

    /// <summary>The request kind of <paramref name="method"/> on the bulk channel, or 0 for a method that goes over gRPC.</summary>
    private static byte KindOf(IMethod method) =>
        method.Type == MethodType.Unary ? method.FullName switch
        {
            SubmitMethod => BulkFrame.SubmitKind,
            ReceiveMethod => BulkFrame.ReceiveKind,
            _ => (byte)0,
        } : (byte)0;

    /// <inheritdoc />
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        byte kind = KindOf(method);
        if (kind == 0 || BulkUnsupported || _disposed.IsCancellationRequested) return _inner.AsyncUnaryCall(method, host, options, request);
        var call = new BulkUnaryCall<TRequest, TResponse>(this, method, host, options, request, kind);
        return new AsyncUnaryCall<TResponse>(call.Response, call.Headers, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    /// <inheritdoc />
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        _inner.BlockingUnaryCall(method, host, options, request);

    /// <inheritdoc />
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
        _inner.AsyncServerStreamingCall(method, host, options, request);

    /// <inheritdoc />
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        _inner.AsyncClientStreamingCall(method, host, options);

    /// <inheritdoc />
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
        _inner.AsyncDuplexStreamingCall(method, host, options);

    /// <summary>Closes the idle connections; a call still running closes its own when it ends. Later calls go to the wrapped invoker.</summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        lock (_idle)
        {
            while (_idle.TryPop(out BulkConnection? c)) c.Dispose();
        }
    }

    /// <summary>Cancelled when the invoker is disposed.</summary>
    internal CancellationToken Disposed => _disposed.Token;

    /// <summary>An idle connection still fit for a call (<c>Reused</c>), unless <paramref name="fresh"/>, or a new one; a null
    /// connection when the appliance does not offer the bulk channel (the caller goes over gRPC).</summary>
    /// <exception cref="SocketException">the connection could not be made.</exception>
    /// <exception cref="AuthenticationException">the TLS handshake failed (a certificate refused by either side, or an alert).</exception>
    /// <exception cref="IOException">the connection ended inside the TLS handshake.</exception>
    internal async ValueTask<(BulkConnection? Connection, bool Reused)> RentAsync(bool fresh, CancellationToken cancellationToken)
    {
        if (!fresh)
        {
            lock (_idle)
            {
                while (_idle.TryPop(out BulkConnection? c))
                {
                    if (c.IsReusable(_endpoint.IdleTimeout)) return (c, true);
                    c.Dispose();
                }
            }
        }
        if (BulkUnsupported) return (null, false);
        BulkConnection? opened = await BulkConnection.OpenAsync(_endpoint, cancellationToken).ConfigureAwait(false);
        if (opened is null)
        {
            Volatile.Write(ref _unsupported, 1);
            return (null, false);
        }
        Interlocked.Increment(ref _opened);
        return (opened, false);
    }

    /// <summary>Keeps <paramref name="connection"/>, whose last call read its whole answer, for a later call; disposes it when the
    /// pool is full or the invoker disposed.</summary>
    internal void Return(BulkConnection connection)
    {
        if (!connection.IsDisposed && !_disposed.IsCancellationRequested)
        {
            lock (_idle)
            {
                if (_idle.Count < _endpoint.MaxIdleConnections && !_disposed.IsCancellationRequested)
                {
                    connection.MarkIdle();
                    _idle.Push(connection);
                    return;
                }
            }
        }
        connection.Dispose();
    }

    internal CallInvoker Inner => _inner;
    internal BulkEndpoint Endpoint => _endpoint;
}

/// <summary>One TLS connection of the bulk channel.</summary>
internal sealed class BulkConnection : IDisposable
{
    private readonly Socket _socket;
    private int _disposed;
    private long _idleSince;

    private BulkConnection(Socket socket, SslStream stream)
    {
        _socket = socket;
        Stream = stream;
    }

    /// <summary>The TLS stream.</summary>
    public SslStream Stream { get; }

    /// <summary>True once disposed (by its call's failure, a cancellation or a deadline).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>A connection to <paramref name="endpoint"/> whose TLS handshake chose the bulk channel, or null when the handshake
    /// chose another protocol (the connection is closed).</summary>
    public static async Task<BulkConnection?> OpenAsync(BulkEndpoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? ssl = null;
        try
        {
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken).ConfigureAwait(false);
            ssl = new SslStream(new CoalescingSocketStream(socket), leaveInnerStreamOpen: false);
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = endpoint.Host,
                    ClientCertificates = [endpoint.ClientCertificate],
                    RemoteCertificateValidationCallback = endpoint.ServerValidator,
                    // h2 as well: an appliance without the bulk channel then completes the handshake with h2 (a TLS server with
                    // no protocol in common ends the handshake with an alert instead, which would look like a refusal).
                    ApplicationProtocols = [new SslApplicationProtocol(BulkFrame.AlpnProtocol), SslApplicationProtocol.Http2],
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e) when (!cancellationToken.IsCancellationRequested)
            {
                // As SocketsHttpHandler reports a connection that ended inside the TLS handshake (TlsFailures.IsCutHandshake).
                throw new HttpRequestException(HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.", e);
            }
            if (ssl.NegotiatedApplicationProtocol != new SslApplicationProtocol(BulkFrame.AlpnProtocol))
            {
                ssl.Dispose();
                socket.Dispose();
                return null;
            }
            return new BulkConnection(socket, ssl);
        }
        catch
        {
            ssl?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Records that the connection went idle now.</summary>
    public void MarkIdle() => Volatile.Write(ref _idleSince, Environment.TickCount64);

    /// <summary>True when the idle connection may serve another call: not disposed, idle for less than <paramref name="idleTimeout"/>,
    /// and nothing arrived on it while idle (a readable idle socket is a peer that closed it, or sent what it should not).</summary>
    public bool IsReusable(TimeSpan idleTimeout)
    {
        if (IsDisposed || Environment.TickCount64 - Volatile.Read(ref _idleSince) > (long)idleTimeout.TotalMilliseconds) return false;
        try { return !_socket.Poll(0, SelectMode.SelectRead); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
    }

    /// <summary>Closes the connection (idempotent; safe while a read or a write is pending on it: they fail).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _socket.Dispose();
        Stream.Dispose();
    }
}

/// <summary>One Submit or Receive over the bulk channel (or over gRPC, when the appliance turns out not to offer the channel).</summary>
internal sealed class BulkUnaryCall<TRequest, TResponse> where TRequest : class where TResponse : class
{
    private readonly BulkCallInvoker _owner;
    private readonly Method<TRequest, TResponse> _method;
    private readonly string? _host;
    private readonly CallOptions _options;
    private readonly TRequest _request;
    private readonly byte _kind;
    private readonly CancellationTokenSource _disposed = new();
    private readonly TaskCompletionSource<Metadata> _headers = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private AsyncUnaryCall<TResponse>? _fallback;
    private Status? _status;

    /// <summary>Starts the call.</summary>
    public BulkUnaryCall(BulkCallInvoker owner, Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request, byte kind)
    {
        _owner = owner;
        _method = method;
        _host = host;
        _options = options;
        _request = request;
        _kind = kind;
        _ = _headers.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Response = RunAsync();
    }

    /// <summary>The answer, or the call's RpcException.</summary>
    public Task<TResponse> Response { get; }

    /// <summary>The response headers: none on the bulk channel (an empty collection once the answer arrived).</summary>
    public Task<Metadata> Headers => _headers.Task;

    /// <summary>The call's status once it ended.</summary>
    /// <exception cref="InvalidOperationException">the call has not ended.</exception>
    public Status GetStatus() => _fallback?.GetStatus() ?? _status ?? throw new InvalidOperationException("Unable to get the status because the call is not complete.");

    /// <summary>The call's trailers once it ended (a refusal's trailers; none after a success).</summary>
    /// <exception cref="InvalidOperationException">the call has not ended.</exception>
    public Metadata GetTrailers() => _fallback?.GetTrailers() ?? (_status is null ? throw new InvalidOperationException("Unable to get the trailers because the call is not complete.") : _trailers);
    private Metadata _trailers = Metadata.Empty;

    /// <summary>Cancels the call if it still runs (as disposing a gRPC call does).</summary>
    public void Dispose()
    {
        if (_fallback is { } f) f.Dispose();
        try { _disposed.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    private async Task<TResponse> RunAsync()
    {
        await Task.Yield();   // the caller gets its AsyncUnaryCall before any work (serialization, connect) happens
        try
        {
            TResponse response = await BulkAsync().ConfigureAwait(false);
            _status = Status.DefaultSuccess;
            _headers.TrySetResult(Metadata.Empty);
            return response;
        }
        catch (RpcException e)
        {
            _status = e.Status;
            _trailers = e.Trailers;
            _headers.TrySetException(e);
            throw;
        }
    }

    private async Task<TResponse> BulkAsync()
    {
        CancellationToken callToken = _options.CancellationToken;
        // As gRPC reads it: DateTime.MaxValue is no deadline, a local time is converted, any other is UTC.
        DateTime? deadline = _options.Deadline is { } d && d != DateTime.MaxValue ? (d.Kind == DateTimeKind.Local ? d.ToUniversalTime() : DateTime.SpecifyKind(d, DateTimeKind.Utc)) : null;
        if (callToken.IsCancellationRequested || _disposed.IsCancellationRequested) throw Cancelled();
        if (deadline is { } due && due <= DateTime.UtcNow) throw DeadlineExceeded();

        using var timer = new CancellationTokenSource();
        if (deadline is { } end) timer.CancelAfter(TimeSpan.FromMilliseconds(Math.Clamp((end - DateTime.UtcNow).TotalMilliseconds, 1, int.MaxValue - 1)));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(callToken, _disposed.Token, _owner.Disposed, timer.Token);
        CancellationToken token = stop.Token;

        using FrameWriter frame = Serialize();
        BulkConnection? connection = null;
        byte[]? payload = null;
        int length;
        try
        {
            byte kind = 0;
            // A connection taken from the pool may have been closed by the appliance while it was idle (its FIN not here yet
            // when the pool checked it): a failure on it before any byte of the answer arrived is sent again, once, on a new
            // connection, as HttpClient does for a request on a reused connection. Both calls may be repeated: a Submit sent
            // again is answered as the first send (SPEC.md 14.5), and a Receive reads without consuming.
            for (bool retried = false; ; retried = true)
            {
                bool reused;
                try { (connection, reused) = await _owner.RentAsync(fresh: retried, token).ConfigureAwait(false); }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    throw Unavailable(e);
                }
                if (connection is null) return await FallbackAsync().ConfigureAwait(false);

                bool answered = false;
                CancellationTokenRegistration closing = token.UnsafeRegister(static c => ((BulkConnection)c!).Dispose(), connection);
                try
                {
                    await connection.Stream.WriteAsync(frame.Frame, token).ConfigureAwait(false);
                    byte[] header = new byte[BulkFrame.HeaderBytes];
                    int first = await connection.Stream.ReadAsync(header, token).ConfigureAwait(false);
                    if (first == 0) throw new IOException("the appliance closed the bulk-channel connection before answering (the response ended prematurely)");
                    answered = true;
                    await ReadExactlyAsync(connection.Stream, header.AsMemory(first), token).ConfigureAwait(false);
                    (kind, uint declared) = BulkFrame.ReadHeader(header);
                    if (kind is not (BulkFrame.OkKind or BulkFrame.ErrorKind))
                        throw new RpcException(new Status(StatusCode.Internal, $"the appliance answered on the bulk channel with a frame of unknown kind 0x{kind:x2}; the appliance and this SDK do not speak the same bulk-channel version: update the one that is older, or turn the bulk channel off (FederationClientOptions.BulkChannel = false; `fraudfed bank sum|train --grpc-only`)"));
                    long cap = kind == BulkFrame.ErrorKind ? BulkFrame.MaxErrorBytes : Math.Min(_owner.Endpoint.MaxAnswerBytes, Array.MaxLength);
                    if (declared > cap)
                    {
                        throw kind == BulkFrame.ErrorKind
                            ? new RpcException(new Status(StatusCode.Internal, $"the appliance's bulk-channel error answer declares {declared} bytes, at most {BulkFrame.MaxErrorBytes} are allowed; nothing of it was read"))
                            : new RpcException(new Status(StatusCode.ResourceExhausted, $"Received message exceeds the maximum configured message size ({declared} bytes, at most {cap}); nothing of it was read."));
                    }
                    length = (int)declared;
                    payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
                    await ReadExactlyAsync(connection.Stream, payload.AsMemory(0, length), token).ConfigureAwait(false);
                    break;
                }
                catch (Exception e) when (reused && !retried && !answered && !token.IsCancellationRequested && e is IOException or SocketException)
                {
                    connection.Dispose();
                    connection = null;
                }
                finally { closing.Dispose(); }
            }
            // The whole answer was read: the connection can serve another call (unless a cancellation closed it just now).
            _owner.Return(connection);
            connection = null;

            if (kind == BulkFrame.ErrorKind)
            {
                try { throw BulkFrame.DecodeError(payload.AsSpan(0, length)); }
                catch (InvalidDataException e) { throw new RpcException(new Status(StatusCode.Internal, e.Message + "; the appliance and this SDK may not speak the same bulk-channel version", e)); }
            }
            var context = new BulkDeserializationContext(payload, length);
            try { return _method.ResponseMarshaller.ContextualDeserializer(context); }
            catch (Exception e) when (e is not RpcException)
            {
                throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize response message.", e));
            }
        }
        catch (RpcException)
        {
            connection?.Dispose();
            throw;
        }
        catch (Exception e)
        {
            connection?.Dispose();
            throw Unavailable(e);
        }
        finally
        {
            if (payload is not null) ArrayPool<byte>.Shared.Return(payload);
        }

        // A failure after the call was cancelled or ran out of time is that cancellation or deadline, as over gRPC.
        RpcException Unavailable(Exception e)
        {
            if (callToken.IsCancellationRequested || _disposed.IsCancellationRequested) return Cancelled();
            if (timer.IsCancellationRequested || (deadline is { } due && due <= DateTime.UtcNow)) return DeadlineExceeded();
            if (_owner.Disposed.IsCancellationRequested) return new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled: its client was disposed", e));
            return new RpcException(new Status(StatusCode.Unavailable, Describe(e), e));
        }
    }

    /// <summary>The call over the wrapped gRPC invoker (an appliance without the bulk channel).</summary>
    private async Task<TResponse> FallbackAsync()
    {
        AsyncUnaryCall<TResponse> call = _owner.Inner.AsyncUnaryCall(_method, _host, _options, _request);
        _fallback = call;
        if (_disposed.IsCancellationRequested) call.Dispose();
        _ = call.ResponseHeadersAsync.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) _headers.TrySetResult(t.Result);
            else _headers.TrySetException(t.Exception?.InnerException ?? new TaskCanceledException());
        }, TaskScheduler.Default);
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>The request as one frame: the header reserved in front of the marshaller's bytes.</summary>
    private FrameWriter Serialize()
    {
        var writer = new FrameWriter(_kind);
        try
        {
            _method.RequestMarshaller.ContextualSerializer(_request, writer);
            if (!writer.Completed) throw new InvalidOperationException("the request marshaller did not complete its payload");
        }
        catch (Exception e)
        {
            writer.Dispose();
            throw new RpcException(new Status(StatusCode.Internal, "Error serializing the request message.", e));
        }
        if (writer.PayloadLength > _owner.Endpoint.MaxSendBytes)
        {
            writer.Dispose();
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Sending message exceeds the maximum configured message size ({writer.PayloadLength} bytes, at most {_owner.Endpoint.MaxSendBytes})."));
        }
        return writer;
    }

    private static async ValueTask ReadExactlyAsync(Stream stream, Memory<byte> buffer, CancellationToken token)
    {
        int at = 0;
        while (at < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[at..], token).ConfigureAwait(false);
            if (n == 0)
                throw new IOException(at == 0 && buffer.Length == BulkFrame.HeaderBytes
                    ? "the appliance closed the bulk-channel connection before answering (the response ended prematurely)"
                    : $"the appliance closed the bulk-channel connection in the middle of its answer (the response ended prematurely, {buffer.Length - at} bytes missing)");
            at += n;
        }
    }

    /// <summary>The transport error's own text, its causes included (socket, IO and TLS errors carry no secret).</summary>
    private static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null && parts.Count < 4; x = x.InnerException)
            if (!string.IsNullOrEmpty(x.Message) && !parts.Contains(x.Message)) parts.Add(x.Message);
        return "bulk channel: " + string.Join(" ", parts.Select(p => p.TrimEnd('.') + "."));
    }

    private static RpcException Cancelled() => new(new Status(StatusCode.Cancelled, "Call canceled by the client."));
    private static RpcException DeadlineExceeded() => new(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"));
}

/// <summary>The serialization context of a bulk request: the marshaller's payload written after a reserved frame header, into
/// one pooled array, so that header and payload go out in one write.</summary>
internal sealed class FrameWriter : SerializationContext, IBufferWriter<byte>, IDisposable
{
    private readonly byte _kind;
    private byte[] _buffer;
    private int _written;   // payload bytes after the header

    /// <summary>A writer of a frame of kind <paramref name="kind"/>.</summary>
    public FrameWriter(byte kind)
    {
        _kind = kind;
        _buffer = ArrayPool<byte>.Shared.Rent(BulkFrame.HeaderBytes + 256);
    }

    /// <summary>True once the marshaller completed the payload.</summary>
    public bool Completed { get; private set; }

    /// <summary>The payload's length in bytes.</summary>
    public int PayloadLength => _written;

    /// <summary>The frame: header and payload.</summary>
    public ReadOnlyMemory<byte> Frame => _buffer.AsMemory(0, BulkFrame.HeaderBytes + _written);

    /// <inheritdoc />
    public override void SetPayloadLength(int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        Ensure(payloadLength);
    }

    /// <inheritdoc />
    public override IBufferWriter<byte> GetBufferWriter() => this;

    /// <inheritdoc />
    public override void Complete(byte[] payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        _written = 0;
        Ensure(payload.Length);
        payload.CopyTo(_buffer, BulkFrame.HeaderBytes);
        _written = payload.Length;
        Complete();
    }

    /// <inheritdoc />
    public override void Complete()
    {
        BulkFrame.WriteHeader(_buffer, _kind, _written);
        Completed = true;
    }

    /// <inheritdoc />
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _buffer.Length - BulkFrame.HeaderBytes - _written) throw new ArgumentOutOfRangeException(nameof(count), "advanced past the memory handed out");
        _written += count;
    }

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(Math.Max(1, sizeHint));
        return _buffer.AsMemory(BulkFrame.HeaderBytes + _written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    /// <summary>Room for <paramref name="more"/> payload bytes after those written.</summary>
    private void Ensure(int more)
    {
        long needed = (long)BulkFrame.HeaderBytes + _written + more;
        if (needed <= _buffer.Length) return;
        if (needed > Array.MaxLength) throw new InvalidOperationException($"a request of {needed} bytes does not fit in one frame");
        long size = Math.Max(needed, Math.Min(Array.MaxLength, (long)_buffer.Length * 2));
        byte[] larger = ArrayPool<byte>.Shared.Rent((int)size);
        _buffer.AsSpan(0, BulkFrame.HeaderBytes + _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    /// <summary>Returns the array to the pool.</summary>
    public void Dispose()
    {
        byte[] buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
    }
}

/// <summary>The deserialization context of a bulk answer: the payload in a pooled array, read by the method's own response
/// marshaller as gRPC's context would be read.</summary>
internal sealed class BulkDeserializationContext(byte[] buffer, int length) : DeserializationContext
{
    /// <inheritdoc />
    public override int PayloadLength => length;

    /// <inheritdoc />
    public override byte[] PayloadAsNewBuffer() => buffer.AsSpan(0, length).ToArray();

    /// <inheritdoc />
    public override ReadOnlySequence<byte> PayloadAsReadOnlySequence() => new(buffer, 0, length);
}
