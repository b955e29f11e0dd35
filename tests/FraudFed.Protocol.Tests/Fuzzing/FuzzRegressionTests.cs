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
}
