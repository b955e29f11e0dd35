// SlottedStateFile: a sealed state file rewritten in place, one data sync per save (SPEC.md 14.6, "Two slots"). The homomorphic
// round part (he-round.bin) is saved before every reply of the bank leaves it, twice per secure sum; a temporary file, fsync,
// rename and directory fsync per save cost four durable metadata operations, this costs one fdatasync.
// Layout: 2C blocks of 4096 bytes, C the capacity of a slot; slot s owns the blocks at file offsets (sC + i) * 4096,
// i = 0 .. C - 1, so that a record is one contiguous write. A save of sequence number q (1, 2, ...) writes the record into slot q mod 2, so that it never overwrites the newest durable
// record. Block: "FFSB" | u64 seq | u32 index | u32 count | u32 record length | check (8) | payload (4064), where check is the
// first 8 bytes of SHA-256 of the block's first 24 bytes and its payload (it detects damage and tearing, not an attacker, whom
// the record's AEAD tag stops); seq 0 marks a filler block (no record yet). The record, cut into the
// payloads of blocks 0 .. count - 1 of its slot, is a sealed file of EncryptedStateFile ("FFSF" | version | nonce | tag |
// ciphertext, AES-256-GCM under the state key) whose associated data binds the purpose and the sequence number:
// "FFSF" || 0x01 || UTF-8("FraudFed/v1/bank-state/" || purpose || "/slot") || u64 seq. Little-endian.
// Why one sync is enough: a save returns only once its blocks are durable (fdatasync), and its caller sends nothing before
// that; the save writes only the slot that does not hold the newest record. A crash during save q leaves the record q - 1
// whole in the other slot, and slot q mod 2 a mix of whole blocks of q and of older records (a killed process tears a write
// at page, i.e. block, boundaries; a power loss at the device's page too on the devices this targets), each of which passes
// its check: the reader sees a record q - 1 and no whole record q, and nothing of save q left the bank, so q - 1 is the
// bank's state. Any block that fails its check (a flipped bit, a sector torn inside a block, zeros where a block was) is
// damage the reader cannot place: it might be the newest record's, whose replies may have left, so the file is refused,
// never read as the older record. The file is created as a whole (temporary file, fsync, rename, directory fsync), and so
// re-created, with both records, when a record outgrows its slot (the capacity has headroom: rare) and after a failed write;
// its length is therefore always 2C whole blocks.
using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace FraudFed.Sdk.State;

/// <summary>A sealed state file of two alternating slots, saved in place with one data sync (see the file header). Used under
/// the state directory's lock by one store; not thread-safe. Dispose closes the file.</summary>
internal sealed class SlottedStateFile : IDisposable
{
    public const int BlockSize = 4096;
    private const int BlockHeaderSize = 32;
    private const int PayloadSize = BlockSize - BlockHeaderSize;
    private static ReadOnlySpan<byte> BlockMagic => "FFSB"u8;
    private static readonly ArrayPool<byte> BlockPool = ArrayPool<byte>.Create(1 << 24, 4);

    private readonly string _path;
    private readonly string _purpose;
    private readonly StateKey _key;
    private FileStream? _file;   // open while the file in place holds the record of _sequence in this layout
    private SafeFileHandle? _handle;   // _file's handle, read once (each read of FileStream.SafeFileHandle seeks)
    private int _capacity;       // blocks per slot the file has
    private ulong _sequence;     // the newest durable record's sequence (0: none)
    private bool _known;         // _sequence and _file reflect the file in place

    /// <summary>A file at <paramref name="path"/> sealed for <paramref name="purpose"/> under <paramref name="key"/> (owned by the caller).</summary>
    public SlottedStateFile(string path, string purpose, StateKey key) => (_path, _purpose, _key) = (path, purpose, key);

    /// <summary>Sequence number of the newest durable record (0 before the first save or read of one).</summary>
    public ulong Sequence => _sequence;

    /// <summary>Bytes a caller leaves free before its plaintext in the buffer it passes to <see cref="Save"/>.</summary>
    public const int SealedHeaderSize = EncryptedStateFile.SealedHeaderSize;

