// The connection buffer pool of the appliance (Hosting/ReceiveBlockPool.cs): 64 KiB blocks, reused once handed back, a
// loan handed back twice is idle once (two renters never share a block), the idle total is capped, and the appliance's
// Kestrel takes this pool's factory.
using System.Buffers;
using FraudFed.Aggregator.Hosting;
using Microsoft.AspNetCore.Connections;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class ReceiveBlockPoolTests
{
    [Test]
    public void Rent_Gives64KiBBlocks_ReusedOnceReturned()
    {
        using var pool = new ReceiveBlockPool();
        IMemoryOwner<byte> first = pool.Rent(4096);
        Assert.That(first.Memory.Length, Is.EqualTo(ReceiveBlockPool.BlockBytes));
        Assert.That(pool.MaxBufferSize, Is.EqualTo(64 << 10));
        first.Dispose();
        for (int i = 0; i < 10; i++) pool.Rent().Dispose();
        Assert.That(pool.Allocated, Is.EqualTo(1), "a returned block serves the next rents");
    }

    [Test]
    public void ALoanDisposedTwice_IsLentToOneRenterOnly()
    {
        using var pool = new ReceiveBlockPool();
        IMemoryOwner<byte> block = pool.Rent();
        block.Dispose();
        block.Dispose();
        IMemoryOwner<byte> a = pool.Rent(), b = pool.Rent();
        a.Memory.Span.Fill(1);
        b.Memory.Span.Fill(2);
        Assert.That(a.Memory.Span[0], Is.EqualTo(1), "two renters got the same block");
        Assert.That(pool.Allocated, Is.EqualTo(2));
    }

    [Test]
    public void IdleBlocks_AreCappedAtMaxIdleBytes()
    {
        using var pool = new ReceiveBlockPool();
        int cap = (int)(ReceiveBlockPool.MaxIdleBytes / ReceiveBlockPool.BlockBytes);
        var lent = Enumerable.Range(0, cap + 8).Select(_ => pool.Rent()).ToList();
        foreach (IMemoryOwner<byte> b in lent) b.Dispose();
        long before = pool.Allocated;
        var again = Enumerable.Range(0, cap + 8).Select(_ => pool.Rent()).ToList();
        Assert.That(pool.Allocated - before, Is.EqualTo(8), "only the blocks above the cap were dropped");
        foreach (IMemoryOwner<byte> b in again) b.Dispose();
    }

    [Test]
    public void Rent_AboveTheBlockSize_Throws()
    {
        using var pool = new ReceiveBlockPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(ReceiveBlockPool.BlockBytes + 1));
    }

    [Test]
    public async Task TheAppliance_UsesThePoolForItsConnections()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", banks: 2);
        await kit.StartAsync();
        Assert.That(kit.Host!.Services.GetService(typeof(IMemoryPoolFactory<byte>)), Is.InstanceOf<ReceiveBlockPoolFactory>());
    }
}
