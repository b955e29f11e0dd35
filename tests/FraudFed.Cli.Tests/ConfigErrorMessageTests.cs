using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

/// <summary>
/// A malformed configuration file (appliance, bank) or --schema file is a usage error (exit 2) whose one-line message names
/// the file, the JSON path, the 1-based line and column and what was wrong in words, never a .NET type name nor the parser's
/// zero-based "LineNumber: 0 | BytePositionInLine:" suffix.
/// </summary>
[TestFixture]
public sealed class ConfigErrorMessageTests
{
    private string _dir = "";

    [SetUp]
    public void CreateDirectory()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fraudfed-cfgmsg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    private static IEnumerable<TestCaseData> Cases()
    {
        // name, file text, the message after the file name as a pattern: the line is the one holding the fault; the column
        // is where the reader stood (within or just after the faulty token), except for a bad character, where it is exact.
        // An unknown setting with no likely meaning lists the settings allowed in its object.
        yield return new TestCaseData("unknown", "{\n  \"bogus\": 1\n}", @": line 2, column \d+, at \$\.bogus: unknown setting 'bogus'; the settings allowed here are 'note', '\w+', .* and '\w+'\.$").SetName("unknown setting");
        // An abbreviated setting finds the one it stands for word by word, beyond two edits.
        yield return new TestCaseData("abbreviated", "{\n  \"max_msg_bytes\": 1024\n}", @": line 2, column \d+, at \$\.max_msg_bytes: unknown setting 'max_msg_bytes'; did you mean 'max_message_bytes'\?$").SetName("abbreviated setting");
        yield return new TestCaseData("array", "[1, 2]", @": line 1, column \d+, at \$: expected an object at the top level").SetName("array at the top level");
        yield return new TestCaseData("string", "{\n\n  \"certificate\": 5}", @": line 3, column \d+, at \$\.certificate: expected a string").SetName("number where a string belongs");
        // A misspelt setting names the one it is probably meant to be, as a misspelt option does.
        yield return new TestCaseData("typo", "{\n  \"certificat\": \"x.pem\"\n}", @": line 2, column \d+, at \$\.certificat: unknown setting 'certificat'; did you mean 'certificate'\?$").SetName("misspelt setting");
        // A trailing comma is not JSON: refused with the place of the '}' or ']' it stands before, not read silently.
        yield return new TestCaseData("trailing", "{\n  \"note\": \"x\",\n}", @" is not valid JSON at line 3, column 1: a ',' stands before a closing } or \]; remove it\.$").SetName("trailing comma in an object");
        yield return new TestCaseData("trailinglist", "{\n  \"federation\": {\"identity_keys\": [\n    \"00\",\n  ]}\n}", @" is not valid JSON at line 4, column 3: a ',' stands before a closing } or \]; remove it\.$").SetName("trailing comma in a list");
        yield return new TestCaseData("notjson", "{\n  certificate", @" is not valid JSON at line 2, column 3: 'c' stands where a name in double quotes \(or a closing }\) belongs\.$").SetName("not JSON");
    }

    /// <summary>A setting of bank.json written short ("state_dir") is refused naming the one it stands for.</summary>
    [Test]
    public void BankJson_StateDir_SuggestsStateDirectory()
    {
        string file = Path.Combine(_dir, "bank.json");
        File.WriteAllText(file, "{\n  \"state_dir\": \"state\"\n}");
        string values = Path.Combine(_dir, "values.txt");
        File.WriteAllText(values, "1\n2\n");
        AssertUsageError(HostileInputTests.Run("bank", "sum", "--config", file, "--values", values), file,
            @": line 2, column \d+, at \$\.state_dir: unknown setting 'state_dir'; did you mean 'state_directory'\?$");
    }

    /// <summary>In a nested object the suggestion and the list come from that object's settings (aggregator.json's deadlines).</summary>
    [Test]
    public void AggregatorJson_NestedUnknownSetting_SuggestsOrListsThatObjectsSettings()
    {
        string file = Path.Combine(_dir, "aggregator.json");
        File.WriteAllText(file, "{\n  \"deadlines\": { \"join\": 5 }\n}");
        AssertUsageError(HostileInputTests.Run("aggregator", "serve", "--config", file), file,
            @": line 2, column \d+, at \$\.deadlines\.join: unknown setting 'join'; did you mean 'join_seconds'\?$");
        File.WriteAllText(file, "{\n  \"deadlines\": { \"round_seconds\": 5 }\n}");
        AssertUsageError(HostileInputTests.Run("aggregator", "serve", "--config", file), file,
            @": line 2, column \d+, at \$\.deadlines\.round_seconds: unknown setting 'round_seconds'; the settings allowed here are 'setup_seconds', 'join_seconds' and 'stage_seconds'\.$");
    }

