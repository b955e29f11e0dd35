// `fraudfed bench masking`: measures the masking secure sum (SecAgg / SecAgg+) in process.
//   client_s  median over rounds of the median bank's protocol work in one round
//   server_s  median over rounds of the aggregator's unmasking (Finish: reconstruction + mask removal)
//   prg_gb_per_s  AES-256-CTR keystream expansion (Prg.Fill), GB/s on one core, median of 15 (and best)
//   mask_expand_gb_per_s  keystream expanded and added into a mod-2^k vector, 10 masks chunk-major (ModVector.AddPrgs), one core
//   upload_bytes_per_value  one bank's round upload (all its messages) / values;  plaintext = ceil(k/8)
//   exact  every round's result equals the plaintext sum of the survivors' inputs
// Dropped banks leave after ShareKeys, the costliest case for the aggregator (their pairwise masks with every
// survivor must be recovered). Randomness is the OS CSPRNG; the inputs are seeded test data.
// With --sparse the degree and threshold come from SecAggPlusParameters for c = ceil(n/3) - 1 colluders and the
// requested dropouts (delta = dropouts / banks), and the parameters' description (degree, t, M, c, failure bounds)
// is printed before the figures.
// Every option is checked before any work (exit code 2, one line naming the option): banks 3..200, values
// 1..2^24, bits 1..64, a threshold in range, parameters that meet the collusion bound, and dropouts that leave
// at least the minimum number of survivors.
using System.CommandLine;
using FraudFed.Cli.Infrastructure;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FraudFed.Protocol;
using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;

namespace FraudFed.Cli.Commands;

internal sealed class BenchMaskingCommand : ICliSubcommands
{
    public string Group => "bench";
    public string GroupDescription => "Benchmarks.";

    public IEnumerable<Command> BuildSubcommands()
    {
        var banks = new Option<int>("--banks") { Description = "Number of banks.", DefaultValueFactory = _ => 10 }.InRange(3, 200);
        var values = new Option<int>("--values") { Description = "Values per bank vector.", DefaultValueFactory = _ => 1_000_000 }.InRange(1, MaxValues);
        var dropouts = new Option<int>("--dropouts") { Description = "Banks that drop after ShareKeys in every round.", DefaultValueFactory = _ => 3 }.InRange(0, 199);
        var bits = new Option<int>("--bits") { Description = "k: sums are mod 2^k.", DefaultValueFactory = _ => 32 }.InRange(1, 64);
        var repetitions = new Option<int>("--repetitions") { Description = "Rounds measured (medians are reported).", DefaultValueFactory = _ => 5 }.InRange(1, 1000);
        var sparse = new Option<bool>("--sparse") { Description = "Use the SecAgg+ sparse neighbour graph." };
        var threshold = new Option<int?>("--threshold") { Description = "Shamir threshold t of each neighbourhood (default floor(2(d+1)/3) + 1)." }.InRange(2, 200);
        var json = new Option<bool>("--json") { Description = "End with one JSON line of results." };
        var masking = new Command("masking", "Masking-mode secure sum (SecAgg / SecAgg+): client, server, PRG, bandwidth.");
        foreach (Option o in new Option[] { banks, values, dropouts, bits, repetitions, sparse, threshold, json }) masking.Options.Add(o);
        masking.SetAction(parse => CliErrors.Guard("bench masking", parse.InvocationConfiguration.Error, () => Run(
            new Settings(parse.GetValue(banks), parse.GetValue(values), parse.GetValue(dropouts), parse.GetValue(bits), parse.GetValue(repetitions),
                parse.GetValue(sparse), parse.GetValue(threshold), parse.GetValue(json)),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error)));
        return [masking];
    }

    /// <summary>Most values per bank vector.</summary>
    internal const int MaxValues = 1 << 24;

    internal sealed record Settings(int Banks, int Values, int Dropouts, int Bits, int Repetitions, bool Sparse, int? Threshold, bool Json);

