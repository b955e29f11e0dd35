// Column roles of a CSV file: the label, an optional time and bank column, identifier columns (dropped),
// categorical columns (encoded by CategoryEncoder), ignored columns, and features (every other column unless
// listed). Presets for the public fraud data sets teams try first:
//   ulb       Machine Learning Group - ULB "Credit Card Fraud Detection" (Kaggle mlg-ulb/creditcardfraud):
//             Time, V1..V28, Amount, Class.
//   paysim    PaySim mobile-money simulation (Lopez-Rojas et al. 2016; Kaggle ealaxi/paysim1): step, type, amount,
//             nameOrig, oldbalanceOrg, newbalanceOrig, nameDest, oldbalanceDest, newbalanceDest, isFraud,
//             isFlaggedFraud. nameOrig/nameDest identify accounts (dropped); isFlaggedFraud is the simulator's own
//             rule-based flag raised on the same transfers, an output rather than an input (ignored).
//   ieee-cis  IEEE-CIS Fraud Detection (Kaggle, Vesta) train_transaction.csv, optionally merged with
//             train_identity.csv: TransactionID (dropped), isFraud, TransactionDT (time), TransactionAmt, ProductCD,
//             card1..card6, addr1, addr2, dist1, dist2, P_emaildomain, R_emaildomain, C1..C14, D1..D15, M1..M9,
//             V1..V339. Text columns are categorical (ProductCD, card4, card6, the e-mail domains, M1..M9, and
//             DeviceType, DeviceInfo, id_12..id_38 when the identity file is merged in); the numerically coded ones
//             (card1..3, card5, addr1, addr2) stay numeric, keeping the order of their codes. Empty cells are missing.
// A JSON schema file (snake_case keys, unknown keys refused) gives the same roles, optionally on top of a preset:
//   { "preset": "ieee-cis", "label": "isFraud", "time": "TransactionDT", "bank": "issuer",
//     "id_columns": [...], "categorical": [...], "ignore": [...], "features": [...], "optional": [...],
//     "separator": ";", "missing_values": ["NA"] }
// Every column named in a role must be in the file, except those listed as optional. When the features are
// not listed, a column whose name reads as an identifier (id, uuid, customer_id, TransactionID, accountId)
// must be given a role: identifiers are never used as features by accident.
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FraudFed.Learning.Data;

/// <summary>How to read a CSV file: the role of each column.</summary>
public sealed partial record CsvSchema
{
    /// <summary>Name shown in reports ("ulb", "paysim", "ieee-cis", a schema file name, or "custom").</summary>
    public string Name { get; init; } = "custom";
    /// <summary>Name of the label column (1/0, true/false; 1 = fraud).</summary>
    public required string LabelColumn { get; init; }
    /// <summary>Optional numeric time column (used to hold out the later window; not a feature).</summary>
    public string? TimeColumn { get; init; }
    /// <summary>Optional column naming each row's bank (not a feature).</summary>
    public string? BankColumn { get; init; }
    /// <summary>Columns that identify a row, an account or a party: read past, never features.</summary>
    public IReadOnlyList<string> IdColumns { get; init; } = [];
    /// <summary>Columns of categories (text or codes): each value becomes a bucket of <see cref="CategoryEncoder"/>.</summary>
    public IReadOnlyList<string> CategoricalColumns { get; init; } = [];
    /// <summary>Columns read past for another reason (e.g. a post-hoc flag that leaks the label).</summary>
    public IReadOnlyList<string> IgnoredColumns { get; init; } = [];
    /// <summary>Feature columns in order; null means every column without another role.</summary>
    public IReadOnlyList<string>? FeatureColumns { get; init; }
    /// <summary>Columns of the role lists that a file may lack (e.g. a preset's identity columns).</summary>
    public IReadOnlyList<string> OptionalColumns { get; init; } = [];
    /// <summary>Field separator; null detects it from the header (',', ';', tab or '|').</summary>
    public char? Separator { get; init; }
    /// <summary>Cell texts that mean "missing", besides an empty cell (e.g. "NA", "null").</summary>
    public IReadOnlyList<string> MissingValues { get; init; } = [];

    /// <summary>Names of the presets: ulb, paysim, ieee-cis.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["ulb", "paysim", "ieee-cis"];

    /// <summary>The ULB credit-card fraud schema: Time, V1..V28, Amount, Class.</summary>
    public static CsvSchema Ulb { get; } = new()
    {
        Name = "ulb",
        LabelColumn = "Class",
        TimeColumn = "Time",
        FeatureColumns = Enumerable.Range(1, 28).Select(i => "V" + i.ToString(CultureInfo.InvariantCulture)).Append("Amount").ToArray(),
    };

