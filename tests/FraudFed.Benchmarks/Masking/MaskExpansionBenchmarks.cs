// BenchmarkDotNet suite for the masking hot paths: PRG keystream, mask expansion into a mod-2^k vector
// (one mask, and ten masks chunk-major as a bank does), packing. Run:
// dotnet run -c Release --project tests/FraudFed.Benchmarks -- --filter '*MaskExpansion*'
using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;

namespace FraudFed.Benchmarks.Masking;

[MemoryDiagnoser]
public class MaskExpansionBenchmarks
{
    private const int Values = 1_000_000;
    private readonly ulong[] _acc = new ulong[Values];
    private readonly byte[] _keystream = new byte[Values * 4];
    private readonly byte[] _packed = new byte[Values * 8];
    private readonly byte[] _seed = new byte[32];
    private MaskJob[] _jobs = [];

    [Params(24, 32, 48)]
    public int Bits { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        System.Security.Cryptography.RandomNumberGenerator.Fill(_seed);
        _jobs = Enumerable.Range(0, 10).Select(i => { var s = (byte[])_seed.Clone(); s[0] ^= (byte)(i + 1); return new MaskJob(s, i % 2 == 1); }).ToArray();
    }

    [Benchmark(Description = "Prg.Fill 4 MB")]
    public void PrgFill()
    {
        using var prg = new Prg(_seed);
        prg.Fill(_keystream);
    }

    [Benchmark(Description = "AddPrg, one mask, 1M values")]
    public void AddOneMask() => ModVector.AddPrg(_acc, _seed, Bits, subtract: false);

    [Benchmark(Description = "AddPrgs, ten masks chunk-major, 1M values")]
    public void AddTenMasks() => ModVector.AddPrgs(_acc, _jobs, Bits);

    [Benchmark(Description = "Pack 1M values at ceil(k/8) bytes")]
    public void Pack() => ModVector.Pack(_acc, Bits, _packed.AsSpan(0, Values * ModVector.BytesPerValue(Bits)));
}
