using FraudFed.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Tests.Federation;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Gbdt;

/// <summary>The party-split GBDT (SPEC.md 14.4): bank parties and a coordinator joined only by broadcasts and sums.</summary>
public class GbdtPartyTests
{
    private const int K = 44;
    private static readonly GbdtOptions Small = new() { Trees = 4, MaxDepth = 4, LearningRate = 0.3, MinChildCount = 10, MaxBins = 32 };

    private static LabeledRows[] Train => Scenarios.SmallBankData.Select(b => b.Train).ToArray();

    /// <summary>Drives the parties by hand: every broadcast crosses as protobuf bytes, the sum is schoolbook mod 2^k.</summary>
    private static (GbdtModel Model, int Sums) DriveByHand(LabeledRows[] banks, GbdtOptions options)
    {
        var parties = banks.Select(rows => new GbdtBankParty(rows, options, K)).ToArray();
        var coordinator = new GbdtCoordinator(options, banks[0].FeatureNames, K);
        int sums = 0;
        while (!coordinator.IsComplete)
        {
            byte[] wire = TrainingWire.Encode(coordinator.Broadcast!);
            ulong[][] answers = parties.Select(p => p.Answer(TrainingWire.Decode(wire))).ToArray();
            Assert.That(answers.Select(a => a.Length), Is.All.EqualTo(coordinator.SumLength));
            if (coordinator.SumLength > 0) sums++;
            coordinator.Accept(coordinator.SumLength == 0 ? [] : PartySplitTestKit.SchoolbookSum(answers, K));
        }
        Assert.That(parties.Select(p => p.CompletedTrees), Is.All.EqualTo(options.Trees), "every bank closed every tree");
        return (coordinator.Model, sums);
    }

    [Test]
    public void PartySplitGbdt_EqualsPooledSingleSiteModel_TreeForTree()
    {
        LabeledRows[] banks = Train;
        var (model, sums) = DriveByHand(banks, Small);
        GbdtModel pooled = PooledHistogramGbdt.Train(LabeledRows.Concat(banks), model.Bins, model.GradientScaleBits, Small);

        Assert.That(model.Trees.Sum(t => t.Leaves), Is.GreaterThan(Small.Trees * 4), "trees should actually split");
        for (int t = 0; t < Small.Trees; t++)
            Assert.That(model.Trees[t].BitwiseEquals(pooled.Trees[t]), Is.True, $"tree {t}");
        Assert.That(model.BitwiseEquals(pooled), Is.True);
        Assert.That(sums, Is.GreaterThan(2 + Small.Trees), "two setup sums and at least one per tree");
    }

    [Test]
    public void PartySplitGbdt_ThroughMaskedSecureSum_EqualsPlainRun_BitForBit_AndTheWrapperIsTheSameCode()
    {
        LabeledRows[] banks = Train;
        var masking = new MaskingTestSum(banks.Length, K, seed: 5);
        var channel = new SumChannel(masking);
        GbdtModel secure = TrainingRun.Run(new GbdtCoordinator(Small, banks[0].FeatureNames, K),
            banks.Select(rows => (ITrainingBankParty)new GbdtBankParty(rows, Small, K)).ToArray(), channel.SumResidues);
        GbdtModel plain = new FederatedGbdtTrainer(Small).Train(banks, new PlainSum(banks.Length, K));
        var (byHand, sums) = DriveByHand(banks, Small);

        Assert.That(secure.BitwiseEquals(plain), Is.True, "secure = plain");
        Assert.That(byHand.BitwiseEquals(plain), Is.True, "hand-driven parties = the all-banks wrapper");
        Assert.That(masking.Calls, Is.EqualTo(sums), "one secure sum per broadcast that asks for one");
    }

