// A round that ended without a sum tells the bank engineer why and what to do, with no dangling separator when the
// aggregator gave no text (found by a fresh-user trial: "round 4 failed at the aggregator:" ended in a colon).
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
    public void AnAggregatorText_IsKept_AndOtherReasonsGetTheGeneralFix()
    {
        var e = new RoundFailedException(7, ViolationReason.Refused, "a decryptor refused the contributor set");
        Assert.That(e.Message, Is.EqualTo("round 7 ended without a sum (Refused): a decryptor refused the contributor set; this bank's values were not summed; run the sum again to take part in the next round."));
    }
}
