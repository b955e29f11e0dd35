// MaskingWire: the one mapper between the masking domain messages (Messages.cs) and the protobuf wrappers of
// protocols/fraudfed/v1/masking.proto (SPEC.md 14.1, 14.3). Decoding is cheap to expensive: size cap before parsing,
// protobuf parsing (any failure Malformed), the canonical-encoding check (unknown fields, repeated scalars or
// non-minimal varints change the re-encoded size, fields out of number order its bytes: Malformed), protocol version (WrongRoundOrState), session id length
// (Malformed), then per step: signature sizes, the signed body parsed with its SPEC.md 9 layout, the body's session id
// against the wrapper's (WrongRoundOrState), ids below 2^20 (UnknownSender), ascending id lists and relayed lists in the
// order of SPEC.md 9 (Malformed), fixed field sizes.
// Every failure is a ProtocolViolationException; nothing else escapes. No other code touches the generated types.
using System.Diagnostics;
using FraudFed.Cryptography;
using Google.Protobuf;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Protocol.Masking;

/// <summary>Encodes and decodes masking protocol messages (SPEC.md 14.3).</summary>
public static class MaskingWire
{
    /// <summary>The wire protocol version this code speaks.</summary>
    public const uint ProtocolVersion = 1;
    /// <summary>Default largest message accepted, in bytes (a masked input of 2^24 64-bit values is below it).</summary>
    public const int DefaultMaxMessageBytes = 1 << 30;
    /// <summary>The smallest message-size limit a masking party accepts as a setting (1 KiB).</summary>
    public const int MinMaxMessageBytes = 1 << 10;

    private static readonly MessageParser<V1.MaskingBankMessage> BankParser = V1.MaskingBankMessage.Parser.WithDiscardUnknownFields(true);
    private static readonly MessageParser<V1.MaskingAggregatorMessage> AggregatorParser = V1.MaskingAggregatorMessage.Parser.WithDiscardUnknownFields(true);

    // ---- aggregator -> bank ----

    /// <summary>Serializes a message for a bank (a <c>MaskingAggregatorMessage</c>).</summary>
    /// <exception cref="ArgumentException">An unknown message type, or a relayed signed message without its signature.</exception>
    public static byte[] Encode(MaskingToBank message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var w = new V1.MaskingAggregatorMessage { ProtocolVersion = ProtocolVersion, SessionId = B(message.SessionId) };
        switch (message)
        {
            case KeyRoster m:
                w.KeyRoster = new V1.MaskingKeyRoster();
                w.KeyRoster.Keys.Add(m.Keys.Select(k => new V1.MaskingAdvertiseKeys { Body = B(k.Body()), Signature = B(Relayed(k)) }));
                break;
            case GraphSeedRoster m:
                w.GraphSeedRoster = new V1.MaskingGraphSeedRoster();
                w.GraphSeedRoster.Reveals.Add(m.Reveals.Select(r => new V1.MaskingGraphSeedReveal { Body = B(r.Body()), Signature = B(Relayed(r)) }));
                break;
            case ShareDelivery m:
                w.ShareDelivery = new V1.MaskingShareDelivery { Round = m.Round, Recipient = (uint)m.Recipient };
                w.ShareDelivery.Bundles.Add(m.Shares.Select(s => new V1.BankBytes { Bank = (uint)s.Peer, Data = B(s.Ciphertext) }));
                break;
            case SurvivorList m:
                w.SurvivorList = new V1.MaskingSurvivorList { Round = m.Round };
                w.SurvivorList.Survivors.Add(m.Survivors.Select(x => (uint)x));
                break;
            case UnmaskRequest m:
                w.UnmaskRequest = new V1.MaskingUnmaskRequest { Round = m.Round, Recipient = (uint)m.Recipient };
                w.UnmaskRequest.Survivors.Add(m.Survivors.Select(x => (uint)x));
                w.UnmaskRequest.Signatures.Add(m.Signatures.Select(s => new V1.BankBytes { Bank = (uint)s.Signer, Data = B(s.Signature) }));
                w.UnmaskRequest.Requests.Add(m.Requests.Select(q => new V1.MaskingShareRequest { Peer = (uint)q.Peer, Kind = (V1.MaskingShareKind)(int)q.Kind }));
                break;
            case RoundAbort m: w.Abort = Abort(m.Reason, m.Message, m.Round); break;
            default: throw Error.Argument(nameof(message), "Unknown message type.");
        }
        return w.ToByteArray();
    }

