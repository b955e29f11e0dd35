// CSV input: the ULB credit-card schema (Time, V1..V28, Amount, Class) or a generic schema with a named
// label column, an optional time column and an optional bank column. Fields follow RFC 4180 (quotes,
// doubled quotes, commas inside quotes). Every problem is a DataFormatException naming the column and the
// 1-based data row (header excluded): missing label/time/bank/feature column, a wrong field count, an
// empty or non-numeric value, NaN or infinity, a label other than 0/1.
using System.Globalization;

namespace FraudFed.Learning.Data;

/// <summary>How to read a CSV file.</summary>
public sealed record CsvSchema
{
    /// <summary>Name of the 0/1 label column (1 = fraud).</summary>
    public required string LabelColumn { get; init; }
    /// <summary>Optional numeric time column (used to hold out the later window; not a feature).</summary>
    public string? TimeColumn { get; init; }
    /// <summary>Optional column naming each row's bank (not a feature).</summary>
    public string? BankColumn { get; init; }
    /// <summary>Feature columns; null means every other column.</summary>
    public IReadOnlyList<string>? FeatureColumns { get; init; }
    /// <summary>Field separator.</summary>
    public char Separator { get; init; } = ',';

    /// <summary>The ULB credit-card fraud schema: Time, V1..V28, Amount, Class.</summary>
    public static CsvSchema Ulb { get; } = new()
    {
        LabelColumn = "Class",
        TimeColumn = "Time",
        FeatureColumns = Enumerable.Range(1, 28).Select(i => "V" + i.ToString(CultureInfo.InvariantCulture)).Append("Amount").ToArray(),
    };
}

/// <summary>A loaded CSV: rows plus each row's bank name when the schema has a bank column.</summary>
public sealed record CsvTable(LabeledRows Rows, IReadOnlyList<string>? Banks);

/// <summary>Reads CSV files into <see cref="LabeledRows"/>.</summary>
public static class CsvDatasetLoader
{
    /// <summary>Loads a file.</summary>
    public static CsvTable Load(string path, CsvSchema schema)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var reader = new StreamReader(path);
        return Load(reader, schema);
    }

    /// <summary>Loads CSV text from a reader.</summary>
    public static CsvTable Load(TextReader reader, CsvSchema schema)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(schema);
        string? headerLine = reader.ReadLine();
        if (headerLine is null) throw new DataFormatException("The CSV is empty (no header).", null, null);
        string[] header = Split(headerLine, schema.Separator, 0);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < header.Length; i++)
        {
            string name = header[i].Trim();
            if (!index.TryAdd(name, i)) throw new DataFormatException($"Column '{name}' appears twice in the header.", name, null);
        }
        int Find(string name, string role) => index.TryGetValue(name, out int i) ? i
            : throw new DataFormatException($"{role} column '{name}' is missing from the header.", name, null);

        int label = Find(schema.LabelColumn, "Label");
        int time = schema.TimeColumn is null ? -1 : Find(schema.TimeColumn, "Time");
        int bank = schema.BankColumn is null ? -1 : Find(schema.BankColumn, "Bank");
        int[] features = schema.FeatureColumns is null
            ? Enumerable.Range(0, header.Length).Where(i => i != label && i != time && i != bank).ToArray()
            : schema.FeatureColumns.Select(c => Find(c, "Feature")).ToArray();
        if (features.Length == 0) throw new DataFormatException("The CSV has no feature columns.", null, null);
        string[] names = features.Select(i => header[i].Trim()).ToArray();

        var values = new List<float>();
        var labels = new List<bool>();
        var times = new List<long>();
        var banks = bank >= 0 ? new List<string>() : null;
        long row = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            if (line.Length == 0) continue;
            row++;
            string[] fields = Split(line, schema.Separator, row);
            if (fields.Length != header.Length)
                throw new DataFormatException($"Row {row} has {fields.Length} fields, the header has {header.Length}.", null, row);
            double y = Number(fields[label], header[label], row);
            if (y != 0 && y != 1) throw new DataFormatException($"Label '{header[label]}' of row {row} is {fields[label]}, expected 0 or 1.", header[label], row);
            labels.Add(y == 1);
            times.Add(time >= 0 ? (long)Math.Floor(Number(fields[time], header[time], row)) : row);
            foreach (int c in features)
            {
                double v = Number(fields[c], header[c], row);
                if (Math.Abs(v) > float.MaxValue) throw new DataFormatException($"Column '{header[c]}' of row {row} ({fields[c]}) does not fit a 32-bit float.", header[c], row);
                values.Add((float)v);
            }
            if (banks is not null)
            {
                string b = fields[bank].Trim();
                if (b.Length == 0) throw new DataFormatException($"Bank column '{header[bank]}' of row {row} is empty.", header[bank], row);
                banks.Add(b);
            }
        }
        if (row == 0) throw new DataFormatException("The CSV has a header but no data rows.", null, null);
        return new CsvTable(new LabeledRows(names, values.ToArray(), labels.ToArray(), times.ToArray()), banks);
    }

    private static double Number(string field, string column, long row)
    {
        string s = field.Trim();
        if (s.Length == 0) throw new DataFormatException($"Column '{column.Trim()}' of row {row} is empty.", column.Trim(), row);
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            throw new DataFormatException($"Column '{column.Trim()}' of row {row} is not a number: '{s}'.", column.Trim(), row);
        if (!double.IsFinite(v)) throw new DataFormatException($"Column '{column.Trim()}' of row {row} is not finite ({s}).", column.Trim(), row);
        return v;
    }

    private static string[] Split(string line, char separator, long row)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                    else quoted = false;
                }
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == separator) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        if (quoted) throw new DataFormatException(row == 0 ? "The header has an unterminated quote." : $"Row {row} has an unterminated quote.", null, row == 0 ? null : row);
        fields.Add(current.ToString());
        return fields.ToArray();
    }
}
