using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

using Wire = FraudFed.Protocol.Masking.Wire;

/// <summary>Bad input leaves the state unchanged and a correct message is still accepted afterwards;
/// a malicious aggregator is refused or caught.</summary>
[TestFixture]
public sealed class AdversarialTests
{
    private static void RefusedUnchanged(Func<object> state, ViolationReason reason, TestDelegate bad)
    {
        object before = state();
        var ex = Assert.Throws<ProtocolViolationException>(bad);
        Assert.That(ex!.Reason, Is.EqualTo(reason));
        Assert.That(state(), Is.SameAs(before), "state unchanged");
    }

    private static byte[] Flip(byte[] m, int index) { byte[] c = (byte[])m.Clone(); c[index] ^= 1; return c; }

    // ---------- aggregator side ----------

    [Test]
    public void Aggregator_ShareKeys_BadInputs_LeaveStateUnchanged()
    {
        using var d = new Driver(5, 3, "agg-sharekeys").UpToShareKeys();
        var agg = d.Agg;
        byte[] genuine = d.ShareKeys[1];
        ShareKeys parsed = ShareKeys.Decode(genuine);
        var key = d.H.IdentityOf(1);
        Func<object> st = () => agg.State;

        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => agg.Receive((parsed with { SessionId = Enumerable.Repeat((byte)9, 16).ToArray() }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => agg.Receive((parsed with { Round = 2 }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.UnknownSender, () => agg.Receive((parsed with { Sender = 5 }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => agg.Receive(ShareKeys.Decode(d.ShareKeys[2]).Encode(key))); // bank 1 signing bank 2's message
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => agg.Receive(Flip(genuine, genuine.Length - 1)));
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => agg.Receive(Flip(genuine, genuine.AsSpan().IndexOf("FFSA"u8) + 40))); // a ciphertext byte of the body: signature covers it
        RefusedUnchanged(st, ViolationReason.Malformed, () => agg.Receive(genuine.AsSpan(0, genuine.Length - 1)));
        RefusedUnchanged(st, ViolationReason.Malformed, () => agg.Receive((parsed with { Escrows = parsed.Escrows.Skip(1).ToArray() }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => agg.Receive(new AdvertiseKeys(new byte[16], 1, new byte[32], new byte[32], new byte[32]).Encode(key)));

        agg.Receive(genuine);
        RefusedUnchanged(st, ViolationReason.Duplicate, () => agg.Receive(genuine));
        Assert.That(((AggregatorShareKeys)agg.State).Stage, Is.EqualTo(MaskingStage.ShareKeys));
        foreach (var (id, m) in d.ShareKeys) if (id != 1) agg.Receive(m);
        Assert.That(agg.CloseShareKeys().Keys, Is.EquivalentTo(new[] { 0, 1, 2, 3, 4 }));
    }

    [Test]
    public void Aggregator_NonMemberOfSession_IsRefused()
    {
        using var d = new Driver(5, 3, "agg-nonmember");
        var present = d.H.Banks.Where(b => b.Id != 4).ToArray();
        foreach (var b in present) d.Agg.Receive(b.AdvertiseKeys());
        byte[] roster = d.Agg.CloseAdvertiseKeys();
        foreach (byte[] reveal in present.Select(b => b.ReceiveRoster(roster)).ToArray()) d.Agg.Receive(reveal);
        // Bank 4 never advertised, so it has no commitment: its (validly signed) reveal is refused.
        var stray = new GraphSeedReveal(new byte[16], 4, new byte[32]).Encode(d.H.IdentityOf(4));
        RefusedUnchanged(() => d.Agg.State, ViolationReason.UnknownSender, () => d.Agg.Receive(stray));
        byte[] seeds = d.Agg.CloseGraphSeed();
        foreach (var b in present) b.ReceiveGraphSeed(seeds);
        d.Agg.BeginRound(1, Driver.Length);
        // Bank 4 never advertised: its (validly signed) ShareKeys is refused.
        var forged = new ShareKeys(new byte[16], 1, 4, [], []).Encode(d.H.IdentityOf(4));
        RefusedUnchanged(() => d.Agg.State, ViolationReason.UnknownSender, () => d.Agg.Receive(forged));
        d.Agg.Receive(d.H.Banks[0].BeginRound(1));
    }

    [Test]
    public void Aggregator_MaskedInput_BadInputs_LeaveStateUnchanged()
    {
        using var d = new Driver(5, 3, "agg-masked").UpToMaskedInputs();
        var agg = d.Agg;
        byte[] genuine = d.Masked[2];
        MaskedInput parsed = MaskedInput.Decode(genuine);
        var key = d.H.IdentityOf(2);
        Func<object> st = () => agg.State;
        int w = ModVector.BytesPerValue(Driver.Bits);

        RefusedUnchanged(st, ViolationReason.Malformed, () => agg.Receive((parsed with { Length = Driver.Length + 1, Packed = [.. parsed.Packed, 0, 0, 0] }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.Malformed, () => agg.Receive((parsed with { ModulusBits = 32, Packed = new byte[Driver.Length * 4] }).Encode(key)));
        byte[] tooBig = (byte[])parsed.Packed.Clone();
        tooBig[w - 1] = 0xFF; tooBig[w - 2] = 0xFF; tooBig[w - 3] = 0xFF; // 24-bit values use all 3 bytes: still valid
        Assert.DoesNotThrow(() => MaskedInput.Decode((parsed with { Packed = tooBig }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => agg.Receive(Flip(genuine, genuine.AsSpan().IndexOf("FFSA"u8) + Wire.HeaderSize + 9)));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => agg.Receive((parsed with { Round = 7 }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.UnknownSender, () => agg.Receive((parsed with { Sender = 99 }).Encode(key)));

        agg.Receive(genuine);
        RefusedUnchanged(st, ViolationReason.Duplicate, () => agg.Receive(genuine));
        foreach (var (id, m) in d.Masked) if (id != 2) agg.Receive(m);
        Assert.That(agg.CloseMaskedInput().Keys.Count(), Is.EqualTo(5));
    }

    [Test]
    public void MaskedInput_ValueNotBelow2PowK_IsOutOfRange()
    {
        using var d = new Driver(5, 3, "masked-range");
        // k = 20 packs in 3 bytes: a set top nibble is out of range.
        var p20 = new MaskedInput(new byte[16], 1, 0, 20, 2, [0, 0, 0x10, 0, 0, 0]);
        var ex = Assert.Throws<ProtocolViolationException>(() => MaskedInput.Decode(p20.Encode(d.H.IdentityOf(0))));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.OutOfRange));
    }

    [Test]
    public void Aggregator_UnmaskResponse_BadInputs_LeaveStateUnchanged()
    {
        using var d = new Driver(5, 3, "agg-unmask").UpToRequests();
        var agg = d.Agg;
        byte[] genuine = d.H.Banks[3].ReceiveUnmaskRequest(d.Requests[3]);
        UnmaskResponse parsed = UnmaskResponse.Decode(genuine);
        var key = d.H.IdentityOf(3);
        Func<object> st = () => agg.State;

        byte[] notInField = Enumerable.Repeat((byte)0xFF, 66).ToArray();
        RevealedShare[] bad = [parsed.Shares[0] with { Y = notInField }, .. parsed.Shares.Skip(1)];
        RefusedUnchanged(st, ViolationReason.OutOfRange, () => agg.Receive((parsed with { Shares = bad }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.Malformed, () => agg.Receive((parsed with { Shares = parsed.Shares.Skip(1).ToArray() }).Encode(key)));
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => agg.Receive(Flip(genuine, genuine.Length - 10)));

        agg.Receive(genuine);
        RefusedUnchanged(st, ViolationReason.Duplicate, () => agg.Receive(genuine));
        foreach (var (id, r) in d.Requests) if (id != 3) agg.Receive(d.H.Banks[id].ReceiveUnmaskRequest(r));
        Assert.That(agg.Finish(), Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, Enumerable.Range(0, 5), Driver.Bits)));
    }

    // ---------- bank side ----------

    [Test]
    public void Bank_Roster_BadSignature_LeavesStateUnchanged()
    {
        using var d = new Driver(4, 3, "bank-roster");
        foreach (var b in d.H.Banks) d.Agg.Receive(b.AdvertiseKeys());
        byte[] roster = d.Agg.CloseAdvertiseKeys();
        var bank = d.H.Banks[0];
        KeyRoster parsed = KeyRoster.Decode(roster);
        var tampered = parsed.Keys.ToArray();
        byte[] sig = (byte[])tampered[2].Signature.Clone(); sig[5] ^= 1;
        tampered[2] = tampered[2] with { Signature = sig };
        RefusedUnchanged(() => bank.State, ViolationReason.AuthenticationFailed, () => bank.ReceiveRoster((parsed with { Keys = tampered }).Encode()));
        RefusedUnchanged(() => bank.State, ViolationReason.Duplicate, () => bank.ReceiveRoster((parsed with { Keys = [.. parsed.Keys, parsed.Keys[1]] }).Encode()));
        RefusedUnchanged(() => bank.State, ViolationReason.Inconsistent, () => bank.ReceiveRoster((parsed with { Keys = parsed.Keys.Skip(1).ToArray() }).Encode()));
        bank.ReceiveRoster(roster);
        Assert.That(bank.State.Stage, Is.EqualTo(MaskingStage.GraphSeed));
    }

    [Test]
    public void Bank_Delivery_BadInputs_LeaveStateUnchanged()
    {
        using var d = new Driver(5, 3, "bank-delivery").UpToDeliveries();
        var bank = d.H.Banks[2];
        byte[] genuine = d.Deliveries[2];
        ShareDelivery parsed = ShareDelivery.Decode(genuine);
        Func<object> st = () => bank.State;
        ulong[] input = d.Inputs[2];

        var tamperedCt = parsed.Shares.ToArray();
        tamperedCt[1] = tamperedCt[1] with { Ciphertext = Flip(tamperedCt[1].Ciphertext, 20) };
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => bank.ReceiveShares((parsed with { Shares = tamperedCt }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.Duplicate, () => bank.ReceiveShares((parsed with { Shares = [parsed.Shares[0], .. parsed.Shares] }).Encode(), input));
        // A bundle relabelled as coming from another neighbour fails the AEAD (nonce and AD bind the sender).
        RefusedUnchanged(st, ViolationReason.AuthenticationFailed, () => bank.ReceiveShares((parsed with { Shares = [parsed.Shares[0] with { Peer = parsed.Shares[1].Peer }] }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.UnknownSender, () => bank.ReceiveShares((parsed with { Shares = [parsed.Shares[0] with { Peer = 77 }] }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.UnknownSender, () => bank.ReceiveShares((parsed with { Shares = [parsed.Shares[0] with { Peer = 2 }] }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => bank.ReceiveShares((parsed with { Round = 2 }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => bank.ReceiveShares((parsed with { SessionId = Enumerable.Repeat((byte)1, 16).ToArray() }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.Malformed, () => bank.ReceiveShares((parsed with { Recipient = 3 }).Encode(), input));
        RefusedUnchanged(st, ViolationReason.Malformed, () => bank.ReceiveShares(genuine.AsSpan(0, 30), input));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => bank.ReceiveSurvivors(new SurvivorList(new byte[16], 1, [0, 1, 2]).Encode()));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => bank.BeginRound(1));

        byte[] masked = bank.ReceiveShares(genuine, input);
        Assert.That(bank.State.Stage, Is.EqualTo(MaskingStage.MaskedInput));
        Assert.That(MaskedInput.Decode(masked).Length, Is.EqualTo(Driver.Length));
    }

    [Test]
    public void Bank_Delivery_FromNonNeighbour_IsUnknownSender()
    {
        using var d = new Driver(9, 3, "bank-nonneighbour", degree: 2, maxColluders: 1).UpToDeliveries();
        var bank = d.H.Banks[0];
        NeighbourGraph graph = bank.Graph;
        int stranger = Enumerable.Range(1, 8).First(j => !graph.AreNeighbours(0, j));
        ShareDelivery parsed = ShareDelivery.Decode(d.Deliveries[0]);
        RefusedUnchanged(() => bank.State, ViolationReason.UnknownSender,
            () => bank.ReceiveShares((parsed with { Shares = [parsed.Shares[0] with { Peer = stranger }] }).Encode(), d.Inputs[0]));
        bank.ReceiveShares(d.Deliveries[0], d.Inputs[0]);
    }

    [Test]
    public void Bank_SurvivorList_BadInputs()
    {
        using var d = new Driver(5, 3, "bank-survivors").UpToLists(4);
        var bank = d.H.Banks[1];
        Func<object> st = () => bank.State;
        RefusedUnchanged(st, ViolationReason.Inconsistent, () => bank.ReceiveSurvivors(new SurvivorList(new byte[16], 1, [0, 2, 3]).Encode()));
        RefusedUnchanged(st, ViolationReason.WrongRoundOrState, () => bank.ReceiveSurvivors(new SurvivorList(new byte[16], 3, [0, 1, 2, 3]).Encode()));
        RefusedUnchanged(st, ViolationReason.Malformed, () => bank.ReceiveSurvivors(Flip(new SurvivorList(new byte[16], 1, [0, 1, 2, 3]).Encode(), 0)));
        bank.ReceiveSurvivors(d.Lists[1]);
        Assert.That(bank.State.Stage, Is.EqualTo(MaskingStage.ConsistencyCheck));
    }

    // ---------- malicious aggregator ----------

    [Test]
    public void MaliciousAggregator_AskingBothSharesOfOnePeer_IsRefused_ThenHonestRequestCompletes()
    {
        using var d = new Driver(6, 4, "both-shares").UpToRequests(0); // bank 0 dropped after ShareKeys
        var bank = d.H.Banks[3];
        UnmaskRequest genuine = UnmaskRequest.Decode(d.Requests[3]);
        Assert.That(genuine.Requests, Does.Contain(new ShareRequest(0, ShareKind.PairwiseKey)));
        Func<object> st = () => bank.State;

        RefusedUnchanged(st, ViolationReason.Refused, () => bank.ReceiveUnmaskRequest((genuine with { Requests = [.. genuine.Requests, new ShareRequest(0, ShareKind.SelfMask)] }).Encode()));
        RefusedUnchanged(st, ViolationReason.Refused, () => bank.ReceiveUnmaskRequest((genuine with { Requests = [.. genuine.Requests, new ShareRequest(1, ShareKind.PairwiseKey)] }).Encode()));
        var selfForDropped = genuine.Requests.Select(q => q.Peer == 0 ? new ShareRequest(0, ShareKind.SelfMask) : q).ToArray();
        RefusedUnchanged(st, ViolationReason.Refused, () => bank.ReceiveUnmaskRequest((genuine with { Requests = selfForDropped }).Encode()));
        RefusedUnchanged(st, ViolationReason.Duplicate, () => bank.ReceiveUnmaskRequest((genuine with { Requests = [.. genuine.Requests, genuine.Requests[0]] }).Encode()));
        RefusedUnchanged(st, ViolationReason.Malformed, () => bank.ReceiveUnmaskRequest((genuine with { Recipient = 2 }).Encode()));

        foreach (var (id, r) in d.Requests) d.Agg.Receive(d.H.Banks[id].ReceiveUnmaskRequest(r));
        Assert.That(d.Agg.Finish(), Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [1, 2, 3, 4, 5], Driver.Bits)));
    }

    [Test]
    public void MaliciousAggregator_DifferentSurvivorLists_IsCaught_RoundAborts()
    {
        const int n = 6;
        using var d = new Driver(n, 3, "split-view").UpToMaskedInputs();
        foreach (byte[] m in d.Masked.Values) d.Agg.Receive(m);
        d.Agg.CloseMaskedInput();
        // The aggregator tells banks 0-2 that everyone survived, and banks 3-5 that bank 0 dropped,
        // hoping to collect bank 0's self-mask shares from the first group and its pairwise-key shares from the second.
        byte[] all = new SurvivorList(new byte[16], 1, [0, 1, 2, 3, 4, 5]).Encode();
        byte[] without0 = new SurvivorList(new byte[16], 1, [1, 2, 3, 4, 5]).Encode();
        var sigs = new List<SignerSignature>();
        for (int i = 0; i < n; i++)
        {
            byte[] list = i < 3 ? all : without0;
            if (i == 0) continue; // bank 0 is told nothing
            sigs.Add(new SignerSignature(i, ConsistencySignature.Decode(d.H.Banks[i].ReceiveSurvivors(list)).Signature));
        }
        var toBank1 = new UnmaskRequest(new byte[16], 1, 1, [0, 1, 2, 3, 4, 5], sigs, [new ShareRequest(0, ShareKind.SelfMask)]);
        var ex = Assert.Throws<ProtocolViolationException>(() => d.H.Banks[1].ReceiveUnmaskRequest(toBank1.Encode()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(d.H.Banks[1].State, Is.TypeOf<BankAborted>());
        Assert.Throws<ProtocolViolationException>(() => d.H.Banks[1].BeginRound(2), "an aborted bank stays aborted");

        // Bank 4 signed the list without bank 0; a request carrying another list is caught as well.
        var toBank4 = new UnmaskRequest(new byte[16], 1, 4, [0, 1, 2, 3, 4, 5], sigs.Where(s => s.Signer >= 3).ToArray(), [new ShareRequest(0, ShareKind.PairwiseKey)]);
        ex = Assert.Throws<ProtocolViolationException>(() => d.H.Banks[4].ReceiveUnmaskRequest(toBank4.Encode()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(d.H.Banks[4].State, Is.TypeOf<BankAborted>());
    }

    [Test]
    public void MaliciousBank_WrongRevealedShare_IsCaught_WhenMoreThanTHoldersAnswer()
    {
        using var d = new Driver(6, 4, "wrong-share").UpToRequests();
        var responses = d.Requests.ToDictionary(kv => kv.Key, kv => d.H.Banks[kv.Key].ReceiveUnmaskRequest(kv.Value));
        // Bank 5 reveals a share of bank 2's self-mask seed that is off by one bit, correctly signed.
        UnmaskResponse honest = UnmaskResponse.Decode(responses[5]);
        RevealedShare[] forged = honest.Shares.Select(sh =>
        {
            if (sh.Peer != 2) return sh;
            byte[] y = (byte[])sh.Y.Clone();
            y[^1] ^= 1;
            return sh with { Y = y };
        }).ToArray();
        Assert.That(forged.Select(f => f.Peer), Does.Contain(2));
        responses[5] = (honest with { Shares = forged }).Encode(d.H.IdentityOf(5));
        foreach (byte[] r in responses.Values) d.Agg.Receive(r);

        var ex = Assert.Throws<ProtocolViolationException>(() => d.Agg.Finish());
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Inconsistent));
        Assert.That(d.Agg.State, Is.TypeOf<AggregatorAborted>(), "no sum is released");
    }

    [Test]
    public void HonestBanks_MoreThanTHoldersAnswer_ShareCheckPasses()
    {
        using var d = new Driver(6, 4, "extra-shares").UpToRequests();
        foreach (var (id, r) in d.Requests) d.Agg.Receive(d.H.Banks[id].ReceiveUnmaskRequest(r));
        Assert.That(d.Agg.Finish(), Is.EqualTo(SecureSumTests.PlainSum(d.Inputs, [0, 1, 2, 3, 4, 5], Driver.Bits)));
    }

    [Test]
    public void MaliciousAggregator_TooFewSignatures_Aborts()
    {
        using var d = new Driver(6, 4, "few-sigs").UpToRequests();
        UnmaskRequest genuine = UnmaskRequest.Decode(d.Requests[2]);
        var ex = Assert.Throws<ProtocolViolationException>(() => d.H.Banks[2].ReceiveUnmaskRequest((genuine with { Signatures = genuine.Signatures.Take(3).ToArray() }).Encode()));
        Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(d.H.Banks[2].State, Is.TypeOf<BankAborted>());
    }
}
