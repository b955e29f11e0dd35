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

    /// <summary>A row or header line longer than the reader's 16 MiB limit (the trial: one 50 MB row, or a 20 MB header, gave
    /// the reader's own "Buffer or row has reached maximum supported length" message, exit 1): an input error naming the file,
    /// where, the limit in MiB and the likely cause; the header check (before a bank connects) finds a long header.</summary>
    [Test]
    public void ARowOrHeaderLongerThanTheReadersLimitIsNamedWithWhereAndTheLikelyCause()
    {
        var schema = new CsvSchema { LabelColumn = "y", TimeColumn = "t" };
        string huge = new('9', 17 << 20);
        var row = Refused($"t,x,y\n1,2,0\n2,3,1\n3,{huge},0\n4,5,1\n", schema);
        Assert.That(row.Row, Is.EqualTo(3));
        Assert.That(row.Message, Is.EqualTo($"{Path.Combine(_dir, "data.csv")}: data row 3 (from line 4) is longer than 16 MiB, the longest row the CSV reader takes: "
            + "probably a quote '\"' that is never closed (so the rest of the file reads as one field), or a file that is not CSV; close the quote or give the right file."));

        // The header check reads the first data row too: one huge row there is found before a bank connects.
        Refused($"t,x,y\n{huge},2,0\n", schema);
        var firstRow = Assert.Throws<DataFormatException>(() => CsvDatasetLoader.CheckHeader(Path.Combine(_dir, "data.csv"), schema))!;
        Assert.That(firstRow.Message, Does.Contain(": data row 1 (from line 2) is longer than 16 MiB"));
        Assert.That(firstRow.Row, Is.EqualTo(1));

        var header = Refused($"t,x{huge},y\n1,2,0\n", schema);
        Assert.That(header.Row, Is.Null);
        Assert.That(header.Message, Does.Contain(": the header (line 1) is longer than 16 MiB").And.Contain("not CSV"));
        string path = Path.Combine(_dir, "data.csv");
        var checkedHeader = Assert.Throws<DataFormatException>(() => CsvDatasetLoader.CheckHeader(path, schema))!;
        Assert.That(checkedHeader.Message, Is.EqualTo(header.Message));
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

    /// <summary>A header name with a control character (C0, DEL, C1) or an invisible formatting character (a bidirectional
    /// override, a zero-width space, a line separator) was read as a column name and went on to model.txt's feature names and
    /// the reports (a user trial: "card_id\x1b[31m" also slipped past the identifier check). It is refused, naming the column by
    /// its position and the character, with the fix; the header check before any work (the SDK's CheckHeader) refuses it alike.</summary>
    // The character is given by its code point and put in place of '@' (a test name holding an escape is not run by every runner).
    [TestCase("card_id@[31m", 0x1b, "a control character", 8)]
    [TestCase("amount@", 0x07, "a control character", 7)]
    [TestCase("amount@", 0x7f, "a control character", 7)]
    [TestCase("am@ount", 0x9b, "a control character", 3)]
    [TestCase("amo@unt", 0x202e, "an invisible formatting character", 4)]
    [TestCase("@amount", 0x200b, "an invisible formatting character", 1)]
    [TestCase("amount@x", 0x2028, "an invisible formatting character", 7)]
    [TestCase("amount@", 0xfeff, "an invisible formatting character", 7)]
    public void AHeaderNameWithAControlOrInvisibleCharacter_IsRefused_ByPosition(string template, int codePoint, string kind, int at)
    {
        string name = template.Replace("@", char.ConvertFromUtf32(codePoint), StringComparison.Ordinal);
        string text = $"t,{name},y\n1,2,0\n2,3,1\n";
        var ex = Refused(text, new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That(ex.Column, Is.EqualTo(name));
        Assert.That(ex.Message, Does.Contain($"column 2 of the header, '{name}', holds {kind} (U+{codePoint:X4}, character {at} of the name)"));
        Assert.That(ex.Message, Does.EndWith("rename the column in the header to visible characters only."));

        string path = Path.Combine(_dir, "header.csv");
        File.WriteAllText(path, text);
        var early = Assert.Throws<DataFormatException>(() => CsvDatasetLoader.CheckHeader(path, new CsvSchema { LabelColumn = "y", TimeColumn = "t" }))!;
        Assert.That(early.Message, Is.EqualTo(ex.Message.Replace("data.csv", "header.csv", StringComparison.Ordinal)));
        var fromReader = Assert.Throws<DataFormatException>(() => CsvDatasetLoader.Load(new StringReader(text), new CsvSchema { LabelColumn = "y", TimeColumn = "t" }))!;
        Assert.That(fromReader.Message, Does.Contain($"column 2 of the header, '{name}', holds {kind}"));
    }

    /// <summary>The role columns are found before the names are checked: a tab-separated file read with a comma keeps its
    /// whole header, tabs and all, in one name, and is named as a separator problem, not as a name with a tab.</summary>
    [Test]
    public void ATabbedHeaderReadWithAComma_IsStillASeparatorProblem()
    {
        var ex = Refused("t\tx\ty\n1\t2\t0\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t", Separator = ',' });
        Assert.That(ex.Message, Does.Contain("The file is probably tab-separated: pass --separator 'tab'"));
        Assert.That(ex.Message, Does.Not.Contain("control character"));
    }

    /// <summary>A header with an unclosed quote (amount,"time,is_fraud) read the rest of the file as one name, and the missing
    /// label's message listed ~2 KB of rows as that name without a word on the quote: the list is short and the quote is named.</summary>
    [Test]
    public void AnUnclosedQuoteInTheHeader_IsNamed_AndTheColumnListIsShort()
    {
        var text = new System.Text.StringBuilder("amount,\"time,is_fraud\n");
        for (int i = 0; i < 300; i++) text.Append($"{i},{i},0\n");
        var ex = Refused(text.ToString(), new CsvSchema { LabelColumn = "is_fraud" });
        Assert.That(ex.Message, Does.Contain(@"label column 'is_fraud' is not in the header (columns: amount, time,is_fraud\n0,0,0\n1,1,0\n2,2,0\n3,3,0\n4,... (2794 characters)); the header"));
        Assert.That(ex.Message, Does.EndWith("the header has an unclosed quote '\"' (column 2, so the rest of the file reads as one name): close it."));
        Assert.That(ex.Message.Length, Is.LessThan(400), ex.Message);
    }

    /// <summary>A quoted header name with a line break ("is_\nfraud") was listed as 'is_ fraud', a name no --label can match:
    /// the line break is named by position instead.</summary>
    [Test]
    public void AHeaderNameWithALineBreak_IsNamedByPosition_NotListed()
    {
        var ex = Refused("amount,time,\"is_\nfraud\"\n1,2,0\n", new CsvSchema { LabelColumn = "is_fraud" });
        Assert.That(ex.Message, Does.Contain("column 3 of the header, 'is_\nfraud', holds a control character (U+000A, character 4 of the name)"));
        Assert.That(ex.Message, Does.Not.Contain("unclosed quote").And.Not.Contain("is not in the header"));
    }

    /// <summary>A long header lists ten names, "and N more".</summary>
    [Test]
    public void AWideHeader_ListsTenNames_AndHowManyMore()
    {
        string header = string.Join(",", Enumerable.Range(1, 25).Select(i => $"c{i}"));
        var ex = Refused(header + "\n" + string.Join(",", Enumerable.Repeat("0", 25)) + "\n", new CsvSchema { LabelColumn = "is_fraud" });
        Assert.That(ex.Message, Does.EndWith("(columns: c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, and 15 more)."));
    }

    /// <summary>An empty or blank header name was taken as a column named "" and used as a feature; it is refused by position,
    /// with the likely cause for a first column (a pandas index) and a last one (a trailing separator).</summary>
    [TestCase(",x,y\n0,1,0\n", 1, "row index")]
    [TestCase("t,   ,y\n1,2,0\n", 2, "")]
    [TestCase("t,\" \",y\n1,2,0\n", 2, "")]
    [TestCase("t,x,y,\n1,2,0,3\n", 4, "separator at the end of the header line")]
    public void AnEmptyOrBlankHeaderName_IsRefused_ByPosition(string text, int column, string cause)
    {
        var ex = Refused(text, new CsvSchema { LabelColumn = "y" });
        Assert.That(ex.Message, Does.Contain($"column {column} of the header has no name").And.Contain(cause).And.EndWith("name the column in the header, or remove the column."));
    }

    [Test]
    public void ADuplicateHeaderName_NamesBothPositions()
    {
        var ex = Refused("t,amount,x, amount,y\n1,2,3,4,0\n", new CsvSchema { LabelColumn = "y" });
        Assert.That(ex.Message, Does.Contain("columns 2 and 4 of the header are both named 'amount'").And.EndWith("rename one of them in the header."));
    }

    /// <summary>The identifier check reads a name without its surrounding blanks and in any case: " Card_ID " is an identifier.</summary>
    [TestCase(" Card_ID ")]
    [TestCase("CARD_ID")]
    [TestCase("\" card_id \"")]
    [TestCase("\u00a0card_Id\u00a0")]   // no-break spaces
    public void AnIdentifierName_WithBlanksAroundIt_OrInAnyCase_IsRefused(string name)
    {
        var ex = Refused($"t,{name},amount,y\n1,2,3,0\n", new CsvSchema { LabelColumn = "y", TimeColumn = "t" });
        Assert.That(ex.Message, Does.Contain("looks like an identifier and has no role"));
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
