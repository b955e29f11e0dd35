// The checks of a bank's state directory that need no network (SPEC.md 14.6, 14.7): the directory exists or can be created,
// is writable, and an existing state verifies under the state key and belongs to this bank, this mode and this federation
// (the roster of identity keys and the parameters of bank.json, which `aggregator init` makes anew for every kit, and the
// federation.insecure_test_parameters the state recorded, SPEC.md 14.6: a state saved before it was recorded is not checked
// for it; a differing recorded setting is told first, from the state's header, before any import). A state
// of another federation is refused, never overwritten; a masking state of an earlier session of the same federation is
// accepted here (its keys are useless to a new session, and the first save of the new session replaces it).
using System.Buffers.Binary;
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Sdk.State;

internal static class StatePreflight
{
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
            CheckRecordedSettings(store.RoundPath, saved.InsecureTestParameters, f, config.Config.Bank, config.ConfigPath);
            HomomorphicRoster roster = f.BuildHeRoster();
            try
            {
                using HomomorphicBankParty party = HomomorphicBankParty.ImportState(config.Config.Bank, roster, Ed25519SigningKey.Import(config.ProtocolSeed),
                    store.Ledger, saved.KeyState, saved.RoundState);
            }
            catch (ProtocolViolationException e)
            {
                throw Foreign(store.RoundPath, e.Reason, config.ConfigPath, config.Config.Bank, HomomorphicMismatch(saved.KeyState, config.Config.Bank, roster));
            }
        }
        else
        {
            using SavedBankState? saved = store.Load(BankStateKind.Masking);
            if (saved is null) return;
            CheckRecordedSettings(store.PartyPath, saved.InsecureTestParameters, f, config.Config.Bank, config.ConfigPath);
            CheckMaskingFederation(store.PartyPath, saved.PartyState, f, config.Config.Bank, config.ProtocolSeed, config.ConfigPath);
        }
    }

    /// <summary>Refuses a state that recorded another federation.insecure_test_parameters than bank.json's (SPEC.md 14.6), in the
    /// words of the other settings that differ from a state ("federation.insecure_test_parameters is true there, false in the
    /// state"). A state that did not record it (<paramref name="saved"/> null: saved by an earlier version) passes.</summary>
    /// <param name="path">The state file, named in the message.</param>
    /// <param name="saved">The setting the state recorded, or null.</param>
    /// <param name="settings">bank.json's federation settings.</param>
    /// <param name="bank">bank.json's bank index.</param>
    /// <param name="configPath">The bank.json the settings come from, named in the message.</param>
    /// <exception cref="StateFileException">the recorded setting differs from bank.json's.</exception>
    public static void CheckRecordedSettings(string path, bool? saved, FederationSettings settings, int bank, string configPath = "bank.json")
    {
        if (saved is not bool recorded || recorded == settings.InsecureTestParameters) return;
        static string Json(bool value) => value ? "true" : "false";
        throw Foreign(path, ViolationReason.Inconsistent, configPath, bank,
            new Mismatch(null, $"federation.insecure_test_parameters is {Json(settings.InsecureTestParameters)} there, {Json(recorded)} in the state"));
    }

    /// <summary>Refuses a masking state that is not this bank's for this federation (bank id, identity roster, parameters),
    /// whatever its session: it is checked as if its own session were the current one.</summary>
    /// <param name="path">The state file, named in the message.</param>
    /// <param name="state">The saved masking bank state (SECRET; not kept).</param>
    /// <param name="settings">bank.json's federation settings.</param>
    /// <param name="bank">bank.json's bank index.</param>
    /// <param name="seed">This bank's Ed25519 protocol seed (SECRET; not kept).</param>
    /// <param name="configPath">The bank.json the settings come from, named in the message.</param>
    /// <exception cref="StateFileException">the state belongs to another bank or federation, or does not parse.</exception>
    public static void CheckMaskingFederation(string path, byte[] state, FederationSettings settings, int bank, byte[] seed, string configPath = "bank.json")
    {
        if (state.Length < 5 + MaskingParameters.SessionIdSize) throw StateFileException.Damaged(path, "the masking bank state is truncated");
        MaskingParameters own = settings.BuildMaskingParameters(state.AsSpan(5, MaskingParameters.SessionIdSize).ToArray());
        try
        {
            using RandomNumberGenerator rng = RandomNumberGenerator.Create();
            using MaskingBank restored = MaskingBank.ImportState(own, bank, Ed25519SigningKey.Import(seed), settings.IdentityKeyBytes(), state, rng);
        }
        catch (ProtocolViolationException e) { throw Foreign(path, e.Reason, configPath, bank, MaskingMismatch(state, own, bank)); }
    }

    /// <summary>What differs between a saved state and bank.json, read from the state's public header (SPEC.md 14.6, 14.7).</summary>
    /// <param name="StateBank">The bank index the state was saved by, when it is not bank.json's.</param>
    /// <param name="Settings">The differing federation settings, named as in bank.json with both values where the state keeps
    /// them; null when the bank index differs or nothing in the header tells.</param>
    internal readonly record struct Mismatch(int? StateBank, string? Settings);

    /// <summary>A masking state's header (SPEC.md 14.7: magic, version, session id, bank id, n, degree, t, M, k, identity roster
    /// digest) against bank.json's parameters; every public field, nothing secret.</summary>
    private static Mismatch MaskingMismatch(byte[] state, MaskingParameters own, int bank)
    {
        const int At = 5 + MaskingParameters.SessionIdSize;
        if (state.Length < At + 4 * 5 + 1) return default;
        uint U32(int i) => BinaryPrimitives.ReadUInt32BigEndian(state.AsSpan(At + 4 * i));   // SPEC.md 14.7: big-endian
        if (U32(0) != (uint)bank) return new((int)Math.Min(U32(0), int.MaxValue), null);
        var differ = new List<string>();
        void Compare(string name, long there, long saved)
        {
            if (there != saved) differ.Add($"{name} is {there} there, {saved} in the state");
        }
        Compare("the number of banks (federation.identity_keys)", own.Banks, U32(1));
        Compare("the masking degree (federation.masking.degree, or its default)", own.Degree, U32(2));
        Compare("federation.masking.threshold", own.Threshold, U32(3));
        Compare("the minimum survivors (federation.masking.minimum_survivors, or its default)", own.MinimumSurvivors, U32(4));
        Compare("federation.masking.modulus_bits", own.ModulusBits, state[At + 4 * 5]);
        // The header matches: what is left is the identity roster digest (the state keeps the digest, not the keys).
        return new(null, differ.Count > 0 ? string.Join(", ", differ) : "federation.identity_keys: other bank keys than the state's");
    }

    /// <summary>A homomorphic key part's header (SPEC.md 14.6: magic, version, index, roster digest) against bank.json's roster.
    /// The state keeps only the roster's digest, so the settings it covers are named together. Null when both agree with
    /// bank.json: the parts do not belong together (a round part of another key generation), which no setting explains.</summary>
    private static Mismatch? HomomorphicMismatch(ReadOnlySpan<byte> keyState, int bank, HomomorphicRoster roster)
    {
        if (keyState.Length < 9 + 32) return default(Mismatch);
        uint index = BinaryPrimitives.ReadUInt32LittleEndian(keyState[5..]);
        if (index != (uint)bank) return new Mismatch((int)Math.Min(index, int.MaxValue), null);
        if (CryptographicOperations.FixedTimeEquals(keyState.Slice(9, 32), roster.Digest)) return null;
        return new Mismatch(null, "one of federation.identity_keys, federation.aggregator_key and federation.he (parameter_set, threshold, "
            + "min_contributors, max_colluders): the state keeps only their digest, not which one changed");
    }

    private static StateFileException Foreign(string path, ViolationReason reason, string configPath, int bank, Mismatch? found)
    {
        if (reason != ViolationReason.Inconsistent) return StateFileException.Damaged(path, $"this state does not parse ({reason})");
        if (found is not { } mismatch) return StateFileException.Damaged(path, "its key part and round part do not belong together");
        if (mismatch.StateBank is int saved)
            return new(path, $"this state directory is bank {saved}'s, and {configPath} is bank {bank}'s (its 'bank' setting); the state is never "
                + $"overwritten: point state_directory in {configPath} at bank {bank}'s own state directory, or restore its 'bank' setting.");
        string which = mismatch.Settings is { } s ? $" ({s})" : "";
        return new(path, $"the federation settings in {configPath}{which} differ from those this state directory was created with, and the state is "
            + $"never overwritten; restore {configPath}'s federation settings, or, to join a new federation, move the state directory away "
            + "(or point state_directory at another directory).");
    }

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
