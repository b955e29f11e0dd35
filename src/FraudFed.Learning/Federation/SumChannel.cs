// The only door between banks and the aggregate in process: every secure sum of a federated trainer (the bank parties'
// answers of SPEC.md 14.4) is one call to ISecureSum.Sum on integer vectors mod 2^k. Signed integers travel as two's
// complement mod 2^k; a value outside [-2^(k-1), 2^(k-1)) is an OverflowException, and a sum that could leave that
// range is a SumWrapException before the sum runs (SignedSumRange), never a silent wrap or clip.
using FraudFed.Protocol;

namespace FraudFed.Learning.Federation;

/// <summary>Progress of a federated training run, reported after every secure sum.</summary>
/// <param name="Stage">"setup", "tree" (GBDT) or "round" (logistic regression).</param>
/// <param name="Step">Tree or round number, 1-based (0 during setup).</param>
/// <param name="TotalSteps">Planned trees or rounds.</param>
/// <param name="Level">Tree level of this sum (GBDT), 0-based; -1 otherwise.</param>
/// <param name="Sums">Secure sums so far.</param>
/// <param name="BytesUploaded">Bytes sent by banks so far.</param>
/// <param name="BytesDownloaded">Bytes sent to banks so far.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record FederationProgress(string Stage, int Step, int TotalSteps, int Level, int Sums, long BytesUploaded, long BytesDownloaded, TimeSpan Elapsed);

/// <summary>Total protocol cost of a federated run.</summary>
public sealed record ProtocolCost(string Mode, int ModulusBits, int Sums, long ValuesPerBank, long BytesUploaded, long BytesDownloaded, TimeSpan SecureSumTime);

/// <summary>Wraps an <see cref="ISecureSum"/>: encodes signed integers, checks contributors, counts the cost.</summary>
public sealed class SumChannel
{
    private readonly ISecureSum _sum;
    private readonly Action<FederationProgress>? _progress;
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private TimeSpan _sumTime;

    /// <summary>Wraps <paramref name="secureSum"/>; <paramref name="progress"/> is called after each sum.</summary>
    public SumChannel(ISecureSum secureSum, Action<FederationProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(secureSum);
        if (secureSum.ModulusBits is < 16 or > 64)
            throw new ArgumentException("The secure sum's modulus must have 16..64 bits.", nameof(secureSum));
        _sum = secureSum;
        _progress = progress;
        Bits = secureSum.ModulusBits;
    }

    /// <summary>k.</summary>
    public int Bits { get; }
    /// <summary>Number of banks.</summary>
    public int Banks => _sum.Banks;

    /// <summary>Secure sums done so far.</summary>
    public int Sums { get; private set; }
    /// <summary>Values sent per bank so far.</summary>
    public long ValuesPerBank { get; private set; }
    /// <summary>Bytes uploaded so far.</summary>
    public long BytesUploaded { get; private set; }
    /// <summary>Bytes downloaded so far.</summary>
    public long BytesDownloaded { get; private set; }

    /// <summary>Cost so far.</summary>
    public ProtocolCost Cost => new(_sum.Mode, Bits, Sums, ValuesPerBank, BytesUploaded, BytesDownloaded, _sumTime);

    /// <summary>Two's complement of <paramref name="value"/> mod 2^k; throws if it does not fit in k signed bits.</summary>
    /// <exception cref="OverflowException">the value does not fit k signed bits.</exception>
    public ulong Encode(long value) => new SignedResidues(Bits).Encode(value);

    /// <summary>Signed value of a residue mod 2^k.</summary>
    public long Decode(ulong residue) => new SignedResidues(Bits).Decode(residue);

