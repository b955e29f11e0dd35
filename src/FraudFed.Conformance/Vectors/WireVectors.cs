// Golden files of the protobuf wrappers (SPEC.md 14; protocols/fraudfed/v1/*.proto): one case per `oneof` step of each
// wrapper. Each case's bytes are checked three ways: the library's mapper (HeWire) encodes the documented inputs to them;
// an independent protobuf encoder written from the .proto field numbers (ProtoRef: proto3 canonical order, varints,
// length-delimited fields, default values omitted) produces the same bytes; and decoding them and encoding again gives
// them back.
using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Conformance.Vectors;

internal sealed class HeWireVectors : IVectorFile
{
    private const int N = 3;
    public string Path => "wire/he-wrappers.json";
    public bool Generated => true;

    private static byte[] F(string label, int length = 32) => length <= 64 ? Fixed.Bytes("he-wire/" + label, length)
        : Enumerable.Range(0, (length + 63) / 64).SelectMany(i => Fixed.Bytes($"he-wire/{label}/{i}", 64)).Take(length).ToArray();
    private static byte[][] PerBank(string label, int length) => Enumerable.Range(0, N).Select(b => F($"{label}/{b}", length)).ToArray();

    private static readonly byte[] Sid = F("session-id", 16);

    /// <summary>(name, direction, library bytes, reference bytes) of every case.</summary>
    private static IEnumerable<(string Name, string Direction, byte[] Library, byte[] Reference)> Cases()
    {
        static byte[] ToBank(int step, ProtoRef inner) => new ProtoRef().U(1, HeWire.ProtocolVersion).B(2, Sid).B(step, inner.ToArray(), always: true).ToArray();
        static byte[] ToAggregator(int step, ProtoRef inner) => ToBank(step, inner);

        byte[] digest = F("roster-digest");
        yield return ("session_start", "to_bank", HeWire.Encode(new HeSessionStartMessage(Sid, digest, 1)), ToBank(10, new ProtoRef().B(1, digest).U(2, 1)));
        byte[][] c = PerBank("crs-commitment", 32);
        yield return ("crs_commitments", "to_bank", HeWire.Encode(new HeCrsCommitmentsMessage(Sid, c)), ToBank(11, new ProtoRef().Banks(1, c)));
        byte[][] nonces = PerBank("crs-nonce", 32);
        yield return ("crs_reveals", "to_bank", HeWire.Encode(new HeCrsRevealsMessage(Sid, nonces)), ToBank(12, new ProtoRef().Banks(1, nonces)));
        byte[][] kc = PerBank("key-share-commitment", 32);
        yield return ("key_share_commitments", "to_bank", HeWire.Encode(new HeKeyShareCommitmentsMessage(Sid, kc)), ToBank(13, new ProtoRef().Banks(1, kc)));
        byte[][] ks = PerBank("key-share", 40);
        yield return ("key_share_reveals", "to_bank", HeWire.Encode(new HeKeyShareRevealsMessage(Sid, ks)), ToBank(14, new ProtoRef().Banks(1, ks)));
        byte[][] adverts = PerBank("advert", 116);
        yield return ("channel_adverts", "to_bank", HeWire.Encode(new HeChannelAdvertsMessage(Sid, adverts)), ToBank(15, new ProtoRef().Banks(1, adverts)));
        byte[][] points = PerBank("sealed-point", 48);
        yield return ("sealed_points_for_bank", "to_bank", HeWire.Encode(new HeSealedPointsForBankMessage(Sid, points)), ToBank(16, new ProtoRef().Banks(1, points)));
        yield return ("round_start", "to_bank", HeWire.Encode(new HeRoundStartMessage(Sid, 7, 10_000, 2)), ToBank(17, new ProtoRef().U(1, 7).U(2, 10_000).U(3, 2)));
        byte[][] manifests = [F("manifest/0", 40), F("manifest/2", 40)];
        byte[][] lists = [F("list/0", 50), F("list/1", 50)];
        yield return ("decryption_request", "to_bank", HeWire.Encode(new HeDecryptionRequestMessage(Sid, 7, 2, [0, 2], [1, 2], manifests, lists)),
            ToBank(18, new ProtoRef().U(1, 7).U(2, 2).Packed(3, [0, 2]).Packed(4, [1, 2]).Many(5, manifests).Many(6, lists)));
        ulong[] sum = [0, 1, 0x0FFF_FFFF_FFFF, 300];
        var packed = new byte[sum.Length * 6];
        for (int i = 0; i < sum.Length; i++) { var w = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(w, sum[i]); w.AsSpan(0, 6).CopyTo(packed.AsSpan(6 * i)); }
        yield return ("round_result", "to_bank", HeWire.Encode(new HeRoundResultMessage(Sid, 7, [0, 1, 2], sum)),
            ToBank(19, new ProtoRef().U(1, 7).Packed(2, [0, 1, 2]).B(3, packed).U(4, 6)));
        yield return ("abort_to_bank", "to_bank", HeWire.Encode(new HeAbortToBank(Sid, ViolationReason.TooFewParticipants, "round failed", 7)),
            ToBank(20, new ProtoRef().U(1, 8).B(2, "round failed"u8.ToArray()).U(3, 7)));

        yield return ("crs_commit", "to_aggregator", HeWire.Encode(new HeCrsCommitMessage(Sid, c[1])), ToAggregator(10, new ProtoRef().B(1, c[1])));
        yield return ("crs_reveal", "to_aggregator", HeWire.Encode(new HeCrsRevealMessage(Sid, nonces[1])), ToAggregator(11, new ProtoRef().B(1, nonces[1])));
        yield return ("key_share_commit", "to_aggregator", HeWire.Encode(new HeKeyShareCommitMessage(Sid, kc[1])), ToAggregator(12, new ProtoRef().B(1, kc[1])));
        yield return ("key_share_reveal", "to_aggregator", HeWire.Encode(new HeKeyShareRevealMessage(Sid, ks[1])), ToAggregator(13, new ProtoRef().B(1, ks[1])));
        yield return ("channel_advert", "to_aggregator", HeWire.Encode(new HeChannelAdvertMessage(Sid, adverts[1])), ToAggregator(14, new ProtoRef().B(1, adverts[1])));
        yield return ("sealed_points", "to_aggregator", HeWire.Encode(new HeSealedPointsMessage(Sid, points)), ToAggregator(15, new ProtoRef().Banks(1, points)));
        byte[] pk = F("public-key-digest");
        yield return ("key_ready", "to_aggregator", HeWire.Encode(new HeKeyReadyMessage(Sid, pk)), ToAggregator(16, new ProtoRef().B(1, pk)));
        byte[][] chunks = [F("upload/0", 60), F("upload/1", 60)];
        yield return ("upload", "to_aggregator", HeWire.Encode(new HeUploadMessage(Sid, 7, manifests[0], Array.ConvertAll(chunks, c => (ReadOnlyMemory<byte>)c))),
            ToAggregator(17, new ProtoRef().U(1, 7).B(2, manifests[0]).Many(3, chunks)));
        byte[][] shares = [F("share/0", 60), F("share/1", 60)];
        yield return ("decryption_shares", "to_aggregator", HeWire.Encode(new HeDecryptionSharesMessage(Sid, 7, shares)),
            ToAggregator(18, new ProtoRef().U(1, 7).Many(2, shares)));
        yield return ("abort_to_aggregator", "to_aggregator", HeWire.Encode(new HeAbortToAggregator(Sid, ViolationReason.Refused, "decryption request refused", 7)),
            ToAggregator(19, new ProtoRef().U(1, 9).B(2, "decryption request refused"u8.ToArray()).U(3, 7)));
    }

