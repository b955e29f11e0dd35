// Deterministic synthetic multi-bank transaction world with cross-bank fraud typologies.
// Every random draw comes from one System.Random seeded with SyntheticScenario.Seed (named worldRng below),
// so the same scenario always yields the same data. Legitimate behaviour includes look-alikes of each
// typology (micro-purchases in digital goods, new phones, travel abroad, large transfers to new payees,
// salary-in/rent-out flows) so that no single feature separates fraud.
namespace FraudFed.Learning.Data;

/// <summary>A generated world: accounts, debits (time-ordered), credits and the injected fraud events.</summary>
public sealed class SyntheticData
{
    internal SyntheticData(SyntheticScenario scenario, AccountInfo[] accounts, Transaction[] transactions, Credit[] credits, FraudEvent[] events)
    {
        Scenario = scenario;
        Accounts = accounts;
        Transactions = transactions;
        Credits = credits;
        Events = events;
    }

    /// <summary>The settings that produced this world.</summary>
    public SyntheticScenario Scenario { get; }
    /// <summary>Accounts, indexed by account id.</summary>
    public IReadOnlyList<AccountInfo> Accounts { get; }
    /// <summary>Debits of all banks ordered by time.</summary>
    public IReadOnlyList<Transaction> Transactions { get; }
    /// <summary>Credits of all banks ordered by time.</summary>
    public IReadOnlyList<Credit> Credits { get; }
    /// <summary>Injected fraud events in generation order.</summary>
    public IReadOnlyList<FraudEvent> Events { get; }

    /// <summary>Start (seconds) of the held-out later time window.</summary>
    public long TestStart => (long)(Scenario.Days * 86400L * (1 - Scenario.TestFraction));
}

/// <summary>Generates a <see cref="SyntheticData"/> world from a <see cref="SyntheticScenario"/>.</summary>
public static class SyntheticBankGenerator
{
    private const int Regions = 10;
    private const int MerchantsPerMcc = 300;
    private const int TesterMerchants = 20;
    private const int CompromisedMerchants = 12;
    private const double UnknownDeviceShare = 0.4;
    private const byte McDigital = 11, McElectronics = 7, McJewelry = 8, McGiftCards = 9;

    private static readonly double[][] SegmentMixByBank =
    [
        [0.60, 0.15, 0.15, 0.10],
        [0.35, 0.45, 0.10, 0.10],
        [0.40, 0.10, 0.40, 0.10],
        [0.35, 0.10, 0.10, 0.45],
        [0.40, 0.20, 0.20, 0.20],
    ];
    private static readonly double[] TypicalAmount = [35, 80, 15, 150];
    private static readonly double[][] ChannelMix =
    [
        [0.55, 0.30, 0.08, 0.07],
        [0.45, 0.35, 0.15, 0.05],
        [0.40, 0.50, 0.05, 0.05],
        [0.20, 0.30, 0.45, 0.05],
    ];
    // Merchant categories: 0 grocery, 1 fuel, 2 restaurant, 3 retail, 4 travel, 5 utilities, 6 health,
    // 7 electronics, 8 jewelry, 9 gift cards, 10 entertainment, 11 digital goods.
    private static readonly double[] CardPresentMcc = [0.30, 0.15, 0.20, 0.15, 0, 0, 0.08, 0.04, 0.01, 0, 0.07, 0];
    private static readonly double[] OnlineMcc = [0.02, 0, 0.03, 0.25, 0.10, 0.15, 0, 0.08, 0.01, 0.03, 0.13, 0.20];
    private static readonly double[] StudentOnlineMcc = [0.02, 0, 0.05, 0.15, 0.03, 0.05, 0, 0.08, 0, 0.04, 0.18, 0.40];

    private sealed class AccountProfile
    {
        public int Bank;
        public Segment Segment;
        public long Opened;
        public byte Region;
        public int PrimaryDevice;
        public int SecondDevice;
        public long SecondDeviceFrom = long.MaxValue;
        public long TravelFrom = long.MaxValue, TravelTo = long.MinValue;
        public byte TravelRegion;
        public int[] Payees = [];
        public double MeanLogAmount;
    }

    /// <summary>Generates the world described by <paramref name="scenario"/>.</summary>
    public static SyntheticData Generate(SyntheticScenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario.Validate();
        var worldRng = new Random(scenario.Seed);
        var g = new Builder(scenario, worldRng);
        return g.Run();
    }

