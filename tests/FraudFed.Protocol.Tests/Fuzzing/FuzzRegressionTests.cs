// Regression tests for what the mutation fuzz loop (DecoderFuzzTests, HePartyFuzzTests) found, one test per finding, each
// built from a genuine message changed in the one way the finding needs. TEST-ONLY seeded sessions.
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Tests.Masking;
using FraudFed.Testing.Fuzzing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Fuzzing;

[TestFixture]
public sealed class FuzzRegressionTests
{
    /// <summary>
    /// SPEC.md 14.3 accepts only the canonical encoding. Two fields swapped keep the size, so the earlier size-only check
    /// let them through (found by the fuzz loop, seed 7013 mutant #44): the bytes are now compared with the re-encoding.
    /// </summary>
    [Test]
    public void MaskingWire_RefusesFieldsOutOfNumberOrder_InTheWrapperAndInsideAStep()
    {
        using var d = new Driver(3, 2, "fuzz/regression/field-order").UpToMaskedInputs();
        foreach (byte[] genuine in new[] { d.Masked[0], d.ShareKeys[1] })
        {
            Assert.That(() => MaskingWire.DecodeToAggregator(genuine), Throws.Nothing, "the genuine message decodes");
            List<ProtoField> top = ProtoFields.TryParse(genuine)!;
            // The wrapper: protocol_version (1) and session_id (2) swapped.
            List<ProtoField> swapped = top.Select(f => f.Clone()).ToList();
            (swapped[0], swapped[1]) = (swapped[1], swapped[0]);
            byte[] outer = ProtoFields.Write(swapped);
            Assert.That(outer, Has.Length.EqualTo(genuine.Length), "same size, other order");
            Assert.That(Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeToAggregator(outer))!.Reason, Is.EqualTo(ViolationReason.Malformed));
            // Inside the step: its body (1) and signature (2) swapped.
            List<ProtoField> inner = top.Select(f => f.Clone()).ToList();
            List<ProtoField> step = inner[^1].Children!;
            Assert.That(step, Has.Count.EqualTo(2), "a signed step holds body and signature");
            (step[0], step[1]) = (step[1], step[0]);
            byte[] innerBytes = ProtoFields.Write(inner);
            Assert.That(innerBytes, Has.Length.EqualTo(genuine.Length));
            Assert.That(Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeToAggregator(innerBytes))!.Reason, Is.EqualTo(ViolationReason.Malformed));
        }
    }

    /// <summary>
    /// SPEC.md 9 fixes the order of the relayed lists (key_roster, graph_seed_roster, share_delivery bundles, unmask_request
    /// signatures and requests). Two entries swapped were accepted (found by the fuzz loop, seed 9007 mutant #19, seed 9009
    /// mutant #79); they are now Malformed, and the genuine list is accepted after the refusal.
    /// </summary>
    [Test]
    public void MaskingBank_RefusesRelayedListsOutOfOrder_AndKeepsItsState()
    {
        using var d = new Driver(4, 3, "fuzz/regression/list-order").UpToDeliveries();
        foreach (var (name, genuine) in new[] { ("key_roster", d.Roster), ("share_delivery", d.Deliveries[0]) })
        {
            List<ProtoField> top = ProtoFields.TryParse(genuine)!;
            List<ProtoField> step = top[^1].Children!;
            int first = step.FindIndex(f => f.WireType == 2 && f.Children is not null && step.Count(g => g.Number == f.Number) >= 2);
            Assert.That(first, Is.GreaterThanOrEqualTo(0), $"{name}: a repeated list to reorder");
            int second = step.FindIndex(first + 1, f => f.Number == step[first].Number);
            (step[first], step[second]) = (step[second], step[first]);
            byte[] reordered = ProtoFields.Write(top);
            var ex = Assert.Throws<ProtocolViolationException>(() => MaskingWire.DecodeToBank(reordered), name);
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed), name);
        }
        // The bank in the state that expects the delivery refuses the reordered one and accepts the genuine one.
        MaskingBank bank0 = d.H.Banks[0];
        object before = bank0.State;
        List<ProtoField> delivery = ProtoFields.TryParse(d.Deliveries[0])!;
        List<ProtoField> bundles = delivery[^1].Children!;
        int a = bundles.FindIndex(f => f.Number == 3), b = bundles.FindLastIndex(f => f.Number == 3);
        Assert.That(b, Is.GreaterThan(a), "bank 0 receives at least two bundles");
        (bundles[a], bundles[b]) = (bundles[b], bundles[a]);
        Assert.Throws<ProtocolViolationException>(() => bank0.ReceiveShares(ProtoFields.Write(delivery), d.Inputs[0]));
        Assert.That(bank0.State, Is.SameAs(before), "the refusal changed nothing");
        Assert.That(() => bank0.ReceiveShares(d.Deliveries[0], d.Inputs[0]), Throws.Nothing);
    }
}
