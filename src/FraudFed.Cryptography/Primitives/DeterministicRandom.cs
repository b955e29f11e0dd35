// DeterministicRandom: a seeded RandomNumberGenerator for TESTS AND TEST VECTORS ONLY.
// It is the AES-256-CTR Prg with a seed derived as SHA-256("FraudFed deterministic random v1" || seed label).
// Production code takes RandomNumberGenerator.Create() (the OS CSPRNG); every sampler accepts a
// RandomNumberGenerator so tests and vectors can inject this one and be reproducible.
using System.Security.Cryptography;
using System.Text;

namespace FraudFed.Cryptography.Primitives;

/// <summary>
/// A reproducible, seeded random source. NOT for production keys: use <see cref="RandomNumberGenerator.Create()"/>.
/// </summary>
public sealed class DeterministicRandom : RandomNumberGenerator
{
    private readonly Prg _prg;

    /// <summary>Creates a generator from a 32-byte seed.</summary>
    public DeterministicRandom(ReadOnlySpan<byte> seed) => _prg = new Prg(seed);

    /// <summary>Creates a generator from a label, e.g. a test name and a number.</summary>
    public static DeterministicRandom FromLabel(string label)
    {
        byte[] seed = SHA256.HashData(Encoding.UTF8.GetBytes("FraudFed deterministic random v1" + label));
        try { return new DeterministicRandom(seed); }
        finally { CryptographicOperations.ZeroMemory(seed); }
    }

    /// <summary>Creates a generator from an integer seed.</summary>
    public static DeterministicRandom FromSeed(long seed) => FromLabel("#" + seed.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <inheritdoc />
    public override void GetBytes(byte[] data) => _prg.Fill(data);

    /// <inheritdoc />
    public override void GetBytes(byte[] data, int offset, int count) => _prg.Fill(data.AsSpan(offset, count));

    /// <inheritdoc />
    public override void GetBytes(Span<byte> data) => _prg.Fill(data);

    /// <inheritdoc />
    public override void GetNonZeroBytes(byte[] data) => GetNonZeroBytes(data.AsSpan());

    /// <inheritdoc />
    public override void GetNonZeroBytes(Span<byte> data)
    {
        Span<byte> one = stackalloc byte[1];
        for (int i = 0; i < data.Length; i++)
        {
            do _prg.Fill(one); while (one[0] == 0);
            data[i] = one[0];
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _prg.Dispose();
        base.Dispose(disposing);
    }
}
