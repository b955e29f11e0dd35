// Checks of the external known-answer files (RFC 7748, RFC 8032, RFC 5869, NIST SP 800-38A). They are not
// generated: `fraudfed vectors generate` never rewrites them.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Conformance.Vectors;

internal abstract class ExternalVectors : IVectorFile
{
    public abstract string Path { get; }
    public bool Generated => false;
    public JsonObject Generate() => throw new NotSupportedException(Path + " is copied from its standard, not generated.");
    public abstract IEnumerable<CheckCase> Cases(JsonElement root);
}

internal sealed class RfcX25519Vectors : ExternalVectors
{
    public override string Path => "x25519/rfc7748.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        JsonElement[] sm = root.Arr("scalar_mult");
        for (int i = 0; i < sm.Length; i++)
        {
            JsonElement c = sm[i];
            yield return new CheckCase($"scalar-mult-{i + 1}", () =>
            {
                using var key = X25519KeyPair.Import(c.Hex("scalar"));
                var output = new byte[32];
                key.Agree(c.Hex("u"), output);
                Expect.Hex("X25519(scalar, u)", c.Str("output"), output);
            });
        }
        JsonElement[] dh = root.Arr("diffie_hellman");
        for (int i = 0; i < dh.Length; i++)
        {
            JsonElement c = dh[i];
            yield return new CheckCase($"diffie-hellman-{i + 1}", () =>
            {
                using var alice = X25519KeyPair.Import(c.Hex("alice_private"));
                using var bob = X25519KeyPair.Import(c.Hex("bob_private"));
                Expect.Hex("Alice's public key", c.Str("alice_public"), alice.PublicKey);
                Expect.Hex("Bob's public key", c.Str("bob_public"), bob.PublicKey);
                var ab = new byte[32];
                var ba = new byte[32];
                alice.Agree(bob.PublicKey, ab);
                bob.Agree(alice.PublicKey, ba);
                Expect.Hex("shared secret (Alice)", c.Str("shared"), ab);
                Expect.Hex("shared secret (Bob)", c.Str("shared"), ba);
            });
        }
    }
}

internal sealed class RfcEd25519Vectors : ExternalVectors
{
    public override string Path => "ed25519/rfc8032.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        JsonElement[] cases = root.Arr("cases");
        for (int i = 0; i < cases.Length; i++)
        {
            JsonElement c = cases[i];
            yield return new CheckCase($"test-{i + 1}/sign", () =>
            {
                using var key = Ed25519SigningKey.Import(c.Hex("private"));
                Expect.Hex("public key", c.Str("public"), key.PublicKey);
                Expect.Hex("signature", c.Str("signature"), key.Sign(c.Hex("message")));
                Expect.True(Ed25519SigningKey.Verify(c.Hex("public"), c.Hex("message"), c.Hex("signature")), "the RFC signature must verify");
            });
            yield return new CheckCase($"test-{i + 1}/tamper", () =>
            {
                byte[] pub = c.Hex("public"), msg = c.Hex("message"), sig = c.Hex("signature");
                for (int bit = 0; bit < sig.Length * 8; bit += 61)
                {
                    byte[] bad = (byte[])sig.Clone();
                    bad[bit / 8] ^= (byte)(1 << (bit % 8));
                    Expect.True(!Ed25519SigningKey.Verify(pub, msg, bad), $"a signature with bit {bit} flipped must not verify");
                }
                byte[] longer = [.. msg, 0x00];
                Expect.True(!Ed25519SigningKey.Verify(pub, longer, sig), "the signature must not verify for another message");
                if (msg.Length > 0)
                {
                    byte[] m2 = (byte[])msg.Clone();
                    m2[0] ^= 1;
                    Expect.True(!Ed25519SigningKey.Verify(pub, m2, sig), "the signature must not verify for a message with one bit flipped");
                }
            });
        }
    }
}

internal sealed class RfcHkdfVectors : ExternalVectors
{
    public override string Path => "hkdf/rfc5869.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        JsonElement[] cases = root.Arr("cases");
        for (int i = 0; i < cases.Length; i++)
        {
            JsonElement c = cases[i];
            yield return new CheckCase($"a.{i + 1}", () =>
            {
                byte[] ikm = c.Hex("ikm"), salt = c.Hex("salt"), info = c.Hex("info");
                int length = c.Int("length");
                var prk = new byte[32];
                Kdf.Extract(ikm, salt, prk);
                Expect.Hex("PRK", c.Str("prk"), prk);
                var okm = new byte[length];
                Kdf.Expand(prk, okm, info);
                Expect.Hex("OKM (expand)", c.Str("okm"), okm);
                var okm2 = new byte[length];
                Kdf.DeriveKey(ikm, okm2, salt, info);
                Expect.Hex("OKM (extract-and-expand)", c.Str("okm"), okm2);
            });
        }
    }
}

internal sealed class RfcPrgVectors : ExternalVectors
{
    public override string Path => "prg/sp800-38a.json";

    public override IEnumerable<CheckCase> Cases(JsonElement root)
    {
        JsonElement[] cases = root.Arr("cases");
        for (int i = 0; i < cases.Length; i++)
        {
            JsonElement c = cases[i];
            // The keystream definition (AES-256 of 128-bit big-endian counters, incremented per block) is checked
            // here from the NIST initial counter; prg/modpow2.json ties the library's Prg (counter 0) to the same
            // definition. The library's initial-counter constructor is internal (FraudFed.Cryptography.Tests uses it).
            yield return new CheckCase($"f.5.5-block-{i + 1}", () =>
            {
                byte[] key = c.Hex("key"), pt = c.Hex("plaintext");
                UInt128 counter = BinaryPrimitives.ReadUInt128BigEndian(c.Hex("initial_counter"));
                int blocks = pt.Length / 16;
                var counters = new byte[blocks * 16];
                for (int b = 0; b < blocks; b++) BinaryPrimitives.WriteUInt128BigEndian(counters.AsSpan(16 * b), counter + (UInt128)(ulong)b);
                using var aes = Aes.Create();
                aes.Key = key;
                byte[] ks = aes.EncryptEcb(counters, PaddingMode.None);
                for (int k = 0; k < pt.Length; k++) ks[k] ^= pt[k];
                Expect.Hex("CTR ciphertext", c.Str("ciphertext"), ks);
            });
        }
    }
}
