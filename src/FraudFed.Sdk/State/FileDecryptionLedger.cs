// FileDecryptionLedger: the durable IDecryptionLedger of the SDK (SPEC.md 12.3, 14.6). Same rules as the in-memory ledger
// (strictly increasing encryptions per session tag; one request fingerprint per (round, chunk); the budget), with every
// accepted record written to the sealed file before the call returns: an upload or a decryption share leaves the bank
// only after its record is on disk, so a restarted bank still refuses a second active set for a sum it helped open.
// A write that fails changes nothing (the record is rolled back and the call throws StateFileException).
// One copy in use per state directory: the ledger is opened under the directory's exclusive lock (StateDirectoryLock), so two
// processes or clients cannot each answer a different decryption request for the same chunk from their own copy.
// A homomorphic bank with a state directory does not write this file: its ledger is carried inside the round part
// (BankStateStore, he-round.bin), which the client saves (durably) once per handled message before any reply leaves the bank. Such a
// carried ledger keeps its records in memory, marked pending, and the round part's write makes them durable (SPEC.md 14.6).
// Plaintext layout (sealed by EncryptedStateFile, purpose "ledger"; the same bytes inside a round part): "FFDL" | version (1) | tag count (u32), then per
// tag: tag (u8 length + bytes) | has-encryption (u8) | last round (u64) | last chunk (u32) | answers charged (i64) |
// answer count (u32) | per answer: round (u64) | chunk (u32) | fingerprint (32). Little-endian.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Sdk.State;

/// <summary>An <see cref="IDecryptionLedger"/> kept in an AES-256-GCM sealed file, mode 0600, replaced atomically on every record,
/// used under the exclusive lock of its directory (SPEC.md 14.6): one copy of a ledger in use at a time.</summary>
public sealed class FileDecryptionLedger : IDecryptionLedger, IDisposable
{
    /// <summary>The purpose bound into the sealed file.</summary>
    public const string Purpose = "ledger";
    private static ReadOnlySpan<byte> Magic => "FFDL"u8;
    private const byte Version = 1;

    private readonly object _gate = new();
    private readonly string _path;
    private readonly StateKey _key;
    private readonly Dictionary<string, TagRecord> _tags = [];
    private readonly StateDirectoryLock _lock;
    private readonly bool _ownsLock;
    private readonly bool _carried;   // kept inside the round part (SPEC.md 14.6): records are written by its owner, not here
    private long _version;            // changes with every accepted record
    private long _savedVersion;       // the version the owner last made durable (carried ledgers)

    private sealed class TagRecord(byte[] tag)
    {
        public readonly byte[] Tag = tag;
        public (ulong Round, uint Chunk)? LastEncryption;
        public long Charged;
        public readonly Dictionary<(ulong Round, uint Chunk), byte[]> Answers = [];
        // The answers as the file lays them out (u64 round | u32 chunk | fingerprint, in the order recorded), kept as they are
        // recorded: answers are only ever added (or the newest taken back by a failed write), so an encoding of the ledger copies
        // these bytes instead of walking every answer of every earlier sum again.
        private byte[] _encoded = new byte[64 * AnswerSize];
        public int EncodedLength { get; private set; }
        public ReadOnlySpan<byte> EncodedAnswers => _encoded.AsSpan(0, EncodedLength);

