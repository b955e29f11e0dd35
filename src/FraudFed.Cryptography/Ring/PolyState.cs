// PolyState: the raw at-rest form of a secret polynomial (a secret key, a received Shamir point) for a bank's encrypted
// state file (SPEC.md 14.6). Limb by limb, coefficient by coefficient, 8 bytes little-endian each, in the polynomial's
// current domain (the NTT domain for every secret kept). Not a wire format: it is only ever read back by the bank that
// wrote it, after the state file's AES-256-GCM tag verified; the reader still checks every coefficient against its prime.
using System.Buffers.Binary;

namespace FraudFed.Cryptography.Ring;

internal static class PolyState
{
    /// <summary>Bytes of one polynomial of <paramref name="basis"/>: N * limbs * 8.</summary>
    public static int Size(RnsBasis basis) => basis.N * basis.Count * 8;

    public static void Write(RnsPoly poly, Span<byte> destination)
    {
        ulong[] data = poly.Data;
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(destination[(i * 8)..], data[i]);
    }

    /// <exception cref="ProtocolViolationException">Malformed: a wrong length or a coefficient not below its prime.</exception>
    public static RnsPoly Read(RnsBasis basis, ReadOnlySpan<byte> source, bool isNtt)
    {
        if (source.Length != Size(basis)) throw Error.Violation(ViolationReason.Malformed, "a stored polynomial of the wrong length");
        RnsPoly poly = basis.Allocate(isNtt);
        for (int l = 0; l < basis.Count; l++)
        {
            ulong q = basis.Primes[l];
            Span<ulong> limb = poly.Limb(l);
            for (int j = 0; j < basis.N; j++)
            {
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(source[((l * basis.N + j) * 8)..]);
                if (v >= q) { poly.Clear(); throw Error.Violation(ViolationReason.Malformed, "a stored coefficient not below its prime"); }
                limb[j] = v;
            }
        }
        return poly;
    }
}