    private sealed class Builder(SyntheticScenario s, Random rng)
    {
        private readonly List<AccountProfile> _accounts = new();
        private readonly List<int>[] _bankAccounts = Enumerable.Range(0, s.Banks).Select(_ => new List<int>()).ToArray();
        private readonly List<(Transaction Tx, long Seq)> _tx = new();
        private readonly List<Credit> _credits = new();
        private readonly List<FraudEvent> _events = new();
        private int _nextDevice = 1;
        private long _seq;
        private readonly long _end = s.Days * 86400L;

        public SyntheticData Run()
        {
            double[] shares = s.BankShares();
            int accountCount = Math.Max(60 * s.Banks, s.Transactions / 40);
            var weights = new double[accountCount];
            for (int a = 0; a < accountCount; a++)
            {
                int bank = Pick(shares);
                var seg = (Segment)Pick(SegmentMixByBank[bank % SegmentMixByBank.Length]);
                NewAccount(bank, seg, -(long)(rng.Next(30, 3000) * 86400.0));
                weights[a] = Math.Exp(Gauss() * 0.6) * (seg == Segment.Business ? 2.0 : 1.0);
            }
            for (int b = 0; b < s.Banks; b++)
                if (_bankAccounts[b].Count == 0) NewAccount(b, Segment.Retail, -86400L * 100);
            if (weights.Length < _accounts.Count) Array.Resize(ref weights, _accounts.Count);
            for (int a = 0; a < weights.Length; a++) if (weights[a] == 0) weights[a] = 1;
            int legitAccounts = _accounts.Count;

            // Fraud first (its count is drawn like a binomial), then legitimate traffic fills the total.
            double mean = s.Transactions * s.FraudRate;
            int fraudTarget = (int)Math.Clamp(Math.Round(mean + Gauss() * Math.Sqrt(mean * (1 - s.FraudRate))), 1, s.Transactions / 4);
            double[] eventP = s.EventProbabilities();
            var bankDist = Enumerable.Range(0, 4).Select(t => s.TypologyBankDistribution(t)).ToArray();
            var laterDist = Enumerable.Range(0, 4).Select(t => s.TypologyBankDistribution(t, laterWindow: true)).ToArray();
            long testStart = (long)(s.Days * 86400L * (1 - s.TestFraction));
            int fraudCount = 0;
            while (fraudCount < fraudTarget)
            {
                int t = Pick(eventP);
                long t0 = (long)(86400 + rng.NextDouble() * (_end - 3 * 86400));
                double[][] dist = t0 >= testStart ? laterDist : bankDist;
                int bank = Pick(dist[t]);
                int before = _tx.Count;
                int budget = fraudTarget - fraudCount;
                switch (t)
                {
                    case 0: CardTesting(bank, t0, budget); break;
                    case 1: AccountTakeover(bank, t0, budget); break;
                    case 2: MuleRing(bank, t0, budget, dist[2]); break;
                    default: CompromisedMerchant(bank, t0, budget); break;
                }
                int made = 0;
                for (int i = before; i < _tx.Count; i++) if (_tx[i].Tx.IsFraud) made++;
                fraudCount += made;
                _events.Add(new FraudEvent(SyntheticScenario.Typologies[t], bank, t0, made));
            }

            var cumulative = new double[legitAccounts];
            double acc = 0;
            for (int a = 0; a < legitAccounts; a++) { acc += weights[a]; cumulative[a] = acc; }
            while (_tx.Count < s.Transactions)
            {
                int a = Array.BinarySearch(cumulative, rng.NextDouble() * acc);
                if (a < 0) a = ~a;
                if (a >= legitAccounts) a = legitAccounts - 1;
                LegitDebit(a, (long)(rng.NextDouble() * _end));
            }
            Salaries(legitAccounts);

            _tx.Sort((x, y) => x.Tx.Time != y.Tx.Time ? x.Tx.Time.CompareTo(y.Tx.Time) : x.Seq.CompareTo(y.Seq));
            var txs = new Transaction[_tx.Count];
            for (int i = 0; i < txs.Length; i++) txs[i] = _tx[i].Tx;
            var credits = _credits.Select((c, i) => (c, i)).OrderBy(x => x.c.Time).ThenBy(x => x.i).Select(x => x.c).ToArray();
            var infos = _accounts.Select(p => new AccountInfo(p.Bank, p.Segment, p.Opened, p.Region)).ToArray();
            return new SyntheticData(s, infos, txs, credits, _events.ToArray());
        }

