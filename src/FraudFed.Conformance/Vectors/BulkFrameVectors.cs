// Golden file of the bulk channel's framing (SPEC.md 14.8; the codec FraudFed.Sdk.Wire.BulkFrame): frame headers of every
// kind at lengths 0, a few in between, 2^31 - 1 and 2^32 - 1, error payloads of several status codes with a detail in
// non-ASCII UTF-8 and 0 to 3 trailers, and invalid error payloads that a decoder must refuse. Each header and error case is
// checked three ways: a reference codec written here from SPEC.md 14.8 (shifts and lists, not the library) gives the file's
// bytes; the library encodes the documented inputs to them; the library decodes them back to the inputs. Each invalid case
// is pinned to the rule that derives it from a valid payload (the file's bytes must be the rule's), and both the reference
// decoder and the library's must refuse it. The codec under check is injectable, so the tests can show that an encoder off by
// one byte, or a decoder that accepts an invalid payload, fails the file.
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Sdk.Wire;
using Grpc.Core;

namespace FraudFed.Conformance.Vectors;

/// <summary>The bulk-channel codec a <see cref="BulkFrameVectors"/> file is checked against (the library's by default).</summary>
/// <param name="WriteHeader">Writes a frame header of a kind and a length (0..2^31 - 1).</param>
/// <param name="ReadHeader">Reads a frame header's kind and length.</param>
/// <param name="EncodeError">The error payload of a status, a detail and trailers.</param>
/// <param name="DecodeError">The refusal an error payload carries; throws <see cref="InvalidDataException"/> on an invalid one.</param>
internal sealed record BulkCodec(
    Func<byte, int, byte[]> WriteHeader,
    Func<byte[], (byte Kind, uint Length)> ReadHeader,
    Func<StatusCode, string, Metadata?, byte[]> EncodeError,
    Func<byte[], RpcException> DecodeError)
{
    /// <summary>FraudFed.Sdk.Wire.BulkFrame, the codec the SDK and the appliance use.</summary>
    public static BulkCodec Library { get; } = new(
        (kind, length) =>
        {
            var header = new byte[BulkFrame.HeaderBytes];
            BulkFrame.WriteHeader(header, kind, length);
            return header;
        },
        bytes => BulkFrame.ReadHeader(bytes),
        BulkFrame.EncodeError,
        bytes => BulkFrame.DecodeError(bytes));
}

internal sealed class BulkFrameVectors(BulkCodec? codec = null) : IVectorFile
{
    private readonly BulkCodec _codec = codec ?? BulkCodec.Library;

    public string Path => "wire/bulk-frames.json";
    public bool Generated => true;

    /// <summary>Frame headers: (name, kind, payload length).</summary>
    private static readonly (string Name, byte Kind, uint Length)[] Headers =
    [
        ("submit_0", 0x01, 0),
        ("submit_100", 0x01, 100),
        ("submit_66051", 0x01, 0x00010203),
        ("submit_2_31_minus_1", 0x01, int.MaxValue),
        ("receive_0", 0x02, 0),
        ("receive_6", 0x02, 6),
        ("receive_2_32_minus_1", 0x02, uint.MaxValue),
        ("ok_12", 0x80, 12),
        ("error_70", 0x81, 70),
        ("unknown_kind_7_0", 0x07, 0),
    ];

    private const string Violation = "fraudfed-violation", RoundLength = "fraudfed-round-length", ApplianceState = "fraudfed-appliance-state";

