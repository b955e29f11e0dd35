// A bounded, seeded mutation fuzz loop over every decoder of bytes from another party (issue 10, hardening): the HE wire
// mapper in both directions (SPEC.md 14.2), the masking wire mapper in both directions with its signed bodies (9, 14.3),
// the RLWE objects of kinds 1-6 (12), signed upload manifests and contributor lists (12.2), channel adverts and sealed
// Shamir points (12.0 step 3), the share-bundle plaintext (3) and packed masked values (9). Genuine messages come from the
// seeded three-bank HE session of party objects (HeWorld) and from a seeded five-bank masking session; FuzzRun mutates them (bit flips, byte insertion and deletion, truncation, u32 and varint boundary values, overlong
// varints, lying length prefixes, duplicated, deleted, reordered and grafted protobuf fields, splices of two messages) and
// checks: accepted -> the documented re-encoding property; refused -> ProtocolViolationException with a defined reason;
// never another exception; allocation per call at most 64 KiB + 32 x the input. Each decoder runs a fixed number of mutants
// within a few seconds; a failure names seed and mutant index (FRAUDFED_FUZZ_SEED / _MUTANTS / _SECONDS scale a run up).
// TEST-ONLY seeded randomness (TestRandom, WireMutator); INSECURE n = 256 parameters.
using System.Numerics;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Sharing;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Protocol.Tests.Masking;
using FraudFed.Testing;
using FraudFed.Testing.Fuzzing;
using NUnit.Framework;
using ShamirShare = FraudFed.Cryptography.Threshold.ShamirShare;

namespace FraudFed.Protocol.Tests.Fuzzing;

[TestFixture]
public sealed class DecoderFuzzTests
{
    private const int Banks = 3, MutantsPerDecoder = 1500;
    private const double SecondsPerDecoder = 4;
    private static readonly RlweParameters P = InsecureTestParameters.N256;

    /// <summary>One decoder: its genuine inputs, whether they are protobuf, the decode call and the property of an accepted input.</summary>
    private sealed record Target(string Name, IReadOnlyList<byte[]> Genuine, bool Protobuf, Func<byte[], object?> Decode, Func<byte[], object?, string?> OnAccepted);

    private static readonly Lazy<HeSession> He = new(HeSession.Load);
    private static readonly Lazy<Dictionary<string, Target>> Targets = new(Build);

    /// <summary>The messages of a seeded HE session (HeWorld), by direction.</summary>
    private sealed class HeSession
    {
        public required byte[][] ToBank, ToAggregator, IdentityPublic;
        public required byte[] AggregatorPublic;

        public static HeSession Load()
        {
            using var world = new HeWorld("fuzz/decoders/he");
            List<HeDelivery> all = world.RunAll();
            Assert.That(world.Aggregator.LastOutcome?.Sum, Is.EqualTo(HeWorld.ExpectedSum()), "the fixture session sums exactly");
            return new HeSession
            {
                ToBank = all.Where(d => !d.ToAggregator).Select(d => d.Bytes).DistinctBy(Convert.ToHexString).ToArray(),
                ToAggregator = all.Where(d => d.ToAggregator).Select(d => d.Bytes).DistinctBy(Convert.ToHexString).ToArray(),
                IdentityPublic = world.IdentityPublic,
                AggregatorPublic = world.AggregatorPublic,
            };
        }
    }

    private static string? Same(byte[] input, byte[] reencoded, string what) =>
        input.AsSpan().SequenceEqual(reencoded) ? null : $"{what} re-encodes to other bytes";

    /// <summary>Accepted signed or sealed bytes must be one of the genuine ones: the signature or tag binds every byte.</summary>
    private static Func<byte[], object?, string?> OnlyGenuine(IReadOnlyList<byte[]> genuine) =>
        (input, _) => genuine.Any(g => g.AsSpan().SequenceEqual(input)) ? null : "a signed or sealed object other than a genuine one verified";

