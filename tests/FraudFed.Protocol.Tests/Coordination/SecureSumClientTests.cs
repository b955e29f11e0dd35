// The per-bank secure-sum API (SPEC.md 15): every bank calls SumAsync with only its own vector, the coordinator of the mode
// drives the aggregator party, and the sum each bank learns is the plaintext modular sum of the contributors' vectors,
// with dropouts at every stage up to what the parameters tolerate. Also: the parties share no mutable object, and every
// message between them is a serialized protobuf wrapper. Insecure test parameters (n = 256) for speed.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Wire.V1;
using Google.Protobuf;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Coordination;

[TestFixture, Parallelizable(ParallelScope.Children)]
public sealed class SecureSumClientTests
{
    private static readonly RlweParameters P = InsecureTestParameters.N256;
    /// <summary>A stage waits this long for a bank that dropped mid-round (rounds without such drops close as soon as everyone is
    /// in). On a loaded machine an honest bank may miss it too, so the masking rounds with mid-round drops check exactness over
    /// the contributors the round reports, which must be a subset of the intended ones and at least M.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(3);

    private static ulong[] Vector(int bank, ulong round, int length, int bits) =>
        Enumerable.Range(0, length).Select(j => (ulong)(((bank + 1) * 7_919L + (long)round * 104_729L + j * 31L) * 2_654_435_761L) & Mask(bits)).ToArray();

    private static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    private static ulong[] PlainSum(IEnumerable<int> banks, ulong round, int length, int bits)
    {
        var sum = new ulong[length];
        foreach (int b in banks)
        {
            ulong[] v = Vector(b, round, length, bits);
            for (int j = 0; j < length; j++) sum[j] = (sum[j] + v[j]) & Mask(bits);
        }
        return sum;
    }

    // ------------------------------------------------------------------ threshold homomorphic

    private sealed record HeRound(Dictionary<int, Task<SecureSumClientResult>> Banks, CoordinatorRoundResult? Result, ProtocolViolationException? Failure);

    private static async Task<HeRound> RunHe(HeDeployment d, ulong round, int length, IEnumerable<int> callers, IReadOnlyCollection<int>? expected = null)
    {
        var ctx = new SumContext(round, length, 44);
        var tasks = callers.ToDictionary(b => b, b => d.Clients[b].SumAsync(Vector(b, round, length, 44), ctx));
        CoordinatorRoundResult? result = null;
        ProtocolViolationException? failure = null;
        try { result = await d.Coordinator.RunRoundAsync(round, length, expected).WaitAsync(Guard); }
        catch (ProtocolViolationException e) { failure = e; }
        foreach (Task<SecureSumClientResult> t in tasks.Values)
            try { await t.WaitAsync(Guard); } catch (ProtocolViolationException) { }
        return new HeRound(tasks, result, failure);
    }

    private static void AssertHeExact(HeRound r, IReadOnlyCollection<int> contributors, ulong round, int length, string what)
    {
        Assert.That(r.Failure, Is.Null, what);
        ulong[] expected = PlainSum(contributors, round, length, 44);
        Assert.That(r.Result!.Sum, Is.EqualTo(expected), what);
        Assert.That(r.Result.Contributors, Is.EqualTo(contributors.Order().ToArray()), what);
        foreach (var (bank, task) in r.Banks)
        {
            SecureSumClientResult got = task.Result;
            Assert.That(got.Sum, Is.EqualTo(expected), $"{what}: bank {bank}");
            Assert.That(got.Contributors, Is.EqualTo(contributors.Order().ToArray()), $"{what}: bank {bank}");
            Assert.That(got.Contributed, Is.EqualTo(contributors.Contains(bank)), $"{what}: bank {bank}");
        }
    }

