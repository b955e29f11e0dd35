// A Submit whose gRPC frame is above max_message_bytes + 1 KiB is refused by the transport with RESOURCE_EXHAUSTED, never
// UNKNOWN (SPEC.md 14.5), however much of its body reached the appliance before the service read it. The request is sent
// by hand over real loopback mutual TLS (HTTP/2) with its Content-Length: a client that declares the length is the case
// where the whole body is known to the server before the gRPC reader looks at the 5-byte length prefix.
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class OversizedSubmitTests
{
    private const int Limit = 1 << 20;

    [TestCase(Limit + (1 << 20))]
    [TestCase(Limit + (8 << 20))]
    public async Task OversizedSubmit_WithItsLengthDeclared_IsResourceExhausted_NothingIsStored_AndTheApplianceKeepsServing(int messageBytes)
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3, maxMessageBytes: Limit);
        await kit.StartAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int events = kit.Host!.Coordinator.EventCount;
        LoadedBankConfig bank = kit.LoadBank(1);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                ClientCertificates = [bank.Certificate],
                RemoteCertificateValidationCallback = TlsFiles.ServerValidator(bank.Ca),
            },
        });

        byte[] submit = new SubmitRequest { Message = ByteString.CopyFrom(new byte[messageBytes]) }.ToByteArray();
        byte[] frame = new byte[5 + submit.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)submit.Length);
        submit.CopyTo(frame, 5);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(kit.Address, "/fraudfed.v1.Federation/Submit"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        Assert.That(request.Content.Headers.ContentLength, Is.EqualTo(frame.Length), "the request declares its length");

        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bounded.Token);
        await response.Content.ReadAsByteArrayAsync(bounded.Token);
        // A refusal before any reply is a trailers-only response (grpc-status in the headers); otherwise it is in the trailers.
        string? status = response.Headers.TryGetValues("grpc-status", out var h) ? h.Single()
            : response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.Single() : null;
        string? message = response.Headers.TryGetValues("grpc-message", out var m) ? m.Single()
            : response.TrailingHeaders.TryGetValues("grpc-message", out var tm) ? tm.Single() : null;
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(status, Is.EqualTo(((int)Grpc.Core.StatusCode.ResourceExhausted).ToString()), $"grpc-status {status}: {message}");
        Assert.That(kit.Host.Coordinator.EventCount, Is.EqualTo(events), "a refused message is not stored");
        // The operator sees it: one reject of its own reason (not Oversized, which is a wrapper within the transport's cap).
        using var plain = new HttpClient();
        Uri ops = kit.Host.Addresses.First(a => a.Scheme == "http");
        string scrape = await ApplianceOutageTests.SettledScrapeAsync(plain, ops,
            s => ApplianceOutageTests.Rejects(s, FraudFed.Aggregator.Hosting.AggregatorMetrics.TransportOversizedReason) >= 1);
        Assert.That(ApplianceOutageTests.Rejects(scrape, FraudFed.Aggregator.Hosting.AggregatorMetrics.TransportOversizedReason), Is.EqualTo(1), scrape);
        Assert.That(ApplianceOutageTests.Rejects(scrape, "Oversized"), Is.Zero, scrape);

        RawBank raw = kit.Raw(1);
        SessionInfo info = await raw.Grpc.GetSessionAsync(new GetSessionRequest(), cancellationToken: bounded.Token);
        Assert.That(info.Bank, Is.EqualTo(1u), "the appliance still answers the same bank");
    }
}
