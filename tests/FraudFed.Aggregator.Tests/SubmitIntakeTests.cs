// The appliance's own SubmitRequest reader (Services/SubmitIntake.cs) must read every input exactly as the generated protobuf
// parser does: the same request for what protobuf accepts, an InvalidProtocolBufferException for what it refuses. Checked on
// every one-bit change and every truncation of small encodings, each also split into 3-byte segments (Kestrel hands the
// request over in segments), and on non-canonical encodings protobuf accepts; a length prefix longer than the request is refused
// before anything is allocated; the exact-length arrays are reused and their retained total is capped.
using System.Buffers;
using FraudFed.Aggregator.Services;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SubmitIntakeTests
{
    private static IEnumerable<(string Name, byte[] Bytes)> Encodings()
    {
        byte[] forty = Enumerable.Range(0, 40).Select(i => (byte)(i * 11 + 3)).ToArray();
        yield return ("message and deliver_after", new SubmitRequest { Message = ByteString.CopyFrom(forty), DeliverAfter = 300 }.ToByteArray());
        yield return ("message only", new SubmitRequest { Message = ByteString.CopyFrom([1, 2, 3, 4, 5]) }.ToByteArray());
        yield return ("deliver_after 0, empty message", new SubmitRequest { DeliverAfter = 0 }.ToByteArray());
        yield return ("deliver_after of 10 bytes", new SubmitRequest { Message = ByteString.CopyFrom([9]), DeliverAfter = ulong.MaxValue }.ToByteArray());
        yield return ("message, deliver_after and wait_milliseconds", new SubmitRequest { Message = ByteString.CopyFrom(forty), DeliverAfter = 300, WaitMilliseconds = 10_000 }.ToByteArray());
        yield return ("wait_milliseconds of 5 bytes", new SubmitRequest { Message = ByteString.CopyFrom([9]), DeliverAfter = 1, WaitMilliseconds = uint.MaxValue }.ToByteArray());
        // Encodings the SDK never sends but protobuf reads: they must read the same here.
        yield return ("field 2 first", [0x10, 0x05, 0x0A, 0x02, 0xAA, 0xBB]);
        yield return ("field 1 twice (the last one counts)", [0x0A, 0x01, 0x01, 0x0A, 0x02, 0x02, 0x03]);
        yield return ("field 2 twice", [0x0A, 0x01, 0x01, 0x10, 0x01, 0x10, 0x02]);
        yield return ("wait_milliseconds without deliver_after", [0x0A, 0x01, 0x01, 0x18, 0x07]);
        yield return ("wait_milliseconds before deliver_after", [0x0A, 0x01, 0x01, 0x18, 0x07, 0x10, 0x02]);
        yield return ("wait_milliseconds 0 written out", [0x0A, 0x01, 0x01, 0x10, 0x02, 0x18, 0x00]);
        yield return ("wait_milliseconds twice", [0x0A, 0x01, 0x01, 0x10, 0x02, 0x18, 0x07, 0x18, 0x08]);
        yield return ("wait_milliseconds above 32 bits", [0x0A, 0x01, 0x01, 0x10, 0x02, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        yield return ("wait_milliseconds of 6 bytes", [0x0A, 0x01, 0x01, 0x10, 0x02, 0x18, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00]);
        yield return ("unknown varint field", [0x0A, 0x01, 0x01, 0x10, 0x02, 0x18, 0x07, 0x20, 0x07]);
        yield return ("unknown group", [0x0A, 0x01, 0x01, 0x1B, 0x08, 0x01, 0x1C]);
        yield return ("non-minimal length", [0x0A, 0x82, 0x00, 0x01, 0x02]);
        yield return ("non-minimal tag", [0x8A, 0x00, 0x01, 0x07]);
        yield return ("non-minimal deliver_after", [0x0A, 0x00, 0x10, 0x81, 0x80, 0x00]);
        yield return ("message field as a varint", [0x08, 0x05]);
        yield return ("deliver_after as bytes", [0x0A, 0x00, 0x12, 0x01, 0x05]);
        yield return ("11-byte varint", [0x0A, 0x00, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        yield return ("6-byte length", [0x0A, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01]);
    }

    /// <summary>The protobuf parser's answer: the request, or null when it refuses the bytes.</summary>
    private static SubmitRequest? Protobuf(byte[] bytes)
    {
        try { return SubmitRequest.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException) { return null; }
    }

    [Test]
    public void EveryOneBitChangeAndTruncation_ReadsAsTheProtobufParserReadsIt()
    {
        var buffers = new IntakeBuffers(minimumBytes: 0);   // every message array comes from (and goes back to) the pool
        int checkedInputs = 0, accepted = 0;
        foreach (var (name, encoding) in Encodings())
        {
            foreach (byte[] input in WireMutations.Variants(encoding))
            {
                SubmitRequest? expected = Protobuf(input);
                foreach (ReadOnlySequence<byte> sequence in new[] { new ReadOnlySequence<byte>(input), WireMutations.Segmented(input, 3) })
                {
                    string what = $"{name}: {Convert.ToHexString(input)} in {(sequence.IsSingleSegment ? 1 : 3)}-byte segments";
                    if (expected is null)
                    {
                        Assert.That(() => SubmitRequestParser.Parse(sequence, buffers), Throws.InstanceOf<InvalidProtocolBufferException>(), what);
                        continue;
                    }
                    SubmitRequest actual = SubmitRequestParser.Parse(sequence, buffers);
                    Assert.That(actual, Is.EqualTo(expected), what);
                    Assert.That(actual.HasDeliverAfter, Is.EqualTo(expected.HasDeliverAfter), what);
                    Assert.That(actual.WaitMilliseconds, Is.EqualTo(expected.WaitMilliseconds), what);
                    Assert.That(actual.Message.ToByteArray(), Is.EqualTo(expected.Message.ToByteArray()), what);
                    accepted++;
                    // Handed back as the service does: the next request of this length reuses the array, stale bytes and all.
                    if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(actual.Message.Memory, out ArraySegment<byte> a)) buffers.Return(a.Array!);
                }
                checkedInputs++;
            }
        }
        Assert.That(checkedInputs, Is.GreaterThan(1000));
        Assert.That(accepted, Is.GreaterThan(100), "many variants are valid requests, not only refusals");
    }

    [Test]
    public void ALengthPrefixLongerThanTheRequest_IsRefusedBeforeAnythingIsAllocated()
    {
        var buffers = new IntakeBuffers(minimumBytes: 0);
        byte[] claimsOneGiB = [0x0A, 0x80, 0x80, 0x80, 0x80, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.That(() => SubmitRequestParser.Parse(new ReadOnlySequence<byte>(claimsOneGiB), buffers), Throws.InstanceOf<InvalidProtocolBufferException>());
        Assert.That(buffers.Allocations, Is.Zero);
        Assert.That(buffers.RetainedBytes, Is.Zero);
    }

    [Test]
    public void ALargeCanonicalRequest_IsReadIntoOneArrayOfItsExactLength_ReusedOnceHandedBack()
    {
        var buffers = new IntakeBuffers();
        byte[] payload = Enumerable.Range(0, (1 << 20) + 7).Select(i => (byte)(i * 31 + 1)).ToArray();
        byte[] encoded = new SubmitRequest { Message = ByteString.CopyFrom(payload), DeliverAfter = 12 }.ToByteArray();
        SubmitRequest first = SubmitRequestParser.Parse(WireMutations.Segmented(encoded, 4096), buffers);
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(first.Message.Memory, out ArraySegment<byte> array), Is.True);
        Assert.That(array.Offset, Is.Zero);
        Assert.That(array.Array, Has.Length.EqualTo(payload.Length), "the coordinator takes the array as the message");
        Assert.That(array.Array, Is.EqualTo(payload));
        buffers.Return(array.Array!);
        Assert.That(buffers.RetainedBytes, Is.EqualTo(payload.Length));

        byte[] other = payload.Select(b => (byte)~b).ToArray();
        SubmitRequest second = SubmitRequestParser.Parse(WireMutations.Segmented(new SubmitRequest { Message = ByteString.CopyFrom(other) }.ToByteArray(), 4096), buffers);
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(second.Message.Memory, out ArraySegment<byte> again);
        Assert.That(again.Array, Is.SameAs(array.Array), "the handed-back array is reused for a message of its length");
        Assert.That(again.Array, Is.EqualTo(other));
        Assert.That(second.HasDeliverAfter, Is.False);
        Assert.That(buffers.Allocations, Is.EqualTo(1));
        Assert.That(buffers.RetainedBytes, Is.Zero);
    }

    [Test]
    public void IntakeBuffers_KeepsAtMostItsRetainedTotal_AndNoSmallArrays()
    {
        var buffers = new IntakeBuffers(minimumBytes: 100, maximumRetainedBytes: 250);
        buffers.Return(new byte[99]);
        Assert.That(buffers.RetainedBytes, Is.Zero, "below the minimum: left to the GC");
        byte[] a = new byte[120], b = new byte[120], c = new byte[120];
        buffers.Return(a);
        buffers.Return(b);
        buffers.Return(c);
        Assert.That(buffers.RetainedBytes, Is.EqualTo(240), "the third would pass the cap");
        byte[] r1 = buffers.Rent(120), r2 = buffers.Rent(120), r3 = buffers.Rent(120);
        Assert.That(new[] { r1, r2 }, Is.EquivalentTo(new[] { a, b }).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance));
        Assert.That(r3, Is.Not.SameAs(a).And.Not.SameAs(b).And.Not.SameAs(c));
        Assert.That(r3, Has.Length.EqualTo(120));
        Assert.That(buffers.Rent(121), Has.Length.EqualTo(121), "another length: a new array");
        Assert.That(buffers.RetainedBytes, Is.Zero);
    }
}
