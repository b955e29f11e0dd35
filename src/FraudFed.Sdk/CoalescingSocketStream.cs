// The bank's TCP stream under TLS (SPEC.md 14.5 transport; nothing on the wire changes). The HTTP/2 client writes a large
// body one 16 KiB DATA frame at a time (its 32 KiB output buffer never holds two), each frame one TLS write (its records in
// one write to the inner stream), and SslStream reads one TLS record per call after a zero-byte read; over a NetworkStream
// each of those is a system call: `strace` of `bench round --mode masking` (10 banks x 10^6 values, ~40 MB up and ~40 MB
// down per round) counted per round about 2,700 sends by the banks (2,400 of one frame each) and 9,600 receives in the
// process, banks and appliance together (2,400 of one TLS record each, 2,500 one-byte MSG_PEEKs). Here a write of at least a full frame is gathered and sent by a
// queued thread-pool work item together with the frames written before that item runs (up to 256 KiB), and any shorter
// write (the end of a body, a small message, a control frame, the handshake) sends everything gathered and itself at once;
// receives take what the socket holds, up to 64 KiB, and serve the TLS reader from that buffer (about 860 sends and 3,600
// receives per round, no MSG_PEEK). Bytes, their order and the TLS records are unchanged, and no write waits for a later one.
using System.Net.Http;
using System.Net.Sockets;

namespace FraudFed.Sdk;

/// <summary>A connected TCP socket as a stream with a receive buffer and batched sends (see the file header). One reader and
/// one writer at a time, as SslStream uses its inner stream; sends are serialized.</summary>
internal sealed class CoalescingSocketStream : Stream
{
    /// <summary>Receive buffer: a receive takes up to this much of what the socket holds.</summary>
    public const int ReceiveBufferBytes = 64 << 10;
    /// <summary>Most bytes gathered before they are sent by the write that would pass this (a longer write is sent alone).</summary>
    public const int SendBufferBytes = 256 << 10;
    /// <summary>Writes of at least this many bytes (a full HTTP/2 DATA frame in its TLS records) are gathered and sent by a queued
    /// thread-pool work item, together with the writes that follow before it runs; a shorter write sends everything gathered
    /// and itself at once.</summary>
    public const int DeferBytes = 16 << 10;

    private readonly Socket _socket;
    private readonly byte[] _received = GC.AllocateUninitializedArray<byte>(ReceiveBufferBytes);
    private int _readStart, _readEnd;
    private readonly SemaphoreSlim _sendLock = new(1, 1);   // one send at a time, in the order the bytes were written
    private readonly object _gate = new();                   // the gathered bytes
    private byte[]? _pending, _spare;
    private int _pendingLength;
    private bool _flushQueued;
    private long _appends, _appendsSeen;   // deferred writes, and their count when the queued send last looked
    private int _requeues;
    private const int SendAtBytes = 64 << 10;
    private const int MaxRequeues = 8;
    private Exception? _sendFailure;
    private int _disposed;

    public CoalescingSocketStream(Socket socket) => _socket = socket;

