// The native bank program (native/fraudfed-bank beside the CLI, built ahead of time from the CLI's bank command files on
// Linux x64): simulate's bank processes run it, so it must behave as `fraudfed bank ...` does. Its trained models are
// compared bit for bit with the plain-sum training by every simulate-over-gRPC test; here, its refusals: the same exit code
// and the same one line as the CLI for each bad input, the configuration-file messages included (those read the records'
// properties, which the trimmed native program must keep), and which program simulate starts.
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[NonParallelizable]   // sets FRAUDFED_NATIVE_BANK for one test
public sealed class NativeBankProgramTests
{
    private static readonly string Native = Path.Combine(AppContext.BaseDirectory, "native", "fraudfed-bank");
    /// <summary>Whether the build makes the program here: Linux x64 with gcc (its linker) on PATH; else the build warns and makes none.</summary>
    private static bool Built => OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64
        && (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "gcc")));
    private string _dir = "";

    [OneTimeSetUp]
    public void MakeKit()
    {
        _dir = Directory.CreateTempSubdirectory("fraudfed-native-bank-").FullName;
        DevelopmentProvisioning.Write(Path.Combine(_dir, "kit"), new ProvisioningOptions { Banks = 3, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = null, InsecureTestParameters = true });
        File.WriteAllText(Path.Combine(_dir, "data.csv"), "a,b,label\n1,2,0\n3,4,1\n");
    }

    [OneTimeTearDown]
    public void RemoveKit() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void TheBuild_PutsTheProgramBesideTheCli_OnLinuxX64()
    {
        Assert.That(File.Exists(Native), Is.EqualTo(Built), Native);
        Assert.That(SelfCommand.NativeBank(), Is.EqualTo(Built ? Native : null));
    }

    [Test]
    public void BankStartInfo_StartsTheNativeProgram_UnlessTurnedOff()
    {
        string[] args = ["bank", "train", "--config", "bank.json"];
        ProcessStartInfo preferred = SelfCommand.BankStartInfo(args, out bool native);
        Assert.That(native, Is.EqualTo(Built));
        if (Built)
        {
            Assert.That(preferred.FileName, Is.EqualTo(Native));
            Assert.That(preferred.ArgumentList, Is.EqualTo(args[1..]), "fraudfed-bank train: the bank commands sit at its root");
        }
        Environment.SetEnvironmentVariable(SelfCommand.NativeBankVariable, "0");
        try
        {
            ProcessStartInfo cli = SelfCommand.BankStartInfo(args, out bool off);
            Assert.That(off, Is.False);
            Assert.That(cli.FileName, Is.Not.EqualTo(Native));
            Assert.That(cli.ArgumentList.TakeLast(args.Length), Is.EqualTo(args), "the CLI runs the same command");
        }
        finally { Environment.SetEnvironmentVariable(SelfCommand.NativeBankVariable, null); }
        Assert.Throws<ArgumentException>(() => SelfCommand.BankStartInfo(["simulate"], out _));
    }

    [TestCase("0", false)]
    [TestCase("false", false)]
    [TestCase(" No ", false)]
    [TestCase("OFF", false)]
    [TestCase("1", true)]
    [TestCase("True", true)]
    [TestCase("yes\n", true)]
    [TestCase(" on", true)]
    [TestCase(null, null)]
    [TestCase("", null)]
    [TestCase("  ", null)]
    public void NativeBankVariable_AcceptsTheUsualWordsForOnAndOff(string? value, bool? choice)
    {
        Assert.That(SelfCommand.NativeBankChoice(value), Is.EqualTo(choice));
        string missing = Path.Combine(_dir, "no-such-program");
        if (choice == false) Assert.That(SelfCommand.NativeBank(value, Native), Is.Null, "off: the CLI's own bank processes even where the program is");
        if (choice is null) Assert.That(SelfCommand.NativeBank(value, missing), Is.Null, "unset: the CLI's own when there is no program");
    }

    [TestCase("2")]
    [TestCase("maybe")]
    [TestCase("y")]
    [TestCase("enabled")]
    public void NativeBankVariable_OtherValues_AreAUsageError_NamingTheVariableItsValueAndTheAcceptedValues(string value)
    {
        var e = Assert.Throws<UsageException>(() => SelfCommand.NativeBankChoice(value))!;
        Assert.That(e.Message, Does.StartWith($"FRAUDFED_NATIVE_BANK='{value}' is not understood")
            .And.Contain("1, true, yes or on").And.Contain("0, false, no or off").And.Contain("unset"));
    }

    [TestCase("1")]
    [TestCase("TRUE")]
    public void NativeBankVariable_On_WithoutTheProgram_IsAUsageError_SayingHowToGetOne(string value)
    {
        string missing = Path.Combine(_dir, "no-such-program");
        var e = Assert.Throws<UsageException>(() => SelfCommand.NativeBank(value, missing))!;
        Assert.That(e.Message, Does.StartWith($"FRAUDFED_NATIVE_BANK={value} asks for the native bank program")
            .And.Contain(missing).And.Contain("gcc").And.Contain("dotnet build").And.Contain("set it to 0"));
        File.WriteAllText(missing, "");
        try { Assert.That(SelfCommand.NativeBank(value, missing), Is.EqualTo(missing)); }
        finally { File.Delete(missing); }
    }

    [Test]
    public void Simulate_WithAValueItCannotFollow_ExitsTwoBeforeAnyWork_InOneLine()
    {
        string output = Path.Combine(_dir, "out-variable");
        Environment.SetEnvironmentVariable(SelfCommand.NativeBankVariable, "sometimes\nmaybe");
        try
        {
            var (code, stdout, stderr) = HostileInputTests.Run("simulate", "--banks", "3", "--transactions", "6000", "--trees", "1", "--out", output);
            Assert.That(code, Is.EqualTo(2), stderr);
            Assert.That(stderr, Is.EqualTo("fraudfed simulate: FRAUDFED_NATIVE_BANK='sometimes\\nmaybe' is not understood: set it to 1, true, yes or on (the native bank program), " +
                "to 0, false, no or off (the CLI's own bank processes), or leave it unset (the native program when the build made one).\n").Or.EqualTo(
                "fraudfed simulate: FRAUDFED_NATIVE_BANK='sometimes\\nmaybe' is not understood: set it to 1, true, yes or on (the native bank program), " +
                "to 0, false, no or off (the CLI's own bank processes), or leave it unset (the native program when the build made one).\r\n"));
            Assert.That(stderr.TrimEnd('\r', '\n').Any(char.IsControl), Is.False, "the value's line break does not reach the terminal");
            Assert.That(stdout, Is.Empty);
            Assert.That(Directory.Exists(output), Is.False, "nothing written");
            // --transport inproc starts no bank process: the variable is not read.
            var inproc = HostileInputTests.Run("simulate", "--banks", "3", "--transactions", "6000", "--trees", "1", "--transport", "inproc", "--out", output);
            Assert.That(inproc.Code, Is.Zero, inproc.Stderr);
        }
        finally { Environment.SetEnvironmentVariable(SelfCommand.NativeBankVariable, null); }
    }

    [Test]
    public void BankProgramSetting_NamesTheProgramOfAGrpcRun_AndIsAbsentInProcess()
    {
        Assert.That(SimulateCommand.BankProgramSetting("grpc", Native).Select(x => (x.Key, x.Value)), Is.EqualTo(new[] { ("bank_program", (object)"native") }));
        Assert.That(SimulateCommand.BankProgramSetting("grpc", null).Select(x => (x.Key, x.Value)), Is.EqualTo(new[] { ("bank_program", (object)"dotnet") }));
        Assert.That(SimulateCommand.BankProgramSetting("inproc", null), Is.Empty);
    }

    /// <summary>A copy of bank 0's bank.json with <paramref name="edit"/> applied to its JSON text.</summary>
    private string BankJson(string name, Func<string, string> edit)
    {
        string source = Path.Combine(_dir, "kit", "banks", "bank-0", "bank.json");
        string path = Path.Combine(Path.GetDirectoryName(source)!, name);
        string text = File.ReadAllText(source), edited = edit(text);
        Assert.That(edited, Is.Not.EqualTo(text), $"{name}: the edit changed bank.json");
        File.WriteAllText(path, edited);
        return path;
    }

    private static IEnumerable<string> Cases() =>
        ["missing-config", "not-json", "unknown-setting", "out-of-range", "wrong-type", "bad-federation", "missing-data", "unknown-option", "no-out"];

    [TestCaseSource(nameof(Cases))]
    public void Refusals_AreTheCliRefusals(string name)
    {
        if (!Built) { Assert.That(File.Exists(Native), Is.False); return; }
        string config = name switch
        {
            "missing-config" => Path.Combine(_dir, "none.json"),
            "not-json" => BankJson("not-json.json", t => t[..(t.Length / 2)]),
            "unknown-setting" => BankJson("unknown.json", t => t.Replace("\"max_message_bytes\"", "\"max_mesage_bytes\"", StringComparison.Ordinal)),
            "out-of-range" => BankJson("range.json", t => SetMaxMessageBytes(t, "12")),
            "wrong-type" => BankJson("type.json", t => SetMaxMessageBytes(t, "\"big\"")),
            "bad-federation" => BankJson("federation.json", t => t.Replace("\"threshold\": 3", "\"threshold\": 9", StringComparison.Ordinal)),
            _ => Path.Combine(_dir, "kit", "banks", "bank-0", "bank.json"),
        };
        List<string> args = ["bank", "train", "--config", config, "--data", name == "missing-data" ? Path.Combine(_dir, "none.csv") : Path.Combine(_dir, "data.csv"), "--label", "label", "--timeout", "20"];
        if (name != "no-out") args.AddRange(["--out", Path.Combine(_dir, "out-" + name)]);
        if (name == "unknown-option") args.Add("--trees");

        var (cliCode, _, cliErr) = HostileInputTests.Run([.. args]);
        var (code, _, stderr) = RunNative([.. args.Skip(1)]);   // fraudfed-bank train ...

        Assert.That(cliCode, Is.EqualTo(2), cliErr);
        Assert.That(cliErr, Does.StartWith("fraudfed bank train: "));
        Assert.That(code, Is.EqualTo(cliCode), stderr);
        Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.StartWith("fraudfed-bank train: ").And.Not.Contain("   at "), "named as it is invoked");
        Assert.That(stderr, Does.Not.Contain("fraudfed bank"), "the same name in its usage hints");
        Assert.That(stderr.Replace("fraudfed-bank ", "fraudfed bank ", StringComparison.Ordinal), Is.EqualTo(cliErr),
            "the same one line after the program's name");
        if (name == "bad-federation") Assert.That(stderr, Does.Contain("federation.masking.threshold = 9 is out of range"), "the setting and its value, read from the record");
        if (name == "out-of-range") Assert.That(stderr, Does.Contain("max_message_bytes"));
        Assert.That(Directory.Exists(Path.Combine(_dir, "out-" + name)), Is.False, "nothing written");
    }

    [Test]
    public void Help_NamesTheProgramAsInvoked_AndSaysOnceWhatItIs()
    {
        if (!Built) { Assert.That(File.Exists(Native), Is.False); return; }
        var (code, stdout, stderr) = RunNative(["--help"]);
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("fraudfed-bank [command] [options]"));
        Assert.That(stdout, Does.Contain("the `fraudfed bank` commands compiled ahead of time").And.Contain("same options, same exit codes"));
        Assert.That(stdout.Split("compiled ahead of time").Length - 1, Is.EqualTo(1), "said once");
        Assert.That(stdout, Does.Match(@"\n\s+sum\s").And.Match(@"\n\s+train\s"), "sum and train at its root");

        (code, stdout, stderr) = RunNative(["train", "--help"]);
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("fraudfed-bank train [options]").And.Contain("--config"));
        Assert.That(stdout, Does.Not.Contain("compiled ahead of time"), "said once, in the program's own help");
    }

    [TestCase(new string[0], "fraudfed-bank: a command is needed after 'fraudfed-bank'; use 'sum' or 'train' (fraudfed-bank --help).")]
    [TestCase(new[] { "trian" }, "fraudfed-bank: unknown command 'trian'; did you mean 'train'? (fraudfed-bank --help)")]
    [TestCase(new[] { "train", "--values", "3" }, "fraudfed-bank train: unknown option '--values'; --values is an option of 'fraudfed-bank sum', not of 'fraudfed-bank train' (fraudfed-bank train --help).")]
    [TestCase(new[] { "bank", "train" }, "fraudfed-bank train: unexpected argument 'bank': fraudfed-bank train takes options only, each written --name value or --name=value (fraudfed-bank train --help).")]
    public void UsageErrors_NameTheProgramAsInvoked(string[] args, string expected)
    {
        if (!Built) { Assert.That(File.Exists(Native), Is.False); return; }
        var (code, _, stderr) = RunNative(args);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd('\n'), Is.EqualTo(expected));
    }

    /// <summary>Runs the native program with <paramref name="args"/>, stdin closed: exit code, stdout, stderr.</summary>
    private static (int Code, string Stdout, string Stderr) RunNative(string[] args)
    {
        var start = new ProcessStartInfo(Native) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process p = Process.Start(start)!;
        p.StandardInput.Close();
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True, "the native program ended");
        return (p.ExitCode, stdout.Result, stderr);
    }

    private static string SetMaxMessageBytes(string json, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node["max_message_bytes"] = System.Text.Json.Nodes.JsonNode.Parse(value);
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