    /// <summary>The PaySim schema: step is the time, type is categorical, account names are identifiers, isFlaggedFraud is ignored.</summary>
    public static CsvSchema PaySim { get; } = new()
    {
        Name = "paysim",
        LabelColumn = "isFraud",
        TimeColumn = "step",
        IdColumns = ["nameOrig", "nameDest"],
        CategoricalColumns = ["type"],
        IgnoredColumns = ["isFlaggedFraud"],
    };

    /// <summary>The IEEE-CIS transaction schema (optionally merged with the identity table).</summary>
    public static CsvSchema IeeeCis { get; } = new()
    {
        Name = "ieee-cis",
        LabelColumn = "isFraud",
        TimeColumn = "TransactionDT",
        IdColumns = ["TransactionID"],
        CategoricalColumns = ["ProductCD", "card4", "card6", "P_emaildomain", "R_emaildomain",
            .. Numbered("M", 1, 9), "DeviceType", "DeviceInfo", .. Numbered("id_", 12, 38)],
        OptionalColumns = ["DeviceType", "DeviceInfo", .. Numbered("id_", 12, 38)],
    };

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static CsvSchema? Preset(string name) => name?.ToLowerInvariant() switch
    {
        "ulb" => Ulb,
        "paysim" => PaySim,
        "ieee-cis" or "ieee" or "ieeecis" => IeeeCis,
        _ => null,
    };

    /// <summary>True if <paramref name="column"/> reads as an identifier: id, uuid, guid, *_id, *-id, "* id", *Id, *ID.</summary>
    public static bool LooksLikeId(string column)
    {
        ArgumentNullException.ThrowIfNull(column);
        return IdName().IsMatch(column.Trim());
    }

    [GeneratedRegex(@"^(?:(?i:id|uuid|guid)|.*(?:[_\-\s](?i:id)|[a-z]Id|[A-Za-z]ID))$")]
    private static partial Regex IdName();

