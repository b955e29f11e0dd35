using System.Security.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;

namespace FraudFed.Cryptography.Tests.Threshold;

/// <summary>An in-memory threshold setup (commit-reveal CRS, keys, Shamir points) for tests.</summary>
internal sealed class ThresholdSetup : IDisposable
{
    public required RlweParameters P { get; init; }
    public required CompactScheme Scheme { get; init; }
    public required SecretKey[] Keys { get; init; }
    public required ThresholdKeyShare[] KeyShares { get; init; }
    public required DecryptionPolicy Policy { get; init; }
    public required RandomNumberGenerator Rng { get; init; }

    public static ThresholdSetup Create(RlweParameters p, int banks, int threshold, int minContributors, string label, long budget = 1L << 20)
    {
        RandomNumberGenerator rng = TestRandom.Create(label);
        byte[] session = System.Text.Encoding.UTF8.GetBytes(label);
        var contributions = Enumerable.Range(0, banks).Select(b => CrsContribution.Create(session, b, rng)).ToArray();
        byte[] seed = CommonRandomness.DeriveSeed(session, banks,
            contributions.ToDictionary(c => c.Bank, c => c.Commitment), contributions.ToDictionary(c => c.Bank, c => c.Reveal()));
        foreach (var c in contributions) c.Dispose();
        var scheme = new CompactScheme(p, seed);
        var bfv = new Bfv(p);
        SecretKey[] keys = Enumerable.Range(0, banks).Select(_ => bfv.GenerateSecretKey(rng)).ToArray();
        var thresholdizer = new Thresholdizer(p);
        ShamirPolynomial[] polys = keys.Select(k => thresholdizer.GenShamirPolynomial(threshold, k, rng)).ToArray();
        var policy = new DecryptionPolicy { Threshold = threshold, MinContributors = minContributors, MaxColluders = 0, Budget = budget };
        var keyShares = new ThresholdKeyShare[banks];
        for (int j = 0; j < banks; j++)
        {
            ShamirShare[] points = polys.Select((f, i) => thresholdizer.GenShareForParty(f, i, j)).ToArray();
            keyShares[j] = new ThresholdKeyShare(scheme, j, banks, policy, points, rng);
            foreach (ShamirShare s in points) s.Dispose();
        }
        foreach (ShamirPolynomial f in polys) f.Dispose();
        return new ThresholdSetup { P = p, Scheme = scheme, Keys = keys, KeyShares = keyShares, Policy = policy, Rng = rng };
    }

    /// <summary>Encrypts one vector per contributor for (round, chunk) and sums the compact ciphertexts.</summary>
    public CompactCiphertext EncryptAndSum(ulong round, uint chunk, IReadOnlyList<int> contributors, Func<int, ulong[]> values, out ulong[] expected)
    {
        ulong mask = (1UL << P.PlainModulusBits) - 1;
        expected = new ulong[P.N];
        CompactCiphertext sum = Scheme.AllocateSum(round, chunk);
        foreach (int b in contributors)
        {
            ulong[] v = values(b);
            for (int j = 0; j < v.Length; j++) expected[j] = (expected[j] + v[j]) & mask;
            byte[] wire = Scheme.Encrypt(Keys[b], b, round, chunk, v, Rng).Serialize();
            Scheme.AddInPlace(sum, CompactCiphertext.Deserialize(P, wire));
        }
        return sum;
    }

    public ulong[] Decrypt(CompactCiphertext sum, IReadOnlyList<int> contributors, IReadOnlyList<int> active)
    {
        var shares = active.Select(j => KeyShares[j].GenDecryptionShare(sum.Round, sum.Chunk, contributors, active)).ToArray();
        var result = new ulong[P.N];
        ThresholdCombiner.Combine(Scheme, sum, contributors, active, shares, result);
        return result;
    }

    public void Dispose()
    {
        foreach (SecretKey k in Keys) k.Dispose();
        foreach (ThresholdKeyShare s in KeyShares) s.Dispose();
        Rng.Dispose();
    }
}
