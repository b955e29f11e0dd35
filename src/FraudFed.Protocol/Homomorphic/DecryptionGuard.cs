// DecryptionGuard: the bank-side rule of SPEC.md 12.3 in front of the stateless share generation of
// ThresholdKeyShare. Order of checks for one request (round, chunk, U, D):
//   1. the request's sets (ThresholdKeyShare.CheckRequest): U distinct, |U| >= K_min, U and D in the roster,
//      D = T distinct banks including this one;
//   2. the ledger: the first answer for (round, chunk) is recorded (and charged to the budget) before any share is
//      computed; the same fingerprint is answered again with identical bytes (deterministic smudging); another
//      fingerprint (another U or another D) is Refused; a spent budget is BudgetExhausted.
// Because every honest bank answers at most one (U, D) per (round, chunk), and any two active sets of size T share
// at least 2T - N banks, at most one contributor set is ever opened per (round, chunk) while fewer than 2T - N banks
// collude with the aggregator (DecryptionPolicy.Validate demands 2T > N + c).
using FraudFed.Cryptography;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>A bank's one-answer-per-(round, chunk) rule and decryption budget over a key share (SPEC.md 12.3).</summary>
public sealed class DecryptionGuard
{
    private readonly ThresholdKeyShare _keyShare;
    private readonly IDecryptionLedger _ledger;

    /// <summary>Guards <paramref name="keyShare"/> with the record kept in <paramref name="ledger"/>.</summary>
    public DecryptionGuard(ThresholdKeyShare keyShare, IDecryptionLedger ledger)
    {
        ArgumentNullException.ThrowIfNull(keyShare);
        ArgumentNullException.ThrowIfNull(ledger);
        _keyShare = keyShare;
        _ledger = ledger;
    }

    /// <summary>Decryption shares this key generation may still produce.</summary>
    public long Remaining => Math.Max(0, _keyShare.Policy.Budget - _ledger.AnswersRecorded(_keyShare.SessionTag));

    /// <summary>
    /// The serialized decryption share (kind 6) for the sum over <paramref name="contributors"/> of (round, chunk) with
    /// active set <paramref name="active"/>, after the checks above. A refused request changes no record.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Duplicate, TooFewParticipants, UnknownSender, Refused (a different
    /// (U, D) for an answered (round, chunk), or an active set not of size T containing this bank), BudgetExhausted.</exception>
    public byte[] GenDecryptionShare(ulong round, uint chunk, IReadOnlyList<int> contributors, IReadOnlyList<int> active) =>
        GenDecryptionShares(round, [chunk], contributors, active, parallel: false)[0];

    /// <summary>
    /// The shares of several chunks of one round, all or nothing: every chunk's request is checked and the ledger records
    /// every new answer in one step before any share is computed, so a refusal (of any chunk) records and spends nothing.
    /// </summary>
    /// <exception cref="ProtocolViolationException">as <see cref="GenDecryptionShare"/>.</exception>
    public byte[][] GenDecryptionShares(ulong round, IReadOnlyList<uint> chunks, IReadOnlyList<int> contributors, IReadOnlyList<int> active, bool parallel)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var answers = new (uint Chunk, byte[] Fingerprint)[chunks.Count];
        for (int i = 0; i < chunks.Count; i++) answers[i] = (chunks[i], _keyShare.CheckRequest(round, chunks[i], contributors, active));
        switch (_ledger.TryRecordAnswers(_keyShare.SessionTag, round, answers, _keyShare.Policy.Budget))
        {
            case LedgerDecision.Conflict:
                throw Error.Violation(ViolationReason.Refused, $"round {round} was already opened for another contributor or active set");
            case LedgerDecision.BudgetExhausted:
                throw Error.Violation(ViolationReason.BudgetExhausted, "decryption budget spent: rotate keys");
        }
        var output = new byte[chunks.Count][];
        // The first share warms the (U, D) weighted point; the rest may run in parallel.
        output[0] = _keyShare.GenDecryptionShare(round, chunks[0], contributors, active);
        TypedParallel.For(chunks.Count - 1, parallel, i => output[i + 1] = _keyShare.GenDecryptionShare(round, chunks[i + 1], contributors, active));
        return output;
    }
}
