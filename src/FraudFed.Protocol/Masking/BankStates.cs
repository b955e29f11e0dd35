// Round states of a bank (client), one class each (house style 8, after Google fcp's secagg_client_r*
// classes). A state object is immutable once published: a refused message leaves the bank's State
// reference unchanged, and a transition replaces it. The round secrets a state holds (self-mask seed, share values) are
// zeroed by MaskingBank when the round ends, aborts or is abandoned, or the bank is disposed.
using FraudFed.Cryptography.Sharing;

namespace FraudFed.Protocol.Masking;

/// <summary>Stages of the masking protocol, shared by banks and the aggregator.</summary>
public enum MaskingStage
{
    /// <summary>Session setup: advertising and collecting X25519 public keys and graph-seed commitments.</summary>
    AdvertiseKeys,
    /// <summary>Session setup: revealing and collecting graph-seed nonces (SPEC.md 8.1).</summary>
    GraphSeed,
    /// <summary>Keys agreed; no round running.</summary>
    Ready,
    /// <summary>Round secrets shared; waiting for the peers' shares.</summary>
    ShareKeys,
    /// <summary>Masked input sent; waiting for the survivor list.</summary>
    MaskedInput,
    /// <summary>Survivor list signed; waiting for the other signatures and the unmask request.</summary>
    ConsistencyCheck,
    /// <summary>Aggregator: collecting shares to remove the masks.</summary>
    Unmasking,
    /// <summary>The round finished.</summary>
    Completed,
    /// <summary>The session aborted on evidence of an attack; it cannot continue. (A round that fails benignly returns to Ready.)</summary>
    Aborted,
}

/// <summary>Base of the bank's state classes.</summary>
public abstract class BankState
{
    private protected BankState(uint round) => Round = round;
    /// <summary>The round this state belongs to (0 during setup).</summary>
    public uint Round { get; }
    /// <summary>The stage.</summary>
    public abstract MaskingStage Stage { get; }
    /// <inheritdoc />
    public override string ToString() => $"{Stage}(round {Round})";
}

/// <summary>Setup: keys generated; <see cref="Advertised"/> once the AdvertiseKeys message was produced.</summary>
public sealed class BankAdvertiseKeys : BankState
{
    internal BankAdvertiseKeys(bool advertised) : base(0) => Advertised = advertised;
    /// <summary>True after the bank produced its AdvertiseKeys message.</summary>
    public bool Advertised { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.AdvertiseKeys;
}

/// <summary>Key roster verified, graph-seed nonce revealed; waiting for every bank's reveal.</summary>
public sealed class BankGraphSeed : BankState
{
    internal BankGraphSeed(IReadOnlyDictionary<int, AdvertiseKeys> roster) : base(0) => Roster = roster;
    /// <summary>The verified AdvertiseKeys of the key roster, by bank id.</summary>
    internal IReadOnlyDictionary<int, AdvertiseKeys> Roster { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.GraphSeed;
}

/// <summary>Keys agreed and graph fixed, waiting for a round to begin. After a round that failed benignly (too few participants,
/// a deadline missed: SPEC.md 8.3) the bank is back here with that round spent (<see cref="BankState.Round"/>) and its secrets zeroed.</summary>
public sealed class BankReady : BankState
{
    internal BankReady(uint lastRound = 0, Cryptography.ViolationReason? lastRoundFailure = null) : base(lastRound) => LastRoundFailure = lastRoundFailure;
    /// <summary>Why round <see cref="BankState.Round"/> ended without a sum, or null when no round failed (setup just finished).</summary>
    public Cryptography.ViolationReason? LastRoundFailure { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Ready;
}

/// <summary>Shares sent; holds this round's secrets b and kappa and the bank's own shares of them.</summary>
public sealed class BankShareKeys : BankState
{
    internal BankShareKeys(uint round, byte[] selfSeed, FieldElement521 ownSelfShare, FieldElement521 ownPairwiseShare) : base(round)
    {
        SelfSeed = selfSeed;
        OwnSelfShare = ownSelfShare;
        OwnPairwiseShare = ownPairwiseShare;
    }
    internal byte[] SelfSeed { get; }
    internal FieldElement521 OwnSelfShare { get; }
    internal FieldElement521 OwnPairwiseShare { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.ShareKeys;
}

/// <summary>Masked input sent; holds the peers' shares (U1 from this bank's view).</summary>
public sealed class BankMaskedInput : BankState
{
    internal BankMaskedInput(uint round, IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> held) : base(round) => Held = held;
    /// <summary>Shares held per owner (including this bank's own), keyed by owner id.</summary>
    internal IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> Held { get; }
    /// <summary>Owners whose shares this bank holds (its neighbours in U1, and itself).</summary>
    public IReadOnlyCollection<int> Owners => (IReadOnlyCollection<int>)Held.Keys;
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.MaskedInput;
}

/// <summary>Survivor list signed.</summary>
public sealed class BankConsistencyCheck : BankState
{
    internal BankConsistencyCheck(uint round, IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> held, int[] survivors, byte[] survivorBytes) : base(round)
    {
        Held = held;
        Survivors = survivors;
        SurvivorBytes = survivorBytes;
    }
    internal IReadOnlyDictionary<int, (FieldElement521 Self, FieldElement521 Pairwise)> Held { get; }
    /// <summary>The survivor list this bank signed.</summary>
    public IReadOnlyList<int> Survivors { get; }
    internal byte[] SurvivorBytes { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.ConsistencyCheck;
}

/// <summary>The bank answered the unmask request; the round is over for it. This is the state after a successful round (SPEC.md
/// 8.2: <c>Completed -> (next round) ShareKeys</c>): the bank begins the next round from here exactly as from <see cref="BankReady"/>,
/// which it is in only before its first round and after a round that failed.</summary>
public sealed class BankCompleted : BankState
{
    internal BankCompleted(uint round) : base(round) { }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Completed;
}

/// <summary>The bank aborted the session on evidence of an attack (an aggregator caught showing inconsistent views, a failed
/// authentication, equivocation: SPEC.md 8.3). Terminal. Benign round failures return to <see cref="BankReady"/> instead.</summary>
public sealed class BankAborted : BankState
{
    internal BankAborted(uint round, Cryptography.ViolationReason reason) : base(round) => Reason = reason;
    /// <summary>Why.</summary>
    public Cryptography.ViolationReason Reason { get; }
    /// <inheritdoc />
    public override MaskingStage Stage => MaskingStage.Aborted;
}
