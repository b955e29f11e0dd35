using FraudFed.Cryptography;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>
/// Issue 13: a malicious aggregator with colluding banks shows different survivor lists to different honest banks so that
/// the victim's honest neighbours reveal both its self-mask share and its escrow-key share (SPEC.md section 11). Honest
/// banks run MaskingBank unchanged; the attack is <see cref="SplitSurvivorAttack"/>.
/// </summary>
[TestFixture]
public sealed class SplitSurvivorAttackTests
{
    private const int Victim = 0, Length = 8;

    /// <summary>The victim's first <paramref name="count"/> neighbours, chosen after the graph is known (the strongest placement).</summary>
    private static int[] NeighboursOfVictim(Driver d, int count)
    {
        d.UpToReady();
        return d.H.Banks[Victim].Graph.Neighbours(Victim).Take(count).ToArray();
    }

    [Test]
    public void OldSparseDefaults_n100_k14_t11_M51_SevenColludingNeighbours_RecoverTheVictimsInput()
    {
        // The pre-fix defaults: MinimumSurvivors = max(t, n/2 + 1) = 51 satisfies 2M > n + c only for c <= 1 ...
        byte[] session = new byte[16];
        var refused = Assert.Throws<ProtocolViolationException>(() => _ = new MaskingParameters(session, 100, 11, Driver.Bits, degree: 14, minimumSurvivors: 51));
        Assert.That(refused!.Reason, Is.EqualTo(ViolationReason.InsecureParameters), "refused at the default collusion bound c = 33");
        refused = Assert.Throws<ProtocolViolationException>(() => _ = new MaskingParameters(session, 100, 11, Driver.Bits, degree: 14, minimumSurvivors: 51, maxColluders: 2));
        Assert.That(refused!.Reason, Is.EqualTo(ViolationReason.InsecureParameters), "refused at c = 2");
        var old = new MaskingParameters(session, 100, 11, Driver.Bits, degree: 14, minimumSurvivors: 51, maxColluders: 1);

        // ... and seven colluders among the victim's 14 neighbours (fewer than t = 11, fewer than n/3) break it.
        using var d = new Driver(old, "split-survivor/old", Length);
        int[] colluders = NeighboursOfVictim(d, 7);
        SplitSurvivorAttack.Outcome o = SplitSurvivorAttack.Run(d, Victim, colluders);

        Assert.That(o.Refusals, Is.Empty, "no honest bank noticed anything");
        Assert.That(o.SelfMaskShares, Is.GreaterThanOrEqualTo(11));
        Assert.That(o.EscrowKeyShares, Is.GreaterThanOrEqualTo(11));
        Assert.That(o.Recovered, Is.EqualTo(d.Inputs[Victim]), "the aggregator unmasked the victim's input");
    }

    private static IEnumerable<TestCaseData> TightBound()
    {
        yield return new TestCaseData(7, false).SetName("SplitSurvivor/Tight/n=100/k=14/t=11/c=7/M=54/colluders=7/fails");
        yield return new TestCaseData(8, true).SetName("SplitSurvivor/Tight/n=100/k=14/t=11/c=7/M=54/colluders=8/succeeds");
    }

    /// <summary>
    /// Parameters that differ from the old ones only by M = floor((n + c)/2) + 1 = 54 for a declared c = 7: t = 11 still
    /// exceeds 8 colluding neighbours (plus the victim's own share), so with 8 colluders only 2M > n + colluders fails.
    /// </summary>
    [TestCaseSource(nameof(TightBound))]
    public void AtTheDeclaredBoundTheAttackFails_OneColluderBeyondItSucceeds(int colluderCount, bool expectSuccess)
    {
        var p = new MaskingParameters(new byte[16], 100, 11, Driver.Bits, degree: 14, maxColluders: 7);
        Assert.That(p.MinimumSurvivors, Is.EqualTo(54));
        Assert.That(p.NeighbourhoodColluderBound, Is.GreaterThanOrEqualTo(8), "the threshold alone would stop 8 colluders");
        Assert.That(2 * p.MinimumSurvivors, Is.GreaterThan(p.Banks + 7));
        Assert.That(2 * p.MinimumSurvivors, Is.Not.GreaterThan(p.Banks + 8));

        using var d = new Driver(p, "split-survivor/tight-" + colluderCount, Length);
        int[] colluders = NeighboursOfVictim(d, colluderCount);
        SplitSurvivorAttack.Outcome o = SplitSurvivorAttack.Run(d, Victim, colluders);

        if (expectSuccess)
        {
            Assert.That(o.Recovered, Is.EqualTo(d.Inputs[Victim]), "one colluder beyond c: the split succeeds");
            return;
        }
        Assert.That(o.Recovered, Is.Null);
        Assert.That(o.EscrowKeyShares, Is.LessThan(p.Threshold), "kappa_v stays below t shares");
        // Group B can show only 46 honest + 7 colluding signatures < M = 54: its holders abort instead of answering.
        int[] holdersInB = o.GroupB.Where(h => d.H.Banks[Victim].Graph.AreNeighbours(Victim, h)).ToArray();
        Assert.That(holdersInB, Is.Not.Empty);
        foreach (int h in holdersInB)
        {
            Assert.That(o.Refusals[h], Is.EqualTo(ViolationReason.TooFewParticipants), $"bank {h}");
            Assert.That(d.H.Banks[h].State, Is.TypeOf<BankAborted>(), $"bank {h}");
        }
    }

