// Signed uploads and signed contributor lists of the threshold homomorphic mode
// protocols/SPEC.md section 12.2). Ed25519 as in SPEC.md section 4 (pure, 64-byte R || S), signing "label || SHA-256(body)":
//   upload manifest   : the sender's identity key, once per round, over "FraudFed/v1/he/manifest" || SHA-256(manifest body);
//   contributor lists : the aggregator's key, once per round, over "FraudFed/v1/he/contributors-round" ||
//                       SHA-256(u32 C || SHA-256(list body of chunk k), k = 0 .. C-1); every list carries that signature.
// Manifest body: session tag (16) || u64 round || u8 upload kind (2) || i32 sender || u32 chunks C ||
//   C x SHA-256(upload of chunk k without its 16-byte trailer, i.e. the envelope body), k ascending; then the 64-byte signature. 1 <= C <= the round's chunk count.
// List body: session tag (16) || u64 round || u32 chunk || u8 upload kind || u16 count || count x (i32 sender || 32-byte
//   SHA-256(upload body)), senders strictly ascending; then the round's 64-byte aggregator signature. 1 <= count <= roster size <= 32000.
// The aggregator (UploadIntake) verifies a contributor's manifest once, then accepts each chunk whose SHA-256 equals the
// manifest's digest: one signature verification per bank and round instead of one per chunk (123 per bank at 1e6 values).
// Cheap checks run first (sizes, kind, session, round, chunk, roster), then the digest, then the duplicate check, then the
// caller's validate-and-add; a refusal at any step is typed and leaves the intake and the sums unchanged.
// A decrypting bank verifies the contributors' manifests once per round (VerifiedManifests) and each chunk's list against them;
// its own manifest, byte for byte the one it signed for the round, needs no second verification.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Labels and message form of the homomorphic mode's Ed25519 signatures (SPEC.md 12.2).</summary>
internal static class UploadSignature
{
    /// <summary>Label of a bank's upload manifest signature.</summary>
    public static ReadOnlySpan<byte> ManifestLabel => "FraudFed/v1/he/manifest"u8;
    /// <summary>Label of the aggregator's one signature over a round's contributor lists.</summary>
    public static ReadOnlySpan<byte> ContributorRoundLabel => "FraudFed/v1/he/contributors-round"u8;

    internal static byte[] Message(ReadOnlySpan<byte> label, ReadOnlySpan<byte> digest) => [.. label, .. digest];
}

/// <summary>
/// A bank's signed manifest of one round's uploads (SPEC.md 12.2): the SHA-256 of every chunk's upload, signed once with the
/// bank's identity key. The aggregator accepts a chunk when its digest is the manifest's, so a round costs one signature
/// verification per bank however many chunks it has.
/// </summary>
internal sealed class UploadManifest
{
    /// <summary>Size of the fixed part: session tag, round, kind, sender, chunk count.</summary>
    public const int FixedSize = CompactCiphertext.SessionTagSize + 8 + 1 + 4 + 4;
    /// <summary>Most chunks one manifest may list (2^20 chunks = 8.6e9 values at n = 8192).</summary>
    public const int MaxChunks = 1 << 20;

    private readonly byte[] _digests;

    private UploadManifest(byte[] bytes, byte[] sessionTag, ulong round, RlweObjectKind kind, int sender, int chunks, byte[] digests)
    {
        Bytes = bytes; SessionTag = sessionTag; Round = round; Kind = kind; Sender = sender; Chunks = chunks; _digests = digests;
    }

    /// <summary>The exact signed bytes (what the aggregator forwards to decrypting banks).</summary>
    public byte[] Bytes { get; }
    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Kind of the listed uploads (always the compact ciphertext, kind 10).</summary>
    public RlweObjectKind Kind { get; }
    /// <summary>The signing bank.</summary>
    public int Sender { get; }
    /// <summary>Number of chunks.</summary>
    public int Chunks { get; }

    /// <summary>Size in bytes of a manifest of <paramref name="chunks"/> chunks.</summary>
    public static int SerializedSize(int chunks) => FixedSize + 32 * chunks + Ed25519SigningKey.SignatureSize;

    /// <summary>The signed SHA-256 of chunk <paramref name="chunk"/>'s upload.</summary>
    public ReadOnlySpan<byte> Digest(uint chunk) =>
        chunk < (uint)Chunks ? _digests.AsSpan((int)chunk * 32, 32) : throw Error.Violation(ViolationReason.OutOfRange, "chunk outside the manifest");

