// Encoder: coefficient encoding of integer vectors mod t = 2^k for BFV (Fan and Vercauteren, ePrint
// 2012/144, section 4) with the exact scaling Delta*m := round(Q*m/t) (not floor(Q/t)*m), as in
// SEAL's BFV "multiply_add_plain_with_scaling_variant": round(Q*m/t) = floor(Q/t)*m + round((Q mod t)*m/t).
//
// Decoding m = round(t*x/Q) mod t for a phase x given in RNS, without BigInteger: writing
// x = sum_i y_i*(Q/q_i) - c*Q with y_i = [x_i * (Q/q_i)^-1]_{q_i}, we get t*x/Q = sum_i y_i*t/q_i - c*t, so
// round(t*x/Q) mod t = round(sum_i y_i * (t/q_i)) mod t. Each t/q_i &lt; 1 is held as a 128-bit fixed-point
// fraction W_i = floor(t*2^128/q_i); the total fixed-point error is below L*2^-66 &lt; 2^-60, so the result is
// exact whenever the phase noise v satisfies |v| &lt;= Q/(2t) - Q/(t*2^59) - 1 (NoiseCapacity): a relative loss
// of 2^-58 of the BFV bound Q/(2t).
using System.Numerics;
using System.Runtime.CompilerServices;
using FraudFed.Cryptography.Ring;

namespace FraudFed.Cryptography.Rlwe;

/// <summary>Scaling encoder/decoder between Z_t^n and the phase of BFV ciphertexts.</summary>
internal sealed class Encoder
{
    private readonly RlweParameters _p;
    private readonly ulong[] _floorQOverT;      // floor(Q/t) mod q_i
    private readonly ulong[] _floorQOverTShoup;
    private readonly ulong _qModT;              // Q mod t
    private readonly ulong[] _qHatInv, _qHatInvShoup;
    private readonly ulong[] _wHi, _wLo;         // floor(t * 2^128 / q_i)

    /// <summary>Precomputes the constants for a parameter set.</summary>
    public Encoder(RlweParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _p = parameters;
        RnsBasis basis = parameters.Basis;
        int k = parameters.PlainModulusBits;
        BigInteger t = BigInteger.One << k;
        BigInteger floorQt = basis.Q / t;
        _qModT = (ulong)(basis.Q % t);
        int L = basis.Count;
        _floorQOverT = new ulong[L]; _floorQOverTShoup = new ulong[L];
        _qHatInv = new ulong[L]; _qHatInvShoup = new ulong[L];
        _wHi = new ulong[L]; _wLo = new ulong[L];
        for (int i = 0; i < L; i++)
        {
            ulong q = basis.Primes[i];
            _floorQOverT[i] = (ulong)(floorQt % q);
            _floorQOverTShoup[i] = ModArith.ShoupPrecompute(_floorQOverT[i], q);
            _qHatInv[i] = basis.QHatInverse(i);
            _qHatInvShoup[i] = ModArith.ShoupPrecompute(_qHatInv[i], q);
            BigInteger w = (t << 128) / q;
            _wHi[i] = (ulong)(w >> 64);
            _wLo[i] = (ulong)(w & ulong.MaxValue);
        }
    }

    /// <summary>t = 2^k as a mask t - 1.</summary>
    public ulong PlainMask => (1UL << _p.PlainModulusBits) - 1;

    /// <summary>
    /// Adds Delta*m to the coefficient-domain polynomial <paramref name="destination"/> for the plaintext
    /// <paramref name="values"/> (each reduced mod t; missing trailing values are zero).
    /// </summary>
    public void AddScaled(ReadOnlySpan<ulong> values, RnsPoly destination)
    {
        if (values.Length > _p.N) throw Error.Argument(nameof(values), "At most n values per polynomial.");
        _p.Basis.Check(destination);
        if (destination.IsNtt) throw Error.Argument(nameof(destination), "Encoding adds in the coefficient domain.");
        AddScaledCore(values, destination);
    }

    internal void AddScaledCore(ReadOnlySpan<ulong> values, RnsPoly destination)
    {
        int k = _p.PlainModulusBits;
        ulong mask = PlainMask, half = 1UL << (k - 1);
        RnsBasis basis = _p.Basis;
        for (int i = 0; i < basis.Count; i++)
        {
            ulong q = basis.Primes[i], f = _floorQOverT[i], fs = _floorQOverTShoup[i];
            Span<ulong> limb = destination.Limb(i);
            for (int j = 0; j < values.Length; j++)
            {
                ulong m = values[j] & mask;
                ulong rounded = (ulong)(((UInt128)_qModT * m + half) >> k); // round((Q mod t) * m / t) <= t < q
                ulong term = ModArith.AddMod(ModArith.MulShoup(m, f, fs, q), ModArith.CondSub(rounded, q), q);
                limb[j] = ModArith.AddMod(limb[j], term, q);
            }
        }
    }

    /// <summary>Decodes m_j = round(t * phase_j / Q) mod t for j &lt; destination.Length from a coefficient-domain phase.</summary>
    public void Decode(RnsPoly phase, Span<ulong> destination)
    {
        _p.Basis.Check(phase);
        if (phase.IsNtt) throw Error.Argument(nameof(phase), "Decoding needs the coefficient domain.");
        if (destination.Length > _p.N) throw Error.Argument(nameof(destination), "At most n values.");
        DecodeCore(phase, destination);
    }

    internal void DecodeCore(RnsPoly phase, Span<ulong> destination)
    {
        RnsBasis basis = _p.Basis;
        int L = basis.Count;
        ulong mask = PlainMask;
        for (int j = 0; j < destination.Length; j++)
        {
            ulong intSum = 0;
            UInt128 fracSum = 0;
            for (int i = 0; i < L; i++)
            {
                ulong q = basis.Primes[i];
                ulong y = ModArith.MulShoup(phase.Data[i * basis.N + j], _qHatInv[i], _qHatInvShoup[i], q);
                Accumulate(y, _wHi[i], _wLo[i], ref intSum, ref fracSum);
            }
            ulong rounding = (ulong)((fracSum + (UInt128.One << 63)) >> 64);
            destination[j] = (intSum + rounding) & mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(ulong y, ulong wHi, ulong wLo, ref ulong intSum, ref UInt128 fracSum)
    {
        ulong p1Hi = Math.BigMul(y, wLo, out _);
        ulong p2Hi = Math.BigMul(y, wHi, out ulong p2Lo);
        UInt128 mid = (UInt128)p2Lo + p1Hi;
        intSum += p2Hi + (ulong)(mid >> 64);
        fracSum += (ulong)mid;
    }

    /// <summary>Interprets a value mod t as a signed integer in [-t/2, t/2).</summary>
    public long ToSigned(ulong value)
    {
        int k = _p.PlainModulusBits;
        ulong m = value & PlainMask;
        return m >= 1UL << (k - 1) ? (long)m - (1L << k) : (long)m;
    }

    /// <summary>Encodes a signed integer as its residue mod t.</summary>
    public ulong FromSigned(long value) => (ulong)value & PlainMask;

    /// <summary>Largest phase noise magnitude that decodes exactly: floor(Q/(2t)) - floor(Q/(t*2^59)) - 1.</summary>
    public BigInteger NoiseCapacity => _p.Basis.Q / (BigInteger.One << (_p.PlainModulusBits + 1)) - _p.Basis.Q / (BigInteger.One << (_p.PlainModulusBits + 59)) - 1;
}
