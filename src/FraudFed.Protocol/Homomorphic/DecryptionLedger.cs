// IDecryptionLedger: what a bank must remember, across restarts, so that an aggregator cannot make it open more than
// the one agreed sum per (round, chunk) or encrypt twice under one common polynomial (SPEC.md 12.3).
//   Encryptions: a strictly increasing record of (round, chunk) per key generation (session tag). Two compact
//     ciphertexts of one bank under the same a_{r,k} subtract to Delta*(m - m') + small noise: no key needed.
//   Answers: the request fingerprint answered per (session tag, round, chunk), the count of answers (the budget), and
//     the answer bytes themselves, so that an identical resend (e.g. after a bank restart) gets the stored bytes back.
// Every Try* call is atomic and, in a durable implementation, persisted before the share or upload it allows leaves the bank:
// before it returns true (a ledger file of its own), or with the state write that precedes every send (the SDK carries a
// homomorphic bank's ledger inside its round part, SPEC.md 14.6).
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Outcome of <see cref="IDecryptionLedger.TryRecordAnswers"/>.</summary>
public enum LedgerDecision
{
    /// <summary>First answer for this (round, chunk): recorded, the budget is charged.</summary>
    Recorded,
    /// <summary>The same request was answered before: answer again with the identical bytes, no charge.</summary>
    Repeat,
    /// <summary>Another request (another contributor or active set) was answered for this (round, chunk): refuse.</summary>
    Conflict,
    /// <summary>The key generation's budget is spent: refuse and rotate keys.</summary>
    BudgetExhausted,
}

/// <summary>
/// A bank's record of its encryptions and decryption answers per key generation (SPEC.md 12.3). Implementations
/// must make each call atomic; a durable one persists the record before the share or upload it allows leaves the bank:
/// before returning, or (the SDK's client, SPEC.md 14.6) with the sealed round part written before every send. Keys are the 16-byte session tag of the key generation.
/// </summary>
public interface IDecryptionLedger
{
    /// <summary>
    /// Records that this bank encrypts chunks <paramref name="firstChunk"/> .. <paramref name="firstChunk"/> +
    /// <paramref name="chunkCount"/> - 1 of <paramref name="round"/>. Returns false and records nothing unless
    /// (round, firstChunk) is strictly after the last (round, chunk) recorded for the session tag.
    /// </summary>
    bool TryRecordEncryption(ReadOnlySpan<byte> sessionTag, ulong round, uint firstChunk, uint chunkCount);

    /// <summary>
    /// Records, all or nothing, the answers with request fingerprints (32 bytes each) for chunks of <paramref name="round"/>:
    /// <see cref="LedgerDecision.Conflict"/> if any chunk holds another fingerprint; <see cref="LedgerDecision.BudgetExhausted"/>
    /// if the chunks not yet answered would take the session tag's answers past <paramref name="budget"/>;
    /// <see cref="LedgerDecision.Repeat"/> if every chunk holds exactly its fingerprint already; otherwise
    /// <see cref="LedgerDecision.Recorded"/> (the new ones recorded and charged). A refusal records nothing.
    /// </summary>
    LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> sessionTag, ulong round, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> answers, long budget);

    /// <summary>How many distinct (round, chunk) answers are recorded for the session tag.</summary>
    long AnswersRecorded(ReadOnlySpan<byte> sessionTag);

    /// <summary>
    /// Keeps the serialized decryption share (kind 11, SPEC.md 12) answered for (<paramref name="round"/>, <paramref name="chunk"/>)
    /// under the 32-byte request <paramref name="fingerprint"/> recorded by <see cref="TryRecordAnswers"/>, so that an identical
    /// resend is answered with these bytes (SPEC.md 12.3). The ledger keeps its own copy. The default keeps nothing: the guard
    /// then recomputes the answer, which deterministic smudging makes identical.
    /// </summary>
    void StoreAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, ReadOnlySpan<byte> share) { }

    /// <summary>
    /// The serialized share stored by <see cref="StoreAnswer"/> for (<paramref name="round"/>, <paramref name="chunk"/>) if it was
    /// stored under exactly <paramref name="fingerprint"/> (compared in constant time); a fresh copy. False when none is kept.
    /// </summary>
    bool TryGetAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, [NotNullWhen(true)] out byte[]? share)
    {
        share = null;
        return false;
    }
}

