using System.CommandLine;
using System.Diagnostics;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

/// <summary>
/// Every hostile input is refused before any work: exit code 2, one line "fraudfed &lt;command&gt;: ..." on stderr naming
/// the problem, no stack trace, and nothing written (no output directory, no staging directory left beside it).
/// </summary>
[TestFixture]
public sealed class HostileInputTests
{
    private static string _dir = "";
    private static string _ulb = "", _semicolons = "", _badCell = "", _schemaTypo = "", _aFile = "", _out = "";

    [OneTimeSetUp]
    public void CreateFiles()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fraudfed-hostile-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _ulb = PublicSchemaFiles.Write(Path.Combine(_dir, "creditcard.csv"), PublicSchemaFiles.Ulb(400, seed: 2), new CsvStyle());
        var semi = new CsvStyle(Separator: ';');
        _semicolons = PublicSchemaFiles.Write(Path.Combine(_dir, "semicolons.csv"), PublicSchemaFiles.Ulb(50, style: semi), semi);
        string[] lines = File.ReadAllLines(_ulb);
        lines[300] = lines[300].Replace(lines[300].Split(',')[5], "twelve");
        _badCell = Path.Combine(_dir, "bad-cell.csv");
        File.WriteAllLines(_badCell, lines);
        _schemaTypo = Path.Combine(_dir, "typo.json");
        File.WriteAllText(_schemaTypo, """{ "preset": "ulb", "lable": "Class" }""");
        _aFile = Path.Combine(_dir, "a-file.txt");
        File.WriteAllText(_aFile, "not a directory");
        _out = Path.Combine(_dir, "out");
    }

    [OneTimeTearDown]
    public void RemoveFiles() => Directory.Delete(_dir, recursive: true);

    internal static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData Case(string name, string expected, params string[] args) => new TestCaseData(args, expected).SetName("Refused/" + name);
        // "@name" stands for a file made in OneTimeSetUp (test cases are built before it runs); Bind fills them in.
        yield return Case("csv-missing", "does not exist", "simulate", "--csv", "no-such-file.csv", "--schema", "ulb", "--out", "@out");
        yield return Case("csv-is-a-directory", "is a directory", "simulate", "--csv", "@dir", "--schema", "ulb", "--out", "@out");
        yield return Case("out-is-a-file", "exists and is not a directory", "simulate", "--csv", "@ulb", "--schema", "ulb", "--out", "@afile");
        if (!OperatingSystem.IsWindows()) // a device, not a regular file: still not a directory
            yield return Case("out-is-a-device", "--out '/dev/null' exists and is not a directory", "simulate", "--csv", "@ulb", "--schema", "ulb", "--out", "/dev/null");
        yield return Case("out-under-a-file", "is not a directory, so no directory can be made under it", "simulate", "--out", "@afile/sub");
        if (OperatingSystem.IsLinux()) // /proc gives a directory even root cannot write
            yield return Case("out-unwritable", "cannot be written: nothing can be created in '/proc' (", "simulate", "--out", "/proc/fraudfed-test/out");
        yield return Case("banks-not-a-number", "fraudfed simulate: --banks must be a whole number (got 'abc').", "simulate", "--banks", "abc", "--out", "@out");
        yield return Case("banks-one", "--banks must be in 3..100", "simulate", "--banks", "1", "--out", "@out");
        yield return Case("banks-beyond-int32", "--banks must be in 3..100 (got 99999999999).", "simulate", "--banks", "99999999999", "--out", "@out");
        yield return Case("bench-he-runs-beyond-int32", "--runs must be in 1..1000 (got 99999999999).", "bench", "he", "--runs", "99999999999");
        yield return Case("bench-he-banks-beyond-int32", "--banks must be in 2..256 (got 99999999999).", "bench", "he", "--banks", "99999999999");
        yield return Case("bench-ntt-runs-below-int32", "--runs must be in 1..1000000 (got -99999999999).", "bench", "ntt", "--runs", "-99999999999");
        yield return Case("trees-zero", "--trees must be in 1..10000", "simulate", "--trees", "0", "--out", "@out");
        yield return Case("bank-timeout-zero", "--bank-timeout must be in 1..86400", "simulate", "--transport", "grpc", "--bank-timeout", "0", "--out", "@out");
        // An option of the other model is refused, not ignored (the trial ran `--rounds 5 --model gbdt` and got 200 trees).
        yield return Case("rounds-with-gbdt", "fraudfed simulate: --rounds applies to --model logistic (FedAvg rounds); --model gbdt takes --trees (boosting rounds): leave --rounds out, or add --model logistic.",
            "simulate", "--rounds", "5", "--model", "gbdt", "--out", "@out");
        yield return Case("rounds-with-default-model", "--rounds applies to --model logistic", "simulate", "--rounds", "5", "--out", "@out");
        yield return Case("category-buckets-without-categories", "fraudfed simulate: --category-buckets applies to categorical columns, and the schema has none: name them with --categorical, or leave --category-buckets out.",
            "simulate", "--csv", "@ulb", "--schema", "ulb", "--category-buckets", "16", "--out", "@out");
        yield return Case("category-key-without-categories", "fraudfed simulate: --category-key applies to categorical columns, and the schema has none",
            "simulate", "--csv", "@ulb", "--schema", "ulb", "--category-key", "@afile", "--out", "@out");
        yield return Case("trees-with-logistic", "fraudfed simulate: --trees applies to --model gbdt (boosting rounds); --model logistic takes --rounds (FedAvg rounds): leave --trees out, or add --model gbdt.",
            "simulate", "--model", "logistic", "--trees", "50", "--out", "@out");
        // System.CommandLine's own refusals, in the house form: what is wrong with the token typed, and what to do.
        yield return Case("command-unknown", "fraudfed bank: unknown command 'frobnicate'; use 'sum' or 'train' (fraudfed bank --help).", "bank", "frobnicate");
        yield return Case("command-missing", "fraudfed bank: a command is needed after 'fraudfed bank'; use 'sum' or 'train' (fraudfed bank --help).", "bank");
        yield return Case("top-command-unknown", "fraudfed: unknown command 'frobnicate'; use 'aggregator', 'bank', 'bench', ", "frobnicate");
        // A misspelt command gets the did-you-mean of the options (the trial ran `fraudfed simulat`).
        yield return Case("top-command-typo", "fraudfed: unknown command 'simulat'; did you mean 'simulate'? (fraudfed --help)", "simulat");
        yield return Case("command-typo", "fraudfed bank: unknown command 'sun'; did you mean 'sum'? (fraudfed bank --help)", "bank", "sun");
        yield return Case("subcommand-typo", "fraudfed aggregator: unknown command 'serv'; did you mean 'serve'? (fraudfed aggregator --help)", "aggregator", "serv");
        yield return Case("option-typo", "fraudfed simulate: unknown option '--bankz'; did you mean --banks? (fraudfed simulate --help)", "simulate", "--bankz", "3", "--out", "@out");
        yield return Case("option-unknown-far", "fraudfed simulate: unknown option '--frobnicate'; 'fraudfed simulate --help' lists the options.", "simulate", "--frobnicate", "--out", "@out");
        yield return Case("option-value-missing", "fraudfed simulate: --banks needs a value (fraudfed simulate --help).", "simulate", "--out", "@out", "--banks");
        yield return Case("option-not-a-number", "fraudfed simulate: --banks must be a whole number (got 'five').", "simulate", "--banks", "five", "--out", "@out");
        yield return Case("option-not-a-decimal", "fraudfed simulate: --bank-timeout must be a number of seconds such as 1.5 (got '30s').", "simulate", "--transport", "grpc", "--bank-timeout", "30s", "--out", "@out");
        // A number is read one way (NumberOptions): a decimal point, no thousands separator, no blank around it, finite. The
        // trial's `--bank-timeout 1,5` ran with 15 s, and `--banks= 3` with 3 banks.
        yield return Case("decimal-thousands-separator", "fraudfed simulate: --bank-timeout must be a number of seconds such as 1.5, written with a decimal point and without thousands separators (got '1,5').",
            "simulate", "--bank-timeout", "1,5", "--out", "@out");
        yield return Case("decimal-leading-blank", "fraudfed simulate: --bank-timeout must be a number of seconds such as 1.5, written without spaces (got ' 5'), as in --bank-timeout=5.",
            "simulate", "--bank-timeout", " 5", "--out", "@out");
        yield return Case("decimal-infinity", "fraudfed simulate: --alpha must be a positive number such as 0.5 (got 'Infinity', which is not a finite number).",
            "simulate", "--csv", "@ulb", "--schema", "ulb", "--alpha", "Infinity", "--out", "@out");
        yield return Case("integer-blank-after-equals", "fraudfed simulate: --banks must be a whole number, written without spaces (got ' 3'), as in --banks=3.", "simulate", "--banks= 3", "--out", "@out");
        yield return Case("integer-trailing-blank", "fraudfed simulate: --trees must be a whole number, written without spaces (got '50 '), as in --trees=50.", "simulate", "--trees", "50 ", "--out", "@out");
        yield return Case("bank-timeout-decimal-comma", "--timeout must be a number of seconds such as 1.5, written with a decimal point", "bank", "sum", "--config", "bank.json", "--values", "v.txt", "--timeout", "0,5");
        // "-" (standard input to many tools) is named as such, not as a file that does not exist.
        yield return Case("csv-standard-input", "fraudfed simulate: --csv '-': reading the CSV file from standard input is not supported (the file is read twice: its header before any work, then its rows): save the data to a file first and give that file, as in --csv data.csv",
            "simulate", "--csv", "-", "--schema", "ulb", "--out", "@out");
        yield return Case("data-standard-input", "fraudfed bank train: --data '-': reading the CSV file from standard input is not supported",
            "bank", "train", "--config", "bank.json", "--data", "-", "--schema", "ulb", "--out", "@out");
        yield return Case("option-before-command", "fraudfed bank: --config is an option of 'sum' or 'train': name the command first, as in 'fraudfed bank sum --config ...' (fraudfed bank --help).",
            "bank", "--config", "bank.json");
        // An option of the group's other command is named with that command (the trial ran `bank train --values`).
        yield return Case("option-of-the-other-command", "fraudfed bank train: unknown option '--values'; --values is an option of 'fraudfed bank sum', not of 'fraudfed bank train' (fraudfed bank train --help).",
            "bank", "train", "--values", "v0.txt", "--config", "bank.json");
        // A flag written twice is refused like any other option given twice.
        yield return Case("flag-twice", "fraudfed simulate: --json is given 2 times; give it once.", "simulate", "--json", "--json", "--out", "@out");
        yield return Case("option-twice", "fraudfed simulate: --banks is given 2 times (3, 4); give it once.", "simulate", "--banks", "3", "--banks", "4", "--out", "@out");
        yield return Case("option-required-missing", "fraudfed bank sum: --config is required (fraudfed bank sum --help).", "bank", "sum", "--values", "@afile");
        yield return Case("argument-unexpected", "fraudfed simulate: unexpected argument 'extra': fraudfed simulate takes options only, each written --name value or --name=value (fraudfed simulate --help).", "simulate", "extra", "--out", "@out");
        yield return Case("bank-timeout-without-grpc", "--bank-timeout applies to --transport grpc (bank processes, the default): leave out --transport inproc", "simulate", "--transport", "inproc", "--bank-timeout", "30", "--out", "@out");
        yield return Case("id-columns-empty-name", "--id-columns 'a,,b' has an empty column name", "simulate", "--id-columns", "a,,b", "--out", "@out");
        yield return Case("categorical-trailing-comma", "--categorical 'a,' has an empty column name", "simulate", "--categorical", "a,", "--out", "@out");
        yield return Case("transactions-too-few", "--transactions must be at least 5000", "simulate", "--transactions", "100", "--out", "@out");
        yield return Case("threshold-above-banks", "--threshold 9 is above --banks 5", "simulate", "--threshold", "9", "--out", "@out");
        yield return Case("threshold-insecure", "2T must exceed N + c", "simulate", "--banks", "6", "--threshold", "3", "--out", "@out");
        yield return Case("campaign-shift-negative", "--campaign-shift must be in 0..4", "simulate", "--campaign-shift", "-1", "--out", "@out");
        yield return Case("alpha-negative", "--alpha must be a positive number", "simulate", "--csv", "@ulb", "--schema", "ulb", "--alpha", "-1", "--out", "@out");
        yield return Case("alpha-nan", "--alpha must be a positive number such as 0.5 (got 'NaN', which is not a finite number).", "simulate", "--csv", "@ulb", "--schema", "ulb", "--alpha", "NaN", "--out", "@out");
        // A decimal beyond its range is quoted as typed, not as the double it was read as (the trial saw 1E+20).
        yield return Case("retry-budget-huge", "fraudfed bank sum: --retry-budget must be in [0, --timeout] seconds (got 99999999999999999999, --timeout 600).",
            "bank", "sum", "--config", "no-such-bank.json", "--values", "no-such-values.txt", "--retry-budget", "99999999999999999999");
        yield return Case("retry-budget-above-timeout-as-typed", "fraudfed bank train: --retry-budget must be in [0, --timeout] seconds (got 2.50e1, --timeout 1e1).",
            "bank", "train", "--config", "no-such-bank.json", "--data", "no-such.csv", "--out", "@out", "--timeout", "1e1", "--retry-budget", "2.50e1");
        yield return Case("bank-timeout-huge", "fraudfed simulate: --bank-timeout must be in 1..86400 seconds (got 99999999999999999999).",
            "simulate", "--bank-timeout", "99999999999999999999", "--out", "@out");
        yield return Case("alpha-huge", "--alpha must be a positive number up to 1000000 (got 123456789012345678901234567890).",
            "simulate", "--csv", "@ulb", "--schema", "ulb", "--alpha", "123456789012345678901234567890", "--out", "@out");
        yield return Case("buckets-too-many", "--category-buckets must be in 2..60", "simulate", "--csv", "@ulb", "--schema", "ulb", "--category-buckets", "99", "--out", "@out");
        yield return Case("mode-unknown", "--mode must be he or masking (got carrier-pigeon).", "simulate", "--mode", "carrier-pigeon", "--out", "@out");
        yield return Case("transport-unknown", "--transport must be inproc or grpc (got tcp).", "simulate", "--transport", "tcp", "--out", "@out");
        yield return Case("transport-missing-value", "--transport needs a value: inproc or grpc.", "simulate", "--out", "@out", "--transport");
        yield return Case("option-unknown", "--bankz", "simulate", "--bankz", "3", "--out", "@out");
        yield return Case("schema-unknown", "--schema 'bogus' is neither a preset", "simulate", "--csv", "@ulb", "--schema", "bogus", "--out", "@out");
        yield return Case("schema-file-typo", "unknown key 'lable'", "simulate", "--csv", "@ulb", "--schema", "@typo", "--out", "@out");
        yield return Case("schema-without-csv", "--schema applies to a CSV file", "simulate", "--schema", "ulb", "--out", "@out");
        yield return Case("transactions-with-csv", "--transactions applies to the synthetic scenario", "simulate", "--csv", "@ulb", "--schema", "ulb", "--transactions", "9000", "--out", "@out");
        yield return Case("separator-wrong", "probably ';' (semicolon)-separated", "simulate", "--csv", "@semi", "--schema", "ulb", "--separator", ",", "--out", "@out");
        yield return Case("separator-not-one", "is not a separator", "simulate", "--csv", "@ulb", "--schema", "ulb", "--separator", "::", "--out", "@out");
        yield return Case("label-missing", "label column 'Fraud' is not in the header", "simulate", "--csv", "@ulb", "--label", "Fraud", "--out", "@out");
        yield return Case("bad-cell", "row 300 (line 301): column 'V5' is not a number: 'twelve'", "simulate", "--csv", "@bad", "--schema", "ulb", "--out", "@out");
        yield return Case("scenario-too-small", "has no fraud in its training window", "simulate", "--banks", "5", "--transactions", "5000", "--out", "@out");
        yield return Case("csv-split-too-skewed", "use a larger --alpha", "simulate", "--csv", "@ulb", "--schema", "ulb", "--banks", "8", "--alpha", "0.05", "--out", "@out");
        yield return Case("bench-he-bits", "--bits must be in 1..44", "bench", "he", "--bits", "65");
        yield return Case("bench-he-threshold-one", "--threshold 1 and --colluders 3 are unsafe for 10 banks: T = 1 is too small for N = 10 banks and c = 3 colluders: 2T must exceed N + c",
            "bench", "he", "--banks", "10", "--colluders", "3", "--threshold", "1");
        yield return Case("bench-he-threshold-above-banks", "--threshold 11 is above --banks 10", "bench", "he", "--banks", "10", "--threshold", "11");
        yield return Case("bench-he-one-bank", "--banks must be in 2..256", "bench", "he", "--banks", "1");
        yield return Case("bench-he-values-zero", "--values must be in 1..", "bench", "he", "--values", "0");
        yield return Case("bench-he-runs-negative", "--runs must be in 1..1000", "bench", "he", "--runs", "-2");
        yield return Case("bench-he-colluders-overflow", "--colluders must be below --banks 3 (got 2147483647)", "bench", "he", "--banks", "3", "--colluders", "2147483647");
        yield return Case("bench-masking-one-bank", "--banks must be in 3..200", "bench", "masking", "--banks", "1");
        yield return Case("bench-masking-bits", "--bits must be in 1..64", "bench", "masking", "--bits", "65");
        yield return Case("bench-masking-values-negative", "--values must be in 1..", "bench", "masking", "--values", "-5");
        yield return Case("bench-masking-dropouts", "--dropouts 4 leaves 6 of 10 banks", "bench", "masking", "--dropouts", "4");
        yield return Case("bench-masking-threshold", "--threshold 12 is above --banks 10", "bench", "masking", "--threshold", "12");
        yield return Case("bench-ntt-runs-zero", "--runs must be in 1..1000000", "bench", "ntt", "--runs", "0");
    }

    private static string[] Bind(string[] args) => args.Select(a => a
        .Replace("@out", _out, StringComparison.Ordinal).Replace("@afile", _aFile, StringComparison.Ordinal).Replace("@ulb", _ulb, StringComparison.Ordinal)
        .Replace("@semi", _semicolons, StringComparison.Ordinal).Replace("@bad", _badCell, StringComparison.Ordinal)
        .Replace("@typo", _schemaTypo, StringComparison.Ordinal).Replace("@dir", _dir, StringComparison.Ordinal)).ToArray();

    /// <summary>An --out where nothing can be created names the user's own directory and the reason in words, never the hidden
    /// staging directory or probe file the check made (the trial saw "Could not find file '/proc/.forbidden.fraudfed-...'").</summary>
    [TestCase("/proc/forbidden", "/proc", "aggregator", "init", "--banks", "2")]
    [TestCase("/proc/fraudfed-test/out", "/proc", "simulate")]
    [Platform(Include = "Linux")]   // /proc takes no new entries, even from root
    public void UnwritableOut_NamesTheUsersDirectory_AndTheReason_NotTheProbe(string target, string directory, params string[] command)
    {
        var (code, stdout, stderr) = Run([.. command, "--out", target]);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain($"--out '{target}' cannot be written: nothing can be created in '{directory}' ("), stderr);
        Assert.That(stderr, Does.Not.Contain(".fraudfed").And.Not.Contain("Could not find"), "no hidden entry, no runtime wording about a file the user never named");
    }

    /// <summary>Every integer option of every command, given a number its type cannot hold, says its range in words: one
    /// shared rule (Infrastructure/IntegerOptions), not System.CommandLine's "cannot parse" text.</summary>
    [Test]
    public void EveryIntegerOption_OfEveryCommand_BeyondItsType_SaysItsRange_WithExitTwo()
    {
        var checkedOptions = new List<string>();
        void Walk(Command command, List<string> path)
        {
            foreach (Option option in command.Options)
            {
                Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
                if (type != typeof(int)) continue;
                var (code, stdout, stderr) = Run([.. path, option.Name, "99999999999"]);
                string where = string.Join(' ', path) + " " + option.Name;
                Assert.That(code, Is.EqualTo(2), where + ": " + stderr);
                Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), where);
                Assert.That(stderr, Does.Match($"^fraudfed {string.Join(' ', path)}: {option.Name} must be in -?\\d+\\.\\.\\d+ \\(got 99999999999\\)\\."), where);
                Assert.That(stdout, Is.Empty, where);
                checkedOptions.Add(where);
            }
            foreach (Command sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        foreach (Command command in Program.BuildRoot().Subcommands) Walk(command, [command.Name]);
        Assert.That(checkedOptions, Has.Count.GreaterThanOrEqualTo(28), string.Join(", ", checkedOptions));
    }

    /// <summary>Every number option of every command reads its value one way (Infrastructure/NumberOptions): a value with a blank
    /// before or after it, a thousands separator, NaN or an infinity is refused before the command runs, exit 2, in one line
    /// naming the option, the value and the form it takes (the trial's `--bank-timeout 1,5` ran as 15 s, `--banks= 3` as 3).</summary>
    [Test]
    public void EveryNumberOption_OfEveryCommand_RefusesBlanks_Separators_AndNonFiniteValues_WithExitTwo()
    {
        var checkedOptions = new List<string>();
        void Walk(Command command, List<string> path)
        {
            foreach (Option option in command.Options)
            {
                Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
                bool whole = type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(uint) || type == typeof(ulong);
                if (!whole && type != typeof(double) && type != typeof(float) && type != typeof(decimal)) continue;
                string where = string.Join(' ', path) + " " + option.Name;
                string[] values = whole ? [" 5", "5 ", "\t5", "1,000", "5.0"] : [" 5", "5 ", "1,5", "1,000", "NaN", "Infinity", "1e400"];
                foreach (string value in values)
                {
                    string[] args = [.. path, option.Name, value];
                    // Parsed first: a value taken would run the command (a benchmark, a live check).
                    Assert.That(Program.BuildRoot().Parse(args).Errors, Is.Not.Empty, $"{where} takes '{value}'");
                    var (code, stdout, stderr) = Run(args);
                    Assert.That(code, Is.EqualTo(2), $"{where} '{value}': {stderr}");
                    Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), where);
                    Assert.That(stderr, Does.StartWith($"fraudfed {string.Join(' ', path)}: {option.Name} must be {(whole ? "a whole number" : "a ")}")
                        .And.Contain($"(got '{value.Replace("\t", "\\t", StringComparison.Ordinal)}'"), $"{where} '{value}'");   // a tab shown escaped
                    if (!whole) Assert.That(stderr, Does.Contain("such as "), where + " says the form it takes");
                    Assert.That(stdout, Is.Empty, where);
                }
                checkedOptions.Add(where);
            }
            foreach (Command sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        foreach (Command command in Program.BuildRoot().Subcommands) Walk(command, [command.Name]);
        Assert.That(checkedOptions, Is.SupersetOf(new[] { "simulate --bank-timeout", "simulate --alpha", "simulate --banks", "bank sum --timeout", "bank sum --retry-budget",
            "bank train --timeout", "bank train --retry-budget", "conformance --fuzz-seconds", "conformance --stage-timeout" }), string.Join(", ", checkedOptions));
    }

    /// <summary>A number in the one form is read the same whatever the machine's culture: "1.5" is one and a half seconds under a
    /// culture whose decimal separator is a comma too, and a sign, an exponent and a leading point are fine.</summary>
    [TestCase("1.5", 1.5)]
    [TestCase("1e3", 1000.0)]
    [TestCase("+2", 2.0)]
    [TestCase(".5", 0.5)]
    [TestCase("86400.0", 86400.0)]
    public void ADecimalInTheOneForm_IsReadTheSame_UnderAnyCulture(string value, double expected)
    {
        System.Globalization.CultureInfo before = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            foreach (string culture in new[] { "de-DE", "fr-FR", "en-US" })
            {
                System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo(culture);
                ParseResult parse = Program.BuildRoot().Parse(["simulate", "--bank-timeout", value, "--seed", "-5", "--banks=3"]);
                Assert.That(parse.Errors, Is.Empty, culture + ": " + string.Join("; ", parse.Errors.Select(e => e.Message)));
                Assert.That(parse.GetValue<double>("--bank-timeout"), Is.EqualTo(expected), culture);
                Assert.That((parse.GetValue<int>("--seed"), parse.GetValue<int>("--banks")), Is.EqualTo((-5, 3)), culture);
            }
        }
        finally { System.Globalization.CultureInfo.CurrentCulture = before; }
    }

    /// <summary>Every option that takes one of a few values, given another, names the option, its values and the value given,
    /// like the commands' own checks (Infrastructure/ChoiceOptions), not System.CommandLine's "Argument 'tcp' not recognized"
    /// text; and no option of any command restricts its values without saying so.</summary>
    [Test]
    public void EveryOptionWithFewValues_OfEveryCommand_GivenAnother_NamesItsValues_WithExitTwo()
    {
        var checkedOptions = new List<string>();
        void Walk(Command command, List<string> path)
        {
            foreach (Option option in command.Options)
            {
                if (option.ValueType != typeof(string)) continue;
                string where = string.Join(' ', path) + " " + option.Name;
                // Parsed only (a string option that takes any value would otherwise run the command).
                if (Infrastructure.ChoiceOptions.Of(option) is not { } values)
                {
                    ParseResult parse = Program.BuildRoot().Parse([.. path, option.Name, "tcp"]);
                    Assert.That(parse.Errors.Select(e => e.Message), Has.None.Contains("not recognized"), where + " restricts its values without declaring them (OneOf)");
                    continue;
                }
                var (code, stdout, stderr) = Run([.. path, option.Name, "tcp"]);
                string words = values.Count == 2 ? $"{values[0]} or {values[1]}" : $"{string.Join(", ", values.Take(values.Count - 1))} or {values[^1]}";
                Assert.That(code, Is.EqualTo(2), where + ": " + stderr);
                Assert.That(stderr, Is.EqualTo($"fraudfed {string.Join(' ', path)}: {option.Name} must be {words} (got tcp).{Environment.NewLine}"), where);
                Assert.That(stdout, Is.Empty, where);
                checkedOptions.Add(where);
            }
            foreach (Command sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        foreach (Command command in Program.BuildRoot().Subcommands) Walk(command, [command.Name]);
        Assert.That(checkedOptions, Is.SupersetOf(new[] { "simulate --transport", "simulate --mode", "simulate --model", "aggregator init --mode", "bench round --mode" }),
            string.Join(", ", checkedOptions));
    }

    [TestCaseSource(nameof(Cases))]
    public void IsRefusedBeforeAnyWork_WithExitTwo_OneLine_NoStackTrace_NothingWritten(string[] args, string expected)
    {
        string[] before = Directory.GetFileSystemEntries(_dir).Order().ToArray();
        var (code, stdout, stderr) = Run(Bind(args));

        Assert.That(code, Is.EqualTo(2), stderr);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), "one line: " + stderr);
        Assert.That(lines[0], Does.StartWith(args[0] is "simulat" or "frobnicate" ? "fraudfed: " : $"fraudfed {args[0]}").And.Contain(expected));
        Assert.That(stderr, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "no stack trace, no exception type");
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.GetFileSystemEntries(_dir).Order(), Is.EqualTo(before), "nothing written: no output, no staging directory");
    }

    [Test]
    public void HelpWorksOnEveryCommandAndSubcommand()
    {
        var paths = new List<string[]>();
        void Walk(Command c, string[] path)
        {
            paths.Add(path);
            foreach (Command sub in c.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        Walk(Program.BuildRoot(), []);
        Assert.That(paths.Select(p => string.Join(' ', p)), Is.SupersetOf(new[] { "simulate", "bench masking", "bench he", "bench ntt", "vectors generate", "vectors check", "conformance" }));
        foreach (string[] path in paths)
        {
            var (code, stdout, stderr) = Run([.. path, "--help"]);
            Assert.That(code, Is.Zero, string.Join(' ', path) + ": " + stderr);
            Assert.That(stdout, Does.Contain("Usage:"), string.Join(' ', path));
        }
    }

    [Test]
    public void Help_AsACommand_IsHelpAsAnOption()
    {
        var root = Run("help");
        Assert.That(root.Code, Is.Zero, root.Stderr);
        Assert.That(root.Stdout, Is.EqualTo(Run("--help").Stdout).And.Contain("Usage:"));
        var bankSum = Run("help", "bank", "sum");
        Assert.That(bankSum.Code, Is.Zero, bankSum.Stderr);
        Assert.That(bankSum.Stdout, Is.EqualTo(Run("bank", "sum", "--help").Stdout).And.Contain("--values"));
    }

    [Test]
    public void TheRealExecutable_ExitsTwo_WithOneLine_ForAMissingFileAndABadCell()
    {
        string exe = Path.Combine(AppContext.BaseDirectory, "fraudfed.dll");
        foreach (string[] args in new[] { new[] { "simulate", "--csv", "missing.csv", "--schema", "ulb", "--out", _out }, ["simulate", "--csv", _badCell, "--schema", "ulb", "--out", _out] })
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add(exe);
            foreach (string a in args) start.ArgumentList.Add(a);
            using Process p = Process.Start(start)!;
            string stderr = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            Assert.That(p.WaitForExit(60_000), Is.True);
            Assert.That(p.ExitCode, Is.EqualTo(2), stderr);
            Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed simulate: ").And.Not.Contain("   at "));
            Assert.That(Directory.Exists(_out), Is.False);
        }
    }
}
