// The 32-byte label that opens the context of every per-chunk RLWE object (SPEC.md 12: compact ciphertexts, public-key
// ciphertexts, decryption shares): session tag (16) | u64 round | u32 chunk | i32 sender (a bank, or -1 for an aggregate),
// little-endian. Written and read here only, so the layout lives in one place.
using System.Buffers.Binary;

namespace FraudFed.Cryptography.Threshold;

/// <summary>Reads and writes the (session, round, chunk, sender) label of per-chunk objects.</summary>
internal static class ChunkLabel
{
    /// <summary>Label size in bytes.</summary>
    public const int Size = CompactCiphertext.SessionTagSize + 8 + 4 + 4;

    private const int RoundOffset = CompactCiphertext.SessionTagSize, ChunkOffset = RoundOffset + 8, SenderOffset = ChunkOffset + 4;

    /// <summary>Writes the label into the first <see cref="Size"/> bytes of <paramref name="context"/>.</summary>
    public static void Write(Span<byte> context, ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, int sender)
    {
        if (sessionTag.Length != CompactCiphertext.SessionTagSize) throw Error.Argument(nameof(sessionTag), "A session tag is 16 bytes.");
        sessionTag.CopyTo(context);
        BinaryPrimitives.WriteUInt64LittleEndian(context[RoundOffset..], round);
        BinaryPrimitives.WriteUInt32LittleEndian(context[ChunkOffset..], chunk);
        BinaryPrimitives.WriteInt32LittleEndian(context[SenderOffset..], sender);
    }

    /// <summary>The session tag (a copy).</summary>
    public static byte[] SessionTag(ReadOnlySpan<byte> context) => context[..CompactCiphertext.SessionTagSize].ToArray();
    /// <summary>The round.</summary>
    public static ulong Round(ReadOnlySpan<byte> context) => BinaryPrimitives.ReadUInt64LittleEndian(context[RoundOffset..]);
    /// <summary>The chunk.</summary>
    public static uint Chunk(ReadOnlySpan<byte> context) => BinaryPrimitives.ReadUInt32LittleEndian(context[ChunkOffset..]);
    /// <summary>The sender.</summary>
    public static int Sender(ReadOnlySpan<byte> context) => BinaryPrimitives.ReadInt32LittleEndian(context[SenderOffset..]);

    /// <summary>Whether the label names (<paramref name="sessionTag"/>, <paramref name="round"/>, <paramref name="chunk"/>).</summary>
    public static bool Names(ReadOnlySpan<byte> context, ReadOnlySpan<byte> sessionTag, ulong round, uint chunk) =>
        context[..CompactCiphertext.SessionTagSize].SequenceEqual(sessionTag) && Round(context) == round && Chunk(context) == chunk;

    /// <summary>
    /// The combiners' check of one decryption share's context (label, then the 32-byte fingerprint of what it answers): for
    /// this (session, round, chunk) (WrongRoundOrState), answering <paramref name="fingerprint"/> (Inconsistent), from a bank
    /// of <paramref name="active"/> not seen before (UnknownSender).
    /// </summary>
    internal static void CheckShare(ReadOnlySpan<byte> context, ReadOnlySpan<byte> sessionTag, ulong round, uint chunk, ReadOnlySpan<byte> fingerprint,
        IReadOnlyList<int> active, HashSet<int> seen)
    {
        if (!Names(context, sessionTag, round, chunk)) throw Error.Violation(ViolationReason.WrongRoundOrState, "share for another ciphertext");
        if (!context.Slice(Size, 32).SequenceEqual(fingerprint))
            throw Error.Violation(ViolationReason.Inconsistent, "share answers another ciphertext, contributor or active set");
        int sender = Sender(context);
        if (!active.Contains(sender) || !seen.Add(sender))
            throw Error.Violation(ViolationReason.UnknownSender, "share from outside the active set or repeated");
    }
}
