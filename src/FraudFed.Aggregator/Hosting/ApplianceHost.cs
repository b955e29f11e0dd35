// Builds and runs the appliance: Kestrel with one mutual-TLS endpoint (client certificates required and pinned by the roster:
// any other client fails the TLS handshake, before any protocol work), HTTP/2 for gRPC or the bulk channel (SPEC.md 14.8) as
// the handshake's ALPN selects, and an optional plain operations endpoint (/metrics in Prometheus text, /healthz);
// grpc.health.v1 on the TLS endpoint; the coordinator and its deadline ticker. The coordinator is created (and the state
// file replayed) before any port is bound.
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Aggregator.Coordination;
using FraudFed.Aggregator.Services;
using FraudFed.Aggregator.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace FraudFed.Aggregator.Hosting;

/// <summary>A running (or ready to run) appliance.</summary>
public sealed class ApplianceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IAggregatorStore _store;
    private readonly IDisposable[] _owned;
    // Connection item keys: whether a request arrived on the connection (a ServedFlag, put there at the handshake); the
    // validation callback refused the client certificate.
    private static readonly object Served = new();
    private static readonly object CertificateRefused = new();

    /// <summary>Set by the first request of a connection. The connection's items dictionary is not thread-safe and HTTP/2 runs a
    /// connection's streams at once, so requests only read the dictionary (the flag was stored at the handshake, before any
    /// request) and set the flag.</summary>
    private sealed class ServedFlag
    {
        private int _served;
        public bool IsSet => Volatile.Read(ref _served) != 0;
        public void Set() => Volatile.Write(ref _served, 1);
    }

    /// <summary>Counts <paramref name="handshake"/>'s connection as <see cref="AggregatorMetrics.TlsHandshakeReason"/> when it
    /// completes without a call and without the appliance refusing its certificate; returns <paramref name="options"/>.</summary>
    private static SslServerAuthenticationOptions CountFailedHandshake(TlsHandshakeCallbackContext handshake, AggregatorMetrics metrics, SslServerAuthenticationOptions options)
    {
        IDictionary<object, object?> items = handshake.Connection.Items;
        var served = new ServedFlag();
        items[Served] = served;
        handshake.Connection.Features.Get<IConnectionCompleteFeature>()?.OnCompleted(_ =>
        {
            if (!served.IsSet && !items.ContainsKey(CertificateRefused)) metrics.Rejected(AggregatorMetrics.TlsHandshakeReason);
            return Task.CompletedTask;
        }, items);
        return options;
    }

    private ApplianceHost(WebApplication app, IAggregatorStore store, params IDisposable[] owned)
    {
        _app = app;
        _store = store;
        _owned = owned;
    }

    /// <summary>HTTP/2 flow-control window of the appliance's TLS endpoint, per connection and per stream (16 MiB).</summary>
    public const int HttpWindowBytes = 16 << 20;

    /// <summary>Opens the state file, replays it, and builds the web host (nothing is bound until <see cref="StartAsync"/>).</summary>
    /// <param name="config">The checked configuration (the host does not own it).</param>
    /// <param name="configureLogging">Optional logging setup (default: console, information level).</param>
    /// <exception cref="FraudFed.Sdk.Configuration.ConfigurationException">the state file belongs to another configuration.</exception>
    /// <exception cref="InvalidDataException">the state file cannot be replayed.</exception>
    public static ApplianceHost Create(LoadedAggregatorConfig config, Action<ILoggingBuilder>? configureLogging = null) =>
        Create(config, configureLogging, path => new SqliteAggregatorStore(path));

    /// <summary><see cref="Create(LoadedAggregatorConfig, Action{ILoggingBuilder}?)"/> over the store <paramref name="openStore"/>
    /// opens at the state path (tests: a store that fails writes), with the bulk channel's timeouts <paramref name="bulkTimeouts"/>
    /// (frame, idle; null: <see cref="BulkChannel.DefaultFrameTimeout"/> and <see cref="BulkChannel.DefaultIdleTimeout"/>).</summary>
    internal static ApplianceHost Create(LoadedAggregatorConfig config, Action<ILoggingBuilder>? configureLogging, Func<string, IAggregatorStore> openStore,
        (TimeSpan Frame, TimeSpan Idle)? bulkTimeouts = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = "FraudFed.Aggregator", ContentRootPath = AppContext.BaseDirectory });
        Action<ILoggingBuilder> logging = configureLogging ?? DefaultLogging;
        builder.Logging.ClearProviders();
        logging(builder.Logging);

        var metrics = new AggregatorMetrics();
        BulkChannel? bulk = null;   // set once the host is built (it runs the service's calls); no connection arrives before
        builder.WebHost.UseSockets(s =>
        {
            // Receive straight into a buffer: by default Kestrel first waits for data with a zero-byte receive, which .NET makes
            // a one-byte MSG_PEEK recv on Linux, so every chunk of an upload that is already waiting cost two system calls
            // (about 11,000 per masking round of 10 banks x 10^6 values with 4 KiB blocks). The saving of the default (no buffer
            // held by an idle connection) is one block per bank connection here.
            s.WaitForDataBeforeAllocatingBuffer = false;
        });
        // 64 KiB buffer blocks rather than Kestrel's 4 KiB (see ReceiveBlockPool): an upload arrives in a few recv calls, not one
        // per 4 KB. Registered after Kestrel's own factory, so the socket transport takes this one.
        builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(new ReceiveBlockPoolFactory());
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // The cap of the operations endpoint; gRPC calls lift it (see the middleware below) and are capped by the gRPC limit.
            k.Limits.MaxRequestBodySize = config.Config.MaxMessageBytes + 65536L;
            k.Limits.Http2.MaxStreamsPerConnection = 100;
            // Multi-MB uploads (a homomorphic upload is ~38 MB): with the default windows (1 MiB per connection, 768 KiB per
            // stream) a bank stalls every megabyte until the appliance's reader sends a WINDOW_UPDATE. The windows only let a
            // bank send ahead of the reader; a message is still capped by the gRPC receive limit.
            k.Limits.Http2.InitialConnectionWindowSize = HttpWindowBytes;
            k.Limits.Http2.InitialStreamWindowSize = HttpWindowBytes;
            k.Listen(config.Listen, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                // Our own SslServerAuthenticationOptions rather than HttpsConnectionAdapterOptions: Kestrel's ClientCertificateValidation
                // is not called for a client that sends no certificate at all (Kestrel refuses it itself), and that refusal must be
                // counted too. Pinning is the whole check: a certificate is accepted iff its fingerprint is in the roster. A refusal
                // (no certificate, or one not pinned) fails the handshake before any call: fraudfed_rejects_total{reason="certificate"}.
                var serverCertificate = SslStreamCertificateContext.Create(config.ServerCertificate, additionalCertificates: null);
                // A connection that ends without a call and without our refusal, once its ClientHello arrived, is counted apart as
                // fraudfed_rejects_total{reason="tls_handshake"}: typically a bank that refused the appliance's certificate. Under
                // TLS 1.3 such a bank completes its side of the handshake (the appliance accepts its pinned certificate) and then
                // closes the connection before HTTP/2; under TLS 1.2 it aborts the handshake with an alert. Either way the
                // appliance refused nothing, so it is not reason="certificate". Marked per connection: the validation callback marks
                // a refusal, the request middleware below a served call; counted when the connection completes.
                listen.UseHttps(new TlsHandshakeCallbackOptions
                {
                    HandshakeTimeout = TimeSpan.FromSeconds(10),
                    OnConnection = handshake => ValueTask.FromResult(CountFailedHandshake(handshake, metrics, new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = serverCertificate,
                        // The bulk channel (SPEC.md 14.8) or h2 for gRPC. Kestrel fills in its own list (h2 alone, for an
                        // HTTP/2-only endpoint) only when the callback sets none, so both are named here. The server's order
                        // decides: .NET picks the first protocol of this list that the client also offers, and a bank offers
                        // both (a gRPC-only client offers h2 alone and gets it), so the bulk channel comes first.
                        ApplicationProtocols = [new SslApplicationProtocol(FraudFed.Sdk.Wire.BulkFrame.AlpnProtocol), SslApplicationProtocol.Http2],
                        ClientCertificateRequired = true,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                        {
                            if (certificate is not null && config.BankOf(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData())) >= 0) return true;
                            handshake.Connection.Items[CertificateRefused] = true;
                            metrics.Rejected(AggregatorMetrics.CertificateReason);
                            return false;
                        },
                    })),
                });
                // A connection whose handshake selected the bulk channel is served by it instead of HTTP/2; it counts as served
                // (see CountFailedHandshake) once a request frame arrives.
                listen.Use(next => connection =>
                {
                    if (!BulkChannel.Negotiated(connection)) return next(connection);
                    ServedFlag? served = connection.Items.TryGetValue(Served, out object? flag) ? flag as ServedFlag : null;
                    BulkChannel channel = bulk ?? throw new InvalidOperationException("the bulk channel is served once the host is built");
                    return channel.ServeAsync(connection, () => served?.Set());
                });
            });
            if (config.Ops is not null) k.Listen(config.Ops, listen => listen.Protocols = HttpProtocols.Http1);
        });

        IAggregatorStore store = openStore(config.StatePath);
        Coordinator coordinator;
        ILoggerFactory loggerFactory = LoggerFactory.Create(logging);
        try { coordinator = new Coordinator(config, store, metrics, loggerFactory.CreateLogger<Coordinator>()); }
        catch
        {
            store.Dispose();
            metrics.Dispose();
            loggerFactory.Dispose();
            throw;
        }

        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(coordinator);
        builder.Services.AddSingleton<BankRateLimits>();
        builder.Services.AddHostedService<DeadlineTicker>();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = config.Config.MaxMessageBytes + 1024;
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcHealthChecks().AddCheck("coordinator", () => coordinator.Failed
            ? HealthCheckResult.Unhealthy("the appliance could not persist its state (disk full or a read-only state directory?); fix it and restart the appliance")
            : coordinator.SessionEndedMessage is { } ended
                ? HealthCheckResult.Unhealthy(ended)
                : HealthCheckResult.Healthy($"stage {coordinator.Stage}"));
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(AggregatorMetrics.ServiceName, serviceVersion: typeof(ApplianceHost).Assembly.GetName().Version?.ToString()))
            .WithMetrics(m => m.AddMeter(AggregatorMetrics.MeterName).AddPrometheusExporter());

        WebApplication app = builder.Build();
        bulk = new BulkChannel(ActivatorUtilities.CreateInstance<FederationService>(app.Services), config, metrics,
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<BulkChannel>(), bulkTimeouts?.Frame, bulkTimeouts?.Idle);
        app.Use(async (context, next) =>
        {
            // A call arrived on this connection (see CountFailedHandshake): its TLS handshake succeeded and the client went on.
            // Concurrent streams of one connection get here at once: read the dictionary only (see ServedFlag).
            if (context.Features.Get<IConnectionItemsFeature>()?.Items is { } items && items.TryGetValue(Served, out object? flag) && flag is ServedFlag served)
                served.Set();
            // A gRPC call's one cap is the gRPC receive limit (max_message_bytes + 1 KiB), checked on the 5-byte length prefix
            // before the message is allocated: RESOURCE_EXHAUSTED (SPEC.md 14.5). Kestrel's body cap would race it: Kestrel
            // counts every byte the reader has looked at, and the gRPC reader looks at all it has buffered (up to the stream
            // window, 16 MiB) in the same step as the prefix, so a large request that arrived before the read (or declared its
            // Content-Length) was refused by Kestrel instead, which the gRPC layer answers as UNKNOWN. A unary call reads one
            // message and refuses bytes after it, so lifting Kestrel's cap leaves the call bounded.
            bool grpc = context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true;
            if (grpc && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyCap)
                bodyCap.MaxRequestBodySize = null;
            await next(context);
            if (grpc && IsTransportSizeRefusal(context)) metrics.Rejected(AggregatorMetrics.TransportOversizedReason);
        });
        app.MapGrpcService<FederationService>();
        app.MapGrpcHealthChecksService();
        app.MapPrometheusScrapingEndpoint();
        // "Healthy", or "Unhealthy: <why, and what the operator does>" with HTTP 503: the probe's body says why it is not serving.
        app.MapHealthChecks("/healthz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            ResponseWriter = (context, report) =>
            {
                context.Response.ContentType = "text/plain";
                string? why = report.Status == HealthStatus.Healthy ? null : report.Entries.Values.Select(e => e.Description).FirstOrDefault(d => !string.IsNullOrEmpty(d));
                return context.Response.WriteAsync(why is null ? report.Status.ToString() : $"{report.Status}: {why}");
            },
        });
        return new ApplianceHost(app, store, coordinator, metrics, loggerFactory);
    }

    /// <summary>True when the gRPC layer refused the call's message for its size, before any FraudFed code saw it (RESOURCE_EXHAUSTED,
    /// no <c>fraudfed-violation</c> trailer, grpc-dotnet's size message; the status is in the trailers, or in the headers of a
    /// trailers-only answer). Our own RESOURCE_EXHAUSTED answers (rate limit, budget) are counted where they are made.</summary>
    private static bool IsTransportSizeRefusal(HttpContext context)
    {
        IHeaderDictionary? trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        string? status = trailers?["grpc-status"].ToString() is { Length: > 0 } t ? t : context.Response.Headers["grpc-status"].ToString();
        if (status != "8") return false;
        string message = trailers?["grpc-message"].ToString() is { Length: > 0 } m ? m : context.Response.Headers["grpc-message"].ToString();
        bool violation = (trailers?.ContainsKey(FraudFed.Sdk.StatusMapping.ReasonTrailer) ?? false) || context.Response.Headers.ContainsKey(FraudFed.Sdk.StatusMapping.ReasonTrailer);
        return !violation && message.Contains("exceeds the maximum configured message size", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Structured single-line console logs at information level ("2026-12-02 14:03:05Z info  coordinator: ...",
    /// <see cref="OperatorConsoleFormatter"/>); framework noise at warning. Messages name banks by roster index, stages and
    /// reasons, never key, share or message bytes.</summary>
    internal static void DefaultLogging(ILoggingBuilder l) =>
        l.AddConsole(o => o.FormatterName = OperatorConsoleFormatter.FormatterName)
            .AddConsoleFormatter<OperatorConsoleFormatter, Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions>()
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning)
            // An unhealthy check is logged once by the coordinator (the state write that failed); /healthz says it at every poll.
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Critical)
            // The generic host's own failure lines ("Hosting failed to start (IOException: ...)", the exception-behavior notice)
            // name framework exception types: a start that fails reaches the caller as the exception (serve turns it into one
            // line naming the key to change), so the host's copy is not logged.
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);

    /// <summary>Binds the ports and starts serving.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>Serves until the process is asked to stop (SIGTERM, Ctrl+C).</summary>
    /// <param name="started">Called once the ports are bound, with <see cref="Addresses"/> (e.g. to tell the operator where it listens).</param>
    /// <param name="cancellationToken">Stops serving when cancelled.</param>
    public async Task RunAsync(Action<IReadOnlyList<Uri>>? started = null, CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        started?.Invoke(Addresses);
        await _app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops serving (in-flight calls get a short grace period).</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    /// <summary>The bound addresses (https for the mutual-TLS endpoint, http for operations), after start.</summary>
    public IReadOnlyList<Uri> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a.Replace("[::]", "127.0.0.1"))).ToList();

    /// <summary>The coordinator (tests read its stage).</summary>
    public Coordinator Coordinator => _app.Services.GetRequiredService<Coordinator>();

    /// <summary>The host's services (tests: the transport's settings and which memory pool factory it takes).</summary>
    internal IServiceProvider Services => _app.Services;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
        foreach (IDisposable d in _owned) d.Dispose();
        _store.Dispose();
    }
}

/// <summary>Runs the coordinator's due steps (stage deadlines, round opening) four times a second.</summary>
internal sealed class DeadlineTicker(Coordinator coordinator, ILogger<DeadlineTicker> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try { coordinator.Tick(); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError("checking the stage deadlines failed ({Error}); the check runs again in 0.25 s, and a failure that repeats every time needs the state file and this log looked at", e.GetType().Name);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping (or a start that failed, which stops the host at once): the ticker ends quietly, not as a failed service.
        }
    }
}
