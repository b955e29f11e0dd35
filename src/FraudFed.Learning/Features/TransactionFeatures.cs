// Per-bank feature engineering. Each bank computes these from its own debits, its own credits and its own
// customers' static facts only: nothing here reads another bank's records. Every feature of a
// transaction uses only events strictly before it (plus the transaction itself), so there is no look-ahead.
using FraudFed.Learning.Data;

namespace FraudFed.Learning.Features;

/// <summary>Builds the fraud features of one bank's transactions and splits them into train and a later test window.</summary>
public static class TransactionFeatures
{
    /// <summary>Feature names, in column order.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "amount", "log_amount_ratio", "hour", "channel", "mcc", "device_new", "device_age_hours",
        "count_1h", "count_24h", "amount_sum_24h", "small_count_1h", "log_seconds_since_last",
        "distinct_merchants_24h", "account_age_days", "cross_bank", "new_payee", "credit_sum_24h",
        "credit_count_24h", "out_in_ratio_24h", "segment", "region_mismatch", "merchant_count_1h", "history_count",
    ];

    private const long Hour = 3600, Day = 86400;

    private sealed class AccountState
    {
        public readonly Queue<(long Time, float Amount, int Merchant)> Day = new();
        public readonly Queue<(long Time, bool Small)> Hour = new();
        public readonly Dictionary<int, int> MerchantsInDay = new();
        public readonly Dictionary<int, long> DeviceFirstSeen = new();
        public readonly HashSet<int> Payees = new();
        public double AmountSum;
        public int History;
        public long LastTime = long.MinValue;
        public double DaySum;
        public int SmallInHour;
        public int CreditLo, CreditHi;
        public double CreditWindowSum;
    }

    /// <summary>Builds one bank's features; rows at or after <see cref="SyntheticData.TestStart"/> go to the test window.</summary>
    public static BankData Build(SyntheticData data, int bank)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegative(bank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(bank, data.Scenario.Banks);

        var credits = new Dictionary<int, List<Credit>>();
        foreach (Credit c in data.Credits)
        {
            if (c.Bank != bank) continue;
            if (!credits.TryGetValue(c.Account, out var list)) credits[c.Account] = list = new List<Credit>();
            list.Add(c);
        }

        int f = Names.Count;
        var rows = new List<float>(f * 1024);
        var labels = new List<bool>();
        var times = new List<long>();
        var states = new Dictionary<int, AccountState>();
        var merchantHour = new Dictionary<int, Queue<long>>();
        var row = new float[f];

        foreach (Transaction tx in data.Transactions)
        {
            if (tx.Bank != bank) continue;
            AccountInfo info = data.Accounts[tx.Account];
            if (!states.TryGetValue(tx.Account, out var st)) states[tx.Account] = st = new AccountState();
            long t = tx.Time;

            while (st.Day.Count > 0 && st.Day.Peek().Time <= t - Day)
            {
                var old = st.Day.Dequeue();
                st.DaySum -= old.Amount;
                if (--st.MerchantsInDay[old.Merchant] == 0) st.MerchantsInDay.Remove(old.Merchant);
            }
            while (st.Hour.Count > 0 && st.Hour.Peek().Time <= t - Hour)
                if (st.Hour.Dequeue().Small) st.SmallInHour--;

            double creditSum = 0;
            int creditCount = 0;
            if (credits.TryGetValue(tx.Account, out var cl))
            {
                while (st.CreditHi < cl.Count && cl[st.CreditHi].Time <= t) st.CreditWindowSum += cl[st.CreditHi++].Amount;
                while (st.CreditLo < st.CreditHi && cl[st.CreditLo].Time <= t - Day) st.CreditWindowSum -= cl[st.CreditLo++].Amount;
                creditSum = Math.Max(0, st.CreditWindowSum);
                creditCount = st.CreditHi - st.CreditLo;
            }

            if (!merchantHour.TryGetValue(tx.Merchant, out var mq)) merchantHour[tx.Merchant] = mq = new Queue<long>();
            while (mq.Count > 0 && mq.Peek() <= t - Hour) mq.Dequeue();

            bool digital = tx.Channel is Channel.Online or Channel.Transfer && tx.Device != 0;
            bool deviceKnown = st.DeviceFirstSeen.TryGetValue(tx.Device, out long firstSeen);
            double mean = st.History > 0 ? st.AmountSum / st.History : 0;

            row[0] = tx.Amount;
            row[1] = st.History > 0 ? (float)Math.Log((tx.Amount + 1.0) / (mean + 1.0)) : 0f;
            row[2] = (float)((t % Day) / (double)Hour);
            row[3] = (float)tx.Channel;
            row[4] = tx.Mcc;
            row[5] = digital ? (deviceKnown ? 0f : 1f) : -1f;
            row[6] = digital ? (deviceKnown ? (float)((t - firstSeen) / (double)Hour) : 0f) : -1f;
            row[7] = st.Hour.Count;
            row[8] = st.Day.Count;
            row[9] = (float)Math.Max(0, st.DaySum);
            row[10] = st.SmallInHour;
            row[11] = st.LastTime == long.MinValue ? 20f : (float)Math.Log(1.0 + (t - st.LastTime));
            row[12] = st.MerchantsInDay.Count;
            row[13] = (float)((t - info.Opened) / (double)Day);
            row[14] = tx.Channel == Channel.Transfer && tx.CounterpartyBank != bank ? 1f : 0f;
            row[15] = tx.Channel == Channel.Transfer ? (st.Payees.Contains(tx.Counterparty) ? 0f : 1f) : -1f;
            row[16] = (float)creditSum;
            row[17] = creditCount;
            row[18] = (float)(tx.Amount / (creditSum + 1.0));
            row[19] = (float)info.Segment;
            row[20] = tx.Region != info.HomeRegion ? 1f : 0f;
            row[21] = mq.Count;
            row[22] = st.History;
            rows.AddRange(row);
            labels.Add(tx.IsFraud);
            times.Add(t);

            // Update the account's history with this transaction.
            bool small = tx.Amount < 5f;
            st.Day.Enqueue((t, tx.Amount, tx.Merchant));
            st.DaySum += tx.Amount;
            st.MerchantsInDay[tx.Merchant] = st.MerchantsInDay.GetValueOrDefault(tx.Merchant) + 1;
            st.Hour.Enqueue((t, small));
            if (small) st.SmallInHour++;
            if (digital && !deviceKnown) st.DeviceFirstSeen[tx.Device] = t;
            if (tx.Channel == Channel.Transfer) st.Payees.Add(tx.Counterparty);
            st.AmountSum += tx.Amount;
            st.History++;
            st.LastTime = t;
            mq.Enqueue(t);
        }

        var all = new LabeledRows(Names, rows.ToArray(), labels.ToArray(), times.ToArray());
        long testStart = data.TestStart;
        string name = "bank-" + bank.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var train = all.Where(i => all.Times[i] < testStart);
        var test = all.Where(i => all.Times[i] >= testStart);
        if (train.Rows == 0 || test.Rows == 0)
            throw new DataFormatException($"Bank '{name}' has no rows in its {(train.Rows == 0 ? "training" : "later test")} window.", column: null, row: null, bank: name)
            {
                Shortfall = train.Rows == 0 ? BankShortfall.NoTrainingRows : BankShortfall.NoTestRows,
            };
        return new BankData(name, train, test);
    }

    /// <summary>Builds every bank's features (each bank independently).</summary>
    public static IReadOnlyList<BankData> BuildAll(SyntheticData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var result = new BankData[data.Scenario.Banks];
        Federation.BankParallel.For(result.Length, b => result[b] = Build(data, b));
        return result;
    }
}
