using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Rlwe;

[TestFixture]
public sealed class CodecTests
{
    private static RlweParameters Fast => InsecureTestParameters.N256;

    [Test]
    public void Pack_RoundTrips_AtEveryWidth([Values(1, 7, 30, 59, 60, 61, 62)] int width)
    {
        var rnd = TestRandom.Plain(width);
        ulong q = width == 1 ? 2 : (1UL << width) - 1;
        ulong[] values = Enumerable.Range(0, 37).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
        values[0] = q - 1;
        var bytes = new byte[(37 * width + 7) / 8];
        RlweCodec.Pack(values, width, bytes);
        var back = new ulong[37];
        Assert.That(RlweCodec.Unpack(bytes, width, q, back), Is.True);
        Assert.That(back, Is.EqualTo(values));
    }

    // Packing against its definition, bit by bit (value j's bit b is stream bit j * width + b, LSB-first), for widths
    // on both sides of the branch-free path (width + largest shift <= 64) and lengths where it hands over at every offset.
    [Test]
    public void Pack_EqualsTheBitByBitDefinition([Values(8, 12, 20, 30, 44, 52, 59, 60, 61, 62)] int width, [Values(1, 2, 3, 5, 8, 9, 17, 256)] int n)
    {
        var rnd = TestRandom.Plain(width * 1000 + n);
        ulong[] values = Enumerable.Range(0, n).Select(_ => (ulong)rnd.NextInt64() & ((1UL << width) - 1)).ToArray();
        values[0] = (1UL << width) - 1;
        var packed = new byte[(n * width + 7) / 8];
        RlweCodec.Pack(values, width, packed);
        var expected = new byte[packed.Length];
        for (int j = 0; j < n; j++)
            for (int b = 0; b < width; b++)
                if (((values[j] >> b) & 1) != 0) { long bit = (long)j * width + b; expected[bit >> 3] |= (byte)(1 << (int)(bit & 7)); }
        Assert.That(packed, Is.EqualTo(expected));
    }

    [Test]
    public void FastUnpack_EqualsPortableUnpack_IncludingInvalidInputs([Values(20, 30, 44, 59, 60, 61, 62)] int width, [Values(1, 7, 64, 256, 8192)] int n)
    {
        var rnd = TestRandom.Plain(width * 1000 + n);
        ulong q = NttPrimes.Generate(Math.Max(width, 10), 8, 1)[0];
        int bytes = (int)(((long)n * width + 7) / 8);
        for (int trial = 0; trial < 4; trial++)
        {
            var source = new byte[bytes];
            if (trial == 0)
            {
                ulong[] values = Enumerable.Range(0, n).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
                RlweCodec.Pack(values, width, source);
            }
            else rnd.NextBytes(source); // random bits: out-of-range values and nonzero padding likely
            if (trial == 3 && bytes > 0) Array.Clear(source); // all zero: valid
            var fast = new ulong[n];
            var portable = new ulong[n];
            bool okFast = RlweCodec.Unpack(source, width, q, fast);
            bool okPortable = RlweCodec.UnpackPortable(source, width, q, portable);
            Assert.That(okFast, Is.EqualTo(okPortable), $"trial {trial}");
            Assert.That(fast, Is.EqualTo(portable), $"trial {trial}");
        }
    }

    // The one-pass unpack + range check + add against the portable unpacker followed by a schoolbook modular add, with
    // and without readable bytes after the limb (an envelope always has its 16-byte digest there); on a refusal, the
    // undo pass must give back the accumulator bit for bit.
    [Test]
    public unsafe void AddLimb_EqualsPortableUnpackThenModularAdd_AndUndoRestores([Values(20, 30, 44, 59, 60, 61, 62)] int width, [Values(1, 7, 64, 256, 8192)] int n, [Values(0, 16)] int trailing)
    {
        var rnd = TestRandom.Plain(width * 1000 + n + trailing);
        ulong q = NttPrimes.Generate(width, 8, 1)[0];
        int bytes = (int)(((long)n * width + 7) / 8);
        for (int trial = 0; trial < 4; trial++)
        {
            var source = new byte[bytes + trailing];
            rnd.NextBytes(source); // trailing bytes are random: they must not matter
            if (trial == 0)
                RlweCodec.Pack(Enumerable.Range(0, n).Select(_ => (ulong)rnd.NextInt64() % q).ToArray(), width, source.AsSpan(0, bytes));
            if (trial == 3) RlweCodec.Pack(Enumerable.Repeat(q - 1, n).ToArray(), width, source.AsSpan(0, bytes));
            ulong[] before = Enumerable.Range(0, n).Select(_ => (ulong)rnd.NextInt64() % q).ToArray();
            var values = new ulong[n];
            bool ok = RlweCodec.UnpackPortable(source.AsSpan(0, bytes), width, q, values);
            ulong[] acc = (ulong[])before.Clone();
            ulong bad;
            fixed (byte* src = source)
            fixed (ulong* a = acc)
            {
                bad = RlweCodec.AddLimb(src, bytes, width, q, a, n, source.Length);
                Assert.That(bad == 0, Is.EqualTo(ok), $"trial {trial}: the refusal agrees with the portable unpacker");
                if (ok)
                {
                    ulong[] expected = before.Select((x, j) => (ulong)(((UInt128)x + values[j]) % q)).ToArray();
                    Assert.That(acc, Is.EqualTo(expected), $"trial {trial}: (acc + v) mod q");
                }
                else
                {
                    RlweCodec.UndoAdd(src, width, q, a, n);
                    Assert.That(acc, Is.EqualTo(before), $"trial {trial}: undo restores the accumulator");
                }
            }
        }
    }

