// Reading the appliance's and the banks' JSON configuration files: snake_case names, comments allowed, unknown names
// refused (a typo is an error at start, not a silently ignored setting), and no trailing comma (strict JSON: a ',' before
// a closing } or ] is a syntax error with its line and column, as other JSON syntax errors are).
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
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
        TypeInfoResolver = Resolver(),
    };

    /// <summary>The canonical form hashed by <see cref="FederationSettings.Digest"/> (no indentation, nulls written).</summary>
    public static JsonSerializerOptions Canonical { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
        TypeInfoResolver = Resolver(),
    };

    /// <summary>Reflection-based metadata where it is enabled (the CLI, the appliance, the SDK: everywhere but the
    /// ahead-of-time compiled bank program), else the configuration records' compile-time metadata (<see cref="ConfigJsonContext"/>).
    /// Reflection keeps what the files leave out at the records' defaults; the compile-time metadata sets an omitted init-only
    /// setting to zero or null, and words some type errors differently, so it serves only the native bank program, whose
    /// files simulate writes whole (every setting, as ConfigJson writes them).</summary>
    private static IJsonTypeInfoResolver Resolver() => JsonSerializer.IsReflectionEnabledByDefault
        ? new DefaultJsonTypeInfoResolver()
        : ConfigJsonContext.Default;

    /// <summary>Reads <paramref name="path"/> as a <typeparamref name="T"/>.</summary>
    /// <exception cref="ConfigurationException">the file is missing, unreadable, not JSON or has an unknown setting.</exception>
    public static T Load<T>(string path) where T : class
    {
        if (Directory.Exists(path))
            throw new ConfigurationException($"'{path}' is a folder; give its {FileName<T>()}.");
        if (!File.Exists(path)) throw new ConfigurationException(InputFileAccess.WhyNotThere(path) is { } why ? why + "." : $"{path}: no such file.");
        try
        {
            using FileStream s = File.OpenRead(path);
            return JsonSerializer.Deserialize<T>(s, Options) ?? throw new ConfigurationException($"{path}: the file is empty (null).");
        }
        catch (JsonException e) when (IsSyntax(e)) { throw new ConfigurationException($"{path} {FraudFed.Learning.Data.JsonSyntax.NotValid(e, TextOf(path))}."); }
        catch (JsonException e) { throw new ConfigurationException(Sentence($"{path}: {Describe(e, TextOf(path), typeof(T))}")); }
        catch (UnauthorizedAccessException) { throw new ConfigurationException(InputFileAccess.Denied(path) + "."); }
        catch (IOException) { throw new ConfigurationException($"'{path}' cannot be read (an input/output error): check the file and its disk, or restore it from a copy."); }
    }

    /// <summary>The usual name of a <typeparamref name="T"/> file: bank.json for a BankConfig, aggregator.json for an
    /// AggregatorConfig, else the configuration file.</summary>
    private static string FileName<T>() => typeof(T).Name switch
    {
        "BankConfig" => "bank.json",
        "AggregatorConfig" => "aggregator.json",
        _ => "configuration file",
    };

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
        string convertedType = converted.Success ? converted.Groups["type"].Value.Trim('\'', '.') : "";
        // The compile-time metadata (the native bank program's, ConfigJsonContext) may name the record being read rather than
        // the setting's type: the setting's type is then read from the record.
        if (converted.Success && !convertedType.StartsWith("System.", StringComparison.Ordinal) && settings is not null && jsonPath != "$"
            && PropertyAt(settings, jsonPath) is { } setting)
            convertedType = setting.PropertyType.FullName ?? convertedType;
        if (unknown.Success)
        {
            string name = unknown.Groups["name"].Value;
            if (!jsonPath.EndsWith("." + name, StringComparison.Ordinal) && !jsonPath.EndsWith($"['{name}']", StringComparison.Ordinal))
                jsonPath = jsonPath + "." + name;
            what = $"unknown setting '{name}'";
            if (settings is not null && SettingsAt(settings, jsonPath)?.ToArray() is { Length: > 0 } known)
                what += Spelling.Nearest(name, known) is { } near ? $"; did you mean '{near}'?" : $"; the settings allowed here are {Spelling.List(known)}";
        }
        else if (converted.Success && Expected(convertedType, jsonPath == "$") is "expected a whole number" && WholeNumberAt(text, jsonPath) is { } whole)
        {
            // A whole number beyond the setting's type (e.g. 10^13 bytes): it is a whole number, so say it is too large (or small)
            // and give the range the setting allows.
            string range = settings is not null && PropertyAt(settings, jsonPath) is { } p && p.GetCustomAttributes(typeof(RangeAttribute), true) is [RangeAttribute r, ..]
                ? RangeWords(r) : $"between {int.MinValue} and {int.MaxValue}";
            what = $"{whole} is too {(whole.StartsWith('-') ? "small" : "large")}; it must be {range}";
        }
        else if (converted.Success) what = Expected(convertedType, jsonPath == "$");
        else if (e.Path is null || e.InnerException is JsonException)
            what = $"not valid JSON ({Reason(message)})";
        else what = Reason(message);
        string where = FraudFed.Learning.Data.JsonSyntax.Position(e, text) is { } position ? position + ", " : "";
        return $"{where}at {jsonPath}: {what}";
    }

    /// <summary>The number at <paramref name="jsonPath"/> ("$.deadlines.join_seconds") of <paramref name="text"/> when it is a
    /// whole number (digits only, maybe a sign), as written; else null.</summary>
    private static string? WholeNumberAt(string? text, string jsonPath)
    {
        if (text is null || Find(text, jsonPath) is not { } raw) return null;
        return Regex.IsMatch(raw, @"^-?\d+$") ? raw : null;
    }

    /// <summary>The raw JSON of the value at <paramref name="jsonPath"/> ("$.a.b", names only), or null when absent or unreadable.</summary>
    private static string? Find(string text, string jsonPath)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
            JsonElement e = doc.RootElement;
            foreach (string part in jsonPath.Split('.', StringSplitOptions.RemoveEmptyEntries).Skip(1))
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(part, out e)) return null;
            return e.GetRawText();
        }
        catch (JsonException) { return null; }
    }

    /// <summary>True when the configuration file <paramref name="path"/> does not hold the setting <paramref name="setting"/>
    /// (a dotted JSON path without "$.", e.g. <c>federation.mode</c>): it was left out, so the loaded value is the default. False
    /// when it is there (even empty or null), or the file cannot be read again.</summary>
    public static bool IsAbsent(string path, string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        string? text = TextOf(path);
        return text is not null && Find(text, "$." + setting) is null && Find(text, "$") is not null;
    }

    /// <summary>The message for a required setting with no value: "<paramref name="path"/>: the 'certificate' setting is missing;
    /// add it to the file (<paramref name="fix"/>)." when the file leaves it out, "... is empty; <paramref name="fix"/>." when it is
    /// there and empty.</summary>
    /// <param name="path">The configuration file.</param>
    /// <param name="setting">The setting's JSON path without "$." (<c>certificate</c>, <c>federation.mode</c>).</param>
    /// <param name="fix">What the value must be, lower-case ("name the certificate file").</param>
    public static string MissingOrEmpty(string path, string setting, string fix)
    {
        int dot = setting.LastIndexOf('.');
        string where = dot < 0 ? "at the top level of the file" : $"to the {setting[..dot]} block";
        return IsAbsent(path, setting)
            ? $"{path}: the '{setting}' setting is missing; add it {where} and {fix}."
            : $"{path}: the '{setting}' setting is empty; {fix}.";
    }

    /// <summary>A library's <see cref="ArgumentException"/> about a setting, in the configuration's words: the setting's JSON path
    /// (<paramref name="block"/> and the parameter's snake_case name, e.g. <c>federation.masking.threshold</c>), its value when
    /// given, and the reason lower-case, without .NET's " (Parameter 'x')" suffix.</summary>
    /// <param name="where">The configuration file.</param>
    /// <param name="block">The JSON block the parameter belongs to (<c>federation.masking</c>, <c>training.gbdt</c>).</param>
    /// <param name="e">The refusal.</param>
    /// <param name="valueOf">The setting's value by its snake_case name, or null when not known.</param>
    public static ConfigurationException ArgumentWords(string where, string block, ArgumentException e, Func<string, object?>? valueOf = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        string reason = Lower(Bare(e));
        if (string.IsNullOrEmpty(e.ParamName)) return new ConfigurationException($"{where}: {block}: {reason}.");
        string name = Options.PropertyNamingPolicy!.ConvertName(e.ParamName);
        // The library names the parameter as .NET does ("MaxDepth must be in 1..12"): the setting's name stands in for it.
        reason = Regex.Replace(reason, $@"\b{Regex.Escape(e.ParamName)}\b", name, RegexOptions.IgnoreCase);
        object? value = valueOf?.Invoke(name);
        return new ConfigurationException($"{where}: {block}.{name}{(value is null ? "" : $" = {value}")} is not allowed: {reason}.");
    }

    /// <summary>An exception's message without .NET's " (Parameter 'x')" suffix and a trailing full stop.</summary>
    internal static string Bare(Exception e)
    {
        string m = e.Message;
        if (e is ArgumentException { ParamName: { } param })
        {
            string suffix = $" (Parameter '{param}')";
            int at = m.IndexOf(suffix, StringComparison.Ordinal);
            if (at >= 0) m = m[..at] + m[(at + suffix.Length)..];
            // ArgumentOutOfRangeException may add "Actual value was ..." on a line of its own.
            int line = m.IndexOf('\n');
            if (line >= 0) m = m[..line];
        }
        return m.Trim().TrimEnd('.');
    }

    /// <summary><paramref name="text"/> with a lower-case first letter unless its first word is a symbol or a name in capitals
    /// ("The threshold ..." -> "the threshold ...", "T = 3 ..." and "K_min ..." stay).</summary>
    internal static string Lower(string text)
    {
        if (text.Length < 2 || !char.IsUpper(text[0]) || !char.IsLower(text[1])) return text;
        return char.ToLowerInvariant(text[0]) + text[1..];
    }

    /// <summary>Checks every numeric setting of <paramref name="settings"/> that carries a <see cref="RangeAttribute"/>, and of the
    /// settings objects it holds (not lists): the first out of its range throws, naming its JSON path, its value, the range and
    /// the attribute's reason ("/etc/aggregator.json: deadlines.join_seconds = -1 is out of range: it must be above 0 (the
    /// seconds the other banks have to ask once the first asked).").</summary>
    /// <exception cref="ConfigurationException">a setting out of its range.</exception>
    public static void CheckRanges(string path, object settings, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(settings);
        // The settings a file can hold: public instance properties that JSON sets (not computed ones, nor statics such as a Default).
        foreach (System.Reflection.PropertyInfo p in settings.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || !p.CanWrite || prefix.Count(ch => ch == '.') > 8) continue;
            string name = prefix + Options.PropertyNamingPolicy!.ConvertName(p.Name);
            object? value = p.GetValue(settings);
            if (value is null) continue;
            if (p.GetCustomAttributes(typeof(RangeAttribute), true) is [RangeAttribute range, ..])
            {
                if (!range.IsValid(value))
                    throw new ConfigurationException($"{path}: {name} = {Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)} is out of range: it must be {RangeWords(range)}{(range.ErrorMessage is { } why ? $" ({why})" : "")}.");
            }
            else if (value.GetType() is { IsClass: true } t && t != typeof(string) && !t.IsArray && t.Namespace?.StartsWith("FraudFed", StringComparison.Ordinal) == true
                && p.GetCustomAttributes(typeof(JsonIgnoreAttribute), true) is not [JsonIgnoreAttribute { Condition: JsonIgnoreCondition.Always }])
                CheckRanges(path, value, name + ".");
        }
    }

    /// <summary>A range in words: "between 1024 and 1073741824", "above 0", "at least 1".</summary>
    private static string RangeWords(RangeAttribute r)
    {
        string Number(object o) => Convert.ToString(o, System.Globalization.CultureInfo.InvariantCulture)!;
        bool noMax = r.Maximum is int.MaxValue or double.MaxValue or long.MaxValue;
        string min = r.MinimumIsExclusive ? $"above {Number(r.Minimum)}" : $"at least {Number(r.Minimum)}";
        if (noMax) return min;
        if (r.MinimumIsExclusive || r.MaximumIsExclusive) return $"{min} and {(r.MaximumIsExclusive ? "below" : "at most")} {Number(r.Maximum)}";
        return $"between {Number(r.Minimum)} and {Number(r.Maximum)}";
    }

    /// <summary>The property of <paramref name="root"/> that <paramref name="jsonPath"/> names ("$.deadlines.join_seconds"), or null.</summary>
    private static System.Reflection.PropertyInfo? PropertyAt(Type root, string jsonPath)
    {
        string[] parts = Regex.Replace(jsonPath, @"\[\d+\]", "").Split('.', StringSplitOptions.RemoveEmptyEntries);
        Type type = root;
        System.Reflection.PropertyInfo? found = null;
        for (int i = 1; i < parts.Length; i++)
        {
            found = type.GetProperties().FirstOrDefault(p => Options.PropertyNamingPolicy!.ConvertName(p.Name) == parts[i]);
            if (found is null) return null;
            type = Nullable.GetUnderlyingType(found.PropertyType) ?? found.PropertyType;
            if (type.IsArray) type = type.GetElementType()!;
        }
        return found;
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
    /// <exception cref="ConfigurationException">the setting is missing or empty (<see cref="MissingOrEmpty"/>), or the file does not exist.</exception>
    public static string ExistingFile(string configPath, string setting, string? value, string what)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ConfigurationException(MissingOrEmpty(configPath, setting, $"name the {what} file"));
        string resolved = Resolve(configPath, value);
        if (Directory.Exists(resolved)) throw new ConfigurationException($"{resolved} is a directory, not a {what} file (the '{setting}' setting of {configPath}).");
        if (!File.Exists(resolved)) throw new ConfigurationException($"{resolved}: no such {what} file (the '{setting}' setting of {configPath}).");
        try { using FileStream readable = File.OpenRead(resolved); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException(Unreadable(resolved, what, e, setting, configPath)); }
        return resolved;
    }

    /// <summary><see cref="ExistingFile"/> for a file that holds a secret (a private key, a protocol seed): on Unix it must also be
    /// private to its owner (<see cref="RequireOwnerOnly"/>), checked when the configuration is loaded, before any work.</summary>
    /// <exception cref="ConfigurationException">as <see cref="ExistingFile"/>, or the file is readable or writable by group or others.</exception>
    public static string ExistingPrivateFile(string configPath, string setting, string? value, string what)
    {
        string resolved = ExistingFile(configPath, setting, value, what);
        RequireOwnerOnly(resolved, what, setting, configPath);
        return resolved;
    }

    /// <summary>On Unix, refuses a secret <paramref name="file"/> that its group or others may read or write: "/kit/client.key.pem:
    /// the key file (the 'key' setting of /kit/bank.json) is readable or writable by group or others; chmod 600
    /// /kit/client.key.pem." Nothing on Windows, whose files have no such mode bits.</summary>
    /// <param name="file">The file's full path.</param>
    /// <param name="what">What the file holds ("key", "protocol key", "state key").</param>
    /// <param name="setting">The configuration setting that names the file.</param>
    /// <param name="configPath">The configuration file holding <paramref name="setting"/>.</param>
    /// <exception cref="ConfigurationException">the file's mode gives group or others read or write access.</exception>
    public static void RequireOwnerOnly(string file, string what, string setting, string configPath)
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode groupOrOthers = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if ((File.GetUnixFileMode(file) & groupOrOthers) != 0)
            throw new ConfigurationException($"{file}: the {what} file (the '{setting}' setting of {configPath}) is readable or writable by group or others; "
                + $"chmod 600 {file}.");
    }

    /// <summary>The message for a file a configuration names that exists but cannot be read: "/kit/client.key.pem: the key file
    /// (the 'key' setting of /kit/bank.json) cannot be read (permission denied): run as the user that owns it or fix its
    /// permissions." (the setting part when <paramref name="setting"/> is given); never the framework's own message.</summary>
    /// <param name="file">The file's full path.</param>
    /// <param name="what">What the file holds ("key", "certificate", "CA certificate").</param>
    /// <param name="error">The failure reading it (<see cref="UnauthorizedAccessException"/> is a permission refusal).</param>
    /// <param name="setting">The configuration setting that names the file, or null.</param>
    /// <param name="configPath">The configuration file holding <paramref name="setting"/>.</param>
    public static string Unreadable(string file, string what, Exception error, string? setting = null, string? configPath = null)
    {
        string named = setting is null ? "" : $" (the '{setting}' setting of {configPath})";
        return error is UnauthorizedAccessException
            ? $"{file}: the {what} file{named} cannot be read (permission denied): run as the user that owns it or fix its permissions."
            : $"{file}: the {what} file{named} cannot be read (an input/output error): check the file and its disk, or restore it from a copy.";
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException(Unreadable(path, "key", e)); }
        string[] data = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        if (data.Length != 1 || data[0].Length != 64 || !data[0].All(Uri.IsHexDigit))
            throw new ConfigurationException($"{path}: a protocol key file holds one line of 64 hex digits (a 32-byte Ed25519 seed).");
        return Convert.FromHexString(data[0]);
    }
}
