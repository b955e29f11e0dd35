// Domain messages of the threshold homomorphic protocol (SPEC.md 14.2). The party state machines speak only these;
// HeWire is the one place that converts them to and from the protobuf wrappers of protocols/fraudfed/v1/homomorphic.proto.
// Lists relayed per bank ("one entry per roster bank") are arrays indexed by roster index.
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>A message from the aggregator to one bank, for key generation <see cref="SessionId"/> (16 bytes).</summary>
public abstract record HeToBank(byte[] SessionId);
/// <summary>Starts key generation <paramref name="KeyGeneration"/> for the roster whose digest is <paramref name="RosterDigest"/>.</summary>
public sealed record HeSessionStartMessage(byte[] SessionId, byte[] RosterDigest, uint KeyGeneration) : HeToBank(SessionId);
/// <summary>Every bank's CRS commitment (32 bytes each), by roster index.</summary>
public sealed record HeCrsCommitmentsMessage(byte[] SessionId, byte[][] Commitments) : HeToBank(SessionId);
/// <summary>Every bank's CRS nonce (32 bytes each), by roster index.</summary>
public sealed record HeCrsRevealsMessage(byte[] SessionId, byte[][] Nonces) : HeToBank(SessionId);
/// <summary>Every bank's public-key share commitment (SHA-256 of its kind-4 bytes), by roster index.</summary>
public sealed record HeKeyShareCommitmentsMessage(byte[] SessionId, byte[][] Commitments) : HeToBank(SessionId);
/// <summary>Every bank's serialized public-key share (kind 4), by roster index.</summary>
public sealed record HeKeyShareRevealsMessage(byte[] SessionId, byte[][] Shares) : HeToBank(SessionId);
/// <summary>Every bank's signed channel advert (116 bytes), by roster index.</summary>
public sealed record HeChannelAdvertsMessage(byte[] SessionId, byte[][] Adverts) : HeToBank(SessionId);
/// <summary>The Shamir points sealed for this bank, by sending bank.</summary>
public sealed record HeSealedPointsForBankMessage(byte[] SessionId, byte[][] Points) : HeToBank(SessionId);
/// <summary>Round <paramref name="Round"/> opens for vectors of <paramref name="Length"/> values in <paramref name="Chunks"/> chunks.</summary>
public sealed record HeRoundStartMessage(byte[] SessionId, ulong Round, int Length, int Chunks) : HeToBank(SessionId);
/// <summary>Open the round's sums over <paramref name="Contributors"/> with active set <paramref name="Active"/>.</summary>
public sealed record HeDecryptionRequestMessage(byte[] SessionId, ulong Round, int Chunks, int[] Contributors, int[] Active, byte[][] Manifests, byte[][] ContributorLists)
    : HeToBank(SessionId);
/// <summary>The opened sum (values mod t) of round <paramref name="Round"/> and its contributors.</summary>
public sealed record HeRoundResultMessage(byte[] SessionId, ulong Round, int[] Contributors, ulong[] Sum) : HeToBank(SessionId);
/// <summary>The aggregator ends the session (round 0) or one round.</summary>
public sealed record HeAbortToBank(byte[] SessionId, ViolationReason Reason, string Message, ulong Round) : HeToBank(SessionId);

/// <summary>A message from one bank to the aggregator; the sender is known from the transport, never from a field.</summary>
public abstract record HeToAggregator(byte[] SessionId);
/// <summary>The bank's CRS commitment (32 bytes).</summary>
public sealed record HeCrsCommitMessage(byte[] SessionId, byte[] Commitment) : HeToAggregator(SessionId);
/// <summary>The bank's CRS nonce (32 bytes).</summary>
public sealed record HeCrsRevealMessage(byte[] SessionId, byte[] Nonce) : HeToAggregator(SessionId);
/// <summary>SHA-256 of the bank's public-key share.</summary>
public sealed record HeKeyShareCommitMessage(byte[] SessionId, byte[] Commitment) : HeToAggregator(SessionId);
/// <summary>The bank's serialized public-key share (kind 4).</summary>
public sealed record HeKeyShareRevealMessage(byte[] SessionId, byte[] Share) : HeToAggregator(SessionId);
/// <summary>The bank's signed channel advert.</summary>
public sealed record HeChannelAdvertMessage(byte[] SessionId, byte[] Advert) : HeToAggregator(SessionId);
/// <summary>The bank's sealed Shamir points, by receiving bank.</summary>
public sealed record HeSealedPointsMessage(byte[] SessionId, byte[][] Points) : HeToAggregator(SessionId);
/// <summary>The bank holds its key share; SHA-256 of the collective public key it computed.</summary>
public sealed record HeKeyReadyMessage(byte[] SessionId, byte[] PublicKeyDigest) : HeToAggregator(SessionId);
/// <summary>
/// The bank's signed manifest and compact ciphertexts of a round (one serialized kind-2 object per chunk, chunk 0 first).
/// A message decoded by <see cref="HeWire.DecodeToAggregatorInPlace"/> holds chunks that are slices of the received buffer.
/// </summary>
public sealed record HeUploadMessage(byte[] SessionId, ulong Round, byte[] Manifest, ReadOnlyMemory<byte>[] Chunks) : HeToAggregator(SessionId);
/// <summary>The bank's decryption shares of a round, one per chunk.</summary>
public sealed record HeDecryptionSharesMessage(byte[] SessionId, ulong Round, byte[][] Shares) : HeToAggregator(SessionId);
/// <summary>The bank ends the session (round 0) or refuses one round.</summary>
public sealed record HeAbortToAggregator(byte[] SessionId, ViolationReason Reason, string Message, ulong Round) : HeToAggregator(SessionId);
