// rlwe/retired-kinds.json: envelopes of the retired RLWE object kinds (2, the RNS compact ciphertext, 6, the RNS decryption share, and 7-9, the
// public-key variant of SPEC.md 12.1) and their refusal (SPEC.md 12 kinds table). Each retired envelope is a valid
// control object (a kind-1 ciphertext) with only its kind byte changed and its digest recomputed by the SPEC 12 rule, so
// a parser that refuses it can only be refusing the kind: magic, version, flags, parameter hash, lengths, digest and
// residues are all well formed, which the checker verifies independently before asking the library's parsers.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Conformance.Vectors;

/// <summary>rlwe/retired-kinds.json: well-formed envelopes of kinds 2, 6, 7, 8 and 9, each refused (Malformed) by the parser
/// of every current kind; a control envelope of kind 1 that its own parser accepts.</summary>
internal sealed class RetiredKindVectors : IVectorFile
{
    public string Path => "rlwe/retired-kinds.json";
    public bool Generated => true;

    /// <summary>Kinds SPEC.md 12 lists as retired: 2 (compact ciphertext as residues), 6 (decryption share as residues) and 7-9 (public-key variant, 12.1).</summary>
    private static readonly byte[] Retired = [2, 6, 7, 8, 9];
    private const byte ControlKind = 1;
    private const int ControlPolys = 2, ControlContext = 0, Count = 16;
    private const string SkLabel = "conformance/retired-kinds/secret-key", PkLabel = "conformance/retired-kinds/public-key",
        EncLabel = "conformance/retired-kinds/encrypt";

    /// <summary>The control: a seeded BFV encryption (kind 1, coefficient domain, no context), as ciphertext.json builds one.</summary>
    private static byte[] Control(RlweParameters p, string sk, string pk, string enc, ulong[] values) =>
        CiphertextVectors.Build(p, sk, pk, enc, values).Ct;

    /// <summary>SPEC.md 12: <paramref name="envelope"/> with byte 5 (kind) set and the trailer recomputed as
    /// SHA-256(all preceding bytes)[0..16) (reference code: .NET SHA-256 only).</summary>
    private static byte[] Relabel(byte[] envelope, byte kind)
    {
        byte[] b = (byte[])envelope.Clone();
        b[5] = kind;
        SHA256.HashData(b.AsSpan(0, b.Length - Envelope.DigestSize)).AsSpan(0, Envelope.DigestSize).CopyTo(b.AsSpan(b.Length - Envelope.DigestSize));
        return b;
    }

    /// <summary>The library's parsers: the codec told each current kind (<see cref="RlweObjectKind"/>, the envelope's own
    /// polynomial count and context length, so only the kind can differ), then every typed object parser.</summary>
    private static IEnumerable<(string Name, byte Kind, Action<byte[]> Parse)> Parsers(RlweParameters p)
    {
        foreach (RlweObjectKind kind in Enum.GetValues<RlweObjectKind>())
            yield return ($"RlweCodec.Read(kind {(byte)kind})", (byte)kind, b => RlweCodec.Read(p, b, kind, ControlPolys, ControlContext, out _));
        yield return ("BfvSerializer.DeserializeCiphertext", (byte)RlweObjectKind.Ciphertext, b => BfvSerializer.DeserializeCiphertext(p, b));
        yield return ("BfvSerializer.DeserializePublicKey", (byte)RlweObjectKind.PublicKey, b => BfvSerializer.DeserializePublicKey(p, b));
        yield return ("PublicKeyShare.Deserialize", (byte)RlweObjectKind.PublicKeyShare, b => PublicKeyShare.Deserialize(p, b));
        yield return ("ShamirShare.Deserialize", (byte)RlweObjectKind.ShamirShare, b => { using ShamirShare s = ShamirShare.Deserialize(p, b); });
        yield return ("DecryptionShare.Deserialize", (byte)RlweObjectKind.SwitchedDecryptionShare, b => DecryptionShare.Deserialize(p, b));
        yield return ("CompactCiphertext.Deserialize", (byte)RlweObjectKind.CompactCiphertext, b => CompactCiphertext.Deserialize(p, b));
    }

