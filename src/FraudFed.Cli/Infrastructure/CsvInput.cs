// The CSV input options shared by `simulate --csv` and `bank train --data`: the settings, the schema they resolve to, and the
// readable-file and consortium-key checks (each refusal a UsageException naming the option, exit 2).
using System.Security.Cryptography;
using System.Text;
using FraudFed.Learning.Data;

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
        else if (File.Exists(csv.Schema)) schema = CsvSchema.FromFile(csv.Schema);
        else if (Directory.Exists(csv.Schema)) throw new UsageException($"--schema '{csv.Schema}' is a directory; give ulb, paysim, ieee-cis or a JSON schema file.");
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
        catch (ArgumentException e) { throw new UsageException($"--schema {schema.Name} with the column options: {e.Message.Split(" (Parameter")[0]}"); }
        return schema;
    }

    internal static void CheckReadable(string path, string option)
    {
        if (Directory.Exists(path)) throw new UsageException($"{option} '{path}' is a directory; give a file.");
        if (!File.Exists(path)) throw new UsageException($"{option} '{path}' does not exist.");
        try { using var _ = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"{option} '{path}' cannot be read: {e.Message}"); }
    }

    /// <summary>The consortium key: a file of at least 32 raw bytes, or of at least 64 hex digits.</summary>
    internal static byte[] ReadConsortiumKey(string path)
    {
        CheckReadable(path, "--category-key");
        byte[] raw = File.ReadAllBytes(path);
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
}
