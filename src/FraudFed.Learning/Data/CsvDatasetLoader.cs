// CSV input through Sep (nietras/Sep, an RFC 4180 reader): quoted fields with separators, doubled quotes and
// line breaks, a UTF-8 BOM, CRLF or LF, and a separator detected from the header (',', ';', tab, '|') unless
// the schema gives one. Column roles come from a CsvSchema. Cells: the label is 0/1 or true/false (any case,
// quoted or not); the time a finite number; numeric features a finite number or missing (an empty cell, or a
// token of the schema's MissingValues: NaN in LabeledRows); categorical features a bucket of CategoryEncoder
// (missing stays missing). Blank lines are skipped.
// Every problem is a DataFormatException naming the file, the 1-based data row (header excluded; the line
// is given too, as quoted fields may span lines) and the column: a role column missing from the header (named
// as a separator problem when another separator would find it), a wrong field count, a bad label, a non-number
// in a numeric column (with the fix: declare it categorical or an id), NaN or infinity, a value beyond a
// float, an identifier-like column without a role, a categorical column with a distinct value on most rows.
// A bank loads its own file the same way (the SDK's CSV path); the category key makes encodings agree.
using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using nietras.SeparatedValues;

namespace FraudFed.Learning.Data;

/// <summary>Where a table came from: shown in reports so a run can be traced to its exact input.</summary>
/// <param name="Path">The file as given.</param>
/// <param name="Sha256">SHA-256 of the file's bytes, lowercase hex (empty when read from a TextReader).</param>
/// <param name="Bytes">File size.</param>
/// <param name="Schema">Schema name.</param>
/// <param name="Separator">The separator used (detected or given).</param>
/// <param name="Rows">Data rows read.</param>
/// <param name="Columns">Columns in the header.</param>
/// <param name="Features">Feature columns, in order.</param>
/// <param name="Categorical">Categorical feature columns.</param>
/// <param name="Dropped">Identifier and ignored columns read past.</param>
/// <param name="MissingCells">Missing feature cells per feature column (only columns with any).</param>
/// <param name="CategoryEncoding">How categories were encoded (null without categorical columns).</param>
public sealed record CsvSource(string Path, string Sha256, long Bytes, string Schema, char Separator, int Rows, int Columns,
    IReadOnlyList<string> Features, IReadOnlyList<string> Categorical, IReadOnlyList<string> Dropped,
    IReadOnlyDictionary<string, long> MissingCells, string? CategoryEncoding);

/// <summary>A loaded CSV: rows plus each row's bank name when the schema has a bank column.</summary>
public sealed record CsvTable(LabeledRows Rows, IReadOnlyList<string>? Banks)
{
    /// <summary>Where the rows came from.</summary>
    public CsvSource? Source { get; init; }
}

/// <summary>Reads CSV files into <see cref="LabeledRows"/>.</summary>
public static class CsvDatasetLoader
{
    private static readonly char[] Candidates = [',', ';', '\t', '|'];
    private const int IdLikeMinRows = 1000;

    /// <summary>Loads a file (hashing its bytes on the way for <see cref="CsvTable.Source"/>).</summary>
    /// <param name="path">The CSV file.</param>
    /// <param name="schema">Column roles.</param>
    /// <param name="categories">Category encoder (default: the public salt, 32 buckets); the caller keeps ownership.</param>
    /// <param name="cancellationToken">Checked every 65,536 rows.</param>
    /// <exception cref="DataFormatException">the file does not fit the schema (naming file, row and column).</exception>
    /// <exception cref="IOException">the file cannot be read.</exception>
    public static CsvTable Load(string path, CsvSchema schema, CategoryEncoder? categories = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(schema);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var hashing = new HashingStream(file);
        CsvTable table = LoadCore(s => s.From(hashing, leaveOpen: true), path, schema, categories, cancellationToken);
        hashing.Drain();
        return table with { Source = table.Source! with { Sha256 = hashing.HexDigest(), Bytes = hashing.BytesRead } };
    }

