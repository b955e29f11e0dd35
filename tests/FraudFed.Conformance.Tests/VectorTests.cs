using System.Text.Json.Nodes;
using FraudFed.Conformance.Vectors;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>
/// Every file under protocols/vectors, every case: the implementation reproduces the vector byte for byte
/// (checks shared with `fraudfed vectors check`, in src/FraudFed.Conformance/Vectors).
/// </summary>
[TestFixture]
public sealed class VectorTests
{
    private static string VectorDirectory => Path.Combine(Repository.Root, "protocols", "vectors");

    private static string Stem(string path) => path.EndsWith(".json", StringComparison.Ordinal) ? path[..^5] : path;

    public static IEnumerable<TestCaseData> AllCases()
    {
        string dir = VectorDirectory;
        foreach (string path in ConformanceSuite.AllPaths(dir))
            foreach (CheckCase c in ConformanceSuite.CasesOf(dir, path))
                yield return new TestCaseData(c).SetName($"{Stem(path)}/{c.Name}");
    }

    public static IEnumerable<TestCaseData> Files() =>
        ConformanceSuite.AllPaths(VectorDirectory).Select(p => new TestCaseData(p).SetName($"{Stem(p)}/mutated"));

    [TestCaseSource(nameof(AllCases))]
    public void Vector(object check)
    {
        CaseResult r = ConformanceSuite.RunCase((CheckCase)check);
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void EveryVectorFile_HasADescription_AndIsConsumed()
    {
        IReadOnlyList<string> onDisk = ConformanceSuite.ListFiles(VectorDirectory);
        Assert.That(onDisk, Is.Not.Empty);
        foreach (string path in onDisk)
        {
            Assert.That(ConformanceSuite.Find(path), Is.Not.Null, $"{path} is not consumed by any conformance check (orphan)");
            CheckCase description = ConformanceSuite.CasesOf(VectorDirectory, path).Single(c => c.Name == "description");
            CaseResult r = ConformanceSuite.RunCase(description);
            Assert.That(r.Passed, Is.True, $"{path}: {r.Message}");
        }
        foreach (IVectorFile f in ConformanceSuite.Files)
            Assert.That(onDisk, Does.Contain(f.Path), $"{f.Path} is expected by the suite but missing");
    }

    [Test]
    public void OrphanOrUndescribedFile_IsReported()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-conf-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "extra"));
            File.WriteAllText(Path.Combine(dir, "extra", "stray.json"), "{\"cases\": []}");
            FileResult r = ConformanceSuite.Run(dir, "extra/stray.json");
            Assert.That(r.Passed, Is.False);
            Assert.That(r.Cases.Where(c => !c.Passed).Select(c => c.Name), Is.EquivalentTo(new[] { "description", "consumed" }));
            FileResult missing = ConformanceSuite.Run(dir, "masking/transcript-3-banks.json");
            Assert.That(missing.Passed, Is.False, "a vector file the suite expects must not silently pass when absent");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void Generator_IsDeterministic_AndMatchesTheCommittedVectors()
    {
        string a = Path.Combine(Path.GetTempPath(), "fraudfed-vec-" + Guid.NewGuid().ToString("N"));
        string b = a + "-2";
        try
        {
            IReadOnlyList<string> first = ConformanceSuite.Generate(a);
            IReadOnlyList<string> second = ConformanceSuite.Generate(b);
            Assert.That(second, Is.EqualTo(first));
            Assert.That(first, Has.Count.EqualTo(ConformanceSuite.Files.Count(f => f.Generated)));
            foreach (string path in first)
            {
                byte[] x = File.ReadAllBytes(Path.Combine(a, path));
                Assert.That(File.ReadAllBytes(Path.Combine(b, path)), Is.EqualTo(x), $"{path} differs between two runs");
                Assert.That(File.ReadAllBytes(Path.Combine(VectorDirectory, path)), Is.EqualTo(x), $"{path} in protocols/vectors is stale: run `fraudfed vectors`");
            }
        }
        finally
        {
            if (Directory.Exists(a)) Directory.Delete(a, recursive: true);
            if (Directory.Exists(b)) Directory.Delete(b, recursive: true);
        }
    }

    /// <summary>Changing one pinned value (the last, and a middle, hex or decimal leaf) must make the file fail.</summary>
    [TestCaseSource(nameof(Files))]
    public void MutatedVector_Fails(string path)
    {
        JsonNode root = JsonNode.Parse(File.ReadAllText(Path.Combine(VectorDirectory, path)))!;
        int leaves = Leaves(root).Count;
        Assert.That(leaves, Is.GreaterThan(0));
        foreach (int which in new[] { leaves - 1, leaves / 2 })
        {
            JsonNode copy = JsonNode.Parse(root.ToJsonString())!;
            (JsonNode parent, object key, string value) = Leaves(copy)[which];
            string mutated = Mutate(value);
            if (key is string name) parent[name] = mutated; else parent[(int)key] = mutated;
            string dir = Path.Combine(Path.GetTempPath(), "fraudfed-mut-" + Guid.NewGuid().ToString("N"));
            try
            {
                string full = Path.Combine(dir, path);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.WriteAllText(full, ConformanceSuite.Serialize(copy));
                FileResult r = ConformanceSuite.Run(dir, path);
                Assert.That(r.Passed, Is.False, $"{path}: changing {value} to {mutated} (leaf {which} of {leaves}) went unnoticed");
            }
            finally { Directory.Delete(dir, recursive: true); }
        }
    }

    private static string Mutate(string v)
    {
        char last = v[^1];
        char replacement = IsHex(v) ? (last == '0' ? '1' : '0') : (last == '9' ? '8' : (char)(last + 1));
        return v[..^1] + replacement;
    }

    private static bool IsHex(string s) => s.Length % 2 == 0 && s.Length >= 8 && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');
    private static bool IsDecimal(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static List<(JsonNode Parent, object Key, string Value)> Leaves(JsonNode node)
    {
        var result = new List<(JsonNode, object, string)>();
        void Walk(JsonNode n)
        {
            if (n is JsonObject o)
                foreach (var (k, v) in o.ToList())
                {
                    if (k == "description" || v is null) continue;
                    if (v is JsonValue jv && jv.TryGetValue(out string? s)) { if (IsHex(s) || IsDecimal(s)) result.Add((o, k, s)); }
                    else Walk(v);
                }
            else if (n is JsonArray a)
                for (int i = 0; i < a.Count; i++)
                {
                    JsonNode? v = a[i];
                    if (v is JsonValue jv && jv.TryGetValue(out string? s)) { if (IsHex(s) || IsDecimal(s)) result.Add((a, i, s)); }
                    else if (v is not null) Walk(v);
                }
        }
        Walk(node);
        return result;
    }
}