    private static IEnumerable<string> Numbered(string prefix, int from, int to) =>
        Enumerable.Range(from, to - from + 1).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture));

    /// <summary>Every column this schema names, with its role (for checks and messages).</summary>
    public IEnumerable<(string Column, string Role)> NamedColumns()
    {
        yield return (LabelColumn, "label");
        if (TimeColumn is not null) yield return (TimeColumn, "time");
        if (BankColumn is not null) yield return (BankColumn, "bank");
        foreach (string c in IdColumns) yield return (c, "id");
        foreach (string c in IgnoredColumns) yield return (c, "ignored");
        foreach (string c in CategoricalColumns) yield return (c, "categorical");
        foreach (string c in FeatureColumns ?? []) yield return (c, "feature");
    }

    /// <summary>
    /// Checks that the roles are consistent: a label, no column in two roles (a categorical column may also be
    /// listed as a feature), no empty names, a separator other than a quote or line break.
    /// </summary>
    /// <exception cref="ArgumentException">naming the column and both roles.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(LabelColumn)) throw new ArgumentException("The schema needs a label column.", nameof(LabelColumn));
        var roles = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (column, role) in NamedColumns())
        {
            if (string.IsNullOrWhiteSpace(column)) throw new ArgumentException($"An empty column name in the {role} role.", nameof(CsvSchema));
            if (roles.TryGetValue(column, out string? other) && other != role && !(IsFeatureRole(other) && IsFeatureRole(role)))
                throw new ArgumentException($"Column '{column}' has two roles: {other} and {role}.", nameof(CsvSchema));
            roles.TryAdd(column, role);
        }
        if (FeatureColumns is not null)
            foreach (string c in CategoricalColumns)
                if (!FeatureColumns.Contains(c, StringComparer.Ordinal) && !OptionalColumns.Contains(c, StringComparer.Ordinal))
                    throw new ArgumentException($"Categorical column '{c}' is not among the listed features.", nameof(CsvSchema));
        if (Separator is { } s && (s is '"' or '\r' or '\n' || char.IsLetterOrDigit(s) || s == '.' || s == '-'))
            throw new ArgumentException($"'{s}' cannot be a field separator.", nameof(Separator));
    }

    private static bool IsFeatureRole(string role) => role is "feature" or "categorical";

    /// <summary>Reads a JSON schema file (see the file header); roles not given come from its "preset", if any.</summary>
    /// <exception cref="DataFormatException">naming the file and the key at fault (unknown key, wrong type, bad role).</exception>
    public static CsvSchema FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Parses a JSON schema; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="DataFormatException">naming the source and the key at fault.</exception>
    public static CsvSchema FromJson(string json, string source = "schema")
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            throw Bad(source, null, JsonSyntax.NotValid(e, json));   // "is not valid JSON at line L, column C: reason", 1-based, in our words
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(source, null, "must be a JSON object of column roles");
            string[] known = ["preset", "name", "label", "time", "bank", "id_columns", "categorical", "ignore", "features", "optional", "separator", "missing_values"];
            foreach (JsonProperty p in root.EnumerateObject())
                if (!known.Contains(p.Name, StringComparer.Ordinal))
                    throw Bad(source, p.Name, $"has an unknown key '{p.Name}'; the keys are {string.Join(", ", known)}");

            CsvSchema? preset = null;
            if (Text(root, "preset", source) is { } presetName)
                preset = Preset(presetName) ?? throw Bad(source, "preset", $"names an unknown preset '{presetName}'; use {string.Join(", ", PresetNames)}");
            string? label = Text(root, "label", source) ?? preset?.LabelColumn;
            if (label is null) throw Bad(source, "label", "needs a \"label\" column (or a \"preset\")");
            char? separator = preset?.Separator;
            if (Text(root, "separator", source) is { } sep)
                separator = ParseSeparator(sep) ?? throw Bad(source, "separator", $"has separator '{sep}'; use one character, or \"tab\"");
            var schema = new CsvSchema
            {
                Name = Text(root, "name", source) ?? Path.GetFileNameWithoutExtension(source),
                LabelColumn = label,
                TimeColumn = Has(root, "time") ? Text(root, "time", source) : preset?.TimeColumn,
                BankColumn = Has(root, "bank") ? Text(root, "bank", source) : preset?.BankColumn,
                IdColumns = List(root, "id_columns", source) ?? preset?.IdColumns ?? [],
                CategoricalColumns = List(root, "categorical", source) ?? preset?.CategoricalColumns ?? [],
                IgnoredColumns = List(root, "ignore", source) ?? preset?.IgnoredColumns ?? [],
                FeatureColumns = Has(root, "features") ? List(root, "features", source) : preset?.FeatureColumns,
                OptionalColumns = List(root, "optional", source) ?? preset?.OptionalColumns ?? [],
                Separator = separator,
                MissingValues = List(root, "missing_values", source) ?? preset?.MissingValues ?? [],
            };
            try { schema.Validate(); }
            catch (ArgumentException e) { throw Bad(source, null, e.Message.Split(" (Parameter")[0]); }
            return schema;
        }
    }

    /// <summary>A separator given as one character or a name ("tab", "comma", "semicolon", "pipe"); null if neither.</summary>
    public static char? ParseSeparator(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.ToLowerInvariant() switch
        {
            "tab" or "\\t" or "\t" => '\t',
            "comma" => ',',
            "semicolon" => ';',
            "pipe" => '|',
            _ => text.Length == 1 ? text[0] : null,
        };
    }

    /// <summary>A readable name of a separator character.</summary>
    public static string SeparatorName(char c) => c switch
    {
        '\t' => "tab",
        ',' => "',' (comma)",
        ';' => "';' (semicolon)",
        '|' => "'|' (pipe)",
        _ => $"'{c}'",
    };

    private static bool Has(JsonElement root, string key) => root.TryGetProperty(key, out _);

    private static string? Text(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Bad(source, key, $"has \"{key}\" of type {v.ValueKind}; expected a string");
        return v.GetString();
    }

    private static string[]? List(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        // One name without brackets is refused, not read as a list of one: the shape is always a list.
        string what = key == "missing_values" ? "texts that mark a missing cell" : "column names";
        if (v.ValueKind == JsonValueKind.String)
            throw Bad(source, key, $"has \"{key}\": {JsonSerializer.Serialize(v.GetString())}, a string; expected a list of {what}, as in \"{key}\": [{JsonSerializer.Serialize(v.GetString())}]");
        if (v.ValueKind != JsonValueKind.Array) throw Bad(source, key, $"has \"{key}\" of type {v.ValueKind}; expected a list of {what}, as in \"{key}\": [\"a\", \"b\"]");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw Bad(source, key, $"has a {e.ValueKind} in \"{key}\"; expected column names (strings)")).ToArray();
    }

    private static DataFormatException Bad(string source, string? key, string what) =>
        new($"Schema {source} {what}.", key, null, file: source);
}
