// Transaction-level records produced by the synthetic generator (and consumed by the feature builder).
namespace FraudFed.Learning.Data;

/// <summary>Fraud typology of a transaction (None for legitimate ones).</summary>
public enum FraudTypology : byte
{
    /// <summary>Legitimate.</summary>
    None = 0,
    /// <summary>Bursts of tiny online payments testing a stolen card, then a cash-out purchase.</summary>
    CardTesting = 1,
    /// <summary>A takeover of a customer's account: new device, odd hours, large transfers to new payees.</summary>
    AccountTakeover = 2,
    /// <summary>Mule rings forwarding stolen funds quickly from bank to bank.</summary>
    MuleRing = 3,
    /// <summary>Cards skimmed at a compromised merchant, then spent on resellable goods elsewhere.</summary>
    CompromisedMerchant = 4,
}

/// <summary>Payment channel.</summary>
public enum Channel : byte
{
    /// <summary>Card present at a terminal.</summary>
    CardPresent = 0,
    /// <summary>Card not present (e-commerce).</summary>
    Online = 1,
    /// <summary>Account-to-account transfer.</summary>
    Transfer = 2,
    /// <summary>Cash withdrawal.</summary>
    Atm = 3,
}

/// <summary>Customer segment.</summary>
public enum Segment : byte
{
    /// <summary>Mass retail.</summary>
    Retail = 0,
    /// <summary>Affluent.</summary>
    Premium = 1,
    /// <summary>Students and young customers.</summary>
    Student = 2,
    /// <summary>Small businesses.</summary>
    Business = 3,
}

/// <summary>One debit (outgoing) transaction of an account. Time is in seconds from the start of the simulation.</summary>
public readonly record struct Transaction(
    int Bank, int Account, int Merchant, byte Mcc, Channel Channel, int Device, float Amount, long Time,
    int Counterparty, int CounterpartyBank, byte Region, FraudTypology Typology)
{
    /// <summary>True for fraud.</summary>
    public bool IsFraud => Typology != FraudTypology.None;
}

/// <summary>An incoming credit to an account (salary, a transfer from another customer, stolen funds).</summary>
public readonly record struct Credit(int Bank, int Account, long Time, float Amount, int FromBank);

/// <summary>One injected fraud episode: its typology, the bank where it starts, and how many fraud transactions it produced.</summary>
public sealed record FraudEvent(FraudTypology Typology, int Bank, long Time, int Transactions);

/// <summary>Static facts about an account that its own bank knows.</summary>
public readonly record struct AccountInfo(int Bank, Segment Segment, long Opened, byte HomeRegion);
