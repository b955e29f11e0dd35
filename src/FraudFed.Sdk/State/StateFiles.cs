// The bank's state at rest (SPEC.md 14.6): every file of the state directory is sealed with AES-256-GCM under the
// operator's 32-byte state key (a key file or the FRAUDFED_STATE_KEY environment variable, never in the state directory),
// with the file's purpose bound in the associated data so that one state file cannot stand in for another. Files are
// created with mode 0600 in a 0700 directory and replaced atomically: written to a temporary file in the same directory,
// flushed to disk, then renamed over the old one, so a crash leaves either the old or the new file, never a torn one. (The
// homomorphic round part, saved per message, is written in place into two slots instead: SlottedStateFile.)
// File layout: "FFSF" | version (1) | nonce (12) | tag (16) | ciphertext. A fresh random nonce per write.
using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Sdk.State;

/// <summary>A state file cannot be used: its authentication tag does not verify (tampered, truncated, another key or
/// another file's bytes), its format is unknown, or it cannot be read or written. The message names the file and what to
/// do; it never carries key or state bytes.</summary>
public sealed class StateFileException : FederationException
{
    /// <summary>A refusal of <paramref name="path"/>; the message is <c>"&lt;path&gt;: &lt;message&gt;"</c>.</summary>
    /// <param name="path">The state file concerned.</param>
    /// <param name="message">What is wrong and what to do.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public StateFileException(string path, string message, Exception? inner = null) : base($"{path}: {message}", inner) => Path = path;

    /// <summary>A refusal whose message is <paramref name="fullMessage"/> as given (<see cref="Damaged"/> puts the file's name
    /// after its diagnosis); <paramref name="asGiven"/> only tells this constructor from the public one.</summary>
    private StateFileException(string path, string fullMessage, Exception? inner, bool asGiven) : base(fullMessage, inner) => Path = path;

    /// <summary>The state file concerned.</summary>
    public string Path { get; }

    /// <summary>How every damaged-state message starts (<see cref="Damaged"/>).</summary>
    internal const string DamagedHead = "the bank's saved state is damaged";

    /// <summary>The one advice of every damaged state file (empty, too short, unknown magic or version, a tag that does not
    /// verify, truncated, trailing bytes, a key part that is missing or not the one named; SPEC.md 14.6, 14.7), after
    /// <see cref="DamagedHead"/> and the file's name. The state carries what the bank already revealed (the homomorphic round
    /// part carries the decryption ledger): an older copy, or no state in the session that state belongs to, could let the bank
    /// help open a sum twice. A new session has new keys, so a bank without its state joins only a new one.</summary>
    internal const string DamagedAdvice =
        "Restore the whole state directory only from a backup taken after this bank's last run "
        + "(an older copy carries an older decryption ledger, which could let this bank help open a sum twice); without such a backup "
        + "this bank must not rejoin the current session: move the state directory away and join a new session (the operator starts "
        + "one with a new appliance state file; its new keys make that safe).";

    /// <summary>A damaged-state refusal of <paramref name="path"/>: <c>"the bank's saved state is damaged (&lt;path&gt;). "</c>
    /// and <see cref="DamagedAdvice"/> first (that the state is damaged and what to do, for the person who reads only the start
    /// of the line), then the technical cause, <paramref name="what"/>.</summary>
    internal static StateFileException Damaged(string path, string what, Exception? inner = null) =>
        new(path, $"{DamagedHead} ({path}). {DamagedAdvice} Cause: {what}.", inner, asGiven: true);
}

/// <summary>The 32-byte AES-256-GCM key that seals a bank's state directory. Dispose clears it.</summary>
public sealed class StateKey : IDisposable
{
    /// <summary>Environment variable read when the configuration names no key file: 64 hex digits.</summary>
    public const string EnvironmentVariable = "FRAUDFED_STATE_KEY";

    private readonly byte[] _key;
    private StateKey(byte[] key) => _key = key;

    internal ReadOnlySpan<byte> Bytes => _key;

