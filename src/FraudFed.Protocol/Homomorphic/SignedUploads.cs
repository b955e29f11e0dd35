// Signed uploads and signed contributor lists of the threshold homomorphic mode (DESIGN.md 3a step 5,
// protocols/SPEC.md section 12.2). Ed25519 as in SPEC.md section 4 (pure, 64-byte R || S), signing
// "label || SHA-256(object bytes)":
//   upload signature      : sender's identity key over "FraudFed/v1/he/upload" || SHA-256(kind-2 or kind-7 object bytes);
//   contributor list      : aggregator's key over "FraudFed/v1/he/contributors" || SHA-256(list body).
// List body: session tag (16) || u64 round || u32 chunk || u8 upload kind (2 or 7) || u16 count ||
//   count x (i32 sender || 32-byte SHA-256(upload) || 64-byte upload signature), senders strictly ascending; then the
//   64-byte aggregator signature. Bounds: 1 <= count <= roster size <= 32000; a list is at most 31 + 100 * count + 64 bytes.
// The aggregator's intake (UploadIntake) accepts one upload per (sender, chunk) of the current round, cheap checks first
// (sizes, kind, session, round, chunk, roster), then the signature, then the duplicate check, then the caller's
// validate-and-add; a refusal at any step is typed and leaves the intake and the sums unchanged.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Domain-separated Ed25519 signatures of homomorphic uploads (SPEC.md 12.2).</summary>
public static class UploadSignature
{
    /// <summary>Label of upload signatures.</summary>
    public static ReadOnlySpan<byte> UploadLabel => "FraudFed/v1/he/upload"u8;
    /// <summary>Label of the aggregator's contributor-list signatures.</summary>
    public static ReadOnlySpan<byte> ContributorListLabel => "FraudFed/v1/he/contributors"u8;

    /// <summary>The sender signs the exact upload bytes (through their SHA-256).</summary>
    public static byte[] Sign(Ed25519SigningKey identity, ReadOnlySpan<byte> upload)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return identity.Sign(Message(UploadLabel, SHA256.HashData(upload)));
    }

    /// <summary>Verifies an upload signature given the SHA-256 of the upload bytes.</summary>
    public static bool VerifyDigest(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> uploadDigest, ReadOnlySpan<byte> signature) =>
        uploadDigest.Length == 32 && Ed25519SigningKey.Verify(publicKey, Message(UploadLabel, uploadDigest), signature);

    internal static byte[] Message(ReadOnlySpan<byte> label, ReadOnlySpan<byte> digest) => [.. label, .. digest];
}

/// <summary>One entry of a contributor list: a sender, the SHA-256 of its upload and its upload signature.</summary>
public sealed record ContributorEntry(int Sender, byte[] UploadDigest, byte[] Signature);

/// <summary>The aggregator's signed list of the uploads it accepted for one (round, chunk) (SPEC.md 12.2).</summary>
public sealed class ContributorList
{
    private const int FixedSize = CompactCiphertext.SessionTagSize + 8 + 4 + 1 + 2;
    private const int EntrySize = 4 + 32 + Ed25519SigningKey.SignatureSize;

    private ContributorList(byte[] sessionTag, ulong round, uint chunk, RlweObjectKind kind, ContributorEntry[] entries)
    {
        SessionTag = sessionTag; Round = round; Chunk = chunk; Kind = kind; Entries = entries;
    }

    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Chunk.</summary>
    public uint Chunk { get; }
    /// <summary>Kind of the listed uploads (compact ciphertext or public-key ciphertext).</summary>
    public RlweObjectKind Kind { get; }
    /// <summary>Entries, senders strictly ascending.</summary>
    public IReadOnlyList<ContributorEntry> Entries { get; }

    /// <summary>The contributors U, ascending.</summary>
    public int[] Senders => Entries.Select(e => e.Sender).ToArray();

    /// <summary>Encodes and signs a list with the aggregator's key (entries are sorted by sender).</summary>
    public static byte[] Sign(Ed25519SigningKey aggregator, ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, RlweObjectKind kind,
        IEnumerable<ContributorEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(entries);
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        ContributorEntry[] sorted = entries.OrderBy(e => e.Sender).ToArray();
        if (sorted.Length is 0 or > 32_000) throw Error.Argument(nameof(entries), "1..32000 entries.");
        var output = new byte[FixedSize + EntrySize * sorted.Length + Ed25519SigningKey.SignatureSize];
        Span<byte> s = output;
        int o = 0;
        sessionTag.CopyTo(s); o += 16;
        BinaryPrimitives.WriteUInt64LittleEndian(s[o..], round); o += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(s[o..], chunk); o += 4;
        s[o++] = (byte)kind;
        BinaryPrimitives.WriteUInt16LittleEndian(s[o..], (ushort)sorted.Length); o += 2;
        foreach (ContributorEntry e in sorted)
        {
            if (e.UploadDigest.Length != 32 || e.Signature.Length != Ed25519SigningKey.SignatureSize)
                throw Error.Argument(nameof(entries), "Digest 32 bytes, signature 64 bytes.");
            BinaryPrimitives.WriteInt32LittleEndian(s[o..], e.Sender); o += 4;
            e.UploadDigest.CopyTo(s[o..]); o += 32;
            e.Signature.CopyTo(s[o..]); o += 64;
        }
        aggregator.Sign(UploadSignature.Message(UploadSignature.ContributorListLabel, SHA256.HashData(s[..o])), s[o..]);
        return output;
    }

