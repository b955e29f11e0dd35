// SQLite implementation of IAggregatorStore (Microsoft.Data.Sqlite): WAL journal, synchronous=FULL so that an
// acknowledged append survives a power loss, one connection guarded by its own lock (the coordinator's group commit
// writes while banks' mailbox reads wait only for that commit). Large inbound payloads (1 MiB or more) live in files beside the state
// file (<state>.payloads/<bank>-<digest>.bin, IntakeDigest), written once (O_DIRECT where possible: DirectPayloadWriter) and fsynced (the file, then the folder: one folder fsync for the
// files of concurrent writers) before the row naming them commits, instead of
// being copied into the WAL and again into the database at checkpoint. A broadcast mailbox item is stored once
// (table items) and referenced by each recipient's mailbox row; an item of as many bytes (a masking round's SumResult: 4 MB at
// 10^6 values, written at the round's finish, on the path of every bank's sum) goes the same way to
// <state>.payloads/item-<SHA-256 hex>.bin, written before the transaction whose items row names it (item empty, file_digest
// its SHA-256) commits, and checked against that digest whenever it is read (ReadMailbox). A file no committed row names (a
// crash or a failed transaction after its write) is ignored and replaced by the next write of the same bytes; the store
// deletes no file. A state file of the build before item files (no items.file_digest) gets the column: its items stay inline.
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using System.Runtime.InteropServices;

namespace FraudFed.Aggregator.Storage;

/// <summary>The appliance's state in one SQLite file (WAL mode) and a folder of large inbound payloads and mailbox items beside it.</summary>
public sealed partial class SqliteAggregatorStore : IAggregatorStore
{
    /// <summary>Inbound payloads and outbound mailbox items of at least this many bytes (1 MiB) go to their own file by default
    /// (smaller ones stay in the row).
    /// A payload file costs two fsyncs (file, directory) on the message's path before its commit's own fsync; below 1 MiB (a
    /// small round's homomorphic upload or decryption share) the copy into the WAL and the later checkpoint cost less.</summary>
    public const int DefaultPayloadFileThreshold = 1 << 20;

    /// <summary>SQLite page size of a new state file: 16384 bytes. Every page is one WAL frame (a header and a page: two
    /// pwrite calls) at commit and one more write at checkpoint, so a ~131 KB homomorphic upload or decryption share costs
    /// about 100 system calls at 4096-byte pages (SQLite's default) and a quarter of that at 16384; per secure sum of the default
    /// `simulate` the store's CPU time fell by about a fifth. Larger pages gained nothing more: a small commit (a round request,
    /// a coordinator step) still rewrites whole b-tree pages. A state file made with another page size keeps it.</summary>
    public const int StatePageBytes = 16384;

    private readonly object _gate = new();
    private readonly SqliteConnection _db;
    private readonly FileStream _lock;
    private readonly string _payloadDirectory;
    private readonly Dictionary<int, long> _lastSequence = new();

    /// <summary>
    /// Opens (or creates) the state file at <paramref name="path"/>; its directory is created if needed. One process at a
    /// time: the store holds an exclusive lock on <c>&lt;state&gt;.lock</c> (flock on Linux) until it is disposed, so a second
    /// appliance pointed at the same state file is refused before it reads anything.
    /// </summary>
    /// <exception cref="InvalidDataException">the file cannot be opened or is not an SQLite file, or another process holds
    /// the state file (the message names the path).</exception>
    public SqliteAggregatorStore(string path)
    {
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null) Directory.CreateDirectory(dir);
        _payloadDirectory = full + ".payloads";
        try { _lock = new FileStream(full + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e)
        {
            throw new InvalidDataException(
                $"the state file {path} is in use by another appliance process (it holds {full}.lock); stop that process first, or give this appliance its own state path (\"state\" in its aggregator.json).", e);
        }
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try { OpenSchema(); }
        catch (SqliteException e)
        {
            _db.Dispose();
            _lock.Dispose();
            throw new InvalidDataException(
                $"the state file {path} cannot be opened as an appliance state file (SQLite: {e.SqliteErrorCode}); restore it from a backup or name a new state path", e);
        }
        Directory.CreateDirectory(_payloadDirectory);
    }

