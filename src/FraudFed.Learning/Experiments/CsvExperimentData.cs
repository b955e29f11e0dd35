// The library entry point for an experiment on a CSV file (what `fraudfed simulate --csv` runs, and what the bank
// SDK can call): read the file with a schema, split it across banks (its bank column, else a label-skewed
// Dirichlet split), refuse banks the experiment cannot use before any training, and describe the data (file,
// SHA-256, schema, split) for the reports. Then FederatedExperiment.Run(options with { DataSource = Source }, Banks, ...).
using System.Globalization;
using FraudFed.Learning.Data;

namespace FraudFed.Learning.Experiments;

/// <summary>How to split a table without a bank column, and the later window every bank is tested on.</summary>
public sealed record CsvSplit
{
    /// <summary>Banks of the Dirichlet split (ignored when the schema has a bank column).</summary>
    public int Banks { get; init; } = 5;
    /// <summary>Dirichlet concentration per class: small values give very uneven banks.</summary>
    public double Alpha { get; init; } = 10;
    /// <summary>Seed of the split.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Share of time (latest first) held out as every bank's test window.</summary>
    public double TestFraction { get; init; } = 0.25;
}

/// <summary>A CSV file read, split across banks and checked, with its description for reports.</summary>
/// <param name="Table">The rows as read.</param>
/// <param name="Banks">Each bank's training rows and later test window.</param>
/// <param name="Source">The data source as reports show it (file, SHA-256, schema, split, ...).</param>
public sealed record CsvExperimentData(CsvTable Table, IReadOnlyList<BankData> Banks, IReadOnlyList<RunSetting> Source)
{
    /// <summary>Reads <paramref name="path"/>, splits it and checks every bank (see the file header).</summary>
    /// <param name="path">The CSV file.</param>
    /// <param name="schema">Column roles.</param>
    /// <param name="split">Split settings.</param>
    /// <param name="categories">Category encoder (default: public salt); the caller keeps ownership.</param>
    /// <param name="fix">What the caller can change when a bank is unusable, appended to that error whatever the reason (default:
    /// the fix for each reason, in terms of <see cref="CsvSplit"/>).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="DataFormatException">the file does not fit the schema, has no fraud (or only fraud), or a bank has no rows in
    /// a window or no fraud to learn from (<see cref="DataFormatException.Shortfall"/> says which).</exception>
    public static CsvExperimentData Load(string path, CsvSchema schema, CsvSplit split, CategoryEncoder? categories = null, string? fix = null, CancellationToken cancellationToken = default) =>
        Load(path, schema, split, categories, fix is null ? null : (Func<BankShortfall, string?>)(_ => fix), cancellationToken);

    /// <summary>Reads <paramref name="path"/>, splits it and checks every bank (see the file header), with a fix for each reason
    /// a bank is unusable.</summary>
    /// <param name="path">The CSV file.</param>
    /// <param name="schema">Column roles.</param>
    /// <param name="split">Split settings.</param>
    /// <param name="categories">Category encoder (default: public salt); the caller keeps ownership.</param>
    /// <param name="fix">For the reason a bank is unusable, what the caller can change (appended to that error), or null for
    /// nothing to add; a null function: the fix for each reason in terms of <see cref="CsvSplit"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <exception cref="DataFormatException">the file does not fit the schema, has no fraud (or only fraud), or a bank has no rows in
    /// a window or no fraud to learn from (<see cref="DataFormatException.Shortfall"/> says which).</exception>
    public static CsvExperimentData Load(string path, CsvSchema schema, CsvSplit split, CategoryEncoder? categories, Func<BankShortfall, string?>? fix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(split);
        CsvTable table = CsvDatasetLoader.Load(path, schema, categories, cancellationToken);
        CsvSource src = table.Source!;
        int fraud = table.Rows.Positives;
        if (fraud == 0) throw new DataFormatException($"{path}: no row is labelled fraud in label column '{schema.LabelColumn}'; nothing to learn.", schema.LabelColumn, null, file: path);
        if (fraud == table.Rows.Rows) throw new DataFormatException($"{path}: every row is labelled fraud in label column '{schema.LabelColumn}'.", schema.LabelColumn, null, file: path);

        IReadOnlyList<BankData> banks;
        string description;
        fix ??= why => DefaultFix(why, table.Banks is not null, split);
        if (table.Banks is not null)
        {
            banks = WithFix(() => BankSplitter.ByBankColumn(table, split.TestFraction), fix);
            description = $"bank column '{schema.BankColumn}'";
        }
        else
        {
            banks = WithFix(() => BankSplitter.ByDirichlet(table.Rows, split.Banks, split.Alpha, split.Seed, split.TestFraction), fix);
            description = $"Dirichlet label-skew split over {split.Banks} banks, alpha {split.Alpha.ToString(CultureInfo.InvariantCulture)}, seed {split.Seed}";
        }
        FederatedExperiment.CheckBanks(banks, baselines: true, fix);

        IReadOnlyList<RunSetting> source =
        [
            new("source", "data source", "csv"),
            new("path", "file", Path.GetFullPath(path)),
            new("sha256", "SHA-256 of the file", src.Sha256),
            new("bytes", "file size (bytes)", src.Bytes),
            new("schema", "schema", schema.Name),
            new("separator", "separator", src.Separator),
            new("rows", "rows", src.Rows),
            new("fraud_rows", "fraud rows", fraud),
            new("label", "label column", schema.LabelColumn),
            new("time", "time column", schema.TimeColumn),
            new("features", "feature columns", src.Features.Count),
            new("categorical", "categorical columns", string.Join(", ", src.Categorical)),
            new("category_encoding", "category encoding", src.CategoryEncoding),
            new("dropped", "dropped columns (identifiers, ignored, unlisted)", string.Join(", ", src.Dropped)),
            new("missing_cells", "missing feature cells", src.MissingCells.Values.Sum()),
            new("split", "split across banks", description),
            new("seed", "seed of the split", split.Seed),
            new("test_fraction", "later window held out for testing", split.TestFraction),
        ];
        return new CsvExperimentData(table, banks, source);
    }

    /// <summary>The fix for <paramref name="why"/> in terms of <see cref="CsvSplit"/>: for one bank's shortage, the bank column's
    /// banks to merge (<paramref name="bankColumn"/>) or a more even split; for a shortage of every bank, none a split can make.</summary>
    private static string DefaultFix(BankShortfall why, bool bankColumn, CsvSplit split) => why switch
    {
        BankShortfall.NoTrainingFraudAtAnyBank => string.Create(CultureInfo.InvariantCulture, $"All of the file's fraud lies in the later test window (the latest {split.TestFraction:0%} by time), which no split changes."),
        BankShortfall.NoTestFraudAtAnyBank => string.Create(CultureInfo.InvariantCulture, $"None of the file's fraud lies in the later test window (the latest {split.TestFraction:0%} by time), which no split changes."),
        _ when bankColumn => "Merge it with another bank in the file's bank column.",
        _ => "Use a larger alpha (a more even split)" + (split.Banks > 1 ? ", fewer banks" : "") + " or another seed.",
    };

    private static IReadOnlyList<BankData> WithFix(Func<IReadOnlyList<BankData>> split, Func<BankShortfall, string?> fix)
    {
        try { return split(); }
        catch (DataFormatException e) when (e.Shortfall is { } why && fix(why) is { Length: > 0 } f)
        {
            throw new DataFormatException(e.Message + " " + f, e.Column, e.Row, e.Bank, e.File) { Shortfall = why };
        }
    }
}
