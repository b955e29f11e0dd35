using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>The session's graph seed by commit-then-reveal among the banks (SPEC.md section 8.1).</summary>
[TestFixture]
public sealed class GraphSeedTests
{
    private const int N = 12, T = 4, Degree = 4, C = 1;

    private static Driver Sparse(string label) => new(N, T, label, degree: Degree, maxColluders: C);

    private static void RefusedUnchanged(Func<object> state, ViolationReason reason, TestDelegate bad)
    {
        object before = state();
        var ex = Assert.Throws<ProtocolViolationException>(bad);
        Assert.That(ex!.Reason, Is.EqualTo(reason));
        Assert.That(state(), Is.SameAs(before), "state unchanged");
    }

    private static void Aborted(MaskingBank bank, ViolationReason reason, TestDelegate bad)
    {
        var ex = Assert.Throws<ProtocolViolationException>(bad);
        Assert.That(ex!.Reason, Is.EqualTo(reason));
        Assert.That(bank.State, Is.TypeOf<BankAborted>());
        Assert.That(((BankAborted)bank.State).Reason, Is.EqualTo(reason));
    }

    [Test]
    public void EverySession_GetsAFreshGraph_FromTheBanksCsprng()
    {
        // Production randomness (no injected RNG): two sessions with the same parameters and session id.
        var options = new MaskingOptions { Sparse = true, Degree = Degree, Threshold = T, MaxColluders = C, SessionId = new byte[16] };
        using var first = new MaskingSecureSum(N, 32, options);
        using var second = new MaskingSecureSum(N, 32, options);
        ulong[][] inputs = SecureSumTests.Inputs(N, 4, 32, 1);
        Assert.That(first.Sum(inputs).Sum, Is.EqualTo(SecureSumTests.PlainSum(inputs, Enumerable.Range(0, N), 32)));
        Assert.That(second.Sum(inputs).Sum, Is.EqualTo(SecureSumTests.PlainSum(inputs, Enumerable.Range(0, N), 32)));

        byte[] a = first.Harness.Aggregator.GraphSeedValue!, b = second.Harness.Aggregator.GraphSeedValue!;
        Assert.That(a, Is.Not.EqualTo(b), "fresh seed per session");
        Assert.That(Enumerable.Range(0, N).Any(i => !first.Harness.Graph.Neighbours(i).SequenceEqual(second.Harness.Graph.Neighbours(i))), Is.True,
            "a different graph (two random Harary graphs on 12 banks coincide with probability about 1/(11!/2))");
        foreach (MaskingBank bank in first.Harness.Banks) Assert.That(bank.GraphSeedValue, Is.EqualTo(a), $"bank {bank.Id} derived the same seed");
    }

