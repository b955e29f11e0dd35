using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class MaskingPropertiesTests
{
    // Chi-square over 256 byte values, 255 degrees of freedom: the 99.99% quantile is about 347.
    private const double ChiSquare255_9999 = 347.0;

    private static double ChiSquareBytes(ReadOnlySpan<byte> data)
    {
        var counts = new long[256];
        foreach (byte b in data) counts[b]++;
        double expected = data.Length / 256.0;
        return counts.Sum(c => (c - expected) * (c - expected) / expected);
    }

    [Test]
    public void MaskedInputs_LookUniform_AndDifferFromTheInput([Values(0UL, 12345UL)] ulong constant)
    {
        using var d = new Driver(5, 3, "uniform-" + constant).UpToReady();
        // Bank 0's input is a constant vector: the least random input there is.
        const int length = 8192;
        d.Agg.BeginRound(1, length);
        foreach (var b in d.H.Banks) d.Agg.Receive(b.BeginRound(1));
        var deliveries = d.Agg.CloseShareKeys();
        var input = Enumerable.Repeat(constant, length).ToArray();
        MaskedInput masked = MaskedInput.Decode(d.H.Banks[0].ReceiveShares(deliveries[0], input));
        Assert.That(ChiSquareBytes(masked.Packed), Is.LessThan(ChiSquare255_9999));
        ulong[] values = ModVector.Unpack(masked.Packed, Driver.Bits);
        int equal = values.Count(v => v == constant);
        Assert.That(equal, Is.LessThan(5), "a masked value equals the input only by chance (p = 2^-24 each)");
        // The plain packed input is maximally non-uniform, so the test has teeth.
        byte[] plain = new byte[length * 3];
        ModVector.Pack(input, Driver.Bits, plain);
        Assert.That(ChiSquareBytes(plain), Is.GreaterThan(ChiSquare255_9999));
    }

    [Test]
    public void AddPrg_EqualsPrgFillModPow2([Values(1, 7, 24, 32, 33, 48, 64)] int bits, [Values(1, 100, 20000)] int length)
    {
        byte[] seed = new byte[32]; seed[3] = (byte)bits;
        using var prg = new Prg(seed);
        ulong[] expected = prg.NextModPow2(length, bits);
        var r = TestRandom.Plain(bits * length);
        ulong mask = ModVector.Mask(bits);
        ulong[] start = Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() & mask).ToArray();
        ulong[] acc = (ulong[])start.Clone();
        ModVector.AddPrg(acc, seed, bits, subtract: false, scratch: new byte[4096]);
        ModVector.Reduce(acc, bits);
        for (int i = 0; i < length; i++) Assert.That(acc[i], Is.EqualTo((start[i] + expected[i]) & mask), $"add, index {i}");
        ModVector.AddPrg(acc, seed, bits, subtract: true);
        ModVector.Reduce(acc, bits);
        Assert.That(acc, Is.EqualTo(start), "subtracting the same mask restores the vector");
    }

    [Test]
    public void AddPrg_LeavesNoKeystreamInTheCallersScratch_AndRefusesAScratchBelowOneBlock()
    {
        byte[] seed = new byte[32]; seed[7] = 1;
        byte[] scratch = new byte[4096];
        var acc = new ulong[3000]; // 12,000 keystream bytes pass through the 4 KiB scratch
        ModVector.AddPrg(acc, seed, 32, subtract: false, scratch);
        Assert.That(acc.Any(v => v != 0), Is.True, "a mask was added");
        Assert.That(scratch.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "keystream left in the scratch buffer");
        // Below one block the chunk loop could not advance: refused, naming the parameter.
        Assert.That(Assert.Throws<ArgumentException>(() => ModVector.AddPrg(acc, seed, 32, subtract: false, new byte[7]))!.ParamName, Is.EqualTo("scratch"));
    }

    [Test]
    public void AddPrgs_ChunkMajorAndParallel_EqualOneAddPrgPerJob([Values(24, 32, 48)] int bits, [Values(3, 70001, 200003)] int length)
    {
        var jobs = Enumerable.Range(0, 5).Select(i => { var s = new byte[32]; s[0] = (byte)i; s[1] = (byte)bits; return new MaskJob(s, Subtract: i % 2 == 1); }).ToArray();
        var r = TestRandom.Plain(length);
        ulong[] start = Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64()).ToArray();
        ulong[] expected = (ulong[])start.Clone();
        foreach (MaskJob j in jobs) ModVector.AddPrg(expected, j.Seed, bits, j.Subtract);
        ulong[] chunked = (ulong[])start.Clone();
        ModVector.AddPrgs(chunked, jobs, bits);
        ulong[] parallel = (ulong[])start.Clone();
        ModVector.AddPrgsParallel(parallel, jobs, bits, workers: 3);
        ModVector.Reduce(expected, bits);
        ModVector.Reduce(chunked, bits);
        ModVector.Reduce(parallel, bits);
        Assert.That(chunked, Is.EqualTo(expected), "chunk-major");
        Assert.That(parallel, Is.EqualTo(expected), "sliced over workers");
    }

    [Test]
    public void PackedWidths_OutsideOneTo64Bits_AreRefusedAsArguments([Values(0, -1, 65, int.MinValue)] int bits)
    {
        // Widths come from the session parameters, not the wire, so a bad one is a caller error (not a protocol violation).
        Assert.Throws<ArgumentOutOfRangeException>(() => ModVector.BytesPerValue(bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModVector.Unpack(new byte[8], bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModVector.IsValidPacked(new byte[8], bits));
        Assert.That(ModVector.BytesPerValue(1), Is.EqualTo(1));
        Assert.That(ModVector.BytesPerValue(64), Is.EqualTo(8));
    }

    [Test]
    public void AddSubtractReduce_MatchScalar([Values(1, 5, 64, 67)] int length)
    {
        var r = TestRandom.Plain(length);
        ulong[] a = Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() * 3).ToArray();
        ulong[] b = Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() * 5).ToArray();
        ulong[] sum = (ulong[])a.Clone();
        ModVector.Add(sum, b);
        ModVector.Reduce(sum, 40);
        for (int i = 0; i < length; i++) Assert.That(sum[i], Is.EqualTo((a[i] + b[i]) & ((1UL << 40) - 1)));
        ulong[] diff = (ulong[])a.Clone();
        ModVector.Subtract(diff, b);
        for (int i = 0; i < length; i++) Assert.That(diff[i], Is.EqualTo(a[i] - b[i]));
    }

    [Test]
    public void PackUnpack_RoundTrips_AtCeilKOver8Bytes([Values(1, 8, 12, 20, 24, 31, 32, 40, 56, 63, 64)] int bits, [Values(1, 3, 100)] int length)
    {
        var r = TestRandom.Plain(bits + length);
        ulong mask = ModVector.Mask(bits);
        ulong[] v = Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() * 7 & mask).ToArray();
        v[0] = mask; // the largest value
        var packed = new byte[length * ModVector.BytesPerValue(bits)];
        ModVector.Pack(v, bits, packed);
        Assert.That(ModVector.Unpack(packed, bits), Is.EqualTo(v));
        Assert.That(packed.AsSpan(0, ModVector.BytesPerValue(bits)).ToArray()[0], Is.EqualTo((byte)mask), "little-endian");
    }

    [Test]
    public void NeighbourGraph_Sparse_IsRegularSymmetricConnectedAndSeeded()
    {
        byte[] seedA = new byte[32], seedB = new byte[32]; seedB[0] = 1;
        var a = NeighbourGraph.Sparse(50, 12, seedA);
        var a2 = NeighbourGraph.Sparse(50, 12, seedA);
        var b = NeighbourGraph.Sparse(50, 12, seedB);
        for (int i = 0; i < 50; i++)
        {
            Assert.That(a.Neighbours(i), Has.Count.EqualTo(12), $"degree of {i}");
            Assert.That(a.Neighbours(i), Does.Not.Contain(i));
            foreach (int j in a.Neighbours(i)) Assert.That(a.AreNeighbours(j, i), Is.True, "symmetric");
            Assert.That(a2.Neighbours(i), Is.EqualTo(a.Neighbours(i)), "deterministic from the public seed");
        }
        Assert.That(Enumerable.Range(0, 50).Any(i => !a.Neighbours(i).SequenceEqual(b.Neighbours(i))), Is.True, "another seed gives another graph");
        var seen = new HashSet<int> { 0 };
        var queue = new Queue<int>([0]);
        while (queue.Count > 0) foreach (int j in a.Neighbours(queue.Dequeue())) if (seen.Add(j)) queue.Enqueue(j);
        Assert.That(seen, Has.Count.EqualTo(50), "connected");
        Assert.That(NeighbourGraph.Sparse(5, 4, seedA).IsComplete, Is.True);
    }

    [Test]
    public void Parameters_RejectBadThresholds()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 5, 1, 32));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 5, 6, 32));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 5, 3, 32, minimumSurvivors: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 9, 3, 32, degree: 3), "odd sparse degree");
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 9, 4, 32, degree: 2), "t above degree + 1");
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 5, 3, 32, maxColluders: 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new MaskingParameters(new byte[16], 5, 3, 32, maxColluders: -1));
        Assert.Throws<ArgumentException>(() => _ = new MaskingParameters(new byte[15], 5, 3, 32));
    }
}
