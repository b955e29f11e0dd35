// Fixed-point quantization of real vectors into Z_{2^k} for exact secure summation (SPEC.md section 10).
// A value v with |v| <= C (the declared clip bound) maps to q = floor(v*s) + Bernoulli(frac(v*s)) (stochastic
// rounding, unbiased: E[q] = v*s), stored as q mod 2^k (two's complement). Every |q| <= M = ceil(C*s).
// Exactness: a sum of n such values decodes exactly iff n*M <= 2^(k-1) - 1, checked by EnsureExact, which
// round setup calls. Values outside [-C, C] (and NaN/infinity) are an error naming the index, unless the
// caller opts into clipping, in which case they are clamped to +-C and the number clipped is reported.
// Randomness: uniform doubles from 53 bits of the injected RandomNumberGenerator.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Quantization;

/// <summary>A value was outside the declared clip bound (or not finite) and clipping was not requested.</summary>
public sealed class QuantizationRangeException : ArgumentOutOfRangeException
{
    internal QuantizationRangeException(int index, double bound, bool isNaN = false)
        : base("values", isNaN
            ? $"The value at index {index} is NaN, which no clip bound can clamp; remove or impute it before quantizing."
            : $"The value at index {index} is outside [-{bound}, {bound}] or infinite; pass clip: true to clamp.")
        => Index = index;

    /// <summary>Index of the first offending value.</summary>
    public int Index { get; }
}

/// <summary>Outcome of a quantization call.</summary>
/// <param name="Clipped">How many values were clamped to the bound (always 0 unless clipping was requested).</param>
public readonly record struct QuantizationReport(int Clipped);

/// <summary>Maps real vectors to Z_{2^k} and decodes signed sums back.</summary>
public sealed class Quantizer
{
    /// <summary>Creates a quantizer for k-bit sums with clip bound C and scale s (q = round(v*s)).</summary>
    public Quantizer(int modulusBits, double clipBound, double scale)
    {
        if (modulusBits is < 2 or > 64) throw Error.OutOfRange(nameof(modulusBits), "k must be in 2..64.");
        if (!double.IsFinite(clipBound) || clipBound <= 0) throw Error.OutOfRange(nameof(clipBound), "The clip bound must be positive and finite.");
        if (!double.IsFinite(scale) || scale <= 0) throw Error.OutOfRange(nameof(scale), "The scale must be positive and finite.");
        double m = Math.Ceiling(clipBound * scale);
        if (m >= 9.0e15) throw Error.OutOfRange(nameof(scale), "clipBound * scale must stay below 2^53.");
        if (modulusBits < 64 && m > (double)((1UL << (modulusBits - 1)) - 1))
            throw Error.OutOfRange(nameof(scale), $"ceil(clipBound * scale) = {m} does not fit one signed {modulusBits}-bit value: even one bank's value would wrap; use a smaller scale or clip bound, or a larger k.");
        ModulusBits = modulusBits;
        ClipBound = clipBound;
        Scale = scale;
        MaxMagnitude = (long)m;
    }

    /// <summary>k.</summary>
    public int ModulusBits { get; }
    /// <summary>C: inputs must satisfy |v| &lt;= C.</summary>
    public double ClipBound { get; }
    /// <summary>s: a value v becomes about v*s.</summary>
    public double Scale { get; }
    /// <summary>M = ceil(C*s): every quantized value has |q| &lt;= M.</summary>
    public long MaxMagnitude { get; }

    /// <summary>Largest bank count whose sums decode exactly: floor((2^(k-1)-1)/M).</summary>
    public long MaxBanks
    {
        get
        {
            UInt128 limit = (UInt128.One << (ModulusBits - 1)) - 1;
            UInt128 banks = limit / (ulong)Math.Max(1, MaxMagnitude);
            return banks > long.MaxValue ? long.MaxValue : (long)banks;
        }
    }