    /// <summary>
    /// Parses an untrusted list and verifies the aggregator's signature (AuthenticationFailed), its size against the roster
    /// (Oversized / Malformed) and the sender order (Malformed). Entries' upload signatures are checked by <see cref="VerifyEntries"/>.
    /// </summary>
    public static ContributorList Parse(ReadOnlySpan<byte> data, ReadOnlySpan<byte> aggregatorPublicKey, int rosterSize)
    {
        if (rosterSize is < 1 or > 32_000) throw Error.OutOfRange(nameof(rosterSize), "1..32000.");
        if (data.Length < FixedSize + EntrySize + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "contributor list too short");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(data[(FixedSize - 2)..]);
        if (count < 1 || count > rosterSize) throw Error.Violation(ViolationReason.Oversized, "contributor count out of bounds");
        int bodyLength = FixedSize + EntrySize * count;
        if (data.Length != bodyLength + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "contributor list length");
        if (!Ed25519SigningKey.Verify(aggregatorPublicKey, UploadSignature.Message(UploadSignature.ContributorListLabel, SHA256.HashData(data[..bodyLength])),
                data[bodyLength..]))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "contributor list signature");
        var kind = (RlweObjectKind)data[28];
        if (kind is not (RlweObjectKind.CompactCiphertext or RlweObjectKind.PublicKeyCiphertext)) throw Error.Violation(ViolationReason.Malformed, "upload kind");
        var entries = new ContributorEntry[count];
        int o = FixedSize;
        for (int k = 0; k < count; k++, o += EntrySize)
        {
            int sender = BinaryPrimitives.ReadInt32LittleEndian(data[o..]);
            if (sender < 0 || sender >= rosterSize) throw Error.Violation(ViolationReason.UnknownSender, "contributor outside the roster");
            if (k > 0 && sender <= entries[k - 1].Sender) throw Error.Violation(ViolationReason.Malformed, "senders not strictly ascending");
            entries[k] = new ContributorEntry(sender, data.Slice(o + 4, 32).ToArray(), data.Slice(o + 36, 64).ToArray());
        }
        return new ContributorList(data[..16].ToArray(), BinaryPrimitives.ReadUInt64LittleEndian(data[16..]), BinaryPrimitives.ReadUInt32LittleEndian(data[24..]),
            kind, entries);
    }

    /// <summary>
    /// A bank's check before answering: the list is for (session, round, chunk, kind), lists exactly the contributors it is asked
    /// about (Inconsistent otherwise) and every entry carries its sender's valid upload signature (AuthenticationFailed).
    /// </summary>
    public void VerifyEntries(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, RlweObjectKind kind, IReadOnlyList<int> contributors,
        IReadOnlyList<byte[]> roster)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        ArgumentNullException.ThrowIfNull(roster);
        if (!sessionTag.SequenceEqual(SessionTag) || round != Round || chunk != Chunk || kind != Kind)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "contributor list of another session, round, chunk or variant");
        if (!contributors.Order().SequenceEqual(Entries.Select(e => e.Sender)))
            throw Error.Violation(ViolationReason.Inconsistent, "the contributor list differs from the contributors of the request");
        foreach (ContributorEntry e in Entries)
            if (e.Sender >= roster.Count || !UploadSignature.VerifyDigest(roster[e.Sender], e.UploadDigest, e.Signature))
                throw Error.Violation(ViolationReason.AuthenticationFailed, "a listed upload is not signed by its contributor");
    }

    /// <summary>The entry of <paramref name="sender"/>, or null.</summary>
    public ContributorEntry? Find(int sender)
    {
        foreach (ContributorEntry e in Entries) if (e.Sender == sender) return e;
        return null;
    }
}

/// <summary>
/// The aggregator's intake of signed uploads for one round (SPEC.md 12.2): one upload per (sender, chunk), signature verified
/// before adding, duplicates and uploads of other rounds refused with typed errors and no state change. Thread-safe per chunk.
/// </summary>
public sealed class UploadIntake
{
    private readonly IReadOnlyList<byte[]> _roster;
    private readonly byte[] _sessionTag;
    private readonly Dictionary<int, ContributorEntry>[] _accepted;

