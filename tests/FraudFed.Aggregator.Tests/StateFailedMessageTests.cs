// The message a bank gets when the appliance could not persist its state (SPEC.md 14.5, appliance faults) says so once: the
// appliance's detail already begins with the same statement, and a fresh-user trial found it repeated in a parenthesis.
using System.Text.RegularExpressions;
using FraudFed.Aggregator.Coordination;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class StateFailedMessageTests
{
    private static int Count(string text, string part) => Regex.Matches(text, Regex.Escape(part)).Count;

    [Test]
    public void TheAppliancesOwnDetail_IsNotRepeated_ItsCauseIsKeptOnce_AndTheFixIsNamed()
    {
        var e = new ApplianceStateFailedException("https://agg.example:7443/", Coordinator.StateFailedMessage);
        Assert.That(Count(e.Message, "could not persist its state"), Is.EqualTo(1), e.Message);
        Assert.That(Count(e.Message, "disk full or a read-only state directory?"), Is.EqualTo(1), e.Message);
        Assert.That(Count(e.Message, "accepts nothing"), Is.EqualTo(1), e.Message);
        Assert.That(e.Message, Does.StartWith("the aggregator at https://agg.example:7443/ could not persist its state (disk full or a read-only state directory?) and"));
        Assert.That(e.Message, Does.Contain("restarts the appliance").And.Contain("ask the operator").And.EndWith("then run this bank again."));
        Assert.That(e.Message, Does.Not.Contain("((").And.Not.Contain("))").And.Not.Contain("()"));
    }

    [TestCase("", TestName = "StateFailed/no detail")]
    [TestCase("   ", TestName = "StateFailed/blank detail")]
    public void WithoutADetail_TheSentenceHasNoEmptyParenthesis(string detail)
    {
        var e = new ApplianceStateFailedException("https://127.0.0.1:7443/", detail);
        Assert.That(e.Message, Is.EqualTo("the aggregator at https://127.0.0.1:7443/ could not persist its state and accepts nothing until its operator fixes that and restarts the appliance; ask the operator (its log and /healthz say the same), then run this bank again."));
    }

    [Test]
    public void AnotherDetail_IsKeptOnce_InAParenthesis()
    {
        var e = new ApplianceStateFailedException("https://127.0.0.1:7443/", "SQLite Error 13: database or disk is full.");
        Assert.That(e.Message, Does.Contain("could not persist its state (SQLite Error 13: database or disk is full) and accepts nothing"));
        Assert.That(Count(e.Message, "could not persist its state"), Is.EqualTo(1));
    }
}