    /// <summary>
    /// Hashes every upload's envelope body (<see cref="BodyDigest"/>, in parallel when asked) and signs the manifest with the
    /// bank's identity key. Throws ArgumentException for an upload of 16 bytes or fewer.
    /// </summary>
    public static byte[] Sign(Ed25519SigningKey identity, ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind, int sender,
        IReadOnlyList<byte[]> uploads, bool parallel = false)
    {
        ArgumentNullException.ThrowIfNull(uploads);
        var digests = new byte[uploads.Count][];
        for (int k = 0; k < uploads.Count; k++)
            if (uploads[k] is not { Length: > RlweCodec.DigestSize }) throw Error.Argument(nameof(uploads), "An upload is longer than its 16-byte digest trailer.");
        if (parallel && uploads.Count > 1) System.Threading.Tasks.Parallel.For(0, uploads.Count, k => digests[k] = BodyDigest(uploads[k]));
        else for (int k = 0; k < uploads.Count; k++) digests[k] = BodyDigest(uploads[k]);
        return SignDigests(identity, sessionTag, round, kind, sender, digests);
    }

    /// <summary>
    /// The digest a manifest and a contributor list carry for an upload: SHA-256 of every byte but the 16-byte trailer (the
    /// envelope body, SPEC.md 12), whose first 16 bytes the trailer repeats. Throws ArgumentException for fewer than 17 bytes.
    /// </summary>
    public static byte[] BodyDigest(ReadOnlySpan<byte> upload)
    {
        if (upload.Length <= RlweCodec.DigestSize) throw Error.Argument(nameof(upload), "An upload is longer than its 16-byte digest trailer.");
        return SHA256.HashData(upload[..^RlweCodec.DigestSize]);
    }

    /// <summary>Encodes and signs a manifest from the uploads' digests (<see cref="BodyDigest"/>), chunk 0 first.</summary>
    public static byte[] SignDigests(Ed25519SigningKey identity, ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind, int sender,
        IReadOnlyList<byte[]> digests)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(digests);
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        if (digests.Count is 0 or > MaxChunks) throw Error.Argument(nameof(digests), $"1..{MaxChunks} chunks.");
        if (sender < 0) throw Error.Argument(nameof(sender), "A sender index is not negative.");
        var output = new byte[SerializedSize(digests.Count)];
        Span<byte> s = output;
        sessionTag.CopyTo(s);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], round);
        s[24] = (byte)kind;
        BinaryPrimitives.WriteInt32LittleEndian(s[25..], sender);
        BinaryPrimitives.WriteUInt32LittleEndian(s[29..], (uint)digests.Count);
        int o = FixedSize;
        foreach (byte[] d in digests)
        {
            if (d.Length != 32) throw Error.Argument(nameof(digests), "A digest is 32 bytes.");
            d.CopyTo(s[o..]);
            o += 32;
        }
        identity.Sign(UploadSignature.Message(UploadSignature.ManifestLabel, SHA256.HashData(s[..o])), s[o..]);
        return output;
    }

    /// <summary>
    /// Parses an untrusted manifest: length against its chunk count (Malformed; a count above <paramref name="maxChunks"/> is
    /// Oversized before anything else is read), sender in the roster (UnknownSender), the sender's signature
    /// (AuthenticationFailed). Session, round and kind are checked by <see cref="Expect"/>.
    /// </summary>
    public static UploadManifest Parse(byte[] data, IReadOnlyList<byte[]> roster, int maxChunks = MaxChunks) => Parse(data, roster, maxChunks, expectedSender: null);

    /// <summary>As <see cref="Parse(byte[], IReadOnlyList{byte[]}, int)"/>, and a manifest that names another sender than
    /// <paramref name="expectedSender"/> (the transport's bank) is refused with UnknownSender before its signature is checked
    /// (SPEC.md 14.1: a signed body naming another bank is UnknownSender, as in masking mode).</summary>
    internal static UploadManifest Parse(byte[] data, IReadOnlyList<byte[]> roster, int maxChunks, int? expectedSender) =>
        Parse(data, roster, maxChunks, expectedSender, signedHere: null);

    /// <summary>As <see cref="Parse(byte[], IReadOnlyList{byte[]}, int, int?)"/>; when the bytes (as copied, the bytes then used) are
    /// exactly <paramref name="signedHere"/>, a manifest this party signed itself with its own identity key, its signature is not
    /// verified again: the same bytes carry the same signature, which this party made. Every other check runs.</summary>
    internal static UploadManifest Parse(byte[] data, IReadOnlyList<byte[]> roster, int maxChunks, int? expectedSender, byte[]? signedHere)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(roster);
        if (data.Length < FixedSize + 32 + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "manifest too short");
        uint chunks = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(29));
        if (chunks == 0 || chunks > (uint)Math.Min(maxChunks, MaxChunks)) throw Error.Violation(ViolationReason.Oversized, "manifest chunk count out of bounds");
        int body = FixedSize + 32 * (int)chunks;
        if (data.Length != body + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "manifest length");
        data = (byte[])data.Clone(); // bounded now; the verified bytes cannot change under the caller's hands afterwards
        if (BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(29)) != chunks) throw Error.Violation(ViolationReason.Malformed, "manifest changed while read");
        int sender = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(25));
        if (sender < 0 || sender >= roster.Count) throw Error.Violation(ViolationReason.UnknownSender, "manifest sender outside the roster");
        if (expectedSender is int expected && sender != expected)
            throw Error.Violation(ViolationReason.UnknownSender, $"the manifest names bank {sender} as its sender, the message is bank {expected}'s");
        bool own = signedHere is not null && data.AsSpan().SequenceEqual(signedHere);
        if (!own && !Ed25519SigningKey.Verify(roster[sender], UploadSignature.Message(UploadSignature.ManifestLabel, SHA256.HashData(data.AsSpan(0, body))),
                data.AsSpan(body)))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "manifest signature does not verify under the sender's identity key");
        return new UploadManifest(data, data[..16], BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(16)), (RlweObjectKind)data[24], sender, (int)chunks,
            data[FixedSize..body]);
    }

    /// <summary>Checks the manifest is for (session, round, kind) (WrongRoundOrState) and lists <paramref name="chunks"/> chunks (Malformed).</summary>
    public void Expect(ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind, int chunks)
    {
        if (!sessionTag.SequenceEqual(SessionTag) || round != Round || kind != Kind)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "manifest of another session, round or variant");
        if (chunks != Chunks) throw Error.Violation(ViolationReason.Malformed, "manifest chunk count differs from the round's");
    }
}

