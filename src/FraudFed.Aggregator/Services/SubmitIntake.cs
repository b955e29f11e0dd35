// The intake of Submit (SPEC.md 14.5): how a SubmitRequest's bytes become the byte[] the coordinator takes. The generated
// protobuf parser copies the message field out of Kestrel's request buffers into a fresh array of its exact length; for a
// homomorphic upload or decryption-share message (megabytes) that is a new large-object-heap array per call, whose pages
// the process faults in (and the GC later reclaims) every round. SubmitRequestParser reads the canonical encoding the SDK
// sends (field 1, then field 2 when set, then field 3 when set and not 0, nothing else) itself and copies the message once
// into an array from IntakeBuffers,
// which keeps the arrays of exact lengths seen before (every bank's upload of a round has the same length, round after
// round). Anything else (another field order, a repeated or unknown field, a malformed or truncated input) goes to the
// protobuf parser, so what is accepted and how it is refused do not depend on the path taken. The size caps stay where they
// were: gRPC's receive limit refuses a request before any of it is buffered, and the fast path allocates only a length that
// the request's bytes already hold.
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;

namespace FraudFed.Aggregator.Services;

/// <summary>Exact-length byte arrays for inbound messages, reused across calls (see the file header). Thread-safe.</summary>
internal sealed class IntakeBuffers
{
    private readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> _free = new();
    private long _retained;

    /// <summary>Keeps returned arrays of at least <paramref name="minimumBytes"/> bytes, at most <paramref name="maximumRetainedBytes"/>
    /// bytes in all.</summary>
    public IntakeBuffers(int minimumBytes = DefaultMinimumBytes, long maximumRetainedBytes = DefaultMaximumRetainedBytes)
    {
        MinimumBytes = minimumBytes;
        MaximumRetainedBytes = maximumRetainedBytes;
    }

    /// <summary>Arrays below 1 MiB are not kept (a small-object allocation is cheap).</summary>
    public const int DefaultMinimumBytes = 1 << 20;
    /// <summary>At most 256 MiB of idle arrays (two rounds of ten banks' 1e6-value homomorphic messages).</summary>
    public const long DefaultMaximumRetainedBytes = 256L << 20;

    public int MinimumBytes { get; }
    public long MaximumRetainedBytes { get; }
    /// <summary>Idle bytes held now.</summary>
    public long RetainedBytes => Interlocked.Read(ref _retained);
    /// <summary>Rents served by a new array (tests).</summary>
    public long Allocations => Interlocked.Read(ref _allocations);
    private long _allocations;

    /// <summary>An array of exactly <paramref name="length"/> bytes with unspecified contents (the caller overwrites all of them).</summary>
    public byte[] Rent(int length)
    {
        Debug.Assert(length >= 0);
        if (length >= MinimumBytes && _free.TryGetValue(length, out ConcurrentBag<byte[]>? bag) && bag.TryTake(out byte[]? kept))
        {
            Interlocked.Add(ref _retained, -length);
            return kept;
        }
        Interlocked.Increment(ref _allocations);
        return GC.AllocateUninitializedArray<byte>(length);
    }

    /// <summary>Hands <paramref name="array"/> back once nothing reads or keeps it any more; kept for a later <see cref="Rent"/> of
    /// its length while the retained total allows, else left to the GC.</summary>
    public void Return(byte[] array)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length < MinimumBytes) return;
        if (Interlocked.Add(ref _retained, array.Length) > MaximumRetainedBytes)
        {
            Interlocked.Add(ref _retained, -array.Length);
            return;
        }
        _free.GetOrAdd(array.Length, _ => []).Add(array);
    }
}

/// <summary>The SubmitRequest reader of the appliance's Submit method (see the file header).</summary>
internal static class SubmitRequestParser
{
    private const byte MessageTag = (1 << 3) | 2;        // field 1, length-delimited
    private const byte DeliverAfterTag = (2 << 3) | 0;   // field 2, varint
    private const byte WaitTag = (3 << 3) | 0;           // field 3, varint

