// DecryptionGuard: the bank-side rule of SPEC.md 12.3 in front of the stateless share generation of
// ThresholdKeyShare. Order of checks for one request (round, chunk, U, D):
//   1. the request's sets (ThresholdKeyShare.CheckRequest): U distinct, |U| >= K_min, U and D in the roster,
//      D = T distinct banks including this one;
//   2. the ledger: the first answer for (round, chunk) is recorded (and charged to the budget) before any share is
//      computed and the answer bytes are stored; the same fingerprint is answered again with the stored bytes (or, when
//      the ledger keeps none, recomputed: deterministic smudging makes them identical); another
//      fingerprint (another U or another D) is Refused; a spent budget is BudgetExhausted.
// Because every honest bank answers at most one (U, D) per (round, chunk), and any two active sets of size T share
// at least 2T - N banks, at most one contributor set is ever opened per (round, chunk) while fewer than 2T - N banks
// collude with the aggregator (DecryptionPolicy.Validate demands 2T > N + c).
using FraudFed.Cryptography;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>A bank's one-answer-per-(round, chunk) rule and decryption budget over a key share (SPEC.md 12.3).</summary>
internal sealed class DecryptionGuard
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
    /// The serialized decryption share (kind 11: h_j switched to 2^64, SPEC.md 12.0 step 5) for the sum over <paramref name="contributors"/> of (round, chunk) with
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
        // One path for both forms: the shares are laid out back to back in one buffer, then cut into an array each.
        int[] lengths = [], offsets = [];
        byte[] buffer = GenDecryptionSharesInto(round, chunks, contributors, active, parallel, l =>
        {
            lengths = l;
            offsets = new int[l.Length];
            int total = 0;
            for (int i = 0; i < l.Length; i++) { offsets[i] = total; total = checked(total + l[i]); }
            return (GC.AllocateUninitializedArray<byte>(total), offsets);
        });
        var output = new byte[lengths.Length][];
        for (int i = 0; i < output.Length; i++) output[i] = buffer.AsSpan(offsets[i], lengths[i]).ToArray();
        return output;
    }

    /// <summary>
    /// As <see cref="GenDecryptionShares"/> (the same checks in the same order, the same ledger records, the same bytes per
    /// chunk), with every share written straight into one caller buffer instead of an array each: <paramref name="layout"/>
    /// gets each chunk's share length (a stored answer's length, or <see cref="ThresholdKeyShare.DecryptionShareSize"/>) and
    /// returns the buffer and each share's offset in it; it is called only once every check has passed.
    /// </summary>
    /// <exception cref="ProtocolViolationException">as <see cref="GenDecryptionShare"/>.</exception>
    public byte[] GenDecryptionSharesInto(ulong round, IReadOnlyList<uint> chunks, IReadOnlyList<int> contributors, IReadOnlyList<int> active, bool parallel,
        Func<int[], (byte[] Buffer, int[] Offsets)> layout)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentNullException.ThrowIfNull(layout);
        var answers = new (uint Chunk, byte[] Fingerprint)[chunks.Count];
        for (int i = 0; i < chunks.Count; i++) answers[i] = (chunks[i], _keyShare.CheckRequest(round, chunks[i], contributors, active));
        LedgerDecision decision = _ledger.TryRecordAnswers(_keyShare.SessionTag, round, answers, _keyShare.Policy.Budget);
        switch (decision)
        {
            case LedgerDecision.Conflict:
                throw Error.Violation(ViolationReason.Refused, $"round {round} was already opened for another contributor or active set");
            case LedgerDecision.BudgetExhausted:
                throw Error.Violation(ViolationReason.BudgetExhausted, "decryption budget spent: rotate keys");
        }
        var kept = new byte[]?[chunks.Count];
        if (decision == LedgerDecision.Repeat)
            for (int i = 0; i < chunks.Count; i++)
                if (_ledger.TryGetAnswer(_keyShare.SessionTag, round, chunks[i], answers[i].Fingerprint, out byte[]? stored)) kept[i] = stored;
        int size = _keyShare.DecryptionShareSize;
        var lengths = new int[chunks.Count];
        for (int i = 0; i < lengths.Length; i++) lengths[i] = kept[i]?.Length ?? size;
        (byte[] buffer, int[] offsets) = layout(lengths);
        for (int i = 0; i < kept.Length; i++) kept[i]?.CopyTo(buffer, offsets[i]);
        int[] missing = Enumerable.Range(0, chunks.Count).Where(i => kept[i] is null).ToArray();
        if (missing.Length > 0)
        {
            // The first missing share warms the (U, D) weighted point; the rest may run in parallel.
            _keyShare.GenDecryptionShare(round, chunks[missing[0]], contributors, active, buffer.AsSpan(offsets[missing[0]], size));
            TypedParallel.For(missing.Length - 1, parallel, j =>
                _keyShare.GenDecryptionShare(round, chunks[missing[j + 1]], contributors, active, buffer.AsSpan(offsets[missing[j + 1]], size)));
            for (int i = 0; i < chunks.Count; i++)
                _ledger.StoreAnswer(_keyShare.SessionTag, round, chunks[i], answers[i].Fingerprint, buffer.AsSpan(offsets[i], lengths[i]));
        }
        return buffer;
    }
}
