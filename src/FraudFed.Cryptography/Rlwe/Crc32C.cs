// Crc32C: CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78; RFC 3720 appendix B.4), initial
// value 0xFFFFFFFF, final XOR 0xFFFFFFFF; check value CRC-32C("123456789") = 0xE3069283. Used as the
// corruption check of RLWE envelopes (not an authenticator). SSE4.2 CRC32 instructions when present, a
// byte table otherwise; both give identical results (tested).
using System.Runtime.Intrinsics.X86;

namespace FraudFed.Cryptography.Rlwe;

/// <summary>CRC-32C checksum.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Sse42.X64.IsSupported ? ~Hardware(data) : ~Portable(data);

    /// <summary>CRC-32C with the table implementation (for tests of the hardware path).</summary>
    internal static uint ComputePortable(ReadOnlySpan<byte> data) => ~Portable(data);

    private static uint Portable(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static unsafe uint Hardware(ReadOnlySpan<byte> data)
    {
        ulong crc = 0xFFFFFFFFu;
        fixed (byte* p = data)
        {
            int i = 0, n = data.Length;
            for (; i + 8 <= n; i += 8) crc = Sse42.X64.Crc32(crc, System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(p + i));
            uint c = (uint)crc;
            for (; i < n; i++) c = Sse42.Crc32(c, p[i]);
            return c;
        }
    }
}
