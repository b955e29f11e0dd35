// Constant-time comparison audit (issue 10, hardening), kept as a test so it stays true: (1) every place that compares a
// secret, MAC, digest or commitment received from another party compares with CryptographicOperations.FixedTimeEquals (or
// FieldElement521.FixedTimeEquals), checked by the call being present at each named site; (2) no other early-exit
// comparison (SequenceEqual) in src/ touches a name that reads like secret material unless it is listed below with the reason
// its operands are public. A new SequenceEqual on a secret-looking name fails the test until it is reviewed.
using System.Text.RegularExpressions;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Hardening;

[TestFixture]
public sealed class ConstantTimeAuditTests
{
    /// <summary>Sites that must compare in constant time: file, and a fragment of the FixedTimeEquals call there.</summary>
    private static readonly (string File, string Call)[] RequiredFixedTime =
    [
        ("src/FraudFed.Cryptography/Primitives/Commitment.cs", "FixedTimeEquals(expected, commitment)"),
        ("src/FraudFed.Cryptography/Rlwe/RlweCodec.cs", "FixedTimeEquals(digest[..DigestSize]"),
        ("src/FraudFed.Cryptography/Threshold/CommonRandomness.cs", "FixedTimeEquals(Commit(sessionId, b, nonce), c)"),
        ("src/FraudFed.Cryptography/Sharing/FieldElement521.cs", "public bool FixedTimeEquals(FieldElement521 other)"),
        ("src/FraudFed.Protocol/Homomorphic/SignedUploads.cs", "FixedTimeEquals(digest, manifest.Digest(chunk))"),
        ("src/FraudFed.Protocol/Homomorphic/SignedUploads.cs", "FixedTimeEquals(m.Digest(chunk), digest)"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicBankParty.cs", "FixedTimeEquals(c.Commitments[p.Index], contribution.Commitment)"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicBankParty.cs", "FixedTimeEquals(SHA256.HashData(r.Shares[i]), commitments[i])"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicAggregatorParty.cs", "FixedTimeEquals(CommonRandomness.Commit(p._sessionId, from, m.Nonce), commitments[from])"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicAggregatorParty.cs", "FixedTimeEquals(SHA256.HashData(m.Share), commitments[from])"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicAggregatorParty.cs", "FixedTimeEquals(digest, m.PublicKeyDigest)"),
        ("src/FraudFed.Protocol/Homomorphic/DecryptionLedger.cs", "FixedTimeEquals(previous, fingerprint)"),
        ("src/FraudFed.Protocol/Masking/MaskingBank.cs", "FixedTimeEquals(reveals[_id].Nonce, _graphNonce)"),
        ("src/FraudFed.Protocol/Masking/MaskingAggregator.cs", "other.FixedTimeEquals(secret)"),
    ];

    /// <summary>Reviewed early-exit comparisons whose operands look secret by name but are public: file, fragment, why.</summary>
    private static readonly (string File, string Fragment, string Why)[] ReviewedPublic =
    [
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicBankParty.cs", "identity.PublicKey.SequenceEqual", "public identity key against the roster"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicAggregatorParty.cs", "signingKey.PublicKey.SequenceEqual", "public key against the roster"),
        ("src/FraudFed.Protocol/Homomorphic/HomomorphicBankParty.cs", "s.RosterDigest.AsSpan().SequenceEqual(Roster.Digest)", "the public roster digest"),
        ("src/FraudFed.Protocol/Masking/MaskingBank.cs", "identity.PublicKey.SequenceEqual", "public identity key against the roster"),
        ("src/FraudFed.Protocol/Masking/MaskingBank.cs", "mine.ChannelPublicKey.AsSpan().SequenceEqual", "this bank's own public keys in the relayed roster"),
        ("src/FraudFed.Protocol/Masking/MaskingBank.cs", "mine.MaskPublicKey.AsSpan().SequenceEqual", "this bank's own public keys in the relayed roster"),
        ("src/FraudFed.Protocol/Masking/MaskingBank.cs", "mine.GraphCommitment.AsSpan().SequenceEqual", "this bank's own published commitment"),
        ("src/FraudFed.Protocol/Masking/MaskingBankState.cs", "SequenceEqual(RosterDigest(identityKeys", "digest of the public identity roster"),
        ("src/FraudFed.Protocol/Masking/MaskingBankState.cs", "mine.ChannelPublicKey.AsSpan().SequenceEqual", "this bank's own public keys in the saved roster"),
        ("src/FraudFed.Protocol/Masking/MaskingBankState.cs", "mine.MaskPublicKey.AsSpan().SequenceEqual", "this bank's own public keys in the saved roster"),
        ("src/FraudFed.Protocol/Homomorphic/SignedUploads.cs", "sessionTag.SequenceEqual(SessionTag)", "the public session tag (SHA-256 of the public CRS seed)"),
        ("src/FraudFed.Protocol/Homomorphic/SignedUploads.cs", "manifests.SessionTag.AsSpan().SequenceEqual(SessionTag)", "the public session tag"),
        ("src/FraudFed.Protocol/Homomorphic/SignedUploads.cs", "label[..16].SequenceEqual(_sessionTag)", "the public session tag in a chunk label"),
        ("src/FraudFed.Cryptography/Threshold/CompactCiphertext.cs", "ct.SessionTag.AsSpan().SequenceEqual(SessionTag)", "the public session tag"),
        ("src/FraudFed.Cryptography/Threshold/ChunkLabel.cs", "SequenceEqual(sessionTag)", "the public session tag"),
        ("src/FraudFed.Cryptography/Threshold/ChunkLabel.cs", "SequenceEqual(fingerprint)", "the public request fingerprint (hash of public sets)"),
        ("src/FraudFed.Cryptography/Threshold/ThresholdDecryption.cs", "c.Key.AsSpan().SequenceEqual(key)", "cache key: the fingerprint of the public sets U and D"),
        ("src/FraudFed.Conformance/Live/Bank/BankRefusalChecks.cs", ".AsSpan().SequenceEqual(shares[b])", "the conformance double compares two decryption shares a bank already sent it (public messages, test side)"),
    ];

