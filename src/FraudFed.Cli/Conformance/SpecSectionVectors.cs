// Checks of the vectors that protocols/SPEC.md sections 1-9 cite (written with the masking implementation, not
// by `fraudfed vectors`): each is recomputed from the spec text with reference code and through the library.
using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Masking;

namespace FraudFed.Cli.Conformance;

internal sealed class SpecPrgVectors : ExternalVectors
{
    public override string Path => "prg/fraudfed-modpow2.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        foreach (JsonElement c in root.Arr("cases"))
        {
            int k = c.Int("bits");
            ulong[] values = c.U64s("values");
            yield return new CheckCase($"k={k}", () =>
            {
                byte[] seed = c.Hex("seed");
                Expect.Values("values (reference)", values, Reference.ModPow2(seed, values.Length, k));
                using var prg = new Prg(seed);
                Expect.Values("values (Prg.NextModPow2)", values, prg.NextModPow2(values.Length, k));
            });
        }
    }
}

internal sealed class SpecAeadVectors : ExternalVectors
{
    public override string Path => "aead/fraudfed-share.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        byte[] key = root.Hex("key"), nonce = root.Hex("nonce"), ad = root.Hex("ad"), plain = root.Hex("plaintext"), sealedBytes = root.Hex("sealed");
        yield return new CheckCase("layout", () =>
        {
            Expect.Equal("nonce length", 12, nonce.Length);
            uint round = BinaryPrimitives.ReadUInt32BigEndian(nonce), sender = BinaryPrimitives.ReadUInt32BigEndian(nonce.AsSpan(4)), recipient = BinaryPrimitives.ReadUInt32BigEndian(nonce.AsSpan(8));
            Expect.Hex("nonce (Aead.Nonce)", root.Str("nonce"), Aead.Nonce(round, sender, recipient));
            byte[] label = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/share");
            Expect.Equal("AD length", label.Length + 16 + 12, ad.Length);
            Expect.Hex("AD = label || session || round || sender || recipient", root.Str("ad"), Reference.Concat(label, ad[label.Length..(label.Length + 16)], nonce));
            Expect.Equal("plaintext length", EncryptedShare.PlaintextSize, plain.Length);
        });
        yield return new CheckCase("seal", () =>
        {
            using var gcm = new AesGcm(key, 16);
            var ct = new byte[plain.Length];
            var tag = new byte[16];
            gcm.Encrypt(nonce, plain, ct, tag, ad);
            Expect.Hex("sealed (reference AES-GCM)", root.Str("sealed"), Reference.Concat(ct, tag));
            using var aead = new Aead(key);
            Expect.Hex("sealed (Aead.Seal)", root.Str("sealed"), aead.Seal(nonce, plain, ad));
            Expect.Hex("opened (Aead.Open)", root.Str("plaintext"), aead.Open(nonce, sealedBytes, ad));
        });
        yield return new CheckCase("tamper", () =>
        {
            using var aead = new Aead(key);
            foreach (int bit in new[] { 0, 8 * sealedBytes.Length - 1 })
            {
                byte[] bad = (byte[])sealedBytes.Clone();
                bad[bit / 8] ^= (byte)(1 << (bit % 8));
                Expect.Refused($"sealed bundle with bit {bit} flipped", () => aead.Open(nonce, bad, ad), ViolationReason.AuthenticationFailed);
            }
            byte[] badAd = (byte[])ad.Clone(); badAd[30] ^= 0x01;
            Expect.Refused("bundle with another session in the AD", () => aead.Open(nonce, sealedBytes, badAd), ViolationReason.AuthenticationFailed);
        });
    }
}

