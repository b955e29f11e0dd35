// Bfv: the additive part of the Brakerski/Fan-Vercauteren scheme (Fan and Vercauteren, "Somewhat Practical
// Fully Homomorphic Encryption", ePrint 2012/144, section 3: SecretKeyGen, PublicKeyGen, Encrypt,
// Decrypt; no multiplication), over R_Q = Z_Q[X]/(X^n+1) in RNS with t = 2^k.
//
//   secret key   s ternary (uniform in {-1,0,1}^n), kept in the NTT domain
//   public key   (p0, p1) = (-a*s + e, a), a uniform, e Gaussian (sigma 3.2, |e| <= 19 = B)
//   encrypt(pk)  u ternary, e0, e1 Gaussian: (c0, c1) = (p0*u + e0 + Delta*m, p1*u + e1)
//   encrypt(sk)  a uniform, e Gaussian: (c0, c1) = (-a*s + e + Delta*m, a)
//   decrypt      m = round(t * [c0 + c1*s]_Q / Q) mod t, Delta*m = round(Q*m/t)
// Noise v = phase - Delta*m (infinity norm): sk encryption |v| <= B = 19; pk encryption
// |v| = |e*u + e0 + e1*s| <= 2*n*B + B; a sum of K ciphertexts adds the bounds. Decryption is exact
// while |v| <= Encoder.NoiseCapacity ~ Q/(2t) (1 - 2^-58); the default set allows ~2^135.
using System.Numerics;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;

namespace FraudFed.Cryptography.Rlwe;

/// <summary>A ternary secret key s, held in the NTT domain. Dispose to clear it.</summary>
internal sealed class SecretKey : IDisposable
{
    internal SecretKey(RlweParameters parameters, RnsPoly nttValue)
    {
        Parameters = parameters;
        Value = nttValue;
        ValueShoup = parameters.Basis.ShoupPrecompute(nttValue);
    }

    /// <summary>The parameter set.</summary>
    public RlweParameters Parameters { get; }
    internal RnsPoly Value { get; }
    internal RnsPoly ValueShoup { get; }
    private bool _disposed;

    internal RnsPoly ValueChecked
    {
        get { ObjectDisposedException.ThrowIf(_disposed, this); return Value; }
    }

    /// <summary>Clears the key.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Value.Clear();
        ValueShoup.Clear();
    }

    /// <summary>
    /// The key's at-rest form for the bank's encrypted state file (SPEC.md 14.6): N * limbs * 8 bytes, NTT domain. SECRET:
    /// the caller encrypts it and clears the array after use.
    /// </summary>
    /// <exception cref="ObjectDisposedException">the key was disposed.</exception>
    public byte[] ExportState()
    {
        var bytes = new byte[PolyState.Size(Parameters.Basis)];
        PolyState.Write(ValueChecked, bytes);
        return bytes;
    }

    /// <summary>Reads a key written by <see cref="ExportState"/> for the same parameter set.</summary>
    /// <exception cref="ProtocolViolationException">Malformed: wrong length or a coefficient not below its prime.</exception>
    public static SecretKey ImportState(RlweParameters parameters, ReadOnlySpan<byte> state)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return new SecretKey(parameters, PolyState.Read(parameters.Basis, state, isNtt: true));
    }

    /// <inheritdoc />
    public override string ToString() => "SecretKey(" + Parameters.Name + ")";
}

/// <summary>A public key (p0, p1) = (-a*s + e, a), both in the NTT domain.</summary>
internal sealed class PublicKey
{
    internal PublicKey(RlweParameters parameters, RnsPoly p0Ntt, RnsPoly p1Ntt)
    {
        Parameters = parameters; P0 = p0Ntt; P1 = p1Ntt;
    }
    /// <summary>The parameter set.</summary>
    public RlweParameters Parameters { get; }
    internal RnsPoly P0 { get; }
    internal RnsPoly P1 { get; }
}

/// <summary>A BFV ciphertext (c0, c1) in the coefficient domain.</summary>
internal sealed class Ciphertext
{
    internal Ciphertext(RlweParameters parameters, RnsPoly c0, RnsPoly c1)
    {
        Parameters = parameters; C0 = c0; C1 = c1;
    }
    /// <summary>The parameter set.</summary>
    public RlweParameters Parameters { get; }
    internal RnsPoly C0 { get; }
    internal RnsPoly C1 { get; }
}

/// <summary>Key generation, encryption, addition and decryption.</summary>
internal sealed class Bfv
{
    private readonly RlweParameters _p;
    private readonly RnsBasis _basis;

    /// <summary>Creates the scheme for a parameter set.</summary>
    public Bfv(RlweParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _p = parameters;
        _basis = parameters.Basis;
        Encoder = new Encoder(parameters);
    }

    /// <summary>The parameter set.</summary>
    public RlweParameters Parameters => _p;
    /// <summary>The plaintext encoder.</summary>
    public Encoder Encoder { get; }

