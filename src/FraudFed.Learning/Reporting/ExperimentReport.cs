// Writers for an ExperimentResult: summary.json (snake_case headline fields first, then per-bank and
// cost details) and a self-contained report.html (inline SVG ROC and PR curves, per-bank table; no
// scripts, no external resources).
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
        var models = new List<(string Label, string Color, ModelEvaluation Eval)> { ("federated (" + result.Model + ")", "#1f77b4", result.Federated) };
        if (result.LocalOnly is not null) models.Add(("local-only LightGBM", "#d62728", result.LocalOnly));
        if (result.Centralized is not null) models.Add(("centralized LightGBM", "#2ca02c", result.Centralized));

        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>FraudFed simulation report</title>\n");
        sb.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}")
          .Append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}")
          .Append(".curves{display:flex;gap:2em;flex-wrap:wrap}.ok{color:#2ca02c}.bad{color:#d62728}</style></head><body>\n");
        sb.Append("<h1>FraudFed simulation</h1>\n<p>");
        sb.Append(Enc($"{result.Banks} banks, {result.Transactions:N0} transactions, seed {result.Seed}, model {result.Model}, secure-sum mode {result.Mode}."));
        sb.Append(" Evaluation on each bank's later time window.</p>\n");
        if (result.SecureEqualsPlaintext is { } same)
            sb.Append("<p class=\"").Append(same ? "ok" : "bad").Append("\">")
              .Append(same ? "The model trained through secure sums is bit-for-bit identical to the one trained through plain sums."
                           : "The model trained through secure sums DIFFERS from the one trained through plain sums.").Append("</p>\n");

        sb.Append("<h2>Overall</h2>\n<table><tr><th>model</th><th>PR-AUC</th><th>ROC-AUC</th><th>recall @ 1% FPR</th><th>mean per-bank PR-AUC</th></tr>\n");
        foreach (var (label, _, e) in models)
        {
            MetricSet m = e.Overall.Metrics;
            sb.Append("<tr><td>").Append(Enc(label)).Append("</td><td>").Append(F(m.PrAuc)).Append("</td><td>").Append(F(m.RocAuc))
              .Append("</td><td>").Append(F(m.RecallAt1PctFpr)).Append("</td><td>").Append(F(e.MeanBankPrAuc)).Append("</td></tr>\n");
        }
        sb.Append("</table>\n");

        sb.Append("<div class=\"curves\">\n");
        sb.Append(Plot("ROC curve", "false-positive rate", "true-positive rate", models.Select(m => (m.Label, m.Color, m.Eval.Overall.Roc)).ToList(), diagonal: true));
        sb.Append(Plot("Precision-recall curve", "recall", "precision", models.Select(m => (m.Label, m.Color, m.Eval.Overall.PrecisionRecall)).ToList(), diagonal: false));
        sb.Append("</div>\n");

        sb.Append("<h2>Per bank</h2>\n<table><tr><th>bank</th><th>train rows</th><th>train fraud</th><th>test rows</th><th>test fraud</th>");
        foreach (var (label, _, _) in models) sb.Append("<th>PR-AUC ").Append(Enc(label)).Append("</th>");
        foreach (var (label, _, _) in models) sb.Append("<th>ROC-AUC ").Append(Enc(label)).Append("</th>");
        sb.Append("</tr>\n");
        for (int b = 0; b < result.BankData.Count; b++)
        {
            var d = result.BankData[b];
            sb.Append("<tr><td>").Append(Enc(d.Name)).Append("</td><td>").Append(d.TrainRows.ToString("N0", Inv)).Append("</td><td>").Append(d.TrainPositives.ToString(Inv))
              .Append("</td><td>").Append(d.TestRows.ToString("N0", Inv)).Append("</td><td>").Append(d.TestPositives.ToString(Inv)).Append("</td>");
            foreach (var (_, _, e) in models) sb.Append("<td>").Append(F(e.PerBank[b].PrAuc)).Append("</td>");
            foreach (var (_, _, e) in models) sb.Append("<td>").Append(F(e.PerBank[b].RocAuc)).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");

        ProtocolCostRows(sb, result);
        sb.Append("</body></html>\n");
        return sb.ToString();
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

    private static string Plot(string title, string xLabel, string yLabel, List<(string Label, string Color, IReadOnlyList<CurvePoint> Points)> series, bool diagonal)
    {
        const int w = 480, h = 370, left = 50, top = 30, size = 280;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{Enc(title)}\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + size / 2}\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">{Enc(title)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{top}\" width=\"{size}\" height=\"{size}\" fill=\"none\" stroke=\"#888\"/>\n");
        for (int i = 0; i <= 4; i++)
        {
            double v = i / 4.0;
            double x = left + v * size, y = top + size - v * size;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:F1}\" y1=\"{top}\" x2=\"{x:F1}\" y2=\"{top + size}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{left + size}\" y2=\"{y:F1}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:F1}\" y=\"{top + size + 14}\" font-size=\"10\" text-anchor=\"middle\">{v:0.##}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{y + 3:F1}\" font-size=\"10\" text-anchor=\"end\">{v:0.##}</text>\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + size / 2}\" y=\"{top + size + 30}\" font-size=\"12\" text-anchor=\"middle\">{Enc(xLabel)}</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{top + size / 2}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {top + size / 2})\">{Enc(yLabel)}</text>\n");
        if (diagonal)
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{top + size}\" x2=\"{left + size}\" y2=\"{top}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>\n");
        int legendY = top + size + 44;
        foreach (var (label, color, points) in series)
        {
            sb.Append("<polyline fill=\"none\" stroke-width=\"1.8\" stroke=\"").Append(color).Append("\" points=\"");
            foreach (CurvePoint p in points)
                sb.Append(CultureInfo.InvariantCulture, $"{left + Math.Clamp(p.X, 0, 1) * size:F1},{top + size - Math.Clamp(p.Y, 0, 1) * size:F1} ");
            sb.Append("\"/>\n");
        }
        int lx = left;
        foreach (var (label, color, _) in series)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{lx}\" y=\"{legendY - 8}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{lx + 14}\" y=\"{legendY + 1}\" font-size=\"10\">{Enc(label)}</text>\n");
            lx += 14 + 6 * label.Length + 10;
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string F(double v) => double.IsFinite(v) ? v.ToString("F4", Inv) : "n/a";
    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
