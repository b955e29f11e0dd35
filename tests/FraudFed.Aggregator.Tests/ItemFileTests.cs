// Large outbound mailbox items (a masking round's SumResult) in their own files beside the state file: the items row holds no
// bytes and the WAL does not carry them, they read back byte for byte (also after a reopen, and for every recipient of a
// broadcast), a damaged, cut or deleted file is an InvalidDataException naming it, small items stay inline, a state file of
// the build before item files opens and goes on, and neither a failed transaction's file nor a crash's orphan breaks anything.
using System.Security.Cryptography;
using FraudFed.Aggregator.Storage;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class ItemFileTests
{
    private const int Large = 4_000_017;   // a 10^6-value SumResult's size, not a whole number of 4096-byte blocks
    private string _dir = "";
    private string _path = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("fraudfed-items-").FullName;
        _path = Path.Combine(_dir, "a.db");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static byte[] Bytes(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private string ItemFile(byte[] item) => Path.Combine(_path + ".payloads", $"item-{Convert.ToHexStringLower(SHA256.HashData(item))}.bin");

    /// <summary>(length of the item column, file_digest) of every items row, by id, read with a connection of its own.</summary>
    private List<(long Length, byte[]? FileDigest)> ItemRows()
    {
        using var db = new SqliteConnection($"Data Source={_path};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT length(item), file_digest FROM items ORDER BY id";
        using SqliteDataReader r = cmd.ExecuteReader();
        var rows = new List<(long, byte[]?)>();
        while (r.Read()) rows.Add((r.GetInt64(0), r.IsDBNull(1) ? null : (byte[])r[1]));
        return rows;
    }

    [Test]
    public void ALargeBroadcastItem_IsInItsOwnFile_NotInTheWal_AndReadsBackForEveryRecipient_AlsoAfterReopen()
    {
        byte[] sum = Bytes(Large, 1);
        byte[] small = Bytes(SqliteAggregatorStore.DefaultPayloadFileThreshold - 1, 2);
        using (var store = new SqliteAggregatorStore(_path))
        {
            store.Initialize("abc");
            byte[] open = [5];
            store.Append(new StoredEvent(0, EventKind.Step, -1, "open", [1], []), [new OutboundItem(0, open), new OutboundItem(1, open)]);
            long walBefore = new FileInfo(_path + "-wal").Length;
            AppendedBatch written = store.AppendBatch([new AppendEntry(new StoredEvent(0, EventKind.Step, -1, "finish", [2], []),
                [new OutboundItem(0, sum), new OutboundItem(1, sum), new OutboundItem(2, sum), new OutboundItem(0, small)])]);
            long walGrowth = new FileInfo(_path + "-wal").Length - walBefore;
            Assert.That(walGrowth, Is.LessThan(small.Length + 256 * 1024), "the large item is not in the WAL (the small one is)");
            Assert.That(written.Mailbox.Take(3).Select(m => m.Item), Is.All.SameAs(sum), "the postings (the in-memory cache) keep the caller's array");
            Assert.That(File.ReadAllBytes(ItemFile(sum)), Is.EqualTo(sum));
            Assert.That(store.ReadMailbox(1, 1, 10).Single().Item, Is.EqualTo(sum));
            Assert.That(store.ReadMailbox(0, 0, 10).Select(m => m.Item), Is.EqualTo(new[] { [5], sum, small }));
        }
        List<(long Length, byte[]? FileDigest)> rows = ItemRows();
        Assert.That(rows, Has.Count.EqualTo(3), "the broadcast is one row");
        Assert.That(rows[1].Length, Is.Zero, "the row holds none of the large item's bytes");
        Assert.That(rows[1].FileDigest, Is.EqualTo(SHA256.HashData(sum)));
        Assert.That(rows[2], Is.EqualTo(((long)small.Length, (byte[]?)null)), "below the threshold the item stays inline");
        Assert.That(rows[0], Is.EqualTo((1L, (byte[]?)null)));
        Assert.That(Directory.GetFiles(_path + ".payloads"), Is.EqualTo(new[] { ItemFile(sum) }), "one file, no temporary file left");

        using var reopened = new SqliteAggregatorStore(_path);
        Assert.That(reopened.ReadMailbox(0, 0, 10).Select(m => (m.Sequence, m.Item)), Is.EqualTo(new[] { (1L, new byte[] { 5 }), (2L, sum), (3L, small) }));
        Assert.That(reopened.ReadMailbox(1, 0, 10).Select(m => (m.Sequence, m.Item)), Is.EqualTo(new[] { (1L, new byte[] { 5 }), (2L, sum) }));
        Assert.That(reopened.ReadMailbox(2, 0, 10).Select(m => (m.Sequence, m.Item)), Is.EqualTo(new[] { (1L, sum) }));
    }

    [Test]
    public void TheStoresThreshold_DecidesWhichItemsGoToFiles()
    {
        using var store = new SqliteAggregatorStore(_path) { PayloadFileThreshold = 1000 };
        store.Initialize("abc");
        byte[] below = Bytes(999, 3), at = Bytes(1000, 4);
        store.Append(new StoredEvent(0, EventKind.Step, -1, "x", [], []), [new OutboundItem(0, below), new OutboundItem(0, at)]);
        Assert.That(store.ReadMailbox(0, 0, 10).Select(m => m.Item), Is.EqualTo(new[] { below, at }));
        Assert.That(File.Exists(ItemFile(at)), Is.True);
        Assert.That(File.Exists(ItemFile(below)), Is.False);
    }

    private static readonly (string Name, Action<string> Damage)[] Damages =
    [
        ("a flipped byte", f => { byte[] b = File.ReadAllBytes(f); b[b.Length / 2] ^= 0x40; File.WriteAllBytes(f, b); }),
        ("cut short", f => { using var s = new FileStream(f, FileMode.Open); s.SetLength(s.Length - 1); }),
        ("deleted", File.Delete),
        ("emptied", f => File.WriteAllBytes(f, [])),
    ];

    [TestCaseSource(nameof(DamageNames))]
    public void ADamagedItemFile_IsAnInvalidDataExceptionNamingIt_NeverOtherBytes(string damage)
    {
        byte[] sum = Bytes(Large, 5);
        using (var store = new SqliteAggregatorStore(_path))
        {
            store.Initialize("abc");
            store.Append(new StoredEvent(0, EventKind.Step, -1, "x", [], []), [new OutboundItem(0, [1]), new OutboundItem(0, sum)]);
        }
        Damages.Single(d => d.Name == damage).Damage(ItemFile(sum));
        using var reopened = new SqliteAggregatorStore(_path);
        Assert.That(reopened.ReadMailbox(0, 0, 1).Single().Item, Is.EqualTo(new byte[] { 1 }), "an inline item before it still reads");
        Assert.That(() => reopened.ReadMailbox(0, 0, 10), Throws.TypeOf<InvalidDataException>()
            .With.Message.Contains(ItemFile(sum)).And.Message.Contains(".payloads folder"));
        Assert.That(reopened.ReadEvents(), Has.Count.EqualTo(1), "the log itself still replays");
    }

    private static IEnumerable<string> DamageNames() => Damages.Select(d => d.Name);

    [Test]
    public void AFailedTransactionsItemFile_IsNamedByNoRow_AndAnOrphanOrLeftoverDoesNotBreakTheNextWriteOrARestart()
    {
        byte[] sum = Bytes(Large, 6);
        using (var store = new SqliteAggregatorStore(_path))
        {
            store.Initialize("abc");
            // A null step name violates events.name NOT NULL after the item file was written: the whole batch rolls back.
            Assert.That(() => store.AppendBatch([new AppendEntry(new StoredEvent(0, EventKind.Step, -1, null!, [], []), [new OutboundItem(0, sum)])]),
                Throws.Exception);
            Assert.That(store.ReadMailbox(0, 0, 10), Is.Empty);
            Assert.That(store.LastMailboxSequence(0), Is.Zero);
        }
        Assert.That(ItemRows(), Is.Empty, "no row names the file of the failed transaction");

        // What a crash leaves: a temporary file, and a file at an item's name that no row names (here with other bytes).
        File.WriteAllBytes(ItemFile(sum) + ".0123.tmp", [1, 2, 3]);
        File.WriteAllBytes(ItemFile(sum), Bytes(100, 7));
        using (var store = new SqliteAggregatorStore(_path))
        {
            Assert.That(store.ReadEvents(), Is.Empty);
            store.Append(new StoredEvent(0, EventKind.Step, -1, "x", [], []), [new OutboundItem(0, sum)]);
            Assert.That(store.ReadMailbox(0, 0, 10).Single().Item, Is.EqualTo(sum), "the write replaced the orphan");
        }
        using var reopened = new SqliteAggregatorStore(_path);
        Assert.That(reopened.ReadMailbox(0, 0, 10).Single().Item, Is.EqualTo(sum));
    }

    [Test]
    public void AStateFileOfTheBuildBeforeItemFiles_Opens_KeepsItsInlineItems_AndTakesNewOnesInFiles()
    {
        // The schema of the build before item files, with one broadcast item inline.
        byte[] old = Bytes(SqliteAggregatorStore.DefaultPayloadFileThreshold + 10, 8);
        using (var db = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                PRAGMA journal_mode=WAL;
                CREATE TABLE header (id INTEGER PRIMARY KEY CHECK (id = 1), config_digest TEXT NOT NULL, created_utc TEXT NOT NULL);
                CREATE TABLE events (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, bank INTEGER NOT NULL, name TEXT NOT NULL,
                    payload BLOB NOT NULL, digest BLOB NOT NULL, in_file INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE items (id INTEGER PRIMARY KEY, item BLOB NOT NULL);
                CREATE TABLE mailbox (bank INTEGER NOT NULL, seq INTEGER NOT NULL, item_id INTEGER NOT NULL REFERENCES items (id),
                    PRIMARY KEY (bank, seq));
                INSERT INTO header VALUES (1, 'abc', '2026-01-01');
                INSERT INTO events (kind, bank, name, payload, digest) VALUES (3, -1, 'x', X'', X'');
                INSERT INTO items (item) VALUES ($old);
                INSERT INTO mailbox VALUES (0, 1, 1), (1, 1, 1);
                """;
            cmd.Parameters.AddWithValue("$old", old);
            cmd.ExecuteNonQuery();
        }
        byte[] sum = Bytes(Large, 9);
        using (var store = new SqliteAggregatorStore(_path))
        {
            Assert.That(store.ConfigDigest, Is.EqualTo("abc"));
            Assert.That(store.ReadMailbox(1, 0, 10).Single().Item, Is.EqualTo(old));
            store.Append(new StoredEvent(0, EventKind.Step, -1, "y", [], []), [new OutboundItem(0, sum), new OutboundItem(1, sum)]);
        }
        using (var reopened = new SqliteAggregatorStore(_path))
            Assert.That(reopened.ReadMailbox(0, 0, 10).Select(m => (m.Sequence, m.Item)), Is.EqualTo(new[] { (1L, old), (2L, sum) }));
        Assert.That(ItemRows().Select(r => (r.Length, r.FileDigest is not null)), Is.EqualTo(new[] { ((long)old.Length, false), (0L, true) }));
    }
}
