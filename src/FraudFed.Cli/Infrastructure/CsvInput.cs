// The CSV input options shared by `simulate --csv` and `bank train --data`: the settings, the schema they resolve to, and the
// readable-file, regular-file, text-file and consortium-key checks (each refusal a UsageException naming the option, exit 2).
using System.Security.Cryptography;
using System.Text;
using FraudFed.Learning.Data;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Options of a CSV run (all null/default without --csv).</summary>
internal sealed record CsvSettings(string? Path, string? Schema = null, string? Label = null, string? Time = null, string? BankColumn = null,
    IReadOnlyList<string>? IdColumns = null, IReadOnlyList<string>? Categorical = null, IReadOnlyList<string>? Ignore = null,
    string? Separator = null, double Alpha = CsvInput.DefaultAlpha, string? CategoryKeyFile = null, int CategoryBuckets = CategoryEncoder.DefaultBuckets);

/// <summary>Checks and resolution of CSV input options.</summary>
internal static class CsvInput
{
    /// <summary>Default Dirichlet concentration of a CSV split without a bank column.</summary>
    public const double DefaultAlpha = 10;

    internal static CsvSchema ResolveSchema(CsvSettings csv)
    {
        CsvSchema schema;
        if (csv.Schema is null) schema = new CsvSchema { LabelColumn = csv.Label!, Name = "custom" };
        else if (CsvSchema.Preset(csv.Schema) is { } preset) schema = preset;
        else if (File.Exists(csv.Schema))
        {
            CheckReadable(csv.Schema, "--schema");
            schema = CsvSchema.FromFile(csv.Schema);
        }
        else if (Directory.Exists(csv.Schema)) throw new UsageException($"--schema '{csv.Schema}' is a directory; give ulb, paysim, ieee-cis or a JSON schema file.");
        else if (InputFileAccess.WhyNotThere(csv.Schema) is { } why) throw new UsageException($"--schema {why}.");
        else throw new UsageException($"--schema '{csv.Schema}' is neither a preset (ulb, paysim, ieee-cis) nor an existing JSON schema file.");
        schema = schema with
        {
            LabelColumn = csv.Label ?? schema.LabelColumn,
            TimeColumn = csv.Time ?? schema.TimeColumn,
            BankColumn = csv.BankColumn ?? schema.BankColumn,
            IdColumns = csv.IdColumns ?? schema.IdColumns,
            CategoricalColumns = csv.Categorical ?? schema.CategoricalColumns,
            IgnoredColumns = csv.Ignore ?? schema.IgnoredColumns,
            Separator = csv.Separator is { } sep ? CsvSchema.ParseSeparator(sep) : schema.Separator,
        };
        try { schema.Validate(); }
        catch (ArgumentException e)
        {
            // Name what the user gave: a schema only when one was given (without --schema the columns come from the options alone).
            string given = csv.Schema is null ? "the column options" : $"--schema {schema.Name} with the column options";
            throw new UsageException($"{given}: {e.Message.Split(" (Parameter")[0]}");
        }
        return schema;
    }

    internal static void CheckReadable(string path, string option)
    {
        if (Directory.Exists(path)) throw new UsageException($"{option} '{path}' is a directory; give a file.");
        if (!File.Exists(path)) throw new UsageException(InputFileAccess.WhyNotThere(path) is { } why ? $"{option} {why}." : $"{option} '{path}' does not exist.");
        try { using var _ = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException(CannotRead(path, option, e)); }
    }

    /// <summary>"--data 'd.csv' cannot be read (permission denied): run as a user that may read it, or fix its permissions."
    /// (or an input/output error), never the framework's message.</summary>
    internal static string CannotRead(string path, string option, Exception e) => e is UnauthorizedAccessException
        ? $"{option} {InputFileAccess.Denied(path)}."
        : $"{option} '{path}' cannot be read (an input/output error): check the file and its disk, or restore it from a copy.";

    /// <summary>Bytes of a CSV file read to tell text from a compressed, binary or non-UTF-8 file.</summary>
    internal const int TextProbeBytes = 1 << 16;

    /// <summary>
    /// The CSV file of <paramref name="option"/> (--csv, --data) before any work: readable, a regular file (it is read
    /// twice, so a pipe or a terminal is refused; a device that seeks, such as /dev/zero, is refused as not text), and text. Its first
    /// <see cref="TextProbeBytes"/> bytes must hold no NUL byte and be valid UTF-8 (RFC 3629; a UTF-8 byte order mark is
    /// fine), unless they start with a UTF-16 or UTF-32 byte order mark (text the reader decodes as such); a file that is not
    /// text is named for what it starts like (gzip, zip as an .xlsx workbook is, bzip2, xz, zstd, 7z, Parquet, an Excel .xls,
    /// SQLite, UTF-16 text without a byte order mark), else for its first NUL byte or the first byte that is not UTF-8.
    /// Such a file would otherwise be read as mojibake and refused for a header or a cell that the user never wrote.
    /// </summary>
    /// <remarks>"-" (standard input to many tools) is refused as such, saying to save the data to a file first.</remarks>
    /// <exception cref="UsageException">naming the option, the file and what it looks like, with the fix.</exception>
    internal static void CheckCsvFile(string path, string option)
    {
        // "-" is standard input to many tools; here it would be looked up as a file named "-" and said not to exist.
        if (path == "-")
            throw new UsageException($"{option} '-': reading the CSV file from standard input is not supported (the file is read twice: its header " +
                $"before any work, then its rows): save the data to a file first and give that file, as in {option} data.csv (a file named '-' is given as ./-).");
        // A pipe is refused before anything opens it: opening a named FIFO that no process writes would block for good.
        if (OwnerMarker.IsPipe(path) == true) throw new UsageException(NotRegularFile(path, option));
        CheckReadable(path, option);
        byte[] start = new byte[TextProbeBytes];
        int read;
        bool whole;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            // A pipe (/dev/stdin, <(...)) or a terminal gives its bytes once, and the file is read twice: its header before
            // any work, then its rows, which would start wherever the header's read stopped.
            if (!file.CanSeek) throw new UsageException(NotRegularFile(path, option));
            read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
            whole = read < start.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException(CannotRead(path, option, e)); }
        if (NotText(start.AsSpan(0, read), whole) is { } looks)
            throw new UsageException($"{option} '{path}' is not a text CSV file ({looks}).");
    }

