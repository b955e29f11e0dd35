// `fraudfed conformance [--vectors DIR]`: the offline conformance check, the same as `fraudfed vectors check`
// (recomputes every vector file under protocols/vectors and prints one line per file, then "N passed, N failed").
using System.CommandLine;

namespace FraudFed.Cli.Commands;

internal sealed class ConformanceCommand : ICliCommand
{
    public Command Build()
    {
        var vectors = new Option<string?>("--vectors") { Description = "Vector directory (default: protocols/vectors of the enclosing repository)." };
        var verbose = new Option<bool>("--verbose") { Description = "Also list every passing case." };
        var command = new Command("conformance", "Check that this implementation reproduces every protocol test vector byte for byte (as `vectors check`).");
        command.Options.Add(vectors);
        command.Options.Add(verbose);
        command.SetAction(parse => Infrastructure.CliErrors.Guard("conformance", parse.InvocationConfiguration.Error,
            () => VectorsCommand.Check(parse.GetValue(vectors), parse.GetValue(verbose), json: false, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        return command;
    }
}
