using System.Text.Json;
using FraudFed.Cli.Commands;
using FraudFed.Conformance.Live;
using FraudFed.Conformance.Live.Bank;
using FraudFed.Testing.Fuzzing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>The live runner (`fraudfed conformance --self|--target`) against real local appliances (loopback, mutual TLS,
/// SQLite) and against a deliberately broken one.</summary>
[TestFixture]
public sealed class LiveConformanceTests
{
    private static readonly ConformanceCommand.LiveSettings NoFuzz = new(0, 1, 1, 90);
    private static readonly ConformanceCommand.LiveSettings ShortFuzz = new(200, 20, 20261201, 90);

    /// <summary>What the failing check must report for a breakage whose failure could also come from a timeout.</summary>
    private static readonly Dictionary<Breakage, string> FailureDetail = new()
    {
        [Breakage.FailsRoundsWithoutEveryBank] = "TooFewParticipants",
        [Breakage.EndsRefusedWindowsWithARoundAbort] = "ended without a RoundRefused item",
        [Breakage.AnswersInternalToCorruptedMessages] = "Internal",
        [Breakage.DeliversAnItemAlreadyRead] = "should be sequence",
        [Breakage.IgnoresDeliverAfter] = "were already committed",
        [Breakage.IgnoresSubmitWait] = "before the wait ended",
    };

    [Test]
    public void SelfJson_PassesEveryCheckOfBothModes_WithTheFuzzLoop()
    {
        // CI budget: FRAUDFED_FUZZ_SECONDS per appliance (default 6 s), FRAUDFED_FUZZ_MUTANTS at most, FRAUDFED_FUZZ_SEED.
        int mutants = FuzzRun.Mutants(100_000);
        double seconds = FuzzRun.Budget(6).TotalSeconds;
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(["conformance", "--self", "--json", "--fuzz", $"{mutants}", "--fuzz-seconds", $"{seconds}",
            "--fuzz-seed", $"{FuzzRun.Seed(20261201)}"], stdout, stderr);
        string[] lines = stdout.ToString().TrimEnd().Split('\n');
        using JsonDocument json = JsonDocument.Parse(lines[^1]);
        JsonElement root = json.RootElement;
        var names = root.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        string[] expected = ["he", "masking"];
        int total = 2 * (ApplianceChecks.Catalogue.Count + BulkChannelChecks.Catalogue.Count) + BankRefusalChecks.Names.Count;
        Assert.Multiple(() =>
        {
            Assert.That(rc, Is.EqualTo(0), stdout.ToString() + stderr);
            Assert.That(root.GetProperty("failed").GetInt32(), Is.EqualTo(0), stdout.ToString());
            Assert.That(root.GetProperty("passed").GetInt32(), Is.EqualTo(total));
            Assert.That(names, Is.EqualTo(expected.SelectMany(m => ApplianceChecks.Catalogue.Concat(BulkChannelChecks.Catalogue).Select(c => $"appliance/{m}/{c.Name}")).Concat(BankRefusalChecks.Names)));
            Assert.That(lines.Count(l => l.StartsWith("pass  ", StringComparison.Ordinal)), Is.EqualTo(total));
            Assert.That(root.GetProperty("checks").EnumerateArray().First(c => c.GetProperty("name").GetString() == "appliance/masking/fuzz-typed-statuses")
                .GetProperty("detail").GetString(), Does.Contain("mutants").And.Contain("managed memory"));
        });
    }

    [TestCase(Breakage.SkipsReplayCheck, "replayed-message-refused")]
    [TestCase(Breakage.AcceptsBadSignatures, "invalid-signature-refused")]
    [TestCase(Breakage.AcceptsMalformed, "malformed-protobuf-refused")]
    [TestCase(Breakage.AcceptsOversized, "oversized-refused")]
    [TestCase(Breakage.AcceptsWrongRound, "wrong-round-refused")]
    [TestCase(Breakage.AcceptsWrongSession, "wrong-session-refused")]
    [TestCase(Breakage.AcceptsOtherSenders, "other-bank-id-refused")]
    [TestCase(Breakage.CountsResendsAgain, "delivery-with-answer", "submit-wait", "duplicate-submission-idempotent")]
    [TestCase(Breakage.ServesUnpinnedCertificates, "unknown-certificate-refused")]
    [TestCase(Breakage.FailsRoundsWithoutEveryBank, "dropout-round-completes")]
    [TestCase(Breakage.EndsRefusedWindowsWithARoundAbort, "dropout-round-completes")]
    [TestCase(Breakage.AnswersInternalToCorruptedMessages, "fuzz-typed-statuses")]
    [TestCase(Breakage.DeliversAnItemAlreadyRead, "delivery-with-answer", "submit-wait")]
    [TestCase(Breakage.IgnoresDeliverAfter, "delivery-with-answer", "submit-wait")]
    [TestCase(Breakage.IgnoresSubmitWait, "submit-wait")]
    public async Task BrokenAppliance_FailsExactlyTheMatchingCheck(Breakage breakage, params string[] checks)
    {
        BrokenAppliance? broken = null;
        // The fuzz checks run only with a fuzz budget: the case that breaks one of them gets a short seeded loop.
        ConformanceCommand.LiveSettings settings = checks.Any(c => c.Contains("fuzz", StringComparison.Ordinal)) ? ShortFuzz : NoFuzz;
        try
        {
            IReadOnlyList<LiveCheckResult> results = await ConformanceCommand.SelfModeAsync("masking", settings, async (real, kit) =>
            {
                broken = await BrokenAppliance.StartAsync(real, kit, breakage);
                return broken.Address;
            }, bulkChecks: false);   // the double is a gRPC front: it carries no bulk channel (BulkChannelChecksTests cover those checks)
            string report = string.Join("\n", results.Select(r => $"{r.Passed} {r.Name} {r.Detail}"));
            TestContext.Out.WriteLine(report);
            Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.EqualTo(checks.Select(c => "appliance/masking/" + c)), report);
            // The failure is the broken rule's, not a timeout or a setup fault: the check's detail names what the double did.
            if (FailureDetail.TryGetValue(breakage, out string? observed))
                Assert.That(results.Where(r => !r.Passed).Select(r => r.Detail), Has.All.Contains(observed), report);
        }
        finally
        {
            if (broken is not null) await broken.DisposeAsync();
        }
    }

    [TestCase("he")]
    [TestCase("masking")]
    public async Task ReplayedMessage_IsRefusedAsAReplay_AndABodyNamingAnotherBank_AsAnUnknownSender(string mode)
    {
        // Both bodies name another bank than the certificate; only the replay's bytes are another bank's accepted message, and
        // the appliance's refusal says so (Duplicate, "a replay of bank 1's accepted message"), whichever of its checks fired.
        IReadOnlyList<LiveCheckResult> results = await ConformanceCommand.SelfModeAsync(mode, NoFuzz);
        string report = string.Join("\n", results.Select(r => $"{r.Passed} {r.Name} {r.Detail}"));
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.Empty, report);
        string replay = results.Single(r => r.Name == $"appliance/{mode}/replayed-message-refused").Detail;
        Assert.That(replay, Does.StartWith("a replay of bank 1's accepted message, sent under bank 0's certificate: AlreadyExists (Duplicate)"), report);
        Assert.That(replay, Does.Not.Contain("UnknownSender"), report);
        string otherId = results.Single(r => r.Name == $"appliance/{mode}/other-bank-id-refused").Detail;
        Assert.That(otherId, Does.Not.Contain("replay"), report);
        Assert.That(otherId, Does.Contain("signed by bank 0: PermissionDenied (UnknownSender)"), "one reason in both modes (SPEC.md 14.1)");
    }

    [TestCase("--target", "https://127.0.0.1:1", "--banks", "/nonexistent-fraudfed-kit")]
    [TestCase("--target", "http://127.0.0.1:1", "--banks", "/tmp")]
    [TestCase("--target", "https://127.0.0.1:1")]
    [TestCase("--self", "--target", "https://127.0.0.1:1")]
    [TestCase("--banks", "/tmp")]
    [TestCase("--target", "https://127.0.0.1:1", "--banks", "/tmp")]
    public void BadLiveArguments_ExitTwoBeforeAnyConnection(params string[] args)
    {
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(["conformance", .. args], TextWriter.Null, stderr);
        Assert.That(rc, Is.EqualTo(2), stderr.ToString());
        Assert.That(stderr.ToString().TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr.ToString(), Does.StartWith("fraudfed conformance: "));
    }
}
