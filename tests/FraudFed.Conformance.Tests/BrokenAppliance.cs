// Test double: a deliberately broken appliance. It is a mutual-TLS gRPC front for a real appliance (the same server
// certificate and the same roster pins), forwarding every call as the calling bank, except for one broken rule: it
// skips the replay check (bytes already accepted from another bank are answered OK without reaching the appliance), or
// it accepts a message the appliance refused for one reason (a bad signature, malformed, oversized, wrong round or session,
// a body naming another sender), or counts resends again, or serves unpinned certificates, or fails a round without
// every bank, or ends a request window of too few banks with a RoundAbort instead of naming it, or answers INTERNAL to a
// one-bit corruption of an accepted message, or delivers the wrong mailbox items with an answer (deliver_after lowered by
// one, or ignored). The live runner must fail exactly the matching check.
using System.Collections.Concurrent;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using FraudFed.Aggregator.Hosting;
using FraudFed.Conformance.Live;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FraudFed.Conformance.Tests;

/// <summary>Which rule the double breaks.</summary>
public enum Breakage
{
    /// <summary>Bytes the appliance accepted from one bank are answered OK when another bank sends them (never forwarded).</summary>
    SkipsReplayCheck,
    /// <summary>A message the appliance refused as AuthenticationFailed is answered OK.</summary>
    AcceptsBadSignatures,
    /// <summary>A message the appliance refused as Malformed is answered OK.</summary>
    AcceptsMalformed,
    /// <summary>A message the appliance refused as Oversized (its own size check) is answered OK.</summary>
    AcceptsOversized,
    /// <summary>A message the appliance refused as WrongRoundOrState whose wrapper carries the session's id (a wrong round)
    /// is answered OK.</summary>
    AcceptsWrongRound,
    /// <summary>A message the appliance refused as WrongRoundOrState whose wrapper carries another session id is answered OK.</summary>
    AcceptsWrongSession,
    /// <summary>A resend of accepted bytes is answered as a fresh acceptance (resend=false, a new sequence).</summary>
    CountsResendsAgain,
    /// <summary>A fresh message the appliance refused as UnknownSender (its signed body names another bank) is answered OK;
    /// bytes already accepted from another bank still reach the appliance (the replay rule is kept).</summary>
    AcceptsOtherSenders,
    /// <summary>A client certificate the roster does not pin passes the handshake and is served as bank 0.</summary>
    ServesUnpinnedCertificates,
    /// <summary>A round that opened without every roster bank never delivers its sum: each bank's <c>sum_result</c> with fewer
    /// contributors than the roster is replaced by an (unsigned) RoundAbort, TooFewParticipants, for that round.</summary>
    FailsRoundsWithoutEveryBank,
    /// <summary>A request window that ended without a round is not named: each bank's <c>round_refused</c> item is replaced by an
    /// (unsigned) RoundAbort, TooFewParticipants, of that round, which is what banks saw when such a window's round opened and
    /// ran its stages to their deadlines.</summary>
    EndsRefusedWindowsWithARoundAbort,
    /// <summary>A message the appliance refused with a typed reason is answered INTERNAL when it is a one-bit corruption of a
    /// message the appliance accepted earlier (an unhandled fault on corrupted input). The malformed, signature, round and
    /// session checks send nothing of that form: their variants are of a message not yet sent, or made of fresh bytes.</summary>
    AnswersInternalToCorruptedMessages,
    /// <summary>A RoundRequest or Submit that sets deliver_after is forwarded with deliver_after one lower, so its answer also
    /// carries the item at deliver_after, which the caller already read.</summary>
    DeliversAnItemAlreadyRead,
    /// <summary>A RoundRequest or Submit that sets deliver_after is forwarded without it, so its answer carries no items.</summary>
    IgnoresDeliverAfter,
    /// <summary>A Submit that sets wait_milliseconds is forwarded without it, so it is answered at once even when no item is
    /// ready.</summary>
    IgnoresSubmitWait,
}

