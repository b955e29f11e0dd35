// TEST-ONLY secure sum: every pair of banks shares a random mask that one adds and the other subtracts
// (mod 2^k), so each submitted vector looks random and only the total is meaningful. It proves the
// trainers depend on nothing but the exact modular sum. Not secure (masks come from a seeded System.Random).
using FraudFed.Protocol;

namespace FraudFed.Learning.Tests.Support;

internal sealed class MaskingTestSum(int banks, int modulusBits, int seed) : ISecureSum
{
    private readonly Random _maskRng = new(seed);

    public int Banks { get; } = banks;
    public int ModulusBits { get; } = modulusBits;
    public string Mode => "test-masking";
    public int Calls { get; private set; }
    public List<ulong[]> LastMaskedInputs { get; } = new();

    public SecureSumResult Sum(IReadOnlyList<ulong[]> bankInputs, CancellationToken cancellationToken = default)
    {
        SumValidation.Check(bankInputs, Banks, ModulusBits);
        ulong mask = ModulusBits == 64 ? ulong.MaxValue : (1UL << ModulusBits) - 1;
        int length = bankInputs[0].Length;
        var masked = bankInputs.Select(v => (ulong[])v.Clone()).ToArray();
        var buffer = new byte[8];
        for (int i = 0; i < Banks; i++)
            for (int j = i + 1; j < Banks; j++)
                for (int k = 0; k < length; k++)
                {
                    _maskRng.NextBytes(buffer);
                    ulong r = BitConverter.ToUInt64(buffer) & mask;
                    masked[i][k] = (masked[i][k] + r) & mask;
                    masked[j][k] = (masked[j][k] - r) & mask;
                }
        // The "aggregator" only ever touches masked vectors.
        var sum = new ulong[length];
        foreach (ulong[] v in masked)
            for (int k = 0; k < length; k++) sum[k] = (sum[k] + v[k]) & mask;
        Calls++;
        LastMaskedInputs.Clear();
        LastMaskedInputs.AddRange(masked);
        int bytes = (ModulusBits + 7) / 8;
        return new SecureSumResult(sum, Enumerable.Range(0, Banks).ToArray(), (long)Banks * length * bytes, (long)length * bytes);
    }
}
