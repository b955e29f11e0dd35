using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Benchmarks;

/// <summary>
/// The aggregator's work per upload of one 8,192-value chunk at the default parameter set (n = 8192, 3 x 60-bit primes):
/// validate-and-add alone, and through the intake (one SHA-256 pass, manifest digest check, add). One bank's add at
/// 1,000,000 values is 123 such chunks; `fraudfed bench he` measures that end to end. Seeded randomness (benchmark only).
/// </summary>
[MemoryDiagnoser]
public class HeAggregationBenchmarks
{
    /// <summary>Chunks of one bank's 1,000,000 values at n = 8192.</summary>
    public const int Chunks = 123;

    private CompactScheme _scheme = null!;
    private CompactCiphertext[] _sums = null!;
    private byte[][] _uploads = null!;
    private byte[][] _roster = null!;
    private byte[] _manifest = null!;
    private byte[] _digest0 = null!;

    [GlobalSetup]
    public void Setup()
    {
        RlweParameters p = ParameterSets.Default;
        using var rng = DeterministicRandom.FromLabel("bench/he-aggregation");
        _scheme = new CompactScheme(p, new byte[32]);
        using SecretKey sk = new Bfv(p).GenerateSecretKey(rng);
        ulong mask = (1UL << p.PlainModulusBits) - 1;
        var values = new ulong[p.N];
        for (int i = 0; i < values.Length; i++) values[i] = (ulong)i * 2654435761UL & mask;
        _uploads = Enumerable.Range(0, Chunks).Select(k => _scheme.EncryptToBytes(sk, 0, 1, (uint)k, values, rng)).ToArray();
        using var identity = Ed25519SigningKey.Generate(rng);
        _roster = [identity.PublicKey.ToArray()];
        _manifest = UploadManifest.Sign(identity, _scheme.SessionTag, 1, RlweObjectKind.CompactCiphertext, 0, _uploads);
        _digest0 = System.Security.Cryptography.SHA256.HashData(_uploads[0].AsSpan(0, _uploads[0].Length - RlweCodec.DigestSize));
        _sums = Enumerable.Range(0, Chunks).Select(k => _scheme.AllocateSum(1, (uint)k)).ToArray();
    }

    /// <summary>Validate (envelope digest, residues) and add one chunk's upload.</summary>
    [Benchmark(Baseline = true)]
    public void AddSerialized_OneChunk() => _scheme.AddSerialized(_sums[0], _uploads[0], 0);

    /// <summary>
    /// Validate and add one chunk's upload whose body SHA-256 the caller already has (as the intake does): the envelope
    /// checks and the one pass that unpacks, range-checks and adds 3 x 8192 residues, without the hash.
    /// </summary>
    [Benchmark]
    public void AddSerialized_OneChunk_DigestGiven() => _scheme.AddSerialized(_sums[0], _uploads[0], 0, _digest0);

    /// <summary>
    /// One bank's whole upload on one core, per chunk: verify its manifest once, then per chunk hash once, compare with the
    /// manifest's digest, validate and add.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Chunks)]
    public void IntakeOfOneBank_PerChunk()
    {
        var intake = new UploadIntake(_roster, _scheme.SessionTag, 1, Chunks, RlweObjectKind.CompactCiphertext);
        intake.AcceptManifest(_manifest);
        for (int k = 0; k < Chunks; k++)
        {
            CompactCiphertext sum = _sums[k];
            byte[] upload = _uploads[k];
            intake.Accept(upload, (sender, _, bodyDigest) => _scheme.AddSerialized(sum, upload, sender, bodyDigest));
        }
    }
}
