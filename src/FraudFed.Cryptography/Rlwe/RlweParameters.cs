// RlweParameters: named RLWE/BFV parameter sets checked against the HomomorphicEncryption.org security
// table (M. Albrecht et al., "Homomorphic Encryption Security Standard", 2018, Table 1: classical 128-bit
// security, ternary secret, error sigma ~ 3.2): n = 1024 -> log Q <= 27, 2048 -> 54, 4096 -> 109,
// 8192 -> 218, 16384 -> 438, 32768 -> 881. log Q is measured as the sum of the primes' bit lengths (an upper
// bound on log2 Q). The plaintext modulus is t = 2^k (coefficient encoding, one value per coefficient).
//
// Default aggregation set "fraudfed-bfv-8192-3x60-t44": n = 8192, Q = three 60-bit NTT primes (180 of the
// allowed 218 bits), t = 2^44. Noise room: Delta = Q/t ~ 2^136, so decryption is exact while the total
// phase noise stays below Q/(2t) ~ 2^135; threshold smudging of 2^106 per share (ThresholdDecryption) from
// T <= 10 banks leaves more than 2^25 of margin.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Cryptography.Ring;

namespace FraudFed.Cryptography.Rlwe;

/// <summary>An immutable RLWE parameter set: ring degree, RNS primes and plaintext modulus 2^k.</summary>
public sealed class RlweParameters
{
    private RlweParameters(string name, int n, ulong[] primes, int plainBits, bool insecure)
    {
        Name = name;
        N = n;
        Primes = primes;
        PlainModulusBits = plainBits;
        IsInsecure = insecure;
        LogQ = primes.Sum(p => 64 - BitOperations.LeadingZeroCount(p));
        Basis = new RnsBasis(n, primes);
        Hash = ComputeHash(n, primes, plainBits, Samplers.SigmaMicros, Samplers.GaussianBound, SecretDistributionTernary);
        if (BigInteger.Pow(2, plainBits) * 4 >= Basis.Q)
            throw Error.Violation(ViolationReason.InsecureParameters, "Q must exceed 4t for exact decryption.");
    }

    /// <summary>Name for reports.</summary>
    public string Name { get; }
    /// <summary>Ring degree n.</summary>
    public int N { get; }
    /// <summary>RNS primes q_i.</summary>
    public IReadOnlyList<ulong> Primes { get; }
    /// <summary>k, with plaintext modulus t = 2^k.</summary>
    public int PlainModulusBits { get; }
    /// <summary>Sum of the primes' bit lengths (upper bound on log2 Q).</summary>
    public int LogQ { get; }
    /// <summary>True only for the clearly named insecure test sets.</summary>
    public bool IsInsecure { get; }
    /// <summary>RNS basis with NTT tables (ring arithmetic is internal to the library).</summary>
    internal RnsBasis Basis { get; }
    /// <summary>SHA-256 over the canonical encoding (n, k, t, primes, error sigma and tail cut, secret distribution); bound into every serialized object.</summary>
    public ReadOnlyMemory<byte> Hash { get; }

    /// <summary>The HomomorphicEncryption.org 128-bit bound on log Q for n, or 0 when n is not in the table.</summary>
    public static int SecurityBound(int n) => n switch
    {
        1024 => 27,
        2048 => 54,
        4096 => 109,
        8192 => 218,
        16384 => 438,
        32768 => 881,
        _ => 0,
    };

    /// <summary>
    /// Creates a parameter set, refusing (typed <see cref="ViolationReason.InsecureParameters"/>) any set whose
    /// log Q exceeds the 128-bit table entry for n.
    /// </summary>
    public static RlweParameters Create(string name, int n, IReadOnlyList<ulong> primes, int plainModulusBits)
    {
        Validate(name, n, primes, plainModulusBits);
        int logQ = primes.Sum(p => 64 - BitOperations.LeadingZeroCount(p));
        int bound = SecurityBound(n);
        if (bound == 0 || logQ > bound)
            throw Error.Violation(ViolationReason.InsecureParameters, $"log Q = {logQ} exceeds the 128-bit bound {bound} for n = {n}.");
        return new RlweParameters(name, n, [.. primes], plainModulusBits, insecure: false);
    }

    /// <summary>
    /// Resolves one of the INSECURE test parameter sets by its name, for unit tests and a development appliance only
    /// (SPEC.md 12.a): <c>INSECURE-test-n256-3x60-t44</c> (n = 256) or <c>INSECURE-test-n1024-3x60-t44</c> (n = 1024),
    /// both with three 60-bit primes and t = 2^44, far below any security level. The returned set has
    /// <see cref="IsInsecure"/> true; production settings refuse it. The bank SDK's <c>InsecureTestParameters</c>
    /// setting and the CLI's <c>--insecure-test-parameters</c> resolve their set through this method.
    /// </summary>
    /// <param name="name">The set's full name, one of <see cref="InsecureTestSetNames"/>.</param>
    /// <returns>The named insecure set (one shared immutable instance per name).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> names no insecure test set.</exception>
    public static RlweParameters InsecureForTestsOnly(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name switch
        {
            InsecureTestParameters.N256Name => InsecureTestParameters.N256,
            InsecureTestParameters.N1024Name => InsecureTestParameters.N1024,
            _ => throw Error.Argument(nameof(name), $"'{name}' is not an insecure test parameter set; the sets are {string.Join(", ", InsecureTestSetNames)}."),
        };
    }

