// The session facts every party of one appliance session holds, identically, in its configuration file (SPEC.md 14.5):
// the mode, the banks' Ed25519 identity keys by roster index, the aggregator's key (homomorphic mode) and the mode's
// parameters. The appliance reports their digest in SessionInfo.roster_digest and a bank refuses a session whose digest
// differs from its own. Files are JSON with snake_case names; unknown names are refused so that a typo is found at start.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;

namespace FraudFed.Sdk.Configuration;

/// <summary>Threshold homomorphic parameters (SPEC.md 12.3, 14.2).</summary>
public sealed record HeSettings
{
    /// <summary>RLWE parameter set name: <c>fraudfed-bfv-8192-3x60-t44</c> (default), <c>fraudfed-bfv-16384-6x60-t44</c>, or,
    /// only with <see cref="FederationSettings.InsecureTestParameters"/>, <c>INSECURE-test-n256-3x60-t44</c> / <c>INSECURE-test-n1024-3x60-t44</c>.</summary>
    public string ParameterSet { get; init; } = "fraudfed-bfv-8192-3x60-t44";
    /// <summary>T, decryptors per round.</summary>
    public int Threshold { get; init; }
    /// <summary>K_min, the fewest contributors a sum may have before anyone decrypts it.</summary>
    public int MinContributors { get; init; }
    /// <summary>c, banks that may collude with the aggregator (2T &gt; N + c is checked, SPEC.md 12.3).</summary>
    public int MaxColluders { get; init; }
}

/// <summary>Masking (SecAgg / SecAgg+) parameters (SPEC.md 8, 11).</summary>
public sealed record MaskingSettings
{
    /// <summary>k: sums are mod 2^k (1..64).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 64, ErrorMessage = "k: sums are taken mod 2^k")]
    public int ModulusBits { get; init; } = 32;
    /// <summary>t, the Shamir threshold.</summary>
    public int Threshold { get; init; }
    /// <summary>SecAgg+ degree (even); null: the complete graph.</summary>
    public int? Degree { get; init; }
    /// <summary>c, the collusion bound; null: ceil(n/3) - 1.</summary>
    public int? MaxColluders { get; init; }
    /// <summary>M, the fewest banks at any stage; null: the default of SPEC.md 11.1.</summary>
    public int? MinimumSurvivors { get; init; }
}

/// <summary>The public facts of one session, identical at the appliance and every bank.</summary>
public sealed record FederationSettings
{
    /// <summary><c>he</c> (threshold homomorphic) or <c>masking</c>.</summary>
    public string Mode { get; init; } = "";
    /// <summary>Each bank's Ed25519 protocol public key (32 bytes, lowercase hex), by roster index.</summary>
    public string[] IdentityKeys { get; init; } = [];
    /// <summary>Homomorphic mode: the aggregator's Ed25519 public key (32 bytes, hex).</summary>
    public string? AggregatorKey { get; init; }
    /// <summary>Homomorphic mode parameters.</summary>
    public HeSettings? He { get; init; }
    /// <summary>Masking mode parameters.</summary>
    public MaskingSettings? Masking { get; init; }
    /// <summary>Allows the INSECURE test parameter sets (tests and demonstrations only).</summary>
    public bool InsecureTestParameters { get; init; }

    /// <summary>True for the homomorphic mode.</summary>
    [JsonIgnore] public bool IsHomomorphic => Mode == "he";
    /// <summary>N, the roster size.</summary>
    [JsonIgnore] public int Banks => IdentityKeys.Length;

