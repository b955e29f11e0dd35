// A bounded mutation fuzz loop (tests only): feeds mutants of genuine messages (WireMutator) to a decoder until a count or
// a time budget is spent and checks, per mutant, the decoder contract of SPEC.md 14.1 / 12 / 9: the input is accepted
// (and then the caller's property holds, e.g. it re-encodes to a valid message) or refused with the typed exception;
// never another exception; and the bytes allocated during the call stay below a cap proportional to the input size
// (GC.GetAllocatedBytesForCurrentThread), so no allocation follows an unchecked length field. Every failure names the
// seed and the mutant index, which reproduce it (WireMutator.Mutant(seed, index)).
// Budgets: FRAUDFED_FUZZ_SECONDS and FRAUDFED_FUZZ_MUTANTS scale a run up for offline use; FRAUDFED_FUZZ_SEED fixes the seed.
using System.Diagnostics;
using FraudFed.Cryptography;

namespace FraudFed.Testing.Fuzzing;

/// <summary>What a fuzz run did (tests only).</summary>
/// <param name="Seed">The seed of the mutants (reproduces the run).</param>
/// <param name="Cases">Mutants fed (mutants equal to a genuine message are skipped and not counted).</param>
/// <param name="Accepted">Mutants the decoder accepted.</param>
/// <param name="Refused">Mutants refused with the typed exception.</param>
/// <param name="MaxAllocationRatio">Largest (allocated bytes) / (input bytes + 1) seen.</param>
/// <param name="Failures">Every broken contract: "seed S mutant #i (operator): what happened".</param>
public sealed record FuzzResult(int Seed, int Cases, int Accepted, int Refused, double MaxAllocationRatio, IReadOnlyList<string> Failures)
{
    /// <summary>A one-line summary for test output.</summary>
    public override string ToString() =>
        $"seed {Seed}: {Cases} mutants, {Accepted} accepted, {Refused} refused, max allocation {MaxAllocationRatio:F1} x input, {Failures.Count} failures"
        + (Failures.Count == 0 ? "" : "; first: " + string.Join(" | ", Failures.Take(3)));
}

/// <summary>The bounded fuzz loop (tests only).</summary>
public static class FuzzRun
{
    /// <summary>Fixed allocation allowance of one decode call, bytes (parser objects, small arrays).</summary>
    public const long AllocationAllowance = 64 * 1024;

    /// <summary>The seed: FRAUDFED_FUZZ_SEED when set, else <paramref name="fallback"/>.</summary>
    public static int Seed(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("FRAUDFED_FUZZ_SEED"), out int s) ? s : fallback;

    /// <summary>The mutant count: FRAUDFED_FUZZ_MUTANTS when set, else <paramref name="fallback"/>.</summary>
    public static int Mutants(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("FRAUDFED_FUZZ_MUTANTS"), out int m) && m > 0 ? m : fallback;

    /// <summary>The time budget: FRAUDFED_FUZZ_SECONDS when set, else <paramref name="fallbackSeconds"/>.</summary>
    public static TimeSpan Budget(double fallbackSeconds) =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("FRAUDFED_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? s : fallbackSeconds);

    /// <summary>
    /// Feeds up to <paramref name="mutants"/> mutants (and at most <paramref name="budget"/> of time) to <paramref name="decode"/>.
    /// </summary>
    /// <param name="mutator">Source of the mutants.</param>
    /// <param name="seed">Seed of the mutants.</param>
    /// <param name="mutants">Most mutants to feed.</param>
    /// <param name="budget">Most time to spend.</param>
    /// <param name="decode">The decoder; it returns the decoded value or throws.</param>
    /// <param name="onAccepted">Checks an accepted mutant (input bytes, decoded value); returns null when the property holds, else why not.</param>
    /// <param name="isTyped">Whether an exception is the decoder's documented typed refusal (default: ProtocolViolationException
    /// with a defined reason).</param>
    /// <param name="allocationPerInputByte">Cap on allocated bytes per input byte, above <see cref="AllocationAllowance"/>.</param>
    public static FuzzResult Run(WireMutator mutator, int seed, int mutants, TimeSpan budget, Func<byte[], object?> decode,
        Func<byte[], object?, string?>? onAccepted = null, Func<Exception, bool>? isTyped = null, int allocationPerInputByte = 32)
    {
        ArgumentNullException.ThrowIfNull(mutator);
        ArgumentNullException.ThrowIfNull(decode);
        isTyped ??= e => e is ProtocolViolationException p && Enum.IsDefined(p.Reason);
        var genuine = new HashSet<string>(mutator.Pool.Select(Convert.ToHexString));
        var failures = new List<string>();
        int cases = 0, accepted = 0, refused = 0;
        double maxRatio = 0;
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < mutants && clock.Elapsed < budget; i++)
        {
            var (what, bytes) = mutator.Mutant(seed, i);
            if (genuine.Contains(Convert.ToHexString(bytes))) continue;
            cases++;
            string where = $"seed {seed} mutant #{i} ({what}, {bytes.Length} bytes)";
            long before = GC.GetAllocatedBytesForCurrentThread();
            object? value = null;
            Exception? error = null;
            try { value = decode(bytes); }
            catch (Exception e) { error = e; }
            long used = GC.GetAllocatedBytesForCurrentThread() - before;
            maxRatio = Math.Max(maxRatio, used / (bytes.Length + 1.0));
            if (used > AllocationAllowance + (long)allocationPerInputByte * bytes.Length)
                failures.Add($"{where}: allocated {used} bytes");
            if (error is null)
            {
                accepted++;
                string? broken = null;
                try { broken = onAccepted?.Invoke(bytes, value); }
                catch (Exception e) { broken = $"the accepted value's check threw {e.GetType().Name}: {e.Message}"; }
                if (broken is not null) failures.Add($"{where}: accepted, but {broken}");
            }
            else if (isTyped(error)) refused++;
            else failures.Add($"{where}: {error.GetType().Name}: {error.Message}");
        }
        return new FuzzResult(seed, cases, accepted, refused, maxRatio, failures);
    }
}
