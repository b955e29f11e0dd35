// A file bank.json or aggregator.json names that exists but cannot be read (another user's 0600 key, an unreadable special
// file) is a configuration error like a missing one: exit 2, one line naming the file and the setting and what to do, never
// the framework's "Access to the path ... is denied." (the trial: `bank sum` as nobody on root's kit, exit 1).
using System.Diagnostics;
using System.Net.Sockets;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnreadableConfigFileTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fraudfed-unreadable-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    /// <summary>A key file of mode 000 (root: another user's 0600 key, run as nobody, since a chmod does not stop root's reads):
    /// `bank sum` and `aggregator serve` exit 2 naming the file, the setting and the fix.</summary>
    [Test]
    public void AKeyFileThisUserCannotRead_IsExit2_NamingTheFileAndTheSetting()
    {
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string values = Path.Combine(_dir, "v0.txt");
        File.WriteAllText(values, "1\n2\n");
        string bankKey = Path.Combine(kit, "banks", "bank-0", "client.key.pem"), serverKey = Path.Combine(kit, "server.key.pem");
        string bankJson = Path.Combine(kit, "banks", "bank-0", "bank.json"), aggregatorJson = Path.Combine(kit, "aggregator.json");
        bool root = Environment.UserName == "root";
        if (root)
        {
            // Everything readable by nobody but the two keys (0600, owned by root).
            foreach (string entry in Directory.EnumerateFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Append(_dir))
                File.SetUnixFileMode(entry, Directory.Exists(entry) ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100);
            File.SetUnixFileMode(bankKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetUnixFileMode(serverKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            // The seeds nobody must read stay private (0600, a group- or world-readable key is refused): nobody's own.
            GiveToNobody(Path.Combine(kit, "banks", "bank-0", "protocol.ed25519"));
            GiveToNobody(Path.Combine(kit, "aggregator.ed25519"));
        }
        else
        {
            File.SetUnixFileMode(bankKey, UnixFileMode.None);
            File.SetUnixFileMode(serverKey, UnixFileMode.None);
        }

        var sum = root ? RunAsNobody("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3")
            : HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3");
        Assert.That(sum.Code, Is.EqualTo(2), sum.Stderr);
        Assert.That(sum.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank sum: {bankKey}: the key file (the 'key' setting of {bankJson}) cannot be read "
            + "(permission denied): run as the user that owns it or fix its permissions."));

        // With the key readable, the next file bank.json names that this user cannot read: the state key (0600, root's or 000).
        string stateKey = Path.Combine(kit, "banks", "bank-0", "state.key");
        Assert.That(File.Exists(stateKey) && ConfigJson.Load<FraudFed.Sdk.Configuration.BankConfig>(bankJson).StateKeyFile == "state.key", "init writes a state key");
        if (root) GiveToNobody(bankKey);
        else File.SetUnixFileMode(bankKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(stateKey, root ? UnixFileMode.UserRead | UnixFileMode.UserWrite : UnixFileMode.None);
        var state = root ? RunAsNobody("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3")
            : HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3");
        Assert.That(state.Code, Is.EqualTo(2), state.Stderr);
        Assert.That(state.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank sum: {stateKey}: the state key file (the 'state_key_file' setting of {bankJson}) cannot be read "
            + "(permission denied): run as the user that owns it or fix its permissions."));

        var serve = root ? RunAsNobody("aggregator", "serve", "--config", aggregatorJson) : HostileInputTests.Run("aggregator", "serve", "--config", aggregatorJson);
        Assert.That(serve.Code, Is.EqualTo(2), serve.Stderr);
        Assert.That(serve.Stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator serve: {serverKey}: the key file (the 'key' setting of {aggregatorJson}) cannot be read "
            + "(permission denied): run as the user that owns it or fix its permissions."));
        Assert.That(Directory.Exists(Path.Combine(kit, "state")), Is.False, "refused before the state");
    }

    /// <summary>A file that exists but cannot be opened even by root (a Unix socket in place of the CA file): the same kind of
    /// configuration error, in the loader's words, naming the setting.</summary>
    [Test]
    public void AFileThatCannotBeOpenedAtAll_IsAConfigurationError_NamingTheSetting()
    {
        string config = Path.Combine(_dir, "bank.json"), socketPath = Path.Combine(_dir, "ca.crt.pem");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));
        var e = Assert.Throws<ConfigurationException>(() => ConfigJson.ExistingFile(config, "ca", "ca.crt.pem", "CA certificate"))!;
        Assert.That(e.Message, Is.EqualTo($"{socketPath}: the CA certificate file (the 'ca' setting of {config}) cannot be read (an input/output error): "
            + "check the file and its disk, or restore it from a copy."));
    }

    /// <summary>A private key file that its group or others may read or write (a world-readable TLS client key, the appliance's
    /// server key, a protocol or aggregator seed, the state key): `bank sum` and `aggregator serve` exit 2 naming the file, the
    /// setting and `chmod 600 FILE`, before any work (the trial: only the state key was checked).</summary>
    [TestCase("bank", "key", "banks/bank-0/client.key.pem", "key", 0b110_100_100)]
    [TestCase("bank", "protocol_key", "banks/bank-0/protocol.ed25519", "protocol key", 0b110_000_100)]
    [TestCase("bank", "state_key_file", "banks/bank-0/state.key", "state key", 0b110_110_000)]
    [TestCase("aggregator", "key", "server.key.pem", "key", 0b110_100_000)]
    [TestCase("aggregator", "aggregator_key", "aggregator.ed25519", "aggregator key", 0b110_000_010)]
    public void APrivateKeyFileGroupOrOthersMayUse_IsExit2_NamingTheFileTheSettingAndChmod(string who, string setting, string relative, string what, int mode)
    {
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string file = Path.Combine(kit, relative);
        File.SetUnixFileMode(file, (UnixFileMode)mode);
        string values = Path.Combine(_dir, "v0.txt");
        File.WriteAllText(values, "1\n2\n");
        string config = who == "bank" ? Path.Combine(kit, "banks", "bank-0", "bank.json") : Path.Combine(kit, "aggregator.json");
        var running = Task.Run(() => who == "bank"
            ? HostileInputTests.Run("bank", "sum", "--config", config, "--values", values, "--timeout", "3")
            : HostileInputTests.Run("aggregator", "serve", "--config", config));
        Assert.That(running.Wait(TimeSpan.FromSeconds(60)), Is.True, "the configuration should have been refused, not served");
        var run = running.Result;
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        Assert.That(run.Stderr.TrimEnd(), Is.EqualTo($"fraudfed {(who == "bank" ? "bank sum" : "aggregator serve")}: {file}: the {what} file (the '{setting}' setting "
            + $"of {config}) is readable or writable by group or others; chmod 600 {file}."));
        Assert.That(run.Stdout, Is.Empty);
        Assert.That(Directory.Exists(Path.Combine(kit, "state")), Is.False, "refused before the appliance's state");
        Assert.That(Directory.EnumerateFileSystemEntries(Path.Combine(kit, "banks", "bank-0", "state")), Is.Empty, "refused before the bank's state");

        // chmod 600, as the message says: the configuration loads.
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        if (who == "bank") BankConfig.Load(config).Dispose();
        else FraudFed.Aggregator.Hosting.AggregatorConfig.Load(config).Dispose();
    }

    /// <summary>Makes <paramref name="path"/> nobody's, mode 0600 (a test that runs as root reading as nobody).</summary>
    private static void GiveToNobody(string path)
    {
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using Process chown = Process.Start("chown", ["nobody", path])!;
        Assert.That(chown.WaitForExit(30_000) && chown.ExitCode == 0, Is.True, $"chown nobody {path}");
    }

    /// <summary>Runs the built fraudfed as nobody (setpriv), from /, for a test that runs as root, whom file modes do not stop.</summary>
    internal static (int Code, string Stdout, string Stderr) RunAsNobody(params string[] args)
    {
        var start = new ProcessStartInfo("setpriv") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = "/" };
        foreach (string a in new[] { "--reuid=nobody", "--regid=nogroup", "--clear-groups", "dotnet", Path.Combine(AppContext.BaseDirectory, "fraudfed.dll") }.Concat(args))
            start.ArgumentList.Add(a);
        start.Environment["HOME"] = "/tmp";
        start.Environment["DOTNET_CLI_HOME"] = "/tmp";
        using Process p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.That(p.WaitForExit(60_000), Is.True);
        return (p.ExitCode, stdout.Result, stderr);
    }
}
