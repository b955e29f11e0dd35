// The bank's masked input for k <= 32 computed in 32-bit lanes straight into its packed bytes (ModVector.MaskAndPack32), and
// the vectorized narrowing it and Pack use: checked for every k against the 64-bit path (one AddPrg per job, Reduce) with a
// byte-by-byte packing written here from SPEC.md 9 ("Packed values"), at odd lengths and lengths that cross the keystream
// chunk, and against the plaintext sum of two banks whose pairwise masks cancel.
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class MaskAndPackTests
{
    private static readonly int[] Lengths = [1, 2, 3, 5, 7, 8, 9, 15, 17, 33, 1001, 8192, 20003];

    /// <summary>SPEC.md 9: each value as ceil(k/8) little-endian bytes, one byte at a time.</summary>
    private static byte[] SchoolbookPack(ulong[] values, int bits)
    {
        int w = (bits + 7) / 8;
        var packed = new byte[values.Length * w];
        for (int i = 0; i < values.Length; i++)
            for (int b = 0; b < w; b++) packed[i * w + b] = (byte)(values[i] >> (8 * b));
        return packed;
    }

    private static MaskJob[] Jobs(int count, int bits) =>
        [.. Enumerable.Range(0, count).Select(i => { var s = new byte[32]; s[0] = (byte)i; s[1] = (byte)bits; s[31] = 0xA5; return new MaskJob(s, Subtract: i % 2 == 1); })];

    private static ulong[] Input(int length, int bits, int seed)
    {
        var r = TestRandom.Plain(seed);
        ulong mask = ModVector.Mask(bits);
        var x = new ulong[length];
        for (int i = 0; i < length; i++) x[i] = (ulong)r.NextInt64() & mask;
        x[0] = mask;   // the largest value, 2^k - 1
        return x;
    }

    [Test]
    public void MaskAndPack32_EqualsTheSixtyFourBitPath_ForEveryK()
    {
        foreach (int bits in Enumerable.Range(1, 32))
            foreach (int length in Lengths)
            {
                ulong[] x = Input(length, bits, seed: bits * 100_000 + length);
                MaskJob[] jobs = Jobs(4, bits);
                // Reference: a ulong copy, one AddPrg per job, reduced, packed byte by byte.
                var acc = (ulong[])x.Clone();
                foreach (MaskJob j in jobs) ModVector.AddPrg(acc, j.Seed, bits, j.Subtract);
                ModVector.Reduce(acc, bits);
                byte[] expected = SchoolbookPack(acc, bits);

                var packed = new byte[length * ModVector.BytesPerValue(bits)];
                ModVector.MaskAndPack32(x, jobs, bits, packed);
                Assert.That(packed, Is.EqualTo(expected), $"k = {bits}, length {length}");
            }
    }

    [Test]
    public void MaskAndPack32_PairwiseMasksCancel_InThePlaintextSum([Values(1, 7, 8, 13, 16, 24, 25, 31, 32)] int bits, [Values(9, 20003)] int length)
    {
        ulong mask = ModVector.Mask(bits);
        ulong[] a = Input(length, bits, seed: 1), b = Input(length, bits, seed: 2);
        var pair = new byte[32]; pair[3] = 9;
        var selfA = new byte[32]; selfA[4] = 1;
        var selfB = new byte[32]; selfB[4] = 2;
        int w = ModVector.BytesPerValue(bits);
        var pa = new byte[length * w];
        var pb = new byte[length * w];
        ModVector.MaskAndPack32(a, [new MaskJob(selfA, false), new MaskJob(pair, false)], bits, pa);
        ModVector.MaskAndPack32(b, [new MaskJob(selfB, false), new MaskJob(pair, true)], bits, pb);
        Assert.That(pa, Is.Not.EqualTo(SchoolbookPack(a, bits)), "bank a's input is masked");
        // The aggregator's view: the packed inputs added, the two self masks removed.
        var sum = new ulong[length];
        ModVector.UnpackAdd(pa, bits, sum);
        ModVector.UnpackAdd(pb, bits, sum);
        ModVector.AddPrg(sum, selfA, bits, subtract: true);
        ModVector.AddPrg(sum, selfB, bits, subtract: true);
        ModVector.Reduce(sum, bits);
        for (int i = 0; i < length; i++)
            if (sum[i] != ((a[i] + b[i]) & mask)) Assert.Fail($"k = {bits}: value {i} is {sum[i]}, the plaintext sum is {(a[i] + b[i]) & mask}");
    }

    [Test]
    public void MaskAndPack32_RefusesWhatItCannotDo()
    {
        ulong[] x = [1, 2, 3];
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ModVector.MaskAndPack32(x, Jobs(1, 33), 33, new byte[15]))!.ParamName, Is.EqualTo("bits"));
        Assert.That(Assert.Throws<ArgumentException>(() => ModVector.MaskAndPack32(x, Jobs(1, 32), 32, new byte[11]))!.ParamName, Is.EqualTo("destination"));
        Assert.That(Assert.Throws<ArgumentException>(() => ModVector.MaskAndPack32(x, [new MaskJob(new byte[31], false)], 32, new byte[12]))!.ParamName, Is.EqualTo("jobs"));
    }

    [Test]
    public void NarrowAndPack_EqualTheScalarLoops([Values(1, 3, 4, 7, 8, 9, 16, 17, 1001)] int length)
    {
        var r = TestRandom.Plain(length);
        ulong[] wide = [.. Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() ^ ((ulong)r.NextInt64() << 1))];
        var narrow = new uint[length];
        ModVector.Narrow(wide, narrow);
        Assert.That(narrow, Is.EqualTo(wide.Select(v => (uint)v).ToArray()));
        // Pack at k = 32 is the narrowing written as bytes.
        ulong[] below = [.. narrow.Select(v => (ulong)v)];
        var packed = new byte[length * 4];
        ModVector.Pack(below, 32, packed);
        Assert.That(packed, Is.EqualTo(SchoolbookPack(below, 32)));
    }

    [Test]
    public void Widen_EqualsTheScalarLoop_AtEveryLengthUpTo70()
    {
        // Lengths 0..70 cross the vector width (8 lanes with AVX2) and leave every tail length; the values include 0 and 2^32 - 1.
        var r = TestRandom.Plain(70);
        foreach (int length in Enumerable.Range(0, 71))
        {
            uint[] narrow = [.. Enumerable.Range(0, length).Select(i => i % 5 == 0 ? uint.MaxValue : i % 7 == 0 ? 0u : (uint)r.NextInt64(1L << 32))];
            var wide = new ulong[length + 1];
            wide[length] = 0xDEAD_BEEF_0BAD_F00D;   // a value past the destination's span stays as it was
            ModVector.Widen(narrow, wide.AsSpan(0, length));
            var scalar = new ulong[length];
            for (int i = 0; i < length; i++) scalar[i] = narrow[i];
            Assert.That(wide[..length], Is.EqualTo(scalar), $"length {length}");
            Assert.That(wide[length], Is.EqualTo(0xDEAD_BEEF_0BAD_F00D), $"length {length}: written past the end");
            // Narrow undoes it.
            var back = new uint[length];
            ModVector.Narrow(wide.AsSpan(0, length), back);
            Assert.That(back, Is.EqualTo(narrow), $"length {length}: narrowed back");
        }
    }

    [Test]
    public void MaskedInputMessage_WrittenInPlace_IsTheSameMessageAsEncode([Values(1, 8, 20, 32, 44, 64)] int bits, [Values(1, 1001, 40_000)] int length)
    {
        // The bank's path (NewMessage, values written at the packed offset, SignMessage) against the record's Encode of the same
        // values: Ed25519 signing is deterministic, so the serialized messages are equal byte for byte; the decoded message has the
        // values. 40 000 values make a body whose length varint takes 3 bytes.
        using var key = FraudFed.Cryptography.Primitives.Ed25519SigningKey.Generate(TestRandom.Create($"mask-body/{bits}"));
        byte[] session = [.. Enumerable.Range(0, 16).Select(i => (byte)(i * 7 + 1))];
        ulong[] values = Input(length, bits, seed: bits);
        var packed = new byte[values.Length * ModVector.BytesPerValue(bits)];
        ModVector.Pack(values, bits, packed);
        byte[] expected = new MaskedInput(session, 9, 3, bits, values.Length, packed).Encode(key);

        byte[] actual = MaskedInput.NewMessage(session, 9, 3, bits, values.Length, reuse: null, out int at);
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        Assert.That(at + packed.Length + 2 + 64, Is.EqualTo(actual.Length), "the values end where the signature's field starts");
        ModVector.Pack(values, bits, actual.AsSpan(at, packed.Length));
        MaskedInput.SignMessage(actual, at, bits, values.Length, key);
        Assert.That(actual, Is.EqualTo(expected));
        MaskedInput decoded = MaskedInput.Decode(actual);
        Assert.That(decoded.Packed, Is.EqualTo(packed));
        Assert.That(decoded.VerifySignature(key.PublicKey), Is.True);

        // Into an array of the right size holding other bytes (the last round's message): that array, every byte rewritten.
        byte[] old = [.. Enumerable.Range(0, actual.Length).Select(i => (byte)(i * 31 + 5))];
        byte[] again = MaskedInput.NewMessage(session, 9, 3, bits, values.Length, old, out int at2);
        Assert.That(again, Is.SameAs(old));
        Assert.That(at2, Is.EqualTo(at));
        ModVector.Pack(values, bits, again.AsSpan(at2, packed.Length));
        MaskedInput.SignMessage(again, at2, bits, values.Length, key);
        Assert.That(again, Is.EqualTo(expected));
        // An array of another size is not used.
        Assert.That(MaskedInput.NewMessage(session, 9, 3, bits, values.Length, new byte[actual.Length + 1], out _), Has.Length.EqualTo(actual.Length));
    }
}
