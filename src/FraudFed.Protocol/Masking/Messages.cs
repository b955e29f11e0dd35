// The twelve masking-protocol messages and their codecs (layouts in Wire.cs and SPEC.md). Decoding validates
// structure only (lengths, counts, ranges of ids, field sizes); the state machines validate meaning
// (membership, duplicates, signatures) cheap to expensive.
using System.Buffers.Binary;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Protocol.Masking;

/// <summary>A decoded signed message keeps the signature and the exact bytes the signature covers.</summary>
public abstract record SignedMessage
{
    /// <summary>The 64-byte Ed25519 signature (empty on a message built for sending).</summary>
    public byte[] Signature { get; init; } = [];
    /// <summary>label || SHA-256(body): the bytes the signature covers (set by Decode).</summary>
    internal byte[] SignedBytes { get; init; } = [];

    /// <summary>Verifies the signature with the sender's Ed25519 public key.</summary>
    public bool VerifySignature(ReadOnlySpan<byte> publicKey) => Ed25519SigningKey.Verify(publicKey, SignedBytes, Signature);
}

/// <summary>Type 1. Body: sender u32 | channel X25519 public key (32) | mask X25519 public key (32) | graph-seed commitment (32)
/// | signature (64). Round = 0. The commitment is <see cref="GraphSeed.Commit"/> of the bank's graph-seed nonce (SPEC.md 8.1).</summary>
public sealed record AdvertiseKeys(byte[] SessionId, int Sender, byte[] ChannelPublicKey, byte[] MaskPublicKey, byte[] GraphCommitment) : SignedMessage
{
    /// <summary>Encoded size in bytes.</summary>
    public const int EncodedSize = Wire.HeaderSize + 4 + 32 + 32 + GraphSeed.Size + Wire.SignatureSize;

    /// <summary>Encodes and signs.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        var w = new WireWriter(EncodedSize);
        WriteBody(w);
        return w.Sign(key);
    }

    /// <summary>Re-encodes a decoded message with its signature (for relaying in a roster).</summary>
    internal void WriteSigned(WireWriter w)
    {
        WriteBody(w);
        w.Bytes(Signature);
    }

    private void WriteBody(WireWriter w)
    {
        w.Header(MessageType.AdvertiseKeys, SessionId, 0);
        w.U32((uint)Sender);
        w.Bytes(ChannelPublicKey);
        w.Bytes(MaskPublicKey);
        w.Bytes(GraphCommitment);
    }

    /// <summary>Decodes.</summary>
    public static AdvertiseKeys Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length != EncodedSize) throw Error.Violation(ViolationReason.Malformed, "AdvertiseKeys has the wrong length.");
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.AdvertiseKeys);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "AdvertiseKeys carries round 0.");
        int sender = r.Id();
        byte[] c = r.Bytes(32).ToArray(), s = r.Bytes(32).ToArray(), commitment = r.Bytes(GraphSeed.Size).ToArray();
        var (sig, signed) = r.Signature();
        r.End();
        return new AdvertiseKeys(h.SessionId, sender, c, s, commitment) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Type 2. Body: count u32 | count x AdvertiseKeys (each exactly AdvertiseKeys.EncodedSize = 190 bytes). Round = 0.</summary>
public sealed record KeyRoster(byte[] SessionId, IReadOnlyList<AdvertiseKeys> Keys)
{
    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(Wire.HeaderSize + 4 + Keys.Count * AdvertiseKeys.EncodedSize);
        w.Header(MessageType.KeyRoster, SessionId, 0);
        w.U32((uint)Keys.Count);
        foreach (AdvertiseKeys k in Keys) k.WriteSigned(w);
        return w.ToArray();
    }

    /// <summary>Decodes.</summary>
    public static KeyRoster Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.KeyRoster);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "KeyRoster carries round 0.");
        int count = r.Count(AdvertiseKeys.EncodedSize);
        var keys = new AdvertiseKeys[count];
        for (int i = 0; i < count; i++) keys[i] = AdvertiseKeys.Decode(r.Bytes(AdvertiseKeys.EncodedSize));
        r.End();
        return new KeyRoster(h.SessionId, keys);
    }
}

/// <summary>Type 10. Body: sender u32 | graph-seed nonce (32) | signature (64); round = 0; 126 bytes (SPEC.md 8.1, 9).</summary>
public sealed record GraphSeedReveal(byte[] SessionId, int Sender, byte[] Nonce) : SignedMessage
{
    /// <summary>Encoded size in bytes.</summary>
    public const int EncodedSize = Wire.HeaderSize + 4 + GraphSeed.Size + Wire.SignatureSize;

