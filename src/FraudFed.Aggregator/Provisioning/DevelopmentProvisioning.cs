// `fraudfed aggregator init`: a development startup kit (in the manner of a provisioned kit per site). One ECDSA P-256
// development CA; the appliance's server certificate (SAN localhost, 127.0.0.1, ::1) and, for homomorphic mode, its
// Ed25519 signing seed; per bank a client certificate, an Ed25519 protocol seed and bank.json; and aggregator.json
// with the roster pinning each bank's certificate fingerprint and protocol key. Every file says it is for development
// only; private keys and seeds are written with mode 0600. Certificates come from .NET's CertificateRequest.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Threshold;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Aggregator.Provisioning;

/// <summary>What <see cref="DevelopmentProvisioning.Write"/> makes.</summary>
public sealed record ProvisioningOptions
{
    /// <summary>N, the number of banks (2..256).</summary>
    public int Banks { get; init; } = 5;
    /// <summary><c>he</c> or <c>masking</c>.</summary>
    public string Mode { get; init; } = "he";
    /// <summary>The appliance's mutual-TLS address (host:port); banks connect to https://localhost:port.</summary>
    public string Listen { get; init; } = "127.0.0.1:7443";
    /// <summary>The operations address, or null.</summary>
    public string? OpsListen { get; init; } = "127.0.0.1:9464";
    /// <summary>Use the INSECURE small RLWE parameters (tests, demonstrations).</summary>
    public bool InsecureTestParameters { get; init; }
    /// <summary>Certificate lifetime (default 30 days).</summary>
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromDays(30);
    /// <summary>Stage deadlines written to aggregator.json.</summary>
    public DeadlineSettings Deadlines { get; init; } = new();
}

/// <summary>Writes a development startup kit.</summary>
public static class DevelopmentProvisioning
{
    /// <summary>The warning every file carries.</summary>
    public const string Warning = "DEVELOPMENT ONLY: made by `fraudfed aggregator init` with a throw-away CA; never use these keys or certificates in production.";

    /// <summary>Writes the kit into <paramref name="directory"/> (which must exist and be empty or new). Layout: aggregator.json,
    /// ca.crt.pem, ca.key.pem, server.crt.pem, server.key.pem, aggregator.ed25519 (he), banks/bank-i/{bank.json, client.crt.pem,
    /// client.key.pem, protocol.ed25519, ca.crt.pem} and banks/bank-i/state.key (0600, a 32-byte state key in hex) with
    /// bank.json naming state_directory "state" (the empty directory banks/bank-i/state/, mode 0700) so a restarted bank resumes (SPEC.md 14.6, 14.7).</summary>
    /// <returns>The path of aggregator.json.</returns>
    /// <exception cref="ArgumentException">options out of range.</exception>
    public static string Write(string directory, ProvisioningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Banks is < 2 or > 256) throw new ArgumentException("Between 2 and 256 banks.", nameof(options));
        if (options.Mode is not ("he" or "masking")) throw new ArgumentException("Mode he or masking.", nameof(options));
        if (!System.Net.IPEndPoint.TryParse(options.Listen, out System.Net.IPEndPoint? listen)) throw new ArgumentException("listen is host:port.", nameof(options));
        Directory.CreateDirectory(directory);
        DateTimeOffset from = DateTimeOffset.UtcNow.AddMinutes(-5), to = from + options.Lifetime;

        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=FraudFed development CA (DEVELOPMENT ONLY)", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using X509Certificate2 ca = caRequest.CreateSelfSigned(from, to);
        WriteCertificate(Path.Combine(directory, "ca.crt.pem"), ca);
        WriteKey(Path.Combine(directory, "ca.key.pem"), caKey);

        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        if (!System.Net.IPAddress.IsLoopback(listen.Address) && !listen.Address.Equals(System.Net.IPAddress.Any)) san.AddIpAddress(listen.Address);
        Issue(directory, "server", "CN=FraudFed appliance (DEVELOPMENT ONLY)", ca, caKey, from, to, serverAuth: true, san.Build());

        var pins = new RosterBank[options.Banks];
        var identities = new string[options.Banks];
        var seeds = new byte[options.Banks][];
        for (int i = 0; i < options.Banks; i++)
        {
            string dir = Path.Combine(directory, "banks", $"bank-{i}");
            Directory.CreateDirectory(dir);
            using X509Certificate2 client = Issue(dir, "client", $"CN=bank-{i} (DEVELOPMENT ONLY)", ca, caKey, from, to, serverAuth: false, null);
            pins[i] = new RosterBank { Name = $"bank-{i}", CertificateSha256 = TlsFiles.Fingerprint(client) };
            seeds[i] = RandomNumberGenerator.GetBytes(32);
            using var key = Ed25519SigningKey.Import(seeds[i]);
            identities[i] = Convert.ToHexStringLower(key.PublicKey);
            WriteSeed(Path.Combine(dir, "protocol.ed25519"), seeds[i]);
            File.Copy(Path.Combine(directory, "ca.crt.pem"), Path.Combine(dir, "ca.crt.pem"), overwrite: true);
        }

