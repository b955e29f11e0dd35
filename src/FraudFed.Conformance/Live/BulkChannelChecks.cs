// The live checks of a running appliance's bulk channel (SPEC.md 14.8; SPEC.md 13, "Live conformance"): the runner opens its
// own TLS connections to the appliance's mutual-TLS port, offers the ALPN protocols a bank offers, and sends raw frames (the
// layout of FraudFed.Sdk.Wire.BulkFrame, pinned by protocols/vectors/wire/bulk-frames.json): a header above the size cap, an
// unknown frame kind, a payload that is not a SubmitRequest followed by a valid Receive on the same connection, and
// connections without a client certificate or with one the roster does not pin. No protocol round is needed: a Receive with
// wait 0 is a valid call at any time. Each check names what it sent and what it expected when it fails.
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace FraudFed.Conformance.Live;

/// <summary>The bulk-channel live checks, in the order they run. Names are <c>appliance/&lt;mode&gt;/&lt;check&gt;</c>.</summary>
public static class BulkChannelChecks
{
    /// <summary>Check names (after <c>appliance/&lt;mode&gt;/</c>) and what passing means, as SPEC.md 13 lists them.</summary>
    public static IReadOnlyList<(string Name, string Meaning)> Catalogue { get; } =
    [
        ("bulk-alpn-selected", "a roster bank offering fraudfed-bulk/1 and h2 gets fraudfed-bulk/1; offering h2 alone, h2"),
        ("bulk-oversized-frame-refused", "a Submit frame header above max_message_bytes + 1 KiB (and one of 2^32 - 1) is answered from the header alone with an Error RESOURCE_EXHAUSTED without trailer and the connection closed; GetSession is answered afterwards"),
        ("bulk-unknown-kind-refused", "a frame of kind 0x07 is answered with an Error INVALID_ARGUMENT, fraudfed-violation Malformed, and the connection closed"),
        ("bulk-malformed-payload-refused", "a Submit frame whose payload is not a SubmitRequest is answered with an Error INVALID_ARGUMENT, fraudfed-violation Malformed, and the same connection then answers a valid Receive with OK"),
        ("bulk-unknown-client-refused", "a connection without a client certificate, and one with a certificate the roster does not pin, fail the TLS handshake: no frame is answered"),
    ];

