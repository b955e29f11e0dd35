// aggregator.json: the appliance's configuration (SPEC.md 14.5, README "Operating the appliance"). Paths are relative
// to the file's directory. Everything is checked by Load before the appliance binds a port or opens its state file.
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Aggregator.Hosting;

/// <summary>One roster bank as the appliance pins it.</summary>
public sealed record RosterBank
{
    /// <summary>A name for logs and metrics (not secret, not an identity).</summary>
    public string Name { get; init; } = "";
    /// <summary>SHA-256 fingerprint of the bank's client certificate (DER), hex.</summary>
    public string CertificateSha256 { get; init; } = "";
}

/// <summary>Per-stage deadlines, in seconds.</summary>
public sealed record DeadlineSettings
{
    /// <summary>Each session setup stage. Masking (AdvertiseKeys, graph seed): banks absent then are out of the session.
    /// Homomorphic (CRS and key-share commit/reveal, channel adverts, thresholdize): every roster bank is needed, so a bank
    /// that misses it ends the session (Abort round 0 to every bank, a warning log naming the missing banks, and
    /// <c>fraudfed_rounds_total{outcome="setup_deadline"}</c>).</summary>
    [System.ComponentModel.DataAnnotations.Range(0.0, double.MaxValue, MinimumIsExclusive = true, ErrorMessage = "seconds each setup stage waits for the banks, counted from the first bank's message")]
    public double SetupSeconds { get; init; } = 120;
    /// <summary>After the first bank asks for a round, how long the others have to ask before it opens without them; when the
    /// banks that asked by then are fewer than any round needs (max(T, K_min), or M), no round opens and each of them is told
    /// so (SPEC.md 14.5, "Rounds and deadlines"; <c>fraudfed_rounds_total{outcome="join_deadline"}</c>).</summary>
    [System.ComponentModel.DataAnnotations.Range(0.0, double.MaxValue, MinimumIsExclusive = true, ErrorMessage = "seconds the other banks have to ask for a round once the first asked")]
    public double JoinSeconds { get; init; } = 30;
    /// <summary>Each round stage (uploads, decryption shares; ShareKeys ... Unmasking): a bank that misses it is a dropout.</summary>
    [System.ComponentModel.DataAnnotations.Range(0.0, double.MaxValue, MinimumIsExclusive = true, ErrorMessage = "seconds each round stage waits for its banks")]
    public double StageSeconds { get; init; } = 120;
}

/// <summary>The appliance's configuration file.</summary>
public sealed record AggregatorConfig
{
    /// <summary>Free text; <c>init</c> writes a development-only warning here.</summary>
    public string? Note { get; init; }
    /// <summary>host:port of the mutual-TLS gRPC endpoint (HTTP/2). Port 0 picks a free port.</summary>
    public string Listen { get; init; } = "127.0.0.1:7443";
    /// <summary>host:port of the operations endpoint (plain HTTP: /metrics, /healthz), or null for none (written as
    /// <c>"ops_listen": null</c>: left out, the file would read back as the default port).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)]
    public string? OpsListen { get; init; } = "127.0.0.1:9464";
    /// <summary>PEM server certificate (with its chain) and its PEM private key.</summary>
    public string Certificate { get; init; } = "";
    /// <summary>PEM private key of the server certificate; file mode 0600.</summary>
    public string Key { get; init; } = "";
    /// <summary>The SQLite state file (created if absent; back it up with its -wal file, or with sqlite3 .backup).</summary>
    public string State { get; init; } = "state/aggregator.db";
    /// <summary>Homomorphic mode: the aggregator's Ed25519 seed file (signs contributor lists); file mode 0600.</summary>
    public string? AggregatorKey { get; init; }
    /// <summary>The roster: bank i's pinned certificate (its protocol key is federation.identity_keys[i]).</summary>
    public RosterBank[] Banks { get; init; } = [];
    /// <summary>The session facts shared with every bank.</summary>
    public FederationSettings Federation { get; init; } = new();
    /// <summary>Largest bank message, in bytes (checked before parsing; the gRPC transport refuses larger frames before allocation).</summary>
    [System.ComponentModel.DataAnnotations.Range(1024, 1 << 30, ErrorMessage = "the largest bank message in bytes, 1 KiB to 1 GiB; a homomorphic upload is about 38 MB")]
    public int MaxMessageBytes { get; init; } = 256 << 20;
    /// <summary>Stage deadlines.</summary>
    public DeadlineSettings Deadlines { get; init; } = new();
    /// <summary>Submit and RequestRound calls allowed per bank per second (a token bucket; excess gets RESOURCE_EXHAUSTED).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue, ErrorMessage = "calls per bank per second")]
    public int RequestsPerSecond { get; init; } = 200;
    /// <summary>The training job this appliance coordinates (SPEC.md 14.5), or null for secure sums only.</summary>
    public TrainingSettings? Training { get; init; }