    private void OpenSchema()
    {
        _db.Open();
        // Only a new, empty file takes the page size (an existing one keeps its own): see StatePageBytes.
        Exec($"PRAGMA page_size={StatePageBytes};");
        Exec("PRAGMA journal_mode=WAL;");
        Exec("PRAGMA synchronous=FULL;");
        Exec("""
            CREATE TABLE IF NOT EXISTS header (id INTEGER PRIMARY KEY CHECK (id = 1), config_digest TEXT NOT NULL, created_utc TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, bank INTEGER NOT NULL, name TEXT NOT NULL,
                payload BLOB NOT NULL, digest BLOB NOT NULL, in_file INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX IF NOT EXISTS events_inbound ON events (bank, digest) WHERE kind = 1;
            CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, item BLOB NOT NULL, file_digest BLOB);
            CREATE TABLE IF NOT EXISTS mailbox (bank INTEGER NOT NULL, seq INTEGER NOT NULL, item_id INTEGER NOT NULL REFERENCES items (id),
                PRIMARY KEY (bank, seq));
            """);
        using (var check = _db.CreateCommand())
        {
            check.CommandText = "SELECT COUNT(*) FROM pragma_table_info('mailbox') WHERE name = 'item_id'";
            if ((long)check.ExecuteScalar()! == 0)
                throw new InvalidDataException("the state file was written by an earlier build (mailbox items inline); finish its session with that build or start a new state file");
            check.CommandText = "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'in_file'";
            if ((long)check.ExecuteScalar()! == 0)
                throw new InvalidDataException("the state file was written by an earlier build (no payload files); finish its session with that build or start a new state file");
            // A file of the build before item files: every item is inline (file_digest NULL reads as such), so the column is added
            // and the file goes on as a current one.
            check.CommandText = "SELECT COUNT(*) FROM pragma_table_info('items') WHERE name = 'file_digest'";
            if ((long)check.ExecuteScalar()! == 0) Exec("ALTER TABLE items ADD COLUMN file_digest BLOB;");
        }
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT config_digest FROM header WHERE id = 1";
        ConfigDigest = cmd.ExecuteScalar() as string;
    }

    /// <inheritdoc />
    public string? ConfigDigest { get; private set; }

    /// <inheritdoc />
    public int PayloadFileThreshold { get; init; } = DefaultPayloadFileThreshold;

