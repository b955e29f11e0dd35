// The bank's sealed state files (SPEC.md 14.6: "FFSF" | version 1 | nonce (12) | tag (16) | AES-256-GCM ciphertext, the
// file's purpose in the associated data), written by sealing the plaintext in place in one buffer: each file is opened here
// with AesGcm directly from that layout (an independent reading, not the SDK's reader), the digest a key part is named by is
// the SHA-256 of the file's bytes, and a one-bit change anywhere in the file is refused by the SDK's reader.
using System.Security.Cryptography;
using System.Text;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class StateFileSealingTests
{
    private static readonly byte[] KeyBytes = Enumerable.Range(0, 32).Select(i => (byte)(i * 7 + 1)).ToArray();

    private static byte[] OpenIndependently(byte[] file, string purpose)
    {
        Assert.That(file.AsSpan(0, 4).ToArray(), Is.EqualTo("FFSF"u8.ToArray()));
        Assert.That(file[4], Is.EqualTo(1));
        byte[] aad = [.. "FFSF"u8, 1, .. Encoding.UTF8.GetBytes("FraudFed/v1/bank-state/" + purpose)];
        var plaintext = new byte[file.Length - 33];
        using var gcm = new AesGcm(KeyBytes, 16);
        gcm.Decrypt(file.AsSpan(5, 12), file.AsSpan(33), file.AsSpan(17, 16), plaintext, aad);
        return plaintext;
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(100_000)]
    public void Write_SealsInTheSpecLayout_AndReadsBack(int length)
    {
        string dir = Directory.CreateTempSubdirectory("fraudfed-seal-").FullName;
        try
        {
            using StateKey key = StateKey.FromBytes(KeyBytes);
            byte[] plaintext = Enumerable.Range(0, length).Select(i => (byte)(i * 13 + 5)).ToArray();
            string path = Path.Combine(dir, "a.bin");
            EncryptedStateFile.Write(path, "round", key, plaintext);
            byte[] file = File.ReadAllBytes(path);
            Assert.That(file, Has.Length.EqualTo(33 + length));
            Assert.That(OpenIndependently(file, "round"), Is.EqualTo(plaintext));
            Assert.That(EncryptedStateFile.Read(path, "round", key), Is.EqualTo(plaintext));

            string named = Path.Combine(dir, "b.bin");
            byte[] digest = EncryptedStateFile.WriteSealed(named, "key", key, plaintext, syncDirectory: true);
            Assert.That(digest, Is.EqualTo(SHA256.HashData(File.ReadAllBytes(named))), "a key part is named by the SHA-256 of its file");
            Assert.That(OpenIndependently(File.ReadAllBytes(named), "key"), Is.EqualTo(plaintext));
            Assert.That(EncryptedStateFile.Read(named, "key", key, digest), Is.EqualTo(plaintext));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void PooledSealingBuffers_WriteFilesOfTheirExactLength_WhateverTheBufferHeldBefore()
    {
        // The sealing buffers are rented (larger than asked for, holding an earlier file's bytes): each file must still be
        // exactly its header and ciphertext, and open to its own plaintext.
        string dir = Directory.CreateTempSubdirectory("fraudfed-seal-").FullName;
        try
        {
            using StateKey key = StateKey.FromBytes(KeyBytes);
            int[] lengths = [3_000_000, 2_100_000, 3_000_000, 17, 2_999_999, 0];
            for (int n = 0; n < lengths.Length; n++)
            {
                byte[] plaintext = Enumerable.Range(0, lengths[n]).Select(i => (byte)(i * 29 + n)).ToArray();
                string path = Path.Combine(dir, $"f{n}.bin");
                EncryptedStateFile.Write(path, "round", key, plaintext);
                byte[] file = File.ReadAllBytes(path);
                Assert.That(file, Has.Length.EqualTo(33 + lengths[n]), $"write {n}");
                Assert.That(OpenIndependently(file, "round"), Is.EqualTo(plaintext), $"write {n}");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void WriteInPlace_LeavesNoPlaintextInTheBuffer_AndEveryOneBitChangeIsRefused()
    {
        string dir = Directory.CreateTempSubdirectory("fraudfed-seal-").FullName;
        try
        {
            using StateKey key = StateKey.FromBytes(KeyBytes);
            byte[] plaintext = Enumerable.Range(0, 64).Select(i => (byte)(0xA0 ^ i)).ToArray();
            using SealingBuffer buffer = EncryptedStateFile.Rent(plaintext.Length);
            Assert.That(buffer.Length, Is.EqualTo(EncryptedStateFile.SealedHeaderSize + plaintext.Length));
            plaintext.CopyTo(buffer.Span[EncryptedStateFile.SealedHeaderSize..]);
            string path = Path.Combine(dir, "c.bin");
            Assert.That(EncryptedStateFile.WriteInPlace(path, "round", key, buffer, syncDirectory: false, digest: false), Is.Null);
            byte[] file = File.ReadAllBytes(path);
            Assert.That(buffer.Span.ToArray(), Is.EqualTo(file), "the buffer holds the sealed file, not the plaintext");
            Assert.That(OpenIndependently(file, "round"), Is.EqualTo(plaintext));
            Assert.That(() => EncryptedStateFile.Read(path, "key", key), Throws.TypeOf<StateFileException>(), "another purpose");
            for (int bit = 0; bit < file.Length * 8; bit++)
            {
                byte[] changed = (byte[])file.Clone();
                changed[bit / 8] ^= (byte)(1 << (bit % 8));
                File.WriteAllBytes(path, changed);
                Assert.That(() => EncryptedStateFile.Read(path, "round", key), Throws.TypeOf<StateFileException>(), $"bit {bit}");
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
