// The in-process masking coordinator stops waiting for a bank that left the running round with its BankAbort, in any stage
// of the round, as the appliance does (SPEC.md 8.3, 14.7): with a 10-minute stage deadline, a round in which bank 4 sends
// BankAbort instead of its k-th message finishes within seconds, exactly, without the parts bank 4 did not send.
using FraudFed.Cryptography;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Coordination;

[TestFixture]
public sealed class MaskingCoordinatorAbortTests
{
    private const int Banks = 5;
    private const int Length = 24;
    private static readonly TimeSpan StageDeadline = TimeSpan.FromMinutes(10);

    /// <summary>A bank that sends its first <paramref name="passThrough"/> messages of the round, then its BankAbort of the round
    /// in place of the next one, then nothing.</summary>
    private sealed class AbortingTransport(IBankTransport inner, int passThrough, byte[] sessionId, uint round) : IBankTransport
    {
        private int _sent;
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            int k = _sent++;
            if (k < passThrough) return inner.SendAsync(message, cancellationToken);
            if (k > passThrough) return ValueTask.CompletedTask;
            byte[] abort = new BankAbort(sessionId, round, ViolationReason.TooFewParticipants, "this bank leaves the round").Encode();
            return inner.SendAsync(abort, cancellationToken);
        }
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => inner.ReceiveAsync(cancellationToken);
    }

    [TestCase(0, false, TestName = "MaskingCoordinator/abort instead of ShareKeys")]
    [TestCase(1, false, TestName = "MaskingCoordinator/abort instead of MaskedInput")]
    [TestCase(2, true, TestName = "MaskingCoordinator/abort instead of ConsistencySignature")]
    public async Task ABankThatAbortsTheRound_IsNotWaitedFor_AndTheRoundIsExactWithoutIt(int passThrough, bool inputCounted)
    {
        using var d = new MaskingDeployment(Banks, null, $"coordinator-abort/{passThrough}", StageDeadline);
        await d.SetupAsync();
        const uint round = 1;
        var aborting = new AbortingTransport(d.BankTransports[Banks - 1], passThrough, (byte[])d.Parameters.SessionId.Clone(), round);
        d.Clients[Banks - 1] = new MaskingSecureSumClient(d.Banks[Banks - 1], d.Parameters, aborting);
        ulong[] Values(int b) => Enumerable.Range(0, Length).Select(j => (ulong)(b * 1000 + 7 * j + 1)).ToArray();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ctx = new SumContext(round, Length, d.Parameters.ModulusBits);
        Task<CoordinatorRoundResult> coordinator = d.Coordinator.RunRoundAsync(round, Length);
        Task<SecureSumClientResult>[] sums = d.Clients.Select((c, b) => c.SumAsync(Values(b), ctx)).ToArray();
        CoordinatorRoundResult result = await coordinator.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), "no stage waited for the bank that left until its deadline");

        int[] contributors = inputCounted ? [.. Enumerable.Range(0, Banks)] : [.. Enumerable.Range(0, Banks - 1)];
        ulong[] expected = Enumerable.Range(0, Length).Select(j => contributors.Aggregate(0UL, (s, b) => s + Values(b)[j])).ToArray();
        Assert.That(result.Contributors, Is.EqualTo(contributors));
        Assert.That(result.Sum, Is.EqualTo(expected));
        SecureSumClientResult[] others = await Task.WhenAll(sums.Take(Banks - 1)).WaitAsync(TimeSpan.FromSeconds(60));
        foreach (SecureSumClientResult r in others) Assert.That(r.Sum, Is.EqualTo(expected));
    }
}