    /// <summary>Encodes and signs.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        var w = new WireWriter(EncodedSize);
        WriteBody(w);
        return w.Sign(key);
    }

    /// <summary>Re-encodes a decoded message with its signature (for relaying in a GraphSeedRoster).</summary>
    internal void WriteSigned(WireWriter w)
    {
        WriteBody(w);
        w.Bytes(Signature);
    }

    private void WriteBody(WireWriter w)
    {
        w.Header(MessageType.GraphSeedReveal, SessionId, 0);
        w.U32((uint)Sender);
        w.Bytes(Nonce);
    }

    /// <summary>Decodes.</summary>
    public static GraphSeedReveal Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length != EncodedSize) throw Error.Violation(ViolationReason.Malformed, "GraphSeedReveal has the wrong length.");
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.GraphSeedReveal);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "GraphSeedReveal carries round 0.");
        int sender = r.Id();
        byte[] nonce = r.Bytes(GraphSeed.Size).ToArray();
        var (sig, signed) = r.Signature();
        r.End();
        return new GraphSeedReveal(h.SessionId, sender, nonce) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Type 11. Body: count u32 | count x GraphSeedReveal (each exactly 126 bytes, with signature). Round = 0.</summary>
public sealed record GraphSeedRoster(byte[] SessionId, IReadOnlyList<GraphSeedReveal> Reveals)
{
    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(Wire.HeaderSize + 4 + Reveals.Count * GraphSeedReveal.EncodedSize);
        w.Header(MessageType.GraphSeedRoster, SessionId, 0);
        w.U32((uint)Reveals.Count);
        foreach (GraphSeedReveal r in Reveals) r.WriteSigned(w);
        return w.ToArray();
    }

    /// <summary>Decodes.</summary>
    public static GraphSeedRoster Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.GraphSeedRoster);
        if (h.Round != 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "GraphSeedRoster carries round 0.");
        int count = r.Count(GraphSeedReveal.EncodedSize);
        var reveals = new GraphSeedReveal[count];
        for (int i = 0; i < count; i++) reveals[i] = GraphSeedReveal.Decode(r.Bytes(GraphSeedReveal.EncodedSize));
        r.End();
        return new GraphSeedRoster(h.SessionId, reveals);
    }
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

/// <summary>Type 3. Body: sender u32 | n u32 | n x (recipient u32 | ciphertext 160) | m u32 | m x (peer u32 | escrow 32) | signature.</summary>
public sealed record ShareKeys(byte[] SessionId, uint Round, int Sender, IReadOnlyList<EncryptedShare> Shares, IReadOnlyList<EscrowedSeed> Escrows) : SignedMessage
{
    /// <summary>Encodes and signs.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        var w = new WireWriter(Wire.HeaderSize + 12 + Shares.Count * EncryptedShare.EncodedSize + Escrows.Count * EscrowedSeed.EncodedSize + 64);
        w.Header(MessageType.ShareKeys, SessionId, Round);
        w.U32((uint)Sender);
        w.U32((uint)Shares.Count);
        foreach (EncryptedShare s in Shares) { w.U32((uint)s.Peer); w.Bytes(s.Ciphertext); }
        w.U32((uint)Escrows.Count);
        foreach (EscrowedSeed e in Escrows) { w.U32((uint)e.Peer); w.Bytes(e.Escrow); }
        return w.Sign(key);
    }

    /// <summary>Decodes.</summary>
    public static ShareKeys Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.ShareKeys);
        int sender = r.Id();
        int n = r.Count(EncryptedShare.EncodedSize);
        var shares = new EncryptedShare[n];
        for (int i = 0; i < n; i++) shares[i] = new EncryptedShare(r.Id(), r.Bytes(EncryptedShare.CiphertextSize).ToArray());
        int m = r.Count(EscrowedSeed.EncodedSize);
        var escrows = new EscrowedSeed[m];
        for (int i = 0; i < m; i++) escrows[i] = new EscrowedSeed(r.Id(), r.Bytes(32).ToArray());
        var (sig, signed) = r.Signature();
        r.End();
        return new ShareKeys(h.SessionId, h.Round, sender, shares, escrows) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Type 4. Body: recipient u32 | n u32 | n x (sender u32 | ciphertext 160).</summary>
public sealed record ShareDelivery(byte[] SessionId, uint Round, int Recipient, IReadOnlyList<EncryptedShare> Shares)
{
    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(Wire.HeaderSize + 8 + Shares.Count * EncryptedShare.EncodedSize);
        w.Header(MessageType.ShareDelivery, SessionId, Round);
        w.U32((uint)Recipient);
        w.U32((uint)Shares.Count);
        foreach (EncryptedShare s in Shares) { w.U32((uint)s.Peer); w.Bytes(s.Ciphertext); }
        return w.ToArray();
    }

    /// <summary>Decodes.</summary>
    public static ShareDelivery Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.ShareDelivery);
        int recipient = r.Id();
        int n = r.Count(EncryptedShare.EncodedSize);
        var shares = new EncryptedShare[n];
        for (int i = 0; i < n; i++) shares[i] = new EncryptedShare(r.Id(), r.Bytes(EncryptedShare.CiphertextSize).ToArray());
        r.End();
        return new ShareDelivery(h.SessionId, h.Round, recipient, shares);
    }
}