    /// <summary>Folders whose comparisons check published test vectors (public by definition), not protocol input.</summary>
    private static readonly string[] VectorCheckFolders = ["src/FraudFed.Conformance/Vectors/"];

    private static readonly Regex SecretName = new(@"(?i)(secret|\bmac\b|\btag\b|sessiontag|commit|nonce|seed|share|digest|fingerprint|key|signature|private)", RegexOptions.Compiled);

    [Test]
    public void SecretsMacsDigestsAndCommitments_AreComparedInConstantTime()
    {
        foreach (var (file, call) in RequiredFixedTime)
            Assert.That(File.ReadAllText(Path.Combine(Repository.Root, file)), Does.Contain(call), $"{file} compares in constant time");
    }

    [Test]
    public void NoEarlyExitComparison_TouchesSecretLookingNames_UnlessReviewedAsPublic()
    {
        var unreviewed = new List<string>();
        var used = new HashSet<int>();
        string src = Path.Combine(Repository.Root, "src");
        foreach (string path in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(Repository.Root, path).Replace('\\', '/');
            if (rel.Contains("/obj/", StringComparison.Ordinal) || rel.Contains("/bin/", StringComparison.Ordinal)) continue;
            if (VectorCheckFolders.Any(f => rel.StartsWith(f, StringComparison.Ordinal))) continue;
            string[] lines = File.ReadAllLines(path);
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i];
                if (!line.Contains("SequenceEqual", StringComparison.Ordinal) || line.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                // Only the operands of each SequenceEqual call matter: the receiver expression and the argument.
                foreach (Match m in Regex.Matches(line, @"([\w\.\[\]\(\)]+)\.SequenceEqual\((.*?)\)"))
                {
                    string operands = m.Groups[1].Value + " " + m.Groups[2].Value;
                    if (!SecretName.IsMatch(operands)) continue;
                    int reviewed = Array.FindIndex(ReviewedPublic, r => r.File == rel && m.Value.Contains(r.Fragment, StringComparison.Ordinal));
                    if (reviewed >= 0) { used.Add(reviewed); continue; }
                    unreviewed.Add($"{rel}:{i + 1}: {line.Trim()}");
                }
            }
        }
        Assert.That(unreviewed, Is.Empty, "early-exit comparisons of secret-looking values: use CryptographicOperations.FixedTimeEquals, or review and list them");
        // The scanner is not vacuous: every reviewed site is one it flags, and a stale entry (the code moved on) fails too.
        Assert.That(Enumerable.Range(0, ReviewedPublic.Length).Where(r => !used.Contains(r)).Select(r => ReviewedPublic[r].File + ": " + ReviewedPublic[r].Fragment),
            Is.Empty, "reviewed sites the scanner no longer finds");
    }
}
