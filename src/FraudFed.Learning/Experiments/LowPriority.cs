// The scheduling priority of the experiment's second thread (ExperimentOptions.OverlapWithFederated): on Linux the calling
// thread's nice value is raised to 10 (setpriority(2) with PRIO_PROCESS and who = 0 acts on the calling thread alone there,
// threads being tasks), so that on a busy machine the plain-sum training and the baselines take the cores only when the
// federated phase leaves them idle; the federated phase's processes keep nice 0. Nothing elsewhere, and a refusal (a
// sandbox without the call) is ignored: the work is the same at either priority. A thread cannot lower its nice value
// again without privileges, so the caller gives the work left when the federated phase ends to a thread of normal priority.
using System.Runtime.InteropServices;

namespace FraudFed.Learning.Experiments;

internal static partial class LowPriority
{
    /// <summary>The nice value of the second thread (0 normal .. 19 lowest).</summary>
    internal const int Nice = 10;

    private const int PrioProcess = 0;

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    /// <summary>Lowers the calling thread's scheduling priority (Linux); returns whether it did.</summary>
    internal static bool ForThisThread()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return SetPriority(PrioProcess, 0, Nice) == 0; }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }
}
