// The threshold homomorphic parties fed garbage in every state (SPEC.md 14.1: "a refused message changes nothing at its
// receiver"). A seeded three-bank session (HeWorld) runs one delivery at a time; before each message for bank 0 (every bank
// state from AwaitingSessionStart to Ready with a round open, decrypting and recording) and each message from bank 0 to the
// aggregator (every aggregator state), the recipient gets mutants of that message and of the other messages of the same
// direction (WireMutator). Each mutant is refused with a ProtocolViolationException of a defined reason, leaving every
// observable of the party as it was, or accepted (a valid message from an untrusted peer, e.g. another round number), after
// which the world is rebuilt from its seeds up to the same delivery. Then the genuine message is delivered and, at the end,
// the round's sum is exact at the aggregator and at the banks. Bounded by a mutant count per delivery and a time budget;
// failures name the seed, the delivery and the mutant index. TEST-ONLY seeded randomness; INSECURE n = 256 parameters.
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Testing.Fuzzing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Fuzzing;

[TestFixture]
public sealed class HePartyFuzzTests
{
    private const int MutantsPerDelivery = 40;
    private const double Seconds = 12;

    private static string Snapshot(HomomorphicBankParty p)
    {
        bool has = p.TryGetResult(HeWorld.Round, out ulong[] sum, out int[] contributors);
        return $"{p.State}|{p.IsReady}|{p.RemainingBudget}|{p.LastRefusal}|{has}|{sum.Length}|{string.Join(",", contributors)}";
    }

    private static string Snapshot(HomomorphicAggregatorParty a) =>
        $"{a.State}|{a.IsReady}|{a.LastRound}|{a.KeyGeneration}|{Convert.ToHexString(a.SessionId)}|{a.LastOutcome?.Round}|{a.LastOutcome?.Failure?.Reason}"
        + $"|{(a.PublicKeyDigest is null ? "-" : Convert.ToHexString(a.PublicKeyDigest))}|{a.Scheme is null}";

    [TestCase(true, 8101, TestName = "Fuzz/Party/he/bank0")]
    [TestCase(false, 8102, TestName = "Fuzz/Party/he/aggregator")]
    public void Party_FedMutantsInEveryState_RefusesTypedWithoutChange_AndStillSumsExactly(bool bankSide, int defaultSeed)
    {
        const string label = "fuzz/party/he";
        int seed = FuzzRun.Seed(defaultSeed);
        int perDelivery = FuzzRun.Mutants(MutantsPerDelivery);
        TimeSpan budget = FuzzRun.Budget(Seconds);

        List<HeDelivery> transcript;
        using (var reference = new HeWorld(label)) transcript = reference.RunAll();
        bool Fuzzed(HeDelivery d) => bankSide ? d.To == 0 : d.ToAggregator && d.From == 0;
        byte[][] sameDirection = transcript.Where(d => d.ToAggregator != bankSide).Select(d => d.Bytes).DistinctBy(Convert.ToHexString).ToArray();
        var genuine = new HashSet<string>(sameDirection.Select(Convert.ToHexString));
        int targets = transcript.Count(Fuzzed);
        Assert.That(targets, Is.GreaterThanOrEqualTo(bankSide ? 10 : 8), "every step of the session reaches the fuzzed party");

        var failures = new List<string>();
        var states = new HashSet<string>();
        int cases = 0, refused = 0, accepted = 0, rebuilds = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var world = new HeWorld(label);
        IEnumerator<HeDelivery> run = world.Script().GetEnumerator();
        try
        {
            int fuzzedSoFar = 0;
            while (run.MoveNext())
            {
                HeDelivery d = run.Current;
                Assert.That(d.Bytes, Is.EqualTo(transcript[d.Index].Bytes), $"delivery {d.Index} is seeded like the reference");
                if (!Fuzzed(d)) continue;
                fuzzedSoFar++;
                // Spread the time budget over the deliveries still to fuzz.
                TimeSpan deadline = clock.Elapsed + (budget - clock.Elapsed) / (targets - fuzzedSoFar + 1);
                var mutator = new WireMutator([d.Bytes, .. sameDirection.Where(b => !b.AsSpan().SequenceEqual(d.Bytes))], protobuf: true, primaryShare: 0.7);
                for (int i = 0; i < perDelivery && clock.Elapsed < deadline; i++)
                {
                    long index = (long)d.Index * 1_000_000 + i;
                    var (what, bytes) = mutator.Mutant(seed, index);
                    if (genuine.Contains(Convert.ToHexString(bytes))) continue;
                    cases++;
                    string before = bankSide ? Snapshot(world.Parties[0]) : Snapshot(world.Aggregator);
                    states.Add(before.Split('|')[0]);
                    string where = $"seed {seed} delivery {d.Index} ({d.Step}) mutant #{index} ({what})";
                    try
                    {
                        if (bankSide) world.Parties[0].Receive(bytes);
                        else world.Aggregator.Receive(0, bytes);
                        accepted++;
                    }
                    catch (ProtocolViolationException e) when (Enum.IsDefined(e.Reason))
                    {
                        refused++;
                        string after = bankSide ? Snapshot(world.Parties[0]) : Snapshot(world.Aggregator);
                        if (after != before) failures.Add($"{where}: refused ({e.Reason}) but the state moved from {before} to {after}");
                        continue;
                    }
                    catch (Exception e)
                    {
                        failures.Add($"{where}: {e.GetType().Name}: {e.Message}");
                    }
                    // Accepted (or broken): rebuild the world from its seeds up to this delivery.
                    rebuilds++;
                    run.Dispose();
                    world.Dispose();
                    world = new HeWorld(label);
                    run = world.Script().GetEnumerator();
                    while (run.MoveNext() && run.Current.Index < d.Index) { }
                    Assert.That(run.Current.Index, Is.EqualTo(d.Index), "the rebuilt world reaches the same delivery");
                }
            }
            TestContext.Out.WriteLine($"seed {seed}: {cases} mutants, {refused} refused, {accepted} accepted ({rebuilds} rebuilds), states {string.Join(", ", states)}, {clock.Elapsed.TotalSeconds:F1} s");
            Assert.That(failures, Is.Empty, $"{failures.Count} of {cases} mutants misbehaved; first: {string.Join(" | ", failures.Take(3))}");
            Assert.That(cases, Is.GreaterThanOrEqualTo(targets * 5), "enough mutants within the time budget");
            Assert.That(states.Count, Is.GreaterThanOrEqualTo(bankSide ? 7 : 5), $"mutants reached the party in its states ({string.Join(", ", states)})");
            Assert.That(world.Aggregator.LastOutcome?.Sum, Is.EqualTo(HeWorld.ExpectedSum()), "after the garbage, the round's sum is exact");
            for (int b = 0; b < HeWorld.Banks; b++)
            {
                Assert.That(world.Parties[b].TryGetResult(HeWorld.Round, out ulong[] seen, out int[] contributors), Is.True, $"bank {b} got the result");
                Assert.That(seen, Is.EqualTo(HeWorld.ExpectedSum()));
                Assert.That(contributors, Is.EqualTo(new[] { 0, 1 }));
            }
        }
        finally
        {
            run.Dispose();
            world.Dispose();
        }
    }
}