    /// <summary>
    /// Encodes each bank's signed vector, sums them securely and decodes the exact signed sum. Before anything is sent,
    /// checks that the sum at every index stays inside [-2^(k-1), 2^(k-1)) whatever the values' signs.
    /// </summary>
    /// <exception cref="SumWrapException">the sum could wrap around 2^k; names the bits k that would fit.</exception>
    /// <exception cref="OverflowException">a value does not fit k signed bits.</exception>
    public long[] SumSigned(IReadOnlyList<long[]> bankVectors, string stage, int step, int totalSteps, int level, CancellationToken cancellationToken = default)
    {
        CheckShape(bankVectors);
        SignedSumRange.EnsureNoWrap(bankVectors, Bits);
        var codec = new SignedResidues(Bits);
        var encoded = new ulong[Banks][];
        for (int b = 0; b < Banks; b++) encoded[b] = codec.Encode(bankVectors[b]);
        return codec.Decode(SumCore(encoded, new SumLabel(stage, step, totalSteps, level), cancellationToken));
    }

    /// <summary>
    /// The in-process <see cref="BankVectorSum"/> of the party-split trainers: sums the bank parties' answers (residues mod
    /// 2^k, two's complement of signed integers) through the secure sum and returns the sum mod 2^k. Holding every answer,
    /// it first checks, as <see cref="SumSigned"/> does, that the signed sum cannot wrap (SPEC.md 14.4).
    /// </summary>
    /// <param name="bankVectors">One vector per bank, all the same length, values below 2^k.</param>
    /// <param name="label">What the sum is for (progress).</param>
    /// <param name="cancellationToken">Cancels the sum.</param>
    /// <returns>The sum mod 2^k.</returns>
    /// <exception cref="SumWrapException">the signed sum could wrap around 2^k.</exception>
    /// <exception cref="ArgumentException">not one vector per bank, or vectors of different lengths.</exception>
    /// <exception cref="InvalidOperationException">a bank dropped out of the sum.</exception>
    public ulong[] SumResidues(IReadOnlyList<ulong[]> bankVectors, SumLabel label, CancellationToken cancellationToken = default)
    {
        CheckShape(bankVectors);
        var codec = new SignedResidues(Bits);
        var signed = new long[Banks][];
        for (int b = 0; b < Banks; b++) signed[b] = codec.Decode(bankVectors[b]);
        SignedSumRange.EnsureNoWrap(signed, Bits);
        return SumCore(bankVectors, label, cancellationToken);
    }

    private void CheckShape<T>(IReadOnlyList<T[]> bankVectors)
    {
        ArgumentNullException.ThrowIfNull(bankVectors);
        if (bankVectors.Count != Banks) throw new ArgumentException($"Expected {Banks} vectors, got {bankVectors.Count}.", nameof(bankVectors));
        for (int b = 0; b < Banks; b++)
            if (bankVectors[b] is null || bankVectors[b].Length != bankVectors[0].Length)
                throw new ArgumentException($"Bank {b}'s vector is missing or has another length than bank 0's.", nameof(bankVectors));
    }

    private ulong[] SumCore(IReadOnlyList<ulong[]> encoded, SumLabel label, CancellationToken cancellationToken)
    {
        var start = _clock.Elapsed;
        SecureSumResult result = _sum.Sum(encoded, cancellationToken);
        _sumTime += _clock.Elapsed - start;
        if (result.Contributors.Count != Banks)
        {
            var missing = Enumerable.Range(0, Banks).Except(result.Contributors);
            throw new InvalidOperationException($"Bank(s) {string.Join(", ", missing)} dropped out of secure sum #{Sums + 1}; federated training needs every bank in every sum.");
        }
        if (result.Sum.Length != encoded[0].Length)
            throw new InvalidOperationException($"The secure sum returned {result.Sum.Length} values, expected {encoded[0].Length}.");
        Sums++;
        ValuesPerBank += encoded[0].Length;
        BytesUploaded += result.BytesUploaded;
        BytesDownloaded += result.BytesDownloaded;
        _progress?.Invoke(new FederationProgress(label.Stage, label.Step, label.TotalSteps, label.Level, Sums, BytesUploaded, BytesDownloaded, _clock.Elapsed));
        return result.Sum;
    }

    /// <summary>Number of bits needed for a non-negative count.</summary>
    public static int BitLength(long n) => n <= 0 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)n);
}
