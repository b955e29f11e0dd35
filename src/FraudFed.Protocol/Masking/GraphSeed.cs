// The session's graph seed by commit-then-reveal among the banks (SPEC.md section 8.1; M. Blum, "Coin flipping by
// telephone", 1981). Same construction as the HE mode's CRS seed (FraudFed.Cryptography.Threshold.CommonRandomness),
// with two differences: the seed runs over the banks of the key roster rather than over every roster bank (a masking
// session tolerates banks absent from setup, CommonRandomness.DeriveSeed does not), and the commitment is the shared
// Primitives.Commitment under its own label (so a masking commitment can never be taken for a CRS one):
//   nonce_i       32 bytes from bank i's CSPRNG, drawn when the bank is created
//   commitment_i  Commitment.Commit(label = "FraudFed/v1/secagg/graph-commit", opening = nonce_i, value = session || u32 i)
//                 = SHA-256(label || 0x00 || nonce_i || session || u32 BE i); carried in bank i's signed AdvertiseKeys
//   reveal_i      nonce_i in bank i's signed GraphSeedReveal, sent only after the KeyRoster showed every commitment
//   seed          SHA-256("FraudFed/v1/secagg/graph-seed" || session || u32 BE count || (u32 BE i || nonce_i) for every
//                 bank i of the key roster, ascending)
// Hiding (the nonce is a uniform 256-bit opening) keeps the first revealers from being outguessed; binding (SHA-256
// collision resistance) keeps the last ones from choosing their nonce after seeing the others. One honest bank makes
// the seed uniform; the aggregator only relays, and every bank recomputes the seed itself. What remains is abort
// bias: an aggregator (or a colluding bank) that dislikes the seed can stop the session, and a new session brings a
// new uniform seed; SECURITY.md counts that in the failure bound.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

/// <summary>Commitments to graph-seed nonces and the seed derivation (SPEC.md section 8.1).</summary>
internal static class GraphSeed
{
    /// <summary>Nonce, commitment and seed size in bytes.</summary>
    public const int Size = 32;
    private static readonly byte[] CommitLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/graph-commit");
    private static readonly byte[] SeedLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/graph-seed");

    /// <summary>Bank <paramref name="bank"/>'s commitment to <paramref name="nonce"/> (32 bytes).</summary>
    /// <exception cref="ArgumentException">A nonce that is not 32 bytes.</exception>
    public static byte[] Commit(ReadOnlySpan<byte> sessionId, int bank, ReadOnlySpan<byte> nonce)
    {
        var commitment = new byte[Commitment.Size];
        Commitment.Commit(CommitLabel, nonce, Value(sessionId, bank), commitment);
        return commitment;
    }

    /// <summary>True when <paramref name="nonce"/> opens bank <paramref name="bank"/>'s commitment; constant time in the commitment.</summary>
    public static bool Opens(ReadOnlySpan<byte> sessionId, int bank, ReadOnlySpan<byte> commitment, ReadOnlySpan<byte> nonce)
        => Commitment.Verify(CommitLabel, commitment, nonce, Value(sessionId, bank));

    /// <summary>The seed from the reveals of every bank of the key roster, keyed by bank id (each 32 bytes).</summary>
    /// <remarks>The caller has checked every reveal against its commitment.</remarks>
    public static byte[] Derive(ReadOnlySpan<byte> sessionId, IReadOnlyDictionary<int, byte[]> reveals)
    {
        ArgumentNullException.ThrowIfNull(reveals);
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(SeedLabel);
        h.AppendData(sessionId);
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)reveals.Count);
        h.AppendData(u32);
        foreach (var (bank, nonce) in reveals.OrderBy(kv => kv.Key))
        {
            if (nonce.Length != Size) throw Cryptography.Error.Argument(nameof(reveals), "A graph-seed nonce is 32 bytes.");
            BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)bank);
            h.AppendData(u32);
            h.AppendData(nonce);
        }
        return h.GetHashAndReset();
    }

    private static byte[] Value(ReadOnlySpan<byte> sessionId, int bank)
    {
        var v = new byte[sessionId.Length + 4];
        sessionId.CopyTo(v);
        BinaryPrimitives.WriteUInt32BigEndian(v.AsSpan(sessionId.Length), (uint)bank);
        return v;
    }
}
