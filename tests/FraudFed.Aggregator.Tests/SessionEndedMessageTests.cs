// A bank that comes to an ended session is told the appliance's whole cause (found by a fresh-user trial: the cause was cut at
// the first "; ", which stood inside a nested parenthesis, so the deadline's time was lost and two parentheses stayed open).
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class SessionEndedMessageTests
{
    private const string Address = "https://127.0.0.1:7443/";

    [Test]
    public void NestedCause_IsKeptWhole_WithBalancedParentheses()
    {
        const string cause = "(aborted: bank(s) 4 missed the CrsReveal setup deadline (deadlines.setup_seconds; it passed at 2026-12-03 03:23:45Z))";
        string detail = $"the session has ended {cause}; no round can run in it: the operator starts a new session";
        string m = new SessionEndedException(Address, detail).Message;
        Assert.That(m, Does.StartWith($"the aggregator at {Address} has ended its session {cause}: this bank cannot join or resume it;"));
        Assert.That(m.Count(c => c == '('), Is.EqualTo(m.Count(c => c == ')')));
    }

    [Test]
    public void FlatCause_StopsAtTheApplianceAdvice()
    {
        string m = new SessionEndedException(Address, "the session has ended (aborted: bank 0 restarted); no round can run in it: ...").Message;
        Assert.That(m, Does.StartWith($"the aggregator at {Address} has ended its session (aborted: bank 0 restarted): this bank"));
        Assert.That(m, Does.Not.Contain("no round can run"));
    }

    [Test]
    public void OtherDetail_IsQuotedInParentheses_AndNoDetail_GivesNone()
    {
        Assert.That(new SessionEndedException(Address, "ended.").Message, Does.Contain("has ended its session (ended): this bank"));
        Assert.That(new SessionEndedException(Address, "").Message, Does.Contain("has ended its session: this bank"));
    }
}
