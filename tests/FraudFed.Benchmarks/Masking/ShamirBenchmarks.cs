// BenchmarkDotNet suite for Shamir sharing over GF(2^521 - 1) as masking mode uses it (SPEC.md section 6): a bank splits
// each 32-byte round secret t-of-n, the aggregator reconstructs one seed per survivor and per dropped bank from t
// shares (Lagrange weights cached per x-set), and one field inversion per new x-set; the limb arithmetic next to the
// System.Numerics.BigInteger computation it replaced (same run, so load on the machine affects both). Seeded randomness
// (benchmark only).
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
    private DeterministicRandom _rng = null!;
    private FieldElement521 _secret = null!;
    private ShamirShare[] _shares = [];
    private static readonly BigInteger P = BigInteger.Pow(2, 521) - 1;
    private Limbs521 _x, _y;
    private BigInteger _bx, _by, _bSecret;
    private BigInteger[] _bShares = [], _bLambda = [];

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
        var y = new byte[66];
        _rng.GetBytes(y.AsSpan(1));
        Gf521.TryDecode(y, _y);
        _bSecret = new BigInteger(seed, isUnsigned: true, isBigEndian: true);
        _bShares = _shares.Select(sh => { var b = new byte[66]; Shamir.P521.EncodeElement(sh.Y, b); return new BigInteger(b, isUnsigned: true, isBigEndian: true); }).ToArray();
        _bLambda = Enumerable.Range(1, Threshold).Select(i =>
        {
            BigInteger num = 1, den = 1;
            for (int j = 1; j <= Threshold; j++)
                if (j != i) { num = num * j % P; den = den * (((j - i) % P + P) % P) % P; }
            return num * BigInteger.ModPow(den, P - 2, P) % P;
        }).ToArray();
        _bx = new BigInteger(pMinus12345, isUnsigned: true, isBigEndian: true);
        _by = new BigInteger(y, isUnsigned: true, isBigEndian: true);
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

    [Benchmark(Description = "Split, BigInteger reference (the former implementation: rejection sampling, Horner with % p)")]
    public BigInteger[] SplitReference()
    {
        var coefficients = new BigInteger[Threshold];
        coefficients[0] = _bSecret;
        var buffer = new byte[66];
        for (int c = 1; c < Threshold; c++)
        {
            do { _rng.GetBytes(buffer); buffer[0] &= 1; coefficients[c] = new BigInteger(buffer, isUnsigned: true, isBigEndian: true); }
            while (coefficients[c] >= P);
        }
        var ys = new BigInteger[Xs.Length];
        for (int h = 0; h < Xs.Length; h++)
        {
            BigInteger y = 0;
            for (int c = Threshold - 1; c >= 0; c--) y = (y * Xs[h] + coefficients[c]) % P;
            ys[h] = y;
        }
        return ys;
    }

    [Benchmark(Description = "Reconstruct from 7 shares (cached weights)")]
    public void Reconstruct() => Shamir.P521.Reconstruct(_shares).Dispose();

    [Benchmark(Description = "Reconstruct, BigInteger reference (sum y_i lambda_i % p, weights precomputed)")]
    public BigInteger ReconstructReference()
    {
        BigInteger acc = 0;
        for (int i = 0; i < Threshold; i++) acc += _bShares[i] * _bLambda[i];
        return acc % P;
    }

    [Benchmark(Description = "Field multiplication (Gf521.Mul)")]
    public ulong Mul()
    {
        Limbs521 r = default;
        Gf521.Mul(_x, _y, r);
        return r[0];
    }

    [Benchmark(Description = "Field multiplication (BigInteger a * b % p, reference)")]
    public BigInteger MulReference() => _bx * _by % P;

    [Benchmark(Description = "Field inversion (Gf521.Invert, Fermat)")]
    public ulong Invert()
    {
        Limbs521 r = default;
        Gf521.Invert(_x, r);
        return r[0];
    }

    [Benchmark(Description = "Field inversion (BigInteger.ModPow, reference)")]
    public BigInteger InvertReference() => BigInteger.ModPow(_bx, P - 2, P);
}
