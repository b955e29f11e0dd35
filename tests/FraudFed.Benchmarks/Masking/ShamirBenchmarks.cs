// BenchmarkDotNet suite for Shamir sharing over GF(2^521 - 1) as masking mode uses it (SPEC.md section 6): a bank splits
// each 32-byte round secret t-of-n, the aggregator reconstructs one seed per survivor and per dropped bank from t
// shares (Lagrange weights cached per x-set), and one field inversion per new x-set. Seeded randomness (benchmark only).
// dotnet run -c Release --project tests/FraudFed.Benchmarks -- --filter '*Shamir*'
using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Benchmarks.Masking;

[MemoryDiagnoser]
public class ShamirBenchmarks
{
    private const int Threshold = 7;
    private static readonly int[] Xs = Enumerable.Range(1, 10).ToArray();
    private DeterministicRandom _rng = null!;
    private FieldElement521 _secret = null!;
    private ShamirShare[] _shares = [];
    private Limbs521 _x;

    [GlobalSetup]
    public void Setup()
    {
        _rng = DeterministicRandom.FromLabel("bench/shamir");
        var seed = new byte[32];
        _rng.GetBytes(seed);
        _secret = Shamir.SeedToElement(seed);
        _shares = Shamir.P521.SplitAt(_secret, Threshold, Xs, _rng)[..Threshold];
        var pMinus12345 = new byte[66];
        pMinus12345[0] = 0x01;
        pMinus12345.AsSpan(1).Fill(0xFF);
        pMinus12345[64] = 0xCF; pMinus12345[65] = 0xC6; // p - 12345 = 2^521 - 12346
        Gf521.TryDecode(pMinus12345, _x);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (ShamirShare s in _shares) s.Dispose();
        _secret.Dispose();
        _rng.Dispose();
    }

    [Benchmark(Description = "Split a 32-byte seed, t = 7 of 10")]
    public void Split()
    {
        foreach (ShamirShare s in Shamir.P521.SplitAt(_secret, Threshold, Xs, _rng)) s.Dispose();
    }

    [Benchmark(Description = "Reconstruct from 7 shares (cached weights)")]
    public void Reconstruct() => Shamir.P521.Reconstruct(_shares).Dispose();

    [Benchmark(Description = "Field inversion (Fermat)")]
    public ulong Invert()
    {
        Limbs521 r = default;
        Gf521.Invert(_x, r);
        return r[0];
    }
}
