// RnsBasis: residue number system Q = q_0 * ... * q_{L-1} of distinct NTT primes (Chinese remainder theorem).
//
// A polynomial of R_Q = Z_Q[X]/(X^n + 1) is held as L limbs of n words, limb i holding the coefficients
// (or NTT evaluations) modulo q_i. Arithmetic is limb-wise; CRT reconstruction uses
// x = sum_i [x_i * (Q/q_i)^-1]_{q_i} * (Q/q_i) mod Q (BigInteger: off the hot path only).
using System.Numerics;

namespace FraudFed.Cryptography.Ring;

/// <summary>An RNS basis of NTT primes for ring degree n, with its NTT tables.</summary>
internal sealed class RnsBasis
{
    private readonly NttTables[] _tables;
    private readonly BigInteger[] _qHat;      // Q / q_i
    private readonly ulong[] _qHatInv;        // (Q / q_i)^-1 mod q_i

    /// <summary>Builds the basis; every prime must be a distinct NTT prime for n.</summary>
    public RnsBasis(int n, IReadOnlyList<ulong> primes)
    {
        ArgumentNullException.ThrowIfNull(primes);
        if (primes.Count == 0) throw Error.Argument(nameof(primes), "At least one prime is required.");
        if (primes.Distinct().Count() != primes.Count) throw Error.Argument(nameof(primes), "Primes must be distinct.");
        N = n;
        Primes = [.. primes];
        _scratch = new ThreadLocal<RnsPoly>(() => new RnsPoly(n, primes.Count));
        _tables = new NttTables[primes.Count];
        for (int i = 0; i < primes.Count; i++) _tables[i] = new NttTables(n, primes[i]);
        Q = BigInteger.One;
        foreach (ulong p in primes) Q *= p;
        _qHat = new BigInteger[primes.Count];
        _qHatInv = new ulong[primes.Count];
        for (int i = 0; i < primes.Count; i++)
        {
            _qHat[i] = Q / primes[i];
            _qHatInv[i] = ModArith.InvMod((ulong)(_qHat[i] % primes[i]), primes[i]);
        }
    }

    /// <summary>Ring degree.</summary>
    public int N { get; }
    /// <summary>Number of limbs L.</summary>
    public int Count => Primes.Length;
    /// <summary>The primes.</summary>
    public ulong[] Primes { get; }
    /// <summary>Q, the product of the primes.</summary>
    public BigInteger Q { get; }
    /// <summary>The NTT tables of limb i.</summary>
    public NttTables Table(int i) => _tables[i];
    /// <summary>(Q/q_i)^-1 mod q_i.</summary>
    public ulong QHatInverse(int i) => _qHatInv[i];
    /// <summary>Q/q_i.</summary>
    public BigInteger QHat(int i) => _qHat[i];

    /// <summary>Allocates a zero polynomial.</summary>
    public RnsPoly Allocate(bool isNtt = false) => new(N, Count, isNtt);

    private readonly ThreadLocal<RnsPoly> _scratch;

    /// <summary>
    /// A per-thread working polynomial (contents undefined) for hot paths that would otherwise allocate a
    /// large-object-heap array per chunk. Never hold it across calls; clear it if it held secret-derived data.
    /// </summary>
    internal RnsPoly Scratch => _scratch.Value!;

    // Limbs run sequentially: callers parallelize over ciphertexts/chunks, which splits better than 3 limbs.
    private void ForEachLimb(Action<int> body)
    {
        for (int i = 0; i < Count; i++) body(i);
    }

    /// <summary>Transforms a coefficient-domain polynomial to the NTT domain in place.</summary>
    public void ToNtt(RnsPoly p)
    {
        Check(p);
        if (p.IsNtt) throw Error.Argument(nameof(p), "Already in the NTT domain.");
        ForEachLimb(i => _tables[i].ForwardCore(p.Limb(i)));
        p.IsNtt = true;
    }

