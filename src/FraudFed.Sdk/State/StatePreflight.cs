// The checks of a bank's state directory that need no network (SPEC.md 14.6, 14.7): the directory exists or can be created,
// is writable, and an existing state verifies under the state key and belongs to this bank, this mode and this federation
// (the roster of identity keys and the parameters of bank.json, which `aggregator init` makes anew for every kit). A state
// of another federation is refused, never overwritten; a masking state of an earlier session of the same federation is
// accepted here (its keys are useless to a new session, and the first save of the new session replaces it).
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Sdk.State;

internal static class StatePreflight
{
    /// <summary>What a refused state directory tells the person at the command line to do.</summary>
    internal const string Advice = "move the state directory away, or point state_directory in bank.json at another directory";

    /// <exception cref="StateDirectoryInUseException">another process or client holds the directory (nothing read or written).</exception>
    /// <exception cref="StateFileException">the directory cannot be created or written, or a state in it does not verify, is of the
    /// other mode, or belongs to another bank or federation.</exception>
    public static void Check(LoadedBankConfig config)
    {
        if (config.StateDirectory is not { } dir || config.StateKey is not { } key) return;
        // Takes the directory's lock first (refused at once while another process or client holds it), creates the directory
        // (0700); the homomorphic round part read below carries the ledger (SPEC.md 14.6); the lock is released on return.
        using var store = new BankStateStore(dir, key);
        ProbeWritable(dir);
        FederationSettings f = config.Config.Federation;
        if (f.IsHomomorphic)
        {
            using SavedSplitState? saved = store.LoadSplit();
            if (saved is null) return;
            try
            {
                using HomomorphicBankParty party = HomomorphicBankParty.ImportState(config.Config.Bank, f.BuildHeRoster(), Ed25519SigningKey.Import(config.ProtocolSeed),
                    store.Ledger, saved.KeyState, saved.RoundState);
            }
            catch (ProtocolViolationException e) { throw Foreign(store.RoundPath, e.Reason); }
        }
        else
        {
            using SavedBankState? saved = store.Load(BankStateKind.Masking);
            if (saved is not null) CheckMaskingFederation(store.PartyPath, saved.PartyState, f, config.Config.Bank, config.ProtocolSeed);
        }
    }

    /// <summary>Refuses a masking state that is not this bank's for this federation (bank id, identity roster, parameters),
    /// whatever its session: it is checked as if its own session were the current one.</summary>
    /// <exception cref="StateFileException">the state belongs to another bank or federation, or does not parse.</exception>
    public static void CheckMaskingFederation(string path, byte[] state, FederationSettings settings, int bank, byte[] seed)
    {
        if (state.Length < 5 + MaskingParameters.SessionIdSize) throw StateFileException.Damaged(path, "the masking bank state is truncated");
        MaskingParameters own = settings.BuildMaskingParameters(state.AsSpan(5, MaskingParameters.SessionIdSize).ToArray());
        try
        {
            using RandomNumberGenerator rng = RandomNumberGenerator.Create();
            using MaskingBank restored = MaskingBank.ImportState(own, bank, Ed25519SigningKey.Import(seed), settings.IdentityKeyBytes(), state, rng);
        }
        catch (ProtocolViolationException e) { throw Foreign(path, e.Reason); }
    }

    private static StateFileException Foreign(string path, ViolationReason reason) =>
        reason == ViolationReason.Inconsistent
            ? new(path, $"this state belongs to another federation (another kit, bank, roster or parameters than this bank.json's) and is never overwritten; {Advice}.")
            : StateFileException.Damaged(path, $"this state does not parse ({reason})");

    private static void ProbeWritable(string dir)
    {
        string probe = Path.Combine(dir, ".write-probe-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StateFileException(dir, $"the state directory is not writable ({e.Message}); fix its permissions, or point state_directory in bank.json at a writable directory.", e);
        }
    }
}
