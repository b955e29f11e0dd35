// The session setup's deadline (SPEC.md 14.5, "Rounds and deadlines") on the coordinator itself with a clock the test moves:
// it counts from the first bank's message, not from the appliance's start, and a restart keeps it. An appliance started long
// before its banks waits for them (before and after a restart); once a bank joined, the others have deadlines.setup_seconds
// from that moment, and a restart neither extends nor restarts it. A session that ended answers every bank with its cause
// and what the operator does, and a restarted appliance warns about it.
using FraudFed.Aggregator.Coordination;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using NUnit.Framework;
using Appliance = FraudFed.Aggregator.Tests.RoundWindowTests.Appliance;
using ManualClock = FraudFed.Aggregator.Tests.RoundWindowTests.ManualClock;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class SetupClockTests
{
    private const int Banks = 5;
    private const double SetupSeconds = 60;   // the kit's

    private static ApplianceKit Kit(string mode) => ApplianceKit.Create(mode, Banks, stageSeconds: 600, joinSeconds: 30);

    /// <summary>Bank 0 alone sends its first setup message (homomorphic: its CrsCommit, answering the session's start in its
    /// mailbox; masking: its AdvertiseKeys).</summary>
    private static async Task FirstBankJoinsAsync(ApplianceKit kit, Coordinator c)
    {
        LoadedBankConfig bank = kit.LoadBank(0);
        FederationSettings f = bank.Config.Federation;
        if (f.IsHomomorphic)
        {
            using var party = new HomomorphicBankParty(0, f.BuildHeRoster(), Ed25519SigningKey.Import(bank.ProtocolSeed), new InMemoryDecryptionLedger());
            foreach (MailboxItem item in await RoundWindowTests.MailboxAsync(c, 0, 0))
                if (item.ItemCase == MailboxItem.ItemOneofCase.Message)
                    foreach (byte[] reply in party.Receive(item.Message.Span)) await c.SubmitAsync(0, reply);
        }
        else
        {
            using var masking = new MaskingBank(f.BuildMaskingParameters(c.SessionId), 0, Ed25519SigningKey.Import(bank.ProtocolSeed), f.IdentityKeyBytes(),
                System.Security.Cryptography.RandomNumberGenerator.Create());
            await c.SubmitAsync(0, masking.AdvertiseKeys());
        }
        Assert.That(c.EventCountOf(0), Is.EqualTo(1), "bank 0's first setup message is stored");
    }

    private static IEnumerable<StoredEvent> Clocks(Appliance a) => a.Store.ReadEvents().Where(e => e.Kind == EventKind.Step && e.Name == Coordinator.SetupClockStep);

    [TestCase("he")]
    [TestCase("masking")]
    public async Task NoBankForLongerThanTheSetupDeadline_ThenTheBanksJoin_SetupCompletes_AlsoAfterARestart(string mode)
    {
        await using ApplianceKit kit = Kit(mode);
        var clock = new ManualClock();
        using (var appliance = new Appliance(kit, clock))
        {
            clock.Advance(SetupSeconds * 3);
            appliance.Coordinator.Tick();
            Assert.That(appliance.Coordinator.SessionEnded, Is.False, "no bank joined: the setup has no clock yet");
            Assert.That(Clocks(appliance), Is.Empty);
        }
        // A restart before any bank joined still waits for the first one.
        clock.Advance(SetupSeconds * 3);
        var logs = new CapturedLogs();
        // The first setup stage's duration (fraudfed_stage_duration_seconds) counts from the first bank's message: the test clock
        // does not move while the banks set up, so it is 0 s, not the 360 s the appliance waited for them.
        var firstStage = new List<double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == AggregatorMetrics.MeterName && instrument.Name == "fraudfed_stage_duration") l.EnableMeasurementEvents(instrument); },
        };
        string firstLabel = mode == "he" ? "crs_commit" : "advertise_keys";
        listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
                if (tag.Key == "stage" && (string?)tag.Value == firstLabel) lock (firstStage) firstStage.Add(seconds);
        });
        listener.Start();
        using (var appliance = new Appliance(kit, clock, logs))
        {
            Coordinator c = appliance.Coordinator;
            c.Tick();
            Assert.That(c.SessionEnded, Is.False, "no bank joined before or after the restart");
            DateTimeOffset joined = clock.Now;
            await RoundWindowTests.SetUpAsync(kit, c);
            Assert.That(c.SessionEnded, Is.False);
            Assert.That(c.Position, Does.StartWith("session Ready"));
            // The first stage's clock started with the first bank's message, at the test clock's time then.
            StoredEvent first = Clocks(appliance).First();
            Assert.That(DateTimeOffset.FromUnixTimeMilliseconds(BitConverter.ToInt64(first.Payload)), Is.EqualTo(joined));
            Assert.That(logs.Lines, Has.None.Contains("session setup failed"));
            lock (firstStage) Assert.That(firstStage, Is.EqualTo(new[] { 0.0 }), $"the {firstLabel} stage's duration excludes the wait for the first bank");
        }
    }

    [TestCase("he")]
    [TestCase("masking")]
    public async Task ABankJoins_TheOthersAreTooLate_TheSetupEndsAtTheDeadlineCountedFromTheJoin_WhichARestartKeeps(string mode)
    {
        await using ApplianceKit kit = Kit(mode);
        var clock = new ManualClock();
        DateTimeOffset joined;
        using (var appliance = new Appliance(kit, clock))
        {
            Coordinator c = appliance.Coordinator;
            clock.Advance(500);   // serve was started minutes before the first bank
            c.Tick();
            joined = clock.Now;
            await FirstBankJoinsAsync(kit, c);
            clock.Advance(SetupSeconds - 1);
            c.Tick();
            Assert.That(c.SessionEnded, Is.False, "the deadline counts from the first bank's message");
        }
        // A restart keeps the deadline: it passes 60 s after the join, not 60 s after the restart.
        var logs = new CapturedLogs();
        using (var appliance = new Appliance(kit, clock, logs))
        {
            Coordinator c = appliance.Coordinator;
            c.Tick();
            Assert.That(c.SessionEnded, Is.False);
            clock.Advance(1);
            c.Tick();
            Assert.That(c.SessionEnded, Is.True, "the others missed the setup deadline, 60 s after bank 0 joined");
            Assert.That(logs.Lines, Has.One.StartsWith("Warning: session setup failed"));
            string failed = logs.Lines.Single(l => l.StartsWith("Warning: session setup failed", StringComparison.Ordinal));
            // The operator's line names the banks that missed the deadline and the next step; the metric label comes last.
            Assert.That(failed, Does.EndWith("no round can run in this session: start a new session (point state in aggregator.json at a new file, "
                + $"then aggregator serve again) and run every bank again ({(mode == "he" ? "setup_deadline" : "TooFewParticipants")})"));
            // Both modes in the same words (masking's first setup stage is AdvertiseKeys; it adds why setup cannot go on).
            string stage = mode == "he" ? "CrsCommit" : "AdvertiseKeys";
            string missed = $"bank(s) 1, 2, 3, 4 missed the {stage} setup deadline (deadlines.setup_seconds; it passed at {joined.AddSeconds(SetupSeconds):yyyy-MM-dd HH:mm:ss}Z)";
            Assert.That(failed, Does.StartWith($"Warning: session setup failed: {missed}"));
            string ended = c.SessionEndedMessage!;
            const string next = "no round can run in it: the operator starts a new session (state in aggregator.json pointed at a new file, then aggregator serve again) and every bank runs again";
            if (mode == "he")
                Assert.That(ended, Is.EqualTo($"the session has ended (aborted: {missed}); {next}"));
            else
            {
                int m = RoundWindowTests.Minimum(kit, c.SessionId).Needed;
                Assert.That(ended, Is.EqualTo($"the session has ended (aborted: {missed}; 1 bank advertised keys; at least {m} are needed (the minimum M of surviving banks, SPEC.md 8.3)); {next}"));
            }
        }

        // Restarted on the ended session: one warning in the operator's words, and every bank's call is answered with the cause.
        var restarted = new CapturedLogs();
        using (var appliance = new Appliance(kit, clock, restarted))
        {
            Coordinator c = appliance.Coordinator;
            string ended = c.SessionEndedMessage!;
            string cause = ended["the session has ended (".Length..ended.IndexOf("); no round", StringComparison.Ordinal)];
            Assert.That(restarted.Lines, Has.One.EqualTo($"Warning: the session in {appliance.Config.StatePath} has ended ({cause}); no round can run in it: start a new session with a new state file "
                + "(point state in aggregator.json at a new path, restart serve) and run every bank again. Until then this appliance answers every bank with that cause, and /healthz says Unhealthy"));
            Assert.That(restarted.Lines, Has.None.Contains("Aborted("), "no party state names in the operator's log");
            int events = c.EventCount;
            EndedSessionException submit = Assert.ThrowsAsync<EndedSessionException>(() => c.SubmitAsync(1, [1, 2, 3]))!;
            Assert.That(submit.Message, Is.EqualTo(ended));
            EndedSessionException request = Assert.ThrowsAsync<EndedSessionException>(() => c.RequestRoundAsync(1, 40))!;
            Assert.That(request.Message, Is.EqualTo(ended));
            Assert.That(c.EventCount, Is.EqualTo(events), "nothing is stored for a call to an ended session");
        }
    }

    /// <summary>A masking setup stage that one bank misses, when setup cannot go on without it, ends the session with a cause that
    /// names exactly that bank and the stage in the homomorphic setup's words (SPEC.md 14.5), then why: AdvertiseKeys with
    /// M = N (every bank's keys are needed), GraphSeed (every bank of the key roster must reveal its nonce). The operator's warning,
    /// every bank's answer and a restarted appliance (the deadline's time is in the closing step's payload) say the same.</summary>
    [TestCase("AdvertiseKeys", 4, "4 banks advertised keys; at least 5 are needed (the minimum M of surviving banks, SPEC.md 8.3)", "TooFewParticipants")]
    [TestCase("GraphSeed", 2, "the graph seed needs the nonce of every bank in the key roster (SPEC.md 8.1)", "Inconsistent")]
    public async Task MaskingSetup_OneBankMissesAStage_TheCauseNamesThatBank(string stage, int silent, string why, string outcome)
    {
        await using ApplianceKit kit = Kit("masking");
        if (stage == "AdvertiseKeys")
            kit.EditConfig(c => c with { Federation = c.Federation with { Masking = c.Federation.Masking! with { MinimumSurvivors = Banks } } });
        var clock = new ManualClock();
        var logs = new CapturedLogs();
        DateTimeOffset joined = clock.Now;   // the clock does not move until the deadline: every setup stage's clock starts now
        string missed = $"bank(s) {silent} missed the {stage} setup deadline (deadlines.setup_seconds; it passed at {joined.AddSeconds(SetupSeconds):yyyy-MM-dd HH:mm:ss}Z)";
        string ended;
        using (var appliance = new Appliance(kit, clock, logs))
        {
            Coordinator c = appliance.Coordinator;
            var banks = new MaskingBank?[Banks];
            try
            {
                for (int b = 0; b < Banks; b++)
                {
                    LoadedBankConfig bank = kit.LoadBank(b);
                    FederationSettings f = bank.Config.Federation;
                    banks[b] = new MaskingBank(f.BuildMaskingParameters(c.SessionId), b, Ed25519SigningKey.Import(bank.ProtocolSeed), f.IdentityKeyBytes(),
                        System.Security.Cryptography.RandomNumberGenerator.Create());
                    if (stage != "AdvertiseKeys" || b != silent) await c.SubmitAsync(b, banks[b]!.AdvertiseKeys());
                }
                if (stage == "GraphSeed")
                {
                    Assert.That(c.Position, Does.StartWith("session setup in stage GraphSeed"), "every bank advertised: the key roster went out");
                    for (int b = 0; b < Banks; b++)
                    {
                        if (b == silent) continue;
                        MailboxItem roster = (await RoundWindowTests.MailboxAsync(c, b, 0)).Single(i => i.ItemCase == MailboxItem.ItemOneofCase.Message);
                        await c.SubmitAsync(b, banks[b]!.ReceiveRoster(roster.Message.Span));
                    }
                }
            }
            finally
            {
                foreach (MaskingBank? m in banks) m?.Dispose();
            }
            Assert.That(c.Position, Does.StartWith($"session setup in stage {stage} with {Banks - 1} of {Banks} banks' messages"));
            clock.Advance(SetupSeconds - 1);
            c.Tick();
            Assert.That(c.SessionEnded, Is.False);
            clock.Advance(1);
            c.Tick();
            Assert.That(c.SessionEnded, Is.True, $"bank {silent} missed the {stage} deadline and setup cannot go on without it");
            string failed = logs.Lines.Single(l => l.StartsWith("Warning: session setup failed", StringComparison.Ordinal));
            Assert.That(failed, Is.EqualTo($"Warning: session setup failed: {missed}; {why}; no round can run in this session: start a new session "
                + $"(point state in aggregator.json at a new file, then aggregator serve again) and run every bank again ({outcome})"));
            ended = c.SessionEndedMessage!;
            Assert.That(ended, Is.EqualTo($"the session has ended (aborted: {missed}; {why}); no round can run in it: the operator starts a new session "
                + "(state in aggregator.json pointed at a new file, then aggregator serve again) and every bank runs again"));
            Assert.That(ended, Does.Not.Match("[0-9a-fA-F]{16}"), "bank indexes, a stage, a count and a time: no key or session bytes");
        }
        // A restart replays the log: the same cause, with the deadline's time read from the closing step.
        var restarted = new CapturedLogs();
        using (var appliance = new Appliance(kit, clock, restarted))
        {
            Assert.That(appliance.Coordinator.SessionEndedMessage, Is.EqualTo(ended));
            Assert.That(restarted.Lines, Has.One.Contains($"has ended (aborted: {missed}; {why}); no round can run in it"));
        }
    }

    /// <summary>The stage label of /metrics is the stage's SPEC.md name in Prometheus label style, the words the log uses.</summary>
    [TestCase("CollectingUploads(round 3)", "uploads")]
    [TestCase("CollectingShares(round 3)", "decryption_shares")]
    [TestCase("CrsCommit", "crs_commit")]
    [TestCase("KeyShareReveal", "key_share_reveal")]
    [TestCase("ChannelAdverts", "channel_adverts")]
    [TestCase("AdvertiseKeys/0", "advertise_keys")]
    [TestCase("MaskedInput/3", "masked_input")]
    [TestCase("ConsistencyCheck/3", "consistency_check")]
    [TestCase("Unmasking/3", "unmasking")]
    [TestCase("Ready", "ready")]
    public void StageLabels_AreTheSpecNames_LowerCaseWithUnderscores(string stageKey, string label) =>
        Assert.That(AggregatorMetrics.StageLabel(stageKey), Is.EqualTo(label));
}
