using System.Text.Json;
using FraudFed.Testing;

namespace FraudFed.Cryptography.Tests.Primitives;

/// <summary>Reads protocols/vectors JSON files.</summary>
internal static class VectorFile
{
    public static JsonElement Load(params string[] parts)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Repository.Vector(parts)));
        return doc.RootElement.Clone();
    }

    public static byte[] Hex(this JsonElement e, string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;
}
