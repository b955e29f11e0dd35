// A fresh user's findings (session tfa): every one refused or shown the house way. Each test failed before its fix.
using System.CommandLine;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

/// <summary>Options with a declared range, an empty `--name=`, an option of another mode, terminal escapes in paths on
/// success lines, line breaks in quoted values, and advice that names only options the command has.</summary>
[TestFixture]
[NonParallelizable]   // sets FRAUDFED_FUZZ_SECONDS
public sealed class FreshUserTests
{
    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => HostileInputTests.Run(args);

    /// <summary>--stage-timeout and --fuzz-seconds take 0.001 (--stage-timeout 1) to 86400 seconds: anything else is exit 2 naming the option, the range
    /// and the value as typed, before any appliance starts (5000000 was "Specified argument was out of the range", 1e12 a
    /// TimeSpan overflow, both exit 1).</summary>
    [TestCase("--stage-timeout", "5000000")]
    [TestCase("--stage-timeout", "1e12")]
    [TestCase("--stage-timeout", "0")]
    [TestCase("--stage-timeout", "-1")]
    [TestCase("--fuzz-seconds", "1e12")]
    [TestCase("--fuzz-seconds", "0")]
    [TestCase("--fuzz-seconds", "-0")]
    [TestCase("--stage-timeout", "1e-9")]    // a zero TimeSpan: the runtime's "out of the range of valid values", exit 1
    [TestCase("--stage-timeout", "0.5")]     // under a loopback connect and handshake
    [TestCase("--fuzz-seconds", "1e-320")]
    public void ASecondsOptionOfTheLiveCheck_OutsideItsRange_IsRefusedNamingIt(string option, string value)
    {
        string min = option == "--stage-timeout" ? "1" : "0.001";
        var (code, stdout, stderr) = Run("conformance", "--self", option, value, "--skip-bank-checks");
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Is.EqualTo($"fraudfed conformance: {option} must be from {min} to 86400 seconds (got {value}).{Environment.NewLine}"));
        Assert.That(stdout, Is.Empty);
    }

    /// <summary>FRAUDFED_FUZZ_SECONDS=-0 is refused naming the variable (it said "--fuzz must be 0 or more mutants and
    /// --fuzz-seconds positive.", options not given).</summary>
    [TestCase("-0")]
    [TestCase("0")]
    [TestCase("1e-9")]
    public void FuzzSecondsVariable_NotPositive_IsRefusedNamingTheVariable(string value)
    {
        Environment.SetEnvironmentVariable("FRAUDFED_FUZZ_SECONDS", value);
        try
        {
            var (code, _, stderr) = Run("conformance", "--self", "--skip-bank-checks");
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed conformance: the environment variable FRAUDFED_FUZZ_SECONDS must be a number of seconds from 0.001 to 86400")
                .And.Contain($"(got '{value}')").And.Not.Contain("--fuzz "));
        }
        finally { Environment.SetEnvironmentVariable("FRAUDFED_FUZZ_SECONDS", null); }
    }

    /// <summary>--help says the range of both seconds options.</summary>
    [Test]
    public void ConformanceHelp_SaysTheSecondsRanges()
    {
        string help = Run("conformance", "--help").Stdout;
        string flat = System.Text.RegularExpressions.Regex.Replace(help, @"\s+", " ");   // help wraps its descriptions
        Assert.That(flat, Does.Contain("1 to 86400 (default 120)").And.Contain("0.001 to 86400 seconds"), help);
    }

    /// <summary>Every option of every command written `--name=` with nothing after the '=' (a shell's tokens for `--banks= 3`)
    /// is refused, exit 2, saying how to write it; `simulate --banks= 3` ran a 3-bank job.</summary>
    [Test]
    public void EveryOption_OfEveryCommand_WrittenWithAnEmptyValueAfterEquals_IsRefused()
    {
        var checkedOptions = new List<string>();
        void Walk(Command command, List<string> path)
        {
            foreach (Option option in command.Options)
            {
                if (option.Name is "--help" or "--version" || option.Hidden) continue;
                var (code, stdout, stderr) = Run([.. path, $"{option.Name}=", "3"]);
                string where = string.Join(' ', path) + " " + option.Name;
                Assert.That(code, Is.EqualTo(2), $"{where}: {stderr}");
                Assert.That(stderr, Is.EqualTo($"fraudfed {string.Join(' ', path)}: {option.Name}= has no value after '=': write {option.Name}=3 or {option.Name} 3.{Environment.NewLine}"), where);
                Assert.That(stdout, Is.Empty, where);
                checkedOptions.Add(where);
            }
            foreach (Command sub in command.Subcommands) Walk(sub, [.. path, sub.Name]);
        }
        foreach (Command command in Program.BuildRoot().Subcommands) Walk(command, [command.Name]);
        Assert.That(checkedOptions, Is.SupersetOf(new[] { "simulate --banks", "simulate --trees", "aggregator init --banks", "bench round --banks", "bank sum --values" }),
            string.Join(", ", checkedOptions));
    }

    /// <summary>The same at the end of the line, and after a value-less flag (the fix names a placeholder then).</summary>
    [Test]
    public void AnEmptyValueAfterEquals_AtTheEnd_IsRefusedWithAPlaceholder()
    {
        var (code, _, stderr) = Run("simulate", "--trees=");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.StartWith("fraudfed simulate: --trees= has no value after '=': write --trees=VALUE or --trees VALUE."));
    }

    /// <summary>bench round refuses --insecure-test-parameters with --mode masking, as aggregator init does (it ran, ignoring it).</summary>
    [Test]
    public void BenchRound_InsecureTestParameters_WithMasking_IsRefused()
    {
        var (code, stdout, stderr) = Run("bench", "round", "--mode", "masking", "--insecure-test-parameters", "--banks", "3", "--values", "10");
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.StartWith("fraudfed bench round: --insecure-test-parameters applies to --mode he only"));
        Assert.That(stdout, Is.Empty);
    }

    /// <summary>A line break inside a quoted value is the value's: shown \n or \r (it was a space); the message's own line
    /// breaks still join into one line, and an apostrophe does not start a quote.</summary>
    [Test]
    public void ErrorLine_ShowsALineBreakInAQuotedValueEscaped_AndJoinsTheMessagesOwnLines()
    {
        Assert.That(Infrastructure.ErrorLine.Of("column 2 of the header, 'amo\nunt', holds a control character (U+000A)."),
            Is.EqualTo(@"column 2 of the header, 'amo\nunt', holds a control character (U+000A)."));
        Assert.That(Infrastructure.ErrorLine.Of("a \"b\r\nc\" d"), Is.EqualTo(@"a ""b\r\nc"" d"));
        Assert.That(Infrastructure.ErrorLine.Of("the bank's run failed\nstderr: it's gone"), Is.EqualTo("the bank's run failed stderr: it's gone"));
        Assert.That(Infrastructure.ErrorLine.Of("first line \r\n second\n\nthird\n"), Is.EqualTo("first line second third"));
    }

    /// <summary>`aggregator init --out` with a control or invisible character in its path (ESC, a line break, a tab, a right-to-left
    /// override): the next steps it prints would show the path escaped (ErrorLine.Value), and an escaped path cannot be pasted,
    /// so init refuses it up front: exit 2, one line naming --out (escaped) and the fix, nothing created.</summary>
    /// <remarks>The cases give the name in C#'s escapes (Regex.Unescape), as a raw ESC in a test case's name keeps the test runner
    /// from running it at all.</remarks>
    [TestCase(@"k\u001b[31mx", @"k\x1b[31mx")]
    [TestCase(@"k\nx", @"k\nx")]
    [TestCase(@"k\tx", @"k\tx")]
    [TestCase(@"k\u202ex", @"k\u202ex")]
    public void AggregatorInit_RefusesAnOutPathWithAControlCharacter_BeforeCreatingAnything(string escapedName, string shown)
    {
        string name = System.Text.RegularExpressions.Regex.Unescape(escapedName);
        Assert.That(name.Count(c => char.IsControl(c) || c == '\u202e'), Is.EqualTo(1), "one control or invisible character");
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-fresh-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string kit = Path.Combine(dir, name);
            var (code, stdout, stderr) = Run("aggregator", "init", "--banks", "3", "--out", kit);
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That((stdout + stderr).IndexOfAny(['\u001b', '\u0007', '\t', '\u202e']), Is.EqualTo(-1), "no raw control character (NUnit's Contain ignores them)");
            Assert.That(stderr, Is.EqualTo($"fraudfed aggregator init: --out '{dir}/{shown}' contains control or invisible characters, so the commands init prints "
                + "could not be pasted; choose a path without control characters." + Environment.NewLine));
            Assert.That(stdout, Is.Empty);
            Assert.That(Directory.EnumerateFileSystemEntries(dir), Is.Empty, "nothing created: no kit, no staging directory");
            Assert.That(Infrastructure.ErrorLine.Value("g\u001b]0;pwned\u0007.csv"), Is.EqualTo(@"g\x1b]0;pwned\x07.csv"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A relative `aggregator init --out` inside a folder whose own path has a control character: the commands init
    /// prints name the kit by its full path, so it is refused as a control character in --out is (exit 2, nothing created).</summary>
    [Test]
    public void AggregatorInit_RefusesARelativeOutPath_WhenTheCurrentFoldersPathHasAControlCharacter()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-fresh-" + Guid.NewGuid().ToString("N"), "cw\u001b[31mred");
        Directory.CreateDirectory(dir);
        string before = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = dir;
            var (code, stdout, stderr) = Run("aggregator", "init", "--banks", "3", "--out", "kit");
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed aggregator init: the kit's full path '").And.Contain(@"cw\x1b[31mred/kit' contains control or invisible characters"));
            Assert.That((stdout + stderr).IndexOf('\u001b'), Is.EqualTo(-1), "no raw ESC");
            Assert.That(Directory.EnumerateFileSystemEntries(dir), Is.Empty, "nothing created");
        }
        finally
        {
            Environment.CurrentDirectory = before;
            Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true);
        }
    }

    /// <summary>simulate --csv with a terminal escape in its path: no raw ESC or BEL on stdout, stderr, report.html or
    /// summary.json; the path is shown escaped (it was echoed raw in "data:", "read ..." and "... rows of ...").</summary>
    [Test]
    public void Simulate_ShowsACsvPathWithAnEscape_Escaped_InEveryLineAndTheReport()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-fresh-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string csv = Path.Combine(dir, "g\u001b]0;pwned\u0007.csv");
            var random = new Random(1);
            using (var w = new StreamWriter(csv))
            {
                w.Write("time,amount,x,is_fraud\n");
                for (int i = 0; i < 3000; i++)
                {
                    int y = random.NextDouble() < 0.05 ? 1 : 0;
                    w.Write(FormattableString.Invariant($"{i},{random.NextDouble() * 100 + y * 50:0.00},{random.NextDouble():0.000},{y}\n"));
                }
            }
            string output = Path.Combine(dir, "out");
            var (code, stdout, stderr) = Run("simulate", "--csv", csv, "--label", "is_fraud", "--time", "time", "--transport", "inproc", "--banks", "3",
                "--trees", "2", "--mode", "masking", "--out", output);
            Assert.That(code, Is.EqualTo(0), stderr);
            foreach (string text in new[] { stdout, stderr, File.ReadAllText(Path.Combine(output, "report.html")), File.ReadAllText(Path.Combine(output, "summary.json")) })
                Assert.That(text.IndexOfAny(['\u001b', '\u0007']), Is.EqualTo(-1), "no raw ESC or BEL (NUnit's Contain ignores control characters)");
            Assert.That(stdout, Does.Contain(@"data: " + dir + @"/g\x1b]0;pwned\x07.csv"));
            Assert.That(stderr, Does.Contain(@"read " + dir + @"/g\x1b]0;pwned\x07.csv").And.Contain(@"rows of " + dir + @"/g\x1b]0;pwned\x07.csv"));
            Assert.That(File.ReadAllText(Path.Combine(output, "report.html")), Does.Contain(@"g\x1b]0;pwned\x07.csv"));
            // summary.json keeps the real path (its JSON escapes the control characters): a program reading it gets the file's name.
            Assert.That(File.ReadAllText(Path.Combine(output, "summary.json")), Does.Contain(@"g\u001B]0;pwned\u0007.csv"));
            static IEnumerable<string> Strings(System.Text.Json.JsonElement e) => e.ValueKind switch
            {
                System.Text.Json.JsonValueKind.String => [e.GetString()!],
                System.Text.Json.JsonValueKind.Object => e.EnumerateObject().SelectMany(p => Strings(p.Value)),
                System.Text.Json.JsonValueKind.Array => e.EnumerateArray().SelectMany(Strings),
                _ => [],
            };
            using var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "summary.json")));
            Assert.That(Strings(summary.RootElement), Has.Some.Contains(csv));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>bank train takes --id-columns, as simulate does (its id-column advice named an option it did not have), and
    /// bank sum echoes --timeout as typed and says a --values directory is one.</summary>
    [Test]
    public void BankTrain_HasIdColumns_AndBankSum_EchoesTimeoutAsTyped_AndNamesADirectory()
    {
        Assert.That(Program.BuildRoot().Subcommands.First(c => c.Name == "bank").Subcommands.First(c => c.Name == "train").Options.Select(o => o.Name), Does.Contain("--id-columns"));
        var (code, _, stderr) = Run("bank", "sum", "--config", "no-such.json", "--values", "v.txt", "--timeout", "99999999999999999999");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--timeout must be from 0.001 to 86400 seconds (got 99999999999999999999)."));
        Assert.That(() => FraudFed.Cli.Commands.BankCommands.ReadValues(Path.GetTempPath(), new FraudFed.Sdk.Configuration.FederationSettings()),
            Throws.TypeOf<Infrastructure.UsageException>().With.Message.Contains("is a directory; give a file."));
    }

    /// <summary>A column given two roles by the options alone (no --schema) is said as the options' conflict, without a
    /// "--schema custom" nobody typed (re-trial, session 20); with --schema the schema is named.</summary>
    [Test]
    public void AColumnWithTwoRoles_NamesOnlyWhatWasGiven()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-fresh-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string csv = Path.Combine(dir, "d.csv");
            File.WriteAllText(csv, "time,amount,is_fraud\n1,2.5,0\n2,3.5,1\n");
            var (code, _, stderr) = Run("simulate", "--csv", csv, "--label", "is_fraud", "--id-columns", "is_fraud", "--transport", "inproc", "--out", Path.Combine(dir, "o"));
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed simulate: the column options: ").And.Contain("is_fraud").And.Not.Contain("--schema"));
            (code, _, stderr) = Run("simulate", "--csv", csv, "--schema", "ulb", "--label", "is_fraud", "--id-columns", "is_fraud", "--transport", "inproc", "--out", Path.Combine(dir, "o"));
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.StartWith("fraudfed simulate: --schema ulb with the column options: "));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
