// How a failed TLS handshake with the appliance surfaces in a gRPC call (SPEC.md 14.5): shared by the bank's client (a
// refused certificate is not retried) and the live conformance runner (which names the side that refused).
using System.Security.Authentication;
using Grpc.Core;

namespace FraudFed.Sdk;

/// <summary>Classifies transport failures of calls to the appliance.</summary>
internal static class TlsFailures
{
    /// <summary>
    /// True when <paramref name="e"/> failed in the TLS handshake (or right after it, before HTTP/2 started): the peer refused a
    /// certificate or does not speak TLS. The handshake failure arrives as Unavailable or Internal whose debug exception chain
    /// holds an <see cref="AuthenticationException"/> (TLS 1.2 alert, or this side's validator), an HttpRequestException with
    /// <see cref="HttpRequestError.SecureConnectionError"/> (the TLS connection could not be established: an EOF or reset
    /// inside the handshake) or <see cref="HttpRequestError.InvalidResponse"/> (TLS 1.3: the appliance closed the connection
    /// after the client's handshake, before HTTP/2), or a disposed SslStream (the same close racing the first write). A
    /// restarting or overloaded appliance refuses the connection or times out instead, and stays retryable.
    /// </summary>
    public static bool IsHandshakeFailure(RpcException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.StatusCode is not (StatusCode.Unavailable or StatusCode.Internal)) return false;
        for (Exception? x = e.Status.DebugException ?? e.InnerException; x is not null; x = x.InnerException)
        {
            if (x is AuthenticationException) return true;
            if (x is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError or HttpRequestError.InvalidResponse }) return true;
            if (x is ObjectDisposedException { ObjectName: { } name } && name.Contains("SslStream", StringComparison.Ordinal)) return true;
        }
        return false;
    }
}