    /// <summary>Parses a <c>MaskingAggregatorMessage</c>.</summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed, WrongRoundOrState (version, a relayed body of
    /// another session), UnknownSender (an id of 2^20 or more), OutOfRange (an abort round above 2^32 - 1).</exception>
    public static MaskingToBank DecodeToBank(ReadOnlySpan<byte> data, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        V1.MaskingAggregatorMessage w = Parse(data, maxMessageBytes, AggregatorParser);
        byte[] sid = SessionId(w.ProtocolVersion, w.SessionId);
        return w.StepCase switch
        {
            V1.MaskingAggregatorMessage.StepOneofCase.KeyRoster => new KeyRoster(sid, Ascending(
                List(w.KeyRoster.Keys, k => InSession(AdvertiseKeys.FromBody(k.Body.Span, Own(k.Signature)), sid)), k => k.Sender, "key roster")),
            V1.MaskingAggregatorMessage.StepOneofCase.GraphSeedRoster => new GraphSeedRoster(sid, Ascending(
                List(w.GraphSeedRoster.Reveals, r => InSession(GraphSeedReveal.FromBody(r.Body.Span, Own(r.Signature)), sid)), r => r.Sender, "graph seed roster")),
            V1.MaskingAggregatorMessage.StepOneofCase.ShareDelivery => new ShareDelivery(sid, w.ShareDelivery.Round, Id(w.ShareDelivery.Recipient), Ascending(
                List(w.ShareDelivery.Bundles, b => new EncryptedShare(Id(b.Bank), Fixed(b.Data, EncryptedShare.CiphertextSize, "a sealed bundle"))), b => b.Peer, "share delivery")),
            V1.MaskingAggregatorMessage.StepOneofCase.SurvivorList => new SurvivorList(sid, w.SurvivorList.Round, Ascending(w.SurvivorList.Survivors)),
            V1.MaskingAggregatorMessage.StepOneofCase.UnmaskRequest => UnmaskRequest(sid, w.UnmaskRequest),
            V1.MaskingAggregatorMessage.StepOneofCase.Abort => new RoundAbort(sid, Round(w.Abort.Round), Reason(w.Abort.Reason), w.Abort.Message ?? ""),
            _ => throw Error.Violation(ViolationReason.Malformed, "An aggregator message without a step."),
        };
    }

    /// <summary>Parses a <c>MaskingAggregatorMessage</c> that must carry a <typeparamref name="T"/>.</summary>
    /// <exception cref="ProtocolViolationException">As <see cref="DecodeToBank(ReadOnlySpan{byte}, int)"/>; Malformed for another step.</exception>
    public static T DecodeToBank<T>(ReadOnlySpan<byte> data) where T : MaskingToBank => DecodeToBank<T>(data, DefaultMaxMessageBytes);

    /// <summary>Parses a <c>MaskingAggregatorMessage</c> of at most <paramref name="maxMessageBytes"/> bytes that must carry a <typeparamref name="T"/>.</summary>
    /// <exception cref="ProtocolViolationException">As <see cref="DecodeToBank(ReadOnlySpan{byte}, int)"/>; Malformed for another step.</exception>
    public static T DecodeToBank<T>(ReadOnlySpan<byte> data, int maxMessageBytes) where T : MaskingToBank
        => DecodeToBank(data, maxMessageBytes) as T ?? throw Error.Violation(ViolationReason.Malformed, $"The message is not {Article(typeof(T).Name)} {typeof(T).Name}.");

    private static string Article(string name) => "AEIOU".Contains(name[0], StringComparison.Ordinal) ? "an" : "a";

    private static UnmaskRequest UnmaskRequest(byte[] sid, V1.MaskingUnmaskRequest r)
    {
        int[] survivors = Ascending(r.Survivors);
        SignerSignature[] sigs = Ascending(List(r.Signatures, s => new SignerSignature(Id(s.Bank), Fixed(s.Data, Wire.SignatureSize, "a consistency signature"))),
            s => s.Signer, "unmask request signatures");
        ShareRequest[] requests = Ascending(List(r.Requests, q => new ShareRequest(Id(q.Peer), Kind(q.Kind))), q => q.Peer, "unmask requests");
        return new UnmaskRequest(sid, r.Round, Id(r.Recipient), survivors, sigs, requests);
    }

