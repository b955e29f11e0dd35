// MaskingBank.ExportState / ImportState (SPEC.md 14.7): a bank restored at any point of setup or between rounds goes on with the
// others and every later sum is the plaintext sum; a bank restored inside a round has left it and can never compute a second
// masked input for it; a state of another session, bank, roster, version or length is refused and builds nothing.
// INSECURE small parameters (n = 5, t = 3, k = 24 bits).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class BankStateTests
{
    private const int N = 5;
    private const int Bits = 24;
    private const int Length = 12;

    /// <summary>Five banks and the aggregator, driven step by step; any bank can be replaced by its restored copy.</summary>
    private sealed class Session : IDisposable
    {
        public Session(string label, byte sessionByte = 0)
        {
            Rng = TestRandom.Create(label);
            byte[] sessionId = new byte[16];
            sessionId[0] = sessionByte;
            P = new MaskingParameters(sessionId, N, 3, Bits);
            Ids = Enumerable.Range(0, N).Select(_ => Ed25519SigningKey.Generate(Rng)).ToArray();
            Pub = Ids.Select(k => k.PublicKey.ToArray()).ToArray();
            Banks = Enumerable.Range(0, N).Select(i => new MaskingBank(P, i, Ids[i], Pub, Rng)).ToArray();
            Agg = new MaskingAggregator(P, Pub);
        }

        public RandomNumberGenerator Rng { get; }
        public MaskingParameters P { get; }
        public Ed25519SigningKey[] Ids { get; }
        public byte[][] Pub { get; }
        public MaskingBank[] Banks { get; }
        public MaskingAggregator Agg { get; }

        /// <summary>Bank <paramref name="id"/> is exported, disposed (the process dies) and rebuilt from the bytes alone.</summary>
        public byte[] Restart(int id)
        {
            byte[] state = Banks[id].ExportState();
            Banks[id].Dispose();
            Banks[id] = MaskingBank.ImportState(P, id, Ids[id], Pub, state, Rng);
            return state;
        }

        public void Dispose()
        {
            foreach (MaskingBank b in Banks) b.Dispose();
            foreach (Ed25519SigningKey k in Ids) k.Dispose();
            Rng.Dispose();
        }
    }

    private static ulong[][] Inputs(int seed)
    {
        Random r = TestRandom.Plain(seed);
        return Enumerable.Range(0, N).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)r.NextInt64(1L << Bits)).ToArray()).ToArray();
    }

    private static ulong[] PlainSum(ulong[][] inputs, IEnumerable<int> banks)
    {
        var sum = new ulong[Length];
        foreach (int b in banks)
            for (int i = 0; i < Length; i++) sum[i] = (sum[i] + inputs[b][i]) & ((1UL << Bits) - 1);
        return sum;
    }

    /// <summary>Setup with an optional restart of <paramref name="restart"/> after "advertise", "reveal" or "ready".</summary>
    private static void Setup(Session s, string? at = null, int restart = -1)
    {
        foreach (MaskingBank b in s.Banks) s.Agg.Receive(b.AdvertiseKeys());
        if (at == "advertise") s.Restart(restart);
        byte[] roster = s.Agg.CloseAdvertiseKeys();
        foreach (MaskingBank b in s.Banks) s.Agg.Receive(b.ReceiveRoster(roster));
        if (at == "reveal") s.Restart(restart);
        byte[] seeds = s.Agg.CloseGraphSeed();
        foreach (MaskingBank b in s.Banks) b.ReceiveGraphSeed(seeds);
        if (at == "ready") s.Restart(restart);
    }

    /// <summary>One full round with every bank that is not in <paramref name="absent"/>.</summary>
    private static ulong[] Round(Session s, uint round, ulong[][] inputs, params int[] absent)
    {
        s.Agg.BeginRound(round, Length);
        MaskingBank[] present = s.Banks.Where(b => !absent.Contains(b.Id)).ToArray();
        foreach (MaskingBank b in present) s.Agg.Receive(b.BeginRound(round));
        IReadOnlyDictionary<int, byte[]> deliveries = s.Agg.CloseShareKeys();
        foreach (var (id, d) in deliveries) s.Agg.Receive(s.Banks[id].ReceiveShares(d, inputs[id]));
        IReadOnlyDictionary<int, byte[]> lists = s.Agg.CloseMaskedInput();
        foreach (var (id, l) in lists) s.Agg.Receive(s.Banks[id].ReceiveSurvivors(l));
        IReadOnlyDictionary<int, byte[]> requests = s.Agg.CloseConsistencyCheck();
        foreach (var (id, q) in requests) s.Agg.Receive(s.Banks[id].ReceiveUnmaskRequest(q));
        return s.Agg.Finish();
    }

    [TestCase("advertise")]
    [TestCase("reveal")]
    [TestCase("ready")]
    public void BankRestoredDuringSetup_FinishesSetup_AndTheNextRoundsAreExact(string at)
    {
        using var s = new Session("state/setup/" + at);
        Setup(s, at, restart: 2);
        Assert.That(s.Banks[2].State, Is.TypeOf<BankReady>());
        Assert.That(s.Banks[2].GraphSeedValue, Is.EqualTo(s.Agg.GraphSeedValue), "the restored bank agreed on the same graph seed");
        for (uint round = 1; round <= 2; round++)
        {
            ulong[][] inputs = Inputs((int)round + at.Length);
            Assert.That(Round(s, round, inputs), Is.EqualTo(PlainSum(inputs, Enumerable.Range(0, N))), $"round {round}");
        }
    }

    [Test]
    public void BanksRestoredBetweenRounds_TakePartInTheNextRound_AndItsSumIsExact()
    {
        using var s = new Session("state/between");
        Setup(s);
        ulong[][] first = Inputs(1);
        Assert.That(Round(s, 1, first), Is.EqualTo(PlainSum(first, Enumerable.Range(0, N))));
        s.Restart(0);
        s.Restart(4);
        Assert.That(s.Banks[0].State, Is.TypeOf<BankCompleted>());
        Assert.That(s.Banks[0].InterruptedRound, Is.Null, "a finished round is not interrupted");
        Assert.That(() => s.Banks[0].BeginRound(1), Throws.TypeOf<ProtocolViolationException>()
            .With.Property(nameof(ProtocolViolationException.Reason)).EqualTo(ViolationReason.WrongRoundOrState), "round 1 stays spent");
        ulong[][] second = Inputs(2);
        Assert.That(Round(s, 2, second), Is.EqualTo(PlainSum(second, Enumerable.Range(0, N))));
    }

    [Test]
    public void ExportedState_IsCanonical_AndImportThenExportGivesTheSameBytes()
    {
        using var s = new Session("state/canonical");
        Setup(s);
        byte[] a = s.Banks[3].ExportState();
        byte[] b = s.Banks[3].ExportState();
        Assert.That(b, Is.EqualTo(a), "two exports of one state");
        using MaskingBank copy = MaskingBank.ImportState(s.P, 3, s.Ids[3], s.Pub, a, s.Rng);
        Assert.That(copy.ExportState(), Is.EqualTo(a));
        // Fixed fields plus one 100-byte entry per bank of the key roster (SPEC.md 14.7).
        Assert.That(a.Length, Is.EqualTo(4 + 1 + 16 + 4 + 16 + 1 + 32 + 1 + 4 + 4 + 1 + 96 + 4 + 1 + 32 + N * 100));
    }

    [TestCase("share-keys")]
    [TestCase("masked-input")]
    [TestCase("consistency")]
    public void BankRestoredInsideARound_HasLeftIt_NeverComputesASecondMaskedInput_AndTheOthersFinishTheRound(string at)
    {
        using var s = new Session("state/inside/" + at);
        Setup(s);
        ulong[][] inputs = Inputs(7);
        const uint round = 1;
        const int restarted = 1;
        s.Agg.BeginRound(round, Length);
        foreach (MaskingBank b in s.Banks) s.Agg.Receive(b.BeginRound(round));
        IReadOnlyDictionary<int, byte[]> deliveries = s.Agg.CloseShareKeys();
        byte[]? firstMasked = null;
        if (at == "share-keys") s.Restart(restarted);
        foreach (var (id, d) in deliveries)
        {
            if (s.Banks[id].State is BankReady) continue;   // the restored bank left the round
            byte[] y = s.Banks[id].ReceiveShares(d, inputs[id]);
            if (id == restarted) firstMasked = y;
            s.Agg.Receive(y);
        }
        if (at == "masked-input") s.Restart(restarted);
        IReadOnlyDictionary<int, byte[]> lists = s.Agg.CloseMaskedInput();
        foreach (var (id, l) in lists)
            if (s.Banks[id].State is not BankReady) s.Agg.Receive(s.Banks[id].ReceiveSurvivors(l));
        if (at == "consistency") s.Restart(restarted);

        MaskingBank r = s.Banks[restarted];
        Assert.That(r.InterruptedRound, Is.EqualTo(round));
        Assert.That(r.State, Is.TypeOf<BankReady>().And.Property(nameof(BankState.Round)).EqualTo(round), "the round is spent");
        // The restored bank can produce no masked input for this round: neither from the same delivery with other values, nor by
        // beginning the round again with fresh secrets.
        ulong[] other = inputs[restarted].Select(v => v ^ 1).ToArray();
        Assert.That(() => r.ReceiveShares(deliveries[restarted], other), Throws.TypeOf<ProtocolViolationException>()
            .With.Property(nameof(ProtocolViolationException.Reason)).EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(() => r.BeginRound(round), Throws.TypeOf<ProtocolViolationException>()
            .With.Property(nameof(ProtocolViolationException.Reason)).EqualTo(ViolationReason.WrongRoundOrState));
        Assert.That(r.ExportState()[StageOffset], Is.EqualTo(3), "re-exported as Ready");

        // It says so (its BankAbort); the others finish the round through dropout recovery.
        s.Agg.Receive(new BankAbort(s.P.SessionId, round, ViolationReason.TooFewParticipants, "restarted").Encode());
        IReadOnlyDictionary<int, byte[]> requests = s.Agg.CloseConsistencyCheck();
        Assert.That(requests.ContainsKey(restarted), Is.EqualTo(at == "consistency"), "asked to unmask only if it signed before the restart");
        foreach (var (id, q) in requests)
            if (id != restarted) s.Agg.Receive(s.Banks[id].ReceiveUnmaskRequest(q));
        ulong[] sum = s.Agg.Finish();
        int[] contributors = at == "share-keys" ? [0, 2, 3, 4] : [0, 1, 2, 3, 4];   // a masked input sent before the restart counts
        Assert.That(sum, Is.EqualTo(PlainSum(inputs, contributors)));
        Assert.That(firstMasked is null, Is.EqualTo(at == "share-keys"));

        ulong[][] next = Inputs(8);
        Assert.That(Round(s, 2, next), Is.EqualTo(PlainSum(next, Enumerable.Range(0, N))), "the restored bank takes part in the next round");
    }

    [Test]
    public void ForeignTruncatedOrAlteredState_IsRefusedWithATypedError_AndBuildsNothing()
    {
        using var s = new Session("state/refused");
        Setup(s);
        byte[] good = s.Banks[2].ExportState();
        byte[] copy = good.ToArray();
        void Refused(byte[] state, ViolationReason reason, string what, MaskingParameters? p = null, int bank = 2)
        {
            Assert.That(() => MaskingBank.ImportState(p ?? s.P, bank, s.Ids[bank], s.Pub, state, s.Rng),
                Throws.TypeOf<ProtocolViolationException>().With.Property(nameof(ProtocolViolationException.Reason)).EqualTo(reason), what);
        }
        byte[] Flip(int at, byte mask) { byte[] b = good.ToArray(); b[at] ^= mask; return b; }

        Refused(good[..^1], ViolationReason.Malformed, "truncated by one byte");
        Refused([.. good, 0], ViolationReason.Malformed, "one trailing byte");
        Refused(good[..40], ViolationReason.Malformed, "shorter than the fixed fields");
        Refused(Flip(0, 0x01), ViolationReason.Malformed, "magic");
        Refused(Flip(4, 0x02), ViolationReason.Malformed, "version 3");
        Refused(Flip(StageOffset, 0x40), ViolationReason.Malformed, "unknown stage");
        Refused(Flip(StageOffset + 1 + 4 + 4 + 1 + 64 + 31, 0x01), ViolationReason.Malformed, "a graph nonce after setup");
        Refused(Flip(RosterOffset + 2 * 100 + 4, 0x01), ViolationReason.Malformed, "this bank's roster entry altered");
        Refused(Flip(StageOffset + 1 + 3, 0x01), ViolationReason.Malformed, "a round number on a Ready state of round 0");
        Refused(good, ViolationReason.Inconsistent, "another session", new MaskingParameters(Enumerable.Repeat((byte)9, 16).ToArray(), N, 3, Bits));
        Refused(good, ViolationReason.Inconsistent, "other parameters", new MaskingParameters(s.P.SessionId, N, 4, Bits));
        using (var other = new Session("state/refused/other"))
            Assert.That(() => MaskingBank.ImportState(s.P, 2, other.Ids[2], other.Pub, good, s.Rng), Throws.TypeOf<ProtocolViolationException>()
                .With.Property(nameof(ProtocolViolationException.Reason)).EqualTo(ViolationReason.Inconsistent), "another identity roster");
        byte[] bank3 = s.Banks[3].ExportState();
        Refused(bank3, ViolationReason.Inconsistent, "another bank's state");
        Assert.That(good, Is.EqualTo(copy), "the input is not changed");
        Assert.That(s.Banks[2].ExportState(), Is.EqualTo(copy), "the exporting bank is unchanged");
        Assert.That(MaskingBank.IsStateOfSession(good, s.P.SessionId), Is.True);
        Assert.That(MaskingBank.IsStateOfSession(good, new byte[16].Select((_, i) => (byte)(i + 1)).ToArray()), Is.False);
    }

    /// <summary>Offset of the stage byte: magic, version, session, bank, n, degree, t, M, k, roster digest (SPEC.md 14.7).</summary>
    private const int StageOffset = 4 + 1 + 16 + 4 + 16 + 1 + 32;

    /// <summary>Offset of the first roster entry: stage, rounds, reason, three 32-byte keys, u32 m.</summary>
    private const int RosterOffset = StageOffset + 1 + 4 + 4 + 1 + 96 + 4;

    [Test]
    public void DisposedBank_RefusesToExport()
    {
        using var s = new Session("state/disposed");
        Setup(s);
        s.Banks[0].Dispose();
        Assert.That(() => s.Banks[0].ExportState(), Throws.TypeOf<ObjectDisposedException>());
    }
}
