// RLWE object vectors (SPEC.md "RLWE objects", "Threshold decryption"): a seeded BFV encryption's envelope and
// decryption, and a complete seeded threshold decryption (compact ciphertexts, Shamir points of secret keys,
// smudged decryption shares, combination).
using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Conformance.Vectors;

/// <summary>Independent parsing of the RLWE envelope.</summary>
internal static class Envelope
{
    public const int HeaderSize = 56, DigestSize = 16;

    /// <summary>Checks the fixed header fields of <paramref name="bytes"/> against the spec and returns the context.</summary>
    public static byte[] CheckHeader(string what, byte[] bytes, RlweParameters p, byte kind, bool ntt, int polys, int contextLength)
    {
        Expect.Hex(what + " magic", "4646524c", bytes.AsSpan(0, 4));
        Expect.Equal(what + " version", (byte)2, bytes[4]);
        Expect.Equal(what + " kind", kind, bytes[5]);
        Expect.Equal(what + " flags (bit 0 = NTT domain)", (byte)(ntt ? 1 : 0), bytes[6]);
        Expect.Equal(what + " reserved", (byte)0, bytes[7]);
        Expect.Hex(what + " parameter hash", J.H(SHA256.HashData(Reference.ParameterPreimage(p.N, p.PlainModulusBits, p.Primes))), bytes.AsSpan(8, 32));
        Expect.Equal(what + " n", (uint)p.N, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(40)));
        Expect.Equal(what + " limbs", (ushort)p.Primes.Count, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(44)));
        Expect.Equal(what + " polynomials", (ushort)polys, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(46)));
        Expect.Equal(what + " context length", (uint)contextLength, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(48)));
        // Kinds 10 and 11 (compact ciphertext and decryption share switched to 2^64) hold n u64 words per polynomial; every
        // other kind packed residues.
        long polyBytes = kind is 10 or 11 ? 8L * p.N : p.Primes.Sum(q => ((long)p.N * RlweSets.Bits(q) + 7) / 8);
        Expect.Equal(what + " payload length", (uint)(polys * polyBytes), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(52)));
        Expect.Equal(what + " total length", HeaderSize + contextLength + polys * polyBytes + DigestSize, (long)bytes.Length);
        Expect.Hex(what + " digest = SHA-256(preceding bytes)[0..16)", J.H(SHA256.HashData(bytes.AsSpan(0, bytes.Length - DigestSize)).AsSpan(0, DigestSize)), bytes.AsSpan(bytes.Length - DigestSize));
        return bytes.AsSpan(HeaderSize, contextLength).ToArray();
    }

    /// <summary>Unpacks polynomial <paramref name="index"/>: limb-major, bitlen(q_i)-bit residues LSB-first, each limb padded to a byte.</summary>
    public static ulong[][] Poly(byte[] bytes, RlweParameters p, int contextLength, int index)
    {
        int offset = HeaderSize + contextLength;
        long polyBytes = p.Primes.Sum(q => ((long)p.N * RlweSets.Bits(q) + 7) / 8);
        offset += (int)(index * polyBytes);
        var limbs = new ulong[p.Primes.Count][];
        for (int i = 0; i < limbs.Length; i++)
        {
            int width = RlweSets.Bits(p.Primes[i]), length = (p.N * width + 7) / 8;
            limbs[i] = Reference.UnpackBits(bytes.AsSpan(offset, length), p.N, width);
            Expect.True(limbs[i].All(v => v < p.Primes[i]), $"limb {i}: every residue must be below its prime");
            offset += length;
        }
        return limbs;
    }

    public static string Prefix(byte[] bytes, int contextLength) => J.H(bytes.AsSpan(0, HeaderSize + contextLength));

    /// <summary>Word <paramref name="index"/> of a kind-10 or kind-11 payload (u64 little-endian after the context).</summary>
    public static ulong Word(byte[] bytes, int contextLength, int index) =>
        BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(HeaderSize + contextLength + 8 * index, 8));

    public static JsonObject Describe(byte[] bytes, int contextLength) => new()
    {
        ["length"] = bytes.Length,
        ["sha256"] = J.H(SHA256.HashData(bytes)),
        ["header_and_context"] = Prefix(bytes, contextLength),
        ["digest"] = J.H(bytes.AsSpan(bytes.Length - DigestSize)),
    };

    public static void Match(string what, JsonElement expected, byte[] bytes, int contextLength)
    {
        Expect.Equal(what + " length", expected.Int("length"), bytes.Length);
        Expect.Hex(what + " header and context", expected.Str("header_and_context"), bytes.AsSpan(0, HeaderSize + contextLength));
        Expect.Hex(what + " digest", expected.Str("digest"), bytes.AsSpan(bytes.Length - DigestSize));
        Expect.Hex(what + " SHA-256", expected.Str("sha256"), SHA256.HashData(bytes));
    }
}

