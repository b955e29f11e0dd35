// The SQLite store (atomic appends, mailbox sequences per bank, persistence across reopen, resend lookup) and the one
// ViolationReason -> gRPC status map (every reason mapped, the trailer reads back to the same reason).
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography;
using FraudFed.Sdk;
using Grpc.Core;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class StoreAndStatusTests
{
    [Test]
    public void SqliteStore_IsHeldByOneAppliance_ASecondOpenOfTheSameStateFileIsRefusedAndChangesNothing()
    {
        string dir = Directory.CreateTempSubdirectory("fraudfed-store-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.db");
            using (var first = new SqliteAggregatorStore(path))
            {
                first.Initialize("abc");
                first.Append(new StoredEvent(0, EventKind.Step, -1, "x", [9], []), [new OutboundItem(0, [1])]);
                var refused = Assert.Throws<InvalidDataException>(() => new SqliteAggregatorStore(path).Dispose());
                Assert.That(refused!.Message, Does.Contain("in use by another appliance process").And.Contain(path));
                Assert.That(first.ReadMailbox(0, 0, 10).Single().Item, Is.EqualTo(new byte[] { 1 }), "the holder keeps serving");
            }
            using var second = new SqliteAggregatorStore(path);
            Assert.That(second.ConfigDigest, Is.EqualTo("abc"), "released on dispose: the next process opens the same state");
            Assert.That(second.ReadEvents().Count(), Is.EqualTo(1));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void SqliteStore_PayloadFilesWrittenConcurrently_AreEachInPlaceWhenTheirWriterReturns_AndReadBackAfterReopen()
    {
        // Concurrent writers share directory fsyncs: each call still returns only once its own file is in place, and every file
        // reads back (digest checked) after a reopen.
        string dir = Directory.CreateTempSubdirectory("fraudfed-store-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.db");
            byte[][] payloads = [.. Enumerable.Range(0, 12).Select(i => Enumerable.Range(0, 4096 + i).Select(j => (byte)(i * 31 + j)).ToArray())];
            byte[][] digests = [.. payloads.Select(p => System.Security.Cryptography.SHA256.HashData(p))];
            using (var store = new SqliteAggregatorStore(path))
            {
                store.Initialize("abc");
                Parallel.For(0, payloads.Length, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i =>
                {
                    store.WritePayloadFile(i, digests[i], payloads[i]);
                    Assert.That(File.Exists(Path.Combine(path + ".payloads", $"{i}-{Convert.ToHexStringLower(digests[i])}.bin")), Is.True);
                });
                store.AppendBatch([.. payloads.Select((p, i) => new AppendEntry(new StoredEvent(0, EventKind.Inbound, i, "", p, digests[i]), [], PayloadInFile: true))]);
            }
            using var reopened = new SqliteAggregatorStore(path);
            IReadOnlyList<StoredEvent> events = reopened.ReadEvents();
            Assert.That(events.Select(e => e.Payload), Is.EqualTo(payloads));
            Assert.That(Directory.GetFiles(path + ".payloads", "*.tmp"), Is.Empty, "no temporary file is left behind");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void DirectPayloadWriter_WritesExactlyThePayload_ForEveryTailAndChunkBoundary()
    {
        // O_DIRECT writes whole 4096-byte blocks from a 1 MiB bounce buffer: the file must still hold exactly the payload (the padding
        // cut off) for lengths around block and chunk boundaries. Where O_DIRECT is not used nothing may be created.
        string dir = Directory.CreateTempSubdirectory("fraudfed-direct-").FullName;
        try
        {
            using var writer = new DirectPayloadWriter();
            int chunk = DirectPayloadWriter.ChunkBytes;
            foreach (int length in new[] { 1, 511, 512, 4095, 4096, 4097, chunk - 1, chunk, chunk + 1, 3 * chunk + 17 })
            {
                byte[] payload = new byte[length];
                new Random(length).NextBytes(payload);
                string path = Path.Combine(dir, $"p{length}.bin");
                bool direct = writer.TryWrite(path, payload);
                if (direct) Assert.That(File.ReadAllBytes(path), Is.EqualTo(payload), $"{length} bytes");
                else Assert.That(File.Exists(path), Is.False, $"{length} bytes: not written, nothing created");
                // A new file only (O_EXCL): an existing name is an error, not an overwrite.
                if (direct) Assert.Throws<IOException>(() => writer.TryWrite(path, [1, 2, 3]));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void SqliteStore_NewStateFile_Has16KiBPages_AnExistingFileKeepsItsOwn()
    {
        // The page size as the SQLite file format stores it: big-endian u16 at offset 16 of the header (1 means 65536).
        static int PageSize(string path)
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var header = new byte[18];
            f.ReadExactly(header);
            int v = (header[16] << 8) | header[17];
            return v == 1 ? 65536 : v;
        }
        string dir = Directory.CreateTempSubdirectory("fraudfed-store-").FullName;
        try
        {
            string fresh = Path.Combine(dir, "new.db");
            using (var store = new SqliteAggregatorStore(fresh))
            {
                store.Initialize("abc");
                store.Append(new StoredEvent(0, EventKind.Inbound, 0, "", new byte[200_000], [1]), [new OutboundItem(0, [1])]);
            }
            Assert.That(PageSize(fresh), Is.EqualTo(SqliteAggregatorStore.StatePageBytes).And.EqualTo(16384));

            // A file made with SQLite's default 4096-byte pages (as by an earlier build) opens, works and keeps them.
            string old = Path.Combine(dir, "old.db");
            using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={old};Pooling=False"))
            {
                raw.Open();
                using var cmd = raw.CreateCommand();
                cmd.CommandText = "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE unrelated (x INTEGER);";
                cmd.ExecuteNonQuery();
            }
            using (var store = new SqliteAggregatorStore(old))
            {
                store.Initialize("abc");
                store.Append(new StoredEvent(0, EventKind.Inbound, 0, "", new byte[200_000], [2]), [new OutboundItem(0, [3])]);
            }
            using (var reopened = new SqliteAggregatorStore(old))
            {
                Assert.That(reopened.ReadEvents().Single().Payload, Has.Length.EqualTo(200_000));
                Assert.That(reopened.ReadMailbox(0, 0, 10).Single().Item, Is.EqualTo(new byte[] { 3 }));
            }
            Assert.That(PageSize(old), Is.EqualTo(4096));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void SqliteStore_NumbersMailboxesPerBank_AndKeepsEverythingAcrossReopen()
    {
        string dir = Directory.CreateTempSubdirectory("fraudfed-store-").FullName;
        try
        {
            string path = Path.Combine(dir, "state", "a.db");
            byte[] digest = [1, 2, 3];
            using (var store = new SqliteAggregatorStore(path))
            {
                Assert.That(store.ConfigDigest, Is.Null);
                store.Initialize("abc");
                long s1 = store.Append(new StoredEvent(0, EventKind.Step, -1, "x", [9], []), [new OutboundItem(0, [1]), new OutboundItem(1, [2]), new OutboundItem(0, [3])]);
                long s2 = store.Append(new StoredEvent(0, EventKind.Inbound, 1, "", [7, 7], digest), [new OutboundItem(1, [4])]);
                Assert.That((s1, s2), Is.EqualTo((1L, 2L)));
                Assert.That(store.ReadMailbox(0, 0, 10).Select(m => (m.Sequence, m.Item[0])), Is.EqualTo(new[] { (1L, (byte)1), (2L, (byte)3) }));
                Assert.That(store.ReadMailbox(1, 1, 10).Select(m => (m.Sequence, m.Item[0])), Is.EqualTo(new[] { (2L, (byte)4) }));
                Assert.Throws<InvalidOperationException>(() => store.Initialize("other"));
            }
            using (var reopened = new SqliteAggregatorStore(path))
            {
                Assert.That(reopened.ConfigDigest, Is.EqualTo("abc"));
                Assert.That(reopened.ReadEvents().Select(e => (e.Sequence, e.Kind, e.Bank)), Is.EqualTo(new[] { (1L, EventKind.Step, -1), (2L, EventKind.Inbound, 1) }));
                Assert.That(reopened.FindInbound(1, digest), Is.EqualTo(2L));
                Assert.That(reopened.FindInbound(0, digest), Is.Null, "a resend is matched per bank");
                Assert.That(reopened.LastMailboxSequence(0), Is.EqualTo(2L));
                reopened.Append(new StoredEvent(0, EventKind.Step, -1, "y", [], []), [new OutboundItem(0, [5])]);
                Assert.That(reopened.ReadMailbox(0, 2, 10).Single().Sequence, Is.EqualTo(3L));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void EveryViolationReason_HasAStatus_AndItsTrailerReadsBack()
    {
        foreach (ViolationReason reason in Enum.GetValues<ViolationReason>())
        {
            StatusCode code = StatusMapping.ToStatus(reason);
            Assert.That(code, Is.Not.EqualTo(StatusCode.Internal).And.Not.EqualTo(StatusCode.OK), reason.ToString());
            var error = new RpcException(new Status(code, "x"), new Metadata { { StatusMapping.ReasonTrailer, StatusMapping.TrailerValue(reason) } });
            Assert.That(StatusMapping.ReasonOf(error), Is.EqualTo(reason));
        }
        Assert.That(StatusMapping.ToStatus(ViolationReason.Malformed), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusMapping.ToStatus(ViolationReason.Oversized), Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(StatusMapping.ToStatus(ViolationReason.UnknownSender), Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(StatusMapping.ReasonOf(new RpcException(new Status(StatusCode.Unavailable, "x"))), Is.Null);
    }
}