    /// <summary>A fresh ternary secret key from the CSPRNG (or a seeded one in tests).</summary>
    public SecretKey GenerateSecretKey(RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return new SecretKey(_p, SampleTernaryNtt(Samplers.From(rng)));
    }

    internal RnsPoly SampleTernaryNtt(RandomFill random)
    {
        sbyte[] s = Samplers.Ternary(_p.N, random);
        var poly = _basis.Allocate();
        try
        {
            for (int i = 0; i < _basis.Count; i++)
            {
                ulong q = _basis.Primes[i];
                Span<ulong> limb = poly.Limb(i);
                for (int j = 0; j < s.Length; j++) limb[j] = s[j] < 0 ? q - 1 : (ulong)s[j];
            }
        }
        finally { CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan())); }
        _basis.ToNtt(poly);
        return poly;
    }

    internal RnsPoly SampleGaussian(RandomFill random)
    {
        var e = new long[_p.N];
        Samplers.Gaussian(e, random);
        var poly = _basis.Allocate();
        _basis.SetSigned(e, poly);
        Array.Clear(e);
        return poly;
    }

    /// <summary>A public key for <paramref name="sk"/> with a fresh uniform a.</summary>
    public PublicKey GeneratePublicKey(SecretKey sk, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        CheckParams(sk.Parameters);
        RnsPoly a = Samplers.Uniform(_basis, rng, isNtt: true);
        RnsPoly p0 = PublicKeyShareCore(sk.ValueChecked, a, Samplers.From(rng));
        return new PublicKey(_p, p0, a);
    }

    /// <summary>-a*s + e in the NTT domain (a and s in the NTT domain).</summary>
    internal RnsPoly PublicKeyShareCore(RnsPoly sNtt, RnsPoly aNtt, RandomFill random)
    {
        var p0 = _basis.Allocate(true);
        _basis.MulPointwise(aNtt, sNtt, p0);
        _basis.Negate(p0, p0);
        RnsPoly e = SampleGaussian(random);
        _basis.ToNtt(e);
        _basis.Add(p0, e, p0);
        e.Clear();
        return p0;
    }

    /// <summary>Builds a public key from its two NTT-domain components (collective key generation).</summary>
    internal PublicKey PublicKeyFrom(RnsPoly p0Ntt, RnsPoly p1Ntt) => new(_p, p0Ntt, p1Ntt);

    /// <summary>Encrypts up to n plaintext values (mod t) under a public key.</summary>
    public Ciphertext Encrypt(PublicKey pk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(pk);
        ArgumentNullException.ThrowIfNull(rng);
        CheckParams(pk.Parameters);
        if (values.Length > _p.N) throw Error.Argument(nameof(values), "At most n values per ciphertext.");
        RandomFill random = Samplers.From(rng);
        RnsPoly u = SampleTernaryNtt(random);
        try
        {
            var c0 = _basis.Allocate(true);
            var c1 = _basis.Allocate(true);
            _basis.MulPointwise(pk.P0, u, c0);
            _basis.MulPointwise(pk.P1, u, c1);
            _basis.FromNtt(c0);
            _basis.FromNtt(c1);
            RnsPoly e0 = SampleGaussian(random), e1 = SampleGaussian(random);
            _basis.Add(c0, e0, c0);
            _basis.Add(c1, e1, c1);
            e0.Clear(); e1.Clear();
            Encoder.AddScaledCore(values, c0);
            return new Ciphertext(_p, c0, c1);
        }
        finally { u.Clear(); }
    }

    /// <summary>Encrypts up to n plaintext values (mod t) under the secret key (symmetric encryption).</summary>
    public Ciphertext Encrypt(SecretKey sk, ReadOnlySpan<ulong> values, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        CheckParams(sk.Parameters);
        if (values.Length > _p.N) throw Error.Argument(nameof(values), "At most n values per ciphertext.");
        RandomFill random = Samplers.From(rng);
        RnsPoly a = Samplers.Uniform(_basis, random, isNtt: true);
        RnsPoly c0 = EncryptSymmetricCore(sk, a, values, random);
        _basis.FromNtt(a);
        return new Ciphertext(_p, c0, a);
    }

    /// <summary>c0 = -a*s + e + Delta*m in the coefficient domain; a, s in the NTT domain (a is not modified).</summary>
    internal RnsPoly EncryptSymmetricCore(SecretKey sk, RnsPoly aNtt, ReadOnlySpan<ulong> values, RandomFill random)
    {
        var c0 = _basis.Allocate(true);
        _basis.MulPointwiseShoup(aNtt, sk.ValueChecked, sk.ValueShoup, c0);
        return FinishSymmetric(c0, values, random);
    }

    /// <summary>Turns a*s (NTT domain, overwritten) into c0 = -a*s + e + Delta*m (coefficient domain).</summary>
    internal RnsPoly FinishSymmetric(RnsPoly product, ReadOnlySpan<ulong> values, RandomFill random)
    {
        _basis.FromNtt(product);
        var e = new long[_p.N];
        Samplers.Gaussian(e, random);
        for (int i = 0; i < _basis.Count; i++)
        {
            ulong q = _basis.Primes[i];
            Span<ulong> limb = product.Limb(i);
            for (int j = 0; j < e.Length; j++)
            {
                long ev = e[j];
                ulong add = ModArith.CondSub((ulong)(ev + (long)q), q); // |e| <= 19 < q
                limb[j] = ModArith.SubMod(add, limb[j], q);
            }
        }
        Array.Clear(e);
        Encoder.AddScaledCore(values, product);
        return product;
    }

    /// <summary>Homomorphic addition: a new ciphertext holding the sum.</summary>
    public Ciphertext Add(Ciphertext x, Ciphertext y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        CheckParams(x.Parameters); CheckParams(y.Parameters);
        var c0 = _basis.Allocate(); var c1 = _basis.Allocate();
        _basis.Add(x.C0, y.C0, c0);
        _basis.Add(x.C1, y.C1, c1);
        return new Ciphertext(_p, c0, c1);
    }

    /// <summary>In-place homomorphic addition: accumulator += x.</summary>
    public void AddInPlace(Ciphertext accumulator, Ciphertext x)
    {
        ArgumentNullException.ThrowIfNull(accumulator);
        ArgumentNullException.ThrowIfNull(x);
        CheckParams(accumulator.Parameters); CheckParams(x.Parameters);
        _basis.Add(accumulator.C0, x.C0, accumulator.C0);
        _basis.Add(accumulator.C1, x.C1, accumulator.C1);
    }

    /// <summary>Decrypts the first <paramref name="destination"/>.Length values (mod t).</summary>
    public void Decrypt(SecretKey sk, Ciphertext ct, Span<ulong> destination)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(ct);
        CheckParams(sk.Parameters); CheckParams(ct.Parameters);
        RnsPoly phase = Phase(sk, ct);
        Encoder.DecodeCore(phase, destination[..Math.Min(destination.Length, _p.N)]);
    }

    /// <summary>The phase c0 + c1*s (coefficient domain).</summary>
    internal RnsPoly Phase(SecretKey sk, Ciphertext ct)
    {
        RnsPoly c1 = ct.C1.Clone();
        _basis.ToNtt(c1);
        _basis.MulPointwise(c1, sk.ValueChecked, c1);
        _basis.FromNtt(c1);
        _basis.Add(c1, ct.C0, c1);
        return c1;
    }

    /// <summary>Infinity norm of the noise phase - Delta*m (diagnostics and tests; BigInteger, slow).</summary>
    public BigInteger MeasureNoise(SecretKey sk, Ciphertext ct, ReadOnlySpan<ulong> expectedValues)
    {
        RnsPoly phase = Phase(sk, ct);
        var scaled = _basis.Allocate();
        Encoder.AddScaledCore(expectedValues, scaled);
        _basis.Sub(phase, scaled, phase);
        BigInteger max = BigInteger.Zero;
        for (int j = 0; j < _p.N; j++) max = BigInteger.Max(max, BigInteger.Abs(_basis.ReconstructCentered(phase, j)));
        return max;
    }

    private void CheckParams(RlweParameters other)
    {
        if (!ReferenceEquals(other, _p) && !other.Hash.Span.SequenceEqual(_p.Hash.Span))
            throw Error.Violation(ViolationReason.Inconsistent, "Object belongs to another parameter set.");
    }
}

