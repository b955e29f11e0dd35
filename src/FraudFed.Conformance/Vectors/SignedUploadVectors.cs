// Vectors of the homomorphic mode's signatures (SPEC.md 12.2): each bank's signed upload manifest and the aggregator's
// signed contributor lists, from fixed Ed25519 seeds and fixed upload bytes. The reference side builds every body from
// the SPEC's layout by hand and signs "label || SHA-256(body)" (manifests) or "label || round digest" (the round's lists)
// with RFC 8032 Ed25519 (deterministic, so the bytes are pinned); the library side must produce the same bytes and accept them, and refuse each one-bit flip.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Conformance.Vectors;

internal sealed class SignedUploadVectors : IVectorFile
{
    private const int Banks = 3, Chunks = 2;
    private const ulong Round = 7;
    private const byte Kind = 10; // compact ciphertexts (switched to 2^64)

    public string Path => "rlwe/signed-uploads.json";
    public bool Generated => true;

    private static byte[] ManifestBody(byte[] tag, ulong round, byte kind, int sender, byte[][] digests)
    {
        var fixedPart = new byte[33];
        tag.CopyTo(fixedPart, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(fixedPart.AsSpan(16), round);
        fixedPart[24] = kind;
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart.AsSpan(25), sender);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart.AsSpan(29), (uint)digests.Length);
        return Reference.Concat([fixedPart, .. digests]);
    }

    private static byte[] ListBody(byte[] tag, ulong round, uint chunk, byte kind, (int Sender, byte[] Digest)[] entries)
    {
        var fixedPart = new byte[31];
        tag.CopyTo(fixedPart, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(fixedPart.AsSpan(16), round);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart.AsSpan(24), chunk);
        fixedPart[28] = kind;
        BinaryPrimitives.WriteUInt16LittleEndian(fixedPart.AsSpan(29), (ushort)entries.Length);
        var parts = new List<byte[]> { fixedPart };
        foreach (var (sender, digest) in entries)
        {
            var s = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(s, sender);
            parts.Add(s);
            parts.Add(digest);
        }
        return Reference.Concat([.. parts]);
    }

    /// <summary>Reference signing: Ed25519 (RFC 8032) over label || SHA-256(body), appended to the body.</summary>
    private static byte[] SignReference(byte[] seed, string label, byte[] body)
    {
        using var key = Ed25519SigningKey.Import(seed);
        return Reference.Concat(body, key.Sign(Reference.Concat(Encoding.ASCII.GetBytes(label), SHA256.HashData(body))));
    }

    // The upload digest of SPEC.md 12.2, computed here from its definition: SHA-256 of all bytes but the 16-byte trailer.
    private static byte[] UploadDigest(byte[] upload) => SHA256.HashData(upload.AsSpan(0, upload.Length - 16));

    // Stand-in uploads: 48 fixed bytes followed by the 16-byte trailer of an envelope (the first half of their digest).
    private static byte[][] Uploads(int bank) =>
        Enumerable.Range(0, Chunks).Select(k => Fixed.Bytes($"signed-uploads/upload/{bank}/{k}", 48)).Select(b => Reference.Concat(b, SHA256.HashData(b)[..16])).ToArray();

    public JsonObject Generate()
    {
        byte[] tag = Fixed.Bytes("signed-uploads/session-tag", 16);
        byte[] aggregatorSeed = Fixed.Bytes("signed-uploads/aggregator");
        byte[][] seeds = Enumerable.Range(0, Banks).Select(b => Fixed.Bytes($"signed-uploads/bank/{b}")).ToArray();
        var banks = new JsonArray();
        var accepted = new List<(int Sender, byte[][] Digests)>();
        for (int b = 0; b < Banks; b++)
        {
            using var key = Ed25519SigningKey.Import(seeds[b]);
            byte[][] uploads = Uploads(b);
            byte[] manifest = UploadManifest.Sign(key, tag, Round, (RlweObjectKind)Kind, b, uploads);
            accepted.Add((b, uploads.Select(UploadDigest).ToArray()));
            banks.Add(new JsonObject
            {
                ["identity_private"] = J.H(seeds[b]),
                ["identity_public"] = J.H(key.PublicKey),
                ["uploads"] = J.Array(uploads.Select(u => (JsonNode)J.H(u))),
                ["manifest"] = J.H(manifest),
            });
        }
        using var aggregator = Ed25519SigningKey.Import(aggregatorSeed);
        // Chunk 0 lists every bank; chunk 1 lists banks 0 and 2 (bank 1's second upload never arrived).
        var lists = new JsonArray();
        int[][] listed = Enumerable.Range(0, Chunks).Select(chunk => chunk == 0 ? new[] { 0, 1, 2 } : [2, 0]).ToArray();
        byte[][] signedLists = ContributorList.SignRound(aggregator, tag, Round, (RlweObjectKind)Kind,
            listed.Select((senders, chunk) => senders.Select(s => new ContributorEntry(s, accepted[s].Digests[chunk]))).ToArray());
        for (int chunk = 0; chunk < Chunks; chunk++)
            lists.Add(new JsonObject { ["chunk"] = chunk, ["senders"] = J.IArray(listed[chunk].Order()), ["list"] = J.H(signedLists[chunk]) });
        return new JsonObject
        {
            ["description"] = "Signed upload manifests and contributor lists of the homomorphic mode (SPEC.md 12.2). Each bank signs, once per round, the manifest session_tag (16) || u64 round || u8 kind (10 = compact ciphertext) || i32 sender || u32 chunk count || for each chunk the upload digest = SHA-256 of the upload's bytes without their last 16 (the envelope trailer, which repeats the digest's first 16 bytes), with its Ed25519 identity key (RFC 8032 seed identity_private) over \"FraudFed/v1/he/manifest\" || SHA-256(body); the 64-byte signature follows the body. The uploads here are stand-ins: 48 fixed bytes and a 16-byte trailer = the first half of their SHA-256, like an envelope's. The aggregator (seed aggregator_private) lists per chunk k the body session_tag || u64 round || u32 k || u8 kind || u16 count || count x (i32 sender || upload digest), senders ascending, and signs the round's C lists once over \"FraudFed/v1/he/contributors-round\" || SHA-256(u32 C || SHA-256(body_0) || ... || SHA-256(body_{C-1})); every list is its body followed by that one 64-byte signature. Little-endian integers. Chunk 1 lists banks 0 and 2 only. Generated by `fraudfed vectors generate` (UploadManifest.Sign, ContributorList.SignRound).",
            ["session_tag"] = J.H(tag),
            ["round"] = J.D(Round),
            ["kind"] = (int)Kind,
            ["aggregator_private"] = J.H(aggregatorSeed),
            ["banks"] = banks,
            ["contributor_lists"] = lists,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        byte[] tag = root.Hex("session_tag"), aggregatorSeed = root.Hex("aggregator_private");
        ulong round = root.U64("round");
        byte kind = (byte)root.Int("kind");
        JsonElement[] banks = root.Arr("banks");
        byte[][] roster = banks.Select(b => b.Hex("identity_public")).ToArray();
        byte[][] manifests = banks.Select(b => b.Hex("manifest")).ToArray();
        byte[][][] uploads = banks.Select(b => b.Arr("uploads").Select(u => Convert.FromHexString(u.GetString()!)).ToArray()).ToArray();
        using var aggregatorKey = Ed25519SigningKey.Import(aggregatorSeed);
        byte[] aggregatorPublic = aggregatorKey.PublicKey.ToArray();

        yield return new CheckCase("manifests (reference layout and RFC 8032 signatures)", () =>
        {
            for (int b = 0; b < banks.Length; b++)
            {
                for (int k = 0; k < uploads[b].Length; k++)
                    Expect.Hex($"bank {b} upload {k} trailer", J.H(uploads[b][k][^16..]), UploadDigest(uploads[b][k])[..16]);
                using var key = Ed25519SigningKey.Import(banks[b].Hex("identity_private"));
                Expect.Hex($"bank {b} identity_public", J.H(roster[b]), key.PublicKey);
                byte[] body = ManifestBody(tag, round, kind, b, uploads[b].Select(UploadDigest).ToArray());
                Expect.Hex($"bank {b} manifest (reference)", banks[b].Str("manifest"), SignReference(banks[b].Hex("identity_private"), "FraudFed/v1/he/manifest", body));
                Expect.Hex($"bank {b} manifest (UploadManifest.Sign)", banks[b].Str("manifest"),
                    UploadManifest.Sign(key, tag, round, (RlweObjectKind)kind, b, uploads[b]));
            }
        });
        yield return new CheckCase("contributor lists (reference layout, one round signature)", () =>
        {
            JsonElement[] all = root.Arr("contributor_lists");
            var bodies = new List<byte[]>();
            for (int k = 0; k < all.Length; k++)
            {
                Expect.Equal($"list {k} chunk", k, all[k].Int("chunk"));
                bodies.Add(ListBody(tag, round, (uint)k, kind, all[k].Ints("senders").Select(s => (s, UploadDigest(uploads[s][k]))).ToArray()));
            }
            var count = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(count, (uint)bodies.Count);
            byte[] roundDigest = SHA256.HashData(Reference.Concat([count, .. bodies.Select(b => SHA256.HashData(b))]));
            using var key = Ed25519SigningKey.Import(aggregatorSeed);
            byte[] signature = key.Sign(Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/he/contributors-round"), roundDigest));
            for (int k = 0; k < all.Length; k++)
                Expect.Hex($"chunk {k} list (reference)", all[k].Str("list"), Reference.Concat(bodies[k], signature));
        });
        yield return new CheckCase("intake accepts the uploads after their manifests", () =>
        {
            var intake = new UploadIntake(roster, tag, round, uploads[0].Length, (RlweObjectKind)kind);
            for (int b = 0; b < banks.Length; b++) Expect.Equal($"manifest {b} sender", b, intake.AcceptManifest(manifests[b]));
            // The stand-in uploads are not ciphertexts, so only the manifest check is exercised here: a stand-in's digest
            // is the one its bank signed, and the manifest of another bank does not vouch for it.
            var verified = new VerifiedManifests(manifests, roster, tag, round, (RlweObjectKind)kind, uploads[0].Length);
            for (int b = 0; b < banks.Length; b++)
                for (uint k = 0; k < uploads[b].Length; k++)
                {
                    Expect.True(verified.IsSigned(b, k, UploadDigest(uploads[b][k])), $"bank {b} chunk {k} must be signed");
                    Expect.True(!verified.IsSigned((b + 1) % banks.Length, k, UploadDigest(uploads[b][k])), $"bank {b} chunk {k} under another bank");
                }
            JsonElement[] all = root.Arr("contributor_lists");
            ContributorList[] lists = ContributorList.ParseRound(all.Select(l => l.Hex("list")).ToArray(), aggregatorPublic, roster.Length);
            for (int k = 0; k < all.Length; k++)
                lists[k].VerifyEntries(tag, round, (uint)k, (RlweObjectKind)kind, all[k].Ints("senders"), verified);
        });
        yield return new CheckCase("one-bit flips are refused", () =>
        {
            for (int b = 0; b < banks.Length; b++)
                for (int bit = 0; bit < manifests[b].Length * 8; bit += 5)
                {
                    byte[] bad = (byte[])manifests[b].Clone();
                    bad[bit / 8] ^= (byte)(1 << (bit % 8));
                    Expect.Refused($"bank {b} manifest bit {bit}", () => new UploadIntake(roster, tag, round, uploads[b].Length, (RlweObjectKind)kind).AcceptManifest(bad));
                }
            byte[][] genuine = root.Arr("contributor_lists").Select(l => l.Hex("list")).ToArray();
            for (int k = 0; k < genuine.Length; k++)
                for (int bit = 0; bit < genuine[k].Length * 8; bit += 5)
                {
                    byte[][] bad = genuine.Select(l => (byte[])l.Clone()).ToArray();
                    bad[k][bit / 8] ^= (byte)(1 << (bit % 8));
                    Expect.Refused($"chunk {k} list bit {bit}", () => ContributorList.ParseRound(bad, aggregatorPublic, roster.Length));
                }
        });
    }
}
