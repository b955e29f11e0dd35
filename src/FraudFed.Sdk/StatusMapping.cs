// The one map from a protocol refusal (ViolationReason) to a gRPC status code (SPEC.md 14.5), used by the appliance to
// answer and by the SDK to read the answer back. The reason itself travels in the trailer `fraudfed-violation` as the
// reason's name (the ViolationReasonCode of common.proto without its prefix, e.g. Malformed).
using FraudFed.Cryptography;
using Grpc.Core;

namespace FraudFed.Sdk;

/// <summary>ViolationReason to gRPC StatusCode, and the trailer that names the reason.</summary>
public static class StatusMapping
{
    /// <summary>A transport failure in a few words, without .NET type names: "connection refused: nothing listens on that port",
    /// "the host name does not resolve", "no route to the host", "no answer in time", "the connection was closed", else
    /// "status Unavailable".</summary>
    /// <param name="status">The call's status code.</param>
    /// <param name="detail">The status detail (the transport's own text, read here only to tell the cases apart).</param>
    public static string TransportReason(Grpc.Core.StatusCode status, string? detail)
    {
        detail ??= "";
        if (detail.Contains("Connection refused", StringComparison.OrdinalIgnoreCase)) return "connection refused: nothing listens on that port";
        if (detail.Contains("Name or service not known", StringComparison.OrdinalIgnoreCase) || detail.Contains("No such host", StringComparison.OrdinalIgnoreCase)
            || detail.Contains("nodename nor servname", StringComparison.OrdinalIgnoreCase))
            return "the host name does not resolve";
        if (detail.Contains("No route to host", StringComparison.OrdinalIgnoreCase) || detail.Contains("Network is unreachable", StringComparison.OrdinalIgnoreCase))
            return "no route to the host";
        if (status == Grpc.Core.StatusCode.DeadlineExceeded || detail.Contains("timed out", StringComparison.OrdinalIgnoreCase))
            return "no answer in time";
        if (detail.Contains("reset", StringComparison.OrdinalIgnoreCase) || detail.Contains("closed", StringComparison.OrdinalIgnoreCase)
            || detail.Contains("ended prematurely", StringComparison.OrdinalIgnoreCase))
            return "the connection was closed";
        return $"status {status}";
    }


    /// <summary>Trailer key carrying the refusal reason (the reason's name, e.g. <c>Malformed</c>: ViolationReasonCode without its prefix).</summary>
    public const string ReasonTrailer = "fraudfed-violation";

    /// <summary>Trailer key carrying the pending round's vector length (decimal) when a round request asked for another length.</summary>
    public const string RoundLengthTrailer = "fraudfed-round-length";

    /// <summary>Trailer key set (value <see cref="StateFailedValue"/>) on the FAILED_PRECONDITION answer of an appliance whose state
    /// file write failed (disk full, read-only state directory): it accepts nothing until its operator fixes that and restarts
    /// it, so a bank stops at once with the message instead of retrying (SPEC.md 14.5).</summary>
    public const string ApplianceStateTrailer = "fraudfed-appliance-state";

    /// <summary>Value of <see cref="ApplianceStateTrailer"/>: the appliance could not persist its state.</summary>
    public const string StateFailedValue = "persist-failed";

    /// <summary>Value of <see cref="ApplianceStateTrailer"/> on the FAILED_PRECONDITION answer (reason <c>WrongRoundOrState</c>) of an
    /// appliance whose session has ended (SPEC.md 14.5): the detail names the cause, and a retry changes nothing.</summary>
    public const string SessionEndedValue = "session-ended";

    /// <summary>True when <paramref name="error"/> is the answer of an appliance whose session has ended.</summary>
    public static bool IsSessionEnded(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.StatusCode == StatusCode.FailedPrecondition && error.Trailers.GetValue(ApplianceStateTrailer) == SessionEndedValue;
    }

    /// <summary>True when <paramref name="error"/> is the answer of an appliance that could not persist its state.</summary>
    public static bool IsApplianceStateFailure(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.StatusCode == StatusCode.FailedPrecondition && error.Trailers.GetValue(ApplianceStateTrailer) == StateFailedValue;
    }

    /// <summary>The gRPC status for a refusal: the client's bytes are bad (INVALID_ARGUMENT), it is not allowed (PERMISSION_DENIED),
    /// not now (FAILED_PRECONDITION), already done (ALREADY_EXISTS), out of budget (RESOURCE_EXHAUSTED), or the round or session
    /// ended (ABORTED).</summary>
    public static StatusCode ToStatus(ViolationReason reason) => reason switch
    {
        ViolationReason.Malformed => StatusCode.InvalidArgument,
        ViolationReason.Oversized => StatusCode.InvalidArgument,
        ViolationReason.OutOfRange => StatusCode.InvalidArgument,
        ViolationReason.AuthenticationFailed => StatusCode.PermissionDenied,
        ViolationReason.UnknownSender => StatusCode.PermissionDenied,
        ViolationReason.WrongRoundOrState => StatusCode.FailedPrecondition,
        ViolationReason.Duplicate => StatusCode.AlreadyExists,
        ViolationReason.TooFewParticipants => StatusCode.Aborted,
        ViolationReason.Refused => StatusCode.FailedPrecondition,
        ViolationReason.BudgetExhausted => StatusCode.ResourceExhausted,
        ViolationReason.Inconsistent => StatusCode.Aborted,
        ViolationReason.InsecureParameters => StatusCode.FailedPrecondition,
        _ => StatusCode.Internal,
    };

    /// <summary>The trailer value of <paramref name="reason"/>.</summary>
    public static string TrailerValue(ViolationReason reason) => FraudFed.Protocol.WireReasons.Name(reason);

    /// <summary>The reason named in an RpcException's trailers, or null.</summary>
    public static ViolationReason? ReasonOf(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        string? value = error.Trailers.GetValue(ReasonTrailer);
        return FraudFed.Protocol.WireReasons.TryParseName(value, out ViolationReason reason) ? reason : null;
    }

    /// <summary>The round's vector length named in an RpcException's trailers (a length mismatch), or null.</summary>
    public static int? RoundLengthOf(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        string? value = error.Trailers.GetValue(RoundLengthTrailer);
        return int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;
    }
}
