// The appliance serves mailbox items it stored as serialized bytes. Parsing them back into messages only to serialize them
// again for every reader cost more CPU than anything else in a masking round (a SumResult is a million varints, re-encoded
// once per bank). Here an item's stored fields are kept as protobuf unknown fields, which serialize as a memory copy: a
// reply item is the sequence number plus those raw fields, byte for byte the encoding of the parsed item (SPEC.md 14.5).
using Google.Protobuf;

namespace FraudFed.Sdk.Wire;

public sealed partial class MailboxItem
{
    /// <summary>The fields of a stored, serialized item (every field but <c>sequence</c>, which is per reader), kept unparsed.
    /// One set serves every reader of the item; it is only read afterwards.</summary>
    /// <exception cref="InvalidProtocolBufferException"><paramref name="stored"/> is not a serialized item.</exception>
    internal static UnknownFieldSet? StoredFields(byte[] stored)
    {
        var input = new CodedInputStream(stored);
        UnknownFieldSet? fields = null;   // null: an item with no field set (nothing to copy)
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == SequenceFieldNumber) input.SkipLastField();
            else fields = UnknownFieldSet.MergeFieldFrom(fields, input);
        }
        return fields;
    }

    /// <summary>A reply item: <paramref name="sequence"/> and the raw fields of <see cref="StoredFields"/>. It serializes exactly
    /// as the parsed item with that sequence would; its typed properties (ItemCase ...) are empty on this side.</summary>
    internal static MailboxItem FromStored(ulong sequence, UnknownFieldSet? fields) => new() { Sequence = sequence, _unknownFields = fields };
}
