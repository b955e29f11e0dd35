using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

/// <summary>Outputs appear whole or not at all: staged next to --out and moved into place only when a run succeeds.</summary>
[TestFixture]
public sealed class OutputStagingTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "fraudfed-stage-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string[] Entries() => Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(_dir, p)).Order().ToArray();

    /// <summary>A stderr writer that cancels the run as soon as the federated training reports a tree.</summary>
    private sealed class CancelOnTraining(CancellationTokenSource cts) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.Contains("federated   tree", StringComparison.Ordinal) == true) cts.Cancel();
        }
    }

    private void EarlierRun(string target)
    {
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "summary.json"), "earlier");
        File.WriteAllText(Path.Combine(target, "report.html"), "earlier");
        File.WriteAllText(Path.Combine(target, "model.txt"), "earlier");
        File.WriteAllText(Path.Combine(target, "notes.txt"), "the user's own file");
    }

    [Test]
    public void AnInterruptedRun_LeavesTheEarlierOutputsUntouched_AndNoStagingDirectory()
    {
        string target = Path.Combine(_dir, "out");
        EarlierRun(target);
        using var cts = new CancellationTokenSource();
        var stderr = new CancelOnTraining(cts);
        int code = SimulateCommand.Run(new SimulateCommand.SimulateSettings(3, "masking", "gbdt", 6000, 7, target, null, Json: true, Trees: 50, Transport: "inproc"), new StringWriter(), stderr, cts.Token);

        Assert.That(cts.IsCancellationRequested, Is.True, "the run was interrupted during training");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.ToString(), Does.Contain("fraudfed simulate: cancelled."));
        Assert.That(Entries(), Is.EqualTo(new[] { "out", "out/model.txt", "out/notes.txt", "out/report.html", "out/summary.json" }));
        Assert.That(Directory.GetFiles(target).Select(File.ReadAllText), Has.All.EqualTo("earlier").Or.EqualTo("the user's own file"));
    }

    [Test]
    public void AnInterruptedRunIntoANewDirectory_LeavesNothing_EvenTheParentsItCreated()
    {
        string target = Path.Combine(_dir, "a", "b", "out");
        using var cts = new CancellationTokenSource();
        int code = SimulateCommand.Run(new SimulateCommand.SimulateSettings(3, "masking", "gbdt", 6000, 7, target, null, Json: false, Trees: 50, Transport: "inproc"),
            new StringWriter(), new CancelOnTraining(cts), cts.Token);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(Entries(), Is.Empty);
    }

    [Test]
    public void ASuccessfulRun_ReplacesItsOwnFiles_RemovesAStaleModel_AndKeepsTheUsersFiles()
    {
        string target = Path.Combine(_dir, "out");
        EarlierRun(target);
        int code = SimulateCommand.Run(new SimulateCommand.SimulateSettings(3, "masking", "logistic", 6000, 7, target, null, Json: false, Rounds: 2, Transport: "inproc"),
            new StringWriter(), new StringWriter(), CancellationToken.None);
        Assert.That(code, Is.Zero);
        Assert.That(Entries(), Is.EqualTo(new[] { "out", "out/notes.txt", "out/report.html", "out/summary.json" }), "model.txt of the earlier GBDT run is gone");
        Assert.That(File.ReadAllText(Path.Combine(target, "summary.json")), Does.Contain("\"model\": \"logistic\""));
        Assert.That(File.ReadAllText(Path.Combine(target, "notes.txt")), Is.EqualTo("the user's own file"));
    }

    [Test]
    public void StagedOutput_WithoutCommit_RemovesStagingAndCreatedParents()
    {
        string target = Path.Combine(_dir, "x", "y");
        using (StagedOutput staged = StagedOutput.Prepare(target))
        {
            File.WriteAllText(staged.Stage("summary.json"), "{}");
            Assert.That(Directory.Exists(Path.Combine(_dir, "x")), Is.True);
            Assert.That(Path.GetDirectoryName(staged.StagingPath), Is.EqualTo(Path.Combine(_dir, "x")), "staged next to the target");
        }
        Assert.That(Entries(), Is.Empty);

        using (StagedOutput staged = StagedOutput.Prepare(target))
        {
            File.WriteAllText(staged.Stage("summary.json"), "{}");
            var written = staged.Commit(SimulateCommand.Outputs);
            Assert.That(written.Keys, Is.EqualTo(new[] { "summary.json" }));
        }
        Assert.That(Entries(), Is.EqualTo(new[] { "x", "x/y", "x/y/summary.json" }));
    }

    /// <summary>A directory <paramref name="name"/> of the test directory holding an output file and, if given, the marker
    /// <paramref name="marker"/> of <paramref name="kind"/> (default the staging directories').</summary>
    private string Leftover(string name, string? marker, OwnerMarker? kind = null)
    {
        string dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "summary.json"), "{}");
        if (marker is not null) File.WriteAllText(Path.Combine(dir, (kind ?? StagedOutput.Marker).FileName), marker);
        return dir;
    }

    private static string MarkerText(OwnerMarker kind, int pid, string boot, ulong start) =>
        string.Create(CultureInfo.InvariantCulture, $"{kind.Format}\npid={pid}\nboot={boot}\nstart={start}\n");

    private static string Hex() => Guid.NewGuid().ToString("N")[..12];

    [Test]
    public void Prepare_RemovesTheStagingDirectoriesOfTheSameTarget_WhoseOwnerIsGone_AndNothingElse()
    {
        string target = Path.Combine(_dir, "out");
        if (!OperatingSystem.IsLinux())
        {
            string elsewhere = Leftover($".out.fraudfed-{Hex()}", MarkerText(StagedOutput.Marker, 999_999_999, "boot", 1));
            using (StagedOutput s = StagedOutput.Prepare(target)) Assert.That(s.RemovedLeftovers, Is.Empty, "nothing removed where the owner cannot be told");
            Assert.That(Directory.Exists(elsewhere), Is.True);
            return;
        }
        var (boot, start) = OwnerMarker.Owner(Environment.ProcessId)!.Value;
        string gone = MarkerText(StagedOutput.Marker, Environment.ProcessId, boot, start + 1);   // this pid, another start: a reused pid

        // A killed owner: a real process, marked as the owner while it ran, then killed (its pid now has no process).
        string killed = Leftover($".out.fraudfed-{Hex()}", null);
        using (Process sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!)
        {
            Assert.That(StagedOutput.Marker.Write(killed, sleeper.Id), Is.True);
            sleeper.Kill();
            sleeper.WaitForExit();
        }
        string reused = Leftover($".out.fraudfed-{Hex()}", gone);
        string live = Leftover($".out.fraudfed-{Hex()}", MarkerText(StagedOutput.Marker, Environment.ProcessId, boot, start));
        string unmarked = Leftover($".out.fraudfed-{Hex()}", null);
        string otherTarget = Leftover($".output.fraudfed-{Hex()}", gone);
        string longerName = Leftover($".out.fraudfed-{Hex()}0", gone);
        string upperHex = Leftover($".out.fraudfed-{Hex().ToUpperInvariant()}", gone);
        string noDot = Leftover($"out.fraudfed-{Hex()}", gone);
        string otherKind = Leftover($".out.fraudfed-{Hex()}", MarkerText(SimulateWorkDirectory.Marker, Environment.ProcessId, boot, start + 1), SimulateWorkDirectory.Marker);
        string linkTarget = Leftover("link-target", gone);
        string link = Path.Combine(_dir, $".out.fraudfed-{Hex()}");
        Directory.CreateSymbolicLink(link, linkTarget);
        string[] kept = [live, unmarked, otherTarget, longerName, upperHex, noDot, otherKind, linkTarget];

        try
        {
            using (StagedOutput staged = StagedOutput.Prepare(target))
            {
                Assert.That(staged.RemovedLeftovers.Order(), Is.EqualTo(new[] { killed, reused }.Order()));
                foreach (string dir in new[] { killed, reused }) Assert.That(Directory.Exists(dir), Is.False, dir);
                foreach (string dir in kept) Assert.That(File.Exists(Path.Combine(dir, "summary.json")), Is.True, $"{dir} is left alone");
                Assert.That(new DirectoryInfo(link).LinkTarget, Is.EqualTo(linkTarget), "the link is left alone");
                string line = staged.RemovedLine("simulate")!;
                Assert.That(line, Does.StartWith($"fraudfed simulate: removed 2 staging directories of {target} ").And.Contain("killed")
                    .And.Contain(killed).And.Contain(reused).And.Not.Contain("\n"));

                // This run's own staging directory is marked with this process, and a second run beside it leaves it alone.
                var owner = StagedOutput.Marker.Parse(File.ReadAllText(Path.Combine(staged.StagingPath, StagedOutput.Marker.FileName)));
                Assert.That(owner, Is.EqualTo((Environment.ProcessId, boot, start)));
                using (StagedOutput second = StagedOutput.Prepare(target))
                {
                    Assert.That(second.RemovedLeftovers, Is.Empty);
                    Assert.That(second.RemovedLine("simulate"), Is.Null);
                    Assert.That(Directory.Exists(staged.StagingPath), Is.True);
                }
            }
        }
        finally { File.Delete(link); }
        Assert.That(Directory.GetDirectories(_dir, ".out.fraudfed-*").Order(), Is.EqualTo(new[] { live, unmarked, longerName, upperHex, otherKind }.Order()),
            "after the runs only the directories that were left alone remain");

        // One leftover: named in the line, which names the command as typed.
        string one = Leftover($".out.fraudfed-{Hex()}", gone);
        using (StagedOutput staged = StagedOutput.Prepare(target))
            Assert.That(staged.RemovedLine("bank train"), Is.EqualTo($"fraudfed bank train: removed {one}, the staging directory of {target} (outputs not yet moved into place) " +
                "of an earlier run that was killed (its process is gone)."));
    }

    [Test]
    public void SimulateOnAnIeeeCisFile_ReportsEverySettingAndTheFileHash()
    {
        var style = new CsvStyle(Bom: true, Crlf: true, AwkwardText: true);
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "train_transaction.csv"), PublicSchemaFiles.IeeeCis(3000, seed: 12, style, vColumns: 40), style);
        string target = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = HostileInputTests.Run("simulate", "--csv", csv, "--schema", "ieee-cis", "--mode", "masking", "--banks", "3",
            "--trees", "3", "--threshold", "3", "--seed", "4", "--transport", "inproc", "--out", target, "--json");

        Assert.That(code, Is.Zero, stderr);
        using JsonDocument doc = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
        JsonElement j = doc.RootElement;
        Assert.That(j.GetProperty("secure_equals_plaintext").GetBoolean(), Is.True);
        Assert.That(j.GetProperty("roc_auc_federated").GetDouble(), Is.GreaterThan(0.6), "the planted fraud signal is learned");
        JsonElement settings = j.GetProperty("settings"), data = j.GetProperty("data");
        Assert.That(settings.GetProperty("mode").GetString(), Is.EqualTo("masking"));
        Assert.That(settings.GetProperty("threshold").GetInt32(), Is.EqualTo(3));
        Assert.That(settings.GetProperty("trees").GetInt32(), Is.EqualTo(3));
        Assert.That(data.GetProperty("source").GetString(), Is.EqualTo("csv"));
        Assert.That(data.GetProperty("schema").GetString(), Is.EqualTo("ieee-cis"));
        Assert.That(data.GetProperty("seed").GetInt32(), Is.EqualTo(4));
        string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(csv)));
        Assert.That(data.GetProperty("sha256").GetString(), Is.EqualTo(sha));
        Assert.That(data.GetProperty("missing_cells").GetInt64(), Is.GreaterThan(10_000));
        Assert.That(data.GetProperty("categorical").GetString(), Does.Contain("P_emaildomain"));
        Assert.That(data.GetProperty("dropped").GetString(), Is.EqualTo("TransactionID"));

        string html = File.ReadAllText(Path.Combine(target, "report.html"));
        Assert.That(html, Does.Contain(sha).And.Contain("ieee-cis").And.Contain("threshold t").And.Contain("stroke-dasharray=\"9 5\""));
        Assert.That(html, Does.Contain("<b>n/a</b> marks").And.Contain("local-only</b> curve is not one model"));
        string summary = File.ReadAllText(Path.Combine(target, "summary.json"));
        Assert.That(summary, Does.Contain(sha));
        Assert.That(File.ReadAllText(Path.Combine(target, "model.txt")), Does.StartWith("tree\n").And.Contain("decision_type="));
        Assert.That(stderr, Does.Contain("3,000 rows").And.Contain("categorical"));
    }

    [Test]
    public void SimulateWithAJsonSchemaFileAndAKeyFile_UsesTheKeyedEncoding()
    {
        string csv = PublicSchemaFiles.Write(Path.Combine(_dir, "paysim.csv"), PublicSchemaFiles.PaySim(3000, seed: 3), new CsvStyle());
        string schema = Path.Combine(_dir, "paysim-schema.json");
        File.WriteAllText(schema, """{ "preset": "paysim", "ignore": ["isFlaggedFraud"] }""");
        string key = Path.Combine(_dir, "consortium.key");
        File.WriteAllText(key, Convert.ToHexString(RandomNumberGenerator.GetBytes(32)), Encoding.ASCII);
        var (code, stdout, stderr) = HostileInputTests.Run("simulate", "--csv", csv, "--schema", schema, "--category-key", key, "--mode", "masking",
            "--banks", "3", "--trees", "2", "--transport", "inproc", "--out", Path.Combine(_dir, "out"), "--json");
        Assert.That(code, Is.Zero, stderr);
        using JsonDocument doc = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
        JsonElement data = doc.RootElement.GetProperty("data");
        Assert.That(data.GetProperty("category_encoding").GetString(), Does.Contain("consortium key"));
        Assert.That(data.GetProperty("schema").GetString(), Is.EqualTo("paysim-schema"));
        Assert.That(data.GetProperty("dropped").GetString(), Is.EqualTo("nameOrig, nameDest, isFlaggedFraud"));
    }
}
