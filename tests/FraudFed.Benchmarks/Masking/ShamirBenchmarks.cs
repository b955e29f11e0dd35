// BenchmarkDotNet suite for Shamir sharing over GF(2^521 - 1) as masking mode uses it (SPEC.md section 6): a bank splits
// each 32-byte round secret t-of-n, the aggregator reconstructs one seed per survivor and per dropped bank from t
// shares (Lagrange weights cached per x-set), and one field inversion per new x-set. Seeded randomness (benchmark only).
// dotnet run -c Release --project tests/FraudFed.Benchmarks -- --filter '*Shamir*'
using System.Numerics;
using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Benchmarks.Masking;

[MemoryDiagnoser]
public class ShamirBenchmarks
{
    private const int Threshold = 7;
    private static readonly int[] Xs = Enumerable.Range(1, 10).ToArray();
    private static readonly BigInteger P = BigInteger.Pow(2, 521) - 1;
    private DeterministicRandom _rng = null!;
    private BigInteger _secret;
    private ShamirShare[] _shares = [];
    private BigInteger _x;

    [GlobalSetup]
    public void Setup()
    {
        _rng = DeterministicRandom.FromLabel("bench/shamir");
        var seed = new byte[32];
        _rng.GetBytes(seed);
        _secret = Shamir.SeedToElement(seed);
        _shares = Shamir.P521.SplitAt(_secret, Threshold, Xs, _rng)[..Threshold];
        _x = P - 12345;
    }

    [GlobalCleanup]
    public void Cleanup() => _rng.Dispose();

    [Benchmark(Description = "Split a 32-byte seed, t = 7 of 10")]
    public ShamirShare[] Split() => Shamir.P521.SplitAt(_secret, Threshold, Xs, _rng);

    [Benchmark(Description = "Reconstruct from 7 shares (cached weights)")]
    public BigInteger Reconstruct() => Shamir.P521.Reconstruct(_shares);

    [Benchmark(Description = "Field inversion (Fermat)")]
    public BigInteger Invert() => BigInteger.ModPow(_x, P - 2, P);
}
