using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Benchmarks;

/// <summary>
/// One bank's decryption share of one 8,192-value chunk at the default parameter set (n = 8192, 3 x 60-bit primes), whole
/// and in its parts: expanding a_{r,k} from the CRS (AES-256-CTR, rejection sampling), the NTT-domain multiply by the
/// weighted Shamir point, the inverse NTT, the smudging sampler, the switch to 2^64 and serialization (the envelope's
/// SHA-256 over n u64 words, kind 11). The share itself runs the fused path: <see cref="InverseMultiplyHead"/>,
/// <see cref="SmudgingDraws"/> and <see cref="LastStageSmudgeAndSwitch"/> are its parts after the expansion; the separate
/// multiply, inverse NTT, smudging and switch are the step-by-step path it replaced (kept as the reference).
/// `fraudfed bench he` divides its per-bank share time by 123 chunks; this says where that time goes.
/// </summary>
[MemoryDiagnoser]
public class DecryptionShareBenchmarks
{
    private RlweParameters _p = null!;
    private CompactScheme _scheme = null!;
    private ThresholdKeyShare _share = null!;
    private RnsPoly _work = null!, _weighted = null!, _weightedShoup = null!;
    private readonly int[] _contributors = [0, 1, 2];
    private readonly int[] _active = [0, 1];
    private byte[] _serialized = null!;
    private int _smudgingBits;
    private ulong[] _words = null!, _draws = null!;

    [GlobalSetup]
    public void Setup()
    {
        _p = ParameterSets.Default;
        using var rng = DeterministicRandom.FromLabel("bench/decryption-share");
        _scheme = new CompactScheme(_p, new byte[32]);
        // Three banks' Shamir points for bank 0: random NTT-domain polynomials stand in for f_i(x_0) (timing only).
        var points = Enumerable.Range(0, 3).Select(i =>
        {
            RnsPoly v = _p.Basis.Allocate(true);
            for (int l = 0; l < _p.Basis.Count; l++) Samplers.UniformLimbCore(v.Limb(l), _p.Basis.Primes[l], Samplers.From(rng));
            return new ShamirShare(_p, i, 0, v);
        }).ToArray();
        var policy = new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 };
        _share = new ThresholdKeyShare(_scheme, 0, 3, policy, points, rng);
        _smudgingBits = _share.SmudgingBits;
        _weighted = _share.WeightedPoint(_contributors, _active);
        _weightedShoup = _p.Basis.ShoupPrecompute(_weighted);
        _work = _p.Basis.Allocate(true);
        _words = new ulong[_p.N];
        _draws = new ulong[2 * _p.N];
        _serialized = _share.GenDecryptionShare(1, 0, _contributors, _active);
    }

    /// <summary>The whole share of one chunk (request check, expand, multiply, inverse NTT, smudging, serialize).</summary>
    [Benchmark(Baseline = true)]
    public byte[] GenDecryptionShare() => _share.GenDecryptionShare(1, 0, _contributors, _active);

    /// <summary>The request check and fingerprint alone (sets, SHA-256 of (round, chunk, U, D)): paid once by the protocol's
    /// DecryptionGuard and once inside the share.</summary>
    [Benchmark]
    public byte[] CheckRequest() => _share.CheckRequest(1, 0, _contributors, _active);

    /// <summary>The cached weighted point's lookup (the cache key of (U, D)).</summary>
    [Benchmark]
    public bool WeightedPointLookup() => _share.WeightedPoint(_contributors, _active).IsNtt;

    /// <summary>a_{r,k} from the CRS seed (AES-256-CTR, rejection sampling into three limbs).</summary>
    [Benchmark]
    public void ExpandCommonPolynomial() => CommonRandomness.ExpandInto(_p, _scheme.Seed, CrpPurpose.CompactCiphertext, 1, 0, _work);

    /// <summary>a * lambda * sigma in the NTT domain (Shoup), then the inverse NTT of three limbs.</summary>
    [Benchmark]
    public void MultiplyAndInverseNtt()
    {
        _work.IsNtt = true;
        _p.Basis.MulPointwiseShoup(_work, _weighted, _weightedShoup, _work);
        _p.Basis.FromNtt(_work);
    }

    /// <summary>The share's fused inverse transform: the multiply by the weighted point folded into the first pass, every
    /// stage but the last (three limbs).</summary>
    [Benchmark]
    public void InverseMultiplyHead()
    {
        for (int i = 0; i < _p.Basis.Count; i++) _p.Basis.Table(i).InverseMultiplyHead(_work.Limb(i), _weighted.Limb(i), _weightedShoup.Limb(i));
    }

    /// <summary>The n smudging draws of one share, drawn ahead (AES-256-CTR, one request, masks and rejection test).</summary>
    [Benchmark]
    public void SmudgingDraws()
    {
        using var prg = new Prg(new byte[32]);
        Samplers.SmudgingDraws(_draws, _smudgingBits, Samplers.From(prg));
    }

    /// <summary>The share's last pass: the last inverse stage, the noise and the switch to 2^64, fused.</summary>
    [Benchmark]
    public void LastStageSmudgeAndSwitch() => _scheme.Switch.SmudgeAndSwitchLastStage(_work, _draws, _smudgingBits, _words);

    /// <summary>The smudging noise of one share (uniform in [-B, B], B = 2^b - 1) added to three limbs.</summary>
    [Benchmark]
    public void Smudging()
    {
        _work.IsNtt = false;
        using var prg = new Prg(new byte[32]);
        Samplers.AddSmudging(_p.Basis, _work, _smudgingBits, Samplers.From(prg));
    }

    /// <summary>h_j switched to 2^64: n words by the fixed-point rule (SPEC.md 12.0 step 5), into a reused buffer.</summary>
    [Benchmark]
    public void SwitchTo2Pow64()
    {
        _work.IsNtt = false;
        _scheme.Switch.Switch(_work, _words);
    }

    /// <summary>The envelope of one share: n u64 words and the SHA-256 trailer (kind 11).</summary>
    [Benchmark]
    public byte[] Serialize() => RlweCodec.WriteWords(_p, RlweObjectKind.SwitchedDecryptionShare, new byte[DecryptionShare.ContextSize], [], _words);

    /// <summary>SHA-256 of one share's body (everything but the 16-byte trailer, about 64 KB): the hashing floor of intake and serialization.</summary>
    [Benchmark]
    public byte[] Sha256OfOneEnvelope() => SHA256.HashData(_serialized.AsSpan(0, _serialized.Length - RlweCodec.DigestSize));
}
