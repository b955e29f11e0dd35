// Settings of the synthetic multi-bank transaction world (see SyntheticBankGenerator).
namespace FraudFed.Learning.Data;

/// <summary>
/// Settings of a synthetic cross-bank fraud scenario. Banks differ in size (Zipf shares), customer mix and
/// fraud rate; every typology is concentrated at its "home" banks (<see cref="Concentration"/> of its events),
/// so a bank alone sees few examples of the others.
/// </summary>
public sealed record SyntheticScenario
{
    /// <summary>Number of banks (at least 2).</summary>
    public int Banks { get; init; } = 5;

    /// <summary>Total number of debit transactions over all banks.</summary>
    public int Transactions { get; init; } = 200_000;

    /// <summary>Seed of the generator's own random source (the only randomness used).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Length of the simulated period in days.</summary>
    public int Days { get; init; } = 60;

    /// <summary>Expected fraction of transactions that are fraud.</summary>
    public double FraudRate { get; init; } = 0.006;

    /// <summary>Share of fraud transactions per typology (card testing, takeover, mule ring, compromised merchant); normalized.</summary>
    public IReadOnlyList<double> TypologyMix { get; init; } = [0.30, 0.25, 0.25, 0.20];

    /// <summary>Probability that a typology's event starts at one of its home banks (otherwise a bank drawn by size).</summary>
    public double Concentration { get; init; } = 0.85;

    /// <summary>Zipf exponent of bank sizes (0 = equal sizes).</summary>
    public double BankSizeSkew { get; init; } = 0.8;

    /// <summary>Share of events that imitate the victim's normal behaviour (low-and-slow card testing, takeovers from the usual device, domestic spending).</summary>
    public double HardFraudShare { get; init; } = 0.25;

    /// <summary>
    /// Fraud campaigns migrate: in the later (held-out) window every typology's home banks move this many banks
    /// on, so a bank meets attacks it rarely saw in its own training window (0 = no migration).
    /// </summary>
    public int CampaignShift { get; init; } = 1;

    /// <summary>The last fraction of the period held out for evaluation.</summary>
    public double TestFraction { get; init; } = 0.25;

    /// <summary>The four fraud typologies, in the order of <see cref="TypologyMix"/>.</summary>
    public static IReadOnlyList<FraudTypology> Typologies { get; } =
        [FraudTypology.CardTesting, FraudTypology.AccountTakeover, FraudTypology.MuleRing, FraudTypology.CompromisedMerchant];

    /// <summary>Throws <see cref="ArgumentException"/> on an inconsistent setting.</summary>
    public void Validate()
    {
        if (Banks < 2) throw new ArgumentException("At least 2 banks are needed.", nameof(Banks));
        if (Transactions < 1000 * 1) throw new ArgumentException("At least 1000 transactions are needed.", nameof(Transactions));
        if (Days < 4) throw new ArgumentException("At least 4 days are needed.", nameof(Days));
        if (FraudRate is <= 0 or >= 0.2) throw new ArgumentException("FraudRate must be in (0, 0.2).", nameof(FraudRate));
        if (TypologyMix.Count != 4 || TypologyMix.Any(w => w < 0 || !double.IsFinite(w)) || TypologyMix.Sum() <= 0)
            throw new ArgumentException("TypologyMix needs 4 non-negative weights with a positive sum.", nameof(TypologyMix));
        if (Concentration is < 0 or > 1) throw new ArgumentException("Concentration must be in [0, 1].", nameof(Concentration));
        if (HardFraudShare is < 0 or > 1) throw new ArgumentException("HardFraudShare must be in [0, 1].", nameof(HardFraudShare));
        if (TestFraction is <= 0 or >= 1) throw new ArgumentException("TestFraction must be in (0, 1).", nameof(TestFraction));
        if (CampaignShift < 0) throw new ArgumentException("CampaignShift must be >= 0.", nameof(CampaignShift));
        if (BankSizeSkew is < 0 or > 4) throw new ArgumentException("BankSizeSkew must be in [0, 4].", nameof(BankSizeSkew));
    }

    /// <summary>Share of accounts (and so of transactions) held by each bank.</summary>
    public double[] BankShares()
    {
        var s = new double[Banks];
        for (int b = 0; b < Banks; b++) s[b] = 1.0 / Math.Pow(b + 1, BankSizeSkew);
        double total = s.Sum();
        for (int b = 0; b < Banks; b++) s[b] /= total;
        return s;
    }

    /// <summary>Home banks of typology number <paramref name="typologyIndex"/> (0..3), in the training window or the later window.</summary>
    public int[] HomeBanks(int typologyIndex, bool laterWindow = false)
    {
        int shift = laterWindow ? ((CampaignShift % Banks) + Banks) % Banks : 0;
        int first = (typologyIndex + shift) % Banks;
        if (Banks < 5) return [first];
        int second = (typologyIndex + 4 + shift) % Banks;
        return first == second ? [first] : [first, second];
    }

    /// <summary>Probability that an event of typology number <paramref name="typologyIndex"/> starts at each bank.</summary>
    public double[] TypologyBankDistribution(int typologyIndex, bool laterWindow = false)
    {
        double[] size = BankShares();
        int[] home = HomeBanks(typologyIndex, laterWindow);
        var p = new double[Banks];
        for (int b = 0; b < Banks; b++) p[b] = (1 - Concentration) * size[b];
        foreach (int h in home) p[h] += Concentration / home.Length;
        return p;
    }

    /// <summary>Expected number of fraud transactions of one event of each typology.</summary>
    public static IReadOnlyList<double> MeanEventSize { get; } = [12.5, 2.0, 4.5, 2.5];

    /// <summary>Probability that an event has each typology, chosen so the expected share of fraud transactions equals <see cref="TypologyMix"/>.</summary>
    public double[] EventProbabilities()
    {
        var p = new double[4];
        for (int t = 0; t < 4; t++) p[t] = TypologyMix[t] / MeanEventSize[t];
        double total = p.Sum();
        for (int t = 0; t < 4; t++) p[t] /= total;
        return p;
    }
}
