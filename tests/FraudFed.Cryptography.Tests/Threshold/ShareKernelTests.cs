using System.Numerics;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Threshold;

/// <summary>
/// The decryption share's fused path (multiply folded into the first inverse-NTT pass, smudging draws drawn ahead, last
/// inverse stage + noise + switch in one pass) against the straightforward computation it replaced, bit for bit.
/// </summary>
[TestFixture]
public sealed class ShareKernelTests
{
    // The whole share, three ways: GenDecryptionShare's bytes, the fused path's residues and words, and the step-by-step
    // reference (expand, MulPointwiseShoup, FromNtt, AddSmudging, then ModulusSwitch.Switch) must agree on every bit, for
    // ring sizes whose first inverse pass is radix-2 (n = 256, 1024: log2 n - 1 odd) and radix-4 (n = 8192).
    [Test]
    public void FusedShare_EqualsStepByStepShare([Values(256, 1024, 8192)] int n)
    {
        RlweParameters p = n switch { 256 => InsecureTestParameters.N256, 1024 => InsecureTestParameters.N1024, _ => ParameterSets.Default };
        using ThresholdSetup setup = ThresholdSetup.Create(p, 4, 3, 2, $"share-kernel/{n}");
        int[] contributors = [0, 1, 3], active = [0, 2, 3];
        foreach ((ulong round, uint chunk) in new[] { (1UL, 0u), (9UL, 5u), (ulong.MaxValue, uint.MaxValue) })
        {
            foreach (int j in active)
            {
                ThresholdKeyShare share = setup.KeyShares[j];
                RnsPoly reference = share.GenUnswitchedShare(round, chunk, contributors, active);
                var referenceWords = new ulong[n];
                setup.Scheme.Switch.Switch(reference, referenceWords);

                var fusedWords = new ulong[n];
                RnsPoly fused = share.GenFusedShare(round, chunk, contributors, active, fusedWords);
                Assert.That(fused.IsNtt, Is.False);
                Assert.That(fused.Data, Is.EqualTo(SwitchFactors(p.Basis, reference).Data), $"y = h_j (Q/q_i)^-1 residues, bank {j}, round {round}");
                Assert.That(fusedWords, Is.EqualTo(referenceWords), $"switched words, bank {j}, round {round}");

                byte[] bytes = share.GenDecryptionShare(round, chunk, contributors, active);
                ulong[] parsed = DecryptionShare.Deserialize(p, bytes).Words;
                Assert.That(parsed, Is.EqualTo(referenceWords), $"serialized share, bank {j}, round {round}");
            }
        }
    }

    // The kernel alone on random inputs: values anywhere in [0, 2q) (the head's output range) and random draws, against the
    // last inverse stage (NttTables.InverseLastStage), the reference smudging sampler on the same stream and the switch.
    [Test]
    public void Kernel_EqualsLastStageSmudgingAndSwitch_OnRandomInputs([Values(1, 63, 64, 65, 106, 126)] int bits)
    {
        RlweParameters p = InsecureTestParameters.N1024;
        var random = TestRandom.Plain(bits);
        RnsPoly head = p.Basis.Allocate(true);
        for (int i = 0; i < p.Basis.Count; i++)
            for (int j = 0; j < p.N; j++) head.Limb(i)[j] = (ulong)random.NextInt64() % (2 * p.Basis.Primes[i]);
        CompareWithReference(p, head, bits, () => Samplers.From(TestRandom.Create($"kernel/{bits}")));
    }

    // Edge inputs: residues 0, q - 1, q and 2q - 1 in every combination of the butterfly's pair (u, v), and a draw stream
    // whose every third draw is the rejected all-ones value and whose others alternate between 0 (noise -B) and 2B (+B).
    [Test]
    public void Kernel_EqualsLastStageSmudgingAndSwitch_OnEdgeInputs([Values(1, 2, 63, 64, 106, 126)] int bits)
    {
        RlweParameters p = InsecureTestParameters.N256;
        int n = p.N, t = n / 2;
        RnsPoly head = p.Basis.Allocate(true);
        for (int i = 0; i < p.Basis.Count; i++)
        {
            ulong q = p.Basis.Primes[i];
            ulong[] edges = [0, 1, q - 1, q, q + 1, 2 * q - 1];
            for (int j = 0; j < t; j++)
            {
                head.Limb(i)[j] = edges[j % edges.Length];
                head.Limb(i)[j + t] = edges[(j / edges.Length + i) % edges.Length];
            }
        }
        CompareWithReference(p, head, bits, EdgeDraws);
    }

