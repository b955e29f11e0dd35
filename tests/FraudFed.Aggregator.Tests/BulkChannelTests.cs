// The bulk channel (SPEC.md 14.8) against a real appliance on loopback: a client of its own (Socket + SslStream, ALPN
// "fraudfed-bulk/1", a roster bank's certificate) sends frames by hand, so every rule is checked on the wire: the answers
// of Submit and Receive are the gRPC calls' (checked against gRPC on the same appliance), refusals are typed Error frames,
// an oversized or unknown frame closes the connection, a broken one stores nothing, and the port keeps serving gRPC.
using System.Net.Security;
using System.Net.Sockets;
using FraudFed.Aggregator.Hosting;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class BulkChannelTests
{
    private const int Limit = 1 << 20;

    /// <summary>A bulk-channel client: one TLS connection, frames written and read by hand.</summary>
    private sealed class BulkClient : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly SslStream _tls;

        private BulkClient(Socket socket, SslStream tls)
        {
            _socket = socket;
            _tls = tls;
        }

        public SslApplicationProtocol Negotiated => _tls.NegotiatedApplicationProtocol;

        /// <summary>Connects to the kit's appliance with <paramref name="tls"/>'s client certificate and authority, offering only
        /// the bulk channel's ALPN id.</summary>
        public static async Task<BulkClient> ConnectAsync(ApplianceKit kit, LoadedBankConfig tls, CancellationToken ct)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(kit.Address.Host, kit.Address.Port, ct);
            var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
            try
            {
                await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = kit.Address.Host,
                    ClientCertificates = [tls.Certificate],
                    RemoteCertificateValidationCallback = TlsFiles.ServerValidator(tls.Ca),
                    ApplicationProtocols = [new SslApplicationProtocol(BulkFrame.AlpnProtocol)],
                }, ct);
            }
            catch
            {
                await stream.DisposeAsync();
                socket.Dispose();
                throw;
            }
            return new BulkClient(socket, stream);
        }

        public async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
        {
            await _tls.WriteAsync(bytes, ct);
            await _tls.FlushAsync(ct);
        }

        public static byte[] Frame(byte kind, ReadOnlySpan<byte> payload)
        {
            byte[] frame = new byte[BulkFrame.HeaderBytes + payload.Length];
            BulkFrame.WriteHeader(frame, kind, payload.Length);
            payload.CopyTo(frame.AsSpan(BulkFrame.HeaderBytes));
            return frame;
        }

        /// <summary>The next answer frame, or null when the appliance closed the connection first.</summary>
        public async Task<(byte Kind, byte[] Payload)?> ReadFrameAsync(CancellationToken ct)
        {
            byte[] header = new byte[BulkFrame.HeaderBytes];
            if (!await FillAsync(header, ct)) return null;
            (byte kind, uint length) = BulkFrame.ReadHeader(header);
            Assert.That(length, Is.LessThan(64u << 20), "an answer of a sane length");
            byte[] payload = new byte[length];
            Assert.That(await FillAsync(payload, ct), Is.True, "the answer's payload arrived whole");
            return (kind, payload);
        }

        /// <summary>True when the appliance closed the connection (end of stream or a reset) before sending another byte.</summary>
        public async Task<bool> ClosedAsync(CancellationToken ct)
        {
            try { return await _tls.ReadAsync(new byte[1], ct) == 0; }
            catch (IOException) { return true; }
        }

        private async Task<bool> FillAsync(byte[] buffer, CancellationToken ct)
        {
            int at = 0;
            while (at < buffer.Length)
            {
                int n;
                try { n = await _tls.ReadAsync(buffer.AsMemory(at), ct); }
                catch (IOException) { n = 0; }
                if (n == 0)
                {
                    Assert.That(at, Is.Zero, "the connection closed inside a frame");
                    return false;
                }
                at += n;
            }
            return true;
        }

        /// <summary>One call: <paramref name="kind"/> with <paramref name="payload"/>; the reply parsed by <paramref name="parser"/>,
        /// or the Error frame's refusal thrown as the <see cref="RpcException"/> it decodes to.</summary>
        public async Task<T> CallAsync<T>(byte kind, ReadOnlyMemory<byte> payload, MessageParser<T> parser, CancellationToken ct) where T : IMessage<T>
        {
            await WriteAsync(Frame(kind, payload.Span), ct);
            (byte Kind, byte[] Payload)? answer = await ReadFrameAsync(ct);
            Assert.That(answer, Is.Not.Null, "an answer before the connection closed");
            if (answer!.Value.Kind == BulkFrame.ErrorKind) throw BulkFrame.DecodeError(answer.Value.Payload);
            Assert.That(answer.Value.Kind, Is.EqualTo(BulkFrame.OkKind));
            return parser.ParseFrom(answer.Value.Payload);
        }

        public Task<SubmitReply> SubmitAsync(SubmitRequest request, CancellationToken ct) =>
            CallAsync(BulkFrame.SubmitKind, request.ToByteArray(), SubmitReply.Parser, ct);

        public Task<ReceiveReply> ReceiveAsync(ReceiveRequest request, CancellationToken ct) =>
            CallAsync(BulkFrame.ReceiveKind, request.ToByteArray(), ReceiveReply.Parser, ct);

        public async ValueTask DisposeAsync()
        {
            await _tls.DisposeAsync();
            _socket.Dispose();
        }
    }

    private static CancellationToken Bounded(out CancellationTokenSource source)
    {
        source = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return source.Token;
    }

    /// <summary>Bank 0's first real protocol message of a homomorphic session: its answer to the first mailbox item.</summary>
    private static async Task<byte[]> FirstSetupMessageAsync(ApplianceKit kit, RawBank raw, CancellationToken ct)
    {
        LoadedBankConfig own = kit.LoadBank(raw.Bank);
        FederationSettings f = own.Config.Federation;
        using var party = new HomomorphicBankParty(raw.Bank, f.BuildHeRoster(), Ed25519SigningKey.Import(own.ProtocolSeed), new InMemoryDecryptionLedger());
        MailboxItem first = await raw.NextAsync(ct);
        IReadOnlyList<byte[]> replies = party.Receive(first.Message.Span);
        Assert.That(replies, Is.Not.Empty, "the bank answers its first setup item");
        return replies[0];
    }

    /// <summary>The appliance's metrics count exactly <paramref name="count"/> rejects with <paramref name="reason"/> (scraped once
    /// they settle).</summary>
    private static async Task AssertRejectedAsync(ApplianceKit kit, string reason, int count = 1)
    {
        using var http = new HttpClient();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        string scrape = await ApplianceOutageTests.SettledScrapeAsync(http, ops, s => ApplianceOutageTests.Rejects(s, reason) >= count);
        Assert.That(ApplianceOutageTests.Rejects(scrape, reason), Is.EqualTo(count), scrape);
    }

    [Test]
    public async Task Submit_OverTheBulkChannel_IsStoredOnce_AndASecondSendIsAResend_AsOverGrpc()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: 3, maxMessageBytes: 16 << 20);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            RawBank raw = kit.Raw(0);
            byte[] message = await FirstSetupMessageAsync(kit, raw, ct);
            // Events carrying bank 0's messages (the first setup message also commits the setup clock's step, of no bank).
            int events = kit.Host!.Coordinator.EventCountOf(0);
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            Assert.That(bulk.Negotiated.ToString(), Is.EqualTo(BulkFrame.AlpnProtocol), "the handshake selected the bulk channel");

            SubmitReply first = await bulk.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(message) }, ct);
            Assert.That(first.Resend, Is.False);
            Assert.That(first.Sequence, Is.GreaterThan(0UL));
            Assert.That(kit.Host.Coordinator.EventCountOf(0), Is.EqualTo(events + 1), "the message is stored");

            // The same bytes again, on the same connection: the same sequence, a resend, nothing new stored.
            SubmitReply again = await bulk.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(message) }, ct);
            Assert.That((again.Sequence, again.Resend), Is.EqualTo((first.Sequence, true)));
            Assert.That(kit.Host.Coordinator.EventCountOf(0), Is.EqualTo(events + 1), "a resend stores nothing");
            // gRPC sees the bulk channel's message as its own: a resend there too.
            SubmitReply grpc = await raw.SubmitAsync(message);
            Assert.That((grpc.Sequence, grpc.Resend), Is.EqualTo((first.Sequence, true)));

            // Delivery with the answer works the same way: deliver_after makes the reply carry the committed items.
            ReceiveReply mailbox = await raw.Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = 0 }, cancellationToken: ct);
            SubmitReply delivered = await bulk.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(message), DeliverAfter = 0 }, ct);
            Assert.That(delivered.Items.Select(i => i.Sequence), Is.EqualTo(mailbox.Items.Select(i => i.Sequence)));

            // A connection that made calls is served: no tls_handshake reject (counted when the connection completes).
            await bulk.DisposeAsync();
            using var http = new HttpClient();
            Uri ops = kit.Host.Addresses.First(a => a.Scheme == "http");
            await Task.Delay(500, ct);
            string scrape = await ApplianceOutageTests.SettledScrapeAsync(http, ops, _ => true);
            Assert.That(ApplianceOutageTests.Rejects(scrape, AggregatorMetrics.TlsHandshakeReason), Is.Zero, scrape);
        }
    }

    [Test]
    public async Task Receive_OverTheBulkChannel_ReturnsTheItemsGrpcReturns_ByteForByte()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            RawBank raw = kit.Raw(1);
            await raw.NextAsync(ct);   // the session's first items are committed
            var request = new ReceiveRequest { AfterSequence = 0, MaxItems = 10 };
            ReceiveReply grpc = await raw.Grpc.ReceiveAsync(request, cancellationToken: ct);
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(1), ct);
            ReceiveReply overBulk = await bulk.ReceiveAsync(request, ct);
            Assert.That(grpc.Items, Is.Not.Empty);
            Assert.That(overBulk.ToByteArray(), Is.EqualTo(grpc.ToByteArray()), "the same reply, byte for byte");
            // After the last item, with a short wait: nothing, as over gRPC.
            ReceiveReply none = await bulk.ReceiveAsync(new ReceiveRequest { AfterSequence = grpc.Items[^1].Sequence, WaitMilliseconds = 200 }, ct);
            Assert.That(none.Items, Is.Empty);
            // Each bank reads its own mailbox: bank 2's certificate gets bank 2's items, which gRPC gives bank 2.
            await using BulkClient other = await BulkClient.ConnectAsync(kit, kit.LoadBank(2), ct);
            ReceiveReply theirs = await other.ReceiveAsync(request, ct);
            ReceiveReply theirsGrpc = await kit.Raw(2).Grpc.ReceiveAsync(request, cancellationToken: ct);
            Assert.That(theirs.ToByteArray(), Is.EqualTo(theirsGrpc.ToByteArray()));
        }
    }

    [Test]
    public async Task AConnectionWithACertificateOutsideTheRoster_IsRefusedAtTheHandshake()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await using ApplianceKit other = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            // Another kit's bank certificate (not pinned here), trusting this appliance's authority.
            using var stranger = new LoadedBankConfig(kit.LoadBank(0).Config, kit.Address, other.LoadBank(0).Certificate, kit.LoadBank(0).Ca, new byte[32]);
            bool refused;
            try
            {
                await using BulkClient bulk = await BulkClient.ConnectAsync(kit, stranger, ct);
                // TLS 1.3: the client's side of the handshake completes; the appliance then closes without answering anything.
                await bulk.WriteAsync(BulkClient.Frame(BulkFrame.ReceiveKind, new ReceiveRequest().ToByteArray()), ct);
                refused = await bulk.ClosedAsync(ct);
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException) { refused = true; }
            Assert.That(refused, Is.True, "the appliance refused the connection, and answered no call");
            await AssertRejectedAsync(kit, AggregatorMetrics.CertificateReason);
        }
    }

    [Test]
    public async Task AnOversizedLengthHeader_IsRefusedWithoutItsPayload_TheConnectionCloses_AndGrpcStillServes()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3, maxMessageBytes: Limit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            int events = kit.Host!.Coordinator.EventCount;
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(1), ct);
            // One byte over the gRPC receive limit, and only the header sent: an appliance that waited for the payload would
            // never answer.
            byte[] header = new byte[BulkFrame.HeaderBytes];
            BulkFrame.WriteHeader(header, BulkFrame.SubmitKind, Limit + 1024 + 1);
            await bulk.WriteAsync(header, ct);
            (byte Kind, byte[] Payload)? answer = await bulk.ReadFrameAsync(ct);
            Assert.That(answer?.Kind, Is.EqualTo(BulkFrame.ErrorKind));
            RpcException refusal = BulkFrame.DecodeError(answer!.Value.Payload);
            Assert.That(refusal.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted), refusal.Status.Detail);
            Assert.That(refusal.Trailers.Get(StatusMapping.ReasonTrailer), Is.Null, "the transport's refusal has no violation trailer (SPEC.md 14.5)");
            Assert.That(await bulk.ClosedAsync(ct), Is.True, "the appliance closed the connection");
            Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "nothing stored");

            SessionInfo info = await kit.Raw(1).Grpc.GetSessionAsync(new GetSessionRequest(), cancellationToken: ct);
            Assert.That(info.Bank, Is.EqualTo(1u), "gRPC on the same port still answers");
            await AssertRejectedAsync(kit, AggregatorMetrics.TransportOversizedReason);
        }
    }

    [Test]
    public async Task AMessageAtTheCap_IsOversized_AsOverGrpc_AndTheConnectionServesTheNextCall()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3, maxMessageBytes: Limit);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(1), ct);
            // Within the frame cap, above max_message_bytes: the service's own Oversized refusal, with its trailer.
            var request = new SubmitRequest { Message = ByteString.CopyFrom(new byte[Limit + 1]) };
            RpcException overBulk = Assert.ThrowsAsync<RpcException>(() => bulk.SubmitAsync(request, ct))!;
            RpcException overGrpc = Assert.ThrowsAsync<RpcException>(async () => await kit.Raw(1).Grpc.SubmitAsync(request, cancellationToken: ct))!;
            Assert.That((overBulk.StatusCode, overBulk.Status.Detail), Is.EqualTo((overGrpc.StatusCode, overGrpc.Status.Detail)));
            Assert.That(overBulk.Trailers.GetValue(StatusMapping.ReasonTrailer), Is.EqualTo("Oversized"));
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty);
        }
    }

    [Test]
    public async Task AMultiMegabyteSubmit_IsReadWhole_AndAnsweredAsOverGrpc()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3, maxMessageBytes: 8 << 20);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            // 6 MB that are not a masking message: read whole (far beyond a socket's and a pipe segment's size), parsed, and
            // refused by the coordinator exactly as the same request over gRPC; twice on one connection.
            byte[] bytes = new byte[6 << 20];
            new Random(7).NextBytes(bytes);
            var request = new SubmitRequest { Message = ByteString.CopyFrom(bytes) };
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(2), ct);
            RpcException overGrpc = Assert.ThrowsAsync<RpcException>(async () => await kit.Raw(2).Grpc.SubmitAsync(request, cancellationToken: ct))!;
            for (int i = 0; i < 2; i++)
            {
                RpcException overBulk = Assert.ThrowsAsync<RpcException>(() => bulk.SubmitAsync(request, ct))!;
                Assert.That((overBulk.StatusCode, overBulk.Status.Detail), Is.EqualTo((overGrpc.StatusCode, overGrpc.Status.Detail)));
                Assert.That(overBulk.Trailers.GetValue(StatusMapping.ReasonTrailer), Is.EqualTo(overGrpc.Trailers.GetValue(StatusMapping.ReasonTrailer)));
            }
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty);
        }
    }

    [Test]
    public async Task AMalformedPayload_IsInvalidArgumentMalformed_AsOverGrpc_AndTheConnectionServesTheNextCall()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            int events = kit.Host!.Coordinator.EventCount;
            byte[] truncated = [0x0A, 0x05, 0x01];   // field 1 says 5 bytes, 1 follows
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(1), ct);
            foreach (byte kind in new[] { BulkFrame.SubmitKind, BulkFrame.ReceiveKind })
            {
                RpcException refusal = Assert.ThrowsAsync<RpcException>(() => bulk.CallAsync(kind, truncated, SubmitReply.Parser, ct))!;
                Assert.That(refusal.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), refusal.Status.Detail);
                Assert.That(refusal.Trailers.GetValue(StatusMapping.ReasonTrailer), Is.EqualTo("Malformed"));
            }
            Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "nothing stored");
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty, "the same connection serves the next call");
            await AssertRejectedAsync(kit, "Malformed", count: 2);   // counted as the operator's metrics count refusals

            // The same bytes as a gRPC Submit: the same refusal.
            var raw = new Method<byte[], byte[]>(MethodType.Unary, "fraudfed.v1.Federation", "Submit", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
            RpcException grpc = Assert.ThrowsAsync<RpcException>(async () =>
                await kit.Raw(1).Channel.CreateCallInvoker().AsyncUnaryCall(raw, null, new CallOptions(cancellationToken: ct), truncated))!;
            Assert.That((grpc.StatusCode, grpc.Trailers.GetValue(StatusMapping.ReasonTrailer)), Is.EqualTo((StatusCode.InvalidArgument, "Malformed")), grpc.Status.Detail);
        }
    }

    [Test]
    public async Task AnUnknownFrameKind_GetsAnError_AndTheConnectionIsClosed()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            await bulk.WriteAsync(BulkClient.Frame(0x07, []), ct);
            (byte Kind, byte[] Payload)? answer = await bulk.ReadFrameAsync(ct);
            Assert.That(answer?.Kind, Is.EqualTo(BulkFrame.ErrorKind));
            RpcException refusal = BulkFrame.DecodeError(answer!.Value.Payload);
            Assert.That((refusal.StatusCode, refusal.Trailers.GetValue(StatusMapping.ReasonTrailer)), Is.EqualTo((StatusCode.InvalidArgument, "Malformed")));
            Assert.That(await bulk.ClosedAsync(ct), Is.True, "the appliance closed the connection");
            // An answer kind sent as a request is unknown too.
            await using BulkClient again = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            await again.WriteAsync(BulkClient.Frame(BulkFrame.OkKind, [1, 2, 3]), ct);
            Assert.That((await again.ReadFrameAsync(ct))?.Kind, Is.EqualTo(BulkFrame.ErrorKind));
            Assert.That(await again.ClosedAsync(ct), Is.True);
        }
    }

    [Test]
    public async Task AConnectionDroppedMidPayload_StoresNothing_AndTheApplianceKeepsServing()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: 3, maxMessageBytes: 16 << 20);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            RawBank raw = kit.Raw(0);
            byte[] message = await FirstSetupMessageAsync(kit, raw, ct);
            int events = kit.Host!.Coordinator.EventCount, own = kit.Host.Coordinator.EventCountOf(0);
            byte[] frame = BulkClient.Frame(BulkFrame.SubmitKind, new SubmitRequest { Message = ByteString.CopyFrom(message) }.ToByteArray());
            await using (BulkClient dropped = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct))
                await dropped.WriteAsync(frame.AsMemory(0, frame.Length - 1), ct);   // all but the last byte, then gone
            await Task.Delay(300, ct);
            Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "a frame cut short stores nothing");

            // The whole message on a new connection: new to the appliance (not a resend), stored once.
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            SubmitReply reply = await bulk.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(message) }, ct);
            Assert.That(reply.Resend, Is.False);
            Assert.That(kit.Host.Coordinator.EventCountOf(0), Is.EqualTo(own + 1));
        }
    }

    [Test]
    public async Task AConnectionStalledMidFrame_OrIdleBetweenCalls_IsClosedAfterItsTimeout_AndStoresNothing()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        kit.BulkTimeouts = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6));
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            int events = kit.Host!.Coordinator.EventCount;
            // A header and part of its payload, then silence: closed after the frame timeout (1 s), long before the idle one.
            await using BulkClient stalled = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            byte[] frame = BulkClient.Frame(BulkFrame.SubmitKind, new SubmitRequest { Message = ByteString.CopyFrom(new byte[1000]) }.ToByteArray());
            await stalled.WriteAsync(frame.AsMemory(0, 500), ct);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Assert.That(await stalled.ClosedAsync(ct), Is.True, "closed without an answer");
            Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(0.8)).And.LessThan(TimeSpan.FromSeconds(5)), "by the frame timeout, not the idle one");
            Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "nothing stored");

            // Two bytes of a header, then silence: the frame timeout too.
            await using BulkClient cut = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            await cut.WriteAsync(frame.AsMemory(0, 2), ct);
            clock.Restart();
            Assert.That(await cut.ClosedAsync(ct), Is.True, "closed without an answer");
            Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(0.8)).And.LessThan(TimeSpan.FromSeconds(5)), "by the frame timeout, not the idle one");

            // A call, then silence: the connection is open until the idle timeout (6 s), then closed.
            await using BulkClient idle = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            Assert.That((await idle.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty);
            clock.Restart();
            Assert.That(await idle.ClosedAsync(ct), Is.True);
            Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(5)).And.LessThan(TimeSpan.FromSeconds(30)), "by the idle timeout");
        }
    }

    [Test]
    public async Task TheRateLimit_CountsBulkCalls_AsGrpcCalls_AndItsRefusalKeepsTheConnection()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        kit.EditConfig(c => c with { RequestsPerSecond = 2 });
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(1), ct);
            var request = new SubmitRequest { Message = ByteString.CopyFrom([1, 2, 3, 4]) };
            // The bank's bucket holds 2 calls a second. Spent over bulk, the next call is refused over bulk, with the gRPC
            // call's status and no trailer, and over gRPC too: one bucket per bank, whatever the channel. (Tried up to three
            // times: a refill can fall between the calls.)
            RpcException? overBulk = null, overGrpc = null;
            for (int attempt = 0; attempt < 3 && overGrpc is null; attempt++)
            {
                await Task.Delay(1100, ct);
                overBulk = null;
                for (int i = 0; i < 3 && overBulk is null; i++)
                {
                    try { await bulk.SubmitAsync(request, ct); }
                    catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted) { overBulk = e; }
                    catch (RpcException) { }   // the coordinator's refusal of the bytes: the call counted
                }
                try { await kit.Raw(1).Grpc.SubmitAsync(request, cancellationToken: ct); }
                catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted) { overGrpc = e; }
                catch (RpcException) { }
            }
            Assert.That(overBulk, Is.Not.Null, "the third call in a second over bulk is refused");
            Assert.That(overBulk!.Trailers.Get(StatusMapping.ReasonTrailer), Is.Null);
            Assert.That(overGrpc, Is.Not.Null, "the bulk calls spent the bucket gRPC calls take from");
            await Task.Delay(1200, ct);
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty, "the connection still serves");
        }
    }

    [Test]
    public async Task StoppingTheAppliance_ClosesAnIdleBulkConnection_AtOnce()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct);
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty);
            // The host's graceful stop waits for open connections up to its shutdown timeout (30 s by default); a bulk
            // connection between calls does not hold it.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await kit.StopAsync();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "the stop did not wait for the idle connection");
            Assert.That(await bulk.ClosedAsync(ct), Is.True, "the connection was closed");
        }
    }

    [Test]
    public async Task AClientThatLeavesDuringALongPoll_EndsTheCall()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using (BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(0), ct))
            {
                await bulk.WriteAsync(BulkClient.Frame(BulkFrame.ReceiveKind, new ReceiveRequest { WaitMilliseconds = 30_000 }.ToByteArray()), ct);
                await Task.Delay(300, ct);
            }
            // The call was cancelled with its connection: the stop does not wait for a 30 s long poll (nor for the host's 30 s
            // shutdown timeout).
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await kit.StopAsync();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)));
        }
    }

    [Test]
    public async Task ARefusalOfTheService_TravelsWithItsTrailers_AndTheConnectionStaysOpen()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        CancellationToken ct = Bounded(out CancellationTokenSource cts);
        using (cts)
        {
            await using BulkClient bulk = await BulkClient.ConnectAsync(kit, kit.LoadBank(2), ct);
            // Bytes that are not a masking bank message: the coordinator's Malformed refusal, as over gRPC.
            var request = new SubmitRequest { Message = ByteString.CopyFrom([1, 2, 3, 4]) };
            RpcException overBulk = Assert.ThrowsAsync<RpcException>(() => bulk.SubmitAsync(request, ct))!;
            RpcException overGrpc = Assert.ThrowsAsync<RpcException>(async () => await kit.Raw(2).Grpc.SubmitAsync(request, cancellationToken: ct))!;
            Assert.That(overBulk.StatusCode, Is.EqualTo(overGrpc.StatusCode));
            Assert.That(overBulk.Status.Detail, Is.EqualTo(overGrpc.Status.Detail));
            Assert.That(overBulk.Trailers.GetValue(StatusMapping.ReasonTrailer), Is.EqualTo(overGrpc.Trailers.GetValue(StatusMapping.ReasonTrailer)));
            Assert.That(overBulk.Trailers.GetValue(StatusMapping.ReasonTrailer), Is.Not.Null);
            Assert.That((await bulk.ReceiveAsync(new ReceiveRequest(), ct)).Items, Is.Empty, "the connection serves the next call");
        }
    }
}

