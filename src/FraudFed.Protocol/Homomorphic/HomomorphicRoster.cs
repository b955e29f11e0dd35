// The roster of a threshold homomorphic session (SPEC.md 14.2): public data every party holds before setup, agreed
// out of band (the appliance's configuration, the SDK's startup kit). Its digest travels in HeSessionStart so that a bank
// refuses to join a session whose aggregator means another roster or policy.
//   digest = SHA-256("FraudFed/v1/he/roster" || u32 N || N x 32-byte Ed25519 identity keys (index order) ||
//            32-byte aggregator key || u32 T || u32 K_min || u32 c || u64 budget || u32 lambda || u32 K_max ||
//            32-byte RLWE parameter hash), integers little-endian.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Public data of a session: parameters, decryption policy, every bank's identity key and the aggregator's key.</summary>
public sealed class HomomorphicRoster
{
    private readonly byte[][] _identityKeys;
    private readonly byte[] _aggregatorKey;
    private readonly byte[] _digest;

    /// <summary>Checks and fixes the roster.</summary>
    /// <param name="parameters">RLWE parameters.</param>
    /// <param name="policy">T, K_min, c, budget (validated: SPEC.md 12.3).</param>
    /// <param name="bankIdentityKeys">Ed25519 public keys (32 bytes) by roster index, all distinct.</param>
    /// <param name="aggregatorKey">The aggregator's Ed25519 public key (32 bytes), distinct from every bank's.</param>
    /// <param name="allowInsecureTestParameters">True only in tests and simulations: accept an insecure test set such as
    /// n = 256 (<see cref="RlweParameters.IsInsecure"/>). False (default): such a set is refused.</param>
    /// <exception cref="ProtocolViolationException">InsecureParameters: the policy fails its bound or the smudging lemma, or an
    /// insecure test set without <paramref name="allowInsecureTestParameters"/>.</exception>
    /// <exception cref="ArgumentException">a key of the wrong size, or a repeated key.</exception>
    public HomomorphicRoster(RlweParameters parameters, DecryptionPolicy policy, IReadOnlyList<byte[]> bankIdentityKeys, byte[] aggregatorKey,
        bool allowInsecureTestParameters = false)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.IsInsecure && !allowInsecureTestParameters)
            throw Error.Violation(ViolationReason.InsecureParameters,
                $"{parameters.Name} is an insecure test parameter set (no 128-bit security); pass allowInsecureTestParameters: true only in tests, or use ParameterSets.Default.");
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(bankIdentityKeys);
        ArgumentNullException.ThrowIfNull(aggregatorKey);
        if (bankIdentityKeys.Any(k => k is null || k.Length != Ed25519SigningKey.PublicKeySize) || aggregatorKey.Length != Ed25519SigningKey.PublicKeySize)
            throw Error.Argument(nameof(bankIdentityKeys), "Identity keys are 32-byte Ed25519 public keys.");
        if (bankIdentityKeys.Append(aggregatorKey).Select(Convert.ToHexString).Distinct().Count() != bankIdentityKeys.Count + 1)
            throw Error.Argument(nameof(bankIdentityKeys), "Every party needs its own identity key.");
        policy.Validate(bankIdentityKeys.Count);
        SmudgingLemma.Bits(parameters, policy);
        Parameters = parameters;
        Policy = policy;
        _identityKeys = bankIdentityKeys.Select(k => (byte[])k.Clone()).ToArray();
        _aggregatorKey = (byte[])aggregatorKey.Clone();
        _digest = ComputeDigest();
    }

    /// <summary>N.</summary>
    public int Banks => _identityKeys.Length;
    /// <summary>RLWE parameters.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>T, K_min, c, budget.</summary>
    public DecryptionPolicy Policy { get; }
    /// <summary>Bank identity keys by roster index.</summary>
    public IReadOnlyList<byte[]> IdentityKeys => _identityKeys;
    /// <summary>The aggregator's identity key.</summary>
    public ReadOnlySpan<byte> AggregatorKey => _aggregatorKey;
    /// <summary>SHA-256 of the roster encoding above (32 bytes).</summary>
    public ReadOnlySpan<byte> Digest => _digest;

    private byte[] ComputeDigest()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData("FraudFed/v1/he/roster"u8);
        var w = new byte[8];
        void U32(int v) { BinaryPrimitives.WriteUInt32LittleEndian(w, (uint)v); h.AppendData(w, 0, 4); }
        U32(Banks);
        foreach (byte[] k in _identityKeys) h.AppendData(k);
        h.AppendData(_aggregatorKey);
        U32(Policy.Threshold);
        U32(Policy.MinContributors);
        U32(Policy.MaxColluders);
        BinaryPrimitives.WriteUInt64LittleEndian(w, (ulong)Policy.Budget); h.AppendData(w);
        U32(Policy.StatisticalSecurity);
        U32(Policy.MaxContributors);
        h.AppendData(Parameters.Hash.Span);
        return h.GetHashAndReset();
    }
}