        private AccountProfile NewAccount(int bank, Segment seg, long opened)
        {
            var p = new AccountProfile
            {
                Bank = bank,
                Segment = seg,
                Opened = opened,
                Region = (byte)Math.Min(Regions - 1, (int)(Math.Abs(Gauss()) * 2.5 + bank % 3)),
                PrimaryDevice = _nextDevice++,
                MeanLogAmount = Math.Log(TypicalAmount[(int)seg]) + Gauss() * 0.3,
            };
            if (rng.NextDouble() < 0.3) { p.SecondDevice = _nextDevice++; p.SecondDeviceFrom = (long)(rng.NextDouble() * _end); }
            if (rng.NextDouble() < 0.06)
            {
                p.TravelFrom = (long)(rng.NextDouble() * _end);
                p.TravelTo = p.TravelFrom + rng.Next(3, 11) * 86400L;
                p.TravelRegion = (byte)((p.Region + rng.Next(1, Regions)) % Regions);
            }
            _accounts.Add(p);
            _bankAccounts[bank].Add(_accounts.Count - 1);
            if (_accounts.Count > 1)
            {
                int payees = rng.Next(1, 4);
                p.Payees = new int[payees];
                for (int i = 0; i < payees; i++) p.Payees[i] = rng.Next(_accounts.Count - 1);
            }
            return p;
        }

        private void LegitDebit(int a, long time)
        {
            AccountProfile p = _accounts[a];
            int seg = (int)p.Segment;
            var channel = (Channel)Pick(ChannelMix[seg]);
            time = LegitHour(time);
            int device = p.SecondDeviceFrom <= time && rng.NextDouble() < 0.5 ? p.SecondDevice : p.PrimaryDevice;
            bool travelling = time >= p.TravelFrom && time < p.TravelTo;
            byte region = p.Region;
            switch (channel)
            {
                case Channel.CardPresent:
                {
                    byte mcc = (byte)Pick(CardPresentMcc);
                    if (travelling) region = p.TravelRegion;
                    float amount = Amount(p.MeanLogAmount + (mcc == McElectronics ? 1.5 : 0), 0.9);
                    Add(new Transaction(p.Bank, a, Merchant(mcc), mcc, channel, 0, amount, time, -1, -1, region, FraudTypology.None));
                    break;
                }
                case Channel.Online:
                {
                    byte mcc = (byte)Pick(p.Segment == Segment.Student ? StudentOnlineMcc : OnlineMcc);
                    float amount = mcc == McDigital ? Amount(Math.Log(4), 0.8) : Amount(p.MeanLogAmount + (mcc == McElectronics ? 1.5 : 0.2), 0.9);
                    int merchant = mcc == McDigital && rng.NextDouble() < 0.5 ? McDigital * 1000 + rng.Next(TesterMerchants) : Merchant(mcc);
                    if (rng.NextDouble() < UnknownDeviceShare) device = 0;
                    Add(new Transaction(p.Bank, a, merchant, mcc, channel, device, amount, time, -1, -1, region, FraudTypology.None));
                    // In-app purchases sometimes come in short bursts.
                    if (mcc == McDigital && rng.NextDouble() < 0.25)
                    {
                        int extra = Math.Min(rng.Next(1, 7), s.Transactions - _tx.Count);
                        long t = time;
                        for (int i = 0; i < extra; i++)
                        {
                            t += rng.Next(30, 900);
                            Add(new Transaction(p.Bank, a, merchant, mcc, channel, device, Amount(Math.Log(3), 0.6), t, -1, -1, region, FraudTypology.None));
                        }
                    }
                    break;
                }
                case Channel.Transfer:
                {
                    bool newPayee = p.Payees.Length == 0 || rng.NextDouble() < 0.04;
                    int to = newPayee ? rng.Next(_accounts.Count) : p.Payees[rng.Next(p.Payees.Length)];
                    float amount = Amount(p.MeanLogAmount + (newPayee ? 2.4 : 1.8), 1.0);
                    if (to == a) to = -1;
                    int toBank = to < 0 ? -1 : _accounts[to].Bank;
                    Add(new Transaction(p.Bank, a, -1, 0, channel, device, amount, time, to, toBank, region, FraudTypology.None));
                    if (to >= 0) _credits.Add(new Credit(toBank, to, time + 60, amount, p.Bank));
                    break;
                }
                default:
                {
                    if (travelling) region = p.TravelRegion;
                    float amount = 20f * rng.Next(1, 1 + (p.Segment == Segment.Premium ? 25 : 10));
                    Add(new Transaction(p.Bank, a, -2, 0, channel, 0, amount, time, -1, -1, region, FraudTypology.None));
                    break;
                }
            }
        }

