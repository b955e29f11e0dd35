using System.CommandLine;
using System.Reflection;

namespace FraudFed.Cli;

/// <summary>A top-level `fraudfed` command group or command. Implementations are discovered by reflection,
/// so each command lives in its own file and adding one touches nothing else.</summary>
internal interface ICliCommand
{
    /// <summary>Builds the command. Commands with the same name (e.g. several "bench" suites) are merged:
    /// return a command whose subcommands will be added under the shared parent.</summary>
    Command Build();
}

internal static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("FraudFed: secure aggregation for cross-bank federated fraud detection.");
        var byName = new Dictionary<string, Command>(StringComparer.Ordinal);
        IEnumerable<Type> types = typeof(Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(ICliCommand).IsAssignableFrom(t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal);
        foreach (Type type in types)
        {
            var command = ((ICliCommand)Activator.CreateInstance(type, nonPublic: true)!).Build();
            if (byName.TryGetValue(command.Name, out Command? existing))
            {
                foreach (Command sub in command.Subcommands) existing.Subcommands.Add(sub);
            }
            else
            {
                byName.Add(command.Name, command);
                root.Subcommands.Add(command);
            }
        }
        return root;
    }
}
