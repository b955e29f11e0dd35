// BankStateStore: a bank's state directory (SPEC.md 14.6, 14.7). Sealed files (EncryptedStateFile):
//   he-key-<id>.bin     homomorphic: the key part of the party's state (HomomorphicBankParty.ExportKeyState: secret key, key
//                       share with its Shamir points, CRS seed, session id, key generation). Written once per setup or key
//                       rotation, under a fresh name, then the directory is fsynced, before any round part names it;
//   he-round.bin        homomorphic: the round part, the one durable write per handled message: the name and SHA-256 of the
//                       sealed key file it belongs to, the decryption ledger (FileDecryptionLedger's plaintext: the ledger is
//                       carried here, not in a file of its own), the mailbox sequence of the last item the party handled, the
//                       replies to that item (the outbox; an upload is not kept: SPEC.md 14.6) and the round state
//                       (HomomorphicBankParty.ExportRoundState). Written after the party handled an item and before its
//                       replies are sent, so that a restart resends them and reads the mailbox after that item, and so that
//                       every ledger record is durable before the upload or share it allows leaves the bank. Written in place
//                       into one of two slots with one data sync per save (SlottedStateFile: no rename per save). Once a round
//                       part names a new key file, the older key files are deleted;
//   bank-state.bin      masking: the bank's exported state (MaskingBank.ExportState), last sequence and outbox, in one file.
// ledger.bin is the file of a FileDecryptionLedger opened on its own; a bank's client does not write it.
// Plaintext layout of bank-state.bin: "FFBS" | version (3) | kind (u8: 1 homomorphic, 2 masking) | insecure_test_parameters
// (u8: 0 false, 1 true) | last sequence (u64) | outbox count (u32), then u32 length + bytes per reply | party state (u32 length
// + bytes). Little-endian. Version 2 is the same without the insecure_test_parameters byte (written before the state recorded
// it, and still by a store given no settings): read, the setting counts as not recorded. A homomorphic bank-state.bin (kind 1
// or version 1) is the layout before the split: refused, the bank joins a new session.
// Plaintext layout of he-round.bin: "FFBR" | version (3) | insecure_test_parameters (u8: 0 false, 1 true) | key file name (u8
// length + ASCII) | key file SHA-256 (32) | ledger (u32 length + bytes) | last sequence (u64) | outbox count (u32), then u32
// length + bytes per reply | round state (u32 length + bytes). Version 2 is the same without the insecure_test_parameters byte
// (read as not recorded, as above). Version 1 (no ledger: it was ledger.bin) is refused, the bank joins a new session.
// The recorded federation.insecure_test_parameters lets the state directory's check name a bank.json whose setting was
// flipped after the save (StatePreflight): no other part of the state depends on it (the roster digest does not cover it).
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FraudFed.Sdk.State;

/// <summary>What a restarted bank reads back: its party's state, where its mailbox stopped, and the replies to resend.</summary>
/// <param name="PartyState">The exported party state (SECRET; cleared by <see cref="Dispose"/>).</param>
/// <param name="LastSequence">Mailbox sequence of the last item the party handled.</param>
/// <param name="Outbox">Serialized replies to that item.</param>
internal sealed record SavedBankState(byte[] PartyState, ulong LastSequence, IReadOnlyList<byte[]> Outbox) : IDisposable
{
    /// <summary>federation.insecure_test_parameters as the state was saved under it; null in a state of version 2 (not recorded).</summary>
    public bool? InsecureTestParameters { get; init; }

    public void Dispose() => CryptographicOperations.ZeroMemory(PartyState);
}

/// <summary>What a restarted homomorphic bank reads back (SPEC.md 14.6): both parts of its party's state, where its mailbox
/// stopped, the replies to resend, and which key file the round part named.</summary>
/// <param name="KeyState">The key part (SECRET; cleared by <see cref="Dispose"/>).</param>
/// <param name="RoundState">The round part.</param>
/// <param name="LastSequence">Mailbox sequence of the last item the party handled.</param>
/// <param name="Outbox">Serialized replies to that item.</param>
/// <param name="KeyFile">File name of the key part.</param>
/// <param name="KeyDigest">SHA-256 of the sealed key file.</param>
internal sealed record SavedSplitState(byte[] KeyState, byte[] RoundState, ulong LastSequence, IReadOnlyList<byte[]> Outbox, string KeyFile, byte[] KeyDigest)
    : IDisposable
{
    /// <summary>federation.insecure_test_parameters as the round part was saved under it; null in a round part of version 2 (not recorded).</summary>
    public bool? InsecureTestParameters { get; init; }

    public void Dispose() => CryptographicOperations.ZeroMemory(KeyState);
}

