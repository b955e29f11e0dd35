using FraudFed.Cryptography.Primitives;

namespace FraudFed.Testing;

/// <summary>Seeded random sources for tests. Never use these outside tests and vectors.</summary>
public static class TestRandom
{
    /// <summary>A reproducible RandomNumberGenerator named by a label (usually the test's name).</summary>
    public static DeterministicRandom Create(string label) => DeterministicRandom.FromLabel(label);

    /// <summary>A reproducible RandomNumberGenerator from an integer seed.</summary>
    public static DeterministicRandom Create(long seed) => DeterministicRandom.FromSeed(seed);

    /// <summary>A reproducible System.Random for non-cryptographic test data.</summary>
    public static Random Plain(int seed) => new(seed);
}
