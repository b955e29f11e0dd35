// Durable state of the appliance (SPEC.md 14.5), event-sourced: the log of every accepted inbound message and every
// coordinator step, in order, and each bank's outbound mailbox with its sequence numbers. One AppendBatch is one atomic
// transaction (one fsync) holding one or more events with the mailbox items they produced (group commit: the messages
// that arrive while the previous batch is being written), done before any of those banks' Submits is acknowledged.
// A large inbound payload is written once to its own file (WritePayloadFile: fsync, rename, directory fsync) before the
// transaction that references it by digest commits; the row is the commit point. A large outbound mailbox item is written
// the same way by AppendBatch itself, before its transaction, and read back (digest checked) by ReadMailbox. On start the
// coordinator replays the log into fresh parties, so an in-flight round resumes and no accepted submission is lost.
// The interface is what a shared database (PostgreSQL) would implement for several appliance instances: appends are
// ordered by one sequence, reads are by (bank, sequence) ranges, and the header pins the session configuration.
namespace FraudFed.Aggregator.Storage;

/// <summary>What one log entry records.</summary>
public enum EventKind
{
    /// <summary>A bank's message the party accepted (payload: the wrapper bytes).</summary>
    Inbound = 1,
    /// <summary>A bank asked to join the next round (payload: u32 length, little-endian).</summary>
    RoundRequest = 2,
    /// <summary>A coordinator step (name and payload as the coordinator defines them).</summary>
    Step = 3,
}

/// <summary>One entry of the durable log.</summary>
/// <param name="Sequence">1-based position (0 before it is appended).</param>
/// <param name="Kind">What it records.</param>
/// <param name="Bank">The bank it came from (from its certificate), or -1 for a step.</param>
/// <param name="Name">Step name, or empty.</param>
/// <param name="Payload">Bytes (see <see cref="EventKind"/>).</param>
/// <param name="Digest">Inbound: the payload's <see cref="IntakeDigest"/> (32 bytes; SHA-256 of the payload, or for a masked input
/// the form derived from its body's SHA-256), for idempotent resends; else empty.</param>
public sealed record StoredEvent(long Sequence, EventKind Kind, int Bank, string Name, byte[] Payload, byte[] Digest);

/// <summary>An item for a bank's mailbox (serialized MailboxItem without its sequence).</summary>
/// <param name="Bank">Recipient roster index.</param>
/// <param name="Item">Serialized <c>fraudfed.v1.MailboxItem</c> with sequence 0.</param>
public sealed record OutboundItem(int Bank, byte[] Item);

/// <summary>One event of a group commit.</summary>
/// <param name="Event">The event (its sequence is assigned by the store).</param>
/// <param name="Outbound">The mailbox items it produced; recipients of the same array share one stored item.</param>
/// <param name="PayloadInFile">True when <see cref="IAggregatorStore.WritePayloadFile"/> already made the payload durable:
/// the row then holds only its digest.</param>
public sealed record AppendEntry(StoredEvent Event, IReadOnlyList<OutboundItem> Outbound, bool PayloadInFile = false);

/// <summary>What one group commit wrote.</summary>
/// <param name="Sequences">Each entry's event sequence, in entry order.</param>
/// <param name="Mailbox">Every mailbox item written, with its recipient and sequence, in order (items sent to several banks
/// are the same array).</param>
public sealed record AppendedBatch(IReadOnlyList<long> Sequences, IReadOnlyList<MailboxPosting> Mailbox);

/// <summary>A mailbox item written for one bank.</summary>
/// <param name="Bank">Recipient roster index.</param>
/// <param name="Sequence">Its sequence in that bank's mailbox.</param>
/// <param name="Item">Serialized <c>fraudfed.v1.MailboxItem</c> with sequence 0.</param>
public sealed record MailboxPosting(int Bank, long Sequence, byte[] Item);

/// <summary>A stored mailbox item.</summary>
public sealed record MailboxEntry(long Sequence, byte[] Item);

/// <summary>Durable appliance state.</summary>
public interface IAggregatorStore : IDisposable
{
    /// <summary>The configuration digest the state belongs to, or null for a new store.</summary>
    string? ConfigDigest { get; }
    /// <summary>Binds a new store to a configuration (once).</summary>
    /// <exception cref="InvalidOperationException">the store already belongs to a configuration.</exception>
    void Initialize(string configDigest);
    /// <summary>Every event, in order.</summary>
    IReadOnlyList<StoredEvent> ReadEvents();
    /// <summary>Appends <paramref name="e"/> and its mailbox items in one transaction; returns the event's sequence.</summary>
    long Append(StoredEvent e, IReadOnlyList<OutboundItem> outbound);
    /// <summary>Appends <paramref name="entries"/> in order, with their mailbox items, in one transaction (one fsync): all or
    /// none. Returns each event's sequence and the mailbox items written. An item of at least <see cref="PayloadFileThreshold"/>
    /// bytes is first made durable in its own file, which its stored row names (the returned postings keep the caller's arrays).</summary>
    /// <exception cref="InvalidOperationException">an entry says its payload is in a file that was not written.</exception>
    AppendedBatch AppendBatch(IReadOnlyList<AppendEntry> entries);
    /// <summary>Inbound payloads of at least this many bytes are written with <see cref="WritePayloadFile"/>, and outbound items of
    /// at least this many bytes are kept in their own files by <see cref="AppendBatch"/> (int.MaxValue: never).</summary>
    int PayloadFileThreshold { get; }
    /// <summary>Makes an inbound payload durable in its own file, named by bank and digest (written to a temporary file,
    /// fsynced, renamed, directory fsynced); safe to call concurrently for different payloads and to repeat. The event that
    /// references it is the commit point: a file no committed row names is ignored and may be overwritten.</summary>
    void WritePayloadFile(int bank, byte[] digest, byte[] payload);
    /// <summary>The sequence of an inbound event from <paramref name="bank"/> with this digest, or null.</summary>
    long? FindInbound(int bank, byte[] digest);
    /// <summary>Items of <paramref name="bank"/>'s mailbox after <paramref name="afterSequence"/>, oldest first.</summary>
    /// <exception cref="InvalidDataException">an item kept in a file cannot be read back exactly (the message names the file).</exception>
    IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems);
    /// <summary>The highest mailbox sequence of <paramref name="bank"/> (0 when empty).</summary>
    long LastMailboxSequence(int bank);
}
