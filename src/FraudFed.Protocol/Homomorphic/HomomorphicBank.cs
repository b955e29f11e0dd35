// HomomorphicBank: one bank of the threshold homomorphic mode (SPEC.md 12.0-12.3). It holds its own secrets (identity
// key, RLWE secret key, the Shamir points it received, its smudging key) and public data (the roster of identity
// keys and the aggregator's key); it never holds another party's secret. What it enforces on its own:
//   - encryption: a strictly increasing (round, chunk) record in its ledger; a second encryption under one common
//     polynomial a_{r,k} is refused (two such ciphertexts subtract to Delta*(m - m') without any key);
//   - decryption: the signed contributor list of each chunk matches the request's U and the digests the contributors
//     signed in their manifests; then the DecryptionGuard (K_min, one (U, D) per (round, chunk), budget).
// Key setup is driven by the states of HomomorphicBankParty, which call this object's setup members in protocol order.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>One bank: its secret key and key share never leave this object.</summary>
internal sealed class HomomorphicBank : IDisposable
{
    private readonly RlweParameters _p;
    private readonly Func<string, RandomNumberGenerator> _randomFor;
    private IReadOnlyList<byte[]>? _roster;
    private byte[]? _aggregatorPublicKey;
    private VerifiedManifests? _manifests;

    /// <param name="index">Roster index.</param>
    /// <param name="parameters">The session's RLWE parameters.</param>
    /// <param name="ledger">Where the bank records its encryptions and answers.</param>
    /// <param name="randomFor">Randomness by purpose label: the OS CSPRNG in production, seeded only in tests.</param>
    /// <param name="identity">The bank's long-term identity key, which this object then owns; null generates one.</param>
    public HomomorphicBank(int index, RlweParameters parameters, IDecryptionLedger ledger, Func<string, RandomNumberGenerator> randomFor, Ed25519SigningKey? identity = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(randomFor);
        Index = index;
        _p = parameters;
        Ledger = ledger;
        _randomFor = randomFor;
        Random = randomFor("bank" + index);
        Identity = identity ?? Ed25519SigningKey.Generate(Random);
        SecretKey = new Bfv(parameters).GenerateSecretKey(Random);
    }

    public int Index { get; }
    /// <summary>Long-term Ed25519 identity key (its public key is in the roster).</summary>
    public Ed25519SigningKey Identity { get; }
    public RandomNumberGenerator Random { get; }
    public SecretKey SecretKey { get; private set; }
    public IDecryptionLedger Ledger { get; }
    public CompactScheme? Scheme { get; private set; }
    public ThresholdKeyShare? KeyShare { get; private set; }
    public DecryptionGuard? Guard { get; private set; }

    /// <summary>Decryption shares the current key may still produce.</summary>
    public long RemainingBudget => Guard?.Remaining ?? 0;

    /// <summary>The public roster: identity keys by index, and the aggregator's key (signs contributor lists).</summary>
    public void JoinRoster(IReadOnlyList<byte[]> roster, ReadOnlySpan<byte> aggregatorPublicKey)
    {
        _roster = roster.Select(k => (byte[])k.Clone()).ToArray();
        _aggregatorPublicKey = aggregatorPublicKey.ToArray();
    }

    /// <summary>Adopts the agreed scheme and the key share built from the received Shamir points (the policy is validated there).</summary>
    public void InstallKey(CompactScheme scheme, ThresholdKeyShare keyShare)
    {
        KeyShare?.Dispose();
        Scheme = scheme;
        KeyShare = keyShare;
        Guard = new DecryptionGuard(keyShare, Ledger);
    }

    /// <summary>Replaces the secret key by one read from the bank's state file (this object then owns it).</summary>
    public void RestoreSecretKey(SecretKey key)
    {
        SecretKey.Dispose();
        SecretKey = key;
    }

    /// <summary>Fresh secret key for a key rotation.</summary>
    public void NewKey()
    {
        SecretKey.Dispose();
        SecretKey = new Bfv(_p).GenerateSecretKey(Random);
    }

    /// <summary>
    /// Encrypts <paramref name="values"/> (each below t) as <paramref name="chunks"/> compact ciphertexts of round
    /// <paramref name="round"/> (SPEC.md 12.0 step 4), after recording the encryption in the ledger.
    /// </summary>
    /// <exception cref="ArgumentException">a value is not below t.</exception>
    /// <exception cref="ProtocolViolationException">Refused: this bank already encrypted under (round, chunk) or a later pair.</exception>
    public byte[][] Encrypt(ulong round, ulong[] values, int chunks, bool parallel) => Encrypt(round, values, chunks, parallel, out _);

    /// <summary>As <see cref="Encrypt(ulong, ulong[], int, bool)"/>, also returning each upload's body SHA-256 (what the manifest
    /// signs, SPEC.md 12.2), computed while the upload's trailer is written, so <see cref="SignManifestFromDigests"/> hashes nothing again.</summary>
    public byte[][] Encrypt(ulong round, ulong[] values, int chunks, bool parallel, out byte[][] bodyDigests)
    {
        CompactScheme scheme = Scheme ?? throw Error.Violation(ViolationReason.WrongRoundOrState, "no key installed");
        int n = _p.N;
        ulong mask = scheme.Encoder.PlainMask;
        foreach (ulong v in values)
            if (v > mask) throw Error.Argument(nameof(values), "A value is not below t.");
        if (chunks < 1 || (long)chunks * n < values.Length) throw Error.Argument(nameof(chunks), "Too few chunks for the values.");
        if (!Ledger.TryRecordEncryption(scheme.SessionTag, round, 0, (uint)chunks))
            throw Error.Violation(ViolationReason.Refused,
                $"this bank already encrypted under round {round} (or a later one) of this key: a second ciphertext under the same common polynomial would reveal the difference of the two inputs");
        var output = new byte[chunks][];
        var digests = new byte[chunks][];
        void One(int k)
        {
            using RandomNumberGenerator rng = _randomFor($"bank{Index}/r{round}/k{k}");
            int start = k * n, count = Math.Max(0, Math.Min(n, values.Length - start));
            // A chunk past the end of the vector encrypts zeros (the round's chunk count is the aggregator's).
            digests[k] = new byte[32];
            output[k] = scheme.EncryptToBytes(SecretKey, Index, round, (uint)k, count == 0 ? [] : values.AsSpan(start, count), rng, digests[k]);
        }
        if (parallel && chunks > 1) System.Threading.Tasks.Parallel.For(0, chunks, One);
        else for (int k = 0; k < chunks; k++) One(k);
        bodyDigests = digests;
        return output;
    }