/// <summary>
/// A decrypting bank's verified manifests of one round, one per contributor: each is parsed and its signature verified once,
/// then every chunk's contributor list is checked against it.
/// </summary>
internal sealed class VerifiedManifests
{
    private readonly Dictionary<int, UploadManifest> _bySender = [];

    /// <summary>
    /// Verifies every manifest (see <see cref="UploadManifest.Parse(byte[], IReadOnlyList{byte[]}, int)"/> and <see cref="UploadManifest.Expect"/>); a second manifest
    /// from one sender is Duplicate. Any refusal refuses the whole set.
    /// </summary>
    public VerifiedManifests(IReadOnlyList<byte[]> manifests, IReadOnlyList<byte[]> roster, ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind,
        int chunks) : this(manifests, roster, sessionTag, round, kind, chunks, signedHere: null) { }

    /// <summary>As the other constructor; a manifest whose bytes are exactly <paramref name="signedHere"/> (the one this bank signed
    /// for the round) is taken without verifying its signature again (<see cref="UploadManifest.Parse(byte[], IReadOnlyList{byte[]}, int, int?, byte[])"/>):
    /// one Ed25519 verification less per decryption request. Any other bytes are verified as before.</summary>
    public VerifiedManifests(IReadOnlyList<byte[]> manifests, IReadOnlyList<byte[]> roster, ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind,
        int chunks, byte[]? signedHere)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        ArgumentNullException.ThrowIfNull(roster);
        if (manifests.Count > roster.Count) throw Error.Violation(ViolationReason.Oversized, "more manifests than banks");
        Round = round;
        Kind = kind;
        SessionTag = sessionTag.ToArray();
        foreach (byte[] bytes in manifests)
        {
            UploadManifest m = UploadManifest.Parse(bytes, roster, chunks, expectedSender: null, signedHere);
            m.Expect(sessionTag, round, kind, chunks);
            if (!_bySender.TryAdd(m.Sender, m)) throw Error.Violation(ViolationReason.Duplicate, "two manifests from one sender");
        }
    }

    /// <summary>Session tag.</summary>
    public byte[] SessionTag { get; }
    /// <summary>Round.</summary>
    public ulong Round { get; }
    /// <summary>Kind.</summary>
    public RlweObjectKind Kind { get; }

    /// <summary>Whether <paramref name="digest"/> is the signed digest of <paramref name="sender"/>'s upload of <paramref name="chunk"/> (constant time).</summary>
    public bool IsSigned(int sender, uint chunk, ReadOnlySpan<byte> digest) =>
        _bySender.TryGetValue(sender, out UploadManifest? m) && chunk < (uint)m.Chunks && digest.Length == 32
        && CryptographicOperations.FixedTimeEquals(m.Digest(chunk), digest);
}

