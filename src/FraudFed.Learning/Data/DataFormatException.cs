// The one typed error for bad input data: it names the file, column, row and/or bank at fault.
namespace FraudFed.Learning.Data;

/// <summary>Input data is unusable (missing column, non-finite value, wrong type, empty bank, ...).</summary>
public sealed class DataFormatException : FormatException
{
    /// <summary>Creates the error; <paramref name="row"/> is 1-based as a user counts data lines (the header is not counted).</summary>
    public DataFormatException(string message, string? column, long? row, string? bank = null, string? file = null) : base(message)
    {
        Column = column;
        Row = row;
        Bank = bank;
        File = file;
    }

    /// <summary>The offending column, if any.</summary>
    public string? Column { get; }
    /// <summary>The offending data row (1-based, header excluded), if any.</summary>
    public long? Row { get; }
    /// <summary>The offending bank, if any.</summary>
    public string? Bank { get; }
    /// <summary>The offending file (a CSV or schema path), if any.</summary>
    public string? File { get; }
    /// <summary>Why the banks' data cannot be used, when that is the error (a bank without rows or fraud in a window, or no
    /// fraud in either window at any bank); null for any other error.</summary>
    public BankShortfall? Shortfall { get; init; }
}
