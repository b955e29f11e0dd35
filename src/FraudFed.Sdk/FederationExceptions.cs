// The SDK's typed exceptions: each message tells a person what happened and what to do; none carries key or share bytes.
using FraudFed.Cryptography;

namespace FraudFed.Sdk;

/// <summary>The federation could not do what was asked (session mismatch, refused message, appliance unreachable after retries).</summary>
public class FederationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FederationException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The appliance could not be reached within the retry budget of one call (<see cref="FederationClientOptions.RetryBudget"/>):
/// every attempt failed in the transport (nothing listens, no route, no answer in time). The message says so in words ("the
/// aggregator at https://127.0.0.1:7543/ is unreachable after 3 retries over 1 s (retry budget 1 s; connection refused:
/// nothing listens on that port); check ..."), without the transport's exception text.</summary>
public sealed class ApplianceUnreachableException : FederationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="aggregator">The appliance's address.</param>
    /// <param name="retries">Retries made after the first attempt.</param>
    /// <param name="waited">Time from the first attempt to the last failure.</param>
    /// <param name="retryBudget">The call's retry budget.</param>
    /// <param name="reason">The last failure in a few words (<see cref="StatusMapping.TransportReason"/>).</param>
    /// <param name="inner">The transport's last failure.</param>
    public ApplianceUnreachableException(Uri aggregator, int retries, TimeSpan waited, TimeSpan retryBudget, string reason, Exception? inner = null)
        : base($"the aggregator at {aggregator} is unreachable after {retries} retries over {Seconds(waited)} (retry budget {Seconds(retryBudget)}; {reason}); "
            + "check the address, that the appliance runs, and that its roster pins this bank's certificate.", inner)
    {
        Aggregator = aggregator;
        Retries = retries;
        Waited = waited;
        RetryBudget = retryBudget;
        Reason = reason;
    }

    /// <summary>The appliance's address.</summary>
    public Uri Aggregator { get; }
    /// <summary>Retries made after the first attempt.</summary>
    public int Retries { get; }
    /// <summary>Time from the first attempt to the last failure.</summary>
    public TimeSpan Waited { get; }
    /// <summary>The call's retry budget.</summary>
    public TimeSpan RetryBudget { get; }
    /// <summary>The last failure in a few words ("connection refused: nothing listens on that port").</summary>
    public string Reason { get; }

    /// <summary>A duration in seconds for a message: whole seconds from 10 s, one decimal from 1 s, and below 1 s as many
    /// decimals as it takes (up to three significant digits: "0.001 s", "0.25 s"), never "0 s" for a time that is not zero.</summary>
    /// <param name="t">The duration.</param>
    public static string Seconds(TimeSpan t)
    {
        double s = Math.Max(0, t.TotalSeconds);
        string text = s >= 10 ? s.ToString("0", System.Globalization.CultureInfo.InvariantCulture)
            : s >= 1 ? s.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)
            : s == 0 ? "0"
            : s.ToString("0." + new string('#', Math.Max(3, 2 - (int)Math.Floor(Math.Log10(s)))), System.Globalization.CultureInfo.InvariantCulture);
        return text + " s";
    }
}

/// <summary>A round ended without a sum (too few banks took part, a deadline passed, a decryptor refused), or never opened
/// (<see cref="Opened"/> false: fewer banks asked for it within the appliance's join window than any round needs, SPEC.md 14.5):
/// the round number is spent and the session goes on; call <see cref="FederationClient.SumAsync"/> again for a new round.</summary>
public sealed class RoundFailedException : FederationException
{
    /// <summary>Creates the exception for a round that opened and ended without a sum.</summary>
    public RoundFailedException(ulong round, ViolationReason reason, string message) : this(round, reason, Describe(round, reason, message), opened: true) { }

    private RoundFailedException(ulong round, ViolationReason reason, string text, bool opened) : base(text)
    {
        Round = round;
        Reason = reason;
        Opened = opened;
    }

