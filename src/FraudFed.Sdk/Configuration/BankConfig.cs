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
    public int MaxMessageBytes { get; init; } = 256 << 20;

    /// <summary>Reads and checks <paramref name="path"/>: every field, and that the named files exist and parse.</summary>
    /// <exception cref="ConfigurationException">anything missing or malformed (the message names it).</exception>
    public static LoadedBankConfig Load(string path)
    {
        BankConfig c = ConfigJson.Load<BankConfig>(path);
        if (!Uri.TryCreate(c.Aggregator, UriKind.Absolute, out Uri? uri) || uri.Scheme != "https")
            throw new ConfigurationException($"{path}: aggregator must be an https://host:port address, not \"{c.Aggregator}\".");
        c.Federation.Validate(path);
        if (c.Bank < 0 || c.Bank >= c.Federation.Banks) throw new ConfigurationException($"{path}: bank must be a roster index in 0..{c.Federation.Banks - 1}.");
        if (c.MaxMessageBytes is < 1024 or > int.MaxValue / 2) throw new ConfigurationException($"{path}: max_message_bytes must be in 1024..{int.MaxValue / 2}.");
        X509Certificate2 cert = TlsFiles.LoadCertificateWithKey(ConfigJson.Resolve(path, c.Certificate), ConfigJson.Resolve(path, c.Key));
        X509Certificate2 ca = TlsFiles.LoadCertificate(ConfigJson.Resolve(path, c.Ca));
        byte[] seed = ConfigJson.ReadKeySeed(ConfigJson.Resolve(path, c.ProtocolKey));
        return new LoadedBankConfig(c, uri, cert, ca, seed);
    }
}

/// <summary>A checked <see cref="BankConfig"/> with its files loaded. Dispose clears the protocol seed.</summary>
public sealed class LoadedBankConfig : IDisposable
{
    internal LoadedBankConfig(BankConfig config, Uri aggregator, X509Certificate2 certificate, X509Certificate2 ca, byte[] protocolSeed)
    {
        Config = config; Aggregator = aggregator; Certificate = certificate; Ca = ca; ProtocolSeed = protocolSeed;
    }

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
        Certificate.Dispose();
        Ca.Dispose();
    }
}
