// The buffer blocks of the appliance's connections: Kestrel's socket transport, TLS layer and HTTP/2 streams take their
// buffers from the connection's memory pool, and the socket transport receives into the free part of one block per
// system call. Kestrel's own pool has 4096-byte blocks, so a homomorphic upload or decryption share (65 to 131 KB, nine
// of them per secure sum of the default `simulate`) arrived in 4 KB recv calls, each one a trip through the socket engine,
// the transport pipe and the TLS reader. This pool hands out 64 KiB blocks instead: a recv takes what the socket holds up
// to that, and the TLS reader gets whole records. Blocks are pinned (on the pinned object heap, as Kestrel's are: socket
// operations then pin nothing per call), reused, and kept idle up to a cap; a block above the cap is left to the GC.
using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace FraudFed.Aggregator.Hosting;

/// <summary>Creates the <see cref="ReceiveBlockPool"/> of each Kestrel transport (see the file header).</summary>
internal sealed class ReceiveBlockPoolFactory : IMemoryPoolFactory<byte>
{
    /// <inheritdoc />
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new ReceiveBlockPool();
}

/// <summary>A pool of pinned blocks of <see cref="BlockBytes"/> bytes (see the file header). Thread-safe.</summary>
internal sealed class ReceiveBlockPool : MemoryPool<byte>
{
    /// <summary>64 KiB: a 131 KB message in three recv calls rather than 33.</summary>
    public const int BlockBytes = 64 << 10;

    /// <summary>Idle blocks kept for reuse: 16 MiB (the HTTP/2 window of one stream; several banks' uploads in flight at
    /// once borrow more, and those blocks go back to the GC).</summary>
    public const long MaxIdleBytes = 16L << 20;

    private readonly ConcurrentQueue<Block> _idle = new();
    private int _idleCount;

    /// <summary>Blocks made so far (tests: reuse keeps this flat).</summary>
    public long Allocated => Interlocked.Read(ref _allocated);
    private long _allocated;

    /// <inheritdoc />
    public override int MaxBufferSize => BlockBytes;

    /// <summary>A block of <see cref="BlockBytes"/> bytes, unspecified contents; disposing the owner hands it back.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is above <see cref="BlockBytes"/>
    /// (a pipe asks for at most <see cref="MaxBufferSize"/>).</exception>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockBytes);
        if (_idle.TryDequeue(out Block? block)) Interlocked.Decrement(ref _idleCount);
        else
        {
            block = new Block(this);
            Interlocked.Increment(ref _allocated);
        }
        block.Lend();
        return block;
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _idleCount) > MaxIdleBytes / BlockBytes)
        {
            Interlocked.Decrement(ref _idleCount);
            return;
        }
        _idle.Enqueue(block);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _idle.Clear();

    /// <summary>One pinned block; its owner while lent. A second Dispose of one loan does nothing, so a block is never idle
    /// twice (two renters would then share it).</summary>
    private sealed class Block(ReceiveBlockPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockBytes, pinned: true);
        private int _lent;

        public Memory<byte> Memory => MemoryMarshal.CreateFromPinnedArray(_array, 0, _array.Length);

        public void Lend() => Volatile.Write(ref _lent, 1);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _lent, 0) == 1) pool.Return(this);
        }
    }
}
