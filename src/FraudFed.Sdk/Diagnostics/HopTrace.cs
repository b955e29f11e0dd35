// HopTrace: an opt-in timeline of one secure sum across processes, for latency work on the appliance stack. When the
// environment variable FRAUDFED_HOP_TRACE names a directory, every process that loads the SDK (bank processes, the appliance,
// a benchmark hosting both) appends lines "<monotonic ns> <pid> <bank> <event> <detail>" to <dir>/hops-<pid>.txt: the
// Stopwatch timestamp is CLOCK_MONOTONIC on Linux, so the files of several processes merge into one timeline by sorting.
// Lines carry event names, round and sequence numbers and byte counts only, never message contents. Unset (the default),
// each call is one static read of a null field. The process's garbage collections are marked too (bank -3), from the runtime's
// GC events: "gc<gen>>" (a background collection "gc2bg>") and "gc<" span a collection (detail: its number), "gc.pause>" and
// "gc.pause<" the time managed threads were suspended for it, so a slow hop can be matched against the collector's pauses.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace FraudFed.Sdk.Diagnostics;

/// <summary>The opt-in cross-process timeline (FRAUDFED_HOP_TRACE); see the file header.</summary>
internal static class HopTrace
{
    private static readonly ConcurrentQueue<string> Lines = new();
    private static readonly int Pid = Environment.ProcessId;
    private static GcMarks? _gc;   // kept alive while the process runs
    private static readonly string? Path = Init();

    /// <summary>True when tracing is on.</summary>
    public static bool On => Path is not null;

    private static string? Init()
    {
        string? dir = Environment.GetEnvironmentVariable("FRAUDFED_HOP_TRACE");
        if (string.IsNullOrEmpty(dir)) return null;
        Directory.CreateDirectory(dir);
        string path = System.IO.Path.Combine(dir, $"hops-{Environment.ProcessId}.txt");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Flush();
        _gc = new GcMarks();
        return path;
    }

    /// <summary>Records <paramref name="name"/> for <paramref name="bank"/> (-1: the appliance) now.</summary>
    public static void Mark(int bank, string name, long detail = 0)
    {
        if (Path is null) return;
        Lines.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetTimestamp()} {Pid} {bank} {name} {detail}"));
        if (Lines.Count >= 4096) Flush();
    }

    /// <summary>Appends the recorded lines to the file.</summary>
    public static void Flush()
    {
        if (Path is null) return;
        var batch = new List<string>();
        while (Lines.TryDequeue(out string? l)) batch.Add(l);
        if (batch.Count > 0) lock (Lines) File.AppendAllLines(Path, batch);
    }

    /// <summary>Records a line with an explicit Stopwatch timestamp (events delivered after the fact).</summary>
    private static void MarkAt(long timestamp, int bank, string name, long detail) =>
        Lines.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{timestamp} {Pid} {bank} {name} {detail}"));

    /// <summary>Marks this process's garbage collections from the runtime's GC events (keyword 0x1). The events arrive on a
    /// dispatch thread some time after they happened, so each is placed at its own time stamp, mapped onto the Stopwatch clock.</summary>
    private sealed class GcMarks : EventListener
    {
        private const int GcStart = 1, GcEnd = 2, RestartEeEnd = 3, SuspendEeBegin = 9;
        private static readonly long BaseTimestamp = Stopwatch.GetTimestamp();
        private static readonly DateTime BaseUtc = DateTime.UtcNow;

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(eventSource, EventLevel.Informational, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            long at = BaseTimestamp + (long)((e.TimeStamp.ToUniversalTime() - BaseUtc).TotalSeconds * Stopwatch.Frequency);
            switch (e.EventId)
            {
                case GcStart when e.Payload is { Count: >= 4 } p:
                    MarkAt(at, -3, $"gc{Convert.ToUInt32(p[1], CultureInfo.InvariantCulture)}{(Convert.ToUInt32(p[3], CultureInfo.InvariantCulture) == 1 ? "bg" : "")}>", Convert.ToInt64(p[0], CultureInfo.InvariantCulture));
                    break;
                case GcEnd when e.Payload is { Count: >= 1 } p: MarkAt(at, -3, "gc<", Convert.ToInt64(p[0], CultureInfo.InvariantCulture)); break;
                case SuspendEeBegin: MarkAt(at, -3, "gc.pause>", 0); break;
                case RestartEeEnd: MarkAt(at, -3, "gc.pause<", 0); break;
            }
        }
    }
}
