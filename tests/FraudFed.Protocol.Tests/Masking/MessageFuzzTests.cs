// Mutation-based robustness of the masking wire decoders (MaskingWire.cs and the signed bodies of Messages.cs, Wire.cs,
// ModVector.Unpack). Every message is a protobuf wrapper (SPEC.md 14.3); genuine
// encodings are captured from a seeded five-bank session (bank 4 drops after ShareKeys, so the unmask
// messages carry both share kinds); each is then bit-flipped, truncated, extended, has every u32 position
// overwritten with boundary values, and is replaced by random bytes. The property: a decoder returns a value
// or throws ProtocolViolationException with a defined Reason, never another exception type, and never
// allocates more than a small multiple of the input (a count of 0xFFFFFFFF is refused before allocating).
// The receiving entry points of MaskingAggregator and MaskingBank get a sample of the same mutations in the
// stage that expects the message: only typed refusals, no mutated message accepted, and the state object
// unchanged (or, for the bank's deliberate aborts, BankAborted); the genuine message is accepted afterwards.
using System.Buffers.Binary;
using System.Numerics;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Masking;

using Wire = FraudFed.Protocol.Masking.Wire;

[TestFixture]
public sealed class MessageFuzzTests
{
    /// <summary>A decoder under test, the genuine bytes it must accept, and the seed of its mutations.</summary>
    private sealed record Target(string Name, byte[] Genuine, Func<byte[], object> Decode, int Seed);

    // Owner, holder and round of the share-bundle plaintext fixture (the decoder is told what to expect).
    private const int BundleOwner = 1, BundleHolder = 0;

    private static readonly uint[] BoundaryValues = [0, 1, 2, 3, 5, 0xFF, 0xFFFF, Wire.MaxCount - 1, Wire.MaxCount, Wire.MaxCount + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF];

    private static readonly Lazy<IReadOnlyDictionary<string, Target>> Targets = new(Capture);