    /// <summary>Checks every field; <paramref name="where"/> names the file in messages.</summary>
    /// <exception cref="ConfigurationException">a missing, malformed or insecure setting (the message names it and the fix).</exception>
    public void Validate(string where)
    {
        if (Mode.Length == 0 && ConfigJson.IsAbsent(where, "federation"))
            throw new ConfigurationException($"{where}: the 'federation' setting is missing; add the federation block (mode, identity_keys and the mode's parameters), the same in aggregator.json and every bank.json.");
        if (Mode.Length == 0) throw new ConfigurationException(ConfigJson.MissingOrEmpty(where, "federation.mode", "set it to \"he\" or \"masking\""));
        if (Mode is not ("he" or "masking")) throw new ConfigurationException($"{where}: federation.mode must be \"he\" or \"masking\", not \"{Mode}\".");
        if (IdentityKeys.Length == 0 && ConfigJson.IsAbsent(where, "federation.identity_keys"))
            throw new ConfigurationException($"{where}: the 'federation.identity_keys' setting is missing; add it to the federation block: each bank's Ed25519 protocol public key (64 hex digits), by roster index.");
        if (IdentityKeys.Length < 2) throw new ConfigurationException($"{where}: federation.identity_keys must list at least two banks.");
        for (int i = 0; i < IdentityKeys.Length; i++) _ = Key32(IdentityKeys[i], $"{where}: federation.identity_keys[{i}]");
        if (IdentityKeys.Distinct(StringComparer.OrdinalIgnoreCase).Count() != IdentityKeys.Length)
            throw new ConfigurationException($"{where}: federation.identity_keys has a key twice; every bank needs its own.");
        int n = Banks;
        // The ranges each parameter can take with this roster, named by their JSON path, before the library's security checks.
        void InRange(string key, int value, int min, int max, string why)
        {
            if (value >= min && value <= max) return;
            string setting = $"federation.{Mode}.{key}";
            if (ConfigJson.IsAbsent(where, setting))
                throw new ConfigurationException($"{where}: the '{setting}' setting is missing; add it to the federation.{Mode} block, between {min} and {max} ({why}).");
            throw new ConfigurationException($"{where}: {setting} = {value} is out of range: it must be between {min} and {max} ({why}).");
        }
        if (IsHomomorphic)
        {
            if (He is not { } he)
                throw new ConfigurationException($"{where}: the 'federation.he' setting is missing; add the he block (threshold, min_contributors, max_colluders) for mode \"he\".");
            InRange("threshold", he.Threshold, 1, n, $"T, the decryptors of each round, are drawn from the N = {n} banks");
            InRange("min_contributors", he.MinContributors, 2, n, $"K_min, the fewest contributors a sum may have, of the N = {n} banks: a single bank's input is never decrypted");
            InRange("max_colluders", he.MaxColluders, 0, n - 2, $"c, the banks that may collude with the aggregator: at least two of the N = {n} banks must be honest");
        }
        else
        {
            if (Masking is not { } m)
                throw new ConfigurationException($"{where}: the 'federation.masking' setting is missing; add the masking block (at least threshold) for mode \"masking\".");
            bool sparse = m.Degree is { } d && d < n - 1;
            if (sparse && n < 4)
                throw new ConfigurationException($"{where}: federation.masking.degree = {m.Degree} is not allowed: a sparse SecAgg+ graph (a degree below N - 1) needs at least 4 banks, and this roster has {n}; leave degree out for the complete graph.");
            if (sparse) InRange("degree", m.Degree!.Value, 2, n - 2, $"a SecAgg+ degree below N - 1 = {n - 1} is a sparse graph; leave it out for the complete graph");
            if (sparse && m.Degree!.Value % 2 != 0)
                throw new ConfigurationException($"{where}: federation.masking.degree = {m.Degree} is odd: a SecAgg+ degree is even (each bank has degree/2 neighbours on each side); use {m.Degree - 1} or {m.Degree + 1}, or leave it out for the complete graph.");
            int holders = sparse ? m.Degree!.Value + 1 : n;
            InRange("threshold", m.Threshold, 2, holders, sparse
                ? $"t, the Shamir threshold, is at least 2 and at most the degree + 1 = {holders} banks that hold each share"
                : $"t, the Shamir threshold, is at least 2 and at most the N = {n} banks that hold each share");
            if (m.MaxColluders is { } c) InRange("max_colluders", c, 0, n - 1, $"c, the banks that may collude with the aggregator, of the N = {n} banks");
            if (m.MinimumSurvivors is { } survivors) InRange("minimum_survivors", survivors, m.Threshold, n, $"M, the fewest banks at any stage, is at least t = {m.Threshold} and at most N = {n}");
        }
        try
        {
            if (IsHomomorphic) _ = BuildHeRoster();
            else _ = BuildMaskingParameters(new byte[MaskingParameters.SessionIdSize]);
        }
        catch (ArgumentException e)
        {
            throw ConfigJson.ArgumentWords(where, $"federation.{Mode}", e, name => Value(name));
        }
        catch (ProtocolViolationException e)
        {
            // A security bound the parameters fail (SPEC.md 11.1, 12.3): the library's reason, with its fix.
            string text = ConfigJson.Bare(e);
            if (text.StartsWith(e.Reason + ": ", StringComparison.Ordinal)) text = text[(e.Reason.ToString().Length + 2)..];
            throw new ConfigurationException($"{where}: federation.{Mode}: the parameters are not secure: {ConfigJson.Lower(text)}.");
        }
        catch (ConfigurationException e) { throw new ConfigurationException($"{where}: {e.Message}"); }
    }

