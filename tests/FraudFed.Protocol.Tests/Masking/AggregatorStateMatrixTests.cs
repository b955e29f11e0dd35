// Issue 8, "each state refuses every message kind that does not belong to it with a typed error and no state change", for
// the masking aggregator. A reference run of three banks (t = 2) records one genuine message of every kind bank 1 sends
// (AdvertiseKeys, GraphSeedReveal, ShareKeys, MaskedInput, ConsistencySignature, UnmaskResponse, and a BankAbort of the
// round); an identical run is then driven stage by stage and, in every aggregator state (AdvertiseKeys, GraphSeed, Ready,
// ShareKeys, MaskedInput, ConsistencyCheck, Unmasking, Completed), every kind that does not belong there is offered: each is
// WrongRoundOrState and the aggregator's State object is the same one afterwards. The round must still be exact.
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class MaskingAggregatorStateMatrixTests
{
    private const string Label = "masking/state-matrix";

    private static Dictionary<Type, byte[]> Reference()
    {
        using var d = new Driver(3, 2, Label);
        d.UpToRequests();
        var kinds = new Dictionary<Type, byte[]>
        {
            [typeof(GraphSeedReveal)] = d.Reveals[1],
            [typeof(ShareKeys)] = d.ShareKeys[1],
            [typeof(MaskedInput)] = d.Masked[1],
            [typeof(ConsistencySignature)] = d.Signatures[1],
            [typeof(UnmaskResponse)] = d.H.Banks[1].ReceiveUnmaskRequest(d.Requests[1]),
            [typeof(BankAbort)] = MaskingWire.Encode(new BankAbort(d.Parameters.SessionId.ToArray(), Driver.Round, ViolationReason.TooFewParticipants, "leaving")),
        };
        return kinds;
    }

    [Test]
    public void EveryAggregatorState_RefusesEveryBankMessageKindThatDoesNotBelongToIt_AndKeepsItsState()
    {
        Dictionary<Type, byte[]> kinds = Reference();
        using var d = new Driver(3, 2, Label);
        // AdvertiseKeys is the first thing a bank sends: take bank 1's from this run (the reference's is the same bytes).
        byte[][] adverts = d.H.Banks.Select(b => b.AdvertiseKeys()).ToArray();
        kinds[typeof(AdvertiseKeys)] = adverts[1];
        Assert.That(kinds.Keys.Select(k => MaskingWire.DecodeToAggregator(kinds[k]).GetType()), Is.EquivalentTo(kinds.Keys), "each recorded message is of its kind");

        var visited = new List<string>();
        int refusals = 0;
        void Offer(params Type[] belonging)
        {
            AggregatorState state = d.Agg.State;
            visited.Add(state.GetType().Name);
            foreach (var (kind, bytes) in kinds.Where(k => !belonging.Contains(k.Key)))
            {
                string what = $"{kind.Name} in {state.GetType().Name}";
                var ex = Assert.Throws<ProtocolViolationException>(() => d.Agg.Receive(bytes), what);
                Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), what);
                Assert.That(d.Agg.State, Is.SameAs(state), $"{what} changed the aggregator's state");
                refusals++;
            }
        }

        Offer(typeof(AdvertiseKeys));
        foreach (byte[] a in adverts) d.Agg.Receive(a);
        byte[] roster = d.Agg.CloseAdvertiseKeys();
        byte[][] reveals = d.H.Banks.Select(b => b.ReceiveRoster(roster)).ToArray();
        Assert.That(reveals[1], Is.EqualTo(kinds[typeof(GraphSeedReveal)]), "the replay is the reference run");
        Offer(typeof(GraphSeedReveal));
        foreach (byte[] r in reveals) d.Agg.Receive(r);
        byte[] seedRoster = d.Agg.CloseGraphSeed();
        foreach (MaskingBank b in d.H.Banks) b.ReceiveGraphSeed(seedRoster);
        Offer();   // Ready
        d.Agg.BeginRound(Driver.Round, Driver.Length);
        byte[][] shareKeys = d.H.Banks.Select(b => b.BeginRound(Driver.Round)).ToArray();
        Offer(typeof(ShareKeys), typeof(BankAbort));
        foreach (byte[] s in shareKeys) d.Agg.Receive(s);
        IReadOnlyDictionary<int, byte[]> deliveries = d.Agg.CloseShareKeys();
        byte[][] masked = deliveries.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveShares(x.Value, d.Inputs[x.Key])).ToArray();
        Offer(typeof(MaskedInput), typeof(BankAbort));
        foreach (byte[] m in masked) d.Agg.Receive(m);
        IReadOnlyDictionary<int, byte[]> lists = d.Agg.CloseMaskedInput();
        byte[][] signatures = lists.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveSurvivors(x.Value)).ToArray();
        Offer(typeof(ConsistencySignature), typeof(BankAbort));
        foreach (byte[] s in signatures) d.Agg.Receive(s);
        IReadOnlyDictionary<int, byte[]> requests = d.Agg.CloseConsistencyCheck();
        byte[][] responses = requests.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveUnmaskRequest(x.Value)).ToArray();
        Offer(typeof(UnmaskResponse), typeof(BankAbort));
        foreach (byte[] r in responses) d.Agg.Receive(r);
        ulong[] sum = d.Agg.Finish();
        Offer();   // after the round

        Assert.That(visited.Take(7), Is.EqualTo(new[]
        {
            nameof(AggregatorAdvertiseKeys), nameof(AggregatorGraphSeed), nameof(AggregatorReady), nameof(AggregatorShareKeys),
            nameof(AggregatorMaskedInput), nameof(AggregatorConsistencyCheck), nameof(AggregatorUnmasking),
        }));
        Assert.That(refusals, Is.EqualTo(6 + 6 + 7 + 4 * 5 + 7), "every (state, foreign kind) pair was offered");
        Assert.That(sum, Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2], Driver.Bits)), "the round is still exact");
    }
}