    private static IEnumerable<TestCaseData> NewDefaults()
    {
        // n, sparse: the parameters MaskingSecureSum chooses by default; every colluder the bound covers sits in the victim's neighbourhood.
        yield return new TestCaseData(50, true).SetName("SplitSurvivor/NewDefaults/sparse/n=50");
        yield return new TestCaseData(100, true).SetName("SplitSurvivor/NewDefaults/sparse/n=100");
        yield return new TestCaseData(30, false).SetName("SplitSurvivor/NewDefaults/complete/n=30");
    }

    /// <summary>
    /// At MaskingSecureSum's defaults, c colluders: as many in the victim's neighbourhood as the parameters' per-neighbourhood
    /// bound c_N allows (all c when c &lt;= c_N, as at n = 50 and for the complete graph; c_N of them at n = 100, where more
    /// happens only with probability below 2^-40 over the committed graph seed), the rest anywhere.
    /// </summary>
    [TestCaseSource(nameof(NewDefaults))]
    public void AtTheNewDefaults_CColludersPlacedAmongTheVictimsNeighbours_TheAttackFails(int n, bool sparse)
    {
        MaskingParameters p;
        using (var sum = new MaskingSecureSum(n, Driver.Bits, new MaskingOptions { Sparse = sparse, Random = TestRandom.Create("defaults-" + n), SessionId = new byte[16] }))
            p = sum.Parameters;
        int c = p.MaxColluders;
        Assert.That(c, Is.EqualTo((n + 2) / 3 - 1), "default c = ceil(n/3) - 1");
        Assert.That(2 * p.MinimumSurvivors, Is.GreaterThan(n + c));
        Assert.That(p.IsComplete, Is.EqualTo(!sparse));
        TestContext.Out.WriteLine(p.Description);

        using var d = new Driver(p, $"split-survivor/defaults-{n}", Length);
        int inNeighbourhood = Math.Min(c, p.NeighbourhoodColluderBound);
        int[] near = NeighboursOfVictim(d, inNeighbourhood);
        int[] far = Enumerable.Range(0, n).Where(i => i != Victim && !near.Contains(i) && !d.H.Banks[Victim].Graph.AreNeighbours(Victim, i)).Take(c - near.Length).ToArray();
        if (near.Length + far.Length < c) far = [.. far, .. d.H.Banks[Victim].Graph.Neighbours(Victim).Except(near).Take(c - near.Length - far.Length)];
        int[] colluders = [.. near, .. far];
        Assert.That(colluders.Distinct().Count(), Is.EqualTo(c));

        SplitSurvivorAttack.Outcome o = SplitSurvivorAttack.Run(d, Victim, colluders);

        Assert.That(o.Recovered, Is.Null, "the victim's input stays masked");
        Assert.That(Math.Min(o.SelfMaskShares, o.EscrowKeyShares), Is.LessThan(p.Threshold), "one of b_v, kappa_v stays below t shares");
        Assert.That(o.Refusals.Values, Is.Not.Empty.And.All.EqualTo(ViolationReason.TooFewParticipants), "the short group's holders abort");
    }

    [Test]
    public void SplitLists_AreCaughtWhenTheAggregatorPadsAGroupWithTheOtherListsSignatures()
    {
        // The short group cannot be topped up with signatures over the other list: every signature is checked over the
        // list the bank signed, and one that does not verify aborts the bank (Inconsistent).
        var p = new MaskingParameters(new byte[16], 10, 7, Driver.Bits);
        using var d = new Driver(p, "split-survivor/padded", Length).UpToMaskedInputs();
        int[] everyone = Enumerable.Range(0, 10).ToArray();
        var withList = new SurvivorList(p.SessionId, Driver.Round, everyone);
        var withoutList = new SurvivorList(p.SessionId, Driver.Round, everyone.Where(i => i != Victim).ToArray());
        var sigs = new List<SignerSignature>();
        for (int i = 0; i < 10; i++)
        {
            SurvivorList list = i < 5 ? withList : withoutList;
            sigs.Add(new SignerSignature(i, ConsistencySignature.Decode(d.H.Banks[i].ReceiveSurvivors(list.Encode())).Signature));
        }
        // Bank 7 signed the list without the victim; the aggregator shows it all ten signatures (five over the other list).
        var padded = new UnmaskRequest(p.SessionId, Driver.Round, 7, withoutList.Survivors, sigs.Where(s => s.Signer != Victim).ToArray(), [new ShareRequest(Victim, ShareKind.PairwiseKey)]);
        var ex = Assert.Throws<ProtocolViolationException>(() => d.H.Banks[7].ReceiveUnmaskRequest(padded.Encode()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(d.H.Banks[7].State, Is.TypeOf<BankAborted>());
    }
}
