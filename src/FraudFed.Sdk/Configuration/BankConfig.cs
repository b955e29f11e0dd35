// bank.json: what one bank needs to join the appliance's session (SPEC.md 14.5). Written by `fraudfed aggregator init`
// for development; in production the bank's own PKI issues the certificate and the consortium agrees the federation block.
using System.Security.Cryptography.X509Certificates;

namespace FraudFed.Sdk.Configuration;

/// <summary>One bank's configuration file. Paths are relative to the file's directory.</summary>
public sealed record BankConfig
{
    /// <summary>Free text; <c>init</c> writes a development-only warning here.</summary>
    public string? Note { get; init; }
    /// <summary>The appliance's address, <c>https://host:port</c>.</summary>
    public string Aggregator { get; init; } = "";
    /// <summary>This bank's roster index (0-based).</summary>
    public int Bank { get; init; } = -1;
    /// <summary>PEM client certificate pinned in the appliance's roster.</summary>
    public string Certificate { get; init; } = "";
    /// <summary>PEM (PKCS#8) private key of <see cref="Certificate"/>; file mode 0600.</summary>
    public string Key { get; init; } = "";
    /// <summary>PEM certificate of the authority that issued the appliance's server certificate (the only one trusted).</summary>
    public string Ca { get; init; } = "";
    /// <summary>File with this bank's 32-byte Ed25519 protocol seed (hex); file mode 0600.</summary>
    public string ProtocolKey { get; init; } = "";
    /// <summary>The session facts, identical at every party.</summary>
    public FederationSettings Federation { get; init; } = new();
    /// <summary>Largest message this bank sends or accepts, in bytes.</summary>
    [System.ComponentModel.DataAnnotations.Range(1024, 1 << 30, ErrorMessage = "the largest message this bank sends or accepts, in bytes, 1 KiB to 1 GiB as the appliance's; a homomorphic upload is about 38 MB")]
    public int MaxMessageBytes { get; init; } = 256 << 20;
    /// <summary>Directory of this bank's sealed state (its party state and decryption ledger, SPEC.md 14.6), created with
    /// mode 0700; omitted: the state stays in memory and a restarted bank cannot rejoin its session. Both modes (SPEC.md 14.6, 14.7).</summary>
    public string? StateDirectory { get; init; }
    /// <summary>File with the 32-byte AES-256-GCM state key (64 hex digits), mode 0600, outside the state directory;
    /// omitted: the key is read from the <c>FRAUDFED_STATE_KEY</c> environment variable.</summary>
    public string? StateKeyFile { get; init; }

    /// <summary>Reads and checks <paramref name="path"/>: every field, and that the named files exist and parse.</summary>
    /// <exception cref="ConfigurationException">anything missing or malformed (the message names it).</exception>
    public static LoadedBankConfig Load(string path)
    {
        BankConfig c = ConfigJson.Load<BankConfig>(path);
        if (string.IsNullOrWhiteSpace(c.Aggregator))
            throw new ConfigurationException(ConfigJson.MissingOrEmpty(path, "aggregator", "set it to the appliance's https://host:port address"));
        if (!Uri.TryCreate(c.Aggregator, UriKind.Absolute, out Uri? uri) || uri.Scheme != "https")
            throw new ConfigurationException($"{path}: aggregator must be an https://host:port address, not \"{c.Aggregator}\".");
        ConfigJson.CheckRanges(path, c);
        c.Federation.Validate(path);
        if (ConfigJson.IsAbsent(path, "bank"))
            throw new ConfigurationException($"{path}: the 'bank' setting is missing; add it at the top level of the file and set it to this bank's roster index, 0..{c.Federation.Banks - 1}.");
        if (c.Bank < 0 || c.Bank >= c.Federation.Banks)
            throw new ConfigurationException($"{path}: bank = {c.Bank} is out of range: it must be between 0 and {c.Federation.Banks - 1} (this bank's roster index, its place in federation.identity_keys).");
        // Every file the configuration names exists, or the message names the setting that names it.
        string certificatePath = ConfigJson.ExistingFile(path, "certificate", c.Certificate, "certificate");
        string keyPath = ConfigJson.ExistingPrivateFile(path, "key", c.Key, "key");
        string caPath = ConfigJson.ExistingFile(path, "ca", c.Ca, "CA certificate");
        string protocolKeyPath = ConfigJson.ExistingPrivateFile(path, "protocol_key", c.ProtocolKey, "protocol key");
        X509Certificate2 cert = TlsFiles.LoadCertificateWithKey(certificatePath, keyPath);
        X509Certificate2 ca = TlsFiles.LoadCertificate(caPath);
        string? stateDirectory = null;
        State.StateKey? stateKey = null;
        if (!string.IsNullOrEmpty(c.StateDirectory))
        {
            stateDirectory = ConfigJson.Resolve(path, c.StateDirectory);
            string? keyFile = string.IsNullOrEmpty(c.StateKeyFile) ? null : ConfigJson.Resolve(path, c.StateKeyFile);
            if (keyFile is not null && Path.GetFullPath(keyFile).StartsWith(Path.TrimEndingDirectorySeparator(stateDirectory) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new ConfigurationException($"{path}: state_key_file lies inside state_directory; keep the key apart from the data it seals (another disk, a secret store, or the FRAUDFED_STATE_KEY variable).");
            stateKey = State.StateKey.Load(keyFile, path);
        }
        else if (!string.IsNullOrEmpty(c.StateKeyFile)) throw new ConfigurationException($"{path}: state_key_file is set without state_directory.");
        byte[] seed = ConfigJson.ReadKeySeed(protocolKeyPath);
        return new LoadedBankConfig(c, uri, cert, ca, seed, stateDirectory, stateKey) { ConfigPath = path };
    }
}

/// <summary>A checked <see cref="BankConfig"/> with its files loaded. Dispose clears the protocol seed.</summary>
public sealed class LoadedBankConfig : IDisposable
{
    internal LoadedBankConfig(BankConfig config, Uri aggregator, X509Certificate2 certificate, X509Certificate2 ca, byte[] protocolSeed,
        string? stateDirectory = null, State.StateKey? stateKey = null)
    {
        Config = config; Aggregator = aggregator; Certificate = certificate; Ca = ca; ProtocolSeed = protocolSeed;
        StateDirectory = stateDirectory; StateKey = stateKey;
    }

    /// <summary>The resolved state directory, or null when the bank keeps its state in memory only.</summary>
    public string? StateDirectory { get; }
    /// <summary>The bank.json this configuration was read from, as given to <see cref="BankConfig.Load"/>, for messages.</summary>
    internal string ConfigPath { get; init; } = "bank.json";
    /// <summary>The state key (secret), present with <see cref="StateDirectory"/>.</summary>
    internal State.StateKey? StateKey { get; }

    /// <summary>The file's settings.</summary>
    public BankConfig Config { get; }
    /// <summary>The appliance's address.</summary>
    public Uri Aggregator { get; }
    /// <summary>The client certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }
    /// <summary>The trusted issuer of the appliance's certificate.</summary>
    public X509Certificate2 Ca { get; }
    /// <summary>The 32-byte Ed25519 protocol seed (secret).</summary>
    internal byte[] ProtocolSeed { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(ProtocolSeed);
        StateKey?.Dispose();
        Certificate.Dispose();
        Ca.Dispose();
    }
}
