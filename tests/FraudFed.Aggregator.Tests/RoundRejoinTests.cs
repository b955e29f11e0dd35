// A bank that asks for a round while it is a participant of the running round and has sent nothing of it yet (SPEC.md 14.5,
// "Asking again inside a round"), over the real stack: loopback sockets, mutual TLS, `aggregator init`'s kit and state
// directories, 5 banks, both modes. A bank killed after its RoundRequest and before it saved anything of the round is
// restarted from its state directory: the appliance answers it with the running round (storing nothing), the bank runs that
// round from the start, and the round completes with every bank, long before the stage deadline; the same with the appliance
// restarted in between (the answer is a function of the replayed log). A joined bank's resend of its request keeps it in the
// round. A bank killed after it saved and sent its upload or masked input resumes from what it saved, and the round's sum is
// exact with its vector in it; a homomorphic bank killed after saving its upload and before sending it (the upload is not
// kept, SPEC.md 14.6) leaves the round's uploads and still decrypts it, and the round is exact without its vector.
using System.Diagnostics;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Testing;
using NUnit.Framework;
using static FraudFed.Aggregator.Tests.FiveBankRounds;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class RoundRejoinTests
{
    private const int Length = 40;
    private const double StageSeconds = 120;

    private static ulong[][] Vectors(int seed, int bits) => FiveBankRounds.Vectors(seed, bits, Length);

    private static void AssertExactWithEveryBank(IEnumerable<FederatedSum> results, ulong round, ulong[][] vectors, int bits)
    {
        foreach (FederatedSum r in results)
        {
            Assert.That(r.Round, Is.EqualTo(round));
            Assert.That(r.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)), $"round {round} has every bank's vector");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(vectors, Enumerable.Range(0, Banks), bits)), $"round {round}'s sum is the plaintext sum");
        }
    }

    /// <summary>Waits until round 1 is open (every bank asked, so no request is pending).</summary>
    private static void AssertRoundOneOpens(ApplianceKit kit) =>
        Assert.That(() => kit.Host!.Coordinator.Position, Does.Not.Contain("asked for round").And.Not.Contain("no round running").After(30_000, 50),
            "round 1 opened with all five banks");

    [TestCase("masking", false)]
    [TestCase("he", false)]
    [TestCase("masking", true)]
    [TestCase("he", true)]
    public async Task BankKilledAfterItsRoundRequest_BeforeSavingAnything_RestartsAndTakesPartInTheRunningRound(string mode, bool restartAppliance)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, stageSeconds: StageSeconds);
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);

        ulong[][] first = Vectors(40, bits);
        Task<FederatedSum>[] running = clients.Take(Banks - 1).Select((c, i) => c.SumAsync(first[i], ct)).ToArray();
        // Bank 4 asks to join round 1 (what SumAsync does first) and dies before it saved or sent anything of the round.
        Assert.That(await clients[Banks - 1].Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL));
        clients[Banks - 1].AbandonAsKilled();
        AssertRoundOneOpens(kit);
        var clock = Stopwatch.StartNew();
        if (restartAppliance)
        {
            await kit.StopAsync();
            await kit.StartAsync();
            Assert.That(kit.Host!.Coordinator.ReplayedEvents, Is.GreaterThan(0));
            Assert.That(kit.Host.Coordinator.Position, Does.Contain("round 1").And.Not.Contain("asked for round"), "the replay reopens round 1 with bank 4 in it");
        }

        clients[Banks - 1] = kit.Client(Banks - 1);   // restarted from its state directory
        await clients[Banks - 1].ConnectAsync(ct);
        int stored = kit.Host!.Coordinator.EventCountOf(Banks - 1);
        Assert.That(await clients[Banks - 1].Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL), "answered with the running round, not queued for round 2");
        Assert.That(kit.Host.Coordinator.EventCountOf(Banks - 1), Is.EqualTo(stored), "the answer stores nothing");
        Assert.That(kit.Host.Coordinator.Position, Does.Not.Contain("asked for round 2"));

        FederatedSum[] r1 = await Task.WhenAll(running.Append(clients[Banks - 1].SumAsync(first[Banks - 1], ct)));
        AssertExactWithEveryBank(r1, 1, first, bits);
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(StageSeconds / 2), "round 1 did not wait for a stage deadline");

        ulong[][] second = Vectors(41, bits);
        AssertExactWithEveryBank(await Task.WhenAll(clients.Select((c, i) => c.SumAsync(second[i], ct))), 2, second, bits);
    }

    [TestCase("masking")]
    [TestCase("he")]
    public async Task JoinedBankResendingItsRoundRequest_StaysInTheRound_StoresNothing_AndAnotherLengthIsRefused(string mode)
    {
        await using ApplianceKit kit = ApplianceKit.Create(mode, stageSeconds: StageSeconds);
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 120);

        ulong[][] first = Vectors(50, bits);
        Task<FederatedSum>[] running = clients.Take(Banks - 1).Select((c, i) => c.SumAsync(first[i], ct)).ToArray();
        FederationClient late = clients[Banks - 1];
        Assert.That(await late.Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL));
        AssertRoundOneOpens(kit);

        // A retry of the same request once the round opened (the first answer lost, or the SDK asking after an earlier request).
        int stored = kit.Host!.Coordinator.EventCountOf(Banks - 1);
        for (int resend = 0; resend < 2; resend++)
            Assert.That(await late.Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL), "a resend gets the first answer");
        VectorLengthMismatchException e = Assert.ThrowsAsync<VectorLengthMismatchException>(() => late.Transport.RequestRoundAsync(Length + 1, ct))!;
        Assert.That(e.ExpectedLength, Is.EqualTo(Length));
        Assert.That(e.Message, Does.Contain("round 1"));
        Assert.That(kit.Host.Coordinator.EventCountOf(Banks - 1), Is.EqualTo(stored), "neither the resends nor the refusal store anything");
        Assert.That(kit.Host.Coordinator.Position, Does.Not.Contain("asked for round 2"), "the bank is not queued for the next round");

        // Its SDK asks once more and runs round 1 with the others.
        FederatedSum[] r1 = await Task.WhenAll(running.Append(late.SumAsync(first[Banks - 1], ct)));
        AssertExactWithEveryBank(r1, 1, first, bits);
        ulong[][] second = Vectors(51, bits);
        AssertExactWithEveryBank(await Task.WhenAll(clients.Select((c, i) => c.SumAsync(second[i], ct))), 2, second, bits);
    }

    [Test]
    public async Task MaskingSumCancelledAfterItsShareKeys_TheSameClientAsksAgain_LeavesThatRoundFirst_AndTakesPartInTheNext()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", stageSeconds: StageSeconds);
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);
        using var cancelled = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int before = kit.Host!.Coordinator.EventCountOf(Banks - 1);

        ulong[][] first = Vectors(80, bits);
        // Bank 3 asks and waits, so the ShareKeys stage stays open: bank 4's call is cancelled while it waits for its shares,
        // after its ShareKeys was stored. The bank drops round 1's secrets; the appliance still counts it in round 1.
        Assert.That(await clients[3].Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL));
        Task<FederatedSum>[] running = Enumerable.Range(0, 3).Select(i => clients[i].SumAsync(first[i], ct)).ToArray();
        Task<FederatedSum> gaveUp = clients[Banks - 1].SumAsync(first[Banks - 1], cancelled.Token);
        while (kit.Host.Coordinator.EventCountOf(Banks - 1) < before + 2) await Task.Delay(20, ct);   // its round request and ShareKeys
        cancelled.Cancel();
        Assert.That(async () => await gaveUp, Throws.InstanceOf<OperationCanceledException>(), "bank 4's call was cancelled inside round 1");

        // The same client asks again: it first sends its leave of round 1, so round 1 does not wait for its masked input, and it
        // is queued for round 2. Bank 3, which sent nothing of round 1, is answered with round 1 and runs it.
        var clock = Stopwatch.StartNew();
        ulong[][] second = Vectors(81, bits);
        Task<FederatedSum> again = clients[Banks - 1].SumAsync(second[Banks - 1], ct);
        FederatedSum[] r1 = await Task.WhenAll(running.Append(clients[3].SumAsync(first[3], ct)));
        int[] others = [.. Enumerable.Range(0, Banks - 1)];
        foreach (FederatedSum r in r1)
        {
            Assert.That(r.Round, Is.EqualTo(1UL));
            Assert.That(r.Contributors, Is.EqualTo(others), "bank 4 sent no masked input in round 1");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(first, others, bits)));
        }
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(StageSeconds / 2), "round 1 did not wait for bank 4 until a stage deadline");
        AssertExactWithEveryBank(await Task.WhenAll(clients.Take(Banks - 1).Select((c, i) => c.SumAsync(second[i], ct)).Append(again)), 2, second, bits);
    }

    [Test]
    public async Task HomomorphicDecryptorKilledAfterItsUpload_RestartsAndResumes_AndTheRoundIsExactWithItsVector()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", stageSeconds: StageSeconds);
        var (clients, _, ct) = await StartConnectedAsync(kit, seconds: 150);
        // Bank 0 (a decryptor: they are the first T contributors) is killed once its upload is stored.
        using var killed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int before = kit.Host!.Coordinator.EventCountOf(0);

        ulong[][] first = Vectors(60, 44);
        // Bank 4 asks and waits: the uploads stay open, so no decryption request can reach bank 0 before it is killed.
        Assert.That(await clients[Banks - 1].Transport.RequestRoundAsync(Length, ct), Is.EqualTo(1UL));
        Task<FederatedSum>[] running = Enumerable.Range(0, Banks - 1).Select(i => clients[i].SumAsync(first[i], i == 0 ? killed.Token : ct)).ToArray();
        while (kit.Host.Coordinator.EventCountOf(0) < before + 2) await Task.Delay(20, ct);   // its round request and its upload
        killed.Cancel();
        Assert.That(async () => await running[0], Throws.InstanceOf<OperationCanceledException>(), "bank 0 was killed inside round 1");

        clients[0] = KillAndRestart(kit, clients[0]);   // resends its saved upload (a resend), then answers round 1's decryption request
        await clients[0].ConnectAsync(ct);
        ulong[][] second = Vectors(61, 44);
        Task<FederatedSum> restarted = clients[0].SumAsync(second[0], ct);   // queued for round 2: it sent its part of round 1
        FederatedSum[] r1 = await Task.WhenAll(running.Skip(1).Append(clients[Banks - 1].SumAsync(first[Banks - 1], ct)));
        AssertExactWithEveryBank(r1, 1, first, 44);

        FederatedSum[] r2 = await Task.WhenAll(clients.Skip(1).Select((c, i) => c.SumAsync(second[i + 1], ct)).Prepend(restarted));
        AssertExactWithEveryBank(r2, 2, second, 44);
    }

    [Test]
    public async Task HomomorphicDecryptorKilledAfterSavingItsUpload_BeforeSendingIt_LeavesTheUploads_DecryptsTheRoundWithoutItsVector_AndJoinsTheNext()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", stageSeconds: StageSeconds);
        var (clients, _, ct) = await StartConnectedAsync(kit, seconds: 150);
        // Bank 0 (a decryptor: they are the first T banks that answered the uploads) dies after its round part (round open, ledger
        // record of the encryption) is durable and before its upload leaves: the upload is not kept (SPEC.md 14.6), so it is lost.
        clients[0].KilledBeforeSubmitForTests = m => HeWire.DecodeToAggregator(m.Span, Banks) is HeUploadMessage;
        ulong[][] first = Vectors(62, 44);
        Task<FederatedSum>[] running = clients.Select((c, i) => c.SumAsync(first[i], ct)).ToArray();
        Assert.That(async () => await running[0], Throws.InstanceOf<OperationCanceledException>(), "bank 0 was killed before its upload left");
        var clock = System.Diagnostics.Stopwatch.StartNew();

        clients[0] = KillAndRestart(kit, clients[0]);
        await clients[0].ConnectAsync(ct);
        ulong[][] second = Vectors(63, 44);
        // The appliance still awaits bank 0's upload of round 1 and answers its request with round 1: bank 0 leaves round 1's
        // uploads (its ledger forbids a second encryption), answers round 1's decryption request, then asks for round 2.
        Task<FederatedSum> restarted = clients[0].SumAsync(second[0], ct);
        FederatedSum[] r1 = await Task.WhenAll(running.Skip(1));
        foreach (FederatedSum r in r1)
        {
            Assert.That(r.Round, Is.EqualTo(1UL));
            Assert.That(r.Contributors, Is.EqualTo(new[] { 1, 2, 3, 4 }), "round 1 goes on without bank 0's lost upload");
            Assert.That(r.Sum, Is.EqualTo(PlainSum(first, Enumerable.Range(1, Banks - 1), 44)), "and is exact with the other banks' vectors");
        }
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(StageSeconds / 2), "round 1 did not wait for bank 0 until a stage deadline");

        FederatedSum[] r2 = await Task.WhenAll(clients.Skip(1).Select((c, i) => c.SumAsync(second[i + 1], ct)).Prepend(restarted));
        AssertExactWithEveryBank(r2, 2, second, 44);
    }

    [Test]
    public async Task MaskingBankKilledAfterItsMaskedInput_RestartsAndLeaves_AndTheRoundIsExactWithItsVector()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", stageSeconds: StageSeconds);
        var (clients, bits, ct) = await StartConnectedAsync(kit, seconds: 150);
        using var killed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int before = kit.Host!.Coordinator.EventCountOf(Banks - 1);

        ulong[][] first = Vectors(70, bits);
        Task<FederatedSum>[] running = clients.Select((c, i) => c.SumAsync(first[i], i == Banks - 1 ? killed.Token : ct)).ToArray();
        // Bank 4 dies once its round request, ShareKeys and masked input are stored (it saved its state before each of them).
        while (kit.Host.Coordinator.EventCountOf(Banks - 1) < before + 3) await Task.Delay(20, ct);
        killed.Cancel();
        // Usually the kill lands before bank 4 signs the survivor list; when it already finished the round, its result must be exact too.
        try { AssertExactWithEveryBank([await running[Banks - 1]], 1, first, bits); }
        catch (OperationCanceledException) { }

        clients[Banks - 1] = KillAndRestart(kit, clients[Banks - 1]);   // its saved state is inside round 1, so it leaves that round
        await clients[Banks - 1].ConnectAsync(ct);
        FederatedSum[] r1 = await Task.WhenAll(running.Take(Banks - 1));
        AssertExactWithEveryBank(r1, 1, first, bits);   // its masked input arrived: it is in U2, its self mask opened from shares

        ulong[][] second = Vectors(71, bits);
        AssertExactWithEveryBank(await Task.WhenAll(clients.Select((c, i) => c.SumAsync(second[i], ct))), 2, second, bits);
    }
}