/// <summary>Type 5. Body: sender u32 | k u8 | length u32 | length x ceil(k/8) bytes (little-endian values) | signature.</summary>
public sealed record MaskedInput(byte[] SessionId, uint Round, int Sender, int ModulusBits, int Length, byte[] Packed) : SignedMessage
{
    /// <summary>Encodes and signs.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        var w = new WireWriter(Wire.HeaderSize + 9 + Packed.Length + 64);
        w.Header(MessageType.MaskedInput, SessionId, Round);
        w.U32((uint)Sender);
        w.U8((byte)ModulusBits);
        w.U32((uint)Length);
        w.Bytes(Packed);
        return w.Sign(key);
    }

    /// <summary>Decodes (values are range-checked: each below 2^k).</summary>
    public static MaskedInput Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.MaskedInput);
        int sender = r.Id();
        int bits = r.U8();
        if (bits is < 1 or > 64) throw Error.Violation(ViolationReason.Malformed, "k must be in 1..64.");
        uint length = r.U32();
        long bytes = (long)length * ModVector.BytesPerValue(bits);
        if (bytes > r.Remaining - Wire.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "MaskedInput is shorter than its declared length.");
        byte[] packed = r.Bytes((int)bytes).ToArray();
        var (sig, signed) = r.Signature();
        r.End();
        if (!ModVector.IsValidPacked(packed, bits)) throw Error.Violation(ViolationReason.OutOfRange, "A masked value is not below 2^k.");
        return new MaskedInput(h.SessionId, h.Round, sender, bits, (int)length, packed) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Type 6. Body: n u32 | n x bank id u32, strictly ascending.</summary>
public sealed record SurvivorList(byte[] SessionId, uint Round, IReadOnlyList<int> Survivors)
{
    /// <summary>Encodes (the canonical bytes banks sign in the consistency check).</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(Wire.HeaderSize + 4 + 4 * Survivors.Count);
        w.Header(MessageType.SurvivorList, SessionId, Round);
        w.U32((uint)Survivors.Count);
        foreach (int s in Survivors) w.U32((uint)s);
        return w.ToArray();
    }

    /// <summary>Decodes; ids must be strictly ascending.</summary>
    public static SurvivorList Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.SurvivorList);
        int[] ids = ReadAscending(ref r);
        r.End();
        return new SurvivorList(h.SessionId, h.Round, ids);
    }

    internal static int[] ReadAscending(ref WireReader r)
    {
        int n = r.Count(4);
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            ids[i] = r.Id();
            if (i > 0 && ids[i] <= ids[i - 1]) throw Error.Violation(ViolationReason.Malformed, "Survivor ids must be strictly ascending.");
        }
        return ids;
    }

    /// <summary>The bytes a consistency signature covers: label || SHA-256(encoding).</summary>
    public byte[] SignedBytes() => Wire.SignedMessage(Wire.SurvivorsLabel, Encode());
}

/// <summary>Type 7. Body: sender u32 | signature (64) over "FraudFed/v1/secagg/survivors" || SHA-256(SurvivorList encoding).</summary>
public sealed record ConsistencySignature(byte[] SessionId, uint Round, int Sender, byte[] Signature)
{
    /// <summary>Encoded size in bytes.</summary>
    public const int EncodedSize = Wire.HeaderSize + 4 + Wire.SignatureSize;

    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(EncodedSize);
        w.Header(MessageType.ConsistencySignature, SessionId, Round);
        w.U32((uint)Sender);
        w.Bytes(Signature);
        return w.ToArray();
    }

    /// <summary>Decodes.</summary>
    public static ConsistencySignature Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length != EncodedSize) throw Error.Violation(ViolationReason.Malformed, "ConsistencySignature has the wrong length.");
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.ConsistencySignature);
        int sender = r.Id();
        byte[] sig = r.Bytes(Wire.SignatureSize).ToArray();
        r.End();
        return new ConsistencySignature(h.SessionId, h.Round, sender, sig);
    }
}

/// <summary>A survivor's signature over the survivor list, relayed by the aggregator.</summary>
public sealed record SignerSignature(int Signer, byte[] Signature);

/// <summary>A request for the recipient's share of <paramref name="Peer"/>'s round secret of the given kind.</summary>
public sealed record ShareRequest(int Peer, ShareKind Kind);

