// A usage or input error: the command line, an input file or the output directory cannot be used as given.
// Program maps it to exit code 2 and one line on stderr; the message names the option and the fix.
namespace FraudFed.Cli.Infrastructure;

/// <summary>The user's input cannot be used (exit code 2); the message names the option or file and the fix.</summary>
internal sealed class UsageException(string message) : Exception(message);