    /// <summary>The plaintext of the newest whole record, or null when there is no file. A file in the single sealed layout of
    /// <see cref="EncryptedStateFile"/> (written before this layout) is read as such; the next save replaces it. The caller clears
    /// the returned bytes.</summary>
    /// <exception cref="StateFileException">unreadable; a block fails its check; no whole record; two records whose sequence numbers
    /// are not consecutive (a slot copied from an older state); a block newer than the newest record's successor; or the record
    /// does not verify under the key (nothing of the file is used).</exception>
    public byte[]? Read()
    {
        CloseFile();
        if (!File.Exists(_path))
        {
            (_sequence, _known) = (0, true);
            return null;
        }
        byte[] data;
        try { data = File.ReadAllBytes(_path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new StateFileException(_path, $"the state file cannot be read ({e.Message}).", e); }
        if (EncryptedStateFile.HasSealedHeader(data))
        {
            // The layout of earlier versions: read as it was; the next save writes this layout over it (rename).
            byte[]? old = EncryptedStateFile.Read(_path, _purpose, _key);
            (_sequence, _known) = (0, true);
            return old;
        }
        (ulong sequence, byte[] plaintext) = Parse(data);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
            _file = new FileStream(_path, options);
            _handle = _file.SafeFileHandle;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new StateFileException(_path, $"the state file cannot be opened for writing ({e.Message}); check the directory's permissions.", e);
        }
        (_sequence, _capacity, _known) = (sequence, data.Length / BlockSize / 2, true);
        return plaintext;
    }

    /// <summary>The newest whole record of <paramref name="data"/> (the rules of the file header).</summary>
    private (ulong Sequence, byte[] Plaintext) Parse(byte[] data)
    {
        // The file is only ever written whole (then renamed) or in place: a length of anything but 2C blocks is damage.
        if (data.Length == 0 || data.Length % (2 * BlockSize) != 0) throw Damaged();
        int capacity = data.Length / BlockSize / 2;
        ulong newestBlock = 0;
        for (int b = 0; b < 2 * capacity; b++)
        {
            ReadOnlySpan<byte> block = data.AsSpan(b * BlockSize, BlockSize);
            if (!CheckOk(block)) throw Damaged();
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(block[4..]);
            if (seq != 0 && (int)(seq % 2) != b / capacity) throw Damaged();   // a block of the other slot's parity: moved, not written here
            newestBlock = Math.Max(newestBlock, seq);
        }
        var whole = new List<(ulong Sequence, int Slot)>(2);
        for (int slot = 0; slot < 2; slot++)
            if (WholeRecord(data, capacity, slot) is { } seq) whole.Add((seq, slot));
        if (whole.Count == 0) throw Damaged();   // the file is in place only once it held a whole record
        if (whole.Count == 2 && (whole[0].Sequence == whole[1].Sequence || Math.Max(whole[0].Sequence, whole[1].Sequence) - Math.Min(whole[0].Sequence, whole[1].Sequence) != 1))
            throw StateFileException.Damaged(_path, "the two slots hold records whose sequence numbers are not consecutive (a slot copied from an older state)");
        var (newest, newestSlot) = whole.MaxBy(w => w.Sequence);
        // Blocks of the save after the newest record are a torn write of it (it never returned: nothing of it left the bank);
        // anything newer cannot come from this bank's saves.
        if (newestBlock > newest + 1) throw StateFileException.Damaged(_path, "a block is newer than the newest whole record's successor");
        ReadOnlySpan<byte> block0 = data.AsSpan(newestSlot * capacity * BlockSize, BlockSize);
        int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(block0[16..]);
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(block0[20..]);
        byte[] sealedRecord = new byte[length];
        for (int i = 0; i < count; i++)
        {
            int n = Math.Min(PayloadSize, length - i * PayloadSize);
            data.AsSpan((newestSlot * capacity + i) * BlockSize + BlockHeaderSize, n).CopyTo(sealedRecord.AsSpan(i * PayloadSize));
        }
        byte[]? plaintext = EncryptedStateFile.TryOpen(sealedRecord, _key, Aad(newest));
        return plaintext is null ? throw Damaged() : (newest, plaintext);
    }