    private static string NotRegularFile(string path, string option) =>
        $"{option} '{path}' is not a regular file but a pipe or a terminal, which can be read only once, and the CSV file is read twice " +
        "(its header before any work, then its rows): save it to a file first and give that file.";

    /// <summary>What the start of a file looks like when it is not UTF-8 text (see <see cref="CheckCsvFile"/>), with the fix;
    /// null for text. <paramref name="whole"/>: the bytes are the whole file (a sequence cut at their end is then invalid).
    /// Only bytes that no text holds refuse a file (a NUL, invalid UTF-8); the signatures then say what it is, so that a
    /// header that happens to start like one (PAR1,PAR2,...) is still text.</summary>
    internal static string? NotText(ReadOnlySpan<byte> bytes, bool whole)
    {
        // UTF-16 or UTF-32 text that starts with its byte order mark: the reader decodes it as such.
        if (bytes is [0xFF, 0xFE, ..] or [0xFE, 0xFF, ..] or [0x00, 0x00, 0xFE, 0xFF, ..]) return null;
        int nul = bytes.IndexOf((byte)0);
        int invalid = -1;
        if (nul < 0 && System.Text.Unicode.Utf8.ToUtf16(bytes, new char[bytes.Length], out int used, out _, replaceInvalidSequences: false, isFinalBlock: whole)
            == System.Buffers.OperationStatus.InvalidData)
            invalid = used;
        if (nul < 0 && invalid < 0) return null;
        foreach (var (magic, what) in Signatures)
            if (bytes.StartsWith(magic)) return $"it starts like {what}";
        if (nul >= 0)
            return LooksLikeUtf16(bytes)
                ? "it looks like UTF-16 text, every other byte a NUL: save it as UTF-8"
                : $"byte {nul + 1} is a NUL byte, which no text holds: it looks like a binary file";
        int line = bytes[..invalid].Count((byte)'\n') + 1;
        return $"byte {invalid + 1}, on line {line}, is not UTF-8; the file is probably in a legacy encoding such as Windows-1252 or Latin-1: " +
            "save it as UTF-8 (iconv -f WINDOWS-1252 -t UTF-8 converts a Windows-1252 file)";
    }