    public JsonObject Generate()
    {
        var cases = new JsonArray();
        foreach (var (name, direction, library, _) in Cases())
            cases.Add(new JsonObject { ["name"] = name, ["direction"] = direction, ["bytes"] = J.H(library) });
        return new JsonObject
        {
            ["description"] = "Golden bytes of every step of the threshold homomorphic wrappers HeAggregatorMessage (direction to_bank) and HeBankMessage " +
                "(to_aggregator) of protocols/fraudfed/v1/homomorphic.proto (SPEC.md 14.1, 14.2): protocol_version 1, session_id = F(\"session-id\", 16), " +
                "the step's oneof field set. Inputs: F(label, len) = the first len bytes of the concatenation of SHA-512(ASCII \"FraudFed conformance v1/he-wire/\" + label) " +
                "(label/i for the i-th 64-byte block when len > 64); len is 32 unless given. Every label: session-id (16); roster-digest; " +
                "per-bank lists of N = 3 banks, one BankBytes {bank = b, bytes = F(label/b, len)} per bank b = 0, 1, 2 in bank order: crs-commitment/b (32), crs-nonce/b (32), " +
                "key-share-commitment/b (32), key-share/b (40), advert/b (116), sealed-point/b (48); manifest/0 and manifest/2 (40); list/0 and list/1 (50); " +
                "upload/0 and upload/1 (60); share/0 and share/1 (60); public-key-digest (32). " +
                "to_bank steps: session_start: roster digest F(\"roster-digest\"), key generation 1; crs_commitments, crs_reveals, key_share_commitments, " +
                "key_share_reveals, channel_adverts, sealed_points_for_bank: the whole per-bank list of their label; round_start: round 7, length 10000, 2 chunks; " +
                "decryption_request: round 7, 2 chunks, contributors U = {0, 2}, active D = {1, 2}, manifests [F(\"manifest/0\", 40), F(\"manifest/2\", 40)], " +
                "contributor lists [F(\"list/0\", 50), F(\"list/1\", 50)]; round_result: round 7, contributors {0, 1, 2}, sum [0, 1, 2^44 - 1, 300] packed as " +
                "6-byte little-endian values, value bytes 6; abort_to_bank: TooFewParticipants (code 8) \"round failed\", round 7. " +
                "to_aggregator steps (bank 1 sending): crs_commit, crs_reveal, key_share_commit, key_share_reveal and channel_advert carry bank 1's entry of the " +
                "matching list (F(\"crs-commitment/1\"), F(\"crs-nonce/1\"), F(\"key-share-commitment/1\"), F(\"key-share/1\", 40), F(\"advert/1\", 116)); " +
                "the exceptions: sealed_points carries the whole list sealed-point/0..2 (BankBytes for banks 0, 1, 2, as sealed_points_for_bank), " +
                "key_ready carries F(\"public-key-digest\") (32 bytes, standing for the collective public key's digest), upload carries round 7, " +
                "manifest F(\"manifest/0\", 40) and chunks [F(\"upload/0\", 60), F(\"upload/1\", 60)], decryption_shares carries round 7 and " +
                "shares [F(\"share/0\", 60), F(\"share/1\", 60)], abort_to_aggregator: Refused (code 9) \"decryption request refused\", round 7. " +
                "proto3 canonical encoding: fields in number order, default values omitted, repeated scalars packed. " +
                "Generated by `fraudfed vectors generate` (HeWire); checked against an independent encoder written from the .proto field numbers.",
            ["cases"] = cases,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root) => WireGolden.Cases(root, "HeWire", Cases(), (d, b) => d == "to_bank" ? HeWire.Encode(HeWire.DecodeToBank(b, N)) : HeWire.Encode(HeWire.DecodeToAggregator(b, N)),
        FraudFed.Protocol.Wire.V1.HeAggregatorMessage.Descriptor, FraudFed.Protocol.Wire.V1.HeBankMessage.Descriptor);
}
