// The bank's side of the bulk channel (Sdk/BulkCallInvoker.cs, SPEC.md 14.8) against a scripted bulk server over real loopback
// sockets and real mutual TLS (ALPN fraudfed-bulk/1, client certificate required): a Submit leaves as exactly one 0x01 frame
// holding the gRPC marshaller's bytes, an OK answer is read by the method's own response marshaller (the SDK's reply parsers), an
// Error answer is the RpcException the same refusal is over gRPC (and the typed SDK exception FederationClient makes of it), an
// appliance whose handshake chooses h2 sends the call (and every later one) to the wrapped gRPC invoker, an answer over the cap
// is refused from its header, cancellation, a deadline and a server closing mid-answer close the connection, and concurrent
// calls take a connection each.
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Cryptography;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture, NonParallelizable]
public sealed class BulkCallInvokerTests
{
    private static X509Certificate2 _server = null!, _client = null!;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [OneTimeSetUp]
    public void Certificates()
    {
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using X509Certificate2 made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            _server = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
        }
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=bank-0", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
            using X509Certificate2 made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            _client = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
        }
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _server.Dispose();
        _client.Dispose();
    }

    // ---- the scripted bulk server ----

    /// <summary>One request frame as the server read it: the connection it came on (1, 2, ... in accept order), kind, payload.</summary>
    private sealed record Frame(int Connection, byte Kind, byte[] Payload);

    /// <summary>A TLS server on loopback that requires a client certificate, negotiates <c>alpn</c>, reads request frames and
    /// lets the test's script answer each one.</summary>
    private sealed class BulkServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly SslApplicationProtocol _alpn;
        private readonly Func<Frame, SslStream, Task<bool>> _script;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _connections = [];
        private int _accepted;

        private readonly bool _refuseClients;

        public BulkServer(Func<Frame, SslStream, Task<bool>> script, string alpn = BulkFrame.AlpnProtocol, bool refuseClients = false)
        {
            _script = script;
            _refuseClients = refuseClients;
            _alpn = new SslApplicationProtocol(alpn);
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public ConcurrentQueue<Frame> Frames { get; } = new();
        /// <summary>Handshakes completed, and the protocol each chose.</summary>
        public ConcurrentQueue<string> Handshakes { get; } = new();
        /// <summary>Client certificates presented (subject names).</summary>
        public ConcurrentQueue<string> ClientCertificates { get; } = new();
        /// <summary>Connections whose client closed them (the server read the end of the stream), by connection number.</summary>
        public ConcurrentQueue<int> ClosedByClient { get; } = new();
        /// <summary>Signalled for every request frame read.</summary>
        public SemaphoreSlim Received { get; } = new(0);

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception) { return; }
                int id = Interlocked.Increment(ref _accepted);
                lock (_connections) _connections.Add(ServeAsync(socket, id));
            }
        }

        private async Task ServeAsync(Socket socket, int id)
        {
            using Socket s = socket;
            await using var ssl = new SslStream(new NetworkStream(s, ownsSocket: false));
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = _server,
                    ClientCertificateRequired = true,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    {
                        if (certificate is null) return false;
                        ClientCertificates.Enqueue(certificate.Subject);
                        return !_refuseClients;
                    },
                    ApplicationProtocols = [_alpn],
                }, _stop.Token);
                Handshakes.Enqueue(ssl.NegotiatedApplicationProtocol.ToString());
                byte[] header = new byte[BulkFrame.HeaderBytes];
                while (true)
                {
                    int first = await ssl.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, _stop.Token);
                    if (first < header.Length)
                    {
                        ClosedByClient.Enqueue(id);
                        return;
                    }
                    (byte kind, uint length) = BulkFrame.ReadHeader(header);
                    if (length > 64 << 20) return;   // not a frame of these tests (e.g. an HTTP request's first bytes)
                    byte[] payload = new byte[length];
                    await ssl.ReadExactlyAsync(payload, _stop.Token);
                    var frame = new Frame(id, kind, payload);
                    Frames.Enqueue(frame);
                    Received.Release();
                    if (!await _script(frame, ssl)) return;
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException or ObjectDisposedException)
            {
                ClosedByClient.Enqueue(id);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            Task[] all;
            lock (_connections) all = [.. _connections];
            try { await Task.WhenAll(all).WaitAsync(Patience); }
            catch (Exception e) when (e is not TimeoutException) { }
        }
    }

    private static async Task Answer(SslStream ssl, byte kind, byte[] payload)
    {
        byte[] frame = new byte[BulkFrame.HeaderBytes + payload.Length];
        BulkFrame.WriteHeader(frame, kind, payload.Length);
        payload.CopyTo(frame, BulkFrame.HeaderBytes);
        await ssl.WriteAsync(frame);
        await ssl.FlushAsync();
    }

    // ---- the wrapped gRPC invoker, observed ----

    /// <summary>A CallInvoker that records the calls it gets and answers each with <c>answer</c>.</summary>
    private sealed class RecordingInvoker(Func<IMethod, object, object> answer) : CallInvoker
    {
        public ConcurrentQueue<string> Calls { get; } = new();

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
        {
            Calls.Enqueue(method.FullName);
            var response = (TResponse)answer(method, request);
            return new AsyncUnaryCall<TResponse>(Task.FromResult(response), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
        }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new InvalidOperationException("not used");
        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new InvalidOperationException("not used");
        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
            throw new InvalidOperationException("not used");
        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
            throw new InvalidOperationException("not used");
    }

    private static RecordingInvoker Grpc() => new((method, _) => method.FullName switch
    {
        BulkCallInvoker.SubmitMethod => new SubmitReply { Sequence = 777 },
        BulkCallInvoker.ReceiveMethod => new ReceiveReply(),
        _ => new SessionInfo { Bank = 5 },
    });

    private static BulkEndpoint Endpoint(BulkServer server, int maxAnswerBytes = int.MaxValue) =>
        new("127.0.0.1", server.Port, _client, TlsFiles.ServerValidator(_server), 64 << 20, maxAnswerBytes);

    private static CallOptions Options(CancellationToken cancellationToken = default, TimeSpan? deadline = null) =>
        new(deadline: DateTime.UtcNow + (deadline ?? Patience), cancellationToken: cancellationToken);

    private static SubmitRequest ASubmit(int bytes = 3000) =>
        new() { Message = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(bytes)), DeliverAfter = 41, WaitMilliseconds = 250 };

    private static readonly Method<SubmitRequest, SubmitReply> Submit = ReceiveReplyParser.SubmitMethod(new SumBuffer());

    // ---- the tests ----

    [Test]
    public async Task ASubmit_LeavesAsOneSubmitFrameOfTheMarshallersBytes_AndItsOkAnswerIsReadByTheMethodsOwnParser()
    {
        var reply = new SubmitReply { Sequence = 42, Resend = true };
        reply.Items.Add(new MailboxItem { Sequence = 43, Message = ByteString.CopyFrom([9, 8, 7]) });
        reply.Items.Add(new MailboxItem { Sequence = 44, RoundOpen = new RoundOpen { Round = 3, Length = 1000 } });
        await using var server = new BulkServer(async (_, ssl) => { await Answer(ssl, BulkFrame.OkKind, reply.ToByteArray()); return true; });
        var grpc = Grpc();
        using var invoker = new BulkCallInvoker(grpc, Endpoint(server));

        // A 2 MB message: the frame writer grows past its first array; the payload is the marshaller's bytes, exactly.
        SubmitRequest request = ASubmit(2 << 20);
        SubmitReply got = await invoker.AsyncUnaryCall(Submit, null, Options(), request).ResponseAsync;

        Assert.That(got, Is.EqualTo(reply));
        Assert.That(server.Frames, Has.Count.EqualTo(1));
        Frame frame = server.Frames.Single();
        Assert.That(frame.Kind, Is.EqualTo(BulkFrame.SubmitKind));
        // The marshaller writes message.WriteTo after SetPayloadLength: the bytes ToByteArray gives.
        Assert.That(frame.Payload, Is.EqualTo(request.ToByteArray()));
        Assert.That(server.Handshakes, Is.EqualTo(new[] { BulkFrame.AlpnProtocol }));
        Assert.That(server.ClientCertificates, Is.EqualTo(new[] { "CN=bank-0" }), "the bank's client certificate was presented");
        Assert.That(grpc.Calls, Is.Empty, "nothing went over gRPC");
        Assert.That(invoker.IdleConnections, Is.EqualTo(1), "the connection is kept for the next call");

        // The next call reuses it: no second handshake.
        await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync;
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 1 }));
        Assert.That(invoker.ConnectionsOpened, Is.EqualTo(1));
    }

    [Test]
    public async Task AReceive_IsReadByTheSdksReplyParser_WithALargeMaskingSumIntact()
    {
        // A 2 MiB sum_le (above SumBuffer.MinimumBytes): ReceiveReplyParser copies it from PayloadAsReadOnlySequence into the
        // client's rented array, so the bytes must survive the pooled payload buffer going back to its pool.
        byte[] sum = RandomNumberGenerator.GetBytes(2 << 20);
        var result = new SumResult { Round = 3, SumLe = ByteString.CopyFrom(sum) };
        result.Contributors.AddRange([0u, 1u, 2u]);
        var reply = new ReceiveReply();
        reply.Items.Add(new MailboxItem { Sequence = 12, SumResult = result });
        await using var server = new BulkServer(async (_, ssl) => { await Answer(ssl, BulkFrame.OkKind, reply.ToByteArray()); return true; });
        var buffer = new SumBuffer();
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));
        var request = new ReceiveRequest { AfterSequence = 11, WaitMilliseconds = 500, MaxItems = 64 };

        ReceiveReply got = await invoker.AsyncUnaryCall(ReceiveReplyParser.ReceiveMethod(buffer), null, Options(), request).ResponseAsync;
        // The pool's arrays are reused by the next call: a parse that kept a view of the payload would see other bytes now.
        await invoker.AsyncUnaryCall(ReceiveReplyParser.ReceiveMethod(new SumBuffer()), null, Options(), request).ResponseAsync;

        Assert.That(server.Frames.First().Kind, Is.EqualTo(BulkFrame.ReceiveKind));
        Assert.That(server.Frames.First().Payload, Is.EqualTo(request.ToByteArray()));
        Assert.That(got.Items, Has.Count.EqualTo(1));
        Assert.That(got.Items[0].Sequence, Is.EqualTo(12UL));
        Assert.That(got.Items[0].SumResult.Contributors, Is.EqualTo(new[] { 0u, 1u, 2u }));
        Assert.That(got.Items[0].SumResult.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(got.Items[0].SumResult.RentedFrom, Is.SameAs(buffer), "the SDK's own parser read the answer (its rented-array path)");
    }

    [Test]
    public async Task AMarshallerThatCompletesWithAnArray_IsSentAsThatArray()
    {
        // Complete(byte[]) instead of the buffer writer: a Receive method with plain (non-contextual) marshallers.
        var method = new Method<ReceiveRequest, ReceiveReply>(MethodType.Unary, "fraudfed.v1.Federation", "Receive",
            Marshallers.Create(r => r.ToByteArray(), ReceiveRequest.Parser.ParseFrom),
            Marshallers.Create(r => r.ToByteArray(), ReceiveReply.Parser.ParseFrom));
        var reply = new ReceiveReply();
        reply.Items.Add(new MailboxItem { Sequence = 2, Message = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(100_000)) });
        await using var server = new BulkServer(async (_, ssl) => { await Answer(ssl, BulkFrame.OkKind, reply.ToByteArray()); return true; });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));
        var request = new ReceiveRequest { AfterSequence = 1, WaitMilliseconds = 10, MaxItems = 3 };

        ReceiveReply got = await invoker.AsyncUnaryCall(method, null, Options(), request).ResponseAsync;

        Assert.That(server.Frames.Single().Payload, Is.EqualTo(request.ToByteArray()));
        Assert.That(got, Is.EqualTo(reply), "PayloadAsNewBuffer gives the answer's bytes");
    }

    [Test]
    public async Task AnErrorFrame_IsTheRpcExceptionOfTheSameRefusalOverGrpc_AndTheConnectionServesTheNextCall()
    {
        var trailers = new Metadata { { StatusMapping.ReasonTrailer, "Malformed" }, { "fraudfed-extra", "x y" } };
        byte[] error = BulkFrame.EncodeError(StatusCode.InvalidArgument, "the message is not a MaskingBankMessage: fix the bank", trailers);
        await using var server = new BulkServer(async (_, ssl) => { await Answer(ssl, BulkFrame.ErrorKind, error); return true; });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        AsyncUnaryCall<SubmitReply> call = invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit());
        var e = Assert.ThrowsAsync<RpcException>(async () => await call.ResponseAsync)!;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Is.EqualTo("the message is not a MaskingBankMessage: fix the bank"));
        Assert.That(StatusMapping.ReasonOf(e), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(e.Trailers.GetValue("fraudfed-extra"), Is.EqualTo("x y"));
        Assert.That(call.GetStatus().StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(call.GetTrailers().GetValue(StatusMapping.ReasonTrailer), Is.EqualTo("Malformed"));

        // An error answer is a whole answer: the connection is reused.
        Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync);
        Assert.That(invoker.ConnectionsOpened, Is.EqualTo(1));
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 1 }));
    }

    [Test]
    public async Task ThroughFederationClient_ARefusalOnTheBulkChannel_IsTheTypedExceptionOfTheGrpcPath()
    {
        Metadata refused = new() { { StatusMapping.ReasonTrailer, "Malformed" } };
        Metadata ended = new() { { StatusMapping.ReasonTrailer, "WrongRoundOrState" }, { StatusMapping.ApplianceStateTrailer, StatusMapping.SessionEndedValue } };
        int calls = 0;
        await using var server = new BulkServer(async (_, ssl) =>
        {
            byte[] error = Interlocked.Increment(ref calls) == 1
                ? BulkFrame.EncodeError(StatusCode.InvalidArgument, "the masked input is malformed", refused)
                : BulkFrame.EncodeError(StatusCode.FailedPrecondition, "the session has ended (aborted: test); start a new session", ended);
            await Answer(ssl, BulkFrame.ErrorKind, error);
            return true;
        });
        using LoadedBankConfig config = Config(server.Port);
        await using FederationClient client = FederationClient.Create(config, new FederationClientOptions { RetryBudget = TimeSpan.FromSeconds(2) });

        var malformed = Assert.ThrowsAsync<MessageRefusedException>(() => client.SubmitAsync(new byte[] { 1, 2, 3 }, CancellationToken.None))!;
        Assert.That(malformed.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(malformed.Status, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(malformed.Message, Does.Contain("the masked input is malformed"));
        var sessionEnded = Assert.ThrowsAsync<SessionEndedException>(() => client.SubmitAsync(new byte[] { 4, 5 }, CancellationToken.None))!;
        Assert.That(sessionEnded.Message, Does.Contain("aborted: test"));

        Assert.That(server.Frames.Select(f => f.Kind), Is.EqualTo(new[] { BulkFrame.SubmitKind, BulkFrame.SubmitKind }), "both calls went over the bulk channel");
        Assert.That(SubmitRequest.Parser.ParseFrom(server.Frames.First().Payload).Message.ToByteArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public async Task ThroughFederationClient_AServerThatRefusesTheClientCertificate_IsNamedAsTheGrpcPathNamesIt()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(true), refuseClients: true);
        using LoadedBankConfig config = Config(server.Port);
        await using FederationClient client = FederationClient.Create(config, new FederationClientOptions { RetryBudget = TimeSpan.FromSeconds(5) });

        var e = Assert.ThrowsAsync<FederationException>(() => client.SubmitAsync(new byte[] { 1 }, CancellationToken.None))!;

        Assert.That(e.Message, Does.Contain("refused this bank's TLS client certificate"));
        Assert.That(server.Frames, Is.Empty);
    }

    [Test]
    public async Task ThroughFederationClient_AnApplianceCertificateFromAnotherAuthority_IsRefusedByThisBank_NotRetried()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(true));
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using X509Certificate2 otherCa = new CertificateRequest("CN=another-ca", otherKey, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using LoadedBankConfig config = Config(server.Port, ca: otherCa);
        await using FederationClient client = FederationClient.Create(config, new FederationClientOptions { RetryBudget = TimeSpan.FromSeconds(30) });

        DateTime start = DateTime.UtcNow;
        var e = Assert.ThrowsAsync<FederationException>(() => client.SubmitAsync(new byte[] { 1 }, CancellationToken.None))!;

        Assert.That(e.Message, Does.StartWith("this bank refused the certificate of the aggregator"));
        Assert.That(DateTime.UtcNow - start, Is.LessThan(TimeSpan.FromSeconds(10)), "not retried for the budget");
        Assert.That(server.Frames, Is.Empty);
    }

    [Test]
    public async Task WithTheBulkChannelOff_FederationClientSendsNoFrame()
    {
        await using var server = new BulkServer(async (_, ssl) => { await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = 1 }.ToByteArray()); return true; });
        using LoadedBankConfig config = Config(server.Port);
        await using FederationClient client = FederationClient.Create(config, new FederationClientOptions { BulkChannel = false, RetryBudget = TimeSpan.FromSeconds(1) });

        // gRPC (h2) against a server that speaks only the bulk channel: the call fails, and no frame arrived.
        Assert.ThrowsAsync(Is.InstanceOf<FederationException>(), () => client.SubmitAsync(new byte[] { 1 }, CancellationToken.None));
        Assert.That(server.Frames, Is.Empty);
        Assert.That(server.Handshakes, Has.None.EqualTo(BulkFrame.AlpnProtocol), "no handshake chose the bulk channel");
    }

    [Test]
    public async Task AnApplianceWithoutTheBulkChannel_GetsTheCallOverGrpc_AndEveryLaterOne()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(false), alpn: "h2");
        RecordingInvoker grpc = Grpc();
        using var invoker = new BulkCallInvoker(grpc, Endpoint(server));

        SubmitReply first = await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync;
        Assert.That(first.Sequence, Is.EqualTo(777UL), "the wrapped invoker answered");
        Assert.That(invoker.BulkUnsupported, Is.True);
        await invoker.AsyncUnaryCall(ReceiveReplyParser.ReceiveMethod(new SumBuffer()), null, Options(), new ReceiveRequest()).ResponseAsync;

        Assert.That(grpc.Calls, Is.EqualTo(new[] { BulkCallInvoker.SubmitMethod, BulkCallInvoker.ReceiveMethod }));
        Assert.That(await WaitFor(() => !server.Handshakes.IsEmpty), Is.True, "the server completed its handshake");
        await Task.Delay(100);
        Assert.That(server.Handshakes, Is.EqualTo(new[] { "h2" }), "one handshake found it out; the later call opened no connection");
        Assert.That(server.Frames, Is.Empty);
        Assert.That(invoker.ConnectionsOpened, Is.Zero);
        Assert.That(await WaitFor(() => server.ClosedByClient.Contains(1)), Is.True, "the h2 connection was closed");
    }

    [Test]
    public async Task OtherMethods_GoOverGrpc_WithoutAConnection()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(false));
        RecordingInvoker grpc = Grpc();
        using var invoker = new BulkCallInvoker(grpc, Endpoint(server));
        var client = new Federation.FederationClient(invoker);

        SessionInfo info = await client.GetSessionAsync(new GetSessionRequest(), Options()).ResponseAsync;

        Assert.That(info.Bank, Is.EqualTo(5u));
        Assert.That(grpc.Calls, Is.EqualTo(new[] { "/fraudfed.v1.Federation/GetSession" }));
        Assert.That(server.Handshakes, Is.Empty);
    }

    [Test]
    public async Task AnAnswerOverTheCap_IsRefusedFromItsHeader_WithoutAllocatingIt_AndTheConnectionIsDropped()
    {
        // The server declares ~2 GiB and sends none of it: a client that allocated or waited for it would not return.
        await using var server = new BulkServer(async (f, ssl) =>
        {
            if (f.Connection == 1)
            {
                byte[] header = new byte[BulkFrame.HeaderBytes];
                BulkFrame.WriteHeader(header, BulkFrame.OkKind, int.MaxValue - 64);
                await ssl.WriteAsync(header);
                await ssl.FlushAsync();
                return true;
            }
            await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = 5 }.ToByteArray());
            return true;
        });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server, maxAnswerBytes: 1 << 20));

        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync)!;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        Assert.That(e.Status.Detail, Does.Contain("exceeds the maximum configured message size").And.Contain("at most 1048576"));
        Assert.That(allocated, Is.LessThan(256L << 20), "nothing of the declared size was allocated");
        Assert.That(await WaitFor(() => server.ClosedByClient.Contains(1)), Is.True, "the connection was closed");
        Assert.That(invoker.IdleConnections, Is.Zero);

        SubmitReply next = await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync;
        Assert.That(next.Sequence, Is.EqualTo(5UL));
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 2 }), "the next call used a new connection");
    }

    [Test]
    public async Task CancellingACallThatWaitsForItsAnswer_ClosesTheConnection_AndIsCancelled()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(true));   // reads, never answers
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));
        using var cancel = new CancellationTokenSource();

        Task<SubmitReply> call = invoker.AsyncUnaryCall(Submit, null, Options(cancel.Token), ASubmit()).ResponseAsync;
        Assert.That(await server.Received.WaitAsync(Patience), Is.True, "the request arrived");
        cancel.Cancel();
        var e = Assert.ThrowsAsync<RpcException>(async () => await call.WaitAsync(Patience))!;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Cancelled));
        Assert.That(await WaitFor(() => server.ClosedByClient.Contains(1)), Is.True, "the connection was closed");
        Assert.That(invoker.IdleConnections, Is.Zero);
    }

    [Test]
    public async Task ACallPastItsDeadline_ClosesTheConnection_AndIsDeadlineExceeded()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(true));   // reads, never answers
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        var e = Assert.ThrowsAsync<RpcException>(async () =>
            await invoker.AsyncUnaryCall(Submit, null, Options(deadline: TimeSpan.FromMilliseconds(700)), ASubmit()).ResponseAsync.WaitAsync(Patience))!;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.DeadlineExceeded));
        Assert.That(server.Frames, Has.Count.EqualTo(1), "the request was sent before the deadline passed");
        Assert.That(await WaitFor(() => server.ClosedByClient.Contains(1)), Is.True, "the connection was closed");
        Assert.That(invoker.IdleConnections, Is.Zero);
    }

    [Test]
    public async Task AServerClosingInTheMiddleOfItsAnswer_IsUnavailable_AndTheNextCallUsesANewConnection()
    {
        await using var server = new BulkServer(async (f, ssl) =>
        {
            if (f.Connection == 1)
            {
                byte[] partial = new byte[BulkFrame.HeaderBytes + 10];
                BulkFrame.WriteHeader(partial, BulkFrame.OkKind, 100);
                await ssl.WriteAsync(partial);
                await ssl.FlushAsync();
                return false;   // closes the connection 90 bytes short
            }
            await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = 8 }.ToByteArray());
            return true;
        });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        var e = Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync)!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(e.Status.Detail, Does.Contain("in the middle of its answer"));
        Assert.That(e.Status.DebugException, Is.InstanceOf<IOException>());
        Assert.That(StatusMapping.TransportReason(e.StatusCode, e.Status.Detail), Is.EqualTo("the connection was closed"));
        Assert.That(invoker.IdleConnections, Is.Zero, "the failed connection is not kept");

        SubmitReply next = await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync;
        Assert.That(next.Sequence, Is.EqualTo(8UL));
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(invoker.ConnectionsOpened, Is.EqualTo(2));
    }

    [Test]
    public async Task AnIdleConnectionTheServerClosedBeforeAnswering_IsSentAgainOnceOnANewConnection()
    {
        // The server answers the first call, then closes the kept connection when the second request arrives, without an
        // answer (an appliance that dropped an idle connection as it was being reused): the call is sent again, once, on a new
        // connection. A connection that fails the same way when new is not retried here (the client's backoff decides).
        int onFirst = 0;
        await using var server = new BulkServer(async (f, ssl) =>
        {
            if (f.Connection == 1 && Interlocked.Increment(ref onFirst) == 2) return false;
            await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = (ulong)f.Connection * 10 }.ToByteArray());
            return true;
        });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync;
        SubmitRequest second = ASubmit();
        SubmitReply reply = await invoker.AsyncUnaryCall(Submit, null, Options(), second).ResponseAsync;

        Assert.That(reply.Sequence, Is.EqualTo(20UL), "answered on the second connection");
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 1, 2 }));
        Assert.That(server.Frames.Skip(1).Select(f => f.Payload), Is.All.EqualTo(second.ToByteArray()), "the same request, sent again");
    }

    [Test]
    public async Task ANewConnectionClosedBeforeAnswering_IsUnavailable_NotSentAgain()
    {
        await using var server = new BulkServer((_, _) => Task.FromResult(false));   // reads the request, closes
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        var e = Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync)!;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(e.Status.Detail, Does.Contain("before answering"));
        Assert.That(server.Frames, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ThroughFederationClient_AServerClosingMidAnswer_IsRetriedOnANewConnection()
    {
        // The first call is answered (so the failure is not taken for a refused certificate, which a connection closed before
        // the appliance ever answered may be: that one is retried once silently), the second one's answer is cut.
        int calls = 0;
        await using var server = new BulkServer(async (f, ssl) =>
        {
            if (Interlocked.Increment(ref calls) == 2)
            {
                byte[] partial = new byte[BulkFrame.HeaderBytes + 3];
                BulkFrame.WriteHeader(partial, BulkFrame.OkKind, 50);
                await ssl.WriteAsync(partial);
                return false;
            }
            await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = (ulong)calls }.ToByteArray());
            return true;
        });
        using LoadedBankConfig config = Config(server.Port);
        var retries = new List<ConnectionRetry>();
        await using FederationClient client = FederationClient.Create(config, new FederationClientOptions
        {
            RetryBudget = TimeSpan.FromSeconds(10), RetryDelay = TimeSpan.FromMilliseconds(20), RetryProgress = new SyncProgress<ConnectionRetry>(retries.Add),
        });

        await client.SubmitAsync(new byte[] { 6 }, CancellationToken.None);
        await client.SubmitAsync(new byte[] { 7, 7 }, CancellationToken.None);

        Assert.That(client.BytesUploaded, Is.EqualTo(3));
        Assert.That(server.Frames.Select(f => f.Connection), Is.EqualTo(new[] { 1, 1, 2 }), "the retry went over a new bulk connection");
        Assert.That(retries, Has.Count.EqualTo(1));
        Assert.That(retries[0].Status, Is.EqualTo(StatusCode.Unavailable));
    }

    [Test]
    public async Task NothingListening_IsUnavailable_ConnectionRefused()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        using var invoker = new BulkCallInvoker(Grpc(), new BulkEndpoint("127.0.0.1", port, _client, TlsFiles.ServerValidator(_server), 1 << 20, 1 << 20));

        var e = Assert.ThrowsAsync<RpcException>(async () => await invoker.AsyncUnaryCall(Submit, null, Options(), ASubmit()).ResponseAsync)!;

        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(StatusMapping.TransportReason(e.StatusCode, e.Status.Detail), Is.EqualTo("connection refused: nothing listens on that port"));
        Assert.That(invoker.BulkUnsupported, Is.False, "a transport failure says nothing about the channel");
    }

    [Test]
    public async Task TwoConcurrentCalls_UseTwoConnections()
    {
        // The server answers only once both requests are in: over one connection the second could not be sent before the
        // first's answer, and the calls would run into their deadline.
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int seen = 0;
        await using var server = new BulkServer(async (f, ssl) =>
        {
            if (Interlocked.Increment(ref seen) == 2) both.TrySetResult();
            await both.Task.WaitAsync(Patience);
            await Answer(ssl, BulkFrame.OkKind, new SubmitReply { Sequence = (ulong)f.Connection }.ToByteArray());
            return true;
        });
        using var invoker = new BulkCallInvoker(Grpc(), Endpoint(server));

        Task<SubmitReply> a = invoker.AsyncUnaryCall(Submit, null, Options(deadline: TimeSpan.FromSeconds(10)), ASubmit()).ResponseAsync;
        Task<SubmitReply> b = invoker.AsyncUnaryCall(Submit, null, Options(deadline: TimeSpan.FromSeconds(10)), ASubmit()).ResponseAsync;
        SubmitReply[] replies = await Task.WhenAll(a, b);

        Assert.That(replies.Select(r => r.Sequence).Order(), Is.EqualTo(new[] { 1UL, 2UL }));
        Assert.That(server.Frames.Select(f => f.Connection).Order(), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(invoker.ConnectionsOpened, Is.EqualTo(2));
        Assert.That(invoker.IdleConnections, Is.EqualTo(2));
    }

    // ---- helpers ----

    /// <summary>A bank configuration for a client of the test server (nothing on disk; no session is started).</summary>
    private static LoadedBankConfig Config(int port, X509Certificate2? ca = null) =>
        new(new BankConfig { Bank = 0, Aggregator = $"https://127.0.0.1:{port}" }, new Uri($"https://127.0.0.1:{port}"),
            X509CertificateLoader.LoadPkcs12(_client.Export(X509ContentType.Pkcs12), null), X509CertificateLoader.LoadCertificate((ca ?? _server).RawData), new byte[32]);

    private static async Task<bool> WaitFor(Func<bool> condition)
    {
        DateTime end = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > end) return false;
            await Task.Delay(10);
        }
        return true;
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
