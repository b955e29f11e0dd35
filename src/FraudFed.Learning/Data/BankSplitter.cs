// Splitting one table across banks, then into a training window and a later held-out window.
// Natural split: a bank column. Synthetic non-IID split: for each class, bank proportions drawn from
// Dirichlet(alpha) (Hsu et al. 2019's label-skew recipe; small alpha = very uneven banks), each row assigned
// by those proportions with a seeded random source (splitRng). The later window is every row whose time is
// at or after the (1 - testFraction) quantile of all times, so every bank is evaluated on the same period.
namespace FraudFed.Learning.Data;

/// <summary>Splits tables across banks and into train / later-window test.</summary>
public static class BankSplitter
{
    /// <summary>One bank per distinct value of the table's bank column (ordinal order of names).</summary>
    public static IReadOnlyList<BankData> ByBankColumn(CsvTable table, double testFraction = 0.25)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Banks is null) throw new ArgumentException("The table has no bank column; use ByDirichlet.", nameof(table));
        string[] names = table.Banks.Distinct().OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var byName = names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
        int[] assignment = table.Banks.Select(b => byName[b]).ToArray();
        return Assemble(table.Rows, assignment, names, testFraction);
    }

    /// <summary>Label-skewed split over <paramref name="banks"/> banks with Dirichlet(<paramref name="alpha"/>) proportions per class.</summary>
    public static IReadOnlyList<BankData> ByDirichlet(LabeledRows rows, int banks, double alpha, int seed, double testFraction = 0.25)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (banks < 1) throw new ArgumentOutOfRangeException(nameof(banks), "At least one bank.");
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), "Alpha must be positive and finite.");
        var splitRng = new Random(seed);
        var proportions = new double[2][];
        for (int cls = 0; cls < 2; cls++)
        {
            var p = new double[banks];
            double total = 0;
            for (int b = 0; b < banks; b++) { p[b] = Gamma(splitRng, alpha); total += p[b]; }
            for (int b = 0; b < banks; b++) p[b] = total > 0 ? p[b] / total : 1.0 / banks;
            proportions[cls] = p;
        }
        var assignment = new int[rows.Rows];
        for (int i = 0; i < rows.Rows; i++)
        {
            double[] p = proportions[rows.Labels[i] ? 1 : 0];
            double u = splitRng.NextDouble();
            int b = 0;
            while (b < banks - 1 && (u -= p[b]) >= 0) b++;
            assignment[i] = b;
        }
        string[] names = Enumerable.Range(0, banks).Select(b => "bank-" + b.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return Assemble(rows, assignment, names, testFraction);
    }

    private static IReadOnlyList<BankData> Assemble(LabeledRows rows, int[] assignment, string[] names, double testFraction)
    {
        if (testFraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(testFraction), "Must be in (0, 1).");
        long[] sorted = (long[])rows.Times.Clone();
        Array.Sort(sorted);
        long cut = sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(sorted.Length * (1 - testFraction)))];
        // Every row at the earliest time: no row lies before the later window, whatever the split (not a bank's shortfall).
        if (sorted[0] >= cut)
            throw new DataFormatException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"No row lies before the later test window: at least {1 - testFraction:0%} of the rows share the earliest time ({sorted[0]}), ") +
                "so every bank's training window would be empty; the time column must spread the rows over time.", null, null);
        var result = new BankData[names.Length];
        for (int b = 0; b < names.Length; b++)
        {
            int bank = b;
            LabeledRows train = rows.Where(i => assignment[i] == bank && rows.Times[i] < cut);
            LabeledRows test = rows.Where(i => assignment[i] == bank && rows.Times[i] >= cut);
            if (train.Rows == 0 || test.Rows == 0)
                throw new DataFormatException($"Bank '{names[b]}' has no rows in its {(train.Rows == 0 ? "training" : "later test")} window.", null, null, names[b])
                {
                    Shortfall = train.Rows == 0 ? BankShortfall.NoTrainingRows : BankShortfall.NoTestRows,
                };
            result[b] = new BankData(names[b], train, test);
        }
        return result;
    }

    // Marsaglia & Tsang (2000) gamma sampler; alpha < 1 via the boost Gamma(a) = Gamma(a+1) * U^(1/a).
    private static double Gamma(Random rng, double alpha)
    {
        if (alpha < 1) return Gamma(rng, alpha + 1) * Math.Pow(rng.NextDouble(), 1.0 / alpha);
        double d = alpha - 1.0 / 3, c = 1.0 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                x = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = rng.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }
}