    /// <summary>Sends (for tests and counters): system calls that sent bytes.</summary>
    public long Sends => Interlocked.Read(ref _sends);
    private long _sends;
    /// <summary>Receives (for tests and counters): system calls that returned bytes or the end of the stream.</summary>
    public long Receives => Interlocked.Read(ref _receives);
    private long _receives;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readEnd == _readStart)
        {
            // A zero-byte read (SslStream waiting for the next record) fills the buffer: the bytes are read once, by the one call
            // that waits for them, instead of a one-byte MSG_PEEK now and a receive later.
            if (buffer.Length >= ReceiveBufferBytes) return await ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            int n = await ReceiveAsync(_received, cancellationToken).ConfigureAwait(false);
            if (n == 0) return 0;
            _readStart = 0;
            _readEnd = n;
        }
        int take = Math.Min(buffer.Length, _readEnd - _readStart);
        _received.AsSpan(_readStart, take).CopyTo(buffer.Span);
        _readStart += take;
        return take;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_readEnd == _readStart)
        {
            int n = Receive(_received);
            if (n == 0) return 0;
            _readStart = 0;
            _readEnd = n;
        }
        int take = Math.Min(buffer.Length, _readEnd - _readStart);
        _received.AsSpan(_readStart, take).CopyTo(buffer);
        _readStart += take;
        return take;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfSendFailed();
        if (buffer.Length >= DeferBytes)
        {
            bool queue = false;
            lock (_gate)
            {
                if (_pendingLength + buffer.Length <= SendBufferBytes)
                {
                    _pending ??= GC.AllocateUninitializedArray<byte>(SendBufferBytes);
                    buffer.Span.CopyTo(_pending.AsSpan(_pendingLength));
                    _pendingLength += buffer.Length;
                    queue = !_flushQueued;
                    _flushQueued = true;
                    _appends++;
                    buffer = default;
                }
            }
            if (buffer.IsEmpty)
            {
                // The writes that follow at once (the next frames of the same message) join this send.
                if (queue) ThreadPool.UnsafeQueueUserWorkItem(static self => _ = self.FlushQueuedAsync(), this, preferLocal: false);
                return;
            }
        }
        // A small write (the end of a message, a control frame, the handshake) or a full buffer: everything gathered, then these
        // bytes, now.
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            byte[]? taken = TakePending(out int length, buffer.Span, out bool appended);
            if (taken is not null)
            {
                try { await SendAllAsync(taken.AsMemory(0, length), cancellationToken).ConfigureAwait(false); }
                finally { ReturnSpare(taken); }
            }
            if (!appended) await SendAllAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally { _sendLock.Release(); }
    }

    /// <summary>The gathered bytes as one array to send, with <paramref name="append"/> after them when it fits (<paramref name="appended"/>;
    /// the caller sends it itself otherwise, after the array), or null when there is nothing to send from the array. The caller
    /// holds the send lock and hands the array back with <see cref="ReturnSpare"/>.</summary>
    private byte[]? TakePending(out int length, ReadOnlySpan<byte> append, out bool appended)
    {
        lock (_gate)
        {
            _flushQueued = false;
            appended = !append.IsEmpty && _pendingLength + append.Length <= SendBufferBytes;
            if (_pendingLength == 0 && !appended)
            {
                length = 0;
                return null;
            }
            byte[] taken = _pending ??= GC.AllocateUninitializedArray<byte>(SendBufferBytes);
            if (appended)
            {
                append.CopyTo(taken.AsSpan(_pendingLength));
                _pendingLength += append.Length;
            }
            length = _pendingLength;
            _pending = _spare;
            _spare = null;
            _pendingLength = 0;
            return taken;
        }
    }

    /// <summary>Sends everything gathered so far, if anything (the caller holds the send lock).</summary>
    private async ValueTask SendGatheredAsync(CancellationToken cancellationToken)
    {
        if (TakePending(out int length, default, out _) is not { } taken) return;
        try { await SendAllAsync(taken.AsMemory(0, length), cancellationToken).ConfigureAwait(false); }
        finally { ReturnSpare(taken); }
    }

    /// <summary>Sends everything gathered so far, if anything, synchronously (the caller holds the send lock).</summary>
    private void SendGathered()
    {
        if (TakePending(out int length, default, out _) is not { } taken) return;
        try { SendAll(taken.AsSpan(0, length)); }
        finally { ReturnSpare(taken); }
    }

    private void ReturnSpare(byte[] array)
    {
        lock (_gate) _spare ??= array;
    }

    /// <summary>The queued send of gathered writes (a thread-pool work item). A failure is kept for the next write, and the socket is
    /// closed so that the connection's reader fails too.</summary>
    private async Task FlushQueuedAsync()
    {
        // While the writer keeps adding frames (it hands each to the HTTP/2 layer's writer through the thread pool, so this item
        // can run between two of them), it waits behind them, a few times at most, until 64 KiB are gathered.
        lock (_gate)
        {
            if (_flushQueued && _pendingLength < SendAtBytes && _appends != _appendsSeen && _requeues < MaxRequeues)
            {
                _appendsSeen = _appends;
                _requeues++;
                ThreadPool.UnsafeQueueUserWorkItem(static self => _ = self.FlushQueuedAsync(), this, preferLocal: false);
                return;
            }
            _requeues = 0;
            _appendsSeen = _appends;
        }
        try
        {
            await _sendLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await SendGatheredAsync(CancellationToken.None).ConfigureAwait(false);
            }
            finally { _sendLock.Release(); }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            Volatile.Write(ref _sendFailure, e);
            _socket.Dispose();
        }
    }

    private void ThrowIfSendFailed()
    {
        if (Volatile.Read(ref _sendFailure) is { } e) throw new IOException("Unable to write data to the transport connection: an earlier send failed.", e);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        // Synchronous writes (not used by the HTTP/2 client) are sent at once, after anything gathered.
        ThrowIfSendFailed();
        _sendLock.Wait();
        try
        {
            SendGathered();
            SendAll(buffer);
        }
        finally { _sendLock.Release(); }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ThrowIfSendFailed();
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SendGatheredAsync(cancellationToken).ConfigureAwait(false);
        }
        finally { _sendLock.Release(); }
    }

    public override void Flush()
    {
        ThrowIfSendFailed();
        _sendLock.Wait();
        try
        {
            SendGathered();
        }
        finally { _sendLock.Release(); }
    }

    // Socket failures surface as NetworkStream's do (an IOException around the SocketException), so the HTTP/2 client and the
    // SDK's failure classification (TlsFailures, FederationClient.IsTransportFailure) see the same exception shapes.
    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            while (!data.IsEmpty)
            {
                int sent = await _socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _sends);
                data = data[sent..];
            }
        }
        catch (SocketException e) { throw new IOException($"Unable to write data to the transport connection: {e.Message}.", e); }
    }

    private void SendAll(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            while (!data.IsEmpty)
            {
                int sent = _socket.Send(data, SocketFlags.None);
                Interlocked.Increment(ref _sends);
                data = data[sent..];
            }
        }
        catch (SocketException e) { throw new IOException($"Unable to write data to the transport connection: {e.Message}.", e); }
    }

    private async ValueTask<int> ReceiveAsync(Memory<byte> into, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            int n = await _socket.ReceiveAsync(into, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _receives);
            return n;
        }
        catch (SocketException e) { throw new IOException($"Unable to read data from the transport connection: {e.Message}.", e); }
    }

    private int Receive(Span<byte> into)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        try
        {
            int n = _socket.Receive(into, SocketFlags.None);
            Interlocked.Increment(ref _receives);
            return n;
        }
        catch (SocketException e) { throw new IOException($"Unable to read data from the transport connection: {e.Message}.", e); }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _socket.Dispose();
            // The send lock is not disposed: a write racing the close fails on the disposed socket instead of on the lock.
        }
        base.Dispose(disposing);
    }

    /// <summary>Makes <paramref name="handler"/> open each connection as a <see cref="CoalescingSocketStream"/> (with TCP_NODELAY, as
    /// the handler's own connections); TLS and HTTP/2 run over it as before.</summary>
    public static void Install(SocketsHttpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new CoalescingSocketStream(socket);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
    }
}