    /// <summary>A copy of <paramref name="key"/> (32 bytes).</summary>
    /// <exception cref="ArgumentException">not 32 bytes.</exception>
    public static StateKey FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32) throw new ArgumentException("A state key is 32 bytes.", nameof(key));
        return new StateKey(key.ToArray());
    }

    /// <summary>Reads the key from <paramref name="keyFile"/> (one line of 64 hex digits; lines starting with '#' are
    /// comments) or, when it is null or empty, from <see cref="EnvironmentVariable"/>. On Unix a key file readable by group
    /// or others is refused.</summary>
    /// <exception cref="ConfigurationException">no key, a malformed key, or a key file with a permissive mode.</exception>
    public static StateKey Load(string? keyFile) => Load(keyFile, "bank.json");

    /// <summary><see cref="Load(string?)"/> for the bank.json at <paramref name="configPath"/> (named in messages).</summary>
    internal static StateKey Load(string? keyFile, string configPath)
    {
        string text;
        string source;
        if (!string.IsNullOrEmpty(keyFile))
        {
            source = keyFile;
            if (!File.Exists(keyFile)) throw new ConfigurationException($"{keyFile}: no such state key file.");
            ConfigJson.RequireOwnerOnly(keyFile, "state key", "state_key_file", configPath);
            try { text = string.Join('\n', File.ReadAllLines(keyFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException(ConfigJson.Unreadable(keyFile, "state key", e, "state_key_file", configPath)); }
        }
        else
        {
            source = "environment variable " + EnvironmentVariable;
            text = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim() ?? "";
            if (text.Length == 0) throw new ConfigurationException($"a state directory is configured but no state key: set state_key_file in bank.json or the {EnvironmentVariable} environment variable (64 hex digits).");
        }
        if (text.Length != 64 || !text.All(Uri.IsHexDigit)) throw new ConfigurationException($"{source}: a state key is one line of 64 hex digits (32 bytes).");
        return new StateKey(Convert.FromHexString(text));
    }

    /// <inheritdoc />
    public void Dispose() => CryptographicOperations.ZeroMemory(_key);

    /// <inheritdoc />
    public override string ToString() => "StateKey";
}

/// <summary>Sealed, atomically replaced files of a bank's state directory.</summary>
public static partial class EncryptedStateFile
{
    private static ReadOnlySpan<byte> Magic => "FFSF"u8;
    private const byte Version = 1;
    private const int HeaderSize = 4 + 1 + 12 + 16;
    private const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode DirectoryMode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="directory"/> (mode 0700 on Unix) if needed.</summary>
    /// <exception cref="StateFileException">it cannot be created.</exception>
    public static void EnsureDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) return;
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
            else Directory.CreateDirectory(directory, DirectoryMode0700);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new StateFileException(directory, $"the state directory cannot be created ({(e is UnauthorizedAccessException ? "permission denied" : "an input/output error, or a file where a folder of its path should be")}); point state_directory in bank.json at a directory this process can create, or create it (mode 0700) as the user that runs the bank.", e); }
    }

    /// <summary>Seals <paramref name="plaintext"/> for <paramref name="purpose"/> and replaces <paramref name="path"/> atomically
    /// (temporary file mode 0600, flushed, renamed).</summary>
    /// <exception cref="StateFileException">the file cannot be written (nothing replaced).</exception>
    public static void Write(string path, string purpose, StateKey key, ReadOnlySpan<byte> plaintext)
    {
        ArgumentNullException.ThrowIfNull(key);
        using SealingBuffer buffer = Rent(plaintext.Length);
        plaintext.CopyTo(buffer.Span[HeaderSize..]);
        WriteInPlace(path, purpose, key, buffer, syncDirectory: false, digest: false);
    }

    /// <summary>As <see cref="Write"/>, then (with <paramref name="syncDirectory"/>) fsyncs the directory so that the rename is
    /// durable before the caller writes a file that names this one. Returns the SHA-256 of the sealed bytes as written.</summary>
    internal static byte[] WriteSealed(string path, string purpose, StateKey key, ReadOnlySpan<byte> plaintext, bool syncDirectory)
    {
        ArgumentNullException.ThrowIfNull(key);
        using SealingBuffer buffer = Rent(plaintext.Length);
        plaintext.CopyTo(buffer.Span[HeaderSize..]);
        return WriteInPlace(path, purpose, key, buffer, syncDirectory, digest: true)!;
    }

    /// <summary>Bytes a sealed file has before its ciphertext: a caller of <see cref="WriteInPlace"/> leaves them free at the
    /// start of its buffer and writes the plaintext after them.</summary>
    internal const int SealedHeaderSize = HeaderSize;

    /// <summary>Files of up to this many bytes (256 MiB) are sealed in a pooled buffer (<see cref="Rent"/>); larger ones in their own array.</summary>
    private const int PooledFileBytes = 1 << 28;

    /// <summary>The sealing buffers: a bank seals an upload or its decryption shares (megabytes) before every send, and a fresh
    /// array of that size costs a clear and a page fault per 4 KiB page each time. A returned buffer holds ciphertext or zeros
    /// only (sealed in place, or cleared on failure), so it is not cleared again. At most 4 buffers per power-of-two size are
    /// kept.</summary>
    private static readonly ArrayPool<byte> SealingPool = ArrayPool<byte>.Create(PooledFileBytes, 4);

    /// <summary>A buffer for <see cref="WriteInPlace"/>: <see cref="SealedHeaderSize"/> free bytes, then room for
    /// <paramref name="plaintextLength"/> bytes of plaintext (<see cref="SealingBuffer.Span"/> is the file's exact length). Dispose
    /// it once written; until then its bytes are the caller's.</summary>
    /// <exception cref="ArgumentOutOfRangeException">the file would exceed 2 GiB.</exception>
    internal static SealingBuffer Rent(long plaintextLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(plaintextLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(plaintextLength, Array.MaxLength - HeaderSize);
        return new SealingBuffer(SealingPool, HeaderSize + (int)plaintextLength);
    }

    /// <summary>As <see cref="WriteSealed"/> for a plaintext already placed at <see cref="SealedHeaderSize"/> in
    /// <paramref name="buffer"/>: it is encrypted in place (no second buffer of the file's size) and the header written before
    /// it, so that on return, or on any exception, <paramref name="buffer"/> holds no plaintext. Returns the SHA-256 of the
    /// sealed bytes when <paramref name="digest"/> (a file another names by digest), else null (no hash pass).</summary>
    internal static byte[]? WriteInPlace(string path, string purpose, StateKey key, SealingBuffer buffer, bool syncDirectory, bool digest)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(buffer);
        Span<byte> file = buffer.Span;
        if (file.Length < HeaderSize) throw new ArgumentException("The buffer has no room for the header.", nameof(buffer));
        SealInPlace(file, key, Aad(purpose));
        string temp = path + ".tmp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6));
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode0600;
            using (var f = new FileStream(temp, options))
            {
                f.Write(buffer.Span);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            if (syncDirectory) DurableDirectory.Sync(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new StateFileException(path, $"the state file cannot be written ({e.Message}); check the disk and the directory's permissions.", e);
        }
        return digest ? SHA256.HashData(buffer.Span) : null;
    }

    /// <summary>Opens <paramref name="path"/> sealed for <paramref name="purpose"/>, or returns null if it does not exist. The
    /// caller clears the returned bytes after use.</summary>
    /// <exception cref="StateFileException">unreadable, unknown format, or the tag does not verify (tampered, truncated, another
    /// key or another file): the state is refused and nothing is used.</exception>
    public static byte[]? Read(string path, string purpose, StateKey key) => Read(path, purpose, key, expectedDigest: null);

    /// <summary>As <see cref="Read(string, string, StateKey)"/>; with <paramref name="expectedDigest"/>, the file's sealed bytes
    /// must also have that SHA-256 (compared in constant time, once the file verifies) or it is refused.</summary>
    internal static byte[]? Read(string path, string purpose, StateKey key, ReadOnlySpan<byte> expectedDigest)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!File.Exists(path)) return null;
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new StateFileException(path, $"the state file cannot be read ({e.Message}).", e); }
        if (data.Length < HeaderSize || !data.AsSpan(0, 4).SequenceEqual(Magic) || data[4] != Version)
            throw StateFileException.Damaged(path, data.Length < HeaderSize
                ? $"{(data.Length == 1 ? "1 byte" : $"{data.Length} bytes")}, too short for a FraudFed state file"
                : "not a version-1 FraudFed state file (unknown magic or version)");
        var plaintext = new byte[data.Length - HeaderSize];
        try
        {
            using var gcm = new AesGcm(key.Bytes, 16);
            gcm.Decrypt(data.AsSpan(5, 12), data.AsSpan(HeaderSize), data.AsSpan(17, 16), plaintext, Aad(purpose));
        }
        catch (AuthenticationTagMismatchException e)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            // A wrong key is the one cause a person can fix in place; otherwise the file is damaged, with the one advice.
            throw StateFileException.Damaged(path, DoesNotVerify, e);
        }
        // A file that verifies but is not the one named: another write of the same purpose (another setup's key part).
        if (!expectedDigest.IsEmpty && !CryptographicOperations.FixedTimeEquals(SHA256.HashData(data), expectedDigest))
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw StateFileException.Damaged(path, "the key part is not the one the round part names (another setup's key file)");
        }
        return plaintext;
    }

    /// <summary>Seals <paramref name="file"/> in place: its plaintext after <see cref="SealedHeaderSize"/> bytes becomes the
    /// ciphertext and the header ("FFSF" | version | fresh random nonce | tag) is written before it, under <paramref name="aad"/>.
    /// On return, or on any exception, <paramref name="file"/> holds no plaintext.</summary>
    internal static void SealInPlace(Span<byte> file, StateKey key, ReadOnlySpan<byte> aad)
    {
        Span<byte> body = file[HeaderSize..];
        try
        {
            Magic.CopyTo(file);
            file[4] = Version;
            Span<byte> nonce = file.Slice(5, 12);
            RandomNumberGenerator.Fill(nonce);
            using var gcm = new AesGcm(key.Bytes, 16);
            gcm.Encrypt(nonce, body, body, file.Slice(17, 16), aad);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(body);
            throw;
        }
    }

    /// <summary>Opens sealed bytes written by <see cref="SealInPlace"/> under <paramref name="aad"/>; the caller clears the
    /// returned plaintext. Null when the header is not a version-1 sealed header or the tag does not verify.</summary>
    internal static byte[]? TryOpen(ReadOnlySpan<byte> data, StateKey key, ReadOnlySpan<byte> aad)
    {
        if (data.Length < HeaderSize || !data[..4].SequenceEqual(Magic) || data[4] != Version) return null;
        var plaintext = new byte[data.Length - HeaderSize];
        try
        {
            using var gcm = new AesGcm(key.Bytes, 16);
            gcm.Decrypt(data.Slice(5, 12), data[HeaderSize..], data.Slice(17, 16), plaintext, aad);
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }
    }

    /// <summary>The cause every state file that does not verify reports (<see cref="StateFileException.Damaged"/>).</summary>
    internal const string DoesNotVerify = "the state file does not verify under the state key (damaged, truncated or tampered; "
        + $"or sealed with another key: if state_key_file in bank.json or {StateKey.EnvironmentVariable} is not this directory's key, use the right one)";

    /// <summary>True when <paramref name="data"/> starts like a file of this layout ("FFSF" and the version).</summary>
    internal static bool HasSealedHeader(ReadOnlySpan<byte> data) => data.Length >= 5 && data[..4].SequenceEqual(Magic) && data[4] == Version;

    /// <summary>The associated data of a sealed file of <paramref name="purpose"/>.</summary>
    internal static byte[] Aad(string purpose) => [.. Magic, Version, .. Encoding.UTF8.GetBytes("FraudFed/v1/bank-state/" + purpose)];
}

/// <summary>A rented sealing buffer of an exact file length (<see cref="EncryptedStateFile.Rent"/>); Dispose returns it to its pool.</summary>
internal sealed class SealingBuffer : IDisposable
{
    private readonly ArrayPool<byte> _pool;
    private byte[]? _array;

    internal SealingBuffer(ArrayPool<byte> pool, int length)
    {
        _pool = pool;
        _array = pool.Rent(length);
        Length = length;
    }

    /// <summary>The file's length in bytes.</summary>
    public int Length { get; }

    /// <summary>The buffer's first <see cref="Length"/> bytes.</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public Span<byte> Span => (_array ?? throw new ObjectDisposedException(nameof(SealingBuffer))).AsSpan(0, Length);

    /// <summary>Returns the buffer to its pool (its bytes are ciphertext or zeros by then: see <see cref="EncryptedStateFile.WriteInPlace"/>).</summary>
    public void Dispose()
    {
        byte[]? a = Interlocked.Exchange(ref _array, null);
        if (a is not null) _pool.Return(a);
    }
}
