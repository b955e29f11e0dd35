// Issue 8, what a fresh-user trial of the per-bank API found (4 banks and a coordinator per mode over InMemorySumTransport,
// hostile inputs): the masking coordinator trusts the transport's sender, not the body's (SPEC.md 14.1); a homomorphic
// SumAsync on a round that already ran is refused before anything is sent, as the masking client refuses it; a round whose
// length differs from the bank's vector fails with an error naming both lengths, in both modes; the per-bank clients refuse a
// second concurrent call; the masking coordinator checks the transport's bank count. Insecure test parameters (n = 256).
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Coordination;

/// <summary>An aggregator transport that reports one bank's messages under another sender (a transport that mislabels, or a
/// bank connected under another identity).</summary>
internal sealed class RelabellingTransport(IAggregatorTransport inner, int from, int to) : IAggregatorTransport
{
    public int Banks => inner.Banks;
    public ValueTask SendAsync(int bank, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => inner.SendAsync(bank, message, cancellationToken);
    public ValueTask PublishAsync(int bank, SumOutcomeNotice outcome, CancellationToken cancellationToken) => inner.PublishAsync(bank, outcome, cancellationToken);
    public async ValueTask<AggregatorDelivery> ReceiveAsync(CancellationToken cancellationToken)
    {
        AggregatorDelivery d = await inner.ReceiveAsync(cancellationToken);
        return d.Bank == from ? d with { Bank = to } : d;
    }
}

[TestFixture, Parallelizable(ParallelScope.Children)]
public sealed class FreshUserTrialTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(3);

    private static ulong[] Vector(int bank, ulong round, int length) =>
        Enumerable.Range(0, length).Select(j => (ulong)((bank + 1) * 1_000 + (long)round * 10 + j)).ToArray();

    private static ulong[] PlainSum(IEnumerable<int> banks, ulong round, int length, int bits)
    {
        var sum = new ulong[length];
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        foreach (int b in banks)
        {
            ulong[] v = Vector(b, round, length);
            for (int j = 0; j < length; j++) sum[j] = (sum[j] + v[j]) & mask;
        }
        return sum;
    }

    // ------------------------------------------------------------------ 1. the transport's sender (SPEC.md 14.1)

