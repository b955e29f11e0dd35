// Round after round a masking bank over a transport that releases what it sent (the appliance's Submit) writes its masked
// input into the array of the last one, and the aggregator sums into the last round's sum array once its caller hands it back:
// no fresh megabytes per round. The sums stay exact, the bytes each send carried are that round's own, and a transport that
// keeps what it is given (the in-memory one) gets a new array every round. Seeded randomness (tests only).
using System.Runtime.InteropServices;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Coordination;

[TestFixture]
public sealed class MaskedInputReuseTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(2);

    /// <summary>Copies each message before passing it on (as a network transport does: the peer gets its own bytes) and records
    /// both the caller's array and the bytes it held at the send; releases the caller's array once the send returned.</summary>
    private sealed class CopyingTransport(IBankTransport inner) : IReleasingBankTransport
    {
        public readonly List<(byte[] Array, byte[] Bytes)> Sent = [];
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            Assert.That(MemoryMarshal.TryGetArray(message, out ArraySegment<byte> segment), Is.True);
            byte[] copy = message.ToArray();
            Sent.Add((segment.Array!, copy));
            return inner.SendAsync(copy, cancellationToken);
        }
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => inner.ReceiveAsync(cancellationToken);
    }

    /// <summary>Records the caller's arrays and passes them on unchanged (the transport owns them: no release).</summary>
    private sealed class KeepingTransport(IBankTransport inner) : IBankTransport
    {
        public readonly List<byte[]> Sent = [];
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            Assert.That(MemoryMarshal.TryGetArray(message, out ArraySegment<byte> segment), Is.True);
            Sent.Add(segment.Array!);
            return inner.SendAsync(message, cancellationToken);
        }
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => inner.ReceiveAsync(cancellationToken);
    }

    private static ulong[] Values(int bank, uint round, int length) =>
        Enumerable.Range(0, length).Select(j => (ulong)(bank * 1000 + j + round * 100_000)).ToArray();

    private static async Task<ulong[]> RoundAsync(MaskingDeployment d, uint round, int length)
    {
        var ctx = new SumContext(round, length, d.Parameters.ModulusBits);
        Task<CoordinatorRoundResult> coordinator = d.Coordinator.RunRoundAsync(round, length);
        SecureSumClientResult[] results = await Task.WhenAll(d.Clients.Select((c, b) => c.SumAsync(Values(b, round, length), ctx))).WaitAsync(Guard);
        await coordinator.WaitAsync(Guard);
        ulong[] expected = Enumerable.Range(0, length).Select(j => Enumerable.Range(0, d.Banks.Length).Aggregate(0UL, (s, b) => s + Values(b, round, length)[j]) & 0xFFFF_FFFFUL).ToArray();
        foreach (SecureSumClientResult r in results) Assert.That(r.Sum, Is.EqualTo(expected), $"round {round}: the sum is exact");
        return ((AggregatorCompleted)d.Aggregator.State).Sum;
    }

    private static List<(byte[] Array, byte[] Bytes)> MaskedInputs(CopyingTransport t) =>
        t.Sent.Where(s => MaskingWire.DecodeToAggregator(s.Bytes) is MaskedInput).ToList();

    [Test]
    public async Task ReleasingTransport_TheNextRoundsMaskedInputIsWrittenIntoTheLastOnesArray_EachSendCarryingItsOwnRound()
    {
        using var d = new MaskingDeployment(3, null, "reuse/masked-input", TimeSpan.FromSeconds(30));
        var copying = new CopyingTransport(d.BankTransports[0]);
        var keeping = new KeepingTransport(d.BankTransports[1]);
        d.Clients[0] = new MaskingSecureSumClient(d.Banks[0], d.Parameters, copying);
        d.Clients[1] = new MaskingSecureSumClient(d.Banks[1], d.Parameters, keeping);
        await d.SetupAsync().WaitAsync(Guard);
        await RoundAsync(d, 1, 300);
        await RoundAsync(d, 2, 300);
        await RoundAsync(d, 3, 301);   // another length: a new array
        await RoundAsync(d, 4, 301);

        var masked = MaskedInputs(copying);
        Assert.That(masked, Has.Count.EqualTo(4));
        Assert.That(masked[1].Array, Is.SameAs(masked[0].Array), "round 2 reused round 1's array");
        Assert.That(masked[2].Array, Is.Not.SameAs(masked[1].Array), "round 3 has another length");
        Assert.That(masked[3].Array, Is.SameAs(masked[2].Array), "round 4 reused round 3's array");
        // What each send carried (the bytes a retry of that Submit would carry) is its own round's signed masked input.
        for (int k = 0; k < masked.Count; k++)
        {
            var m = (MaskedInput)MaskingWire.DecodeToAggregator(masked[k].Bytes);
            Assert.That(m.Round, Is.EqualTo((uint)(k + 1)));
            Assert.That(m.VerifySignature(d.Identity(0).PublicKey), Is.True, $"round {k + 1}: signed");
        }
        Assert.That(masked[3].Array, Is.EqualTo(masked[3].Bytes), "the array holds the last round's bytes");
        Assert.That(masked[1].Bytes, Is.Not.EqualTo(masked[0].Bytes));

        // A transport that owns what it is given: every masked input is an array of its own.
        var kept = keeping.Sent.Where(a => MaskingWire.DecodeToAggregator(a) is MaskedInput).ToList();
        Assert.That(kept, Has.Count.EqualTo(4));
        Assert.That(kept.Distinct(ReferenceEqualityComparer.Instance).Count(), Is.EqualTo(4));
        Assert.That(kept.Select(a => ((MaskedInput)MaskingWire.DecodeToAggregator(a)).Round), Is.EqualTo(new uint[] { 1, 2, 3, 4 }),
            "each kept array still holds its own round");
    }

    [Test]
    public async Task Aggregator_ARecycledSumIsTheNextRoundsRunningSum_ZeroedFirst_AndANewArrayForAnotherLength()
    {
        using var d = new MaskingDeployment(3, null, "reuse/running-sum", TimeSpan.FromSeconds(30));
        await d.SetupAsync().WaitAsync(Guard);
        ulong[] first = await RoundAsync(d, 1, 200);
        d.Aggregator.RecycleSum(first);
        ulong[] second = await RoundAsync(d, 2, 200);   // exact although the array held round 1's sum
        Assert.That(second, Is.SameAs(first));
        ulong[] third = await RoundAsync(d, 3, 200);    // not handed back: a new array
        Assert.That(third, Is.Not.SameAs(second));
        d.Aggregator.RecycleSum(third);
        ulong[] fourth = await RoundAsync(d, 4, 201);   // handed back, but of another length
        Assert.That(fourth, Is.Not.SameAs(third));
        Assert.That(fourth, Has.Length.EqualTo(201));
    }
}
