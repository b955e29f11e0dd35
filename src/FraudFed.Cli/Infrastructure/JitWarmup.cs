// JitWarmup: runs a benchmark body until the JIT has stopped compiling, so that the timed runs that follow execute
// steady-state code (tier-1 with dynamic PGO, or methods marked AggressiveOptimization) and not tier-0 or OSR code.
//
// With tiered compilation (.NET's default) a method starts at tier 0; after a 100 ms window without new tier-0
// compilations the runtime counts calls, and a method called 30 times is recompiled at tier 1 on a background
// thread (loops in rarely called methods are replaced on stack, OSR). Each such recompilation increments
// System.Runtime.JitInfo.GetCompiledMethodCount. A block of work that lasts longer than that window and compiles
// no method at all therefore runs the code the timed runs will run.
using System.Diagnostics;
using System.Runtime;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Warm-up of a benchmark body until a whole block of it compiles no method (the JIT is quiet).</summary>
internal static class JitWarmup
{
    /// <summary>What a warm-up did: blocks and calls of the body, seconds spent, methods compiled (all threads).</summary>
    /// <param name="Blocks">Blocks run (each at least the minimum block time).</param>
    /// <param name="Calls">Calls of the body in all blocks.</param>
    /// <param name="Seconds">Wall-clock seconds spent warming up.</param>
    /// <param name="MethodsCompiled">Methods the JIT compiled during the warm-up, on all threads.</param>
    /// <param name="Quiet">True if the last block compiled no method; false if the time limit ended the warm-up.</param>
    internal readonly record struct Result(int Blocks, long Calls, double Seconds, long MethodsCompiled, bool Quiet)
    {
        /// <summary>One line for the benchmark's output: how the steady state was reached.</summary>
        public string Describe() => Quiet
            ? $"warm-up {Seconds:F2} s ({Calls} calls in {Blocks} blocks, {MethodsCompiled} methods JIT-compiled) until a block compiled none: steady state"
            : $"warm-up stopped at its {Seconds:F2} s limit while the JIT was still compiling ({MethodsCompiled} methods): may not be steady state";
    }

    /// <summary>
    /// Calls <paramref name="body"/> in blocks of at least <paramref name="minBlock"/> (and at least one call) until a
    /// block other than the first compiles no method, or until <paramref name="limit"/> has passed.
    /// </summary>
    /// <param name="body">One unit of the benchmarked work.</param>
    /// <param name="minBlock">Shortest block; must exceed the runtime's 100 ms tiering delay (250 ms is used).</param>
    /// <param name="limit">Longest warm-up.</param>
    public static Result UntilQuiet(Action body, TimeSpan minBlock, TimeSpan limit)
    {
        var total = Stopwatch.StartNew();
        long start = JitInfo.GetCompiledMethodCount(currentThread: false);
        long calls = 0;
        int blocks = 0;
        while (true)
        {
            long before = JitInfo.GetCompiledMethodCount(currentThread: false);
            var block = Stopwatch.StartNew();
            do { body(); calls++; } while (block.Elapsed < minBlock);
            blocks++;
            long compiled = JitInfo.GetCompiledMethodCount(currentThread: false) - before;
            long all = JitInfo.GetCompiledMethodCount(currentThread: false) - start;
            if (blocks > 1 && compiled == 0) return new Result(blocks, calls, total.Elapsed.TotalSeconds, all, true);
            if (total.Elapsed >= limit) return new Result(blocks, calls, total.Elapsed.TotalSeconds, all, false);
        }
    }
}
