// Bank-to-bank channels of the homomorphic setup (protocols/SPEC.md 12.0 step 3): the Shamir points of the thresholdizer
// travel through the aggregator sealed with AES-256-GCM under keys only the two banks can derive.
//   Advert (per bank, per key generation): session id (16) || i32 bank || X25519 public key (32) || 64-byte Ed25519 signature
//     of the bank's identity key over "FraudFed/v1/he/channel-advert" || SHA-256(first 52 bytes).
//   Key of the pair {i, j}: HKDF-SHA256(IKM = X25519(c_i, C_j), salt = session id, info = "FraudFed/v1/he/channel-key" ||
//     u32 min(i,j) || u32 max(i,j)), 32 bytes.
//   Sealed point from i to j: AES-256-GCM, nonce = u32 0 || u32 i || u32 j (big-endian; one message per ordered pair and
//     session id), associated data = "FraudFed/v1/he/shamir-point" || session id; ciphertext || 16-byte tag.
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>
/// One bank's end of the setup's pairwise channels: a fresh X25519 key per key generation, advertised under the bank's
/// identity signature; peers' adverts are verified before any key is derived. Dispose to clear the private key.
/// </summary>
internal sealed class ShareChannel : IDisposable
{
    /// <summary>Size of an advert in bytes.</summary>
    public const int AdvertSize = 16 + 4 + X25519KeyPair.KeySize + Ed25519SigningKey.SignatureSize;

    private static ReadOnlySpan<byte> AdvertLabel => "FraudFed/v1/he/channel-advert"u8;
    private static ReadOnlySpan<byte> KeyLabel => "FraudFed/v1/he/channel-key"u8;
    private static ReadOnlySpan<byte> PointLabel => "FraudFed/v1/he/shamir-point"u8;

    private readonly X25519KeyPair _key;
    private readonly byte[] _sessionId;
    private readonly byte[]?[] _peers;

    /// <summary>A fresh channel key for <paramref name="bank"/> in setup <paramref name="sessionId"/> among <paramref name="banks"/> banks.</summary>
    public ShareChannel(int bank, int banks, ReadOnlySpan<byte> sessionId, RandomNumberGenerator rng)
        : this(bank, banks, sessionId, X25519KeyPair.Generate(rng))
    {
    }

    /// <summary>A channel over a given key pair, which it then owns (tests recompute SPEC keys from an imported key).</summary>
    internal ShareChannel(int bank, int banks, ReadOnlySpan<byte> sessionId, X25519KeyPair key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (sessionId.Length != 16) throw Error.Argument(nameof(sessionId), "A session id is 16 bytes.");
        if (bank < 0 || bank >= banks) throw Error.OutOfRange(nameof(bank), "A bank index is in 0..banks-1.");
        Bank = bank;
        _sessionId = sessionId.ToArray();
        _key = key;
        _peers = new byte[banks][];
    }

    /// <summary>This end's bank.</summary>
    public int Bank { get; }

    /// <summary>The signed advert of this end's public key.</summary>
    public byte[] Advert(Ed25519SigningKey identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        var advert = new byte[AdvertSize];
        _sessionId.CopyTo(advert, 0);
        BinaryPrimitives.WriteInt32LittleEndian(advert.AsSpan(16), Bank);
        _key.PublicKey.CopyTo(advert.AsSpan(20));
        identity.Sign(UploadSignature.Message(AdvertLabel, SHA256.HashData(advert.AsSpan(0, 52))), advert.AsSpan(52));
        return advert;
    }

    /// <summary>
    /// The bank an advert names (its i32 after the session id), unverified: the aggregator's cheap intake check that the advert
    /// is its sender's; the banks verify the signature (<see cref="AcceptAdvert"/>). Malformed when the size is not
    /// <see cref="AdvertSize"/>.
    /// </summary>
    public static int AdvertBank(ReadOnlySpan<byte> advert) =>
        advert.Length == AdvertSize ? BinaryPrimitives.ReadInt32LittleEndian(advert[16..])
            : throw Error.Violation(ViolationReason.Malformed, "channel advert size");

    /// <summary>
    /// Records a peer's advert after checking its size (Malformed), session (WrongRoundOrState), bank inside the roster
    /// (UnknownSender) and signature under that bank's identity key (AuthenticationFailed); a second advert of one bank is
    /// Duplicate. Returns the peer's bank.
    /// </summary>
    public int AcceptAdvert(ReadOnlySpan<byte> advert, IReadOnlyList<byte[]> roster)
    {
        ArgumentNullException.ThrowIfNull(roster);
        if (advert.Length != AdvertSize) throw Error.Violation(ViolationReason.Malformed, "channel advert size");
        if (!advert[..16].SequenceEqual(_sessionId)) throw Error.Violation(ViolationReason.WrongRoundOrState, "channel advert of another setup");
        int peer = AdvertBank(advert);
        if (peer < 0 || peer >= _peers.Length || peer >= roster.Count) throw Error.Violation(ViolationReason.UnknownSender, "channel advert of a bank outside the roster");
        if (!Ed25519SigningKey.Verify(roster[peer], UploadSignature.Message(AdvertLabel, SHA256.HashData(advert[..52])), advert[52..]))
            throw Error.Violation(ViolationReason.AuthenticationFailed, "channel advert not signed by its bank");
        if (_peers[peer] is not null) throw Error.Violation(ViolationReason.Duplicate, "a second channel advert of this bank");
        _peers[peer] = advert.Slice(20, X25519KeyPair.KeySize).ToArray();
        return peer;
    }

    private Aead Channel(int peer)
    {
        if (peer < 0 || peer >= _peers.Length) throw Error.Violation(ViolationReason.UnknownSender, "peer outside the roster");
        byte[] peerKey = _peers[peer] ?? throw Error.Violation(ViolationReason.WrongRoundOrState, "no verified advert from this peer");
        Span<byte> shared = stackalloc byte[X25519KeyPair.KeySize];
        Span<byte> key = stackalloc byte[Aead.KeySize];
        try
        {
            _key.Agree(peerKey, shared);
            Kdf.DeriveKey(shared, key, _sessionId, Kdf.Info(KeyLabel, (uint)Math.Min(Bank, peer), (uint)Math.Max(Bank, peer)));
            return new Aead(key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private byte[] AssociatedData() => [.. PointLabel, .. _sessionId];

    /// <summary>Seals <paramref name="plain"/> for <paramref name="to"/>.</summary>
    public byte[] Seal(int to, ReadOnlySpan<byte> plain)
    {
        using Aead aead = Channel(to);
        return aead.Seal(Aead.Nonce(0, (uint)Bank, (uint)to), plain, AssociatedData());
    }

    /// <summary>Opens a point sealed by <paramref name="from"/> for this bank (AuthenticationFailed when it was not).</summary>
    public byte[] Open(int from, ReadOnlySpan<byte> sealedBytes)
    {
        using Aead aead = Channel(from);
        return aead.Open(Aead.Nonce(0, (uint)from, (uint)Bank), sealedBytes, AssociatedData());
    }

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();
}
