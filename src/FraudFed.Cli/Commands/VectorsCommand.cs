// `fraudfed vectors --out DIR`: regenerates FraudFed's own derived test vectors (protocols/vectors) from fixed
// seeds. Deterministic: running it twice writes identical files. Vectors copied from RFCs and NIST are left alone.
using System.CommandLine;
using FraudFed.Cli.Conformance;

namespace FraudFed.Cli.Commands;

internal sealed class VectorsCommand : ICliCommand
{
    public Command Build()
    {
        var output = new Option<string?>("--out") { Description = "Vector directory to write (default: protocols/vectors of the enclosing repository)." };
        var command = new Command("vectors", "Regenerate FraudFed's derived protocol test vectors deterministically from fixed seeds.");
        command.Options.Add(output);
        command.SetAction(parse => Infrastructure.CliErrors.Guard("vectors", parse.InvocationConfiguration.Error,
            () => Run(parse.GetValue(output), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        return command;
    }

    internal static int Run(string? directory, TextWriter stdout, TextWriter stderr)
    {
        string dir;
        try { dir = directory ?? ConformanceSuite.FindVectorDirectory(); }
        catch (DirectoryNotFoundException e) { stderr.WriteLine(e.Message); return 2; }
        foreach (string path in ConformanceSuite.Generate(dir)) stdout.WriteLine("wrote " + Path.Combine(dir, path));
        return 0;
    }
}
