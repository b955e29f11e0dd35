using System.Security.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Testing;

namespace FraudFed.Learning.Tests.Data;

/// <summary>Each public schema read from a small generated file, in the surface forms real files come in.</summary>
public class PublicSchemaTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "fraudfed-schema-" + Guid.NewGuid().ToString("N")));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string File(string name, string text, CsvStyle style) => PublicSchemaFiles.Write(Path.Combine(_dir, name), text, style);

    private static void AssertSameRows(LabeledRows a, LabeledRows b)
    {
        Assert.That(b.FeatureNames, Is.EqualTo(a.FeatureNames));
        Assert.That(b.Labels, Is.EqualTo(a.Labels));
        Assert.That(b.Times, Is.EqualTo(a.Times));
        // NaN-aware bitwise comparison of the feature values.
        Assert.That(b.Values.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(a.Values.Select(BitConverter.SingleToInt32Bits)));
    }

    [Test]
    public void Ulb_WithBomCrlfQuotedHeaderAndQuotedLabels_LoadsAndHashesTheFile()
    {
        var style = new CsvStyle(Bom: true, Crlf: true, QuoteHeader: true, Labels: LabelStyle.QuotedZeroOne);
        string path = File("creditcard.csv", PublicSchemaFiles.Ulb(600, seed: 3, style), style);
        CsvTable t = CsvDatasetLoader.Load(path, CsvSchema.Ulb);

        Assert.That(t.Rows.Rows, Is.EqualTo(600));
        Assert.That(t.Rows.FeatureNames, Is.EqualTo(Enumerable.Range(1, 28).Select(i => $"V{i}").Append("Amount")));
        Assert.That(t.Rows.Positives, Is.InRange(3, 30));
        Assert.That(Enumerable.Range(0, 600).All(i => t.Rows.Times[i] >= 3 * i && t.Rows.Times[i] <= 3 * i + 2), Is.True, "Time is read as the time");
        Assert.That(t.Source!.Sha256, Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(System.IO.File.ReadAllBytes(path)))));
        Assert.That(t.Source.Bytes, Is.EqualTo(new FileInfo(path).Length));
        Assert.That(t.Source.Separator, Is.EqualTo(','));
        Assert.That(t.Source.Schema, Is.EqualTo("ulb"));

        // The same data without BOM, CR or quotes reads to the same rows bit for bit.
        string plain = File("plain.csv", PublicSchemaFiles.Ulb(600, seed: 3), new CsvStyle());
        AssertSameRows(t.Rows, CsvDatasetLoader.Load(plain, CsvSchema.Ulb).Rows);
    }

    [TestCase(';')]
    [TestCase('\t')]
    [TestCase('|')]
    public void Ulb_WithAnotherSeparator_IsDetected(char separator)
    {
        var style = new CsvStyle(Separator: separator);
        CsvTable t = CsvDatasetLoader.Load(File("semi.csv", PublicSchemaFiles.Ulb(200, seed: 4, style), style), CsvSchema.Ulb);
        Assert.That(t.Source!.Separator, Is.EqualTo(separator));
        AssertSameRows(t.Rows, CsvDatasetLoader.Load(File("comma.csv", PublicSchemaFiles.Ulb(200, seed: 4), new CsvStyle()), CsvSchema.Ulb).Rows);
        CsvTable given = CsvDatasetLoader.Load(Path.Combine(_dir, "semi.csv"), CsvSchema.Ulb with { Separator = separator });
        AssertSameRows(t.Rows, given.Rows);
    }

    [Test]
    public void PaySim_WithQuotedLineBreaksInIdsAndTrueFalseLabels_DropsIdsAndEncodesType()
    {
        var style = new CsvStyle(Labels: LabelStyle.TrueFalse, AwkwardText: true, Crlf: true);
        string text = PublicSchemaFiles.PaySim(700, seed: 5, style);
        Assert.That(text, Does.Contain("\"C3\nsecond \"\"line\"\","), "the file really has a quoted line break, separator and quotes");
        CsvTable t = CsvDatasetLoader.Load(File("paysim.csv", text, style), CsvSchema.PaySim);

        Assert.That(t.Rows.Rows, Is.EqualTo(700), "a quoted line break does not start a row");
        Assert.That(t.Rows.FeatureNames, Is.EqualTo(new[] { "type", "amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest" }));
        Assert.That(t.Source!.Dropped, Is.EquivalentTo(new[] { "nameOrig", "nameDest", "isFlaggedFraud" }));
        Assert.That(t.Source.Categorical, Is.EqualTo(new[] { "type" }));
        Assert.That(t.Rows.Positives, Is.GreaterThan(5));
        Assert.That(t.Rows.Times[^1], Is.EqualTo(14), "step is the time");
        float[] types = Enumerable.Range(0, t.Rows.Rows).Select(i => t.Rows.Row(i)[0]).Distinct().ToArray();
        Assert.That(types, Has.Length.InRange(2, 5), "five transaction types hash to at most five buckets");
        Assert.That(types, Is.All.InRange(0, CategoryEncoder.DefaultBuckets - 1).And.All.Matches<float>(v => v == MathF.Floor(v)));
    }

    [Test]
    public void IeeeCis_WithEmptyCellsCategoricalsBomCrlfAndQuotedLineBreaks()
    {
        var style = new CsvStyle(Bom: true, Crlf: true, AwkwardText: true);
        string text = PublicSchemaFiles.IeeeCis(500, seed: 6, style);
        Assert.That(text, Does.Contain(",,"), "the file has empty cells");
        Assert.That(text, Does.Contain("\r\nexample.com"), "and a quoted CRLF inside a cell");
        CsvTable t = CsvDatasetLoader.Load(File("train_transaction.csv", text, style), CsvSchema.IeeeCis);

        Assert.That(t.Rows.Rows, Is.EqualTo(500));
        Assert.That(t.Source!.Columns, Is.EqualTo(394));
        Assert.That(t.Rows.Features, Is.EqualTo(391), "all but TransactionID, isFraud and TransactionDT");
        Assert.That(t.Rows.FeatureNames, Does.Not.Contain("TransactionID").And.Not.Contain("isFraud").And.Not.Contain("TransactionDT"));
        Assert.That(t.Source.Categorical, Is.EqualTo(new[] { "ProductCD", "card4", "card6", "P_emaildomain", "R_emaildomain", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9" }));
        Assert.That(t.Source.MissingCells["D1"], Is.InRange(50, 160));
        Assert.That(t.Source.MissingCells["dist2"], Is.GreaterThan(400));
        Assert.That(t.Source.MissingCells.ContainsKey("TransactionAmt"), Is.False);
        Assert.That(t.Rows.Values.Count(float.IsNaN), Is.EqualTo(t.Source.MissingCells.Values.Sum()));
        int r = t.Rows.FeatureNames.ToList().IndexOf("R_emaildomain");
        Assert.That(Enumerable.Range(0, 500).Select(i => t.Rows.Row(i)[r]).Where(v => !float.IsNaN(v)).Distinct().Count(), Is.GreaterThan(3));
        Assert.That(t.Rows.Times, Is.Ordered);
    }

    [Test]
    public void CategoriesAreEncodedIdenticallyAtEveryBankAndDifferentlyUnderAnotherKey()
    {
        // Two banks load their own files; the same category text gets the same bucket at both, under either key.
        string a = File("a.csv", PublicSchemaFiles.PaySim(300, seed: 1), new CsvStyle());
        string b = File("b.csv", PublicSchemaFiles.PaySim(300, seed: 2), new CsvStyle());
        byte[] key = RandomNumberGenerator.GetBytes(32);
        using var bankA = CategoryEncoder.Keyed(key);
        using var bankB = CategoryEncoder.Keyed(key);
        string[] types = ["PAYMENT", "TRANSFER", "CASH_OUT", "DEBIT", "CASH_IN"];
        Assert.That(types.Select(x => bankA.Bucket("type", x)), Is.EqualTo(types.Select(x => bankB.Bucket("type", x))));
        var fromA = CsvDatasetLoader.Load(a, CsvSchema.PaySim, bankA).Rows;
        var fromB = CsvDatasetLoader.Load(b, CsvSchema.PaySim, bankB).Rows;
        Assert.That(fromA.Values.Where((_, i) => i % fromA.Features == 0).Distinct(),
            Is.EquivalentTo(fromB.Values.Where((_, i) => i % fromB.Features == 0).Distinct()));
        Assert.That(fromA.Values.Where((_, i) => i % fromA.Features == 0).Distinct(), Is.SubsetOf(types.Select(x => (float)bankA.Bucket("type", x))));

        using var other = CategoryEncoder.Keyed(RandomNumberGenerator.GetBytes(32), buckets: 60);
        using var publicSalt = CategoryEncoder.Public(60);
        string[] many = Enumerable.Range(0, 200).Select(i => $"merchant-{i}").ToArray();
        int[] underKey = many.Select(x => other.Bucket("m", x)).ToArray();
        int[] underSalt = many.Select(x => publicSalt.Bucket("m", x)).ToArray();
        Assert.That(underKey, Is.Not.EqualTo(underSalt));
        Assert.That(underKey.Distinct().Count(), Is.GreaterThan(45), "200 values spread over most of 60 buckets");
        Assert.That(publicSalt.Bucket("m", "x"), Is.EqualTo(CategoryEncoder.Public(60).Bucket("m", "x")), "the public salt is the same everywhere");
        Assert.That(() => CategoryEncoder.Keyed(new byte[16]), Throws.ArgumentException);
        Assert.That(() => CategoryEncoder.Public(61), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(other.ToString(), Does.Not.Contain(Convert.ToHexString(key)[..8]));
    }

    [Test]
    public void JsonSchemaFile_ExtendsAPreset_AndRefusesUnknownKeys()
    {
        string path = Path.Combine(_dir, "mine.json");
        System.IO.File.WriteAllText(path, """
            { "preset": "paysim", "ignore": ["isFlaggedFraud", "newbalanceDest"], "missing_values": ["NA"] }
            """);
        CsvSchema s = CsvSchema.FromFile(path);
        Assert.That(s.Name, Is.EqualTo("mine"));
        Assert.That(s.LabelColumn, Is.EqualTo("isFraud"));
        Assert.That(s.IdColumns, Is.EqualTo(new[] { "nameOrig", "nameDest" }));
        Assert.That(s.IgnoredColumns, Does.Contain("newbalanceDest"));
        CsvTable t = CsvDatasetLoader.Load(File("p.csv", PublicSchemaFiles.PaySim(100), new CsvStyle()), s);
        Assert.That(t.Rows.FeatureNames, Does.Not.Contain("newbalanceDest"));

        System.IO.File.WriteAllText(path, """{ "lable": "isFraud" }""");
        var ex = Assert.Throws<DataFormatException>(() => CsvSchema.FromFile(path));
        Assert.That(ex!.Message, Does.Contain("unknown key 'lable'"));
        Assert.That(ex.File, Is.EqualTo(path));

        System.IO.File.WriteAllText(path, """{ "label": "y", "categorical": ["y"] }""");
        Assert.That(Assert.Throws<DataFormatException>(() => CsvSchema.FromFile(path))!.Message, Does.Contain("two roles"));
        System.IO.File.WriteAllText(path, """{ "label": 3 }""");
        Assert.That(Assert.Throws<DataFormatException>(() => CsvSchema.FromFile(path))!.Message, Does.Contain("expected a string"));
        System.IO.File.WriteAllText(path, "{ not json");
        Assert.That(Assert.Throws<DataFormatException>(() => CsvSchema.FromFile(path))!.Message, Does.Contain("not valid JSON"));
    }

    [TestCase("TransactionID", true)]
    [TestCase("customer_id", true)]
    [TestCase("accountId", true)]
    [TestCase("ID", true)]
    [TestCase("uuid", true)]
    [TestCase(" Card_ID ", true)]
    [TestCase("\tCARD_ID\u00a0", true)]
    [TestCase("card_Id", true)]
    [TestCase("id_01", false)]
    [TestCase("Paid", false)]
    [TestCase("isValid", false)]
    [TestCase("amount", false)]
    public void IdentifierNames(string column, bool looksLikeId) => Assert.That(CsvSchema.LooksLikeId(column), Is.EqualTo(looksLikeId));
}
