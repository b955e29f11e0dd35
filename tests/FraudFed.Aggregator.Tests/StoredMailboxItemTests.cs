// Mailbox replies are built from the stored item bytes without parsing them (MailboxItem.StoredFields / FromStored): the bytes a
// bank receives must be exactly the encoding of the parsed item with its sequence, for every kind of item, and parse back to it.
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class StoredMailboxItemTests
{
    private static IEnumerable<MailboxItem> Items()
    {
        yield return new MailboxItem { Message = ByteString.CopyFrom(Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray()) };
        yield return new MailboxItem { RoundOpen = new RoundOpen { Round = 3, Length = 1000 } };
        var sum = new SumResult { Round = 9, SumLe = ByteString.CopyFrom(Enumerable.Range(0, 400_000).Select(i => (byte)(i * 13)).ToArray()) };
        sum.Contributors.AddRange([0u, 2u, 5u]);
        yield return new MailboxItem { SumResult = sum };
        yield return new MailboxItem { TrainingEnd = new TrainingEnd() };
    }

    [Test]
    public void ServedItem_IsByteForByteTheParsedItemWithItsSequence([Values(1UL, 300UL, ulong.MaxValue)] ulong sequence)
    {
        foreach (MailboxItem original in Items())
        {
            byte[] stored = original.ToByteArray();   // as the coordinator stores it: no sequence
            MailboxItem expected = original.Clone();
            expected.Sequence = sequence;

            MailboxItem served = MailboxItem.FromStored(sequence, MailboxItem.StoredFields(stored));
            var reply = new ReceiveReply();
            reply.Items.Add(served);
            reply.Items.Add(served);   // one stored set serves many readers
            var expectedReply = new ReceiveReply();
            expectedReply.Items.Add(expected);
            expectedReply.Items.Add(expected);

            Assert.That(reply.ToByteArray(), Is.EqualTo(expectedReply.ToByteArray()), original.ItemCase.ToString());
            ReceiveReply parsed = ReceiveReply.Parser.ParseFrom(reply.ToByteArray());
            Assert.That(parsed.Items[1], Is.EqualTo(expected), original.ItemCase.ToString());
        }
    }

    [Test]
    public void AStoredSequenceField_IsReplacedByTheReadersSequence()
    {
        byte[] stored = new MailboxItem { Sequence = 77, RoundOpen = new RoundOpen { Round = 1, Length = 5 } }.ToByteArray();
        MailboxItem parsed = MailboxItem.Parser.ParseFrom(MailboxItem.FromStored(4, MailboxItem.StoredFields(stored)).ToByteArray());
        Assert.That(parsed.Sequence, Is.EqualTo(4UL));
        Assert.That(parsed.RoundOpen.Length, Is.EqualTo(5U));
    }
}