/// <summary>One entry of a contributor list: a sender and the SHA-256 of its accepted upload.</summary>
internal sealed record ContributorEntry(int Sender, byte[] UploadDigest);

/// <summary>
/// The aggregator's list of the uploads it accepted for one (round, chunk) (SPEC.md 12.2); a round's lists share one signature.
/// </summary>
internal sealed class ContributorList
{
    private const int FixedSize = CompactCiphertext.SessionTagSize + 8 + 4 + 1 + 2;
    private const int EntrySize = 4 + 32;

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
    /// <summary>Kind of the listed uploads (always the compact ciphertext, kind 10).</summary>
    public RlweObjectKind Kind { get; }
    /// <summary>Entries, senders strictly ascending.</summary>
    public IReadOnlyList<ContributorEntry> Entries { get; }

    /// <summary>The contributors U, ascending.</summary>
    public int[] Senders => Entries.Select(e => e.Sender).ToArray();

    /// <summary>Size of the body of a list of <paramref name="count"/> contributors.</summary>
    private static int BodySize(int count) => FixedSize + EntrySize * count;

    /// <summary>
    /// Encodes the round's lists, list k for chunk k (entries sorted by sender), and signs them once with the aggregator's key
    /// (SPEC.md 12.2): every list carries the same 64-byte signature over "FraudFed/v1/he/contributors-round" ||
    /// SHA-256(u32 C || SHA-256(body_0) || ... || SHA-256(body_{C-1})). Throws ArgumentException for 0 or more than 2^20 chunks,
    /// an empty or over-long entry list, or a digest that is not 32 bytes.
    /// </summary>
    public static byte[][] SignRound(Ed25519SigningKey aggregator, ReadOnlySpan<byte> sessionTag, ulong round, RlweObjectKind kind,
        IReadOnlyList<IEnumerable<ContributorEntry>> chunks)
    {
        ArgumentNullException.ThrowIfNull(aggregator);
        ArgumentNullException.ThrowIfNull(chunks);
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        if (chunks.Count is 0 or > UploadManifest.MaxChunks) throw Error.Argument(nameof(chunks), $"1..{UploadManifest.MaxChunks} chunks.");
        var output = new byte[chunks.Count][];
        for (int chunk = 0; chunk < chunks.Count; chunk++)
        {
            ContributorEntry[] sorted = (chunks[chunk] ?? throw new ArgumentNullException(nameof(chunks))).OrderBy(e => e.Sender).ToArray();
            if (sorted.Length is 0 or > 32_000) throw Error.Argument(nameof(chunks), "1..32000 entries per chunk.");
            var list = new byte[BodySize(sorted.Length) + Ed25519SigningKey.SignatureSize];
            Span<byte> s = list;
            int o = 0;
            sessionTag.CopyTo(s); o += 16;
            BinaryPrimitives.WriteUInt64LittleEndian(s[o..], round); o += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(s[o..], (uint)chunk); o += 4;
            s[o++] = (byte)kind;
            BinaryPrimitives.WriteUInt16LittleEndian(s[o..], (ushort)sorted.Length); o += 2;
            foreach (ContributorEntry e in sorted)
            {
                if (e.UploadDigest.Length != 32) throw Error.Argument(nameof(chunks), "A digest is 32 bytes.");
                BinaryPrimitives.WriteInt32LittleEndian(s[o..], e.Sender); o += 4;
                e.UploadDigest.CopyTo(s[o..]); o += 32;
            }
            output[chunk] = list;
        }
        byte[] signature = aggregator.Sign(UploadSignature.Message(UploadSignature.ContributorRoundLabel, RoundDigest(output)));
        foreach (byte[] list in output) signature.CopyTo(list, list.Length - Ed25519SigningKey.SignatureSize);
        return output;
    }

