// Extension points of the per-bank clients (SPEC.md 15.3): what a deployment adds around the protocol loop without a loop of
// its own. A checkpoint receives the party's exported state after every aggregator message the party accepted (homomorphic:
// once it is Ready; masking: from its AdvertiseKeys on, and before each of its own round messages), before the replies leave, so that a restarted bank rebuilt from the last checkpoint resends those replies and
// goes on from the next message (the SDK seals it to a state directory, SPEC.md 14.6). The refusal policy says whether a
// refused aggregator message is counted and skipped (in process: the party is unchanged and the round goes on) or ends the
// call at once with the refusal's reason (a remote appliance that sends what this bank refuses will not recover by itself).
// Nothing here touches files or the network: implementations live above the protocol layer.
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Coordination;

/// <summary>
/// Where a bank client saves its party's state (SPEC.md 15.3). Called after the party accepted an aggregator message and before
/// the party's replies to that message are sent: a bank restarted from the saved state resends <c>replies</c> (an appliance
/// answers a resend of accepted bytes as the first send) and continues with the aggregator's next message. Homomorphic: only
/// once the party is Ready (its setup secrets are one-time and never passed here). Masking: from the bank's AdvertiseKeys on
/// (its X25519 keys serve the whole session), and also before ShareKeys leaves (SPEC.md 14.7).
/// </summary>
public interface IBankCheckpoint
{
    /// <summary>Saves <paramref name="partyState"/> and <paramref name="replies"/> durably before returning.</summary>
    /// <param name="partyState">The party's exported state (<see cref="Homomorphic.HomomorphicBankParty.ExportState"/> or
    /// <see cref="Masking.MaskingBank.ExportState"/>): SECRET.
    /// Valid only during the call; the client zeroes it afterwards.</param>
    /// <param name="replies">The serialized replies to the message just accepted (possibly none), in sending order.</param>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the replies are not sent.</exception>
    /// <remarks>Any exception ends the client's call without sending the replies; the party has already applied the message.</remarks>
    ValueTask SaveAsync(ReadOnlyMemory<byte> partyState, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken);
}

/// <summary>
/// A checkpoint that saves a Ready homomorphic party's state in two parts (SPEC.md 14.6): the key part
/// (<see cref="Homomorphic.HomomorphicBankParty.ExportKeyState"/>, megabytes, changed only by setup and key rotation) and the
/// round part (<see cref="Homomorphic.HomomorphicBankParty.ExportRoundState"/>, a few dozen bytes). A
/// <see cref="HomomorphicSecureSumClient"/> given one as <see cref="BankClientOptions.SplitCheckpoint"/> calls
/// <see cref="SaveSplitAsync"/> at the points where it would call <see cref="IBankCheckpoint.SaveAsync"/>, with the same replies,
/// so that an implementation exports and writes the key part only when
/// <see cref="Homomorphic.HomomorphicBankParty.KeyGeneration"/> differs from the one it saved.
/// </summary>
public interface IHomomorphicSplitCheckpoint
{
    /// <summary>Saves <paramref name="party"/>'s state (its key part only if it is not saved yet) and <paramref name="replies"/>
    /// durably before returning. The party is Ready and must not be changed by the call.</summary>
    /// <param name="party">The Ready party that just accepted a message.</param>
    /// <param name="replies">The serialized replies to that message (possibly none), in sending order.</param>
    /// <param name="cancellationToken">Cancels the save.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the replies are not sent.</exception>
    /// <remarks>Any exception ends the client's call without sending the replies; the party has already applied the message.</remarks>
    ValueTask SaveSplitAsync(Homomorphic.HomomorphicBankParty party, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken);
}

/// <summary>Optional behaviour of <see cref="HomomorphicSecureSumClient"/> and <see cref="MaskingSecureSumClient"/> (SPEC.md 15.3).</summary>
public sealed record BankClientOptions
{
    /// <summary>Saves the party's state after each accepted step (homomorphic: once Ready, SPEC.md 14.6; masking: before every
    /// message that commits the bank, SPEC.md 14.7); null (default): the state lives in memory only.</summary>
    public IBankCheckpoint? Checkpoint { get; init; }

    /// <summary>Homomorphic clients only: saves the Ready party in a key part and a round part (SPEC.md 14.6) instead of
    /// <see cref="Checkpoint"/>'s whole state; at most one of the two may be set. A masking client refuses it.</summary>
    public IHomomorphicSplitCheckpoint? SplitCheckpoint { get; init; }

    /// <summary>False (default): an aggregator message the party refuses changes nothing, is counted in <c>Refusals</c>, and the
    /// client waits for the next one. True: the call ends at once with that <see cref="ProtocolViolationException"/> (the party
    /// still unchanged). Masking messages of a round other than the running one are skipped either way.</summary>
    public bool StopOnRefusal { get; init; }
}
