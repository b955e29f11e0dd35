// A live check that could not go on, in one plain line for the report: the appliance unreachable, a TLS certificate
// refused (naming the side that refused, and the bank), an address that does not speak TLS, a session that is not fresh,
// or the appliance's refusal named by its reason (the SDK's StatusMapping trailer), never an RpcException, its debug
// exception, a .NET type name or a line break.
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
        if (error is RpcException rpc) return Describe(rpc.StatusCode, StatusMapping.ReasonOf(rpc)?.ToString(), rpc.Status.Detail, rpc, target, setup);
        if (error is LiveFlowException { Refusal: { } o }) return Describe(o.Status, o.Reason, o.Detail, null, target, setup);
        return OneLine(error.Message);
    }

    /// <summary>
    /// Why bank <paramref name="bank"/>'s first call (GetSession) failed, naming the side: the runner refused the appliance's
    /// server certificate (<paramref name="runnerRefusedServer"/>: its own validator said no), nothing listens, the address does
    /// not speak TLS (no server certificate was ever shown, <paramref name="serverCertificateSeen"/>: probed for what it speaks
    /// instead), it gave no TLS answer within <paramref name="connectTimeout"/>, or the appliance refused this bank's client
    /// certificate (the server's certificate was seen and accepted, then the handshake was cut; <see cref="TlsFailures.Classify"/>).
    /// </summary>
    public static async Task<string> ConnectionAsync(RpcException error, Uri target, int bank, bool runnerRefusedServer, bool serverCertificateSeen,
        TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        if (runnerRefusedServer)
            return $"the runner refused the server certificate of the appliance at {target}: it is not issued by the CA the runner trusts (--ca, or bank-{bank}'s bank.json `ca`), does not name the host of --target, or has expired; check that --ca is the CA of the kit this appliance was provisioned with.";
        if (Refused(error.Status.DebugException)) return NothingListens(target);
        HandshakeOutcome outcome = TlsFailures.Classify(error, serverCertificateSeen);
        if (outcome == HandshakeOutcome.NoTlsAnswer)
            return $"{target} accepted the connection but gave no TLS answer within {connectTimeout.TotalSeconds:0.###} s (the stage timeout): is this the appliance's gRPC address?";
        if (outcome == HandshakeOutcome.NotTls)
        {
            string? notTls = await NotTlsAsync(target, cancellationToken).ConfigureAwait(false);
            if (notTls is not null)
                return $"{target} does not speak TLS ({notTls}): give --target the appliance's gRPC mutual-TLS address (`listen` in aggregator.json), not its ops port.";
            return $"{target} closed the connection before completing a TLS handshake (is this the appliance's gRPC address? give --target the `listen` address of aggregator.json, not its ops port).";
        }
        if (outcome == HandshakeOutcome.ClientCertificateRefused)
        {
            // The appliance's certificate was shown and accepted, then the connection was cut: the client certificate was refused.
            return $"the appliance refused bank {bank}'s client certificate (not pinned: the appliance's roster does not list it, or it has expired or comes from another CA); check that --banks is the kit this appliance was provisioned with.";
        }
        return Describe(error, target, setup: true);
    }

    private static string NothingListens(Uri target) =>
        $"the appliance at {target} refused the connection (nothing listens there): check --target and that the appliance runs.";

    private static bool Refused(Exception? debug)
    {
        for (Exception? x = debug; x is not null; x = x.InnerException)
            if (x is SocketException { SocketErrorCode: SocketError.ConnectionRefused }) return true;
        return false;
    }

    /// <summary>Sends a plain HTTP request to <paramref name="target"/> and reads the first bytes of the answer: a TLS server
    /// answers with a TLS record (content type 0x15 alert or 0x16 handshake) or closes; null then (or when nothing could be
    /// read in 5 s). Otherwise what it speaks instead, e.g. "it answered plain HTTP".</summary>
    internal static async Task<string?> NotTlsAsync(Uri target, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(target.Host, target.Port, timeout.Token).ConfigureAwait(false);
            NetworkStream stream = client.GetStream();
            await stream.WriteAsync("GET / HTTP/1.1\r\nHost: fraudfed-conformance\r\nConnection: close\r\n\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var head = new byte[5];
            int read = 0;
            while (read < head.Length)
            {
                int n = await stream.ReadAsync(head.AsMemory(read), timeout.Token).ConfigureAwait(false);
                if (n == 0) break;
                read += n;
            }
            if (read == 0 || head[0] is 0x15 or 0x16) return null;
            return read == 5 && head.AsSpan().SequenceEqual("HTTP/"u8) ? "it answered plain HTTP" : "it answered bytes that are not a TLS record";
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { return null; }
    }

    private static string Describe(StatusCode status, string? reason, string detail, RpcException? rpc, Uri target, bool setup)
    {
        if (setup && reason == "WrongRoundOrState")
            return "the target's session is not fresh (it has already run setup): point the appliance's `state` at a new file and restart it.";
        if (rpc is not null && Refused(rpc.Status.DebugException)) return NothingListens(target);
        if (rpc is not null && TlsFailures.IsHandshakeFailure(rpc))
            return $"the TLS handshake with the appliance at {target} failed: the appliance refused the bank's client certificate, or the address does not speak TLS; check that --banks is the kit this appliance was provisioned with and --target its gRPC address.";
        if (status is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            return $"the appliance at {target} is unreachable ({status}{Words(detail)}); check --target and that the appliance runs.";
        if (status == StatusCode.Internal && rpc?.Status.DebugException is HttpRequestException or IOException)
            return $"the connection to the appliance at {target} failed ({status}{Words(detail)}); check --target, --banks and --ca.";
        return reason is null ? $"the appliance answered {status}{(Words(detail) is { Length: > 0 } w ? $" ({w[2..]})" : "")}." : $"the appliance refused with {reason} ({status}{Words(detail)}).";
    }

    /// <summary>The appliance's status detail for a report line: on one line, or empty when it is exception text.</summary>
    public static string PlainDetail(string detail) => Words(detail) is { Length: > 0 } w ? w[2..] : "";

    /// <summary>": detail" when the appliance's detail is plain words; empty when it is a client-side exception text
    /// ("Error starting gRPC call. HttpRequestException: ...") or empty.</summary>
    private static string Words(string detail)
    {
        if (string.IsNullOrWhiteSpace(detail) || detail.Contains("Exception", StringComparison.Ordinal) || detail.StartsWith("Error starting gRPC call", StringComparison.Ordinal))
            return "";
        return ": " + OneLine(detail);
    }

    /// <summary><paramref name="text"/> on one line (line breaks become spaces).</summary>
    public static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
