// CollectivePublicKey: collective key generation (CKG) of multiparty RLWE (C. Mouchet, J. Troncoso-Pastoriza,
// J.-P. Bossuat, J.-P. Hubaux, "Multiparty Homomorphic Encryption from Ring-Learning-with-Errors",
// PETS 2021, section 4.2; the shape of Lattigo's multiparty.PublicKeyGenProtocol).
//   share of bank i: p_i = -a*s_i + e_i, a the CRS polynomial (purpose PublicKey), e_i Gaussian
//   aggregate:       p = sum_i p_i = -a*s + e with s = sum s_i, e = sum e_i (|e| <= N*19)
//   public key:      (p, a)
// Shares are committed (SHA-256 of the serialized share) before any is revealed, so no bank can choose its
// share after seeing the others' (rogue-key cancellation).
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Cryptography.Threshold;

/// <summary>A bank's public-key share p_i (NTT domain).</summary>
internal sealed class PublicKeyShare
{
    internal PublicKeyShare(RlweParameters p, int bank, RnsPoly value) { Parameters = p; Bank = bank; Value = value; }
    /// <summary>Parameter set.</summary>
    public RlweParameters Parameters { get; }
    /// <summary>Roster index of the bank (-1 for an aggregate).</summary>
    public int Bank { get; }
    internal RnsPoly Value { get; }

    /// <summary>Serializes the share.</summary>
    public byte[] Serialize()
    {
        Span<byte> ctx = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(ctx, Bank);
        return RlweCodec.Write(Parameters, RlweObjectKind.PublicKeyShare, ctx, Value);
    }

    /// <summary>Parses and validates an untrusted share.</summary>
    public static PublicKeyShare Deserialize(RlweParameters p, ReadOnlySpan<byte> data)
    {
        RnsPoly[] polys = RlweCodec.Read(p, data, RlweObjectKind.PublicKeyShare, 1, 4, out byte[] ctx);
        if (!polys[0].IsNtt) throw Error.Violation(ViolationReason.Malformed, "public-key shares travel in the NTT domain");
        return new PublicKeyShare(p, BinaryPrimitives.ReadInt32LittleEndian(ctx), polys[0]);
    }

    /// <summary>The commitment published before the share.</summary>
    public byte[] Commitment() => SHA256.HashData(Serialize());
}

/// <summary>Collective public-key generation: Allocate / GenShare / AggregateShares / GenPublicKey.</summary>
internal sealed class PublicKeyGenProtocol
{
    private readonly Bfv _bfv;
    private readonly RlweParameters _p;

    /// <summary>Creates the protocol for a parameter set.</summary>
    public PublicKeyGenProtocol(RlweParameters parameters) { _p = parameters; _bfv = new Bfv(parameters); }

    /// <summary>A zero aggregate share.</summary>
    public PublicKeyShare AllocateShare() => new(_p, -1, _p.Basis.Allocate(true));

    /// <summary>p_i = -a*s_i + e_i.</summary>
    public PublicKeyShare GenShare(int bank, SecretKey sk, RnsPoly crp, RandomNumberGenerator rng)
    {
        ArgumentNullException.ThrowIfNull(sk);
        ArgumentNullException.ThrowIfNull(crp);
        ArgumentNullException.ThrowIfNull(rng);
        if (!crp.IsNtt) throw Error.Argument(nameof(crp), "The CRS polynomial is in the NTT domain.");
        return new PublicKeyShare(_p, bank, _bfv.PublicKeyShareCore(sk.ValueChecked, crp, Samplers.From(rng)));
    }

    /// <summary>aggregate += share.</summary>
    public void AggregateShares(PublicKeyShare share, PublicKeyShare aggregate)
    {
        ArgumentNullException.ThrowIfNull(share);
        ArgumentNullException.ThrowIfNull(aggregate);
        _p.Basis.Add(aggregate.Value, share.Value, aggregate.Value);
    }

    /// <summary>The collective public key (sum p_i, a).</summary>
    public PublicKey GenPublicKey(PublicKeyShare aggregate, RnsPoly crp)
    {
        ArgumentNullException.ThrowIfNull(aggregate);
        ArgumentNullException.ThrowIfNull(crp);
        return _bfv.PublicKeyFrom(aggregate.Value.Clone(), crp.Clone());
    }
}
