// A live check that could not go on, in one plain line for the report: the appliance unreachable, a TLS certificate
// refused, a session that is not fresh, or the appliance's refusal named by its reason (the SDK's StatusMapping trailer),
// never an RpcException, its debug exception or a .NET type name.
using System.Net.Sockets;
using FraudFed.Sdk;
using Grpc.Core;

namespace FraudFed.Conformance.Live;

/// <summary>Plain words for why a live check failed with an exception.</summary>
internal static class LiveFailure
{
    /// <summary>One line for <paramref name="error"/>; <paramref name="setup"/> when it stopped the session setup (where
    /// WrongRoundOrState means the target's session already ran setup).</summary>
    public static string Describe(Exception error, Uri target, bool setup)
    {
        if (error is RpcException rpc) return Describe(rpc.StatusCode, StatusMapping.ReasonOf(rpc)?.ToString(), rpc.Status.Detail, rpc.Status.DebugException, target, setup);
        if (error is LiveFlowException { Refusal: { } o }) return Describe(o.Status, o.Reason, o.Detail, null, target, setup);
        return error.Message;
    }

    private static string Describe(StatusCode status, string? reason, string detail, Exception? debug, Uri target, bool setup)
    {
        if (setup && reason == "WrongRoundOrState")
            return "the target's session is not fresh (it has already run setup): point the appliance's `state` at a new file and restart it.";
        for (Exception? x = debug; x is not null; x = x.InnerException)
        {
            if (x is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
                return $"the appliance at {target} refused the connection (nothing listens there): check --target and that the appliance runs.";
            if (x is System.Security.Authentication.AuthenticationException || x is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse })
                return $"the TLS handshake with the appliance at {target} failed: the appliance refused the banks' client certificates or the runner refused its server certificate; check that --banks is the kit this appliance was provisioned with and --ca its CA.";
        }
        if (status is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            return $"the appliance at {target} is unreachable ({status}: {detail}); check --target and that the appliance runs.";
        if (status == StatusCode.Internal && debug is HttpRequestException or IOException)
            return $"the connection to the appliance at {target} failed ({detail}); check --target, --banks and --ca.";
        return reason is null ? $"the appliance answered {status} ({detail})." : $"the appliance refused with {reason} ({status}: {detail}).";
    }
}
