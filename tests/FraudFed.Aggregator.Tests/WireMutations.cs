// Inputs for wire-reader tests that compare a hand-written reader with the protobuf parser: every one-bit change and every
// truncation of an encoding, and an encoding split into a multi-segment ReadOnlySequence (as a gRPC payload may arrive).
using System.Buffers;

namespace FraudFed.Aggregator.Tests;

internal static class WireMutations
{
    /// <summary><paramref name="encoding"/> itself, then each of its one-bit changes, then each proper prefix.</summary>
    public static IEnumerable<byte[]> Variants(byte[] encoding)
    {
        yield return encoding;
        for (int bit = 0; bit < encoding.Length * 8; bit++)
        {
            byte[] flipped = (byte[])encoding.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            yield return flipped;
        }
        for (int length = 0; length < encoding.Length; length++) yield return encoding[..length];
    }

    /// <summary><paramref name="bytes"/> as a sequence of segments of <paramref name="size"/> bytes (the last may be shorter).</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] bytes, int size)
    {
        if (bytes.Length <= size) return new ReadOnlySequence<byte>(bytes);
        var first = new Segment(bytes.AsMemory(0, size), 0);
        Segment last = first;
        for (int at = size; at < bytes.Length; at += size) last = last.Append(bytes.AsMemory(at, Math.Min(size, bytes.Length - at)));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
