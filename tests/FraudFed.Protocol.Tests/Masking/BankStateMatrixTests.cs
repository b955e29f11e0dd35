// Issue 8, "each state refuses every message kind that does not belong to it with a typed error and no state change", for
// the masking bank. A reference run of three banks (t = 2) records one genuine message of every kind the aggregator sends
// bank 1 (KeyRoster, GraphSeedRoster, ShareDelivery, SurvivorList, UnmaskRequest, and the RoundAbort of the round); an
// identical run is then driven stage by stage and, in every bank state (AdvertiseKeys before and after advertising,
// GraphSeed, Ready, ShareKeys, MaskedInput, ConsistencyCheck, Completed, Ready with the round spent, Aborted), every kind
// that does not belong there is offered, first through the kind's own entry point (as MaskingSecureSumClient dispatches
// it: WrongRoundOrState), then through every other entry point (Malformed or WrongRoundOrState). After each refusal the
// bank's State object, stage, round and ExportState bytes are as they were; the round must still be exact.
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class MaskingBankStateMatrixTests
{
    private const string Label = "masking/bank-state-matrix";
    private const int Me = 1;

    /// <summary>The bank's entry points, one per aggregator message kind.</summary>
    private static readonly Type[] Kinds = [typeof(KeyRoster), typeof(GraphSeedRoster), typeof(ShareDelivery), typeof(SurvivorList), typeof(UnmaskRequest), typeof(RoundAbort)];

    private static void EnterAs(Type entry, MaskingBank bank, byte[] bytes, ulong[] input)
    {
        if (entry == typeof(KeyRoster)) bank.ReceiveRoster(bytes);
        else if (entry == typeof(GraphSeedRoster)) bank.ReceiveGraphSeed(bytes);
        else if (entry == typeof(ShareDelivery)) bank.ReceiveShares(bytes, input);
        else if (entry == typeof(SurvivorList)) bank.ReceiveSurvivors(bytes);
        else if (entry == typeof(UnmaskRequest)) bank.ReceiveUnmaskRequest(bytes);
        else if (entry == typeof(RoundAbort)) bank.ReceiveRoundAbort(bytes);
        else throw new ArgumentException("not an entry point", nameof(entry));
    }

    /// <summary>Genuine bytes of every aggregator-to-bank kind addressed to bank <see cref="Me"/>, from a run identical to the replay.</summary>
    private static Dictionary<Type, byte[]> Reference()
    {
        using var d = new Driver(3, 2, Label);
        d.UpToRequests();
        var kinds = new Dictionary<Type, byte[]>
        {
            [typeof(KeyRoster)] = d.Roster,
            [typeof(GraphSeedRoster)] = d.SeedRoster,
            [typeof(ShareDelivery)] = d.Deliveries[Me],
            [typeof(SurvivorList)] = d.Lists[Me],
            [typeof(UnmaskRequest)] = d.Requests[Me],
            [typeof(RoundAbort)] = d.Agg.AbandonRound(),   // the aggregator's notice that round 1 ended without a sum
        };
        return kinds;
    }

    [Test]
    public void EveryBankState_RefusesEveryAggregatorMessageKindThatDoesNotBelongToIt_AndKeepsItsState()
    {
        Dictionary<Type, byte[]> kinds = Reference();
        Assert.That(kinds.Keys.Select(k => MaskingWire.DecodeToBank(kinds[k]).GetType()), Is.EquivalentTo(Kinds), "each recorded message is of its kind");
        Assert.That(MaskingWire.DecodeToBank<RoundAbort>(kinds[typeof(RoundAbort)]).Round, Is.EqualTo(Driver.Round));

        using var d = new Driver(3, 2, Label);
        MaskingBank bank = d.H.Banks[Me];
        ulong[] input = d.Inputs[Me];
        var visited = new List<string>();
        int ownEntryRefusals = 0, otherEntryRefusals = 0;

        void Offer(params Type[] belonging)
        {
            BankState state = bank.State;
            byte[] exported = bank.ExportState();
            visited.Add($"{state.Stage}({state.Round})");
            void Unchanged(string what)
            {
                Assert.That(bank.State, Is.SameAs(state), $"{what} replaced the bank's state");
                Assert.That((bank.State.Stage, bank.State.Round), Is.EqualTo((state.Stage, state.Round)), what);
                Assert.That(bank.ExportState(), Is.EqualTo(exported), $"{what} changed the exported state");
            }
            foreach (var (kind, bytes) in kinds)
            {
                if (!belonging.Contains(kind))
                {
                    string what = $"{kind.Name} in {state}";
                    var ex = Assert.Throws<ProtocolViolationException>(() => EnterAs(kind, bank, bytes, input), what);
                    Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), what);
                    Unchanged(what);
                    ownEntryRefusals++;
                }
                foreach (Type entry in Kinds.Where(e => e != kind))
                {
                    string what = $"{kind.Name} through the {entry.Name} entry point in {state}";
                    var ex = Assert.Throws<ProtocolViolationException>(() => EnterAs(entry, bank, bytes, input), what);
                    Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.WrongRoundOrState, ViolationReason.Malformed), what);
                    Unchanged(what);
                    otherEntryRefusals++;
                }
            }
        }

        Offer();   // keys generated, nothing advertised yet
        byte[][] adverts = d.H.Banks.Select(b => b.AdvertiseKeys()).ToArray();
        Offer(typeof(KeyRoster));
        foreach (byte[] a in adverts) d.Agg.Receive(a);
        byte[] roster = d.Agg.CloseAdvertiseKeys();
        Assert.That(roster, Is.EqualTo(kinds[typeof(KeyRoster)]), "the replay is the reference run");
        byte[][] reveals = d.H.Banks.Select(b => b.ReceiveRoster(roster)).ToArray();
        Offer(typeof(GraphSeedRoster));
        foreach (byte[] r in reveals) d.Agg.Receive(r);
        byte[] seedRoster = d.Agg.CloseGraphSeed();
        foreach (MaskingBank b in d.H.Banks) b.ReceiveGraphSeed(seedRoster);
        Offer();   // Ready, no round yet: the RoundAbort of round 1 is for a round this bank never began
        d.Agg.BeginRound(Driver.Round, Driver.Length);
        byte[][] shareKeys = d.H.Banks.Select(b => b.BeginRound(Driver.Round)).ToArray();
        Offer(typeof(ShareDelivery), typeof(RoundAbort));
        foreach (byte[] s in shareKeys) d.Agg.Receive(s);
        IReadOnlyDictionary<int, byte[]> deliveries = d.Agg.CloseShareKeys();
        byte[][] masked = deliveries.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveShares(x.Value, d.Inputs[x.Key])).ToArray();
        Offer(typeof(SurvivorList), typeof(RoundAbort));
        foreach (byte[] m in masked) d.Agg.Receive(m);
        IReadOnlyDictionary<int, byte[]> lists = d.Agg.CloseMaskedInput();
        byte[][] signatures = lists.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveSurvivors(x.Value)).ToArray();
        Offer(typeof(UnmaskRequest), typeof(RoundAbort));
        foreach (byte[] s in signatures) d.Agg.Receive(s);
        IReadOnlyDictionary<int, byte[]> requests = d.Agg.CloseConsistencyCheck();
        Assert.That(requests[Me], Is.EqualTo(kinds[typeof(UnmaskRequest)]), "the replay is the reference run");
        byte[][] responses = requests.OrderBy(x => x.Key).Select(x => d.H.Banks[x.Key].ReceiveUnmaskRequest(x.Value)).ToArray();
        Offer(typeof(RoundAbort));   // Completed: the aggregator may still fail the round
        foreach (byte[] r in responses) d.Agg.Receive(r);
        ulong[] sum = d.Agg.Finish();
        Assert.That(sum, Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2], Driver.Bits)), "the round is still exact");

        // A round that ended without a sum (the genuine RoundAbort of round 1): Ready with the round spent, where a repeated
        // notice of that round is accepted as a no-op and every other kind is refused.
        bank.ReceiveRoundAbort(kinds[typeof(RoundAbort)]);
        Assert.That(bank.State, Is.TypeOf<BankReady>().And.Property(nameof(BankState.Round)).EqualTo(Driver.Round));
        Offer(typeof(RoundAbort));
        // The aggregator ends the session (round 0): terminal, every kind is refused.
        bank.ReceiveRoundAbort(MaskingWire.Encode(new RoundAbort(d.Parameters.SessionId.ToArray(), 0, ViolationReason.TooFewParticipants, "session over")));
        Offer();

        Assert.That(visited, Is.EqualTo(new[]
        {
            "AdvertiseKeys(0)", "AdvertiseKeys(0)", "GraphSeed(0)", "Ready(0)", "ShareKeys(1)", "MaskedInput(1)", "ConsistencyCheck(1)",
            "Completed(1)", "Ready(1)", "Aborted(1)",
        }));
        Assert.That(ownEntryRefusals, Is.EqualTo(6 + 5 + 5 + 6 + 4 + 4 + 4 + 5 + 5 + 6), "every (state, foreign kind) pair was offered");
        Assert.That(otherEntryRefusals, Is.EqualTo(10 * 6 * 5), "every kind through every other entry point, in every state");
    }
}
