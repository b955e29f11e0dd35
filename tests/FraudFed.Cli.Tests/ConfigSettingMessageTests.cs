using System.Text.Json.Nodes;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

/// <summary>
/// A setting of aggregator.json or bank.json with a value out of its range is a usage error (exit 2) whose one line names the
/// setting by its JSON path, the value, the allowed range and the reason, with no .NET exception text (no "(Parameter 'x')",
/// no capitalised library sentence); a required setting left out is called missing and where it belongs, one present and
/// empty is called empty.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ConfigSettingMessageTests
{
    private string _dir = "";
    private string _values = "";

    [OneTimeSetUp]
    public void CreateKits()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fraudfed-cfgset-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", "masking", "--out", Path.Combine(_dir, "masking")).Code, Is.EqualTo(0));
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", "he", "--out", Path.Combine(_dir, "he"), "--insecure-test-parameters").Code, Is.EqualTo(0));
        _values = Path.Combine(_dir, "values.txt");
        File.WriteAllText(_values, "1\n2\n");
    }

    [OneTimeTearDown]
    public void RemoveKits() => Directory.Delete(_dir, recursive: true);

    private string AggregatorJson(string kit) => Path.Combine(_dir, kit, "aggregator.json");
    private string BankJson(string kit) => Path.Combine(_dir, kit, "banks", "bank-0", "bank.json");

    /// <summary>A copy of <paramref name="file"/> beside it with <paramref name="edit"/> applied to its JSON; returns its path.</summary>
    private static string Edited(string file, Action<JsonObject> edit)
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(file), documentOptions: new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip })!;
        edit(json);
        string copy = Path.Combine(Path.GetDirectoryName(file)!, "edited-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        File.WriteAllText(copy, json.ToJsonString());
        return copy;
    }

    /// <summary>Sets the value at <paramref name="path"/> ("deadlines.join_seconds") to the raw JSON <paramref name="value"/>,
    /// or removes it when null.</summary>
    private static Action<JsonObject> Set(string path, string? value) => json =>
    {
        string[] parts = path.Split('.');
        JsonObject o = json;
        foreach (string part in parts[..^1]) o = (JsonObject)(o[part] ??= new JsonObject());
        if (value is null) o.Remove(parts[^1]);
        else o[parts[^1]] = JsonNode.Parse(value);
    };

    private (int Code, string Stdout, string Stderr) Run(string kind, string file) => kind == "aggregator"
        ? HostileInputTests.Run("aggregator", "serve", "--config", file)
        : HostileInputTests.Run("bank", "sum", "--config", file, "--values", _values);

    private static void AssertOneLine((int Code, string Stdout, string Stderr) run, string file, string expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), run.Stderr);
            Assert.That(run.Stderr, Does.Not.Contain("(Parameter").And.Not.Contain("Exception").And.Not.Contain("   at "));
            Assert.That(run.Stderr.TrimEnd(), Does.Match(System.Text.RegularExpressions.Regex.Escape(file) + expected));
        });
    }

    // kit (masking, he), file (aggregator, bank), setting, raw JSON value, the message after the file name (a pattern).
    private static IEnumerable<TestCaseData> NumericCases()
    {
        TestCaseData Case(string kit, string file, string setting, string value, string expected) =>
            new TestCaseData(kit, file, setting, value, expected).SetName($"OutOfRange/{file}/{setting}={value}");
        yield return Case("masking", "aggregator", "max_message_bytes", "10", @": max_message_bytes = 10 is out of range: it must be between 1024 and 1073741824 \(the largest bank message in bytes, .+\)\.$");
        yield return Case("masking", "aggregator", "max_message_bytes", "10000000000000", @": line \d+, column \d+, at \$\.max_message_bytes: 10000000000000 is too large; it must be between 1024 and 1073741824\.$");
        yield return Case("masking", "aggregator", "deadlines.setup_seconds", "0", @": deadlines\.setup_seconds = 0 is out of range: it must be above 0 \(seconds each setup stage waits for the banks, counted from the first bank's message\)\.$");
        yield return Case("masking", "aggregator", "deadlines.join_seconds", "-1", @": deadlines\.join_seconds = -1 is out of range: it must be above 0 \(seconds the other banks have to ask for a round once the first asked\)\.$");
        yield return Case("masking", "aggregator", "deadlines.stage_seconds", "-0.5", @": deadlines\.stage_seconds = -0\.5 is out of range: it must be above 0 \(seconds each round stage waits for its banks\)\.$");
        yield return Case("masking", "aggregator", "requests_per_second", "0", @": requests_per_second = 0 is out of range: it must be at least 1 \(calls per bank per second\)\.$");
        yield return Case("masking", "aggregator", "federation.masking.threshold", "9", @": federation\.masking\.threshold = 9 is out of range: it must be between 2 and 3 \(t, the Shamir threshold, is at least 2 and at most the N = 3 banks that hold each share\)\.$");
        yield return Case("masking", "aggregator", "federation.masking.modulus_bits", "65", @": federation\.masking\.modulus_bits = 65 is out of range: it must be between 1 and 64 \(k: sums are taken mod 2\^k\)\.$");
        yield return Case("masking", "aggregator", "federation.masking.degree", "1", @": federation\.masking\.degree = 1 is not allowed: a sparse SecAgg\+ graph \(a degree below N - 1\) needs at least 4 banks, and this roster has 3; leave degree out for the complete graph\.$");
        yield return Case("masking", "aggregator", "federation.masking.max_colluders", "3", @": federation\.masking\.max_colluders = 3 is out of range: it must be between 0 and 2 \(c, .+\)\.$");
        yield return Case("masking", "aggregator", "federation.masking.minimum_survivors", "4", @": federation\.masking\.minimum_survivors = 4 is out of range: it must be between \d and 3 \(M, the fewest banks at any stage, .+\)\.$");
        yield return Case("he", "aggregator", "federation.he.threshold", "9", @": federation\.he\.threshold = 9 is out of range: it must be between 1 and 3 \(T, the decryptors of each round, are drawn from the N = 3 banks\)\.$");
        yield return Case("he", "aggregator", "federation.he.min_contributors", "1", @": federation\.he\.min_contributors = 1 is out of range: it must be between 2 and 3 \(K_min, .+\)\.$");
        yield return Case("he", "aggregator", "federation.he.max_colluders", "5", @": federation\.he\.max_colluders = 5 is out of range: it must be between 0 and 1 \(c, .+\)\.$");
        yield return Case("masking", "aggregator", "training", """{"feature_names": ["a"], "modulus_bits": 70}""", @": training\.modulus_bits = 70 is out of range: it must be between 16 and 32 \(k: .+\)\.$");
        yield return Case("masking", "aggregator", "training", """{"feature_names": ["a"], "modulus_bits": 20, "gbdt": {"max_depth": 0}}""", @": training\.gbdt\.max_depth = 0 is not allowed: max_depth must be in 1\.\.12\.$");
        yield return Case("masking", "bank", "bank", "7", @": bank = 7 is out of range: it must be between 0 and 2 \(this bank's roster index, .+\)\.$");
        yield return Case("masking", "bank", "max_message_bytes", "10", @": max_message_bytes = 10 is out of range: it must be between 1024 and 1073741824 \(.+\)\.$");
        yield return Case("masking", "bank", "max_message_bytes", "10000000000000", @": line \d+, column \d+, at \$\.max_message_bytes: 10000000000000 is too large; it must be between 1024 and 1073741824\.$");
        yield return Case("masking", "bank", "federation.masking.threshold", "9", @": federation\.masking\.threshold = 9 is out of range: it must be between 2 and 3 \(.+\)\.$");
    }

    [TestCaseSource(nameof(NumericCases))]
    public void ANumericSettingOutOfRange_NamesItsKeyValueRangeAndReason(string kit, string file, string setting, string value, string expected)
    {
        string path = Edited(file == "aggregator" ? AggregatorJson(kit) : BankJson(kit), Set(setting, value));
        AssertOneLine(Run(file, path), path, expected);
    }

    // A required setting left out is missing (and where it goes); present and empty, it is empty.
    private static IEnumerable<TestCaseData> MissingCases()
    {
        TestCaseData Case(string file, string setting, string? value, string expected) =>
            new TestCaseData(file, setting, value, expected).SetName($"{(value is null ? "Missing" : "Empty")}/{file}/{setting}");
        yield return Case("aggregator", "certificate", null, @": the 'certificate' setting is missing; add it at the top level of the file and name the certificate file\.$");
        yield return Case("aggregator", "certificate", "\"\"", @": the 'certificate' setting is empty; name the certificate file\.$");
        yield return Case("bank", "aggregator", null, @": the 'aggregator' setting is missing; add it at the top level of the file and set it to the appliance's https://host:port address\.$");
        yield return Case("bank", "aggregator", "\"\"", @": the 'aggregator' setting is empty; set it to the appliance's https://host:port address\.$");
        yield return Case("aggregator", "federation.mode", null, @": the 'federation\.mode' setting is missing; add it to the federation block and set it to ""he"" or ""masking""\.$");
        yield return Case("aggregator", "federation.mode", "\"\"", @": the 'federation\.mode' setting is empty; set it to ""he"" or ""masking""\.$");
        yield return Case("aggregator", "federation.masking.threshold", null, @": the 'federation\.masking\.threshold' setting is missing; add it to the federation\.masking block, between 2 and 3 \(.+\)\.$");
        yield return Case("bank", "bank", null, @": the 'bank' setting is missing; add it at the top level of the file and set it to this bank's roster index, 0\.\.2\.$");
        yield return Case("bank", "protocol_key", null, @": the 'protocol_key' setting is missing; add it at the top level of the file and name the protocol key file\.$");
    }

    [TestCaseSource(nameof(MissingCases))]
    public void ARequiredSetting_IsCalledMissingWhenLeftOut_AndEmptyWhenEmpty(string file, string setting, string? value, string expected)
    {
        string path = Edited(file == "aggregator" ? AggregatorJson("masking") : BankJson("masking"), Set(setting, value));
        AssertOneLine(Run(file, path), path, expected);
    }
}
