using System.Runtime.ExceptionServices;

namespace FraudFed.Learning.Federation;

/// <summary>Runs each bank's independent local step on up to two threads; the lowest bank's error is rethrown as is.</summary>
public static class BankParallel
{
    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = 2 };

    // Set on a thread whose work must stay on it (the experiment's second thread of lower priority: a thread-pool worker
    // would run its share at normal priority, against the federated phase it is meant to yield to).
    [ThreadStatic] private static bool t_thisThreadOnly;

    /// <summary>Calls <paramref name="body"/> for banks 0..count-1.</summary>
    public static void For(int count, Action<int> body)
    {
        var errors = new Exception?[count];
        void One(int b)
        {
            try { body(b); }
            catch (Exception e) { errors[b] = e; }
        }
        if (t_thisThreadOnly) for (int b = 0; b < count; b++) One(b);
        else Parallel.For(0, count, Options, One);
        foreach (Exception? e in errors)
            if (e is not null) ExceptionDispatchInfo.Capture(e).Throw();
    }

    /// <summary>From now on every <see cref="For"/> called on this thread runs its banks one after another on this thread.</summary>
    internal static void ThisThreadOnly() => t_thisThreadOnly = true;
}