internal sealed class SpecShamirVectors : ExternalVectors
{
    public override string Path => "shamir/fraudfed-p521.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        int t = root.Int("threshold");
        JsonElement[] shares = root.Arr("shares");
        yield return new CheckCase("polynomial", () =>
        {
            Expect.Equal("prime", "2^521-1", root.Str("prime"));
            BigInteger[] c = [Reference.BigEndian(root.Hex("secret")), .. root.Arr("coefficients").Select(x => Reference.BigEndian(Convert.FromHexString(x.GetString()!)))];
            Expect.Equal("coefficient count", t, c.Length);
            foreach (JsonElement s in shares)
            {
                int x = s.Int("x");
                BigInteger y = 0;
                for (int k = c.Length - 1; k >= 0; k--) y = (y * x + c[k]) % Reference.P521;
                var expected = Reference.Concat(Reference.U32Be((uint)x), y.ToByteArray(isUnsigned: true, isBigEndian: true) is var b ? [.. new byte[66 - b.Length], .. b] : []);
                Expect.Hex($"share x={x} (reference)", s.Str("encoded"), expected);
                var enc = new byte[Shamir.P521.ShareSize];
                Shamir.P521.Encode(new ShamirShare(x, y), enc);
                Expect.Hex($"share x={x} (Shamir.Encode)", s.Str("encoded"), enc);
            }
        });
        yield return new CheckCase("reconstruct", () =>
        {
            ShamirShare[] decoded = shares.Select(s => Shamir.P521.Decode(s.Hex("encoded"))).ToArray();
            for (int a = 0; a + t <= decoded.Length; a++)
            {
                var seed = new byte[32];
                Shamir.ElementToSeed(Shamir.P521.Reconstruct(decoded.AsSpan(a, t)), seed);
                Expect.Hex($"secret from shares {a}..{a + t - 1}", root.Str("secret"), seed);
            }
        });
    }
}

internal sealed class SpecKdfVectors : ExternalVectors
{
    public override string Path => "masking/fraudfed-kdf.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        byte[] sid = root.Hex("session");
        uint i = (uint)root.Int("bank_i"), j = (uint)root.Int("bank_j"), lo = Math.Min(i, j), hi = Math.Max(i, j);
        byte[] Shared(string who)
        {
            using var a = X25519KeyPair.Import(root.Hex($"{who}_private_i"));
            using var b = X25519KeyPair.Import(root.Hex($"{who}_private_j"));
            var ab = new byte[32]; a.Agree(b.PublicKey, ab);
            var ba = new byte[32]; b.Agree(a.PublicKey, ba);
            Expect.Hex($"{who} agreement is symmetric", J.H(ab), ba);
            return ab;
        }
        yield return new CheckCase("session-keys", () =>
        {
            Expect.Hex("channel key", root.Str("channel_key"), Reference.Hkdf(Shared("channel"), sid, "FraudFed/v1/secagg/channel-key", lo, hi));
            Expect.Hex("pair master", root.Str("pairwise_master"), Reference.Hkdf(Shared("mask"), sid, "FraudFed/v1/secagg/pairwise-master", lo, hi));
            var o = new byte[32];
            Kdf.DeriveKey(Shared("mask"), o, sid, Kdf.Info(Kdf.PairwiseMasterLabel, lo, hi));
            Expect.Hex("pair master (Kdf)", root.Str("pairwise_master"), o);
        });
        yield return new CheckCase("round-seeds", () =>
        {
            byte[] master = root.Hex("pairwise_master");
            Expect.Hex("round seed r = 3", root.Str("round_seed_r3"), Reference.Hkdf(master, sid, "FraudFed/v1/secagg/pairwise-mask", 3, lo, hi));
            Expect.Hex("round seed r = 4", root.Str("round_seed_r4"), Reference.Hkdf(master, sid, "FraudFed/v1/secagg/pairwise-mask", 4, lo, hi));
            Expect.Hex("escrow pad r = 3, owner i, peer j", root.Str("escrow_pad_r3_owner1_peer4"), Reference.Hkdf(root.Hex("kappa_i_r3"), sid, "FraudFed/v1/secagg/pairwise-escrow", 3, i, j));
        });
    }
}