/// <summary>Which party's state a bank-state file holds (SPEC.md 14.6): a state of one mode is refused for the other.</summary>
internal enum BankStateKind : byte
{
    Homomorphic = 1,
    Masking = 2,
}

/// <summary>A bank's sealed state directory: its durable ledger and its party state, used under the directory's exclusive lock
/// (<see cref="StateDirectoryLock"/>). The key stays owned by the caller.</summary>
internal sealed class BankStateStore : IDisposable
{
    public const string PartyPurpose = "bank-state";
    public const string PartyFile = "bank-state.bin";
    public const string LedgerFile = "ledger.bin";
    public const string KeyPurpose = "he-key";
    public const string RoundPurpose = "he-round";
    public const string KeyFilePrefix = "he-key-";
    public const string RoundFile = "he-round.bin";
    private static ReadOnlySpan<byte> RoundMagic => "FFBR"u8;
    private const byte RoundVersion = 3;
    private static ReadOnlySpan<byte> Magic => "FFBS"u8;
    private const byte Version = 3;
    /// <summary>The versions of both layouts without the recorded settings byte (still read and, by a store given no settings, written).</summary>
    private const byte UnrecordedVersion = 2;

    private readonly StateKey _key;
    private readonly StateDirectoryLock _lock;
    private readonly bool _ownsLock;
    private readonly SlottedStateFile _round;

    /// <summary>Takes the directory's lock (creating the directory, mode 0700, if needed); Dispose releases the lock. The ledger is
    /// empty until <see cref="LoadSplit"/> reads the round part that carries it.</summary>
    /// <exception cref="StateDirectoryInUseException">another process or client holds the directory (nothing read or written).</exception>
    /// <exception cref="StateFileException">the directory cannot be created.</exception>
    public BankStateStore(string directory, StateKey key) : this(StateDirectoryLock.Acquire(directory), key, ownsLock: true) { }

    /// <summary>Opens the directory of <paramref name="held"/>, whose lock the caller holds and releases (a FederationClient
    /// takes it at creation, before it reads anything).</summary>
    public BankStateStore(StateDirectoryLock held, StateKey key) : this(held, key, ownsLock: false) { }

    private BankStateStore(StateDirectoryLock held, StateKey key, bool ownsLock)
    {
        Directory = held.Directory;
        _key = key;
        _lock = held;
        _ownsLock = ownsLock;
        try
        {
            held.EnsureHeld();
            Ledger = new FileDecryptionLedger(held, Path.Combine(Directory, RoundFile));
            _round = new SlottedStateFile(Path.Combine(Directory, RoundFile), RoundPurpose, key);
        }
        catch
        {
            if (ownsLock) held.Dispose();
            throw;
        }
    }

    /// <summary>Releases the directory's lock when this store took it.</summary>
    public void Dispose()
    {
        _round.Dispose();
        if (_ownsLock) _lock.Dispose();
    }

    public string Directory { get; }

    /// <summary>bank.json's federation.insecure_test_parameters, which every save records (SPEC.md 14.6) so that a later check of
    /// the directory can name a bank.json whose setting differs from the state's. Null (a store given no settings: tests that
    /// write a state directly) writes the layout of version 2, which does not record it.</summary>
    public bool? InsecureTestParameters { get; init; }

    /// <summary>The homomorphic party's decryption ledger, carried inside the round part (SPEC.md 14.6): its records become durable
    /// with the next <see cref="SaveRoundPart"/>, which the client writes before any upload or share leaves the bank.</summary>
    public FileDecryptionLedger Ledger { get; }
    public string PartyPath => Path.Combine(Directory, PartyFile);
    public string RoundPath => Path.Combine(Directory, RoundFile);

    /// <summary>Key parts written by this store object (tests count them: one per setup or rotation, not one per message).</summary>
    public int KeyPartWrites { get; private set; }

    /// <summary>Round parts written by this store object.</summary>
    public int RoundPartWrites { get; private set; }

    /// <summary>Seals a homomorphic key part under a fresh file name, fsyncs it and the directory, and returns the name and the
    /// SHA-256 of the sealed file, which the round parts that belong to it carry (SPEC.md 14.6).</summary>
    /// <exception cref="StateFileException">it cannot be written (no round part names it yet, so nothing changes).</exception>
    public (string File, byte[] Digest) SaveKeyPart(ReadOnlySpan<byte> keyState)
    {
        _lock.EnsureHeld();
        string name = KeyFilePrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".bin";
        byte[] digest = EncryptedStateFile.WriteSealed(Path.Combine(Directory, name), KeyPurpose, _key, keyState, syncDirectory: true);
        KeyPartWrites++;
        return (name, digest);
    }