    private static Dictionary<string, Target> Build()
    {
        HeSession he = He.Value;
        var targets = new List<Target>
        {
            new("HeWire.DecodeToBank", he.ToBank, true, b => HeWire.DecodeToBank(b, Banks), (b, v) =>
            {
                byte[] again = HeWire.Encode((HeToBank)v!);
                return Same(again, HeWire.Encode(HeWire.DecodeToBank(again, Banks)), "the re-encoded message");
            }),
            new("HeWire.DecodeToAggregator", he.ToAggregator, true, b => HeWire.DecodeToAggregator(b, Banks), (b, v) =>
            {
                byte[] again = HeWire.Encode((HeToAggregator)v!);
                return Same(again, HeWire.Encode(HeWire.DecodeToAggregator(again, Banks)), "the re-encoded message");
            }),
        };

        // Objects inside the HE messages: kind-4 shares, kind-2 uploads and their manifests, kind-11 shares, contributor lists, adverts.
        var toAgg = he.ToAggregator.Select(b => HeWire.DecodeToAggregator(b, Banks)).ToList();
        var toBank = he.ToBank.Select(b => HeWire.DecodeToBank(b, Banks)).ToList();
        byte[][] keyShares = toAgg.OfType<HeKeyShareRevealMessage>().Select(m => m.Share).ToArray();
        byte[][] uploads = toAgg.OfType<HeUploadMessage>().SelectMany(m => m.Chunks).Select(c => c.ToArray()).ToArray();
        byte[][] manifests = toAgg.OfType<HeUploadMessage>().Select(m => m.Manifest).ToArray();
        byte[][] decryptionShares = toAgg.OfType<HeDecryptionSharesMessage>().SelectMany(m => m.Shares).ToArray();
        // A round's lists share one signature: the fuzzed list is the first of a request, parsed with the request's other lists.
        byte[][] roundLists = toBank.OfType<HeDecryptionRequestMessage>().Select(m => m.ContributorLists).FirstOrDefault() ?? [];
        byte[][] lists = roundLists.Take(1).ToArray();
        byte[][] adverts = toAgg.OfType<HeChannelAdvertMessage>().Select(m => m.Advert).ToArray();
        Assert.That(new[] { keyShares.Length, uploads.Length, manifests.Length, decryptionShares.Length, lists.Length, adverts.Length }, Is.All.Positive,
            "the session vector holds every HE object kind");

        targets.Add(new("RLWE kind 2 (compact ciphertext)", uploads, false, b => CompactCiphertext.Deserialize(P, b),
            (b, v) => Same(b, ((CompactCiphertext)v!).Serialize(), "the ciphertext")));
        targets.Add(new("RLWE kind 4 (public-key share)", keyShares, false, b => PublicKeyShare.Deserialize(P, b),
            (b, v) => Same(b, ((PublicKeyShare)v!).Serialize(), "the key share")));
        targets.Add(new("RLWE kind 11 (decryption share)", decryptionShares, false, b => DecryptionShare.Deserialize(P, b),
            (b, v) => Same(b, ((DecryptionShare)v!).Serialize(), "the decryption share")));

        // Kinds 1, 3 and 5 do not appear on the HE wire in the clear: seeded ones.
        var bfv = new Bfv(P);
        using var rng = TestRandom.Create("fuzz/decoders/rlwe");
        using (SecretKey sk = bfv.GenerateSecretKey(rng))
        {
            PublicKey pk = bfv.GeneratePublicKey(sk, rng);
            byte[] ct = BfvSerializer.Serialize(bfv.Encrypt(pk, Enumerable.Range(0, 40).Select(i => (ulong)i * 977).ToArray(), rng));
            targets.Add(new("RLWE kind 1 (ciphertext)", [ct], false, b => BfvSerializer.DeserializeCiphertext(P, b),
                (b, v) => Same(b, BfvSerializer.Serialize((Ciphertext)v!), "the ciphertext")));
            targets.Add(new("RLWE kind 3 (public key)", [BfvSerializer.Serialize(pk)], false, b => BfvSerializer.DeserializePublicKey(P, b),
                (b, v) => Same(b, BfvSerializer.Serialize((PublicKey)v!), "the public key")));
            var thresholdizer = new Thresholdizer(P);
            using ShamirPolynomial f = thresholdizer.GenShamirPolynomial(2, sk, rng);
            using ShamirShare point = thresholdizer.GenShareForParty(f, 0, 2);
            targets.Add(new("RLWE kind 5 (Shamir point)", [point.Serialize()], false, b => ShamirShare.Deserialize(P, b),
                (b, v) => { using var s = (ShamirShare)v!; return Same(b, s.Serialize(), "the Shamir point"); }));
        }

        targets.Add(new("UploadManifest.Parse", manifests, false, b => UploadManifest.Parse(b, he.IdentityPublic, 4), OnlyGenuine(manifests)));
        targets.Add(new("ContributorList.ParseRound", lists, false, b => ContributorList.ParseRound([b, .. roundLists.Skip(1)], he.AggregatorPublic, Banks),
            OnlyGenuine(lists)));

        // Channel adverts (the vector's, whose session id is the vector's) and sealed points between two seeded channels.
        byte[] sessionId = adverts[0][..16];
        targets.Add(new("ShareChannel.AcceptAdvert", adverts, false, b =>
        {
            using var freshRng = TestRandom.Create("fuzz/decoders/advert-receiver");
            using var fresh = new ShareChannel(0, Banks, sessionId, freshRng);
            return fresh.AcceptAdvert(b, he.IdentityPublic);
        }, OnlyGenuine(adverts)));
        var ids = Enumerable.Range(0, 2).Select(i => Ed25519SigningKey.Generate(TestRandom.Create($"fuzz/decoders/id/{i}"))).ToArray();
        byte[][] idRoster = [ids[0].PublicKey.ToArray(), ids[1].PublicKey.ToArray()];
        var a = new ShareChannel(0, 2, sessionId, rng);
        var c = new ShareChannel(1, 2, sessionId, rng);
        a.AcceptAdvert(c.Advert(ids[1]), idRoster);
        c.AcceptAdvert(a.Advert(ids[0]), idRoster);
        byte[] sealedPoint = a.Seal(1, Enumerable.Range(0, 120).Select(i => (byte)i).ToArray());
        targets.Add(new("ShareChannel.Open (sealed point)", [sealedPoint], false, b => c.Open(0, b), OnlyGenuine([sealedPoint])));
        foreach (Ed25519SigningKey k in ids) k.Dispose();

        // Masking: a seeded five-bank session up to the unmask requests (bank 4 dropped after ShareKeys, so both share kinds).
        using (var d = new Driver(5, 3, "fuzz/decoders/masking").UpToRequests(4))
        {
            var toAggregator = new List<byte[]>();
            toAggregator.Add(MaskingWire.Encode(KeyRoster.Decode(d.Roster).Keys[0]));
            toAggregator.AddRange(d.Reveals.Values);
            toAggregator.AddRange(d.ShareKeys.Values);
            toAggregator.AddRange(d.Masked.Values);
            toAggregator.AddRange(d.Signatures.Values);
            toAggregator.Add(d.H.Banks[0].ReceiveUnmaskRequest(d.Requests[0]));
            toAggregator.Add(new BankAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants, "too few holders").Encode());
            var toBankMasking = new List<byte[]> { d.Roster, d.SeedRoster };
            toBankMasking.AddRange(d.Deliveries.Values);
            toBankMasking.AddRange(d.Lists.Values);
            toBankMasking.AddRange(d.Requests.Values);
            toBankMasking.Add(new RoundAbort(d.Parameters.SessionId, Driver.Round, ViolationReason.TooFewParticipants, "round failed").Encode());
            targets.Add(new("MaskingWire.DecodeToAggregator", toAggregator, true, b => MaskingWire.DecodeToAggregator(b),
                (b, v) => Same(b, MaskingWire.Encode((MaskingToAggregator)v!), "the message (only canonical encodings are accepted)")));
            targets.Add(new("MaskingWire.DecodeToBank", toBankMasking, true, b => MaskingWire.DecodeToBank(b),
                (b, v) => Same(b, MaskingWire.Encode((MaskingToBank)v!), "the message (only canonical encodings are accepted)")));
            byte[] packed = MaskedInput.Decode(d.Masked[0]).Packed;
            targets.Add(new("ModVector.Unpack", [packed], false, b => ModVector.Unpack(b, Driver.Bits),
                (b, v) =>
                {
                    var values = (ulong[])v!;
                    byte[] again = new byte[values.Length * ModVector.BytesPerValue(Driver.Bits)];
                    ModVector.Pack(values, Driver.Bits, again);
                    return Same(b, again, "the packed vector");
                }));
        }

