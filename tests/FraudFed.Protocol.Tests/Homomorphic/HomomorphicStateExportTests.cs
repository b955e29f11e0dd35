// HomomorphicBankParty.ExportState / ImportState (SPEC.md 14.6): a Ready bank rebuilt from its exported bytes, with the
// same identity key and ledger, goes on with its session (exact sums through serialized messages); the bytes round-trip;
// another bank index, a flipped version, a truncation and an out-of-range coefficient are refused with typed errors.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Homomorphic;

[TestFixture]
public sealed class HomomorphicStateExportTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;
    private const ulong Mask = (1UL << 44) - 1;
    private const int Banks = 3;

    private sealed class Federation : IDisposable
    {
        public readonly HomomorphicRoster Roster;
        public readonly HomomorphicBankParty[] Parties;
        public readonly InMemoryDecryptionLedger[] Ledgers;
        public readonly HomomorphicAggregatorParty Aggregator;

        public static Ed25519SigningKey Identity(int bank) => Ed25519SigningKey.Generate(TestRandom.Create($"export/id/{bank}"));

        public Federation()
        {
            var agg = Ed25519SigningKey.Generate(TestRandom.Create("export/agg"));
            Roster = new HomomorphicRoster(P, new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 },
                Enumerable.Range(0, Banks).Select(b => { using var k = Identity(b); return k.PublicKey.ToArray(); }).ToArray(), agg.PublicKey.ToArray(), allowInsecureTestParameters: true);
            Ledgers = Enumerable.Range(0, Banks).Select(_ => new InMemoryDecryptionLedger()).ToArray();
            Parties = Enumerable.Range(0, Banks).Select(b => new HomomorphicBankParty(b, Roster, Identity(b), Ledgers[b], l => TestRandom.Create($"export/{l}"))).ToArray();
            Aggregator = new HomomorphicAggregatorParty(Roster, agg, TestRandom.Create("export/agg-rng"));
            Route(Aggregator.StartSession());
        }

        public void Route(IReadOnlyList<HeOutgoing> outgoing)
        {
            var queue = new Queue<HeOutgoing>(outgoing);
            while (queue.Count > 0)
            {
                HeOutgoing o = queue.Dequeue();
                foreach (byte[] a in Parties[o.To].Receive(o.Bytes))
                    foreach (HeOutgoing next in Aggregator.Receive(o.To, a)) queue.Enqueue(next);
            }
        }

        public ulong[] Sum(ulong round, ulong[][] inputs)
        {
            for (int b = 0; b < Banks; b++) Parties[b].Submit(round, inputs[b]);
            Route(Aggregator.StartRound(round, inputs[0].Length));
            Route(Aggregator.CloseUploads([0, 1]));
            Assert.That(Parties[2].TryGetResult(round, out ulong[] sum, out int[] contributors), Is.True, $"round {round} opened");
            Assert.That(contributors, Is.EqualTo(new[] { 0, 1, 2 }));
            return sum;
        }

        public void Dispose()
        {
            foreach (HomomorphicBankParty p in Parties) p.Dispose();
            Aggregator.Dispose();
        }
    }

    private static ulong[][] Inputs(int round) =>
        Enumerable.Range(0, Banks).Select(b => Enumerable.Range(0, 300).Select(j => (ulong)((b + 1) * 7_919L + round * 104_729L + j * 31L) & Mask).ToArray()).ToArray();

    private static ulong[] Plain(ulong[][] inputs) =>
        Enumerable.Range(0, inputs[0].Length).Select(j => inputs.Aggregate(0UL, (s, v) => (s + v[j]) & Mask)).ToArray();

    [Test]
    public void ExportedReadyBank_ImportedWithItsLedger_GoesOnWithTheSession_AndItsSumsStayExact()
    {
        using var f = new Federation();
        Assert.That(f.Sum(1, Inputs(1)), Is.EqualTo(Plain(Inputs(1))));
        byte[] exported = f.Parties[0].ExportState();
        byte[] tag = f.Parties[0].SessionTag;
        f.Parties[0].Dispose();   // the bank process ends; its secrets are gone from memory
        f.Parties[0] = HomomorphicBankParty.ImportState(0, f.Roster, Federation.Identity(0), f.Ledgers[0], exported, l => TestRandom.Create($"export/after/{l}"));
        Assert.That(f.Parties[0].IsReady, Is.True);
        Assert.That(f.Parties[0].SessionTag, Is.EqualTo(tag));
        Assert.That(f.Parties[0].ExportState(), Is.EqualTo(exported), "export, import, export is the identity");
        for (ulong round = 2; round <= 3; round++)
            Assert.That(f.Sum(round, Inputs((int)round)), Is.EqualTo(Plain(Inputs((int)round))), $"round {round} with the restored bank as a contributor and decryptor");
    }

    [Test]
    public void ExportState_BeforeTheBankIsReady_IsRefused()
    {
        using var f = new Federation();
        using var fresh = new HomomorphicBankParty(0, f.Roster, Federation.Identity(0), new InMemoryDecryptionLedger());
        Assert.That(() => fresh.ExportState(), Throws.InvalidOperationException);
    }

    [Test]
    public void ImportState_RefusesAnotherIndex_AnotherVersion_ATruncation_TrailingBytes_AndAnOutOfRangeCoefficient()
    {
        using var f = new Federation();
        byte[] good = f.Parties[0].ExportState();
        ViolationReason Refusal(int index, byte[] state)
        {
            var e = Assert.Throws<ProtocolViolationException>(() => HomomorphicBankParty.ImportState(index, f.Roster, Federation.Identity(index), new InMemoryDecryptionLedger(), state))!;
            return e.Reason;
        }
        Assert.That(Refusal(1, good), Is.EqualTo(ViolationReason.Inconsistent), "bank 0's state offered as bank 1's");
        byte[] version = (byte[])good.Clone(); version[4] ^= 0x01;
        Assert.That(Refusal(0, version), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Refusal(0, good[..^1]), Is.EqualTo(ViolationReason.Malformed));
        Assert.That(Refusal(0, [.. good, 0]), Is.EqualTo(ViolationReason.Malformed));
        byte[] coefficient = (byte[])good.Clone(); coefficient[^1] ^= 0x80;   // the last point's last coefficient gets bit 63: above every prime
        Assert.That(Refusal(0, coefficient), Is.EqualTo(ViolationReason.Malformed));
        using HomomorphicBankParty ok = HomomorphicBankParty.ImportState(0, f.Roster, Federation.Identity(0), new InMemoryDecryptionLedger(), good);
        Assert.That(ok.IsReady, Is.True);
    }
}