    [TestCase(3, TestName = "Client/he/banks=3")]
    [TestCase(10, TestName = "Client/he/banks=10")]
    [TestCase(20, TestName = "Client/he/banks=20")]
    public async Task He_SumsAreExact_ThroughClientsAndCoordinator_WithDropoutsAtEveryStage(int banks)
    {
        using var d = new HeDeployment(banks, $"client/he/{banks}", P, Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int t = d.Policy.Threshold;
        int[] all = Enumerable.Range(0, banks).ToArray();

        // Round 1: everyone, two chunks at n = 256.
        AssertHeExact(await RunHe(d, 1, 300, all), all, 1, 300, "round 1, everyone");

        // Round 2: N - T banks drop before uploading (they are not expected); the upload stage closes once the T others are in.
        int[] survivors = all.Where(b => b % 2 == 1).Concat(all.Where(b => b % 2 == 0)).Take(t).Order().ToArray();
        AssertHeExact(await RunHe(d, 2, 100, survivors, survivors), survivors, 2, 100, "round 2, N - T dropped before upload");

        // Round 3: everyone uploads, then one decryptor goes silent: its (round, chunk) cannot be reopened with another
        // active set (SPEC.md 12.3), so the round fails alone at the share deadline.
        int silent = (int)(3 % (ulong)banks);   // the coordinator's rotation puts this bank in the active set of round 3
        d.BankTransports[silent].SendsLeft = 1;  // its upload goes out, its decryption shares do not
        HeRound r3 = await RunHe(d, 3, 100, all);
        Assert.That(r3.Failure?.Reason, Is.EqualTo(ViolationReason.TooFewParticipants), "round 3 fails alone");
        foreach (var (bank, task) in r3.Banks)
            Assert.That(task.Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.TooFewParticipants), $"bank {bank}");
        d.BankTransports[silent].SendsLeft = null;

        // Round 4: everyone back; the dropped banks first catch up on the rounds they missed.
        AssertHeExact(await RunHe(d, 4, 257, all), all, 4, 257, "round 4, everyone back");
        Assert.That(d.Coordinator.Refusals.Select(x => x.Reason), Is.All.Not.EqualTo(ViolationReason.AuthenticationFailed));
    }

    [Test]
    public async Task He_ThirtyRounds_ThroughClients_EveryThirdFailsForTooFewParticipants_EveryOtherIsExact()
    {
        using var d = new HeDeployment(5, "client/he/30", P, Deadline);   // c = 1, T = K_min = 4
        await d.SetupAsync().WaitAsync(Guard);
        int[] all = [0, 1, 2, 3, 4];
        for (ulong r = 1; r <= 30; r++)
        {
            if (r % 3 == 0)
            {
                int[] few = [0, 1, 2];
                HeRound failed = await RunHe(d, r, 40, few, few);
                Assert.That(failed.Failure?.Reason, Is.EqualTo(ViolationReason.TooFewParticipants), $"round {r}");
                foreach (var (bank, task) in failed.Banks)
                    Assert.That(task.Exception?.InnerException, Is.TypeOf<ProtocolViolationException>(), $"round {r}, bank {bank}");
                Assert.That(d.Aggregator.IsReady, Is.True, $"round {r} ends only itself");
                continue;
            }
            AssertHeExact(await RunHe(d, r, 40, all), all, r, 40, $"round {r}");
        }
        Assert.That(d.Aggregator.LastRound, Is.EqualTo(30UL));
    }

    // ------------------------------------------------------------------ masking

    private sealed record MaskingRound(Dictionary<int, Task<SecureSumClientResult>> Banks, CoordinatorRoundResult? Result, ProtocolViolationException? Failure);

    private static async Task<MaskingRound> RunMasking(MaskingDeployment d, uint round, int length, IEnumerable<int> callers, IReadOnlyCollection<int>? expected = null)
    {
        var ctx = new SumContext(round, length, d.Parameters.ModulusBits);
        var tasks = callers.ToDictionary(b => b, b => d.Clients[b].SumAsync(Vector(b, round, length, d.Parameters.ModulusBits), ctx));
        CoordinatorRoundResult? result = null;
        ProtocolViolationException? failure = null;
        try { result = await d.Coordinator.RunRoundAsync(round, length, expected).WaitAsync(Guard); }
        catch (ProtocolViolationException e) { failure = e; }
        foreach (Task<SecureSumClientResult> t in tasks.Values)
            try { await t.WaitAsync(Guard); } catch (ProtocolViolationException) { }
        return new MaskingRound(tasks, result, failure);
    }

    private static IEnumerable<TestCaseData> MaskingCases()
    {
        foreach (var (n, t) in new (int, int?)[] { (3, 2), (10, null), (20, null) })
            yield return new TestCaseData(n, t, null, null).SetName($"Client/masking/banks={n}/t={t?.ToString() ?? "default"}");
        // SecAgg+ (Bell et al. CCS'20): a sparse neighbour graph of degree 10 among 20 banks, c = 3, the least t it accepts.
        yield return new TestCaseData(20, null, 10, 3).SetName("Client/secagg+/banks=20/k=10/c=3");
    }

