// Issue 8, "each state refuses every message kind that does not belong to it with a typed error and no state change", for
// the threshold homomorphic aggregator (the banks' matrix is HomomorphicPartyTests). A seeded three-bank session is run once
// to record one genuine message of every kind a bank sends (bank 1's, plus a round abort); an identical session is then
// replayed and, in every aggregator state it passes through (the seven setup states, Ready before and after the round,
// CollectingUploads, CollectingShares), every recorded kind that does not belong to that state is offered first: each is
// WrongRoundOrState and every observable of the aggregator stays as it was. The replayed round must still be exact.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class AggregatorStateMatrixTests
{
    private const int Banks = 3;
    private const ulong Round = 1;
    private const int Length = 300;   // two chunks at n = 256
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    private sealed class World : IDisposable
    {
        public readonly HomomorphicBankParty[] Banks;
        public readonly HomomorphicAggregatorParty Aggregator;

        public World()
        {
            var ids = Enumerable.Range(0, AggregatorStateMatrixTests.Banks).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"matrix/id/{b}"))).ToArray();
            var agg = Ed25519SigningKey.Generate(TestRandom.Create("matrix/agg"));
            var roster = new HomomorphicRoster(P, new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 },
                ids.Select(k => k.PublicKey.ToArray()).ToArray(), agg.PublicKey.ToArray(), allowInsecureTestParameters: true);
            Banks = Enumerable.Range(0, ids.Length)
                .Select(b => new HomomorphicBankParty(b, roster, ids[b], new InMemoryDecryptionLedger(), l => TestRandom.Create($"matrix/{b}/{l}")) { Parallel = false })
                .ToArray();
            Aggregator = new HomomorphicAggregatorParty(roster, agg, TestRandom.Create("matrix/agg-rng")) { Parallel = false };
            for (int b = 0; b < Banks.Length; b++) Banks[b].Submit(Round, Input(b));
        }

        /// <summary>Delivers to the banks, and their answers to the aggregator, until nothing is left; <paramref name="before"/>
        /// sees each bank message just before the aggregator gets it.</summary>
        public void Run(IReadOnlyList<HeOutgoing> outgoing, Action<int, byte[]> before)
        {
            var queue = new Queue<HeOutgoing>(outgoing);
            while (queue.Count > 0)
            {
                HeOutgoing o = queue.Dequeue();
                foreach (byte[] reply in Banks[o.To].Receive(o.Bytes))
                {
                    before(o.To, reply);
                    foreach (HeOutgoing next in Aggregator.Receive(o.To, reply)) queue.Enqueue(next);
                }
            }
        }

        public void Dispose()
        {
            foreach (HomomorphicBankParty b in Banks) b.Dispose();
            Aggregator.Dispose();
        }
    }

    private static ulong[] Input(int bank) => Enumerable.Range(0, Length).Select(j => (ulong)((bank + 1) * 1_000_003L + j * 7L)).ToArray();

    private static string Snapshot(HomomorphicAggregatorParty a) =>
        $"{a.State}|{a.IsReady}|{a.LastRound}|{a.KeyGeneration}|{Convert.ToHexString(a.SessionId)}|{string.Join(",", a.MissingSetupBanks)}"
        + $"|{a.LastOutcome?.Round}|{a.LastOutcome?.Failure?.Reason}|{(a.PublicKeyDigest is null ? "-" : Convert.ToHexString(a.PublicKeyDigest))}";

    /// <summary>The bank-message kinds each aggregator state takes (a round-0 abort ends the session in any state, and is not offered).</summary>
    private static Type[] Belonging(string state) => state switch
    {
        "CrsCommit" => [typeof(HeCrsCommitMessage)],
        "CrsReveal" => [typeof(HeCrsRevealMessage)],
        "KeyShareCommit" => [typeof(HeKeyShareCommitMessage)],
        "KeyShareReveal" => [typeof(HeKeyShareRevealMessage)],
        "ChannelAdverts" => [typeof(HeChannelAdvertMessage)],
        "Thresholdize" => [typeof(HeSealedPointsMessage)],
        "KeyReady" => [typeof(HeKeyReadyMessage)],
        "Ready" => [],
        _ when state.StartsWith("CollectingUploads", StringComparison.Ordinal) => [typeof(HeUploadMessage), typeof(HeAbortToAggregator)],   // an abort leaves the uploads (SPEC.md 14.2)
        _ when state.StartsWith("CollectingShares", StringComparison.Ordinal) => [typeof(HeDecryptionSharesMessage), typeof(HeAbortToAggregator)],
        _ => throw new AssertionException($"state {state} is not in the matrix: add it"),
    };

    [Test]
    public void EveryAggregatorState_RefusesEveryBankMessageKindThatDoesNotBelongToIt_AndStaysAsItWas()
    {
        // 1. Reference session: one genuine message of every kind bank 1 sends.
        var kinds = new Dictionary<Type, byte[]>();
        byte[] sessionId;
        using (var reference = new World())
        {
            void Record(int from, byte[] m)
            {
                if (from == 1) kinds.TryAdd(HeWire.DecodeToAggregator(m, Banks).GetType(), m);
            }
            reference.Run(reference.Aggregator.StartSession(), Record);
            reference.Run(reference.Aggregator.StartRound(Round, Length), Record);
            reference.Run(reference.Aggregator.CloseUploads([0, 1]), Record);
            Assert.That(reference.Aggregator.LastOutcome?.Sum, Is.EqualTo(Expected()), "the reference round is exact");
            sessionId = reference.Aggregator.SessionId.ToArray();
            kinds[typeof(HeAbortToAggregator)] = HeWire.Encode(new HeAbortToAggregator(sessionId, ViolationReason.Refused, "refused", Round));
        }
        Assert.That(kinds.Keys.Select(k => k.Name), Is.EquivalentTo(new[]
        {
            nameof(HeCrsCommitMessage), nameof(HeCrsRevealMessage), nameof(HeKeyShareCommitMessage), nameof(HeKeyShareRevealMessage),
            nameof(HeChannelAdvertMessage), nameof(HeSealedPointsMessage), nameof(HeKeyReadyMessage), nameof(HeUploadMessage),
            nameof(HeDecryptionSharesMessage), nameof(HeAbortToAggregator),
        }), "every kind of HeBankMessage step");

        // 2. Replay: in every state, every kind that does not belong is refused and changes nothing.
        using var world = new World();
        var visited = new HashSet<string>();
        int refusals = 0;
        void Offer()
        {
            HomomorphicAggregatorParty a = world.Aggregator;
            Assert.That(a.SessionId.ToArray(), Is.EqualTo(sessionId), "the replay is the reference session (else every offer is merely of another session)");
            string state = a.State;
            if (!visited.Add(state)) return;
            Type[] belonging = Belonging(state);
            foreach (var (kind, bytes) in kinds.Where(k => !belonging.Contains(k.Key)))
            {
                string before = Snapshot(a);
                var ex = Assert.Throws<ProtocolViolationException>(() => a.Receive(1, bytes), $"{kind.Name} in {state}");
                Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState), $"{kind.Name} in {state}");
                Assert.That(ex.Message, Does.Contain($"in state {state}"), "refused for its state, not for another cause");
                Assert.That(Snapshot(a), Is.EqualTo(before), $"{kind.Name} in {state} changed the aggregator");
                refusals++;
            }
            if (state == "ChannelAdverts")
            {
                // The intake check of ShareChannel.AdvertBank: a bank relaying another bank's advert is refused.
                int sender = a.MissingSetupBanks.First(b => b != 1);
                string before = Snapshot(a);
                var ex = Assert.Throws<ProtocolViolationException>(() => a.Receive(sender, kinds[typeof(HeChannelAdvertMessage)]));
                Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.UnknownSender));
                Assert.That(Snapshot(a), Is.EqualTo(before));
            }
        }
        world.Run(world.Aggregator.StartSession(), (_, _) => Offer());
        Offer();   // Ready, setup done
        world.Run(world.Aggregator.StartRound(Round, Length), (_, _) => Offer());
        Offer();   // CollectingUploads with every upload in
        world.Run(world.Aggregator.CloseUploads([0, 1]), (_, _) => Offer());
        visited.Remove("Ready");
        Offer();   // Ready again, after the result

        Assert.That(visited, Is.SupersetOf(new[] { "CrsCommit", "CrsReveal", "KeyShareCommit", "KeyShareReveal", "ChannelAdverts", "Thresholdize", "KeyReady",
            "Ready", $"CollectingUploads(round {Round})", $"CollectingShares(round {Round})" }));
        Assert.That(refusals, Is.EqualTo(7 * 9 + 2 * 10 + 8 + 8), "every (state, foreign kind) pair was offered");
        Assert.That(world.Aggregator.LastOutcome?.Sum, Is.EqualTo(Expected()), "the replayed round is still exact");
        for (int b = 0; b < Banks; b++)
        {
            Assert.That(world.Banks[b].TryGetResult(Round, out ulong[] sum, out int[] contributors), Is.True);
            Assert.That(sum, Is.EqualTo(Expected()));
            Assert.That(contributors, Is.EqualTo(new[] { 0, 1, 2 }));
        }
    }

    [Test]
    public void IsCollectingUploads_HoldsFromStartRoundUntilCloseUploads_Only()
    {
        // The appliance decides "Asking again inside a round" (SPEC.md 14.5) with this property, not with the state's name.
        using var world = new World();
        HomomorphicAggregatorParty a = world.Aggregator;
        var seen = new List<(string State, bool Collecting)>();
        void Note(int _, byte[] __) => seen.Add((a.State, a.IsCollectingUploads));
        Assert.That(a.IsCollectingUploads, Is.False, "before setup");
        world.Run(a.StartSession(), Note);
        Assert.That(a.IsCollectingUploads, Is.False, "ready after setup");
        IReadOnlyList<HeOutgoing> start = a.StartRound(Round, Length);
        Assert.That(a.IsCollectingUploads, Is.True, "the round is open");
        world.Run(start, Note);
        Assert.That(a.IsCollectingUploads, Is.True, "every upload in, not yet closed");
        world.Run(a.CloseUploads([0, 1]), Note);
        Assert.Multiple(() =>
        {
            Assert.That(a.IsCollectingUploads, Is.False, "ready after the result");
            Assert.That(seen.Where(s => s.Collecting).Select(s => s.State).Distinct(), Is.EqualTo(new[] { $"CollectingUploads(round {Round})" }));
            Assert.That(seen.Where(s => !s.Collecting).Select(s => s.State), Has.Some.StartsWith("CollectingShares"));
        });
        a.StartRound(Round + 1, Length);
        a.FailRound(ViolationReason.TooFewParticipants, "a deadline passed");
        Assert.That(a.IsCollectingUploads, Is.False, "after a failed round");
    }

    [Test]
    public void BankLeavingTheUploads_IsNotAContributor_StillDecrypts_AndAnAbortFromANonDecryptor_DoesNotEndTheRound()
    {
        // SPEC.md 14.2, 14.6: bank 2 encrypted its input for the round and lost its upload in a restart; it leaves the uploads.
        using var world = new World();
        HomomorphicAggregatorParty a = world.Aggregator;
        world.Run(a.StartSession(), (_, _) => { });
        foreach (HeOutgoing start in a.StartRound(Round, Length))
            foreach (byte[] reply in world.Banks[start.To].Receive(start.Bytes))
                if (start.To != 2) Assert.That(a.Receive(start.To, reply), Is.Empty);   // bank 2's upload never arrives
        byte[] leave = world.Banks[2].EncodeUploadLeave(Round);
        Assert.That(world.Banks[2].EncodeUploadLeave(Round), Is.EqualTo(leave), "the same bytes at every send");
        Assert.That(a.Receive(2, leave), Is.Empty);
        string before = Snapshot(a);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => a.Receive(2, leave))!.Reason, Is.EqualTo(ViolationReason.Duplicate), "left already");
        Assert.That(Assert.Throws<ProtocolViolationException>(() => a.Receive(0, world.Banks[0].EncodeUploadLeave(Round)))!.Reason, Is.EqualTo(ViolationReason.Duplicate),
            "a bank whose upload is held cannot leave");
        Assert.That(Snapshot(a), Is.EqualTo(before), "refusals change nothing");

        // Decryptors 0 and 2 (the bank that left still decrypts); bank 1, not a decryptor, aborts the round: refused, the round goes on.
        IReadOnlyList<HeOutgoing> requests = a.CloseUploads([0, 2]);
        ProtocolViolationException e = Assert.Throws<ProtocolViolationException>(() =>
            a.Receive(1, HeWire.Encode(new HeAbortToAggregator(a.SessionId.ToArray(), ViolationReason.Refused, "not asked", Round))))!;
        Assert.That(e.Reason, Is.EqualTo(ViolationReason.WrongRoundOrState));
        world.Run(requests, (_, _) => { });
        Assert.That(a.LastOutcome?.Failure, Is.Null, "the round did not fail");
        Assert.That(a.LastOutcome!.Contributors, Is.EqualTo(new[] { 0, 1 }));
        Assert.That(a.LastOutcome.Sum, Is.EqualTo(Expected(0, 1)), "exact without the lost upload");
    }

    /// <summary>The plain sum mod t of the inputs of <paramref name="banks"/> (default every bank), computed here.</summary>
    private static ulong[] Expected(params int[] banks)
    {
        ulong mask = (1UL << P.PlainModulusBits) - 1;
        int[] from = banks.Length == 0 ? [.. Enumerable.Range(0, Banks)] : banks;
        return Enumerable.Range(0, Length).Select(j => from.Aggregate(0UL, (s, b) => (s + Input(b)[j]) & mask)).ToArray();
    }
}
