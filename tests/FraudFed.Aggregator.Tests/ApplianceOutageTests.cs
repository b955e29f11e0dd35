// What a bank sees while the appliance is down or cannot write its state: the SDK retries an unreachable appliance for a
// time budget (not a count), so an appliance restart of ~20 s is ridden out and the waiting banks finish the exact sum; each
// retry is reported. An appliance whose state write fails (a store double whose writes throw "disk full") answers every
// call FAILED_PRECONDITION with the trailer fraudfed-appliance-state, logs it once, turns /healthz unhealthy, and the bank
// stops at once with the message instead of waiting for its timeout. After a restart mid-round the log names where the
// session stands (round, stage, inputs in). A TLS handshake refused for an unpinned certificate is counted in
// fraudfed_rejects_total{reason="certificate"}. Real loopback mutual TLS and a real SQLite state file (the kit of `aggregator init`).
using System.Collections.Concurrent;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Testing;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class ApplianceOutageTests
{
    private const int Banks = 5;
    private const int Length = 40;

    private sealed class Recorder : IProgress<ConnectionRetry>
    {
        public ConcurrentQueue<ConnectionRetry> Retries { get; } = new();
        public void Report(ConnectionRetry value) => Retries.Enqueue(value);
    }

    [Test]
    public async Task ApplianceRestartedAfter20Seconds_OnTheSamePortAndStateFile_WaitingBanksFinishTheExactSum()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bounded.Token;
        var recorder = new Recorder();
        // A 60 s budget: the count-based policy this replaces (8 retries, ~17 s) gave up during such a restart.
        FederationClientOptions options = ApplianceKit.FastClient with { RetryBudget = TimeSpan.FromSeconds(60), MaxRetryDelay = TimeSpan.FromSeconds(2), RetryProgress = recorder };
        var clients = new List<FederationClient>();
        for (int i = 0; i < Banks; i++) clients.Add(FederationClient.Create(kit.LoadBank(i), options));
        try
        {
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
            int before = kit.Host!.Coordinator.EventCount;
            Random r = TestRandom.Plain(71);
            ulong[][] vectors = Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64(1L << 32)).ToArray()).ToArray();
            // Four banks ask for the round and wait for it to open (the fifth has not asked yet): they are in their long polls.
            Task<FederatedSum>[] waiting = Enumerable.Range(0, Banks - 1).Select(i => clients[i].SumAsync(vectors[i], ct)).ToArray();
            while (kit.Host.Coordinator.EventCount < before + Banks - 1) await Task.Delay(50, ct);   // their round requests are stored
            await kit.StopAsync();
            var down = System.Diagnostics.Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(20), ct);
            Assert.That(waiting.Where(t => t.IsCompleted), Is.Empty, "no bank gave up while the appliance was down");
            await kit.StartAsync();
            FederatedSum last = await clients[Banks - 1].SumAsync(vectors[Banks - 1], ct);
            FederatedSum[] results = [.. await Task.WhenAll(waiting), last];
            var expected = new ulong[Length];
            foreach (ulong[] v in vectors)
                for (int j = 0; j < Length; j++) expected[j] = (expected[j] + v[j]) & 0xFFFF_FFFFUL;
            foreach (FederatedSum s in results)
            {
                Assert.That(s.Sum, Is.EqualTo(expected));
                Assert.That(s.Contributors, Is.EqualTo(Enumerable.Range(0, Banks)));
            }
            Assert.That(down.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(20)));
            ConnectionRetry[] seen = [.. recorder.Retries];
            Assert.That(seen.Length, Is.GreaterThanOrEqualTo(Banks - 1), "every waiting bank reported its retries");
            Assert.That(seen.Max(x => x.Attempt), Is.GreaterThan(8), "more retries than the old count allowed");
            Assert.That(seen.Where(x => x.Remaining >= TimeSpan.FromSeconds(1)).Select(x => x.ToString()),
                Has.All.Match(@"^appliance unreachable, retrying in [0-9.]+ s \(attempt \d+, [0-9.]+ s left\)$"));
            Assert.That(seen.All(x => x.Delay <= TimeSpan.FromSeconds(2)), "capped backoff");
        }
        finally
        {
            foreach (FederationClient c in clients) await c.DisposeAsync();
        }
    }

    [Test]
    public async Task UnreachableAppliance_FailsWhenTheBudgetIsSpent_NotBefore_NamingTheBudget()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        await kit.StopAsync();   // the port is closed: connection refused
        var recorder = new Recorder();
        await using FederationClient client = FederationClient.Create(kit.LoadBank(0),
            ApplianceKit.FastClient with { RetryBudget = TimeSpan.FromSeconds(3), MaxRetryDelay = TimeSpan.FromSeconds(1), RetryProgress = recorder });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ApplianceUnreachableException? e = Assert.ThrowsAsync<ApplianceUnreachableException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token));
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(2.9)).And.LessThan(TimeSpan.FromSeconds(20)));
        Assert.That(e!.Message, Does.Contain("is unreachable after").And.Contain("retry budget 3 s; connection refused: nothing listens on that port)"));
        // The transport's own text (exception type names, "Error starting gRPC call") stays out of the message.
        Assert.That(e.Message, Does.Not.Contain("Exception").And.Not.Contain("Error starting gRPC call"));
        Assert.That(e.Reason, Is.EqualTo("connection refused: nothing listens on that port"));
        Assert.That(recorder.Retries, Is.Not.Empty);
        Assert.That(recorder.Retries.Last().Remaining, Is.LessThan(TimeSpan.FromSeconds(1)));
        Assert.That(recorder.Retries.Last().ToString(), Does.Match(@"^appliance unreachable, last try in [0-9.]+ s \(attempt \d+; the retry budget ends with it\)$"),
            "the retry that spends the budget does not promise more time");
    }

    [Test]
    public async Task StateWriteFails_BanksStopAtOnceWithTheMessage_TheOperatorGetsOneLogLineAndAnUnhealthyHealthz()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        FailingStore? store = null;
        kit.OpenStore = path => store = new FailingStore(new SqliteAggregatorStore(path));
        using var logs = new CapturedLogs();
        kit.Logs = logs;
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bounded.Token;
        var clients = Enumerable.Range(0, Banks).Select(kit.Client).ToArray();
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)));
        ulong[] vector = [1, 2, 3];
        // Bank 1 asks for the round and waits for it to open (its long poll); then the disk fills and bank 0 asks.
        int before = kit.Host!.Coordinator.EventCount;
        Task<FederatedSum> waiting = clients[1].SumAsync(vector, ct);
        while (kit.Host.Coordinator.EventCount < before + 1) await Task.Delay(20, ct);
        store!.FailWrites = true;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ApplianceStateFailedException? first = Assert.ThrowsAsync<ApplianceStateFailedException>(() => clients[0].SumAsync(vector, ct));
        Assert.That(first!.Message, Does.Contain("could not persist its state").And.Contain("disk full").And.Contain("restart"));
        ApplianceStateFailedException? polled = Assert.ThrowsAsync<ApplianceStateFailedException>(async () => await waiting);
        Assert.That(polled!.Message, Does.Contain("could not persist its state"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "at once (one long poll), not after the 90 s stage timeout nor a retry budget");
        // The gRPC answer itself: FAILED_PRECONDITION with the trailer, for every method.
        RawBank raw = kit.Raw(2);
        RpcException e = Assert.ThrowsAsync<RpcException>(async () => await raw.Grpc.GetSessionAsync(new FraudFed.Sdk.Wire.GetSessionRequest(), cancellationToken: ct))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(StatusMapping.IsApplianceStateFailure(e), Is.True);
        Assert.That(e.Status.Detail, Does.Contain("could not persist"));

        Uri ops = kit.Host.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        using HttpResponseMessage health = await http.GetAsync(new Uri(ops, "/healthz"), ct);
        Assert.That((int)health.StatusCode, Is.EqualTo(503));
        Assert.That(await health.Content.ReadAsStringAsync(ct), Is.EqualTo("Unhealthy: the appliance could not persist its state (disk full or a read-only state directory?); fix it and restart the appliance"));
        string metrics = await http.GetStringAsync(new Uri(ops, "/metrics"), ct);
        Assert.That(metrics, Does.Contain("reason=\"StateFailed\""));
        // Once from the coordinator, however many calls were refused after it (the health check's own line, at every poll, is
        // framework noise that the default logging of `aggregator serve` filters out).
        string[] critical = logs.Lines.Where(l => l.StartsWith("Critical:", StringComparison.Ordinal) && l.Contains("could not persist", StringComparison.Ordinal)).ToArray();
        Assert.That(critical, Has.Length.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(critical[0], Does.Contain("disk full (test)").And.Contain(kit.Loaded!.StatePath));
    }

    [Test]
    public async Task RestartMidRound_TheReplayLogLineNamesTheRoundTheStageAndTheInputsIn()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: Banks);
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        CancellationToken ct = bounded.Token;
        FederationClient[] clients = Enumerable.Range(0, Banks - 1).Select(kit.Client).ToArray();
        RawBank silent = kit.Raw(Banks - 1);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)).Append(silent.SetupAsync(ct)));
        // The silent bank joins round 1 and sends its ShareKeys, never its masked input: the round waits in MaskedInput with 4 of 5.
        await silent.Grpc.RequestRoundAsync(new FraudFed.Sdk.Wire.RoundRequest { Length = 3 }, cancellationToken: ct);
        using var stopSums = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task sums = Task.WhenAll(clients.Select(c => c.SumAsync([1, 2, 3], stopSums.Token)));
        while (true)
        {
            FraudFed.Sdk.Wire.MailboxItem item = await silent.NextAsync(ct);
            if (item.ItemCase == FraudFed.Sdk.Wire.MailboxItem.ItemOneofCase.RoundOpen) await silent.SubmitAsync(silent.Masking!.BeginRound((uint)item.RoundOpen.Round));
            else if (item.ItemCase == FraudFed.Sdk.Wire.MailboxItem.ItemOneofCase.Message) break;   // its ShareDelivery
        }
        while (!(kit.Host!.Coordinator.Stage.StartsWith("MaskedInput", StringComparison.Ordinal) && kit.Host.Coordinator.RoundMessages >= 2 * Banks - 1))
            await Task.Delay(50, ct);
        await kit.StopAsync();
        using var logs = new CapturedLogs();
        kit.Logs = logs;
        kit.LogLevel = LogLevel.Information;
        await kit.StartAsync();
        string[] replayed = logs.Lines.Where(l => l.Contains("resumed the", StringComparison.Ordinal)).ToArray();
        Assert.That(replayed, Has.Length.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(replayed[0], Does.Match(@"resumed the masking session of 5 banks from .+: 1 round opened \(0 with their sum opened, 0 failed\); session Ready; round 1 in stage MaskedInput with 4 of 5 inputs$"));
        stopSums.Cancel();
        try { await sums; } catch (OperationCanceledException) { } catch (FederationException) { }
    }

    [Test]
    public async Task RefusedHandshake_IsCountedInRejectsTotal_WithReasonCertificate()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await using ApplianceKit other = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        Assert.That(Rejects(await http.GetStringAsync(new Uri(ops, "/metrics")), AggregatorMetrics.CertificateReason), Is.Zero);
        // A certificate of another kit (not pinned), trusting this appliance's CA: refused at the handshake, not retried.
        using var stranger = new FraudFed.Sdk.Configuration.LoadedBankConfig(kit.LoadBank(0).Config, kit.Address, other.LoadBank(0).Certificate, kit.LoadBank(0).Ca, new byte[32]);
        await using (FederationClient client = FederationClient.Create(stranger, ApplianceKit.FastClient))
            Assert.ThrowsAsync<FederationException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token));
        // The Prometheus exporter caches a scrape for 300 ms: read until the count moves (bounded), then once more after the cache.
        async Task<double> ScrapeUntil(Func<double, bool> moved) =>
            Rejects(await SettledScrapeAsync(http, ops, s => moved(Rejects(s, AggregatorMetrics.CertificateReason))), AggregatorMetrics.CertificateReason);
        double afterClient = await ScrapeUntil(v => v >= 1);
        Assert.That(afterClient, Is.GreaterThanOrEqualTo(1), "the SDK's refused handshake(s)");
        // Exactly one more for one raw handshake with that certificate; a roster bank's calls add none.
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(kit.Address.Host, kit.Address.Port);
            using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            try
            {
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = kit.Address.Host, ClientCertificates = [other.LoadBank(0).Certificate],
                    ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
                });
                Assert.That(await tls.ReadAsync(new byte[1]), Is.Zero, "TLS 1.3: the appliance closes after the client's handshake");
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException) { }
        }
        await kit.Raw(1).Grpc.GetSessionAsync(new FraudFed.Sdk.Wire.GetSessionRequest());
        Assert.That(await ScrapeUntil(v => v > afterClient), Is.EqualTo(afterClient + 1));
    }

    [TestCase(System.Security.Authentication.SslProtocols.Tls13, TestName = "HandshakeWithoutClientCertificate/TLS 1.3")]
    [TestCase(System.Security.Authentication.SslProtocols.Tls12, TestName = "HandshakeWithoutClientCertificate/TLS 1.2")]
    public async Task AHandshakeWithNoClientCertificateAtAll_IsRefused_AndCountedInRejectsTotal_WithReasonCertificate(System.Security.Authentication.SslProtocols protocol)
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        Assert.That(Rejects(await http.GetStringAsync(new Uri(ops, "/metrics")), AggregatorMetrics.CertificateReason), Is.Zero);
        // A real TLS handshake that offers no client certificate, trusting the appliance's certificate.
        bool refused = false;
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(kit.Address.Host, kit.Address.Port);
            using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            try
            {
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = kit.Address.Host, EnabledSslProtocols = protocol,
                    ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
                });
                // TLS 1.3: the client's side of the handshake completes; the appliance then closes without a byte of HTTP/2.
                refused = await tls.ReadAsync(new byte[1]) == 0;
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException) { refused = true; }
        }
        Assert.That(refused, Is.True, "the appliance refused the connection");
        // Exactly one refusal, not more, once the exporter's 300 ms cache has passed.
        Assert.That(Rejects(await SettledScrapeAsync(http, ops, s => Rejects(s, AggregatorMetrics.CertificateReason) >= 1), AggregatorMetrics.CertificateReason), Is.EqualTo(1));
        // A roster bank still gets in (its certificate is read from the connection) and adds no reject.
        Assert.That((await kit.Raw(1).Grpc.GetSessionAsync(new FraudFed.Sdk.Wire.GetSessionRequest())).Bank, Is.EqualTo(1U));
        await Task.Delay(400);
        Assert.That(Rejects(await http.GetStringAsync(new Uri(ops, "/metrics")), AggregatorMetrics.CertificateReason), Is.EqualTo(1));
    }

    [Test]
    public async Task BankRefusingTheAppliancesCertificate_IsNotCountedAsARefusedClientCertificate_ButAsAFailedTlsHandshake()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await using ApplianceKit other = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        // Bank 0's own (pinned) certificate, but trusting another kit's CA: the bank refuses the appliance's server certificate
        // and aborts the handshake with a TLS alert; the appliance refused nothing.
        using var distrusting = new FraudFed.Sdk.Configuration.LoadedBankConfig(kit.LoadBank(0).Config, kit.Address, kit.LoadBank(0).Certificate, other.LoadBank(0).Ca, kit.LoadBank(0).ProtocolSeed);
        await using (FederationClient client = FederationClient.Create(distrusting, ApplianceKit.FastClient))
        {
            FederationException e = Assert.ThrowsAsync<FederationException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))!;
            Assert.That(e.Message, Does.Contain("this bank refused"), "the bank names its own side");
        }
        string scrape = await SettledScrapeAsync(http, ops, s => Rejects(s, AggregatorMetrics.TlsHandshakeReason) >= 1);
        Assert.That(Rejects(scrape, AggregatorMetrics.TlsHandshakeReason), Is.GreaterThanOrEqualTo(1), scrape);
        Assert.That(Rejects(scrape, AggregatorMetrics.CertificateReason), Is.Zero, "the appliance refused no client certificate");
        // The same refusal under TLS 1.2 (the client aborts the handshake with an alert): one more, still not "certificate".
        double sdk = Rejects(scrape, AggregatorMetrics.TlsHandshakeReason);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(kit.Address.Host, kit.Address.Port);
            using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => false);
            Assert.ThrowsAsync<System.Security.Authentication.AuthenticationException>(() => tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = kit.Address.Host, ClientCertificates = [kit.LoadBank(0).Certificate],
                EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12, ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
            }));
        }
        scrape = await SettledScrapeAsync(http, ops, s => Rejects(s, AggregatorMetrics.TlsHandshakeReason) > sdk);
        Assert.That((Rejects(scrape, AggregatorMetrics.TlsHandshakeReason), Rejects(scrape, AggregatorMetrics.CertificateReason)), Is.EqualTo((sdk + 1, 0.0)), scrape);

        // A roster bank's handshake and calls add to neither reason.
        double failed = Rejects(scrape, AggregatorMetrics.TlsHandshakeReason);
        using (RawBank bank1 = kit.Raw(1))
            Assert.That((await bank1.Grpc.GetSessionAsync(new FraudFed.Sdk.Wire.GetSessionRequest())).Bank, Is.EqualTo(1U));
        await Task.Delay(400);
        scrape = await http.GetStringAsync(new Uri(ops, "/metrics"));
        Assert.That((Rejects(scrape, AggregatorMetrics.TlsHandshakeReason), Rejects(scrape, AggregatorMetrics.CertificateReason)), Is.EqualTo((failed, 0.0)));
    }

    [Test]
    public async Task ABankOfAnotherKit_IsCountedAsARefusedCertificate_NotAsAFailedTlsHandshake()
    {
        // Another kit's bank.json as a whole: a certificate the roster does not pin, and another CA, so the bank would also refuse
        // the appliance's certificate. The appliance sees and refuses the client certificate in the handshake first.
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 2);
        await using ApplianceKit other = ApplianceKit.Create("masking", banks: 2);
        await kit.StartAsync();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        LoadedBankConfig foreign = other.LoadBank(0);
        using var stranger = new LoadedBankConfig(foreign.Config, kit.Address, foreign.Certificate, foreign.Ca, new byte[32]);
        await using (FederationClient client = FederationClient.Create(stranger, ApplianceKit.FastClient))
            Assert.ThrowsAsync<FederationException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token));
        string scrape = await SettledScrapeAsync(http, ops, s => Rejects(s, AggregatorMetrics.CertificateReason) >= 1);
        Assert.That(Rejects(scrape, AggregatorMetrics.CertificateReason), Is.GreaterThanOrEqualTo(1), scrape);
        Assert.That(Rejects(scrape, AggregatorMetrics.TlsHandshakeReason), Is.Zero, "README: a bank of another kit counts as certificate\n" + scrape);
    }

    [Test]
    public async Task ABankPresentingAnotherRosterBanksCertificate_IsThatBankToTheAppliance_AndStopsItselfBeforeAnyRefusal()
    {
        // Bank 0's bank.json with bank 1's certificate and key: the handshake succeeds and the appliance serves bank 1 (TLS cannot
        // tell them apart); the SDK stops at GetSession, which names bank 1, before it sends anything the appliance could refuse.
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        await kit.StartAsync();
        Uri ops = kit.Host!.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        LoadedBankConfig own = kit.LoadBank(0), borrowed = kit.LoadBank(1);
        using var impostor = new LoadedBankConfig(own.Config, kit.Address, borrowed.Certificate, own.Ca, own.ProtocolSeed.ToArray());
        await using (FederationClient client = FederationClient.Create(impostor, ApplianceKit.FastClient))
        {
            // A configuration error (the CLI's exit 2): the certificate and bank.json do not belong together.
            FederationException e = Assert.ThrowsAsync<FederationSettingsMismatchException>(() => client.ConnectAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))!;
            Assert.That(e.Message, Does.Contain("knows this certificate as bank 1, bank.json says bank 0"));
        }
        await Task.Delay(400);
        string scrape = await http.GetStringAsync(new Uri(ops, "/metrics"));
        Assert.That(scrape.Split('\n').Where(l => l.StartsWith("fraudfed_rejects_total{", StringComparison.Ordinal)), Is.Empty, "nothing was refused\n" + scrape);
    }

    /// <summary>The value of fraudfed_rejects_total{reason=<paramref name="reason"/>} in a Prometheus scrape (0 when absent).</summary>
    internal static double Rejects(string scrape, string reason)
    {
        string? line = scrape.Split('\n').FirstOrDefault(l => l.StartsWith("fraudfed_rejects_total{", StringComparison.Ordinal) && l.Contains($"reason=\"{reason}\"", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ')[^1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The /metrics scrape once <paramref name="moved"/> holds for it (polled every 100 ms, at most 10 s), read again
    /// after 400 ms: the Prometheus exporter caches a scrape for 300 ms, so the second read shows anything counted after the
    /// first (a count that went too far).</summary>
    internal static async Task<string> SettledScrapeAsync(HttpClient http, Uri ops, Func<string, bool> moved)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!moved(await http.GetStringAsync(new Uri(ops, "/metrics"))) && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(100);
        await Task.Delay(400);
        return await http.GetStringAsync(new Uri(ops, "/metrics"));
    }

    [TestCase("masking", 32)]
    [TestCase("he", 44)]
    public async Task AValueNotBelowTheModulus_IsRefusedBeforeAnyNetworkCall_NamingIndexLimitAndTheFix(string mode, int bits)
    {
        // The appliance is never started: any network call would fail (and be retried, which the recorder would see).
        await using ApplianceKit kit = ApplianceKit.Create(mode, banks: 3);
        var recorder = new Recorder();
        await using FederationClient client = FederationClient.Create(kit.LoadBank(0), ApplianceKit.FastClient with { RetryProgress = recorder });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ValueOutOfRangeException? e = Assert.ThrowsAsync<ValueOutOfRangeException>(() => client.SumAsync([0, (1UL << bits) - 1, 1UL << bits, 5], CancellationToken.None));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(recorder.Retries, Is.Empty, "no call was made");
        Assert.That(client.IsConnected, Is.False);
        Assert.That((e!.Index, e.Value, e.Bits), Is.EqualTo((2, 1UL << bits, bits)));
        Assert.That(e.Message, Does.Contain($"values[2] = {1UL << bits} is not below 2^{bits}").And.Contain("Quantizer").And.Contain($"modulusBits {bits}"));
        Assert.That(e, Is.InstanceOf<ArgumentException>());
        // A long vector (the check runs a vector of values at a time): the first value out of range, past many in range.
        ulong[] longer = Enumerable.Range(0, 4099).Select(i => (ulong)i % (1UL << bits)).ToArray();
        longer[4097] = ulong.MaxValue; longer[4098] = 1UL << bits;
        e = Assert.ThrowsAsync<ValueOutOfRangeException>(() => client.SumAsync(longer, CancellationToken.None));
        Assert.That((e!.Index, e.Value), Is.EqualTo((4097, ulong.MaxValue)));
        Assert.That(client.IsConnected, Is.False);
    }

    /// <summary>The SQLite store, whose transactions fail ("disk full") once <see cref="FailWrites"/> is set.</summary>
    private sealed class FailingStore(SqliteAggregatorStore inner) : IAggregatorStore
    {
        public volatile bool FailWrites;
        public string? ConfigDigest => inner.ConfigDigest;
        public int PayloadFileThreshold => inner.PayloadFileThreshold;
        public void Initialize(string configDigest) => inner.Initialize(configDigest);
        public IReadOnlyList<StoredEvent> ReadEvents() => inner.ReadEvents();
        public long Append(StoredEvent e, IReadOnlyList<OutboundItem> outbound) => AppendBatch([new AppendEntry(e, outbound)]).Sequences[0];
        public AppendedBatch AppendBatch(IReadOnlyList<AppendEntry> entries) => FailWrites ? throw new IOException("disk full (test)") : inner.AppendBatch(entries);
        public void WritePayloadFile(int bank, byte[] digest, byte[] payload)
        {
            if (FailWrites) throw new IOException("disk full (test)");
            inner.WritePayloadFile(bank, digest, payload);
        }
        public long? FindInbound(int bank, byte[] digest) => inner.FindInbound(bank, digest);
        public IReadOnlyList<MailboxEntry> ReadMailbox(int bank, long afterSequence, int maxItems) => inner.ReadMailbox(bank, afterSequence, maxItems);
        public long LastMailboxSequence(int bank) => inner.LastMailboxSequence(bank);
        public void Dispose() => inner.Dispose();
    }
}
