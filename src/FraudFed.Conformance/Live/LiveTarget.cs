// What the live conformance runner needs to play the banks of a running appliance (SPEC.md 13, "Live conformance"): the
// appliance's address, the authority of its server certificate, and every roster bank's credentials as `fraudfed
// aggregator init` writes them (banks/bank-<i>/bank.json with its client certificate, key and protocol key). Everything
// is read and checked by Load before any connection is made.
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Conformance.Live;

/// <summary>Options of a live run against one appliance.</summary>
public sealed record LiveOptions
{
    /// <summary>The appliance's mutual-TLS gRPC address, <c>https://host:port</c>.</summary>
    public required Uri Target { get; init; }
    /// <summary>PEM certificate of the authority that issued the appliance's server certificate; null: each bank.json's <c>ca</c>.</summary>
    public string? CaPath { get; init; }
    /// <summary>An init output folder (holding <c>banks/</c>) or its <c>banks</c> folder: one <c>bank-&lt;i&gt;/bank.json</c> per roster bank.</summary>
    public required string BanksDirectory { get; init; }
    /// <summary>The appliance's largest accepted message in bytes (the oversized check sends one byte more); null: the banks' <c>max_message_bytes</c>.</summary>
    public int? MaxMessageBytes { get; init; }
    /// <summary>Mutated messages the fuzz loop sends (0: no fuzz checks).</summary>
    public int FuzzMutants { get; init; }
    /// <summary>Time budget of the fuzz loop, seconds (it stops at whichever bound comes first).</summary>
    public double FuzzSeconds { get; init; } = 15;
    /// <summary>Seed of the fuzz loop's mutations (a failure names it; the same seed repeats the same mutants).</summary>
    public int FuzzSeed { get; init; } = 20261201;
    /// <summary>Longest wait for the appliance's next message (setup, a stage, a join deadline), seconds.</summary>
    public double StageTimeoutSeconds { get; init; } = 120;
    /// <summary>Values per vector in the checks' rounds.</summary>
    public int VectorLength { get; init; } = 8;
    /// <summary>Bytes in use by the process that hosts the appliance, when it is this process (<c>--self</c>); null: not measured.</summary>
    public Func<long>? MemoryProbe { get; init; }
}