/// <summary>Serialization of BFV keys and ciphertexts (envelope in <see cref="RlweCodec"/>).</summary>
internal static class BfvSerializer
{
    /// <summary>Serializes a ciphertext (coefficient domain, two polynomials).</summary>
    public static byte[] Serialize(Ciphertext ct)
    {
        ArgumentNullException.ThrowIfNull(ct);
        return RlweCodec.Write(ct.Parameters, RlweObjectKind.Ciphertext, default, ct.C0, ct.C1);
    }

    /// <summary>Parses and validates an untrusted ciphertext.</summary>
    public static Ciphertext DeserializeCiphertext(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.Ciphertext, 2, 0, out _);
        if (polys[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "ciphertexts travel in the coefficient domain");
        return new Ciphertext(p, polys[0], polys[1]);
    }

    /// <summary>Serializes a public key (NTT domain).</summary>
    public static byte[] Serialize(PublicKey pk)
    {
        ArgumentNullException.ThrowIfNull(pk);
        return RlweCodec.Write(pk.Parameters, RlweObjectKind.PublicKey, default, pk.P0, pk.P1);
    }

    /// <summary>Parses and validates an untrusted public key.</summary>
    public static PublicKey DeserializePublicKey(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.PublicKey, 2, 0, out _);
        if (!polys[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "public keys travel in the NTT domain");
        return new PublicKey(p, polys[0], polys[1]);
    }
}