    // ---- bank -> aggregator ----

    /// <summary>Serializes a message for the aggregator (a <c>MaskingBankMessage</c>); a signed message must carry its signature.</summary>
    /// <exception cref="ArgumentException">An unknown message type, or a signed message without a signature (use <see cref="SignedMessage.Encode"/>).</exception>
    public static byte[] Encode(MaskingToAggregator message)
    {
        ArgumentNullException.ThrowIfNull(message);
        switch (message)
        {
            case SignedMessage m: return EncodeSigned(m, m.Body(), Relayed(m));
            case ConsistencySignature m:
            {
                var w = Bank(m.SessionId);
                w.ConsistencySignature = new V1.MaskingConsistencySignature { Round = m.Round, Sender = (uint)m.Sender, Signature = B(m.Signature) };
                return w.ToByteArray();
            }
            case BankAbort m:
            {
                var w = Bank(m.SessionId);
                w.Abort = Abort(m.Reason, m.Message, m.Round);
                return w.ToByteArray();
            }
            default: throw Error.Argument(nameof(message), "Unknown message type.");
        }
    }

    /// <summary>Wraps a signed message's canonical <paramref name="body"/> and <paramref name="signature"/>.</summary>
    internal static byte[] EncodeSigned(SignedMessage message, byte[] body, byte[] signature)
    {
        var w = Bank(message.SessionId);
        switch (message)
        {
            case AdvertiseKeys: w.AdvertiseKeys = new V1.MaskingAdvertiseKeys { Body = B(body), Signature = B(signature) }; break;
            case GraphSeedReveal: w.GraphSeedReveal = new V1.MaskingGraphSeedReveal { Body = B(body), Signature = B(signature) }; break;
            case ShareKeys: w.ShareKeys = new V1.MaskingShareKeys { Body = B(body), Signature = B(signature) }; break;
            case MaskedInput: w.MaskedInput = new V1.MaskingMaskedInput { Body = B(body), Signature = B(signature) }; break;
            case UnmaskResponse: w.UnmaskResponse = new V1.MaskingUnmaskResponse { Body = B(body), Signature = B(signature) }; break;
            default: throw Error.Argument(nameof(message), "Unknown signed message type.");
        }
        return w.ToByteArray();
    }

    /// <summary>Parses a <c>MaskingBankMessage</c>.</summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed, WrongRoundOrState (version, a body of another
    /// session), UnknownSender (an id of 2^20 or more), OutOfRange (a masked value not below 2^k, an abort round above 2^32 - 1).</exception>
    public static MaskingToAggregator DecodeToAggregator(ReadOnlySpan<byte> data, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        // The masked input (length x ceil(k/8) bytes, the one large upload) is read in place when its bytes are exactly the
        // canonical encoding; anything else takes the general path below, which accepts and refuses as before.
        if (data.Length <= maxMessageBytes && TryReadCanonicalMaskedInput(data, out uint version, out ReadOnlySpan<byte> session, out ReadOnlySpan<byte> body, out ReadOnlySpan<byte> signature))
        {
            byte[] sid = SessionId(version, session); // version and session id before the body, as on the general path
            return InSession(MaskedInput.FromBody(body, signature.ToArray()), sid);
        }
        return DecodeToAggregatorGeneral(data, maxMessageBytes);
    }