    internal static int Run(Settings s, TextWriter stdout, TextWriter stderr)
    {
        static void Require(bool ok, string message) { if (!ok) throw new UsageException(message); }
        Require(s.Banks is >= 3 and <= 200, $"--banks must be in 3..200 (got {s.Banks}); masking needs at least 3 banks.");
        Require(s.Values is >= 1 and <= MaxValues, $"--values must be in 1..{MaxValues} (got {s.Values}).");
        Require(s.Bits is >= 1 and <= 64, $"--bits must be in 1..64 (got {s.Bits}): sums are mod 2^k with k at most 64.");
        Require(s.Repetitions is >= 1 and <= 1000, $"--repetitions must be in 1..1000 (got {s.Repetitions}).");
        Require(s.Dropouts >= 0 && s.Dropouts < s.Banks, $"--dropouts must be in 0..{s.Banks - 1} (got {s.Dropouts}).");
        Require(s.Threshold is null or >= 2, $"--threshold must be at least 2 (got {s.Threshold}).");
        Require(s.Threshold is null || s.Threshold <= s.Banks, $"--threshold {s.Threshold} is above --banks {s.Banks}.");
        int banks = s.Banks, values = s.Values, dropouts = s.Dropouts, bits = s.Bits, repetitions = s.Repetitions;
        bool sparse = s.Sparse, json = s.Json;

        MaskingSecureSum sum;
        try { sum = new MaskingSecureSum(banks, bits, new MaskingOptions { Sparse = sparse, DropoutFraction = (double)dropouts / banks, Threshold = s.Threshold }); }
        catch (FraudFed.Cryptography.ProtocolViolationException e) when (e.Reason == FraudFed.Cryptography.ViolationReason.InsecureParameters)
        {
            throw new UsageException($"no secure parameters for {banks} banks with {dropouts} dropouts{(s.Threshold is { } t ? $" and --threshold {t}" : "")}: {e.Detail.TrimEnd('.')}.");
        }
        catch (ArgumentException e) { throw new UsageException($"--threshold {s.Threshold}: {e.Message.Split(" (Parameter")[0]}"); }
        using var session = sum;
        int needed = sum.Parameters.MinimumSurvivors;
        Require(banks - dropouts >= needed, $"--dropouts {dropouts} leaves {banks - dropouts} of {banks} banks, fewer than the {needed} survivors every round needs " +
            $"(threshold t = {sum.Parameters.Threshold}, collusion bound c = {sum.Parameters.MaxColluders}): use --dropouts {banks - needed} or less.");

        stderr.WriteLine($"fraudfed bench masking: measuring the PRG, then {repetitions} rounds after one warm-up of {banks} banks x {Plural.Of(values, "value", grouped: true)}");
        (double prg, double expand, double prgBest, double expandBest) = MeasurePrg(values, bits);
        var data = new Random(12345);
        ulong mask = ModVector.Mask(bits);
        ulong[][] inputs = Enumerable.Range(0, banks).Select(_ => Enumerable.Range(0, values).Select(_ => (ulong)data.NextInt64() & mask).ToArray()).ToArray();
        DropoutPlan plan = DropoutPlan.At(DropoutStage.AfterShareKeys, Enumerable.Range(0, dropouts));
        int[] survivors = Enumerable.Range(dropouts, banks - dropouts).ToArray();
        ulong[] expected = new ulong[values];
        foreach (int b in survivors) ModVector.Add(expected, inputs[b]);
        ModVector.Reduce(expected, bits);

        var client = new List<double>();
        var server = new List<double>();
        var serverTotal = new List<double>();
        bool exact = true;
        long uploadPerBank = 0, maskedPerBank = 0;
        // One warm-up round (JIT, page faults), then the measured ones.
        var clock = Stopwatch.StartNew();
        for (int r = 0; r <= repetitions; r++)
        {
            SecureSumResult result = sum.Sum(inputs, plan);
            stderr.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] round {r}/{repetitions}{(r == 0 ? " (warm-up)" : "")}");
            RoundReport report = sum.LastRound!;
            exact &= result.Contributors.SequenceEqual(survivors) && result.Sum.AsSpan().SequenceEqual(expected);
            if (r == 0) continue;
            client.Add(Median(report.ClientSeconds.Where(kv => survivors.Contains(kv.Key)).Select(kv => kv.Value)));
            server.Add(report.ServerUnmaskSeconds);
            serverTotal.Add(report.ServerSeconds);
            uploadPerBank = report.BytesUploaded / Math.Max(1, report.ClientSeconds.Count(kv => survivors.Contains(kv.Key)));
            maskedPerBank = report.MaskedInputBytes / survivors.Length;
        }
        MaskingParameters p = sum.Parameters;
        double plainBytes = ModVector.BytesPerValue(bits);
        double uploadPerValue = (double)uploadPerBank / values;
        var rows = new (string Name, string Value)[]
        {
            ("banks / dropped after ShareKeys", $"{banks} / {dropouts}"),
            ("graph / threshold t / min survivors / colluders c", $"{(p.IsComplete ? "complete" : $"sparse k={p.Degree}")} / {p.Threshold} / {p.MinimumSurvivors} / {p.MaxColluders}"),
            ("values x bits", $"{values} x {bits}"),
            ("client per round, median (s)", F(Median(client))),
            ("server unmasking, median (s)", F(Median(server))),
            ("server whole round, median (s)", F(Median(serverTotal))),
            ("PRG keystream, one core, median / best (GB/s)", $"{F(prg)} / {F(prgBest)}"),
            ("mask expand+add, one core, median / best (GB/s)", $"{F(expand)} / {F(expandBest)}"),
            ("upload per bank per value (bytes)", $"{F(uploadPerValue)} (plaintext {plainBytes}, ratio {F(uploadPerValue / plainBytes)})"),
            ("masked input per value (bytes)", F((double)maskedPerBank / values)),
            ("exact", exact ? "yes" : "NO"),
        };
        int width = rows.Max(r => r.Name.Length);
        stdout.WriteLine($"bench masking ({repetitions} rounds after one warm-up)");
        if (sparse)
            foreach (string line in p.Description.Split('\n')) stdout.WriteLine($"  parameters: {line.TrimEnd()}");
        foreach (var (name, value) in rows) stdout.WriteLine($"  {name.PadRight(width)}  {value}");
        if (json)
        {
            var result = new Dictionary<string, object>
            {
                ["suite"] = "masking",
                ["banks"] = banks,
                ["values"] = values,
                ["dropouts"] = dropouts,
                ["bits"] = bits,
                ["graph"] = p.IsComplete ? "complete" : "sparse",
                ["degree"] = p.Degree,
                ["threshold"] = p.Threshold,
                ["minimum_survivors"] = p.MinimumSurvivors,
                ["max_colluders"] = p.MaxColluders,
                ["repetitions"] = repetitions,
                ["client_s"] = Round(Median(client)),
                ["server_s"] = Round(Median(server)),
                ["server_round_s"] = Round(Median(serverTotal)),
                ["prg_gb_per_s"] = Round(prg),
                ["mask_expand_gb_per_s"] = Round(expand),
                ["prg_best_gb_per_s"] = Round(prgBest),
                ["mask_expand_best_gb_per_s"] = Round(expandBest),
                ["upload_bytes_per_value"] = Round(uploadPerValue),
                ["plaintext_bytes_per_value"] = plainBytes,
                ["upload_ratio"] = Round(uploadPerValue / plainBytes),
                ["exact"] = exact,
            };
            stdout.WriteLine(JsonSerializer.Serialize(result));
        }
        return exact ? CliErrors.Success : CliErrors.Fail("bench masking", stderr, "a round's result differs from the plaintext sum.", CliErrors.RunFailed);
    }

