using FraudFed.Cli.Commands;

namespace FraudFed.Cli;

/// <summary>Every top-level command and command group of `fraudfed`, in the order of `fraudfed --help`. The native bank
/// program (src/FraudFed.BankHost) has its own catalog, of the bank commands only.</summary>
internal static class CommandCatalog
{
    /// <summary>A fresh instance of each <see cref="ICliCommand"/> and <see cref="ICliSubcommands"/>.</summary>
    public static IEnumerable<object> Commands() =>
    [
        new AggregatorCommands(), new BankCommands(), new BenchMaskingCommand(), new BenchRoundCommand(),
        new ConformanceCommand(), new HeBenchCommand(), new SimulateCommand(), new VectorsCommand(),
    ];
}
