// The masking-protocol domain messages (SPEC.md 8, 9, 14.3). On the wire every message travels in a protobuf wrapper
// (protocols/fraudfed/v1/masking.proto); MaskingWire is the one place that maps wrappers to and from these records, and
// Encode/Decode here forward to it. What a bank signs is the canonical body of SPEC.md 9 (the 26-byte prefix "FFSA" ||
// version || type || session || round, then the fields, big-endian), written and parsed here with WireWriter/WireReader.
// Decoding validates structure only (lengths, counts, ranges of ids, field sizes); the state machines validate meaning
// (membership, duplicates, signatures) cheap to expensive.
using System.Buffers.Binary;
using System.Diagnostics;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Protocol.Masking;

/// <summary>A message from the aggregator to one bank, for masking session <see cref="SessionId"/> (16 bytes).</summary>
public abstract record MaskingToBank(byte[] SessionId)
{
    /// <summary>The serialized <c>MaskingAggregatorMessage</c> wrapper (SPEC.md 14.3).</summary>
    public byte[] Encode() => MaskingWire.Encode(this);
}

/// <summary>A message from one bank to the aggregator, for masking session <see cref="SessionId"/> (16 bytes).</summary>
public abstract record MaskingToAggregator(byte[] SessionId);

/// <summary>A bank's signed message: the canonical body of SPEC.md 9 and an Ed25519 signature over
/// "FraudFed/v1/secagg/signature" || SHA-256(body). A decoded one keeps the signature and the exact bytes it covers.</summary>
public abstract record SignedMessage(byte[] SessionId) : MaskingToAggregator(SessionId)
{
    /// <summary>The 64-byte Ed25519 signature (empty on a message built for sending).</summary>
    public byte[] Signature { get; init; } = [];
    /// <summary>label || SHA-256(body): the bytes the signature covers (set by decoding).</summary>
    internal byte[] SignedBytes { get; init; } = [];

    /// <summary>Verifies the signature with the sender's Ed25519 public key.</summary>
    public bool VerifySignature(ReadOnlySpan<byte> publicKey) => Ed25519SigningKey.Verify(publicKey, SignedBytes, Signature);

    /// <summary>Signs the canonical body with <paramref name="key"/> and returns the serialized <c>MaskingBankMessage</c>.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] body = Body();
        byte[] signature = key.Sign(Wire.SignedMessage(Wire.SignatureLabel, body));
        return MaskingWire.EncodeSigned(this, body, signature);
    }

    /// <summary>The canonical body of SPEC.md 9 (what the signature covers, hashed).</summary>
    public byte[] Body()
    {
        var w = new WireWriter(BodySizeHint);
        WriteBody(w);
        return w.ToArray();
    }

    private protected abstract int BodySizeHint { get; }
    private protected abstract void WriteBody(WireWriter w);

    /// <summary>Checks the signature's size and records what it covers; <paramref name="body"/> was parsed as this message.</summary>
    internal static (byte[] Signature, byte[] SignedBytes) Seal(ReadOnlySpan<byte> body, byte[] signature)
    {
        if (signature.Length != Wire.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "A signature is 64 bytes.");
        return (signature, Wire.SignedMessage(Wire.SignatureLabel, body));
    }
}

/// <summary>Type 1. Body: prefix (round 0) | sender u32 | channel X25519 public key (32) | mask X25519 public key (32) | graph-seed
/// commitment (32): 126 bytes. The commitment is <see cref="GraphSeed.Commit"/> of the bank's graph-seed nonce (SPEC.md 8.1).</summary>
public sealed record AdvertiseKeys(byte[] SessionId, int Sender, byte[] ChannelPublicKey, byte[] MaskPublicKey, byte[] GraphCommitment) : SignedMessage(SessionId)
{
    /// <summary>Body size in bytes (SPEC.md 9).</summary>
    public const int BodySize = Wire.HeaderSize + 4 + 32 + 32 + GraphSeed.Size;

    private protected override int BodySizeHint => BodySize;

