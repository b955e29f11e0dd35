// Key schedule of the masking protocol (SPEC.md 2, "KDF and labels"). Every derivation is HKDF-SHA256 (RFC 5869)
// with salt = the 16-byte session id and info = ASCII label || u32 big-endian fields; outputs 32 bytes.
//   channel key   K^c_{ij} = HKDF(X25519(c_i, C_j), info = channel-key || min(i,j) || max(i,j))      once per session
//   pair master   K_{ij}   = HKDF(X25519(s_i, S_j), info = pairwise-master || min || max)         once per session
//   round seed    s^r_{ij} = HKDF(K_{ij},            info = pairwise-mask || r || min || max)      per round
//   escrow pad    e^r_{ij} = HKDF(kappa^r_i,         info = pairwise-escrow || r || i || j)        per round
// so revealing a round's seeds (through kappa^r_i) says nothing about another round's (HKDF is a PRF).
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

internal static class KeySchedule
{
    public const int Size = 32;

    public static byte[] Derive(ReadOnlySpan<byte> ikm, byte[] sessionId, byte[] label, params ReadOnlySpan<uint> fields)
    {
        var output = new byte[Size];
        Kdf.DeriveKey(ikm, output, sessionId, Kdf.Info(label, fields));
        return output;
    }

    public static byte[] ChannelKey(X25519KeyPair mine, ReadOnlySpan<byte> peerPublic, byte[] sessionId, int i, int j)
        => FromAgreement(mine, peerPublic, sessionId, Kdf.ChannelLabel, i, j);

    public static byte[] PairwiseMaster(X25519KeyPair mine, ReadOnlySpan<byte> peerPublic, byte[] sessionId, int i, int j)
        => FromAgreement(mine, peerPublic, sessionId, Kdf.PairwiseMasterLabel, i, j);

    public static byte[] PairwiseSeed(ReadOnlySpan<byte> master, byte[] sessionId, uint round, int i, int j)
        => Derive(master, sessionId, Kdf.PairwiseMaskLabel, round, (uint)Math.Min(i, j), (uint)Math.Max(i, j));

    public static byte[] EscrowPad(ReadOnlySpan<byte> kappa, byte[] sessionId, uint round, int owner, int peer)
        => Derive(kappa, sessionId, Kdf.EscrowLabel, round, (uint)owner, (uint)peer);

    private static byte[] FromAgreement(X25519KeyPair mine, ReadOnlySpan<byte> peerPublic, byte[] sessionId, byte[] label, int i, int j)
    {
        var shared = new byte[X25519KeyPair.KeySize];
        try
        {
            mine.Agree(peerPublic, shared);
            return Derive(shared, sessionId, label, (uint)Math.Min(i, j), (uint)Math.Max(i, j));
        }
        finally { CryptographicOperations.ZeroMemory(shared); }
    }
}
