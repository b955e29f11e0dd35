// The public surface of FraudFed.Cryptography and FraudFed.Protocol (issue 8 item 6): ring arithmetic, the RLWE codec, the
// BFV and compact schemes, threshold and Shamir machinery, primitives and the upload manifests are internal; a bank engineer
// or an operator reaches them only through the documented party, harness and roster types. Reflection over the two
// assemblies pins this, so making one of them public again fails here. The friend assemblies that see the internals are
// listed once, in each project's csproj.
using System.Reflection;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Homomorphic;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Surface;

[TestFixture]
public sealed class PublicSurfaceTests
{
    private static readonly Assembly Cryptography = typeof(RlweParameters).Assembly;
    private static readonly Assembly Protocol = typeof(HeWire).Assembly;

    /// <summary>Types that must not be public, by full name (a rename must update this list, not silently pass).</summary>
    private static readonly string[] CryptographyInternals =
    [
        "FraudFed.Cryptography.Ring.NttPrimes", "FraudFed.Cryptography.Ring.NttTables", "FraudFed.Cryptography.Ring.Samplers",
        "FraudFed.Cryptography.Ring.RandomFill", "FraudFed.Cryptography.Ring.RnsBasis", "FraudFed.Cryptography.Ring.RnsPoly",
        "FraudFed.Cryptography.Ring.ModArith", "FraudFed.Cryptography.Ring.PolyState",
        "FraudFed.Cryptography.Rlwe.RlweCodec", "FraudFed.Cryptography.Rlwe.RlweObjectKind", "FraudFed.Cryptography.Rlwe.Bfv",
        "FraudFed.Cryptography.Rlwe.BfvSerializer", "FraudFed.Cryptography.Rlwe.Encoder", "FraudFed.Cryptography.Rlwe.SecretKey",
        "FraudFed.Cryptography.Rlwe.PublicKey", "FraudFed.Cryptography.Rlwe.Ciphertext", "FraudFed.Cryptography.Rlwe.InsecureTestParameters",
        "FraudFed.Cryptography.Threshold.CompactScheme", "FraudFed.Cryptography.Threshold.CompactCiphertext",
        "FraudFed.Cryptography.Threshold.ThresholdKeyShare", "FraudFed.Cryptography.Threshold.DecryptionShare",
        "FraudFed.Cryptography.Threshold.ThresholdCombiner", "FraudFed.Cryptography.Threshold.SmudgingLemma",
        "FraudFed.Cryptography.Threshold.Thresholdizer", "FraudFed.Cryptography.Threshold.ShamirPolynomial",
        "FraudFed.Cryptography.Threshold.ShamirShare", "FraudFed.Cryptography.Threshold.PublicKeyShare",
        "FraudFed.Cryptography.Threshold.PublicKeyGenProtocol", "FraudFed.Cryptography.Threshold.CommonRandomness",
        "FraudFed.Cryptography.Threshold.CrsContribution", "FraudFed.Cryptography.Threshold.CrpPurpose",
        "FraudFed.Cryptography.Threshold.ChunkLabel",
        "FraudFed.Cryptography.Sharing.Shamir", "FraudFed.Cryptography.Sharing.ShamirShare", "FraudFed.Cryptography.Sharing.FieldElement521",
        "FraudFed.Cryptography.Primitives.Aead", "FraudFed.Cryptography.Primitives.Commitment", "FraudFed.Cryptography.Primitives.Kdf",
        "FraudFed.Cryptography.Primitives.Prg", "FraudFed.Cryptography.Primitives.X25519KeyPair",
        "FraudFed.Cryptography.Error",   // the exception factory: friends (Protocol, Learning, the appliance) only
    ];

    private static readonly string[] ProtocolInternals =
    [
        "FraudFed.Protocol.Homomorphic.UploadManifest", "FraudFed.Protocol.Homomorphic.UploadSignature",
        "FraudFed.Protocol.Homomorphic.VerifiedManifests", "FraudFed.Protocol.Homomorphic.ContributorList",
        "FraudFed.Protocol.Homomorphic.ContributorEntry", "FraudFed.Protocol.Homomorphic.UploadIntake",
        "FraudFed.Protocol.Homomorphic.DecryptionGuard", "FraudFed.Protocol.Homomorphic.HomomorphicBank",
        "FraudFed.Protocol.Homomorphic.ShareChannel",
        "FraudFed.Protocol.Masking.ModVector", "FraudFed.Protocol.Masking.MaskJob", "FraudFed.Protocol.Masking.GraphSeed",
        "FraudFed.Protocol.Masking.MessageType", "FraudFed.Protocol.Masking.MessageHeader", "FraudFed.Protocol.Masking.Wire",
        "FraudFed.Protocol.Masking.KeySchedule", "FraudFed.Protocol.CanonicalProtobuf",
    ];

