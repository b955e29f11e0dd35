// Reading the appliance's and the banks' JSON configuration files: snake_case names, comments allowed, unknown names
// refused (a typo is an error at start, not a silently ignored setting), and no trailing comma (strict JSON: a ',' before
// a closing } or ] is a syntax error with its line and column, as other JSON syntax errors are).
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;
using FraudFed.Learning.Data;

namespace FraudFed.Sdk.Configuration;

/// <summary>A configuration file or a file it names is missing, malformed or insecure. The message names the file, the
/// setting and the fix; it never carries key bytes.</summary>
public sealed class ConfigurationException(string message) : Exception(message);

/// <summary>JSON options and loading for configuration files.</summary>
public static class ConfigJson
{
    /// <summary>Options for reading and writing configuration files.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = false,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The canonical form hashed by <see cref="FederationSettings.Digest"/> (no indentation, nulls written).</summary>
    public static JsonSerializerOptions Canonical { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>Reads <paramref name="path"/> as a <typeparamref name="T"/>.</summary>
    /// <exception cref="ConfigurationException">the file is missing, unreadable, not JSON or has an unknown setting.</exception>
    public static T Load<T>(string path) where T : class
    {
        if (!File.Exists(path)) throw new ConfigurationException($"{path}: no such file.");
        try
        {
            using FileStream s = File.OpenRead(path);
            return JsonSerializer.Deserialize<T>(s, Options) ?? throw new ConfigurationException($"{path}: the file is empty (null).");
        }
        catch (JsonException e) when (IsSyntax(e)) { throw new ConfigurationException($"{path} {FraudFed.Learning.Data.JsonSyntax.NotValid(e, TextOf(path))}."); }
        catch (JsonException e) { throw new ConfigurationException(Sentence($"{path}: {Describe(e, TextOf(path), typeof(T))}")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException($"{path}: cannot be read: {e.Message}"); }
    }

    /// <summary><paramref name="text"/> ending as a sentence: a full stop unless it ends with a question ("did you mean 'key'?").</summary>
    private static string Sentence(string text) => text.EndsWith('?') || text.EndsWith('.') ? text : text + ".";

    /// <summary>The file's text for a syntax error's wording, or null when it cannot be read again.</summary>
    private static string? TextOf(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>True when <paramref name="e"/> is the reader's (the text is not JSON), not the serializer's (JSON that does not
    /// fit the settings: an unknown setting, a value of the wrong kind).</summary>
    private static bool IsSyntax(JsonException e) => e.Path is null || e.InnerException is JsonException;

    /// <summary>A JSON reading error in words for the user: "line L, column C, at $.listen: expected a string" (line and
    /// column 1-based, the column in characters when the file's <paramref name="text"/> is given, as for a syntax error),
    /// naming the JSON path and what was wrong, never a .NET type name nor the parser's zero-based position suffix. An unknown
    /// setting of a <paramref name="settings"/> file adds the one known setting it probably stands for (<see cref="Spelling"/>:
    /// "did you mean 'certificate'?", "did you mean 'state_directory'?" for state_dir), as the command line does for an option,
    /// or when none fits the settings allowed in that object ("the settings allowed here are 'setup_seconds', ...").</summary>
    internal static string Describe(JsonException e, string? text = null, Type? settings = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        string message = e.Message;
        string jsonPath = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
        string what;
        Match unknown = Regex.Match(message, @"^The JSON property '(?<name>[^']*)' could not be mapped");
        Match converted = Regex.Match(message, @"could not be converted to (?<type>.+?)\.? Path:");
        if (unknown.Success)
        {
            string name = unknown.Groups["name"].Value;
            if (!jsonPath.EndsWith("." + name, StringComparison.Ordinal) && !jsonPath.EndsWith($"['{name}']", StringComparison.Ordinal))
                jsonPath = jsonPath + "." + name;
            what = $"unknown setting '{name}'";
            if (settings is not null && SettingsAt(settings, jsonPath)?.ToArray() is { Length: > 0 } known)
                what += Spelling.Nearest(name, known) is { } near ? $"; did you mean '{near}'?" : $"; the settings allowed here are {Spelling.List(known)}";
        }
        else if (converted.Success) what = Expected(converted.Groups["type"].Value, jsonPath == "$");
        else if (e.Path is null || e.InnerException is JsonException)
            what = $"not valid JSON ({Reason(message)})";
        else what = Reason(message);
        string where = FraudFed.Learning.Data.JsonSyntax.Position(e, text) is { } position ? position + ", " : "";
        return $"{where}at {jsonPath}: {what}";
    }

    /// <summary>The snake_case setting names of the object that holds the last name of <paramref name="jsonPath"/> ("$.federation.
    /// masking.treshold": MaskingSettings' names), read from <paramref name="root"/>'s properties; null when the path cannot be followed.</summary>
    private static IEnumerable<string>? SettingsAt(Type root, string jsonPath)
    {
        string[] parts = Regex.Replace(jsonPath, @"\[\d+\]", "").Split('.', StringSplitOptions.RemoveEmptyEntries);
        Type type = root;
        for (int i = 1; i < parts.Length - 1; i++)   // parts[0] is "$", the last part the unknown name
        {
            System.Reflection.PropertyInfo? next = type.GetProperties().FirstOrDefault(p => Options.PropertyNamingPolicy!.ConvertName(p.Name) == parts[i]);
            if (next is null) return null;
            type = Nullable.GetUnderlyingType(next.PropertyType) ?? next.PropertyType;
            if (type.IsArray) type = type.GetElementType()!;
        }
        return type.GetProperties().Where(p => p.CanWrite && p.GetCustomAttributes(typeof(JsonIgnoreAttribute), true) is not [JsonIgnoreAttribute { Condition: JsonIgnoreCondition.Always }])
            .Select(p => Options.PropertyNamingPolicy!.ConvertName(p.Name));
    }

    // The parser's reason without its " Path: ... | LineNumber: ..." suffix, any .NET type name replaced by "a value".
    private static string Reason(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        int line = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0 || line >= 0 && line < cut) cut = line;
        string reason = (cut > 0 ? message[..cut] : message).TrimEnd('.', ' ');
        reason = Regex.Replace(reason, @"'?\b(?:FraudFed|System)\.[A-Za-z0-9_.`\[\]+,]*'?", "a value");
        return reason.Length == 0 ? "malformed" : reason;
    }

    // "expected ..." for the CLR type the serializer wanted at a path.
    private static string Expected(string type, bool topLevel)
    {
        type = type.Trim('\'', '.');
        if (topLevel) return "expected an object at the top level";
        if (type.EndsWith("[]", StringComparison.Ordinal) || type.Contains("List`", StringComparison.Ordinal) || type.Contains("IReadOnlyList", StringComparison.Ordinal))
            return "expected a list";
        if (type.StartsWith("System.Nullable`1[", StringComparison.Ordinal)) type = type["System.Nullable`1[".Length..].TrimStart('[').Split(',')[0];
        return type switch
        {
            "System.String" or "System.Char" => "expected a string",
            "System.Boolean" => "expected true or false",
            "System.Int32" or "System.Int64" or "System.UInt32" or "System.UInt64" or "System.Int16" or "System.Byte" => "expected a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "expected a number",
            "System.TimeSpan" => "expected a duration string such as \"00:05:00\"",
            _ when type.StartsWith("System.", StringComparison.Ordinal) => "a value of the wrong kind",
            _ => "expected an object",
        };
    }

    /// <summary>The file the setting <paramref name="setting"/> of <paramref name="configPath"/> names (<see cref="Resolve"/>),
    /// which must exist: else the message names the file, what it should hold and the setting ("/kit/bank-0.pem: no such
    /// certificate file (the 'certificate' setting of /kit/bank.json)").</summary>
    /// <exception cref="ConfigurationException">the setting is empty, or the file does not exist.</exception>
    public static string ExistingFile(string configPath, string setting, string? value, string what)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ConfigurationException($"{configPath}: the '{setting}' setting is empty; name the {what} file.");
        string resolved = Resolve(configPath, value);
        if (Directory.Exists(resolved)) throw new ConfigurationException($"{resolved} is a directory, not a {what} file (the '{setting}' setting of {configPath}).");
        if (!File.Exists(resolved)) throw new ConfigurationException($"{resolved}: no such {what} file (the '{setting}' setting of {configPath}).");
        return resolved;
    }

    /// <summary>A path named in a configuration file, relative to that file's directory.</summary>
    public static string Resolve(string configPath, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? ".", path));

    /// <summary>Reads a 32-byte Ed25519 private seed written by <c>fraudfed aggregator init</c>: lines starting with '#' are
    /// comments, the one other line is 64 hex digits.</summary>
    /// <exception cref="ConfigurationException">missing, unreadable or not 32 bytes of hex.</exception>
    public static byte[] ReadKeySeed(string path)
    {
        if (!File.Exists(path)) throw new ConfigurationException($"{path}: no such key file.");
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException($"{path}: cannot be read: {e.Message}"); }
        string[] data = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        if (data.Length != 1 || data[0].Length != 64 || !data[0].All(Uri.IsHexDigit))
            throw new ConfigurationException($"{path}: a protocol key file holds one line of 64 hex digits (a 32-byte Ed25519 seed).");
        return Convert.FromHexString(data[0]);
    }
}
