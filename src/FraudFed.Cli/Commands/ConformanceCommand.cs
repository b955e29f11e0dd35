// `fraudfed conformance [--vectors DIR]`: runs the conformance checks of every vector file outside NUnit, one
// line per file, then "N passed, N failed"; exit code 1 when any file fails.
using System.CommandLine;
using FraudFed.Cli.Conformance;

namespace FraudFed.Cli.Commands;

internal sealed class ConformanceCommand : ICliCommand
{
    public Command Build()
    {
        var vectors = new Option<string?>("--vectors") { Description = "Vector directory (default: protocols/vectors of the enclosing repository)." };
        var verbose = new Option<bool>("--verbose") { Description = "Also list every passing case." };
        var command = new Command("conformance", "Check that this implementation reproduces every protocol test vector byte for byte.");
        command.Options.Add(vectors);
        command.Options.Add(verbose);
        command.SetAction(parse => Infrastructure.CliErrors.Guard("conformance", parse.InvocationConfiguration.Error,
            () => Run(parse.GetValue(vectors), parse.GetValue(verbose), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        return command;
    }

    internal static int Run(string? directory, bool verbose, TextWriter stdout, TextWriter stderr)
    {
        string dir;
        try { dir = directory ?? ConformanceSuite.FindVectorDirectory(); }
        catch (DirectoryNotFoundException e) { stderr.WriteLine(e.Message); return 2; }
        if (!Directory.Exists(dir)) { stderr.WriteLine($"{dir} does not exist."); return 2; }
        int passed = 0, failed = 0;
        foreach (string path in ConformanceSuite.AllPaths(dir))
        {
            FileResult r = ConformanceSuite.Run(dir, path);
            if (r.Passed)
            {
                passed++;
                stdout.WriteLine($"pass  {path} ({r.Cases.Count} cases)");
                if (verbose) foreach (CaseResult c in r.Cases) stdout.WriteLine($"        ok  {c.Name}");
            }
            else
            {
                failed++;
                stdout.WriteLine($"FAIL  {path} ({r.Cases.Count(c => !c.Passed)} of {r.Cases.Count} cases failed)");
                foreach (CaseResult c in r.Cases.Where(c => !c.Passed)) stdout.WriteLine($"        {c.Name}: {c.Message}");
            }
        }
        stdout.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}
