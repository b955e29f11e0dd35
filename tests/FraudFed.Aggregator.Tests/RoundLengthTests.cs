// A bank whose vector has another length than the pending round's gets a clear length error naming the round's length
// (INVALID_ARGUMENT, reason OutOfRange, trailer fraudfed-round-length; SPEC.md 14.5), nothing is stored, and the round
// still completes once the bank passes the right length.
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class RoundLengthTests
{
    [Test]
    public async Task SecondBankWithAnotherLength_GetsALengthErrorNamingTheRoundsLength_NothingIsStored_AndTheRoundStillCompletes()
    {
        const int banks = 3;
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: banks);
        await kit.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bound.Token;
        FederationClient[] clients = Enumerable.Range(0, banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));

        // Bank 0 asks first, for 4 values: that sets the round's length. Its own client asks (and then waits in the round for
        // the others), so no second request of bank 0 can race the round's opening (a raw request followed by the SDK's
        // request of the same bank was ambiguous: the SDK's could arrive after the round opened and queue bank 0 for the next).
        ulong[][] vectors = [[1, 2, 3, 4], [10, 20, 30, 40], [100, 200, 300, 400]];
        int bank0Before = kit.Host!.Coordinator.EventCountOf(0);
        Task<FederatedSum> first = clients[0].SumAsync(vectors[0], ct);
        while (kit.Host.Coordinator.EventCountOf(0) == bank0Before)
        {
            Assert.That(first.IsCompleted, Is.False, "bank 0's sum ended before its round request was stored");
            await Task.Delay(20, ct);
        }
        int storedBefore = kit.Host.Coordinator.EventCountOf(1);

        VectorLengthMismatchException? e = Assert.ThrowsAsync<VectorLengthMismatchException>(() => clients[1].SumAsync([1, 2, 3, 4, 5], ct));
        Assert.That(e!.ExpectedLength, Is.EqualTo(4));
        Assert.That(e.ActualLength, Is.EqualTo(5));
        Assert.That(e.Message, Does.Contain("vector length mismatch").And.Contain("4 values").And.Contain("passed 5"));
        Assert.That(e.Message, Does.Not.Contain("WrongRoundOrState").And.Not.Contain("Exception"));
        Assert.That(kit.Host.Coordinator.EventCountOf(1), Is.EqualTo(storedBefore), "a refused request stores nothing");

        // The same raw call gets INVALID_ARGUMENT with the reason and the round's length in the trailers.
        RawBank second = kit.Raw(1);
        Grpc.Core.RpcException rpc = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            await second.Grpc.RequestRoundAsync(new RoundRequest { Length = 5 }, cancellationToken: ct))!;
        Assert.That(rpc.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.InvalidArgument));
        Assert.That(StatusMapping.ReasonOf(rpc), Is.EqualTo(Cryptography.ViolationReason.OutOfRange));
        Assert.That(StatusMapping.RoundLengthOf(rpc), Is.EqualTo(4));

        // Bank 0 asking again with another length (as a restarted run of it would): the same refusal, naming its own earlier
        // length, not WrongRoundOrState; nothing stored, and its pending request stands.
        int bank0Stored = kit.Host.Coordinator.EventCountOf(0);
        Grpc.Core.RpcException own = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            await kit.Raw(0).Grpc.RequestRoundAsync(new RoundRequest { Length = 5 }, cancellationToken: ct))!;
        Assert.That(own.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.InvalidArgument));
        Assert.That(StatusMapping.ReasonOf(own), Is.EqualTo(Cryptography.ViolationReason.OutOfRange));
        Assert.That(StatusMapping.RoundLengthOf(own), Is.EqualTo(4));
        Assert.That(own.Status.Detail, Does.Contain("this bank asked to join it with that length before").And.Contain("passed 5"));
        Assert.That(kit.Host.Coordinator.EventCountOf(0), Is.EqualTo(bank0Stored), "a refused request stores nothing");

        // With the right length every bank gets the exact sum.
        FederatedSum[] results = await Task.WhenAll([first, .. clients.Skip(1).Select((c, i) => c.SumAsync(vectors[i + 1], ct))]);
        foreach (FederatedSum r in results) Assert.That(r.Sum, Is.EqualTo(new ulong[] { 111, 222, 333, 444 }));
    }
}