    /// <summary>Signs the round's upload manifest (SPEC.md 12.2) from the body digests <see cref="Encrypt(ulong, ulong[], int, bool, out byte[][])"/> returned.</summary>
    public byte[] SignManifestFromDigests(ulong round, byte[][] bodyDigests) =>
        KeepOwn(round, UploadManifest.SignDigests(Identity, Scheme!.SessionTag, round, RlweObjectKind.CompactCiphertext, Index, bodyDigests));

    /// <summary>Signs the round's upload manifest (SPEC.md 12.2).</summary>
    public byte[] SignManifest(ulong round, byte[][] uploads, bool parallel) =>
        KeepOwn(round, UploadManifest.Sign(Identity, Scheme!.SessionTag, round, RlweObjectKind.CompactCiphertext, Index, uploads, parallel));

    /// <summary>The manifest this bank signed last, and its round (in memory only: a restarted bank verifies its own manifest too).</summary>
    private (ulong Round, byte[] Bytes)? _ownManifest;

    private byte[] KeepOwn(ulong round, byte[] manifest)
    {
        _ownManifest = (round, (byte[])manifest.Clone());
        return manifest;
    }

    /// <summary>Verifies the contributors' manifests of a round once; the round's contributor lists are checked against them. This
    /// bank's own manifest of the round, if the bytes are exactly those it signed, is not verified again.</summary>
    public void ReceiveManifests(ulong round, int chunks, byte[][] manifests) =>
        _manifests = new VerifiedManifests(manifests, Roster, Scheme!.SessionTag, round, RlweObjectKind.CompactCiphertext, chunks,
            _ownManifest is { } own && own.Round == round ? own.Bytes : null);

    private IReadOnlyList<byte[]> Roster => _roster ?? throw Error.Violation(ViolationReason.WrongRoundOrState, "no roster");

    /// <summary>
    /// Decryption shares of every chunk of a round for contributors U and active set D (SPEC.md 12.0 step 5, 12.2,
    /// 12.3): every chunk's signed list is checked before any share leaves the bank, then each chunk goes through the
    /// DecryptionGuard. The lists share one aggregator signature, verified once.
    /// </summary>
    public byte[][] DecryptionShares(ulong round, int chunks, int[] contributors, int[] active, byte[][] lists, bool parallel)
    {
        DecryptionGuard guard = CheckLists(round, chunks, contributors, lists, parallel);
        return guard.GenDecryptionShares(round, Enumerable.Range(0, chunks).Select(k => (uint)k).ToArray(), contributors, active, parallel);
    }

    /// <summary>The checks before any share of <see cref="DecryptionShares"/> and <see cref="EncodedDecryptionShares"/>.</summary>
    private DecryptionGuard CheckLists(ulong round, int chunks, int[] contributors, byte[][] lists, bool parallel)
    {
        DecryptionGuard guard = Guard ?? throw Error.Violation(ViolationReason.WrongRoundOrState, "no key installed");
        if (lists.Length != chunks) throw Error.Violation(ViolationReason.Malformed, "one contributor list per chunk");
        if (_manifests is null) throw Error.Violation(ViolationReason.WrongRoundOrState, "no verified manifests for this round");
        VerifiedManifests manifests = _manifests;
        // One signature verification for the round's lists, then each list against U and the contributors' manifests.
        ContributorList[] parsed = ContributorList.ParseRound(lists, _aggregatorPublicKey, Roster.Count);
        TypedParallel.For(chunks, parallel, k =>
            parsed[k].VerifyEntries(Scheme!.SessionTag, round, (uint)k, RlweObjectKind.CompactCiphertext, contributors, manifests));
        return guard;
    }

    /// <summary>
    /// As <see cref="DecryptionShares"/> (the same checks in the same order, the same refusals, the same ledger records), returning
    /// the whole encoded answer (an HeBankMessage with HeDecryptionShares of session <paramref name="sessionId"/>, the bytes
    /// <see cref="HeWire.Encode(HeToAggregator)"/> writes) with each share generated straight into it.
    /// </summary>
    public byte[] EncodedDecryptionShares(byte[] sessionId, ulong round, int chunks, int[] contributors, int[] active, byte[][] lists, bool parallel)
    {
        DecryptionGuard guard = CheckLists(round, chunks, contributors, lists, parallel);
        var indices = new uint[chunks];
        for (int k = 0; k < chunks; k++) indices[k] = (uint)k;
        return guard.GenDecryptionSharesInto(round, indices, contributors, active, parallel,
            lengths => HeWire.LayoutDecryptionShares(sessionId, round, lengths));
    }

    public void Dispose()
    {
        Identity.Dispose();
        SecretKey.Dispose();
        KeyShare?.Dispose();
        Random.Dispose();
    }
}