    /// <summary>The first bytes of files that people give for a CSV file by mistake, and what each is.</summary>
    private static readonly (byte[] Magic, string What)[] Signatures =
    [
        ([0x1F, 0x8B], "a gzip file: decompress it first"),
        ("PK\u0003\u0004"u8.ToArray(), "a zip file, as an .xlsx workbook does: extract the CSV file, or save the sheet as CSV, first"),
        ("PK\u0005\u0006"u8.ToArray(), "an empty zip file: extract the CSV file first"),
        ("BZh"u8.ToArray(), "a bzip2 file: decompress it first"),
        ([0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00], "an xz file: decompress it first"),
        ([0x28, 0xB5, 0x2F, 0xFD], "a zstd file: decompress it first"),
        ([(byte)'7', (byte)'z', 0xBC, 0xAF, 0x27, 0x1C], "a 7z archive: extract the CSV file first"),
        ("PAR1"u8.ToArray(), "a Parquet file: export it as CSV first"),
        ([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], "an Excel .xls workbook: save the sheet as CSV first"),
        ("SQLite format 3\u0000"u8.ToArray(), "an SQLite database: export the table as CSV first"),
    ];

    /// <summary>ASCII text in UTF-16 without a byte order mark: NUL in most bytes of one parity and in few of the other.</summary>
    private static bool LooksLikeUtf16(ReadOnlySpan<byte> bytes)
    {
        int n = Math.Min(bytes.Length, 4096) & ~1;
        if (n < 4) return false;
        int even = 0, odd = 0;
        for (int i = 0; i < n; i += 2)
        {
            if (bytes[i] == 0) even++;
            if (bytes[i + 1] == 0) odd++;
        }
        int pairs = n / 2;
        return (odd > pairs * 3 / 4 && even < pairs / 8) || (even > pairs * 3 / 4 && odd < pairs / 8);
    }

    /// <summary>The consortium key: a file of at least 32 raw bytes, or of at least 64 hex digits.</summary>
    internal static byte[] ReadConsortiumKey(string path)
    {
        CheckReadable(path, "--category-key");
        byte[] raw;
        try { raw = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException(CannotRead(path, "--category-key", e)); }
        try
        {
            string text = Encoding.ASCII.GetString(raw).Trim();
            if (text.Length >= 64 && text.Length % 2 == 0 && text.All(Uri.IsHexDigit)) return Convert.FromHexString(text);
            if (raw.Length < CategoryEncoder.MinKeyBytes)
                throw new UsageException($"--category-key '{path}' holds {raw.Length} bytes; a consortium key has at least {CategoryEncoder.MinKeyBytes} (raw) or 64 hex digits.");
            return (byte[])raw.Clone();
        }
        finally { CryptographicOperations.ZeroMemory(raw); }
    }

    /// <summary>The column names of a list option (--id-columns a,b or given twice), null when not given.</summary>
    /// <exception cref="UsageException">an empty name, as in 'a,,b' or a trailing comma.</exception>
    internal static IReadOnlyList<string>? Columns(string option, string[]? values) => values is null || values.Length == 0 ? null
        : values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).Select(c => c.Length > 0 ? c
            : throw new UsageException($"{option} '{string.Join(',', values)}' has an empty column name (as in 'a,,b' or a trailing comma); give one name between every two commas.")).ToArray();
}