    public JsonObject Generate()
    {
        RlweParameters p = InsecureTestParameters.N256;
        ulong[] values = Reference.ModPow2(Fixed.Bytes("retired-kinds/plaintext"), Count, p.PlainModulusBits);
        byte[] control = Control(p, SkLabel, PkLabel, EncLabel, values);
        var retired = new JsonArray();
        foreach (byte kind in Retired)
        {
            byte[] envelope = Relabel(control, kind);
            foreach (var (name, _, parse) in Parsers(p))
                Expect.Refused($"kind {kind} by {name}", () => parse(envelope), ViolationReason.Malformed);
            retired.Add(new JsonObject
            {
                ["kind"] = kind,
                ["header"] = J.H(envelope.AsSpan(0, Envelope.HeaderSize)),
                ["digest"] = J.H(envelope.AsSpan(envelope.Length - Envelope.DigestSize)),
                ["sha256"] = J.H(SHA256.HashData(envelope)),
                ["refusal"] = nameof(ViolationReason.Malformed),
            });
        }
        return new JsonObject
        {
            ["description"] = "Retired RLWE object kinds (SPEC.md 12 kinds table and 12.1): 2 (the compact ciphertext as RNS residues), 6 (the decryption share as RNS residues) and 7, 8, 9 (the public-key variant). The control is a valid kind-1 BFV ciphertext envelope over the INSECURE n = 256 test set (2 polynomials c0, c1, coefficient domain, no context; keys and encryption seeded as in rlwe/ciphertext.json from the three labels, plaintext = the listed values mod 2^44 in coefficients 0..15), given in full; its own parser accepts it. Each retired envelope is the control with byte 5 (kind) set to the retired kind and the 16-byte trailer recomputed as SHA-256(all preceding bytes)[0..16): magic, version 2, flags, parameter hash, n, L, counts, lengths, digest, residues and padding are all well formed, so the only fault is the kind. Listed by its 56-byte header, trailer and SHA-256 of the whole envelope. A receiver refuses it with `refusal` (Malformed) whatever kind it expects (checked with the codec told every current kind and with every typed parser of the library). Generated by `fraudfed vectors generate` (Bfv, BfvSerializer); checked by rebuilding each envelope from the control by that rule, checking every header field and the digest against SPEC.md 12 with reference SHA-256, then parsing.",
            ["parameter_set"] = p.Name,
            ["control"] = new JsonObject
            {
                ["kind"] = ControlKind,
                ["secret_key_label"] = SkLabel,
                ["public_key_label"] = PkLabel,
                ["encrypt_label"] = EncLabel,
                ["plaintext"] = J.DArray(values),
                ["envelope"] = J.H(control),
                ["sha256"] = J.H(SHA256.HashData(control)),
            },
            ["retired"] = retired,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        RlweParameters P() => RlweSets.ByName(root.Str("parameter_set"));
        JsonElement c = root.GetProperty("control");
        byte[] Bytes() => c.Hex("envelope");

        // Every SPEC 12 field of a kind-1-shaped envelope of <paramref name="kind"/>, the digest and the residues (reference code).
        void WellFormed(string what, byte[] b, byte kind)
        {
            RlweParameters p = P();
            Envelope.CheckHeader(what, b, p, kind, ntt: false, ControlPolys, ControlContext);
            for (int k = 0; k < ControlPolys; k++) Envelope.Poly(b, p, ControlContext, k);
        }

        yield return new CheckCase("control/envelope", () =>
        {
            byte[] b = Bytes();
            Expect.Hex("control SHA-256", c.Str("sha256"), SHA256.HashData(b));
            Expect.Equal("control kind", (int)ControlKind, c.Int("kind"));
            WellFormed("control", b, ControlKind);
        });
        yield return new CheckCase("control/encrypt", () =>
            Expect.Hex("control = the seeded BFV encryption of the plaintext", c.Str("envelope"),
                Control(P(), c.Str("secret_key_label"), c.Str("public_key_label"), c.Str("encrypt_label"), c.U64s("plaintext"))));
        yield return new CheckCase("control/accepted", () =>
        {
            RlweParameters p = P();
            byte[] b = Bytes();
            foreach (var (name, kind, parse) in Parsers(p))
            {
                if (kind == ControlKind)
                {
                    try { parse(b); }
                    catch (ProtocolViolationException e) { throw new ConformanceException($"the control must be accepted by {name}: refused with {e.Reason}"); }
                }
                else Expect.Refused($"the control (kind {ControlKind}) by {name} (expects kind {kind})", () => parse(b), ViolationReason.Malformed);
            }
            Expect.Hex("the accepted control re-serializes to the same bytes", c.Str("envelope"), BfvSerializer.Serialize(BfvSerializer.DeserializeCiphertext(p, b)));
        });
        foreach (JsonElement r in root.Arr("retired"))
        {
            int kind = r.Int("kind");
            yield return new CheckCase($"kind-{kind}/envelope", () =>
            {
                Expect.True(kind is >= 0 and <= 255 && !Enum.IsDefined((RlweObjectKind)kind), $"kind {kind} must not be a current kind of the library");
                byte[] control = Bytes();
                byte[] b = Relabel(control, (byte)kind);
                Expect.Hex($"kind {kind} header", r.Str("header"), b.AsSpan(0, Envelope.HeaderSize));
                Expect.Hex($"kind {kind} trailer = SHA-256(preceding bytes)[0..16)", r.Str("digest"), b.AsSpan(b.Length - Envelope.DigestSize));
                Expect.Hex($"kind {kind} SHA-256", r.Str("sha256"), SHA256.HashData(b));
                WellFormed($"kind {kind}", b, (byte)kind);
                for (int i = 0; i < b.Length - Envelope.DigestSize; i++)
                    Expect.True(i == 5 || b[i] == control[i], $"kind {kind}: byte {i} differs from the control (only the kind byte and the trailer may)");
                Expect.Hex($"kind {kind} relabelled as kind {ControlKind} = the control", c.Str("envelope"), Relabel(b, ControlKind));
            });
            yield return new CheckCase($"kind-{kind}/refused", () =>
            {
                var reason = Enum.Parse<ViolationReason>(r.Str("refusal"));
                byte[] b = Relabel(Bytes(), (byte)kind);
                Expect.Hex($"kind {kind} SHA-256", r.Str("sha256"), SHA256.HashData(b));
                foreach (var (name, _, parse) in Parsers(P()))
                    Expect.Refused($"kind {kind} by {name}", () => parse(b), reason);
            });
        }
    }
}