internal sealed class CiphertextVectors : IVectorFile
{
    public string Path => "rlwe/ciphertext.json";
    public bool Generated => true;
    private const int Count = 16;

    /// <summary>A seeded BFV encryption of <paramref name="values"/> (kind 1): the ciphertext bytes, the public key bytes and the
    /// decryption; rlwe/retired-kinds.json builds its control with it too.</summary>
    internal static (byte[] Ct, byte[] Pk, ulong[] Decrypted) Build(RlweParameters p, string sk, string pk, string enc, ulong[] values)
    {
        var bfv = new Bfv(p);
        using var skRng = DeterministicRandom.FromLabel(sk);
        using var pkRng = DeterministicRandom.FromLabel(pk);
        using var encRng = DeterministicRandom.FromLabel(enc);
        using SecretKey key = bfv.GenerateSecretKey(skRng);
        PublicKey pub = bfv.GeneratePublicKey(key, pkRng);
        Ciphertext ct = bfv.Encrypt(pub, values, encRng);
        byte[] bytes = BfvSerializer.Serialize(ct);
        var d = new ulong[values.Length];
        bfv.Decrypt(key, BfvSerializer.DeserializeCiphertext(p, bytes), d);
        return (bytes, BfvSerializer.Serialize(pub), d);
    }