    private protected override void WriteBody(WireWriter w)
    {
        w.Header(MessageType.AdvertiseKeys, SessionId, 0);
        w.U32((uint)Sender);
        w.Bytes(ChannelPublicKey);
        w.Bytes(MaskPublicKey);
        w.Bytes(GraphCommitment);
    }

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying AdvertiseKeys.</summary>
    public static AdvertiseKeys Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<AdvertiseKeys>(data);

    internal static AdvertiseKeys FromBody(ReadOnlySpan<byte> body, byte[] signature)
    {
        if (body.Length != BodySize) throw Error.Violation(ViolationReason.Malformed, "AdvertiseKeys has the wrong length.");
        var r = new WireReader(body);
        MessageHeader h = r.Header(MessageType.AdvertiseKeys);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "AdvertiseKeys carries round 0.");
        int sender = r.Id();
        byte[] c = r.Bytes(32).ToArray(), s = r.Bytes(32).ToArray(), commitment = r.Bytes(GraphSeed.Size).ToArray();
        r.End();
        var (sig, signed) = Seal(body, signature);
        return new AdvertiseKeys(h.SessionId, sender, c, s, commitment) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Every AdvertiseKeys received, as signed, senders ascending (SPEC.md 8.1 step 2; wire only, no canonical body).</summary>
public sealed record KeyRoster(byte[] SessionId, IReadOnlyList<AdvertiseKeys> Keys) : MaskingToBank(SessionId)
{
    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying a key roster.</summary>
    public static KeyRoster Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<KeyRoster>(data);
}

/// <summary>Type 10. Body: prefix (round 0) | sender u32 | graph-seed nonce (32): 62 bytes (SPEC.md 8.1, 9).</summary>
public sealed record GraphSeedReveal(byte[] SessionId, int Sender, byte[] Nonce) : SignedMessage(SessionId)
{
    /// <summary>Body size in bytes.</summary>
    public const int BodySize = Wire.HeaderSize + 4 + GraphSeed.Size;

    private protected override int BodySizeHint => BodySize;

    private protected override void WriteBody(WireWriter w)
    {
        w.Header(MessageType.GraphSeedReveal, SessionId, 0);
        w.U32((uint)Sender);
        w.Bytes(Nonce);
    }

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying a GraphSeedReveal.</summary>
    public static GraphSeedReveal Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<GraphSeedReveal>(data);

    internal static GraphSeedReveal FromBody(ReadOnlySpan<byte> body, byte[] signature)
    {
        if (body.Length != BodySize) throw Error.Violation(ViolationReason.Malformed, "GraphSeedReveal has the wrong length.");
        var r = new WireReader(body);
        MessageHeader h = r.Header(MessageType.GraphSeedReveal);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "GraphSeedReveal carries round 0.");
        int sender = r.Id();
        byte[] nonce = r.Bytes(GraphSeed.Size).ToArray();
        r.End();
        var (sig, signed) = Seal(body, signature);
        return new GraphSeedReveal(h.SessionId, sender, nonce) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Every GraphSeedReveal received, as signed, senders ascending (SPEC.md 8.1 step 4; wire only).</summary>
public sealed record GraphSeedRoster(byte[] SessionId, IReadOnlyList<GraphSeedReveal> Reveals) : MaskingToBank(SessionId)
{
    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying a graph-seed roster.</summary>
    public static GraphSeedRoster Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<GraphSeedRoster>(data);
}

/// <summary>One AEAD-encrypted share bundle addressed to <paramref name="Peer"/> (recipient or sender by context).</summary>
public sealed record EncryptedShare(int Peer, byte[] Ciphertext)
{
    /// <summary>Plaintext: owner u32 | holder u32 | round u32 | b share y (66) | kappa share y (66).</summary>
    public const int PlaintextSize = 12 + 2 * 66;
    /// <summary>Ciphertext || tag.</summary>
    public const int CiphertextSize = PlaintextSize + Aead.TagSize;
    internal const int EncodedSize = 4 + CiphertextSize;
}

/// <summary>The plaintext inside an AEAD share bundle (SPEC.md section 3): owner u32 | holder u32 | round u32 | y_b (66) | y_kappa (66).</summary>
internal static class ShareBundle
{
    public static void Encode(int owner, int holder, uint round, FieldElement521 selfShare, FieldElement521 pairwiseShare, Span<byte> destination)
    {
        System.Diagnostics.Debug.Assert(destination.Length == EncryptedShare.PlaintextSize);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)owner);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)holder);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], round);
        Shamir.P521.EncodeElement(selfShare, destination.Slice(12, 66));
        Shamir.P521.EncodeElement(pairwiseShare, destination.Slice(78, 66));
    }

    /// <summary>Checks owner, holder and round, and that both values are field elements; the caller disposes both values.</summary>
    public static (FieldElement521 Self, FieldElement521 Pairwise) Decode(ReadOnlySpan<byte> plaintext, int owner, int holder, uint round)
    {
        if (plaintext.Length != EncryptedShare.PlaintextSize) throw Error.Violation(ViolationReason.Malformed, "A share bundle has the wrong length.");
        if (BinaryPrimitives.ReadUInt32BigEndian(plaintext) != (uint)owner || BinaryPrimitives.ReadUInt32BigEndian(plaintext[4..]) != (uint)holder
            || BinaryPrimitives.ReadUInt32BigEndian(plaintext[8..]) != round)
            throw Error.Violation(ViolationReason.Malformed, "A share bundle names the wrong owner, holder or round.");
        FieldElement521 self = Shamir.P521.DecodeElement(plaintext.Slice(12, 66));
        try { return (self, Shamir.P521.DecodeElement(plaintext.Slice(78, 66))); }
        catch
        {
            self.Dispose();
            throw;
        }
    }
}

