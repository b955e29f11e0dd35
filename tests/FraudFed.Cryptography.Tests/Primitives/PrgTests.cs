using FraudFed.Cryptography.Primitives;
using NUnit.Framework;

namespace FraudFed.Cryptography.Tests.Primitives;

[TestFixture]
public sealed class PrgTests
{
    // FIPS-197 Appendix C.3: AES-256, key 00..1f, plaintext 00112233445566778899aabbccddeeff.
    // NIST SP 800-38A F.5.5 CTR-AES256.Encrypt: key 603deb10..., initial counter f0f1...feff.
    private const string Sp80038aKey = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    private static readonly string[] Sp80038aPlain =
    [
        "6bc1bee22e409f96e93d7e117393172a", "ae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52ef", "f69f2445df4f9b17ad2b417be66c3710",
    ];
    private static readonly string[] Sp80038aCipher =
    [
        "601ec313775789a5b7a7f504bbf3d228", "f443e3ca4d62b59aca84e990cacaf5c5",
        "2b0930daa23de94ce87017ba2d84988d", "dfc9c58db67aada613c2dd08457941a6",
    ];

    [Test]
    public void Keystream_MatchesNistSp80038aCtrAes256()
    {
        UInt128 counter = UInt128.Parse("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", System.Globalization.NumberStyles.HexNumber);
        using var prg = new Prg(Convert.FromHexString(Sp80038aKey), counter);
        var keystream = new byte[64];
        prg.Fill(keystream);
        for (int b = 0; b < 4; b++)
        {
            byte[] plain = Convert.FromHexString(Sp80038aPlain[b]);
            byte[] cipher = new byte[16];
            for (int i = 0; i < 16; i++) cipher[i] = (byte)(plain[i] ^ keystream[b * 16 + i]);
            Assert.That(Convert.ToHexStringLower(cipher), Is.EqualTo(Sp80038aCipher[b]), $"block {b}");
        }
    }

    [Test]
    public void FirstBlock_IsAes256OfZeroCounter_Fips197KeyLayout()
    {
        // With the FIPS-197 C.3 key, block 0 is AES(key, 0^128); compare with .NET AES directly.
        byte[] key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = key;
        byte[] fips = aes.EncryptEcb(Convert.FromHexString("00112233445566778899aabbccddeeff"), System.Security.Cryptography.PaddingMode.None);
        Assert.That(Convert.ToHexStringLower(fips), Is.EqualTo("8ea2b7ca516745bfeafc49904b496089"), "FIPS-197 C.3");
        byte[] zero = aes.EncryptEcb(new byte[16], System.Security.Cryptography.PaddingMode.None);
        using var prg = new Prg(key);
        var first = new byte[16];
        prg.Fill(first);
        Assert.That(first, Is.EqualTo(zero));
    }

    [Test]
    public void Fill_IsAStream_SplitCallsEqualOneCall([Values(1, 15, 16, 17, 16384, 40000)] int split)
    {
        byte[] seed = new byte[32]; seed[0] = 7;
        using var a = new Prg(seed);
        using var b = new Prg(seed);
        var whole = new byte[70000];
        a.Fill(whole);
        var parts = new byte[70000];
        b.Fill(parts.AsSpan(0, split));
        b.Fill(parts.AsSpan(split));
        Assert.That(parts, Is.EqualTo(whole));
    }

    [Test]
    public void FillModPow2_ReadsLittleEndianWordsMasked([Values(1, 16, 31, 32, 33, 48, 64)] int bits)
    {
        byte[] seed = new byte[32]; seed[31] = 1;
        using var a = new Prg(seed);
        using var b = new Prg(seed);
        ulong[] values = a.NextModPow2(1000, bits);
        int width = bits > 32 ? 8 : 4;
        var raw = new byte[1000 * width];
        b.Fill(raw);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        for (int i = 0; i < values.Length; i++)
        {
            ulong word = width == 8 ? BitConverter.ToUInt64(raw, i * 8) : BitConverter.ToUInt32(raw, i * 4);
            Assert.That(values[i], Is.EqualTo(word & mask), $"index {i}");
        }
    }

