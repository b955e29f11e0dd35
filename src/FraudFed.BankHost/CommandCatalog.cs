using FraudFed.Cli.Commands;

namespace FraudFed.Cli;

/// <summary>The native bank program's commands: `bank sum` and `bank train`, as the CLI has them.</summary>
internal static class CommandCatalog
{
    /// <summary>A fresh instance of each command group.</summary>
    public static IEnumerable<object> Commands() => [new BankCommands()];
}