        public void Append(ulong round, uint chunk, ReadOnlySpan<byte> fingerprint)
        {
            if (_encoded.Length - EncodedLength < AnswerSize) Array.Resize(ref _encoded, Math.Max(2 * _encoded.Length, EncodedLength + AnswerSize));
            Span<byte> e = _encoded.AsSpan(EncodedLength, AnswerSize);
            BinaryPrimitives.WriteUInt64LittleEndian(e, round);
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], chunk);
            fingerprint.CopyTo(e[12..]);
            EncodedLength += AnswerSize;
        }

        /// <summary>Takes back the last <paramref name="count"/> appended answers (a write that failed).</summary>
        public void TakeBack(int count) => EncodedLength -= count * AnswerSize;
    }

    private const int AnswerSize = 8 + 4 + 32;

    /// <summary>Takes the exclusive lock of <paramref name="path"/>'s directory (the bank's state directory, SPEC.md 14.6), then
    /// opens the ledger at <paramref name="path"/> (created on the first record). <see cref="Dispose"/> releases the lock.
    /// <paramref name="key"/> stays owned by the caller.</summary>
    /// <exception cref="StateDirectoryInUseException">another process, client or ledger holds the directory (nothing read).</exception>
    /// <exception cref="StateFileException">the file exists but does not verify or parse.</exception>
    public FileDecryptionLedger(string path, StateKey key)
        : this(path, key, StateDirectoryLock.Acquire(Path.GetDirectoryName(Path.GetFullPath(path ?? throw new ArgumentNullException(nameof(path))))!), ownsLock: true) { }

    /// <summary>Opens the ledger at <paramref name="path"/> in the directory of <paramref name="held"/>, whose lock the caller holds.</summary>
    internal FileDecryptionLedger(string path, StateKey key, StateDirectoryLock held) : this(path, key, held, ownsLock: false) { }

    private FileDecryptionLedger(string path, StateKey key, StateDirectoryLock held, bool ownsLock)
    {
        _lock = held;
        _ownsLock = ownsLock;
        try
        {
            ArgumentNullException.ThrowIfNull(key);
            _path = path;
            _key = key;
            byte[]? plain = EncryptedStateFile.Read(path, Purpose, key);
            if (plain is not null) Parse(plain);
        }
        catch
        {
            if (ownsLock) held.Dispose();
            throw;
        }
    }

    /// <summary>A ledger carried inside the homomorphic round part (SPEC.md 14.6) of the directory of <paramref name="held"/>, whose
    /// lock the caller holds: it starts empty (<see cref="Restore"/> fills it from a saved round part), an accepted record changes
    /// memory only and is <see cref="Pending"/> until the owner writes <see cref="Serialize"/> into the round part and calls
    /// <see cref="MarkSaved"/>. The owner writes that round part before any upload or share leaves the bank.
    /// <paramref name="path"/> is the round part's path (named in exceptions).</summary>
    internal FileDecryptionLedger(StateDirectoryLock held, string path)
    {
        _lock = held;
        _ownsLock = false;
        _carried = true;
        _path = path;
        _key = null!;
    }

    /// <summary>True while a carried ledger holds records that no written round part holds yet.</summary>
    internal bool Pending
    {
        get { lock (_gate) return _version != _savedVersion; }
    }

    /// <summary>The ledger's plaintext (the layout of the file header) and the version it holds, for the round part.</summary>
    internal (byte[] Bytes, long Version) Serialize()
    {
        lock (_gate) return (Encode(), _version);
    }

    /// <summary>The round part holding <paramref name="version"/> (from <see cref="Serialize"/>) is durable.</summary>
    internal void MarkSaved(long version)
    {
        lock (_gate) _savedVersion = Math.Max(_savedVersion, version);
    }

    /// <summary>Replaces a carried ledger's records with those of <paramref name="plaintext"/> (read from a round part).</summary>
    /// <exception cref="StateFileException">the bytes do not parse.</exception>
    internal void Restore(byte[] plaintext)
    {
        lock (_gate)
        {
            _tags.Clear();
            Parse(plaintext);
            _savedVersion = _version;
        }
    }

    /// <summary>Releases the directory's lock when this ledger took it (the file stays); a record after that throws
    /// <see cref="StateFileException"/>.</summary>
    public void Dispose()
    {
        if (_ownsLock) _lock.Dispose();
    }

    /// <inheritdoc />
    public bool TryRecordEncryption(ReadOnlySpan<byte> sessionTag, ulong round, uint firstChunk, uint chunkCount)
    {
        if (chunkCount == 0) throw new ArgumentOutOfRangeException(nameof(chunkCount), "At least one chunk.");
        if ((ulong)firstChunk + chunkCount - 1 > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(chunkCount), "Chunk indices past 2^32 - 1.");
        string tag = Convert.ToHexString(sessionTag);
        lock (_gate)
        {
            TagRecord r = Record(tag, out bool created);
            var previous = r.LastEncryption;
            if (previous is { } last && (round < last.Round || (round == last.Round && firstChunk <= last.Chunk))) return false;
            r.LastEncryption = (round, firstChunk + chunkCount - 1);
            try { Save(); }
            catch { r.LastEncryption = previous; if (created) _tags.Remove(tag); throw; }
            return true;
        }
    }

    /// <inheritdoc />
    public LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> sessionTag, ulong round, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> answers, long budget)
    {
        ArgumentNullException.ThrowIfNull(answers);
        string tag = Convert.ToHexString(sessionTag);
        lock (_gate)
        {
            _tags.TryGetValue(tag, out TagRecord? existing);
            var fresh = new List<(uint Chunk, byte[] Fingerprint)>();
            var seen = new HashSet<uint>();
            foreach (var (chunk, fingerprint) in answers)
            {
                if (fingerprint is not { Length: 32 }) throw new ArgumentException("A fingerprint is 32 bytes.", nameof(answers));
                if (!seen.Add(chunk)) throw new ArgumentException("A chunk appears twice.", nameof(answers));
                if (existing is not null && existing.Answers.TryGetValue((round, chunk), out byte[]? previous))
                {
                    if (!CryptographicOperations.FixedTimeEquals(previous, fingerprint)) return LedgerDecision.Conflict;
                }
                else fresh.Add((chunk, fingerprint));
            }
            if (fresh.Count == 0) return LedgerDecision.Repeat;
            if ((existing?.Charged ?? 0) + fresh.Count > budget) return LedgerDecision.BudgetExhausted;
            TagRecord r = Record(tag, out bool created);
            foreach (var (chunk, fingerprint) in fresh)
            {
                r.Answers[(round, chunk)] = (byte[])fingerprint.Clone();
                r.Append(round, chunk, fingerprint);
            }
            r.Charged += fresh.Count;
            try { Save(); }
            catch
            {
                foreach (var (chunk, _) in fresh) r.Answers.Remove((round, chunk));
                r.TakeBack(fresh.Count);
                r.Charged -= fresh.Count;
                if (created) _tags.Remove(tag);
                throw;
            }
            return LedgerDecision.Recorded;
        }
    }

    /// <inheritdoc />
    public long AnswersRecorded(ReadOnlySpan<byte> sessionTag)
    {
        string tag = Convert.ToHexString(sessionTag);
        lock (_gate) return _tags.TryGetValue(tag, out TagRecord? r) ? r.Charged : 0;
    }

    private TagRecord Record(string tag, out bool created)
    {
        created = !_tags.TryGetValue(tag, out TagRecord? r);
        if (created) _tags[tag] = r = new TagRecord(Convert.FromHexString(tag));
        return r!;
    }

    private void Save()
    {
        _lock.EnsureHeld();
        _version++;
        if (_carried) return;   // made durable by the round part that carries it, before anything leaves the bank
        byte[] b = Encode();
        Diagnostics.HopTrace.Mark(-2, "ledger>", b.Length);
        EncryptedStateFile.Write(_path, Purpose, _key, b);
        Diagnostics.HopTrace.Mark(-2, "ledger<");
    }

    /// <summary>The ledger's plaintext (the file header's layout). Its answers are copied from each tag's encoded answers: the cost
    /// of an encoding is a copy of the bytes, not a walk over every answer recorded.</summary>
    private byte[] Encode()
    {
        int size = 4 + 1 + 4;
        foreach (TagRecord r in _tags.Values) size += 1 + r.Tag.Length + 1 + 8 + 4 + 8 + 4 + r.EncodedLength;
        var b = new byte[size];
        int at = 0;
        Magic.CopyTo(b); at = 4; b[at++] = Version;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)_tags.Count); at += 4;
        foreach (TagRecord r in _tags.Values)
        {
            b[at++] = (byte)r.Tag.Length; r.Tag.CopyTo(b, at); at += r.Tag.Length;
            b[at++] = r.LastEncryption is null ? (byte)0 : (byte)1;
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), r.LastEncryption?.Round ?? 0); at += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), r.LastEncryption?.Chunk ?? 0); at += 4;
            BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(at), r.Charged); at += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)(r.EncodedLength / AnswerSize)); at += 4;
            r.EncodedAnswers.CopyTo(b.AsSpan(at)); at += r.EncodedLength;
        }
        return b;
    }

    private void Parse(byte[] b)
    {
        int at = 0;
        ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || b.Length - at < n) throw StateFileException.Damaged(_path, "the decryption ledger is truncated");
            var s = b.AsSpan(at, n); at += n; return s;
        }
        if (!Take(4).SequenceEqual(Magic) || Take(1)[0] != Version) throw StateFileException.Damaged(_path, "not a version-1 decryption ledger");
        uint tags = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        for (uint i = 0; i < tags; i++)
        {
            byte[] tagBytes = Take(Take(1)[0]).ToArray();
            string tag = Convert.ToHexString(tagBytes);
            var r = new TagRecord(tagBytes);
            bool has = Take(1)[0] != 0;
            ulong round = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
            uint chunk = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
            if (has) r.LastEncryption = (round, chunk);
            r.Charged = BinaryPrimitives.ReadInt64LittleEndian(Take(8));
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
            if (count > (b.Length - at) / 44) throw StateFileException.Damaged(_path, "the decryption ledger is truncated");
            for (uint k = 0; k < count; k++)
            {
                ulong rr = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
                uint cc = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
                byte[] fp = Take(32).ToArray();
                if (!r.Answers.TryAdd((rr, cc), fp)) throw StateFileException.Damaged(_path, "the decryption ledger holds one (round, chunk) twice");
                r.Append(rr, cc, fp);
            }
            _tags[tag] = r;
        }
        if (at != b.Length) throw StateFileException.Damaged(_path, "trailing bytes after the decryption ledger");
    }
}
