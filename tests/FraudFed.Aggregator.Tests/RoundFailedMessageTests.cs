// A round that ended without a sum tells the bank engineer why and what to do, with no dangling separator when the
// aggregator gave no text (found by a fresh-user trial: "round 4 failed at the aggregator:" ended in a colon); a round that
// did not open (too few banks asked within the join window, SPEC.md 14.5) says the counts once and the fix.
using FraudFed.Cryptography;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class RoundFailedMessageTests
{
    [TestCase("round 4 failed at the aggregator", TestName = "RoundFailed/masking, no aggregator text")]
    [TestCase("round failed", TestName = "RoundFailed/he, generic text")]
    [TestCase("", TestName = "RoundFailed/empty")]
    public void TooFewParticipants_NamesTheRound_TheReason_AndTheFix_WithoutADanglingColon(string detail)
    {
        var e = new RoundFailedException(4, ViolationReason.TooFewParticipants, detail);
        Assert.That(e.Message, Does.StartWith("round 4 ended without a sum (TooFewParticipants); "));
        Assert.That(e.Message, Does.Contain("run the sum again together with the other banks"));
        Assert.That(e.Message, Does.Not.Contain(":;").And.Not.Contain(": ;").And.Not.EndWith(":"));
        Assert.That(e.Round, Is.EqualTo(4UL));
    }

    [Test]
    public void ARoundThatDidNotOpen_SaysTheCountsOnce_AndTheFix()
    {
        const string appliance = "round 3: only 2 of 5 banks asked within 30 s (deadlines.join_seconds); at least 4 are needed (the threshold T = 4 and K_min = 4, SPEC.md 12.3); the round did not open: start the other banks, or raise deadlines.join_seconds";
        RoundFailedException e = RoundFailedException.NotOpened(3, ViolationReason.TooFewParticipants, appliance, 2, 4, 30);
        Assert.That(e.Message, Is.EqualTo("round 3 did not open (TooFewParticipants): only 2 of 5 banks asked within 30 s (deadlines.join_seconds); at least 4 are needed (the threshold T = 4 and K_min = 4, SPEC.md 12.3); " +
            "nothing of this bank's values left it: start the other banks' sums so that at least 4 banks ask within 30 s of the first (deadlines.join_seconds), or have the operator raise deadlines.join_seconds, then run the sum again (it asks for a new round: round 3 is spent, so the next is round 4 or later)."));
        Assert.That((e.Round, e.Reason, e.Opened), Is.EqualTo((3UL, ViolationReason.TooFewParticipants, false)));
        Assert.That(new RoundFailedException(3, ViolationReason.TooFewParticipants, "").Opened, Is.True);
    }

    [Test]
    public void ARoundThatDidNotOpen_WithoutTheAppliancesWords_IsStillSaidInFull()
    {
        // Another vendor's appliance may send the counts without a message.
        RoundFailedException e = RoundFailedException.NotOpened(9, ViolationReason.TooFewParticipants, "", 1, 3, 2.5);
        Assert.That(e.Message, Is.EqualTo("round 9 did not open (TooFewParticipants): 1 bank asked for it within the appliance's join window; at least 3 are needed; " +
            "nothing of this bank's values left it: start the other banks' sums so that at least 3 banks ask within 2.5 s of the first (deadlines.join_seconds), or have the operator raise deadlines.join_seconds, then run the sum again (it asks for a new round: round 9 is spent, so the next is round 10 or later)."));
    }

    [Test]
    public void AnAggregatorText_IsKept_AndOtherReasonsGetTheGeneralFix()
    {
        var e = new RoundFailedException(7, ViolationReason.Refused, "a decryptor refused the contributor set");
        Assert.That(e.Message, Is.EqualTo("round 7 ended without a sum (Refused): a decryptor refused the contributor set; this bank's values were not summed; run the sum again to take part in the next round."));
    }
}
