using System.Globalization;
using System.Text;
using FraudFed.Learning.Data;
using Microsoft.ML;

namespace FraudFed.Learning.Tests.Data;

public class CsvLoaderTests
{
    private static string Ulb(int rows, Func<int, int, string>? cell = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine("\"Time\"," + string.Join(',', Enumerable.Range(1, 28).Select(i => $"\"V{i}\"")) + ",\"Amount\",\"Class\"");
        var rng = new Random(5);
        for (int r = 0; r < rows; r++)
        {
            var fields = new List<string> { (r * 10).ToString(CultureInfo.InvariantCulture) };
            for (int v = 1; v <= 28; v++) fields.Add((rng.NextDouble() * 4 - 2).ToString("R", CultureInfo.InvariantCulture));
            fields.Add((rng.NextDouble() * 300).ToString("F2", CultureInfo.InvariantCulture));
            fields.Add(r % 10 == 0 ? "\"1\"" : "\"0\"");
            if (cell is not null) for (int c = 0; c < fields.Count; c++) fields[c] = cell(r, c) ?? fields[c];
            sb.AppendLine(string.Join(',', fields));
        }
        return sb.ToString();
    }

    private static CsvTable LoadUlb(string text) => CsvDatasetLoader.Load(new StringReader(text), CsvSchema.Ulb);

    [Test]
    public void UlbSchemaLoadsFeaturesLabelsAndTimes()
    {
        CsvTable t = LoadUlb(Ulb(50));
        Assert.That(t.Rows.Rows, Is.EqualTo(50));
        Assert.That(t.Rows.FeatureNames, Has.Count.EqualTo(29));
        Assert.That(t.Rows.FeatureNames[^1], Is.EqualTo("Amount"));
        Assert.That(t.Rows.Positives, Is.EqualTo(5));
        Assert.That(t.Rows.Times[3], Is.EqualTo(30));
        Assert.That(t.Banks, Is.Null);
    }

    [Test]
    public void MissingLabelColumnNamesTheColumn()
    {
        string text = Ulb(5).Replace("\"Class\"", "\"Klass\"");
        var ex = Assert.Throws<DataFormatException>(() => LoadUlb(text));
        Assert.That(ex!.Column, Is.EqualTo("Class"));
        Assert.That(ex.Message, Does.Contain("Class"));
    }

    [TestCase("NaN")]
    [TestCase("Infinity")]
    [TestCase("-Infinity")]
    public void NonFiniteValueNamesColumnAndRow(string bad)
    {
        // Row index 3 (0-based) is data row 4; column 5 is V5.
        var ex = Assert.Throws<DataFormatException>(() => LoadUlb(Ulb(8, (r, c) => r == 3 && c == 5 ? bad : null!)));
        Assert.That(ex!.Column, Is.EqualTo("V5"));
        Assert.That(ex.Row, Is.EqualTo(4));
    }

    [Test]
    public void WrongTypeNamesColumnAndRow()
    {
        var ex = Assert.Throws<DataFormatException>(() => LoadUlb(Ulb(8, (r, c) => r == 6 && c == 29 ? "twelve" : null!)));
        Assert.That(ex!.Column, Is.EqualTo("Amount"));
        Assert.That(ex.Row, Is.EqualTo(7));
        Assert.That(ex.Message, Does.Contain("twelve"));
    }

    [Test]
    public void LabelOtherThanZeroOrOneIsRejected()
    {
        var ex = Assert.Throws<DataFormatException>(() => LoadUlb(Ulb(8, (r, c) => r == 2 && c == 30 ? "2" : null!)));
        Assert.That(ex!.Column, Is.EqualTo("Class"));
        Assert.That(ex.Row, Is.EqualTo(3));
    }

    [Test]
    public void WrongFieldCountNamesTheRow()
    {
        string text = Ulb(4) + "1,2,3\n";
        var ex = Assert.Throws<DataFormatException>(() => LoadUlb(text));
        Assert.That(ex!.Row, Is.EqualTo(5));
    }

    [Test]
    public void GenericSchemaWithBankColumnSplitsNaturally()
    {
        var sb = new StringBuilder("when,bank,amount,velocity,is_fraud\n");
        for (int i = 0; i < 400; i++)
            sb.Append(CultureInfo.InvariantCulture, $"{i},{(i % 3 == 0 ? "north" : "south")},{i % 17},{i % 5},{(i % 9 == 0 ? 1 : 0)}\n");
        CsvTable t = CsvDatasetLoader.Load(new StringReader(sb.ToString()), new CsvSchema { LabelColumn = "is_fraud", TimeColumn = "when", BankColumn = "bank" });
        Assert.That(t.Rows.FeatureNames, Is.EqualTo(new[] { "amount", "velocity" }));
        IReadOnlyList<BankData> banks = BankSplitter.ByBankColumn(t, testFraction: 0.25);
        Assert.That(banks.Select(b => b.Name), Is.EqualTo(new[] { "north", "south" }));
        Assert.That(banks.Sum(b => b.Train.Rows + b.Test.Rows), Is.EqualTo(400));
        Assert.That(banks[0].Train.Rows + banks[0].Test.Rows, Is.EqualTo(134));
        Assert.That(banks.All(b => b.Train.Times.Max() < b.Test.Times.Min()), Is.True);
    }