    /// <summary>Intake for <paramref name="round"/> of session <paramref name="sessionTag"/>: <paramref name="chunks"/> chunks of uploads of <paramref name="kind"/>.</summary>
    public UploadIntake(IReadOnlyList<byte[]> roster, ReadOnlySpan<byte> sessionTag, ulong round, int chunks, RlweObjectKind kind)
    {
        ArgumentNullException.ThrowIfNull(roster);
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        if (chunks < 1) throw Error.OutOfRange(nameof(chunks), "At least one chunk.");
        if (kind is not (RlweObjectKind.CompactCiphertext or RlweObjectKind.PublicKeyCiphertext)) throw Error.Argument(nameof(kind), "Compact or public-key ciphertexts.");
        _roster = roster;
        _sessionTag = sessionTag.ToArray();
        Round = round;
        Kind = kind;
        _accepted = new Dictionary<int, ContributorEntry>[chunks];
        for (int k = 0; k < chunks; k++) _accepted[k] = [];
    }

    /// <summary>The round this intake accepts.</summary>
    public ulong Round { get; }
    /// <summary>Kind of the accepted uploads.</summary>
    public RlweObjectKind Kind { get; }

    /// <summary>Number of uploads accepted for <paramref name="chunk"/>.</summary>
    public int AcceptedCount(uint chunk)
    {
        lock (_accepted[chunk]) return _accepted[chunk].Count;
    }

    /// <summary>
    /// Accepts one signed upload: checks sizes and kind (Malformed), session and round (WrongRoundOrState), chunk (OutOfRange),
    /// sender in the roster (UnknownSender), the sender's signature over the exact bytes (AuthenticationFailed), one upload per
    /// (sender, chunk) (Duplicate), then runs <paramref name="add"/>(sender, chunk), which validates fully and adds; only when it
    /// returns is the upload recorded. Returns the sender.
    /// </summary>
    public int Accept(byte[] upload, ReadOnlySpan<byte> signature, Action<int, uint, byte[]> add)
    {
        ArgumentNullException.ThrowIfNull(upload);
        ArgumentNullException.ThrowIfNull(add);
        const int ctx = RlweCodec.HeaderSize;
        if (upload.Length < ctx + CompactCiphertext.ContextSize + RlweCodec.DigestSize || signature.Length != Ed25519SigningKey.SignatureSize)
            throw Error.Violation(ViolationReason.Malformed, "upload or signature too short");
        if (upload[5] != (byte)Kind || BinaryPrimitives.ReadUInt32LittleEndian(upload.AsSpan(48)) != CompactCiphertext.ContextSize)
            throw Error.Violation(ViolationReason.Malformed, "not an upload of this variant");
        if (!upload.AsSpan(ctx, 16).SequenceEqual(_sessionTag) || BinaryPrimitives.ReadUInt64LittleEndian(upload.AsSpan(ctx + 16)) != Round)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "upload of another session or round");
        uint chunk = BinaryPrimitives.ReadUInt32LittleEndian(upload.AsSpan(ctx + 24));
        if (chunk >= (uint)_accepted.Length) throw Error.Violation(ViolationReason.OutOfRange, "chunk outside this round");
        int sender = BinaryPrimitives.ReadInt32LittleEndian(upload.AsSpan(ctx + 28));
        if (sender < 0 || sender >= _roster.Count) throw Error.Violation(ViolationReason.UnknownSender, "sender outside the roster");
        // One pass over the upload yields both the envelope body's digest (handed to `add`, so the codec does not hash
        // the body again) and the digest of the whole upload that the signature covers.
        byte[] bodyDigest, digest;
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            hash.AppendData(upload, 0, upload.Length - RlweCodec.DigestSize);
            bodyDigest = hash.GetCurrentHash();
            hash.AppendData(upload, upload.Length - RlweCodec.DigestSize, RlweCodec.DigestSize);
            digest = hash.GetHashAndReset();
        }
        if (!UploadSignature.VerifyDigest(_roster[sender], digest, signature))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "upload signature does not verify under the sender's identity key");
        Dictionary<int, ContributorEntry> accepted = _accepted[chunk];
        lock (accepted)
        {
            if (accepted.ContainsKey(sender)) throw Error.Violation(ViolationReason.Duplicate, "a second upload from this sender for this chunk");
            add(sender, chunk, bodyDigest);
            accepted.Add(sender, new ContributorEntry(sender, digest, signature.ToArray()));
        }
        return sender;
    }

    /// <summary>The contributors of <paramref name="chunk"/>, ascending.</summary>
    public int[] Contributors(uint chunk)
    {
        lock (_accepted[chunk]) return _accepted[chunk].Keys.Order().ToArray();
    }

    /// <summary>The aggregator's signed contributor list of <paramref name="chunk"/>.</summary>
    public byte[] SignedList(Ed25519SigningKey aggregator, uint chunk)
    {
        lock (_accepted[chunk]) return ContributorList.Sign(aggregator, _sessionTag, Round, chunk, Kind, _accepted[chunk].Values);
    }
}
