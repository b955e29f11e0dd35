// Small generated CSV files in the public fraud schemas (ULB credit card, PaySim, IEEE-CIS transactions), for
// tests only: seeded System.Random, made-up values with a learnable fraud signal, never real data. Each style
// option exercises one thing real files do: a UTF-8 BOM, CRLF line ends, another separator, quoted headers,
// quoted or True/False labels, and quoted text cells holding line breaks, separators and doubled quotes.
using System.Globalization;
using System.Text;

namespace FraudFed.Testing;

/// <summary>How a generated label is written.</summary>
public enum LabelStyle
{
    /// <summary>0 / 1.</summary>
    ZeroOne,
    /// <summary>"0" / "1" (as the ULB file has them).</summary>
    QuotedZeroOne,
    /// <summary>False / True.</summary>
    TrueFalse,
}

/// <summary>Surface form of a generated CSV file.</summary>
/// <param name="Separator">Field separator.</param>
/// <param name="Bom">Start with a UTF-8 byte order mark (only when written with <see cref="PublicSchemaFiles.Write"/>).</param>
/// <param name="Crlf">End lines with CR LF.</param>
/// <param name="QuoteHeader">Quote every header name.</param>
/// <param name="Labels">Label form.</param>
/// <param name="AwkwardText">Put line breaks, separators and quotes inside (quoted) text cells.</param>
public sealed record CsvStyle(char Separator = ',', bool Bom = false, bool Crlf = false, bool QuoteHeader = false,
    LabelStyle Labels = LabelStyle.ZeroOne, bool AwkwardText = false);

