using System.Text.Json;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>Every masking-mode vector file under protocols/vectors is well-formed JSON, says where it comes from, carries
/// data, and writes bytes as lower-case hex (SPEC.md section 13), so another implementation can consume it as is.</summary>
[TestFixture]
public sealed class VectorFilesTests
{
    // The areas of the masking mode and its primitives (other modes keep their own conventions).
    private static readonly string[] Areas = ["x25519", "ed25519", "hkdf", "prg", "aead", "sharing", "kdf", "masking"];

    private static IEnumerable<TestCaseData> Files()
    {
        string root = Path.Combine(Repository.Root, "protocols", "vectors");
        foreach (string f in Areas.SelectMany(a => Directory.EnumerateFiles(Path.Combine(root, a), "*.json")).Order(StringComparer.Ordinal))
            yield return new TestCaseData(f).SetName("Vectors/Files/" + Path.GetRelativePath(root, f).Replace('\\', '/'));
    }

    [Test]
    public void ThereAreVectorsForEveryMaskingArea()
    {
        string root = Path.Combine(Repository.Root, "protocols", "vectors");
        foreach (string area in Areas)
            Assert.That(Directory.EnumerateFiles(Path.Combine(root, area), "*.json").Any(), Is.True, area);
    }

    [TestCaseSource(nameof(Files))]
    public void File_HasADescribedSource_AndCleanHex(string path)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement rootElement = doc.RootElement;
        Assert.That(rootElement.TryGetProperty("description", out JsonElement d) && d.GetString()!.Length > 20, Is.True, "top-level description");
        int hexFields = Walk(rootElement);
        Assert.That(hexFields, Is.GreaterThan(0), "the file carries data");
    }

    private static int Walk(JsonElement e, string? name = null)
    {
        int count = 0;
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject()) count += Walk(p.Value, p.Name);
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in e.EnumerateArray()) count += Walk(item, name);
                break;
            case JsonValueKind.String when name is not "description":
                string s = e.GetString()!;
                // A value made only of hex digits that holds an upper-case letter is hex in the wrong case.
                bool hexDigits = s.Length > 0 && s.All(char.IsAsciiHexDigit);
                Assert.That(hexDigits && s.Any(char.IsAsciiLetterUpper), Is.False, $"field {name} must be lower-case hex");
                count++;
                break;
            case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                count++;
                break;
        }
        return count;
    }
}