    /// <summary>SHA-256(u32 C || SHA-256(body_k) for k = 0 .. C-1) over lists whose sizes are already checked.</summary>
    private static byte[] RoundDigest(IReadOnlyList<byte[]> lists)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> scratch = stackalloc byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(scratch, (uint)lists.Count);
        h.AppendData(scratch[..4]);
        foreach (byte[] list in lists)
        {
            SHA256.HashData(list.AsSpan(0, list.Length - Ed25519SigningKey.SignatureSize), scratch);
            h.AppendData(scratch);
        }
        return h.GetHashAndReset();
    }

    /// <summary>
    /// Parses a round's untrusted lists, list k for chunk k, and verifies the aggregator's one signature (SPEC.md 12.2), in
    /// this order: per list its size against the roster (Malformed / Oversized); every list carries the same signature and it
    /// verifies over the round digest (AuthenticationFailed); per list its chunk is its position (WrongRoundOrState), its kind
    /// (Malformed), senders in the roster (UnknownSender) and strictly ascending (Malformed). One Ed25519 verification per
    /// round. Entries are checked against the senders' manifests by <see cref="VerifyEntries"/>.
    /// </summary>
    public static ContributorList[] ParseRound(IReadOnlyList<byte[]> lists, ReadOnlySpan<byte> aggregatorPublicKey, int rosterSize)
    {
        ArgumentNullException.ThrowIfNull(lists);
        if (rosterSize is < 1 or > 32_000) throw Error.OutOfRange(nameof(rosterSize), "1..32000.");
        if (lists.Count is 0 or > UploadManifest.MaxChunks) throw Error.Violation(ViolationReason.Malformed, "contributor list count out of bounds");
        var copies = new byte[lists.Count][];
        for (int k = 0; k < copies.Length; k++)
        {
            byte[] data = lists[k] ?? throw Error.Violation(ViolationReason.Malformed, "missing contributor list");
            if (data.Length < BodySize(1) + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "contributor list too short");
            int count = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(FixedSize - 2));
            if (count < 1 || count > rosterSize) throw Error.Violation(ViolationReason.Oversized, "contributor count out of bounds");
            if (data.Length != BodySize(count) + Ed25519SigningKey.SignatureSize) throw Error.Violation(ViolationReason.Malformed, "contributor list length");
            copies[k] = (byte[])data.Clone();   // sized now; the verified bytes cannot change under the caller's hands afterwards
            if (BinaryPrimitives.ReadUInt16LittleEndian(copies[k].AsSpan(FixedSize - 2)) != count) throw Error.Violation(ViolationReason.Malformed, "contributor list changed while read");
        }
        ReadOnlySpan<byte> signature = copies[0].AsSpan(copies[0].Length - Ed25519SigningKey.SignatureSize);
        bool same = true;
        for (int k = 1; k < copies.Length; k++) same &= CryptographicOperations.FixedTimeEquals(signature, copies[k].AsSpan(copies[k].Length - Ed25519SigningKey.SignatureSize));
        if (!same || !Ed25519SigningKey.Verify(aggregatorPublicKey, UploadSignature.Message(UploadSignature.ContributorRoundLabel, RoundDigest(copies)), signature))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "contributor list signature");
        var parsed = new ContributorList[copies.Length];
        for (int k = 0; k < copies.Length; k++)
        {
            ReadOnlySpan<byte> data = copies[k];
            if (BinaryPrimitives.ReadUInt32LittleEndian(data[24..]) != (uint)k) throw Error.Violation(ViolationReason.WrongRoundOrState, "contributor list out of its chunk's place");
            var kind = (RlweObjectKind)data[28];
            if (kind is not RlweObjectKind.CompactCiphertext) throw Error.Violation(ViolationReason.Malformed, "upload kind");
            int count = BinaryPrimitives.ReadUInt16LittleEndian(data[(FixedSize - 2)..]);
            var entries = new ContributorEntry[count];
            int o = FixedSize;
            for (int e = 0; e < count; e++, o += EntrySize)
            {
                int sender = BinaryPrimitives.ReadInt32LittleEndian(data[o..]);
                if (sender < 0 || sender >= rosterSize) throw Error.Violation(ViolationReason.UnknownSender, "contributor outside the roster");
                if (e > 0 && sender <= entries[e - 1].Sender) throw Error.Violation(ViolationReason.Malformed, "senders not strictly ascending");
                entries[e] = new ContributorEntry(sender, data.Slice(o + 4, 32).ToArray());
            }
            parsed[k] = new ContributorList(data[..16].ToArray(), BinaryPrimitives.ReadUInt64LittleEndian(data[16..]), (uint)k, kind, entries);
        }
        return parsed;
    }

    /// <summary>
    /// A bank's check before answering: the list is for (session, round, chunk, kind) (WrongRoundOrState), lists exactly the
    /// contributors it is asked about (Inconsistent) and every entry's digest is the one its sender signed in its manifest of
    /// this round (AuthenticationFailed).
    /// </summary>
    public void VerifyEntries(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, RlweObjectKind kind, IReadOnlyList<int> contributors,
        VerifiedManifests manifests)
    {
        ArgumentNullException.ThrowIfNull(contributors);
        ArgumentNullException.ThrowIfNull(manifests);
        if (!sessionTag.SequenceEqual(SessionTag) || round != Round || chunk != Chunk || kind != Kind
            || !manifests.SessionTag.AsSpan().SequenceEqual(SessionTag) || manifests.Round != Round || manifests.Kind != Kind)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "contributor list or manifests of another session, round, chunk or variant");
        if (!contributors.Order().SequenceEqual(Entries.Select(e => e.Sender)))
            throw Error.Violation(ViolationReason.Inconsistent, "the contributor list differs from the contributors of the request");
        foreach (ContributorEntry e in Entries)
            if (!manifests.IsSigned(e.Sender, chunk, e.UploadDigest))
                throw Error.Violation(ViolationReason.AuthenticationFailed, "a listed upload is not in its contributor's signed manifest");
    }

    /// <summary>The entry of <paramref name="sender"/>, or null.</summary>
    public ContributorEntry? Find(int sender)
    {
        foreach (ContributorEntry e in Entries) if (e.Sender == sender) return e;
        return null;
    }
}