    // An out-of-range residue anywhere (first, middle or last of any limb, with a valid digest) is refused after the
    // in-place pass has already added the others: the sum must come back bit for bit.
    [Test]
    public void ReadAndAdd_OutOfRangeResidueAnywhere_IsRefused_AndTheSumIsUnchanged([Values(0, 1, 2)] int limb, [Values(0, 100, 255)] int index)
    {
        var p = Fast;
        var rnd = TestRandom.Plain(limb * 1000 + index);
        var sum = p.Basis.Allocate();
        var poly = p.Basis.Allocate();
        for (int i = 0; i < p.Primes.Count; i++)
            for (int j = 0; j < p.N; j++) { sum.Limb(i)[j] = (ulong)rnd.NextInt64() % p.Primes[i]; poly.Limb(i)[j] = p.Primes[i] - 1; }
        ulong[] before = (ulong[])sum.Data.Clone();
        poly.Limb(limb)[index] = (1UL << 60) - 1; // 60 bits, above every 60-bit prime
        byte[] bytes = RlweCodec.Write(p, RlweObjectKind.PublicKeyShare, new byte[4], poly);
        var ex = Assert.Throws<ProtocolViolationException>(() => RlweCodec.ReadAndAdd(p, bytes, RlweObjectKind.PublicKeyShare, 4, sum));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        Assert.That(sum.Data, Is.EqualTo(before));
        poly.Limb(limb)[index] = p.Primes[limb] - 1;
        RlweCodec.ReadAndAdd(p, RlweCodec.Write(p, RlweObjectKind.PublicKeyShare, new byte[4], poly), RlweObjectKind.PublicKeyShare, 4, sum);
        for (int i = 0; i < p.Primes.Count; i++)
            for (int j = 0; j < p.N; j++)
                Assert.That(sum.Limb(i)[j], Is.EqualTo((before[i * p.N + j] + p.Primes[i] - 1) % p.Primes[i]));
    }

