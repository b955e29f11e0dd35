// The request window of a round (SPEC.md 14.5, "Rounds and deadlines"), on the coordinator itself with a clock the test
// moves: real bank parties of both modes run the session setup through it, over a SQLite state file. At the join deadline a
// window whose banks cannot reach the mode's minimum (max(T, K_min) homomorphic, M masking) opens no round: one durable
// refuse_round step spends the round number and gives each bank that asked the same RoundRefused item, and nothing else is
// stored or sent; a restart replays it to the same state and the same mailbox answers; the next request starts a fresh
// window for the next round number. A window with enough banks opens its round as before.
using System.Security.Cryptography;
using FraudFed.Aggregator.Coordination;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Storage;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class RoundWindowTests
{
    private const int Banks = 5;
    private const int Length = 40;
    private const double JoinSeconds = 30;

    /// <summary>A clock that moves only when the test says so.</summary>
    internal sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
        public void Advance(double seconds) => Now += TimeSpan.FromSeconds(seconds);
    }

    /// <summary>A coordinator of <paramref name="kit"/>'s configuration over its state file, with <paramref name="clock"/>.</summary>
    internal sealed class Appliance : IDisposable
    {
        public Appliance(ApplianceKit kit, ManualClock clock, CapturedLogs? logs = null)
        {
            Config = AggregatorConfig.Load(kit.ConfigPath);
            Store = new SqliteAggregatorStore(Config.StatePath);
            Metrics = new AggregatorMetrics();
            _factory = LoggerFactory.Create(b => { b.SetMinimumLevel(LogLevel.Information); if (logs is not null) b.AddProvider(logs); });
            Coordinator = new Coordinator(Config, Store, Metrics, _factory.CreateLogger<Coordinator>(), clock);
        }

        private readonly ILoggerFactory _factory;
        public LoadedAggregatorConfig Config { get; }
        public SqliteAggregatorStore Store { get; }
        public AggregatorMetrics Metrics { get; }
        public Coordinator Coordinator { get; }

        public void Dispose()
        {
            Coordinator.Dispose();
            Store.Dispose();
            Metrics.Dispose();
            _factory.Dispose();
            Config.Dispose();
        }
    }

    /// <summary>Every bank's committed mailbox items after <paramref name="after"/>, parsed (the coordinator hands out stored fields).</summary>
    internal static async Task<List<MailboxItem>> MailboxAsync(Coordinator c, int bank, ulong after)
    {
        IReadOnlyList<MailboxItem> raw = await c.ReceiveAsync(bank, after, TimeSpan.Zero, 1000, CancellationToken.None);
        return raw.Select(i => MailboxItem.Parser.ParseFrom(i.ToByteArray())).ToList();
    }

    /// <summary>Runs the session setup of every bank through <paramref name="c"/> with real bank parties; returns each bank's last
    /// mailbox sequence read.</summary>
    internal static async Task<ulong[]> SetUpAsync(ApplianceKit kit, Coordinator c)
    {
        var after = new ulong[Banks];
        var he = new HomomorphicBankParty?[Banks];
        var masking = new MaskingBank?[Banks];
        try
        {
            for (int b = 0; b < Banks; b++)
            {
                LoadedBankConfig bank = kit.LoadBank(b);
                FederationSettings f = bank.Config.Federation;
                if (f.IsHomomorphic) he[b] = new HomomorphicBankParty(b, f.BuildHeRoster(), Ed25519SigningKey.Import(bank.ProtocolSeed), new InMemoryDecryptionLedger());
                else
                {
                    masking[b] = new MaskingBank(f.BuildMaskingParameters(c.SessionId), b, Ed25519SigningKey.Import(bank.ProtocolSeed), f.IdentityKeyBytes(), RandomNumberGenerator.Create());
                    await c.SubmitAsync(b, masking[b]!.AdvertiseKeys());
                }
            }
            for (int pass = 0; pass < 200 && !Ready(); pass++)
            {
                for (int b = 0; b < Banks; b++)
                {
                    foreach (MailboxItem item in await MailboxAsync(c, b, after[b]))
                    {
                        after[b] = item.Sequence;
                        if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
                        if (he[b] is { } party)
                            foreach (byte[] reply in party.Receive(item.Message.Span)) await c.SubmitAsync(b, reply);
                        else if (MaskingWire.DecodeToBank(item.Message.Span) is KeyRoster) await c.SubmitAsync(b, masking[b]!.ReceiveRoster(item.Message.Span));
                        else masking[b]!.ReceiveGraphSeed(item.Message.Span);
                    }
                }
            }
            Assert.That(Ready(), Is.True, $"session setup did not complete: {c.Position}");
            return after;
        }
        finally
        {
            foreach (HomomorphicBankParty? p in he) p?.Dispose();
            foreach (MaskingBank? m in masking) m?.Dispose();
        }

        bool Ready() => he.All(p => p is null || p.IsReady) && masking.All(m => m is null || m.State is BankReady);
    }

    /// <summary>The fewest banks a round of <paramref name="kit"/>'s session needs, and the rule in the too-few wording.</summary>
    internal static (int Needed, string Why) Minimum(ApplianceKit kit, byte[] sessionId)
    {
        FederationSettings f = kit.LoadBank(0).Config.Federation;
        return f.IsHomomorphic
            ? (Math.Max(f.He!.Threshold, f.He.MinContributors), $"the threshold T = {f.He.Threshold} and K_min = {f.He.MinContributors}, SPEC.md 12.3")
            : (f.BuildMaskingParameters(sessionId).MinimumSurvivors, "the minimum M of surviving banks, SPEC.md 8.3");
    }

    private static ApplianceKit Kit(string mode) => ApplianceKit.Create(mode, Banks, stageSeconds: 600, joinSeconds: JoinSeconds);

    [TestCase("he")]
    [TestCase("masking")]
    public async Task TooFewBanksAtTheJoinDeadline_OpenNoRound_EachGetsTheRefusal_OnlyTheRefusalIsStored_AndARestartReplaysIt(string mode)
    {
        await using ApplianceKit kit = Kit(mode);
        var clock = new ManualClock();
        var logs = new CapturedLogs();
        ulong[] read;
        int asked;
        string position;
        int events;
        var refusals = new Dictionary<int, byte[]>();
        (int needed, string why) = (0, "");
        using (var appliance = new Appliance(kit, clock, logs))
        {
            Coordinator c = appliance.Coordinator;
            read = await SetUpAsync(kit, c);
            (needed, why) = Minimum(kit, c.SessionId);
            Assert.That(needed, Is.InRange(2, Banks), "the kit's minimum leaves room for a window that is too small");
            asked = needed - 1;
            for (int b = 0; b < asked; b++) Assert.That(await c.RequestRoundAsync(b, Length), Is.EqualTo(1UL));
            int before = c.EventCount;

            clock.Advance(JoinSeconds - 1);
            c.Tick();
            Assert.That(c.EventCount, Is.EqualTo(before), "nothing happens before the join deadline");
            Assert.That(c.Position, Does.Contain($"{asked} of {Banks} banks asked for round 1"));

            clock.Advance(1);
            c.Tick();
            Assert.That(c.EventCount, Is.EqualTo(before + 1), "the window ends with one stored step and nothing else");
            StoredEvent last = appliance.Store.ReadEvents()[^1];
            Assert.That((last.Kind, last.Name), Is.EqualTo((EventKind.Step, Coordinator.RefuseRoundStep)));
            Assert.That(c.Position, Does.Not.Contain("asked for round").And.Contain("no round running"), "no round opened");

            string expected = $"round 1: only {asked} of {Banks} banks asked within 30 s (deadlines.join_seconds); at least {needed} are needed ({why}); the round did not open: start the other banks, or raise deadlines.join_seconds";
            for (int b = 0; b < Banks; b++)
            {
                List<MailboxItem> items = await MailboxAsync(c, b, read[b]);
                if (b >= asked)
                {
                    Assert.That(items, Is.Empty, $"bank {b} did not ask and is told nothing");
                    continue;
                }
                Assert.That(items.Select(i => i.ItemCase), Is.EqualTo(new[] { MailboxItem.ItemOneofCase.RoundRefused }), $"bank {b} gets the refusal and nothing else");
                RoundRefused r = items[0].RoundRefused;
                Assert.That((r.Round, r.Reason, r.Asked, r.Needed, r.Banks, r.JoinMilliseconds), Is.EqualTo((1UL, "TooFewParticipants", (uint)asked, (uint)needed, (uint)Banks, 30_000u)));
                Assert.That(r.Message, Is.EqualTo(expected));
                refusals[b] = items[0].ToByteArray();
            }
            Assert.That(logs.Lines.Count(l => l.StartsWith("Warning: round 1 did not open: ", StringComparison.Ordinal)
                && l.Contains($"{asked} of {Banks} banks asked within 30 s (deadlines.join_seconds); at least {needed} are needed", StringComparison.Ordinal)
                && l.EndsWith("; round 1 is spent: the next round is 2", StringComparison.Ordinal)), Is.EqualTo(1),
                string.Join("\n", logs.Lines));
            position = c.Position;
            events = c.EventCount;
        }

        // A restart replays the log: the same state, the same answers, nothing new stored; its summary counts the refused round
        // apart, so that the gap in the round numbers is explained.
        var resumedLogs = new CapturedLogs();
        using (var appliance = new Appliance(kit, clock, resumedLogs))
        {
            Coordinator c = appliance.Coordinator;
            Assert.That(resumedLogs.Lines.Where(l => l.Contains("resumed the", StringComparison.Ordinal)).Single(),
                Does.Contain(": 0 rounds opened (0 with their sum opened, 0 failed), 1 refused (round 1 did not open: too few banks asked; the next round is 2); session Ready"));
            Assert.That(c.ReplayedEvents, Is.EqualTo(events));
            Assert.That(c.Position, Is.EqualTo(position));
            Assert.That(c.EventCount, Is.EqualTo(events));
            for (int b = 0; b < asked; b++)
                Assert.That((await MailboxAsync(c, b, read[b])).Select(i => i.ToByteArray()).Single(), Is.EqualTo(refusals[b]), $"bank {b} reads the same refusal after the restart");

            // A bank that asks after the refused window starts a fresh window, for the next round number.
            Assert.That(await c.RequestRoundAsync(Banks - 1, Length), Is.EqualTo(2UL), "the refused round's number is spent");
            Assert.That(c.Position, Does.Contain($"1 of {Banks} banks asked for round 2"));
            clock.Advance(JoinSeconds - 1);
            c.Tick();
            Assert.That(c.Position, Does.Contain($"1 of {Banks} banks asked for round 2"), "the fresh window's clock started with its own first request");
            for (int b = 0; b < Banks - 1; b++) Assert.That(await c.RequestRoundAsync(b, Length), Is.EqualTo(2UL));
            Assert.That(c.Position, Does.Contain("round 2").And.Not.Contain("asked for round"), "every bank asked: round 2 opens at once");
            for (int b = 0; b < Banks; b++)
            {
                List<MailboxItem> items = await MailboxAsync(c, b, read[b]);
                Assert.That(items.Where(i => i.ItemCase == MailboxItem.ItemOneofCase.RoundRefused).Select(i => i.RoundRefused.Round), Is.EqualTo(b < asked ? new[] { 1UL } : Array.Empty<ulong>()));
                if (mode == "masking")
                    Assert.That(items.Where(i => i.ItemCase == MailboxItem.ItemOneofCase.RoundOpen).Select(i => i.RoundOpen.Round), Is.EqualTo(new[] { 2UL }), $"bank {b} is in round 2");
                else
                    Assert.That(items.Count(i => i.ItemCase == MailboxItem.ItemOneofCase.Message), Is.EqualTo(1), $"bank {b} got round 2's start");
            }
        }
    }

    [TestCase("he")]
    [TestCase("masking")]
    public async Task EnoughBanksAtTheJoinDeadline_OpenTheRoundWithThem_AsBefore(string mode)
    {
        await using ApplianceKit kit = Kit(mode);
        var clock = new ManualClock();
        using var appliance = new Appliance(kit, clock);
        Coordinator c = appliance.Coordinator;
        ulong[] read = await SetUpAsync(kit, c);
        (int needed, _) = Minimum(kit, c.SessionId);
        Assert.That(needed, Is.LessThan(Banks), "the kit leaves a bank out of a window that is large enough");
        for (int b = 0; b < needed; b++) Assert.That(await c.RequestRoundAsync(b, Length), Is.EqualTo(1UL));
        clock.Advance(JoinSeconds);
        c.Tick();
        Assert.That(c.Position, Does.Contain("round 1").And.Contain($"of {needed} ").And.Not.Contain("asked for round"), "round 1 opened with the banks that asked");
        StoredEvent last = appliance.Store.ReadEvents()[^1];
        Assert.That((last.Kind, last.Name), Is.EqualTo((EventKind.Step, "open_round")));
        for (int b = 0; b < Banks; b++)
        {
            List<MailboxItem> items = await MailboxAsync(c, b, read[b]);
            Assert.That(items.Where(i => i.ItemCase == MailboxItem.ItemOneofCase.RoundRefused), Is.Empty);
            if (mode == "masking")
                Assert.That(items.Count(i => i.ItemCase == MailboxItem.ItemOneofCase.RoundOpen), Is.EqualTo(b < needed ? 1 : 0), $"bank {b}");
            else
                Assert.That(items.Count(i => i.ItemCase == MailboxItem.ItemOneofCase.Message), Is.EqualTo(1), $"bank {b}: the homomorphic round start goes to every bank");
        }
    }
}