        string? aggregatorKey = null;
        if (options.Mode == "he")
        {
            byte[] seed = RandomNumberGenerator.GetBytes(32);
            using var key = Ed25519SigningKey.Import(seed);
            aggregatorKey = Convert.ToHexStringLower(key.PublicKey);
            WriteSeed(Path.Combine(directory, "aggregator.ed25519"), seed);
            CryptographicOperations.ZeroMemory(seed);
        }

        int n = options.Banks;
        FederationSettings federation = options.Mode == "he"
            ? HeDefaults(n, identities, aggregatorKey!, options.InsecureTestParameters)
            : new FederationSettings
            {
                Mode = "masking",
                IdentityKeys = identities,
                Masking = new MaskingSettings { ModulusBits = 32, Threshold = 2 * n / 3 + 1 },
                InsecureTestParameters = options.InsecureTestParameters,
            };

        int port = listen.Port;
        string host = listen.Address.Equals(System.Net.IPAddress.Any) || listen.Address.Equals(System.Net.IPAddress.IPv6Any) ? "localhost" : listen.Address.ToString();
        for (int i = 0; i < n; i++)
        {
            var bank = new BankConfig
            {
                Note = Warning,
                Aggregator = $"https://{host}:{port}",
                Bank = i,
                Certificate = "client.crt.pem",
                Key = "client.key.pem",
                Ca = "ca.crt.pem",
                ProtocolKey = "protocol.ed25519",
                Federation = federation,
                // Banks of either mode resume their party from a sealed state directory (SPEC.md 14.6, 14.7), so repeated
                // `bank sum` processes keep contributing to the same session. The key file lies beside, never inside, it.
                StateDirectory = "state",
                StateKeyFile = "state.key",
            };
            byte[] stateKey = RandomNumberGenerator.GetBytes(32);
            try { WriteSecret(Path.Combine(directory, "banks", $"bank-{i}", "state.key"), $"# {Warning}\n# Bank state key: 32 bytes, hex (seals state/, SPEC.md 14.6).\n{Convert.ToHexStringLower(stateKey)}\n"); }
            finally { CryptographicOperations.ZeroMemory(stateKey); }
            WriteJson(Path.Combine(directory, "banks", $"bank-{i}", "bank.json"), bank);
            // The state directory exists from the start, private to its owner (the SDK creates it so too when it is missing).
            string state = Path.Combine(directory, "banks", $"bank-{i}", "state");
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(state);
            else Directory.CreateDirectory(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            CryptographicOperations.ZeroMemory(seeds[i]);
        }
        var aggregator = new AggregatorConfig
        {
            Note = Warning,
            Listen = options.Listen,
            OpsListen = options.OpsListen,
            Certificate = "server.crt.pem",
            Key = "server.key.pem",
            State = "state/aggregator.db",
            AggregatorKey = options.Mode == "he" ? "aggregator.ed25519" : null,
            Banks = pins,
            Federation = federation,
            Deadlines = options.Deadlines,
        };
        string path = Path.Combine(directory, "aggregator.json");
        WriteJson(path, aggregator);
        return path;
    }

    /// <summary>Homomorphic defaults for N banks: c = the policy's default, T = the least safe threshold (2T &gt; N + c), K_min = T.</summary>
    private static FederationSettings HeDefaults(int n, string[] identities, string aggregatorKey, bool insecure)
    {
        int c = DecryptionPolicy.DefaultMaxColluders(n);
        int t = DecryptionPolicy.MinimumSafeThreshold(n, c);
        return new FederationSettings
        {
            Mode = "he",
            IdentityKeys = identities,
            AggregatorKey = aggregatorKey,
            He = new HeSettings
            {
                ParameterSet = insecure ? "INSECURE-test-n256-3x60-t44" : "fraudfed-bfv-8192-3x60-t44",
                Threshold = t,
                MinContributors = t,
                MaxColluders = c,
            },
            InsecureTestParameters = insecure,
        };
    }

    private static X509Certificate2 Issue(string dir, string name, string subject, X509Certificate2 ca, ECDsa caKey, DateTimeOffset from, DateTimeOffset to,
        bool serverAuth, X509Extension? san)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (san is not null) request.CertificateExtensions.Add(san);
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(ca, from, to, serial);
        WriteCertificate(Path.Combine(dir, $"{name}.crt.pem"), issued);
        WriteKey(Path.Combine(dir, $"{name}.key.pem"), key);
        return X509Certificate2.CreateFromPem(issued.ExportCertificatePem());
    }

    private static void WriteCertificate(string path, X509Certificate2 certificate) =>
        File.WriteAllText(path, $"# {Warning}\n{certificate.ExportCertificatePem()}\n");

    private static void WriteKey(string path, AsymmetricAlgorithm key)
    {
        WriteSecret(path, $"# {Warning}\n{key.ExportPkcs8PrivateKeyPem()}\n");
    }

    private static void WriteSeed(string path, byte[] seed) =>
        WriteSecret(path, $"# {Warning}\n# Ed25519 protocol key: 32-byte RFC 8032 seed, hex.\n{Convert.ToHexStringLower(seed)}\n");

    private static void WriteSecret(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }

    private static void WriteJson<T>(string path, T value) => File.WriteAllText(path, JsonSerializer.Serialize(value, ConfigJson.Options) + "\n");
}
