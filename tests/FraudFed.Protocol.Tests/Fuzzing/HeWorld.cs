// A seeded three-bank threshold homomorphic session of party objects (SPEC.md 14.2) driven one delivery at a time, for
// the fuzz tests: setup, then round 1 with banks 0 and 1 contributing (bank 2 offline), decrypted by banks 0 and 1. Every
// party draws from TestRandom streams named by the label, so two worlds of one label exchange identical bytes and a world
// can be rebuilt up to any delivery. TEST-ONLY seeded randomness; INSECURE n = 256 parameters.
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing;

namespace FraudFed.Protocol.Tests.Fuzzing;

/// <summary>One message on its way: to bank <see cref="To"/> (or to the aggregator when <see cref="To"/> is -1) from <see cref="From"/>.</summary>
internal sealed record HeDelivery(int Index, int To, int From, byte[] Bytes, string Step)
{
    public bool ToAggregator => To < 0;
}

internal sealed class HeWorld : IDisposable
{
    public const int Banks = 3;
    public const ulong Round = 1;
    public const int Length = 300;  // two chunks at n = 256
    public static readonly RlweParameters P = InsecureTestParameters.N256;
    public static readonly ulong Mask = (1UL << 44) - 1;

    public readonly HomomorphicBankParty[] Parties;
    public readonly HomomorphicAggregatorParty Aggregator;
    /// <summary>The roster's identity public keys and the aggregator's public key.</summary>
    public readonly byte[][] IdentityPublic;
    public readonly byte[] AggregatorPublic;

    public HeWorld(string label)
    {
        var ids = Enumerable.Range(0, Banks).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"{label}/id/{b}"))).ToArray();
        var agg = Ed25519SigningKey.Generate(TestRandom.Create($"{label}/agg"));
        IdentityPublic = ids.Select(k => k.PublicKey.ToArray()).ToArray();
        AggregatorPublic = agg.PublicKey.ToArray();
        var roster = new HomomorphicRoster(P, new DecryptionPolicy { Threshold = 2, MinContributors = 2, MaxColluders = 0 }, IdentityPublic, AggregatorPublic, allowInsecureTestParameters: true);
        // The parties own (and dispose) their keys.
        Parties = Enumerable.Range(0, Banks).Select(b => new HomomorphicBankParty(b, roster, ids[b], new InMemoryDecryptionLedger(),
            l => TestRandom.Create($"{label}/bank{b}/{l}")) { Parallel = false }).ToArray();
        Aggregator = new HomomorphicAggregatorParty(roster, agg, TestRandom.Create($"{label}/agg-rng")) { Parallel = false };
    }

    public static ulong[] Input(int bank) =>
        Enumerable.Range(0, Length).Select(j => (ulong)(((bank + 1) * 1_000_003L + j * 7_919L) & (long)Mask)).ToArray();

    public static ulong[] ExpectedSum()
    {
        ulong[] a = Input(0), b = Input(1);
        return a.Select((x, j) => (x + b[j]) & Mask).ToArray();
    }

    /// <summary>
    /// The session, one delivery at a time: each is yielded before it is made, so the caller can feed the recipient other
    /// bytes first; the delivery itself happens when the enumeration moves on.
    /// </summary>
    public IEnumerable<HeDelivery> Script()
    {
        int index = 0;
        var queue = new Queue<HeDelivery>();
        void ToBanks(IReadOnlyList<HeOutgoing> outgoing)
        {
            foreach (HeOutgoing o in outgoing) queue.Enqueue(new HeDelivery(0, o.To, -1, o.Bytes, Step(o.Bytes, toBank: true)));
        }
        IEnumerable<HeDelivery> Drain()
        {
            while (queue.Count > 0)
            {
                HeDelivery d = queue.Dequeue() with { Index = index++ };
                yield return d;
                if (d.ToAggregator) ToBanks(Aggregator.Receive(d.From, d.Bytes));
                else
                    foreach (byte[] reply in Parties[d.To].Receive(d.Bytes))
                        queue.Enqueue(new HeDelivery(0, -1, d.To, reply, Step(reply, toBank: false)));
            }
        }

        ToBanks(Aggregator.StartSession());
        foreach (HeDelivery d in Drain()) yield return d;
        Parties[0].Submit(Round, Input(0));
        Parties[1].Submit(Round, Input(1));
        ToBanks(Aggregator.StartRound(Round, Length));
        foreach (HeDelivery d in Drain()) yield return d;
        ToBanks(Aggregator.CloseUploads([0, 1]));
        foreach (HeDelivery d in Drain()) yield return d;
    }

    /// <summary>Runs the whole script and returns every delivery.</summary>
    public List<HeDelivery> RunAll() => Script().ToList();

    private static string Step(byte[] bytes, bool toBank) =>
        toBank ? HeWire.DecodeToBank(bytes, Banks).GetType().Name : HeWire.DecodeToAggregator(bytes, Banks).GetType().Name;

    public void Dispose()
    {
        foreach (HomomorphicBankParty p in Parties) p.Dispose();
        Aggregator.Dispose();
    }
}
