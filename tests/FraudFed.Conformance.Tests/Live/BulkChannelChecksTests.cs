using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Conformance.Live;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests.Live;

/// <summary>The bulk-channel live checks (SPEC.md 13 and 14.8) against a real appliance (loopback, mutual TLS, SQLite), where
/// every check passes, and against a deliberately wrong target, where the checks it breaks fail and say what they sent and
/// expected.</summary>
[TestFixture]
public sealed class BulkChannelChecksTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Path.Combine(Path.GetTempPath(), "fraudfed-bulkchecks-" + Guid.NewGuid().ToString("N")[..12]);

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private string Kit()
    {
        DevelopmentProvisioning.Write(_dir, new ProvisioningOptions
        {
            Banks = 3, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0",
            Deadlines = new DeadlineSettings { SetupSeconds = 60, JoinSeconds = 3, StageSeconds = 60 },
        });
        return _dir;
    }

    private static IReadOnlyList<LiveCheckResult> Run(Uri address, string kit)
    {
        using LiveTarget target = LiveTarget.Load(new LiveOptions { Target = address, BanksDirectory = kit, StageTimeoutSeconds = 10 });
        return BulkChannelChecks.RunAsync(target).GetAwaiter().GetResult();
    }

    private static string Report(IReadOnlyList<LiveCheckResult> results) => string.Join("\n", results.Select(r => $"{r.Passed} {r.Name} {r.Detail}"));

    [Test]
    public async Task RealAppliance_PassesEveryBulkCheck()
    {
        string kit = Kit();
        using LoadedAggregatorConfig loaded = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        await using ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.None));
        await host.StartAsync();
        IReadOnlyList<LiveCheckResult> results = Run(host.Addresses.First(a => a.Scheme == "https"), kit);
        string report = Report(results);
        TestContext.Out.WriteLine(report);
        Assert.That(results.Select(r => r.Name), Is.EqualTo(BulkChannelChecks.Catalogue.Select(c => "appliance/masking/" + c.Name)));
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.Empty, report);
        Assert.That(results.Single(r => r.Name.EndsWith("/bulk-unknown-client-refused", StringComparison.Ordinal)).Detail,
            Does.Contain("no client certificate:").And.Contain("the roster does not pin:"));
        // The appliance still serves gRPC after every check (the oversized check asked already; once more at the end).
        using LiveTarget target = LiveTarget.Load(new LiveOptions { Target = host.Addresses.First(a => a.Scheme == "https"), BanksDirectory = kit });
        using var bank = target.Open(1);
        await bank.ConnectAsync(CancellationToken.None);
        await host.StopAsync();
    }

    [Test]
    public async Task ServerThatAnswersEveryFrameOk_FailsTheRefusalChecks_SayingWhatWasSentAndExpected()
    {
        string kit = Kit();
        await using var stub = WrongBulkServer.Start(kit);
        IReadOnlyList<LiveCheckResult> results = Run(stub.Address, kit);
        string report = Report(results);
        TestContext.Out.WriteLine(report);
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.EqualTo(new[]
        {
            "appliance/masking/bulk-oversized-frame-refused", "appliance/masking/bulk-unknown-kind-refused",
            "appliance/masking/bulk-malformed-payload-refused", "appliance/masking/bulk-unknown-client-refused",
        }), report);
        Assert.That(results.Single(r => r.Name.EndsWith("/bulk-alpn-selected", StringComparison.Ordinal)).Passed, Is.True, "the stub selects the ALPN protocols as the appliance does");
        foreach (LiveCheckResult r in results.Where(r => !r.Passed))
            Assert.That(r.Detail, Does.Contain("sent: ").And.Contain("expected: ").And.Contain("got: "), r.Name);
        Assert.That(Detail(results, "bulk-oversized-frame-refused"), Does.Match(@"a Submit frame header declaring \d+ bytes \(the cap is max_message_bytes \+ 1 KiB = \d+\) and no payload").And.Contain("got: an OK frame (0 bytes)"));
        Assert.That(Detail(results, "bulk-unknown-kind-refused"), Does.Contain("kind 0x07").And.Contain("got: an OK frame (0 bytes)"));
        Assert.That(Detail(results, "bulk-malformed-payload-refused"), Does.Contain("0a0501").And.Contain("got: an OK frame (0 bytes)"));
        Assert.That(Detail(results, "bulk-unknown-client-refused"), Does.Contain("with no client certificate").And.Contain("the Receive was answered: an OK frame"));
        Assert.That(stub.Frames, Is.GreaterThanOrEqualTo(4), "the stub was reached over TLS and read the frames");
    }

    /// <summary>SPEC.md 13's table of live checks lists every bulk-channel check, in the catalogue's order.</summary>
    [Test]
    public void SpecLiveTable_ListsTheBulkChecks_InOrder()
    {
        string spec = File.ReadAllText(Path.Combine(FraudFed.Testing.Repository.Root, "protocols", "SPEC.md"));
        int section = spec.IndexOf("\n### Live conformance\n", StringComparison.Ordinal);
        int end = spec.IndexOf("\n### Live conformance: bank refusals", StringComparison.Ordinal);
        Assert.That(section, Is.GreaterThan(0));
        Assert.That(end, Is.GreaterThan(section));
        var listed = spec[section..end].Split('\n').Where(l => l.StartsWith("| `bulk-", StringComparison.Ordinal))
            .Select(l => l.Split('`')[1]).ToList();
        Assert.That(listed, Is.EqualTo(BulkChannelChecks.Catalogue.Select(c => c.Name)));
    }

    private static string Detail(IReadOnlyList<LiveCheckResult> results, string check) => results.Single(r => r.Name.EndsWith("/" + check, StringComparison.Ordinal)).Detail;

    /// <summary>A TLS server on loopback with the kit's server certificate that selects ALPN like the appliance (fraudfed-bulk/1
    /// before h2) but asks for no client certificate and answers every request frame with an empty OK frame, never closing.</summary>
    private sealed class WrongBulkServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _certificate;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private int _frames;

        private WrongBulkServer(string kit)
        {
            _certificate = TlsFiles.LoadCertificateWithKey(Path.Combine(kit, "server.crt.pem"), Path.Combine(kit, "server.key.pem"));
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _loop = Task.Run(AcceptAsync);
        }

        public static WrongBulkServer Start(string kit) => new(kit);

        public Uri Address => new($"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

        public int Frames => Volatile.Read(ref _frames);

        private async Task AcceptAsync()
        {
            var connections = new List<Task>();
            try
            {
                while (true)
                {
                    Socket socket = await _listener.AcceptSocketAsync(_stop.Token);
                    connections.Add(Task.Run(() => ServeAsync(socket)));
                }
            }
            catch (OperationCanceledException) { }
            catch (SocketException) { }
            await Task.WhenAll(connections);
        }

        private async Task ServeAsync(Socket socket)
        {
            using (socket)
            await using (var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false)))
            {
                try
                {
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        ClientCertificateRequired = false,
                        RemoteCertificateValidationCallback = (_, _, _, _) => true,
                        ApplicationProtocols = [new SslApplicationProtocol("fraudfed-bulk/1"), SslApplicationProtocol.Http2],
                    }, _stop.Token);
                    var header = new byte[5];
                    while (await ssl.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, _stop.Token) == header.Length)
                    {
                        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(1));
                        if (length <= 1 << 20) await ssl.ReadExactlyAsync(new byte[length], _stop.Token);
                        Interlocked.Increment(ref _frames);
                        await ssl.WriteAsync(new byte[] { 0x80, 0, 0, 0, 0 }, _stop.Token);   // an OK frame with an empty payload (SPEC.md 14.8)
                        await ssl.FlushAsync(_stop.Token);
                    }
                    await Task.Delay(Timeout.Infinite, _stop.Token);   // never closes a connection of its own accord
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException) { }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _certificate.Dispose();
            _stop.Dispose();
        }
    }
}
