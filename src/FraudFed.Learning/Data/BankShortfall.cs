// Why a bank's data cannot take part in an experiment, as a value: the refusals of BankSplitter and
// FederatedExperiment.CheckBanks carry it (DataFormatException.Shortfall), so that a caller can name the one change that
// helps with that reason (a more even split for a bank left without fraud; nothing a split can change when all of a file's
// fraud lies in the later test window).
namespace FraudFed.Learning.Data;

/// <summary>Why a bank, or the banks together, cannot be used for an experiment (<see cref="DataFormatException.Shortfall"/>).</summary>
public enum BankShortfall
{
    /// <summary>A bank has no rows in its training window.</summary>
    NoTrainingRows,
    /// <summary>A bank has no rows in its later test window.</summary>
    NoTestRows,
    /// <summary>A bank's training window has no fraud, so its local-only baseline has nothing to learn.</summary>
    NoTrainingFraud,
    /// <summary>A bank's training window holds fraud only.</summary>
    OnlyTrainingFraud,
    /// <summary>No bank has fraud in its training window (all the data's fraud lies in the later test window).</summary>
    NoTrainingFraudAtAnyBank,
    /// <summary>No bank has fraud in its later test window, so no model could be measured.</summary>
    NoTestFraudAtAnyBank,
}
