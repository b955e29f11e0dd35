// FieldElement521: a secret-bearing element of GF(2^521 - 1), the Shamir field (SPEC.md section 6): a Shamir share's value,
// a reconstructed secret. Nine 64-bit limbs in one pinned array (allocated on the pinned object heap, so a compacting GC
// never leaves a copy behind) that Dispose zeroes. The price: a pinned allocation costs about half a microsecond and the
// pinned heap is reclaimed only by gen-2 collections; masking mode allocates a few hundred elements per round.
// Always fully reduced (0 <= value < p). No ToString of the value; equality only through FixedTimeEquals. Encoding and
// decoding go through Shamir (EncodeElement, DecodeElement, SeedToElement, ElementToSeed); the arithmetic is Gf521's
// (constant time).

namespace FraudFed.Cryptography.Sharing;

/// <summary>
/// An element of GF(p), p = 2^521 - 1 (SPEC.md section 6), holding secret material: sealed, <see cref="IDisposable"/> (Dispose
/// zeroes its limbs), never printed. Create one with <see cref="Shamir.DecodeElement"/> or <see cref="Shamir.SeedToElement"/>.
/// </summary>
internal sealed class FieldElement521 : IDisposable
{
    /// <summary>Bytes of the big-endian encoding (SPEC.md section 6): 66.</summary>
    public const int EncodedSize = Gf521.ByteCount;

    private readonly ulong[] _limbs = GC.AllocateArray<ulong>(Gf521.LimbCount, pinned: true);
    private bool _disposed;

    /// <summary>Creates the element 0 (internal: values come from decoding, seeds and arithmetic).</summary>
    internal FieldElement521() { }

    /// <summary>The limbs (little-endian, reduced).</summary>
    /// <exception cref="ObjectDisposedException">The element was disposed.</exception>
    internal Span<ulong> Limbs
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _limbs;
        }
    }

    /// <summary>The limb array whatever the state, for tests of Dispose only.</summary>
    internal ReadOnlySpan<ulong> LimbsForTests => _limbs;

    /// <summary>True once disposed.</summary>
    internal bool IsDisposed => _disposed;

    /// <summary>A new element with the same value (the caller disposes both).</summary>
    /// <exception cref="ObjectDisposedException">This element was disposed.</exception>
    public FieldElement521 Clone()
    {
        var copy = new FieldElement521();
        Limbs.CopyTo(copy._limbs);
        return copy;
    }

    /// <summary>True when both elements hold the same value; every limb is compared, whatever the values (constant time).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">Either element was disposed.</exception>
    public bool FixedTimeEquals(FieldElement521 other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Gf521.Equal(Limbs, other.Limbs);
    }

    /// <summary>Zeroes the limbs; later use throws <see cref="ObjectDisposedException"/>. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Gf521.Clear(_limbs);
    }

    /// <inheritdoc />
    public override string ToString() => "FieldElement521(GF(2^521-1))"; // never the value
}