    /// <summary>The mode block's setting <paramref name="name"/> (snake_case), for messages; null when unknown or unset.</summary>
    private object? Value(string name)
    {
        object? block = IsHomomorphic ? He : Masking;
        System.Reflection.PropertyInfo? p = block?.GetType().GetProperties().FirstOrDefault(p => ConfigJson.Options.PropertyNamingPolicy!.ConvertName(p.Name) == name);
        return p?.GetValue(block);
    }

    /// <summary>The homomorphic roster of these settings.</summary>
    /// <exception cref="ConfigurationException">a setting is missing or malformed.</exception>
    /// <exception cref="ProtocolViolationException">InsecureParameters: the policy fails SPEC.md 12.3.</exception>
    public HomomorphicRoster BuildHeRoster()
    {
        HeSettings he = He ?? throw new ConfigurationException("federation.he is required in mode \"he\".");
        byte[] aggregator = Key32(AggregatorKey, "federation.aggregator_key");
        RlweParameters parameters = he.ParameterSet switch
        {
            "fraudfed-bfv-8192-3x60-t44" => ParameterSets.Default,
            "fraudfed-bfv-16384-6x60-t44" => ParameterSets.N16384,
            string name when InsecureTestParameters && RlweParameters.InsecureTestSetNames.Contains(name) => RlweParameters.InsecureForTestsOnly(name),
            _ => throw new ConfigurationException($"federation.he.parameter_set \"{he.ParameterSet}\" is not a known secure set (fraudfed-bfv-8192-3x60-t44, fraudfed-bfv-16384-6x60-t44)."),
        };
        var policy = new DecryptionPolicy { Threshold = he.Threshold, MinContributors = he.MinContributors, MaxColluders = he.MaxColluders };
        return new HomomorphicRoster(parameters, policy, IdentityKeys.Select((k, i) => Key32(k, $"federation.identity_keys[{i}]")).ToArray(), aggregator,
            allowInsecureTestParameters: InsecureTestParameters);
    }

    /// <summary>The masking parameters of these settings for session <paramref name="sessionId"/> (16 bytes).</summary>
    /// <exception cref="ConfigurationException">federation.masking is missing.</exception>
    /// <exception cref="ArgumentException">a parameter outside its range.</exception>
    /// <exception cref="ProtocolViolationException">InsecureParameters (SPEC.md 11.1).</exception>
    public MaskingParameters BuildMaskingParameters(ReadOnlySpan<byte> sessionId)
    {
        MaskingSettings m = Masking ?? throw new ConfigurationException("federation.masking is required in mode \"masking\".");
        return new MaskingParameters(sessionId, Banks, m.Threshold, m.ModulusBits, m.Degree, m.MinimumSurvivors, m.MaxColluders);
    }

    /// <summary>The identity public keys as bytes, by roster index.</summary>
    public byte[][] IdentityKeyBytes() => IdentityKeys.Select((k, i) => Key32(k, $"federation.identity_keys[{i}]")).ToArray();

    /// <summary>SHA-256 of these settings' canonical JSON (snake_case, declaration order, no indentation), lowercase hex (SPEC.md 14.5).</summary>
    public string Digest()
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(this with { IdentityKeys = IdentityKeys.Select(k => k.ToLowerInvariant()).ToArray(), AggregatorKey = AggregatorKey?.ToLowerInvariant() }, ConfigJson.Canonical);
        return Convert.ToHexStringLower(SHA256.HashData(json));
    }

    private static byte[] Key32(string? hex, string what)
    {
        byte[] key;
        try { key = Convert.FromHexString(hex ?? ""); }
        catch (FormatException) { throw new ConfigurationException($"{what} is not hex."); }
        if (key.Length != 32) throw new ConfigurationException($"{what} must be a 32-byte Ed25519 public key (64 hex digits).");
        return key;
    }
}
