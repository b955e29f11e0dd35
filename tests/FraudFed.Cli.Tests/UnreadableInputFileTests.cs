// An input file this user may not read (--values, --data/--csv, --schema, --category-key, bank.json or aggregator.json itself),
// one under a folder this user may not enter, a folder given for bank.json, and a state folder this user may not write: each
// is exit 2 with one line in our words, never the framework's "Access to the path '...' is denied." (the trial: exit 1 for
// --values, the raw text after "cannot be read:" for the others).
using System.Diagnostics;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnreadableInputFileTests
{
    private const string Fix = "cannot be read (permission denied): run as a user that may read it, or fix its permissions.";
    private string _dir = "";
    private static readonly bool Root = Environment.UserName == "root";

    [SetUp]
    public void MakeDirectory()
    {
        _dir = Directory.CreateTempSubdirectory("fraudfed-unreadable-input-").FullName;
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
    }

    [TearDown]
    public void RemoveDirectory()
    {
        foreach (string d in Directory.EnumerateDirectories(_dir, "*", SearchOption.AllDirectories).Append(_dir))
            File.SetUnixFileMode(d, (UnixFileMode)0b111_101_101);
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>As root, the file is root's 0600 and fraudfed runs as nobody; else the file is mode 000.</summary>
    private static void MakeUnreadable(string path) =>
        File.SetUnixFileMode(path, Root ? UnixFileMode.UserRead | UnixFileMode.UserWrite : UnixFileMode.None);

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) =>
        Root ? UnreadableConfigFileTests.RunAsNobody(args) : HostileInputTests.Run(args);

    /// <summary>A kit that nobody may read (and write) when the test runs as root.</summary>
    private string Kit()
    {
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        if (Root) Chown(kit);
        return kit;
    }

    private static void Chown(string path)
    {
        using Process p = Process.Start("chown", ["-R", "nobody:nogroup", path])!;
        Assert.That(p.WaitForExit(30_000) && p.ExitCode == 0, Is.True, "chown");
    }

    private string Csv(string name)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, "amount,time,is_fraud\n1,1,0\n2,2,1\n");
        return path;
    }

    [Test]
    public void AnUnreadableValuesFile_IsExit2_InOurWords()
    {
        string kit = Kit(), bankJson = Path.Combine(kit, "banks", "bank-0", "bank.json");
        string values = Path.Combine(_dir, "v.txt");
        File.WriteAllText(values, "1\n2\n");
        MakeUnreadable(values);
        var r = Run("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3");
        Assert.That(r.Code, Is.EqualTo(2), r.Stderr);
        Assert.That(r.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank sum: --values '{values}' {Fix}"));
    }

    [Test]
    public void UnreadableCsvSchemaAndKeyFiles_AreExit2_InOurWords()
    {
        string data = Csv("d.csv");
        MakeUnreadable(data);
        var csv = Run("simulate", "--csv", data, "--label", "is_fraud");
        Assert.That(csv.Code, Is.EqualTo(2), csv.Stderr);
        Assert.That(csv.Stderr.TrimEnd(), Is.EqualTo($"fraudfed simulate: --csv '{data}' {Fix}"));

        string kit = Kit(), bankJson = Path.Combine(kit, "banks", "bank-0", "bank.json");
        var train = Run("bank", "train", "--config", bankJson, "--data", data, "--label", "is_fraud", "--out", Path.Combine(_dir, "model.json"));
        Assert.That(train.Code, Is.EqualTo(2), train.Stderr);
        Assert.That(train.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank train: --data '{data}' {Fix}"));

        string readable = Csv("r.csv"), schema = Path.Combine(_dir, "s.json"), key = Path.Combine(_dir, "k.hex");
        File.WriteAllText(schema, "{\"label\": \"is_fraud\"}");
        File.WriteAllText(key, new string('a', 64));
        MakeUnreadable(schema);
        MakeUnreadable(key);
        var s = Run("simulate", "--csv", readable, "--schema", schema);
        Assert.That(s.Code, Is.EqualTo(2), s.Stderr);
        Assert.That(s.Stderr.TrimEnd(), Is.EqualTo($"fraudfed simulate: --schema '{schema}' {Fix}"));
        var k = Run("simulate", "--csv", readable, "--label", "is_fraud", "--categorical", "time", "--category-key", key);
        Assert.That(k.Code, Is.EqualTo(2), k.Stderr);
        Assert.That(k.Stderr.TrimEnd(), Is.EqualTo($"fraudfed simulate: --category-key '{key}' {Fix}"));
    }

    [Test]
    public void AFileUnderAFolderThisUserMayNotEnter_CannotBeReached_NotMissing()
    {
        string closed = Path.Combine(_dir, "closed");
        Directory.CreateDirectory(closed);
        string data = Path.Combine(closed, "d.csv");
        File.WriteAllText(data, "amount,time,is_fraud\n1,1,0\n");
        File.SetUnixFileMode(closed, Root ? (UnixFileMode)0b111_000_000 : UnixFileMode.None);
        var r = Run("simulate", "--csv", data, "--label", "is_fraud");
        Assert.That(r.Code, Is.EqualTo(2), r.Stderr);
        Assert.That(r.Stderr.TrimEnd(), Is.EqualTo($"fraudfed simulate: --csv '{data}' cannot be reached (permission denied on the folder '{closed}' on the way): "
            + "run as a user that may enter it, or fix the folder's permissions."));
        string values = Path.Combine(_dir, "v.txt");
        File.WriteAllText(values, "1\n");
        var c = Run("bank", "sum", "--config", Path.Combine(closed, "bank.json"), "--values", values);
        Assert.That(c.Code, Is.EqualTo(2), c.Stderr);
        Assert.That(c.Stderr, Does.Contain("cannot be reached (permission denied on the folder").And.Not.Contain("no such file"));
    }

    [Test]
    public void UnreadableConfigFilesAFolderForBankJsonAndAnUnwritableStateFolder_AreExit2_InOurWords()
    {
        string kit = Kit(), values = Path.Combine(_dir, "v.txt");
        File.WriteAllText(values, "1\n");
        string bankDir = Path.Combine(kit, "banks", "bank-2");
        var folder = Run("bank", "sum", "--config", bankDir, "--values", values, "--timeout", "3");
        Assert.That(folder.Code, Is.EqualTo(2), folder.Stderr);
        Assert.That(folder.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank sum: '{bankDir}' is a folder; give its bank.json."));

        string bankJson = Path.Combine(bankDir, "bank.json"), aggregatorJson = Path.Combine(kit, "aggregator.json");
        if (Root) { Chown(_dir); Chown(kit); }
        string state = Path.Combine(kit, "state");
        Directory.CreateDirectory(state);
        if (Root) File.SetUnixFileMode(state, (UnixFileMode)0b111_101_101);
        else File.SetUnixFileMode(state, (UnixFileMode)0b101_101_101);
        if (Root)
        {
            // root's own state folder and bank.json (0600), the rest nobody's.
            using Process chown = Process.Start("chown", ["root:root", bankJson, state])!;
            chown.WaitForExit(30_000);
        }
        var serve = Run("aggregator", "serve", "--config", aggregatorJson);
        Assert.That(serve.Code, Is.EqualTo(2), serve.Stderr);
        Assert.That(serve.Stderr.TrimEnd(), Does.StartWith($"fraudfed aggregator serve: state '{Path.Combine(state, "aggregator.db")}' cannot be created (permission denied): "
            + $"point state in {aggregatorJson} at a folder this user may write, or fix its permissions"));

        MakeUnreadable(bankJson);
        var unreadable = Run("bank", "sum", "--config", bankJson, "--values", values, "--timeout", "3");
        Assert.That(unreadable.Code, Is.EqualTo(2), unreadable.Stderr);
        Assert.That(unreadable.Stderr.TrimEnd(), Is.EqualTo($"fraudfed bank sum: '{bankJson}' {Fix}"));
        if (Root)
        {
            using Process chown = Process.Start("chown", ["root:root", aggregatorJson])!;
            chown.WaitForExit(30_000);
        }
        MakeUnreadable(aggregatorJson);
        var agg = Run("aggregator", "serve", "--config", aggregatorJson);
        Assert.That(agg.Code, Is.EqualTo(2), agg.Stderr);
        Assert.That(agg.Stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator serve: '{aggregatorJson}' {Fix}"));
    }
}