    /// <summary>Reads and checks <paramref name="path"/> and the files it names.</summary>
    /// <exception cref="ConfigurationException">anything missing, malformed or insecure (the message names it and the fix).</exception>
    public static LoadedAggregatorConfig Load(string path)
    {
        AggregatorConfig c = ConfigJson.Load<AggregatorConfig>(path);
        ConfigJson.CheckRanges(path, c);
        c.Federation.Validate(path);
        IPEndPoint listen = Endpoint(path, "listen", c.Listen);
        IPEndPoint? ops = c.OpsListen is null ? null : Endpoint(path, "ops_listen", c.OpsListen);
        if (ops is not null && Overlap(listen, ops))
            throw new ConfigurationException($"{path}: listen {c.Listen} and ops_listen {c.OpsListen} take the same port {listen.Port}; "
                + "the gRPC and the operations endpoint each need their own: give \"ops_listen\" (or \"listen\") another port.");
        if (c.Banks.Length != c.Federation.Banks)
            throw new ConfigurationException(c.Banks.Length == 0 && ConfigJson.IsAbsent(path, "banks")
                ? $"{path}: the 'banks' setting is missing; add it at the top level of the file with one entry per bank (name and certificate_sha256), in the order of federation.identity_keys."
                : $"{path}: banks lists {c.Banks.Length} certificates but federation.identity_keys {c.Federation.Banks} keys; one of each per bank.");
        var pins = new string[c.Banks.Length];
        for (int i = 0; i < c.Banks.Length; i++)
        {
            string pin = c.Banks[i].CertificateSha256.Replace(":", "").ToLowerInvariant();
            if (pin.Length != 64 || !pin.All(Uri.IsHexDigit)) throw new ConfigurationException($"{path}: banks[{i}].certificate_sha256 must be a SHA-256 fingerprint (64 hex digits).");
            pins[i] = pin;
        }
        if (pins.Distinct().Count() != pins.Length) throw new ConfigurationException($"{path}: two banks pin the same certificate; every bank needs its own.");
        c.Training?.Validate(path, c.Federation);
        if (string.IsNullOrWhiteSpace(c.State)) throw new ConfigurationException(ConfigJson.MissingOrEmpty(path, "state", "name the SQLite state file (e.g. state/aggregator.db)"));
        byte[]? aggregatorSeed = null;
        if (c.Federation.IsHomomorphic)
        {
            if (string.IsNullOrWhiteSpace(c.AggregatorKey))
                throw new ConfigurationException(ConfigJson.MissingOrEmpty(path, "aggregator_key", "name the aggregator's Ed25519 seed file (required in mode \"he\")"));
            aggregatorSeed = ConfigJson.ReadKeySeed(ConfigJson.ExistingPrivateFile(path, "aggregator_key", c.AggregatorKey, "aggregator key"));
        }
        X509Certificate2 server = TlsFiles.LoadCertificateWithKey(ConfigJson.ExistingFile(path, "certificate", c.Certificate, "certificate"),
            ConfigJson.ExistingPrivateFile(path, "key", c.Key, "key"));
        return new LoadedAggregatorConfig(c, listen, ops, server, pins, ConfigJson.Resolve(path, c.State), aggregatorSeed);
    }