    [TestCase(7, TestName = "Trial/masking/sender/outside-roster")]
    [TestCase(2, TestName = "Trial/masking/sender/another-bank")]
    public async Task Masking_BankMessagesUnderAnotherTransportSender_AreRefusedAsUnknownSender_AndTheBankIsNotCounted(int relabelledAs)
    {
        using var d = new MaskingDeployment(4, 3, $"trial/sender/{relabelledAs}", Deadline);
        var coordinator = new MaskingCoordinator(d.Aggregator, new RelabellingTransport(d.AggregatorTransport, 1, relabelledAs),
            new CoordinatorOptions { StageDeadline = Deadline, SetupDeadline = TimeSpan.FromSeconds(3) });
        using var bank1 = new CancellationTokenSource();
        Task join1 = d.Clients[1].JoinAsync(bank1.Token);
        await Task.WhenAll(new[] { 0, 2, 3 }.Select(b => d.Clients[b].JoinAsync()).Append(coordinator.SetupAsync())).WaitAsync(Guard);

        Assert.That(coordinator.InSession, Is.EqualTo(new[] { 0, 2, 3 }), "bank 1's AdvertiseKeys under another sender is not in the session");
        Assert.That(coordinator.Refusals, Does.Contain((relabelledAs, ViolationReason.UnknownSender)));

        int[] banks = [0, 2, 3];
        var ctx = new SumContext(1, 8, d.Parameters.ModulusBits);
        var tasks = banks.Select(b => d.Clients[b].SumAsync(Vector(b, 1, 8), ctx)).ToArray();
        CoordinatorRoundResult r = await coordinator.RunRoundAsync(1, 8).WaitAsync(Guard);
        Assert.That(r.Contributors, Is.EqualTo(banks));
        Assert.That(r.Sum, Is.EqualTo(PlainSum(banks, 1, 8, d.Parameters.ModulusBits)));
        foreach (var t in tasks) Assert.That((await t.WaitAsync(Guard)).Sum, Is.EqualTo(r.Sum));
        await bank1.CancelAsync();
        Assert.That(async () => await join1, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void MaskingAggregator_RefusesABodyNamingAnotherBankThanTheTransportSender_AfterParsing_WithNoStateChange()
    {
        using var driver = new Masking.Driver(4, 3, "trial/sender/unit");
        MaskingAggregator agg = driver.Agg;
        byte[] advert1 = driver.H.Banks[1].AdvertiseKeys();
        AggregatorState before = agg.State;
        var other = Assert.Throws<ProtocolViolationException>(() => agg.Receive(2, advert1))!;
        Assert.That(other.Reason, Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(other.Message, Does.Contain("bank 2").And.Contain("bank 1"));
        var outside = Assert.Throws<ProtocolViolationException>(() => agg.Receive(7, advert1))!;
        Assert.That(outside.Reason, Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => agg.Receive(7, [1, 2, 3]))!.Reason, Is.EqualTo(ViolationReason.Malformed), "parsing comes first");
        Assert.That(agg.State, Is.SameAs(before), "nothing changed");
        agg.Receive(1, advert1);   // the genuine sender is accepted afterwards
        Assert.That(agg.State, Is.Not.SameAs(before));
    }

    [Test]
    public void MaskingCoordinator_RefusesATransportOfAnotherBankCount()
    {
        using var d = new MaskingDeployment(4, 3, "trial/count", Deadline);
        var five = new InMemorySumTransport(5);
        var e = Assert.Throws<ArgumentException>(() => _ = new MaskingCoordinator(d.Aggregator, five.Aggregator))!;
        Assert.That(e.ParamName, Is.EqualTo("transport"));
        Assert.That(e.Message, Does.Contain("bank count"));
    }

    // ------------------------------------------------------------------ 2. a round that already ran

    [Test]
    public async Task He_SumAsyncOnARoundThatAlreadyRan_IsRefusedBeforeAnythingIsSent_AsInMasking()
    {
        using var he = new HeDeployment(4, "trial/he/replay", P, Deadline);
        await he.SetupAsync().WaitAsync(Guard);
        int[] all = [0, 1, 2, 3];
        var ctx = new SumContext(4, 6, 44);
        var tasks = all.Select(b => he.Clients[b].SumAsync(Vector(b, 4, 6), ctx)).ToArray();
        CoordinatorRoundResult r = await he.Coordinator.RunRoundAsync(4, 6).WaitAsync(Guard);
        await Task.WhenAll(tasks).WaitAsync(Guard);
        Assert.That(r.Sum, Is.EqualTo(PlainSum(all, 4, 6, 44)));

        int sent = he.AggregatorTransport.FromBanks.Count;
        foreach (ulong again in new ulong[] { 4, 3 })
        {
            var e = Assert.ThrowsAsync<ProtocolViolationException>(() => he.Clients[0].SumAsync(Vector(0, 99, 6), ctx with { Round = again }))!;
            Assert.That(e.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), $"round {again}");
            Assert.That(e.Message, Does.Contain("increase strictly"), $"round {again}");
        }
        Assert.That(he.AggregatorTransport.FromBanks, Has.Count.EqualTo(sent), "nothing was sent");

        using var masking = new MaskingDeployment(3, 2, "trial/masking/replay", Deadline);
        await masking.SetupAsync().WaitAsync(Guard);
        var mctx = new SumContext(4, 6, masking.Parameters.ModulusBits);
        var mtasks = Enumerable.Range(0, 3).Select(b => masking.Clients[b].SumAsync(Vector(b, 4, 6), mctx)).ToArray();
        await masking.Coordinator.RunRoundAsync(4, 6).WaitAsync(Guard);
        await Task.WhenAll(mtasks).WaitAsync(Guard);
        var m = Assert.ThrowsAsync<ProtocolViolationException>(() => masking.Clients[0].SumAsync(Vector(0, 99, 6), mctx))!;
        Assert.That(m.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), "both modes refuse it the same way");
    }