/// <summary>A checked live target: the roster banks' credentials, loaded.</summary>
public sealed class LiveTarget : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    private LiveTarget(LiveOptions options, FederationSettings settings, int maxMessageBytes)
    {
        Options = options;
        Settings = settings;
        MaxMessageBytes = maxMessageBytes;
    }

    /// <summary>The options it was loaded from.</summary>
    public LiveOptions Options { get; }
    /// <summary>The federation block every bank.json carries (identical at every bank).</summary>
    public FederationSettings Settings { get; }
    /// <summary>The message size limit the oversized check probes.</summary>
    public int MaxMessageBytes { get; }
    internal List<(X509Certificate2 Certificate, X509Certificate2 Authority, byte[] Seed)> Banks { get; } = [];

    /// <summary>Reads and checks the options and every bank's files.</summary>
    /// <exception cref="ConfigurationException">a missing or malformed file, a target that is not https, banks of different
    /// federations, or a roster bank without credentials (the message names it).</exception>
    public static LiveTarget Load(LiveOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Target.IsAbsoluteUri || options.Target.Scheme != "https" || options.Target.Port <= 0)
            throw new ConfigurationException($"--target must be https://HOST:PORT, not \"{options.Target}\".");
        if (options.Target.UserInfo.Length > 0)
            throw new ConfigurationException($"--target must be https://HOST:PORT without a user part (\"{options.Target.UserInfo}@\"), not \"{options.Target.OriginalString}\".");
        if (!HasExplicitPort(options.Target.OriginalString))
            throw new ConfigurationException($"--target must name the port, https://HOST:PORT (the appliance's gRPC port; 443 is not assumed), not \"{options.Target.OriginalString}\".");
        if (options.Target.AbsolutePath != "/" || options.Target.Query.Length > 0 || options.Target.Fragment.Length > 0 || options.Target.UserInfo.Length > 0)
            throw new ConfigurationException($"--target must be https://HOST:PORT with nothing after the port (a gRPC service has no path), not \"{options.Target.OriginalString}\".");
        if (options.FuzzMutants < 0 || options.FuzzSeconds <= 0) throw new ConfigurationException("--fuzz must be 0 or more mutants and --fuzz-seconds positive.");
        if (options.StageTimeoutSeconds <= 0) throw new ConfigurationException("the stage timeout must be positive.");
        if (options.MaxMessageBytes is < 1024) throw new ConfigurationException("--max-message-bytes must be at least 1024.");
        if (!Directory.Exists(options.BanksDirectory)) throw new ConfigurationException($"{options.BanksDirectory}: no such directory (give the folder `fraudfed aggregator init` wrote, or its banks/ folder).");
        string banks = Directory.Exists(Path.Combine(options.BanksDirectory, "banks")) ? Path.Combine(options.BanksDirectory, "banks") : options.BanksDirectory;
        string first = Path.Combine(banks, "bank-0", "bank.json");
        if (!File.Exists(first)) throw new ConfigurationException($"{banks}: no bank-0/bank.json; give the folder `fraudfed aggregator init` wrote, or its banks/ folder.");
        X509Certificate2? ca = options.CaPath is null ? null : TlsFiles.LoadCertificate(options.CaPath);
        LiveTarget? target = null;
        try
        {
            FederationSettings settings = ConfigJson.Load<BankConfig>(first).Federation;
            settings.Validate(first);
            string digest = settings.Digest();
            int max = options.MaxMessageBytes ?? ConfigJson.Load<BankConfig>(first).MaxMessageBytes;
            target = new LiveTarget(options, settings, max);
            if (ca is not null) target._owned.Add(ca);
            for (int i = 0; i < settings.Banks; i++)
            {
                string path = Path.Combine(banks, $"bank-{i}", "bank.json");
                if (!File.Exists(path)) throw new ConfigurationException($"{path}: missing; the runner plays every roster bank ({settings.Banks}) and needs each one's bank.json.");
                LoadedBankConfig bank = BankConfig.Load(path);
                target._owned.Add(bank);
                if (bank.Config.Bank != i) throw new ConfigurationException($"{path}: names bank {bank.Config.Bank}, expected {i}.");
                if (bank.Config.Federation.Digest() != digest) throw new ConfigurationException($"{path}: its federation block differs from bank-0's; use one init output.");
                byte[] seed = ConfigJson.ReadKeySeed(ConfigJson.Resolve(path, bank.Config.ProtocolKey));
                target.Banks.Add((bank.Certificate, ca ?? bank.Ca, seed));
            }
            return target;
        }
        catch
        {
            if (target is null) ca?.Dispose();
            target?.Dispose();
            throw;
        }
    }

    /// <summary>True when the authority of an absolute URI text ends with ":digits" (a bracketed IPv6 host's colons do not count).</summary>
    internal static bool HasExplicitPort(string uri)
    {
        int start = uri.IndexOf("://", StringComparison.Ordinal);
        string authority = start < 0 ? uri : uri[(start + 3)..];
        int end = authority.IndexOfAny(['/', '?', '#']);
        if (end >= 0) authority = authority[..end];
        authority = authority[(authority.LastIndexOf('@') + 1)..];
        int colon = authority.LastIndexOf(':');
        return colon > authority.LastIndexOf(']') && colon < authority.Length - 1 && authority[(colon + 1)..].All(char.IsAsciiDigit);
    }

    internal WireBank Open(int bank) =>
        new(bank, Options.Target, Banks[bank].Certificate, Banks[bank].Authority, Settings, (byte[])Banks[bank].Seed.Clone(), MaxMessageBytes,
            TimeSpan.FromSeconds(Options.StageTimeoutSeconds));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var b in Banks) System.Security.Cryptography.CryptographicOperations.ZeroMemory(b.Seed);
        foreach (IDisposable d in _owned) d.Dispose();
    }
}
