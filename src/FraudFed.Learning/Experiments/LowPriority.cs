// The scheduling priority of the experiment's second thread (ExperimentOptions.OverlapWithFederated): on Linux the calling
// thread's nice value is raised to 10 (setpriority(2) with PRIO_PROCESS and who = 0 acts on the calling thread alone there,
// threads being tasks), so that the plain-sum training and the baselines take a core mostly when the federated phase's
// processes (nice 0) leave it idle. Nothing elsewhere, and a refusal (a sandbox without the call) is ignored: the work is the
// same at any priority. A thread cannot lower its nice value again without privileges, so the caller takes the steps left
// when the federated phase ends on its own thread of normal priority, and the second thread runs its plain training's bank
// steps itself (BankParallel.ThisThreadOnly), not on thread-pool workers of normal priority.
// Measured on 2026-12-02, default simulate --transport grpc (200 trees), A = main, alternated, load 2 to 9, seconds wall
// (CPU of all processes): A 60.5 (70.8), 43.3 (66.6), 46.3 (72.1); nice 10: 42.1 (70.8), 39.5 (68.2), 44.1 (74.4);
// SCHED_IDLE instead of nice 10: 59.4 (72.2), 41.3 (72.3), 43.9 (76.3), its steps mostly left for after the federated phase.
// Nice 10 with the plain training's bank steps on thread-pool workers (load 2 to 6): 40.6 (69.2), 48.2 (81.7), 46.5 (78.7)
// against A 42.7 (66.6), 45.7 (71.7), 43.3 (66.6); no lower priority at all (load 8 to 21): 123.6, 85.0, 72.2 s against
// nice 10's 85.8, 76.7, 63.2 and A's 94.0, 93.2, 94.7. This code against A, 4 more pairs (load 3 to 7): 43.2 (73.3), 42.1
// (71.2), 43.2 (74.7), 43.5 (74.9) against 43.3 (68.1), 46.3 (71.5), 47.3 (71.9), 45.2 (71.6): median 43.2 against 45.7 s
// wall, 74.0 against 71.5 CPU s (the federated phase itself 40.9 to 42.3 s against 35.6 to 39.4 s).
using System.Runtime.InteropServices;

namespace FraudFed.Learning.Experiments;

internal static partial class LowPriority
{
    /// <summary>The nice value of the second thread (0 normal .. 19 lowest).</summary>
    internal const int Nice = 10;

    private const int PrioProcess = 0;   // sys/resource.h

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    /// <summary>Lowers the calling thread's scheduling priority to nice <see cref="Nice"/> (Linux); returns whether it did.</summary>
    internal static bool ForThisThread()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return SetPriority(PrioProcess, 0, Nice) == 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }
}
