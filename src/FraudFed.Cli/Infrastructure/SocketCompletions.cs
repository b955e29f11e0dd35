// Socket completions on the socket engine's own thread (every `fraudfed` process): the runtime reads
// DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS once, when the first socket operation starts its epoll engine, and with "1"
// runs each completed receive or send's continuation (TLS record decryption, the HTTP/2 frame loop, Kestrel's transport
// pipe) on the thread that saw the readiness event, instead of queuing it to the thread pool and waking a worker. Over gRPC
// every secure sum is ~9 calls each way through those continuations; on the 2-vCPU guest every wake-up of a parked worker is
// a futex call and a VM exit. Application code is not inlined: the HTTP/2 client completes a response with its continuations
// run asynchronously, and Kestrel hands each request to the thread pool and keeps its I/O queues, so a long step (an HE
// decryption, the appliance's commit) never runs on the engine's thread; with the switch on, the runtime starts one engine
// thread per core, so the engine's thread is not a bottleneck. An operator's own setting of the variable wins. Measured on
// 2026-12-02 (`simulate --transport grpc --trees 40`, 202 sums, main and this alternated five times, load 10 to 33, with the
// appliance's per-certificate roster index): CPU of all six processes median 59.0 s against 55.2 s, the appliance's federated
// phase 9.7 s against 8.9 s, the bank processes 37.0 s against 34.0 s; sums and models bit for bit the same. The default
// run (1,002 sums, three pairs at load 17 to 20) showed nothing beyond the noise: median 110.7 against 110.0 CPU s. Kestrel's own
// inline scheduling on top (SocketTransportOptions.UnsafePreferInlineScheduling: TLS and the HTTP/2 frame loop of every bank
// on that thread too) showed nothing beyond the noise in two pairs (57.8 and 54.2 CPU s against 59.2 and 50.6) and is not used.
namespace FraudFed.Cli.Infrastructure;

/// <summary>Turns on inline socket completions for this process and the processes it starts (see the file header).</summary>
internal static class SocketCompletions
{
    /// <summary>The runtime's switch (System.Net.Sockets, Unix only; ignored elsewhere).</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Sets <see cref="Variable"/> to "1" unless the environment already sets it. Call before any socket is used.</summary>
    public static void PreferInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null) Environment.SetEnvironmentVariable(Variable, "1");
    }
}
