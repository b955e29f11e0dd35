// The per-bank clients' extension points (SPEC.md 15.3): a checkpoint sees every message the Ready party accepted, before the
// replies to it leave, and a party restored from the last checkpoint finishes the next round with the exact sum; the refusal
// policy either counts a refused message and waits, or ends the call with the refusal's reason, the party unchanged either
// way; a split checkpoint gets the party's key part and round part instead (SPEC.md 14.6); a masking client saves its bank's
// state before every message that commits it (SPEC.md 14.7). Insecure test parameters
// (n = 256).
using System.Threading.Channels;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Coordination;

[TestFixture]
public sealed class BankClientOptionsTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(2);
    private const int Length = 300;

    /// <summary>Records what the bank sends, in order.</summary>
    private sealed class CountingTransport(IBankTransport inner) : IBankTransport
    {
        public readonly List<byte[]> Sent = [];
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
        {
            Sent.Add(message.ToArray());
            return inner.SendAsync(message, cancellationToken);
        }
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => inner.ReceiveAsync(cancellationToken);
    }

    /// <summary>Keeps a copy of every saved state, the replies, and how many messages the bank had sent at the save.</summary>
    private sealed class RecordingCheckpoint(CountingTransport transport) : IBankCheckpoint
    {
        public readonly List<(byte[] State, byte[][] Replies, int SentBefore)> Saves = [];
        public ValueTask SaveAsync(ReadOnlyMemory<byte> partyState, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken)
        {
            Saves.Add((partyState.ToArray(), replies.Select(r => r.ToArray()).ToArray(), transport.Sent.Count));
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A mailbox the test fills by hand.</summary>
    private sealed class ScriptedTransport(int bank) : IBankTransport
    {
        public readonly Channel<BankDelivery> Inbox = Channel.CreateUnbounded<BankDelivery>();
        public int Bank => bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => ValueTask.CompletedTask;
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) => Inbox.Reader.ReadAsync(cancellationToken);
    }

    private static ulong[] Vector(int bank, ulong round) =>
        Enumerable.Range(0, Length).Select(j => (ulong)((bank + 1) * 1_000_003L + (long)round * 7_777L + j * 13L) & ((1UL << 44) - 1)).ToArray();

    private static ulong[] PlainSum(int banks, ulong round)
    {
        var sum = new ulong[Length];
        for (int b = 0; b < banks; b++)
        {
            ulong[] v = Vector(b, round);
            for (int j = 0; j < Length; j++) sum[j] = (sum[j] + v[j]) & ((1UL << 44) - 1);
        }
        return sum;
    }

    private static async Task<SecureSumClientResult[]> Round(HeDeployment d, ulong round)
    {
        var ctx = new SumContext(round, Length, 44);
        Task<CoordinatorRoundResult> coordinator = d.Coordinator.RunRoundAsync(round, Length);
        SecureSumClientResult[] results = await Task.WhenAll(d.Clients.Select((c, b) => c.SumAsync(Vector(b, round), ctx))).WaitAsync(Guard);
        await coordinator.WaitAsync(Guard);
        return results;
    }

    [Test]
    public async Task He_CheckpointSeesEveryAcceptedStepOnceReady_BeforeItsReplies_AndAPartyRestoredFromItFinishesTheNextRound()
    {
        using var d = new HeDeployment(3, "options/he/checkpoint", InsecureTestParameters.N256, TimeSpan.FromSeconds(30));
        var counted = new CountingTransport(d.BankTransports[0]);
        var checkpoint = new RecordingCheckpoint(counted);
        d.Clients[0] = new HomomorphicSecureSumClient(d.Parties[0], counted, new BankClientOptions { Checkpoint = checkpoint });
        await d.SetupAsync().WaitAsync(Guard);
        int setupSends = counted.Sent.Count;
        Assert.That(checkpoint.Saves, Has.Count.EqualTo(1), "setup: one save, when the last setup message made the party Ready");
        Assert.That(checkpoint.Saves[0].SentBefore, Is.EqualTo(setupSends - checkpoint.Saves[0].Replies.Length));

        foreach (SecureSumClientResult r in await Round(d, 1)) Assert.That(r.Sum, Is.EqualTo(PlainSum(3, 1)));
        // Round 1 at bank 0: the round start (its upload), the decryption request (its shares), the result (no reply).
        Assert.That(checkpoint.Saves, Has.Count.GreaterThanOrEqualTo(3));
        foreach (var (_, replies, sentBefore) in checkpoint.Saves)
            Assert.That(counted.Sent.Skip(sentBefore).Take(replies.Length), Is.EqualTo(replies), "saved replies are the next messages sent, after the save");
        Assert.That(checkpoint.Saves.Sum(s => s.Replies.Length), Is.EqualTo(counted.Sent.Count - setupSends + checkpoint.Saves[0].Replies.Length));

        // Bank 0 restarts from its last checkpoint: a new party and a new client of the same type over the same mailbox.
        byte[] last = checkpoint.Saves[^1].State;
        var roster = d.Parties[1].Roster;
        using var identity = Ed25519SigningKey.Generate(TestRandom.Create("options/he/checkpoint/id/0"));
        using HomomorphicBankParty restored = HomomorphicBankParty.ImportState(0, new HomomorphicRoster(roster.Parameters,
            new DecryptionPolicy { Threshold = roster.Policy.Threshold, MinContributors = roster.Policy.MinContributors, MaxColluders = roster.Policy.MaxColluders },
            roster.IdentityKeys.Select(k => k.ToArray()).ToArray(), roster.AggregatorKey.ToArray(), allowInsecureTestParameters: true), identity, new InMemoryDecryptionLedger(), last);
        Assert.That(restored.IsReady, Is.True);
        d.Clients[0] = new HomomorphicSecureSumClient(restored, d.BankTransports[0]);
        SecureSumClientResult[] second = await Round(d, 2);
        foreach (SecureSumClientResult r in second)
        {
            Assert.That(r.Sum, Is.EqualTo(PlainSum(3, 2)), "the restored bank's round is exact");
            Assert.That(r.Contributors, Is.EqualTo(new[] { 0, 1, 2 }));
        }
    }

    /// <summary>A split checkpoint that exports both parts at every save (to check that the key part does not change between
    /// setups).</summary>
    private sealed class SplitRecordingCheckpoint : IHomomorphicSplitCheckpoint
    {
        public readonly List<(uint Generation, byte[] Key, byte[] Round, int Replies)> Saves = [];
        public ValueTask SaveSplitAsync(HomomorphicBankParty party, IReadOnlyList<byte[]> replies, CancellationToken cancellationToken)
        {
            Saves.Add((party.KeyGeneration, party.ExportKeyState(), party.ExportRoundState(), replies.Count));
            return ValueTask.CompletedTask;
        }
    }

    [Test]
    public void SplitCheckpoint_IsRefusedBesideAWholeStateCheckpoint_AndByAMaskingClient()
    {
        using var he = new HeDeployment(3, "options/he/split-refused", InsecureTestParameters.N256, TimeSpan.FromSeconds(30));
        var counted = new CountingTransport(he.BankTransports[0]);
        Assert.That(() => new HomomorphicSecureSumClient(he.Parties[0], counted,
                new BankClientOptions { Checkpoint = new RecordingCheckpoint(counted), SplitCheckpoint = new SplitRecordingCheckpoint() }),
            Throws.ArgumentException.With.Message.Contains("not both"));
        using var masking = new MaskingDeployment(3, null, "options/masking/split-refused", TimeSpan.FromSeconds(30));
        Assert.That(() => new MaskingSecureSumClient(masking.Banks[0], masking.Parameters, masking.BankTransports[0],
                new BankClientOptions { SplitCheckpoint = new SplitRecordingCheckpoint() }),
            Throws.ArgumentException.With.Message.Contains("homomorphic"));
    }

    [Test]
    public async Task He_SplitCheckpoint_KeyPartIsTheSameAtEverySaveOfASetup_AndAPartyRestoredFromTheFirstKeyPartAndTheLastRoundPartFinishesTheNextRound()
    {
        using var d = new HeDeployment(3, "options/he/split", InsecureTestParameters.N256, TimeSpan.FromSeconds(30));
        var checkpoint = new SplitRecordingCheckpoint();
        d.Clients[0] = new HomomorphicSecureSumClient(d.Parties[0], d.BankTransports[0], new BankClientOptions { SplitCheckpoint = checkpoint });
        await d.SetupAsync().WaitAsync(Guard);
        for (ulong round = 1; round <= 2; round++)
            foreach (SecureSumClientResult r in await Round(d, round)) Assert.That(r.Sum, Is.EqualTo(PlainSum(3, round)));

        Assert.That(checkpoint.Saves, Has.Count.GreaterThanOrEqualTo(1 + 2 * 2), "setup's last step, then at least the round start and the result per round");
        Assert.That(checkpoint.Saves.Select(s => s.Generation), Has.All.EqualTo(1u));
        byte[] key = checkpoint.Saves[0].Key;
        foreach (var (_, k, _, _) in checkpoint.Saves) Assert.That(k, Is.EqualTo(key), "the key part does not change within a key generation");
        Assert.That(checkpoint.Saves.Select(s => s.Round.Length), Has.All.LessThan(200), "the round part is a few dozen bytes");
        Assert.That(checkpoint.Saves.Select(s => s.Round), Has.Some.Not.EqualTo(checkpoint.Saves[0].Round), "the round part follows the rounds");

        var roster = d.Parties[1].Roster;
        HomomorphicRoster Roster() => new(roster.Parameters,
            new DecryptionPolicy { Threshold = roster.Policy.Threshold, MinContributors = roster.Policy.MinContributors, MaxColluders = roster.Policy.MaxColluders },
            roster.IdentityKeys.Select(k => k.ToArray()).ToArray(), roster.AggregatorKey.ToArray(), allowInsecureTestParameters: true);
        using var identity = Ed25519SigningKey.Generate(TestRandom.Create("options/he/split/id/0"));
        // The parts of another key generation do not pair.
        byte[] otherGeneration = checkpoint.Saves[^1].Round.ToArray();
        otherGeneration[9] ^= 2;   // "FFHR" || version || u32 index || u32 key_generation
        ProtocolViolationException e = Assert.Throws<ProtocolViolationException>(() =>
            HomomorphicBankParty.ImportState(0, Roster(), Ed25519SigningKey.Generate(TestRandom.Create("options/he/split/id/0")), new InMemoryDecryptionLedger(), key, otherGeneration))!;
        Assert.That(e.Reason, Is.EqualTo(ViolationReason.Inconsistent));

        using HomomorphicBankParty restored = HomomorphicBankParty.ImportState(0, Roster(), identity, new InMemoryDecryptionLedger(), key, checkpoint.Saves[^1].Round);
        Assert.That(restored.IsReady, Is.True);
        Assert.That(restored.ExportKeyState(), Is.EqualTo(key));
        d.Clients[0] = new HomomorphicSecureSumClient(restored, d.BankTransports[0]);
        foreach (SecureSumClientResult r in await Round(d, 3))
        {
            Assert.That(r.Sum, Is.EqualTo(PlainSum(3, 3)), "the restored bank's round is exact");
            Assert.That(r.Contributors, Is.EqualTo(new[] { 0, 1, 2 }));
        }
    }

    [Test]
    public async Task RefusedAggregatorMessage_IsCountedAndSkippedByDefault_OrEndsTheCallWithItsReason_ThePartyUnchanged()
    {
        using var d = new HeDeployment(3, "options/he/refusal", InsecureTestParameters.N256, TimeSpan.FromSeconds(30));
        HomomorphicBankParty party = d.Parties[0];
        string before = party.State;
        byte[] garbage = [0xFF, 0xFF, 0xFF, 0x0F];

        var waiting = new ScriptedTransport(0);
        var lenient = new HomomorphicSecureSumClient(party, waiting);
        waiting.Inbox.Writer.TryWrite(new BankDelivery(garbage, null));
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
            Assert.CatchAsync<OperationCanceledException>(() => lenient.JoinAsync(cts.Token), "default: the refusal is counted and the client waits on");
        Assert.That(lenient.Refusals, Is.EqualTo(new[] { ViolationReason.Malformed }));

        var stopping = new ScriptedTransport(0);
        var strict = new HomomorphicSecureSumClient(party, stopping, new BankClientOptions { StopOnRefusal = true });
        stopping.Inbox.Writer.TryWrite(new BankDelivery(garbage, null));
        ProtocolViolationException e = Assert.ThrowsAsync<ProtocolViolationException>(() => strict.JoinAsync().WaitAsync(Guard))!;
        Assert.That(e.Reason, Is.EqualTo(ViolationReason.Malformed));
        Assert.That(strict.Refusals, Is.EqualTo(new[] { ViolationReason.Malformed }));
        Assert.That(party.State, Is.EqualTo(before), "a refused message changes nothing");
    }

    /// <summary>Delivers the queued messages first, then the inner mailbox's.</summary>
    private sealed class PrependingTransport(IBankTransport inner) : IBankTransport
    {
        public readonly Queue<BankDelivery> First = new();
        public int Bank => inner.Bank;
        public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => inner.SendAsync(message, cancellationToken);
        public ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken) =>
            First.TryDequeue(out BankDelivery d) ? ValueTask.FromResult(d) : inner.ReceiveAsync(cancellationToken);
    }

    [Test]
    public async Task Masking_ALateAbortOfAnEarlierRound_IsSkippedEvenWithStopOnRefusal_AndTheRunningRoundIsExact()
    {
        // An appliance whose round 1 missed a deadline sends its RoundAbort; a bank already in round 2 may read it late.
        // It is stale, not hostile: a strict client counts it and finishes round 2.
        using var d = new MaskingDeployment(3, null, "options/masking/stale-abort", TimeSpan.FromSeconds(30));
        var late = new PrependingTransport(d.BankTransports[0]);
        var strict = new MaskingSecureSumClient(d.Banks[0], d.Parameters, late, new BankClientOptions { StopOnRefusal = true });
        d.Clients[0] = strict;
        await d.SetupAsync().WaitAsync(Guard);
        const int length = 50;
        ulong[] Values(int b) => Enumerable.Range(0, length).Select(j => (ulong)(b * 1000 + j)).ToArray();
        for (uint round = 1; round <= 2; round++)
        {
            if (round == 2)
                late.First.Enqueue(new BankDelivery(MaskingWire.Encode(new RoundAbort((byte[])d.Parameters.SessionId.Clone(), 1, ViolationReason.TooFewParticipants, "stage deadline")), null));
            var ctx = new SumContext(round, length, d.Parameters.ModulusBits);
            Task<CoordinatorRoundResult> coordinator = d.Coordinator.RunRoundAsync(round, length);
            SecureSumClientResult[] results = await Task.WhenAll(d.Clients.Select((c, b) => c.SumAsync(Values(b), ctx))).WaitAsync(Guard);
            await coordinator.WaitAsync(Guard);
            ulong[] expected = Enumerable.Range(0, length).Select(j => (ulong)(0 + 1000 + 2000 + 3 * j)).ToArray();
            foreach (SecureSumClientResult r in results) Assert.That(r.Sum, Is.EqualTo(expected), $"round {round}");
        }
        Assert.That(late.First, Is.Empty, "the stale abort was read");
        Assert.That(strict.Refusals, Is.EqualTo(new[] { ViolationReason.WrongRoundOrState }), "counted once, as a message of another round");
    }

    [Test]
    public async Task MaskingClient_SavesBeforeEveryMessageThatCommitsTheBank_AndABankRestoredFromTheLastSaveFinishesTheNextRound()
    {
        using var d = new MaskingDeployment(3, null, "options/masking/checkpoint", TimeSpan.FromSeconds(30));
        var counting = new CountingTransport(d.BankTransports[0]);
        var checkpoint = new RecordingCheckpoint(counting);
        d.Clients[0] = new MaskingSecureSumClient(d.Banks[0], d.Parameters, counting, new BankClientOptions { Checkpoint = checkpoint });
        await d.SetupAsync().WaitAsync(Guard);
        const int length = 50;
        ulong[] Values(int b, uint round) => Enumerable.Range(0, length).Select(j => (ulong)(b * 1000 + j + round * 100_000)).ToArray();
        ulong[] Expected(uint round) => Enumerable.Range(0, length).Select(j => (ulong)(0 + 1000 + 2000 + 3 * j + 3 * round * 100_000)).ToArray();
        async Task RoundAsync(uint round)
        {
            var ctx = new SumContext(round, length, d.Parameters.ModulusBits);
            Task<CoordinatorRoundResult> coordinator = d.Coordinator.RunRoundAsync(round, length);
            SecureSumClientResult[] results = await Task.WhenAll(d.Clients.Select((c, b) => c.SumAsync(Values(b, round), ctx))).WaitAsync(Guard);
            await coordinator.WaitAsync(Guard);
            foreach (SecureSumClientResult r in results) Assert.That(r.Sum, Is.EqualTo(Expected(round)), $"round {round}");
        }
        await RoundAsync(1);

        // AdvertiseKeys, GraphSeedReveal, ShareKeys, MaskedInput, ConsistencySignature, UnmaskResponse: a checkpoint was taken
        // before each left, and it kept the exact bytes as its one reply, except the masked input (not kept, SPEC.md 14.7).
        Assert.That(counting.Sent, Has.Count.EqualTo(6));
        int masked = counting.Sent.FindIndex(m => MaskingWire.DecodeToAggregator(m) is MaskedInput);
        Assert.That(masked, Is.EqualTo(3));
        for (int k = 0; k < counting.Sent.Count; k++)
        {
            if (k == masked) continue;
            var save = checkpoint.Saves.Single(s => s.Replies.Length == 1 && s.Replies[0].AsSpan().SequenceEqual(counting.Sent[k]));
            Assert.That(save.SentBefore, Is.EqualTo(k), $"message {k} was saved before it left");
        }
        var noReply = checkpoint.Saves.Where(s => s.Replies.Length == 0).ToArray();
        Assert.That(noReply.Select(s => s.SentBefore), Is.EqualTo(new[] { 2, masked }), "the accepted GraphSeedRoster (no reply), and the save before the masked input left");
        // The state saved before the masked input left comes back outside round 1: the restored bank never masks again for it.
        byte[] maskedSave = noReply[1].State;
        using (MaskingBank left = MaskingBank.ImportState(d.Parameters, 0, d.Identity(0), d.PublicKeys, maskedSave, TestRandom.Create("restored/left")))
        {
            Assert.That(left.InterruptedRound, Is.EqualTo(1u));
            Assert.That(() => left.BeginRound(1), Throws.TypeOf<ProtocolViolationException>());
        }

        // Bank 0 restarts from its last save (after its UnmaskResponse) and takes part in round 2.
        using var rng = TestRandom.Create("restored/bank0");
        using MaskingBank restored = MaskingBank.ImportState(d.Parameters, 0, d.Identity(0), d.PublicKeys, checkpoint.Saves[^1].State, rng);
        Assert.That(restored.InterruptedRound, Is.Null);
        d.Clients[0] = new MaskingSecureSumClient(restored, d.Parameters, d.BankTransports[0]);
        Assert.That(d.Clients[0].IsReady, Is.True);
        await RoundAsync(2);
    }
}