    private const int PrgRepetitions = 15;

    private static (double Prg, double Expand, double PrgBest, double ExpandBest) MeasurePrg(int values, int bits)
    {
        int wordBytes = bits > 32 ? 8 : 4;
        int n = Math.Max(values, 1 << 20);
        byte[] seed = new byte[32];
        System.Security.Cryptography.RandomNumberGenerator.Fill(seed);
        var keystream = new byte[n * wordBytes];
        var acc = new ulong[n];
        var prgTimes = new List<double>();
        var expandTimes = new List<double>();
        using (var prg = new FraudFed.Cryptography.Primitives.Prg(seed))
            for (int r = 0; r < PrgRepetitions; r++)
            {
                var sw = Stopwatch.StartNew();
                prg.Fill(keystream);
                prgTimes.Add(sw.Elapsed.TotalSeconds);
            }
        // Mask expansion as a bank does it: 10 masks (self + 9 pairwise) expanded and added chunk-major.
        var jobs = Enumerable.Range(0, 10).Select(i => { var s = (byte[])seed.Clone(); s[0] ^= (byte)i; return new MaskJob(s, i % 2 == 1); }).ToArray();
        for (int r = 0; r < PrgRepetitions; r++)
        {
            var sw = Stopwatch.StartNew();
            ModVector.AddPrgs(acc, jobs, bits);
            expandTimes.Add(sw.Elapsed.TotalSeconds / jobs.Length);
        }
        double bytes = (double)n * wordBytes;
        return (bytes / Median(prgTimes) / 1e9, bytes / Median(expandTimes) / 1e9, bytes / prgTimes.Min() / 1e9, bytes / expandTimes.Min() / 1e9);
    }

    private static double Median(IEnumerable<double> xs)
    {
        double[] s = xs.Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static double Round(double v) => Math.Round(v, 4);
    private static string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
}
