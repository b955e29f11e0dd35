// The temporary directory of `simulate --transport grpc` carries a marker naming its owner process (pid, boot id, start
// time), so that the next run removes what a run killed outright (SIGKILL) left behind: kit keys and plaintext partition
// files. Only marked directories of this user whose owner is gone are removed; a live owner's, an unmarked one, a damaged
// marker, another name, a link: all left alone. (The end to end case, a SIGKILLed simulate and the next run, is in
// SimulateBankProcessTests.SimulateProcessSignalled_LeavesNoBankProcess.)
using System.Diagnostics;
using System.Globalization;
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class SimulateWorkDirectoryTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("fraudfed-workdir-tests-").FullName;

    [TearDown]
    public void TearDown()
    {
        foreach (string link in Directory.EnumerateFileSystemEntries(_root).Where(e => new FileInfo(e).LinkTarget is not null)) File.Delete(link);
        Directory.Delete(_root, recursive: true);
    }

    private static string Marker(int pid, string boot, ulong start) =>
        string.Create(CultureInfo.InvariantCulture, $"{SimulateWorkDirectory.MarkerFormat}\npid={pid}\nboot={boot}\nstart={start}\n");

    /// <summary>A directory of <see cref="_root"/> holding a secret-like file and, if given, a marker with <paramref name="marker"/>.</summary>
    private string Dir(string name, string? marker)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "bank-0.csv"), "a,label\n1,0\n");
        if (marker is not null) File.WriteAllText(Path.Combine(dir, SimulateWorkDirectory.MarkerName), marker);
        return dir;
    }

    [Test]
    public void Create_MakesAPrivateDirectory_MarkedWithThisProcess()
    {
        string dir = SimulateWorkDirectory.Create();
        try
        {
            Assert.That(Path.GetFileName(dir), Does.StartWith(SimulateWorkDirectory.Prefix));
            if (!OperatingSystem.IsLinux())
            {
                Assert.That(OwnerMarker.Owner(Environment.ProcessId), Is.Null, "the owner's start time is read from /proc");
                return;
            }
            Assert.That(File.GetUnixFileMode(dir), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
            string text = File.ReadAllText(Path.Combine(dir, SimulateWorkDirectory.MarkerName));
            var owner = SimulateWorkDirectory.Marker.Parse(text);
            var self = OwnerMarker.Owner(Environment.ProcessId);
            Assert.That(owner, Is.Not.Null, text);
            Assert.That(self, Is.Not.Null);
            Assert.That(owner!.Value, Is.EqualTo((Environment.ProcessId, self!.Value.Boot, self.Value.Start)));
            Assert.That(OwnerMarker.OwnerGone(owner.Value.Pid, owner.Value.Boot, owner.Value.Start, self.Value.Boot), Is.False, "this process runs");
            Assert.That(Directory.EnumerateFiles(dir).Select(Path.GetFileName), Is.EqualTo(new[] { SimulateWorkDirectory.MarkerName }), "no temporary marker left");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void RemoveLeftovers_RemovesOnlyMarkedDirectoriesOfThisUser_WhoseOwnerIsGone()
    {
        if (!OperatingSystem.IsLinux())
        {
            Dir("fraudfed-simulate-elsewhere", Marker(999_999_999, "boot", 1));
            Assert.That(SimulateWorkDirectory.RemoveLeftovers(_root), Is.Empty, "nothing removed where the owner cannot be told");
            return;
        }
        var (boot, start) = OwnerMarker.Owner(Environment.ProcessId)!.Value;

        // A killed owner: a real process, marked as the owner while it ran, then killed (its pid now has no process).
        string killed = Dir("fraudfed-simulate-killed", null);
        using (Process sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!)
        {
            Assert.That(SimulateWorkDirectory.Marker.Write(killed, sleeper.Id), Is.True);
            Assert.That(File.Exists(Path.Combine(killed, SimulateWorkDirectory.MarkerName)), Is.True);
            sleeper.Kill();
            sleeper.WaitForExit();
        }
        string reused = Dir("fraudfed-simulate-reused", Marker(Environment.ProcessId, boot, start + 1));   // this pid, another start: a reused pid
        string rebooted = Dir("fraudfed-simulate-rebooted", Marker(Environment.ProcessId, "00000000-0000-0000-0000-000000000000", start));
        string live = Dir("fraudfed-simulate-live", Marker(Environment.ProcessId, boot, start));
        string unmarked = Dir("fraudfed-simulate-unmarked", null);
        string damaged = Dir("fraudfed-simulate-damaged", Marker(Environment.ProcessId, boot, start + 1).Replace("pid=", "pid=x", StringComparison.Ordinal));
        string otherFormat = Dir("fraudfed-simulate-format", Marker(Environment.ProcessId, boot, start + 1).Replace("v1", "v9", StringComparison.Ordinal));
        string otherName = Dir("not-fraudfed-simulate-x", Marker(Environment.ProcessId, boot, start + 1));
        // A link named like a run's directory, to a directory whose marker names a gone owner: neither is touched.
        string target = Dir("target-of-link", Marker(Environment.ProcessId, boot, start + 1));
        string link = Path.Combine(_root, "fraudfed-simulate-link");
        Directory.CreateSymbolicLink(link, target);
        // A marker that is a link to a marker of a gone owner: not a regular file, left alone.
        string linkedMarker = Dir("fraudfed-simulate-linked-marker", null);
        File.CreateSymbolicLink(Path.Combine(linkedMarker, SimulateWorkDirectory.MarkerName), Path.Combine(reused, SimulateWorkDirectory.MarkerName));

        IReadOnlyList<string> removed = SimulateWorkDirectory.RemoveLeftovers(_root);

        Assert.That(removed.Order(), Is.EqualTo(new[] { killed, rebooted, reused }.Order()));
        foreach (string gone in new[] { killed, reused, rebooted }) Assert.That(Directory.Exists(gone), Is.False, gone);
        foreach (string kept in new[] { live, unmarked, damaged, otherFormat, otherName, target, linkedMarker })
            Assert.That(File.Exists(Path.Combine(kept, "bank-0.csv")), Is.True, $"{kept} is left alone");
        Assert.That(new DirectoryInfo(link).LinkTarget, Is.EqualTo(target), "the link is left alone");
        Assert.That(SimulateWorkDirectory.RemoveLeftovers(_root), Is.Empty, "a second sweep finds nothing more");
    }

    [Test]
    public void RemovedLine_IsOneLine_NamingWhatWasRemoved_OrNothingWhenNothingWas()
    {
        Assert.That(SimulateWorkDirectory.RemovedLine([]), Is.Null);
        string one = SimulateWorkDirectory.RemovedLine(["/tmp/fraudfed-simulate-a"])!;
        Assert.That(one, Does.StartWith("fraudfed simulate: removed /tmp/fraudfed-simulate-a,").And.Contain("killed").And.Not.Contain("\n"));
        string two = SimulateWorkDirectory.RemovedLine(["/tmp/fraudfed-simulate-a", "/tmp/fraudfed-simulate-b"])!;
        Assert.That(two, Does.StartWith("fraudfed simulate: removed 2 temporary directories").And.EndWith("/tmp/fraudfed-simulate-a, /tmp/fraudfed-simulate-b.").And.Not.Contain("\n"));
    }
}