    [Test]
    public void EmptyBankIsATypedErrorNamingTheBank()
    {
        // Bank "late" only has rows in the training period, none in the later window.
        var sb = new StringBuilder("t,bank,x,y\n");
        for (int i = 0; i < 100; i++) sb.Append(CultureInfo.InvariantCulture, $"{i},{(i < 10 ? "late" : "main")},{i},{i % 2}\n");
        CsvTable t = CsvDatasetLoader.Load(new StringReader(sb.ToString()), new CsvSchema { LabelColumn = "y", TimeColumn = "t", BankColumn = "bank" });
        var ex = Assert.Throws<DataFormatException>(() => BankSplitter.ByBankColumn(t));
        Assert.That(ex!.Bank, Is.EqualTo("late"));
        Assert.That(ex.Shortfall, Is.EqualTo(BankShortfall.NoTestRows));
        Assert.That(ex.Message, Is.EqualTo("Bank 'late' has no rows in its later test window."));
    }

    [Test]
    public void RowsAllAtTheEarliestTime_AreRefusedAsSuch_NotAsABanksShortfall()
    {
        // 80 of 100 rows at time 0: the later window starts at time 0, so nothing lies before it at any bank.
        var sb = new StringBuilder("t,x,y\n");
        for (int i = 0; i < 100; i++) sb.Append(CultureInfo.InvariantCulture, $"{(i < 80 ? 0 : i)},{i},{i % 2}\n");
        CsvTable t = CsvDatasetLoader.Load(new StringReader(sb.ToString()), new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        var ex = Assert.Throws<DataFormatException>(() => BankSplitter.ByDirichlet(t.Rows, 3, alpha: 10, seed: 1));
        Assert.That(ex!.Shortfall, Is.Null);
        Assert.That(ex.Bank, Is.Null);
        Assert.That(ex.Message, Does.StartWith("No row lies before the later test window: at least 75% of the rows share the earliest time (0)"));
    }

    [Test]
    public void DirichletSplitIsDeterministicAndSkewsWithSmallAlpha()
    {
        CsvTable t = LoadUlb(Ulb(2000));
        var a = BankSplitter.ByDirichlet(t.Rows, 4, alpha: 100, seed: 9);
        var b = BankSplitter.ByDirichlet(t.Rows, 4, alpha: 100, seed: 9);
        Assert.That(a.Select(x => x.Train.Rows), Is.EqualTo(b.Select(x => x.Train.Rows)));
        Assert.That(a.Sum(x => x.Train.Rows + x.Test.Rows), Is.EqualTo(2000));
        // alpha = 100: near-equal shares (each ~500; 4 sigma of the Dirichlet-multinomial spread is well under 150).
        Assert.That(a.Select(x => x.Train.Rows + x.Test.Rows), Is.All.InRange(350, 650));
        var skewed = Enumerable.Range(0, 20).Select(s =>
        {
            try { return BankSplitter.ByDirichlet(t.Rows, 4, alpha: 0.1, seed: s).Max(x => x.Train.Rows + x.Test.Rows); }
            catch (DataFormatException) { return 2000; } // a bank got nothing: maximal skew
        });
        Assert.That(skewed.Average(), Is.GreaterThan(1000));
    }

    [Test]
    public void DataViewRoundTripAndBadDataViews()
    {
        var ml = new MLContext(1);
        CsvTable t = LoadUlb(Ulb(30));
        IDataView view = DataViewInterop.ToDataView(ml, t.Rows);
        LabeledRows back = DataViewInterop.FromDataView(view, timeColumn: DataViewInterop.TimeColumn);
        Assert.That(back.Values, Is.EqualTo(t.Rows.Values));
        Assert.That(back.Labels, Is.EqualTo(t.Rows.Labels));
        Assert.That(back.Times, Is.EqualTo(t.Rows.Times));

        var missing = Assert.Throws<DataFormatException>(() => DataViewInterop.FromDataView(view, labelColumn: "IsFraud"));
        Assert.That(missing!.Column, Is.EqualTo("IsFraud"));

        var text = ml.Data.LoadFromEnumerable(new[] { new TextRow { Label = true, Merchant = "acme" } });
        var wrongType = Assert.Throws<DataFormatException>(() => DataViewInterop.FromDataView(text));
        Assert.That(wrongType!.Column, Is.EqualTo("Merchant"));

        var nan = ml.Data.LoadFromEnumerable(new[] { new NumRow { Label = false, X = 1 }, new NumRow { Label = true, X = float.PositiveInfinity } });
        var notFinite = Assert.Throws<DataFormatException>(() => DataViewInterop.FromDataView(nan));
        Assert.That(notFinite!.Column, Is.EqualTo("X"));
        Assert.That(notFinite.Row, Is.EqualTo(2));
    }

    private sealed class TextRow
    {
        public bool Label { get; set; }
        public string Merchant { get; set; } = "";
    }

    private sealed class NumRow
    {
        public bool Label { get; set; }
        public float X { get; set; }
    }
}
