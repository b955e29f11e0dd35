// Test support: a development kit made by `aggregator init`'s code in a temporary directory, the appliance started on an
// ephemeral loopback port with real mutual TLS, SDK clients per bank, and a raw bank that speaks the service directly
// (to stay silent, to lie about its identity, or to send bad bytes). INSECURE test RLWE parameters keep it fast.
using System.Net;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace FraudFed.Aggregator.Tests;

internal sealed class ApplianceKit : IAsyncDisposable
{
    public static readonly FederationClientOptions FastClient = new()
    {
        PollWait = TimeSpan.FromSeconds(1), RetryDelay = TimeSpan.FromMilliseconds(100), RetryBudget = TimeSpan.FromSeconds(20), StageTimeout = TimeSpan.FromSeconds(90),
    };

    private readonly List<IAsyncDisposable> _clients = [];
    private readonly List<IDisposable> _disposables = [];

    private ApplianceKit(string directory, string mode, int banks)
    {
        Directory = directory;
        Mode = mode;
        Banks = banks;
    }

    public string Directory { get; }
    public string Mode { get; }
    public int Banks { get; }
    public string ConfigPath => Path.Combine(Directory, "aggregator.json");
    public ApplianceHost? Host { get; private set; }
    public Uri Address { get; private set; } = new("https://127.0.0.1:1");
    public LoadedAggregatorConfig? Loaded { get; private set; }
    /// <summary>Opens the appliance's store at its state path on the next start (null: the SQLite store).</summary>
    public Func<string, Storage.IAggregatorStore>? OpenStore { get; set; }
    /// <summary>An extra log provider of the next start, or null.</summary>
    public ILoggerProvider? Logs { get; set; }
    /// <summary>The bulk channel's frame and idle timeouts of the next start (null: the appliance's defaults).</summary>
    public (TimeSpan Frame, TimeSpan Idle)? BulkTimeouts { get; set; }
    /// <summary>The appliance's log level (default: warnings and above).</summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Warning;

    public static ApplianceKit Create(string mode, int banks = 5, double stageSeconds = 60, int maxMessageBytes = 1 << 20, bool insecure = true, double joinSeconds = 60)
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-appliance-" + Guid.NewGuid().ToString("N")[..10]);
        DevelopmentProvisioning.Write(dir, new ProvisioningOptions
        {
            Banks = banks, Mode = mode, Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0", InsecureTestParameters = insecure,
            Deadlines = new DeadlineSettings { SetupSeconds = 60, JoinSeconds = joinSeconds, StageSeconds = stageSeconds },
        });
        var kit = new ApplianceKit(dir, mode, banks);
        kit.EditConfig(c => c with { MaxMessageBytes = insecure ? maxMessageBytes : 64 << 20 });
        return kit;
    }

    public void EditConfig(Func<AggregatorConfig, AggregatorConfig> edit)
    {
        AggregatorConfig c = ConfigJson.Load<AggregatorConfig>(ConfigPath);
        File.WriteAllText(ConfigPath, JsonSerializer.Serialize(edit(c), ConfigJson.Options));
    }

    /// <summary>Starts the appliance; the first start picks a free port, later starts reuse it.</summary>
    public async Task StartAsync()
    {
        Loaded = AggregatorConfig.Load(ConfigPath);
        Host = ApplianceHost.Create(Loaded, l => { l.SetMinimumLevel(LogLevel); if (Logs is { } p) l.AddProvider(p); },
            path => OpenStore is { } open ? open(path) : new Storage.SqliteAggregatorStore(path), BulkTimeouts);
        await Host.StartAsync();
        Address = Host.Addresses.First(a => a.Scheme == "https");
        if (Loaded.Listen.Port == 0)
        {
            int port = Address.Port;
            EditConfig(c => c with { Listen = $"127.0.0.1:{port}", OpsListen = "127.0.0.1:0" });
            for (int i = 0; i < Banks; i++)
            {
                string path = BankConfigPath(i);
                BankConfig b = ConfigJson.Load<BankConfig>(path);
                File.WriteAllText(path, JsonSerializer.Serialize(b with { Aggregator = $"https://127.0.0.1:{port}" }, ConfigJson.Options));
            }
        }
    }

    public async Task StopAsync()
    {
        if (Host is null) return;
        await Host.StopAsync();
        await Host.DisposeAsync();
        Loaded?.Dispose();
        Host = null;
    }

    public string BankConfigPath(int bank) => Path.Combine(Directory, "banks", $"bank-{bank}", "bank.json");

    public LoadedBankConfig LoadBank(int bank)
    {
        LoadedBankConfig c = BankConfig.Load(BankConfigPath(bank));
        _disposables.Add(c);
        return c;
    }

    public FederationClient Client(int bank) => Client(bank, FastClient);

    /// <summary>A client of <paramref name="bank"/> whose session progress goes to <paramref name="sessionProgress"/>.</summary>
    public FederationClient Client(int bank, IProgress<SessionProgress> sessionProgress) => Client(bank, FastClient with { SessionProgress = sessionProgress });

    private FederationClient Client(int bank, FederationClientOptions options)
    {
        FederationClient c = FederationClient.Create(LoadBank(bank), options);
        _clients.Add(c);
        return c;
    }

    public RawBank Raw(int bank, int? certificateOf = null)
    {
        LoadedBankConfig own = LoadBank(bank);
        LoadedBankConfig tls = certificateOf is { } other ? LoadBank(other) : own;
        var raw = new RawBank(bank, own, tls);
        _disposables.Add(raw);
        return raw;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable c in _clients) await c.DisposeAsync();
        await StopAsync();
        foreach (IDisposable d in _disposables) d.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A bank that calls the service itself: it can do the session setup, ask for a round and then fall silent.</summary>