    /// <summary>Writes the round part that belongs to key file <paramref name="keyFile"/> (sealed, into the slot of he-round.bin that
    /// does not hold the newest record, durable on return: <see cref="SlottedStateFile"/>), carrying the ledger's
    /// records as they are now (no longer <see cref="FileDecryptionLedger.Pending"/> once it is in place); then, with
    /// <paramref name="deleteOtherKeyFiles"/> (the first round part of a new key, or the first save after a restart), deletes every
    /// other key file: no round part names them any more.</summary>
    /// <exception cref="StateFileException">the file cannot be written (the old round part stays the newest), or (a store that
    /// did not load) the file in place does not verify.</exception>
    public void SaveRoundPart(string keyFile, ReadOnlySpan<byte> keyDigest, ReadOnlySpan<byte> roundState, ulong lastSequence, IReadOnlyList<byte[]> outbox,
        bool deleteOtherKeyFiles)
    {
        if (keyDigest.Length != 32 || !IsKeyFileName(keyFile)) throw new ArgumentException("Not a key file name and SHA-256 digest.", nameof(keyFile));
        _lock.EnsureHeld();
        (byte[] ledger, long ledgerVersion) = Ledger.Serialize();
        bool? insecure = InsecureTestParameters;
        long size = 4 + 1 + (insecure is null ? 0 : 1) + 1 + keyFile.Length + 32 + 4 + ledger.Length + TailSize(roundState, outbox);
        if (size > Array.MaxLength - EncryptedStateFile.SealedHeaderSize) throw new StateFileException(RoundPath, "the round state would exceed 2 GiB.");
        // Built straight into the sealing buffer and encrypted in place (an upload or its shares are megabytes: no second copy, no hash of
        // the sealed file, which nothing names).
        using SealingBuffer sealing = EncryptedStateFile.Rent(size);
        Span<byte> b = sealing.Span;
        int at = EncryptedStateFile.SealedHeaderSize;
        RoundMagic.CopyTo(b[at..]); at += 4;
        at = WriteVersionAndSettings(b, at, RoundVersion, kind: null, insecure);
        b[at++] = (byte)keyFile.Length;
        at += System.Text.Encoding.ASCII.GetBytes(keyFile, b[at..]);
        keyDigest.CopyTo(b[at..]); at += 32;
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)ledger.Length); at += 4;
        ledger.CopyTo(b[at..]); at += ledger.Length;
        try { WriteTail(b, at, lastSequence, outbox, roundState); }
        catch { CryptographicOperations.ZeroMemory(b); throw; }
        // Saved into the slot that does not hold the newest record, with one data sync (SlottedStateFile): on return the round part,
        // and the ledger records it carries, are durable, before the upload or share they allow leaves the bank.
        _round.Save(sealing);
        Ledger.MarkSaved(ledgerVersion);
        RoundPartWrites++;
        if (deleteOtherKeyFiles) DeleteKeyFilesOtherThan(keyFile);
    }

    /// <summary>Deletes key files no round part names any more (an earlier setup's, or one written just before a crash).</summary>
    private void DeleteKeyFilesOtherThan(string keep)
    {
        try
        {
            foreach (string f in System.IO.Directory.EnumerateFiles(Directory, KeyFilePrefix + "*.bin"))
                if (Path.GetFileName(f) != keep) File.Delete(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StateFileException(Directory, $"an old key file cannot be deleted ({e.Message}); check the directory's permissions.", e);
        }
    }

    private static bool IsKeyFileName(string name) =>
        name.Length == KeyFilePrefix.Length + 16 + 4 && name.StartsWith(KeyFilePrefix, StringComparison.Ordinal) && name.EndsWith(".bin", StringComparison.Ordinal)
        && !name.AsSpan(KeyFilePrefix.Length, 16).ContainsAnyExcept("0123456789abcdef");

    /// <summary>The saved homomorphic state (round part, then the key file it names, SPEC.md 14.6), or null when the bank has
    /// none yet (a key file without a round part is from a setup that never finished its first save). The ledger the round
    /// part carries replaces <see cref="Ledger"/>'s records.</summary>
    /// <exception cref="StateFileException">a file does not verify or parse; the key file is missing or is not the one the round
    /// part names; or the directory holds a masking state or a homomorphic state of the single-file layout.</exception>
    public SavedSplitState? LoadSplit()
    {
        if (File.Exists(PartyPath))
        {
            using SavedBankState? old = Load(BankStateKind.Homomorphic);   // a masking state is refused here with its own advice
            throw new StateFileException(PartyPath, "a homomorphic bank state in the single-file layout of an earlier version, which this version does not read; remove the state directory and start a new session.");
        }
        byte[]? b = _round.Read();
        if (b is null) return null;
        try
        {
            int at = 0;
            ReadOnlySpan<byte> Take(long n)
            {
                if (n < 0 || b.Length - at < n) throw StateFileException.Damaged(RoundPath, "the round state is truncated");
                var s = b.AsSpan(at, (int)n); at += (int)n; return s;
            }
            if (!Take(4).SequenceEqual(RoundMagic)) throw StateFileException.Damaged(RoundPath, "not a round state file (unknown magic)");
            byte version = Take(1)[0];
            if (version == 1)
                throw new StateFileException(RoundPath, "a homomorphic round part of an earlier version (its ledger in ledger.bin), which this version does not read; remove the state directory and start a new session.");
            if (version is not (UnrecordedVersion or RoundVersion)) throw StateFileException.Damaged(RoundPath, $"round state version {version} is not supported ({UnrecordedVersion} and {RoundVersion} are)");
            bool? insecure = version == RoundVersion ? Recorded(Take(1)[0], RoundPath) : null;
            string keyFile = System.Text.Encoding.ASCII.GetString(Take(Take(1)[0]));
            if (!IsKeyFileName(keyFile)) throw StateFileException.Damaged(RoundPath, "the round state names no valid key file");
            byte[] digest = Take(32).ToArray();
            byte[] ledger = Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray();
            byte[] round = ReadTail(b, at, RoundPath, "the round state is truncated", "trailing bytes after the round state",
                out ulong last, out List<byte[]> outbox);
            string keyPath = Path.Combine(Directory, keyFile);
            byte[] key = EncryptedStateFile.Read(keyPath, KeyPurpose, _key, digest)
                ?? throw StateFileException.Damaged(keyPath, "the key file the round state names is missing");
            try { Ledger.Restore(ledger); }
            catch { CryptographicOperations.ZeroMemory(key); throw; }
            return new SavedSplitState(key, round, last, outbox, keyFile, digest) { InsecureTestParameters = insecure };
        }
        finally { CryptographicOperations.ZeroMemory(b); }
    }

    /// <summary>Bytes of the tail both state files end with: u64 last sequence, u32 reply count, u32 length + bytes per reply,
    /// u32 length + the party's (or round's) state.</summary>
    private static long TailSize(ReadOnlySpan<byte> state, IReadOnlyList<byte[]> outbox) => 8 + 4 + 4 + (long)state.Length + outbox.Sum(o => 4L + o.Length);

    /// <summary>Writes that tail at <paramref name="at"/>, which must leave exactly <see cref="TailSize"/> bytes.</summary>
    private static void WriteTail(Span<byte> b, int at, ulong lastSequence, IReadOnlyList<byte[]> outbox, ReadOnlySpan<byte> state)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b[at..], lastSequence); at += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)outbox.Count); at += 4;
        foreach (byte[] o in outbox)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)o.Length); at += 4;
            o.CopyTo(b[at..]); at += o.Length;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)state.Length); at += 4;
        state.CopyTo(b[at..]);
    }

    /// <summary>Reads the tail from <paramref name="at"/> to the end of <paramref name="b"/>; returns a copy of the state (the caller
    /// clears it). A short file or a length past its end is <paramref name="truncated"/>, bytes after the state <paramref name="trailing"/>.</summary>
    /// <exception cref="StateFileException">the tail does not parse.</exception>
    private static byte[] ReadTail(byte[] b, int at, string path, string truncated, string trailing, out ulong lastSequence, out List<byte[]> outbox)
    {
        ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || b.Length - at < n) throw StateFileException.Damaged(path, truncated);
            var s = b.AsSpan(at, (int)n); at += (int)n; return s;
        }
        lastSequence = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        if (count > (b.Length - at) / 4) throw StateFileException.Damaged(path, truncated);
        outbox = new List<byte[]>((int)count);
        for (uint i = 0; i < count; i++) outbox.Add(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray());
        byte[] state = Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray();
        if (at != b.Length) { CryptographicOperations.ZeroMemory(state); throw StateFileException.Damaged(path, trailing); }
        return state;
    }

    /// <summary>Writes the party state, the last handled sequence and its replies (sealed, atomic).</summary>
    public void Save(BankStateKind kind, ReadOnlySpan<byte> partyState, ulong lastSequence, IReadOnlyList<byte[]> outbox)
    {
        _lock.EnsureHeld();
        bool? insecure = InsecureTestParameters;
        long size = 4 + 1 + 1 + (insecure is null ? 0 : 1) + TailSize(partyState, outbox);
        if (size > Array.MaxLength - EncryptedStateFile.SealedHeaderSize) throw new StateFileException(PartyPath, "the bank state would exceed 2 GiB.");
        // Built straight into the sealing buffer and encrypted in place: once sealed it holds no plaintext to clear.
        using SealingBuffer sealing = EncryptedStateFile.Rent(size);
        Span<byte> b = sealing.Span;
        int at = EncryptedStateFile.SealedHeaderSize;
        Magic.CopyTo(b[at..]); at += 4;
        at = WriteVersionAndSettings(b, at, Version, kind, insecure);
        try { WriteTail(b, at, lastSequence, outbox, partyState); }
        catch { CryptographicOperations.ZeroMemory(b); throw; }
        EncryptedStateFile.WriteInPlace(PartyPath, PartyPurpose, _key, sealing, syncDirectory: false, digest: false);
    }

    /// <summary>The saved state of a <paramref name="kind"/> party, or null when the bank has none yet.</summary>
    /// <exception cref="StateFileException">the file does not verify or parse, or holds the other mode's party.</exception>
    public SavedBankState? Load(BankStateKind kind)
    {
        byte[]? b = EncryptedStateFile.Read(PartyPath, PartyPurpose, _key);
        if (b is null)
        {
            if (kind != BankStateKind.Homomorphic && File.Exists(RoundPath))
                throw new StateFileException(RoundPath, $"the state directory holds a homomorphic bank's state and this bank.json is a {Name(kind)} federation; use the state directory of this bank.json, or remove it to join a new session.");
            return null;
        }
        try
        {
            int at = 0;
            ReadOnlySpan<byte> Take(long n)
            {
                if (n < 0 || b.Length - at < n) throw StateFileException.Damaged(PartyPath, "the bank state is truncated");
                var s = b.AsSpan(at, (int)n); at += (int)n; return s;
            }
            if (!Take(4).SequenceEqual(Magic)) throw StateFileException.Damaged(PartyPath, "not a bank state file (unknown magic)");
            byte version = Take(1)[0];
            if (version is not (1 or UnrecordedVersion or Version)) throw StateFileException.Damaged(PartyPath, $"bank state version {version} is not supported (1, {UnrecordedVersion} and {Version} are)");
            var saved = version == 1 ? BankStateKind.Homomorphic : (BankStateKind)Take(1)[0];
            if (saved != kind)
                throw new StateFileException(PartyPath, saved is BankStateKind.Homomorphic or BankStateKind.Masking
                    ? $"the state directory holds a {Name(saved)} bank's state and this bank.json is a {Name(kind)} federation; use the state directory of this bank.json, or remove the file to join a new session."
                    : "the bank state names an unknown mode.");
            bool? insecure = version == Version ? Recorded(Take(1)[0], PartyPath) : null;
            byte[] party = ReadTail(b, at, PartyPath, "the bank state is truncated", "trailing bytes after the bank state",
                out ulong last, out List<byte[]> outbox);
            return new SavedBankState(party, last, outbox) { InsecureTestParameters = insecure };
        }
        finally { CryptographicOperations.ZeroMemory(b); }
    }

    /// <summary>Writes the version (<paramref name="recordedVersion"/> when <paramref name="insecure"/> is recorded, else the
    /// version 2 layout), the kind byte of bank-state.bin, and the recorded setting's byte; returns the offset after them.</summary>
    private static int WriteVersionAndSettings(Span<byte> b, int at, byte recordedVersion, BankStateKind? kind, bool? insecure)
    {
        b[at++] = insecure is null ? UnrecordedVersion : recordedVersion;
        if (kind is { } k) b[at++] = (byte)k;
        if (insecure is bool on) b[at++] = on ? (byte)1 : (byte)0;
        return at;
    }

    /// <summary>The recorded insecure_test_parameters byte: 0 false, 1 true; any other value is damage.</summary>
    private static bool Recorded(byte value, string path) => value switch
    {
        0 => false,
        1 => true,
        _ => throw StateFileException.Damaged(path, $"the recorded insecure_test_parameters byte is {value}, not 0 or 1"),
    };

    private static string Name(BankStateKind kind) => kind == BankStateKind.Homomorphic ? "homomorphic" : "masking";
}