    [Test]
    public void Ciphertext_And_PublicKey_RoundTrip()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("codec/roundtrip");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        PublicKey pk = bfv.GeneratePublicKey(sk, rng);
        byte[] pkBytes = BfvSerializer.Serialize(pk);
        Assert.That(BfvSerializer.Serialize(BfvSerializer.DeserializePublicKey(Fast, pkBytes)), Is.EqualTo(pkBytes));
        Ciphertext ct = bfv.Encrypt(pk, [1, 2, 3], rng);
        byte[] ctBytes = BfvSerializer.Serialize(ct);
        Assert.That(ctBytes, Has.Length.EqualTo(RlweCodec.Size(Fast, 0, 2)));
        Assert.That(ctBytes, Has.Length.EqualTo(RlweCodec.HeaderSize + 2 * 3 * 256 * 60 / 8 + RlweCodec.DigestSize));
        Assert.That(BfvSerializer.Serialize(BfvSerializer.DeserializeCiphertext(Fast, ctBytes)), Is.EqualTo(ctBytes));
    }

    [Test]
    public void FlippingAnyHeaderBit_OrASampleOfBodyBits_IsATypedRefusal()
    {
        var bfv = new Bfv(Fast);
        using var rng = TestRandom.Create("codec/flip");
        using SecretKey sk = bfv.GenerateSecretKey(rng);
        byte[] bytes = BfvSerializer.Serialize(bfv.Encrypt(sk, [5, 6], rng));
        var positions = Enumerable.Range(0, RlweCodec.HeaderSize * 8)
            .Concat(Enumerable.Range(0, 200).Select(k => RlweCodec.HeaderSize * 8 + k * 61 % ((bytes.Length - RlweCodec.HeaderSize) * 8)))
            .Concat(Enumerable.Range((bytes.Length - RlweCodec.DigestSize) * 8, RlweCodec.DigestSize * 8));
        foreach (int bit in positions)
        {
            byte[] tampered = (byte[])bytes.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            var ex = Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, tampered), $"bit {bit}");
            Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.Malformed, ViolationReason.Inconsistent, ViolationReason.Oversized, ViolationReason.OutOfRange), $"bit {bit}");
        }
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, bytes.AsSpan(0, bytes.Length - 1)))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(Fast, [.. bytes, 0]))!.Reason, Is.EqualTo(ViolationReason.Oversized));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(InsecureTestParameters.N1024, bytes))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
    }

    [Test]
    public void ResidueNotBelowItsPrime_IsOutOfRange_EvenWithAValidDigest()
    {
        var p = Fast;
        var poly = p.Basis.Allocate();
        poly.Limb(1)[17] = p.Primes[1]; // exactly q: out of range
        byte[] bytes = RlweCodec.Write(p, RlweObjectKind.Ciphertext, default, poly, p.Basis.Allocate());
        var ex = Assert.Throws<ProtocolViolationException>(() => BfvSerializer.DeserializeCiphertext(p, bytes));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        poly.Limb(1)[17] = p.Primes[1] - 1;
        bytes = RlweCodec.Write(p, RlweObjectKind.Ciphertext, default, poly, p.Basis.Allocate());
        Assert.DoesNotThrow(() => BfvSerializer.DeserializeCiphertext(p, bytes));
    }
    private static void RecomputeDigest(byte[] b)
    {
        int body = b.Length - RlweCodec.DigestSize;
        SHA256.HashData(b.AsSpan(0, body)).AsSpan(0, RlweCodec.DigestSize).CopyTo(b.AsSpan(body));
    }

    /// <summary>Runs a parse and returns its typed refusal (null if it parsed) and the bytes it allocated on this thread.</summary>
    private static (ProtocolViolationException? Refusal, long Allocated) Refusal(Action parse)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { parse(); }
        catch (ProtocolViolationException e) { return (e, GC.GetAllocatedBytesForCurrentThread() - before); }
        return (null, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Test]
    public void ACountWhoseSizeWraps32Bits_IsMalformed_WithoutACountDrivenAllocation()
    {
        // On the default set a polynomial packs to 184,320 bytes, so 23,302 polynomials are 4,295,024,640 payload bytes:
        // 57,344 mod 2^32. A 104,052-byte object (56 + 46,636 context + 57,344 + 16) claiming them "fits" in 32-bit
        // arithmetic; a caller that takes the count and context length from the header (as the request parser of
        // SPEC.md 12.1 does) must still get a typed refusal before anything is sized by the count.
        RlweParameters p = ParameterSets.Default;
        const int count = 23_302, context = 46_636;
        Assert.That(RlweCodec.PolyBytes(p), Is.EqualTo(184_320));
        uint wrapped = unchecked((uint)(count * RlweCodec.PolyBytes(p)));
        Assert.That(wrapped, Is.EqualTo(57_344u));
        byte[] genuine = RlweCodec.Write(p, RlweObjectKind.Ciphertext, new byte[context], p.Basis.Allocate());
        byte[] forged = new byte[RlweCodec.HeaderSize + context + wrapped + RlweCodec.DigestSize];
        Assert.That(forged, Has.Length.EqualTo(104_052));
        genuine.AsSpan(0, forged.Length - RlweCodec.DigestSize).CopyTo(forged);
        BinaryPrimitives.WriteUInt16LittleEndian(forged.AsSpan(46), count);
        BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(52), wrapped);
        RecomputeDigest(forged); // so the digest check cannot hide the size check

        var (refusal, allocated) = Refusal(() => RlweCodec.Read(p, forged, RlweObjectKind.Ciphertext, count, context, out _));
        Assert.That(refusal, Is.Not.Null, "the forged object parsed");
        Assert.That(refusal!.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(allocated, Is.LessThan(64 * 1024), "bytes allocated while refusing (one polynomial alone is 196,608)");
        Assert.That(Assert.Throws<ProtocolViolationException>(() =>
            RlweCodec.ReadAndAdd(p, forged, RlweObjectKind.Ciphertext, context, p.Basis.Allocate()))!.Reason, Is.EqualTo(ViolationReason.Malformed));
    }

    private static IEnumerable<TestCaseData> SizeFieldSets()
    {
        yield return new TestCaseData("n=256").SetName("Codec/SizeFields/n=256");
        yield return new TestCaseData("n=8192").SetName("Codec/SizeFields/n=8192");
    }

    /// <summary>
    /// The forgery a parser that sizes objects in 32-bit arithmetic would accept: the payload-length field and the total length
    /// set to the header's count times the bytes per polynomial and header + context + payload + digest, all wrapped mod 2^32,
    /// the genuine bytes kept as far as they fit and the digest recomputed. Null when that length is not a plausible buffer.
    /// </summary>
    private static byte[]? WrappedLengthForgery(byte[] mutant, int polyBytes)
    {
        int count = BinaryPrimitives.ReadUInt16LittleEndian(mutant.AsSpan(46));
        uint context = BinaryPrimitives.ReadUInt32LittleEndian(mutant.AsSpan(48));
        uint payload = unchecked((uint)(count * polyBytes));
        int length = unchecked(RlweCodec.HeaderSize + (int)context + (int)payload + RlweCodec.DigestSize);
        if (length < RlweCodec.HeaderSize + RlweCodec.DigestSize || length > 1 << 24) return null;
        byte[] forged = new byte[length];
        mutant.AsSpan(0, Math.Min(mutant.Length, length - RlweCodec.DigestSize)).CopyTo(forged);
        BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(52), payload);
        RecomputeDigest(forged);
        return forged;
    }

    /// <summary>True when the header's sizes, computed in 64 bits, describe exactly these bytes (a valid object for a caller
    /// that takes its count and context length from the header).</summary>
    private static bool TrulyConsistent(byte[] b, int polyBytes)
    {
        long payload = (long)BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(46)) * polyBytes;
        return BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(52)) == payload
            && RlweCodec.HeaderSize + (long)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(48)) + payload + RlweCodec.DigestSize == b.Length;
    }

    [TestCaseSource(nameof(SizeFieldSets))]
    public void EverySizeField_SetToAnExtreme_IsATypedRefusal_WithoutACountDrivenAllocation(string set)
    {
        RlweParameters p = set == "n=256" ? Fast : ParameterSets.Default;
        byte[] context = [1, 2, 3, 4, 5, 6, 7, 8];
        byte[] genuine = RlweCodec.Write(p, RlweObjectKind.Ciphertext, context, p.Basis.Allocate(), p.Basis.Allocate());
        Assert.DoesNotThrow(() => RlweCodec.Read(p, genuine, RlweObjectKind.Ciphertext, 2, context.Length, out _));
        var failures = new List<string>();
        int parsed = 0, forgeries = 0, accepted = 0;
        foreach (var (what, mutant) in Mutations.Fields(genuine, Mutations.RlweEnvelopeSizeFields))
        {
            RecomputeDigest(mutant);
            byte[]? forged = WrappedLengthForgery(mutant, RlweCodec.PolyBytes(p));
            foreach (var (form, bytes) in forged is null ? [("as is", mutant)] : new[] { ("as is", mutant), ("32-bit-consistent length", forged) })
            {
                if (form != "as is") forgeries++;
                // As the genuine caller (fixed expectations) and as a caller that trusts the header's count and context length.
                int headerCount = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(46));
                int headerContext = unchecked((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(48)));
                foreach (var (caller, polys, ctx) in new[] { ("fixed", 2, context.Length), ("from header", headerCount, headerContext) })
                {
                    parsed++;
                    string label = $"{what}, {form}, {caller} expectations";
                    try
                    {
                        var (refusal, allocated) = Refusal(() => RlweCodec.Read(p, bytes, RlweObjectKind.Ciphertext, polys, ctx, out _));
                        bool valid = polys == headerCount && ctx == headerContext && TrulyConsistent(bytes, RlweCodec.PolyBytes(p));
                        if (refusal is null && !valid) failures.Add($"{label}: parsed");
                        else if (refusal is null) accepted++;
                        else if (refusal.Reason is not (ViolationReason.Malformed or ViolationReason.Oversized)) failures.Add($"{label}: {refusal.Reason}");
                        else if (allocated > 64 * 1024) failures.Add($"{label}: {allocated} bytes allocated while refusing");
                    }
                    catch (Exception e) { failures.Add($"{label}: {e.GetType().Name}: {e.Message}"); }
                }
            }
        }
        Assert.That(parsed, Is.GreaterThan(100));
        Assert.That(forgeries, Is.GreaterThan(10));
        Assert.That(failures, Is.Empty);
        Assert.That(accepted, Is.LessThan(parsed / 4), "only objects whose 64-bit sizes agree may parse");
    }

    [Test]
    public void Size_RefusesCountsTheHeaderCannotHold_AndSizesBeyondAnArray()
    {
        Assert.That(RlweCodec.Size(Fast, 0, ushort.MaxValue), Is.EqualTo(56 + 65_535L * 5_760 + 16));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => RlweCodec.Size(Fast, 0, ushort.MaxValue + 1))!.ParamName, Is.EqualTo("polys"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => RlweCodec.Size(Fast, -1, 1))!.ParamName, Is.EqualTo("contextLength"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => RlweCodec.Size(ParameterSets.Default, 0, 23_302))!.ParamName, Is.EqualTo("polys"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => RlweCodec.Size(Fast, int.MaxValue, 1))!.ParamName, Is.EqualTo("contextLength"));
    }
}
