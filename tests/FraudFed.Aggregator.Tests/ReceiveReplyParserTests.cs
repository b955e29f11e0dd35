// The bank's own ReceiveReply reader (Sdk/Wire/ReceiveReplyParser.cs) must read every input exactly as the generated protobuf
// parser does: the same reply for what protobuf accepts, an InvalidProtocolBufferException for what it refuses. Checked on
// every one-bit change and every truncation of small encodings (a SumResult item as the appliance serves it, with other items
// around it), each also split into 3-byte segments (gRPC may hand the message over in segments), and on non-canonical encodings
// protobuf accepts; a rented sum_le array is handed back after use and serves the next result of its length. With an expected
// sum (SumBuffer.Expected) the sum is unpacked from the payload's segments: the values, or the refusal, are what UnpackSum gives
// for the sum_le of the protobuf parse, for every k's width, several sizes, segment boundaries inside values and varints, every
// one-bit change and truncation; the caller's array serves one item only.
using System.Buffers;
using FraudFed.Cryptography;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class ReceiveReplyParserTests
{
    /// <summary>A SumResult item as the appliance serves it: the stored item's fields after the reader's sequence.</summary>
    private static MailboxItem Served(ulong sequence, ulong round, uint[] contributors, byte[] sumLe)
    {
        var result = new SumResult { Round = round, SumLe = ByteString.CopyFrom(sumLe) };
        result.Contributors.AddRange(contributors);
        byte[] stored = new MailboxItem { SumResult = result }.ToByteArray();
        return MailboxItem.FromStored(sequence, MailboxItem.StoredFields(stored));
    }

    private static IEnumerable<(string Name, byte[] Bytes)> Encodings()
    {
        byte[] sum = Enumerable.Range(0, 12).Select(i => (byte)(i * 37 + 5)).ToArray();
        var one = new ReceiveReply();
        one.Items.Add(Served(7, 3, [0, 2, 300], sum));
        yield return ("one SumResult item", one.ToByteArray());
        var mixed = new ReceiveReply();
        mixed.Items.Add(new MailboxItem { Sequence = 5, Message = ByteString.CopyFrom([1, 2, 3]) });
        mixed.Items.Add(Served(6, 1UL << 40, [1], sum[..4]));
        mixed.Items.Add(new MailboxItem { Sequence = 8, RoundOpen = new RoundOpen { Round = 4, Length = 3 } });
        yield return ("a message, a SumResult and a RoundOpen", mixed.ToByteArray());
        var bare = new ReceiveReply();
        bare.Items.Add(Served(9, 2, [], sum[..8]));
        yield return ("no contributors", bare.ToByteArray());
        yield return ("empty reply", []);
        // Encodings the appliance never sends but protobuf reads: they must read the same here.
        yield return ("sum_le twice (the last one counts)", [0x0A, 0x0B, 0x08, 0x01, 0x22, 0x07, 0x22, 0x01, 0xAA, 0x22, 0x02, 0xBB, 0xCC]);
        yield return ("round after sum_le", [0x0A, 0x09, 0x08, 0x01, 0x22, 0x05, 0x22, 0x01, 0xAA, 0x08, 0x09]);
        yield return ("contributors unpacked", [0x0A, 0x0A, 0x08, 0x01, 0x22, 0x06, 0x10, 0x03, 0x22, 0x02, 0xAA, 0xBB]);
        yield return ("sum_result twice (merged)", [0x0A, 0x0C, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB, 0x22, 0x04, 0x08, 0x05, 0x22, 0x00]);
        yield return ("sequence after sum_result", [0x0A, 0x08, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB, 0x08, 0x02]);
        yield return ("explicit zero sequence", [0x0A, 0x08, 0x08, 0x00, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB]);
        yield return ("non-minimal sum_le length", [0x0A, 0x09, 0x08, 0x01, 0x22, 0x05, 0x22, 0x82, 0x00, 0xAA, 0xBB]);
        yield return ("unknown field in the SumResult", [0x0A, 0x0A, 0x08, 0x01, 0x22, 0x06, 0x22, 0x02, 0xAA, 0xBB, 0x28, 0x01]);
        yield return ("unknown field in the reply", [0x0A, 0x08, 0x08, 0x01, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB, 0x10, 0x01]);
        yield return ("10-byte round", [0x0A, 0x12, 0x08, 0x01, 0x22, 0x0E, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x22, 0x01, 0xAA]);
        yield return ("contributor above 2^32", [0x0A, 0x0E, 0x08, 0x01, 0x22, 0x0A, 0x12, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x22, 0x01, 0xAA]);
    }

    [Test]
    public void EveryOneBitChangeAndTruncation_ReadsAsTheProtobufParserReadsIt()
    {
        var buffer = new SumBuffer(minimumBytes: 0);   // every sum_le the fast path reads comes from the buffer
        (int checkedInputs, int accepted, int rented) = CheckAgainstProtobuf(Encodings(), ReceiveReply.Parser,
            sequence => ReceiveReplyParser.Parse(sequence, buffer), reply => reply.Items);
        Assert.That(checkedInputs, Is.GreaterThan(2000));
        Assert.That(accepted, Is.GreaterThan(100), "enough variants are valid replies");
        Assert.That(rented, Is.GreaterThan(50), "the fast path read the canonical SumResult items");
    }

    [Test]
    public void SumLeArray_IsRentedAgainAfterItWasHandedBack_AndSmallSumsAreNotRented()
    {
        byte[] sum = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        var reply = new ReceiveReply();
        reply.Items.Add(Served(3, 1, [0, 1, 2], sum));
        byte[] bytes = reply.ToByteArray();

        var buffer = new SumBuffer(minimumBytes: 64);
        SumResult first = ReceiveReplyParser.Parse(new ReadOnlySequence<byte>(bytes), buffer).Items[0].SumResult;
        Assert.That(first.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(buffer.Allocations, Is.EqualTo(1));
        first.ReturnSumLe();
        SumResult second = ReceiveReplyParser.Parse(new ReadOnlySequence<byte>(bytes), buffer).Items[0].SumResult;
        Assert.That(second.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(buffer.Allocations, Is.EqualTo(1), "the handed-back array served the second result");
        // Not handed back: the next result gets a new array, and the first one keeps its bytes.
        SumResult third = ReceiveReplyParser.Parse(new ReadOnlySequence<byte>(bytes), buffer).Items[0].SumResult;
        Assert.That(buffer.Allocations, Is.EqualTo(2));
        Assert.That(second.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(third.SumLe.ToByteArray(), Is.EqualTo(sum));

        var small = new SumBuffer(minimumBytes: 65);
        SumResult unrented = ReceiveReplyParser.Parse(new ReadOnlySequence<byte>(bytes), small).Items[0].SumResult;
        Assert.That(unrented.RentedFrom, Is.Null);
        Assert.That(unrented.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(small.Allocations, Is.Zero);
    }

    private static IEnumerable<(string Name, byte[] Bytes)> SubmitEncodings()
    {
        byte[] sum = Enumerable.Range(0, 12).Select(i => (byte)(i * 41 + 3)).ToArray();
        var last = new SubmitReply { Sequence = 12 };
        last.Items.Add(Served(7, 3, [0, 2, 300], sum));
        yield return ("the sum with the answer", last.ToByteArray());
        var mixed = new SubmitReply { Sequence = 1UL << 33, Resend = true };
        mixed.Items.Add(new MailboxItem { Sequence = 5, Message = ByteString.CopyFrom([1, 2, 3]) });
        mixed.Items.Add(Served(6, 2, [1], sum[..4]));
        yield return ("a resend, a message and a sum", mixed.ToByteArray());
        yield return ("no items", new SubmitReply { Sequence = 4 }.ToByteArray());
        yield return ("empty", []);
        // Encodings the appliance never sends but protobuf reads.
        yield return ("items before the sequence", [0x1A, 0x08, 0x08, 0x01, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB, 0x08, 0x05]);
        yield return ("resend 2", [0x08, 0x05, 0x10, 0x02]);
        yield return ("explicit false resend", [0x08, 0x05, 0x10, 0x00]);
        yield return ("explicit zero sequence", [0x08, 0x00, 0x1A, 0x08, 0x08, 0x01, 0x22, 0x04, 0x22, 0x02, 0xAA, 0xBB]);
        yield return ("sequence twice", [0x08, 0x05, 0x08, 0x06]);
    }

    [Test]
    public void Submit_EveryOneBitChangeAndTruncation_ReadsAsTheProtobufParserReadsIt()
    {
        var buffer = new SumBuffer(minimumBytes: 0);
        (int checkedInputs, int accepted, int rented) = CheckAgainstProtobuf(SubmitEncodings(), SubmitReply.Parser,
            sequence => ReceiveReplyParser.ParseSubmit(sequence, buffer), reply => reply.Items);
        Assert.That(checkedInputs, Is.GreaterThan(1000));
        Assert.That(accepted, Is.GreaterThan(100), "enough variants are valid replies");
        Assert.That(rented, Is.GreaterThan(50), "the fast path read the canonical SumResult items");
    }

    /// <summary>Every one-bit change and truncation of each encoding, whole and in 3-byte segments: <paramref name="parse"/> throws
    /// where <paramref name="parser"/> throws, else reads the same message (equal, and serializing to the same bytes); a rented
    /// sum_le goes back to its buffer. Returns the inputs checked, those protobuf accepted, and the sums read into rented arrays.</summary>
    private static (int Checked, int Accepted, int Rented) CheckAgainstProtobuf<T>(IEnumerable<(string Name, byte[] Bytes)> encodings,
        MessageParser<T> parser, Func<ReadOnlySequence<byte>, T> parse, Func<T, IEnumerable<MailboxItem>> items) where T : class, IMessage<T>
    {
        int checkedInputs = 0, accepted = 0, rented = 0;
        foreach (var (name, encoding) in encodings)
            foreach (byte[] input in WireMutations.Variants(encoding))
            {
                T? expected;
                try { expected = parser.ParseFrom(input); }
                catch (InvalidProtocolBufferException) { expected = null; }
                foreach (ReadOnlySequence<byte> sequence in new[] { new ReadOnlySequence<byte>(input), WireMutations.Segmented(input, 3) })
                {
                    string what = $"{name}: {Convert.ToHexString(input)} in {(sequence.IsSingleSegment ? "one segment" : "3-byte segments")}";
                    checkedInputs++;
                    if (expected is null)
                    {
                        Assert.Throws<InvalidProtocolBufferException>(() => parse(sequence), what);
                        continue;
                    }
                    accepted++;
                    T actual = parse(sequence);
                    Assert.That(actual, Is.EqualTo(expected), what);
                    Assert.That(actual.ToByteArray(), Is.EqualTo(expected.ToByteArray()), what);
                    foreach (MailboxItem item in items(actual))
                        if (item.ItemCase == MailboxItem.ItemOneofCase.SumResult && item.SumResult.RentedFrom is not null)
                        {
                            rented++;
                            item.SumResult.ReturnSumLe();
                            Assert.That(item.SumResult.SumLe.IsEmpty, what);
                        }
                }
            }
        return (checkedInputs, accepted, rented);
    }

    [Test]
    public void Submit_TheSumThatComesWithTheAnswer_IsReadIntoTheHandedBackArray()
    {
        byte[] sum = Enumerable.Range(0, 64).Select(i => (byte)(i + 1)).ToArray();
        var reply = new SubmitReply { Sequence = 9 };
        reply.Items.Add(Served(3, 1, [0, 1, 2], sum));
        byte[] bytes = reply.ToByteArray();
        var buffer = new SumBuffer(minimumBytes: 64);
        SumResult first = ReceiveReplyParser.ParseSubmit(new ReadOnlySequence<byte>(bytes), buffer).Items[0].SumResult;
        Assert.That(first.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(first.RentedFrom, Is.SameAs(buffer));
        first.ReturnSumLe();
        // The next sum, through Receive this time, takes the same array: one allocation in all.
        var receive = new ReceiveReply();
        receive.Items.Add(Served(4, 2, [0, 1, 2], sum));
        SumResult second = ReceiveReplyParser.Parse(new ReadOnlySequence<byte>(receive.ToByteArray()), buffer).Items[0].SumResult;
        Assert.That(second.SumLe.ToByteArray(), Is.EqualTo(sum));
        Assert.That(buffer.Allocations, Is.EqualTo(1));
    }

    /// <summary>Values below 2^<paramref name="k"/>, the top ones included.</summary>
    private static ulong[] Values(int length, int k, int seed)
    {
        var random = new Random(seed);
        ulong max = k == 64 ? ulong.MaxValue : (1UL << k) - 1;
        return Enumerable.Range(0, length).Select(i => i % 5 == 0 ? max - (ulong)(i % 3) & max : (ulong)random.NextInt64() & max).ToArray();
    }

    /// <summary>The reply in segments of the given sizes, cycled (a boundary lands inside values and inside varints).</summary>
    private static IEnumerable<(string Name, ReadOnlySequence<byte> Bytes)> Segmentations(byte[] bytes)
    {
        yield return ("one segment", new ReadOnlySequence<byte>(bytes));
        foreach (int size in new[] { 1, 2, 3, 5, 7, 4093 })
            yield return ($"{size}-byte segments", WireMutations.Segmented(bytes, size));
    }

    [Test]
    public void ExpectedSum_IsUnpackedFromThePayload_AsUnpackSumReadsTheProtobufParse([Values(1, 8, 20, 32, 44, 64)] int k,
        [Values(1, 3, 37, 1001, 20_000)] int length)
    {
        ulong[] values = Values(length, k, seed: k * 31 + length);
        var reply = new ReceiveReply();
        reply.Items.Add(new MailboxItem { Sequence = 4, Message = ByteString.CopyFrom([9, 8, 7]) });
        reply.Items.Add(Served(300, 5, [0, 2, 1000], SumResult.PackSum(values, k)));
        byte[] bytes = reply.ToByteArray();
        ReceiveReply expected = ReceiveReply.Parser.ParseFrom(bytes);
        foreach (var (name, sequence) in Segmentations(bytes))
            foreach (bool withArray in new[] { true, false })
            {
                string what = $"k = {k}, {length} values, {name}, {(withArray ? "the caller's array" : "no array")}";
                var into = new ulong[length];
                var buffer = new SumBuffer(minimumBytes: 0) { Expected = new SumExpectation(k, 5, length, withArray ? into : null) };
                ReceiveReply actual = ReceiveReplyParser.Parse(sequence, buffer);
                Assert.That(actual.Items[0], Is.EqualTo(expected.Items[0]), what);
                MailboxItem item = actual.Items[1];
                Assert.That((item.Sequence, item.SumResult.Round), Is.EqualTo((300UL, 5UL)), what);
                Assert.That(item.SumResult.Contributors, Is.EqualTo(new uint[] { 0, 2, 1000 }), what);
                Assert.That(item.SumResult.SumLe.IsEmpty && item.SumResult.RentedFrom is null, $"{what}: no byte array");
                UnpackedSum unpacked = item.SumResult.Unpacked!;
                Assert.That(unpacked.ItemBytes, Is.EqualTo(expected.Items[1].CalculateSize()), what);
                Assert.That(item.SumResult.SumLeLength, Is.EqualTo(expected.Items[1].SumResult.SumLe.Length), what);
                Assert.That(buffer.Allocations, Is.Zero, what);
                ulong[] sum = unpacked.Take(k, length, withArray ? into : null);
                Assert.That(sum, Is.EqualTo(SumResult.UnpackSum(expected.Items[1].SumResult.SumLe.Span, k, length)), what);
                Assert.That(sum, Is.EqualTo(values), what);
                Assert.That(sum, withArray ? Is.SameAs(into) : Is.Not.SameAs(into), what);
            }
    }

    [Test]
    public void ExpectedSum_EveryOneBitChangeAndTruncation_IsAcceptedOrRefusedAsUnpackSumDoes([Values(1, 20, 32, 44, 64)] int k)
    {
        // Parse: the same items as protobuf's parse (or its refusal); reading the sum: the same values, or the same refusal
        // (reason and text), as UnpackSum of the parsed sum_le, for the round's length and without it, with and without an array.
        const int length = 6;
        var reply = new ReceiveReply();
        reply.Items.Add(Served(7, 3, [1, 2], SumResult.PackSum(Values(length, k, seed: k), k)));
        reply.Items.Add(new MailboxItem { Sequence = 8, RoundOpen = new RoundOpen { Round = 4, Length = 3 } });
        int checkedInputs = 0, unpackedSums = 0, refusedSums = 0;
        foreach (byte[] input in WireMutations.Variants(reply.ToByteArray()))
        {
            ReceiveReply? expected;
            try { expected = ReceiveReply.Parser.ParseFrom(input); }
            catch (InvalidProtocolBufferException) { expected = null; }
            foreach (ReadOnlySequence<byte> sequence in new[] { new ReadOnlySequence<byte>(input), WireMutations.Segmented(input, 3) })
                foreach (bool withArray in new[] { true, false })
                {
                    string what = $"k = {k}: {Convert.ToHexString(input)} in {(sequence.IsSingleSegment ? "one segment" : "3-byte segments")}";
                    checkedInputs++;
                    var into = new ulong[length];
                    var buffer = new SumBuffer(minimumBytes: 0) { Expected = new SumExpectation(k, 3, length, withArray ? into : null) };
                    if (expected is null)
                    {
                        Assert.Throws<InvalidProtocolBufferException>(() => ReceiveReplyParser.Parse(sequence, buffer), what);
                        continue;
                    }
                    ReceiveReply actual = ReceiveReplyParser.Parse(sequence, buffer);
                    Assert.That(actual.Items, Has.Count.EqualTo(expected.Items.Count), what);
                    for (int i = 0; i < actual.Items.Count; i++)
                    {
                        MailboxItem a = actual.Items[i], e = expected.Items[i];
                        if (a.ItemCase != MailboxItem.ItemOneofCase.SumResult || a.SumResult.Unpacked is not { } unpacked)
                        {
                            Assert.That(a, Is.EqualTo(e), what);
                            continue;
                        }
                        unpackedSums++;
                        Assert.That((a.Sequence, a.ItemCase, a.SumResult.Round), Is.EqualTo((e.Sequence, e.ItemCase, e.SumResult.Round)), what);
                        Assert.That(a.SumResult.Contributors, Is.EqualTo(e.SumResult.Contributors), what);
                        Assert.That(unpacked.ItemBytes, Is.EqualTo(e.CalculateSize()), what);
                        foreach (int? known in new int?[] { length, null })
                        {
                            (ulong[]? plain, string? plainRefusal) = Outcome(() => SumResult.UnpackSum(e.SumResult.SumLe.Span, k, known));
                            (ulong[]? read, string? readRefusal) = Outcome(() => unpacked.Take(k, known, withArray ? into : null));
                            Assert.That(readRefusal, Is.EqualTo(plainRefusal), $"{what}, length {(known is null ? "unknown" : "known")}");
                            if (plainRefusal is not null) refusedSums++;
                            else Assert.That(read, Is.EqualTo(plain), what);
                        }
                    }
                }
        }
        Assert.That(checkedInputs, Is.GreaterThan(1000));
        Assert.That(unpackedSums, Is.GreaterThan(100), "the fast path unpacked the canonical sums");
        if (k % 8 != 0) Assert.That(refusedSums, Is.GreaterThan(10), "values at or above 2^k and cut values were refused");
    }

    private static (ulong[]? Values, string? Refusal) Outcome(Func<ulong[]> read)
    {
        try { return ((ulong[])read().Clone(), null); }
        catch (ProtocolViolationException e) { return (null, $"{e.Reason}: {e.Message}"); }
    }

    [Test]
    public void ExpectedSum_TheCallersArrayServesOneItem_AndOtherRoundsGetTheirOwn()
    {
        const int length = 300, k = 32;
        ulong[] first = Values(length, k, seed: 1), second = Values(length, k, seed: 2), other = Values(length, k, seed: 3);
        var reply = new ReceiveReply();
        reply.Items.Add(Served(10, 5, [0, 1], SumResult.PackSum(other, k)));    // an earlier round's sum, read again
        reply.Items.Add(Served(11, 6, [0, 1], SumResult.PackSum(first, k)));
        reply.Items.Add(Served(12, 6, [0, 1], SumResult.PackSum(second, k)));   // the same round twice: never in the appliance
        var into = new ulong[length];
        var buffer = new SumBuffer(minimumBytes: 0) { Expected = new SumExpectation(k, 6, length, into) };
        ReceiveReply parsed = ReceiveReplyParser.Parse(WireMutations.Segmented(reply.ToByteArray(), 4093), buffer);
        UnpackedSum earlier = parsed.Items[0].SumResult.Unpacked!, one = parsed.Items[1].SumResult.Unpacked!, two = parsed.Items[2].SumResult.Unpacked!;

        Assert.That(earlier.Take(k, null, null), Is.EqualTo(other).And.Not.SameAs(into), "another round: an array of its own");
        Assert.That(two.Take(k, length, null), Is.EqualTo(second).And.Not.SameAs(into), "the array went to the first item of the round");
        Assert.That(one.Take(k, length, into), Is.SameAs(into).And.EqualTo(first));
        // Read without the array it was unpacked into (a later call): a copy, so the caller's array is not handed out again.
        ulong[] again = one.Take(k, null, null);
        Assert.That(again, Is.EqualTo(first).And.Not.SameAs(into));
        // Read into another array of the right length: copied there.
        var later = new ulong[length];
        Assert.That(one.Take(k, length, later), Is.SameAs(later).And.EqualTo(first));
        Assert.Throws<InvalidOperationException>(() => one.Take(20, length, null), "k is the session's, never another");
        // The wrong round length is refused as UnpackSum refuses it.
        var e = Assert.Throws<ProtocolViolationException>(() => one.Take(k, length + 1, null))!;
        Assert.That(e.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(e.Message, Is.EqualTo(Assert.Throws<ProtocolViolationException>(() => SumResult.UnpackSum(SumResult.PackSum(first, k), k, length + 1))!.Message));
    }

    [Test]
    public void ExpectedSum_IsUnpackedFromTheSubmitAnswerToo()
    {
        const int length = 50, k = 44;
        ulong[] values = Values(length, k, seed: 5);
        var reply = new SubmitReply { Sequence = 9, Resend = true };
        reply.Items.Add(Served(3, 2, [0, 1, 2], SumResult.PackSum(values, k)));
        var into = new ulong[length];
        var buffer = new SumBuffer(minimumBytes: 0) { Expected = new SumExpectation(k, 2, length, into) };
        SubmitReply parsed = ReceiveReplyParser.ParseSubmit(WireMutations.Segmented(reply.ToByteArray(), 5), buffer);
        Assert.That((parsed.Sequence, parsed.Resend), Is.EqualTo((9UL, true)));
        Assert.That(parsed.Items[0].SumResult.Unpacked!.Take(k, length, into), Is.SameAs(into).And.EqualTo(values));
    }
}