/// <summary>
/// An <see cref="IDecryptionLedger"/> in memory: for the in-process harness and tests (lost on restart). Fingerprints are kept
/// for every (round, chunk); answer bytes only for the last <see cref="AnswerRoundsKept"/> rounds per session tag (older
/// identical resends are recomputed, with identical bytes), so that long runs do not hold every share ever sent.
/// </summary>
public sealed class InMemoryDecryptionLedger : IDecryptionLedger
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Tag, ulong Round, uint Chunk), (byte[] Fingerprint, byte[] Share)> _shares = [];

    /// <summary>How many of the latest rounds' answer bytes are kept per session tag (default 2; 0 keeps none).</summary>
    public int AnswerRoundsKept { get; init; } = 2;
    private readonly Dictionary<string, (ulong Round, uint Chunk)> _lastEncryption = [];
    private readonly Dictionary<(string Tag, ulong Round, uint Chunk), byte[]> _answers = [];
    private readonly Dictionary<string, long> _answerCount = [];

    private static string Key(ReadOnlySpan<byte> sessionTag) => Convert.ToHexString(sessionTag);

    /// <inheritdoc />
    public bool TryRecordEncryption(ReadOnlySpan<byte> sessionTag, ulong round, uint firstChunk, uint chunkCount)
    {
        if (chunkCount == 0) throw new ArgumentOutOfRangeException(nameof(chunkCount), "At least one chunk.");
        if ((ulong)firstChunk + chunkCount - 1 > uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(chunkCount), "Chunk indices past 2^32 - 1.");
        string key = Key(sessionTag);
        lock (_gate)
        {
            if (_lastEncryption.TryGetValue(key, out var last) && (round < last.Round || (round == last.Round && firstChunk <= last.Chunk)))
                return false;
            _lastEncryption[key] = (round, firstChunk + chunkCount - 1);
            return true;
        }
    }

    /// <inheritdoc />
    public LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> sessionTag, ulong round, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> answers, long budget)
    {
        ArgumentNullException.ThrowIfNull(answers);
        string key = Key(sessionTag);
        lock (_gate)
        {
            int fresh = 0;
            var seen = new HashSet<uint>();
            foreach (var (chunk, fingerprint) in answers)
            {
                if (!seen.Add(chunk)) throw new ArgumentException("A chunk appears twice.", nameof(answers));
                if (_answers.TryGetValue((key, round, chunk), out byte[]? previous))
                {
                    if (!CryptographicOperations.FixedTimeEquals(previous, fingerprint)) return LedgerDecision.Conflict;
                }
                else fresh++;
            }
            if (fresh == 0) return LedgerDecision.Repeat;
            long spent = _answerCount.GetValueOrDefault(key);
            if (spent + fresh > budget) return LedgerDecision.BudgetExhausted;
            foreach (var (chunk, fingerprint) in answers) _answers.TryAdd((key, round, chunk), (byte[])fingerprint.Clone());
            _answerCount[key] = spent + fresh;
            return LedgerDecision.Recorded;
        }
    }

    /// <inheritdoc />
    public long AnswersRecorded(ReadOnlySpan<byte> sessionTag)
    {
        string key = Key(sessionTag);
        lock (_gate) return _answerCount.GetValueOrDefault(key);
    }

    /// <inheritdoc />
    public void StoreAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, ReadOnlySpan<byte> share)
    {
        if (AnswerRoundsKept <= 0) return;
        string key = Key(sessionTag);
        byte[] f = fingerprint.ToArray(), s = share.ToArray();
        lock (_gate)
        {
            // Only an answer the ledger recorded, under the same fingerprint, is kept.
            if (!_answers.TryGetValue((key, round, chunk), out byte[]? recorded) || !CryptographicOperations.FixedTimeEquals(recorded, f)) return;
            _shares[(key, round, chunk)] = (f, s);
            ulong[] rounds = _shares.Keys.Where(k => k.Tag == key).Select(k => k.Round).Distinct().OrderDescending().ToArray();
            if (rounds.Length <= AnswerRoundsKept) return;
            ulong oldestKept = rounds[AnswerRoundsKept - 1];
            foreach (var k in _shares.Keys.Where(k => k.Tag == key && k.Round < oldestKept).ToArray()) _shares.Remove(k);
        }
    }

    /// <inheritdoc />
    public bool TryGetAnswer(ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint, [NotNullWhen(true)] out byte[]? share)
    {
        string key = Key(sessionTag);
        lock (_gate)
        {
            if (_shares.TryGetValue((key, round, chunk), out var kept) && CryptographicOperations.FixedTimeEquals(kept.Fingerprint, fingerprint))
            {
                share = (byte[])kept.Share.Clone();
                return true;
            }
        }
        share = null;
        return false;
    }
}
