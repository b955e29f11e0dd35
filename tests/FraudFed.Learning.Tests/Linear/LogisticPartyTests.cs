using FraudFed.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Tests.Federation;
using FraudFed.Learning.Tests.Support;
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Linear;

/// <summary>Party-split FedAvg (SPEC.md 14.4): bank parties and a coordinator joined only by broadcasts and sums.</summary>
public class LogisticPartyTests
{
    private const int K = 44;
    private static readonly LogisticOptions Options = new() { Rounds = 5, LocalSteps = 2 };

    private static LabeledRows[] Train => Scenarios.SmallBankData.Select(b => b.Train).ToArray();

    [Test]
    public void HandDrivenParties_EqualTheWrapper_AndTheMaskedRunEqualsThePlainRun_BitForBit()
    {
        LabeledRows[] banks = Train;
        var parties = banks.Select(rows => new LogisticBankParty(rows, Options, K)).ToArray();
        var coordinator = new LogisticCoordinator(Options, banks[0].FeatureNames, K);
        while (!coordinator.IsComplete)
        {
            byte[] wire = TrainingWire.Encode(coordinator.Broadcast!);
            ulong[][] answers = parties.Select(p => p.Answer(TrainingWire.Decode(wire))).ToArray();
            coordinator.Accept(coordinator.SumLength == 0 ? [] : PartySplitTestKit.SchoolbookSum(answers, K));
        }
        LogisticModel plain = new FederatedLogisticTrainer(Options).Train(banks, new PlainSum(banks.Length, K));
        LogisticModel secure = new FederatedLogisticTrainer(Options).Train(banks, new MaskingTestSum(banks.Length, K, seed: 4));
        Assert.That(coordinator.Model.BitwiseEquals(plain), Is.True, "hand-driven parties = the all-banks wrapper");
        Assert.That(secure.BitwiseEquals(plain), Is.True, "secure = plain");
        Assert.That(parties.Select(p => p.Round), Is.All.EqualTo(Options.Rounds));
    }

    [Test]
    public void OneRoundAnswer_IsRoundOfRowsTimesLocalWeightsTimes2ToS_FromTheBroadcastWeights()
    {
        // One local step from w = 0 with bias b: the local weights are -lr * (mean error * z_j) for j < f, b - lr * mean error.
        LabeledRows rows = Train[0];
        int f = rows.Features;
        var options = new LogisticOptions { Rounds = 1, LocalSteps = 1, LearningRate = 0.5, L2 = 0 };
        var party = new LogisticBankParty(rows, options, K);
        party.Answer(new TrainingSetupRequest(TrainingSetupStep.Counts, rows.FeatureNames));
        party.Answer(new TrainingSetupRequest(TrainingSetupStep.FineGrid, rows.FeatureNames));
        double[] mean = Enumerable.Repeat(0.0, f).ToArray(), std = Enumerable.Repeat(1.0, f).ToArray();
        party.Answer(new LogisticTrainingStart(mean, std, 20, 1));
        var w = new double[f + 1];
        w[f] = -2.0;
        ulong[] answer = party.Answer(new LogisticRoundRequest(1, w));

        var codec = new SignedResidues(K);
        double p = 1.0 / (1.0 + Math.Exp(2.0));
        double errorSum = rows.Labels.Sum(l => p - (l ? 1.0 : 0.0));
        double bias = -2.0 - 0.5 * (errorSum / rows.Rows);
        Assert.That(codec.Decode(answer[f]), Is.EqualTo((long)Math.Round(bias * rows.Rows * Math.ScaleB(1.0, 20), MidpointRounding.ToEven)).Within(1));
        Assert.That(answer, Has.Length.EqualTo(f + 1));
    }