    /// <summary>What stays public in FraudFed.Cryptography, and why (each is in a public signature a bank or operator uses).</summary>
    private static readonly string[] CryptographyPublic =
    [
        "FraudFed.Cryptography.ViolationReason",               // every typed refusal's reason code (SPEC.md 14.1 abort codes)
        "FraudFed.Cryptography.ProtocolViolationException",    // what every party, the SDK and the appliance throw
        "FraudFed.Cryptography.Rlwe.RlweParameters",           // the roster's parameter set; InsecureForTestsOnly(name)
        "FraudFed.Cryptography.Rlwe.ParameterSets",            // the named production sets
        "FraudFed.Cryptography.Threshold.DecryptionPolicy",    // T, K_min, c and budget of the roster (SPEC.md 12.3)
        "FraudFed.Cryptography.Primitives.Ed25519SigningKey",  // a party's identity key (SDK, appliance, party constructors)
        "FraudFed.Cryptography.Primitives.DeterministicRandom",// the seeded generator the vectors and test helpers are defined with
    ];

    private static Type Named(Assembly assembly, string fullName) =>
        assembly.GetType(fullName) ?? throw new AssertionException($"{fullName} does not exist in {assembly.GetName().Name}; update the surface list");

    [Test]
    public void RingCodecAndThresholdTypes_AreNotPublic()
    {
        foreach (string name in CryptographyInternals)
            Assert.That(Named(Cryptography, name).IsVisible, Is.False, $"{name} is part of the public surface");
        foreach (string name in ProtocolInternals)
            Assert.That(Named(Protocol, name).IsVisible, Is.False, $"{name} is part of the public surface");
    }

    [Test]
    public void Cryptography_ExportsExactlyTheDocumentedTypes()
    {
        string[] exported = Cryptography.GetExportedTypes().Select(t => t.FullName!).Order(StringComparer.Ordinal).ToArray();
        Assert.That(exported, Is.EqualTo(CryptographyPublic.Order(StringComparer.Ordinal).ToArray()));
    }

    [Test]
    public void PublicMembersOfPublicTypes_DoNotLeakRingOrSchemeObjects()
    {
        // The compiler forbids an internal type in a public signature; this also pins the members that were made internal
        // on public types (RlweParameters.Basis, the parties' and harness's compact scheme).
        const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static;
        Assert.That(typeof(RlweParameters).GetProperty("Basis", Public), Is.Null);
        Assert.That(typeof(HomomorphicAggregatorParty).GetProperty("Scheme", Public), Is.Null);
        Assert.That(typeof(Harness.HomomorphicSession).GetProperty("Scheme", Public), Is.Null);
    }

    [Test]
    public void InsecureSets_AreReachedOnlyThroughTheTestOnlyFactory()
    {
        foreach (string name in RlweParameters.InsecureTestSetNames)
        {
            RlweParameters p = RlweParameters.InsecureForTestsOnly(name);
            Assert.That(p.IsInsecure && p.Name == name, Is.True, name);
        }
        Assert.That(RlweParameters.InsecureForTestsOnly("INSECURE-test-n256-3x60-t44").N, Is.EqualTo(256));
        Assert.That(RlweParameters.InsecureForTestsOnly("INSECURE-test-n1024-3x60-t44").N, Is.EqualTo(1024));
        Assert.Throws<ArgumentException>(() => RlweParameters.InsecureForTestsOnly("fraudfed-bfv-8192-3x60-t44"));
        Assert.Throws<ArgumentException>(() => RlweParameters.InsecureForTestsOnly("INSECURE-test-n512"));
        Assert.That(ParameterSets.Default.IsInsecure, Is.False);
    }
    [Test]
    public void NoProductionOptionsTypeCarriesASeed_AndSeedingIsOnlyThroughTheTestOnlyFactories()
    {
        // Issue 8 item 6: a test seed is not a member of any options type (of any visibility); a reproducible session is built
        // only through the factories named SeededForTestsOnly, which are internal.
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        Type[] options = Protocol.GetTypes().Where(t => t.Name.EndsWith("Options", StringComparison.Ordinal)).ToArray();
        Assert.That(options.Select(t => t.Name), Does.Contain(nameof(Harness.HomomorphicOptions)).And.Contain(nameof(Harness.MaskingOptions)));
        foreach (Type t in options)
            foreach (MemberInfo m in t.GetMembers(All).Where(m => m is PropertyInfo or FieldInfo))
                Assert.That(m.Name, Does.Not.Contain("Seed").IgnoreCase.And.Not.Contain("Test").IgnoreCase, $"{t.Name}.{m.Name}");
        Assert.That(typeof(Harness.HomomorphicOptions).GetProperties(BindingFlags.NonPublic | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"), Is.Empty,
            "HomomorphicOptions has no hidden members");
        foreach (Type t in new[] { typeof(Harness.HomomorphicSession), typeof(Harness.HomomorphicSecureSum) })
        {
            MethodInfo[] seeded = t.GetMethods(All).Where(m => m.Name.Contains("Seed", StringComparison.OrdinalIgnoreCase)).ToArray();
            Assert.That(seeded.Select(m => m.Name), Is.EqualTo(new[] { "SeededForTestsOnly" }), t.Name);
            Assert.That(seeded[0].IsAssembly && seeded[0].IsStatic, Is.True, $"{t.Name}.SeededForTestsOnly is internal and static");
            Assert.That(t.GetConstructors().SelectMany(c => c.GetParameters()).Select(p => p.Name), Has.None.Contain("eed"), $"{t.Name}: no public constructor takes a seed");
        }
    }
}