    /// <summary>The word-by-word rule of the spelling helper: abbreviations and prefixes of the words, one name or none.</summary>
    [TestCase("state_dir", "state_directory")]
    [TestCase("max_msg_bytes", "max_message_bytes")]
    [TestCase("max_mesage_bytes", "max_message_bytes")]
    [TestCase("STATE_KEY", "state_key_file")]
    [TestCase("certificat", "certificate")]
    [TestCase("state", null)]            // state_directory or state_key_file: no guess
    [TestCase("color", null)]
    public void Spelling_FindsTheNameAWordWiseAbbreviationStandsFor(string typed, string? expected) =>
        Assert.That(FraudFed.Learning.Data.Spelling.Nearest(typed, ["note", "aggregator", "bank", "certificate", "key", "ca", "protocol_key", "federation",
            "max_message_bytes", "state_directory", "state_key_file"]), Is.EqualTo(expected));

    private static void AssertUsageError((int Code, string Stdout, string Stderr) run, string file, string expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), run.Stderr);
            Assert.That(run.Stderr.TrimEnd(), Does.Match(System.Text.RegularExpressions.Regex.Escape(file) + expected));
            Assert.That(run.Stderr, Does.Not.Contain("FraudFed.").And.Not.Contain("System.").And.Not.Contain(".NET"));
            Assert.That(run.Stderr, Does.Not.Contain("LineNumber").And.Not.Contain("BytePositionInLine"));
            Assert.That(run.Stderr, Does.Not.Contain("   at "), "no stack trace");
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void AggregatorServeNamesThePathAndLine(string name, string text, string expected)
    {
        string file = Path.Combine(_dir, name + ".json");
        File.WriteAllText(file, text);
        AssertUsageError(HostileInputTests.Run("aggregator", "serve", "--config", file), file, expected);
    }

    [TestCaseSource(nameof(Cases))]
    public void BankSumNamesThePathAndLine(string name, string text, string expected)
    {
        string file = Path.Combine(_dir, name + ".json");
        File.WriteAllText(file, text);
        string values = Path.Combine(_dir, "values.txt");
        File.WriteAllText(values, "1\n2\n");
        AssertUsageError(HostileInputTests.Run("bank", "sum", "--config", file, "--values", values), file, expected);
    }

    /// <summary>A configuration file cut short (a copy that stopped, a disk that filled) says so in words with the line and byte
    /// where the text ends, not the reader's "Expected depth to be zero at the end of the JSON payload" sentence.</summary>
    [Test]
    public void ATruncatedConfiguration_SaysTheFileIsNotValidJson_WhereItEnds_InWords()
    {
        string kit = Path.Combine(_dir, "kit");
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters").Code, Is.EqualTo(0));
        string aggregator = Path.Combine(kit, "aggregator.json"), bank = Path.Combine(kit, "banks", "bank-0", "bank.json");
        string values = Path.Combine(_dir, "values.txt");
        File.WriteAllText(values, "1\n2\n");
        foreach ((string file, string[] args) in new[] { (aggregator, new[] { "aggregator", "serve", "--config", aggregator }), (bank, ["bank", "sum", "--config", bank, "--values", values]) })
            foreach (double keep in new[] { 0.6, 0.999 })
            {
                string whole = File.ReadAllText(file).TrimEnd();
                File.WriteAllText(file + ".whole", whole);
                File.WriteAllText(file, whole[..(int)(whole.Length * keep)]);
                var run = HostileInputTests.Run(args);
                File.Move(file + ".whole", file, overwrite: true);
                string command = string.Join(' ', args.Take(2));
                Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
                Assert.That(run.Stderr.TrimEnd(), Does.Match($"^fraudfed {command}: " + System.Text.RegularExpressions.Regex.Escape(file)
                    + @" is not valid JSON at line \d+, column \d+: the file ends (in the middle of the JSON|before every \{ or \[ is closed) \(is it cut short\?\)\.$"), $"{command}, {keep:P1} kept");
            }
    }

    /// <summary>The column counts characters as an editor shows them, not the reader's bytes: a line with "é" (two bytes in UTF-8)
    /// before the fault gives the same column as the same line with "e".</summary>
    [Test]
    public void TheColumnCountsCharacters_NotBytes()
    {
        static string Said(string text)
        {
            try { System.Text.Json.JsonSerializer.Deserialize<FraudFed.Sdk.Configuration.BankConfig>(text, FraudFed.Sdk.Configuration.ConfigJson.Options); }
            catch (System.Text.Json.JsonException e) { return FraudFed.Sdk.Configuration.ConfigJson.Describe(e, text); }
            throw new AssertionException("the text was read");
        }
        string ascii = Said("{\n  \"note\": \"eee\", \"bank\": \"x\"}"), accented = Said("{\n  \"note\": \"ééé\", \"bank\": \"x\"}");
        Assert.That(ascii, Does.StartWith("line 2, column "));
        Assert.That(accented, Is.EqualTo(ascii));
    }

    /// <summary>A file named in bank.json or aggregator.json that is missing is named with the setting that names it.</summary>
    [Test]
    public void AMissingCertificateOrKeyFile_NamesTheSettingOfTheConfigurationThatNamesIt()
    {
        string kit = Path.Combine(_dir, "kit");
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", "masking", "--out", kit).Code, Is.EqualTo(0));
        string aggregator = Path.Combine(kit, "aggregator.json"), bank = Path.Combine(kit, "banks", "bank-0", "bank.json");
        string values = Path.Combine(_dir, "values.txt");
        File.WriteAllText(values, "1\n2\n");
        File.WriteAllText(bank, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(bank), "\"certificate\": \"[^\"]*\"", "\"certificate\": \"gone.pem\""));
        var run = HostileInputTests.Run("bank", "sum", "--config", bank, "--values", values);
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Is.EqualTo($"fraudfed bank sum: {Path.Combine(kit, "banks", "bank-0", "gone.pem")}: no such certificate file (the 'certificate' setting of {bank}).\n"));
        File.WriteAllText(aggregator, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(aggregator), "\"key\": \"[^\"]*\"", "\"key\": \"gone.key\""));
        run = HostileInputTests.Run("aggregator", "serve", "--config", aggregator);
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Is.EqualTo($"fraudfed aggregator serve: {Path.Combine(kit, "gone.key")}: no such key file (the 'key' setting of {aggregator}).\n"));
    }

    /// <summary>A schema list given as one string ("categorical": "x") is refused with the shape expected, not read as a list.</summary>
    [Test]
    public void ASchemaListGivenAsAString_IsRefusedWithTheExpectedShape()
    {
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "creditcard.csv"), PublicSchemaFiles.Ulb(50, seed: 3), new CsvStyle());
        string schema = Path.Combine(_dir, "schema.json");
        File.WriteAllText(schema, "{ \"preset\": \"ulb\", \"categorical\": \"Amount\" }");
        var run = HostileInputTests.Run("simulate", "--csv", csv, "--schema", schema, "--out", Path.Combine(_dir, "out"));
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Is.EqualTo($"fraudfed simulate: schema {schema}: line 1, column 35, at $.categorical: \"Amount\" is a string; expected a list of column names, as in \"categorical\": [\"Amount\"].\n"), run.Stderr);
        Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
    }

    /// <summary>A --schema file's errors in the house form: lower case, the line and column of the key (or its value), a
    /// "did you mean" for a misspelt key or else the valid keys, and a trailing comma refused as a JSON syntax error.</summary>
    [TestCase("{\n  \"lable\": \"Class\"\n}", ": line 2, column 3, at $.lable: unknown key 'lable'; did you mean 'label'?")]
    [TestCase("{\n  \"preset\": \"ulb\",\n  \"id_cols\": [\"Time\"]\n}", ": line 3, column 3, at $.id_cols: unknown key 'id_cols'; did you mean 'id_columns'?")]
    [TestCase("{ \"preset\": \"ulb\", \"colour\": 1 }", ": line 1, column 20, at $.colour: unknown key 'colour'; the keys are 'preset', 'name', 'label', 'time', 'bank', 'id_columns', 'categorical', 'ignore', 'features', 'optional', 'separator' and 'missing_values'.")]
    [TestCase("{\n  \"preset\": \"ulb\",\n  \"time\": 5\n}", ": line 3, column 11, at $.time: expected a string, not a number.")]
    [TestCase("{\n  \"preset\": \"ulb\",\n  \"ignore\": [\"Time\"],\n}", " is not valid JSON at line 4, column 1: a ',' stands before a closing } or ]; remove it.")]
    [TestCase("{ \"label\": \"Class\", \"categorical\": [\"Class\"] }", ": column 'Class' has two roles: label and categorical.")]
    public void SimulateSchemaErrors_AreInTheHouseForm(string text, string expected)
    {
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "creditcard.csv"), PublicSchemaFiles.Ulb(50, seed: 3), new CsvStyle());
        string schema = Path.Combine(_dir, "schema.json");
        File.WriteAllText(schema, text);
        var run = HostileInputTests.Run("simulate", "--csv", csv, "--schema", schema, "--out", Path.Combine(_dir, "out"));
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr, Is.EqualTo($"fraudfed simulate: schema {schema}{expected}\n"));
    }

    [Test]
    public void SimulateSchemaThatIsNotJsonNamesLineAndColumn()
    {
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "creditcard.csv"), PublicSchemaFiles.Ulb(50, seed: 3), new CsvStyle());
        string schema = Path.Combine(_dir, "schema.json");
        File.WriteAllText(schema, "{\n  \"preset\": ulb\n}");
        var run = HostileInputTests.Run("simulate", "--csv", csv, "--schema", schema, "--out", Path.Combine(_dir, "out"));
        Assert.Multiple(() =>
        {
            Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
            Assert.That(run.Stderr, Does.StartWith($"fraudfed simulate: schema {schema} is not valid JSON at line 2, column 13: 'u' cannot start a value (text goes in double quotes;"));
            Assert.That(run.Stderr, Does.Not.Contain("LineNumber").And.Not.Contain("System.").And.Not.Contain("FraudFed."));
            Assert.That(Directory.Exists(Path.Combine(_dir, "out")), Is.False, "nothing written");
        });
    }
}
