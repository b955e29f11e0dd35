// The gRPC service of service.proto: identity from the client certificate, one coordinator call per method, protocol
// refusals mapped to status codes by StatusMapping (SPEC.md 14.5), per-bank rate limits. Nothing else happens here. Submit
// and Receive are SubmitAsync and ReceiveAsync, which the bulk channel (BulkChannel, SPEC.md 14.8) calls too.
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Threading.RateLimiting;
using FraudFed.Aggregator.Coordination;
using FraudFed.Aggregator.Hosting;
using FraudFed.Cryptography;
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Services;

/// <summary>The Federation service: a thin translation from gRPC calls to <see cref="Coordinator"/> calls.</summary>
internal sealed class FederationService(Coordinator coordinator, LoadedAggregatorConfig config, AggregatorMetrics metrics, BankRateLimits limits,
    ILogger<FederationService> log) : FederationServiceBase
{

    public override Task<SessionInfo> GetSession(GetSessionRequest request, ServerCallContext context)
    {
        int bank = BankOf(context);
        EnsureServing();
        // An ended session is told at the bank's first call, before it starts a key setup that cannot run (SPEC.md 14.5).
        if (coordinator.SessionEndedMessage is { } ended) throw Ended(bank, new EndedSessionException(ended));
        var f = config.Config.Federation;
        return Task.FromResult(new SessionInfo
        {
            Mode = f.IsHomomorphic ? Mode.Homomorphic : Mode.Masking,
            Bank = (uint)bank,
            Banks = (uint)f.Banks,
            SessionId = ByteString.CopyFrom(coordinator.SessionId),
            RosterDigest = f.Digest(),
        });
    }

    public override async Task<RoundRequestReply> RequestRound(RoundRequest request, ServerCallContext context)
    {
        int bank = BankOf(context);
        Limit(bank);
        Sdk.Diagnostics.HopTrace.Mark(bank, "a.req>");
        try
        {
            var reply = new RoundRequestReply { Round = await coordinator.RequestRoundAsync(bank, (int)Math.Min(request.Length, int.MaxValue)).ConfigureAwait(false) };
            if (request.HasDeliverAfter) reply.Items.AddRange(await Deliverable(bank, request.DeliverAfter, context.CancellationToken).ConfigureAwait(false));
            return reply;
        }
        catch (ProtocolViolationException e) { throw Refuse(bank, e); }
        catch (RoundLengthMismatchException e)
        {
            metrics.Rejected(nameof(ViolationReason.OutOfRange));
            log.LogInformation("refused a round request from bank {Bank}: length {Length}, the round's is {Expected}", bank, e.ActualLength, e.ExpectedLength);
            var trailers = new Metadata
            {
                { StatusMapping.ReasonTrailer, StatusMapping.TrailerValue(ViolationReason.OutOfRange) },
                { StatusMapping.RoundLengthTrailer, e.ExpectedLength.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            };
            throw new RpcException(new Status(StatusMapping.ToStatus(ViolationReason.OutOfRange), e.Message), trailers);
        }
        catch (ApplianceUnavailableException e) { throw StateFailed(e.Message); }
        catch (EndedSessionException e) { throw Ended(bank, e); }
    }

    public override Task<SubmitReply> Submit(SubmitRequest request, ServerCallContext context) =>
        SubmitAsync(BankOf(context), request, context.CancellationToken);

    /// <summary>The Submit call of bank <paramref name="bank"/> (its identity already taken from its certificate), for both
    /// channels: gRPC and the bulk channel (SPEC.md 14.8). Rate limit, size check, intake, the coordinator, delivery with the
    /// answer, the intake buffer's return and the timings all happen here; a refusal is the <see cref="RpcException"/> the
    /// gRPC call answers with.</summary>
    internal async Task<SubmitReply> SubmitAsync(int bank, SubmitRequest request, CancellationToken cancellationToken)
    {
        Limit(bank);
        long started = ApplianceTimings.Now;
        bool timed = false;   // the Submit timing counts the intake and the durable commit, not a wait for the next item
        byte[]? message = null;
        try
        {
            if (request.Message.Length > config.Config.MaxMessageBytes)
                throw Error.Violation(ViolationReason.Oversized, $"the message has {request.Message.Length} bytes, the limit is {config.Config.MaxMessageBytes}");
            if (request.Message.Length == 0) throw Error.Violation(ViolationReason.Malformed, "an empty message");
            long t0 = ApplianceTimings.Now;
            message = Bytes(request.Message);
            coordinator.Timings.Intake(ApplianceTimings.Now - t0);
            Sdk.Diagnostics.HopTrace.Mark(bank, "a.sub>", message.Length);
            var (seq, resend) = await coordinator.SubmitAsync(bank, message).ConfigureAwait(false);
            Sdk.Diagnostics.HopTrace.Mark(bank, "a.sub<", seq);
            var reply = new SubmitReply { Sequence = (ulong)seq, Resend = resend };
            if (request.HasDeliverAfter)
            {
                // Durable now: the bytes go back to the pool before a wait for the next item (SPEC.md 14.5, delivery with the answer).
                Intake.Return(message);
                message = null;
                coordinator.Timings.Submit(ApplianceTimings.Now - started);
                timed = true;
                TimeSpan wait = TimeSpan.FromMilliseconds(Math.Min(request.WaitMilliseconds, MaxWaitMilliseconds));
                reply.Items.AddRange(await Deliverable(bank, request.DeliverAfter, cancellationToken, wait).ConfigureAwait(false));
            }
            return reply;
        }
        catch (ProtocolViolationException) when (message is not null
            && coordinator.AcceptedFromAnotherBank(bank, Storage.IntakeDigest.Of(message.AsSpan())) is (int from, var sequence))
        {
            // Another bank's accepted message, byte for byte, under this certificate: a replay, whichever check refused it first
            // (the sender check, or the state check when it belongs to an earlier stage).
            string at = sequence is long s ? $" (log event {s})" : "";
            throw Refuse(bank, Error.Violation(ViolationReason.Duplicate, $"a replay of bank {from}'s accepted message{at}, sent under bank {bank}'s certificate"));
        }
        catch (ProtocolViolationException e) { throw Refuse(bank, e); }
        catch (ApplianceUnavailableException e) { throw StateFailed(e.Message); }
        catch (EndedSessionException e) { throw Ended(bank, e); }
        finally
        {
            // The coordinator has finished with the bytes (SubmitAsync returned or threw): they are durable in the log (the row, or
            // their payload file), or were refused, or will never be written (a failed state file). Nothing keeps them.
            if (message is not null) Intake.Return(message);
            if (!timed) coordinator.Timings.Submit(ApplianceTimings.Now - started);
        }
    }

    public override Task<ReceiveReply> Receive(ReceiveRequest request, ServerCallContext context) =>
        ReceiveAsync(BankOf(context), request, context.CancellationToken);

    /// <summary>The Receive call of bank <paramref name="bank"/> (its identity already taken from its certificate), for both
    /// channels: gRPC and the bulk channel (SPEC.md 14.8); a refusal is the <see cref="RpcException"/> the gRPC call answers
    /// with.</summary>
    internal async Task<ReceiveReply> ReceiveAsync(int bank, ReceiveRequest request, CancellationToken cancellationToken)
    {
        EnsureServing();   // a bank must not long-poll, silently, an appliance that can no longer move
        var wait = TimeSpan.FromMilliseconds(Math.Min(request.WaitMilliseconds, MaxWaitMilliseconds));
        int max = request.MaxItems is 0 or > 1024 ? 64 : (int)request.MaxItems;
        var reply = new ReceiveReply();
        Sdk.Diagnostics.HopTrace.Mark(bank, "a.rcv>", (long)request.AfterSequence);
        reply.Items.AddRange(await coordinator.ReceiveAsync(bank, request.AfterSequence, wait, max, cancellationToken).ConfigureAwait(false));
        Sdk.Diagnostics.HopTrace.Mark(bank, "a.rcv<", reply.Items.Count);
        return reply;
    }

    /// <summary>Longest wait of a Receive, or of a Submit for its first deliverable item (SPEC.md 14.5): 30 s.</summary>
    private const uint MaxWaitMilliseconds = 30_000;

    /// <summary>Delivery with the answer (SPEC.md 14.5): the caller's mailbox items after <paramref name="after"/> that are
    /// committed now, as a Receive with wait <paramref name="wait"/> returns them (at most 64; a Submit may wait, a RoundRequest
    /// does not). Asked for once the call's own change is durable, so the items its commit produced (the next stage's message
    /// when it was the last one the stage waited for) are among them.</summary>
    private Task<IReadOnlyList<MailboxItem>> Deliverable(int bank, ulong after, CancellationToken cancellationToken, TimeSpan wait = default) =>
        coordinator.ReceiveAsync(bank, after, wait, 64, cancellationToken);

    /// <summary>The message's bytes without a copy when the parser gave the field its own array (it does for a parsed bytes
    /// field; nothing else holds or changes that array once the request is parsed), else a copy.</summary>
    private static byte[] Bytes(ByteString field) =>
        MemoryMarshal.TryGetArray(field.Memory, out ArraySegment<byte> segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : field.ToByteArray();

    /// <summary>The roster index of the caller's certificate. The TLS handshake already refused unpinned certificates; this
    /// check covers a call that reached the service some other way.</summary>
    private int BankOf(ServerCallContext context)
    {
        int bank = config.BankOf(context.GetHttpContext().Connection.ClientCertificate);
        if (bank < 0)
        {
            metrics.Rejected("UnknownCertificate");
            throw new RpcException(new Status(StatusCode.PermissionDenied, "this client certificate is not pinned in the roster"));
        }
        metrics.Seen(bank);
        return bank;
    }

    /// <summary>Refuses every call once the state file failed (<see cref="Coordinator.Failed"/>).</summary>
    private void EnsureServing()
    {
        if (coordinator.Failed) throw StateFailed(Coordinator.StateFailedMessage);
    }

    /// <summary>The answer of an appliance whose state write failed (SPEC.md 14.5): FAILED_PRECONDITION, not UNAVAILABLE, since
    /// retrying changes nothing until the operator acts; the trailer lets the SDK say so at once.</summary>
    private RpcException StateFailed(string message)
    {
        metrics.Rejected("StateFailed");
        return new RpcException(new Status(StatusCode.FailedPrecondition, message),
            new Metadata { { StatusMapping.ApplianceStateTrailer, StatusMapping.StateFailedValue } });
    }

    /// <summary>The answer to a call after the session ended (SPEC.md 14.5): FAILED_PRECONDITION with reason WrongRoundOrState (as
    /// the state check of an older appliance answered) and the trailer that tells the SDK the session is over, the detail naming
    /// the cause and what the operator does.</summary>
    private RpcException Ended(int bank, EndedSessionException e)
    {
        metrics.Rejected(nameof(ViolationReason.WrongRoundOrState));
        log.LogInformation("refused a call from bank {Bank}: the session has ended", bank);
        return new RpcException(new Status(StatusCode.FailedPrecondition, e.Message), new Metadata
        {
            { StatusMapping.ReasonTrailer, StatusMapping.TrailerValue(ViolationReason.WrongRoundOrState) },
            { StatusMapping.ApplianceStateTrailer, StatusMapping.SessionEndedValue },
        });
    }

    private void Limit(int bank)
    {
        using RateLimitLease lease = limits.For(bank).AttemptAcquire();
        if (!lease.IsAcquired)
        {
            metrics.Rejected("RateLimited");
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"more than {config.Config.RequestsPerSecond} calls per second from this bank; retry later"));
        }
    }

    private static string LowerFirst(string text) =>
        text.Length > 1 && char.IsUpper(text[0]) && !char.IsUpper(text[1]) ? char.ToLowerInvariant(text[0]) + text[1..] : text;

    private RpcException Refuse(int bank, ProtocolViolationException e)
    {
        metrics.Rejected(e.Reason.ToString());
        // The reason's label is the one fraudfed_rejects_total counts; the detail is what the bank is told (no message bytes).
        log.LogInformation("refused a message from bank {Bank} ({Reason}): {Detail}", bank, e.Reason, LowerFirst(e.Message.TrimEnd('.')));
        var trailers = new Metadata { { StatusMapping.ReasonTrailer, StatusMapping.TrailerValue(e.Reason) } };
        return new RpcException(new Status(StatusMapping.ToStatus(e.Reason), e.Message), trailers);
    }
}

/// <summary>One token bucket per bank: <see cref="AggregatorConfig.RequestsPerSecond"/> calls per second.</summary>
internal sealed class BankRateLimits(LoadedAggregatorConfig config) : IDisposable
{
    private readonly ConcurrentDictionary<int, TokenBucketRateLimiter> _limiters = new();

    public TokenBucketRateLimiter For(int bank) => _limiters.GetOrAdd(bank, _ => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
    {
        TokenLimit = config.Config.RequestsPerSecond,
        TokensPerPeriod = config.Config.RequestsPerSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    }));

    public void Dispose()
    {
        foreach (TokenBucketRateLimiter l in _limiters.Values) l.Dispose();
    }
}
