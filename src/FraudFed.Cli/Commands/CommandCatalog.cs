using FraudFed.Cli.Commands;

namespace FraudFed.Cli;

/// <summary>Every top-level command and command group of `fraudfed`, in the order of `fraudfed --help`. The native bank
/// program (src/FraudFed.BankHost) has its own catalog, of the bank commands only.</summary>
internal static class CommandCatalog
{
    /// <summary>The program's name, first word of its usage lines, error lines and "(... --help)" hints.</summary>
    public const string ProgramName = "fraudfed";

    /// <summary>The command group whose subcommands sit at the root (the native bank program's "bank"); none here.</summary>
    public static string? RootGroup => null;

    /// <summary>The description of the root command (`fraudfed --help`).</summary>
    public const string Description = "FraudFed: secure aggregation for cross-bank federated fraud detection.";

    /// <summary>A fresh instance of each <see cref="ICliCommand"/> and <see cref="ICliSubcommands"/>.</summary>
    public static IEnumerable<object> Commands() =>
    [
        new AggregatorCommands(), new BankCommands(), new BenchMaskingCommand(), new BenchRoundCommand(),
        new ConformanceCommand(), new HeBenchCommand(), new SimulateCommand(), new VectorsCommand(),
    ];
}
