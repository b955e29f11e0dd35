using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Protocol.Tests.Vectors;

/// <summary>
/// Writes FraudFed's own derived vectors under protocols/vectors (prg, aead, shamir, masking). Inputs come from
/// DeterministicRandom labels named in each file; expected outputs are computed here, partly by independent
/// re-implementation (Shamir polynomial evaluation, mask sums). Run on purpose only:
/// dotnet test tests/FraudFed.Protocol.Tests --filter "FullyQualifiedName~VectorGenerator"
/// The checked-in files are then verified by VectorTests (both test projects) on every run.
/// </summary>
[TestFixture, Explicit("Regenerates protocols/vectors; run on purpose.")]
public sealed class VectorGenerator
{
    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);

    private static byte[] Draw(string label, int n)
    {
        using var rng = DeterministicRandom.FromLabel(label);
        var b = new byte[n];
        rng.GetBytes(b);
        return b;
    }

    private static void Write(JsonObject doc, params string[] path)
    {
        string file = Repository.Vector(path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    [Test]
    public void Regenerate()
    {
        Prg();
        AeadVector();
        ShamirVector();
        KdfVector();
        MaskingVector();
        WireVector();
    }

    private static void Prg()
    {
        var cases = new JsonArray();
        foreach (int bits in new[] { 1, 16, 24, 32, 33, 48, 64 })
        {
            byte[] seed = Draw("vectors/prg/" + bits, 32);
            using var prg = new Prg(seed);
            ulong[] v = prg.NextModPow2(8, bits);
            cases.Add(new JsonObject
            {
                ["description"] = $"FraudFed derived: seed = DeterministicRandom(\"vectors/prg/{bits}\") first 32 bytes; first 8 values mod 2^{bits}",
                ["seed"] = Hex(seed),
                ["bits"] = bits,
                ["values"] = new JsonArray(v.Select(x => (JsonNode)x.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()),
            });
        }
        Write(new JsonObject
        {
            ["description"] = "FraudFed PRG expansion to integers mod 2^k (SPEC.md section PRG): AES-256-CTR keystream from counter 0; k <= 32 reads u32 little-endian words, k > 32 u64 little-endian words; each word masked to its low k bits. Values are decimal strings.",
            ["cases"] = cases,
        }, "prg", "fraudfed-modpow2.json");
    }

    private static void AeadVector()
    {
        byte[] key = Draw("vectors/aead/key", 32);
        byte[] plain = Draw("vectors/aead/plaintext", EncryptedShare.PlaintextSize);
        byte[] session = Draw("vectors/aead/session", 16);
        byte[] nonce = Aead.Nonce(7, 1, 4);
        byte[] ad = [.. "FraudFed/v1/secagg/share"u8, .. session, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 4];
        using var aead = new Aead(key);
        byte[] sealedData = aead.Seal(nonce, plain, ad);
        Write(new JsonObject
        {
            ["description"] = "FraudFed derived AES-256-GCM share bundle (SPEC.md section AEAD): key, plaintext and session from DeterministicRandom labels vectors/aead/{key,plaintext,session}; round 7, sender 1, recipient 4. nonce = round||sender||recipient (u32 BE); ad = \"FraudFed/v1/secagg/share\"||session||round||sender||recipient; sealed = ciphertext||tag.",
            ["key"] = Hex(key),
            ["nonce"] = Hex(nonce),
            ["ad"] = Hex(ad),
            ["plaintext"] = Hex(plain),
            ["sealed"] = Hex(sealedData),
        }, "aead", "fraudfed-share.json");
    }

    private static void ShamirVector()
    {
        BigInteger p = BigInteger.Pow(2, 521) - 1;
        byte[] secretBytes = Draw("vectors/shamir/secret", 32);
        BigInteger secret = new(secretBytes, isUnsigned: true, isBigEndian: true);
        const int t = 3;
        int[] xs = [1, 2, 4, 5, 9];
        // Coefficients exactly as Shamir.SplitAt draws them: 66 bytes, top byte masked to 1 bit, reject >= p.
        var coefficients = new List<BigInteger> { secret };
        using (var rng = DeterministicRandom.FromLabel("vectors/shamir/coefficients"))
        {
            var buf = new byte[66];
            while (coefficients.Count < t)
            {
                rng.GetBytes(buf);
                buf[0] &= 0x01;
                var c = new BigInteger(buf, isUnsigned: true, isBigEndian: true);
                if (c < p) coefficients.Add(c);
            }
        }
        var shares = new JsonArray();
        foreach (int x in xs)
        {
            BigInteger y = BigInteger.Zero, power = BigInteger.One;
            foreach (BigInteger c in coefficients) { y = (y + c * power) % p; power = power * x % p; }
            var enc = new byte[70];
            Shamir.P521.Encode(new ShamirShare(x, y), enc);
            shares.Add(new JsonObject { ["x"] = x, ["encoded"] = Hex(enc) });
        }
        Write(new JsonObject
        {
            ["description"] = "FraudFed derived Shamir 3-of-5 over p = 2^521-1 (SPEC.md section Shamir encoding). secret = DeterministicRandom(\"vectors/shamir/secret\") 32 bytes read big-endian; coefficients a1, a2 drawn from DeterministicRandom(\"vectors/shamir/coefficients\") as 66 bytes, first byte masked with 0x01, rejected if >= p. f(x) = secret + a1 x + a2 x^2 mod p; encoded share = x (u32 BE) || f(x) (66 bytes BE). Any 3 shares reconstruct the secret.",
            ["prime"] = "2^521-1",
            ["threshold"] = t,
            ["secret"] = Hex(secretBytes),
            ["coefficients"] = new JsonArray(coefficients.Skip(1).Select(c => { var b = new byte[66]; Shamir.P521.EncodeElement(c, b); return (JsonNode)Hex(b); }).ToArray()),
            ["shares"] = shares,
        }, "shamir", "fraudfed-p521.json");
    }

    private static void KdfVector()
    {
        byte[] session = Draw("vectors/kdf/session", 16);
        byte[] ci = Draw("vectors/kdf/c1", 32), cj = Draw("vectors/kdf/c4", 32), si = Draw("vectors/kdf/s1", 32), sj = Draw("vectors/kdf/s4", 32);
        byte[] kappa = Draw("vectors/kdf/kappa1", 32);
        using var c1 = X25519KeyPair.Import(ci);
        using var c4 = X25519KeyPair.Import(cj);
        using var s1 = X25519KeyPair.Import(si);
        using var s4 = X25519KeyPair.Import(sj);
        byte[] channel = KeySchedule.ChannelKey(c1, c4.PublicKey, session, 1, 4);
        byte[] master = KeySchedule.PairwiseMaster(s1, s4.PublicKey, session, 1, 4);
        byte[] seed3 = KeySchedule.PairwiseSeed(master, session, 3, 1, 4);
        byte[] seed4 = KeySchedule.PairwiseSeed(master, session, 4, 1, 4);
        byte[] pad = KeySchedule.EscrowPad(kappa, session, 3, 1, 4);
        Write(new JsonObject
        {
            ["description"] = "FraudFed derived key schedule between banks 1 and 4 (SPEC.md section KDF labels). Private keys and kappa from DeterministicRandom labels vectors/kdf/{c1,c4,s1,s4,kappa1}, session from vectors/kdf/session. HKDF-SHA256 with salt = session id, info = label || u32 BE fields.",
            ["session"] = Hex(session),
            ["bank_i"] = 1,
            ["bank_j"] = 4,
            ["channel_private_i"] = Hex(ci),
            ["channel_private_j"] = Hex(cj),
            ["mask_private_i"] = Hex(si),
            ["mask_private_j"] = Hex(sj),
            ["channel_key"] = Hex(channel),
            ["pairwise_master"] = Hex(master),
            ["round_seed_r3"] = Hex(seed3),
            ["round_seed_r4"] = Hex(seed4),
            ["kappa_i_r3"] = Hex(kappa),
            ["escrow_pad_r3_owner1_peer4"] = Hex(pad),
        }, "masking", "fraudfed-kdf.json");
    }

    private static void MaskingVector()
    {
        const int n = 3, bits = 20, length = 6;
        ulong mask = (1UL << bits) - 1;
        var r = new Random(20261127);
        ulong[][] x = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, length).Select(_ => (ulong)r.NextInt64() & mask).ToArray()).ToArray();
        byte[][] b = Enumerable.Range(0, n).Select(i => Draw($"vectors/masking/b{i}", 32)).ToArray();
        var pair = new Dictionary<(int, int), byte[]>();
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) pair[(i, j)] = Draw($"vectors/masking/s{i}{j}", 32);
        var ys = new JsonArray();
        for (int i = 0; i < n; i++)
        {
            var y = new ulong[length];
            for (int v = 0; v < length; v++) y[v] = x[i][v];
            using (var prg = new Prg(b[i])) { ulong[] m = prg.NextModPow2(length, bits); for (int v = 0; v < length; v++) y[v] += m[v]; }
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                using var prg = new Prg(pair[(Math.Min(i, j), Math.Max(i, j))]);
                ulong[] m = prg.NextModPow2(length, bits);
                for (int v = 0; v < length; v++) y[v] = j > i ? y[v] + m[v] : y[v] - m[v];
            }
            var packed = new byte[length * 3];
            ModVector.Pack(y.Select(v => v & mask).ToArray(), bits, packed);
            ys.Add(Hex(packed));
        }
        var sum = new ulong[length];
        for (int i = 0; i < n; i++) for (int v = 0; v < length; v++) sum[v] = (sum[v] + x[i][v]) & mask;
        Write(new JsonObject
        {
            ["description"] = "FraudFed derived double masking, 3 banks, k = 20, complete graph (SPEC.md section Masking protocol). y_i = x_i + PRG(b_i) + sum_{j>i} PRG(s_ij) - sum_{j<i} PRG(s_ij) mod 2^k, packed as ceil(k/8) = 3 bytes little-endian per value. b_i and s_ij from DeterministicRandom labels vectors/masking/b{i} and vectors/masking/s{ij}; inputs from System.Random(20261127). The sum of the y_i minus every PRG(b_i) is the sum of the x_i.",
            ["bits"] = bits,
            ["inputs"] = new JsonArray(x.Select(v => (JsonNode)new JsonArray(v.Select(e => (JsonNode)e.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray())).ToArray()),
            ["self_seeds"] = new JsonArray(b.Select(s => (JsonNode)Hex(s)).ToArray()),
            ["pairwise_seeds"] = new JsonObject { ["01"] = Hex(pair[(0, 1)]), ["02"] = Hex(pair[(0, 2)]), ["12"] = Hex(pair[(1, 2)]) },
            ["masked_packed"] = ys,
            ["sum"] = new JsonArray(sum.Select(e => (JsonNode)e.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()),
        }, "masking", "fraudfed-double-mask.json");
    }

    private static void WireVector()
    {
        byte[] session = Convert.FromHexString("00112233445566778899aabbccddeeff");
        // RFC 8032 TEST 1 key: Ed25519 is deterministic, so the signed encodings are reproducible.
        using var key = Ed25519SigningKey.Import(Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        var messages = new JsonObject
        {
            ["AdvertiseKeys"] = Hex(new AdvertiseKeys(session, 2, Enumerable.Repeat((byte)0x11, 32).ToArray(), Enumerable.Repeat((byte)0x22, 32).ToArray()).Encode(key)),
            ["SurvivorList"] = Hex(new SurvivorList(session, 3, [0, 2, 5]).Encode()),
            ["ConsistencySignature"] = Hex(new ConsistencySignature(session, 3, 2, key.Sign(new SurvivorList(session, 3, [0, 2, 5]).SignedBytes())).Encode()),
            ["MaskedInput"] = Hex(new MaskedInput(session, 3, 2, 20, 2, [0x01, 0x02, 0x03, 0xff, 0xff, 0x0f]).Encode(key)),
            ["UnmaskRequest"] = Hex(new UnmaskRequest(session, 3, 2, [0, 2], [new SignerSignature(0, new byte[64])], [new ShareRequest(0, ShareKind.SelfMask), new ShareRequest(5, ShareKind.PairwiseKey)]).Encode()),
        };
        Write(new JsonObject
        {
            ["description"] = "FraudFed derived wire encodings (SPEC.md section Masking protocol messages). Session 00112233445566778899aabbccddeeff; signed messages use the RFC 8032 section 7.1 TEST 1 private key (public d75a9801...). Each value is the full encoded message in hex.",
            ["signer_public"] = Hex(key.PublicKey),
            ["messages"] = messages,
        }, "masking", "fraudfed-wire.json");
    }
}