internal sealed class SpecDoubleMaskVectors : ExternalVectors
{
    public override string Path => "masking/fraudfed-double-mask.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        int k = root.Int("bits");
        ulong mask = k == 64 ? ulong.MaxValue : (1UL << k) - 1;
        ulong[][] x = root.Arr("inputs").Select(a => a.EnumerateArray().Select(e => ulong.Parse(e.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        byte[][] b = root.Arr("self_seeds").Select(e => Convert.FromHexString(e.GetString()!)).ToArray();
        JsonElement pw = root.GetProperty("pairwise_seeds");
        byte[] Pair(int i, int j) => Convert.FromHexString(pw.GetProperty($"{Math.Min(i, j)}{Math.Max(i, j)}").GetString()!);
        string[] packed = root.Arr("masked_packed").Select(e => e.GetString()!).ToArray();
        int n = x.Length, w = (k + 7) / 8;
        yield return new CheckCase("masked/reference", () =>
        {
            for (int i = 0; i < n; i++)
            {
                ulong[] y = (ulong[])x[i].Clone();
                void Add(byte[] seed, bool subtract) { ulong[] v = Reference.ModPow2(seed, y.Length, k); for (int q = 0; q < y.Length; q++) y[q] = (subtract ? y[q] - v[q] : y[q] + v[q]) & mask; }
                Add(b[i], false);
                for (int j = 0; j < n; j++) if (j != i) Add(Pair(i, j), subtract: j < i);
                var bytes = new byte[y.Length * w];
                for (int q = 0; q < y.Length; q++) for (int z = 0; z < w; z++) bytes[q * w + z] = (byte)(y[q] >> (8 * z));
                Expect.Hex($"bank {i} masked input (ceil(k/8) bytes little-endian per value)", packed[i], bytes);
            }
        });
        yield return new CheckCase("masked/library", () =>
        {
            for (int i = 0; i < n; i++)
            {
                ulong[] y = (ulong[])x[i].Clone();
                ModVector.AddPrg(y, b[i], k, subtract: false);
                for (int j = 0; j < n; j++) if (j != i) ModVector.AddPrg(y, Pair(i, j), k, subtract: j < i);
                ModVector.Reduce(y, k);
                var bytes = new byte[y.Length * ModVector.BytesPerValue(k)];
                ModVector.Pack(y, k, bytes);
                Expect.Hex($"bank {i} masked input (ModVector)", packed[i], bytes);
            }
        });
        yield return new CheckCase("sum", () =>
        {
            var plain = new ulong[x[0].Length];
            var unmasked = new ulong[x[0].Length];
            for (int i = 0; i < n; i++)
            {
                ulong[] y = ModVector.Unpack(Convert.FromHexString(packed[i]), k);
                ulong[] s = Reference.ModPow2(b[i], y.Length, k);
                for (int q = 0; q < y.Length; q++)
                {
                    plain[q] = (plain[q] + x[i][q]) & mask;
                    unmasked[q] = (unmasked[q] + y[q] - s[q]) & mask;
                }
            }
            Expect.Values("sum = plain sum of the inputs mod 2^k", root.U64s("sum"), plain);
            Expect.Values("sum of the masked inputs minus the self masks", root.U64s("sum"), unmasked);
        });
    }
}

internal sealed class SpecWireVectors : ExternalVectors
{
    public override string Path => "masking/fraudfed-wire.json";
    // The signer is RFC 8032 section 7.1 TEST 1 (ed25519/rfc8032.json); its public key is checked against the file.
    private const string Rfc8032Test1Private = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    private static readonly Dictionary<string, byte> Codes = new() { ["AdvertiseKeys"] = 1, ["SurvivorList"] = 6, ["ConsistencySignature"] = 7, ["MaskedInput"] = 5, ["UnmaskRequest"] = 8 };

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        byte[] signer = root.Hex("signer_public");
        JsonElement messages = root.GetProperty("messages");
        yield return new CheckCase("headers", () =>
        {
            foreach (JsonProperty m in messages.EnumerateObject())
            {
                byte[] b = Convert.FromHexString(m.Value.GetString()!);
                Expect.Hex($"{m.Name} magic", "46465341", b.AsSpan(0, 4));
                Expect.Equal($"{m.Name} version", (byte)1, b[4]);
                Expect.Equal($"{m.Name} type code", Codes[m.Name], b[5]);
                Expect.Equal($"{m.Name} round", m.Name == "AdvertiseKeys" ? 0u : BinaryPrimitives.ReadUInt32BigEndian(Convert.FromHexString(messages.Str("SurvivorList")).AsSpan(22)), BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(22)));
            }
        });
        yield return new CheckCase("signatures", () =>
        {
            using var key = Ed25519SigningKey.Import(Convert.FromHexString(Rfc8032Test1Private));
            Expect.Hex("signer = RFC 8032 TEST 1 public key", root.Str("signer_public"), key.PublicKey);
            foreach (string name in new[] { "AdvertiseKeys", "MaskedInput" })
            {
                byte[] b = messages.Hex(name);
                byte[] signed = Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/signature"), SHA256.HashData(b.AsSpan(0, b.Length - 64)));
                Expect.Hex($"{name} signature (deterministic Ed25519 over label || SHA-256(body))", J.H(b.AsSpan(b.Length - 64)), key.Sign(signed));
                byte[] bad = (byte[])b.Clone();
                bad[27] ^= 0x01;
                Expect.True(!Ed25519SigningKey.Verify(signer, Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/signature"), SHA256.HashData(bad.AsSpan(0, bad.Length - 64))), bad.AsSpan(bad.Length - 64)),
                    $"{name} with one body bit flipped must not verify");
            }
            byte[] list = messages.Hex("SurvivorList"), cs = messages.Hex("ConsistencySignature");
            byte[] survivors = Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/survivors"), SHA256.HashData(list));
            Expect.Hex("ConsistencySignature over label || SHA-256(SurvivorList)", J.H(cs.AsSpan(cs.Length - 64)), key.Sign(survivors));
            byte[] other = (byte[])list.Clone();
            other[^1] ^= 0x01;
            Expect.True(!Ed25519SigningKey.Verify(signer, Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/survivors"), SHA256.HashData(other)), cs.AsSpan(cs.Length - 64)),
                "the consistency signature must not verify for another survivor list");
        });
        yield return new CheckCase("codecs", () =>
        {
            using var key = Ed25519SigningKey.Import(Convert.FromHexString(Rfc8032Test1Private));
            byte[] adv = messages.Hex("AdvertiseKeys");
            AdvertiseKeys a = AdvertiseKeys.Decode(adv);
            Expect.True(a.VerifySignature(signer), "AdvertiseKeys signature (library)");
            Expect.Hex("AdvertiseKeys re-encoded", J.H(adv), new AdvertiseKeys(a.SessionId, a.Sender, a.ChannelPublicKey, a.MaskPublicKey).Encode(key));
            byte[] list = messages.Hex("SurvivorList");
            SurvivorList s = SurvivorList.Decode(list);
            Expect.Hex("SurvivorList re-encoded", J.H(list), new SurvivorList(s.SessionId, s.Round, s.Survivors).Encode());
            byte[] cs = messages.Hex("ConsistencySignature");
            ConsistencySignature c = ConsistencySignature.Decode(cs);
            Expect.True(Ed25519SigningKey.Verify(signer, s.SignedBytes(), c.Signature), "ConsistencySignature (library)");
            Expect.Hex("ConsistencySignature re-encoded", J.H(cs), new ConsistencySignature(c.SessionId, c.Round, c.Sender, c.Signature).Encode());
            byte[] mi = messages.Hex("MaskedInput");
            MaskedInput m = MaskedInput.Decode(mi);
            Expect.True(m.VerifySignature(signer), "MaskedInput signature (library)");
            ulong[] values = ModVector.Unpack(m.Packed, m.ModulusBits);
            var repacked = new byte[m.Packed.Length];
            ModVector.Pack(values, m.ModulusBits, repacked);
            Expect.Hex("MaskedInput re-encoded", J.H(mi), new MaskedInput(m.SessionId, m.Round, m.Sender, m.ModulusBits, m.Length, repacked).Encode(key));
            byte[] ur = messages.Hex("UnmaskRequest");
            UnmaskRequest u = UnmaskRequest.Decode(ur);
            Expect.Hex("UnmaskRequest re-encoded", J.H(ur), new UnmaskRequest(u.SessionId, u.Round, u.Recipient, u.Survivors, u.Signatures, u.Requests).Encode());
            byte[] truncated = ur[..^1];
            Expect.Refused("a truncated UnmaskRequest", () => UnmaskRequest.Decode(truncated), ViolationReason.Malformed, ViolationReason.Oversized);
        });
    }
}