/// <summary>The round's pairwise seed with <paramref name="Peer"/>, XOR-padded under the owner's escrow key kappa.</summary>
public sealed record EscrowedSeed(int Peer, byte[] Escrow)
{
    internal const int EncodedSize = 4 + 32;
}

/// <summary>Type 3. Body: prefix | sender u32 | n u32 | n x (recipient u32 | ciphertext 160) | m u32 | m x (peer u32 | escrow 32).</summary>
public sealed record ShareKeys(byte[] SessionId, uint Round, int Sender, IReadOnlyList<EncryptedShare> Shares, IReadOnlyList<EscrowedSeed> Escrows) : SignedMessage(SessionId)
{
    private protected override int BodySizeHint => Wire.HeaderSize + 12 + Shares.Count * EncryptedShare.EncodedSize + Escrows.Count * EscrowedSeed.EncodedSize;

    private protected override void WriteBody(WireWriter w)
    {
        w.Header(MessageType.ShareKeys, SessionId, Round);
        w.U32((uint)Sender);
        w.U32((uint)Shares.Count);
        foreach (EncryptedShare s in Shares) { w.U32((uint)s.Peer); w.Bytes(s.Ciphertext); }
        w.U32((uint)Escrows.Count);
        foreach (EscrowedSeed e in Escrows) { w.U32((uint)e.Peer); w.Bytes(e.Escrow); }
    }

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying ShareKeys.</summary>
    public static ShareKeys Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<ShareKeys>(data);

