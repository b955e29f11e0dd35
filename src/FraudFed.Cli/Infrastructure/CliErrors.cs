// The one place that turns an exception into what a user sees: one line "fraudfed <command>: message" on
// stderr and an exit code (0 success, 1 a run that failed, 2 a usage or input error). No stack trace is ever
// printed: a usage error names the option and the fix, an input error names the file, row and column, and
// anything unexpected gives its message (never a .NET type name). Text from outside (a CSV header, an option value) is shown
// escaped and cut (ErrorLine). Ctrl+C is "cancelled." and exit code 130 (SIGTERM: 143).
using FraudFed.Learning.Data;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Exit codes and the one-line error report of every command.</summary>
internal static class CliErrors
{
    /// <summary>The command succeeded.</summary>
    public const int Success = 0;
    /// <summary>The run failed (including a secure model that differs from the plain one).</summary>
    public const int RunFailed = 1;
    /// <summary>A usage or input error, found before any work.</summary>
    public const int Usage = 2;
    /// <summary>Interrupted by Ctrl+C (SIGINT): 128 + 2, the shell's convention.</summary>
    public const int Interrupted = 130;
    /// <summary>Stopped by SIGTERM: 128 + 15, the shell's convention.</summary>
    public const int Terminated = 143;

    /// <summary>Runs <paramref name="body"/>; an exception becomes one line on <paramref name="stderr"/> and its exit code.</summary>
    public static int Guard(string command, TextWriter stderr, Func<int> body)
    {
        try { return body(); }
        catch (Exception e) { return Report(command, stderr, e); }
    }

    /// <summary>Writes one line for <paramref name="error"/> and returns its exit code.</summary>
    public static int Report(string command, TextWriter stderr, Exception error)
    {
        while (error is AggregateException { InnerExceptions.Count: 1 } a) error = a.InnerExceptions[0];
        (int code, string message) = error switch
        {
            UsageException => (Usage, error.Message),
            DataFormatException => (Usage, error.Message),
            FraudFed.Sdk.Configuration.ConfigurationException => (Usage, error.Message),
            FraudFed.Sdk.VectorLengthMismatchException => (Usage, error.Message),
            FraudFed.Sdk.FederationSettingsMismatchException => (Usage, error.Message),   // bank.json's federation block is not the appliance's
            FraudFed.Sdk.ValueOutOfRangeException v => (Usage, WithoutParameterName(v)),
            FraudFed.Sdk.State.StateDirectoryInUseException => (Usage, error.Message),   // found before any work: nothing was done
            FraudFed.Sdk.FederationException => (RunFailed, error.Message),
            BankProcessException => (RunFailed, error.Message),
            OperationCanceledException when CliInterrupt.Requested => (CliInterrupt.ExitCode, "cancelled."),
            OperationCanceledException => (RunFailed, "cancelled."),
            OutOfMemoryException => (RunFailed, "out of memory; use fewer --transactions, --values or banks."),
            ArgumentException a => (RunFailed, WithoutParameterName(a)),
            _ => (RunFailed, error.Message),
        };
        return Fail(command, stderr, message, code);
    }

    /// <summary>An ArgumentException's message without the " (Parameter 'name')" suffix that .NET appends (a code name, not
    /// something a person at the command line can act on).</summary>
    private static string WithoutParameterName(ArgumentException error)
    {
        int cut = error.ParamName is null ? -1 : error.Message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return cut > 0 ? error.Message[..cut] : error.Message;
    }

    /// <summary>Writes "fraudfed <paramref name="command"/>: <paramref name="message"/>" as one line and returns <paramref name="code"/>
    /// (the program's own name and the command as invoked: <see cref="CommandNames.Typed"/>). The message is shown as
    /// <see cref="ErrorLine.Of"/> shows it: whatever it quotes of an input file or an option value, control characters are
    /// escaped (\x1b) and long values cut, so that no error line can drive the terminal or flood it.</summary>
    public static int Fail(string command, TextWriter stderr, string message, int code = Usage)
    {
        stderr.WriteLine($"{CommandNames.Typed(command)}: {ErrorLine.Of(message)}");
        return code;
    }
}

/// <summary>A bank process failed, hung, or disagreed with the others; the message names the bank and its stderr tail.</summary>
internal sealed class BankProcessException(string message) : Exception(message);
