// Lifetime of Shamir share material in the masking bank (MaskingBank.cs header): the shares a bank holds are zeroed when the
// round completes, aborts, is abandoned for a new round or the bank is disposed, and a refused message leaves the bank's own
// shares usable. A disposed FieldElement521 throws ObjectDisposedException on use (its limbs are zeroed on Dispose).
// TEST-ONLY seeded randomness (Driver).
using FraudFed.Cryptography;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

[TestFixture]
public sealed class ShareLifetimeTests
{
    private static bool Usable(FieldElement521 value)
    {
        try
        {
            Shamir.P521.EncodeElement(value, new byte[66]);
            return true;
        }
        catch (ObjectDisposedException) { return false; }
    }

    private static FieldElement521[] Values(IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> held)
        => held.Values.SelectMany(v => new[] { v.Self, v.Pairwise }).ToArray();

    [Test]
    public void AnsweringTheUnmaskRequest_ZeroesEveryHeldShare()
    {
        using var d = new Driver(5, 3, "lifetime/complete").UpToRequests(4);
        MaskingBank bank = d.H.Banks[0];
        FieldElement521[] held = Values(((BankConsistencyCheck)bank.State).Held);
        Assert.That(held, Has.Length.EqualTo(2 * 5), "bank 0 holds both shares of all five banks (its own included)");
        Assert.That(held.All(Usable), Is.True);
        bank.ReceiveUnmaskRequest(d.Requests[0]);
        Assert.That(bank.State, Is.InstanceOf<BankCompleted>());
        Assert.That(held.Where(Usable), Is.Empty, "shares left after the round completed");
    }

    [Test]
    public void ARefusedDelivery_KeepsTheOwnShares_AndTheGenuineOneIsAcceptedAfterwards()
    {
        using var d = new Driver(5, 3, "lifetime/refused").UpToDeliveries();
        MaskingBank bank = d.H.Banks[0];
        var st = (BankShareKeys)bank.State;
        byte[] tampered = (byte[])d.Deliveries[0].Clone();
        tampered[^1] ^= 1; // the last bundle's tag: the earlier bundles decode, then the delivery is refused
        Assert.That(Assert.Throws<ProtocolViolationException>(() => bank.ReceiveShares(tampered, d.Inputs[0]))!.Reason, Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(bank.State, Is.SameAs(st));
        Assert.That(Usable(st.OwnSelfShare) && Usable(st.OwnPairwiseShare), Is.True, "the refused delivery took the bank's own shares");
        Assert.DoesNotThrow(() => bank.ReceiveShares(d.Deliveries[0], d.Inputs[0]));
        var next = (BankMaskedInput)bank.State;
        Assert.That(Values(next.Held).All(Usable), Is.True);
        Assert.That(next.Held[0].Self, Is.SameAs(st.OwnSelfShare), "the own share moved into the held set");
    }

    [Test]
    public void AnAbandonedRound_AnAbort_AndDispose_ZeroTheRoundSecrets()
    {
        using var d = new Driver(5, 3, "lifetime/abandon").UpToMaskedInputs();
        // Abandoned: bank 0 sent its masked input, then a new round begins without the old one finishing.
        MaskingBank bank = d.H.Banks[0];
        FieldElement521[] held = Values(((BankMaskedInput)bank.State).Held);
        bank.BeginRound(Driver.Round + 1);
        Assert.That(held.Where(Usable), Is.Empty, "shares of the abandoned round");
        var fresh = (BankShareKeys)bank.State;
        Assert.That(Usable(fresh.OwnSelfShare), Is.True);

        // Disposed in ShareKeys: b and the own shares go.
        bank.Dispose();
        Assert.That(Usable(fresh.OwnSelfShare) || Usable(fresh.OwnPairwiseShare), Is.False);
        Assert.That(fresh.SelfSeed, Is.All.EqualTo((byte)0));

        // Aborted in MaskedInput (too few survivors): the held shares go.
        MaskingBank other = d.H.Banks[1];
        FieldElement521[] otherHeld = Values(((BankMaskedInput)other.State).Held);
        byte[] list = new SurvivorList(d.Parameters.SessionId, Driver.Round, [1, 2]).Encode();
        Assert.That(Assert.Throws<ProtocolViolationException>(() => other.ReceiveSurvivors(list))!.Reason, Is.EqualTo(ViolationReason.TooFewParticipants));
        Assert.That(other.State, Is.InstanceOf<BankAborted>());
        Assert.That(otherHeld.Where(Usable), Is.Empty, "shares left after the abort");
    }
}