    public JsonObject Generate()
    {
        RlweParameters p = ParameterSets.Default;
        ulong[] values = Reference.ModPow2(Fixed.Bytes("rlwe/plaintext"), Count, p.PlainModulusBits);
        const string sk = "conformance/rlwe/secret-key", pk = "conformance/rlwe/public-key", enc = "conformance/rlwe/encrypt";
        var (ct, pub, dec) = Build(p, sk, pk, enc, values);
        return new JsonObject
        {
            ["description"] = "A seeded public-key BFV encryption over the default set (SPEC.md section 12 \"RLWE objects\", FV ePrint 2012/144 section 3): secret key s ternary from DeterministicRandom.FromLabel(secret_key_label) (bytes >= 255 rejected, s_j = byte mod 3 - 1), public key from public_key_label, encryption randomness from encrypt_label; plaintext = the listed values mod t = 2^44 in coefficients 0..15, zero elsewhere, Delta*m = round(Q*m/t). Envelope: \"FFRL\" | version 2 | kind (1 = ciphertext, 3 = public key) | flags (bit 0: NTT domain) | reserved 0 | parameter hash (32) | n u32 LE | limbs u16 LE | polynomials u16 LE | context length u32 LE | payload length u32 LE | context | per polynomial, per limb, n residues of bitlen(q_i) bits LSB-first, limb padded to a byte | SHA-256(all preceding bytes)[0..16) (corruption check, not an authenticator). Ciphertexts travel in the coefficient domain (c0, c1), public keys in the NTT domain. Large objects as SHA-256 plus header bytes. Generated by `fraudfed vectors generate` (Bfv, BfvSerializer).",
            ["parameter_set"] = p.Name,
            ["secret_key_label"] = sk,
            ["public_key_label"] = pk,
            ["encrypt_label"] = enc,
            ["plaintext"] = J.DArray(values),
            ["public_key"] = Envelope.Describe(pub, 0),
            ["ciphertext"] = Envelope.Describe(ct, 0),
            ["decrypted"] = J.DArray(dec),
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        ulong[] values = root.U64s("plaintext");
        (byte[] Ct, byte[] Pk, ulong[] Decrypted)? built = null;
        RlweParameters P() => RlweSets.ByName(root.Str("parameter_set"));
        (byte[] Ct, byte[] Pk, ulong[] Decrypted) Get() => built ??= Build(P(), root.Str("secret_key_label"), root.Str("public_key_label"), root.Str("encrypt_label"), values);
        yield return new CheckCase("encrypt", () =>
        {
            var (ct, pk, _) = Get();
            Envelope.Match("public key", root.GetProperty("public_key"), pk, 0);
            Envelope.Match("ciphertext", root.GetProperty("ciphertext"), ct, 0);
        });
        yield return new CheckCase("envelope", () =>
        {
            var (ct, pk, _) = Get();
            Expect.Hex("ciphertext SHA-256", root.GetProperty("ciphertext").Str("sha256"), SHA256.HashData(ct));
            Envelope.CheckHeader("ciphertext", ct, P(), 1, ntt: false, 2, 0);
            Envelope.CheckHeader("public key", pk, P(), 3, ntt: true, 2, 0);
        });
        yield return new CheckCase("decrypt/reference", () =>
        {
            RlweParameters p = P();
            var (ct, _, _) = Get();
            Expect.Hex("ciphertext SHA-256", root.GetProperty("ciphertext").Str("sha256"), SHA256.HashData(ct));
            ulong[][] c0 = Envelope.Poly(ct, p, 0, 0), c1 = Envelope.Poly(ct, p, 0, 1);
            // s from the secret-key randomness: bytes below 255, s_j = byte mod 3 - 1.
            var s = new int[p.N];
            using (var rng = DeterministicRandom.FromLabel(root.Str("secret_key_label")))
            {
                var one = new byte[1];
                for (int j = 0; j < p.N;) { rng.GetBytes(one); if (one[0] < 255) s[j++] = one[0] % 3 - 1; }
            }
            // phase = c0 + c1 * s in Z_q[X]/(X^n + 1), schoolbook (s is ternary: additions only).
            var phase = new ulong[p.Primes.Count][];
            for (int i = 0; i < phase.Length; i++)
            {
                ulong q = p.Primes[i];
                ulong[] acc = (ulong[])c0[i].Clone(), c = c1[i];
                for (int j = 0; j < p.N; j++)
                {
                    if (s[j] == 0) continue;
                    for (int m = 0; m < p.N; m++)
                    {
                        int d = j + m;
                        bool negate = (d >= p.N) ^ (s[j] < 0);
                        if (d >= p.N) d -= p.N;
                        ulong v = c[m];
                        acc[d] = negate ? (acc[d] >= v ? acc[d] - v : acc[d] + q - v) : (acc[d] + v >= q ? acc[d] + v - q : acc[d] + v);
                    }
                }
                phase[i] = acc;
            }
            BigInteger Q = p.Primes.Aggregate(BigInteger.One, (a, q) => a * q), t = BigInteger.One << p.PlainModulusBits;
            var m2 = new ulong[p.N];
            for (int j = 0; j < p.N; j++)
            {
                BigInteger x = 0;
                for (int i = 0; i < phase.Length; i++)
                {
                    BigInteger qi = p.Primes[i], qHat = Q / qi;
                    x += phase[i][j] * qHat * BigInteger.ModPow(qHat % qi, qi - 2, qi);
                }
                x %= Q;
                m2[j] = (ulong)((t * x + Q / 2) / Q % t);
            }
            Expect.Values("decryption round(t * [c0 + c1 s]_Q / Q) mod t", values, m2.AsSpan(0, values.Length));
            Expect.True(m2.Skip(values.Length).All(v => v == 0), "coefficients beyond the plaintext must decrypt to 0");
        });
        yield return new CheckCase("decrypt/library", () =>
        {
            Expect.Values("Bfv.Decrypt", root.U64s("decrypted"), Get().Decrypted);
            Expect.Values("decrypted = plaintext", values, root.U64s("decrypted"));
        });
        yield return new CheckCase("tamper", () =>
        {
            RlweParameters p = P();
            byte[] ct = Get().Ct;
            foreach (var (offset, reasons) in new[] { (Envelope.HeaderSize + 5, new[] { ViolationReason.Malformed }), (ct.Length - 1, new[] { ViolationReason.Malformed }), (8, new[] { ViolationReason.Inconsistent }), (5, new[] { ViolationReason.Malformed }) })
            {
                byte[] bad = (byte[])ct.Clone();
                bad[offset] ^= 0x04;
                Expect.Refused($"ciphertext with a bit of byte {offset} flipped", () => BfvSerializer.DeserializeCiphertext(p, bad), reasons);
            }
        });
    }
}

internal sealed class ThresholdVectors : IVectorFile
{
    public string Path => "rlwe/threshold-decryption.json";
    public bool Generated => true;
    private const int Banks = 3, T = 2, KMin = 2, Count = 16;
    private const ulong Round = 1;
    private const uint Chunk = 0;
    private static readonly int[] Active = [0, 1], Contributors = [0, 1, 2];

    private const int HeadCoefficients = 4;

    private sealed record Artifacts(CompactScheme Scheme, byte[][] Ciphertexts, byte[][] CiphertextsOneStep, byte[][][] Points, byte[][] DecryptionShares, ThresholdKeyShare[] KeyShares,
        CompactCiphertext Sum, ulong[] Result, int SmudgingBits, RnsPoly[] Unswitched);