    /// <summary>The request in <paramref name="payload"/>, exactly as <c>SubmitRequest.Parser.ParseFrom</c> reads it; the message
    /// field's bytes are one array of their exact length from <paramref name="buffers"/> when the encoding is canonical.</summary>
    /// <exception cref="InvalidProtocolBufferException">the bytes are not a SubmitRequest (from the protobuf parser).</exception>
    public static SubmitRequest Parse(ReadOnlySequence<byte> payload, IntakeBuffers buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        var reader = new SequenceReader<byte>(payload);
        if (!reader.TryRead(out byte tag) || tag != MessageTag || !TryReadVarint(ref reader, 5, out ulong length)
            || length > (ulong)reader.Remaining || length > (ulong)Array.MaxLength)
            return SubmitRequest.Parser.ParseFrom(payload);
        long start = reader.Consumed;
        reader.Advance((long)length);
        bool hasDeliverAfter = false;
        ulong deliverAfter = 0, wait = 0;
        if (!reader.End)
        {
            if (!reader.TryRead(out tag) || tag != DeliverAfterTag || !TryReadVarint(ref reader, 10, out deliverAfter))
                return SubmitRequest.Parser.ParseFrom(payload);
            hasDeliverAfter = true;
            // wait_milliseconds, canonical: present only when not 0 (proto3), a uint32 in at most 5 bytes.
            if (!reader.End && (!reader.TryRead(out tag) || tag != WaitTag || !TryReadVarint(ref reader, 5, out wait) || wait is 0 or > uint.MaxValue || !reader.End))
                return SubmitRequest.Parser.ParseFrom(payload);
        }
        // Canonical: the whole input was walked, so the length is within what the request holds before anything is allocated.
        byte[] message = buffers.Rent((int)length);
        payload.Slice(start, (long)length).CopyTo(message);
        var request = new SubmitRequest { Message = UnsafeByteOperations.UnsafeWrap(message) };
        if (hasDeliverAfter) request.DeliverAfter = deliverAfter;
        request.WaitMilliseconds = (uint)wait;
        return request;
    }

    /// <summary>A base-128 varint of at most <paramref name="maxBytes"/> bytes, read as protobuf reads it (low 64 bits kept); false
    /// when it runs past the input or past <paramref name="maxBytes"/> (the protobuf parser then decides).</summary>
    private static bool TryReadVarint(ref SequenceReader<byte> reader, int maxBytes, out ulong value)
    {
        value = 0;
        for (int i = 0; i < maxBytes; i++)
        {
            if (!reader.TryRead(out byte b)) return false;
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }

    /// <summary>The request marshaller of Submit: <see cref="Parse"/> on the server; the generated serializer otherwise.</summary>
    public static Marshaller<SubmitRequest> Marshaller(IntakeBuffers buffers) =>
        Marshallers.Create<SubmitRequest>(Serialize, context => ParseOrRefuse(context.PayloadAsReadOnlySequence(), buffers));

    /// <summary><see cref="Parse"/>, with bytes that are not a SubmitRequest refused as <see cref="MalformedRequest"/> says.</summary>
    /// <exception cref="RpcException">INVALID_ARGUMENT, reason <c>Malformed</c>.</exception>
    public static SubmitRequest ParseOrRefuse(ReadOnlySequence<byte> payload, IntakeBuffers buffers)
    {
        try { return Parse(payload, buffers); }
        catch (InvalidProtocolBufferException) { throw MalformedRequest(nameof(SubmitRequest)); }
    }

    /// <summary><paramref name="parser"/>'s message in <paramref name="payload"/>, with bytes that are not one refused as
    /// <see cref="MalformedRequest"/> says.</summary>
    /// <exception cref="RpcException">INVALID_ARGUMENT, reason <c>Malformed</c>.</exception>
    public static T ParseOrRefuse<T>(MessageParser<T> parser, ReadOnlySequence<byte> payload) where T : IMessage<T>
    {
        try { return parser.ParseFrom(payload); }
        catch (InvalidProtocolBufferException) { throw MalformedRequest(typeof(T).Name); }
    }

    /// <summary>The refusal of a request whose bytes are not the call's request message (SPEC.md 14.5, on both channels):
    /// INVALID_ARGUMENT with the trailer <c>fraudfed-violation: Malformed</c>; the detail names the message type only (none
    /// of the request's bytes).</summary>
    public static RpcException MalformedRequest(string messageType) => Malformed($"the request is not a valid {messageType} (protobuf)");

    /// <summary>INVALID_ARGUMENT with the trailer <c>fraudfed-violation: Malformed</c> and <paramref name="detail"/> (which names no
    /// request bytes).</summary>
    public static RpcException Malformed(string detail) =>
        new(new Status(StatusMapping.ToStatus(FraudFed.Cryptography.ViolationReason.Malformed), detail),
            new Metadata { { StatusMapping.ReasonTrailer, StatusMapping.TrailerValue(FraudFed.Cryptography.ViolationReason.Malformed) } });

    /// <summary>The generated marshaller's serializer for any message.</summary>
    public static void Serialize<T>(T message, SerializationContext context) where T : IBufferMessage
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }
}

