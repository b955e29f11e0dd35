// A `fraudfed bank sum` process holds its bank's state directory (SPEC.md 14.6) from before its first call to the appliance
// until it ends: a second `bank sum` for the same bank is refused with exit 2 and one line naming the directory, the holder's
// pid and what to do, and changes nothing in the directory; once the holder is killed with SIGKILL the operating system has
// released its lock and the directory can be used again without any clean-up.
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[Platform(Include = "Linux,MacOsX")]
public sealed class BankStateLockTests
{
    [Test]
    public Task SecondBankSumOnOneStateDirectory_ExitsTwoWithOneLine_AndTheHoldersSigKillFreesTheLock() =>
        CliErrorsAndInterruptTests.WithBankSumAgainstASilentPortAsync("fraudfed-cli-statelock-", async run =>
        {
            var p = run.Process;
            // "joining" is printed once the client holds the directory, before its first call.
            Assert.That(await Task.WhenAny(run.Joining.Task, Task.Delay(TimeSpan.FromSeconds(60))), Is.SameAs(run.Joining.Task), run.Stderr());
            string bankJson = Path.Combine(run.Directory, "kit", "banks", "bank-0", "bank.json");
            using LoadedBankConfig config = BankConfig.Load(bankJson);
            string state = config.StateDirectory!;
            Dictionary<string, long> before = Directory.GetFiles(state).ToDictionary(f => f, f => new FileInfo(f).Length);

            StateDirectoryInUseException e = Assert.Throws<StateDirectoryInUseException>(() => FederationClient.CheckStateDirectory(config))!;
            Assert.That(e.HolderProcessId, Is.EqualTo(p.Id));
            Assert.That(e.HolderStarted!.Value.UtcDateTime, Is.EqualTo(p.StartTime.ToUniversalTime()).Within(TimeSpan.FromSeconds(2)));

            var second = HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", Path.Combine(run.Directory, "values.txt"), "--timeout", "60");
            Assert.That(second.Code, Is.EqualTo(2), second.Stderr);
            string[] lines = second.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(1), second.Stderr);
            Assert.That(lines[0], Does.StartWith($"fraudfed bank sum: bank state directory {state} is in use by another process (pid {p.Id}, started ")
                .And.EndWith("; run one process per bank, or wait for it to finish."));
            Assert.That(second.Stderr, Does.Not.Contain("joining").And.Not.Contain("retrying"));
            Assert.That(Directory.GetFiles(state).ToDictionary(f => f, f => new FileInfo(f).Length), Is.EqualTo(before), "nothing in the directory changed");

            p.Kill();   // SIGKILL: no handler runs in the holder
            Assert.That(p.WaitForExit(30_000), Is.True);
            Assert.That(() => FederationClient.CheckStateDirectory(config), Throws.Nothing, "the operating system released the killed process's lock");
            Assert.That(File.Exists(Path.Combine(state, StateDirectoryLock.FileName)), Is.True, "the lock file stays");
        }, "--timeout", "120");
}