    private static IReadOnlyDictionary<string, Target> Capture()
    {
        using var d = new Driver(5, 3, "message-fuzz").UpToRequests(4);
        byte[] roster = d.Roster;
        byte[] advertise = MaskingWire.Encode(KeyRoster.Decode(roster).Keys[0]); // bank 0's, as relayed, re-wrapped for the aggregator
        byte[] response = d.H.Banks[0].ReceiveUnmaskRequest(d.Requests[0]);
        byte[] packed = MaskedInput.Decode(d.Masked[0]).Packed;
        Assert.That(UnmaskRequest.Decode(d.Requests[0]).Requests.Select(q => q.Kind).Distinct(), Is.EquivalentTo(new[] { ShareKind.SelfMask, ShareKind.PairwiseKey }),
            "the fixture's unmask request asks for both share kinds");

        // The bundle plaintext only exists inside the AEAD: encode one with seeded field elements.
        using var rng = TestRandom.Create("message-fuzz/bundle");
        byte[] bundle = new byte[EncryptedShare.PlaintextSize];
        using (FieldElement521 self = RandomField(rng), pairwise = RandomField(rng))
            ShareBundle.Encode(BundleOwner, BundleHolder, Driver.Round, self, pairwise, bundle);

        Target[] all =
        [
            new("AdvertiseKeys", advertise, b => AdvertiseKeys.Decode(b), 101),
            new("KeyRoster", roster, b => KeyRoster.Decode(b), 102),
            new("GraphSeedReveal", d.Reveals[0], b => GraphSeedReveal.Decode(b), 113),
            new("GraphSeedRoster", d.SeedRoster, b => GraphSeedRoster.Decode(b), 114),
            new("ShareBundle", bundle, b => ShareBundle.Decode(b, BundleOwner, BundleHolder, Driver.Round), 103),
            new("ShareKeys", d.ShareKeys[0], b => ShareKeys.Decode(b), 104),
            new("ShareDelivery", d.Deliveries[0], b => ShareDelivery.Decode(b), 105),
            new("MaskedInput", d.Masked[0], b => MaskedInput.Decode(b), 106),
            new("SurvivorList", d.Lists[0], b => SurvivorList.Decode(b), 107),
            new("ConsistencySignature", d.Signatures[0], b => ConsistencySignature.Decode(b), 108),
            new("UnmaskRequest", d.Requests[0], b => UnmaskRequest.Decode(b), 109),
            new("UnmaskResponse", response, b => UnmaskResponse.Decode(b), 110),
            new("MaskingWire.ToAggregator", d.ShareKeys[1], b => MaskingWire.DecodeToAggregator(b), 111),
            new("MaskingWire.ToBank", d.Deliveries[1], b => MaskingWire.DecodeToBank(b), 115),
            new("RoundAbort", new RoundAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants, "round failed").Encode(), b => RoundAbort.Decode(b), 116),
            new("BankAbort", new BankAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants, "too few holders").Encode(), b => BankAbort.Decode(b), 117),
            new("ModVector.Unpack", packed, b => ModVector.Unpack(b, Driver.Bits), 112),
        ];
        return all.ToDictionary(t => t.Name);
    }

    private static FieldElement521 RandomField(System.Security.Cryptography.RandomNumberGenerator rng)
    {
        byte[] b = new byte[64];
        rng.GetBytes(b);
        BigInteger v = new BigInteger(b, isUnsigned: true) % (BigInteger.Pow(2, 521) - 1); // test data: BigInteger is fine here
        byte[] encoded = new byte[66];
        v.TryWriteBytes(encoded.AsSpan(66 - v.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return Shamir.P521.DecodeElement(encoded);
    }

    private static IEnumerable<TestCaseData> Names()
        => new[] { "AdvertiseKeys", "KeyRoster", "GraphSeedReveal", "GraphSeedRoster", "ShareBundle", "ShareKeys", "ShareDelivery", "MaskedInput", "SurvivorList",
                   "ConsistencySignature", "UnmaskRequest", "UnmaskResponse", "MaskingWire.ToAggregator", "MaskingWire.ToBank", "RoundAbort", "BankAbort", "ModVector.Unpack" }
            .Select(n => new TestCaseData(n).SetName($"Fuzz/{n}"));

    /// <summary>Every mutation of <paramref name="genuine"/>, labelled for diagnosis.</summary>
    private static IEnumerable<(string Mutation, byte[] Bytes)> Mutations(byte[] genuine, int seed)
    {
        var testOnlyMutationRandom = TestRandom.Plain(seed); // not for anything but choosing mutations
        int n = genuine.Length;

        for (int i = 0; i < 1000; i++)
        {
            int pos = testOnlyMutationRandom.Next(n), bit = testOnlyMutationRandom.Next(8);
            byte[] c = (byte[])genuine.Clone();
            c[pos] ^= (byte)(1 << bit);
            yield return ($"flip byte {pos} bit {bit}", c);
        }

        for (int len = 0; len < n; len++) yield return ($"truncate to {len}", genuine[..len]);

        foreach (int extra in new[] { 1, 2, 3, 4, 5, 63, 64, 65, 4096 })
        {
            byte[] c = new byte[n + extra];
            genuine.CopyTo(c, 0);
            testOnlyMutationRandom.NextBytes(c.AsSpan(n));
            yield return ($"append {extra} random bytes", c);
        }

        // Every byte offset, not only multiples of 4: fields sit after a 26-byte header and a u8 (k in MaskedInput).
        for (int pos = 0; pos + 4 <= n; pos++)
            foreach (uint v in BoundaryValues)
            {
                byte[] c = (byte[])genuine.Clone();
                BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(pos), v);
                yield return ($"u32 at {pos} = 0x{v:X8}", c);
            }

        for (int i = 0; i < 100; i++)
        {
            byte[] c = new byte[n];
            testOnlyMutationRandom.NextBytes(c);
            yield return ($"random {n} bytes #{i}", c);
        }

        // Random bodies behind the genuine header, so the body parser (not the magic check) sees them.
        int keep = Math.Min(Wire.HeaderSize, n);
        for (int i = 0; i < 200; i++)
        {
            byte[] c = new byte[keep + testOnlyMutationRandom.Next(n - keep + 64)];
            genuine.AsSpan(0, keep).CopyTo(c);
            testOnlyMutationRandom.NextBytes(c.AsSpan(keep));
            yield return ($"genuine header + {c.Length - keep} random bytes #{i}", c);
        }
    }

    [TestCaseSource(nameof(Names))]
    public void Decoder_OnMutatedInput_ReturnsOrThrowsTypedViolation_WithBoundedAllocation(string name)
    {
        Target t = Targets.Value[name];
        Assert.That(() => t.Decode(t.Genuine), Throws.Nothing, "the genuine encoding decodes (fixture check)");

        var failures = new List<string>();
        int cases = 0, refused = 0;
        foreach (var (mutation, bytes) in Mutations(t.Genuine, t.Seed))
        {
            cases++;
            long allowed = 64 * 1024 + 32L * bytes.Length;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                _ = t.Decode(bytes);
            }
            catch (ProtocolViolationException ex)
            {
                refused++;
                if (!Enum.IsDefined(ex.Reason)) failures.Add($"{t.Name}: {mutation} -> undefined reason {(int)ex.Reason}");
            }
            catch (Exception ex)
            {
                failures.Add($"{t.Name}: {mutation} -> {ex.GetType().Name}: {ex.Message} (input {Convert.ToHexStringLower(bytes.AsSpan(0, Math.Min(bytes.Length, 96)))}...)");
            }
            long used = GC.GetAllocatedBytesForCurrentThread() - before;
            if (used > allowed) failures.Add($"{t.Name}: {mutation} -> allocated {used} bytes for a {bytes.Length}-byte input");
        }

        Assert.That(failures, Is.Empty, $"{failures.Count} of {cases} mutations misbehaved; first: {string.Join(" | ", failures.Take(5))}");
        Assert.That(cases, Is.GreaterThan(1000), "enough mutations");
        // Decoders check structure, not signatures or AEAD tags, so flips inside payload bytes decode; header,
        // count and length mutations must not.
        Assert.That(refused, Is.GreaterThanOrEqualTo(100), "mutations are refused (the test is not vacuous)");
    }

    // Offsets of every count or length field of the signed bodies (SPEC.md 9), from the body's "FFSA" prefix inside the wrapper.
    private static IEnumerable<TestCaseData> CountFields()
    {
        const int h = Wire.HeaderSize;
        yield return new TestCaseData("ShareKeys", h + 4).SetName("Fuzz/MaxCount/ShareKeys.n");
        yield return new TestCaseData("MaskedInput", h + 5).SetName("Fuzz/MaxCount/MaskedInput.length");
        yield return new TestCaseData("UnmaskResponse", h + 4).SetName("Fuzz/MaxCount/UnmaskResponse.n");
    }

    [TestCaseSource(nameof(CountFields))]
    public void CountField_OfAllOnes_IsRefusedBeforeAllocating(string name, int offset)
    {
        Target t = Targets.Value[name];
        int body = t.Genuine.AsSpan().IndexOf("FFSA"u8);
        Assert.That(body, Is.GreaterThan(0), "the signed body sits inside the wrapper");
        foreach (uint v in new uint[] { 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, Wire.MaxCount + 1, Wire.MaxCount })
        {
            byte[] bad = (byte[])t.Genuine.Clone();
            BinaryPrimitives.WriteUInt32BigEndian(bad.AsSpan(body + offset), v);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<ProtocolViolationException>(() => t.Decode(bad), $"count 0x{v:X8}");
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(64 * 1024), $"count 0x{v:X8}: nothing sized by the count");
            Assert.That(ex!.Reason, Is.AnyOf(ViolationReason.Oversized, ViolationReason.Malformed), $"count 0x{v:X8}");
        }
    }

    private static IEnumerable<TestCaseData> Wrappers()
        => new[] { "AdvertiseKeys", "KeyRoster", "GraphSeedReveal", "GraphSeedRoster", "ShareKeys", "ShareDelivery", "MaskedInput", "SurvivorList",
                   "ConsistencySignature", "UnmaskRequest", "UnmaskResponse", "RoundAbort", "BankAbort" }
            .Select(n => new TestCaseData(n).SetName($"Fuzz/LengthPrefix/{n}"));

    /// <summary>The step's length prefix (after version 08 01 and the session id 12 10 + 16 bytes, and the step's tag) replaced by huge
    /// varints: refused as Malformed before anything is sized by it.</summary>
    [TestCaseSource(nameof(Wrappers))]
    public void StepLengthPrefix_OfHugeValues_IsRefusedBeforeAllocating(string name)
    {
        Target t = Targets.Value[name];
        Assert.That(t.Genuine[..3], Is.EqualTo(new byte[] { 0x08, 0x01, 0x12 }), "version 1, then the session id");
        const int prefix = 21; // 2 + 2 + 16 bytes, then the one-byte tag of a step field (10..16)
        int old = 0;
        while ((t.Genuine[prefix + old] & 0x80) != 0) old++;
        old++;
        foreach (ulong v in new ulong[] { 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1UL << 40 })
        {
            var varint = new List<byte>();
            for (ulong x = v; ; x >>= 7) { if (x < 0x80) { varint.Add((byte)x); break; } varint.Add((byte)(x | 0x80)); }
            byte[] bad = [.. t.Genuine[..prefix], .. varint, .. t.Genuine[(prefix + old)..]];
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<ProtocolViolationException>(() => t.Decode(bad), $"length 0x{v:X}");
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(64 * 1024 + 4L * bad.Length), $"length 0x{v:X}: nothing sized by the prefix");
            Assert.That(ex!.Reason, Is.EqualTo(ViolationReason.Malformed), $"length 0x{v:X}");
        }
    }

    /// <summary>A live session at the stage where one entry point expects <c>Genuine</c>.</summary>
    internal sealed record Stage(Driver D, byte[] Genuine, Action<byte[]> Receive, Func<object> State);

    internal static Stage AtStage(string entry)
    {
        var d = new Driver(5, 3, "message-fuzz/" + entry);
        MaskingBank bank0 = d.H.Banks[0];
        switch (entry)
        {
            case "Aggregator.AdvertiseKeys":
                return new Stage(d, bank0.AdvertiseKeys(), m => d.Agg.Receive(m), () => d.Agg.State);
            case "Aggregator.ShareKeys":
                d.UpToShareKeys();
                return new Stage(d, d.ShareKeys[0], m => d.Agg.Receive(m), () => d.Agg.State);
            case "Aggregator.MaskedInput":
                d.UpToMaskedInputs();
                return new Stage(d, d.Masked[0], m => d.Agg.Receive(m), () => d.Agg.State);
            case "Aggregator.ConsistencySignature":
                d.UpToLists();
                return new Stage(d, bank0.ReceiveSurvivors(d.Lists[0]), m => d.Agg.Receive(m), () => d.Agg.State);
            case "Aggregator.UnmaskResponse":
                d.UpToRequests(4);
                return new Stage(d, bank0.ReceiveUnmaskRequest(d.Requests[0]), m => d.Agg.Receive(m), () => d.Agg.State);
            case "Aggregator.GraphSeedReveal":
                d.UpToReveals();
                foreach (var (id, r) in d.Reveals) if (id != 0) d.Agg.Receive(r);
                return new Stage(d, d.Reveals[0], m => d.Agg.Receive(m), () => d.Agg.State);
            case "Bank.KeyRoster":
                foreach (MaskingBank b in d.H.Banks) d.Agg.Receive(b.AdvertiseKeys());
                return new Stage(d, d.Agg.CloseAdvertiseKeys(), m => bank0.ReceiveRoster(m), () => bank0.State);
            case "Bank.GraphSeedRoster":
                d.UpToSeedRoster();
                return new Stage(d, d.SeedRoster, m => bank0.ReceiveGraphSeed(m), () => bank0.State);
            case "Bank.ShareDelivery":
                d.UpToDeliveries();
                return new Stage(d, d.Deliveries[0], m => bank0.ReceiveShares(m, d.Inputs[0]), () => bank0.State);
            case "Bank.SurvivorList":
                d.UpToLists();
                return new Stage(d, d.Lists[0], m => bank0.ReceiveSurvivors(m), () => bank0.State);
            case "Bank.UnmaskRequest":
                d.UpToRequests(4);
                return new Stage(d, d.Requests[0], m => bank0.ReceiveUnmaskRequest(m), () => bank0.State);
            default:
                d.Dispose();
                throw new ArgumentOutOfRangeException(nameof(entry), entry, "Unknown entry point.");
        }
    }

    private static IEnumerable<TestCaseData> EntryPoints()
        => new[] { "Aggregator.AdvertiseKeys", "Aggregator.ShareKeys", "Aggregator.MaskedInput", "Aggregator.ConsistencySignature", "Aggregator.UnmaskResponse",
                   "Bank.KeyRoster", "Bank.ShareDelivery", "Bank.SurvivorList", "Bank.UnmaskRequest", "Aggregator.GraphSeedReveal", "Bank.GraphSeedRoster" }
            .Select((n, i) => new TestCaseData(n, 201 + i, n is "Bank.UnmaskRequest" or "Bank.GraphSeedRoster" ? 100 : 400).SetName($"Fuzz/Receive/{n}"));
    // Bank.UnmaskRequest: most mutations (survivor list, consistency signatures) abort the bank, and each abort
    // costs a fresh session, so it gets a smaller sample; so does Bank.GraphSeedRoster (a duplicated or missing
    // reveal aborts the bank, by design).

    [TestCaseSource(nameof(EntryPoints))]
    public void EntryPoint_OnMutatedMessage_RefusesTyped_AndKeepsItsState(string entry, int seed, int sample)
    {
        Stage s = AtStage(entry);
        byte[] genuine = s.Genuine;
        try
        {
            var all = Mutations(s.Genuine, seed).ToList();
            int stride = Math.Max(1, all.Count / sample);
            var failures = new List<string>();
            int cases = 0, aborts = 0;
            for (int i = 0; i < all.Count; i += stride)
            {
                var (mutation, bytes) = all[i];
                if (bytes.AsSpan().SequenceEqual(s.Genuine)) continue; // a flip and a boundary overwrite can restore the original
                cases++;
                object before = s.State();
                try
                {
                    s.Receive(bytes);
                    failures.Add($"{entry}: {mutation} -> accepted");
                }
                catch (ProtocolViolationException ex) when (Enum.IsDefined(ex.Reason))
                {
                }
                catch (Exception ex)
                {
                    failures.Add($"{entry}: {mutation} -> {ex.GetType().Name}: {ex.Message}");
                }
                object after = s.State();
                if (ReferenceEquals(after, before)) continue;
                if (after is BankAborted) aborts++; // the bank aborts on a forged survivor list or signature, by design
                else if (after is BankReady { LastRoundFailure: not null }) aborts++; // a round ended benignly (SPEC.md 8.3): nothing revealed
                else failures.Add($"{entry}: {mutation} -> state changed to {after.GetType().Name}");
                s.D.Dispose();
                s = AtStage(entry);
                Assert.That(s.Genuine, Is.EqualTo(genuine), "a rebuilt session is seeded like the first, so the mutations still apply");
            }

            Assert.That(failures, Is.Empty, $"{failures.Count} of {cases} mutations misbehaved; first: {string.Join(" | ", failures.Take(5))}");
            Assert.That(cases, Is.GreaterThanOrEqualTo(sample / 2), "enough mutations");
            Assert.That(() => s.Receive(s.Genuine), Throws.Nothing, $"the genuine message is accepted after the refusals ({aborts} aborts rebuilt)");
        }
        finally { s.D.Dispose(); }
    }
}
