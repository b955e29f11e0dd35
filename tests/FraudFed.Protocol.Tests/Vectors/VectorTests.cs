using System.Globalization;
using System.Text.Json;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Vectors;

/// <summary>Checks the masking-protocol vectors in protocols/vectors/masking against the implementation.</summary>
[TestFixture]
public sealed class VectorTests
{
    private static JsonElement Load(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Repository.Vector("masking", file)));
        return doc.RootElement.Clone();
    }

    private static byte[] Hex(JsonElement e, string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);

    [Test]
    public void KeySchedule_MatchesVector()
    {
        JsonElement v = Load("fraudfed-kdf.json");
        byte[] session = Hex(v, "session");
        using var c1 = X25519KeyPair.Import(Hex(v, "channel_private_i"));
        using var c4 = X25519KeyPair.Import(Hex(v, "channel_private_j"));
        using var s1 = X25519KeyPair.Import(Hex(v, "mask_private_i"));
        using var s4 = X25519KeyPair.Import(Hex(v, "mask_private_j"));
        Assert.That(KeySchedule.ChannelKey(c1, c4.PublicKey, session, 1, 4), Is.EqualTo(Hex(v, "channel_key")));
        Assert.That(KeySchedule.ChannelKey(c4, c1.PublicKey, session, 4, 1), Is.EqualTo(Hex(v, "channel_key")), "symmetric");
        byte[] master = KeySchedule.PairwiseMaster(s4, s1.PublicKey, session, 4, 1);
        Assert.That(master, Is.EqualTo(Hex(v, "pairwise_master")));
        Assert.That(KeySchedule.PairwiseSeed(master, session, 3, 4, 1), Is.EqualTo(Hex(v, "round_seed_r3")));
        Assert.That(KeySchedule.PairwiseSeed(master, session, 4, 1, 4), Is.EqualTo(Hex(v, "round_seed_r4")));
        Assert.That(Hex(v, "round_seed_r3"), Is.Not.EqualTo(Hex(v, "round_seed_r4")), "per-round seeds differ");
        Assert.That(KeySchedule.EscrowPad(Hex(v, "kappa_i_r3"), session, 3, 1, 4), Is.EqualTo(Hex(v, "escrow_pad_r3_owner1_peer4")));
    }

    [Test]
    public void DoubleMask_MatchesVector_AndUnmasksToTheSum()
    {
        JsonElement v = Load("fraudfed-double-mask.json");
        int bits = v.GetProperty("bits").GetInt32();
        ulong[][] x = v.GetProperty("inputs").EnumerateArray().Select(a => a.EnumerateArray().Select(e => ulong.Parse(e.GetString()!, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        byte[][] b = v.GetProperty("self_seeds").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!)).ToArray();
        JsonElement pw = v.GetProperty("pairwise_seeds");
        byte[] Pair(int i, int j) => Convert.FromHexString(pw.GetProperty($"{Math.Min(i, j)}{Math.Max(i, j)}").GetString()!);
        string[] expected = v.GetProperty("masked_packed").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int n = x.Length, length = x[0].Length;
        var total = new ulong[length];
        for (int i = 0; i < n; i++)
        {
            ulong[] y = (ulong[])x[i].Clone();
            ModVector.AddPrg(y, b[i], bits, subtract: false);
            for (int j = 0; j < n; j++) if (j != i) ModVector.AddPrg(y, Pair(i, j), bits, subtract: j < i);
            ModVector.Reduce(y, bits);
            var packed = new byte[length * ModVector.BytesPerValue(bits)];
            ModVector.Pack(y, bits, packed);
            Assert.That(Convert.ToHexStringLower(packed), Is.EqualTo(expected[i]), $"bank {i}");
            ModVector.UnpackAdd(packed, bits, total);
            ModVector.AddPrg(total, b[i], bits, subtract: true);
        }
        ModVector.Reduce(total, bits);
        Assert.That(total, Is.EqualTo(v.GetProperty("sum").EnumerateArray().Select(e => ulong.Parse(e.GetString()!, CultureInfo.InvariantCulture)).ToArray()));
    }

    [Test]
    public void WireEncodings_MatchVector()
    {
        JsonElement v = Load("fraudfed-wire.json");
        byte[] signer = Hex(v, "signer_public");
        JsonElement m = v.GetProperty("messages");
        byte[] adv = Hex(m, "AdvertiseKeys");
        AdvertiseKeys a = AdvertiseKeys.Decode(adv);
        Assert.That(a.VerifySignature(signer), Is.True);
        Assert.That(a.Sender, Is.EqualTo(2));
        using var key = Ed25519SigningKey.Import(Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        Assert.That(a.Encode(key), Is.EqualTo(adv));
        byte[] list = Hex(m, "SurvivorList");
        SurvivorList s = SurvivorList.Decode(list);
        Assert.That(s.Survivors, Is.EqualTo(new[] { 0, 2, 5 }));
        Assert.That(s.Encode(), Is.EqualTo(list));
        ConsistencySignature c = ConsistencySignature.Decode(Hex(m, "ConsistencySignature"));
        Assert.That(Ed25519SigningKey.Verify(signer, s.SignedBytes(), c.Signature), Is.True);
        MaskedInput mi = MaskedInput.Decode(Hex(m, "MaskedInput"));
        Assert.That(mi.VerifySignature(signer), Is.True);
        Assert.That(ModVector.Unpack(mi.Packed, mi.ModulusBits), Is.EqualTo(new ulong[] { 0x030201, 0x0fffff }));
        UnmaskRequest u = UnmaskRequest.Decode(Hex(m, "UnmaskRequest"));
        Assert.That(u.Requests, Is.EqualTo(new[] { new ShareRequest(0, ShareKind.SelfMask), new ShareRequest(5, ShareKind.PairwiseKey) }));
        Assert.That(u.Encode(), Is.EqualTo(Hex(m, "UnmaskRequest")));
    }
}
