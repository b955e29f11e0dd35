// SQLite implementation of IAggregatorStore (Microsoft.Data.Sqlite): WAL journal, synchronous=FULL so that an
// acknowledged Append survives a power loss, one connection serialized by the coordinator's lock.
using Microsoft.Data.Sqlite;

namespace FraudFed.Aggregator.Storage;

/// <summary>The appliance's state in one SQLite file (WAL mode).</summary>
public sealed class SqliteAggregatorStore : IAggregatorStore
{
    private readonly SqliteConnection _db;
    private readonly Dictionary<int, long> _lastSequence = new();

    /// <summary>Opens (or creates) the state file at <paramref name="path"/>; its directory is created if needed.</summary>
    /// <exception cref="InvalidDataException">the file cannot be opened or is not an SQLite file (the message names the path).</exception>
    public SqliteAggregatorStore(string path)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try { OpenSchema(); }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new InvalidDataException(
                $"the state file {path} cannot be opened as an appliance state file (SQLite: {e.SqliteErrorCode}); restore it from a backup or name a new state path", e);
        }
    }

    private void OpenSchema()
    {
        _db.Open();
        Exec("PRAGMA journal_mode=WAL;");
        Exec("PRAGMA synchronous=FULL;");
        Exec("""
            CREATE TABLE IF NOT EXISTS header (id INTEGER PRIMARY KEY CHECK (id = 1), config_digest TEXT NOT NULL, created_utc TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, bank INTEGER NOT NULL, name TEXT NOT NULL,
                payload BLOB NOT NULL, digest BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS events_inbound ON events (bank, digest) WHERE kind = 1;
            CREATE TABLE IF NOT EXISTS mailbox (bank INTEGER NOT NULL, seq INTEGER NOT NULL, item BLOB NOT NULL, PRIMARY KEY (bank, seq));
            """);
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT config_digest FROM header WHERE id = 1";
        ConfigDigest = cmd.ExecuteScalar() as string;
    }

    /// <inheritdoc />
    public string? ConfigDigest { get; private set; }

    /// <inheritdoc />
    public void Initialize(string configDigest)
    {
        if (ConfigDigest is not null) throw new InvalidOperationException("The state file already belongs to a configuration.");
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "INSERT INTO header (id, config_digest, created_utc) VALUES (1, $d, $t)";
        cmd.Parameters.AddWithValue("$d", configDigest);
        cmd.Parameters.AddWithValue("$t", DateTime.UtcNow.ToString("O"));
        cmd.ExecuteNonQuery();
        ConfigDigest = configDigest;
    }

    /// <inheritdoc />
    public IReadOnlyList<StoredEvent> ReadEvents()
    {
        var list = new List<StoredEvent>();
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT seq, kind, bank, name, payload, digest FROM events ORDER BY seq";
        using SqliteDataReader r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new StoredEvent(r.GetInt64(0), (EventKind)r.GetInt32(1), r.GetInt32(2), r.GetString(3), (byte[])r[4], (byte[])r[5]));
        return list;
    }

    /// <inheritdoc />
    public long Append(StoredEvent e, IReadOnlyList<OutboundItem> outbound)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(outbound);
        using SqliteTransaction tx = _db.BeginTransaction();
        long seq;
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO events (kind, bank, name, payload, digest) VALUES ($k, $b, $n, $p, $d); SELECT last_insert_rowid();";
            cmd.Parameters.AddWithValue("$k", (int)e.Kind);
            cmd.Parameters.AddWithValue("$b", e.Bank);
            cmd.Parameters.AddWithValue("$n", e.Name);
            cmd.Parameters.AddWithValue("$p", e.Payload);
            cmd.Parameters.AddWithValue("$d", e.Digest);
            seq = (long)cmd.ExecuteScalar()!;
        }
        var assigned = new Dictionary<int, long>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO mailbox (bank, seq, item) VALUES ($b, $s, $i)";
            SqliteParameter b = cmd.Parameters.Add("$b", SqliteType.Integer), s = cmd.Parameters.Add("$s", SqliteType.Integer), i = cmd.Parameters.Add("$i", SqliteType.Blob);
            foreach (OutboundItem o in outbound)
            {
                long next = (assigned.TryGetValue(o.Bank, out long a) ? a : LastMailboxSequence(o.Bank)) + 1;
                assigned[o.Bank] = next;
                b.Value = o.Bank; s.Value = next; i.Value = o.Item;
                cmd.ExecuteNonQuery();
            }
        }
        tx.Commit();
        foreach (var (bank, last) in assigned) _lastSequence[bank] = last;
        return seq;
    }

    /// <inheritdoc />
    public long? FindInbound(int bank, byte[] digest)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT seq FROM events WHERE kind = 1 AND bank = $b AND digest = $d LIMIT 1";
        cmd.Parameters.AddWithValue("$b", bank);
        cmd.Parameters.AddWithValue("$d", digest);
        return cmd.ExecuteScalar() is long seq ? seq : null;
    }

    /// <inheritdoc />
    public IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems)
    {
        var list = new List<MailboxEntry>();
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT seq, item FROM mailbox WHERE bank = $b AND seq > $a ORDER BY seq LIMIT $m";
        cmd.Parameters.AddWithValue("$b", bank);
        cmd.Parameters.AddWithValue("$a", afterSequence);
        cmd.Parameters.AddWithValue("$m", maxItems);
        using SqliteDataReader r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new MailboxEntry(r.GetInt64(0), (byte[])r[1]));
        return list;
    }

    /// <inheritdoc />
    public long LastMailboxSequence(int bank)
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
    public void Dispose() => _db.Dispose();
}
