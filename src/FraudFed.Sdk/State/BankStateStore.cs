// BankStateStore: a bank's state directory (SPEC.md 14.6). Two sealed files:
//   ledger.bin      the decryption ledger (FileDecryptionLedger), written before any upload or share leaves the bank;
//   bank-state.bin  the party's exported state (HomomorphicBankParty.ExportState once Ready, or MaskingBank.ExportState),
//                   the mailbox sequence of the last item it handled, and the replies to that item (the outbox). Written
//                   after the party handled an item and before its replies are sent, so that a restart resends them (the
//                   appliance answers a resend of accepted bytes as it answered the first send) and reads the mailbox after
//                   that item.
// Plaintext layout of bank-state.bin: "FFBS" | version (2) | kind (u8: 1 homomorphic, 2 masking) | last sequence (u64) |
// outbox count (u32), then u32 length + bytes per reply | party state (u32 length + bytes). Little-endian. Version 1 (no
// kind byte) is read as homomorphic.
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FraudFed.Sdk.State;

/// <summary>What a restarted bank reads back: its party's state, where its mailbox stopped, and the replies to resend.</summary>
/// <param name="PartyState">The exported party state (SECRET; cleared by <see cref="Dispose"/>).</param>
/// <param name="LastSequence">Mailbox sequence of the last item the party handled.</param>
/// <param name="Outbox">Serialized replies to that item.</param>
internal sealed record SavedBankState(byte[] PartyState, ulong LastSequence, IReadOnlyList<byte[]> Outbox) : IDisposable
{
    public void Dispose() => CryptographicOperations.ZeroMemory(PartyState);
}

/// <summary>Which party's state a bank-state file holds (SPEC.md 14.6): a state of one mode is refused for the other.</summary>
internal enum BankStateKind : byte
{
    Homomorphic = 1,
    Masking = 2,
}

/// <summary>A bank's sealed state directory: its durable ledger and its party state. The key stays owned by the caller.</summary>
internal sealed class BankStateStore
{
    public const string PartyPurpose = "bank-state";
    public const string PartyFile = "bank-state.bin";
    public const string LedgerFile = "ledger.bin";
    private static ReadOnlySpan<byte> Magic => "FFBS"u8;
    private const byte Version = 2;

    private readonly StateKey _key;

    /// <exception cref="StateFileException">the directory cannot be created or the ledger does not verify.</exception>
    public BankStateStore(string directory, StateKey key)
    {
        Directory = directory;
        _key = key;
        EncryptedStateFile.EnsureDirectory(directory);
        Ledger = new FileDecryptionLedger(Path.Combine(directory, LedgerFile), key);
    }

    public string Directory { get; }
    public FileDecryptionLedger Ledger { get; }
    public string PartyPath => Path.Combine(Directory, PartyFile);

    /// <summary>Writes the party state, the last handled sequence and its replies (sealed, atomic).</summary>
    public void Save(BankStateKind kind, ReadOnlySpan<byte> partyState, ulong lastSequence, IReadOnlyList<byte[]> outbox)
    {
        long size = 4 + 1 + 1 + 8 + 4 + 4 + (long)partyState.Length + outbox.Sum(o => 4L + o.Length);
        if (size > int.MaxValue) throw new StateFileException(PartyPath, "the bank state would exceed 2 GiB.");
        var b = new byte[size];
        try
        {
            int at = 0;
            Magic.CopyTo(b); at = 4; b[at++] = Version; b[at++] = (byte)kind;
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), lastSequence); at += 8;
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)outbox.Count); at += 4;
            foreach (byte[] o in outbox)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)o.Length); at += 4;
                o.CopyTo(b, at); at += o.Length;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)partyState.Length); at += 4;
            partyState.CopyTo(b.AsSpan(at));
            EncryptedStateFile.Write(PartyPath, PartyPurpose, _key, b);
        }
        finally { CryptographicOperations.ZeroMemory(b); }
    }

    /// <summary>The saved state of a <paramref name="kind"/> party, or null when the bank has none yet.</summary>
    /// <exception cref="StateFileException">the file does not verify or parse, or holds the other mode's party.</exception>
    public SavedBankState? Load(BankStateKind kind)
    {
        byte[]? b = EncryptedStateFile.Read(PartyPath, PartyPurpose, _key);
        if (b is null) return null;
        try
        {
            int at = 0;
            ReadOnlySpan<byte> Take(long n)
            {
                if (n < 0 || b.Length - at < n) throw new StateFileException(PartyPath, "the bank state is truncated; restore it from backup.");
                var s = b.AsSpan(at, (int)n); at += (int)n; return s;
            }
            if (!Take(4).SequenceEqual(Magic)) throw new StateFileException(PartyPath, "not a bank state file.");
            byte version = Take(1)[0];
            if (version is not (1 or Version)) throw new StateFileException(PartyPath, $"bank state version {version} is not supported (1 and {Version} are).");
            var saved = version == 1 ? BankStateKind.Homomorphic : (BankStateKind)Take(1)[0];
            if (saved != kind)
                throw new StateFileException(PartyPath, saved is BankStateKind.Homomorphic or BankStateKind.Masking
                    ? $"the state directory holds a {Name(saved)} bank's state and this bank.json is a {Name(kind)} federation; use the state directory of this bank.json, or remove the file to join a new session."
                    : "the bank state names an unknown mode.");
            ulong last = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
            if (count > (b.Length - at) / 4) throw new StateFileException(PartyPath, "the bank state is truncated; restore it from backup.");
            var outbox = new List<byte[]>((int)count);
            for (uint i = 0; i < count; i++) outbox.Add(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray());
            byte[] party = Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray();
            if (at != b.Length) { CryptographicOperations.ZeroMemory(party); throw new StateFileException(PartyPath, "trailing bytes after the bank state."); }
            return new SavedBankState(party, last, outbox);
        }
        finally { CryptographicOperations.ZeroMemory(b); }
    }

    private static string Name(BankStateKind kind) => kind == BankStateKind.Homomorphic ? "homomorphic" : "masking";
}