/// <summary>The Federation service's binding (service.proto) with Submit's request read by <see cref="SubmitRequestParser"/>; the
/// other methods, and every response, use the generated protobuf marshallers. Same service name, method names and wire format
/// as the generated <c>Federation.BindService</c>.</summary>
[BindServiceMethod(typeof(FederationServiceBase), nameof(BindService))]
internal abstract class FederationServiceBase
{
    private const string ServiceName = "fraudfed.v1.Federation";

    /// <summary>The arrays Submit's messages are read into; the service hands each back once its call is answered.</summary>
    public static IntakeBuffers Intake { get; } = new();

    public abstract Task<SessionInfo> GetSession(GetSessionRequest request, ServerCallContext context);
    public abstract Task<RoundRequestReply> RequestRound(RoundRequest request, ServerCallContext context);
    public abstract Task<SubmitReply> Submit(SubmitRequest request, ServerCallContext context);
    public abstract Task<ReceiveReply> Receive(ReceiveRequest request, ServerCallContext context);

    /// <summary>Called by Grpc.AspNetCore (through <see cref="BindServiceMethodAttribute"/>) with a null service: the handlers are
    /// found by method name on the service type.</summary>
    public static void BindService(ServiceBinderBase binder, FederationServiceBase? service)
    {
        ArgumentNullException.ThrowIfNull(binder);
        binder.AddMethod(Unary("GetSession", Generated(GetSessionRequest.Parser), Generated(SessionInfo.Parser)),
            service is null ? null! : service.GetSession);
        binder.AddMethod(Unary("RequestRound", Generated(RoundRequest.Parser), Generated(RoundRequestReply.Parser)),
            service is null ? null! : service.RequestRound);
        binder.AddMethod(Unary("Submit", SubmitRequestParser.Marshaller(Intake), Generated(SubmitReply.Parser)),
            service is null ? null! : service.Submit);
        binder.AddMethod(Unary("Receive", Generated(ReceiveRequest.Parser), Generated(ReceiveReply.Parser)),
            service is null ? null! : service.Receive);
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, Marshaller<TRequest> request, Marshaller<TResponse> response) =>
        new(MethodType.Unary, ServiceName, name, request, response);

    private static Marshaller<T> Generated<T>(MessageParser<T> parser) where T : IMessage<T>, IBufferMessage =>
        Marshallers.Create<T>(SubmitRequestParser.Serialize, context => SubmitRequestParser.ParseOrRefuse(parser, context.PayloadAsReadOnlySequence()));
}
