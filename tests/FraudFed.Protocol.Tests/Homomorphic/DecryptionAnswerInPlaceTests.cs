// The bank's answer to a decryption request written in place (HeWire.LayoutDecryptionShares, DecryptionGuard.GenDecryptionSharesInto,
// ThresholdKeyShare.GenDecryptionShare into a span) against the path it replaces: shares as arrays, then the protobuf encoder.
// Bit for bit on the same requests, and the same refusals with nothing recorded.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class DecryptionAnswerInPlaceTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    private static HomomorphicSession Session(string label) => HomomorphicSession.SeededForTestsOnly(5, new HomomorphicOptions
    {
        Parameters = P, Parallel = false,
    }, System.Text.Encoding.UTF8.GetBytes(label));   // T = 4, c = 1

    private static byte[] Fill(int[] lengths, byte[] sid, ulong round, Func<int, byte[]> share)
    {
        (byte[] buffer, int[] offsets) = HeWire.LayoutDecryptionShares(sid, round, lengths);
        for (int i = 0; i < lengths.Length; i++) share(i).CopyTo(buffer, offsets[i]);
        return buffer;
    }

    [TestCase(0UL, 16, new[] { 0 })]
    [TestCase(1UL, 16, new[] { 1, 127, 128 })]
    [TestCase(300UL, 1, new[] { 16383, 16384, 5 })]
    [TestCase(ulong.MaxValue, 0, new[] { 70000, 0, 2 })]
    public void Layout_FilledWithTheShares_IsTheProtobufEncoding(ulong round, int sidLength, int[] lengths)
    {
        var random = new Random(sidLength * 31 + lengths.Length);
        byte[] sid = new byte[sidLength];
        random.NextBytes(sid);
        byte[][] shares = lengths.Select(l => { var b = new byte[l]; random.NextBytes(b); return b; }).ToArray();
        byte[] inPlace = Fill(lengths, sid, round, i => shares[i]);
        Assert.That(inPlace, Is.EqualTo(HeWire.Encode(new HeDecryptionSharesMessage(sid, round, shares))));
    }

    [Test]
    public void SharesWrittenInPlace_EqualTheSharesAsArrays_FreshAndRepeated()
    {
        using HomomorphicSession session = Session("inplace/equal");
        ThresholdKeyShare share = session.BankCoreForTestsOnly(1).KeyShare!;
        byte[] sid = Enumerable.Range(0, 16).Select(i => (byte)(i * 7)).ToArray();
        uint[] chunks = [0, 1, 2, 5];
        int[] contributors = [0, 1, 2, 3, 4], active = [0, 1, 2, 3];
        var arrays = new DecryptionGuard(share, new InMemoryDecryptionLedger());
        byte[][] expected = arrays.GenDecryptionShares(9, chunks, contributors, active, parallel: false);
        byte[] expectedMessage = HeWire.Encode(new HeDecryptionSharesMessage(sid, 9, expected));

        var ledger = new InMemoryDecryptionLedger();
        var inPlace = new DecryptionGuard(share, ledger);
        int[]? seen = null;
        byte[] Answer(bool parallel) => inPlace.GenDecryptionSharesInto(9, chunks, contributors, active, parallel, lengths =>
        {
            seen = lengths;
            return HeWire.LayoutDecryptionShares(sid, 9, lengths);
        });
        Assert.That(Answer(false), Is.EqualTo(expectedMessage), "fresh answers");
        Assert.That(seen, Is.All.EqualTo(share.DecryptionShareSize));
        Assert.That(ledger.AnswersRecorded(share.SessionTag), Is.EqualTo(chunks.Length));
        Assert.That(Answer(true), Is.EqualTo(expectedMessage), "an identical resend: the kept answers");
        Assert.That(ledger.AnswersRecorded(share.SessionTag), Is.EqualTo(chunks.Length), "a repeat spends nothing");
        var forgetting = new DecryptionGuard(share, new InMemoryDecryptionLedger { AnswerRoundsKept = 0 });
        Assert.That(forgetting.GenDecryptionSharesInto(9, chunks, contributors, active, true, l => HeWire.LayoutDecryptionShares(sid, 9, l)),
            Is.EqualTo(expectedMessage), "parallel, no kept answers");
        Assert.That(forgetting.GenDecryptionSharesInto(9, chunks, contributors, active, false, l => HeWire.LayoutDecryptionShares(sid, 9, l)),
            Is.EqualTo(expectedMessage), "a repeat recomputed (deterministic smudging)");

        // One share into a span of the wrong size is refused before any work.
        Assert.Throws<ArgumentException>(() => share.GenDecryptionShare(9, 0, contributors, active, new byte[share.DecryptionShareSize - 1]));
    }

    private static readonly (string Name, int[] Contributors, int[] Active, ViolationReason Reason)[] Refusals =
    [
        ("too few contributors", [0, 1], [0, 1, 2, 3], ViolationReason.TooFewParticipants),
        ("a repeated contributor", [0, 1, 1, 2, 3], [0, 1, 2, 3], ViolationReason.Duplicate),
        ("a bank outside the roster", [0, 1, 2, 3, 9], [0, 1, 2, 3], ViolationReason.UnknownSender),
        ("an active set without this bank", [0, 1, 2, 3, 4], [0, 2, 3, 4], ViolationReason.Refused),
        ("an active set of the wrong size", [0, 1, 2, 3, 4], [0, 1, 2], ViolationReason.Refused),
        ("another contributor set for an answered chunk", [1, 2, 3, 4], [0, 1, 2, 3], ViolationReason.Refused),
    ];

    [Test]
    public void Refusals_AreTheSameOnBothPaths_AndRecordNothing()
    {
        using HomomorphicSession session = Session("inplace/refusals");
        ThresholdKeyShare share = session.BankCoreForTestsOnly(1).KeyShare!;
        byte[] sid = new byte[16];
        uint[] chunks = [0, 1];
        foreach (var (name, contributors, active, reason) in Refusals)
        {
            var arraysLedger = new InMemoryDecryptionLedger();
            var inPlaceLedger = new InMemoryDecryptionLedger();
            var arrays = new DecryptionGuard(share, arraysLedger);
            var inPlace = new DecryptionGuard(share, inPlaceLedger);
            // Both guards first answered chunk 1 for U = all five banks, D = {0, 1, 2, 3}.
            arrays.GenDecryptionShares(4, [1], [0, 1, 2, 3, 4], [0, 1, 2, 3], parallel: false);
            inPlace.GenDecryptionSharesInto(4, [1], [0, 1, 2, 3, 4], [0, 1, 2, 3], false, l => HeWire.LayoutDecryptionShares(sid, 4, l));
            var expected = Assert.Throws<ProtocolViolationException>(() => arrays.GenDecryptionShares(4, chunks, contributors, active, parallel: false))!;
            bool laidOut = false;
            var actual = Assert.Throws<ProtocolViolationException>(() => inPlace.GenDecryptionSharesInto(4, chunks, contributors, active, false, l =>
            {
                laidOut = true;
                return HeWire.LayoutDecryptionShares(sid, 4, l);
            }))!;
            Assert.That(actual.Reason, Is.EqualTo(reason), name);
            Assert.That(actual.Reason, Is.EqualTo(expected.Reason), name);
            Assert.That(actual.Message, Is.EqualTo(expected.Message), name);
            Assert.That(laidOut, Is.False, $"{name}: nothing laid out before the checks pass");
            Assert.That(inPlaceLedger.AnswersRecorded(share.SessionTag), Is.EqualTo(1), $"{name}: nothing recorded");
        }
    }
}
