// The training job an appliance coordinates (SPEC.md 14.5, training on the appliance): the model, its public options,
// the modulus k of the answers and the public schema. The appliance reads it from aggregator.json ("training") and sends
// it to every bank as a TrainingJob mailbox item; both sides build their party of the party-split trainer (SPEC.md 14.4)
// from it with TrainingJobFactory, so the appliance's coordinator and each bank's copy are built from the same facts.
using System.Text.Json;
using FraudFed.Learning.Federation;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;
using FraudFed.Learning.Data;

namespace FraudFed.Sdk.Configuration;

/// <summary>The "training" block of aggregator.json: one federated training job run on the appliance.</summary>
public sealed record TrainingSettings
{
    /// <summary>"gbdt" (federated histogram GBDT) or "logistic" (FedAvg logistic regression).</summary>
    public string Model { get; init; } = "gbdt";
    /// <summary>k: bank answers and sums are residues mod 2^k, 16..64 and at most the session's plaintext bits (t of the
    /// homomorphic parameter set, or masking.modulus_bits). Default 44, as the in-process simulate.</summary>
    public int ModulusBits { get; init; } = 44;
    /// <summary>The public schema: feature column names, in order, that every bank's rows must have.</summary>
    public string[] FeatureNames { get; init; } = [];
    /// <summary>GBDT options (model "gbdt"); null: the defaults.</summary>
    public GbdtOptions? Gbdt { get; init; }
    /// <summary>Logistic regression options (model "logistic"); null: the defaults.</summary>
    public LogisticOptions? Logistic { get; init; }

    /// <summary>True for the GBDT model.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public bool IsGbdt => Model == "gbdt";

    /// <summary>Checks the job against the session of <paramref name="federation"/>.</summary>
    /// <param name="where">The file named in messages.</param>
    /// <param name="federation">The session the job runs on.</param>
    /// <exception cref="ConfigurationException">an unknown model, k out of range or above the session's plaintext bits, no
    /// feature names, or invalid model options (the message names the setting).</exception>
    public void Validate(string where, FederationSettings federation)
    {
        ArgumentNullException.ThrowIfNull(federation);
        if (Model is not ("gbdt" or "logistic")) throw new ConfigurationException($"{where}: training.model must be \"gbdt\" or \"logistic\", not \"{Model}\".");
        int plainBits = federation.IsHomomorphic ? federation.BuildHeRoster().Parameters.PlainModulusBits : federation.Masking?.ModulusBits ?? 0;
        if (ModulusBits is < 16 or > 64 || ModulusBits > plainBits)
            throw new ConfigurationException($"{where}: training.modulus_bits = {ModulusBits} is out of range: it must be between 16 and {Math.Min(64, plainBits)} (k: the banks' answers are residues mod 2^k, and the session sums mod 2^{plainBits}).");
        if (FeatureNames.Length == 0 || FeatureNames.Any(string.IsNullOrWhiteSpace) || FeatureNames.Distinct(StringComparer.Ordinal).Count() != FeatureNames.Length)
            throw new ConfigurationException($"{where}: training.feature_names must list the public schema's columns, each once.");
        try
        {
            if (IsGbdt) (Gbdt ?? new GbdtOptions()).Validate();
            else (Logistic ?? new LogisticOptions()).Validate();
        }
        catch (ArgumentException e)
        {
            object? options = IsGbdt ? Gbdt ?? new GbdtOptions() : Logistic ?? new LogisticOptions();
            throw ConfigJson.ArgumentWords(where, $"training.{Model}", e, name =>
                options.GetType().GetProperties().FirstOrDefault(p => ConfigJson.Options.PropertyNamingPolicy!.ConvertName(p.Name) == name)?.GetValue(options));
        }
    }
}

/// <summary>Builds the coordinator and the bank parties of a training job (the appliance and every bank use the same code).</summary>
public static class TrainingJobFactory
{
    /// <summary>The options of <paramref name="settings"/> as the JSON of a TrainingJob item (snake_case names).</summary>
    public static string OptionsJson(TrainingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.IsGbdt
            ? JsonSerializer.Serialize(settings.Gbdt ?? new GbdtOptions(), ConfigJson.Canonical)
            : JsonSerializer.Serialize(settings.Logistic ?? new LogisticOptions(), ConfigJson.Canonical);
    }

    /// <summary>Reads the settings back from a TrainingJob item's fields.</summary>
    /// <exception cref="FederationException">an unknown model or options that do not parse.</exception>
    public static TrainingSettings FromJob(string model, string optionsJson, int modulusBits, IEnumerable<string> featureNames)
    {
        try
        {
            return model switch
            {
                "gbdt" => new TrainingSettings { Model = model, ModulusBits = modulusBits, FeatureNames = featureNames.ToArray(), Gbdt = JsonSerializer.Deserialize<GbdtOptions>(optionsJson, ConfigJson.Canonical) },
                "logistic" => new TrainingSettings { Model = model, ModulusBits = modulusBits, FeatureNames = featureNames.ToArray(), Logistic = JsonSerializer.Deserialize<LogisticOptions>(optionsJson, ConfigJson.Canonical) },
                _ => throw new FederationException($"the appliance announced an unknown training model \"{model}\"; update this bank's FraudFed SDK."),
            };
        }
        catch (JsonException e) { throw new FederationException($"the appliance's training options do not parse ({e.Message}); update this bank's FraudFed SDK or ask the operator.", e); }
    }

    /// <summary>The coordinator of the job (sees only sums). Its model is a <see cref="GbdtModel"/> or a <see cref="LogisticModel"/>.</summary>
    public static ITrainingCoordinator<object> Coordinator(TrainingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.IsGbdt
            ? new GbdtCoordinator(settings.Gbdt ?? new GbdtOptions(), settings.FeatureNames, settings.ModulusBits)
            : new LogisticCoordinator(settings.Logistic ?? new LogisticOptions(), settings.FeatureNames, settings.ModulusBits);
    }

    /// <summary>The bank party of the job over the bank's own <paramref name="rows"/>.</summary>
    public static ITrainingBankParty BankParty(TrainingSettings settings, LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.IsGbdt
            ? new GbdtBankParty(rows, settings.Gbdt ?? new GbdtOptions(), settings.ModulusBits)
            : new LogisticBankParty(rows, settings.Logistic ?? new LogisticOptions(), settings.ModulusBits);
    }
}
