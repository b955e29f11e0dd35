using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Benchmarks;

/// <summary>Negacyclic NTT of the default parameter set's first prime (n = 8192, 60 bits); compare with SEAL only through the side-by-side ratios in docs/homomorphic-mode.md.</summary>
[MemoryDiagnoser]
public class NttBenchmarks
{
    private NttTables _tables = null!;
    private ulong[] _data = null!;

    [Params(4096, 8192, 16384)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        ulong q = N == 8192 ? ParameterSets.Default.Primes[0] : NttPrimes.Generate(60, N, 1)[0];
        _tables = new NttTables(N, q);
        var rnd = new Random(1);
        _data = Enumerable.Range(0, N).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
    }

    [Benchmark]
    public void Forward() => _tables.Forward(_data);

    [Benchmark]
    public void Inverse() => _tables.Inverse(_data);
}