    /// <summary>Error payloads: (name, status, detail, trailers in order).</summary>
    private static readonly (string Name, StatusCode Status, string Detail, (string Key, string Value)[] Trailers)[] Errors =
    [
        ("invalid_argument_malformed", StatusCode.InvalidArgument, "request frame (kind 0x07 is not 0x01 Submit or 0x02 Receive)", [(Violation, "Malformed")]),
        ("resource_exhausted_oversized", StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size.", []),
        ("failed_precondition_round_length", StatusCode.FailedPrecondition, "round 7 is open with 10000 values per bank; this request asked for 8",
            [(Violation, "WrongRoundOrState"), (RoundLength, "10000")]),
        ("permission_denied_utf8_detail", StatusCode.PermissionDenied, "bank 2 refusée à Zürich → 東京 🏦 (UnknownSender)", [(Violation, "UnknownSender")]),
        ("failed_precondition_three_trailers", StatusCode.FailedPrecondition, "the appliance could not write its state file",
            [(Violation, "WrongRoundOrState"), (RoundLength, "12"), (ApplianceState, "persist-failed")]),
        ("unavailable_utf8_value", StatusCode.Unavailable, "the appliance is stopping", [(ApplianceState, "arrêt")]),
        ("cancelled_empty_detail", StatusCode.Cancelled, "", []),
        ("unauthenticated_16", StatusCode.Unauthenticated, "no client certificate", []),
    ];

    /// <summary>Invalid error payloads: (name, the rule that derives it, the bytes the rule gives).</summary>
    private static IEnumerable<(string Name, string Rule, byte[] Bytes)> Invalid()
    {
        byte[] Valid(string name)
        {
            var e = Errors.Single(x => x.Name == name);
            return Reference.Encode((uint)e.Status, Encoding.UTF8.GetBytes(e.Detail), e.Trailers.Select(t => (Encoding.ASCII.GetBytes(t.Key), Encoding.UTF8.GetBytes(t.Value))).ToArray());
        }
        static byte[] Raw(uint status, byte[] detail, params (string Key, byte[] Value)[] trailers) =>
            Reference.Encode(status, detail, trailers.Select(t => (Encoding.ASCII.GetBytes(t.Key), t.Value)).ToArray());
        byte[] threeTrailers = Valid("failed_precondition_three_trailers");
        yield return ("truncated_last_byte", "failed_precondition_three_trailers without its last byte", threeTrailers[..^1]);
        yield return ("truncated_in_status", "the first 3 bytes of invalid_argument_malformed", Valid("invalid_argument_malformed")[..3]);
        yield return ("truncated_in_detail", "invalid_argument_malformed cut after its detail length and 5 detail bytes", Valid("invalid_argument_malformed")[..11]);
        yield return ("trailing_byte", "invalid_argument_malformed followed by one byte 00", [.. Valid("invalid_argument_malformed"), 0x00]);
        yield return ("status_0", "status 0 (OK), empty detail, no trailer", Raw(0, []));
        yield return ("status_17", "status 17, empty detail, no trailer", Raw(17, []));
        yield return ("status_2_32_minus_1", "status 2^32 - 1, detail \"x\", no trailer", Raw(uint.MaxValue, "x"u8.ToArray()));
        yield return ("nine_trailers", "status 3, empty detail, 9 trailers fraudfed-t0..fraudfed-t8 each with value \"v\"",
            Raw(3, [], Enumerable.Range(0, 9).Select(i => ($"fraudfed-t{i}", "v"u8.ToArray())).ToArray()));
        yield return ("upper_case_key", "status 3, empty detail, one trailer Fraudfed-violation: Malformed", Raw(3, [], ("Fraudfed-violation", "Malformed"u8.ToArray())));
        yield return ("binary_key", "status 3, empty detail, one trailer fraudfed-violation-bin: Malformed", Raw(3, [], ("fraudfed-violation-bin", "Malformed"u8.ToArray())));
        yield return ("empty_key", "status 3, empty detail, one trailer with an empty key and value \"Malformed\"", Raw(3, [], ("", "Malformed"u8.ToArray())));
        yield return ("key_with_space", "status 3, empty detail, one trailer \"fraudfed violation\": Malformed (0x20 is not printable ASCII)", Raw(3, [], ("fraudfed violation", "Malformed"u8.ToArray())));
        yield return ("detail_invalid_utf8", "status 3, detail bytes c3 28 (a lead byte without its continuation), no trailer", Raw(3, [0xc3, 0x28]));
        yield return ("detail_overlong_utf8", "status 3, detail bytes c0 af (an overlong encoding of '/'), no trailer", Raw(3, [0xc0, 0xaf]));
        yield return ("detail_surrogate_utf8", "status 3, detail bytes ed a0 80 (an encoded UTF-16 surrogate), no trailer", Raw(3, [0xed, 0xa0, 0x80]));
        yield return ("value_invalid_utf8", "status 3, empty detail, one trailer fraudfed-violation with the value byte ff", Raw(3, [], ("fraudfed-violation", [0xff])));
    }

    /// <summary>The framing written from SPEC.md 14.8 with shifts and lists, independently of the library.</summary>
    private static class Reference
    {
        public static byte[] Header(byte kind, uint length) => [kind, (byte)length, (byte)(length >> 8), (byte)(length >> 16), (byte)(length >> 24)];

        public static byte[] Encode(uint status, byte[] detail, (byte[] Key, byte[] Value)[] trailers)
        {
            var b = new List<byte> { (byte)status, (byte)(status >> 8), (byte)(status >> 16), (byte)(status >> 24), (byte)detail.Length, (byte)(detail.Length >> 8) };
            b.AddRange(detail);
            b.Add((byte)trailers.Length);
            foreach (var (key, value) in trailers)
            {
                b.Add((byte)key.Length);
                b.AddRange(key);
                b.Add((byte)value.Length);
                b.Add((byte)(value.Length >> 8));
                b.AddRange(value);
            }
            return [.. b];
        }

        private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        /// <summary>The payload's status, detail and trailers, or the rule of SPEC.md 14.8 it breaks.</summary>
        public static (uint Status, string Detail, (string Key, string Value)[] Trailers)? Decode(byte[] p, out string? broken)
        {
            broken = null;
            int at = 0;
            bool Take(int n, out byte[] s)
            {
                s = n <= p.Length - at ? p[at..(at + n)] : [];
                if (s.Length != n) return false;
                at += n;
                return true;
            }
            string? Text(byte[] s)
            {
                try { return Strict.GetString(s); }
                catch (DecoderFallbackException) { return null; }
            }
            if (p.Length > 8192) { broken = "longer than 8192 bytes"; return null; }
            if (!Take(4, out byte[] st)) { broken = "truncated"; return null; }
            uint status = st[0] | (uint)st[1] << 8 | (uint)st[2] << 16 | (uint)st[3] << 24;
            if (status is < 1 or > 16) { broken = $"status {status} outside 1..16"; return null; }
            if (!Take(2, out byte[] dl) || !Take(dl[0] | dl[1] << 8, out byte[] d)) { broken = "truncated"; return null; }
            if (d.Length > 4096) { broken = "a detail over 4096 bytes"; return null; }
            if (Text(d) is not { } detail) { broken = "a detail that is not UTF-8"; return null; }
            if (!Take(1, out byte[] c)) { broken = "truncated"; return null; }
            if (c[0] > 8) { broken = $"{c[0]} trailers, at most 8"; return null; }
            var trailers = new List<(string, string)>();
            for (int i = 0; i < c[0]; i++)
            {
                if (!Take(1, out byte[] kl) || !Take(kl[0], out byte[] key)) { broken = "truncated"; return null; }
                if (key.Length == 0 || key.Any(x => x is < 0x21 or > 0x7e or >= (byte)'A' and <= (byte)'Z') || Encoding.ASCII.GetString(key).EndsWith("-bin", StringComparison.Ordinal))
                { broken = "a key that is not lower-case printable ASCII, or ends in -bin"; return null; }
                if (!Take(2, out byte[] vl) || !Take(vl[0] | vl[1] << 8, out byte[] v)) { broken = "truncated"; return null; }
                if (Text(v) is not { } value) { broken = "a value that is not UTF-8"; return null; }
                trailers.Add((Encoding.ASCII.GetString(key), value));
            }
            if (at != p.Length) { broken = $"{p.Length - at} bytes left over"; return null; }
            return (status, detail, trailers.ToArray());
        }
    }

    private static byte[] ReferenceBytes((string Name, StatusCode Status, string Detail, (string Key, string Value)[] Trailers) e) =>
        Reference.Encode((uint)e.Status, Encoding.UTF8.GetBytes(e.Detail), e.Trailers.Select(t => (Encoding.ASCII.GetBytes(t.Key), Encoding.UTF8.GetBytes(t.Value))).ToArray());

    private static Metadata ToMetadata((string Key, string Value)[] trailers)
    {
        var m = new Metadata();
        foreach (var (k, v) in trailers) m.Add(k, v);
        return m;
    }

    public JsonObject Generate()
    {
        var headers = new JsonArray();
        foreach (var (name, kind, length) in Headers)
            headers.Add(new JsonObject
            {
                ["name"] = name, ["kind"] = kind, ["length"] = J.D(length),
                ["bytes"] = J.H(length <= int.MaxValue ? BulkCodec.Library.WriteHeader(kind, (int)length) : Reference.Header(kind, length)),
            });
        var errors = new JsonArray();
        foreach (var (name, status, detail, trailers) in Errors)
            errors.Add(new JsonObject
            {
                ["name"] = name, ["status"] = (int)status, ["detail"] = detail,
                ["trailers"] = J.Array(trailers.Select(t => (JsonNode)new JsonObject { ["key"] = t.Key, ["value"] = t.Value })),
                ["bytes"] = J.H(BulkCodec.Library.EncodeError(status, detail, ToMetadata(trailers))),
            });
        var invalid = new JsonArray();
        foreach (var (name, rule, bytes) in Invalid())
            invalid.Add(new JsonObject { ["name"] = name, ["rule"] = rule, ["bytes"] = J.H(bytes) });
        return new JsonObject
        {
            ["description"] = "The bulk channel's framing (SPEC.md 14.8; codec FraudFed.Sdk.Wire.BulkFrame). headers: a frame header is kind (1 byte) " +
                "| payload length (u32 little-endian); kinds 0x01 Submit, 0x02 Receive (requests), 0x80 OK, 0x81 Error (answers); kind 0x07 is " +
                "unknown (an appliance answers it INVALID_ARGUMENT Malformed and closes the connection); length a decimal string. errors: the " +
                "error payload of an Error frame, integers little-endian: status (u32, a gRPC status 1..16) | detail length (u16) | detail " +
                "(UTF-8, at most 4096 bytes) | trailer count (1 byte, at most 8) | per trailer: key length (1 byte) | key (printable lower-case " +
                "ASCII 0x21..0x7e, not ending in -bin) | value length (u16) | value (UTF-8); at most 8192 bytes in all; trailers in the order " +
                "given. A decoder must return exactly status, detail and trailers. invalid_errors: payloads that a decoder must refuse (SPEC.md " +
                "14.8: truncated, bytes left over, a status outside 1..16, more than 8 trailers, a key that is empty, not printable lower-case " +
                "ASCII or ends in -bin, text that is not UTF-8); each is derived from the valid cases or built with the layout above as its " +
                "rule says, and the check recomputes it. Generated by `fraudfed vectors generate` (the library codec); checked against a " +
                "reference encoder and decoder written from SPEC.md 14.8.",
            ["headers"] = headers,
            ["errors"] = errors,
            ["invalid_errors"] = invalid,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        var headers = root.Arr("headers").ToDictionary(c => c.Str("name"));
        var errors = root.Arr("errors").ToDictionary(c => c.Str("name"));
        var invalid = root.Arr("invalid_errors").ToDictionary(c => c.Str("name"));
        foreach (var (name, kind, length) in Headers)
            yield return new CheckCase("header/" + name, () =>
            {
                Expect.True(headers.TryGetValue(name, out JsonElement e), $"header {name}: case missing from the file");
                Expect.Equal($"header {name} kind", (int)kind, e.Int("kind"));
                Expect.Equal($"header {name} length", J.D(length), e.Str("length"));
                string hex = e.Str("bytes");
                Expect.Hex($"header {name}: SPEC.md 14.8 layout", hex, Reference.Header(kind, length));
                if (length <= int.MaxValue) Expect.Hex($"header {name}: BulkFrame.WriteHeader", hex, _codec.WriteHeader(kind, (int)length));
                (byte k, uint l) = _codec.ReadHeader(Convert.FromHexString(hex));
                Expect.Equal($"header {name}: BulkFrame.ReadHeader kind", (int)kind, (int)k);
                Expect.Equal($"header {name}: BulkFrame.ReadHeader length", length, l);
            });
        foreach (var error in Errors)
        {
            var (name, status, detail, trailers) = error;
            yield return new CheckCase("error/" + name, () =>
            {
                Expect.True(errors.TryGetValue(name, out JsonElement e), $"error {name}: case missing from the file");
                Expect.Equal($"error {name} status", (int)status, e.Int("status"));
                Expect.Equal($"error {name} detail", detail, e.Str("detail"));
                var fileTrailers = e.Arr("trailers").Select(t => (t.Str("key"), t.Str("value"))).ToArray();
                Expect.Equal($"error {name} trailers", Show(trailers), Show(fileTrailers));
                string hex = e.Str("bytes");
                Expect.Hex($"error {name}: SPEC.md 14.8 layout", hex, ReferenceBytes(error));
                Expect.Hex($"error {name}: BulkFrame.EncodeError", hex, _codec.EncodeError(status, detail, ToMetadata(trailers)));
                byte[] bytes = Convert.FromHexString(hex);
                var parsed = Reference.Decode(bytes, out string? broken);
                Expect.True(parsed is not null, $"error {name}: the reference decoder refuses the file's bytes ({broken})");
                RpcException decoded;
                try { decoded = _codec.DecodeError(bytes); }
                catch (InvalidDataException x) { throw new ConformanceException($"error {name}: BulkFrame.DecodeError refused a valid payload ({x.Message})"); }
                Expect.Equal($"error {name}: BulkFrame.DecodeError status", status, decoded.StatusCode);
                Expect.Equal($"error {name}: BulkFrame.DecodeError detail", detail, decoded.Status.Detail);
                Expect.Equal($"error {name}: BulkFrame.DecodeError trailers", Show(trailers), Show(decoded.Trailers.Select(t => (t.Key, t.Value)).ToArray()));
            });
        }
        foreach (var (name, rule, bytes) in Invalid())
            yield return new CheckCase("invalid/" + name, () =>
            {
                Expect.True(invalid.TryGetValue(name, out JsonElement e), $"invalid {name}: case missing from the file");
                Expect.Equal($"invalid {name} rule", rule, e.Str("rule"));
                string hex = e.Str("bytes");
                Expect.FileHex($"invalid {name}", hex, bytes, "its rule");
                byte[] file = Convert.FromHexString(hex);
                Expect.True(Reference.Decode(file, out _) is null, $"invalid {name}: the reference decoder accepts it");
                RpcException? accepted = null;
                try { accepted = _codec.DecodeError(file); }
                catch (InvalidDataException) { }
                Expect.True(accepted is null, $"invalid {name} ({rule}): BulkFrame.DecodeError accepted it as status {accepted?.StatusCode}, but it must refuse it");
            });
    }

    private static string Show((string Key, string Value)[] trailers) => "[" + string.Join(", ", trailers.Select(t => $"{t.Key}: {t.Value}")) + "]";
}
