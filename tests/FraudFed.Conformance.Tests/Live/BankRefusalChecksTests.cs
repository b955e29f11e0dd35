// The live bank-refusal checks (SPEC.md 13, "Live conformance: bank refusals"): every check passes against the honest bank
// parties, and each deliberately weakened bank (WeakenedBanks) makes exactly the matching checks fail.
using FraudFed.Conformance.Live;
using FraudFed.Conformance.Live.Bank;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests.Live;

[TestFixture]
public sealed class BankRefusalChecksTests
{
    /// <summary>Short enough that a weakened bank which keeps waiting costs seconds, long enough for a loaded machine.</summary>
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(8);

    private static string Table(IEnumerable<LiveCheckResult> results) =>
        string.Join("\n", results.Select(r => $"{(r.Passed ? "pass" : "FAIL")} {r.Name} ({r.Seconds:0.0} s): {r.Detail}"));

    [Test]
    public async Task EveryCheck_PassesAgainstTheHonestBanks_InTheOrderOfNames()
    {
        IReadOnlyList<LiveCheckResult> results = await BankRefusalChecks.RunAsync(CancellationToken.None);
        Assert.That(results.Select(r => r.Name), Is.EqualTo(BankRefusalChecks.Names));
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Table(results));
        Assert.That(results.Select(r => r.Detail), Has.All.Not.Empty);
    }

    [Test]
    public async Task BanksSlowToReadTheirSetup_StillPassEveryCheck_RoundsOpenOnlyOnceEveryBankHasJoined()
    {
        // Each homomorphic bank here reads every message 150 ms late, as on a loaded machine: the double waits for every bank's
        // JoinAsync before it opens a round, and the rounds' waits absorb the delay.
        BankHooks slow = BankHooks.Honest with { HeTransport = (_, t) => new SlowReadingTransport(t, TimeSpan.FromMilliseconds(150)) };
        IReadOnlyList<LiveCheckResult> results = await BankRefusalChecks.RunAsync(slow, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.That(results.Where(r => !r.Passed), Is.Empty, Table(results));
    }

    /// <summary>A bank transport that hands each delivery over <paramref name="delay"/> after it arrived.</summary>
    private sealed class SlowReadingTransport(FraudFed.Protocol.Coordination.IBankTransport inner, TimeSpan delay) : FraudFed.Protocol.Coordination.IBankTransport
    {
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => inner.SendAsync(message, cancellationToken);
        public async ValueTask<FraudFed.Protocol.Coordination.BankDelivery> ReceiveAsync(CancellationToken cancellationToken)
        {
            FraudFed.Protocol.Coordination.BankDelivery d = await inner.ReceiveAsync(cancellationToken);
            await Task.Delay(delay, cancellationToken);
            return d;
        }
    }

    [Test]
    public void Names_AreDistinct_BankScoped_AndEachDescribedInSpecSection13()
    {
        Assert.That(BankRefusalChecks.Names, Is.Unique);
        Assert.That(BankRefusalChecks.Names, Has.All.Match("^bank/(he|masking)/[a-z0-9-]+$"));
        string spec = File.ReadAllText(Path.Combine(Repository.Root, "protocols", "SPEC.md"));
        int section = spec.IndexOf("### Live conformance: bank refusals", StringComparison.Ordinal);
        Assert.That(section, Is.GreaterThan(spec.IndexOf("## 13. Conformance", StringComparison.Ordinal)));
        int end = spec.IndexOf("\n## ", section, StringComparison.Ordinal);
        string text = spec[section..end];
        foreach (string name in BankRefusalChecks.Names) Assert.That(text, Does.Contain($"`{name}`"), name);
    }

    private static IEnumerable<TestCaseData> Weakened() =>
        WeakenedBanks.All.Select(w => new TestCaseData(w.Name).SetName($"BankRefusals/weakened/{w.Name}"));

    [TestCaseSource(nameof(Weakened))]
    public async Task AWeakenedBank_FailsExactlyTheMatchingChecks(string weakened)
    {
        var (_, hooks, failing) = WeakenedBanks.All.Single(w => w.Name == weakened);
        IReadOnlyList<LiveCheckResult> results = await BankRefusalChecks.RunAsync(hooks, Wait, CancellationToken.None);
        TestContext.Out.WriteLine(Table(results));
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.EquivalentTo(failing), Table(results));
    }
}