        byte[] bundle = new byte[EncryptedShare.PlaintextSize];
        using (var bundleRng = TestRandom.Create("fuzz/decoders/bundle"))
        using (FieldElement521 self = RandomField(bundleRng), pairwise = RandomField(bundleRng))
            ShareBundle.Encode(1, 0, Driver.Round, self, pairwise, bundle);
        targets.Add(new("ShareBundle.Decode", [bundle], false, b => ShareBundle.Decode(b, 1, 0, Driver.Round), (b, v) =>
        {
            var (s, pw) = ((FieldElement521, FieldElement521))v!;
            byte[] again = new byte[EncryptedShare.PlaintextSize];
            ShareBundle.Encode(1, 0, Driver.Round, s, pw, again);
            s.Dispose();
            pw.Dispose();
            return b.Length == again.Length ? Same(b, again, "the bundle") : "a bundle of another size was accepted";
        }));
        return targets.ToDictionary(t => t.Name);
    }

    private static FieldElement521 RandomField(RandomNumberGenerator rng)
    {
        byte[] b = new byte[64];
        rng.GetBytes(b);
        BigInteger v = new BigInteger(b, isUnsigned: true) % (BigInteger.Pow(2, 521) - 1); // test data only
        byte[] encoded = new byte[66];
        v.TryWriteBytes(encoded.AsSpan(66 - v.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return Shamir.P521.DecodeElement(encoded);
    }

    private static IEnumerable<TestCaseData> Names() =>
        new[]
        {
            "HeWire.DecodeToBank", "HeWire.DecodeToAggregator", "RLWE kind 1 (ciphertext)", "RLWE kind 2 (compact ciphertext)", "RLWE kind 3 (public key)",
            "RLWE kind 4 (public-key share)", "RLWE kind 5 (Shamir point)", "RLWE kind 11 (decryption share)", "UploadManifest.Parse", "ContributorList.ParseRound",
            "ShareChannel.AcceptAdvert", "ShareChannel.Open (sealed point)", "MaskingWire.DecodeToAggregator", "MaskingWire.DecodeToBank", "ModVector.Unpack",
            "ShareBundle.Decode",
        }.Select((n, i) => new TestCaseData(n, 7001 + i).SetName($"Fuzz/Decoder/{n}"));

    [TestCaseSource(nameof(Names))]
    public void Decoder_AcceptsOrRefusesTyped_WithBoundedAllocation(string name, int defaultSeed)
    {
        Target t = Targets.Value[name];
        foreach (byte[] g in t.Genuine)
        {
            object? v = t.Decode(g);
            Assert.That(t.OnAccepted(g, v), Is.Null, $"{name}: a genuine input holds the property (fixture check)");
        }
        int seed = FuzzRun.Seed(defaultSeed);
        FuzzResult r = FuzzRun.Run(new WireMutator(t.Genuine, t.Protobuf), seed, FuzzRun.Mutants(MutantsPerDecoder), FuzzRun.Budget(SecondsPerDecoder),
            t.Decode, t.OnAccepted);
        TestContext.Out.WriteLine($"{name}: {r}");
        Assert.That(r.Failures, Is.Empty, $"{name}: {r}");
        Assert.That(r.Cases, Is.GreaterThanOrEqualTo(200), $"{name}: enough mutants within the time budget ({r})");
        Assert.That(r.Refused, Is.GreaterThan(r.Cases / 4), $"{name}: the mutants reach the checks ({r})");
    }
}