    [Test]
    public void Seed_OfWrongLength_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => _ = new Prg(new byte[31]));
    }
    [Test]
    public void Seed_IsCopied_SoTheCallerCanClearItsSpanAtOnce()
    {
        byte[] seed = Convert.FromHexString(Sp80038aKey);
        using var reference = new Prg(seed);
        using var prg = new Prg(seed);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(seed);
        byte[] expected = new byte[4096], actual = new byte[4096];
        reference.Fill(expected);
        prg.Fill(actual);
        Assert.That(actual, Is.EqualTo(expected));
        Assert.That(actual, Is.Not.EqualTo(new byte[4096]));
    }

    [Test]
    public void TheAesObject_HoldsNoManagedCopyOfTheKey()
    {
        // SymmetricAlgorithm.KeyValue is the documented (protected) managed key field; the runtime's AES keeps the key in
        // native memory instead (Prg.cs header). If a runtime ever kept a managed copy again, Dispose's guarantee would change.
        var keyValue = typeof(System.Security.Cryptography.SymmetricAlgorithm).GetField("KeyValue",
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);
        Assert.That(keyValue, Is.Not.Null);
        byte[] seed = new byte[32]; seed[0] = 1;
        var prg = new Prg(seed);
        prg.Fill(new byte[16]);
        Assert.That(keyValue!.GetValue(prg.Cipher), Is.Null, "managed key copy while in use");
        prg.Dispose();
        Assert.That(keyValue.GetValue(prg.Cipher), Is.Null, "managed key copy after Dispose");
    }

    [Test]
    public void Dispose_ZeroesTheKeystreamBuffer_AndEveryLaterUseThrows()
    {
        byte[] seed = new byte[32]; seed[5] = 9;
        var prg = new Prg(seed);
        prg.Fill(new byte[1]); // buffers a 16 KiB chunk of keystream
        Assert.That(prg.BufferForTests.IndexOfAnyExcept((byte)0), Is.GreaterThanOrEqualTo(0), "the buffer holds keystream before Dispose");
        prg.Dispose();
        Assert.That(prg.BufferForTests.IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "keystream left in the buffer after Dispose");
        Assert.Throws<ObjectDisposedException>(() => prg.Fill(new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => prg.Fill(Span<byte>.Empty));
        Assert.Throws<ObjectDisposedException>(() => prg.FillModPow2(new ulong[4], 32));
        Assert.Throws<ObjectDisposedException>(() => prg.NextModPow2(4, 64));
        Assert.DoesNotThrow(prg.Dispose, "Dispose is idempotent");
    }

    [Test]
    public void NextModPow2_RefusesANegativeCount_NamingIt()
    {
        using var prg = new Prg(new byte[32]);
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => prg.NextModPow2(-1, 32))!.ParamName, Is.EqualTo("count"));
        Assert.That(Assert.Throws<ArgumentException>(() => prg.NextModPow2(1, 65))!.ParamName, Is.EqualTo("bits"));
    }

    // The unrolled counter-block writer against the UInt128 one it replaced, bit for bit, at the 2^64 carry, the 2^128 wrap
    // and random counters, for lengths of 0, 1, 3 and 1,024 blocks.
    [Test]
    public void CounterBlocks_FastWriter_EqualsReference([Values(0, 1, 3, 1024)] int blocks)
    {
        var rnd = new Random(blocks + 7);
        var counters = new List<UInt128>
        {
            UInt128.Zero, ulong.MaxValue, (UInt128)ulong.MaxValue - 1, new UInt128(5, ulong.MaxValue - 2), UInt128.MaxValue, UInt128.MaxValue - 1,
            UInt128.MaxValue - 1000,
        };
        for (int i = 0; i < 20; i++) counters.Add(new UInt128((ulong)rnd.NextInt64(), (ulong)rnd.NextInt64()));
        foreach (UInt128 counter in counters)
        {
            byte[] fast = new byte[16 * blocks], reference = new byte[16 * blocks];
            UInt128 nextFast = Prg.WriteCounterBlocks(fast, counter);
            UInt128 nextReference = Prg.WriteCounterBlocksReference(reference, counter);
            Assert.That(fast, Is.EqualTo(reference), $"counter {counter}");
            Assert.That(nextFast, Is.EqualTo(nextReference), $"counter {counter}");
            Assert.That(nextFast, Is.EqualTo(unchecked(counter + (UInt128)blocks)), $"counter {counter}");
        }
    }

    // The stream does not depend on how requests cut it (direct fills, 1 KiB refills doubling to 16 KiB, partial blocks):
    // many request patterns give the bytes of one AES-256 ECB encryption of counter blocks 0, 1, 2, ...
    [Test]
    public void Fill_AnyRequestPattern_GivesTheCounterModeStream([Values(1, 15, 17, 1000, 1025, 16383, 16384, 40000)] int request)
    {
        byte[] seed = Enumerable.Range(0, 32).Select(i => (byte)(3 * i + 1)).ToArray();
        const int Total = 100_000;
        byte[] expected = new byte[(Total + 15) / 16 * 16];
        Prg.WriteCounterBlocksReference(expected, UInt128.Zero);
        using (var aes = System.Security.Cryptography.Aes.Create())
        {
            aes.Key = seed;
            aes.EncryptEcb(expected, expected, System.Security.Cryptography.PaddingMode.None);
        }
        using var prg = new Prg(seed);
        byte[] actual = new byte[Total];
        int offset = 0, step = 0;
        while (offset < Total)
        {
            // Alternate the request with a few small ones so that buffered and direct paths interleave.
            int size = Math.Min(Total - offset, step++ % 3 == 0 ? request : 1 + step % 40);
            prg.Fill(actual.AsSpan(offset, size));
            offset += size;
        }
        Assert.That(actual, Is.EqualTo(expected.AsSpan(0, Total).ToArray()));
    }
}