    /// <summary>The sequence of the whole record in <paramref name="slot"/>: its blocks 0 .. count - 1 all of one sequence, with
    /// their indices, one count and one length; else null (a torn save, or fillers only).</summary>
    private static ulong? WholeRecord(byte[] data, int capacity, int slot)
    {
        ReadOnlySpan<byte> first = data.AsSpan(slot * capacity * BlockSize, BlockSize);
        ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(first[4..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(first[16..]);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(first[20..]);
        if (seq == 0 || count == 0 || count > capacity || length < SealedHeaderSize || (length + PayloadSize - 1) / PayloadSize != count) return null;
        for (int i = 0; i < (int)count; i++)
        {
            ReadOnlySpan<byte> block = data.AsSpan((slot * capacity + i) * BlockSize, BlockSize);
            if (BinaryPrimitives.ReadUInt64LittleEndian(block[4..]) != seq || BinaryPrimitives.ReadUInt32LittleEndian(block[12..]) != (uint)i
                || BinaryPrimitives.ReadUInt32LittleEndian(block[16..]) != count || BinaryPrimitives.ReadUInt32LittleEndian(block[20..]) != length)
                return null;
        }
        return seq;
    }

    /// <summary>Seals the plaintext at <see cref="SealedHeaderSize"/> in <paramref name="buffer"/> (in place: on return, or on any
    /// exception, the buffer holds no plaintext) as the record of the next sequence number and writes it into the slot that does
    /// not hold the newest record, then syncs the file's data: on return the record is durable. Reads the file first if this
    /// object has not (to learn the newest sequence number).</summary>
    /// <exception cref="StateFileException">the file in place cannot be read (<see cref="Read"/>), or the record cannot be written:
    /// the newest durable record stays the file's newest, and the next save re-creates the file as a whole.</exception>
    public void Save(SealingBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!_known)
        {
            try
            {
                byte[]? existing = Read();
                if (existing is not null) CryptographicOperations.ZeroMemory(existing);
            }
            catch { CryptographicOperations.ZeroMemory(buffer.Span); throw; }
        }
        ulong seq = _sequence + 1;
        Span<byte> sealedRecord = buffer.Span;
        EncryptedStateFile.SealInPlace(sealedRecord, _key, Aad(seq));
        int count = (sealedRecord.Length + PayloadSize - 1) / PayloadSize;
        int slot = (int)(seq % 2);
        byte[] blocks = BlockPool.Rent(count * BlockSize);
        try
        {
            for (int i = 0; i < count; i++)
            {
                Span<byte> block = blocks.AsSpan(i * BlockSize, BlockSize);
                ReadOnlySpan<byte> payload = sealedRecord.Slice(i * PayloadSize, Math.Min(PayloadSize, sealedRecord.Length - i * PayloadSize));
                block[(BlockHeaderSize + payload.Length)..].Clear();
                payload.CopyTo(block[BlockHeaderSize..]);
                WriteHeader(block, seq, (uint)i, (uint)count, (uint)sealedRecord.Length);
            }
            if (_file is null || count > _capacity) Create(blocks, count, slot);
            else
            {
                RandomAccess.Write(_handle!, blocks.AsSpan(0, count * BlockSize), (long)slot * _capacity * BlockSize);
                DurableDirectory.DataSync(_file, _handle!);
            }
            _sequence = seq;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The slot may be torn now: the next save writes the file as a whole again (its newest record stays as it was, and so
            // does _sequence).
            _file?.Dispose();
            (_file, _handle) = (null, null);
            throw new StateFileException(_path, $"the state file cannot be written ({e.Message}); check the disk and the directory's permissions.", e);
        }
        finally { BlockPool.Return(blocks); }
    }

    /// <summary>Writes the whole file under a temporary name, fsyncs it, renames it into place and fsyncs the directory, then keeps
    /// it open for the next saves: the new record in its slot, the newest durable record (if the file in place holds one in this
    /// layout) copied into the other slot, fillers elsewhere. The capacity is <see cref="Headroom"/> of the larger of the two.</summary>
    private void Create(byte[] blocks, int count, int slot)
    {
        // The newest durable record stays in the other slot: a crash between this rename and the next save then reads the same
        // state as without the rename, and the two slots keep consecutive sequence numbers.
        byte[]? other = null;
        int otherCount = 0;
        if (_file is not null && _sequence > 0)
        {
            other = new byte[_capacity * BlockSize];
            RandomAccess.Read(_handle!, other, (long)(1 - slot) * _capacity * BlockSize);
            otherCount = (int)BinaryPrimitives.ReadUInt32LittleEndian(other.AsSpan(16));
            if (BinaryPrimitives.ReadUInt64LittleEndian(other.AsSpan(4)) != _sequence || otherCount < 1 || otherCount > _capacity) (other, otherCount) = (null, 0);
        }
        int capacity = Headroom(Math.Max(count, otherCount));
        string temp = _path + ".tmp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6));
        FileStream? f = null;
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            f = new FileStream(temp, options);
            byte[] file = new byte[2 * capacity * BlockSize];
            for (int b = 0; b < 2 * capacity; b++)
            {
                Span<byte> block = file.AsSpan(b * BlockSize, BlockSize);
                int s = b / capacity, i = b % capacity;
                if (s == slot && i < count) blocks.AsSpan(i * BlockSize, BlockSize).CopyTo(block);
                else if (s != slot && i < otherCount) other.AsSpan(i * BlockSize, BlockSize).CopyTo(block);
                else WriteFiller(block, (uint)i);
            }
            RandomAccess.Write(f.SafeFileHandle, file, 0);
            f.Flush(flushToDisk: true);
            File.Move(temp, _path, overwrite: true);
            DurableDirectory.Sync(Path.GetDirectoryName(Path.GetFullPath(_path))!);
        }
        catch
        {
            f?.Dispose();
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        _file?.Dispose();
        (_file, _handle, _capacity) = (f, f.SafeFileHandle, capacity);
    }

    /// <summary>Blocks per slot for a record of <paramref name="count"/> blocks: a quarter more and at least 4 more, so that a
    /// record that grows slowly (the ledger) makes the file grow rarely.</summary>
    private static int Headroom(int count) => count + Math.Max(4, count / 4);

    private static void WriteFiller(Span<byte> block, uint index)
    {
        block.Clear();
        WriteHeader(block, 0, index, 0, 0);
    }

    private static void WriteHeader(Span<byte> block, ulong seq, uint index, uint count, uint length)
    {
        BlockMagic.CopyTo(block);
        BinaryPrimitives.WriteUInt64LittleEndian(block[4..], seq);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(block[16..], count);
        BinaryPrimitives.WriteUInt32LittleEndian(block[20..], length);
        Check(block, block.Slice(24, 8));
    }

    private static bool CheckOk(ReadOnlySpan<byte> block)
    {
        if (!block.StartsWith(BlockMagic)) return false;
        Span<byte> check = stackalloc byte[8];
        Check(block, check);
        return check.SequenceEqual(block.Slice(24, 8));
    }

    /// <summary>First 8 bytes of SHA-256 over the block's first 24 bytes and its payload.</summary>
    private static void Check(ReadOnlySpan<byte> block, Span<byte> check)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(block[..24]);
        h.AppendData(block[BlockHeaderSize..]);
        Span<byte> digest = stackalloc byte[32];
        h.GetHashAndReset(digest);
        digest[..8].CopyTo(check);
    }

    private byte[] Aad(ulong seq)
    {
        byte[] aad = [.. EncryptedStateFile.Aad(_purpose + "/slot"), 0, 0, 0, 0, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt64LittleEndian(aad.AsSpan(aad.Length - 8), seq);
        return aad;
    }

    private StateFileException Damaged() => StateFileException.Damaged(_path, EncryptedStateFile.DoesNotVerify);

    private void CloseFile()
    {
        _file?.Dispose();
        (_file, _handle, _known) = (null, null, false);
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => CloseFile();
}