    /// <inheritdoc />
    public void Initialize(string configDigest)
    {
        lock (_gate)
        {
            if (ConfigDigest is not null) throw new InvalidOperationException("The state file already belongs to a configuration.");
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "INSERT INTO header (id, config_digest, created_utc) VALUES (1, $d, $t)";
            cmd.Parameters.AddWithValue("$d", configDigest);
            cmd.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O"));
            cmd.ExecuteNonQuery();
            ConfigDigest = configDigest;
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">a payload file an event names is missing or does not match its digest.</exception>
    public IReadOnlyList<StoredEvent> ReadEvents()
    {
        var list = new List<StoredEvent>();
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT seq, kind, bank, name, payload, digest, in_file FROM events ORDER BY seq";
            using SqliteDataReader r = cmd.ExecuteReader();
            while (r.Read())
            {
                int bank = r.GetInt32(2);
                var kind = (EventKind)r.GetInt32(1);
                byte[] digest = (byte[])r[5];
                byte[] payload;
                if (r.GetInt64(6) != 0) (payload, digest) = ReadPayloadFile(r.GetInt64(0), bank, digest);
                else
                {
                    payload = (byte[])r[4];
                    // A masked input kept in its row (below the payload-file threshold) by a build before IntakeDigest's derived
                    // form has SHA-256(payload) as its digest: returned in the current form, so that a resend after the upgrade
                    // is still recognised.
                    if (kind == EventKind.Inbound && IntakeDigest.IsDerived(payload)) digest = IntakeDigest.Of(payload);
                }
                list.Add(new StoredEvent(r.GetInt64(0), kind, bank, r.GetString(3), payload, digest));
            }
        }
        return list;
    }

    /// <inheritdoc />
    public long Append(StoredEvent e, IReadOnlyList<OutboundItem> outbound) => AppendBatch([new AppendEntry(e, outbound)]).Sequences[0];

    /// <inheritdoc />
    public AppendedBatch AppendBatch(IReadOnlyList<AppendEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (AppendEntry a in entries)
        {
            ArgumentNullException.ThrowIfNull(a.Event);
            ArgumentNullException.ThrowIfNull(a.Outbound);
            if (a.PayloadInFile && !File.Exists(PayloadPath(a.Event.Bank, a.Event.Digest)))
                throw new InvalidOperationException($"event of bank {a.Event.Bank} names a payload file that was not written");
        }
        Dictionary<byte[], byte[]> itemFiles = WriteItemFiles(entries);
        lock (_gate)
        {
            var sequences = new long[entries.Count];
            var postings = new List<MailboxPosting>();
            var assigned = new Dictionary<int, long>();
            using SqliteTransaction tx = _db.BeginTransaction();
            AppendCommands c = _append ??= new AppendCommands(_db);
            SqliteCommand ev = c.Event, it = c.Item, mb = c.Mailbox;
            ev.Transaction = it.Transaction = mb.Transaction = tx;
            SqliteParameter k = c.Kind, eb = c.EventBank, n = c.Name, p = c.Payload, d = c.Digest, f = c.InFile, i = c.ItemBytes, fd = c.ItemFileDigest, b = c.MailboxBank, s = c.MailboxSequence, id = c.ItemId;
            for (int x = 0; x < entries.Count; x++)
            {
                StoredEvent e = entries[x].Event;
                k.Value = (int)e.Kind; eb.Value = e.Bank; n.Value = e.Name; d.Value = e.Digest;
                p.Value = entries[x].PayloadInFile ? Array.Empty<byte>() : e.Payload;
                f.Value = entries[x].PayloadInFile ? 1 : 0;
                sequences[x] = (long)ev.ExecuteScalar()!;
                var stored = new Dictionary<byte[], long>(ReferenceEqualityComparer.Instance);
                foreach (OutboundItem o in entries[x].Outbound)
                {
                    if (!stored.TryGetValue(o.Item, out long itemId))
                    {
                        // An item in its own file (written and made durable above) leaves the row only its digest.
                        bool inFile = itemFiles.TryGetValue(o.Item, out byte[]? fileDigest);
                        i.Value = inFile ? Array.Empty<byte>() : o.Item;
                        fd.Value = inFile ? fileDigest : DBNull.Value;
                        stored[o.Item] = itemId = (long)it.ExecuteScalar()!;
                    }
                    long next = (assigned.TryGetValue(o.Bank, out long a) ? a : LastMailboxSequenceCore(o.Bank)) + 1;
                    assigned[o.Bank] = next;
                    b.Value = o.Bank; s.Value = next; id.Value = itemId;
                    mb.ExecuteNonQuery();
                    postings.Add(new MailboxPosting(o.Bank, next, o.Item));
                }
            }
            tx.Commit();
            foreach (var (bank, last) in assigned) _lastSequence[bank] = last;
            // The commands outlive the transaction (their compiled statements are kept for the next batch); the payload
            // parameters let go of the batch's arrays.
            p.Value = d.Value = i.Value = fd.Value = DBNull.Value;
            return new AppendedBatch(sequences, postings);
        }
    }

    private AppendCommands? _append;   // under _gate: made by the first AppendBatch, disposed with the store

    /// <summary>The three insert statements of <see cref="AppendBatch"/>, compiled once (Prepare) and kept for the store's
    /// lifetime: a group commit used to compile them again for every batch, several times per secure sum.</summary>
    private sealed class AppendCommands : IDisposable
    {
        public AppendCommands(SqliteConnection db)
        {
            Event = db.CreateCommand();
            Event.CommandText = "INSERT INTO events (kind, bank, name, payload, digest, in_file) VALUES ($k, $b, $n, $p, $d, $f); SELECT last_insert_rowid();";
            Kind = Event.Parameters.Add("$k", SqliteType.Integer);
            EventBank = Event.Parameters.Add("$b", SqliteType.Integer);
            Name = Event.Parameters.Add("$n", SqliteType.Text);
            Payload = Event.Parameters.Add("$p", SqliteType.Blob);
            Digest = Event.Parameters.Add("$d", SqliteType.Blob);
            InFile = Event.Parameters.Add("$f", SqliteType.Integer);
            Item = db.CreateCommand();
            Item.CommandText = "INSERT INTO items (item, file_digest) VALUES ($i, $fd); SELECT last_insert_rowid();";
            ItemBytes = Item.Parameters.Add("$i", SqliteType.Blob);
            ItemFileDigest = Item.Parameters.Add("$fd", SqliteType.Blob);
            Mailbox = db.CreateCommand();
            Mailbox.CommandText = "INSERT INTO mailbox (bank, seq, item_id) VALUES ($b, $s, $id)";
            MailboxBank = Mailbox.Parameters.Add("$b", SqliteType.Integer);
            MailboxSequence = Mailbox.Parameters.Add("$s", SqliteType.Integer);
            ItemId = Mailbox.Parameters.Add("$id", SqliteType.Integer);
            Event.Prepare();
            Item.Prepare();
            Mailbox.Prepare();
        }

        public SqliteCommand Event { get; }
        public SqliteCommand Item { get; }
        public SqliteCommand Mailbox { get; }
        public SqliteParameter Kind { get; }
        public SqliteParameter EventBank { get; }
        public SqliteParameter Name { get; }
        public SqliteParameter Payload { get; }
        public SqliteParameter Digest { get; }
        public SqliteParameter InFile { get; }
        public SqliteParameter ItemBytes { get; }
        public SqliteParameter ItemFileDigest { get; }
        public SqliteParameter MailboxBank { get; }
        public SqliteParameter MailboxSequence { get; }
        public SqliteParameter ItemId { get; }

        public void Dispose()
        {
            Event.Dispose();
            Item.Dispose();
            Mailbox.Dispose();
        }
    }

    /// <inheritdoc />
    public void WritePayloadFile(int bank, byte[] digest, byte[] payload)
    {
        ArgumentNullException.ThrowIfNull(digest);
        ArgumentNullException.ThrowIfNull(payload);
        SyncPayloadDirectoryAfter(WriteFileInPlace(PayloadPath(bank, digest), payload));
    }

    /// <summary>Writes <paramref name="bytes"/> to a temporary file beside <paramref name="path"/> (O_DIRECT where the platform and
    /// file system allow it, DirectPayloadWriter, else through the page cache), fsyncs it and renames it to <paramref name="path"/>
    /// (replacing a file of that name). Returns the move's number for <see cref="SyncPayloadDirectoryAfter"/>: the name is durable
    /// only after that directory fsync.</summary>
    private long WriteFileInPlace(string path, byte[] bytes)
    {
        string temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            if (!_direct.TryWrite(temp, bytes))
            {
                using var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally { if (File.Exists(temp)) File.Delete(temp); }
        return Interlocked.Increment(ref _renamed);
    }

    /// <summary>Writes every distinct outbound item of <paramref name="entries"/> of at least <see cref="PayloadFileThreshold"/>
    /// bytes to its own file, <c>item-&lt;SHA-256 hex&gt;.bin</c> in the payload folder, as <see cref="WritePayloadFile"/> does (file
    /// fsync, rename, then one folder fsync for all of them), before the transaction whose items rows name them by that digest:
    /// the row is the commit point. Returns each such item array (by reference) with its SHA-256. A file whose transaction then
    /// fails is named by no row: ignored, as an orphan of a crash between the two is, and replaced by the next write of the same
    /// bytes (it is not deleted: a commit whose fsync reported failure may still have reached the disk).</summary>
    private Dictionary<byte[], byte[]> WriteItemFiles(IReadOnlyList<AppendEntry> entries)
    {
        var files = new Dictionary<byte[], byte[]>(ReferenceEqualityComparer.Instance);
        long lastMove = 0;
        foreach (AppendEntry a in entries)
            foreach (OutboundItem o in a.Outbound)
            {
                if (o.Item.Length < PayloadFileThreshold || files.ContainsKey(o.Item)) continue;
                byte[] digest = SHA256.HashData(o.Item);
                lastMove = WriteFileInPlace(ItemPath(digest), o.Item);
                files[o.Item] = digest;
            }
        if (lastMove != 0) SyncPayloadDirectoryAfter(lastMove);
        return files;
    }

    private string ItemPath(byte[] digest) => Path.Combine(_payloadDirectory, $"item-{Convert.ToHexStringLower(digest)}.bin");

    /// <summary>The bytes of mailbox item <paramref name="itemId"/> (bank <paramref name="bank"/>'s sequence <paramref name="seq"/>)
    /// from its file, which must match the SHA-256 its row holds.</summary>
    /// <exception cref="InvalidDataException">the file is missing or unreadable, or its bytes (cut short, altered) do not match.</exception>
    private byte[] ReadItemFile(long itemId, int bank, long seq, byte[] digest)
    {
        string path = ItemPath(digest);
        byte[] item;
        try { item = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidDataException($"mailbox item {itemId} (bank {bank}, sequence {seq}): its file {path} cannot be read; restore the state file together with its .payloads folder", e); }
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(item), digest))
            throw new InvalidDataException($"mailbox item {itemId} (bank {bank}, sequence {seq}): its file {path} ({item.Length} bytes) does not match the digest in the state file; restore the state file together with its .payloads folder");
        return item;
    }