/// <summary>
/// The aggregator's intake of one round's signed uploads (SPEC.md 12.2): first each contributor's signed manifest (one
/// signature verification per bank and round), then its chunks, each accepted when its SHA-256 is the manifest's digest of
/// that chunk. One manifest per sender, one upload per (sender, chunk); refusals are typed and change nothing. Thread-safe.
/// </summary>
internal sealed class UploadIntake
{
    private readonly IReadOnlyList<byte[]> _roster;
    private readonly byte[] _sessionTag;
    private readonly Dictionary<int, UploadManifest> _manifests = [];
    private readonly Dictionary<int, byte[]>[] _accepted;

    /// <summary>Intake for <paramref name="round"/> of session <paramref name="sessionTag"/>: <paramref name="chunks"/> chunks of uploads of <paramref name="kind"/>.</summary>
    public UploadIntake(IReadOnlyList<byte[]> roster, ReadOnlySpan<byte> sessionTag, ulong round, int chunks, RlweObjectKind kind)
    {
        ArgumentNullException.ThrowIfNull(roster);
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        if (chunks is < 1 or > UploadManifest.MaxChunks) throw Error.OutOfRange(nameof(chunks), $"1..{UploadManifest.MaxChunks} chunks.");
        if (kind is not RlweObjectKind.CompactCiphertext) throw Error.Argument(nameof(kind), "Compact ciphertexts (kind 10) only.");
        _roster = roster;
        _sessionTag = sessionTag.ToArray();
        Round = round;
        Kind = kind;
        _accepted = new Dictionary<int, byte[]>[chunks];
        for (int k = 0; k < chunks; k++) _accepted[k] = [];
    }

    /// <summary>The round this intake accepts.</summary>
    public ulong Round { get; }
    /// <summary>Kind of the accepted uploads.</summary>
    public RlweObjectKind Kind { get; }
    /// <summary>Chunks per contributor in this round.</summary>
    public int Chunks => _accepted.Length;

    /// <summary>Number of uploads accepted for <paramref name="chunk"/>.</summary>
    public int AcceptedCount(uint chunk)
    {
        lock (_accepted[chunk]) return _accepted[chunk].Count;
    }

    /// <summary>
    /// Accepts a contributor's signed manifest for this round: length and chunk count (Malformed / Oversized), sender in the
    /// roster (UnknownSender), signature (AuthenticationFailed), session, round and variant (WrongRoundOrState), chunk count equal
    /// to the round's (Malformed), one manifest per sender (Duplicate). Returns the sender.
    /// </summary>
    public int AcceptManifest(byte[] manifest)
    {
        UploadManifest m = UploadManifest.Parse(manifest, _roster, Chunks);
        m.Expect(_sessionTag, Round, Kind, Chunks);
        lock (_manifests)
        {
            if (!_manifests.TryAdd(m.Sender, m)) throw Error.Violation(ViolationReason.Duplicate, "a second manifest from this sender for this round");
        }
        return m.Sender;
    }