    /// <summary>Transforms an NTT-domain polynomial to coefficients in place.</summary>
    public void FromNtt(RnsPoly p)
    {
        Check(p);
        if (!p.IsNtt) throw Error.Argument(nameof(p), "Not in the NTT domain.");
        ForEachLimb(i => _tables[i].InverseCore(p.Limb(i)));
        p.IsNtt = false;
    }

    /// <summary>result = a + b.</summary>
    public void Add(RnsPoly a, RnsPoly b, RnsPoly result)
    {
        CheckSame(a, b); CheckSame(a, result);
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            Span<ulong> x = a.Limb(i), y = b.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = ModArith.AddMod(x[j], y[j], q);
        }
        result.IsNtt = a.IsNtt;
    }

    /// <summary>result = a - b.</summary>
    public void Sub(RnsPoly a, RnsPoly b, RnsPoly result)
    {
        CheckSame(a, b); CheckSame(a, result);
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            Span<ulong> x = a.Limb(i), y = b.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = ModArith.SubMod(x[j], y[j], q);
        }
        result.IsNtt = a.IsNtt;
    }

    /// <summary>result = -a.</summary>
    public void Negate(RnsPoly a, RnsPoly result)
    {
        CheckSame(a, result);
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            Span<ulong> x = a.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = ModArith.NegMod(x[j], q);
        }
        result.IsNtt = a.IsNtt;
    }

    /// <summary>result = a (.) b pointwise; both must be in the NTT domain.</summary>
    public void MulPointwise(RnsPoly a, RnsPoly b, RnsPoly result)
    {
        CheckSame(a, b); CheckSame(a, result);
        if (!a.IsNtt || !b.IsNtt) throw Error.Argument(nameof(a), "Pointwise products need NTT-domain operands.");
        ForEachLimb(i =>
        {
            var br = new Barrett128(Primes[i]);
            Span<ulong> x = a.Limb(i), y = b.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = br.MulMod(x[j], y[j]);
        });
        result.IsNtt = true;
    }

    /// <summary>Shoup quotients floor(b * 2^64 / q_i) of an NTT-domain operand that is reused many times.</summary>
    public RnsPoly ShoupPrecompute(RnsPoly b)
    {
        Check(b);
        var result = new RnsPoly(N, Count, b.IsNtt);
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            Span<ulong> x = b.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = ModArith.ShoupPrecompute(x[j], q);
        }
        return result;
    }

    /// <summary>result = a (.) b pointwise with b's Shoup quotients precomputed (NTT domain).</summary>
    public unsafe void MulPointwiseShoup(RnsPoly a, RnsPoly b, RnsPoly bShoup, RnsPoly result)
    {
        Check(a); Check(b); Check(bShoup); Check(result);
        if (!a.IsNtt || !b.IsNtt) throw Error.Argument(nameof(a), "Pointwise products need NTT-domain operands.");
        int n = N;
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            fixed (ulong* x = a.Limb(i), w = b.Limb(i), ws = bShoup.Limb(i), r = result.Limb(i))
            {
                for (int j = 0; j < n; j++)
                {
                    ulong v = x[j];
                    ulong quotient = Math.BigMul(v, ws[j], out _);
                    r[j] = ModArith.CondSub(unchecked(w[j] * v - quotient * q), q);
                }
            }
        }
        result.IsNtt = true;
    }

    /// <summary>result = c * a for a scalar given by its residues (c mod q_i).</summary>
    public void MulScalar(RnsPoly a, ReadOnlySpan<ulong> scalarResidues, RnsPoly result)
    {
        CheckSame(a, result);
        if (scalarResidues.Length != Count) throw Error.Argument(nameof(scalarResidues), "One residue per prime.");
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i], c = scalarResidues[i] % q, cs = ModArith.ShoupPrecompute(c, q);
            Span<ulong> x = a.Limb(i), r = result.Limb(i);
            for (int j = 0; j < x.Length; j++) r[j] = ModArith.MulShoup(x[j], c, cs, q);
        }
        result.IsNtt = a.IsNtt;
    }

    /// <summary>Negacyclic product via NTT (inputs in the coefficient domain, left unchanged).</summary>
    public RnsPoly Multiply(RnsPoly a, RnsPoly b)
    {
        RnsPoly x = a.Clone(), y = b.Clone();
        ToNtt(x); ToNtt(y);
        MulPointwise(x, y, x);
        FromNtt(x);
        return x;
    }

    /// <summary>Writes the residues of a signed small value vector (|v| &lt; every prime) into p.</summary>
    public void SetSigned(ReadOnlySpan<long> values, RnsPoly p)
    {
        Check(p);
        if (values.Length != N) throw Error.Argument(nameof(values), "Length must equal n.");
        for (int i = 0; i < Count; i++)
        {
            ulong q = Primes[i];
            Span<ulong> r = p.Limb(i);
            for (int j = 0; j < N; j++) r[j] = ModArith.FromSigned(values[j], q);
        }
        p.IsNtt = false;
    }

    /// <summary>CRT-reconstructs coefficient j of a coefficient-domain polynomial into [0, Q).</summary>
    public BigInteger Reconstruct(RnsPoly p, int j)
    {
        Check(p);
        BigInteger x = BigInteger.Zero;
        for (int i = 0; i < Count; i++)
        {
            ulong y = ModArith.MulMod(p.Limb(i)[j], _qHatInv[i], Primes[i]);
            x += _qHat[i] * y;
        }
        return x % Q;
    }

    /// <summary>CRT-reconstructs coefficient j centred into (-Q/2, Q/2].</summary>
    public BigInteger ReconstructCentered(RnsPoly p, int j)
    {
        BigInteger x = Reconstruct(p, j);
        return x > Q / 2 ? x - Q : x;
    }

    /// <summary>Writes the residues of an arbitrary integer at coefficient j.</summary>
    public void SetCoefficient(RnsPoly p, int j, BigInteger value)
    {
        Check(p);
        for (int i = 0; i < Count; i++)
        {
            BigInteger r = value % Primes[i];
            if (r.Sign < 0) r += Primes[i];
            p.Limb(i)[j] = (ulong)r;
        }
    }

    internal void Check(RnsPoly p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.N != N || p.Limbs != Count) throw Error.Argument(nameof(p), "Polynomial does not belong to this basis.");
    }

    private void CheckSame(RnsPoly a, RnsPoly b)
    {
        Check(a); Check(b);
    }
}

/// <summary>A polynomial of R_Q in RNS form: L limbs of n words, limb-major.</summary>
internal sealed class RnsPoly
{
    /// <summary>Allocates a zero polynomial.</summary>
    public RnsPoly(int n, int limbs, bool isNtt = false)
    {
        N = n; Limbs = limbs; IsNtt = isNtt;
        Data = new ulong[n * limbs];
    }

    /// <summary>Ring degree.</summary>
    public int N { get; }
    /// <summary>Number of RNS limbs.</summary>
    public int Limbs { get; }
    /// <summary>True when the data holds NTT evaluations, false for coefficients.</summary>
    public bool IsNtt { get; set; }
    /// <summary>Limb-major residues.</summary>
    public ulong[] Data { get; }

    /// <summary>The residues modulo prime i.</summary>
    public Span<ulong> Limb(int i) => Data.AsSpan(i * N, N);

    /// <summary>A deep copy.</summary>
    public RnsPoly Clone()
    {
        var c = new RnsPoly(N, Limbs, IsNtt);
        Data.CopyTo(c.Data, 0);
        return c;
    }

    /// <summary>Overwrites with zeros (used to clear secrets).</summary>
    public void Clear() => System.Security.Cryptography.CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Data.AsSpan()));
}
