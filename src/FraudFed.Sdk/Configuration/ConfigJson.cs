// Reading the appliance's and the banks' JSON configuration files: snake_case names, comments allowed, unknown names
// refused (a typo is an error at start, not a silently ignored setting).
using System.Text.Json;
using System.Text.Json.Serialization;

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
        AllowTrailingCommas = true,
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
        catch (JsonException e) { throw new ConfigurationException($"{path}: not a valid configuration: {e.Message}"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException($"{path}: cannot be read: {e.Message}"); }
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