    private static Artifacts Build(RlweParameters p, byte[] crsSeed, ulong[][] values, string label)
    {
        var scheme = new CompactScheme(p, crsSeed);
        var bfv = new Bfv(p);
        var thr = new Thresholdizer(p);
        var policy = new DecryptionPolicy { Threshold = T, MinContributors = KMin, MaxColluders = 0 };
        var keys = new SecretKey[Banks];
        var polys = new ShamirPolynomial[Banks];
        for (int b = 0; b < Banks; b++)
        {
            using (var rng = DeterministicRandom.FromLabel($"{label}/secret-key/{b}")) keys[b] = bfv.GenerateSecretKey(rng);
            using (var rng = DeterministicRandom.FromLabel($"{label}/shamir/{b}")) polys[b] = thr.GenShamirPolynomial(T, keys[b], rng);
        }
        var points = new FraudFed.Cryptography.Threshold.ShamirShare[Banks][]; // [to][from]
        for (int j = 0; j < Banks; j++) points[j] = Enumerable.Range(0, Banks).Select(b => thr.GenShareForParty(polys[b], b, j)).ToArray();
        var keyShares = new ThresholdKeyShare[Banks];
        for (int j = 0; j < Banks; j++)
            using (var rng = DeterministicRandom.FromLabel($"{label}/smudging-key/{j}")) keyShares[j] = new ThresholdKeyShare(scheme, j, Banks, policy, points[j], rng);
        var cts = new byte[Banks][];
        for (int b = 0; b < Banks; b++)
            using (var rng = DeterministicRandom.FromLabel($"{label}/encrypt/{b}")) cts[b] = scheme.Encrypt(keys[b], b, Round, Chunk, values[b], rng).Serialize();
        var oneStep = new byte[Banks][];
        for (int b = 0; b < Banks; b++)
            using (var rng = DeterministicRandom.FromLabel($"{label}/encrypt/{b}")) oneStep[b] = scheme.EncryptToBytes(keys[b], b, Round, Chunk, values[b], rng);
        CompactCiphertext sum = scheme.AllocateSum(Round, Chunk);
        foreach (int b in Contributors) scheme.AddSerialized(sum, cts[b], b);
        byte[][] shares = Active.Select(j => keyShares[j].GenDecryptionShare(Round, Chunk, Contributors, Active)).ToArray();
        RnsPoly[] unswitched = Active.Select(j => keyShares[j].GenUnswitchedShare(Round, Chunk, Contributors, Active)).ToArray();
        var result = new ulong[Count];
        ThresholdCombiner.Combine(scheme, sum, Contributors, Active, shares, result);
        byte[][][] pointBytes = points.Select(row => row.Select(x => x.Serialize()).ToArray()).ToArray();
        foreach (SecretKey k in keys) k.Dispose();
        foreach (ShamirPolynomial x in polys) x.Dispose();
        return new Artifacts(scheme, cts, oneStep, pointBytes, shares, keyShares, sum, result, keyShares[0].SmudgingBits, unswitched);
    }