internal sealed class RawBank : IDisposable
{
    private readonly LoadedBankConfig _own;
    private readonly GrpcChannel _channel;
    private ulong _after;
    private HomomorphicBankParty? _he;
    private MaskingBank? _masking;

    public RawBank(int bank, LoadedBankConfig own, LoadedBankConfig tls)
    {
        Bank = bank;
        _own = own;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                ClientCertificates = [tls.Certificate],
                RemoteCertificateValidationCallback = TlsFiles.ServerValidator(tls.Ca),
            },
        };
        _channel = GrpcChannel.ForAddress(own.Aggregator, new GrpcChannelOptions { HttpHandler = handler, MaxSendMessageSize = null, MaxReceiveMessageSize = null });
        Grpc = new Federation.FederationClient(_channel);
    }

    public int Bank { get; }
    /// <summary>The last mailbox sequence read (by <see cref="NextAsync"/> or marked with <see cref="Read"/>).</summary>
    public ulong After => _after;
    /// <summary>Marks <paramref name="item"/> (delivered some other way) as read.</summary>
    public void Read(MailboxItem item) => _after = Math.Max(_after, item.Sequence);
    public Federation.FederationClient Grpc { get; }
    public MaskingBank? Masking => _masking;
    public HomomorphicBankParty? He => _he;
    public GrpcChannel Channel => _channel;

    public async Task<SubmitReply> SubmitAsync(byte[] message) =>
        await Grpc.SubmitAsync(new SubmitRequest { Message = ByteString.CopyFrom(message) }, deadline: DateTime.UtcNow.AddSeconds(30));

    public async Task<MailboxItem> NextAsync(CancellationToken ct)
    {
        while (true)
        {
            ReceiveReply r = await Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = _after, WaitMilliseconds = 1000 }, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
            if (r.Items.Count > 0)
            {
                _after = r.Items[0].Sequence;
                return r.Items[0];
            }
        }
    }

    /// <summary>Runs the session setup of the mode with the bank's own key.</summary>
    public async Task SetupAsync(CancellationToken ct)
    {
        FederationSettings f = _own.Config.Federation;
        if (f.IsHomomorphic)
        {
            _he = new HomomorphicBankParty(Bank, f.BuildHeRoster(), Ed25519SigningKey.Import(_own.ProtocolSeed), new InMemoryDecryptionLedger());
            while (!_he.IsReady)
            {
                MailboxItem item = await NextAsync(ct);
                foreach (byte[] reply in _he.Receive(item.Message.Span)) await SubmitAsync(reply);
            }
            return;
        }
        SessionInfo info = await Grpc.GetSessionAsync(new GetSessionRequest(), cancellationToken: ct);
        _masking = new MaskingBank(f.BuildMaskingParameters(info.SessionId.Span), Bank, Ed25519SigningKey.Import(_own.ProtocolSeed), f.IdentityKeyBytes(),
            System.Security.Cryptography.RandomNumberGenerator.Create());
        await SubmitAsync(_masking.AdvertiseKeys());
        while (_masking.State is not BankReady)
        {
            MailboxItem item = await NextAsync(ct);
            MaskingToBank m = MaskingWire.DecodeToBank(item.Message.Span);
            if (m is KeyRoster) await SubmitAsync(_masking.ReceiveRoster(item.Message.Span));
            else if (m is GraphSeedRoster) _masking.ReceiveGraphSeed(item.Message.Span);
        }
    }

    /// <summary>Masking: joins the next round and sends ShareKeys and its masked input, then falls silent. Returns the masked
    /// input's bytes and the appliance's answer to them.</summary>
    public async Task<(byte[] Input, SubmitReply Reply)> ContributeThenSilentAsync(ulong[] values, CancellationToken ct)
    {
        await Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)values.Length }, cancellationToken: ct);
        while (true)
        {
            MailboxItem item = await NextAsync(ct);
            if (item.ItemCase == MailboxItem.ItemOneofCase.RoundOpen) await SubmitAsync(_masking!.BeginRound((uint)item.RoundOpen.Round));
            else if (item.ItemCase == MailboxItem.ItemOneofCase.Message && MaskingWire.DecodeToBank(item.Message.Span) is ShareDelivery)
            {
                byte[] input = _masking!.ReceiveShares(item.Message.Span, values);
                return (input, await SubmitAsync(input));
            }
        }
    }

    public void Dispose()
    {
        _he?.Dispose();
        _masking?.Dispose();
        _channel.Dispose();
    }
}
