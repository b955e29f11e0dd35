// Durable state of the appliance (SPEC.md 14.5), event-sourced: the log of every accepted inbound message and every
// coordinator step, in order, and each bank's outbound mailbox with its sequence numbers. One Append is one atomic
// transaction (the event and the mailbox items it produced), done before the bank's Submit is acknowledged. On start the
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
/// <param name="Digest">Inbound: SHA-256 of the payload, for idempotent resends; else empty.</param>
public sealed record StoredEvent(long Sequence, EventKind Kind, int Bank, string Name, byte[] Payload, byte[] Digest);

/// <summary>An item for a bank's mailbox (serialized MailboxItem without its sequence).</summary>
/// <param name="Bank">Recipient roster index.</param>
/// <param name="Item">Serialized <c>fraudfed.v1.MailboxItem</c> with sequence 0.</param>
public sealed record OutboundItem(int Bank, byte[] Item);

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
    /// <summary>The sequence of an inbound event from <paramref name="bank"/> with this digest, or null.</summary>
    long? FindInbound(int bank, byte[] digest);
    /// <summary>Items of <paramref name="bank"/>'s mailbox after <paramref name="afterSequence"/>, oldest first.</summary>
    IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems);
    /// <summary>The highest mailbox sequence of <paramref name="bank"/> (0 when empty).</summary>
    long LastMailboxSequence(int bank);
}
