// The masking parties fed structure-aware garbage at every receiving entry point (SPEC.md 8.3, 14.3): each MaskingBank and
// MaskingAggregator entry point, in the state that expects its message (MessageFuzzTests.AtStage), gets WireMutator mutants
// of that message and of the other messages of the same direction (overlong varints, lying lengths, duplicated, reordered
// and grafted fields, splices, mutated signed bodies inside well-formed wrappers). Each is refused with a
// ProtocolViolationException of a defined reason and the state object unchanged, or it ends the bank's round or session by
// design (a forged survivor list or signature), or it is a valid message in its canonical encoding (a roster or delivery
// without a bank that dropped); after the latter two the session is rebuilt. The genuine message is accepted afterwards. Bounded by a count and a time budget per entry point; failures name seed and mutant index.
// TEST-ONLY seeded randomness.
using FraudFed.Cryptography;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Tests.Masking;
using FraudFed.Testing.Fuzzing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Fuzzing;

[TestFixture]
public sealed class MaskingPartyFuzzTests
{
    private const int Mutants = 150;
    private const double SecondsPerEntry = 1.5;

    private static readonly Lazy<(byte[][] ToBank, byte[][] ToAggregator)> Pools = new(() =>
    {
        using var d = new Driver(5, 3, "fuzz/party/masking-pool").UpToRequests(4);
        var toAggregator = new List<byte[]> { MaskingWire.Encode(KeyRoster.Decode(d.Roster).Keys[0]) };
        toAggregator.AddRange(d.Reveals.Values);
        toAggregator.AddRange(d.ShareKeys.Values);
        toAggregator.AddRange(d.Masked.Values);
        toAggregator.AddRange(d.Signatures.Values);
        toAggregator.Add(d.H.Banks[0].ReceiveUnmaskRequest(d.Requests[0]));
        var toBank = new List<byte[]> { d.Roster, d.SeedRoster };
        toBank.AddRange(d.Deliveries.Values);
        toBank.AddRange(d.Lists.Values);
        toBank.AddRange(d.Requests.Values);
        return (toBank.ToArray(), toAggregator.ToArray());
    });

    /// <summary>Null when <paramref name="bytes"/> is the canonical encoding of what it decodes to, else why not.</summary>
    private static string? Canonical(string entry, byte[] bytes)
    {
        byte[] again = entry.StartsWith("Bank.", StringComparison.Ordinal)
            ? MaskingWire.Encode(MaskingWire.DecodeToBank(bytes))
            : MaskingWire.Encode(MaskingWire.DecodeToAggregator(bytes));
        return again.AsSpan().SequenceEqual(bytes) ? null : "it is not the canonical encoding of its content";
    }

    private static IEnumerable<TestCaseData> EntryPoints()
        => new[] { "Aggregator.AdvertiseKeys", "Aggregator.GraphSeedReveal", "Aggregator.ShareKeys", "Aggregator.MaskedInput", "Aggregator.ConsistencySignature",
                   "Aggregator.UnmaskResponse", "Bank.KeyRoster", "Bank.GraphSeedRoster", "Bank.ShareDelivery", "Bank.SurvivorList", "Bank.UnmaskRequest" }
            .Select((n, i) => new TestCaseData(n, 9001 + i).SetName($"Fuzz/Party/masking/{n}"));

    [TestCaseSource(nameof(EntryPoints))]
    public void EntryPoint_FedStructuredMutants_RefusesTypedWithoutChange(string entry, int defaultSeed)
    {
        int seed = FuzzRun.Seed(defaultSeed);
        TimeSpan budget = FuzzRun.Budget(SecondsPerEntry);
        int count = FuzzRun.Mutants(Mutants);
        MessageFuzzTests.Stage s = MessageFuzzTests.AtStage(entry);
        byte[] genuine = s.Genuine;
        byte[][] others = entry.StartsWith("Bank.", StringComparison.Ordinal) ? Pools.Value.ToBank : Pools.Value.ToAggregator;
        var mutator = new WireMutator([genuine, .. others], protobuf: true, primaryShare: 0.7);
        var skip = new HashSet<string>(mutator.Pool.Select(Convert.ToHexString));
        var failures = new List<string>();
        int cases = 0, refused = 0, ended = 0, accepted = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < count && clock.Elapsed < budget; i++)
            {
                var (what, bytes) = mutator.Mutant(seed, i);
                if (skip.Contains(Convert.ToHexString(bytes))) continue;
                cases++;
                string where = $"seed {seed} mutant #{i} ({what})";
                object before = s.State();
                bool wasAccepted = false;
                try
                {
                    s.Receive(bytes);
                    wasAccepted = true;
                    accepted++;
                }
                catch (ProtocolViolationException e) when (Enum.IsDefined(e.Reason)) { refused++; }
                catch (Exception e) { failures.Add($"{where}: {e.GetType().Name}: {e.Message}"); }
                object after = s.State();
                if (!wasAccepted && ReferenceEquals(before, after)) continue;
                if (wasAccepted)
                {
                    // A valid message from the untrusted aggregator (e.g. a roster without a bank that dropped): only a canonical,
                    // correctly ordered encoding may be one (the decoder's property, DecoderFuzzTests).
                    string? canonical = Canonical(entry, bytes);
                    if (canonical is not null) failures.Add($"{where}: accepted, but {canonical}");
                }
                else if (after is BankAborted or BankReady { LastRoundFailure: not null }) ended++; // by design (SPEC.md 8.3): nothing revealed
                else failures.Add($"{where}: refused, but the state changed to {after.GetType().Name}");
                s.D.Dispose();
                s = MessageFuzzTests.AtStage(entry);
                Assert.That(s.Genuine, Is.EqualTo(genuine), "a rebuilt session is seeded like the first");
            }
            TestContext.Out.WriteLine($"{entry}: seed {seed}: {cases} mutants, {refused} refused, {accepted} accepted, {ended} ended the bank's round or session, {clock.Elapsed.TotalSeconds:F1} s");
            Assert.That(failures, Is.Empty, $"{failures.Count} of {cases} mutants misbehaved; first: {string.Join(" | ", failures.Take(3))}");
            Assert.That(cases, Is.GreaterThanOrEqualTo(30), "enough mutants within the time budget");
            Assert.That(() => s.Receive(s.Genuine), Throws.Nothing, "the genuine message is accepted after the garbage");
        }
        finally { s.D.Dispose(); }
    }
}