    // ------------------------------------------------------------------ 3. a round of another length

    [Test]
    public async Task He_ARoundOfAnotherLengthThanTheBanksVector_FailsAtOnce_NamingBothLengths()
    {
        using var d = new HeDeployment(4, "trial/he/length", P, TimeSpan.FromSeconds(30));
        await d.SetupAsync().WaitAsync(Guard);
        // Bank 0 believes round 8 sums 4 values; the coordinator runs it with 5.
        Task<SecureSumClientResult> wrong = d.Clients[0].SumAsync(Vector(0, 8, 4), new SumContext(8, 4, 44));
        var right = new[] { 1, 2, 3 }.Select(b => d.Clients[b].SumAsync(Vector(b, 8, 5), new SumContext(8, 5, 44))).ToArray();
        Task<CoordinatorRoundResult> round = d.Coordinator.RunRoundAsync(8, 5, expected: [1, 2, 3]);
        var e = Assert.ThrowsAsync<RoundLengthMismatchException>(() => wrong.WaitAsync(TimeSpan.FromSeconds(20)))!;
        Assert.That((e.Round, e.RoundLength, e.VectorLength), Is.EqualTo((8UL, 5, 4)));
        Assert.That(e.Message, Does.Contain("5 values").And.Contain("passed 4"));
        CoordinatorRoundResult r = await round.WaitAsync(Guard);
        Assert.That(r.Contributors, Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(r.Sum, Is.EqualTo(PlainSum([1, 2, 3], 8, 5, 44)));
        await Task.WhenAll(right).WaitAsync(Guard);
    }

    [Test]
    public async Task Masking_ARoundOfAnotherLengthThanTheBanksVector_FailsWithTheOutcome_NamingBothLengths()
    {
        using var d = new MaskingDeployment(4, 3, "trial/masking/length", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int bits = d.Parameters.ModulusBits;
        Task<SecureSumClientResult> wrong = d.Clients[0].SumAsync(Vector(0, 8, 4), new SumContext(8, 4, bits));
        var right = new[] { 1, 2, 3 }.Select(b => d.Clients[b].SumAsync(Vector(b, 8, 5), new SumContext(8, 5, bits))).ToArray();
        CoordinatorRoundResult r = await d.Coordinator.RunRoundAsync(8, 5).WaitAsync(Guard);
        Assert.That(r.Contributors, Is.EqualTo(new[] { 1, 2, 3 }), "bank 0's masked input of 4 values is not in the sum");
        Assert.That(r.Sum, Is.EqualTo(PlainSum([1, 2, 3], 8, 5, bits)));
        var e = Assert.ThrowsAsync<RoundLengthMismatchException>(() => wrong.WaitAsync(Guard))!;
        Assert.That((e.Round, e.RoundLength, e.VectorLength), Is.EqualTo((8UL, 5, 4)));
        Assert.That(e.Message, Does.Contain("5 values").And.Contain("passed 4"));
        await Task.WhenAll(right).WaitAsync(Guard);
    }

    // ------------------------------------------------------------------ 7. error texts

    [Test]
    public async Task He_ErrorTexts_NameWireSteps_AndATooSmallRoundGivesContributorsAgainstNeeded()
    {
        using var d = new HeDeployment(4, "trial/he/texts", P, Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        // A setup step in state Ready: named by its wire step, not by a C# record.
        byte[] stale = d.AggregatorTransport.ToBanks.First(m => FraudFed.Protocol.Wire.V1.HeAggregatorMessage.Parser.ParseFrom(m).StepCase
            == FraudFed.Protocol.Wire.V1.HeAggregatorMessage.StepOneofCase.SealedPoints);
        var wrong = Assert.Throws<ProtocolViolationException>(() => d.Parties[0].Receive(stale))!;
        Assert.That(wrong.Message, Does.Contain("sealed_points in state Ready").And.Not.Contain("He"));

        // Only one bank contributes: the coordinator and the bank both say how many contributed and how many were needed.
        var ctx = new SumContext(1, 3, 44);
        Task<SecureSumClientResult> lone = d.Clients[0].SumAsync(Vector(0, 1, 3), ctx);
        var failed = Assert.ThrowsAsync<ProtocolViolationException>(() => d.Coordinator.RunRoundAsync(1, 3, expected: [0]).WaitAsync(Guard))!;
        Assert.That(failed.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        string words = $"round 1 has 1 contributing bank; at least {Math.Max(d.Policy.Threshold, d.Policy.MinContributors)} are needed to open a sum "
            + $"(the threshold T = {d.Policy.Threshold} and K_min = {d.Policy.MinContributors}, SPEC.md 12.3); bank(s) 1, 2, 3 sent no complete upload";
        Assert.That(failed.Detail, Is.EqualTo(words));
        var bank = Assert.ThrowsAsync<ProtocolViolationException>(() => lone.WaitAsync(Guard))!;
        Assert.That(bank.Message, Does.Contain(words));
    }

    // ------------------------------------------------------------------ 9. the insecure test set needs an opt-in

    [Test]
    public void HomomorphicRoster_RefusesTheInsecureTestSet_UnlessTheCallerOptsIn()
    {
        byte[][] banks = Enumerable.Range(1, 3).Select(i => Enumerable.Repeat((byte)i, 32).ToArray()).ToArray();
        byte[] aggregator = Enumerable.Repeat((byte)9, 32).ToArray();
        FraudFed.Cryptography.Threshold.DecryptionPolicy Policy() => new() { Threshold = 2, MinContributors = 2, MaxColluders = 0 };
        var e = Assert.Throws<ProtocolViolationException>(() => _ = new FraudFed.Protocol.Homomorphic.HomomorphicRoster(P, Policy(), banks, aggregator))!;
        Assert.That(e.Reason, Is.EqualTo(ViolationReason.InsecureParameters));
        Assert.That(e.Message, Does.Contain("allowInsecureTestParameters"));
        Assert.That(new FraudFed.Protocol.Homomorphic.HomomorphicRoster(P, Policy(), banks, aggregator, allowInsecureTestParameters: true).Banks, Is.EqualTo(3));
    }

    // ------------------------------------------------------------------ 9. one call at a time per client

    [Test]
    public async Task Clients_RefuseASecondConcurrentCall()
    {
        using var he = new HeDeployment(3, "trial/he/concurrent", P, Deadline);
        using var cts = new CancellationTokenSource();
        Task first = he.Clients[0].JoinAsync(cts.Token);   // waits for the session start that never comes
        Assert.ThrowsAsync<InvalidOperationException>(() => he.Clients[0].SumAsync(new ulong[2], new SumContext(1, 2, 44)));
        Assert.ThrowsAsync<InvalidOperationException>(() => he.Clients[0].JoinAsync());
        await cts.CancelAsync();
        Assert.That(async () => await first, Throws.InstanceOf<OperationCanceledException>());

        using var masking = new MaskingDeployment(3, 2, "trial/masking/concurrent", Deadline);
        using var cts2 = new CancellationTokenSource();
        Task firstMasking = masking.Clients[0].JoinAsync(cts2.Token);
        Assert.ThrowsAsync<InvalidOperationException>(() => masking.Clients[0].SumAsync(new ulong[2], new SumContext(1, 2, masking.Parameters.ModulusBits)));
        await cts2.CancelAsync();
        Assert.That(async () => await firstMasking, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(masking.Banks[0].State, Is.TypeOf<BankAdvertiseKeys>().And.Property("Advertised").True, "only the first call advertised");
    }
}
