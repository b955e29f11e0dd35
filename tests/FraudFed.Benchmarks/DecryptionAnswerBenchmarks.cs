using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Benchmarks;

/// <summary>
/// A bank's whole answer to a decryption request of 123 chunks (1,000,000 values) at the default parameter set, one thread,
/// behind its DecryptionGuard (checks and ledger; the ledger keeps no answer bytes, so every call recomputes, as the harness
/// bank does): the shares as arrays then the protobuf encoder (the path before), against every share generated straight into
/// the encoded answer (HeWire.LayoutDecryptionShares). The difference is the per-chunk allocation and copy.
/// </summary>
[MemoryDiagnoser]
public class DecryptionAnswerBenchmarks
{
    private const int Chunks = 123;
    private DecryptionGuard _guard = null!;
    private readonly int[] _contributors = [0, 1, 2];
    private readonly int[] _active = [0, 1];
    private readonly uint[] _chunks = Enumerable.Range(0, Chunks).Select(k => (uint)k).ToArray();
    private readonly byte[] _sessionId = new byte[16];

    [GlobalSetup]
    public void Setup()
    {
        RlweParameters p = ParameterSets.Default;
        using var rng = DeterministicRandom.FromLabel("bench/decryption-answer");
        var scheme = new CompactScheme(p, new byte[32]);
        // Three banks' Shamir points for bank 0: random NTT-domain polynomials stand in for f_i(x_0) (timing only).
        var points = Enumerable.Range(0, 3).Select(i =>
        {
            RnsPoly v = p.Basis.Allocate(true);
            for (int l = 0; l < p.Basis.Count; l++) Samplers.UniformLimbCore(v.Limb(l), p.Basis.Primes[l], Samplers.From(rng));
            return new ShamirShare(p, i, 0, v);
        }).ToArray();
        var policy = new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 };
        var share = new ThresholdKeyShare(scheme, 0, 3, policy, points, rng);
        _guard = new DecryptionGuard(share, new InMemoryDecryptionLedger { AnswerRoundsKept = 0 });
        _guard.GenDecryptionShares(1, _chunks, _contributors, _active, parallel: false);   // recorded once; later calls are repeats
    }

    /// <summary>The shares as 123 arrays, then HeWire.Encode (a copy of each into the message).</summary>
    [Benchmark(Baseline = true)]
    public byte[] SharesThenEncode() =>
        HeWire.Encode(new HeDecryptionSharesMessage(_sessionId, 1, _guard.GenDecryptionShares(1, _chunks, _contributors, _active, parallel: false)));

    /// <summary>Each share written straight into the encoded answer.</summary>
    [Benchmark]
    public byte[] SharesInPlace() =>
        _guard.GenDecryptionSharesInto(1, _chunks, _contributors, _active, false, lengths => HeWire.LayoutDecryptionShares(_sessionId, 1, lengths));
}