        private void Salaries(int legitAccounts)
        {
            for (int a = 0; a < legitAccounts; a++)
            {
                AccountProfile p = _accounts[a];
                if (p.Segment == Segment.Business)
                {
                    for (int d = 0; d < s.Days; d++)
                        if (rng.NextDouble() < 0.4) _credits.Add(new Credit(p.Bank, a, d * 86400L + rng.Next(28800, 64800), Amount(p.MeanLogAmount + 1.0, 0.8), -1));
                }
                else if (p.Segment != Segment.Student || rng.NextDouble() < 0.5)
                {
                    int payday = rng.Next(0, 28);
                    float salary = Amount(p.MeanLogAmount + 3.5, 0.3);
                    for (int d = payday; d < s.Days; d += 30) _credits.Add(new Credit(p.Bank, a, d * 86400L + 36000, salary, -1));
                }
            }
        }

        private void CardTesting(int bank, long t0, int budget)
        {
            int victim = RandomAccount(bank, 1, 1);
            AccountProfile p = _accounts[victim];
            bool hard = rng.NextDouble() < s.HardFraudShare;
            int device = rng.NextDouble() < UnknownDeviceShare ? 0 : _nextDevice++;
            byte region = hard ? p.Region : (byte)rng.Next(Regions);
            int burst = Math.Min(budget, hard ? rng.Next(2, 6) : rng.Next(6, 17));
            int testers = rng.Next(1, 4);
            int firstTester = rng.Next(TesterMerchants);
            long t = t0;
            for (int i = 0; i < burst; i++)
            {
                t += hard ? rng.Next(120, 1800) : rng.Next(5, 91);
                int merchant = McDigital * 1000 + (firstTester + rng.Next(testers)) % TesterMerchants;
                float amount = hard ? Amount(Math.Log(4), 0.8) : (float)Math.Round(0.5 + rng.NextDouble() * 4.5, 2);
                Add(new Transaction(bank, victim, merchant, McDigital, Channel.Online, device, amount, t, -1, -1, region, FraudTypology.CardTesting));
            }
            int cashOut = Math.Min(budget - burst, rng.Next(1, 3));
            for (int i = 0; i < cashOut; i++)
            {
                t += rng.Next(60, 1801);
                byte mcc = rng.NextDouble() < 0.6 ? McElectronics : McGiftCards;
                Add(new Transaction(bank, victim, Merchant(mcc), mcc, Channel.Online, device, Amount(Math.Log(300), 0.6), t, -1, -1, region, FraudTypology.CardTesting));
            }
        }

        private void AccountTakeover(int bank, long t0, int budget)
        {
            int victim = RandomAccount(bank, 3, 1);
            AccountProfile p = _accounts[victim];
            bool hard = rng.NextDouble() < s.HardFraudShare;
            int device = hard ? p.PrimaryDevice : _nextDevice++;
            long t = hard ? LegitHour(t0) : (rng.NextDouble() < 0.7 ? t0 / 86400 * 86400 + rng.Next(0, 6 * 3600) : LegitHour(t0));
            byte region = hard || rng.NextDouble() < 0.5 ? p.Region : (byte)rng.Next(Regions);
            int n = Math.Min(budget, rng.Next(1, 4));
            for (int i = 0; i < n; i++)
            {
                int to = rng.Next(_accounts.Count);
                if (to == victim) to = (to + 1) % _accounts.Count;
                int toBank = _accounts[to].Bank;
                double factor = hard ? 0.8 + rng.NextDouble() * 1.2 : 2 + rng.NextDouble() * 6;
                float amount = (float)(Math.Exp(p.MeanLogAmount + 1.8) * factor);
                Add(new Transaction(bank, victim, -1, 0, Channel.Transfer, device, amount, t, to, toBank, region, FraudTypology.AccountTakeover));
                _credits.Add(new Credit(toBank, to, t + 60, amount, bank));
                t += rng.Next(120, 1801);
            }
        }

        private void MuleRing(int bank, long t0, int budget, double[] bankDist)
        {
            int mules = Math.Min(budget, rng.Next(3, 7));
            var ring = new int[mules];
            for (int i = 0; i < mules; i++)
            {
                int b = i == 0 ? bank : Pick(bankDist);
                if (rng.NextDouble() < 0.5)
                {
                    var p = NewAccount(b, Segment.Student, t0 - rng.Next(1, 31) * 86400L);
                    ring[i] = _accounts.Count - 1;
                        }
                else ring[i] = RandomAccount(b, 1, 3);
            }
            double amount = 2000 + rng.NextDouble() * 7500;
            long t = LegitHour(t0);
            _credits.Add(new Credit(_accounts[ring[0]].Bank, ring[0], t, (float)amount, -1));
            for (int i = 0; i < mules; i++)
            {
                t += rng.Next(600, 10_801);
                amount *= 0.9 + rng.NextDouble() * 0.08;
                AccountProfile from = _accounts[ring[i]];
                int to = i + 1 < mules ? ring[i + 1] : -1;
                int toBank = to < 0 ? -1 : _accounts[to].Bank;
                Add(new Transaction(from.Bank, ring[i], -1, 0, Channel.Transfer, from.PrimaryDevice, (float)amount, t, to, toBank, from.Region, FraudTypology.MuleRing));
                if (to >= 0) _credits.Add(new Credit(toBank, to, t + 60, (float)amount, from.Bank));
            }
        }

