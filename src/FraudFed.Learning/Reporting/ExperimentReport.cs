// Writers for an ExperimentResult: summary.json (snake_case headline fields first, then every setting of
// the run, the data source with its SHA-256, per-bank and cost details) and a self-contained report.html
// for a fraud analyst: the run's settings, large inline-SVG ROC and PR curves that stay visible when they
// overlap (centralized drawn first, wide and solid; federated last, dashed; Okabe-Ito colours that colour-blind
// readers tell apart; a legend of line samples), what "n/a" and the pooled local-only curve mean, and a
// per-bank table. No scripts, no external resources.
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Learning.Experiments;
using FraudFed.Learning.Metrics;

namespace FraudFed.Learning.Reporting;

/// <summary>Renders experiment results as JSON and HTML.</summary>
public static class ExperimentReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes <c>summary.json</c> (indented) and <c>report.html</c> into <paramref name="directory"/> (created if needed); returns both paths.</summary>
    public static (string SummaryJson, string ReportHtml) WriteFiles(ExperimentResult result, string directory)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        string json = Path.Combine(directory, "summary.json");
        string html = Path.Combine(directory, "report.html");
        File.WriteAllText(json, ToJson(result, indented: true) + "\n");
        File.WriteAllText(html, ToHtml(result));
        return (json, html);
    }

    /// <summary>The headline object (one line when <paramref name="indented"/> is false): mode, model, banks, transactions,
    /// pr_auc_federated, pr_auc_centralized, pr_auc_local_mean, roc_auc_federated, secure_equals_plaintext, wall_s, and details.</summary>
    public static string ToJson(ExperimentResult result, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(result);
        var o = new JsonObject
        {
            ["mode"] = result.Mode,
            ["model"] = result.Model,
            ["banks"] = result.Banks,
            ["transactions"] = result.Transactions,
            ["seed"] = result.Seed,
            ["pr_auc_federated"] = Num(result.PrAucFederated),
            ["pr_auc_centralized"] = Num(result.PrAucCentralized),
            ["pr_auc_local_mean"] = Num(result.PrAucLocalMean),
            ["roc_auc_federated"] = Num(result.RocAucFederated),
            ["roc_auc_centralized"] = Num(result.Centralized?.Overall.Metrics.RocAuc ?? double.NaN),
            ["roc_auc_local_mean"] = Num(result.LocalOnly?.MeanBankRocAuc ?? double.NaN),
            ["recall_at_1pct_fpr_federated"] = Num(result.Federated.Overall.Metrics.RecallAt1PctFpr),
            ["secure_equals_plaintext"] = result.SecureEqualsPlaintext,
            ["wall_s"] = Math.Round(result.Wall.TotalSeconds, 3),
            ["settings"] = Settings(result.Settings),
            ["data"] = Settings(result.DataSource),
            ["protocol"] = new JsonObject
            {
                ["mode"] = result.Cost.Mode,
                ["modulus_bits"] = result.Cost.ModulusBits,
                ["secure_sums"] = result.Cost.Sums,
                ["values_per_bank"] = result.Cost.ValuesPerBank,
                ["bytes_uploaded"] = result.Cost.BytesUploaded,
                ["bytes_downloaded"] = result.Cost.BytesDownloaded,
                ["secure_sum_s"] = Math.Round(result.Cost.SecureSumTime.TotalSeconds, 3),
            },
            ["phase_s"] = new JsonObject(result.PhaseTimes.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Math.Round(kv.Value.TotalSeconds, 3)))),
            ["per_bank"] = new JsonArray(result.BankData.Select((b, i) => (JsonNode)new JsonObject
            {
                ["bank"] = b.Name,
                ["train_rows"] = b.TrainRows,
                ["train_fraud"] = b.TrainPositives,
                ["test_rows"] = b.TestRows,
                ["test_fraud"] = b.TestPositives,
                ["federated"] = Metrics(result.Federated.PerBank[i]),
                ["local"] = result.LocalOnly is null ? null : Metrics(result.LocalOnly.PerBank[i]),
                ["centralized"] = result.Centralized is null ? null : Metrics(result.Centralized.PerBank[i]),
            }).ToArray()),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = indented });
    }

    private static JsonObject Settings(IReadOnlyList<RunSetting> settings)
    {
        var o = new JsonObject();
        foreach (RunSetting s in settings)
            o[s.Key] = s.Value switch
            {
                null => null,
                string v => JsonValue.Create(v),
                bool v => JsonValue.Create(v),
                int v => JsonValue.Create(v),
                long v => JsonValue.Create(v),
                double v => Num(v),
                float v => Num(v),
                char v => JsonValue.Create(v.ToString()),
                _ => JsonValue.Create(Convert.ToString(s.Value, Inv)),
            };
        return o;
    }

    private static string Show(object? value) => value switch
    {
        null => "-",
        bool b => b ? "yes" : "no",
        double d => d.ToString("0.######", Inv),
        int i => i.ToString("N0", Inv),
        long l => l.ToString("N0", Inv),
        char c => c == '\t' ? "tab" : c.ToString(),
        _ => Convert.ToString(value, Inv) ?? "",
    };

    private static JsonObject Metrics(MetricSet m) => new()
    {
        ["pr_auc"] = Num(m.PrAuc),
        ["roc_auc"] = Num(m.RocAuc),
        ["recall_at_1pct_fpr"] = Num(m.RecallAt1PctFpr),
    };

    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 6)) : null;

    /// <summary>A self-contained HTML report.</summary>
    public static string ToHtml(ExperimentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        // Drawing order: centralized (wide, solid) first, local-only next, federated (dashed) last, so a federated curve
        // lying on the centralized one shows as dashes over a wide band.
        var models = new List<Series>();
        if (result.Centralized is not null) models.Add(new("centralized LightGBM (pooled data, not private)", "#E69F00", 5.0, null, result.Centralized));
        if (result.LocalOnly is not null) models.Add(new("local-only LightGBM (each bank alone, scores pooled)", "#CC79A7", 2.0, null, result.LocalOnly));
        models.Add(new("federated " + result.Model + " (secure sums)", "#0072B2", 2.5, "9 5", result.Federated));

        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>FraudFed simulation report</title>\n");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}table{border-collapse:collapse;margin:1em 0}")
          .Append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}")
          .Append("table.settings td:last-child{text-align:left;font-family:ui-monospace,monospace;word-break:break-all}")
          .Append(".curves{display:flex;gap:2em;flex-wrap:wrap}.ok{color:#007a4d}.bad{color:#c0392b}.note{color:#444;max-width:70em}")
          .Append("td.na{color:#888}</style></head><body>\n");
        sb.Append("<h1>FraudFed simulation</h1>\n<p>");
        sb.Append(Enc($"{result.Banks} banks, {result.Transactions:N0} transactions, seed {result.Seed}, model {result.Model}, secure-sum mode {result.Mode}."));
        sb.Append(" Every model is evaluated on each bank's later time window, which no model saw in training.</p>\n");
        if (result.SecureEqualsPlaintext is { } same)
            sb.Append("<p class=\"").Append(same ? "ok" : "bad").Append("\">")
              .Append(same ? "The model trained through secure sums is bit-for-bit identical to the one trained through plain sums."
                           : "The model trained through secure sums DIFFERS from the one trained through plain sums.").Append("</p>\n");

        sb.Append("<h2>Overall</h2>\n<table><tr><th>model</th><th>PR-AUC</th><th>ROC-AUC</th><th>recall @ 1% FPR</th><th>mean per-bank PR-AUC</th></tr>\n");
        foreach (Series m in models.AsEnumerable().Reverse())
        {
            MetricSet x = m.Eval.Overall.Metrics;
            sb.Append("<tr><td>").Append(Enc(m.Label)).Append("</td>").Append(Cell(x.PrAuc)).Append(Cell(x.RocAuc))
              .Append(Cell(x.RecallAt1PctFpr)).Append(Cell(m.Eval.MeanBankPrAuc)).Append("</tr>\n");
        }
        sb.Append("</table>\n");

        sb.Append("<div class=\"curves\">\n");
        sb.Append(Plot("ROC curve (all banks' test windows)", "false-positive rate", "true-positive rate (recall)", models, m => m.Eval.Overall.Roc, diagonal: true));
        sb.Append(Plot("Precision-recall curve (all banks' test windows)", "recall", "precision", models, m => m.Eval.Overall.PrecisionRecall, diagonal: false));
        sb.Append("</div>\n");
        sb.Append("<p class=\"note\"><b>Reading the curves.</b> Where the federated curve (dashed) runs on top of the centralized one (wide band), ")
          .Append("training across banks through secure sums matched pooling all the data in one place. ")
          .Append("The <b>local-only</b> curve is not one model: each bank's own LightGBM scores that bank's test rows, and the curve ranks all those ")
          .Append("scores together. Models trained on different banks put their scores on different scales, so this pooled curve can sit above or below ")
          .Append("the banks' own results; the column \"mean per-bank PR-AUC\" (each bank judged on its own rows) is the fairer summary of working alone.</p>\n");

        sb.Append("<h2>Per bank</h2>\n<table><tr><th>bank</th><th>train rows</th><th>train fraud</th><th>test rows</th><th>test fraud</th>");
        foreach (Series m in models.AsEnumerable().Reverse()) sb.Append("<th>PR-AUC ").Append(Enc(ShortLabel(m.Label))).Append("</th>");
        foreach (Series m in models.AsEnumerable().Reverse()) sb.Append("<th>ROC-AUC ").Append(Enc(ShortLabel(m.Label))).Append("</th>");
        sb.Append("</tr>\n");
        bool anyNa = false;
        for (int b = 0; b < result.BankData.Count; b++)
        {
            var d = result.BankData[b];
            sb.Append("<tr><td>").Append(Enc(d.Name)).Append("</td><td>").Append(d.TrainRows.ToString("N0", Inv)).Append("</td><td>").Append(d.TrainPositives.ToString(Inv))
              .Append("</td><td>").Append(d.TestRows.ToString("N0", Inv)).Append("</td><td>").Append(d.TestPositives.ToString(Inv)).Append("</td>");
            foreach (Series m in models.AsEnumerable().Reverse()) { sb.Append(Cell(m.Eval.PerBank[b].PrAuc)); anyNa |= !double.IsFinite(m.Eval.PerBank[b].PrAuc); }
            foreach (Series m in models.AsEnumerable().Reverse()) { sb.Append(Cell(m.Eval.PerBank[b].RocAuc)); anyNa |= !double.IsFinite(m.Eval.PerBank[b].RocAuc); }
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
        sb.Append("<p class=\"note\"><b>n/a</b> marks a score that does not exist for that bank: PR-AUC needs at least one fraud in the bank's test ")
          .Append("window (with none, precision has nothing to find), and ROC-AUC needs both a fraud and a legitimate transaction there. ")
          .Append("Such a bank is left out of the per-bank means; its rows still count in the overall scores. ")
          .Append(anyNa ? "This run has such banks: a longer test window, more transactions, or fewer banks would give them fraud to find." : "This run has none.")
          .Append("</p>\n");

        SettingsRows(sb, result);
        ProtocolCostRows(sb, result);
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private sealed record Series(string Label, string Color, double Width, string? Dash, ModelEvaluation Eval);

    private static string ShortLabel(string label) => label.Split(" (")[0];

    private static string Cell(double v) => double.IsFinite(v)
        ? "<td>" + v.ToString("F4", Inv) + "</td>"
        : "<td class=\"na\" title=\"undefined: no fraud (or no legitimate transaction) in this test window\">n/a</td>";

    private static void SettingsRows(StringBuilder sb, ExperimentResult r)
    {
        sb.Append("<h2>Settings of this run</h2>\n<table class=\"settings\"><tr><th>setting</th><th>value</th></tr>\n");
        foreach (RunSetting s in r.Settings.Concat(r.DataSource))
            sb.Append("<tr><td>").Append(Enc(s.Label)).Append("</td><td>").Append(Enc(Show(s.Value))).Append("</td></tr>\n");
        sb.Append("</table>\n");
    }

    private static void ProtocolCostRows(StringBuilder sb, ExperimentResult r)
    {
        sb.Append("<h2>Protocol cost</h2>\n<table>");
        void Row(string k, string v) => sb.Append("<tr><td>").Append(Enc(k)).Append("</td><td>").Append(Enc(v)).Append("</td></tr>\n");
        Row("secure-sum mode", r.Cost.Mode);
        Row("modulus", "2^" + r.Cost.ModulusBits.ToString(Inv));
        Row("secure sums", r.Cost.Sums.ToString("N0", Inv));
        Row("values summed per bank", r.Cost.ValuesPerBank.ToString("N0", Inv));
        Row("bytes uploaded (all banks)", r.Cost.BytesUploaded.ToString("N0", Inv));
        Row("bytes downloaded (all banks)", r.Cost.BytesDownloaded.ToString("N0", Inv));
        Row("time inside secure sums", r.Cost.SecureSumTime.TotalSeconds.ToString("F2", Inv) + " s");
        foreach (var kv in r.PhaseTimes) Row("phase " + kv.Key, kv.Value.TotalSeconds.ToString("F2", Inv) + " s");
        Row("wall time", r.Wall.TotalSeconds.ToString("F2", Inv) + " s");
        sb.Append("</table>\n");
    }

    private static string Plot(string title, string xLabel, string yLabel, List<Series> series, Func<Series, IReadOnlyList<CurvePoint>> points, bool diagonal)
    {
        const int size = 520, left = 64, top = 40, w = left + size + 30;
        int legendTop = top + size + 58, h = legendTop + 22 * series.Count + 10;
        var sb = new StringBuilder();
        sb.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{Enc(title)}\">\n");
        sb.Append(Inv, $"<text x=\"{left + size / 2}\" y=\"22\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"16\">{Enc(title)}</text>\n");
        sb.Append(Inv, $"<rect x=\"{left}\" y=\"{top}\" width=\"{size}\" height=\"{size}\" fill=\"#fff\" stroke=\"#888\"/>\n");
        for (int i = 0; i <= 10; i++)
        {
            double v = i / 10.0;
            double x = left + v * size, y = top + size - v * size;
            sb.Append(Inv, $"<line x1=\"{x:F1}\" y1=\"{top}\" x2=\"{x:F1}\" y2=\"{top + size}\" stroke=\"#eee\"/>");
            sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{left + size}\" y2=\"{y:F1}\" stroke=\"#eee\"/>");
            if (i % 2 == 0)
            {
                sb.Append(Inv, $"<text x=\"{x:F1}\" y=\"{top + size + 18}\" font-size=\"12\" text-anchor=\"middle\">{v:0.0}</text>");
                sb.Append(Inv, $"<text x=\"{left - 8}\" y=\"{y + 4:F1}\" font-size=\"12\" text-anchor=\"end\">{v:0.0}</text>");
            }
            sb.Append('\n');
        }
        sb.Append(Inv, $"<text x=\"{left + size / 2}\" y=\"{top + size + 40}\" font-size=\"14\" text-anchor=\"middle\">{Enc(xLabel)}</text>\n");
        sb.Append(Inv, $"<text x=\"18\" y=\"{top + size / 2}\" font-size=\"14\" text-anchor=\"middle\" transform=\"rotate(-90 18 {top + size / 2})\">{Enc(yLabel)}</text>\n");
        if (diagonal)
            sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{top + size}\" x2=\"{left + size}\" y2=\"{top}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>\n");
        foreach (Series s in series)
        {
            sb.Append("<polyline fill=\"none\" stroke-linejoin=\"round\" stroke-opacity=\"0.9\" stroke=\"").Append(s.Color)
              .Append(Inv, $"\" stroke-width=\"{s.Width:0.0}\"").Append(s.Dash is null ? "" : $" stroke-dasharray=\"{s.Dash}\"").Append(" points=\"");
            foreach (CurvePoint p in points(s))
                sb.Append(Inv, $"{left + Math.Clamp(p.X, 0, 1) * size:F1},{top + size - Math.Clamp(p.Y, 0, 1) * size:F1} ");
            sb.Append("\"><title>").Append(Enc(s.Label)).Append("</title></polyline>\n");
        }
        int ly = legendTop;
        foreach (Series s in series.AsEnumerable().Reverse())
        {
            sb.Append(Inv, $"<line x1=\"{left}\" y1=\"{ly}\" x2=\"{left + 44}\" y2=\"{ly}\" stroke=\"{s.Color}\" stroke-width=\"{s.Width:0.0}\"")
              .Append(s.Dash is null ? "" : $" stroke-dasharray=\"{s.Dash}\"").Append("/>");
            sb.Append(Inv, $"<text x=\"{left + 54}\" y=\"{ly + 5}\" font-size=\"13\">{Enc(s.Label)}</text>\n");
            ly += 22;
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>HTML-encoded, and with control and invisible formatting characters (which HtmlEncode keeps: an ESC in a data
    /// file's name reached the page raw) written as text, \x1b or \u202e, as the CLI's lines show them.</summary>
    private static string Enc(string s)
    {
        string encoded = WebUtility.HtmlEncode(s);
        if (!encoded.Any(Hidden)) return encoded;
        var sb = new StringBuilder(encoded.Length + 16);
        foreach (char c in encoded)
            sb.Append(!Hidden(c) ? c.ToString() : c <= 0xff ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
        return sb.ToString();
    }

    private static bool Hidden(char c) => char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
        or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator;
}