    [Test]
    public void BankParty_RefusesWrongKindRoundOrShape_WithATypedError_AndNoStateChange()
    {
        LabeledRows[] banks = Train;
        var parties = banks.Select(rows => new LogisticBankParty(rows, Options, K)).ToArray();
        var twin = new LogisticBankParty(banks[0], Options, K);
        var coordinator = new LogisticCoordinator(Options, banks[0].FeatureNames, K);
        int f = banks[0].Features;
        void Refused(TrainingBroadcast bad, ViolationReason reason, string what)
        {
            var ex = Assert.Throws<ProtocolViolationException>(() => twin.Answer(bad), what);
            Assert.That(ex!.Reason, Is.EqualTo(reason), what);
        }
        while (!coordinator.IsComplete)
        {
            TrainingBroadcast b = coordinator.Broadcast!;
            Refused(new GbdtLevelRequest(0, 0, [], [0]), ViolationReason.WrongRoundOrState, "a GBDT broadcast");
            switch (b)
            {
                case TrainingSetupRequest s:
                    Refused(s with { FeatureNames = s.FeatureNames.Reverse().ToArray() }, ViolationReason.Inconsistent, "columns in another order");
                    Refused(new LogisticRoundRequest(1, new double[f + 1]), ViolationReason.WrongRoundOrState, "a round before the setup");
                    break;
                case LogisticTrainingStart s:
                    Refused(s with { Mean = s.Mean[1..] }, ViolationReason.Malformed, "one mean too few");
                    Refused(s with { Std = s.Std.Select(_ => 0.0).ToArray() }, ViolationReason.OutOfRange, "a zero standard deviation");
                    Refused(s with { Rounds = s.Rounds + 1 }, ViolationReason.Inconsistent, "another number of rounds");
                    Refused(s with { WeightScaleBits = K }, ViolationReason.OutOfRange, "a weight scale that cannot fit");
                    break;
                case LogisticRoundRequest r:
                    Refused(r with { Round = r.Round + 1 }, ViolationReason.WrongRoundOrState, "a round skipped");
                    Refused(r with { Round = r.Round - 1 }, ViolationReason.WrongRoundOrState, "a round repeated");
                    Refused(r with { Weights = r.Weights[1..] }, ViolationReason.Malformed, "one weight too few");
                    Refused(r with { Weights = r.Weights.Select(_ => double.PositiveInfinity).ToArray() }, ViolationReason.OutOfRange, "infinite weights");
                    Refused(new LogisticTrainingStart(new double[f], Enumerable.Repeat(1.0, f).ToArray(), 10, Options.Rounds), ViolationReason.WrongRoundOrState, "a second start");
                    break;
            }
            ulong[][] answers = parties.Select(p => p.Answer(b)).ToArray();
            Assert.That(twin.Answer(b), Is.EqualTo(answers[0]), $"after the refusals the twin answers {b.GetType().Name} exactly as bank 0");
            coordinator.Accept(coordinator.SumLength == 0 ? [] : PartySplitTestKit.SchoolbookSum(answers, K));
        }
        Assert.That(twin.Round, Is.EqualTo(Options.Rounds));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => twin.Answer(new LogisticRoundRequest(Options.Rounds + 1, new double[f + 1])))!.Reason,
            Is.EqualTo(ViolationReason.WrongRoundOrState), "no round after the last");
    }

    [Test]
    public void BankParty_HoldsNoReferenceToAnotherBanksRows()
    {
        LabeledRows[] banks = Train;
        var parties = banks.Select(rows => new LogisticBankParty(rows, Options, K)).ToArray();
        var coordinator = new LogisticCoordinator(Options, banks[0].FeatureNames, K);
        TrainingRun.Run(coordinator, parties, new SumChannel(new PlainSum(banks.Length, K)).SumResidues);
        static object[] RowObjects(LabeledRows r) => [r, r.Values, r.Labels, r.Times];
        for (int b = 0; b < banks.Length; b++)
        {
            HashSet<object> reach = PartySplitTestKit.Reachable(parties[b]);
            Assert.That(reach.Contains(banks[b]), Is.True, $"bank {b} holds its own rows");
            for (int other = 0; other < banks.Length; other++)
                if (other != b) Assert.That(RowObjects(banks[other]).Where(reach.Contains), Is.Empty, $"bank {b} reaches bank {other}'s rows");
        }
        Assert.That(banks.SelectMany(RowObjects).Where(PartySplitTestKit.Reachable(coordinator).Contains), Is.Empty, "the coordinator holds no bank's rows");
    }
}