    private readonly DirectPayloadWriter _direct = new();
    private readonly object _directorySync = new();
    private long _renamed;           // payload files moved into place so far (numbered in the order their moves finished)
    private long _directorySynced;   // the highest such number a finished directory fsync covers

    /// <summary>Returns once a directory fsync that began after payload file <paramref name="renamed"/> was moved into place has
    /// finished: the file's name is then durable. Concurrent writers (ten banks' uploads of one stage) share one fsync, as a group
    /// commit does: each waits for the one running, and finds its own file covered by it or runs the next, which covers every
    /// move finished before it began.</summary>
    private void SyncPayloadDirectoryAfter(long renamed)
    {
        lock (_directorySync)
        {
            if (Volatile.Read(ref _directorySynced) >= renamed) return;
            long covers = Interlocked.Read(ref _renamed);   // every move counted up to here finished before this fsync begins
            FraudFed.Sdk.State.DurableDirectory.Sync(_payloadDirectory);
            Volatile.Write(ref _directorySynced, covers);
        }
    }

    private string PayloadPath(int bank, byte[] digest) => Path.Combine(_payloadDirectory, $"{bank}-{Convert.ToHexStringLower(digest)}.bin");

    /// <summary>The payload file of event <paramref name="seq"/>, named by its stored digest, and its digest in the current form
    /// (<see cref="IntakeDigest"/>). The file must match the stored digest: in the current form, or, for a masked input that a build
    /// before the derived form stored, as SHA-256 of its bytes (then hashed once more, once, at this start).</summary>
    private (byte[] Payload, byte[] Digest) ReadPayloadFile(long seq, int bank, byte[] digest)
    {
        string path = PayloadPath(bank, digest);
        byte[] payload;
        try { payload = File.ReadAllBytes(path); }
        catch (IOException e) { throw new InvalidDataException($"event {seq}: its payload file {path} cannot be read; restore the state file together with its .payloads folder", e); }
        byte[] current = IntakeDigest.Of(payload);
        if (!CryptographicOperations.FixedTimeEquals(current, digest)
            && !(IntakeDigest.IsDerived(payload) && CryptographicOperations.FixedTimeEquals(IntakeDigest.Legacy(payload), digest)))
            throw new InvalidDataException($"event {seq}: its payload file {path} does not match the digest in the state file; restore the state file together with its .payloads folder");
        return (payload, current);
    }