/// <summary>Type 8. Body: recipient u32 | survivors (n u32 | ids) | m u32 | m x (signer u32 | sig 64) | q u32 | q x (peer u32 | kind u8).</summary>
public sealed record UnmaskRequest(byte[] SessionId, uint Round, int Recipient, IReadOnlyList<int> Survivors, IReadOnlyList<SignerSignature> Signatures, IReadOnlyList<ShareRequest> Requests)
{
    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(Wire.HeaderSize + 16 + 4 * Survivors.Count + 68 * Signatures.Count + 5 * Requests.Count);
        w.Header(MessageType.UnmaskRequest, SessionId, Round);
        w.U32((uint)Recipient);
        w.U32((uint)Survivors.Count);
        foreach (int s in Survivors) w.U32((uint)s);
        w.U32((uint)Signatures.Count);
        foreach (SignerSignature s in Signatures) { w.U32((uint)s.Signer); w.Bytes(s.Signature); }
        w.U32((uint)Requests.Count);
        foreach (ShareRequest q in Requests) { w.U32((uint)q.Peer); w.U8((byte)q.Kind); }
        return w.ToArray();
    }

    /// <summary>Decodes.</summary>
    public static UnmaskRequest Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.UnmaskRequest);
        int recipient = r.Id();
        int[] survivors = SurvivorList.ReadAscending(ref r);
        int m = r.Count(4 + Wire.SignatureSize);
        var sigs = new SignerSignature[m];
        for (int i = 0; i < m; i++) sigs[i] = new SignerSignature(r.Id(), r.Bytes(Wire.SignatureSize).ToArray());
        int q = r.Count(5);
        var reqs = new ShareRequest[q];
        for (int i = 0; i < q; i++) reqs[i] = new ShareRequest(r.Id(), Kind(r.U8()));
        r.End();
        return new UnmaskRequest(h.SessionId, h.Round, recipient, survivors, sigs, reqs);
    }

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

/// <summary>Type 9. Body: sender u32 | n u32 | n x (peer u32 | kind u8 | y 66 bytes BE) | signature.</summary>
public sealed record UnmaskResponse(byte[] SessionId, uint Round, int Sender, IReadOnlyList<RevealedShare> Shares) : SignedMessage
{
    /// <summary>Encodes and signs.</summary>
    public byte[] Encode(Ed25519SigningKey key)
    {
        var w = new WireWriter(Wire.HeaderSize + 8 + Shares.Count * RevealedShare.EncodedSize + 64);
        w.Header(MessageType.UnmaskResponse, SessionId, Round);
        w.U32((uint)Sender);
        w.U32((uint)Shares.Count);
        foreach (RevealedShare s in Shares) { w.U32((uint)s.Peer); w.U8((byte)s.Kind); w.Bytes(s.Y); }
        return w.Sign(key);
    }

    /// <summary>Decodes; every y must be a field element of 2^521-1.</summary>
    public static UnmaskResponse Decode(ReadOnlySpan<byte> data)
    {
        var r = new WireReader(data);
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
        var (sig, signed) = r.Signature();
        r.End();
        return new UnmaskResponse(h.SessionId, h.Round, sender, shares) { Signature = sig, SignedBytes = signed };
    }
}

/// <summary>Type 12. Body: reason u8 (a <see cref="ViolationReason"/> code). Unsigned: the aggregator can always stall a round,
/// so its word that the round ended gives it nothing new; a bank only ever leaves the round on it (SPEC.md 8.3).</summary>
public sealed record RoundAbort(byte[] SessionId, uint Round, ViolationReason Reason)
{
    /// <summary>Encoded size in bytes.</summary>
    public const int EncodedSize = Wire.HeaderSize + 1;

    /// <summary>Encodes.</summary>
    public byte[] Encode()
    {
        var w = new WireWriter(EncodedSize);
        w.Header(MessageType.RoundAbort, SessionId, Round);
        w.U8((byte)Reason);
        return w.ToArray();
    }

    /// <summary>Decodes; the round is at least 1 and the reason a known code.</summary>
    public static RoundAbort Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length != EncodedSize) throw Error.Violation(ViolationReason.Malformed, "RoundAbort has the wrong length.");
        var r = new WireReader(data);
        MessageHeader h = r.Header(MessageType.RoundAbort);
        if (h.Round == 0) throw Error.Violation(ViolationReason.WrongRoundOrState, "A RoundAbort names a round (1, 2, ...).");
        byte reason = r.U8();
        r.End();
        if (!Enum.IsDefined((ViolationReason)reason)) throw Error.Violation(ViolationReason.Malformed, "Unknown abort reason.");
        return new RoundAbort(h.SessionId, h.Round, (ViolationReason)reason);
    }
}
