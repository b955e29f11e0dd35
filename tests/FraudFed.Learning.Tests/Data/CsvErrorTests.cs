using System.Text;
using FraudFed.Learning.Data;
using FraudFed.Testing;

namespace FraudFed.Learning.Tests.Data;

/// <summary>Every bad file is a DataFormatException naming the file, the row and the column, with the likely fix.</summary>
public class CsvErrorTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "fraudfed-csverr-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private DataFormatException Refused(string text, CsvSchema schema)
    {
        string path = Path.Combine(_dir, "data.csv");
        File.WriteAllText(path, text);
        var ex = Assert.Throws<DataFormatException>(() => CsvDatasetLoader.Load(path, schema))!;
        Assert.That(ex.File, Is.EqualTo(path));
        Assert.That(ex.Message, Does.StartWith(path + ": "));
        return ex;
    }

    [Test]
    public void AGivenSeparatorThatDoesNotSplitTheHeaderIsNamedAsTheProblem()
    {
        string semicolons = PublicSchemaFiles.Ulb(20, style: new CsvStyle(Separator: ';'));
        var ex = Refused(semicolons, CsvSchema.Ulb with { Separator = ',' });
        Assert.That(ex.Message, Does.Contain("probably ';' (semicolon)-separated").And.Contain("--separator"));
        Assert.That(ex.Message, Does.Not.Contain("is not in the header"));

        var tab = Refused(PublicSchemaFiles.Ulb(20), CsvSchema.Ulb with { Separator = '\t' });
        Assert.That(tab.Message, Does.Contain("probably ',' (comma)-separated"));
    }

    [Test]
    public void AMissingLabelColumnIsNamedWithTheColumnsThere()
    {
        var ex = Refused("when,amount,fraud\n1,2,0\n", new CsvSchema { LabelColumn = "is_fraud" });
        Assert.That(ex.Column, Is.EqualTo("is_fraud"));
        Assert.That(ex.Message, Does.Contain("label column 'is_fraud' is not in the header (columns: when, amount, fraud)"));
    }

    [Test]
    public void AnUnclosedQuoteIsNamedWithItsRowAndLines()
    {
        var ex = Refused("t,x,y\n1,2,0\n2,\"3,1\n3,4,0\n4,5,1\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That(ex.Row, Is.EqualTo(2));
        Assert.That(ex.Message, Does.Contain("row 2 (line 3)").And.Contain("quote is probably not closed"));
    }

    [Test]
    public void TextInANumericColumnSuggestsCategoricalOrId()
    {
        var ex = Refused("t,merchant,y\n1,12,0\n2,acme,1\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That((ex.Row, ex.Column), Is.EqualTo(((long?)2, "merchant")));
        Assert.That(ex.Message, Does.Contain("'acme'").And.Contain("--categorical merchant").And.Contain("--id-columns merchant"));
    }

    [Test]
    public void ADecimalCommaIsNamed()
    {
        var ex = Refused("t;x;y\n1;2,5;0\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That(ex.Message, Does.Contain("Decimal commas"));
    }

    [TestCase("", "is empty")]
    [TestCase("2", "expected 0/1 or true/false")]
    [TestCase("yes", "expected 0/1 or true/false")]
    public void ABadLabelNamesRowAndColumn(string label, string message)
    {
        var ex = Refused($"t,x,y\n1,2,0\n2,3,{label}\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That((ex.Row, ex.Column), Is.EqualTo(((long?)2, "y")));
        Assert.That(ex.Message, Does.Contain(message));
    }

    [Test]
    public void AnIdentifierLikeColumnWithoutARoleIsRefusedNotUsed()
    {
        var ex = Refused("TransactionID,amount,y\n1,2,0\n2,3,1\n", new CsvSchema { LabelColumn = "y" });
        Assert.That(ex.Column, Is.EqualTo("TransactionID"));
        Assert.That(ex.Message, Does.Contain("looks like an identifier"));
        // Given a role, it is dropped.
        string path = Path.Combine(_dir, "ok.csv");
        File.WriteAllText(path, "TransactionID,amount,y\n1,2,0\n2,3,1\n");
        CsvTable t = CsvDatasetLoader.Load(path, new CsvSchema { LabelColumn = "y", IdColumns = ["TransactionID"] });
        Assert.That(t.Rows.FeatureNames, Is.EqualTo(new[] { "amount" }));
    }

    [Test]
    public void ACategoricalColumnWithADistinctValuePerRowIsRefusedAsAnIdentifier()
    {
        var sb = new StringBuilder("account,amount,y\n");
        for (int i = 0; i < 1200; i++) sb.Append($"acct-{i},{i % 7},{i % 9 == 0}\n");
        var ex = Refused(sb.ToString(), new CsvSchema { LabelColumn = "y", CategoricalColumns = ["account"] });
        Assert.That(ex.Column, Is.EqualTo("account"));
        Assert.That(ex.Message, Does.Contain("identifies rows"));
    }

    [Test]
    public void AnIdColumnNamedButAbsentIsRefused()
    {
        var ex = Refused("t,x,y\n1,2,0\n", new CsvSchema { LabelColumn = "y", IdColumns = ["customer"] });
        Assert.That(ex.Column, Is.EqualTo("customer"));
    }

    [TestCase("t,x,y\n1,\"1,234.5\",0\n", "is not a number: '1,234.5'")] // never read as 1234.5
    [TestCase("", "empty (no header)")]
    [TestCase("t,x,y\n", "no data rows")]
    [TestCase("t,x,x,y\n1,2,3,0\n", "appears twice")]
    [TestCase("t,x,y\n1,2\n", "2 field(s), the header has 3")]
    [TestCase("t,x,y\n1,NaN,0\n", "not finite")]
    [TestCase("t,x,y\n1,1e300,0\n", "does not fit a 32-bit float")]
    [TestCase("t,x,y\n,1,0\n", "time column 't' is empty")]
    public void OtherBadFiles(string text, string message)
    {
        var ex = Refused(text, new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That(ex.Message, Does.Contain(message));
    }

    [Test]
    public void MissingValueTokensAndBlankLines()
    {
        string path = Path.Combine(_dir, "na.csv");
        File.WriteAllText(path, "t,x,y\n1,NA,0\n\n2,,1\n3,4,0\n");
        CsvTable t = CsvDatasetLoader.Load(path, new CsvSchema { LabelColumn = "y", TimeColumn = "t", MissingValues = ["NA"] });
        Assert.That(t.Rows.Rows, Is.EqualTo(3));
        Assert.That(t.Rows.Values.Take(2).All(float.IsNaN), Is.True);
        Assert.That(t.Rows.Values[2], Is.EqualTo(4f));
        Assert.That(t.Source!.MissingCells["x"], Is.EqualTo(2));
    }
}