    /// <summary>
    /// Accepts one upload: checks sizes and kind (Malformed), session and round (WrongRoundOrState), chunk (OutOfRange), sender in
    /// the roster (UnknownSender), a manifest from the sender this round (WrongRoundOrState), the upload's SHA-256 against the
    /// manifest's digest of its chunk (AuthenticationFailed), one upload per (sender, chunk) (Duplicate), then runs
    /// <paramref name="add"/>(sender, chunk, SHA-256 of the envelope body), which validates fully and adds; only when it returns
    /// is the upload recorded. Returns the sender.
    /// </summary>
    public int Accept(byte[] upload, Action<int, uint, byte[]> add)
    {
        ArgumentNullException.ThrowIfNull(upload);
        ArgumentNullException.ThrowIfNull(add);
        var (chunk, sender) = Label(upload);
        UploadManifest? manifest;
        lock (_manifests) _manifests.TryGetValue(sender, out manifest);
        if (manifest is null) throw Error.Violation(ViolationReason.WrongRoundOrState, "upload before its sender's manifest for this round");
        byte[] digest = Digest(upload, manifest, chunk);
        Dictionary<int, byte[]> accepted = _accepted[chunk];
        lock (accepted)
        {
            if (accepted.ContainsKey(sender)) throw Error.Violation(ViolationReason.Duplicate, "a second upload from this sender for this chunk");
            add(sender, chunk, digest);
            accepted.Add(sender, digest);
        }
        return sender;
    }

    /// <summary>
    /// Accepts a bank's whole round at once (the party aggregator's path, SPEC.md 14.2): its manifest, which must be signed by
    /// <paramref name="expectedSender"/> (the transport's identity; UnknownSender otherwise), then one upload per chunk in
    /// order. Every check of <see cref="AcceptManifest"/> and <see cref="Accept"/> runs on every chunk before anything is
    /// recorded or added, so a refusal changes nothing. Only <paramref name="add"/> itself, which validates residues while it
    /// adds, can fail after a first addition: an upload its own bank signed yet is malformed; the caller must then fail the
    /// round (its sums are no longer clean), and the refusal names that bank.
    /// </summary>
    public void AcceptRound(int expectedSender, byte[] manifestBytes, IReadOnlyList<byte[]> uploads, Action<int, uint, byte[]> add, bool parallel = true)
    {
        ArgumentNullException.ThrowIfNull(uploads);
        var memory = new ReadOnlyMemory<byte>[uploads.Count];
        for (int k = 0; k < memory.Length; k++) memory[k] = uploads[k] ?? throw new ArgumentNullException(nameof(uploads));
        AcceptRound(expectedSender, manifestBytes, memory, add, parallel);
    }

    /// <summary>
    /// As <see cref="AcceptRound(int, byte[], IReadOnlyList{byte[]}, Action{int, uint, byte[]}, bool)"/> over uploads that are
    /// slices of a received buffer (each chunk hashed straight from it; the caller must not change it during the call).
    /// </summary>
    public void AcceptRound(int expectedSender, byte[] manifestBytes, IReadOnlyList<ReadOnlyMemory<byte>> uploads, Action<int, uint, byte[]> add, bool parallel = true)
    {
        ArgumentNullException.ThrowIfNull(manifestBytes);
        ArgumentNullException.ThrowIfNull(uploads);
        ArgumentNullException.ThrowIfNull(add);
        UploadManifest m = UploadManifest.Parse(manifestBytes, _roster, Chunks, expectedSender);
        m.Expect(_sessionTag, Round, Kind, Chunks);
        if (m.Sender != expectedSender) throw Error.Violation(ViolationReason.UnknownSender, "a manifest signed by another bank than its sender");
        if (uploads.Count != Chunks) throw Error.Violation(ViolationReason.Malformed, $"{uploads.Count} uploads, the round has {Chunks} chunks");
        lock (_manifests)
            if (_manifests.ContainsKey(m.Sender)) throw Error.Violation(ViolationReason.Duplicate, "a second manifest from this sender for this round");
        var digests = new byte[Chunks][];
        TypedParallel.For(Chunks, parallel, k =>
        {
            ReadOnlySpan<byte> upload = uploads[k].Span;
            var (chunk, sender) = Label(upload);
            if (chunk != (uint)k || sender != expectedSender) throw Error.Violation(ViolationReason.Inconsistent, "an upload out of its place in the round");
            digests[k] = Digest(upload, m, chunk);
        });
        lock (_manifests)
            if (!_manifests.TryAdd(m.Sender, m)) throw Error.Violation(ViolationReason.Duplicate, "a second manifest from this sender for this round");
        try
        {
            TypedParallel.For(Chunks, parallel, k =>
            {
                Dictionary<int, byte[]> accepted = _accepted[k];
                lock (accepted)
                {
                    add(expectedSender, (uint)k, digests[k]);
                    accepted.Add(expectedSender, digests[k]);
                }
            });
        }
        catch (ProtocolViolationException)
        {
            Tainted = true;
            throw;
        }
    }

