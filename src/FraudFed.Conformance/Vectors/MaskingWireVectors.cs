// Golden file of the masking protobuf wrappers (SPEC.md 9, 14.3; protocols/fraudfed/v1/masking.proto): one case per `oneof`
// step of MaskingAggregatorMessage and MaskingBankMessage. Each case's bytes are checked three ways: the library's mapper
// (MaskingWire, through the domain messages) encodes the documented inputs to them; the reference side builds the signed
// canonical bodies byte by byte from SPEC.md 9 and the wrappers with the independent proto3 encoder ProtoRef, and gets the
// same bytes; decoding them and encoding again gives them back. Every case is also refused with a typed error under another
// protocol_version and when truncated.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;

namespace FraudFed.Conformance.Vectors;

internal sealed class MaskingWireVectors : IVectorFile
{
    public string Path => "wire/masking-wrappers.json";
    public bool Generated => true;

    private static byte[] F(string label, int length = 32) => length <= 64 ? Fixed.Bytes("masking-wire/" + label, length)
        : Enumerable.Range(0, (length + 63) / 64).SelectMany(i => Fixed.Bytes($"masking-wire/{label}/{i}", 64)).Take(length).ToArray();

    private static readonly byte[] Sid = F("session-id", 16);
    private const uint Round = 7;

    // ---- reference side: SPEC.md 9 bodies and Ed25519 over label || SHA-256(body) ----

    private static byte[] U32(uint v) => Reference.U32Be(v);
    private static byte[] Prefix(byte type, uint round) => Reference.Concat([.. "FFSA"u8, 2, type], Sid, U32(round));