    internal static ShareKeys FromBody(ReadOnlySpan<byte> body, byte[] signature)
    {
        var r = new WireReader(body);
        MessageHeader h = r.Header(MessageType.ShareKeys);
        int sender = r.Id();
        int n = r.Count(EncryptedShare.EncodedSize);
        var shares = new EncryptedShare[n];
        for (int i = 0; i < n; i++) shares[i] = new EncryptedShare(r.Id(), r.Bytes(EncryptedShare.CiphertextSize).ToArray());
        int m = r.Count(EscrowedSeed.EncodedSize);
        var escrows = new EscrowedSeed[m];
        for (int i = 0; i < m; i++) escrows[i] = new EscrowedSeed(r.Id(), r.Bytes(32).ToArray());
        r.End();
        var (sig, signed) = Seal(body, signature);
        return new ShareKeys(h.SessionId, h.Round, sender, shares, escrows) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>The sealed bundles addressed to <paramref name="Recipient"/>, each tagged with its owner (SPEC.md 8.2 step 2; wire only).</summary>
public sealed record ShareDelivery(byte[] SessionId, uint Round, int Recipient, IReadOnlyList<EncryptedShare> Shares) : MaskingToBank(SessionId)
{
    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying a share delivery.</summary>
    public static ShareDelivery Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<ShareDelivery>(data);
}

/// <summary>Type 5. Body: prefix | sender u32 | k u8 | length u32 | length x ceil(k/8) bytes (little-endian values).</summary>
public sealed record MaskedInput(byte[] SessionId, uint Round, int Sender, int ModulusBits, int Length, byte[] Packed) : SignedMessage(SessionId)
{
    private protected override int BodySizeHint => Wire.HeaderSize + 9 + Packed.Length;

    private protected override void WriteBody(WireWriter w)
    {
        w.Header(MessageType.MaskedInput, SessionId, Round);
        w.U32((uint)Sender);
        w.U8((byte)ModulusBits);
        w.U32((uint)Length);
        w.Bytes(Packed);
    }

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying a masked input (values are range-checked: each below 2^k).</summary>
    public static MaskedInput Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<MaskedInput>(data);

    /// <summary>Where the packed values start in the canonical body: prefix | sender u32 | k u8 | length u32.</summary>
    internal const int PackedOffset = Wire.HeaderSize + 9;

    /// <summary>The serialized <c>MaskingBankMessage</c> of this message, in its canonical encoding
    /// (<see cref="MaskingWire.TryReadCanonicalMaskedInput"/>), with its packed values and signature left unwritten: the caller
    /// writes all <paramref name="length"/> x ceil(k/8) values at <paramref name="packedOffset"/>, straight from the masking, so
    /// a bank makes neither a separate packed array of megabytes nor a body array copied into the message. Then
    /// <see cref="SignMessage"/> signs it in place. <paramref name="reuse"/> is null, or an array of the bank's that nothing else
    /// reads any more (its previous masked input, sent and acknowledged): used when it has exactly the message's size (every byte
    /// of it is then overwritten), else a new array is.</summary>
    internal static byte[] NewMessage(byte[] sessionId, uint round, int sender, int modulusBits, int length, byte[]? reuse, out int packedOffset)
    {
        int bodyLength = checked(PackedOffset + length * ModVector.BytesPerValue(modulusBits));
        int bodyOffset = MaskingWire.CanonicalMaskedInputBodyOffset(sessionId.Length, bodyLength, out int size);
        byte[] message = reuse is not null && reuse.Length == size ? reuse : GC.AllocateUninitializedArray<byte>(size);
        MaskingWire.WriteCanonicalMaskedInputFrame(message, sessionId, bodyLength);
        var head = new WireWriter(PackedOffset);
        head.Header(MessageType.MaskedInput, sessionId, round);
        head.U32((uint)sender);
        head.U8((byte)modulusBits);
        head.U32((uint)length);
        head.Written.CopyTo(message.AsSpan(bodyOffset));
        packedOffset = bodyOffset + PackedOffset;
        return message;
    }

    /// <summary>Signs a message from <see cref="NewMessage"/> whose values are written: its last 64 bytes receive the signature
    /// over the body (SPEC.md 9), and it is then the same bytes as <see cref="SignedMessage.Encode(Ed25519SigningKey)"/> of the
    /// message with those values.</summary>
    internal static void SignMessage(byte[] message, int packedOffset, int modulusBits, int length, Ed25519SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        int bodyOffset = packedOffset - PackedOffset;
        int bodyLength = PackedOffset + length * ModVector.BytesPerValue(modulusBits);
        Debug.Assert(bodyOffset + bodyLength + 2 + Wire.SignatureSize == message.Length);
        byte[] signed = Wire.SignedMessage(Wire.SignatureLabel, message.AsSpan(bodyOffset, bodyLength));
        key.Sign(signed, message.AsSpan(message.Length - Wire.SignatureSize));
    }

    /// <summary>For a message decoded in place (<see cref="MaskingWire.DecodeToAggregatorInPlace"/>): its packed values in the
    /// caller's bytes; empty otherwise.</summary>
    internal ReadOnlyMemory<byte> PackedInPlace { get; private init; }

    /// <summary>For a message decoded in place: the whole canonical body in the caller's bytes (the values are its tail), whose
    /// SHA-256 is the last 32 bytes of <see cref="SignedMessage.SignedBytes"/>; empty otherwise.</summary>
    internal ReadOnlyMemory<byte> BodyInPlace { get; private init; }

    /// <summary>The packed values: <see cref="Packed"/>, or the caller's bytes of a message decoded in place.</summary>
    internal ReadOnlySpan<byte> PackedValues => PackedInPlace.IsEmpty ? Packed : PackedInPlace.Span;

    /// <param name="body">The canonical body.</param>
    /// <param name="signature">The signature (kept).</param>
    /// <param name="bodyInPlace">Empty, or <paramref name="body"/> as memory the caller keeps unchanged: the values are then read
    /// there instead of copied.</param>
    internal static MaskedInput FromBody(ReadOnlySpan<byte> body, byte[] signature, ReadOnlyMemory<byte> bodyInPlace = default)
    {
        var r = new WireReader(body);
        MessageHeader h = r.Header(MessageType.MaskedInput);
        int sender = r.Id();
        int bits = r.U8();
        if (bits is < 1 or > 64) throw Error.Violation(ViolationReason.Malformed, "k must be in 1..64.");
        uint length = r.U32();
        long bytes = (long)length * ModVector.BytesPerValue(bits);
        if (bytes != r.Remaining) throw Error.Violation(ViolationReason.Malformed, "MaskedInput does not hold exactly its declared length.");
        ReadOnlySpan<byte> values = r.Bytes((int)bytes);
        r.End();
        if (!ModVector.IsValidPacked(values, bits)) throw Error.Violation(ViolationReason.OutOfRange, "A masked value is not below 2^k.");
        var (sig, signed) = Seal(body, signature);
        bool inPlace = !bodyInPlace.IsEmpty && bytes > 0;
        Debug.Assert(!inPlace || bodyInPlace.Length == body.Length);
        return new MaskedInput(h.SessionId, h.Round, sender, bits, (int)length, inPlace ? [] : values.ToArray())
        {
            Signature = sig, SignedBytes = signed, PackedInPlace = inPlace ? bodyInPlace[(body.Length - (int)bytes)..] : default,
            BodyInPlace = inPlace ? bodyInPlace : default,
        };
    }
}

/// <summary>U2, strictly ascending (SPEC.md 8.2 step 4). Type 6 is its canonical encoding, which banks sign and never send:
/// prefix | n u32 | n x bank id u32.</summary>
public sealed record SurvivorList(byte[] SessionId, uint Round, IReadOnlyList<int> Survivors) : MaskingToBank(SessionId)
{
    /// <summary>The canonical encoding of SPEC.md 9 type 6 (what a consistency signature covers, hashed).</summary>
    public byte[] CanonicalEncoding()
    {
        var w = new WireWriter(Wire.HeaderSize + 4 + 4 * Survivors.Count);
        w.Header(MessageType.SurvivorList, SessionId, Round);
        w.U32((uint)Survivors.Count);
        foreach (int s in Survivors) w.U32((uint)s);
        return w.ToArray();
    }

    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying a survivor list; ids must be strictly ascending.</summary>
    public static SurvivorList Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<SurvivorList>(data);

    /// <summary>The bytes a consistency signature covers: label || SHA-256(canonical encoding).</summary>
    public byte[] SignedBytes() => Wire.SignedMessage(Wire.SurvivorsLabel, CanonicalEncoding());
}

/// <summary>A bank's signature (64 bytes) over "FraudFed/v1/secagg/survivors" || SHA-256(SurvivorList canonical encoding).</summary>
public sealed record ConsistencySignature(byte[] SessionId, uint Round, int Sender, byte[] Signature) : MaskingToAggregator(SessionId)
{
    /// <summary>The serialized <c>MaskingBankMessage</c>.</summary>
    public byte[] Encode() => MaskingWire.Encode(this);

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying a consistency signature.</summary>
    public static ConsistencySignature Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<ConsistencySignature>(data);
}

/// <summary>A survivor's signature over the survivor list, relayed by the aggregator.</summary>
public sealed record SignerSignature(int Signer, byte[] Signature);

/// <summary>A request for the recipient's share of <paramref name="Peer"/>'s round secret of the given kind.</summary>
public sealed record ShareRequest(int Peer, ShareKind Kind);

/// <summary>U2, every consistency signature and the shares asked of <paramref name="Recipient"/> (SPEC.md 8.2 step 5; wire only).</summary>
public sealed record UnmaskRequest(byte[] SessionId, uint Round, int Recipient, IReadOnlyList<int> Survivors, IReadOnlyList<SignerSignature> Signatures, IReadOnlyList<ShareRequest> Requests)
    : MaskingToBank(SessionId)
{
    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying an unmask request.</summary>
    public static UnmaskRequest Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<UnmaskRequest>(data);

    internal static ShareKind Kind(byte b) => b switch
    {
        1 => ShareKind.SelfMask,
        2 => ShareKind.PairwiseKey,
        _ => throw Error.Violation(ViolationReason.Malformed, "Unknown share kind."),
    };
}

/// <summary>One revealed share: the sender's Shamir point y for <paramref name="Peer"/>'s secret (x = sender id + 1).</summary>
public sealed record RevealedShare(int Peer, ShareKind Kind, byte[] Y)
{
    internal const int EncodedSize = 4 + 1 + 66;
}

/// <summary>Type 9. Body: prefix | sender u32 | n u32 | n x (peer u32 | kind u8 | y 66 bytes BE).</summary>
public sealed record UnmaskResponse(byte[] SessionId, uint Round, int Sender, IReadOnlyList<RevealedShare> Shares) : SignedMessage(SessionId)
{
    private protected override int BodySizeHint => Wire.HeaderSize + 8 + Shares.Count * RevealedShare.EncodedSize;

    private protected override void WriteBody(WireWriter w)
    {
        w.Header(MessageType.UnmaskResponse, SessionId, Round);
        w.U32((uint)Sender);
        w.U32((uint)Shares.Count);
        foreach (RevealedShare s in Shares) { w.U32((uint)s.Peer); w.U8((byte)s.Kind); w.Bytes(s.Y); }
    }

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying an unmask response; every y must be a field element of 2^521-1.</summary>
    public static UnmaskResponse Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<UnmaskResponse>(data);

    internal static UnmaskResponse FromBody(ReadOnlySpan<byte> body, byte[] signature)
    {
        var r = new WireReader(body);
        MessageHeader h = r.Header(MessageType.UnmaskResponse);
        int sender = r.Id();
        int n = r.Count(RevealedShare.EncodedSize);
        var shares = new RevealedShare[n];
        for (int i = 0; i < n; i++)
        {
            int peer = r.Id();
            ShareKind kind = UnmaskRequest.Kind(r.U8());
            byte[] y = r.Bytes(66).ToArray();
            Shamir.P521.ValidateElement(y); // range check: y < p
            shares[i] = new RevealedShare(peer, kind, y);
        }
        r.End();
        var (sig, signed) = Seal(body, signature);
        return new UnmaskResponse(h.SessionId, h.Round, sender, shares) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>The aggregator ends round <paramref name="Round"/> without a sum (SPEC.md 8.3), or the session when the round is 0.
/// Unsigned: the aggregator can always stall a round, so its word that the round ended gives it nothing new.</summary>
public sealed record RoundAbort(byte[] SessionId, uint Round, ViolationReason Reason, string Message = "") : MaskingToBank(SessionId)
{
    /// <summary>Decodes a <c>MaskingAggregatorMessage</c> carrying an abort.</summary>
    public static RoundAbort Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToBank<RoundAbort>(data);
}

/// <summary>A bank leaves round <paramref name="Round"/> (a benign failure, SPEC.md 8.3), or the session when the round is 0.</summary>
public sealed record BankAbort(byte[] SessionId, uint Round, ViolationReason Reason, string Message = "") : MaskingToAggregator(SessionId)
{
    /// <summary>The serialized <c>MaskingBankMessage</c>.</summary>
    public byte[] Encode() => MaskingWire.Encode(this);

    /// <summary>Decodes a <c>MaskingBankMessage</c> carrying an abort.</summary>
    public static BankAbort Decode(ReadOnlySpan<byte> data) => MaskingWire.DecodeToAggregator<BankAbort>(data);
}