    /// <summary>True once an addition failed half-way through AcceptRound: the round's sums are not clean.</summary>
    public bool Tainted { get; private set; }

    /// <summary>Cheap checks of an upload's header and label: (chunk, sender).</summary>
    private (uint Chunk, int Sender) Label(ReadOnlySpan<byte> upload)
    {
        ReadOnlySpan<byte> label = RlweCodec.PeekContext(upload, Kind, CompactCiphertext.ContextSize)[..ChunkLabel.Size];
        if (!label[..16].SequenceEqual(_sessionTag) || ChunkLabel.Round(label) != Round)
            throw Error.Violation(ViolationReason.WrongRoundOrState, "upload of another session or round");
        uint chunk = ChunkLabel.Chunk(label);
        if (chunk >= (uint)_accepted.Length) throw Error.Violation(ViolationReason.OutOfRange, "chunk outside this round");
        int sender = ChunkLabel.Sender(label);
        if (sender < 0 || sender >= _roster.Count) throw Error.Violation(ViolationReason.UnknownSender, "sender outside the roster");
        return (chunk, sender);
    }

    /// <summary>
    /// One SHA-256 pass over the envelope body (every byte but the 16-byte trailer), no other allocation than the 32-byte result:
    /// it must equal the manifest's digest of the chunk (AuthenticationFailed), then its first 16 bytes must be the trailer
    /// (Malformed, the envelope's corruption check, done here so that a bad trailer is refused before anything is added). The
    /// same digest is handed to `add` (the codec does not hash the body again) and recorded for the contributor list.
    /// </summary>
    private static byte[] Digest(ReadOnlySpan<byte> upload, UploadManifest manifest, uint chunk)
    {
        var digest = new byte[32];
        SHA256.HashData(upload[..^RlweCodec.DigestSize], digest);
        if (!CryptographicOperations.FixedTimeEquals(digest, manifest.Digest(chunk)))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "upload is not the one its sender signed in its manifest");
        if (!CryptographicOperations.FixedTimeEquals(digest.AsSpan(0, RlweCodec.DigestSize), upload[^RlweCodec.DigestSize..]))
            throw Error.Violation(ViolationReason.Malformed, "upload trailer does not match its body's digest");
        return digest;
    }

    /// <summary>The contributors of <paramref name="chunk"/>, ascending.</summary>
    public int[] Contributors(uint chunk)
    {
        lock (_accepted[chunk]) return _accepted[chunk].Keys.Order().ToArray();
    }

    /// <summary>The manifests of <paramref name="senders"/>, as signed, for the decrypting banks (UnknownSender when one is missing).</summary>
    public byte[][] Manifests(IEnumerable<int> senders)
    {
        ArgumentNullException.ThrowIfNull(senders);
        lock (_manifests)
            return senders.Select(s => _manifests.TryGetValue(s, out UploadManifest? m) ? m.Bytes
                : throw Error.Violation(ViolationReason.UnknownSender, "no manifest from this contributor")).ToArray();
    }

    /// <summary>The aggregator's contributor lists of every chunk of the round, list k for chunk k, under one signature.</summary>
    public byte[][] SignedLists(Ed25519SigningKey aggregator)
    {
        var chunks = new ContributorEntry[_accepted.Length][];
        for (int k = 0; k < chunks.Length; k++)
            lock (_accepted[k]) chunks[k] = _accepted[k].Select(p => new ContributorEntry(p.Key, p.Value)).ToArray();
        return ContributorList.SignRound(aggregator, _sessionTag, Round, Kind, chunks);
    }
}
