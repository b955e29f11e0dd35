using System.Runtime.ExceptionServices;

namespace FraudFed.Learning.Federation;

/// <summary>Runs each bank's independent local step on up to two threads; the lowest bank's error is rethrown as is.</summary>
public static class BankParallel
{
    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = 2 };

    /// <summary>Calls <paramref name="body"/> for banks 0..count-1.</summary>
    public static void For(int count, Action<int> body)
    {
        var errors = new Exception?[count];
        Parallel.For(0, count, Options, b =>
        {
            try { body(b); }
            catch (Exception e) { errors[b] = e; }
        });
        foreach (Exception? e in errors)
            if (e is not null) ExceptionDispatchInfo.Capture(e).Throw();
    }
}