    /// <summary>
    /// Reads only the header of <paramref name="path"/> (and the first data row, unparsed) and resolves the schema's roles
    /// against it: the cheap check of a file before any work (a missing column, a wrong separator, an identifier without a
    /// role, a duplicate name, a header or first row longer than the reader's 16 MiB limit).
    /// </summary>
    /// <returns>The separator and the feature columns the file would give.</returns>
    /// <exception cref="DataFormatException">the header does not fit the schema (naming file and column).</exception>
    public static (char Separator, IReadOnlyList<string> Features) CheckHeader(string path, CsvSchema schema)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(schema);
        using CategoryEncoder encoder = CategoryEncoder.Public();
        CsvTable table = LoadCore(s => s.FromFile(path), path, schema, encoder, CancellationToken.None, headerOnly: true);
        return (table.Source!.Separator, table.Source.Features);
    }

    /// <summary>Loads CSV text from a reader (no file hash).</summary>
    /// <exception cref="DataFormatException">the text does not fit the schema.</exception>
    public static CsvTable Load(TextReader reader, CsvSchema schema, CategoryEncoder? categories = null, string source = "CSV")
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(schema);
        return LoadCore(s => s.From(reader), source, schema, categories, CancellationToken.None);
    }

    private static CsvTable LoadCore(Func<SepReaderOptions, SepReader> open, string source, CsvSchema schema, CategoryEncoder? categories, CancellationToken cancellationToken, bool headerOnly = false)
    {
        try { schema.Validate(); }
        catch (ArgumentException e) { throw new DataFormatException($"{source}: schema {schema.Name}: {e.Message.Split(" (Parameter")[0]}", null, null, file: source); }
        CategoryEncoder? owned = categories is null && schema.CategoricalColumns.Count > 0 ? CategoryEncoder.Public() : null;
        Reader? read = null;
        try
        {
            var options = new SepReaderOptions(schema.Separator is { } c ? new Sep(c) : null)
            {
                HasHeader = false, Unescape = true, Trim = SepTrim.All, DisableColCountCheck = true, CultureInfo = CultureInfo.InvariantCulture,
            };
            using SepReader reader = open(options);
            read = new Reader(reader, source, schema, categories ?? owned);
            return read.Read(cancellationToken, headerOnly);
        }
        catch (InvalidDataException e)
        {
            throw new DataFormatException($"{source}: {e.Message}", null, null, file: source);
        }
        catch (NotSupportedException)
        {
            // Sep's one NotSupportedException while reading: a row (or the header, read when the reader opens) longer than its
            // buffer limit. Its message names neither the file nor the row, and its type is no word for a user.
            long? row = read?.PendingRow;
            string where = row is { } r ? $"data row {r} (from line {read!.PendingLine})" : "the header (line 1)";
            throw new DataFormatException($"{source}: {where} is longer than {MaxRowChars >> 20} MiB, the longest row the CSV reader takes: "
                + "probably a quote '\"' that is never closed (so the rest of the file reads as one field), or a file that is not CSV; close the quote or give the right file.",
                null, row, file: source);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>The longest row (or header line) Sep reads, in characters (its buffer limit).</summary>
    private const int MaxRowChars = 16 << 20;

    private sealed class Reader(SepReader reader, string source, CsvSchema schema, CategoryEncoder? encoder)
    {
        private enum Role : byte { Drop, Label, Time, Bank, Numeric, Categorical }

        /// <summary>The data row being read when a read fails (1-based), or null while the header is read.</summary>
        public long? PendingRow => _headerRead ? _row + 1 : null;
        /// <summary>The line that row starts on.</summary>
        public int PendingLine { get; private set; } = 1;
        private bool _headerRead;

        private readonly char _separator = reader.Spec.Sep.Separator;
        private string[] _header = [];
        private long _row;
        private int _line;

        private DataFormatException Fail(string message, string? column = null, bool atRow = true) =>
            new($"{source}: {(atRow && _row > 0 ? $"row {_row} (line {_line}): " : "")}{message}", column, atRow && _row > 0 ? _row : null, file: source);

        public CsvTable Read(CancellationToken cancellationToken, bool headerOnly)
        {
            if (!reader.MoveNext()) throw Fail("the file is empty (no header).", atRow: false);
            _header = Cells(reader.Current);
            _headerRead = true;
            PendingLine = reader.Current.LineNumberToExcl;
            for (int i = 0; i < _header.Length; i++)
                if (string.IsNullOrWhiteSpace(_header[i])) throw Unnamed(i);
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < _header.Length; i++)
                if (!index.TryAdd(_header[i], i))
                    throw new DataFormatException($"{source}: columns {index[_header[i]] + 1} and {i + 1} of the header are both named '{_header[i]}' " +
                        "(a name appears twice in the header): rename one of them in the header.", _header[i], null, file: source);

            var roles = new Role[_header.Length];
            int Find(string name, string role, bool required = true)
            {
                if (index.TryGetValue(name, out int i)) return i;
                if (!required || schema.OptionalColumns.Contains(name, StringComparer.Ordinal)) return -1;
                throw MissingColumn(name, role);
            }
            int label = Find(schema.LabelColumn, "label");
            int time = schema.TimeColumn is null ? -1 : Find(schema.TimeColumn, "time");
            int bank = schema.BankColumn is null ? -1 : Find(schema.BankColumn, "bank");
            foreach (string c in schema.IdColumns.Concat(schema.IgnoredColumns)) { int i = Find(c, "id/ignored"); if (i >= 0) roles[i] = Role.Drop; }
            var categorical = new HashSet<int>(schema.CategoricalColumns.Select(c => Find(c, "categorical")).Where(i => i >= 0));
            // After the role columns are found (a header that a wrong separator left in one piece, tabs and all, is named as a
            // separator problem by then), before any name is used: no name with a control or invisible character goes on to
            // the model's feature names, the reports or the identifier check below.
            for (int i = 0; i < _header.Length; i++)
                if (CsvSchema.HiddenCharacter(_header[i]) is { } hidden) throw Hidden(i, hidden);
            int[] features;
            if (schema.FeatureColumns is { } listed) features = listed.Select(c => Find(c, "feature")).Where(i => i >= 0).ToArray();
            else
            {
                var taken = new HashSet<int> { label, time, bank };
                foreach (string c in schema.IdColumns.Concat(schema.IgnoredColumns)) taken.Add(Find(c, "id/ignored", required: false));
                features = Enumerable.Range(0, _header.Length).Where(i => !taken.Contains(i)).ToArray();
                foreach (int i in features)
                    if (!categorical.Contains(i) && CsvSchema.LooksLikeId(_header[i]))
                        throw new DataFormatException($"{source}: column '{_header[i]}' looks like an identifier and has no role; list it as an id column " +
                            "(--id-columns, or \"id_columns\" in a schema file) to drop it, or among the features (\"features\") if it really is one.", _header[i], null, file: source);
            }
            if (features.Length == 0) throw new DataFormatException($"{source}: no feature columns are left once the label, time, bank, id and ignored columns are set aside.", null, null, file: source);
            roles[label] = Role.Label;
            if (time >= 0) roles[time] = Role.Time;
            if (bank >= 0) roles[bank] = Role.Bank;
            var slot = new int[_header.Length];
            Array.Fill(slot, -1);
            for (int k = 0; k < features.Length; k++)
            {
                roles[features[k]] = categorical.Contains(features[k]) ? Role.Categorical : Role.Numeric;
                slot[features[k]] = k;
            }
            if (categorical.Count > 0 && encoder is null) throw new InvalidOperationException("A category encoder is needed.");
            if (headerOnly)
            {
                // The first data row is read too (not parsed): a row longer than the reader's limit there (one huge row, an
                // unterminated quote near the top) is found before any work, as a long header is.
                while (reader.MoveNext())
                {
                    PendingLine = reader.Current.LineNumberToExcl;
                    if (!(reader.Current.ColCount == 1 && reader.Current[0].Span.IsEmpty)) break;
                }
                return new CsvTable(new LabeledRows(["-"], [], [], []), null) { Source = new CsvSource(source, "", 0, schema.Name, _separator, 0, _header.Length,
                    features.Select(i => _header[i]).ToArray(), features.Where(categorical.Contains).Select(i => _header[i]).ToArray(), [], new Dictionary<string, long>(), null) };
            }

            int f = features.Length;
            var values = new Buffer<float>(1 << 16);
            var labels = new Buffer<bool>(1 << 12);
            var times = new Buffer<long>(1 << 12);
            var banks = bank >= 0 ? new List<string>() : null;
            var bankNames = new Dictionary<string, string>(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
            var caches = new Dictionary<int, Dictionary<string, int>>();
            foreach (int c in categorical) caches[c] = new Dictionary<string, int>(StringComparer.Ordinal);
            var missing = new long[f];
            var missingTokens = schema.MissingValues.ToHashSet(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
            bool tokens = schema.MissingValues.Count > 0;
            float[] rowValues = new float[f];

            while (reader.MoveNext())
            {
                SepReader.Row r = reader.Current;
                _line = r.LineNumberFrom;
                PendingLine = r.LineNumberToExcl;
                if (r.ColCount == 1 && r[0].Span.IsEmpty) continue; // blank line
                _row++;
                if ((_row & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                if (r.ColCount != _header.Length) throw FieldCount(r);
                bool y = false;
                long t = _row;
                string? bankName = null;
                for (int c = 0; c < _header.Length; c++)
                {
                    switch (roles[c])
                    {
                        case Role.Drop: continue;
                        case Role.Label: y = Label(r[c].Span, c); break;
                        case Role.Time: t = Time(r[c].Span, c); break;
                        case Role.Bank:
                        {
                            ReadOnlySpan<char> s = r[c].Span;
                            if (s.IsEmpty) throw Fail($"bank column '{_header[c]}' is empty.", _header[c]);
                            if (!bankNames.TryGetValue(s, out bankName)) { bankName = s.ToString(); bankNames[s] = bankName; }
                            break;
                        }
                        case Role.Numeric:
                        {
                            SepReader.Col col = r[c];
                            ReadOnlySpan<char> s = col.Span;
                            if (s.IsEmpty || (tokens && missingTokens.Contains(s))) { rowValues[slot[c]] = float.NaN; missing[slot[c]]++; }
                            // Sep's csFastFloat parse (correctly rounded, like double.Parse) first, but it reads "2,5" as 25 (a
                            // group separator), so a cell with a comma takes the careful path, which also explains failures.
                            else rowValues[slot[c]] = !s.Contains(',') && col.TryParse<double>() is { } v && Math.Abs(v) <= float.MaxValue ? (float)v : Number(s, c);
                            break;
                        }
                        case Role.Categorical:
                        {
                            ReadOnlySpan<char> s = r[c].Span;
                            if (s.IsEmpty || (tokens && missingTokens.Contains(s))) { rowValues[slot[c]] = float.NaN; missing[slot[c]]++; break; }
                            var cache = caches[c].GetAlternateLookup<ReadOnlySpan<char>>();
                            if (!cache.TryGetValue(s, out int bucket)) { bucket = encoder!.Bucket(_header[c], s); cache[s] = bucket; }
                            rowValues[slot[c]] = bucket;
                            break;
                        }
                    }
                }
                values.Add(rowValues);
                labels.Add(y);
                times.Add(t);
                banks?.Add(bankName!);
            }
            _line = 0;
            if (_row == 0) throw new DataFormatException($"{source}: the file has a header but no data rows.", null, null, file: source);
            foreach (var (c, cache) in caches)
                if (_row >= IdLikeMinRows && cache.Count > _row / 2)
                    throw new DataFormatException($"{source}: categorical column '{_header[c]}' has {cache.Count:N0} distinct values in {_row:N0} rows, so it identifies rows " +
                        "rather than grouping them; list it as an id column (--id-columns) to drop it.", _header[c], null, file: source);

            string[] names = features.Select(i => _header[i]).ToArray();
            var rows = new LabeledRows(names, values.ToArray(), labels.ToArray(), times.ToArray());
            var missingCells = new Dictionary<string, long>(StringComparer.Ordinal);
            for (int k = 0; k < f; k++) if (missing[k] > 0) missingCells[names[k]] = missing[k];
            var sourceInfo = new CsvSource(source, "", 0, schema.Name, _separator, rows.Rows, _header.Length, names,
                features.Where(categorical.Contains).Select(i => _header[i]).ToArray(),
                Enumerable.Range(0, _header.Length).Where(i => roles[i] == Role.Drop).Select(i => _header[i]).ToArray(),
                missingCells, categorical.Count > 0 ? encoder!.Description : null);
            return new CsvTable(rows, banks) { Source = sourceInfo };
        }

        /// <summary>Column <paramref name="i"/> (0-based) has an empty or blank name.</summary>
        private DataFormatException Unnamed(int i)
        {
            string why = i == 0 && _header.Length > 1
                ? "; an unnamed first column is often a row index, as pandas writes one unless told to_csv(index=False)"
                : i == _header.Length - 1 && _header.Length > 1 ? "; an unnamed last column often comes from a separator at the end of the header line" : "";
            return new DataFormatException($"{source}: column {i + 1} of the header has no name (its header cell is empty or blank{why}): " +
                "name the column in the header, or remove the column.", _header[i], null, file: source);
        }

        /// <summary>Column <paramref name="i"/> (0-based) has a control or invisible formatting character in its name.</summary>
        private DataFormatException Hidden(int i, (int Index, int CodePoint, string Kind) hidden) =>
            new($"{source}: column {i + 1} of the header, '{_header[i]}', holds {hidden.Kind} (U+{hidden.CodePoint:X4}, character {hidden.Index + 1} of the name), " +
                "which would reach the model's feature names and the reports: rename the column in the header to visible characters only.", _header[i], null, file: source);

        private static string[] Cells(SepReader.Row row)
        {
            var cells = new string[row.ColCount];
            for (int i = 0; i < cells.Length; i++) cells[i] = row[i].ToString();
            return cells;
        }

        private DataFormatException MissingColumn(string name, string role)
        {
            string raw = string.Join(_separator, _header);
            foreach (char other in Candidates)
            {
                if (other == _separator) continue;
                string[] split = raw.Split(other).Select(s => s.Trim().Trim('"').Trim()).ToArray();
                if (split.Length > 1 && split.Contains(name, StringComparer.Ordinal))
                    return new DataFormatException($"{source}: the header does not split into columns with the separator {CsvSchema.SeparatorName(_separator)} " +
                        $"({_header.Length} column(s)); with {CsvSchema.SeparatorName(other)} it has {split.Length}, including {role} column '{name}'. " +
                        $"The file is probably {CsvSchema.SeparatorName(other)}-separated: pass --separator '{(other == '\t' ? "tab" : other.ToString())}', or leave --separator out to detect it.",
                        name, null, file: source);
            }
            string shown = ShownColumns(_header);
            // A quote opened in the header and never closed makes the rest of the file (line breaks, separators and all) one name:
            // said as such, since the list shows only that name's start.
            int open = Array.FindIndex(_header, h => h.AsSpan().IndexOfAny('\n', '\r') >= 0 && (h.Length > UnclosedQuoteLength || h.Contains(_separator)));
            if (open >= 0)
                return new DataFormatException($"{source}: {role} column '{name}' is not in the header (columns: {shown}); the header has an unclosed quote '\"' " +
                    $"(column {open + 1}, so the rest of the file reads as one name): close it.", name, null, file: source);
            // A name with a line break, a tab or another hidden character can never be typed as the column: name that problem,
            // by position, rather than a list the user cannot match.
            for (int i = 0; i < _header.Length; i++)
                if (CsvSchema.HiddenCharacter(_header[i]) is { } hidden) return Hidden(i, hidden);
            return new DataFormatException($"{source}: {role} column '{name}' is not in the header (columns: {shown}).", name, null, file: source);
        }

        /// <summary>A header name with a line break and longer than this (or holding the separator) is taken for an unclosed
        /// quote that swallowed the rows after it.</summary>
        private const int UnclosedQuoteLength = 200;

        /// <summary>The header's names for a message: at most <see cref="ShownNames"/> of them ("and N more"), each cut to
        /// <see cref="ShownNameLength"/> characters, with line breaks, tabs and other control characters escaped (\n, \r, \t, \u001B).</summary>
        internal static string ShownColumns(IReadOnlyList<string> header)
        {
            var names = header.Take(ShownNames).Select(Escaped);
            string list = string.Join(", ", names);
            return header.Count > ShownNames ? $"{list}, and {header.Count - ShownNames} more" : list;
        }

        private const int ShownNames = 10, ShownNameLength = 40;

        private static string Escaped(string name)
        {
            var b = new System.Text.StringBuilder();
            foreach (char c in name.Length > ShownNameLength ? name[..ShownNameLength] : name)
                b.Append(c switch
                {
                    '\n' => "\\n",
                    '\r' => "\\r",
                    '\t' => "\\t",
                    _ when char.IsControl(c) => $"\\u{(int)c:X4}",
                    _ => c.ToString(),
                });
            if (name.Length > ShownNameLength) b.Append($"... ({name.Length} characters)");
            return b.ToString();
        }

        private DataFormatException FieldCount(SepReader.Row r)
        {
            string hint = r.LineNumberToExcl - r.LineNumberFrom > 1 && r.Span.Contains('"')
                ? $"; it spans lines {r.LineNumberFrom}..{r.LineNumberToExcl - 1}, so a quote is probably not closed"
                : r.ColCount == 1 && _header.Length > 1 ? $" (the separator is {CsvSchema.SeparatorName(_separator)})" : "";
            return Fail($"{r.ColCount} field(s), the header has {_header.Length}{hint}.");
        }

        private bool Label(ReadOnlySpan<char> s, int c)
        {
            if (s.SequenceEqual("1") || s.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
            if (s.SequenceEqual("0") || s.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && (v == 0 || v == 1)) return v == 1;
            throw Fail(s.IsEmpty ? $"label '{_header[c]}' is empty." : $"label '{_header[c]}' is '{s}'; expected 0/1 or true/false.", _header[c]);
        }

        private long Time(ReadOnlySpan<char> s, int c)
        {
            if (s.IsEmpty) throw Fail($"time column '{_header[c]}' is empty.", _header[c]);
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw Fail($"time column '{_header[c]}' is not a number: '{s}'.", _header[c]);
            if (!double.IsFinite(v) || Math.Abs(v) > 9e15) throw Fail($"time column '{_header[c]}' is not a finite number of at most 9e15 ({s}).", _header[c]);
            return (long)Math.Floor(v);
        }

        private float Number(ReadOnlySpan<char> s, int c)
        {
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                string hint = _separator != ',' && s.Count(',') == 1 && !s.Contains('.') && double.TryParse(s.ToString().Replace(',', '.'), NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                    ? " Decimal commas are not read: write 1.5, not 1,5."
                    : $" If the column holds categories, declare it categorical (--categorical {_header[c]}); if it identifies a row or a party, an id column (--id-columns {_header[c]}).";
                throw Fail($"column '{_header[c]}' is not a number: '{Shorten(s)}'.{hint}", _header[c]);
            }
            if (!double.IsFinite(v))
                throw Fail($"column '{_header[c]}' is not finite ({s}). Write a missing value as an empty cell, or list '{s}' in the schema's \"missing_values\".", _header[c]);
            if (Math.Abs(v) > float.MaxValue) throw Fail($"column '{_header[c]}' ({s}) does not fit a 32-bit float.", _header[c]);
            return (float)v;
        }

        private static string Shorten(ReadOnlySpan<char> s) => s.Length <= 40 ? s.ToString() : s[..40].ToString() + "...";
    }

    /// <summary>A growable array.</summary>
    private sealed class Buffer<T>(int capacity)
    {
        private T[] _items = new T[capacity];
        private int _count;

        public void Add(T item)
        {
            if (_count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
            _items[_count++] = item;
        }

        public void Add(ReadOnlySpan<T> items)
        {
            if (_count + items.Length > _items.Length) Array.Resize(ref _items, Math.Max(_items.Length * 2, _count + items.Length));
            items.CopyTo(_items.AsSpan(_count));
            _count += items.Length;
        }

        public T[] ToArray() => _items.AsSpan(0, _count).ToArray();
    }

    /// <summary>A read-only stream that hashes (SHA-256) every byte read through it.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public long BytesRead { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _hash.AppendData(buffer[..n]);
            BytesRead += n;
            return n;
        }

        /// <summary>Reads (and hashes) whatever the parser left unread.</summary>
        public void Drain()
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
            try { while (Read(buffer, 0, buffer.Length) > 0) { } }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
        }

        public string HexDigest() => Convert.ToHexStringLower(_hash.GetHashAndReset());
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
