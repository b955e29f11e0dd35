// Delivery with the answer (SPEC.md 14.5): a RoundRequest or Submit that sets deliver_after is answered with the caller's
// committed mailbox items after it. The request that opens a round, or completes a stage, finds the items that completion
// produced in its own answer (no Receive needed); a request without the field gets no items; the items are the ones
// Receive returns for the same sequence, byte for byte; a homomorphic round run on delivered items alone gives the exact sum.
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class DeliveryWithAnswerTests
{
    [Test]
    public async Task LastRequestAndLastUploadOfAStage_CarryTheNextItems_WhichEqualReceive_AndTheRoundOpensExactly()
    {
        const int banks = 3;
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: banks);
        await kit.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bound.Token;
        RawBank[] raw = Enumerable.Range(0, banks).Select(b => kit.Raw(b)).ToArray();
        try
        {
            await Task.WhenAll(raw.Select(r => r.SetupAsync(ct)));
            ulong[][] vectors = [[1, 2, 3], [10, 20, 30], [100, 200, 300]];

            // Banks 1 and 2 ask without deliver_after: no items. Bank 0's request, which opens the round, carries its round start.
            foreach (RawBank r in raw.Skip(1))
                Assert.That((await r.Grpc.RequestRoundAsync(new RoundRequest { Length = 3 }, cancellationToken: ct)).Items, Is.Empty);
            RoundRequestReply opened = await raw[0].Grpc.RequestRoundAsync(new RoundRequest { Length = 3, DeliverAfter = raw[0].After }, cancellationToken: ct);
            Assert.That(opened.Items, Has.Count.EqualTo(1), "the request that opened the round carries the round start");
            Assert.That(HeWire.DecodeToBank(opened.Items[0].Message.Span, banks), Is.TypeOf<HeRoundStartMessage>());
            await AssertSameAsReceive(raw[0], opened.Items, ct);
            ulong round = opened.Round;

            // Uploads: banks 1 and 2 read their round start by Receive and upload without deliver_after (no items); bank 0's
            // upload completes the stage and its answer carries bank 0's next item (its decryption request).
            for (int b = 1; b < banks; b++)
            {
                raw[b].He!.Submit(round, vectors[b]);
                MailboxItem start = await raw[b].NextAsync(ct);
                foreach (byte[] upload in raw[b].He!.Receive(start.Message.Span))
                    Assert.That((await raw[b].SubmitAsync(upload)).Items, Is.Empty);
            }
            raw[0].He!.Submit(round, vectors[0]);
            raw[0].Read(opened.Items[0]);
            IReadOnlyList<byte[]> uploads = raw[0].He!.Receive(opened.Items[0].Message.Span);
            Assert.That(uploads, Has.Count.EqualTo(1));
            SubmitReply last = await raw[0].Grpc.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(uploads[0]), DeliverAfter = raw[0].After }, cancellationToken: ct);
            Assert.That(last.Items, Is.Not.Empty, "the upload that completed the stage carries bank 0's next item");
            await AssertSameAsReceive(raw[0], last.Items, ct);

            // A resend of the same bytes gets the same sequence and, asked after the same sequence, the same items.
            SubmitReply resent = await raw[0].Grpc.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(uploads[0]), DeliverAfter = raw[0].After }, cancellationToken: ct);
            Assert.That(resent.Resend, Is.True);
            Assert.That(resent.Sequence, Is.EqualTo(last.Sequence));
            Assert.That(resent.Items.Select(i => i.ToByteArray()), Is.EqualTo(last.Items.Select(i => i.ToByteArray())));

            // The rest of the round: every bank answers what it gets, bank 0 from delivered items first; the sum is exact.
            var queue = new Queue<MailboxItem>(last.Items);
            var running = new List<Task<ulong[]>>();
            for (int b = 0; b < banks; b++)
            {
                RawBank r = raw[b];
                Queue<MailboxItem>? delivered = b == 0 ? queue : null;
                running.Add(Task.Run(async () =>
                {
                    while (true)
                    {
                        if (r.He!.TryGetResult(round, out ulong[] sum, out _)) return sum;
                        MailboxItem item;
                        if (delivered is { Count: > 0 }) { item = delivered.Dequeue(); r.Read(item); }
                        else item = await r.NextAsync(ct);
                        foreach (byte[] reply in r.He.Receive(item.Message.Span))
                        {
                            SubmitReply answer = await r.Grpc.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(reply), DeliverAfter = r.After }, cancellationToken: ct);
                            if (delivered is not null) foreach (MailboxItem i in answer.Items) delivered.Enqueue(i);
                        }
                    }
                }, ct));
            }
            foreach (ulong[] sum in await Task.WhenAll(running)) Assert.That(sum, Is.EqualTo(new ulong[] { 111, 222, 333 }));
        }
        finally
        {
            foreach (RawBank r in raw) r.Dispose();
        }
    }

    /// <summary>The delivered items are exactly what Receive returns after the same sequence (without waiting).</summary>
    private static async Task AssertSameAsReceive(RawBank bank, IReadOnlyList<MailboxItem> delivered, CancellationToken ct)
    {
        ReceiveReply polled = await bank.Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = bank.After, WaitMilliseconds = 0 }, cancellationToken: ct);
        Assert.That(delivered.Select(i => i.ToByteArray()), Is.EqualTo(polled.Items.Select(i => i.ToByteArray())));
    }
}