    private static byte[] Sign(Ed25519SigningKey key, byte[] body) =>
        key.Sign(Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/signature"), SHA256.HashData(body)));

    private static byte[] SignedStep(byte[] body, byte[] signature) => new ProtoRef().B(1, body).B(2, signature).ToArray();

    private static byte[] Wrapper(int step, byte[] inner) =>
        new ProtoRef().U(1, MaskingWire.ProtocolVersion).B(2, Sid).B(step, inner, always: true).ToArray();

    /// <summary>(name, direction, library bytes, reference bytes) of every case.</summary>
    private static IEnumerable<(string Name, string Direction, byte[] Library, byte[] Reference)> Cases()
    {
        using var key0 = Ed25519SigningKey.Import(F("identity/0"));
        using var key1 = Ed25519SigningKey.Import(F("identity/1"));
        Ed25519SigningKey[] keys = [key0, key1];

        // Setup: AdvertiseKeys and GraphSeedReveal of banks 0 and 1 (bank 1's are the to_aggregator cases).
        var adverts = new List<(AdvertiseKeys Domain, byte[] Body, byte[] Sig)>();
        var reveals = new List<(GraphSeedReveal Domain, byte[] Body, byte[] Sig)>();
        for (uint b = 0; b < 2; b++)
        {
            byte[] c = F($"channel/{b}"), s = F($"mask/{b}"), commit = F($"commit/{b}"), nonce = F($"nonce/{b}");
            byte[] advBody = Reference.Concat(Prefix(1, 0), U32(b), c, s, commit);
            byte[] advSig = Sign(keys[b], advBody);
            adverts.Add((AdvertiseKeys.Decode(new AdvertiseKeys(Sid, (int)b, c, s, commit).Encode(keys[b])), advBody, advSig));
            byte[] revBody = Reference.Concat(Prefix(10, 0), U32(b), nonce);
            byte[] revSig = Sign(keys[b], revBody);
            reveals.Add((GraphSeedReveal.Decode(new GraphSeedReveal(Sid, (int)b, nonce).Encode(keys[b])), revBody, revSig));
        }

        // ---- aggregator -> bank (MaskingAggregatorMessage) ----
        yield return ("key_roster", "to_bank", new KeyRoster(Sid, adverts.Select(a => a.Domain).ToArray()).Encode(),
            Wrapper(10, Many(1, adverts.Select(a => SignedStep(a.Body, a.Sig)))));
        yield return ("graph_seed_roster", "to_bank", new GraphSeedRoster(Sid, reveals.Select(r => r.Domain).ToArray()).Encode(),
            Wrapper(11, Many(1, reveals.Select(r => SignedStep(r.Body, r.Sig)))));
        byte[] ct0 = F("bundle/0", EncryptedShare.CiphertextSize), ct2 = F("bundle/2", EncryptedShare.CiphertextSize);
        yield return ("share_delivery", "to_bank", new ShareDelivery(Sid, Round, 1, [new EncryptedShare(0, ct0), new EncryptedShare(2, ct2)]).Encode(),
            Wrapper(12, Concat(new ProtoRef().U(1, Round).U(2, 1).ToArray(), Many(3, [new ProtoRef().U(1, 0).B(2, ct0).ToArray(), new ProtoRef().U(1, 2).B(2, ct2).ToArray()]))));
        yield return ("survivor_list", "to_bank", new SurvivorList(Sid, Round, [0, 1, 2]).Encode(),
            Wrapper(13, new ProtoRef().U(1, Round).Packed(2, [0, 1, 2]).ToArray()));
        // The signed survivor list (SPEC.md 9 type 6) and three consistency signatures over it.
        byte[] survivorBytes = Reference.Concat(Prefix(6, Round), U32(3), U32(0), U32(1), U32(2));
        byte[] signedList = Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/secagg/survivors"), SHA256.HashData(survivorBytes));
        byte[][] sigs = [key0.Sign(signedList), key1.Sign(signedList), F("signature/2", 64)];
        yield return ("unmask_request", "to_bank",
            new UnmaskRequest(Sid, Round, 1, [0, 1, 2], sigs.Select((x, i) => new SignerSignature(i, x)).ToArray(),
                [new ShareRequest(0, ShareKind.SelfMask), new ShareRequest(2, ShareKind.PairwiseKey)]).Encode(),
            Wrapper(14, Concat(new ProtoRef().U(1, Round).U(2, 1).Packed(3, [0, 1, 2]).ToArray(),
                Many(4, sigs.Select((x, i) => new ProtoRef().U(1, (ulong)i).B(2, x).ToArray())),
                Many(5, [new ProtoRef().U(1, 0).U(2, 1).ToArray(), new ProtoRef().U(1, 2).U(2, 2).ToArray()]))));
        yield return ("abort_to_bank", "to_bank", new RoundAbort(Sid, Round, ViolationReason.TooFewParticipants, "round failed").Encode(),
            Wrapper(15, new ProtoRef().U(1, 8).B(2, "round failed"u8.ToArray()).U(3, Round).ToArray()));

        // ---- bank 1 -> aggregator (MaskingBankMessage) ----
        yield return ("advertise_keys", "to_aggregator", new AdvertiseKeys(Sid, 1, F("channel/1"), F("mask/1"), F("commit/1")).Encode(key1),
            Wrapper(10, SignedStep(adverts[1].Body, adverts[1].Sig)));
        yield return ("graph_seed_reveal", "to_aggregator", new GraphSeedReveal(Sid, 1, F("nonce/1")).Encode(key1),
            Wrapper(11, SignedStep(reveals[1].Body, reveals[1].Sig)));
        byte[] e0 = F("escrow/0"), e2 = F("escrow/2");
        byte[] shareKeysBody = Reference.Concat(Prefix(3, Round), U32(1), U32(2), U32(0), ct0, U32(2), ct2, U32(2), U32(0), e0, U32(2), e2);
        yield return ("share_keys", "to_aggregator",
            new ShareKeys(Sid, Round, 1, [new EncryptedShare(0, ct0), new EncryptedShare(2, ct2)], [new EscrowedSeed(0, e0), new EscrowedSeed(2, e2)]).Encode(key1),
            Wrapper(12, SignedStep(shareKeysBody, Sign(key1, shareKeysBody))));
        byte[] packed = [0x01, 0x00, 0x00, 0xFF, 0xFF, 0x0F, 0x45, 0x23, 0x01]; // 1, 2^20 - 1, 0x012345 as 3-byte little-endian values (k = 20)
        byte[] maskedBody = Reference.Concat(Prefix(5, Round), U32(1), [20], U32(3), packed);
        yield return ("masked_input", "to_aggregator", new MaskedInput(Sid, Round, 1, 20, 3, packed).Encode(key1),
            Wrapper(13, SignedStep(maskedBody, Sign(key1, maskedBody))));
        yield return ("consistency_signature", "to_aggregator", new ConsistencySignature(Sid, Round, 1, sigs[1]).Encode(),
            Wrapper(14, new ProtoRef().U(1, Round).U(2, 1).B(3, sigs[1]).ToArray()));
        byte[] y0 = [0x00, .. F("y/0", 65)], y2 = [0x01, .. F("y/2", 65)]; // both below 2^521 - 1
        y2[^1] &= 0xFE;
        byte[] responseBody = Reference.Concat(Prefix(9, Round), U32(1), U32(2), U32(0), [1], y0, U32(2), [2], y2);
        yield return ("unmask_response", "to_aggregator",
            new UnmaskResponse(Sid, Round, 1, [new RevealedShare(0, ShareKind.SelfMask, y0), new RevealedShare(2, ShareKind.PairwiseKey, y2)]).Encode(key1),
            Wrapper(15, SignedStep(responseBody, Sign(key1, responseBody))));
        yield return ("abort_to_aggregator", "to_aggregator", new BankAbort(Sid, Round, ViolationReason.TooFewParticipants, "too few holders").Encode(),
            Wrapper(16, new ProtoRef().U(1, 8).B(2, "too few holders"u8.ToArray()).U(3, Round).ToArray()));
    }

    private static byte[] Many(int field, IEnumerable<byte[]> items) => new ProtoRef().Many(field, items.ToArray()).ToArray();
    private static byte[] Concat(params byte[][] parts) => Reference.Concat(parts);

    public JsonObject Generate()
    {
        var cases = new JsonArray();
        foreach (var (name, direction, library, _) in Cases())
            cases.Add(new JsonObject { ["name"] = name, ["direction"] = direction, ["bytes"] = J.H(library) });
        return new JsonObject
        {
            ["description"] = "Golden bytes of every step of the masking wrappers MaskingAggregatorMessage (direction to_bank) and MaskingBankMessage " +
                "(to_aggregator) of protocols/fraudfed/v1/masking.proto (SPEC.md 9, 14.1, 14.3): protocol_version 1, session_id = F(\"session-id\", 16), " +
                "the step's oneof field set. Inputs: F(label, len) = the first len bytes of the concatenation of SHA-512(ASCII \"FraudFed conformance v1/masking-wire/\" + label) " +
                "(label/i for the i-th 64-byte block when len > 64). Bank b signs with the Ed25519 key whose RFC 8032 seed is F(\"identity/b\"); a signed step carries " +
                "the SPEC.md 9 canonical body (prefix \"FFSA\" || 0x02 || type || session || round u32 BE, fields big-endian) in field 1 and the signature over " +
                "\"FraudFed/v1/secagg/signature\" || SHA-256(body) in field 2. Setup: AdvertiseKeys of banks 0 and 1 (channel public key F(\"channel/b\"), mask public key F(\"mask/b\"): " +
                "these 32 bytes are the X25519 public keys as carried, used as given, not scalars to derive public keys from; " +
                "commitment F(\"commit/b\")) and GraphSeedReveal (nonce F(\"nonce/b\")), relayed in the rosters; round 7: sealed bundles F(\"bundle/0\", 160) and " +
                "F(\"bundle/2\", 160) of bank 1's ShareKeys (escrows F(\"escrow/0\"), F(\"escrow/2\")), delivered to bank 1 from banks 0 and 2; survivors {0, 1, 2}; " +
                "consistency signatures of banks 0 and 1 over the canonical survivor list and F(\"signature/2\", 64) for bank 2; requests (0, SelfMask), (2, PairwiseKey); " +
                "masked input k = 20 of 1, 2^20 - 1, 0x012345 (3-byte little-endian values); revealed y = 0x00 || F(\"y/0\", 65) and 0x01 || F(\"y/2\", 65) with the last bit cleared; " +
                "aborts: TooFewParticipants (code 8) \"round failed\" (aggregator) and \"too few holders\" (bank), round 7. Only the canonical proto3 encoding is " +
                "accepted: fields in number order, default values omitted, repeated scalars packed. Generated by `fraudfed vectors generate` (MaskingWire); checked against " +
                "bodies built from SPEC.md 9 and an independent encoder written from the .proto field numbers (ProtoRef).",
            ["cases"] = cases,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root) => WireGolden.Cases(root, "MaskingWire", Cases(), (d, b) => d == "to_bank" ? MaskingWire.Encode(MaskingWire.DecodeToBank(b)) : MaskingWire.Encode(MaskingWire.DecodeToAggregator(b)),
        FraudFed.Protocol.Wire.V1.MaskingAggregatorMessage.Descriptor, FraudFed.Protocol.Wire.V1.MaskingBankMessage.Descriptor, (name, d, bytes) => Expect.Refused($"{name}: an unknown field appended", () => Decode(d, [.. bytes, 0x98, 0x06, 0x01]), ViolationReason.Malformed));

    private static void Decode(string direction, byte[] bytes)
    {
        if (direction == "to_bank") MaskingWire.DecodeToBank(bytes);
        else MaskingWire.DecodeToAggregator(bytes);
    }
}
