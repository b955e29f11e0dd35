// The bank's TCP stream under TLS (Sdk/CoalescingSocketStream.cs) gathers full-frame writes and sends them later, and serves
// reads from a 64 KiB receive buffer. What a peer reads must be exactly what was written, in order, whatever the mix of
// write sizes (below, at and above the gathering threshold, bursts past the 256 KiB buffer, a write larger than it); a
// gathered write must reach the peer with no later write to push it; and reading in small pieces must not cost a receive
// call per piece. Over a real loopback TCP connection.
using System.Net;
using System.Net.Sockets;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class CoalescingSocketStreamTests
{
    private static async Task<(CoalescingSocketStream Ours, Socket Peer)> ConnectedAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task<Socket> accepted = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!);
        return (new CoalescingSocketStream(client), await accepted);
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket peer, int length)
    {
        var into = new byte[length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int at = 0; at < length;)
        {
            int n = await peer.ReceiveAsync(into.AsMemory(at), SocketFlags.None, timeout.Token);
            if (n == 0) throw new EndOfStreamException($"the peer got {at} of {length} bytes");
            at += n;
        }
        return into;
    }

    [Test]
    public async Task The_peer_reads_every_write_in_order_whatever_the_sizes()
    {
        var (ours, peer) = await ConnectedAsync();
        using (peer)
        await using (ours)
        {
            var random = new Random(5);
            // Small writes, full-frame writes (gathered), bursts of them past the 256 KiB buffer, and one write larger than it.
            int[] sizes = [5, 31, 16_437, 16_437, 16_437, 700, .. Enumerable.Repeat(16_437, 40), 16_384, 9, 300_000, 16_437, 1, 65_536, 16_437];
            byte[][] writes = sizes.Select(n => { var b = new byte[n]; random.NextBytes(b); return b; }).ToArray();
            byte[] expected = writes.SelectMany(b => b).ToArray();
            Task<byte[]> read = ReadExactlyAsync(peer, expected.Length);
            foreach (byte[] w in writes) await ours.WriteAsync(w);
            Assert.That(await read, Is.EqualTo(expected));
        }
    }

    [Test]
    public async Task A_gathered_write_reaches_the_peer_with_no_later_write()
    {
        var (ours, peer) = await ConnectedAsync();
        using (peer)
        await using (ours)
        {
            byte[] frames = new byte[3 * 16_437];
            new Random(6).NextBytes(frames);
            for (int i = 0; i < 3; i++) await ours.WriteAsync(frames.AsMemory(i * 16_437, 16_437));
            // Nothing follows: the queued send alone must deliver them (ReadExactlyAsync gives up after 30 s).
            Assert.That(await ReadExactlyAsync(peer, frames.Length), Is.EqualTo(frames));
        }
    }

    [Test]
    public async Task Reads_in_small_pieces_are_served_from_one_receive_buffer()
    {
        var (ours, peer) = await ConnectedAsync();
        using (peer)
        await using (ours)
        {
            byte[] sent = new byte[40_000];
            new Random(7).NextBytes(sent);
            await peer.SendAsync(sent, SocketFlags.None);
            var got = new List<byte>();
            int reads = 0;
            var piece = new byte[5];
            // A zero-byte read first (how SslStream waits for data), then 5-byte reads as a TLS reader takes record headers.
            Assert.That(await ours.ReadAsync(Memory<byte>.Empty), Is.Zero);
            while (got.Count < sent.Length)
            {
                int n = await ours.ReadAsync(piece);
                Assert.That(n, Is.GreaterThan(0), "end of stream before every byte arrived");
                got.AddRange(piece.Take(n));
                reads++;
            }
            Assert.That(got.ToArray(), Is.EqualTo(sent));
            Assert.That(ours.Receives, Is.LessThan(reads / 10), $"{ours.Receives} receive calls for {reads} reads");
        }
    }

    [Test]
    public async Task The_end_of_the_stream_reads_as_zero_and_a_closed_peer_fails_writes_as_an_IOException()
    {
        var (ours, peer) = await ConnectedAsync();
        await using (ours)
        {
            peer.Shutdown(SocketShutdown.Both);
            peer.Dispose();
            Assert.That(await ours.ReadAsync(new byte[10]), Is.Zero);
            // The first send after the peer's close may still succeed (RST arrives after it); a later one fails.
            Assert.That(async () => { for (int i = 0; i < 100; i++) { await ours.WriteAsync(new byte[100]); await Task.Delay(10); } },
                Throws.InstanceOf<IOException>());
        }
    }
}