    /// <summary>True when binding <paramref name="a"/> and <paramref name="b"/> in one process would collide: the same port
    /// (not 0, which picks a free one) on the same address, or on an address that covers the other (0.0.0.0 covers every IPv4
    /// address of the host, [::] every address).</summary>
    /// <param name="a">One endpoint (such as listen).</param>
    /// <param name="b">The other (such as ops_listen).</param>
    public static bool Overlap(IPEndPoint a, IPEndPoint b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Port != b.Port || a.Port == 0) return false;
        IPAddress x = a.Address.IsIPv4MappedToIPv6 ? a.Address.MapToIPv4() : a.Address;
        IPAddress y = b.Address.IsIPv4MappedToIPv6 ? b.Address.MapToIPv4() : b.Address;
        if (x.Equals(y) || x.Equals(IPAddress.IPv6Any) || y.Equals(IPAddress.IPv6Any)) return true;
        return (x.Equals(IPAddress.Any) && y.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            || (y.Equals(IPAddress.Any) && x.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
    }

    private static IPEndPoint Endpoint(string path, string name, string value)
    {
        if (!IPEndPoint.TryParse(value, out IPEndPoint? ep) || ep.Port < 0)
            throw new ConfigurationException($"{path}: {name} must be an IP address and port such as 127.0.0.1:7443, not \"{value}\".");
        return ep;
    }
}

/// <summary>A checked configuration with its files loaded. Dispose clears the aggregator seed.</summary>
public sealed class LoadedAggregatorConfig : IDisposable
{
    internal LoadedAggregatorConfig(AggregatorConfig config, IPEndPoint listen, IPEndPoint? ops, X509Certificate2 server, string[] pins, string statePath, byte[]? aggregatorSeed)
    {
        Config = config; Listen = listen; Ops = ops; ServerCertificate = server; Pins = pins; StatePath = statePath; AggregatorSeed = aggregatorSeed;
    }

    /// <summary>The file's settings.</summary>
    public AggregatorConfig Config { get; }
    /// <summary>The mutual-TLS endpoint.</summary>
    public IPEndPoint Listen { get; }
    /// <summary>The operations endpoint, or null.</summary>
    public IPEndPoint? Ops { get; }
    /// <summary>The server certificate with its key.</summary>
    public X509Certificate2 ServerCertificate { get; }
    /// <summary>Pinned client-certificate fingerprints by roster index (lowercase hex).</summary>
    public IReadOnlyList<string> Pins { get; }
    /// <summary>Full path of the state file.</summary>
    public string StatePath { get; }
    /// <summary>Homomorphic mode: the aggregator's Ed25519 seed (secret).</summary>
    internal byte[]? AggregatorSeed { get; }

    /// <summary>The roster index pinned to <paramref name="certificate"/>, or -1. The answer is a function of the certificate's
    /// bytes and the fixed pins, so it is kept per certificate object: Kestrel hands every call of a connection the same
    /// instance, and the Federation service asks on every call (~9 per secure sum), where the fingerprint cost a copy of the
    /// DER bytes, a SHA-256, a hex string and two ASCII encodings each time.</summary>
    public int BankOf(X509Certificate2? certificate)
    {
        if (certificate is null) return -1;
        if (_pinned.TryGetValue(certificate, out StrongBox<int>? known)) return known.Value;
        int bank = Match(certificate);
        _pinned.AddOrUpdate(certificate, new StrongBox<int>(bank));
        return bank;
    }

    /// <summary>BankOf's answers by certificate object (weak keys: an entry goes with its connection's certificate).</summary>
    private readonly ConditionalWeakTable<X509Certificate2, StrongBox<int>> _pinned = new();

    private int Match(X509Certificate2 certificate)
    {
        string fp = TlsFiles.Fingerprint(certificate);
        for (int i = 0; i < Pins.Count; i++)
            if (System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(fp), System.Text.Encoding.ASCII.GetBytes(Pins[i]))) return i;
        return -1;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (AggregatorSeed is not null) System.Security.Cryptography.CryptographicOperations.ZeroMemory(AggregatorSeed);
        ServerCertificate.Dispose();
    }
}