    /// <summary>As <see cref="DecodeToAggregator(ReadOnlySpan{byte}, int)"/>, except that a canonical masked input's values are not
    /// copied out of <paramref name="data"/> (megabytes for a long vector): the message reads them there
    /// (<see cref="MaskedInput.PackedValues"/>; its <see cref="MaskedInput.Packed"/> is empty), so the caller keeps
    /// <paramref name="data"/> unchanged until it is done with the message. The appliance applies each message before the
    /// array its Submit was read into is used again.</summary>
    /// <exception cref="ProtocolViolationException">As <see cref="DecodeToAggregator(ReadOnlySpan{byte}, int)"/>.</exception>
    internal static MaskingToAggregator DecodeToAggregatorInPlace(byte[] data, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length <= maxMessageBytes && TryReadCanonicalMaskedInput(data, out uint version, out ReadOnlySpan<byte> session, out ReadOnlySpan<byte> body, out ReadOnlySpan<byte> signature))
        {
            byte[] sid = SessionId(version, session);
            // An empty body (no values) overlaps nothing: its offset does not matter, the slice below is empty.
            int offset = 0;
            bool inside = body.IsEmpty || data.AsSpan().Overlaps(body, out offset);
            Debug.Assert(inside);
            return InSession(MaskedInput.FromBody(body, signature.ToArray(), data.AsMemory(offset, body.Length)), sid);
        }
        return DecodeToAggregatorGeneral(data, maxMessageBytes);
    }

    /// <summary>The general decoder: protobuf parsing and the canonical check of <see cref="CanonicalProtobuf"/> for every step
    /// (what <see cref="DecodeToAggregator(ReadOnlySpan{byte}, int)"/> does for anything but a canonical masked input).</summary>
    internal static MaskingToAggregator DecodeToAggregatorGeneral(ReadOnlySpan<byte> data, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        V1.MaskingBankMessage w = Parse(data, maxMessageBytes, BankParser);
        byte[] sid = SessionId(w.ProtocolVersion, w.SessionId);
        return w.StepCase switch
        {
            V1.MaskingBankMessage.StepOneofCase.AdvertiseKeys => InSession(AdvertiseKeys.FromBody(w.AdvertiseKeys.Body.Span, Own(w.AdvertiseKeys.Signature)), sid),
            V1.MaskingBankMessage.StepOneofCase.GraphSeedReveal => InSession(GraphSeedReveal.FromBody(w.GraphSeedReveal.Body.Span, Own(w.GraphSeedReveal.Signature)), sid),
            V1.MaskingBankMessage.StepOneofCase.ShareKeys => InSession(ShareKeys.FromBody(w.ShareKeys.Body.Span, Own(w.ShareKeys.Signature)), sid),
            V1.MaskingBankMessage.StepOneofCase.MaskedInput => InSession(MaskedInput.FromBody(w.MaskedInput.Body.Span, Own(w.MaskedInput.Signature)), sid),
            V1.MaskingBankMessage.StepOneofCase.ConsistencySignature => new ConsistencySignature(sid, w.ConsistencySignature.Round, Id(w.ConsistencySignature.Sender),
                Fixed(w.ConsistencySignature.Signature, Wire.SignatureSize, "a consistency signature")),
            V1.MaskingBankMessage.StepOneofCase.UnmaskResponse => InSession(UnmaskResponse.FromBody(w.UnmaskResponse.Body.Span, Own(w.UnmaskResponse.Signature)), sid),
            V1.MaskingBankMessage.StepOneofCase.Abort => new BankAbort(sid, Round(w.Abort.Round), Reason(w.Abort.Reason), w.Abort.Message ?? ""),
            _ => throw Error.Violation(ViolationReason.Malformed, "A bank message without a step."),
        };
    }

    /// <summary>Parses a <c>MaskingBankMessage</c> that must carry a <typeparamref name="T"/>.</summary>
    /// <exception cref="ProtocolViolationException">As <see cref="DecodeToAggregator(ReadOnlySpan{byte}, int)"/>; Malformed for another step.</exception>
    public static T DecodeToAggregator<T>(ReadOnlySpan<byte> data) where T : MaskingToAggregator
        => DecodeToAggregator(data) as T ?? throw Error.Violation(ViolationReason.Malformed, $"The message is not {Article(typeof(T).Name)} {typeof(T).Name}.");

    // ---- round outcome (SPEC.md 15.2) ----

    private static readonly MessageParser<V1.MaskingSumOutcome> OutcomeParser = V1.MaskingSumOutcome.Parser.WithDiscardUnknownFields(true);

    /// <summary>
    /// Serializes a round's outcome as the coordinator publishes it (a <c>MaskingSumOutcome</c> of masking.proto, SPEC.md 15.2): the
    /// byte form of <see cref="Coordination.SumOutcomeNotice"/> for a deployment that moves bytes only. Not a protocol step:
    /// nothing in it is signed.
    /// </summary>
    /// <param name="outcome">A completed round (a sum of at least one value and at least one contributor, no failure) or a failed
    /// one (a failure, no sum, no contributors).</param>
    /// <param name="parameters">The session's parameters: its id goes on the wire; values must be below 2^k and contributors below N.</param>
    /// <exception cref="ArgumentException">an outcome that is neither form, a round outside 1..2^32 - 1, contributors not strictly
    /// ascending or outside the roster, or a value not below 2^k.</exception>
    public static byte[] EncodeOutcome(Coordination.SumOutcomeNotice outcome, MaskingParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(parameters);
        if (outcome.Round is 0 or > uint.MaxValue) throw Error.Argument(nameof(outcome), "A masking round is 1 .. 2^32 - 1.");
        var w = new V1.MaskingSumOutcome { ProtocolVersion = ProtocolVersion, SessionId = B(parameters.SessionId), Round = outcome.Round };
        if (outcome.Failure is { } failure)
        {
            if (outcome.Sum is not null || outcome.Contributors.Length != 0) throw Error.Argument(nameof(outcome), "A failed round carries no sum and no contributors.");
            w.Failure = WireReasons.Code(failure);
            return w.ToByteArray();
        }
        if (outcome.Sum is not { Length: > 0 } sum || outcome.Contributors.Length == 0)
            throw Error.Argument(nameof(outcome), "A completed round carries a sum of at least one value and at least one contributor.");
        ulong limit = ModVector.Mask(parameters.ModulusBits);
        for (int i = 0; i < sum.Length; i++)
            if (sum[i] > limit) throw Error.Argument(nameof(outcome), $"The sum value at index {i} is not below 2^{parameters.ModulusBits}.");
        for (int i = 0; i < outcome.Contributors.Length; i++)
            if (outcome.Contributors[i] < 0 || outcome.Contributors[i] >= parameters.Banks || (i > 0 && outcome.Contributors[i] <= outcome.Contributors[i - 1]))
                throw Error.Argument(nameof(outcome), "Contributors are strictly ascending roster indices.");
        w.Contributors.Add(outcome.Contributors.Select(c => (uint)c));
        w.Sum.Add(sum);
        return w.ToByteArray();
    }

    /// <summary>Parses a <c>MaskingSumOutcome</c> (SPEC.md 15.2) of the session of <paramref name="parameters"/>.</summary>
    /// <param name="data">The bytes from <see cref="EncodeOutcome"/>.</param>
    /// <param name="parameters">The session's parameters.</param>
    /// <param name="maxMessageBytes">Largest message accepted, in bytes.</param>
    /// <returns>The outcome, for <see cref="Coordination.IBankTransport.ReceiveAsync"/> to hand to the bank's client.</returns>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing); Malformed (not canonical protobuf, no version, a session
    /// id not 16 bytes, a failure with a sum or contributors, a completed round without them, contributors not strictly ascending,
    /// an unknown failure code); WrongRoundOrState (another version or session); OutOfRange (round 0 or above 2^32 - 1, a value not
    /// below 2^k); UnknownSender (a contributor outside the roster).</exception>
    public static Coordination.SumOutcomeNotice DecodeOutcome(ReadOnlySpan<byte> data, MaskingParameters parameters, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        V1.MaskingSumOutcome w = Parse(data, maxMessageBytes, OutcomeParser);
        byte[] sid = SessionId(w.ProtocolVersion, w.SessionId);
        if (!sid.AsSpan().SequenceEqual(parameters.SessionId)) throw Error.Violation(ViolationReason.WrongRoundOrState, "The outcome belongs to another session.");
        if (w.Round is 0 or > uint.MaxValue) throw Error.Violation(ViolationReason.OutOfRange, "A masking round is 1 .. 2^32 - 1.");
        if (w.Failure != V1.ViolationReasonCode.Unspecified)
        {
            if (w.Sum.Count != 0 || w.Contributors.Count != 0) throw Error.Violation(ViolationReason.Malformed, "A failed round's outcome carries a sum or contributors.");
            return new Coordination.SumOutcomeNotice(w.Round, null, [], WireReasons.FromCode(w.Failure));
        }
        if (w.Sum.Count == 0 || w.Contributors.Count == 0) throw Error.Violation(ViolationReason.Malformed, "A completed round's outcome lacks its sum or contributors.");
        int[] contributors = Ascending(w.Contributors);
        if (contributors[^1] >= parameters.Banks) throw Error.Violation(ViolationReason.UnknownSender, "A contributor is outside the roster.");
        ulong limit = ModVector.Mask(parameters.ModulusBits);
        ulong[] sum = new ulong[w.Sum.Count];
        for (int i = 0; i < sum.Length; i++)
            sum[i] = w.Sum[i] <= limit ? w.Sum[i] : throw Error.Violation(ViolationReason.OutOfRange, $"A sum value is not below 2^{parameters.ModulusBits}.");
        return new Coordination.SumOutcomeNotice(w.Round, sum, contributors, null);
    }

    // ---- helpers ----

    private static V1.MaskingBankMessage Bank(byte[] sessionId) => new() { ProtocolVersion = ProtocolVersion, SessionId = B(sessionId) };

    private static T Parse<T>(ReadOnlySpan<byte> data, int maxMessageBytes, MessageParser<T> parser) where T : IMessage<T>
        => CanonicalProtobuf.Parse(data, maxMessageBytes, parser);

    private static byte[] SessionId(uint version, ByteString sid) => SessionId(version, sid.Span);

    private static byte[] SessionId(uint version, ReadOnlySpan<byte> sid)
    {
        // An absent version (0: an empty buffer, or bytes that are not a FraudFed wrapper) is a malformed message, not another version.
        if (version == 0) throw Error.Violation(ViolationReason.Malformed, "A message without a protocol version (empty, or not a FraudFed masking wrapper).");
        if (version != ProtocolVersion) throw Error.Violation(ViolationReason.WrongRoundOrState, $"Protocol version {version}, this party speaks {ProtocolVersion}.");
        if (sid.Length != MaskingParameters.SessionIdSize) throw Error.Violation(ViolationReason.Malformed, "A session id is 16 bytes.");
        return sid.ToArray();
    }

    private static T InSession<T>(T message, byte[] sid) where T : SignedMessage =>
        message.SessionId.AsSpan().SequenceEqual(sid) ? message : throw Error.Violation(ViolationReason.WrongRoundOrState, "A signed body belongs to another session than its wrapper.");

    private static byte[] Relayed(SignedMessage m) =>
        m.Signature.Length == Wire.SignatureSize ? m.Signature : throw Error.Argument(nameof(m), "A signed message is encoded with its signature (SignedMessage.Encode(key) signs it).");

    private static TOut[] List<TIn, TOut>(IReadOnlyList<TIn> items, Func<TIn, TOut> map)
    {
        if (items.Count > Wire.MaxCount) throw Error.Violation(ViolationReason.Oversized, "A list exceeds 2^20 entries.");
        var result = new TOut[items.Count];
        for (int i = 0; i < result.Length; i++) result[i] = map(items[i]);
        return result;
    }

    private static int Id(uint v) => v < Wire.MaxCount ? (int)v : throw Error.Violation(ViolationReason.UnknownSender, "A bank id is out of range.");

    private static int[] Ascending(IReadOnlyList<uint> ids)
    {
        int[] result = List(ids, Id);
        for (int i = 1; i < result.Length; i++)
            if (result[i] <= result[i - 1]) throw Error.Violation(ViolationReason.Malformed, "Survivor ids must be strictly ascending.");
        return result;
    }

    /// <summary>
    /// A relayed list in the order SPEC.md 9 fixes: ascending by sender, owner, signer or peer (else Malformed). A list with a
    /// repeated id passes here, in any order, so that the receiving party refuses it with its own reason (Duplicate; Refused
    /// for both shares of one peer).
    /// </summary>
    private static T[] Ascending<T>(T[] items, Func<T, int> id, string what)
    {
        for (int i = 1; i < items.Length; i++)
        {
            if (id(items[i]) >= id(items[i - 1])) continue;
            int[] ids = items.Select(id).Order().ToArray();
            for (int j = 1; j < ids.Length; j++) if (ids[j] == ids[j - 1]) return items;
            throw Error.Violation(ViolationReason.Malformed, $"The {what} must list ids in ascending order.");
        }
        return items;
    }

    private static ShareKind Kind(V1.MaskingShareKind kind) => kind switch
    {
        V1.MaskingShareKind.SelfMask => ShareKind.SelfMask,
        V1.MaskingShareKind.PairwiseKey => ShareKind.PairwiseKey,
        _ => throw Error.Violation(ViolationReason.Malformed, "Unknown share kind."),
    };

    private static uint Round(ulong round) => round <= uint.MaxValue ? (uint)round : throw Error.Violation(ViolationReason.OutOfRange, "A masking round is a u32.");

    private static byte[] Fixed(ByteString b, int length, string what) =>
        b.Length == length ? Own(b) : throw Error.Violation(ViolationReason.Malformed, $"{what} is {length} bytes.");

    // The caller's arrays are wrapped, not copied: an encoded message is serialized at once and the arrays are not changed.
    private static ByteString B(byte[] b) => UnsafeByteOperations.UnsafeWrap(b);

    /// <summary>The bytes of a parsed field without a second copy (a parsed ByteString owns a fresh exact-size array).</summary>
    private static byte[] Own(ByteString b) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(b.Memory, out ArraySegment<byte> seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
            ? seg.Array : b.ToByteArray();

    /// <summary>Where the canonical body lies in <paramref name="data"/> when the bytes are a canonical masked input (as
    /// <see cref="TryReadCanonicalMaskedInput"/> reads them) with a non-empty body: its offset and length in bytes. A pure function
    /// of the bytes; false otherwise (offset and length 0).</summary>
    internal static bool TryLocateCanonicalMaskedInputBody(ReadOnlySpan<byte> data, out int offset, out int length)
    {
        offset = length = 0;
        if (!TryReadCanonicalMaskedInput(data, out _, out _, out ReadOnlySpan<byte> body, out _) || body.IsEmpty) return false;
        bool inside = data.Overlaps(body, out offset);
        Debug.Assert(inside);
        length = body.Length;
        return true;
    }

    /// <summary>
    /// Reads a <c>MaskingBankMessage</c> carrying a masked input without copying it, if and only if <paramref name="data"/> is byte
    /// for byte what the protobuf serializer writes for it: protocol_version (field 1, omitted when 0), session_id (field 2,
    /// omitted when empty), masked_input (field 13) holding body (field 1) and signature (field 2), each omitted when empty, in
    /// that order, with minimal varints and nothing else. Such bytes are accepted by the general path with the same field values
    /// (its parse re-encodes to them), so returning them here changes no outcome; false for anything else (another step,
    /// unknown, repeated or default-valued fields, non-minimal varints, other orders, truncation), which then takes the general path.
    /// </summary>
    internal static bool TryReadCanonicalMaskedInput(ReadOnlySpan<byte> data, out uint version, out ReadOnlySpan<byte> sessionId,
        out ReadOnlySpan<byte> body, out ReadOnlySpan<byte> signature)
    {
        version = 0;
        sessionId = body = signature = default;
        int p = 0;
        if (p < data.Length && data[p] == 0x08) // field 1, varint
        {
            p++;
            if (!ReadVarint32(data, ref p, out version) || version == 0) return false;
        }
        if (p < data.Length && data[p] == 0x12) // field 2, length-delimited
        {
            p++;
            if (!ReadDelimited(data, ref p, out int at, out int length) || length == 0) return false;
            sessionId = data.Slice(at, length);
        }
        if (p >= data.Length || data[p] != 0x6A) return false; // field 13, length-delimited
        p++;
        if (!ReadDelimited(data, ref p, out int innerAt, out int innerLength) || p != data.Length) return false;
        ReadOnlySpan<byte> inner = data.Slice(innerAt, innerLength);
        int q = 0;
        if (q < inner.Length && inner[q] == 0x0A) // body, field 1
        {
            q++;
            if (!ReadDelimited(inner, ref q, out int at, out int length) || length == 0) return false;
            body = inner.Slice(at, length);
        }
        if (q < inner.Length && inner[q] == 0x12) // signature, field 2
        {
            q++;
            if (!ReadDelimited(inner, ref q, out int at, out int length) || length == 0) return false;
            signature = inner.Slice(at, length);
        }
        return q == inner.Length;
    }

    /// <summary>Where the body of a masked input starts in its canonical <c>MaskingBankMessage</c> (what the protobuf serializer
    /// writes and <see cref="TryReadCanonicalMaskedInput"/> reads) for a <paramref name="sessionIdLength"/>-byte session id and a
    /// <paramref name="bodyLength"/>-byte body, both non-empty, and a 64-byte signature; <paramref name="size"/> is the whole
    /// message's length in bytes: version | session id | field 13 {body | signature}.</summary>
    internal static int CanonicalMaskedInputBodyOffset(int sessionIdLength, int bodyLength, out int size)
    {
        Debug.Assert(sessionIdLength > 0 && bodyLength > 0);
        int inner = checked(1 + VarintSize((uint)bodyLength) + bodyLength + 2 + Wire.SignatureSize);
        int head = 1 + VarintSize(ProtocolVersion) + 1 + VarintSize((uint)sessionIdLength) + sessionIdLength + 1 + VarintSize((uint)inner);
        size = checked(head + inner);
        return head + 1 + VarintSize((uint)bodyLength);
    }

    /// <summary>Writes the framing of a canonical masked input (<see cref="CanonicalMaskedInputBodyOffset"/>) into
    /// <paramref name="message"/>, which has exactly that size: every byte before the body and the signature's tag and length
    /// after it. The body and the signature's 64 bytes (the last ones) are the caller's to write.</summary>
    internal static void WriteCanonicalMaskedInputFrame(Span<byte> message, ReadOnlySpan<byte> sessionId, int bodyLength)
    {
        int bodyOffset = CanonicalMaskedInputBodyOffset(sessionId.Length, bodyLength, out int size);
        Debug.Assert(message.Length == size);
        int p = 0;
        message[p++] = 0x08;   // protocol_version, field 1
        WriteVarint(message, ref p, ProtocolVersion);
        message[p++] = 0x12;   // session_id, field 2
        WriteVarint(message, ref p, (uint)sessionId.Length);
        sessionId.CopyTo(message[p..]);
        p += sessionId.Length;
        message[p++] = 0x6A;   // masked_input, field 13
        WriteVarint(message, ref p, (uint)(1 + VarintSize((uint)bodyLength) + bodyLength + 2 + Wire.SignatureSize));
        message[p++] = 0x0A;   // body, field 1
        WriteVarint(message, ref p, (uint)bodyLength);
        Debug.Assert(p == bodyOffset);
        p += bodyLength;
        message[p++] = 0x12;   // signature, field 2
        message[p++] = Wire.SignatureSize;
        Debug.Assert(p + Wire.SignatureSize == size);
    }

    private static int VarintSize(uint v) => CanonicalProtobuf.VarintSize(v);
    private static void WriteVarint(Span<byte> d, ref int p, uint v) => CanonicalProtobuf.WriteVarint(d, ref p, v);

    /// <summary>A minimal (canonical) varint of at most 32 bits at <paramref name="p"/>.</summary>
    private static bool ReadVarint32(ReadOnlySpan<byte> d, ref int p, out uint value)
    {
        value = 0;
        ulong v = 0;
        for (int i = 0; i < 5; i++)
        {
            if (p >= d.Length) return false;
            byte b = d[p++];
            v |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) != 0) continue;
            if (b == 0 && i > 0) return false; // a trailing zero group: not minimal
            if (v > uint.MaxValue) return false;
            value = (uint)v;
            return true;
        }
        return false;
    }

    /// <summary>A length-delimited field's payload: its offset and length in <paramref name="d"/> (minimal length varint, payload inside).</summary>
    private static bool ReadDelimited(ReadOnlySpan<byte> d, ref int p, out int start, out int length)
    {
        start = length = 0;
        if (!ReadVarint32(d, ref p, out uint n) || n > (uint)(d.Length - p)) return false;
        start = p;
        length = (int)n;
        p += length;
        return true;
    }

    private static V1.Abort Abort(ViolationReason reason, string message, uint round) =>
        new() { Reason = WireReasons.Code(reason), Message = message ?? "", Round = round };

    private static ViolationReason Reason(V1.ViolationReasonCode code) => WireReasons.FromCode(code);
}