    [TestCaseSource(nameof(MaskingCases))]
    public async Task Masking_SumsAreExact_ThroughClientsAndCoordinator_WithDropoutsAtEveryStage(int banks, int? threshold, int? degree, int? colluders)
    {
        using var d = new MaskingDeployment(banks, threshold, degree is null ? $"client/masking/{banks}" : $"client/secagg+/{banks}/k={degree}", Deadline, degree: degree, maxColluders: colluders);
        await d.SetupAsync().WaitAsync(Guard);
        int bits = d.Parameters.ModulusBits;
        // Up to the threshold: every stage keeps M banks, and every bank keeps t of its k + 1 share holders (itself included).
        int drops = Math.Min(banks - Math.Max(d.Parameters.MinimumSurvivors, d.Parameters.Threshold), d.Parameters.Degree + 1 - d.Parameters.Threshold);
        Assert.That(drops, Is.GreaterThan(0));
        if (degree is not null) Assert.That(d.Parameters.Degree, Is.EqualTo(degree).And.LessThan(banks - 1), "a sparse graph, not the complete one");
        TestContext.Out.WriteLine($"n = {banks}, k = {d.Parameters.Degree}, t = {d.Parameters.Threshold}, M = {d.Parameters.MinimumSurvivors}, c = {d.Parameters.MaxColluders}, {drops} dropped per stage");
        int[] all = Enumerable.Range(0, banks).ToArray();
        // (stage, sends let through before the bank goes silent, are the dropped banks' inputs in the sum?)
        (string Stage, int Sends, bool InSum)[] stages =
        [
            ("none", -1, true), ("BeforeShareKeys", 0, false), ("AfterShareKeys", 1, false), ("AfterMaskedInput", 2, true), ("DuringUnmasking", 3, true), ("all back", -1, true),
        ];
        uint round = 0;
        foreach (var (stage, sends, inSum) in stages)
        {
            round++;
            int[] dropped = sends < 0 ? [] : all.Skip((int)round % banks).Concat(all).Distinct().Take(drops).ToArray();
            foreach (int b in dropped) d.BankTransports[b].SendsLeft = sends;
            const int length = 1000;
            // Banks that skip the round entirely are not expected; the others' stages close at the deadline.
            MaskingRound r = await RunMasking(d, round, length, all, sends == 0 ? all.Except(dropped).ToArray() : null);
            foreach (int b in dropped) d.BankTransports[b].SendsLeft = null;
            int[] intended = inSum ? all : all.Except(dropped).ToArray();
            Assert.That(r.Failure, Is.Null, stage);
            IReadOnlyList<int> contributors = r.Result!.Contributors;
            // Exact over exactly the reported contributors: the intended ones (an honest bank may only be missing if it was
            // later than the deadline on a loaded machine), never a bank whose masked input did not arrive.
            Assert.That(contributors, Is.SubsetOf(intended), stage);
            Assert.That(contributors.Count, Is.GreaterThanOrEqualTo(d.Parameters.MinimumSurvivors), stage);
            if (sends <= 0) Assert.That(contributors, Is.EqualTo(intended), $"{stage}: no deadline was involved");
            ulong[] expected = PlainSum(contributors, round, length, bits);
            Assert.That(r.Result.Sum, Is.EqualTo(expected), stage);
            foreach (int b in all.Except(dropped))
            {
                SecureSumClientResult got = r.Banks[b].Result;
                Assert.That(got.Sum, Is.EqualTo(expected), $"{stage}: bank {b}");
                Assert.That(got.Contributors, Is.EqualTo(contributors), $"{stage}: bank {b}");
                Assert.That(got.Contributed, Is.EqualTo(contributors.Contains(b)), $"{stage}: bank {b}");
            }
        }
    }

