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
    public static bool IsHandshakeFailure(RpcException e) => IsRefusal(e) || IsCutHandshake(e);

    /// <summary>The unambiguous shapes: an <see cref="AuthenticationException"/> (an alert, or this side's validator) or
    /// InvalidResponse (TLS 1.3: closed after the client's handshake, before HTTP/2).</summary>
    public static bool IsRefusal(RpcException e) => Any(e, x => x is AuthenticationException || x is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse });

    /// <summary>A handshake cut short without an alert: SecureConnectionError (an EOF or reset inside the handshake) or a
    /// disposed SslStream. A refused certificate does this every time; an appliance stopping in the middle of a handshake
    /// once, so the bank's client retries it once, at once and without a retry report, before calling it a refusal.</summary>
    public static bool IsCutHandshake(RpcException e) =>
        Any(e, x => x is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError }
            || (x is ObjectDisposedException { ObjectName: { } name } && name.Contains("SslStream", StringComparison.Ordinal)));

    /// <summary>
    /// Which side ended a failed connection, given whether this side's certificate callback ever saw the appliance's server
    /// certificate (<paramref name="serverCertificateSeen"/>). A handshake failure after the server's certificate was seen (and
    /// accepted) is the appliance refusing the client certificate; one before any server certificate means the peer never spoke
    /// TLS (it closed the connection before completing a handshake); a connect timeout with no server certificate means the peer
    /// accepted the connection and gave no TLS answer. <see cref="HandshakeOutcome.None"/> for any other failure.
    /// </summary>
    public static HandshakeOutcome Classify(RpcException e, bool serverCertificateSeen)
    {
        if (IsHandshakeFailure(e)) return serverCertificateSeen ? HandshakeOutcome.ClientCertificateRefused : HandshakeOutcome.NotTls;
        if (!serverCertificateSeen && IsConnectTimeout(e)) return HandshakeOutcome.NoTlsAnswer;
        return HandshakeOutcome.None;
    }

    /// <summary>The connection (TCP and TLS handshake) did not complete within the handler's ConnectTimeout.</summary>
    public static bool IsConnectTimeout(RpcException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.StatusCode != StatusCode.OK && Chain(e).Any(x => x is TimeoutException);
    }

    private static IEnumerable<Exception> Chain(RpcException e)
    {
        for (Exception? x = e.Status.DebugException ?? e.InnerException; x is not null; x = x.InnerException) yield return x;
    }

    private static bool Any(RpcException e, Func<Exception, bool> test)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.StatusCode is not (StatusCode.Unavailable or StatusCode.Internal)) return false;
        for (Exception? x = e.Status.DebugException ?? e.InnerException; x is not null; x = x.InnerException)
            if (test(x)) return true;
        return false;
    }
}

/// <summary>How a connection to the appliance failed at the TLS layer (<see cref="TlsFailures.Classify"/>).</summary>
internal enum HandshakeOutcome
{
    /// <summary>Not a TLS-layer failure.</summary>
    None,
    /// <summary>The peer closed the connection before presenting a server certificate: it does not speak TLS.</summary>
    NotTls,
    /// <summary>The peer presented its certificate, it was accepted, then the peer cut the connection: it refused the client certificate.</summary>
    ClientCertificateRefused,
    /// <summary>The peer accepted the TCP connection but sent no TLS answer within the connect timeout.</summary>
    NoTlsAnswer,
}