    /// <summary>The appliance ended <paramref name="round"/>'s request window without opening it (its RoundRefused item, SPEC.md
    /// 14.5 "Rounds and deadlines"): "round 3 did not open (TooFewParticipants): only 2 of 5 banks asked within 30 s
    /// (deadlines.join_seconds); at least 4 are needed (...); nothing of this bank's values left it; ...".</summary>
    /// <param name="round">The refused round.</param>
    /// <param name="reason">The item's reason (TooFewParticipants).</param>
    /// <param name="message">The appliance's words (counts and the fix); when empty, the counts are put in words here.</param>
    /// <param name="asked">Banks that asked within the window.</param>
    /// <param name="needed">The fewest a round needs (0: not given).</param>
    /// <param name="joinSeconds">The appliance's join window, in seconds (0: not given).</param>
    internal static RoundFailedException NotOpened(ulong round, ViolationReason reason, string message, int asked, int needed, double joinSeconds)
    {
        string detail = (message ?? "").Trim().TrimEnd('.', ';').Trim();
        // The appliance's own "round R: ..." and "; the round did not open: <fix>" are said once, by this sentence.
        string own = $"round {round}: ";
        if (detail.StartsWith(own, StringComparison.Ordinal)) detail = detail[own.Length..];
        int fix = detail.IndexOf("; the round did not open", StringComparison.Ordinal);
        if (fix >= 0) detail = detail[..fix];
        if (detail.Length == 0)
            detail = needed > 0 ? $"{asked} bank{(asked == 1 ? "" : "s")} asked for it within the appliance's join window; at least {needed} are needed" : "too few banks asked for it";
        string window = joinSeconds > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{joinSeconds:0.###} s of the first (deadlines.join_seconds)") : "the appliance's join window (deadlines.join_seconds)";
        string enough = needed > 0 ? $"at least {needed} banks" : "enough banks";
        return new RoundFailedException(round, reason,
            $"round {round} did not open ({reason}): {detail}; nothing of this bank's values left it: start the other banks' sums so that {enough} ask within {window}, or have the operator raise deadlines.join_seconds, then run the sum again (it asks for a new round: round {round} is spent, so the next is round {round + 1} or later).",
            opened: false);
    }

    /// <summary>"round R ended without a sum (reason): detail; what to do" (no empty detail, one advice per reason).</summary>
    private static string Describe(ulong round, ViolationReason reason, string message)
    {
        string detail = (message ?? "").Trim().TrimEnd(':', '.').Trim();
        if (detail is "round failed" || detail.EndsWith("failed at the aggregator", StringComparison.Ordinal)) detail = "";
        string advice = reason == ViolationReason.TooFewParticipants
            ? "too few banks contributed before the stage deadline, so this bank's values were not summed; run the sum again together with the other banks (it joins the next round)"
            : "this bank's values were not summed; run the sum again to take part in the next round";
        return $"round {round} ended without a sum ({reason}){(detail.Length > 0 ? ": " + detail : "")}; {advice}.";
    }

    /// <summary>The spent round.</summary>
    public ulong Round { get; }
    /// <summary>Why it ended.</summary>
    public ViolationReason Reason { get; }
    /// <summary>False when the round never opened (too few banks asked within the join window, SPEC.md 14.5): nothing of this
    /// bank's values was sent; true when it opened and ended without a sum.</summary>
    public bool Opened { get; }
}

/// <summary>The appliance refused a message of this bank (a typed protocol refusal mapped to a gRPC status, SPEC.md 14.5).</summary>
public sealed class MessageRefusedException : FederationException
{
    /// <summary>Creates the exception.</summary>
    public MessageRefusedException(ViolationReason? reason, Grpc.Core.StatusCode status, string detail)
        : base($"the aggregator refused this bank's message ({reason?.ToString() ?? status.ToString()}): {detail}")
    {
        Reason = reason;
        Status = status;
    }

    /// <summary>The protocol reason, when the appliance named one.</summary>
    public ViolationReason? Reason { get; }
    /// <summary>The gRPC status.</summary>
    public Grpc.Core.StatusCode Status { get; }
}

/// <summary>The federated training job could not finish for this bank: the appliance ended the job (a bank dropped out of a
/// sum, a round failed), the appliance runs no training job, this bank's data does not fit the job's schema, or the
/// appliance's broadcasts disagree with this bank's own replay of the sums.</summary>
public sealed class TrainingFailedException : FederationException
{
    /// <summary>Creates the exception.</summary>
    public TrainingFailedException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>This bank's vector has another length than the round it asked to join: the first bank to ask for a round sets its
/// length (SPEC.md 14.5) and every bank of the round passes a vector of that length. Nothing was stored; fix the input and call
/// <see cref="FederationClient.SumAsync"/> again.</summary>
public sealed class VectorLengthMismatchException : FederationException
{
    /// <summary>Creates the exception.</summary>
    public VectorLengthMismatchException(int expectedLength, int actualLength, string detail)
        : base($"{(detail.Length > 0 ? detail : $"vector length mismatch: the round sums vectors of {Values(expectedLength)}, this bank passed {actualLength}")}; give this bank a vector of {Values(expectedLength)}, or agree on the length with the other banks.")
    {
        ExpectedLength = expectedLength;
        ActualLength = actualLength;
    }

    private static string Values(int count) => count == 1 ? "1 value" : $"{count} values";

    /// <summary>The round's vector length.</summary>
    public int ExpectedLength { get; }
    /// <summary>The length this bank passed.</summary>
    public int ActualLength { get; }
}

/// <summary>The appliance could not persist its state (its state file write failed: disk full, a read-only state directory)
/// and accepts nothing until its operator fixes that and restarts it (SPEC.md 14.5). Not retried: nothing this bank does
/// changes it. Everything the appliance acknowledged is in its log, so after the restart this bank can run again.</summary>
public sealed class ApplianceStateFailedException : FederationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="aggregator">The appliance's address, as in bank.json.</param>
    /// <param name="detail">The appliance's status detail; its own statement that it could not persist its state is not repeated,
    /// only what it adds (e.g. its guess of the cause).</param>
    public ApplianceStateFailedException(string aggregator, string detail)
        : base(Compose(aggregator, detail))
    { }

    private const string ApplianceSays = "the appliance could not persist its state";