/// <summary>Generators of small files in the public fraud schemas (tests only).</summary>
public static class PublicSchemaFiles
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes <paramref name="text"/> as UTF-8, with a BOM if the style asks for one; returns the path.</summary>
    public static string Write(string path, string text, CsvStyle style)
    {
        ArgumentNullException.ThrowIfNull(style);
        File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: style.Bom));
        return path;
    }

    /// <summary>ULB credit-card schema: Time, V1..V28, Amount, Class (fraud about 2%).</summary>
    public static string Ulb(int rows, int seed = 1, CsvStyle? style = null)
    {
        style ??= new CsvStyle();
        var w = new Writer(style);
        w.Header(["Time", .. Enumerable.Range(1, 28).Select(i => "V" + i.ToString(Inv)), "Amount", "Class"]);
        var rng = new Random(seed);
        for (int r = 0; r < rows; r++)
        {
            bool fraud = rng.NextDouble() < 0.02;
            var cells = new List<string> { (r * 3 + rng.Next(3)).ToString(Inv) };
            for (int v = 1; v <= 28; v++)
                cells.Add((Gauss(rng) + (fraud && v is 4 or 11 or 14 ? (v == 14 ? -3 : 2.5) : 0)).ToString("R", Inv));
            cells.Add((Math.Exp(3 + Gauss(rng)) + (fraud ? 100 : 0)).ToString("F2", Inv));
            w.Row(cells, labelAt: cells.Count, fraud);
        }
        return w.ToString();
    }

    /// <summary>PaySim schema (fraud about 3%, on TRANSFER and CASH_OUT emptying the origin account).</summary>
    public static string PaySim(int rows, int seed = 1, CsvStyle? style = null)
    {
        style ??= new CsvStyle();
        var w = new Writer(style);
        w.Header(["step", "type", "amount", "nameOrig", "oldbalanceOrg", "newbalanceOrig", "nameDest", "oldbalanceDest", "newbalanceDest", "isFraud", "isFlaggedFraud"]);
        string[] types = ["PAYMENT", "TRANSFER", "CASH_OUT", "DEBIT", "CASH_IN"];
        var rng = new Random(seed);
        for (int r = 0; r < rows; r++)
        {
            string type = types[rng.Next(types.Length)];
            bool fraud = type is "TRANSFER" or "CASH_OUT" && rng.NextDouble() < 0.08;
            double old = Math.Round(Math.Exp(8 + 2 * Gauss(rng)), 2);
            double amount = fraud ? old : Math.Round(Math.Min(old, Math.Exp(6 + 1.5 * Gauss(rng))), 2);
            double oldDest = Math.Round(Math.Exp(7 + 2 * Gauss(rng)), 2);
            string orig = "C" + rng.Next(100_000_000, 999_999_999).ToString(Inv);
            if (style.AwkwardText && r % 7 == 3) orig = $"C{r}\nsecond \"line\"{style.Separator} more";
            w.Row([(1 + r / 50).ToString(Inv), type, F(amount), orig, F(old), F(Math.Max(0, old - amount)),
                "M" + rng.Next(100_000_000, 999_999_999).ToString(Inv), F(oldDest), F(oldDest + amount), "", fraud && amount > 200_000 ? "1" : "0"],
                labelAt: 9, fraud);
        }
        return w.ToString();
    }

    /// <summary>
    /// IEEE-CIS train_transaction schema: TransactionID, isFraud, TransactionDT, TransactionAmt, ProductCD, card1..card6,
    /// addr1, addr2, dist1, dist2, P_emaildomain, R_emaildomain, C1..C14, D1..D15, M1..M9, V1..V<paramref name="vColumns"/>;
    /// text categories, many empty cells, fraud about 4% (more often on product C, credit cards, large amounts, an empty D1).
    /// </summary>
    public static string IeeeCis(int rows, int seed = 1, CsvStyle? style = null, int vColumns = 339)
    {
        style ??= new CsvStyle();
        var w = new Writer(style);
        string[] names = ["TransactionID", "isFraud", "TransactionDT", "TransactionAmt", "ProductCD",
            .. Numbered("card", 1, 6), "addr1", "addr2", "dist1", "dist2", "P_emaildomain", "R_emaildomain",
            .. Numbered("C", 1, 14), .. Numbered("D", 1, 15), .. Numbered("M", 1, 9), .. Numbered("V", 1, vColumns)];
        w.Header(names);
        string[] products = ["W", "C", "R", "H", "S"];
        string[] networks = ["visa", "mastercard", "american express", "discover"];
        string[] domains = ["gmail.com", "yahoo.com", "hotmail.com", "anonymous.com", "outlook.com", "aol.com"];
        var rng = new Random(seed);
        string Maybe(double pEmpty, Func<string> value) => rng.NextDouble() < pEmpty ? "" : value();
        for (int r = 0; r < rows; r++)
        {
            string product = products[Math.Min(products.Length - 1, (int)(rng.NextDouble() * rng.NextDouble() * 6))];
            string card6 = Maybe(0.02, () => rng.NextDouble() < 0.25 ? "credit" : "debit");
            double amount = Math.Round(Math.Exp(3.8 + Gauss(rng)), 3);
            bool d1Empty = rng.NextDouble() < 0.2;
            double logit = -4.2 + (product == "C" ? 1.8 : 0) + (card6 == "credit" ? 1.0 : 0) + (d1Empty ? 1.5 : 0) + (amount > 150 ? 0.8 : 0);
            bool fraud = rng.NextDouble() < 1 / (1 + Math.Exp(-logit));
            string rDomain = Maybe(0.75, () => domains[rng.Next(domains.Length)]);
            if (style.AwkwardText && rDomain.Length > 0 && r % 5 == 0) rDomain = $"mail.{style.Separator}\"odd\"\r\nexample.com";
            var cells = new List<string>
            {
                (2_987_000 + r).ToString(Inv), "", (86_400 + r * 37 + rng.Next(30)).ToString(Inv), amount.ToString("0.###", Inv), product,
                rng.Next(1000, 18_397).ToString(Inv), Maybe(0.02, () => rng.Next(100, 601).ToString(Inv)), Maybe(0.01, () => rng.NextDouble() < 0.9 ? "150" : "185"),
                Maybe(0.01, () => networks[rng.Next(networks.Length)]), Maybe(0.01, () => rng.Next(100, 238).ToString(Inv)), card6,
                Maybe(0.11, () => rng.Next(100, 541).ToString(Inv)), Maybe(0.11, () => "87"), Maybe(0.6, () => rng.Next(0, 500).ToString(Inv)),
                Maybe(0.93, () => rng.Next(0, 2000).ToString(Inv)), Maybe(0.16, () => domains[rng.Next(domains.Length)]), rDomain,
            };
            for (int c = 1; c <= 14; c++) cells.Add(((int)Math.Floor(Math.Exp(rng.NextDouble() * 3)) - 1 + (fraud && c == 1 ? 3 : 0)).ToString(Inv));
            for (int d = 1; d <= 15; d++)
                cells.Add(d == 1 ? (d1Empty ? "" : rng.Next(0, 640).ToString(Inv)) : Maybe(0.3 + 0.04 * d, () => rng.Next(-100, 640).ToString(Inv)));
            for (int m = 1; m <= 9; m++)
                cells.Add(Maybe(0.45, () => m == 4 ? "M" + rng.Next(3).ToString(Inv) : rng.NextDouble() < 0.7 ? "T" : "F"));
            bool vBlockEmpty = rng.NextDouble() < 0.5;
            for (int v = 1; v <= vColumns; v++)
                cells.Add(vBlockEmpty && v % 3 != 0 ? "" : (v % 11 == 0 ? Math.Round(rng.NextDouble() * 300, 2) : rng.Next(0, 3)).ToString(Inv));
            w.Row(cells, labelAt: 1, fraud);
        }
        return w.ToString();
    }

    private static IEnumerable<string> Numbered(string prefix, int from, int to) => Enumerable.Range(from, to - from + 1).Select(i => prefix + i.ToString(Inv));

    private static string F(double v) => v.ToString("0.00", Inv);

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>RFC 4180 writer: quotes a cell holding the separator, a quote or a line break, doubling quotes.</summary>
    private sealed class Writer(CsvStyle style)
    {
        private readonly StringBuilder _sb = new();
        private string NewLine => style.Crlf ? "\r\n" : "\n";

        public void Header(IEnumerable<string> names) =>
            _sb.Append(string.Join(style.Separator, names.Select(n => style.QuoteHeader ? Quote(n) : Cell(n)))).Append(NewLine);

        /// <summary>Writes a row, putting the label of <paramref name="fraud"/> at <paramref name="labelAt"/> (replacing or appending).</summary>
        public void Row(IList<string> cells, int labelAt, bool fraud)
        {
            string label = style.Labels switch
            {
                LabelStyle.TrueFalse => fraud ? "True" : "False",
                LabelStyle.QuotedZeroOne => Quote(fraud ? "1" : "0"),
                _ => fraud ? "1" : "0",
            };
            var output = cells.Select(Cell).ToList();
            if (labelAt < output.Count) output[labelAt] = label; else output.Add(label);
            _sb.Append(string.Join(style.Separator, output)).Append(NewLine);
        }

        private string Cell(string s) => s.IndexOfAny([style.Separator, '"', '\n', '\r']) >= 0 ? Quote(s) : s;
        private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
        public override string ToString() => _sb.ToString();
    }
}