    /// <summary>Throws unless the sum of <paramref name="banks"/> quantized vectors decodes exactly (banks*M &lt;= 2^(k-1)-1).</summary>
    /// <exception cref="ProtocolViolationException">InsecureParameters: the sum could wrap around 2^k.</exception>
    public void EnsureExact(int banks)
    {
        if (banks < 1) throw Error.OutOfRange(nameof(banks), "At least one bank.");
        if (banks > MaxBanks)
            throw Error.Violation(ViolationReason.InsecureParameters,
                $"{banks} banks x magnitude {MaxMagnitude} does not fit in signed {ModulusBits}-bit sums (at most {MaxBanks} banks): the sum could wrap around 2^{ModulusBits}; " +
                $"use k >= {SignedSumRange.RequiredBits((UInt128)(ulong)banks * (ulong)MaxMagnitude)} bits, a smaller scale or a smaller clip bound.");
    }

    /// <summary>Quantizes <paramref name="values"/> into <paramref name="destination"/> with stochastic rounding.</summary>
    public QuantizationReport Quantize(ReadOnlySpan<double> values, Span<ulong> destination, RandomNumberGenerator rng, bool clip = false)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (destination.Length != values.Length) throw Error.Argument(nameof(destination), "The destination must have the input's length.");
        int clipped = 0;
        // Validate first so that a refused call leaves the destination untouched.
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            if (double.IsFinite(v) && Math.Abs(v) <= ClipBound) continue;
            if (!clip || double.IsNaN(v)) throw new QuantizationRangeException(i, ClipBound, double.IsNaN(v));
            clipped++;
        }
        ulong mask = ModulusBits == 64 ? ulong.MaxValue : (1UL << ModulusBits) - 1;
        Span<byte> random = stackalloc byte[8 * 256];
        int used = random.Length;
        for (int i = 0; i < values.Length; i++)
        {
            double v = Math.Clamp(values[i], -ClipBound, ClipBound) * Scale;
            double floor = Math.Floor(v);
            if (used == random.Length) { rng.GetBytes(random); used = 0; }
            double u = (BinaryPrimitives.ReadUInt64LittleEndian(random.Slice(used, 8)) >> 11) * (1.0 / (1UL << 53));
            used += 8;
            long q = (long)floor + (u < v - floor ? 1 : 0);
            q = Math.Clamp(q, -MaxMagnitude, MaxMagnitude);
            destination[i] = (ulong)q & mask;
        }
        random.Clear();
        return new QuantizationReport(clipped);
    }

    /// <summary>Single-precision overload.</summary>
    public QuantizationReport Quantize(ReadOnlySpan<float> values, Span<ulong> destination, RandomNumberGenerator rng, bool clip = false)
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++) wide[i] = values[i];
        return Quantize(wide, destination, rng, clip);
    }

    /// <summary>Array-returning convenience.</summary>
    public ulong[] Quantize(ReadOnlySpan<double> values, RandomNumberGenerator rng, out QuantizationReport report, bool clip = false)
    {
        var result = new ulong[values.Length];
        report = Quantize(values, result, rng, clip);
        return result;
    }

    /// <summary>Reads a value mod 2^k as a signed two's-complement integer in [-2^(k-1), 2^(k-1)).</summary>
    public long DecodeSigned(ulong value)
    {
        int shift = 64 - ModulusBits;
        return (long)(value << shift) >> shift; // sign-extend bit k-1
    }

    /// <summary>Decodes a sum mod 2^k to reals: signed value / s.</summary>
    public void Decode(ReadOnlySpan<ulong> sums, Span<double> destination)
    {
        if (destination.Length != sums.Length) throw Error.Argument(nameof(destination), "The destination must have the input's length.");
        for (int i = 0; i < sums.Length; i++) destination[i] = DecodeSigned(sums[i]) / Scale;
    }

    /// <summary>Array-returning convenience.</summary>
    public double[] Decode(ReadOnlySpan<ulong> sums)
    {
        var result = new double[sums.Length];
        Decode(sums, result);
        return result;
    }
}