    /// <summary>Runs every check against <paramref name="target"/> as bank 0, in the order of <see cref="Catalogue"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<IReadOnlyList<LiveCheckResult>> RunAsync(LiveTarget target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var run = new Run(target, cancellationToken);
        await run.AllAsync().ConfigureAwait(false);
        return run.Results;
    }

    private static readonly SslApplicationProtocol Bulk = new(BulkFrame.AlpnProtocol);

    private sealed class Run(LiveTarget target, CancellationToken ct)
    {
        private readonly string _mode = target.Settings.IsHomomorphic ? "he" : "masking";

        /// <summary>Longest wait for an answer frame, a close, a connect or a handshake.</summary>
        private readonly TimeSpan _wait = TimeSpan.FromSeconds(Math.Min(target.Options.StageTimeoutSeconds, 15));

        public List<LiveCheckResult> Results { get; } = [];

        private X509Certificate2 Certificate => target.Banks[0].Certificate;
        private X509Certificate2 Authority => target.Banks[0].Authority;

        /// <summary>The appliance's cap of a request payload, as the runner knows max_message_bytes: that + 1 KiB.</summary>
        private long Cap => target.MaxMessageBytes + 1024L;

        public async Task AllAsync()
        {
            await CheckAsync("bulk-alpn-selected", AlpnAsync).ConfigureAwait(false);
            await CheckAsync("bulk-oversized-frame-refused", OversizedAsync).ConfigureAwait(false);
            await CheckAsync("bulk-unknown-kind-refused", UnknownKindAsync).ConfigureAwait(false);
            await CheckAsync("bulk-malformed-payload-refused", MalformedPayloadAsync).ConfigureAwait(false);
            await CheckAsync("bulk-unknown-client-refused", UnknownClientAsync).ConfigureAwait(false);
        }

        private async Task CheckAsync(string check, Func<Task<(bool, string)>> body)
        {
            var sw = Stopwatch.StartNew();
            (bool ok, string detail) = (false, "");
            try { (ok, detail) = await body().ConfigureAwait(false); }
            catch (CheckFailed e) { (ok, detail) = (false, e.Message); }
            catch (Exception e) when (e is IOException or SocketException or AuthenticationException or RpcException or TimeoutException or InvalidDataException
                                          or OperationCanceledException && !ct.IsCancellationRequested)
            {
                (ok, detail) = (false, $"the check could not complete: {Words(e)}");
            }
            Results.Add(new LiveCheckResult($"appliance/{_mode}/{check}", ok, LiveFailure.OneLine(detail), Math.Round(sw.Elapsed.TotalSeconds, 3)));
        }

        private async Task<(bool, string)> AlpnAsync()
        {
            await using (BulkProbe both = await OpenAsync(Certificate, [Bulk, SslApplicationProtocol.Http2]).ConfigureAwait(false))
                if (both.Negotiated != Bulk)
                    return (false, $"sent: a TLS handshake with bank 0's certificate offering fraudfed-bulk/1 and h2; expected: fraudfed-bulk/1 selected; got: {Name(both.Negotiated)}");
            await using (BulkProbe h2 = await OpenAsync(Certificate, [SslApplicationProtocol.Http2]).ConfigureAwait(false))
                if (h2.Negotiated != SslApplicationProtocol.Http2)
                    return (false, $"sent: a TLS handshake with bank 0's certificate offering h2 alone; expected: h2 selected; got: {Name(h2.Negotiated)}");
            return (true, "bank 0 offering fraudfed-bulk/1 and h2 got fraudfed-bulk/1; offering h2 alone, h2");
        }

        private async Task<(bool, string)> OversizedAsync()
        {
            foreach (uint length in new[] { (uint)Math.Min(Cap + 1, uint.MaxValue), uint.MaxValue })
            {
                string sent = $"sent: a Submit frame header declaring {length} bytes (the cap is max_message_bytes + 1 KiB = {Cap}) and no payload";
                const string expected = "expected: an Error RESOURCE_EXHAUSTED without trailer, then the connection closed";
                await using BulkProbe probe = await OpenBulkAsync(sent).ConfigureAwait(false);
                await probe.SendAsync(Header(BulkFrame.SubmitKind, length), ct).ConfigureAwait(false);
                Frame? answer = await probe.ReadFrameAsync(_wait, ct).ConfigureAwait(false);
                if (answer is null) return (false, $"{sent}; {expected}; got: the connection closed without an answer");
                if (answer.Error is not { } error || error.StatusCode != StatusCode.ResourceExhausted || error.Trailers.Count != 0)
                    return (false, $"{sent}; {expected}; got: {answer}");
                if (await probe.ClosedAsync(_wait, ct).ConfigureAwait(false) is { } open) return (false, $"{sent}; {expected}; got: {answer}, then {open}");
            }
            using GrpcChannel channel = WireBank.OpenChannel(target.Options.Target, Certificate, Authority, connectTimeout: _wait);
            try
            {
                SessionInfo info = await new Federation.FederationClient(channel).GetSessionAsync(new GetSessionRequest(), deadline: DateTime.UtcNow.Add(_wait), cancellationToken: ct).ConfigureAwait(false);
                if (info.Bank != 0) return (false, $"sent: GetSession over gRPC with bank 0's certificate after the oversized frames; expected: bank 0's SessionInfo; got: bank {info.Bank}");
            }
            catch (RpcException e)
            {
                return (false, $"sent: GetSession over gRPC with bank 0's certificate after the oversized frames; expected: an answer (the appliance keeps serving); got: {e.StatusCode} ({LiveFailure.PlainDetail(e.Status.Detail)})");
            }
            return (true, $"Submit headers of {Math.Min(Cap + 1, uint.MaxValue)} and 2^32 - 1 bytes: each Error RESOURCE_EXHAUSTED without trailer, connection closed; GetSession answered afterwards");
        }

        private async Task<(bool, string)> UnknownKindAsync()
        {
            const string sent = "sent: a frame of kind 0x07 with an empty payload";
            const string expected = "expected: an Error INVALID_ARGUMENT with fraudfed-violation Malformed, then the connection closed";
            await using BulkProbe probe = await OpenBulkAsync(sent).ConfigureAwait(false);
            await probe.SendAsync(Header(0x07, 0), ct).ConfigureAwait(false);
            Frame? answer = await probe.ReadFrameAsync(_wait, ct).ConfigureAwait(false);
            if (answer is null) return (false, $"{sent}; {expected}; got: the connection closed without an answer");
            if (!answer.IsMalformedRefusal) return (false, $"{sent}; {expected}; got: {answer}");
            if (await probe.ClosedAsync(_wait, ct).ConfigureAwait(false) is { } open) return (false, $"{sent}; {expected}; got: {answer}, then {open}");
            return (true, "kind 0x07: Error InvalidArgument (Malformed), connection closed");
        }

        private async Task<(bool, string)> MalformedPayloadAsync()
        {
            // Field 1 (message) declares 5 bytes and 1 follows: not a SubmitRequest.
            byte[] payload = [0x0a, 0x05, 0x01];
            const string sent = "sent: a Submit frame whose 3-byte payload 0a0501 is not a SubmitRequest (field 1 declares 5 bytes, 1 follows)";
            const string expected = "expected: an Error INVALID_ARGUMENT with fraudfed-violation Malformed, the connection left open";
            await using BulkProbe probe = await OpenBulkAsync(sent).ConfigureAwait(false);
            await probe.SendAsync([.. Header(BulkFrame.SubmitKind, (uint)payload.Length), .. payload], ct).ConfigureAwait(false);
            Frame? answer = await probe.ReadFrameAsync(_wait, ct).ConfigureAwait(false);
            if (answer is null) return (false, $"{sent}; {expected}; got: the connection closed without an answer");
            if (!answer.IsMalformedRefusal) return (false, $"{sent}; {expected}; got: {answer}");

            byte[] receive = new ReceiveRequest { AfterSequence = 0, WaitMilliseconds = 0, MaxItems = 1 }.ToByteArray();
            const string then = "then on the same connection a Receive frame (after_sequence 0, wait_milliseconds 0, max_items 1); expected: an OK frame carrying a ReceiveReply";
            try { await probe.SendAsync([.. Header(BulkFrame.ReceiveKind, (uint)receive.Length), .. receive], ct).ConfigureAwait(false); }
            catch (IOException e) { return (false, $"{sent}, {then}; got: the connection was closed after the refusal ({Words(e)})"); }
            Frame? reply;
            try { reply = await probe.ReadFrameAsync(_wait, ct).ConfigureAwait(false); }
            catch (IOException e) { return (false, $"{sent}, {then}; got: the connection was closed after the refusal ({Words(e)})"); }
            if (reply is null) return (false, $"{sent}, {then}; got: the connection closed without an answer");
            if (reply.Kind != BulkFrame.OkKind) return (false, $"{sent}, {then}; got: {reply}");
            ReceiveReply parsed;
            try { parsed = ReceiveReply.Parser.ParseFrom(reply.Payload); }
            catch (InvalidProtocolBufferException) { return (false, $"{sent}, {then}; got: an OK frame whose {reply.Payload.Length}-byte payload is not a ReceiveReply"); }
            if (parsed.Items.Count > 1) return (false, $"{sent}, {then}; got: {parsed.Items.Count} items, max_items was 1");
            return (true, $"Submit of 0a0501: Error InvalidArgument (Malformed); the same connection then answered a Receive with OK ({parsed.Items.Count} {(parsed.Items.Count == 1 ? "item" : "items")})");
        }

        private async Task<(bool, string)> UnknownClientAsync()
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=not on the roster", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
            using X509Certificate2 ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            using X509Certificate2 stranger = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
            var seen = new List<string>();
            foreach ((X509Certificate2? certificate, string who) in new[] { ((X509Certificate2?)null, "no client certificate"), (stranger, "a self-signed client certificate the roster does not pin") })
            {
                string sent = $"sent: a TLS handshake with {who}, offering fraudfed-bulk/1 and h2, then a Receive frame";
                const string expected = "expected: the handshake fails (no frame answered)";
                BulkProbe probe;
                try { probe = await OpenAsync(certificate, [Bulk, SslApplicationProtocol.Http2]).ConfigureAwait(false); }
                catch (Exception e) when (e is AuthenticationException or IOException or SocketException)
                {
                    seen.Add($"{who}: handshake failed");
                    continue;
                }
                await using (probe)
                {
                    // TLS 1.3 finishes the client's side before the server has judged its certificate: the refusal is an alert
                    // that ends the connection before any answer.
                    byte[] receive = new ReceiveRequest { WaitMilliseconds = 0, MaxItems = 1 }.ToByteArray();
                    try
                    {
                        await probe.SendAsync([.. Header(BulkFrame.ReceiveKind, (uint)receive.Length), .. receive], ct).ConfigureAwait(false);
                        Frame? answer = await probe.ReadFrameAsync(_wait, ct).ConfigureAwait(false);
                        if (answer is not null) return (false, $"{sent}; {expected}; got: the handshake selected {Name(probe.Negotiated)} and the Receive was answered: {answer}");
                    }
                    catch (Exception e) when (e is IOException or AuthenticationException)
                    {
                        // The alert (or a reset) ended the connection.
                    }
                    catch (TimeoutException)
                    {
                        return (false, $"{sent}; {expected}; got: the handshake completed ({Name(probe.Negotiated)}) and the connection stayed open without an answer for {_wait.TotalSeconds:0} s");
                    }
                    seen.Add($"{who}: connection ended at the handshake, no frame");
                }
            }
            return (true, string.Join("; ", seen));
        }

        private Task<BulkProbe> OpenAsync(X509Certificate2? certificate, SslApplicationProtocol[] offer) =>
            BulkProbe.OpenAsync(target.Options.Target, certificate, Authority, offer, _wait, ct);

        /// <summary>A connection of bank 0 whose handshake selected the bulk channel (else the check fails, saying so).</summary>
        private async Task<BulkProbe> OpenBulkAsync(string sent)
        {
            BulkProbe probe = await OpenAsync(Certificate, [Bulk, SslApplicationProtocol.Http2]).ConfigureAwait(false);
            if (probe.Negotiated == Bulk) return probe;
            string got = Name(probe.Negotiated);
            await probe.DisposeAsync().ConfigureAwait(false);
            throw new CheckFailed($"{sent}: not sent, the handshake of bank 0 offering fraudfed-bulk/1 and h2 selected {got}, not fraudfed-bulk/1");
        }
    }

    /// <summary>A check's own failure, with its words.</summary>
    private sealed class CheckFailed(string message) : Exception(message);

    private static string Name(SslApplicationProtocol p) => p.Protocol.IsEmpty ? "no application protocol" : p.ToString();

    /// <summary>An exception's message in one line, without a .NET type name.</summary>
    private static string Words(Exception e) => LiveFailure.OneLine(e is OperationCanceledException or TimeoutException ? "no answer in time" : e.Message);

    /// <summary>A frame header written from SPEC.md 14.8 (a length above 2^31 - 1 too, which BulkFrame.WriteHeader does not take).</summary>
    internal static byte[] Header(byte kind, uint length) => [kind, (byte)length, (byte)(length >> 8), (byte)(length >> 16), (byte)(length >> 24)];

    /// <summary>An answer frame as read.</summary>
    private sealed record Frame(byte Kind, byte[] Payload)
    {
        /// <summary>The refusal of an Error frame, or null (another kind, or an invalid error payload).</summary>
        public RpcException? Error
        {
            get
            {
                if (Kind != BulkFrame.ErrorKind) return null;
                try { return BulkFrame.DecodeError(Payload); }
                catch (InvalidDataException) { return null; }
            }
        }

        public bool IsMalformedRefusal => Error is { StatusCode: StatusCode.InvalidArgument } e && e.Trailers.GetValue(StatusMapping.ReasonTrailer) == "Malformed";

        public override string ToString()
        {
            if (Kind == BulkFrame.OkKind) return $"an OK frame ({Payload.Length} bytes)";
            if (Kind != BulkFrame.ErrorKind) return $"a frame of kind 0x{Kind:x2} ({Payload.Length} bytes)";
            try
            {
                RpcException e = BulkFrame.DecodeError(Payload);
                string trailers = e.Trailers.Count == 0 ? "no trailer" : string.Join(", ", e.Trailers.Select(t => $"{t.Key}: {t.Value}"));
                return $"an Error {e.StatusCode} ({trailers})";
            }
            catch (InvalidDataException x) { return $"an Error frame with an invalid payload ({x.Message})"; }
        }
    }

    /// <summary>One TLS connection to the appliance's port, reading and writing raw frames.</summary>
    private sealed class BulkProbe : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly SslStream _ssl;

        private BulkProbe(Socket socket, SslStream ssl)
        {
            _socket = socket;
            _ssl = ssl;
        }

        /// <summary>The protocol the handshake selected.</summary>
        public SslApplicationProtocol Negotiated => _ssl.NegotiatedApplicationProtocol;

        public static async Task<BulkProbe> OpenAsync(Uri target, X509Certificate2? certificate, X509Certificate2 authority, SslApplicationProtocol[] offer,
            TimeSpan wait, CancellationToken ct)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            SslStream? ssl = null;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(wait);
            try
            {
                await socket.ConnectAsync(target.IdnHost, target.Port, timeout.Token).ConfigureAwait(false);
                ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = target.IdnHost,
                    ClientCertificates = certificate is null ? null : [certificate],
                    RemoteCertificateValidationCallback = TlsFiles.ServerValidator(authority),
                    ApplicationProtocols = [.. offer],
                }, timeout.Token).ConfigureAwait(false);
                return new BulkProbe(socket, ssl);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                ssl?.Dispose();
                socket.Dispose();
                throw new TimeoutException($"no TLS connection to {target.Authority} within {wait.TotalSeconds:0} s");
            }
            catch
            {
                ssl?.Dispose();
                socket.Dispose();
                throw;
            }
        }

        public async Task SendAsync(byte[] bytes, CancellationToken ct)
        {
            await _ssl.WriteAsync(bytes, ct).ConfigureAwait(false);
            await _ssl.FlushAsync(ct).ConfigureAwait(false);
        }

        /// <summary>The next answer frame; null when the connection ended before its first byte.</summary>
        /// <exception cref="TimeoutException">no whole frame within <paramref name="wait"/>.</exception>
        /// <exception cref="IOException">the connection ended inside a frame, or broke.</exception>
        public async Task<Frame?> ReadFrameAsync(TimeSpan wait, CancellationToken ct)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(wait);
            try
            {
                var header = new byte[BulkFrame.HeaderBytes];
                int got = await _ssl.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, timeout.Token).ConfigureAwait(false);
                if (got == 0) return null;
                if (got < header.Length) throw new IOException($"the connection ended after {got} bytes of a frame header");
                (byte kind, uint length) = BulkFrame.ReadHeader(header);
                if (length > 64 << 20) throw new IOException($"an answer frame declaring {length} bytes (kind 0x{kind:x2})");
                var payload = new byte[length];
                got = await _ssl.ReadAtLeastAsync(payload, payload.Length, throwOnEndOfStream: false, timeout.Token).ConfigureAwait(false);
                if (got < payload.Length) throw new IOException($"the connection ended after {got} of the {length} payload bytes of a frame of kind 0x{kind:x2}");
                return new Frame(kind, payload);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"no answer frame within {wait.TotalSeconds:0} s");
            }
        }

        /// <summary>Null when the appliance closes the connection within <paramref name="wait"/> (an end of stream or a reset);
        /// else what it did instead, in words.</summary>
        public async Task<string?> ClosedAsync(TimeSpan wait, CancellationToken ct)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(wait);
            try
            {
                var one = new byte[1];
                int got = await _ssl.ReadAsync(one, timeout.Token).ConfigureAwait(false);
                return got == 0 ? null : "more bytes on the connection instead of its close";
            }
            catch (IOException) { return null; }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return $"the connection still open {wait.TotalSeconds:0} s later";
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _ssl.DisposeAsync().ConfigureAwait(false);
            _socket.Dispose();
        }
    }
}