    [Test]
    public void Seed_IsTheHashOfEveryRevealInBankOrder_EachBankMovesIt()
    {
        using var d = Sparse("seed-hash").UpToReady();
        var nonces = new SortedDictionary<int, byte[]>(d.Reveals.ToDictionary(kv => kv.Key, kv => GraphSeedReveal.Decode(kv.Value).Nonce));
        // SHA-256("FraudFed/v1/secagg/graph-seed" || session || u32 count || (u32 bank || nonce) ascending), restated here.
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/graph-seed"));
        h.AppendData(d.Parameters.SessionId);
        byte[] u32 = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)nonces.Count);
        h.AppendData(u32);
        foreach (var (bank, nonce) in nonces)
        {
            BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)bank);
            h.AppendData(u32);
            h.AppendData(nonce);
        }
        byte[] expected = h.GetHashAndReset();
        Assert.That(d.Agg.GraphSeedValue, Is.EqualTo(expected));
        foreach (MaskingBank bank in d.H.Banks) Assert.That(bank.GraphSeedValue, Is.EqualTo(expected));

        // Every bank's nonce moves the seed: no subset of banks (and not the aggregator, which has no nonce) fixes it.
        for (int i = 0; i < N; i++)
        {
            var changed = nonces.ToDictionary(kv => kv.Key, kv => kv.Value);
            changed[i] = (byte[])changed[i].Clone();
            changed[i][0] ^= 1;
            Assert.That(GraphSeed.Derive(d.Parameters.SessionId, changed), Is.Not.EqualTo(expected), $"bank {i}'s nonce");
        }
    }

    [Test]
    public void SeededRuns_AreReproducible_ForVectors()
    {
        // The test-only way to pin a graph: the injected DeterministicRandom fixes every bank's nonce.
        using var a = Sparse("pinned").UpToReady();
        using var b = Sparse("pinned").UpToReady();
        using var other = Sparse("pinned-other").UpToReady();
        Assert.That(b.Agg.GraphSeedValue, Is.EqualTo(a.Agg.GraphSeedValue));
        Assert.That(other.Agg.GraphSeedValue, Is.Not.EqualTo(a.Agg.GraphSeedValue));
    }

    [Test]
    public void Commitment_HidesTheNonce_AndIsBoundToSessionAndBank()
    {
        using var d = Sparse("commitment").UpToReveals();
        AdvertiseKeys adv = KeyRoster.Decode(d.Roster).Keys[3];
        byte[] nonce = GraphSeedReveal.Decode(d.Reveals[3]).Nonce;
        Assert.That(adv.GraphCommitment, Is.EqualTo(GraphSeed.Commit(d.Parameters.SessionId, 3, nonce)));
        Assert.That(adv.GraphCommitment.AsSpan().IndexOf(nonce.AsSpan(0, 8)), Is.EqualTo(-1), "the commitment does not carry the nonce");
        Assert.That(GraphSeed.Opens(d.Parameters.SessionId, 3, adv.GraphCommitment, nonce), Is.True);
        Assert.That(GraphSeed.Opens(d.Parameters.SessionId, 4, adv.GraphCommitment, nonce), Is.False, "bound to the bank");
        Assert.That(GraphSeed.Opens(Enumerable.Repeat((byte)1, 16).ToArray(), 3, adv.GraphCommitment, nonce), Is.False, "bound to the session");
    }

    [Test]
    public void RoundsCannotBeginBeforeTheGraphIsFixed()
    {
        using var d = Sparse("no-round-yet").UpToReveals();
        RefusedUnchanged(() => d.H.Banks[0].State, ViolationReason.WrongRoundOrState, () => d.H.Banks[0].BeginRound(1));
        RefusedUnchanged(() => d.Agg.State, ViolationReason.WrongRoundOrState, () => d.Agg.BeginRound(1, 4));
        Assert.Throws<InvalidOperationException>(() => _ = d.H.Banks[0].Graph);
        Assert.Throws<InvalidOperationException>(() => _ = d.Agg.Graph);
    }

    [Test]
    public void Aggregator_RefusesARevealThatDoesNotOpenItsCommitment()
    {
        using var d = Sparse("agg-bad-reveal").UpToReveals();
        foreach (var (id, r) in d.Reveals) if (id != 2) d.Agg.Receive(r);
        GraphSeedReveal genuine = GraphSeedReveal.Decode(d.Reveals[2]);
        byte[] other = (byte[])genuine.Nonce.Clone();
        other[31] ^= 0x80;
        // Bank 2 itself signs another nonce (a cheating bank trying to choose the seed late): refused, state unchanged.
        byte[] cheating = (genuine with { Nonce = other }).Encode(d.H.IdentityOf(2));
        RefusedUnchanged(() => d.Agg.State, ViolationReason.AuthenticationFailed, () => d.Agg.Receive(cheating));
        // Someone else's signature over bank 2's reveal: refused.
        RefusedUnchanged(() => d.Agg.State, ViolationReason.AuthenticationFailed, () => d.Agg.Receive(genuine.Encode(d.H.IdentityOf(3))));
        RefusedUnchanged(() => d.Agg.State, ViolationReason.WrongRoundOrState, () => d.Agg.CloseAdvertiseKeys());
        d.Agg.Receive(d.Reveals[2]);
        RefusedUnchanged(() => d.Agg.State, ViolationReason.Duplicate, () => d.Agg.Receive(d.Reveals[2]));
        Assert.DoesNotThrow(() => d.Agg.CloseGraphSeed());
    }

    [Test]
    public void Aggregator_WithoutEveryReveal_AbortsInsteadOfFixingASeed()
    {
        using var d = Sparse("agg-missing").UpToReveals();
        foreach (var (id, r) in d.Reveals) if (id != 5) d.Agg.Receive(r);
        var ex = Assert.Throws<ProtocolViolationException>(() => d.Agg.CloseGraphSeed());
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(d.Agg.State, Is.TypeOf<AggregatorAborted>());
    }

    [Test]
    public void Bank_AbortsOnASignedRevealThatDoesNotOpenItsCommitment()
    {
        using var d = Sparse("bank-bad-reveal").UpToSeedRoster();
        GraphSeedRoster roster = GraphSeedRoster.Decode(d.SeedRoster);
        GraphSeedReveal r2 = roster.Reveals.Single(r => r.Sender == 2);
        byte[] other = (byte[])r2.Nonce.Clone();
        other[0] ^= 1;
        // Bank 2 colludes with the aggregator and signs a second nonce after seeing everyone else's.
        GraphSeedReveal late = GraphSeedReveal.Decode((r2 with { Nonce = other }).Encode(d.H.IdentityOf(2)));
        byte[] forged = (roster with { Reveals = roster.Reveals.Select(r => r.Sender == 2 ? late : r).ToArray() }).Encode();
        Aborted(d.H.Banks[0], ViolationReason.AuthenticationFailed, () => d.H.Banks[0].ReceiveGraphSeed(forged));
    }

    [Test]
    public void Aggregator_CannotSubstituteARevealOrACommitment()
    {
        using var d = Sparse("substitute").UpToSeedRoster();
        MaskingBank bank = d.H.Banks[0];
        GraphSeedRoster roster = GraphSeedRoster.Decode(d.SeedRoster);
        // Another nonce under bank 2's genuine signature: the signature covers the nonce.
        GraphSeedReveal r2 = roster.Reveals.Single(r => r.Sender == 2);
        byte[] other = (byte[])r2.Nonce.Clone();
        other[7] ^= 4;
        GraphSeedReveal swapped = r2 with { Nonce = other };
        RefusedUnchanged(() => bank.State, ViolationReason.AuthenticationFailed,
            () => bank.ReceiveGraphSeed((roster with { Reveals = roster.Reveals.Select(r => r.Sender == 2 ? swapped : r).ToArray() }).Encode()));
        // This bank's own reveal cannot be replaced either.
        GraphSeedReveal mine = roster.Reveals.Single(r => r.Sender == 0);
        byte[] notMine = (byte[])mine.Nonce.Clone();
        notMine[1] ^= 2;
        RefusedUnchanged(() => bank.State, ViolationReason.AuthenticationFailed,
            () => bank.ReceiveGraphSeed((roster with { Reveals = roster.Reveals.Select(r => r.Sender == 0 ? mine with { Nonce = notMine } : r).ToArray() }).Encode()));
        // Nor a commitment: it travels inside the signed AdvertiseKeys.
        using (var early = Sparse("substitute-commitment"))
        {
            foreach (MaskingBank b in early.H.Banks) early.Agg.Receive(b.AdvertiseKeys());
            KeyRoster keys = KeyRoster.Decode(early.Agg.CloseAdvertiseKeys());
            AdvertiseKeys moved = keys.Keys[3] with { GraphCommitment = GraphSeed.Commit(early.Parameters.SessionId, 3, new byte[32]) };
            RefusedUnchanged(() => early.H.Banks[0].State, ViolationReason.AuthenticationFailed,
                () => early.H.Banks[0].ReceiveRoster((keys with { Keys = keys.Keys.Select(k => k.Sender == 3 ? moved : k).ToArray() }).Encode()));
        }
        // The genuine roster is still accepted.
        bank.ReceiveGraphSeed(d.SeedRoster);
        Assert.That(bank.State.Stage, Is.EqualTo(MaskingStage.Ready));
    }

    [Test]
    public void Bank_AbortsOnAMissingOrDuplicatedReveal()
    {
        using var d = Sparse("bank-missing").UpToSeedRoster();
        GraphSeedRoster roster = GraphSeedRoster.Decode(d.SeedRoster);
        Aborted(d.H.Banks[0], ViolationReason.Inconsistent,
            () => d.H.Banks[0].ReceiveGraphSeed((roster with { Reveals = roster.Reveals.Where(r => r.Sender != 7).ToArray() }).Encode()));
        Aborted(d.H.Banks[1], ViolationReason.Duplicate,
            () => d.H.Banks[1].ReceiveGraphSeed((roster with { Reveals = [.. roster.Reveals, roster.Reveals[4]] }).Encode()));
        RefusedUnchanged(() => d.H.Banks[2].State, ViolationReason.WrongRoundOrState,
            () => d.H.Banks[2].ReceiveGraphSeed((roster with { SessionId = Enumerable.Repeat((byte)3, 16).ToArray() }).Encode()));
        d.H.Banks[2].ReceiveGraphSeed(d.SeedRoster);
        Assert.That(d.H.Banks[2].Graph.Degree, Is.EqualTo(Degree));
    }
}
