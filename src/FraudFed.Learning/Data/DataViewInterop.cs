// ML.NET IDataView in and out for LabeledRows: a "Label" Boolean column and a "Features" vector of
// Single (plus "Time" Int64). Reading accepts any IDataView with a Boolean (or 0/1 numeric) label column
// and numeric feature columns; bad input is a DataFormatException naming the column and row.
using Microsoft.ML;
using Microsoft.ML.Data;

namespace FraudFed.Learning.Data;

/// <summary>Conversions between <see cref="LabeledRows"/> and ML.NET <see cref="IDataView"/>.</summary>
public static class DataViewInterop
{
    /// <summary>Name of the label column written by <see cref="ToDataView"/>.</summary>
    public const string LabelColumn = "Label";
    /// <summary>Name of the feature vector column written by <see cref="ToDataView"/>.</summary>
    public const string FeaturesColumn = "Features";
    /// <summary>Name of the time column written by <see cref="ToDataView"/>.</summary>
    public const string TimeColumn = "Time";

    private sealed class Row
    {
        public bool Label { get; set; }
        public float[] Features { get; set; } = [];
        public long Time { get; set; }
    }

    /// <summary>An in-memory IDataView of the rows (Label, Features[F], Time).</summary>
    public static IDataView ToDataView(MLContext mlContext, LabeledRows rows)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(rows);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[FeaturesColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Single, rows.Features);
        var list = new List<Row>(rows.Rows);
        for (int i = 0; i < rows.Rows; i++)
            list.Add(new Row { Label = rows.Labels[i], Features = rows.Row(i).ToArray(), Time = rows.Times[i] });
        return mlContext.Data.LoadFromEnumerable(list, schema);
    }

    /// <summary>
    /// Reads rows from an IDataView. The label column must be Boolean or numeric 0/1; feature columns numeric
    /// scalars or fixed-size numeric vectors (all columns except label and time when <paramref name="featureColumns"/> is null).
    /// </summary>
    public static LabeledRows FromDataView(IDataView data, string labelColumn = LabelColumn, IReadOnlyList<string>? featureColumns = null, string? timeColumn = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        DataViewSchema schema = data.Schema;
        DataViewSchema.Column label = schema.GetColumnOrNull(labelColumn)
            ?? throw new DataFormatException($"Label column '{labelColumn}' is missing.", labelColumn, null);
        if (label.Type is not BooleanDataViewType && !IsNumber(label.Type))
            throw new DataFormatException($"Label column '{labelColumn}' has type {label.Type}, expected Boolean or a number.", labelColumn, null);
        DataViewSchema.Column? time = null;
        if (timeColumn is not null)
        {
            time = schema.GetColumnOrNull(timeColumn) ?? throw new DataFormatException($"Time column '{timeColumn}' is missing.", timeColumn, null);
            if (!IsNumber(time.Value.Type)) throw new DataFormatException($"Time column '{timeColumn}' has type {time.Value.Type}, expected a number.", timeColumn, null);
        }
        var columns = new List<DataViewSchema.Column>();
        if (featureColumns is null)
        {
            foreach (var c in schema)
                if (!c.IsHidden && c.Index != label.Index && c.Index != time?.Index) columns.Add(c);
        }
        else
        {
            foreach (string name in featureColumns)
                columns.Add(schema.GetColumnOrNull(name) ?? throw new DataFormatException($"Feature column '{name}' is missing.", name, null));
        }
        var names = new List<string>();
        foreach (var c in columns)
        {
            if (IsNumber(c.Type)) names.Add(c.Name);
            else if (c.Type is VectorDataViewType v && v.IsKnownSize && IsNumber(v.ItemType))
                for (int j = 0; j < v.Size; j++) names.Add(c.Name + "_" + j.ToString(System.Globalization.CultureInfo.InvariantCulture));
            else throw new DataFormatException($"Column '{c.Name}' has type {c.Type}, expected a number or a fixed-size numeric vector.", c.Name, null);
        }
        if (names.Count == 0) throw new DataFormatException("No feature columns.", null, null);

        var needed = new List<DataViewSchema.Column>(columns) { label };
        if (time is not null) needed.Add(time.Value);
        var values = new List<float>();
        var labels = new List<bool>();
        var times = new List<long>();
        using DataViewRowCursor cursor = data.GetRowCursor(needed);
        var labelGetter = NumberOrBool(cursor, label);
        var timeGetter = time is null ? null : NumberOrBool(cursor, time.Value);
        var getters = columns.Select(c => FeatureGetter(cursor, c)).ToArray();
        long row = 0;
        var buffer = new List<float>();
        while (cursor.MoveNext())
        {
            row++;
            double y = labelGetter();
            if (y != 0 && y != 1) throw new DataFormatException($"Label '{labelColumn}' of row {row} is {y}, expected 0/1 or a Boolean.", labelColumn, row);
            labels.Add(y == 1);
            times.Add(timeGetter is null ? row : CheckedTime(timeGetter(), timeColumn!, row));
            for (int c = 0; c < columns.Count; c++)
            {
                buffer.Clear();
                getters[c](buffer);
                foreach (float v in buffer)
                    if (!float.IsFinite(v)) throw new DataFormatException($"Column '{columns[c].Name}' of row {row} is not finite ({v}).", columns[c].Name, row);
                values.AddRange(buffer);
            }
        }
        return new LabeledRows(names, values.ToArray(), labels.ToArray(), times.ToArray());
    }

    private static long CheckedTime(double t, string column, long row)
    {
        if (!double.IsFinite(t)) throw new DataFormatException($"Time '{column}' of row {row} is not finite.", column, row);
        return (long)Math.Floor(t);
    }

    private static bool IsNumber(DataViewType t) => t is NumberDataViewType || t is BooleanDataViewType;

    private static Func<double> NumberOrBool(DataViewRowCursor cursor, DataViewSchema.Column c)
    {
        DataViewType t = c.Type;
        if (t is BooleanDataViewType) { var g = cursor.GetGetter<bool>(c); return () => { bool v = false; g(ref v); return v ? 1 : 0; }; }
        if (t.RawType == typeof(float)) { var g = cursor.GetGetter<float>(c); return () => { float v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(double)) { var g = cursor.GetGetter<double>(c); return () => { double v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(int)) { var g = cursor.GetGetter<int>(c); return () => { int v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(long)) { var g = cursor.GetGetter<long>(c); return () => { long v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(uint)) { var g = cursor.GetGetter<uint>(c); return () => { uint v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(short)) { var g = cursor.GetGetter<short>(c); return () => { short v = 0; g(ref v); return v; }; }
        if (t.RawType == typeof(byte)) { var g = cursor.GetGetter<byte>(c); return () => { byte v = 0; g(ref v); return v; }; }
        throw new DataFormatException($"Column '{c.Name}' has unsupported type {t}.", c.Name, null);
    }

    private static Action<List<float>> FeatureGetter(DataViewRowCursor cursor, DataViewSchema.Column c)
    {
        if (c.Type is VectorDataViewType v)
        {
            if (v.ItemType.RawType == typeof(float))
            {
                var g = cursor.GetGetter<VBuffer<float>>(c);
                VBuffer<float> buf = default;
                return list => { g(ref buf); foreach (float x in buf.DenseValues()) list.Add(x); };
            }
            if (v.ItemType.RawType == typeof(double))
            {
                var g = cursor.GetGetter<VBuffer<double>>(c);
                VBuffer<double> buf = default;
                return list => { g(ref buf); foreach (double x in buf.DenseValues()) list.Add((float)x); };
            }
            throw new DataFormatException($"Column '{c.Name}' has unsupported vector type {c.Type}.", c.Name, null);
        }
        var scalar = NumberOrBool(cursor, c);
        return list => list.Add((float)scalar());
    }
}
