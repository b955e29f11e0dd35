// The per-bank secure-sum API (SPEC.md 15): one bank calls SumAsync with only its own vector; the aggregator-side
// coordinator of the same mode drives the round; the bank gets back the sum and the contributors as it learns them.
// Implementations: HomomorphicSecureSumClient and MaskingSecureSumClient (FraudFed.Protocol.Coordination), over the party
// objects HomomorphicBankParty and MaskingBank and any IBankTransport (in memory here, gRPC in the appliance).
namespace FraudFed.Protocol;

/// <summary>What one secure sum is, as the bank and the coordinator agreed it (out of band: the trainer's schedule).</summary>
/// <param name="Round">The round number: 1, 2, ..., strictly increasing within a session, failed rounds spent too
/// (SPEC.md 8.3, 14.2). Masking rounds are 32-bit (1..2^32-1).</param>
/// <param name="Length">Number of values in every bank's vector (at least 1).</param>
/// <param name="ModulusBits">k: values and the sum are mod 2^k. Masking: the session's k; homomorphic: 1..log2 t.</param>
public sealed record SumContext(ulong Round, int Length, int ModulusBits)
{
    /// <summary>Throws unless the round is at least 1, the length at least 1 and k in 1..64.</summary>
    /// <exception cref="ArgumentOutOfRangeException">a field outside its range.</exception>
    public void Validate()
    {
        if (Round < 1) throw new ArgumentOutOfRangeException(nameof(Round), "Rounds are numbered from 1.");
        if (Length < 1) throw new ArgumentOutOfRangeException(nameof(Length), "At least one value.");
        if (ModulusBits is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(ModulusBits), "k must be in 1..64.");
    }
}

/// <summary>One secure sum as one bank learned it.</summary>
/// <param name="Round">The round.</param>
/// <param name="Sum">The sum mod 2^k of the contributors' vectors (<see cref="SumContext.Length"/> values).</param>
/// <param name="Contributors">Roster indices (0-based, ascending) of the banks whose vectors are in the sum.</param>
/// <param name="Contributed">Whether this bank's own vector is in the sum.</param>
public sealed record SecureSumClientResult(ulong Round, ulong[] Sum, IReadOnlyList<int> Contributors, bool Contributed);

/// <summary>A bank's side of a secure sum: it contributes only its own vector and learns the sum (SPEC.md 15).</summary>
public interface ISecureSumClient
{
    /// <summary>This bank's roster index (0-based).</summary>
    int Bank { get; }

    /// <summary>
    /// Contributes <paramref name="mine"/> (<see cref="SumContext.Length"/> values, each below 2^k) to round
    /// <see cref="SumContext.Round"/>, answers the protocol's messages until the round ends, and returns the sum.
    /// </summary>
    /// <param name="mine">This bank's vector: <see cref="SumContext.Length"/> values, each an integer mod 2^k
    /// (k = <see cref="SumContext.ModulusBits"/>).</param>
    /// <param name="context">The round number, vector length and k agreed with the coordinator.</param>
    /// <param name="cancellationToken">Cancels this bank's part in the round.</param>
    /// <returns>The sum mod 2^k and the contributors as this bank learned them.</returns>
    /// <exception cref="ArgumentException">a value not below 2^k, or a vector of another length than the context's;
    /// <see cref="RoundLengthMismatchException"/> when the coordinator's round has another length than the context's (this bank's
    /// vector is not in the sum).</exception>
    /// <exception cref="InvalidOperationException">another call is running on this client (one round at a time per bank).</exception>
    /// <exception cref="ArgumentOutOfRangeException">a context field outside its range.</exception>
    /// <exception cref="FraudFed.Cryptography.ProtocolViolationException">WrongRoundOrState, before anything is sent: the round is not
    /// after the rounds this bank already ran (round numbers increase strictly, SPEC.md 14.2). Otherwise: the round failed (TooFewParticipants, Refused, ...; only that round is
    /// spent, the session goes on) or the session ended (the reason of the abort).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the bank leaves the round.</exception>
    Task<SecureSumClientResult> SumAsync(ReadOnlyMemory<ulong> mine, SumContext context, CancellationToken cancellationToken = default);
}

/// <summary>
/// The coordinator's round sums vectors of another length than the one this bank passed (SPEC.md 15): the bank's vector is not in
/// the sum. Homomorphic: raised as soon as the round start arrives; masking: when the round's outcome arrives (the masking bank
/// learns the round's length only there).
/// </summary>
public sealed class RoundLengthMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="round">The round.</param>
    /// <param name="roundLength">The length of the coordinator's round.</param>
    /// <param name="vectorLength">The length this bank passed (its <see cref="SumContext.Length"/>).</param>
    public RoundLengthMismatchException(ulong round, int roundLength, int vectorLength)
        : base($"Round {round} sums vectors of {roundLength} value{(roundLength == 1 ? "" : "s")}, this bank passed {vectorLength}; give this bank a vector of {roundLength} value{(roundLength == 1 ? "" : "s")}, or agree on the length with the coordinator.", "mine")
    {
        Round = round;
        RoundLength = roundLength;
        VectorLength = vectorLength;
    }

    /// <summary>The round.</summary>
    public ulong Round { get; }
    /// <summary>The length of the coordinator's round.</summary>
    public int RoundLength { get; }
    /// <summary>The length this bank passed.</summary>
    public int VectorLength { get; }
}