    /// <summary>The names <see cref="InsecureForTestsOnly"/> accepts, smallest ring first.</summary>
    public static IReadOnlyList<string> InsecureTestSetNames { get; } = [InsecureTestParameters.N256Name, InsecureTestParameters.N1024Name];

    internal static RlweParameters CreateInsecure(string name, int n, IReadOnlyList<ulong> primes, int plainModulusBits)
    {
        Validate(name, n, primes, plainModulusBits);
        return new RlweParameters(name, n, [.. primes], plainModulusBits, insecure: true);
    }

    private static void Validate(string name, int n, IReadOnlyList<ulong> primes, int plainModulusBits)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(primes);
        if (n < 16 || (n & (n - 1)) != 0) throw Error.Argument(nameof(n), "n must be a power of two >= 16.");
        if (primes.Count is < 1 or > 32) throw Error.Argument(nameof(primes), "Between 1 and 32 primes.");
        foreach (ulong q in primes)
            if (!NttPrimes.IsNttPrime(q, n)) throw Error.Argument(nameof(primes), "Every prime must be an NTT prime below 2^62 for n.");
        if (plainModulusBits is < 1 or > 60) throw Error.OutOfRange(nameof(plainModulusBits), "k must be in 1..60.");
        foreach (ulong q in primes)
            if (q <= 1UL << plainModulusBits) throw Error.Argument(nameof(primes), "Every prime must exceed t = 2^k.");
    }

    /// <summary>Code of the secret distribution in the parameter hash: 1 = uniform ternary {-1, 0, 1}.</summary>
    public const ulong SecretDistributionTernary = 1;

    /// <summary>
    /// SHA-256("FraudFed RLWE parameters v2" || n || k || t || L || q_0 .. q_{L-1} || sigma * 10^6 || Gaussian tail cut ||
    /// secret distribution), each a u64 little-endian (SPEC.md 12). Test-visible so that each field is shown to matter.
    /// </summary>
    internal static byte[] ComputeHash(int n, IReadOnlyList<ulong> primes, int plainBits, ulong sigmaMicros, int tailCut, ulong secretDistribution)
    {
        Debug.Assert(plainBits is > 0 and < 64);
        var buffer = new List<byte>(Encoding.ASCII.GetBytes("FraudFed RLWE parameters v2"));
        var word = new byte[8];
        void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(word, v); buffer.AddRange(word); }
        U64((ulong)n);
        U64((ulong)plainBits);
        U64(1UL << plainBits);
        U64((ulong)primes.Count);
        foreach (ulong q in primes) U64(q);
        U64(sigmaMicros);
        U64((ulong)tailCut);
        U64(secretDistribution);
        return SHA256.HashData(buffer.ToArray());
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} (n={N}, logQ={LogQ}, t=2^{PlainModulusBits}{(IsInsecure ? ", INSECURE" : "")})";
}

/// <summary>Named production parameter sets (128-bit, HomomorphicEncryption.org table).</summary>
public static class ParameterSets
{
    private static readonly Lazy<RlweParameters> DefaultSet = new(() =>
        RlweParameters.Create("fraudfed-bfv-8192-3x60-t44", 8192, NttPrimes.Generate(60, 8192, 3), 44));
    private static readonly Lazy<RlweParameters> Large = new(() =>
        RlweParameters.Create("fraudfed-bfv-16384-6x60-t44", 16384, NttPrimes.Generate(60, 16384, 6), 44));

    /// <summary>Default aggregation set: n = 8192, three 60-bit primes (log Q = 180 &lt;= 218), t = 2^44.</summary>
    public static RlweParameters Default => DefaultSet.Value;

    /// <summary>n = 16384, six 60-bit primes (log Q = 360 &lt;= 438), t = 2^44: more noise room, twice the chunk size.</summary>
    public static RlweParameters N16384 => Large.Value;
}

/// <summary>
/// INSECURE parameter sets for fast unit tests only: same primes' size and t as the default set but a tiny
/// ring degree, far below any security level. Never use outside tests. Every set here has
/// <see cref="RlweParameters.IsInsecure"/> true and a name starting "INSECURE-test-". Internal: the test assemblies see it
/// as friends; everything else resolves a set by name through the explicitly named
/// <see cref="RlweParameters.InsecureForTestsOnly"/> (the bank SDK's <c>InsecureTestParameters</c> setting, the development
/// appliance and the CLI's <c>--insecure-test-parameters</c>); production settings refuse them.
/// </summary>
internal static class InsecureTestParameters
{
    internal const string N256Name = "INSECURE-test-n256-3x60-t44";
    internal const string N1024Name = "INSECURE-test-n1024-3x60-t44";

    private static readonly Lazy<RlweParameters> Small = new(() =>
        RlweParameters.CreateInsecure(N256Name, 256, NttPrimes.Generate(60, 256, 3), 44));
    private static readonly Lazy<RlweParameters> Medium = new(() =>
        RlweParameters.CreateInsecure(N1024Name, 1024, NttPrimes.Generate(60, 1024, 3), 44));

    /// <summary>n = 256, three 60-bit primes, t = 2^44. INSECURE.</summary>
    public static RlweParameters N256 => Small.Value;
    /// <summary>n = 1024, three 60-bit primes, t = 2^44. INSECURE.</summary>
    public static RlweParameters N1024 => Medium.Value;
}