    /// <summary>One sentence: what happened (with the appliance's own cause, once), what it means, what to do.</summary>
    internal static string Compose(string aggregator, string? detail)
    {
        string cause = "";
        string d = (detail ?? "").Trim();
        if (d.StartsWith(ApplianceSays, StringComparison.OrdinalIgnoreCase))
        {
            // "the appliance could not persist its state (disk full ...?); it accepts nothing ...": keep the parenthesis only.
            string rest = d[ApplianceSays.Length..];
            int end = rest.IndexOf(';');
            cause = (end < 0 ? rest : rest[..end]).Trim();
        }
        else if (d.Length > 0) cause = $"({d.TrimEnd('.')})";
        return $"the aggregator at {aggregator} could not persist its state{(cause.Length > 0 ? " " + cause : "")} and accepts nothing until its operator fixes that and restarts the appliance; ask the operator (its log and /healthz say the same), then run this bank again.";
    }
}

/// <summary>The appliance's session has ended (its key setup was aborted, e.g. at the setup deadline, or a bank ended it, or the
/// appliance saw evidence of an attack, SPEC.md 14.5): it takes no message and opens no round of it any more. Not retried:
/// nothing this bank does changes it; the operator starts a new session (a new appliance state file) and every bank runs again.</summary>
public sealed class SessionEndedException : FederationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="aggregator">The appliance's address, as in bank.json.</param>
    /// <param name="detail">The appliance's status detail: "the session has ended (cause); ..." (its cause is kept, once).</param>
    public SessionEndedException(string aggregator, string detail)
        : base(Compose(aggregator, detail))
    { }

    private const string ApplianceSays = "the session has ended";

    /// <summary>One sentence: what happened (the appliance's cause), what it means, what to do.</summary>
    internal static string Compose(string aggregator, string? detail)
    {
        string d = (detail ?? "").Trim();
        string cause = "";
        if (d.StartsWith(ApplianceSays, StringComparison.OrdinalIgnoreCase))
        {
            // "the session has ended (aborted: ... (deadlines.setup_seconds; it passed at ...)); no round can run in it: ...":
            // keep the whole parenthesis, nested ones and their semicolons included.
            string rest = d[ApplianceSays.Length..].TrimStart();
            int end = rest.IndexOf("; ", StringComparison.Ordinal);
            if (rest.StartsWith('('))
            {
                int depth = 0;
                for (int i = 0; i < rest.Length; i++)
                {
                    depth += rest[i] == '(' ? 1 : rest[i] == ')' ? -1 : 0;
                    if (depth == 0) { end = i + 1; break; }
                }
            }
            cause = (end < 0 ? rest : rest[..end]).Trim();
        }
        else if (d.Length > 0) cause = $"({d.TrimEnd('.')})";
        return $"the aggregator at {aggregator} has ended its session{(cause.Length > 0 ? " " + cause : "")}: this bank cannot join or resume it; ask the operator to start a new session (a new appliance state file, then serve again), then run this bank again with the others.";
    }
}

/// <summary>The appliance runs another federation than bank.json describes: its mode, or its digest of the federation settings
/// (mode, identity keys, aggregator key, the mode's parameters and insecure_test_parameters: the roster digest of SPEC.md 14.5) differs
/// from this bank's, or it knows this bank's certificate under another index. A configuration error found before any protocol
/// message: nothing was sent; copy the federation block of the kit the operator made (<c>aggregator init</c>) into bank.json.</summary>
public sealed class FederationSettingsMismatchException : FederationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What differs and what to do, naming bank.json.</param>
    public FederationSettingsMismatchException(string message) : base(message) { }
}

/// <summary>A value passed to <see cref="FederationClient.SumAsync"/> is not below the session's modulus 2^<see cref="Bits"/> (t = 2^44
/// for the homomorphic parameter sets, 2^k for masking). Thrown before any network call; nothing was sent or stored. Quantize
/// real values with <see cref="FraudFed.Protocol.Quantization.Quantizer"/> (modulus bits = <see cref="Bits"/>), or reduce integers
/// mod 2^<see cref="Bits"/>.</summary>
public sealed class ValueOutOfRangeException : ArgumentOutOfRangeException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="index">Index of the first value out of range.</param>
    /// <param name="value">That value.</param>
    /// <param name="bits">The session's modulus bits (values must be below 2^bits).</param>
    public ValueOutOfRangeException(int index, ulong value, int bits)
        : base("values", $"values[{index}] = {value} is not below 2^{bits} (= {Limit(bits)}), the modulus of this session; quantize real values with FraudFed's Quantizer (FraudFed.Protocol.Quantization.Quantizer with modulusBits {bits}) or reduce integers mod 2^{bits} before the sum.")
    {
        Index = index;
        Value = value;
        Bits = bits;
    }

    /// <summary>Index of the first value out of range.</summary>
    public int Index { get; }
    /// <summary>That value.</summary>
    public ulong Value { get; }
    /// <summary>The session's modulus bits: every value must be below 2^Bits.</summary>
    public int Bits { get; }

    private static string Limit(int bits) => System.Numerics.BigInteger.Pow(2, bits).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