internal sealed class BrokenAppliance : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Forwarder _forwarder;

    private BrokenAppliance(WebApplication app, Forwarder forwarder)
    {
        _app = app;
        _forwarder = forwarder;
    }

    /// <summary>The front's https address.</summary>
    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Starts a front for the appliance at <paramref name="real"/> whose development kit is <paramref name="kit"/>.</summary>
    public static async Task<BrokenAppliance> StartAsync(Uri real, string kit, Breakage breakage)
    {
        LoadedAggregatorConfig config = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        var forwarder = new Forwarder(config, breakage);
        for (int i = 0; i < config.Pins.Count; i++)
        {
            LoadedBankConfig bank = BankConfig.Load(Path.Combine(kit, "banks", $"bank-{i}", "bank.json"));
            forwarder.Add(bank, LiveChannel(real, bank));
        }
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = config.ServerCertificate,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (certificate, _, _) => breakage == Breakage.ServesUnpinnedCertificates || config.BankOf(certificate) >= 0,
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                });
            });
        });
        builder.Services.AddSingleton(forwarder);
        builder.Services.AddGrpc(o => { o.MaxReceiveMessageSize = 16 << 20; o.MaxSendMessageSize = null; });
        WebApplication app = builder.Build();
        app.MapGrpcService<BrokenService>();
        await app.StartAsync();
        return new BrokenAppliance(app, forwarder);
    }

    private static GrpcChannel LiveChannel(Uri real, LoadedBankConfig bank) => GrpcChannel.ForAddress(real, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                ClientCertificates = [bank.Certificate],
                RemoteCertificateValidationCallback = TlsFiles.ServerValidator(bank.Ca),
            },
        },
        DisposeHttpClient = true,
        MaxSendMessageSize = null,
        MaxReceiveMessageSize = null,
    });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _forwarder.Dispose();
    }

    /// <summary>The per-bank clients of the real appliance and the broken rule's memory.</summary>
    internal sealed class Forwarder(LoadedAggregatorConfig config, Breakage breakage) : IDisposable
    {
        private readonly List<(LoadedBankConfig Config, GrpcChannel Channel, Federation.FederationClient Client)> _banks = [];
        private readonly ConcurrentDictionary<string, int> _acceptedFrom = new();
        private readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> _acceptedBytes = new();
        private long _fakeSequence = 1_000_000;

        public Breakage Breakage => breakage;

        public void Add(LoadedBankConfig bank, GrpcChannel channel) => _banks.Add((bank, channel, new Federation.FederationClient(channel)));

        public (int Bank, Federation.FederationClient Client) Caller(ServerCallContext context)
        {
            int bank = config.BankOf(context.GetHttpContext().Connection.ClientCertificate);
            if (bank < 0 && breakage == Breakage.ServesUnpinnedCertificates) bank = 0;
            if (bank < 0) throw new RpcException(new Status(StatusCode.PermissionDenied, "not pinned"));
            return (bank, _banks[bank].Client);
        }

        public bool IsReplayFromAnotherBank(byte[] digest, int bank) => _acceptedFrom.TryGetValue(Convert.ToHexString(digest), out int from) && from != bank;

        public void Accepted(byte[] digest, int bank, byte[] message)
        {
            _acceptedFrom.TryAdd(Convert.ToHexString(digest), bank);
            if (breakage == Breakage.AnswersInternalToCorruptedMessages) _acceptedBytes.GetOrAdd(message.Length, _ => []).Add(message);
        }

        /// <summary>True when <paramref name="message"/> differs in exactly one bit from a message the appliance accepted.</summary>
        public bool IsOneBitCorruption(byte[] message)
        {
            if (!_acceptedBytes.TryGetValue(message.Length, out ConcurrentBag<byte[]>? same)) return false;
            foreach (byte[] accepted in same)
            {
                int bits = 0;
                for (int i = 0; i < message.Length && bits <= 1; i++) bits += System.Numerics.BitOperations.PopCount((uint)(message[i] ^ accepted[i]));
                if (bits == 1) return true;
            }
            return false;
        }

        /// <summary>Replaces every <c>sum_result</c> whose contributors are fewer than the roster by a RoundAbort of that round.</summary>
        public Task<ReceiveReply> WithoutPartialSumsAsync(Federation.FederationClient client, ReceiveReply reply) =>
            AbortingAsync(client, reply, i => i.ItemCase == MailboxItem.ItemOneofCase.SumResult && i.SumResult.Contributors.Count < config.Pins.Count ? i.SumResult.Round : null,
                "a bank did not join the round");

        /// <summary>Replaces every <c>round_refused</c> item by a RoundAbort of its round.</summary>
        public Task<ReceiveReply> WithoutRefusalsAsync(Federation.FederationClient client, ReceiveReply reply) =>
            AbortingAsync(client, reply, i => i.ItemCase == MailboxItem.ItemOneofCase.RoundRefused ? i.RoundRefused.Round : null, "too few banks contributed");

        /// <summary>Replaces each item for which <paramref name="round"/> names a round by an unsigned masking RoundAbort of that
        /// round, TooFewParticipants, with <paramref name="text"/>.</summary>
        private static async Task<ReceiveReply> AbortingAsync(Federation.FederationClient client, ReceiveReply reply, Func<MailboxItem, ulong?> round, string text)
        {
            if (!reply.Items.Any(i => round(i) is not null)) return reply;
            SessionInfo info = await client.GetSessionAsync(new GetSessionRequest());
            var changed = new ReceiveReply();
            foreach (MailboxItem item in reply.Items)
            {
                if (round(item) is not { } r)
                {
                    changed.Items.Add(item);
                    continue;
                }
                var abort = new FraudFed.Protocol.Masking.RoundAbort(info.SessionId.ToByteArray(), (uint)r, FraudFed.Cryptography.ViolationReason.TooFewParticipants, text);
                changed.Items.Add(new MailboxItem { Sequence = item.Sequence, Message = Google.Protobuf.ByteString.CopyFrom(FraudFed.Protocol.Masking.MaskingWire.Encode(abort)) });
            }
            return changed;
        }

        /// <summary>True when the wrapper's session id (a masking wrapper, as the checks that use it run in masking mode) is
        /// not the session the appliance reports.</summary>
        public async Task<bool> IsOtherSessionAsync(Federation.FederationClient client, Google.Protobuf.ByteString message)
        {
            SessionInfo info = await client.GetSessionAsync(new GetSessionRequest());
            var wrapper = FraudFed.Protocol.Wire.V1.MaskingBankMessage.Parser.ParseFrom(message);
            return !wrapper.SessionId.Equals(info.SessionId);
        }

        public SubmitReply Fake() => new() { Sequence = (ulong)Interlocked.Increment(ref _fakeSequence) };

        public void Dispose()
        {
            foreach (var b in _banks) { b.Channel.Dispose(); b.Config.Dispose(); }
            config.Dispose();
        }
    }

    /// <summary>Forwards every call as the calling bank; <see cref="Submit"/> carries the broken rule.</summary>
    private sealed class BrokenService(Forwarder forwarder) : Federation.FederationBase
    {
        public override async Task<SessionInfo> GetSession(GetSessionRequest request, ServerCallContext context) =>
            await Forward(() => forwarder.Caller(context).Client.GetSessionAsync(request, deadline: context.Deadline, cancellationToken: context.CancellationToken).ResponseAsync);

        public override async Task<RoundRequestReply> RequestRound(RoundRequest request, ServerCallContext context)
        {
            RoundRequest forwarded = request.Clone();
            if (request.HasDeliverAfter && forwarder.Breakage == Breakage.IgnoresDeliverAfter) forwarded.ClearDeliverAfter();
            if (request is { HasDeliverAfter: true, DeliverAfter: > 0 } && forwarder.Breakage == Breakage.DeliversAnItemAlreadyRead) forwarded.DeliverAfter--;
            return await Forward(() => forwarder.Caller(context).Client.RequestRoundAsync(forwarded, deadline: context.Deadline, cancellationToken: context.CancellationToken).ResponseAsync);
        }

        public override async Task<ReceiveReply> Receive(ReceiveRequest request, ServerCallContext context)
        {
            var client = forwarder.Caller(context).Client;
            ReceiveReply reply = await Forward(() => client.ReceiveAsync(request, deadline: context.Deadline, cancellationToken: context.CancellationToken).ResponseAsync);
            return forwarder.Breakage switch
            {
                Breakage.FailsRoundsWithoutEveryBank => await Forward(() => forwarder.WithoutPartialSumsAsync(client, reply)),
                Breakage.EndsRefusedWindowsWithARoundAbort => await Forward(() => forwarder.WithoutRefusalsAsync(client, reply)),
                _ => reply,
            };
        }

        public override async Task<SubmitReply> Submit(SubmitRequest request, ServerCallContext context)
        {
            var (bank, client) = forwarder.Caller(context);
            if (request.HasDeliverAfter && forwarder.Breakage is Breakage.IgnoresDeliverAfter or Breakage.DeliversAnItemAlreadyRead)
            {
                request = request.Clone();
                if (forwarder.Breakage == Breakage.IgnoresDeliverAfter) request.ClearDeliverAfter();
                else if (request.DeliverAfter > 0) request.DeliverAfter--;
            }
            if (request.WaitMilliseconds > 0 && forwarder.Breakage == Breakage.IgnoresSubmitWait)
            {
                request = request.Clone();
                request.WaitMilliseconds = 0;
            }
            byte[] digest = SHA256.HashData(request.Message.Span);
            if (forwarder.Breakage == Breakage.SkipsReplayCheck && forwarder.IsReplayFromAnotherBank(digest, bank)) return forwarder.Fake();
            try
            {
                SubmitReply reply = await client.SubmitAsync(request, deadline: context.Deadline, cancellationToken: context.CancellationToken);
                forwarder.Accepted(digest, bank, request.Message.ToByteArray());
                return reply.Resend && forwarder.Breakage == Breakage.CountsResendsAgain ? forwarder.Fake() : reply;
            }
            catch (RpcException e) when (Accepts(forwarder.Breakage, e.Trailers.GetValue(StatusMapping.ReasonTrailer)))
            {
                if (forwarder.Breakage is Breakage.AcceptsWrongRound or Breakage.AcceptsWrongSession
                    && await forwarder.IsOtherSessionAsync(client, request.Message) != (forwarder.Breakage == Breakage.AcceptsWrongSession))
                    throw new RpcException(e.Status, e.Trailers);
                return forwarder.Fake();
            }
            catch (RpcException e) when (forwarder.Breakage == Breakage.AnswersInternalToCorruptedMessages
                && e.Trailers.GetValue(StatusMapping.ReasonTrailer) is not null && forwarder.IsOneBitCorruption(request.Message.ToByteArray()))
            {
                throw new RpcException(new Status(StatusCode.Internal, "Exception was thrown by handler."));
            }
            catch (RpcException e) { throw new RpcException(e.Status, e.Trailers); }
        }

        private static bool Accepts(Breakage breakage, string? reason) => (breakage, reason) switch
        {
            (Breakage.AcceptsBadSignatures, "AuthenticationFailed") => true,
            (Breakage.AcceptsMalformed, "Malformed") => true,
            (Breakage.AcceptsOversized, "Oversized") => true,
            (Breakage.AcceptsWrongRound or Breakage.AcceptsWrongSession, "WrongRoundOrState") => true,
            (Breakage.AcceptsOtherSenders, "UnknownSender") => true,
            _ => false,
        };

        private static async Task<T> Forward<T>(Func<Task<T>> call)
        {
            try { return await call(); }
            catch (RpcException e) { throw new RpcException(e.Status, e.Trailers); }
        }
    }
}
