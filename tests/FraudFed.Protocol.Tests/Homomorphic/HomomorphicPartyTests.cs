// The threshold homomorphic parties on their own (SPEC.md 14.2): exact sums through serialized messages only, dropouts,
// round-local failures that leave the session usable, and every state refusing every message that does not belong to
// it with a typed error and no change.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HomomorphicPartyTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;
    private static readonly ulong Mask = (1UL << 44) - 1;

    private static HomomorphicSession Session(int banks, string label) =>
        HomomorphicSession.SeededForTestsOnly(banks, new HomomorphicOptions { Parameters = P, Parallel = false }, System.Text.Encoding.UTF8.GetBytes(label));

    private static ulong[] Vector(int bank, int round, int length) =>
        Enumerable.Range(0, length).Select(j => (ulong)(((bank + 1) * 7_919L + round * 104_729L + j * 31L) & (long)Mask)).ToArray();

    [TestCase(3, TestName = "Parties/he/banks=3")]
    [TestCase(10, TestName = "Parties/he/banks=10")]
    [TestCase(20, TestName = "Parties/he/banks=20")]
    public void Sums_AreExact_WithNonContributorsAndAnyDecryptorSet_UpToTheThreshold(int banks)
    {
        using HomomorphicSession session = Session(banks, $"parties/{banks}");
        int t = session.Policy.Threshold, kMin = session.Policy.MinContributors;
        // Round 1: everyone. Round 2: exactly K_min contributors (the rest drop before upload). Round 3: the last T banks decrypt.
        int[][] contributorSets = [Enumerable.Range(0, banks).ToArray(), Enumerable.Range(banks - kMin, kMin).ToArray(), Enumerable.Range(0, banks).Where(b => b % 2 == 0 || b < kMin).ToArray()];
        int[][] decryptorSets = [Enumerable.Range(0, t).ToArray(), Enumerable.Range(0, t).ToArray(), Enumerable.Range(banks - t, t).ToArray()];
        for (int r = 0; r < 3; r++)
        {
            int length = r == 1 ? 600 : 100;   // three chunks at n = 256 in round 2
            var inputs = new ulong[]?[banks];
            foreach (int b in contributorSets[r]) inputs[b] = Vector(b, r, length);
            ulong[] sum = session.Sum(inputs, decryptorSets[r], out int[] contributors);
            ulong[] expected = new ulong[length];
            foreach (int b in contributorSets[r]) for (int j = 0; j < length; j++) expected[j] = (expected[j] + inputs[b]![j]) & Mask;
            Assert.That(sum, Is.EqualTo(expected), $"round {r + 1}");
            Assert.That(contributors, Is.EqualTo(contributorSets[r].Order().ToArray()));
            // Every bank learned the sum from the aggregator's result broadcast.
            Assert.That(session.Party(banks - 1).TryGetResult(session.Round, out ulong[] seen, out _), Is.True);
            Assert.That(seen, Is.EqualTo(expected));
        }
        Assert.That(session.Refusals, Is.Empty);
    }

    [TestCase(3, TestName = "Parties/he/extremes/banks=3")]
    [TestCase(10, TestName = "Parties/he/extremes/banks=10")]
    public void Sums_AreExact_AtTheExtremesOfTheValueRange(int banks)
    {
        // Every value is 0 or t - 1 (t - 1 at even positions, a per-bank pattern elsewhere; two chunks at n = 256); the
        // expected sum is the plaintext sum mod t, computed here in 128-bit arithmetic.
        using HomomorphicSession session = Session(banks, $"parties/extremes/{banks}");
        const int length = 2 * 256;
        var inputs = new ulong[]?[banks];
        for (int b = 0; b < banks; b++)
            inputs[b] = Enumerable.Range(0, length).Select(j => j % 2 == 0 || (j + b) % 3 != 0 ? Mask : 0UL).ToArray();
        ulong[] sum = session.Sum(inputs, Enumerable.Range(0, session.Policy.Threshold).ToArray(), out _);
        var expected = new ulong[length];
        for (int j = 0; j < length; j++)
        {
            UInt128 total = 0;
            for (int b = 0; b < banks; b++) total += inputs[b]![j];
            expected[j] = (ulong)(total % ((UInt128)Mask + 1));
        }
        Assert.That(sum, Is.EqualTo(expected));
        Assert.That(sum[0], Is.EqualTo((ulong)((UInt128)Mask * (ulong)banks % ((UInt128)Mask + 1))), "even positions: every bank at t - 1");
        Assert.That(session.Refusals, Is.Empty);
    }

    [Test]
    public void ThirtyRounds_EveryThirdFailsForTooFewContributors_AndEveryOtherIsExact()
    {
        using HomomorphicSession session = Session(5, "parties/30");   // c = 1, T = 4, K_min = 4
        for (int r = 1; r <= 30; r++)
        {
            bool starved = r % 3 == 0;
            int[] contributors = starved ? [0, 1, 2] : [0, 1, 2, 3, 4];
            var inputs = new ulong[]?[5];
            foreach (int b in contributors) inputs[b] = Vector(b, r, 40);
            if (starved)
            {
                var ex = Assert.Throws<ProtocolViolationException>(() => session.Sum(inputs, [0, 1, 2, 3], out _), $"round {r}");
                Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
                // The aggregator party's words (the appliance's path), the same as the in-process coordinator's.
                Assert.That(ex.Detail, Is.EqualTo($"round {r} has 3 contributing banks; at least 4 are needed to open a sum (the threshold T = 4 and K_min = 4, SPEC.md 12.3); bank(s) 3, 4 sent no complete upload"), $"round {r}");
                Assert.That(session.Aggregator.IsReady, Is.True, "the failed round ends only itself");
                continue;
            }
            ulong[] expected = new ulong[40];
            foreach (int b in contributors) for (int j = 0; j < 40; j++) expected[j] = (expected[j] + inputs[b]![j]) & Mask;
            Assert.That(session.Sum(inputs, [1, 2, 3, 4], out _), Is.EqualTo(expected), $"round {r}");
        }
        Assert.That(session.Round, Is.EqualTo(30UL));
    }

    [Test]
    public void ARefusingDecryptor_FailsOnlyItsRound()
    {
        using HomomorphicSession session = Session(4, "parties/refusal");   // c = 1, T = 3
        ulong[][] inputs = Enumerable.Range(0, 4).Select(b => Vector(b, 1, 30)).ToArray();
        Assert.That(session.Sum(inputs, [0, 1, 2], out _), Has.Length.EqualTo(30));
        // Bank 0's ledger already holds another answer for round 2, chunk 0 (as after an earlier, different request):
        // it refuses, the round fails alone, the next one works.
        HomomorphicBank core = session.BankCoreForTestsOnly(0);
        Assert.That(core.Ledger.TryRecordAnswers(session.Scheme!.SessionTag, 2, [(0u, new byte[32])], session.Policy.Budget), Is.EqualTo(LedgerDecision.Recorded));
        var ex = Assert.Throws<ProtocolViolationException>(() => session.Sum(inputs, [0, 1, 2], out _));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Refused));
        Assert.That(session.Party(0).LastRefusal, Is.EqualTo(ViolationReason.Refused));
        Assert.That(session.Sum(inputs, [1, 2, 3], out _), Has.Length.EqualTo(30));
    }

    /// <summary>A complete setup driven by hand, with a snapshot of every message each state saw, for the refusal matrix.</summary>
    private sealed class Transcript : IDisposable
    {
        public readonly List<(string State, byte[] Message)> ToBank = [];
        public readonly List<byte[]> AllToBank = [];
        public readonly HomomorphicBankParty[] Banks;
        public readonly HomomorphicAggregatorParty Aggregator;

        public Transcript(int n)
        {
            var ids = Enumerable.Range(0, n).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"party/id/{b}"))).ToArray();
            var agg = Ed25519SigningKey.Generate(TestRandom.Create("party/agg"));
            var roster = new HomomorphicRoster(P, new Cryptography.Threshold.DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 },
                ids.Select(k => k.PublicKey.ToArray()).ToArray(), agg.PublicKey.ToArray(), allowInsecureTestParameters: true);
            Banks = Enumerable.Range(0, n).Select(b => new HomomorphicBankParty(b, roster, ids[b], new InMemoryDecryptionLedger(), l => TestRandom.Create($"party/{l}"))).ToArray();
            Aggregator = new HomomorphicAggregatorParty(roster, agg, TestRandom.Create("party/agg-rng"));
        }

        public void Run(IReadOnlyList<HeOutgoing> outgoing)
        {
            var queue = new Queue<HeOutgoing>(outgoing);
            while (queue.Count > 0)
            {
                HeOutgoing o = queue.Dequeue();
                if (o.To == 0) { ToBank.Add((Banks[0].State, o.Bytes)); AllToBank.Add(o.Bytes); }
                foreach (byte[] a in Banks[o.To].Receive(o.Bytes))
                    foreach (HeOutgoing next in Aggregator.Receive(o.To, a)) queue.Enqueue(next);
            }
        }

        public void Dispose()
        {
            foreach (HomomorphicBankParty b in Banks) b.Dispose();
            Aggregator.Dispose();
        }
    }

    [Test]
    public void EveryBankState_RefusesEveryMessageThatDoesNotBelongToIt_AndStaysAsItWas()
    {
        // Record, for each state bank 0 passed through, the genuine message that moved it on; then replay a second,
        // identical setup and, in each state, offer every other recorded message first.
        using var reference = new Transcript(3);
        reference.Run(reference.Aggregator.StartSession());
        for (int b = 0; b < 3; b++) reference.Banks[b].Submit(1, [1, 2, 3]);
        reference.Run(reference.Aggregator.StartRound(1, 3));
        reference.Run(reference.Aggregator.CloseUploads([0, 1]));
        Assert.That(reference.Banks[0].TryGetResult(1, out ulong[] sum, out _), Is.True);
        Assert.That(sum, Is.EqualTo(new ulong[] { 3, 6, 9 }));
        List<(string State, byte[] Message)> genuine = reference.ToBank;
        Assert.That(genuine.Select(g => g.State).Distinct().Count(), Is.GreaterThanOrEqualTo(8), "every setup state and Ready were visited");

        using var replay = new Transcript(3);
        int checkedPairs = 0, exportChecks = 0;
        var queue = new Queue<HeOutgoing>(replay.Aggregator.StartSession());
        for (int b = 0; b < 3; b++) replay.Banks[b].Submit(1, [1, 2, 3]);
        while (queue.Count > 0)
        {
            HeOutgoing o = queue.Dequeue();
            if (o.To == 0)
            {
                string state = replay.Banks[0].State;
                // Beyond the state's name: a Ready bank's exported state (key and round parts, SPEC.md 14.6) and, in every
                // state, the decryption budget and session tag stay byte for byte as they were.
                byte[]? exported = replay.Banks[0].IsReady ? replay.Banks[0].ExportState() : null;
                (long Budget, string Tag) before = (replay.Banks[0].RemainingBudget, Convert.ToHexString(replay.Banks[0].SessionTag));
                foreach (var (otherState, other) in genuine.Where(g => g.State != state && !IsSessionStart(g.Message)))
                {
                    var ex = Assert.Throws<ProtocolViolationException>(() => replay.Banks[0].Receive(other), $"{otherState} message in {state}");
                    Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.WrongRoundOrState, ViolationReason.Malformed), $"{otherState} message in {state}");
                    Assert.That(replay.Banks[0].State, Is.EqualTo(state), "no state change");
                    Assert.That((replay.Banks[0].RemainingBudget, Convert.ToHexString(replay.Banks[0].SessionTag)), Is.EqualTo(before), $"{otherState} message in {state}");
                    if (exported is not null)
                    {
                        Assert.That(replay.Banks[0].ExportState(), Is.EqualTo(exported), $"{otherState} message in {state} changed the exported state");
                        exportChecks++;
                    }
                    checkedPairs++;
                }
            }
            foreach (byte[] a in replay.Banks[o.To].Receive(o.Bytes))
                foreach (HeOutgoing next in replay.Aggregator.Receive(o.To, a)) queue.Enqueue(next);
            if (queue.Count == 0 && replay.Aggregator.IsReady && replay.Aggregator.LastRound == 0)
                foreach (HeOutgoing x in replay.Aggregator.StartRound(1, 3)) queue.Enqueue(x);
        }
        Assert.That(replay.Aggregator.State, Is.EqualTo("CollectingUploads(round 1)"));
        Assert.That(checkedPairs, Is.GreaterThan(40));
        Assert.That(exportChecks, Is.GreaterThan(0), "the Ready state was offered foreign messages and its exported bytes compared");
    }

    private static bool IsSessionStart(byte[] message) =>
        Wire.V1.HeAggregatorMessage.Parser.ParseFrom(message).StepCase == Wire.V1.HeAggregatorMessage.StepOneofCase.SessionStart;

    [Test]
    public void TheAggregator_RefusesOutOfStateDuplicateForeignAndMalformedMessages_AndStaysAsItWas()
    {
        using var t = new Transcript(3);
        IReadOnlyList<HeOutgoing> start = t.Aggregator.StartSession();
        byte[][] commits = Enumerable.Range(0, 3).Select(b => t.Banks[b].Receive(start[b].Bytes).Single()).ToArray();
        Assert.That(t.Aggregator.Receive(0, commits[0]), Is.Empty);
        string state = t.Aggregator.State;
        ViolationReason Refuse(int from, byte[] m) => Assert.Throws<ProtocolViolationException>(() => t.Aggregator.Receive(from, m))!.Reason;
        Assert.That(Refuse(0, commits[0]), Is.EqualTo(ViolationReason.Duplicate));
        Assert.That(Refuse(7, commits[1]), Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(Refuse(1, [0x0a, 0xff]), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Refuse(1, new byte[40]), Is.AnyOf(ViolationReason.Malformed, ViolationReason.WrongRoundOrState));
        byte[] otherVersion = Wire.V1.HeBankMessage.Parser.ParseFrom(commits[1]) is var w && (w.ProtocolVersion = 2) == 2 ? Google.Protobuf.MessageExtensions.ToByteArray(w) : [];
        Assert.That(Refuse(1, otherVersion), Is.EqualTo(ViolationReason.WrongRoundOrState));
        var reveal = HeWire.Encode(new HeCrsRevealMessage(t.Aggregator.SessionId.ToArray(), new byte[32]));
        Assert.That(Refuse(1, reveal), Is.EqualTo(ViolationReason.WrongRoundOrState), "a reveal while commitments are collected");
        Assert.That(t.Aggregator.State, Is.EqualTo(state));
        Assert.Throws<ProtocolViolationException>(() => t.Aggregator.StartRound(1, 10), "no round before setup completes");
        Assert.That(Refuse(1, HeWire.Encode(new HeCrsCommitMessage(new byte[16], new byte[32]))), Is.EqualTo(ViolationReason.WrongRoundOrState), "another session");
        Assert.That(t.Aggregator.Receive(1, commits[1]), Is.Empty);
        Assert.That(t.Aggregator.Receive(2, commits[2]), Has.Count.EqualTo(3), "all three committed: the commitments go out");
    }

    [Test]
    public void ABankRefusesASessionForAnotherRoster_AndAnOversizedMessage()
    {
        using var t = new Transcript(3);
        byte[] sid = new byte[16];
        var wrongRoster = HeWire.Encode(new HeSessionStartMessage(sid, new byte[32], 1));
        Assert.That(Assert.Throws<ProtocolViolationException>(() => t.Banks[0].Receive(wrongRoster))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(t.Banks[0].State, Is.EqualTo("AwaitingSessionStart"));
        using var small = new HomomorphicBankParty(1, t.Banks[1].Roster, Ed25519SigningKey.Generate(TestRandom.Create("party/id/1")), new InMemoryDecryptionLedger(), maxMessageBytes: 64);
        Assert.That(Assert.Throws<ProtocolViolationException>(() => small.Receive(new byte[65]))!.Reason, Is.EqualTo(ViolationReason.Oversized));
        Assert.Throws<ArgumentException>(() => _ = new HomomorphicBankParty(1, t.Banks[1].Roster, Ed25519SigningKey.Generate(TestRandom.Create("someone else")), new InMemoryDecryptionLedger()),
            "a bank's identity key must be its roster entry");
    }

    [Test]
    public void AnUploadReadInPlace_WithOneBitFlippedInAChunk_IsRefusedAsWhenCopied_AndTheGenuineOneStillCounts()
    {
        // The aggregator reads a received array's chunks in place (HeWire.DecodeToAggregatorInPlace): a flipped bit in a
        // chunk's residues, context or digest is refused exactly as through the copying span path, and changes nothing.
        using var session = HomomorphicSession.SeededForTestsOnly(4, new HomomorphicOptions { Parameters = P, Parallel = false }, [9, 1]);   // c = 1, T = 3
        ulong[][] inputs = Enumerable.Range(0, 4).Select(b => Vector(b, 1, 600)).ToArray();   // three chunks
        HomomorphicAggregatorParty agg = session.Aggregator;
        foreach (int b in Enumerable.Range(0, 4)) session.Party(b).Submit(1, inputs[b]);
        var uploads = new Dictionary<int, byte[]>();
        foreach (HeOutgoing o in agg.StartRound(1, 600)) uploads[o.To] = session.Party(o.To).Receive(o.Bytes).Single();
        var decoded = (HeUploadMessage)HeWire.DecodeToAggregatorInPlace(uploads[2], 4);
        Assert.That(decoded.Chunks, Has.Length.EqualTo(3));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(decoded.Chunks[1], out ArraySegment<byte> seg) && ReferenceEquals(seg.Array, uploads[2]),
            Is.True, "chunk 1 is a slice of the received array");
        int chunkStart = seg.Offset;
        int[] offsets = [chunkStart + 5, chunkStart + RlweCodec.HeaderSize + 3, chunkStart + decoded.Chunks[1].Length / 2, chunkStart + decoded.Chunks[1].Length - 1];
        foreach (int offset in offsets)
        {
            byte[] tampered = (byte[])uploads[2].Clone();
            tampered[offset] ^= 0x10;
            ViolationReason copied = Assert.Throws<ProtocolViolationException>(() => agg.Receive(2, (ReadOnlySpan<byte>)tampered))!.Reason;
            ViolationReason inPlace = Assert.Throws<ProtocolViolationException>(() => agg.Receive(2, tampered))!.Reason;
            Assert.That(inPlace, Is.EqualTo(copied), $"byte {offset}");
            Assert.That(inPlace, Is.AnyOf(ViolationReason.Malformed, ViolationReason.WrongRoundOrState, ViolationReason.AuthenticationFailed), $"byte {offset}");
        }
        foreach (int b in Enumerable.Range(0, 4)) Assert.That(agg.Receive(b, uploads[b]), Is.Empty, $"bank {b}'s genuine upload");
        var pending = new List<HeOutgoing>(agg.CloseUploads([0, 1, 2]));
        while (pending.Count > 0)
        {
            HeOutgoing o = pending[0]; pending.RemoveAt(0);
            foreach (byte[] a in session.Party(o.To).Receive(o.Bytes)) pending.AddRange(agg.Receive(o.To, a));
        }
        ulong[] expected = new ulong[600];
        foreach (ulong[] v in inputs) for (int j = 0; j < 600; j++) expected[j] = (expected[j] + v[j]) & Mask;
        Assert.That(agg.LastOutcome!.Sum, Is.EqualTo(expected), "the refused copies left the sums clean: the round is exact");
    }

    [Test]
    public void AMultiChunkRefusal_IsATypedRoundAbort_EvenInParallel_AndSpendsNothing()
    {
        // A malicious aggregator swaps the signed lists of chunks 1 and 2: every decryptor refuses with a typed round abort
        // (not an AggregateException from the parallel chunk loop), records nothing, and the session goes on.
        using var session = HomomorphicSession.SeededForTestsOnly(4, new HomomorphicOptions { Parameters = P, Parallel = true }, [7, 7]);   // c = 1, T = 3
        ulong[][] inputs = Enumerable.Range(0, 4).Select(b => Vector(b, 1, 600)).ToArray();   // three chunks
        HomomorphicAggregatorParty agg = session.Aggregator;
        foreach (int b in Enumerable.Range(0, 4)) session.Party(b).Submit(1, inputs[b]);
        var pending = new List<HeOutgoing>(agg.StartRound(1, 600));
        while (pending.Count > 0)
        {
            HeOutgoing o = pending[0]; pending.RemoveAt(0);
            foreach (byte[] a in session.Party(o.To).Receive(o.Bytes)) pending.AddRange(agg.Receive(o.To, a));
        }
        HeOutgoing request = agg.CloseUploads([0, 1, 2])[0];
        var genuine = (HeDecryptionRequestMessage)HeWire.DecodeToBank(request.Bytes, 4);
        byte[] swapped = HeWire.Encode(genuine with { ContributorLists = [genuine.ContributorLists[0], genuine.ContributorLists[2], genuine.ContributorLists[1]] });
        long before = session.Party(0).RemainingBudget;
        IReadOnlyList<byte[]> reply = session.Party(0).Receive(swapped);
        var abort = (HeAbortToAggregator)HeWire.DecodeToAggregator(reply.Single(), 4);
        Assert.That(abort.Round, Is.EqualTo(1UL));
        Assert.That(abort.Reason, Is.AnyOf(ViolationReason.WrongRoundOrState, ViolationReason.AuthenticationFailed, ViolationReason.Inconsistent));
        Assert.That(session.Party(0).RemainingBudget, Is.EqualTo(before), "a refused request spends nothing");
        Assert.That(agg.Receive(0, reply.Single()), Has.Count.EqualTo(4), "the aggregator fails the round and tells every bank");
        Assert.That(agg.IsReady, Is.True);
        Assert.That(agg.LastOutcome!.Failure, Is.Not.Null);
    }

    [Test]
    public void ABatchOfChunksPastTheBudget_IsRefusedWhole()
    {
        var ledger = new InMemoryDecryptionLedger();
        byte[] tag = new byte[16];
        (uint, byte[])[] Chunks(int count, byte fill) => Enumerable.Range(0, count).Select(k => ((uint)k, Enumerable.Repeat(fill, 32).ToArray())).ToArray();
        Assert.That(ledger.TryRecordAnswers(tag, 1, Chunks(3, 1), budget: 4), Is.EqualTo(LedgerDecision.Recorded));
        Assert.That(ledger.TryRecordAnswers(tag, 2, Chunks(3, 1), budget: 4), Is.EqualTo(LedgerDecision.BudgetExhausted));
        Assert.That(ledger.AnswersRecorded(tag), Is.EqualTo(3), "nothing of the refused batch was recorded");
        Assert.That(ledger.TryRecordAnswers(tag, 1, Chunks(3, 1), budget: 4), Is.EqualTo(LedgerDecision.Repeat));
        Assert.That(ledger.TryRecordAnswers(tag, 1, [(0u, Enumerable.Repeat((byte)1, 32).ToArray()), (1u, new byte[32])], budget: 4), Is.EqualTo(LedgerDecision.Conflict));
        Assert.That(ledger.TryRecordAnswers(tag, 2, Chunks(1, 1), budget: 4), Is.EqualTo(LedgerDecision.Recorded));
        Assert.That(ledger.AnswersRecorded(tag), Is.EqualTo(4));
    }

    [Test]
    public void AReorderedAdvertList_IsRefused_AndTheGenuineOneIsStillAccepted()
    {
        using var t = new Transcript(3);
        var queue = new Queue<HeOutgoing>(t.Aggregator.StartSession());
        bool tried = false;
        while (queue.Count > 0)
        {
            HeOutgoing o = queue.Dequeue();
            if (o.To == 0 && !tried && HeWire.DecodeToBank(o.Bytes, 3) is HeChannelAdvertsMessage adverts)
            {
                tried = true;
                byte[] reordered = HeWire.Encode(adverts with { Adverts = [adverts.Adverts[0], adverts.Adverts[2], adverts.Adverts[1]] });
                Assert.That(Assert.Throws<ProtocolViolationException>(() => t.Banks[0].Receive(reordered))!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
            }
            foreach (byte[] a in t.Banks[o.To].Receive(o.Bytes))
                foreach (HeOutgoing next in t.Aggregator.Receive(o.To, a)) queue.Enqueue(next);
        }
        Assert.That(tried, Is.True);
        Assert.That(t.Aggregator.IsReady, Is.True, "setup completes after the refused list");
    }

    [Test]
    public void ForgedOrReplayedRoundResults_AreRefused()
    {
        using HomomorphicSession session = Session(3, "parties/results");
        ulong[][] inputs = Enumerable.Range(0, 3).Select(b => Vector(b, 1, 20)).ToArray();
        ulong[] sum = session.Sum(inputs, [0, 1], out _);
        HomomorphicBankParty bank = session.Party(2);
        byte[] sid = session.SessionId;
        ViolationReason Refuse(HeToBank m) => Assert.Throws<ProtocolViolationException>(() => bank.Receive(HeWire.Encode(m)))!.Reason;
        Assert.That(Refuse(new HeRoundResultMessage(sid, 1, [0, 1, 2], [42, 43])), Is.EqualTo(ViolationReason.WrongRoundOrState), "a replay of a closed round");
        Assert.That(Refuse(new HeRoundResultMessage(sid, 1UL << 63, [], [1])), Is.EqualTo(ViolationReason.WrongRoundOrState), "a round never opened");
        Assert.That(Refuse(new HeRoundStartMessage(sid, 1, 20, 1)), Is.EqualTo(ViolationReason.WrongRoundOrState), "a round opened twice");
        Assert.That(bank.TryGetResult(1, out ulong[] kept, out _), Is.True);
        Assert.That(kept, Is.EqualTo(sum));
    }

    [Test]
    public void AQuantizerWhoseBoundCannotFitOneValue_IsRefused()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Quantization.Quantizer(16, 4.0, 16384));
        Assert.That(ex!.Message, Does.Contain("16-bit"));
        Assert.DoesNotThrow(() => _ = new Quantization.Quantizer(16, 4.0, 8191));
    }
}
