// Issue 8 item 5: a failed round ends only that round (SPEC.md 8.3). A benign, round-local failure (too few participants at
// any stage, a deadline missed) returns the aggregator and every bank that took part to Ready with the round spent and the
// round's secrets zeroed; the next round is exact. Evidence of an attack still ends the session (AdversarialTests,
// SplitSurvivorAttackTests, GraphSeedTests). TEST-ONLY seeded randomness.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture, Parallelizable(ParallelScope.Children)]
public sealed class RoundRecoveryTests
{
    private static readonly DropoutStage[] RoundStages =
        [DropoutStage.BeforeShareKeys, DropoutStage.AfterShareKeys, DropoutStage.AfterMaskedInput, DropoutStage.DuringUnmasking];

    private static bool Usable(FieldElement521 value)
    {
        try
        {
            Shamir.P521.EncodeElement(value, new byte[66]);
            return true;
        }
        catch (ObjectDisposedException) { return false; }
    }

    /// <summary>After round <paramref name="round"/> failed: the aggregator is Ready with the round spent, and no bank is left inside it.</summary>
    private static void AssertRoundEnded(MaskingHarness h, uint round)
    {
        Assert.That(h.Aggregator.State, Is.TypeOf<AggregatorReady>(), "aggregator");
        var ready = (AggregatorReady)h.Aggregator.State;
        Assert.That(ready.Round, Is.EqualTo(round), "the failed round is spent");
        Assert.That(ready.LastRoundFailure, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(ready.AbortNotice, Is.Not.Null);
        Assert.That(RoundAbort.Decode(ready.AbortNotice!).Round, Is.EqualTo(round));
        foreach (MaskingBank b in h.Banks)
        {
            Assert.That(b.State, Is.Not.TypeOf<BankAborted>(), $"bank {b.Id}: a benign failure never ends the session");
            if (b.State.Round == round) Assert.That(b.State, Is.TypeOf<BankReady>(), $"bank {b.Id} took part in round {round}");
            else Assert.That(b.State.Round, Is.LessThan(round), $"bank {b.Id} skipped round {round}");
        }
    }

    private static IEnumerable<TestCaseData> Stages()
        => RoundStages.Select(s => new TestCaseData(s).SetName($"RoundRecovery/complete/n=3/t=2/banks0and1/{s}"));

    [TestCaseSource(nameof(Stages))]
    public void Complete_n3_TwoBanksDropInRound2_Round3WithAllBackIsExact(DropoutStage stage)
    {
        using var sum = new MaskingSecureSum(3, 32, new MaskingOptions { Threshold = 2, MaxColluders = 0, Random = TestRandom.Create("recovery/n3/" + stage), SessionId = new byte[16] });
        Assert.That(sum.Parameters.MinimumSurvivors, Is.EqualTo(2));
        ulong[][] ones = [[1], [2], [3]];

        SecureSumResult r1 = sum.Sum(ones);
        Assert.That(r1.Sum, Is.EqualTo(new ulong[] { 6 }));

        var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(ones, DropoutPlan.At(stage, 0, 1)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        AssertRoundEnded(sum.Harness, 2);

        SecureSumResult r3 = sum.Sum(ones);
        Assert.That(r3.Sum, Is.EqualTo(new ulong[] { 6 }), "round 3 with all three back");
        Assert.That(r3.Contributors, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(sum.Harness.Aggregator.State.Round, Is.EqualTo(3u));
    }

    [Test]
    public void SecAggPlus_n16_k8_t7_ThreeNeighboursOfOneBankSkip_ThatBankLeavesTheRound_LaterRoundsExact()
    {
        const int n = 16, bits = 32;
        // c = 5, M = 11: 2M = 22 > n + c = 21; k - (t - 1) = 2 <= n - M tolerates t - 2 = 5 colluders per neighbourhood, so
        // min(c, k) = 5 meets the bound deterministically (SPEC.md 11.1).
        var options = new MaskingOptions
        {
            Sparse = true, Degree = 8, Threshold = 7, MaxColluders = 5, MinimumSurvivors = 11,
            Random = TestRandom.Create("recovery/secagg+"), SessionId = new byte[16],
        };
        using var sum = new MaskingSecureSum(n, bits, options);
        Assert.That(sum.Parameters.IsComplete, Is.False);
        Assert.That(sum.Parameters.Degree, Is.EqualTo(8));

        ulong[][] inputs = SecureSumTests.Inputs(n, 12, bits, 1);
        SecureSumResult r1 = sum.Sum(inputs);
        Assert.That(r1.Sum, Is.EqualTo(SecureSumTests.PlainSum(inputs, Enumerable.Range(0, n), bits)));

        // Round 2: three of bank 0's eight neighbours skip; bank 0 keeps 6 < t = 7 holders and leaves the round inside ShareKeys.
        const int victim = 0;
        int[] skip = sum.Harness.Graph.Neighbours(victim).Take(3).ToArray();
        MaskingBank bank0 = sum.Harness.Banks[victim];
        var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(inputs, DropoutPlan.At(DropoutStage.BeforeShareKeys, skip)));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants), "kappa_0 has fewer than t holders left, so the round cannot finish");
        Assert.That(sum.Harness.LastRoundRefusals[victim], Is.EqualTo(ViolationReason.TooFewParticipants), "bank 0 refused in ShareKeys");
        Assert.That(bank0.State, Is.TypeOf<BankReady>());
        Assert.That(((BankReady)bank0.State).LastRoundFailure, Is.EqualTo(ViolationReason.TooFewParticipants));
        AssertRoundEnded(sum.Harness, 2);

        for (int round = 3; round <= 5; round++)
        {
            ulong[][] x = SecureSumTests.Inputs(n, 12, bits, round);
            DropoutPlan plan = round == 5 ? DropoutPlan.At(DropoutStage.AfterShareKeys, skip[0]) : DropoutPlan.None;
            SecureSumResult r = sum.Sum(x, plan);
            int[] expected = Enumerable.Range(0, n).Where(i => round != 5 || i != skip[0]).ToArray();
            Assert.That(r.Contributors, Is.EqualTo(expected), $"round {round}");
            Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(x, expected, bits)), $"round {round}");
        }
    }

    [Test]
    public void ThirtyRounds_EveryThirdAbortsForTooFewParticipants_EveryOtherIsExact()
    {
        const int n = 5, bits = 40;
        using var sum = new MaskingSecureSum(n, bits, new MaskingOptions { Threshold = 3, Random = TestRandom.Create("recovery/30"), SessionId = new byte[16] });
        int m = sum.Parameters.MinimumSurvivors;
        Assert.That(m, Is.EqualTo(4));
        int failed = 0, exact = 0;
        for (int round = 1; round <= 30; round++)
        {
            ulong[][] inputs = SecureSumTests.Inputs(n, 9, bits, 100 + round);
            DropoutStage stage = RoundStages[round % RoundStages.Length];
            if (round % 3 == 0)
            {
                // One bank too many for this stage: n - M + 1 = 2 before the consistency check, n - t + 1 = 3 during unmasking.
                int count = stage == DropoutStage.DuringUnmasking ? n - sum.Parameters.Threshold + 1 : n - m + 1;
                int[] drop = Enumerable.Range(0, count).Select(i => (round + 2 * i) % n).ToArray();
                var ex = Assert.Throws<ProtocolViolationException>(() => sum.Sum(inputs, DropoutPlan.At(stage, drop)), $"round {round}");
                Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants), $"round {round}");
                AssertRoundEnded(sum.Harness, (uint)round);
                failed++;
                continue;
            }
            // Other rounds: at most n - M = 1 dropout, at a rotating stage (none every fourth round).
            DropoutPlan plan = round % 4 == 0 ? DropoutPlan.None : DropoutPlan.At(stage, round % n);
            int[] contributors = Enumerable.Range(0, n).Where(i => plan[i] is DropoutStage.None or DropoutStage.AfterMaskedInput or DropoutStage.DuringUnmasking).ToArray();
            SecureSumResult r = sum.Sum(inputs, plan);
            Assert.That(r.Contributors, Is.EqualTo(contributors), $"round {round}");
            Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(inputs, contributors, bits)), $"round {round}");
            Assert.That(sum.Harness.Aggregator.State.Round, Is.EqualTo((uint)round));
            exact++;
        }
        Assert.That((failed, exact), Is.EqualTo((10, 20)));
    }

    [Test]
    public void AFailedRound_ZeroesEveryBanksRoundSecrets_AndTheAggregatorsSum()
    {
        // n = 3, t = 2, M = 2: only bank 2 sends its masked input; the aggregator fails the round at CloseMaskedInput.
        using var d = new Driver(3, 2, "recovery/wipe").UpToMaskedInputs(0, 1);
        var held = d.H.Banks[2].State is BankMaskedInput mi ? mi.Held.Values.SelectMany(v => new[] { v.Self, v.Pairwise }).ToArray() : [];
        var own0 = (BankShareKeys)d.H.Banks[0].State;
        Assert.That(held, Has.Length.EqualTo(6));
        d.Agg.Receive(d.Masked[2]);
        var collecting = (AggregatorMaskedInput)d.Agg.State;
        Assert.That(collecting.Sum, Has.Some.Not.EqualTo(0UL));

        var ex = Assert.Throws<ProtocolViolationException>(() => d.Agg.CloseMaskedInput());
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(collecting.Sum, Is.All.EqualTo(0UL), "the running sum is wiped");
        byte[] notice = ((AggregatorReady)d.Agg.State).AbortNotice!;

        foreach (MaskingBank b in d.H.Banks) b.ReceiveRoundAbort(notice);
        Assert.That(held.Where(Usable), Is.Empty, "bank 2's held shares");
        Assert.That(Usable(own0.OwnSelfShare) || Usable(own0.OwnPairwiseShare), Is.False, "bank 0's own shares");
        Assert.That(own0.SelfSeed, Is.All.EqualTo((byte)0), "bank 0's self-mask seed");
        Assert.That(d.H.Banks.Select(b => b.State), Is.All.TypeOf<BankReady>());

        // A repeated notice changes nothing; round 1 is spent for everyone, round 2 is exact.
        BankState before = d.H.Banks[1].State;
        d.H.Banks[1].ReceiveRoundAbort(notice);
        Assert.That(d.H.Banks[1].State, Is.SameAs(before));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => d.Agg.BeginRound(Driver.Round, Driver.Length))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => d.H.Banks[0].BeginRound(Driver.Round))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
        RoundReport r = d.H.RunRound(d.Inputs);
        Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2], Driver.Bits)));
    }

    [Test]
    public void ABankWithTooFewHolders_ReturnsToReady_WithItsSecretsZeroed()
    {
        // Complete graph n = 5, t = 4: bank 0 receives a delivery with only two peers' bundles (itself + 2 < t).
        using var d = new Driver(5, 4, "recovery/holders", maxColluders: 0).UpToDeliveries();
        MaskingBank bank = d.H.Banks[0];
        var st = (BankShareKeys)bank.State;
        ShareDelivery full = ShareDelivery.Decode(d.Deliveries[0]);
        byte[] shortDelivery = (full with { Shares = full.Shares.Take(2).ToArray() }).Encode();
        var ex = Assert.Throws<ProtocolViolationException>(() => bank.ReceiveShares(shortDelivery, d.Inputs[0]));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(bank.State, Is.TypeOf<BankReady>());
        Assert.That(bank.State.Round, Is.EqualTo(Driver.Round));
        Assert.That(Usable(st.OwnSelfShare) || Usable(st.OwnPairwiseShare), Is.False);
        Assert.That(st.SelfSeed, Is.All.EqualTo((byte)0));
        Assert.DoesNotThrow(() => bank.BeginRound(Driver.Round + 1), "the next round begins");
    }

    [Test]
    public void AbandonRound_ADeadlineMissed_AtTheAggregatorAndAtABank()
    {
        using var d = new Driver(4, 3, "recovery/abandon").UpToDeliveries();
        Assert.That(Assert.Throws<ProtocolViolationException>(() => d.H.Banks[0].ReceiveRoundAbort(new RoundAbort(d.Parameters.SessionId, 7, ViolationReason.TooFewParticipants).Encode()))!.Reason,
            Is.EqualTo(ViolationReason.WrongRoundOrState), "another round's abort is refused");
        Assert.That(d.H.Banks[0].State, Is.TypeOf<BankShareKeys>(), "refusal leaves the state");
        byte[] notice = d.Agg.AbandonRound();
        Assert.That(d.Agg.State, Is.TypeOf<AggregatorReady>());
        Assert.That(Assert.Throws<ProtocolViolationException>(() => d.Agg.AbandonRound())!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), "no round running");
        var st = (BankShareKeys)d.H.Banks[1].State;
        d.H.Banks[1].AbandonRound(); // bank 1's own deadline
        Assert.That(d.H.Banks[1].State, Is.TypeOf<BankReady>());
        Assert.That(st.SelfSeed, Is.All.EqualTo((byte)0));
        foreach (MaskingBank b in d.H.Banks) b.ReceiveRoundAbort(notice);
        Assert.That(d.H.Banks.Select(b => b.State), Is.All.TypeOf<BankReady>());
        RoundReport r = d.H.RunRound(d.Inputs);
        Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2, 3], Driver.Bits)));
    }

    [Test]
    public void CancellationMidRound_EndsOnlyThatRound()
    {
        using var d = new Driver(4, 3, "recovery/cancel").UpToReady();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => d.H.RunRound(d.Inputs, null, cts.Token));
        Assert.That(d.Agg.State, Is.TypeOf<AggregatorReady>());
        Assert.That(d.H.Banks.Select(b => b.State), Is.All.TypeOf<BankReady>());
        RoundReport r = d.H.RunRound(d.Inputs);
        Assert.That(r.Sum, Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2, 3], Driver.Bits)));
    }

    [Test]
    public void RoundAbort_Refusals_AreTypedAndChangeNothing()
    {
        using var d = new Driver(4, 3, "recovery/refusals").UpToShareKeys();
        MaskingBank bank = d.H.Banks[0];
        BankState before = bank.State;
        byte[] good = new RoundAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants).Encode();
        byte[] otherSession = new RoundAbort(new byte[16].Select(_ => (byte)1).ToArray(), Driver.Round, ViolationReason.TooFewParticipants).Encode();
        byte[] badReason = new RoundAbort(d.Parameters.SessionId, Driver.Round, (ViolationReason)200).Encode(); // code 201: unknown
        byte[] otherRound = new RoundAbort(d.Parameters.SessionId, Driver.Round + 1, ViolationReason.TooFewParticipants).Encode();
        foreach (var (bad, reason) in new[] { (good[..^1], ViolationReason.Malformed), (otherSession, ViolationReason.WrongRoundOrState), (badReason, ViolationReason.Malformed), (otherRound, ViolationReason.WrongRoundOrState) })
        {
            Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveRoundAbort(bad))!.Reason, Is.EqualTo(reason));
            Assert.That(bank.State, Is.SameAs(before));
        }
        // Round 0: the aggregator ended the session; the bank's round secrets go with it.
        var st = (BankShareKeys)bank.State;
        bank.ReceiveRoundAbort(new RoundAbort(d.Parameters.SessionId, 0, ViolationReason.Refused).Encode());
        Assert.That(bank.State, Is.TypeOf<BankAborted>());
        Assert.That(st.SelfSeed, Is.All.EqualTo((byte)0));
        // A bank still in setup cannot be in a round.
        using var fresh = new Driver(4, 3, "recovery/refusals-setup");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => fresh.H.Banks[0].ReceiveRoundAbort(good))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
    }

    [Test]
    public void BankAbort_IsAcceptedOnlyInTheRunningRound_AndTheRoundFinishesWithoutThatBank()
    {
        using var d = new Driver(4, 3, "recovery/bank-abort").UpToMaskedInputs(3);
        byte[] leave = new BankAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants, "too few holders").Encode();
        AggregatorState before = d.Agg.State;
        d.Agg.Receive(leave);
        Assert.That(d.Agg.State, Is.SameAs(before), "a bank leaving is a dropout: nothing to record");
        foreach (uint other in new uint[] { 0, Driver.Round + 1 })
        {
            byte[] bad = new BankAbort(d.Parameters.SessionId, other, ViolationReason.TooFewParticipants).Encode();
            Assert.That(Assert.Throws<ProtocolViolationException>(() => d.Agg.Receive(bad))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), $"round {other}");
            Assert.That(d.Agg.State, Is.SameAs(before));
        }

        foreach (byte[] m in d.Masked.Values) d.Agg.Receive(m);
        foreach (var (id, list) in d.Agg.CloseMaskedInput()) d.Agg.Receive(d.H.Banks[id].ReceiveSurvivors(list));
        foreach (var (id, request) in d.Agg.CloseConsistencyCheck()) d.Agg.Receive(d.H.Banks[id].ReceiveUnmaskRequest(request));
        Assert.That(d.Agg.Finish(), Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2], Driver.Bits)));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => d.Agg.Receive(leave))!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), "no round running");
    }
}