    /// <summary>
    /// Runs a whole training; before each broadcast reaches bank 0's twin (a second party over the same rows), the twin is
    /// sent malformed variants of it, each refused with a typed error; the twin's answers then stay equal to bank 0's.
    /// </summary>
    [Test]
    public void BankParty_RefusesWrongKindTreeLevelOrShape_WithATypedError_AndNoStateChange()
    {
        LabeledRows[] banks = Train;
        var parties = banks.Select(rows => new GbdtBankParty(rows, Small, K)).ToArray();
        var twin = new GbdtBankParty(banks[0], Small, K);
        var coordinator = new GbdtCoordinator(Small, banks[0].FeatureNames, K);
        int refusals = 0;
        void Refused(TrainingBroadcast bad, ViolationReason reason, string what)
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => twin.Answer(bad), what);
            Assert.That(ex!.Reason, Is.EqualTo(reason), what);
            refusals++;
        }
        while (!coordinator.IsComplete)
        {
            TrainingBroadcast b = coordinator.Broadcast!;
            Refused(new LogisticRoundRequest(1, new double[banks[0].Features + 1]), ViolationReason.WrongRoundOrState, "a logistic broadcast");
            switch (b)
            {
                case TrainingSetupRequest s:
                    Refused(s with { Step = s.Step == TrainingSetupStep.Counts ? TrainingSetupStep.FineGrid : TrainingSetupStep.Counts }, ViolationReason.WrongRoundOrState, "setup steps out of order");
                    Refused(s with { FeatureNames = s.FeatureNames.Skip(1).ToArray() }, ViolationReason.Inconsistent, "another schema");
                    Refused(new GbdtLevelRequest(0, 0, [], [0]), ViolationReason.WrongRoundOrState, "a level before the setup");
                    break;
                case GbdtTrainingStart s:
                    Refused(s with { Thresholds = s.Thresholds.Skip(1).ToArray(), HasMissing = s.HasMissing.Skip(1).ToArray() }, ViolationReason.Malformed, "bins for another feature count");
                    Refused(s with { Trees = s.Trees + 1 }, ViolationReason.Inconsistent, "another number of trees");
                    Refused(s with { GradientScaleBits = 40 }, ViolationReason.OutOfRange, "a gradient scale that cannot fit");
                    Assert.That(s.Thresholds.Any(t => t.Length >= 2), Is.True);
                    Refused(s with { Thresholds = s.Thresholds.Select(t => t.Reverse().ToArray()).ToArray() }, ViolationReason.Malformed, "descending thresholds");
                    break;
                case GbdtLevelRequest l:
                    Refused(l with { Tree = l.Tree + 1 }, ViolationReason.WrongRoundOrState, "the wrong tree");
                    Refused(l with { Level = l.Level + 1 }, ViolationReason.WrongRoundOrState, "the wrong level");
                    Refused(new GbdtTreeResult(l.Tree, [], []), l.Level == 0 ? ViolationReason.WrongRoundOrState : ViolationReason.Malformed, "a tree result instead of a level");
                    if (l.Level > 0)
                    {
                        Refused(l with { PreviousSplits = l.PreviousSplits.Skip(1).ToArray() }, ViolationReason.Malformed, "one decision too few");
                        Refused(l with { PreviousSplits = l.PreviousSplits.Select(d => d.IsLeaf ? d : d with { Feature = banks[0].Features }).ToArray() },
                            l.PreviousSplits.All(d => d.IsLeaf) ? ViolationReason.Malformed : ViolationReason.OutOfRange, "a split on a feature that does not exist");
                    }
                    else Refused(l with { PreviousSplits = [GbdtNodeDecision.LeafNode(0)] }, ViolationReason.Malformed, "level 0 with splits");
                    Refused(l with { Nodes = [.. l.Nodes, 1 << 20] }, ViolationReason.Malformed, "a node outside the frontier");
                    if (l.Nodes.Count > 1) Refused(l with { Nodes = l.Nodes.Reverse().ToArray() }, ViolationReason.Malformed, "nodes not ascending");
                    break;
                case GbdtTreeResult r:
                    Refused(r with { Tree = r.Tree + 1 }, ViolationReason.WrongRoundOrState, "the wrong tree");
                    Refused(r with { LeafValues = r.LeafValues.Skip(1).ToArray() }, ViolationReason.Malformed, "one leaf value too few");
                    Refused(r with { LeafValues = r.LeafValues.Select(_ => double.NaN).ToArray() }, ViolationReason.OutOfRange, "leaf values that are not numbers");
                    Refused(r with { FinalSplits = r.FinalSplits.Select(d => d with { Leaf = d.Leaf + 1 }).ToArray() }, ViolationReason.Malformed, "leaf indices that skip one");
                    break;
            }
            ulong[][] answers = parties.Select(p => p.Answer(b)).ToArray();
            Assert.That(twin.Answer(b), Is.EqualTo(answers[0]), $"after the refusals the twin answers {b.GetType().Name} exactly as bank 0");
            coordinator.Accept(coordinator.SumLength == 0 ? [] : PartySplitTestKit.SchoolbookSum(answers, K));
        }
        Assert.That(twin.CompletedTrees, Is.EqualTo(Small.Trees));
        Assert.That(refusals, Is.GreaterThan(40));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => twin.Answer(new GbdtLevelRequest(Small.Trees, 0, [], [0])))!.Reason,
            Is.EqualTo(ViolationReason.WrongRoundOrState), "no tree after the last");
    }

    [Test]
    public void BankParty_HoldsNoReferenceToAnotherBanksRows_AndTheCoordinatorToNoBanksRows()
    {
        LabeledRows[] banks = Train;
        var parties = banks.Select(rows => new GbdtBankParty(rows, Small, K)).ToArray();
        var coordinator = new GbdtCoordinator(Small, banks[0].FeatureNames, K);
        GbdtModel model = TrainingRun.Run(coordinator, parties, new SumChannel(new PlainSum(banks.Length, K)).SumResidues);
        Assert.That(model.Trees, Has.Count.EqualTo(Small.Trees));

        static object[] RowObjects(LabeledRows r) => [r, r.Values, r.Labels, r.Times];
        for (int b = 0; b < banks.Length; b++)
        {
            HashSet<object> reach = PartySplitTestKit.Reachable(parties[b]);
            Assert.That(RowObjects(banks[b]).Any(reach.Contains), Is.True, $"bank {b} holds its own rows (the walk sees them)");
            for (int other = 0; other < banks.Length; other++)
                if (other != b)
                    Assert.That(RowObjects(banks[other]).Where(reach.Contains), Is.Empty, $"bank {b} reaches bank {other}'s rows");
            foreach (object o in reach)
                Assert.That(parties.Where((p, i) => i != b).Any(p => ReferenceEquals(p, o)), Is.False, $"bank {b} reaches another party");
        }
        HashSet<object> coordinatorReach = PartySplitTestKit.Reachable(coordinator);
        Assert.That(banks.SelectMany(RowObjects).Where(coordinatorReach.Contains), Is.Empty, "the coordinator holds no bank's rows");
    }

    [Test]
    public void SetupAnswers_AreTheBanksCountsAndFineGrid_InTwosComplementModK()
    {
        LabeledRows rows = Train[1];
        var party = new GbdtBankParty(rows, Small, 32);
        ulong[] counts = party.Answer(new TrainingSetupRequest(TrainingSetupStep.Counts, rows.FeatureNames));
        Assert.That(counts, Is.EqualTo(new ulong[] { (ulong)rows.Rows, (ulong)rows.Positives }));
        ulong[] grid = party.Answer(new TrainingSetupRequest(TrainingSetupStep.FineGrid, rows.FeatureNames));
        Assert.That(grid, Is.EqualTo(FeatureBins.FineCounts(rows).Select(c => (ulong)c).ToArray()));
        Assert.That(new SignedResidues(32).Encode(-1), Is.EqualTo(0xFFFF_FFFFUL), "two's complement mod 2^32");
        Assert.That(new SignedResidues(32).Decode(0xFFFF_FFFFUL), Is.EqualTo(-1));
    }
}
