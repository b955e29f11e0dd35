// `fraudfed vectors generate [--out DIR]` regenerates FraudFed's own derived test vectors (protocols/vectors) from
// fixed seeds: running it twice writes identical files, and on a clean checkout it reproduces the committed ones.
// `fraudfed vectors check [--vectors DIR] [--verbose] [--json]` recomputes every vector file and reports one line
// per file. Vectors copied from RFCs and NIST are checked, never regenerated: generate copies them from the enclosing
// repository's protocols/vectors into another --out directory (or names them when there is no repository). The work is in FraudFed.Conformance.
using System.CommandLine;
using System.Text.Json.Nodes;
using FraudFed.Conformance.Vectors;

namespace FraudFed.Cli.Commands;

internal sealed class VectorsCommand : ICliSubcommands
{
    public string Group => "vectors";

    public string GroupDescription => "Generate or check the protocol test vectors under protocols/vectors.";

    public IEnumerable<Command> BuildSubcommands()
    {
        var output = new Option<string?>("--out") { Description = "Vector directory to write (default: protocols/vectors of the enclosing repository)." };
        var generate = new Command("generate", "Regenerate FraudFed's derived protocol test vectors deterministically from fixed seeds.");
        generate.Options.Add(output);
        generate.SetAction(parse => Infrastructure.CliErrors.Guard("vectors generate", parse.InvocationConfiguration.Error,
            () => Generate(parse.GetValue(output), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        yield return generate;

        var vectors = new Option<string?>("--vectors") { Description = "Vector directory (default: protocols/vectors of the enclosing repository)." };
        var verbose = new Option<bool>("--verbose") { Description = "Also list every passing case." };
        var json = new Option<bool>("--json") { Description = "End with one JSON line: passed, failed and every failing check." };
        var check = new Command("check", "Check that this implementation reproduces every protocol test vector byte for byte.");
        check.Options.Add(vectors);
        check.Options.Add(verbose);
        check.Options.Add(json);
        check.SetAction(parse => Infrastructure.CliErrors.Guard("vectors check", parse.InvocationConfiguration.Error,
            () => Check(parse.GetValue(vectors), parse.GetValue(verbose), parse.GetValue(json), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        yield return check;
    }

    internal static int Generate(string? directory, TextWriter stdout, TextWriter stderr)
    {
        string dir = VectorDirectory(directory);
        if (File.Exists(dir)) throw new Infrastructure.UsageException($"--out is a file ({dir}): give a directory.");
        foreach (string path in ConformanceSuite.Generate(dir)) stdout.WriteLine("wrote " + Infrastructure.ErrorLine.Value(Path.Combine(dir, path)));
        // The RFC/NIST known answers are never generated: copied from the enclosing repository when there is one, so that
        // `vectors check --vectors DIR` on the output finds every file; otherwise named, with where to get them.
        string? source = null;
        try { source = ConformanceSuite.FindVectorDirectory(); }
        catch (DirectoryNotFoundException) { }
        string names = string.Join(", ", ConformanceSuite.KnownAnswerFiles);
        if (source is not null && ConformanceSuite.KnownAnswerFiles.All(f => File.Exists(Path.Combine(source, f))))
        {
            IReadOnlyList<string> copied = ConformanceSuite.CopyKnownAnswers(source, dir);
            if (copied.Count > 0) stdout.WriteLine($"copied the RFC/NIST known answers ({names}) from {Infrastructure.ErrorLine.Value(source)} (they are never generated)");
        }
        else
            stdout.WriteLine($"not written: the RFC/NIST known answers {names} are never generated; copy them from protocols/vectors of the FraudFed repository into {Infrastructure.ErrorLine.Value(dir)} before `fraudfed vectors check --vectors {dir}`");
        return 0;
    }

    /// <summary>One line per vector file, then "N passed, N failed" (files); exit 1 when any file fails.</summary>
    internal static int Check(string? directory, bool verbose, bool json, TextWriter stdout, TextWriter stderr)
    {
        string dir = VectorDirectory(directory);
        if (!Directory.Exists(dir)) throw new Infrastructure.UsageException($"--vectors {dir} does not exist (or is not a directory).");
        int passed = 0, failed = 0;
        var failures = new JsonArray();
        foreach (FileResult r in ConformanceSuite.RunAll(dir))
        {
            if (r.Passed)
            {
                passed++;
                stdout.WriteLine($"pass  {Infrastructure.ErrorLine.Value(r.Path)} ({r.Cases.Count} cases)");
                if (verbose) foreach (CaseResult c in r.Cases) stdout.WriteLine($"        ok  {c.Name}");
                continue;
            }
            failed++;
            stdout.WriteLine($"FAIL  {Infrastructure.ErrorLine.Value(r.Path)} ({r.Cases.Count(c => !c.Passed)} of {r.Cases.Count} cases failed)");
            foreach (CaseResult c in r.Cases.Where(c => !c.Passed))
            {
                stdout.WriteLine($"        {c.Name}: {c.Message}");
                failures.Add(r.Path + "/" + c.Name);
            }
        }
        stdout.WriteLine($"{passed} passed, {failed} failed");
        if (json) stdout.WriteLine(new JsonObject { ["suite"] = "vectors", ["passed"] = passed, ["failed"] = failed, ["failures"] = failures }.ToJsonString());
        return failed == 0 ? 0 : 1;
    }

    /// <summary>The given directory, or protocols/vectors of the enclosing repository.</summary>
    /// <exception cref="Infrastructure.UsageException">None given and no enclosing repository.</exception>
    private static string VectorDirectory(string? directory)
    {
        try { return directory ?? ConformanceSuite.FindVectorDirectory(); }
        catch (DirectoryNotFoundException e) { throw new Infrastructure.UsageException(e.Message); }
    }
}
