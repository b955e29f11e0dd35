// The two outputs of a live run (SPEC.md 13, "Live conformance"): a table with one line per check, and one JSON line
// {"passed":N,"failed":N,"checks":[{"name":...,"passed":...,"detail":...,"seconds":...}]} for scripts and CI.
using System.Text.Json.Nodes;

namespace FraudFed.Conformance.Live;

/// <summary>Formats live check results.</summary>
public static class LiveReport
{
    /// <summary>Writes one line per check (<c>pass</c>/<c>FAIL</c>, name, seconds, detail), then "N passed, N failed".</summary>
    /// <exception cref="ArgumentNullException">an argument is null.</exception>
    public static void WriteTable(IReadOnlyList<LiveCheckResult> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        WriteLines(results, output);
        output.WriteLine($"{results.Count(r => r.Passed)} passed, {results.Count(r => !r.Passed)} failed");
    }

    private static void WriteLines(IReadOnlyList<LiveCheckResult> results, TextWriter output)
    {
        int width = results.Count == 0 ? 10 : results.Max(r => r.Name.Length);
        foreach (LiveCheckResult r in results)
            output.WriteLine($"{(r.Passed ? "pass" : "FAIL")}  {r.Name.PadRight(width)}  {r.Seconds,7:0.000} s  {r.Detail}");
    }

    /// <summary>The report of a run that stopped at a failed session setup: the check lines, then one line saying that no other
    /// check ran (the appliance checks need the session; the bank-refusal checks are left for a run that reaches the appliance).</summary>
    /// <exception cref="ArgumentNullException">an argument is null.</exception>
    public static void WriteStopped(IReadOnlyList<LiveCheckResult> results, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        WriteLines(results, output);
        output.WriteLine($"stopped: session setup failed, so no other check ran (bank checks included); {results.Count(r => r.Passed)} passed, {results.Count(r => !r.Passed)} failed");
    }

    /// <summary>The JSON line: passed and failed counts and every check with its verdict.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="results"/> is null.</exception>
    public static string Json(IReadOnlyList<LiveCheckResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var checks = new JsonArray();
        foreach (LiveCheckResult r in results)
            checks.Add(new JsonObject { ["name"] = r.Name, ["passed"] = r.Passed, ["detail"] = r.Detail, ["seconds"] = r.Seconds });
        return new JsonObject
        {
            ["passed"] = results.Count(r => r.Passed),
            ["failed"] = results.Count(r => !r.Passed),
            ["checks"] = checks,
        }.ToJsonString();
    }
}