    /// <inheritdoc />
    public long? FindInbound(int bank, byte[] digest)
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT seq FROM events WHERE kind = 1 AND bank = $b AND digest = $d LIMIT 1";
            cmd.Parameters.AddWithValue("$b", bank);
            cmd.Parameters.AddWithValue("$d", digest);
            return cmd.ExecuteScalar() is long seq ? seq : null;
        }
    }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">an item's file is missing, unreadable, or does not match its digest (the message
    /// names the file).</exception>
    public IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems)
    {
        var rows = new List<(long Sequence, long ItemId, byte[] Item, byte[]? FileDigest)>();
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT m.seq, i.id, i.item, i.file_digest FROM mailbox m JOIN items i ON i.id = m.item_id WHERE m.bank = $b AND m.seq > $a ORDER BY m.seq LIMIT $m";
            cmd.Parameters.AddWithValue("$b", bank);
            cmd.Parameters.AddWithValue("$a", afterSequence);
            cmd.Parameters.AddWithValue("$m", maxItems);
            using SqliteDataReader r = cmd.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), r.GetInt64(1), (byte[])r[2], r.IsDBNull(3) ? null : (byte[])r[3]));
        }
        // Item files are read outside the lock (a commit need not wait for them): a committed row's file is never replaced by
        // other bytes (its name is their digest) nor removed by the store.
        var list = new List<MailboxEntry>(rows.Count);
        var read = new Dictionary<long, byte[]>();
        foreach (var (seq, itemId, item, fileDigest) in rows)
        {
            if (fileDigest is null) { list.Add(new MailboxEntry(seq, item)); continue; }
            if (!read.TryGetValue(itemId, out byte[]? bytes)) read[itemId] = bytes = ReadItemFile(itemId, bank, seq, fileDigest);
            list.Add(new MailboxEntry(seq, bytes));
        }
        return list;
    }

    /// <inheritdoc />
    public long LastMailboxSequence(int bank)
    {
        lock (_gate) return LastMailboxSequenceCore(bank);
    }

    private long LastMailboxSequenceCore(int bank)
    {
        if (_lastSequence.TryGetValue(bank, out long last)) return last;
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT COALESCE(MAX(seq), 0) FROM mailbox WHERE bank = $b";
        cmd.Parameters.AddWithValue("$b", bank);
        last = (long)cmd.ExecuteScalar()!;
        _lastSequence[bank] = last;
        return last;
    }

    private void Exec(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _append?.Dispose();
            _direct.Dispose();
            _db.Dispose();
            _lock.Dispose();
        }
    }
}
