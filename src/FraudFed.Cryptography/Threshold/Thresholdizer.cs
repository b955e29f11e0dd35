// Thresholdizer and Combiner: T-out-of-N Shamir sharing of RLWE secret keys over R_Q (A. Shamir, "How to
// share a secret", CACM 1979), coefficient-wise in every RNS prime; the shape of Lattigo's
// multiparty.Thresholdizer / Combiner and of ePrint 2022/780 (Mouchet, Bertrand, Hubaux, "An Efficient
// Threshold Access-Structure for RLWE-Based Multiparty Homomorphic Encryption", section 4).
//   bank i: f_i(X) = s_i + r_1 X + ... + r_{T-1} X^{T-1}, r_k uniform in R_Q (NTT domain, sharing is linear)
//   point for bank j: f_i(x_j), x_j = j + 1 (distinct, nonzero, < every prime)
//   active set D of T banks: lambda_j = prod_{k in D, k != j} x_k / (x_k - x_j) mod q_i, so that
//   sum_{j in D} lambda_j f(x_j) = f(0) exactly in R_Q: Lagrange weights add no noise.
// Any T-1 points are jointly uniform and independent of s_i (perfect secrecy per coefficient and prime).
using System.Security.Cryptography;
using System.Buffers.Binary;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>A bank's secret sharing polynomial f_i (T coefficients in R_Q, NTT domain). Dispose to clear.</summary>
internal sealed class ShamirPolynomial : IDisposable
{
    internal ShamirPolynomial(RlweParameters p, RnsPoly[] coefficients) { Parameters = p; Coefficients = coefficients; }
    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>The threshold T (number of coefficients).</summary>
    public int Threshold => Coefficients.Length;
    internal RnsPoly[] Coefficients { get; }
    /// <inheritdoc />
    public void Dispose() { foreach (RnsPoly c in Coefficients) c.Clear(); }
    /// <inheritdoc />
    public override string ToString() => $"ShamirPolynomial(T={Threshold})";
}

/// <summary>One Shamir point f_i(x_j) (NTT domain), sent from bank <see cref="From"/> to bank <see cref="To"/>. Dispose to clear.</summary>
internal sealed class ShamirShare : IDisposable
{
    internal ShamirShare(RlweParameters p, int from, int to, RnsPoly value) { Parameters = p; From = from; To = to; Value = value; }
    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Roster index of the bank whose secret is shared.</summary>
    public int From { get; }
    /// <summary>Roster index of the receiving bank (point x = To + 1).</summary>
    public int To { get; }
    internal RnsPoly Value { get; }

    /// <summary>Serializes the share (to be encrypted pairwise before it leaves the bank).</summary>
    public byte[] Serialize()
    {
        Span<byte> ctx = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(ctx, From);
        BinaryPrimitives.WriteInt32LittleEndian(ctx[4..], To);
        return RlweCodec.Write(Parameters, RlweObjectKind.ShamirShare, ctx, Value);
    }

    /// <summary>Parses and validates an untrusted share.</summary>
    public static ShamirShare Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.ShamirShare, 1, 8, out byte[] ctx);
        if (!polys[0].IsNtt)
        {
            polys[0].Clear(); // a secret point in the wrong domain is still secret
            throw Error.Violation(ViolationReason.Malformed, "Shamir shares travel in the NTT domain");
        }
        return new ShamirShare(p, BinaryPrimitives.ReadInt32LittleEndian(ctx), BinaryPrimitives.ReadInt32LittleEndian(ctx.AsSpan(4)), polys[0]);
    }

    /// <inheritdoc />
    public void Dispose() => Value.Clear();
    /// <inheritdoc />
    public override string ToString() => $"ShamirShare({From}->{To})";
}

/// <summary>Generates Shamir polynomials of secret keys and their points.</summary>
internal sealed class Thresholdizer
{
    private readonly RlweParameters _p;

    /// <summary>Creates the thresholdizer.</summary>
    public Thresholdizer(RlweParameters parameters) { ArgumentNullException.ThrowIfNull(parameters); _p = parameters; }

    /// <summary>f(X) = s + r_1 X + ... + r_{T-1} X^{T-1} with fresh uniform r_k.</summary>
    public ShamirPolynomial GenShamirPolynomial(int threshold, SecretKey sk, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(rng);
        if (threshold < 1) throw Error.OutOfRange(nameof(threshold), "T must be at least 1.");
        var coefficients = new RnsPoly[threshold];
        coefficients[0] = sk.ValueChecked.Clone();
        for (int k = 1; k < threshold; k++) coefficients[k] = Samplers.Uniform(_p.Basis, rng, isNtt: true);
        return new ShamirPolynomial(_p, coefficients);
    }

    /// <summary>The point f(x_to), x_to = to + 1 (Horner per coefficient and prime).</summary>
    public ShamirShare GenShareForParty(ShamirPolynomial poly, int from, int to)
    {
        ArgumentNullException.ThrowIfNull(poly);
        ArgumentOutOfRangeException.ThrowIfNegative(to);
        ulong x = (ulong)to + 1;
        RnsBasis basis = _p.Basis;
        var result = basis.Allocate(true);
        for (int i = 0; i < basis.Count; i++)
        {
            ulong q = basis.Primes[i], xs = ModArith.ShoupPrecompute(x % q, q);
            Span<ulong> r = result.Limb(i);
            poly.Coefficients[^1].Limb(i).CopyTo(r);
            for (int k = poly.Threshold - 2; k >= 0; k--)
            {
                Span<ulong> c = poly.Coefficients[k].Limb(i);
                for (int j = 0; j < r.Length; j++)
                    r[j] = ModArith.AddMod(ModArith.MulShoup(r[j], x % q, xs, q), c[j], q);
            }
        }
        return new ShamirShare(_p, from, to, result);
    }
}

/// <summary>Lagrange weights for an active set of banks.</summary>
internal static class Combiner
{
    /// <summary>
    /// lambda_self = prod_{k in active, k != self} x_k / (x_k - x_self) mod q_i with x = index + 1, one residue per prime.
    /// </summary>
    public static ulong[] LagrangeWeight(RlweParameters p, IReadOnlyList<int> active, int self)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(active);
        if (active.Distinct().Count() != active.Count) throw Error.Argument(nameof(active), "Active banks must be distinct.");
        if (!active.Contains(self)) throw Error.Argument(nameof(self), "The bank must be in the active set.");
        var result = new ulong[p.Primes.Count];
        for (int i = 0; i < result.Length; i++)
        {
            ulong q = p.Primes[i], num = 1, den = 1, xs = (ulong)self + 1;
            foreach (int k in active)
            {
                if (k == self) continue;
                ulong xk = (ulong)k + 1;
                num = ModArith.MulMod(num, xk % q, q);
                den = ModArith.MulMod(den, ModArith.SubMod(xk % q, xs % q, q), q);
            }
            result[i] = ModArith.MulMod(num, ModArith.InvMod(den, q), q);
        }
        return result;
    }
}