    private static void CompareWithReference(RlweParameters p, RnsPoly head, int bits, Func<RandomFill> stream)
    {
        int n = p.N;
        RnsPoly reference = head.Clone();
        for (int i = 0; i < p.Basis.Count; i++) p.Basis.Table(i).InverseLastStage(reference.Limb(i));
        reference.IsNtt = false;
        Samplers.AddSmudgingReference(p.Basis, reference, bits, stream());
        var referenceWords = new ulong[n];
        new ModulusSwitch(p).Switch(reference, referenceWords);

        var draws = new ulong[2 * n];
        Samplers.SmudgingDraws(draws, bits, stream());
        RnsPoly fused = head.Clone();
        var words = new ulong[n];
        new ModulusSwitch(p).SmudgeAndSwitchLastStage(fused, draws, bits, words);
        Assert.That(fused.Data, Is.EqualTo(SwitchFactors(p.Basis, reference).Data), "smudged residues times (Q/q_i)^-1 written back");
        Assert.That(words, Is.EqualTo(referenceWords), "switched words");
    }

    /// <summary>y_i = h_i (Q/q_i)^-1 mod q_i, schoolbook (what the fused kernel leaves in its scratch).</summary>
    private static RnsPoly SwitchFactors(RnsBasis basis, RnsPoly h)
    {
        RnsPoly y = h.Clone();
        for (int i = 0; i < basis.Count; i++)
        {
            ulong q = basis.Primes[i];
            var k = (ulong)(BigInteger.ModPow(basis.QHat(i) % q, q - 2, q));
            Span<ulong> limb = y.Limb(i);
            for (int j = 0; j < limb.Length; j++) limb[j] = (ulong)((UInt128)limb[j] * k % q);
        }
        return y;
    }

    // The draws themselves, against the integers they stand for: from a zero polynomial the reference sampler leaves
    // (x_j - B) mod q_i in limb i; x_j = hi 2^64 + lo must be in [0, 2B] and agree with it, on random and edge streams.
    [Test]
    public void SmudgingDraws_AreTheReferenceSamplersDraws([Values(1, 2, 63, 64, 65, 106, 126)] int bits, [Values(false, true)] bool edge)
    {
        const int n = 2048;
        var basis = new RnsBasis(n, NttPrimes.Generate(60, n, 3));
        Func<RandomFill> stream = edge ? EdgeDraws : () => Samplers.From(TestRandom.Create($"draws/{bits}"));
        RnsPoly reference = basis.Allocate();
        Samplers.AddSmudgingReference(basis, reference, bits, stream());
        var draws = new ulong[2 * n];
        Samplers.SmudgingDraws(draws, bits, stream());
        BigInteger bound = (BigInteger.One << bits) - 1;
        for (int j = 0; j < n; j++)
        {
            BigInteger x = ((BigInteger)draws[2 * j + 1] << 64) + draws[2 * j];
            Assert.That(x >= 0 && x <= 2 * bound, $"draw {j} in [0, 2B]");
            for (int i = 0; i < basis.Count; i++)
            {
                BigInteger q = basis.Primes[i];
                Assert.That((ulong)(((x - bound) % q + q) % q), Is.EqualTo(reference.Limb(i)[j]), $"draw {j}, limb {i}");
            }
        }
    }

    [Test]
    public void Kernel_RefusesWrongSizes()
    {
        RlweParameters p = InsecureTestParameters.N256;
        var sw = new ModulusSwitch(p);
        RnsPoly head = p.Basis.Allocate(true);
        Assert.Throws<ArgumentException>(() => sw.SmudgeAndSwitchLastStage(head, new ulong[2 * p.N - 2], 10, new ulong[p.N]));
        Assert.Throws<ArgumentException>(() => sw.SmudgeAndSwitchLastStage(head, new ulong[2 * p.N], 10, new ulong[p.N + 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => sw.SmudgeAndSwitchLastStage(head, new ulong[2 * p.N], 127, new ulong[p.N]));
        Assert.Throws<ArgumentException>(() => Samplers.SmudgingDraws(new ulong[3], 10, EdgeDraws()));
    }

    /// <summary>Every third 128-bit draw all ones (rejected once masked), the others alternating 0 and all ones but the lowest
    /// bit; defined per byte position so that it does not depend on how the stream is cut.</summary>
    private static RandomFill EdgeDraws()
    {
        long position = 0;
        return destination =>
        {
            for (int b = 0; b < destination.Length; b++, position++)
            {
                long draw = position / 16, offset = position % 16;
                destination[b] = (draw % 3) switch { 0 => 0xFF, 1 => 0x00, _ => offset == 0 ? (byte)0xFE : (byte)0xFF };
            }
        };
    }
}
