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

    /// <summary>
    /// The first character of <paramref name="column"/> that a column name must not hold, or null: a control character (C0,
    /// DEL, C1: ESC drives a terminal, BEL rings), an invisible formatting character (Unicode categories Cf, Zl, Zp: a
    /// bidirectional override such as U+202E, a zero-width space U+200B, a byte order mark), or a lone surrogate. Such a
    /// name would reach a model's feature names and every report unseen, and would slip past <see cref="LooksLikeId"/>
    /// (card_id followed by an escape sequence); <see cref="CsvDatasetLoader"/> refuses a header that holds one.
    /// </summary>
    /// <returns>The character's index in the name (UTF-16), its code point, and what it is in words ("a control character").</returns>
    public static (int Index, int CodePoint, string Kind)? HiddenCharacter(string column)
    {
        ArgumentNullException.ThrowIfNull(column);
        for (int i = 0; i < column.Length;)
        {
            if (System.Text.Rune.DecodeFromUtf16(column.AsSpan(i), out System.Text.Rune rune, out int length) != System.Buffers.OperationStatus.Done)
                return (i, column[i], "a lone surrogate (not a character)");
            if (System.Text.Rune.IsControl(rune)) return (i, rune.Value, "a control character");
            if (System.Text.Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
                return (i, rune.Value, "an invisible formatting character");
            i += length;
        }
        return null;
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

    /// <summary>Parses a JSON schema; <paramref name="source"/> names it in errors. Strict JSON apart from comments (a trailing
    /// comma is refused). Messages start in lower case and name the file: "schema FILE is not valid JSON at line L, column C:
    /// reason" for a syntax error; "schema FILE: line L, column C, at $.key: what" for a key at fault (the line and column of
    /// the key or its value, 1-based); an unknown key adds the one it probably stands for ("did you mean 'label'?") or else
    /// the valid keys.</summary>
    /// <exception cref="DataFormatException">naming the source and the key at fault.</exception>
    public static CsvSchema FromJson(string json, string source = "schema")
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            // "is not valid JSON at line L, column C: reason", 1-based, in our words
            throw new DataFormatException($"schema {source} {JsonSyntax.NotValid(e, json)}.", null, null, file: source);
        }
        using (doc)
        {
            var where = new KeyPositions(json);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(source, where, null, "must be a JSON object of column roles");
            foreach (JsonProperty p in root.EnumerateObject())
                if (!Keys.Contains(p.Name, StringComparer.Ordinal))
                    throw Bad(source, where, p.Name, $"unknown key '{p.Name}'" + (Spelling.Nearest(p.Name, Keys) is { } near
                        ? $"; did you mean '{near}'?" : $"; the keys are {Spelling.List(Keys)}"), atValue: false);

            CsvSchema? preset = null;
            if (Text(root, "preset", source, where) is { } presetName)
                preset = Preset(presetName) ?? throw Bad(source, where, "preset", $"unknown preset '{presetName}'; use {string.Join(", ", PresetNames)}");
            string? label = Text(root, "label", source, where) ?? preset?.LabelColumn;
            if (label is null) throw Bad(source, where, null, "needs a \"label\" column (or a \"preset\")");
            char? separator = preset?.Separator;
            if (Text(root, "separator", source, where) is { } sep)
                separator = ParseSeparator(sep) ?? throw Bad(source, where, "separator", $"'{sep}' is not one character; use one character, or \"tab\"");
            var schema = new CsvSchema
            {
                Name = Text(root, "name", source, where) ?? Path.GetFileNameWithoutExtension(source),
                LabelColumn = label,
                TimeColumn = Has(root, "time") ? Text(root, "time", source, where) : preset?.TimeColumn,
                BankColumn = Has(root, "bank") ? Text(root, "bank", source, where) : preset?.BankColumn,
                IdColumns = List(root, "id_columns", source, where) ?? preset?.IdColumns ?? [],
                CategoricalColumns = List(root, "categorical", source, where) ?? preset?.CategoricalColumns ?? [],
                IgnoredColumns = List(root, "ignore", source, where) ?? preset?.IgnoredColumns ?? [],
                FeatureColumns = Has(root, "features") ? List(root, "features", source, where) : preset?.FeatureColumns,
                OptionalColumns = List(root, "optional", source, where) ?? preset?.OptionalColumns ?? [],
                Separator = separator,
                MissingValues = List(root, "missing_values", source, where) ?? preset?.MissingValues ?? [],
            };
            try { schema.Validate(); }
            catch (ArgumentException e)
            {
                string what = e.Message.Split(" (Parameter")[0].TrimEnd('.');
                throw Bad(source, where, null, char.ToLowerInvariant(what[0]) + what[1..]);
            }
            return schema;
        }
    }

    /// <summary>The keys of a JSON schema file.</summary>
    private static readonly string[] Keys = ["preset", "name", "label", "time", "bank", "id_columns", "categorical", "ignore", "features", "optional", "separator", "missing_values"];

    /// <summary>Where each top-level key of a schema file and its value start: "line L, column C", 1-based, the column in
    /// characters (the text is read again with the reader, which gives byte offsets; a schema file is small).</summary>
    private sealed class KeyPositions
    {
        private readonly Dictionary<string, (string Key, string Value)> _at = new(StringComparer.Ordinal);

        public KeyPositions(string json)
        {
            byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(json);
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            string? key = null;
            long keyAt = 0;
            try
            {
                while (reader.Read())
                {
                    if (key is not null)
                    {
                        // The token after a top-level name starts its value (a string, a number, a '[' or '{' ...).
                        _at.TryAdd(key, (Of(utf8, keyAt), Of(utf8, reader.TokenStartIndex)));
                        key = null;
                    }
                    else if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                    {
                        key = reader.GetString();
                        keyAt = reader.TokenStartIndex;
                    }
                }
            }
            catch (JsonException) { }   // parsed once already; positions are a courtesy
        }

        /// <summary>"line L, column C, " of <paramref name="key"/> (or of its value), or "" when unknown.</summary>
        public string Of(string? key, bool atValue) =>
            key is not null && _at.TryGetValue(key, out var at) ? (atValue ? at.Value : at.Key) + ", " : "";

        private static string Of(byte[] utf8, long offset)
        {
            int line = 1, start = 0;
            for (int i = 0; i < offset; i++)
                if (utf8[i] == (byte)'\n') { line++; start = i + 1; }
            return $"line {line}, column {System.Text.Encoding.UTF8.GetCharCount(utf8, start, (int)offset - start) + 1}";
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

    private static string? Text(JsonElement root, string key, string source, KeyPositions where)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw Bad(source, where, key, $"expected a string, not {Kind(v)}");
        return v.GetString();
    }

    private static string[]? List(JsonElement root, string key, string source, KeyPositions where)
    {
        if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        // One name without brackets is refused, not read as a list of one: the shape is always a list.
        string what = key == "missing_values" ? "texts that mark a missing cell" : "column names";
        if (v.ValueKind == JsonValueKind.String)
            throw Bad(source, where, key, $"{JsonSerializer.Serialize(v.GetString())} is a string; expected a list of {what}, as in \"{key}\": [{JsonSerializer.Serialize(v.GetString())}]");
        if (v.ValueKind != JsonValueKind.Array) throw Bad(source, where, key, $"expected a list of {what}, not {Kind(v)}, as in \"{key}\": [\"a\", \"b\"]");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
            : throw Bad(source, where, key, $"expected a list of {what} (strings); it holds {Kind(e)}")).ToArray();
    }

    /// <summary>The kind of a JSON value in words: "a number", "an object", "true or false", "a list".</summary>
    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        JsonValueKind.String => "a string",
        _ => "null",
    };

    /// <summary>"schema FILE: line L, column C, at $.key: what." (the position of the key's value, or of the key itself with
    /// <paramref name="atValue"/> false; left out when not known), or "schema FILE: what." without a key.</summary>
    private static DataFormatException Bad(string source, KeyPositions where, string? key, string what, bool atValue = true) =>
        new(key is null ? $"schema {source}: {what}." : $"schema {source}: {where.Of(key, atValue)}at $.{key}: {what}{(what.EndsWith('?') ? "" : ".")}",
            key, null, file: source);
}
