// A secure sum's round that ends without a sum during training on the appliance (too few contributors, a stage deadline)
// names the banks that stayed silent, by their indexes, as a setup failure names the banks that missed it
// (Clock.MissedSetup): in the training job's end (TrainingEnd.reason, which every bank reports) and in a masking round's
// abort notice (the banks' RoundFailedException). Indexes and a stage only: nothing secret.
using FraudFed.Aggregator.Coordination;
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SilentBanksMessageTests
{
    [Test]
    public void TrainingJobEnd_NamesTheBanksThatStayedSilent()
    {
        var closed = new ClosedRound(12, null, [], "TooFewParticipants") { Silent = [1, 3] };
        Assert.That(TrainingEngine.RoundFailedReason(closed), Is.EqualTo(
            "secure sum round 12 failed (TooFewParticipants): bank(s) 1, 3 sent no message for one of its stages before the stage deadline (deadlines.stage_seconds); federated training needs every sum"));
    }

    [Test]
    public void TrainingJobEnd_WithoutSilentBanks_SaysTheRoundAndItsOutcome()
    {
        var closed = new ClosedRound(4, null, [], "Refused");
        Assert.That(TrainingEngine.RoundFailedReason(closed), Is.EqualTo("secure sum round 4 failed (Refused); federated training needs every sum"));
        Assert.That(closed.Silent, Is.Empty);
    }

    [TestCase(MaskingStage.ShareKeys, "ShareKeys messages")]
    [TestCase(MaskingStage.MaskedInput, "inputs")]
    [TestCase(MaskingStage.ConsistencyCheck, "consistency signatures")]
    public void MaskingAbortNotice_KeepsTheCounts_AndNamesTheSilentBanks(MaskingStage stage, string what)
    {
        var e = Error.Violation(ViolationReason.TooFewParticipants, Error.TooFewSurvivors(2, "sent masked inputs", 3, "the round ends"));
        string text = MaskingEngine.SilentNotice(e, [0, 4], stage);
        Assert.That(text, Does.StartWith("2 banks sent masked inputs; at least 3 are needed"));
        Assert.That(text, Does.EndWith($"; bank(s) 0, 4 sent no {what} before the stage deadline (deadlines.stage_seconds)"));
        Assert.That(text, Does.Not.StartWith("TooFewParticipants"), "the reason is said once, by the notice's own field");
        // The notice carries the text to the banks.
        var notice = new RoundAbort(new byte[MaskingParameters.SessionIdSize], 7, ViolationReason.TooFewParticipants, text);
        var back = (RoundAbort)MaskingWire.DecodeToBank(MaskingWire.Encode(notice));
        Assert.That(back.Message, Is.EqualTo(text));
    }

    [Test]
    public void SilentInRound_IsTheSameWordingAsTheSetupDeadline()
    {
        Assert.That(Clock.SilentInRound([2], "decryption shares"), Is.EqualTo("bank(s) 2 sent no decryption shares before the stage deadline (deadlines.stage_seconds)"));
        Assert.That(Clock.MissedSetup([2], "CrsCommit", []), Does.StartWith("bank(s) 2 "));
    }
}
