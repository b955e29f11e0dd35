// HopTrace: an opt-in timeline of one secure sum across processes, for latency work on the appliance stack. When the
// environment variable FRAUDFED_HOP_TRACE names a directory, every process that loads the SDK (bank processes, the appliance,
// a benchmark hosting both) appends lines "<monotonic ns> <pid> <bank> <event> <detail>" to <dir>/hops-<pid>.txt: the
// Stopwatch timestamp is CLOCK_MONOTONIC on Linux, so the files of several processes merge into one timeline by sorting.
// Lines carry event names, round and sequence numbers and byte counts only, never message contents. Unset (the default),
// each call is one static read of a null field.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace FraudFed.Sdk.Diagnostics;

/// <summary>The opt-in cross-process timeline (FRAUDFED_HOP_TRACE); see the file header.</summary>
internal static class HopTrace
{
    private static readonly string? Path = Init();
    private static readonly ConcurrentQueue<string> Lines = new();
    private static readonly int Pid = Environment.ProcessId;

    /// <summary>True when tracing is on.</summary>
    public static bool On => Path is not null;

    private static string? Init()
    {
        string? dir = Environment.GetEnvironmentVariable("FRAUDFED_HOP_TRACE");
        if (string.IsNullOrEmpty(dir)) return null;
        Directory.CreateDirectory(dir);
        string path = System.IO.Path.Combine(dir, $"hops-{Environment.ProcessId}.txt");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Flush();
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
}