    [Test]
    public async Task Masking_ThirtyRounds_ThroughClients_EveryThirdFailsForTooFewParticipants_EveryOtherIsExact()
    {
        using var d = new MaskingDeployment(5, null, "client/masking/30", Deadline);   // t = 4, M = 4
        await d.SetupAsync().WaitAsync(Guard);
        int[] all = [0, 1, 2, 3, 4];
        for (uint r = 1; r <= 30; r++)
        {
            if (r % 3 == 0)
            {
                int[] few = [0, 1, 2];
                MaskingRound failed = await RunMasking(d, r, 64, few, few);
                Assert.That(failed.Failure?.Reason, Is.EqualTo(ViolationReason.TooFewParticipants), $"round {r}");
                foreach (var (bank, task) in failed.Banks)
                    Assert.That(task.Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.TooFewParticipants), $"round {r}, bank {bank}");
                Assert.That(d.Aggregator.State, Is.TypeOf<AggregatorReady>(), $"round {r} ends only itself");
                continue;
            }
            MaskingRound ok = await RunMasking(d, r, 64, all);
            ulong[] expected = PlainSum(all, r, 64, d.Parameters.ModulusBits);
            Assert.That(ok.Failure, Is.Null, $"round {r}");
            Assert.That(ok.Result!.Sum, Is.EqualTo(expected), $"round {r}");
            foreach (var (bank, task) in ok.Banks) Assert.That(task.Result.Sum, Is.EqualTo(expected), $"round {r}, bank {bank}");
        }
    }

    // ------------------------------------------------------------------ isolation

    [Test]
    public async Task He_PartiesShareNoMutableObject_AndEveryMessageIsASerializedWrapper()
    {
        using var d = new HeDeployment(4, "client/he/isolation", P, Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int[] all = [0, 1, 2, 3];
        AssertHeExact(await RunHe(d, 1, 300, all), all, 1, 300, "round 1");

        var parties = d.Parties.Select(p => ($"bank {p.Index}", (object)p)).Append(("aggregator", d.Aggregator)).ToArray();
        Assert.That(SharedReferences.Find(parties), Is.Empty, "no mutable object is reachable from two parties");

        Assert.That(d.AggregatorTransport.FromBanks, Is.Not.Empty);
        foreach (byte[] m in d.AggregatorTransport.FromBanks)
        {
            HeBankMessage w = HeBankMessage.Parser.ParseFrom(m);
            Assert.That(w.StepCase, Is.Not.EqualTo(HeBankMessage.StepOneofCase.None));
            Assert.That(w.ToByteArray(), Is.EqualTo(m), "canonical protobuf bytes");
        }
        foreach (byte[] m in d.AggregatorTransport.ToBanks)
        {
            HeAggregatorMessage w = HeAggregatorMessage.Parser.ParseFrom(m);
            Assert.That(w.StepCase, Is.Not.EqualTo(HeAggregatorMessage.StepOneofCase.None));
            Assert.That(w.ToByteArray(), Is.EqualTo(m), "canonical protobuf bytes");
        }
    }

    [Test]
    public async Task Masking_PartiesShareNoMutableObject_AndEveryMessageIsASerializedWrapper()
    {
        using var d = new MaskingDeployment(4, null, "client/masking/isolation", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int[] all = [0, 1, 2, 3];
        MaskingRound r = await RunMasking(d, 1, 100, all);
        Assert.That(r.Result!.Sum, Is.EqualTo(PlainSum(all, 1, 100, d.Parameters.ModulusBits)));

        var parties = d.Banks.Select(b => ($"bank {b.Id}", (object)b)).Append(("aggregator", d.Aggregator)).ToArray();
        Assert.That(SharedReferences.Find(parties), Is.Empty, "no mutable object is reachable from two parties");

        Assert.That(d.AggregatorTransport.FromBanks, Is.Not.Empty);
        foreach (byte[] m in d.AggregatorTransport.FromBanks)
        {
            MaskingBankMessage w = MaskingBankMessage.Parser.ParseFrom(m);
            Assert.That(w.StepCase, Is.Not.EqualTo(MaskingBankMessage.StepOneofCase.None));
            Assert.That(w.ToByteArray(), Is.EqualTo(m), "canonical protobuf bytes");
        }
        foreach (byte[] m in d.AggregatorTransport.ToBanks)
        {
            MaskingAggregatorMessage w = MaskingAggregatorMessage.Parser.ParseFrom(m);
            Assert.That(w.StepCase, Is.Not.EqualTo(MaskingAggregatorMessage.StepOneofCase.None));
            Assert.That(w.ToByteArray(), Is.EqualTo(m), "canonical protobuf bytes");
        }
    }

    [Test]
    public void HeHarness_PartiesShareNoMutableObject()
    {
        using var session = Harness.HomomorphicSession.SeededForTestsOnly(4, new Harness.HomomorphicOptions { Parameters = P, Parallel = false }, [4, 2]);
        ulong[][] inputs = Enumerable.Range(0, 4).Select(b => Vector(b, 1, 300, 44)).ToArray();
        Assert.That(session.Sum(inputs, [0, 1, 2], out _), Is.EqualTo(PlainSum([0, 1, 2, 3], 1, 300, 44)));
        var parties = Enumerable.Range(0, 4).Select(b => ($"bank {b}", (object)session.Party(b))).Append(("aggregator", session.Aggregator)).ToArray();
        Assert.That(SharedReferences.Find(parties), Is.Empty);
    }

    [Test]
    public void SharedReferenceWalk_FindsAnArraySharedByTwoParties()
    {
        // The walker itself: two objects holding the same array are reported, two holding equal copies are not.
        byte[] one = [1, 2, 3];
        var a = new List<object> { one };
        var b = new List<object> { one };
        var c = new List<object> { one.ToArray() };
        Assert.That(SharedReferences.Find([("a", a), ("b", b)]), Has.Count.EqualTo(1));
        Assert.That(SharedReferences.Find([("a", a), ("c", c)]), Is.Empty);
    }

    [Test]
    public async Task Masking_AnOutcomeNamingOtherContributorsThanTheSignedSurvivorList_IsRefused()
    {
        using var d = new MaskingDeployment(3, 2, "client/masking/outcome", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        // Bank 0 is told that only banks 1 and 2 contributed, although it signed U2 = {0, 1, 2}.
        d.AggregatorTransport.Tamper = (bank, o) => bank == 0 ? o with { Contributors = [1, 2] } : o;
        MaskingRound r = await RunMasking(d, 1, 10, [0, 1, 2]);
        Assert.That(r.Result!.Contributors, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(r.Banks[0].Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.Inconsistent));
        Assert.That(r.Banks[1].Result.Sum, Is.EqualTo(PlainSum([0, 1, 2], 1, 10, d.Parameters.ModulusBits)));
    }

    [Test]
    public async Task Masking_AnOutcomeWithAValueNotBelow2PowK_IsRefused_AndEachBankGetsAnArrayOfItsOwn()
    {
        using var d = new MaskingDeployment(3, 2, "client/masking/outcome-range", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        // Bank 0 is told a sum whose value 4 is 2^k (one bit above the session's modulus); the client refuses it, not masks it.
        d.AggregatorTransport.Tamper = (bank, o) => bank == 0 ? o with { Sum = o.Sum!.Select((v, i) => i == 4 ? 1UL << d.Parameters.ModulusBits : v).ToArray() } : o;
        MaskingRound r = await RunMasking(d, 1, 10, [0, 1, 2]);
        Assert.That(r.Banks[0].Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.OutOfRange));
        ulong[] plain = PlainSum([0, 1, 2], 1, 10, d.Parameters.ModulusBits);
        Assert.That(r.Banks[1].Result.Sum, Is.EqualTo(plain));
        Assert.That(r.Banks[2].Result.Sum, Is.EqualTo(plain));
        Assert.That(r.Banks[1].Result.Sum, Is.Not.SameAs(r.Banks[2].Result.Sum), "the client returns the delivery's array, which is the bank's own");
    }

    /// <summary><paramref name="sum"/> with the value at <paramref name="index"/> set to 2^k, one bit above the session's modulus.</summary>
    private static ulong[] WithTwoPowK(ulong[] sum, int index, int k) => [.. sum.Select((v, i) => i == index ? 1UL << k : v)];

    /// <summary>The in-process path has no transport that checks the sum's range: an aggregator that says its sum was checked
    /// (the outcome's RangeCheckedBits) is not believed, the in-memory transport clears the mark, and the client refuses the
    /// value with the error it always gave.</summary>
    [Test]
    public async Task Masking_AnAggregatorsWordThatItsSumWasChecked_IsNotTaken_TheValueIsRefusedAsBefore()
    {
        using var d = new MaskingDeployment(3, 2, "client/masking/outcome-claim", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int k = d.Parameters.ModulusBits;
        d.AggregatorTransport.Tamper = (bank, o) => bank == 0 ? o with { Sum = WithTwoPowK(o.Sum!, 4, k), RangeCheckedBits = k } : o;
        var seen = new List<int>();
        d.BankTransports[0].Received = x =>
        {
            if (x.Outcome is { } o) seen.Add(o.RangeCheckedBits);
            return x;
        };
        MaskingRound r = await RunMasking(d, 1, 10, [0, 1, 2]);
        Assert.That(seen, Is.EqualTo(new[] { 0 }), "the in-memory transport delivered the outcome without the aggregator's mark");
        Assert.That(r.Banks[0].Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.OutOfRange));
        Assert.That(r.Banks[0].Exception!.InnerException!.Message, Does.Contain($"the outcome of round 1 has a value not below 2^{k} at index 4"));
        Assert.That(r.Banks[1].Result.Sum, Is.EqualTo(PlainSum([0, 1, 2], 1, 10, k)));
    }

    /// <summary>A sum this bank's transport did not check for the session's k (no mark, or a check against another k) is scanned by
    /// the client: a value of 2^k is refused with the same typed error as an unmarked one.</summary>
    [TestCase(0, TestName = "Masking_OutcomeCheck/not marked/value 2^k refused")]
    [TestCase(64, TestName = "Masking_OutcomeCheck/marked for k = 64/value 2^k refused")]
    [TestCase(16, TestName = "Masking_OutcomeCheck/marked for k = 16/value 2^k refused")]
    public async Task Masking_ASumNotCheckedForTheSessionsK_IsStillScannedByTheClient(int checkedBits)
    {
        using var d = new MaskingDeployment(3, 2, $"client/masking/outcome-mark/{checkedBits}", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int k = d.Parameters.ModulusBits;
        Assert.That(checkedBits, Is.Not.EqualTo(k));
        d.BankTransports[0].Received = x => x.Outcome is { Sum: { } sum } o ? x with { Outcome = o with { Sum = WithTwoPowK(sum, 7, k), RangeCheckedBits = checkedBits } } : x;
        MaskingRound r = await RunMasking(d, 1, 10, [0, 1, 2]);
        Assert.That(r.Banks[0].Exception?.InnerException, Is.TypeOf<ProtocolViolationException>().And.Property("Reason").EqualTo(ViolationReason.OutOfRange));
        Assert.That(r.Banks[0].Exception!.InnerException!.Message, Does.Contain($"the outcome of round 1 has a value not below 2^{k} at index 7"));
    }

    /// <summary>The one scan that is skipped: a sum this bank's own transport marks as checked below 2^k of this session (what the
    /// SDK's appliance transport does after its SumResult reader refused every value not below 2^k, ApplianceBankTransport.Outcome)
    /// is returned as delivered, without a second pass over it. Only a bank-side transport sets the mark (it is internal).</summary>
    [Test]
    public async Task Masking_ASumThisBanksTransportCheckedForTheSessionsK_IsNotScannedAgain()
    {
        using var d = new MaskingDeployment(3, 2, "client/masking/outcome-checked", Deadline);
        await d.SetupAsync().WaitAsync(Guard);
        int k = d.Parameters.ModulusBits;
        ulong[]? delivered = null;
        d.BankTransports[0].Received = x => x.Outcome is { Sum: { } sum } o ? x with { Outcome = o with { Sum = delivered = WithTwoPowK(sum, 7, k), RangeCheckedBits = k } } : x;
        MaskingRound r = await RunMasking(d, 1, 10, [0, 1, 2]);
        Assert.That(r.Banks[0].Result.Sum, Is.SameAs(delivered), "the transport's checked array, not scanned again");
    }

    [Test]
    public void Client_RefusesBadInput_BeforeAnyMessage()
    {
        using var d = new MaskingDeployment(3, 2, "client/masking/input", Deadline);
        var ctx = new SumContext(1, 4, d.Parameters.ModulusBits);
        Assert.ThrowsAsync<ArgumentException>(() => d.Clients[0].SumAsync(new ulong[3], ctx));
        Assert.ThrowsAsync<ArgumentException>(() => d.Clients[0].SumAsync(new ulong[] { 0, 0, 0, 1UL << 32 }, ctx));
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => d.Clients[0].SumAsync(new ulong[4], ctx with { Round = 0 }));
        Assert.ThrowsAsync<ArgumentException>(() => d.Clients[0].SumAsync(new ulong[4], ctx with { ModulusBits = 16 }));
        Assert.That(d.Banks[0].State, Is.TypeOf<BankAdvertiseKeys>().And.Property("Advertised").False, "nothing was sent");
        Assert.That(d.AggregatorTransport.FromBanks, Is.Empty);
    }
}