/// <summary>The bulk channel's error payload and header codec (SPEC.md 14.8).</summary>
[TestFixture]
public sealed class BulkFrameCodecTests
{
    private static Metadata Trailers() => new()
    {
        { StatusMapping.ReasonTrailer, "Malformed" },
        { "fraudfed-round-length", "1000000" },
        { "x-note", "é ✓" },
    };

    [Test]
    public void AnErrorPayload_RoundTrips_WithItsStatusDetailAndTrailers()
    {
        byte[] payload = BulkFrame.EncodeError(StatusCode.FailedPrecondition, "the session has ended (aborted: ✓)", Trailers());
        RpcException back = BulkFrame.DecodeError(payload);
        Assert.That(back.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(back.Status.Detail, Is.EqualTo("the session has ended (aborted: ✓)"));
        Assert.That(back.Trailers.Select(e => (e.Key, e.Value)), Is.EqualTo(Trailers().Select(e => (e.Key, e.Value))));
        RpcException none = BulkFrame.DecodeError(BulkFrame.EncodeError(StatusCode.Internal, "", null));
        Assert.That((none.StatusCode, none.Status.Detail, none.Trailers.Count), Is.EqualTo((StatusCode.Internal, "", 0)));
    }

    [Test]
    public void EncodeError_RefusesWhatDecodeErrorRefuses_AStatusThatIsNoRefusal()
    {
        // OK (0) and codes past 16 are no refusal: the decoder would refuse such a payload, so the encoder never makes one.
        Assert.That(() => BulkFrame.EncodeError(StatusCode.OK, "fine", null), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => BulkFrame.EncodeError((StatusCode)17, "?", null), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(BulkFrame.DecodeError(BulkFrame.EncodeError(StatusCode.Unauthenticated, "x", null)).StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
    }

    [Test]
    public void EveryTruncation_AndAnyTrailingByte_IsInvalidData()
    {
        byte[] payload = BulkFrame.EncodeError(StatusCode.InvalidArgument, "a detail", Trailers());
        for (int n = 0; n < payload.Length; n++)
            Assert.That(() => BulkFrame.DecodeError(payload.AsSpan(0, n)), Throws.InstanceOf<InvalidDataException>(), $"{n} of {payload.Length} bytes");
        foreach (byte extra in new byte[] { 0, 1, 0xFF })
            Assert.That(() => BulkFrame.DecodeError([.. payload, extra]), Throws.InstanceOf<InvalidDataException>(), $"trailing 0x{extra:x2}");
    }

    [Test]
    public void TheLimits_AreEnforced_OnBothSides()
    {
        // A long detail is cut at a character boundary, within MaxDetailBytes.
        string longDetail = new string('a', BulkFrame.MaxDetailBytes - 1) + "✓✓";
        string cut = BulkFrame.DecodeError(BulkFrame.EncodeError(StatusCode.Internal, longDetail, null)).Status.Detail;
        Assert.That(cut, Is.EqualTo(new string('a', BulkFrame.MaxDetailBytes - 1)));
        // Too many trailers, a binary trailer: refused when encoding.
        var many = new Metadata();
        for (int i = 0; i <= BulkFrame.MaxTrailers; i++) many.Add($"k{i}", "v");
        Assert.That(() => BulkFrame.EncodeError(StatusCode.Internal, "", many), Throws.ArgumentException);
        Assert.That(() => BulkFrame.EncodeError(StatusCode.Internal, "", new Metadata { { "k-bin", new byte[] { 1 } } }), Throws.ArgumentException);
        // Decoding: a status outside 1..16, too many trailers, an upper-case or binary key, a payload over MaxErrorBytes.
        byte[] ok = BulkFrame.EncodeError(StatusCode.Internal, "", new Metadata { { "key", "v" } });
        byte[] status0 = [.. ok];
        status0[0] = 0;
        Assert.That(() => BulkFrame.DecodeError(status0), Throws.InstanceOf<InvalidDataException>());
        byte[] status17 = [.. ok];
        status17[0] = 17;
        Assert.That(() => BulkFrame.DecodeError(status17), Throws.InstanceOf<InvalidDataException>());
        byte[] countOver = [.. ok];
        countOver[6] = BulkFrame.MaxTrailers + 1;
        Assert.That(() => BulkFrame.DecodeError(countOver), Throws.InstanceOf<InvalidDataException>());
        byte[] upper = [.. ok];
        upper[8] = (byte)'K';
        Assert.That(() => BulkFrame.DecodeError(upper), Throws.InstanceOf<InvalidDataException>());
        Assert.That(() => BulkFrame.DecodeError(new byte[BulkFrame.MaxErrorBytes + 1]), Throws.InstanceOf<InvalidDataException>());
        // The header: kind and a little-endian u32 length, up to 2^32 - 1 (the reader caps it, not the codec).
        byte[] header = new byte[BulkFrame.HeaderBytes];
        BulkFrame.WriteHeader(header, BulkFrame.SubmitKind, 0x01020304);
        Assert.That(header, Is.EqualTo(new byte[] { 0x01, 0x04, 0x03, 0x02, 0x01 }));
        Assert.That(BulkFrame.ReadHeader([0x81, 0xFF, 0xFF, 0xFF, 0xFF]), Is.EqualTo(((byte)0x81, uint.MaxValue)));
        Assert.That(() => BulkFrame.ReadHeader(new byte[4]), Throws.ArgumentException);
        Assert.That(() => BulkFrame.WriteHeader(new byte[4], 1, 0), Throws.ArgumentException);
    }
}
