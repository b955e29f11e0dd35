// Work split by chunk across cores, with the protocol's error contract kept: a refusal inside the loop surfaces as the
// ProtocolViolationException itself (the first one), never as an AggregateException.
using System.Runtime.ExceptionServices;
using FraudFed.Cryptography;

namespace FraudFed.Protocol;

internal static class TypedParallel
{
    /// <summary>Runs <paramref name="body"/> for 0..count-1, on several cores when <paramref name="parallel"/> and count &gt; 1.</summary>
    /// <exception cref="ProtocolViolationException">the first typed refusal of any iteration.</exception>
    public static void For(int count, bool parallel, Action<int> body)
    {
        if (count <= 1 || !parallel) { for (int k = 0; k < count; k++) body(k); return; }
        try { Parallel.For(0, count, body); }
        catch (AggregateException e)
        {
            Exception first = e.Flatten().InnerExceptions.FirstOrDefault(x => x is ProtocolViolationException) ?? e.InnerExceptions[0];
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }
}