    public JsonObject Generate()
    {
        RlweParameters p = ParameterSets.Default;
        byte[] seed = Fixed.Bytes("threshold/crs-seed");
        const string label = "conformance/threshold";
        ulong[][] values = Enumerable.Range(0, Banks).Select(b => Reference.ModPow2(Fixed.Bytes($"threshold/values/{b}"), Count, p.PlainModulusBits)).ToArray();
        Artifacts a = Build(p, seed, values, label);
        try
        {
            return new JsonObject
            {
                ["description"] = "A seeded threshold decryption of a compact-ciphertext sum over the default set (SPEC.md sections 12 and 12.0, compact variant; ePrint 2022/780). 3 banks, T = 2, K_min = 2, contributors U = {0,1,2}, active set D = {0,1}, round 1, chunk 0. Bank b: secret key from DeterministicRandom.FromLabel(label/secret-key/b), Shamir polynomial of its key from label/shamir/b (Thresholdizer; point for bank j at x = j + 1, NTT domain), smudging key from label/smudging-key/b, compact ciphertext c0 = -a_{1,0} s_b + e + Delta*m_b from label/encrypt/b, uploaded switched to 2^64 (SPEC.md 12.0 step 4: n u64 LE words, rlwe/modulus-switch.json). Session tag = SHA-256(CRS seed)[0..16). Envelope contexts: compact ciphertext (kind 10, coefficient domain, payload n u64 LE words) = tag || round u64 LE || chunk u32 LE || sender i32 LE; Shamir point (kind 5, NTT domain) = from i32 LE || to i32 LE; decryption share (kind 11, coefficient domain, payload n u64 LE words) = tag || round || chunk || sender || fingerprint, fingerprint = SHA-256(ASCII \"FraudFed decryption request v1\" || tag || round u64 LE || chunk u32 LE || |U| i32 LE || U ascending i32 LE || |D| i32 LE || D ascending i32 LE). Share h_j = lambda_j(D) * sum_{i in U} f_i(x_j) * a + smudging uniform in [-(2^b - 1), 2^b - 1] mod Q, b = smudging_bits, sent switched to 2^64: word j = round(2^64 h_j[j] / Q) mod 2^64 by the fixed-point rule of SPEC.md 12.0 step 4 (rlwe/modulus-switch.json; within 1/2 + 2^-60 of 2^64 h / Q); head_residues / head_words: the residues of h_j and its words for coefficients 0..3. result: W = C0' + sum of the shares' words mod 2^64 (C0' = the sum of the uploaded words mod 2^64), result_j = (W_j + 2^(63-k)) >> (64-k), k = 44, = sum of the values mod 2^44. Generated by `fraudfed vectors generate` (CompactScheme, Thresholdizer, ThresholdKeyShare, ThresholdCombiner).",
                ["parameter_set"] = p.Name,
                ["label"] = label,
                ["crs_seed"] = J.H(seed),
                ["session_tag"] = J.H(a.Scheme.SessionTag),
                ["threshold"] = T,
                ["min_contributors"] = KMin,
                ["round"] = J.D(Round),
                ["chunk"] = Chunk,
                ["contributors"] = J.IArray(Contributors),
                ["active"] = J.IArray(Active),
                ["smudging_bits"] = a.SmudgingBits,
                ["values"] = J.Array(values.Select(v => (JsonNode)J.DArray(v))),
                ["ciphertexts"] = J.Array(a.Ciphertexts.Select(c => (JsonNode)Envelope.Describe(c, 32))),
                ["shamir_points"] = J.Array(Enumerable.Range(0, Banks).SelectMany(j => Enumerable.Range(0, Banks).Select(b =>
                {
                    JsonObject o = Envelope.Describe(a.Points[j][b], 8);
                    o["from"] = b; o["to"] = j;
                    return (JsonNode)o;
                }))),
                ["fingerprint"] = J.H(DecryptionShare.ComputeFingerprint(a.Scheme.SessionTag, Round, Chunk, Contributors, Active)),
                ["decryption_shares"] = J.Array(a.DecryptionShares.Select((s, i) =>
                {
                    JsonObject o = Envelope.Describe(s, 64);
                    o["sender"] = Active[i];
                    o["head_residues"] = J.Array(Enumerable.Range(0, HeadCoefficients).Select(j =>
                        (JsonNode)J.DArray(Enumerable.Range(0, p.Primes.Count).Select(l => a.Unswitched[i].Limb(l)[j]).ToArray())));
                    o["head_words"] = J.DArray(Enumerable.Range(0, HeadCoefficients).Select(j => Envelope.Word(s, 64, j)).ToArray());
                    return (JsonNode)o;
                })),
                ["result"] = J.DArray(a.Result),
            };
        }
        finally { foreach (ThresholdKeyShare k in a.KeyShares) k.Dispose(); }
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        Artifacts? built = null;
        RlweParameters P() => RlweSets.ByName(root.Str("parameter_set"));
        ulong[][] values = root.Arr("values").Select(v => v.EnumerateArray().Select(x => ulong.Parse(x.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Artifacts Get() => built ??= Build(P(), root.Hex("crs_seed"), values, root.Str("label"));
        byte[] tag = SHA256.HashData(root.Hex("crs_seed"))[..16];
        ulong round = root.U64("round");
        uint chunk = (uint)root.Int("chunk");
        int[] u = root.Ints("contributors"), d = root.Ints("active");

        yield return new CheckCase("policy", () =>
        {
            Expect.Hex("session tag = SHA-256(CRS seed)[0..16)", root.Str("session_tag"), tag);
            RlweParameters p = P();
            var policy = new DecryptionPolicy { Threshold = root.Int("threshold"), MinContributors = root.Int("min_contributors"), MaxColluders = 0 };
            int bits = policy.StatisticalSecurity + CeilLog2((ulong)p.N) + CeilLog2((ulong)policy.Budget) + CeilLog2((ulong)policy.MaxContributors * Samplers.GaussianBound);
            Expect.Equal("smudging bits = lambda + log n + log budget + log(K_max * 19)", root.Int("smudging_bits"), bits);
            Expect.Equal("smudging bits (SmudgingLemma)", bits, SmudgingLemma.Bits(p, policy));
        });
        yield return new CheckCase("ciphertexts", () =>
        {
            JsonElement[] cts = root.Arr("ciphertexts");
            for (int b = 0; b < cts.Length; b++)
            {
                byte[] bytes = Get().Ciphertexts[b];
                Envelope.Match($"compact ciphertext of bank {b}", cts[b], bytes, 32);
                Envelope.Match($"compact ciphertext of bank {b} (CompactScheme.EncryptToBytes)", cts[b], Get().CiphertextsOneStep[b], 32);
                byte[] ctx = Envelope.CheckHeader($"compact ciphertext of bank {b}", bytes, P(), 10, ntt: false, 1, 32);
                Expect.Hex($"compact ciphertext of bank {b} context", J.H(Reference.Concat(tag, Reference.U64Le(round), Reference.U32Le(chunk), Reference.U32Le((uint)b))), ctx);
            }
        });
        yield return new CheckCase("shamir-points", () =>
        {
            foreach (JsonElement e in root.Arr("shamir_points"))
            {
                int from = e.Int("from"), to = e.Int("to");
                byte[] bytes = Get().Points[to][from];
                Envelope.Match($"point {from}->{to}", e, bytes, 8);
                byte[] ctx = Envelope.CheckHeader($"point {from}->{to}", bytes, P(), 5, ntt: true, 1, 8);
                Expect.Hex($"point {from}->{to} context", J.H(Reference.Concat(Reference.U32Le((uint)from), Reference.U32Le((uint)to))), ctx);
            }
        });
        yield return new CheckCase("decryption-shares", () =>
        {
            var h = new List<byte>();
            h.AddRange(Encoding.ASCII.GetBytes("FraudFed decryption request v1"));
            h.AddRange(tag); h.AddRange(Reference.U64Le(round)); h.AddRange(Reference.U32Le(chunk));
            foreach (int[] set in new[] { u, d }) { h.AddRange(Reference.U32Le((uint)set.Length)); foreach (int x in set.Order()) h.AddRange(Reference.U32Le((uint)x)); }
            byte[] fingerprint = SHA256.HashData(h.ToArray());
            Expect.Hex("request fingerprint", root.Str("fingerprint"), fingerprint);
            JsonElement[] shares = root.Arr("decryption_shares");
            RlweParameters p = P();
            var reference = new SwitchReference(p);
            for (int i = 0; i < shares.Length; i++)
            {
                int sender = shares[i].Int("sender");
                byte[] bytes = Get().DecryptionShares[i];
                Envelope.Match($"decryption share of bank {sender}", shares[i], bytes, 64);
                byte[] ctx = Envelope.CheckHeader($"decryption share of bank {sender}", bytes, P(), 11, ntt: false, 1, 64);
                Expect.Hex($"decryption share of bank {sender} context", J.H(Reference.Concat(tag, Reference.U64Le(round), Reference.U32Le(chunk), Reference.U32Le((uint)sender), fingerprint)), ctx);
                // The switch from first principles (SPEC.md 12.0 steps 4-5): every word is the fixed-point rule applied to
                // the residues of h_j, and within 1/2 + 2^-60 of 2^64 h / Q (BigInteger, h by CRT), for the head listed in the
                // vector and for all n words of the library's unswitched h_j.
                JsonElement[] head = shares[i].Arr("head_residues");
                ulong[] headWords = shares[i].U64s("head_words");
                for (int j = 0; j < head.Length; j++)
                {
                    ulong[] residues = head[j].EnumerateArray().Select(x => ulong.Parse(x.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                    Expect.Equal($"share {sender}: word {j} in the payload", headWords[j], Envelope.Word(bytes, 64, j));
                    Expect.Equal($"share {sender}: word {j} = switch of its residues", headWords[j], reference.Word(residues));
                }
                RnsPoly unswitched = Get().Unswitched[i];
                for (int j = 0; j < p.N; j++)
                {
                    ulong[] residues = Enumerable.Range(0, p.Primes.Count).Select(l => unswitched.Limb(l)[j]).ToArray();
                    if (j < head.Length)
                        Expect.Equal($"share {sender}: head residues of coefficient {j}", string.Join(",", head[j].EnumerateArray().Select(x => x.GetString())), string.Join(",", residues));
                    Expect.Equal($"share {sender}: word {j} = round(2^64 h / Q) by the fixed-point rule", reference.Word(residues), Envelope.Word(bytes, 64, j));
                }
            }
        });
        yield return new CheckCase("combine", () =>
        {
            int k = P().PlainModulusBits;
            ulong mask = (1UL << k) - 1;
            var expected = new ulong[values[0].Length];
            foreach (int b in u) for (int i = 0; i < expected.Length; i++) expected[i] = (expected[i] + values[b][i]) & mask;
            Expect.Values("result = sum of the contributors' values mod t", expected, root.U64s("result"));
            // From the bytes alone (SPEC.md 12.0 step 7): W = the uploads' words + the shares' words mod 2^64, then
            // round(2^k W / 2^64) mod 2^k, in BigInteger.
            Artifacts a = Get();
            BigInteger two64 = BigInteger.One << 64;
            var fromBytes = new ulong[expected.Length];
            for (int j = 0; j < expected.Length; j++)
            {
                BigInteger w = 0;
                foreach (int b in u) w += Envelope.Word(a.Ciphertexts[b], 32, j);
                foreach (byte[] share in a.DecryptionShares) w += Envelope.Word(share, 64, j);
                w %= two64;
                fromBytes[j] = (ulong)((((w << k) + (BigInteger.One << 63)) / two64) % (BigInteger.One << k));
            }
            Expect.Values("result = round(2^k (C0' + sum h_j') / 2^64) mod 2^k (BigInteger, from the bytes)", root.U64s("result"), fromBytes);
            var result = new ulong[expected.Length];
            ThresholdCombiner.Combine(a.Scheme, a.Sum, u, d, a.DecryptionShares, result);
            Expect.Values("ThresholdCombiner.Combine", root.U64s("result"), result);
        });
        yield return new CheckCase("refusals", () =>
        {
            Artifacts a = Get();
            // The bank's rule (SPEC.md 12.3): one (U, D) per (round, chunk), identical bytes for the same request.
            var guard = new FraudFed.Protocol.Homomorphic.DecryptionGuard(a.KeyShares[d[0]], new FraudFed.Protocol.Homomorphic.InMemoryDecryptionLedger());
            Expect.Hex("the first answer is the vector's share", J.H(a.DecryptionShares[0]), guard.GenDecryptionShare(round, chunk, u, d));
            Expect.Hex("a repeated request gets the same bytes", J.H(a.DecryptionShares[0]), guard.GenDecryptionShare(round, chunk, u, d));
            int other = Enumerable.Range(0, u.Length).First(x => !d.Contains(x));
            Expect.Refused("the same ciphertext under another active set", () => guard.GenDecryptionShare(round, chunk, u, [d[0], other]), ViolationReason.Refused);
            Expect.Refused("the same ciphertext for another contributor set", () => guard.GenDecryptionShare(round, chunk, u.Where(x => x != other).ToArray(), d), ViolationReason.Refused);
            Expect.Refused("a single bank's ciphertext", () => guard.GenDecryptionShare(round, chunk + 1, [u[0]], d), ViolationReason.TooFewParticipants);
            // A share whose fingerprint names another request (digest recomputed, so only the context check can catch it).
            byte[] bad = (byte[])a.DecryptionShares[1].Clone();
            bad[Envelope.HeaderSize + 16 + 8 + 4 + 4] ^= 0x01;
            SHA256.HashData(bad.AsSpan(0, bad.Length - Envelope.DigestSize)).AsSpan(0, Envelope.DigestSize).CopyTo(bad.AsSpan(bad.Length - Envelope.DigestSize));
            Expect.Refused("a share answering another request", () => ThresholdCombiner.Combine(a.Scheme, a.Sum, u, d, [a.DecryptionShares[0], bad], new ulong[4]), ViolationReason.Inconsistent);
            byte[] flipped = (byte[])a.DecryptionShares[1].Clone();
            flipped[Envelope.HeaderSize + 64 + 3] ^= 0x10;
            Expect.Refused("a share with one payload bit flipped", () => ThresholdCombiner.Combine(a.Scheme, a.Sum, u, d, [a.DecryptionShares[0], flipped], new ulong[4]),
                ViolationReason.Malformed);
            // The retired kind 6 (h_j as packed residues) is refused, even with a valid digest.
            byte[] kind6 = (byte[])a.DecryptionShares[1].Clone();
            kind6[5] = 6;
            SHA256.HashData(kind6.AsSpan(0, kind6.Length - Envelope.DigestSize)).AsSpan(0, Envelope.DigestSize).CopyTo(kind6.AsSpan(kind6.Length - Envelope.DigestSize));
            Expect.Refused("a share of the retired kind 6", () => ThresholdCombiner.Combine(a.Scheme, a.Sum, u, d, [a.DecryptionShares[0], kind6], new ulong[4]), ViolationReason.Malformed);
        });
    }

    private static int CeilLog2(ulong x) => x <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount(x - 1);
}

internal sealed class CollectiveKeyVectors : IVectorFile
{
    public string Path => "rlwe/collective-public-key.json";
    public bool Generated => true;
    private const int Banks = 3;

    private static (byte[][] Shares, byte[] PublicKey) Build(RlweParameters p, byte[] crsSeed, string label)
    {
        var bfv = new Bfv(p);
        var ckg = new PublicKeyGenProtocol(p);
        RnsPoly a = CommonRandomness.Expand(p, crsSeed, CrpPurpose.PublicKey, 0, 0);
        PublicKeyShare aggregate = ckg.AllocateShare();
        var shares = new byte[Banks][];
        for (int b = 0; b < Banks; b++)
        {
            using SecretKey sk = GenerateKey(bfv, $"{label}/secret-key/{b}");
            using var rng = DeterministicRandom.FromLabel($"{label}/public-key-share/{b}");
            PublicKeyShare share = ckg.GenShare(b, sk, a, rng);
            shares[b] = share.Serialize();
            ckg.AggregateShares(PublicKeyShare.Deserialize(p, shares[b]), aggregate);
        }
        return (shares, BfvSerializer.Serialize(ckg.GenPublicKey(aggregate, a)));
    }

    private static SecretKey GenerateKey(Bfv bfv, string label)
    {
        using var rng = DeterministicRandom.FromLabel(label);
        return bfv.GenerateSecretKey(rng);
    }

    public JsonObject Generate()
    {
        RlweParameters p = ParameterSets.Default;
        byte[] seed = Fixed.Bytes("ckg/crs-seed");
        const string label = "conformance/ckg";
        var (shares, pk) = Build(p, seed, label);
        return new JsonObject
        {
            ["description"] = "Collective public-key generation of the threshold mode (SPEC.md section 12.0 step 2; Mouchet et al. PETS 2021 section 4.2) over the default set: bank b's secret key from DeterministicRandom.FromLabel(label/secret-key/b), its share p_b = -a*s_b + e_b (NTT domain) with randomness label/public-key-share/b, a = the CRS polynomial for purpose 1 (public key), round 0, chunk 0 (rlwe/crs.json rule) from crs_seed. Share envelope: kind 4, NTT flag, context = bank i32 LE; its commitment (published before the share) = SHA-256(serialized share). Collective key = (sum of the p_b, a), kind 3, NTT flag, no context. Large objects as SHA-256 plus header bytes and the envelope digest. Generated by `fraudfed vectors generate` (PublicKeyGenProtocol).",
            ["parameter_set"] = p.Name,
            ["label"] = label,
            ["crs_seed"] = J.H(seed),
            ["shares"] = J.Array(shares.Select((s, b) =>
            {
                JsonObject o = Envelope.Describe(s, 4);
                o["bank"] = b;
                o["commitment"] = J.H(SHA256.HashData(s));
                return (JsonNode)o;
            })),
            ["public_key"] = Envelope.Describe(pk, 0),
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        (byte[][] Shares, byte[] PublicKey)? built = null;
        RlweParameters P() => RlweSets.ByName(root.Str("parameter_set"));
        (byte[][] Shares, byte[] PublicKey) Get() => built ??= Build(P(), root.Hex("crs_seed"), root.Str("label"));
        yield return new CheckCase("shares", () =>
        {
            JsonElement[] shares = root.Arr("shares");
            for (int b = 0; b < shares.Length; b++)
            {
                byte[] bytes = Get().Shares[b];
                Envelope.Match($"share of bank {b}", shares[b], bytes, 4);
                byte[] ctx = Envelope.CheckHeader($"share of bank {b}", bytes, P(), 4, ntt: true, 1, 4);
                Expect.Hex($"share of bank {b} context", J.H(Reference.U32Le((uint)b)), ctx);
                Expect.Hex($"commitment of bank {b}", shares[b].Str("commitment"), SHA256.HashData(bytes));
                Expect.Hex($"commitment of bank {b} (PublicKeyShare.Commitment)", shares[b].Str("commitment"), PublicKeyShare.Deserialize(P(), bytes).Commitment());
            }
        });
        yield return new CheckCase("public-key", () =>
        {
            RlweParameters p = P();
            byte[] pk = Get().PublicKey;
            Envelope.Match("collective public key", root.GetProperty("public_key"), pk, 0);
            Envelope.CheckHeader("collective public key", pk, p, 3, ntt: true, 2, 0);
            // p0 = sum of the shares' polynomials; p1 = a, expanded independently from the CRS seed.
            ulong[][] p0 = Envelope.Poly(pk, p, 0, 0), p1 = Envelope.Poly(pk, p, 0, 1);
            ulong[][][] shares = Get().Shares.Select(s => Envelope.Poly(s, p, 4, 0)).ToArray();
            for (int i = 0; i < p.Primes.Count; i++)
                for (int j = 0; j < p.N; j++)
                {
                    UInt128 sum = 0;
                    foreach (ulong[][] s in shares) sum += s[i][j];
                    Expect.True((ulong)(sum % p.Primes[i]) == p0[i][j], $"p0 limb {i} coefficient {j} must be the sum of the shares");
                }
            byte[] key = SHA256.HashData(Reference.Concat(Encoding.ASCII.GetBytes("FraudFed CRP v1"), SHA256.HashData(Reference.ParameterPreimage(p.N, p.PlainModulusBits, p.Primes)),
                root.Hex("crs_seed"), [1], Reference.U64Le(0), Reference.U32Le(0)));
            var stream = new Reference.Stream(key);
            for (int i = 0; i < p.Primes.Count; i++)
                Expect.Values($"p1 limb {i} = the CRS polynomial a", Reference.UniformLimb(stream, p.N, p.Primes[i]), p1[i]);
        });
        yield return new CheckCase("tamper", () =>
        {
            byte[] bad = (byte[])Get().Shares[0].Clone();
            bad[Envelope.HeaderSize + 4 + 10] ^= 0x01;
            Expect.Refused("a share with one bit flipped", () => PublicKeyShare.Deserialize(P(), bad), ViolationReason.Malformed);
            Expect.True(!SHA256.HashData(bad).AsSpan().SequenceEqual(root.Arr("shares")[0].Hex("commitment")), "a changed share must not open its commitment");
        });
    }
}
