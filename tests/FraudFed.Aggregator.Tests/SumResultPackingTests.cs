// SumResult.sum_le (SPEC.md 14.5, "The masking sum"): the appliance's packing and the bank's unpacking of a round's sum.
// The sums are schoolbook sums of seeded bank vectors mod 2^k; the byte layout is checked against bytes written out by hand
// from the SPEC; truncated, overlong and out-of-range results are refused with the SPEC's reasons.
using FraudFed.Cryptography;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SumResultPackingTests
{
    /// <summary>The plaintext sum mod 2^k of <paramref name="banks"/> seeded vectors, added one by one.</summary>
    private static ulong[] PlainSum(int banks, int length, int k, int seed)
    {
        var random = new Random(seed);
        ulong mask = k == 64 ? ulong.MaxValue : (1UL << k) - 1;
        var sum = new ulong[length];
        for (int b = 0; b < banks; b++)
            for (int i = 0; i < length; i++)
            {
                ulong v = (ulong)random.NextInt64() ^ ((ulong)random.NextInt64() << 1);
                sum[i] = unchecked(sum[i] + (v & mask)) & mask;
            }
        sum[0] = mask;   // the largest value, 2^k - 1
        if (length > 1) sum[1] = 0;
        return sum;
    }

    [Test]
    public void Unpack_GivesThePlaintextSumBitForBit([Values(1, 7, 8, 20, 32, 44, 63, 64)] int k)
    {
        ulong[] expected = PlainSum(banks: 10, length: 1001, k, seed: k);
        byte[] packed = SumResult.PackSum(expected, k);
        Assert.That(packed, Has.Length.EqualTo(expected.Length * ((k + 7) / 8)), "length x ceil(k/8) bytes");
        // Through the message, as a bank receives it.
        var item = new MailboxItem { Sequence = 5, SumResult = new SumResult { Round = 3, SumLe = ByteString.CopyFrom(packed) } };
        SumResult received = MailboxItem.Parser.ParseFrom(item.ToByteArray()).SumResult;
        Assert.That(SumResult.UnpackSum(received.SumLe.Span, k, expected.Length), Is.EqualTo(expected));
        Assert.That(SumResult.UnpackSum(received.SumLe.Span, k, length: null), Is.EqualTo(expected), "length not known to the caller");
    }

    [Test]
    public void PackSumItem_IsTheSerializedItemOfThePackedSum([Values(1, 20, 32, 44, 64)] int k, [Values(1, 1001, 40_000)] int length,
        [Values(0, 1, 300)] int round, [Values(0, 1, 3)] int contributorSet)
    {
        // The appliance writes the sum straight into its mailbox item: byte for byte what the serializer makes of the SumResult
        // with the packed sum (round 0 and no contributors are omitted fields; 300 and bank 200 take two-byte varints; 40 000
        // values a three-byte length), and a bank reads the sum back from it.
        int[] contributors = contributorSet switch { 0 => [], 1 => [4], _ => [0, 2, 200, 1000] };
        ulong[] sum = PlainSum(banks: 3, length, k, seed: 31 * k + length);
        var result = new SumResult { Round = (ulong)round, SumLe = ByteString.CopyFrom(SumResult.PackSum(sum, k)) };
        result.Contributors.AddRange(contributors.Select(c => (uint)c));
        byte[] expected = new MailboxItem { SumResult = result }.ToByteArray();
        byte[] item = SumResult.PackSumItem((ulong)round, contributors, sum, k);
        Assert.That(item, Is.EqualTo(expected));
        Assert.That(SumResult.UnpackSum(MailboxItem.Parser.ParseFrom(item).SumResult.SumLe.Span, k, length), Is.EqualTo(sum));
    }

    [Test]
    public void PackSumItem_RefusesWhatPackSumRefuses()
    {
        Assert.Throws<ArgumentException>(() => SumResult.PackSumItem(1, [0], [], 32));
        Assert.Throws<ArgumentException>(() => SumResult.PackSumItem(1, [0], [1UL << 32], 32));
        Assert.Throws<ArgumentException>(() => SumResult.PackSumItem(1, [0], [0, 1UL << 20], 20));
    }

    [Test]
    public void PackAndUnpack_EqualTheByteByByteLayout_ForEveryKAndOddLengths()
    {
        // Against SPEC.md 14.5 written out one byte at a time, for every k and every length 1..70 (the vectorized k = 32 and k = 64
        // paths and the 64-bit loads of the other widths each have every tail length), and a long one.
        foreach (int k in Enumerable.Range(1, 64))
            foreach (int length in Enumerable.Range(1, 70).Append(1001))
            {
                ulong[] sum = PlainSum(banks: 3, length, k, seed: 1000 * k + length);
                int w = (k + 7) / 8;
                var expected = new byte[length * w];
                for (int i = 0; i < length; i++)
                    for (int j = 0; j < w; j++) expected[i * w + j] = (byte)(sum[i] >> (8 * j));
                Assert.That(SumResult.PackSum(sum, k), Is.EqualTo(expected), $"pack, k = {k}, length {length}");
                Assert.That(SumResult.UnpackSum(expected, k, length), Is.EqualTo(sum), $"unpack, k = {k}, length {length}");
            }
    }

    [Test]
    public void Pack_IsTheSpecLayout()
    {
        // k = 32: 4 little-endian bytes per value (SPEC.md 14.5's example).
        Assert.That(SumResult.PackSum([0, 1, 0xFFFF_FFFF], 32), Is.EqualTo(Convert.FromHexString("00000000" + "01000000" + "FFFFFFFF")));
        // k = 20: 3 bytes per value, low byte first.
        Assert.That(SumResult.PackSum([0x12345, 0xFFFFF, 2], 20), Is.EqualTo(Convert.FromHexString("452301" + "FFFF0F" + "020000")));
        // k = 64: 8 bytes per value.
        Assert.That(SumResult.PackSum([0x0102030405060708, ulong.MaxValue], 64), Is.EqualTo(Convert.FromHexString("0807060504030201" + "FFFFFFFFFFFFFFFF")));
        // k = 44 (the homomorphic t's width, any k works): 6 bytes per value.
        Assert.That(SumResult.PackSum([0xABC_DEF0_1234], 44), Is.EqualTo(Convert.FromHexString("3412F0DEBC0A")));
        Assert.That(SumResult.UnpackSum(Convert.FromHexString("452301" + "FFFF0F" + "020000"), 20, 3), Is.EqualTo(new ulong[] { 0x12345, 0xFFFFF, 2 }));
    }

    [TestCase(32, -1, TestName = "Truncated/k=32/one byte short")]
    [TestCase(32, -4, TestName = "Truncated/k=32/one value short")]
    [TestCase(20, -3, TestName = "Truncated/k=20/one value short")]
    [TestCase(32, +1, TestName = "Overlong/k=32/one byte more")]
    [TestCase(32, +4, TestName = "Overlong/k=32/one value more")]
    [TestCase(64, +8, TestName = "Overlong/k=64/one value more")]
    public void Unpack_RefusesAResultOfAnotherLength(int k, int delta)
    {
        byte[] packed = SumResult.PackSum(PlainSum(3, 100, k, seed: 1), k);
        byte[] wrong = new byte[packed.Length + delta];
        packed.AsSpan(0, Math.Min(packed.Length, wrong.Length)).CopyTo(wrong);
        var e = Assert.Throws<ProtocolViolationException>(() => SumResult.UnpackSum(wrong, k, 100));
        Assert.That(e!.Reason, Is.EqualTo(ViolationReason.Malformed));
        if (delta % ((k + 7) / 8) != 0)
            Assert.That(Assert.Throws<ProtocolViolationException>(() => SumResult.UnpackSum(wrong, k, length: null))!.Reason,
                Is.EqualTo(ViolationReason.Malformed), "not a whole number of values, length unknown");
    }

    [Test]
    public void Unpack_RefusesAnEmptyResult() =>
        Assert.That(Assert.Throws<ProtocolViolationException>(() => SumResult.UnpackSum([], 32, length: null))!.Reason, Is.EqualTo(ViolationReason.Malformed));

    [TestCase(20, 2, TestName = "OutOfRange/k=20/2^20 in the last value")]
    [TestCase(63, 0, TestName = "OutOfRange/k=63/2^63 in the first value")]
    [TestCase(1, 5, TestName = "OutOfRange/k=1/2 in a middle value")]
    public void Unpack_RefusesAValueNotBelow2PowK(int k, int index)
    {
        int width = (k + 7) / 8;
        byte[] packed = SumResult.PackSum(PlainSum(3, index + 4, k, seed: 2), k);
        // Set bit k of the value (the lowest bit that makes it at least 2^k): one bit flipped in the top byte.
        packed[index * width + k / 8] |= (byte)(1 << (k % 8));
        var e = Assert.Throws<ProtocolViolationException>(() => SumResult.UnpackSum(packed, k, packed.Length / width));
        Assert.That(e!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        Assert.That(e.Message, Does.Contain($"index {index}"));
    }

    /// <summary>The SumResult of <paramref name="packed"/> as the bank's transport reads it: the bytes kept in <c>sum_le</c>
    /// (the protobuf parser's path), or unpacked from the payload while the reply was parsed (ReceiveReplyParser's).</summary>
    private static SumResult Received(byte[] packed, int k, bool unpackedAtParse) => unpackedAtParse
        ? new SumResult { Round = 3, Contributors = { 0, 2 }, Unpacked = UnpackedSum.Read(new System.Buffers.ReadOnlySequence<byte>(packed), k, null, 0) }
        : new SumResult { Round = 3, Contributors = { 0, 2 }, SumLe = ByteString.CopyFrom(packed) };

    /// <summary>The appliance path's outcome (ApplianceBankTransport.Outcome) is marked as range-checked for k, the mark that lets
    /// the masking client skip its own scan, only because the lane unpacking refused any value not below 2^k: a good sum comes
    /// marked, bit for bit.</summary>
    [Test]
    public void ApplianceOutcome_OfAGoodSum_IsMarkedCheckedForK([Values(1, 20, 32, 44, 64)] int k, [Values] bool unpackedAtParse)
    {
        ulong[] expected = PlainSum(banks: 3, length: 9, k, seed: k);
        FraudFed.Protocol.Coordination.SumOutcomeNotice o = FraudFed.Sdk.ApplianceBankTransport.Outcome(Received(SumResult.PackSum(expected, k), k, unpackedAtParse), k, 9, null);
        Assert.That(o.Sum, Is.EqualTo(expected));
        Assert.That(o.Contributors, Is.EqualTo(new[] { 0, 2 }));
        Assert.That(o.RangeCheckedBits, Is.EqualTo(k));
    }

    /// <summary>The lane-unpacked path still refuses a value not below 2^k, at the unpacking, with UnpackSum's OutOfRange: the
    /// client's skipped scan had nothing left to find.</summary>
    [TestCase(20, 2, false)]
    [TestCase(20, 2, true)]
    [TestCase(44, 0, true)]
    [TestCase(63, 5, true)]
    [TestCase(1, 4, false)]
    public void ApplianceOutcome_WithAValueNotBelow2PowK_IsRefusedAtTheUnpacking(int k, int index, bool unpackedAtParse)
    {
        int width = (k + 7) / 8;
        byte[] packed = SumResult.PackSum(PlainSum(3, 9, k, seed: 4), k);
        packed[index * width + k / 8] |= (byte)(1 << (k % 8));   // bit k: the value is now at least 2^k
        var e = Assert.Throws<ProtocolViolationException>(() => FraudFed.Sdk.ApplianceBankTransport.Outcome(Received(packed, k, unpackedAtParse), k, 9, null));
        Assert.That(e!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
        Assert.That(e.Message, Does.Contain($"the masking sum's value at index {index} is not below 2^{k}"));
    }

    [Test]
    public void UnpackInto_IsThePlainUnpack_OnEveryOneBitChangeAndTruncation([Values(1, 20, 32, 44, 64)] int k)
    {
        // A bank's own result array (FederationClient.SumIntoAsync): the same values, or the same refusal, as the unpacking into a
        // new array, for the result as packed, every one-bit change of it and every truncation; the array is used only when its
        // length is the values' count.
        const int length = 37;
        byte[] packed = SumResult.PackSum(PlainSum(3, length, k, seed: 3), k);
        var variants = new List<byte[]> { packed };
        for (int bit = 0; bit < packed.Length * 8; bit++)
        {
            byte[] changed = (byte[])packed.Clone();
            changed[bit / 8] ^= (byte)(1 << (bit % 8));
            variants.Add(changed);
        }
        for (int cut = 0; cut < packed.Length; cut++) variants.Add(packed[..cut]);
        var into = new ulong[length];
        foreach (byte[] v in variants)
            foreach (int? known in new int?[] { length, null })
            {
                Array.Fill(into, 0xDEADUL);
                ulong[]? plain = null, reused = null;
                ViolationReason? plainRefusal = null, reusedRefusal = null;
                try { plain = SumResult.UnpackSum(v, k, known); } catch (ProtocolViolationException e) { plainRefusal = e.Reason; }
                try { reused = SumResult.UnpackSum(v, k, known, into); } catch (ProtocolViolationException e) { reusedRefusal = e.Reason; }
                Assert.That(reusedRefusal, Is.EqualTo(plainRefusal), $"k = {k}, {v.Length} bytes, length {(known is null ? "unknown" : "known")}");
                if (plain is null) continue;
                Assert.That(reused, Is.EqualTo(plain));
                Assert.That(reused, plain.Length == length ? Is.SameAs(into) : Is.Not.SameAs(into), "the caller's array, iff its length fits");
            }
    }

    [Test]
    public void Pack_RefusesAValueNotBelow2PowK() =>
        Assert.Throws<ArgumentException>(() => SumResult.PackSum([1, 1UL << 20], 20));
}
