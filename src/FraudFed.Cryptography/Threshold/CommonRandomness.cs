// CommonRandomness: the common reference string (CRS) of the multiparty RLWE protocol.
//
// Seed: commit-then-reveal among the banks (M. Blum, "Coin flipping by telephone", 1981): each bank b picks
// a 32-byte nonce from its CSPRNG and publishes C_b = SHA-256("FraudFed CRS commit v1" || session || b || nonce);
// once all commitments are in, the nonces are revealed and checked, and the seed is
// SHA-256("FraudFed CRS seed v1" || session || (b || nonce_b) for b ascending). One honest bank makes the
// seed unpredictable; the aggregator only relays and never chooses it.
// Common polynomials: a = Uniform(R_Q) expanded by AES-256-CTR (Prg) from
// SHA-256("FraudFed CRP v1" || seed || purpose || round || chunk), sampled directly as NTT evaluations
// (a uniform polynomial is uniform in either domain). Every (purpose, round, chunk) has its own a: reusing
// one a for two compact ciphertexts of one bank would leak the difference of their plaintexts.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>What a common random polynomial is for (domain separation).</summary>
internal enum CrpPurpose : byte
{
    /// <summary>The a of the collective public key.</summary>
    PublicKey = 1,
    /// <summary>The a_{r,k} of compact ciphertexts in round r, chunk k.</summary>
    CompactCiphertext = 2,
}

/// <summary>One bank's part of the commit-then-reveal coin. Dispose after the reveal.</summary>
internal sealed class CrsContribution : IDisposable
{
    private readonly byte[] _nonce;

    private CrsContribution(int bank, byte[] nonce, byte[] commitment) { Bank = bank; _nonce = nonce; Commitment = commitment; }

    /// <summary>The bank's roster index.</summary>
    public int Bank { get; }
    /// <summary>The commitment to publish first.</summary>
    public byte[] Commitment { get; }
    /// <summary>The nonce to reveal once every commitment has been received.</summary>
    public byte[] Reveal() => (byte[])_nonce.Clone();

    /// <summary>Draws a nonce and commits to it.</summary>
    public static CrsContribution Create(ReadOnlySpan<byte> sessionId, int bank, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(bank);
        var nonce = new byte[32];
        rng.GetBytes(nonce);
        return new CrsContribution(bank, nonce, CommonRandomness.Commit(sessionId, bank, nonce));
    }

    /// <inheritdoc />
    public void Dispose() => CryptographicOperations.ZeroMemory(_nonce);
}

/// <summary>Seed agreement and expansion of common random polynomials.</summary>
internal static class CommonRandomness
{
    /// <summary>The commitment to a nonce.</summary>
    public static byte[] Commit(ReadOnlySpan<byte> sessionId, int bank, ReadOnlySpan<byte> nonce)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.ASCII.GetBytes("FraudFed CRS commit v1"));
        AppendLengthPrefixed(h, sessionId);
        AppendInt(h, bank);
        h.AppendData(nonce);
        return h.GetHashAndReset();
    }

    /// <summary>
    /// Checks every reveal against its commitment and derives the seed. Throws typed
    /// <see cref="ViolationReason.AuthenticationFailed"/> for a reveal that does not open its commitment,
    /// <see cref="ViolationReason.Inconsistent"/> when the banks do not match the roster.
    /// </summary>
    public static byte[] DeriveSeed(ReadOnlySpan<byte> sessionId, int rosterSize,
        IReadOnlyDictionary<int, byte[]> commitments, IReadOnlyDictionary<int, byte[]> reveals)
    {
        ArgumentNullException.ThrowIfNull(commitments);
        ArgumentNullException.ThrowIfNull(reveals);
        if (commitments.Count != rosterSize || reveals.Count != rosterSize)
            throw Error.Violation(ViolationReason.Inconsistent, "every roster bank must commit and reveal");
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.ASCII.GetBytes("FraudFed CRS seed v1"));
        AppendLengthPrefixed(h, sessionId);
        for (int b = 0; b < rosterSize; b++)
        {
            if (!commitments.TryGetValue(b, out byte[]? c) || !reveals.TryGetValue(b, out byte[]? nonce))
                throw Error.Violation(ViolationReason.Inconsistent, "a roster bank is missing");
            if (nonce.Length != 32 || !CryptographicOperations.FixedTimeEquals(Commit(sessionId, b, nonce), c))
                throw Error.Violation(ViolationReason.AuthenticationFailed, $"bank {b}'s reveal does not open its commitment");
            AppendInt(h, b);
            h.AppendData(nonce);
        }
        return h.GetHashAndReset();
    }

    /// <summary>The common polynomial for (purpose, round, chunk), NTT domain.</summary>
    public static RnsPoly Expand(RlweParameters p, ReadOnlySpan<byte> seed, CrpPurpose purpose, ulong round, uint chunk)
    {
        ArgumentNullException.ThrowIfNull(p);
        var result = p.Basis.Allocate(true);
        ExpandInto(p, seed, purpose, round, chunk, result);
        return result;
    }

    /// <summary>Writes the common polynomial for (purpose, round, chunk) into <paramref name="destination"/> (NTT domain).</summary>
    public static void ExpandInto(RlweParameters p, ReadOnlySpan<byte> seed, CrpPurpose purpose, ulong round, uint chunk, RnsPoly destination)
    {
        ArgumentNullException.ThrowIfNull(p);
        p.Basis.Check(destination);
        if (seed.Length != 32) throw Error.Argument(nameof(seed), "The CRS seed is 32 bytes.");
        Span<byte> key = stackalloc byte[32];
        using (var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            h.AppendData(Encoding.ASCII.GetBytes("FraudFed CRP v1"));
            h.AppendData(p.Hash.Span);
            h.AppendData(seed);
            Span<byte> tail = stackalloc byte[13];
            tail[0] = (byte)purpose;
            BinaryPrimitives.WriteUInt64LittleEndian(tail[1..], round);
            BinaryPrimitives.WriteUInt32LittleEndian(tail[9..], chunk);
            h.AppendData(tail);
            h.GetHashAndReset(key);
        }
        using var prg = new Prg(key);
        CryptographicOperations.ZeroMemory(key);
        RandomFill fill = prg.Fill;
        for (int i = 0; i < p.Basis.Count; i++) Samplers.UniformLimbCore(destination.Limb(i), p.Basis.Primes[i], fill);
        destination.IsNtt = true;
    }

    private static void AppendInt(IncrementalHash h, int v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        h.AppendData(b);
    }

    private static void AppendLengthPrefixed(IncrementalHash h, ReadOnlySpan<byte> data)
    {
        AppendInt(h, data.Length);
        h.AppendData(data);
    }
}
