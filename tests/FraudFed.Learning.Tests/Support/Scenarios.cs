using FraudFed.Learning.Data;
using FraudFed.Learning.Features;

namespace FraudFed.Learning.Tests.Support;

/// <summary>Small shared data sets (built once per test run) to keep the suite fast.</summary>
internal static class Scenarios
{
    private static readonly Lazy<SyntheticData> SmallWorld = new(() => SyntheticBankGenerator.Generate(new SyntheticScenario { Banks = 3, Transactions = 12_000, Seed = 7, FraudRate = 0.02 }));
    private static readonly Lazy<IReadOnlyList<BankData>> SmallBanks = new(() => TransactionFeatures.BuildAll(SmallWorld.Value));

    public static SyntheticData Small => SmallWorld.Value;
    public static IReadOnlyList<BankData> SmallBankData => SmallBanks.Value;
}