        private void CompromisedMerchant(int bank, long t0, int budget)
        {
            int victim = RandomAccount(bank, 1, 1);
            AccountProfile p = _accounts[victim];
            int breached = rng.Next(CompromisedMerchants);
            byte breachMcc = (byte)(breached % 4);
            long breachTime = Math.Max(0, t0 - rng.Next(1, 11) * 86400L);
            Add(new Transaction(bank, victim, breachMcc * 1000 + breached, breachMcc, Channel.CardPresent, 0,
                Amount(p.MeanLogAmount, 0.6), LegitHour(breachTime), -1, -1, p.Region, FraudTypology.None));
            bool hard = rng.NextDouble() < s.HardFraudShare;
            int n = Math.Min(budget, rng.Next(1, 5));
            int device = _nextDevice++;
            for (int i = 0; i < n; i++)
            {
                long t = t0 + rng.Next(0, 48 * 3600);
                if (hard)
                {
                    Add(new Transaction(bank, victim, Merchant(3), 3, Channel.CardPresent, 0, Amount(p.MeanLogAmount + 0.3, 0.6), LegitHour(t), -1, -1, p.Region, FraudTypology.CompromisedMerchant));
                    continue;
                }
                byte mcc = (byte)(rng.NextDouble() < 0.5 ? McElectronics : rng.NextDouble() < 0.5 ? McJewelry : McGiftCards);
                float amount = Amount(Math.Log(250), 0.7);
                if (rng.NextDouble() < 0.6)
                    Add(new Transaction(bank, victim, Merchant(mcc), mcc, Channel.Online, rng.NextDouble() < UnknownDeviceShare ? 0 : device, amount, t, -1, -1, (byte)rng.Next(Regions), FraudTypology.CompromisedMerchant));
                else
                    Add(new Transaction(bank, victim, Merchant(mcc), mcc, Channel.CardPresent, 0, amount, t, -1, -1, (byte)((p.Region + rng.Next(1, Regions)) % Regions), FraudTypology.CompromisedMerchant));
            }
        }

        private int RandomAccount(int bank, double premiumWeight, double studentWeight)
        {
            List<int> list = _bankAccounts[bank];
            for (int tries = 0; ; tries++)
            {
                int a = list[rng.Next(list.Count)];
                Segment seg = _accounts[a].Segment;
                double w = seg == Segment.Premium ? premiumWeight : seg == Segment.Student ? studentWeight : 1;
                double max = Math.Max(1, Math.Max(premiumWeight, studentWeight));
                if (_accounts[a].Opened < 0 && (rng.NextDouble() * max < w || tries > 20)) return a;
            }
        }

        private long LegitHour(long time)
        {
            long day = time / 86400;
            double u = rng.NextDouble();
            int hour = u < 0.04 ? rng.Next(0, 6) : 7 + (int)(16 * Math.Sqrt(rng.NextDouble() * 0.999));
            return Math.Min(_end - 1, day * 86400 + hour * 3600 + rng.Next(3600));
        }

        private int Merchant(byte mcc) => mcc * 1000 + rng.Next(MerchantsPerMcc);

        private float Amount(double logMean, double sigma) => (float)Math.Max(0.01, Math.Round(Math.Exp(logMean + sigma * Gauss()), 2));

        private void Add(Transaction tx) => _tx.Add((tx, _seq++));

        private int Pick(IReadOnlyList<double> weights)
        {
            double total = 0;
            for (int i = 0; i < weights.Count; i++) total += weights[i];
            double u = rng.NextDouble() * total;
            for (int i = 0; i < weights.Count; i++)
            {
                u -= weights[i];
                if (u < 0) return i;
            }
            for (int i = weights.Count - 1; i >= 0; i--) if (weights[i] > 0) return i;
            return 0;
        }

        private double Gauss()
        {
            double u1 = 1.0 - rng.NextDouble();
            double u2 = rng.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
    }
}
