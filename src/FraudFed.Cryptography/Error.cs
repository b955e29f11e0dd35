// One place builds exceptions (house style 4). Messages never carry key, seed or share bytes.
using System.Security.Cryptography;

namespace FraudFed.Cryptography;

/// <summary>Why a protocol message or cryptographic object was refused.</summary>
public enum ViolationReason
{
    /// <summary>A serialized object is malformed: wrong magic, version, lengths or encoding.</summary>
    Malformed,
    /// <summary>An object is larger than the configured limit.</summary>
    Oversized,
    /// <summary>A value is outside its allowed range (a coefficient not below its prime, a value above 2^k).</summary>
    OutOfRange,
    /// <summary>An authentication tag, signature or commitment did not verify.</summary>
    AuthenticationFailed,
    /// <summary>The message belongs to another session or round, or arrived in the wrong state.</summary>
    WrongRoundOrState,
    /// <summary>The same sender already sent this message, or a bank sent another bank's accepted message (a replay).</summary>
    Duplicate,
    /// <summary>The sender is not a member of the roster or of the relevant neighbourhood.</summary>
    UnknownSender,
    /// <summary>Fewer participants than the threshold remain.</summary>
    TooFewParticipants,
    /// <summary>A request would reveal more than the protocol allows (both shares of a peer, a second active set).</summary>
    Refused,
    /// <summary>A budget (decryption count, noise) is exhausted.</summary>
    BudgetExhausted,
    /// <summary>Parties saw inconsistent views (different survivor lists, parameter hashes).</summary>
    Inconsistent,
    /// <summary>A parameter set fails the security table or an exactness check.</summary>
    InsecureParameters,
}

/// <summary>A protocol peer or a serialized object broke the rules. Carries a reason code, never secret bytes.</summary>
public sealed class ProtocolViolationException : CryptographicException
{
    /// <summary>Creates the exception.</summary>
    public ProtocolViolationException(ViolationReason reason, string message) : base($"{reason}: {message}")
    {
        Reason = reason;
        Detail = message;
    }

    /// <summary>The machine-readable reason.</summary>
    public ViolationReason Reason { get; }

    /// <summary>The message without its reason code, in words for a person (e.g. a command line's refusal of its options).</summary>
    public string Detail { get; }
}

/// <summary>Exception factory (internal: callers outside the library build <see cref="ProtocolViolationException"/> and the
/// argument exceptions directly).</summary>
internal static class Error
{
    /// <summary>A caller passed a bad argument.</summary>
    public static ArgumentException Argument(string paramName, string message) => new(message, paramName);

    /// <summary>A caller passed an argument outside its range.</summary>
    public static ArgumentOutOfRangeException OutOfRange(string paramName, string message) => new(paramName, message);

    /// <summary>A protocol violation with its reason code.</summary>
    public static ProtocolViolationException Violation(ViolationReason reason, string message) => new(reason, message);

    /// <summary>
    /// TooFewParticipants for a homomorphic round, in the one wording of every path (the appliance's aggregator party, the
    /// in-process coordinator, the harness): "round 2 has 1 contributing bank; at least 4 are needed to open a sum (the
    /// threshold T = 4 and K_min = 4, SPEC.md 12.3)".
    /// </summary>
    /// <param name="round">The round that fails.</param>
    /// <param name="contributors">Banks whose complete uploads arrived.</param>
    /// <param name="needed">The fewest that open a sum on this path (K_min, or max(T, K_min) where the decryptors are contributors).</param>
    /// <param name="threshold">T, the decryption threshold.</param>
    /// <param name="minContributors">K_min, the fewest contributors a sum may have.</param>
    /// <param name="silent">Roster indices of the banks whose complete upload did not arrive, named at the end of the text ("; bank(s)
    /// 1, 3 sent no complete upload") so that an operator knows whom to call; none, or null, adds nothing. Indices only: not secret.</param>
    public static ProtocolViolationException TooFewContributors(ulong round, int contributors, int needed, int threshold, int minContributors,
        IReadOnlyCollection<int>? silent = null) =>
        new(ViolationReason.TooFewParticipants, string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"round {round} has {Count(contributors, "contributing bank")}; at least {needed} {Are(needed)} needed to open a sum ({HomomorphicMinimum(threshold, minContributors)})")
            + (silent is { Count: > 0 } ? $"; bank(s) {string.Join(", ", silent.Order())} sent no complete upload" : ""));

    /// <summary>Why a homomorphic round needs that many banks, in the words of every too-few message: "the threshold T = 4 and
    /// K_min = 4, SPEC.md 12.3".</summary>
    public static string HomomorphicMinimum(int threshold, int minContributors) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"the threshold T = {threshold} and K_min = {minContributors}, SPEC.md 12.3");

    /// <summary>Why a masking round needs that many banks, in the words of every too-few message: "the minimum M of surviving
    /// banks, SPEC.md 8.3".</summary>
    public const string MaskingMinimum = "the minimum M of surviving banks, SPEC.md 8.3";

    /// <summary>
    /// TooFewParticipants for a request window that ends without a round (SPEC.md 14.5, "Rounds and deadlines"), in the same
    /// words: "round 3: only 2 of 5 banks asked within 30 s (deadlines.join_seconds); at least 4 are needed (the threshold T = 4
    /// and K_min = 4, SPEC.md 12.3); the round did not open: start the other banks, or raise deadlines.join_seconds".
    /// </summary>
    /// <param name="round">The round the requests were answered with.</param>
    /// <param name="asked">Banks that asked within the window.</param>
    /// <param name="banks">Banks of the session.</param>
    /// <param name="joinSeconds">deadlines.join_seconds.</param>
    /// <param name="needed">The fewest banks a round needs.</param>
    /// <param name="why">The rule behind <paramref name="needed"/>: <see cref="HomomorphicMinimum"/> or <see cref="MaskingMinimum"/>.</param>
    public static string TooFewAsked(ulong round, int asked, int banks, double joinSeconds, int needed, string why) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"round {round}: only {asked} of {Count(banks, "bank")} asked within {joinSeconds:0.###} s (deadlines.join_seconds); at least {needed} {Are(needed)} needed ({why}); the round did not open: start the other banks, or raise deadlines.join_seconds");

    /// <summary>
    /// TooFewParticipants for a masking stage, in the same words: "2 banks shared keys; at least 3 are needed (the minimum M
    /// of surviving banks, SPEC.md 8.3)", followed by <paramref name="consequence"/> when given ("the round ends.").
    /// </summary>
    /// <param name="count">How many banks did <paramref name="what"/>.</param>
    /// <param name="what">What they did, after the count: "advertised keys", "shared keys", ...</param>
    /// <param name="needed">M, the minimum of surviving banks.</param>
    /// <param name="consequence">"the round ends" or null.</param>
    public static string TooFewSurvivors(int count, string what, int needed, string? consequence) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{Count(count, "bank")} {what}; at least {needed} {Are(needed)} needed ({MaskingMinimum}){(consequence is null ? "." : $"; {consequence}.")}");

    private static string Are(int n) => n == 1 ? "is" : "are";

    /// <summary>"1 bank", "2 banks".</summary>
    private static string Count(int n, string noun) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? "" : "s")}");
}
