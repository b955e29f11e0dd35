// Homomorphic-mode hardening of the appliance over real loopback mutual TLS (SPEC.md 14.5), INSECURE small parameters:
// a roster bank that signs its upload manifest with another bank's protocol key, or names another bank as its sender, is
// refused before anything is stored,
// and a bank that misses a setup stage's deadline ends the setup with a reason the banks and the operator see.
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Sdk;
using FraudFed.Sdk.Wire;
using FraudFed.Testing;
using Grpc.Core;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
[NonParallelizable]
public sealed class HomomorphicHardeningTests
{
    private const int Banks = 5;
    private const int Length = 300;
    private const ulong T = 1UL << 44;

    private static CancellationToken Bounded(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Test]
    public async Task RosterBankSigningItsUploadWithAnotherBanksProtocolKey_IsRefused_NothingIsStored_AndTheRoundGoesOnWithoutIt()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he", stageSeconds: 2);
        await kit.StartAsync();
        CancellationToken ct = Bounded(120);
        int[] honest = [0, 2, 3, 4];
        FederationClient[] clients = honest.Select(kit.Client).ToArray();
        RawBank bank1 = kit.Raw(1);
        await Task.WhenAll(clients.Select(c => c.ConnectAsync(ct)).Append(bank1.SetupAsync(ct)));

        Random rng = TestRandom.Plain(110);
        ulong[][] vectors = Enumerable.Range(0, Banks).Select(_ => Enumerable.Range(0, Length).Select(_ => (ulong)rng.NextInt64((long)T)).ToArray()).ToArray();
        Task<FederatedSum>[] sums = clients.Select((c, i) => c.SumAsync(vectors[honest[i]], ct)).ToArray();
        RoundRequestReply joined = await bank1.Grpc.RequestRoundAsync(new RoundRequest { Length = Length }, cancellationToken: ct);
        bank1.He!.Submit(joined.Round, vectors[1]);
        HeUploadMessage? genuine = null;
        while (genuine is null)
        {
            MailboxItem item = await bank1.NextAsync(ct);
            if (item.ItemCase != MailboxItem.ItemOneofCase.Message) continue;
            foreach (byte[] reply in bank1.He.Receive(item.Message.Span))
                if (HeWire.DecodeToAggregator(reply, Banks) is HeUploadMessage u) genuine = u;
        }
        // Bank 1 (its own certificate, its own index in the body) signs the manifest of its ciphertexts with bank 0's key.
        using var stolen = Ed25519SigningKey.Import(kit.LoadBank(0).ProtocolSeed);
        byte[] forgedManifest = UploadManifest.Sign(stolen, bank1.He.SessionTag, genuine.Round, RlweObjectKind.CompactCiphertext, 1, genuine.Chunks.Select(c => c.ToArray()).ToArray(), parallel: false);
        byte[] forged = HeWire.Encode(genuine with { Manifest = forgedManifest });
        int before = kit.Host!.Coordinator.EventCountOf(1);
        RpcException e = Assert.ThrowsAsync<RpcException>(() => bank1.SubmitAsync(forged))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(StatusMapping.ReasonOf(e), Is.EqualTo(ViolationReason.AuthenticationFailed));
        Assert.That(kit.Host.Coordinator.EventCountOf(1), Is.EqualTo(before), "a refused upload is not stored");

        // Bank 1 signs, with its own key, a manifest that names bank 0 as its sender: UnknownSender, as a masking body naming
        // another bank is (SPEC.md 14.1), checked before the signature.
        using var own = Ed25519SigningKey.Import(kit.LoadBank(1).ProtocolSeed);
        byte[] namingBank0 = UploadManifest.Sign(own, bank1.He.SessionTag, genuine.Round, RlweObjectKind.CompactCiphertext, 0, genuine.Chunks.Select(c => c.ToArray()).ToArray(), parallel: false);
        RpcException other = Assert.ThrowsAsync<RpcException>(() => bank1.SubmitAsync(HeWire.Encode(genuine with { Manifest = namingBank0 })))!;
        Assert.That(other.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(StatusMapping.ReasonOf(other), Is.EqualTo(ViolationReason.UnknownSender));
        Assert.That(other.Status.Detail, Does.Contain("names bank 0 as its sender"));
        Assert.That(kit.Host.Coordinator.EventCountOf(1), Is.EqualTo(before), "a refused upload is not stored");

        // Bank 1 sends nothing else: the stage deadline drops it and the sum is exactly the four honest banks'.
        FederatedSum[] results = await Task.WhenAll(sums);
        var expected = new ulong[Length];
        foreach (int b in honest)
            for (int i = 0; i < Length; i++) expected[i] = (expected[i] + vectors[b][i]) % T;
        foreach (FederatedSum r in results)
        {
            Assert.That(r.Sum, Is.EqualTo(expected));
            Assert.That(r.Contributors, Is.EqualTo(honest));
        }
    }

    [Test]
    public async Task BankMissingTheSetupDeadline_EndsTheSetup_TheBanksAreToldWhy_AndTheOperatorSeesItInMetricsAndHealth()
    {
        await using ApplianceKit kit = ApplianceKit.Create("he");
        // The first setup stage's clock starts with the first bank's message: 8 s is ample for four loopback banks and keeps the test short.
        kit.EditConfig(c => c with { Deadlines = c.Deadlines with { SetupSeconds = 8 } });
        await kit.StartAsync();
        CancellationToken ct = Bounded(60);
        FederationClient[] clients = Enumerable.Range(0, Banks - 1).Select(kit.Client).ToArray();   // bank 4 never connects
        Task[] connects = clients.Select(c => c.ConnectAsync(ct)).ToArray();
        foreach (Task t in connects)
        {
            // Told by the Abort(round 0) in its mailbox, or by the refusal of a setup message sent after it: the reason is the same.
            Exception e = Assert.CatchAsync(async () => await t)!;
            Assert.That(e, Is.InstanceOf<FederationException>());
            Assert.That(e.Message, Does.Contain("bank(s) 4 missed the CrsCommit setup deadline"));
        }
        Assert.That(kit.Host!.Coordinator.Stage, Does.StartWith("Aborted(").And.Contain("bank(s) 4 missed the"));
        Uri ops = kit.Host.Addresses.First(a => a.Scheme == "http");
        using var http = new HttpClient();
        string metrics = await http.GetStringAsync(new Uri(ops, "/metrics"), ct);
        Assert.That(metrics, Does.Contain("fraudfed_rounds_total{").And.Contain("outcome=\"setup_deadline\""));
        // The appliance keeps answering, but the ended session is what an operator's health probe must see.
        using HttpResponseMessage health = await http.GetAsync(new Uri(ops, "/healthz"), ct);
        Assert.That(health.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.ServiceUnavailable));
        // ... and the probe's body says why and what the operator does.
        Assert.That(await health.Content.ReadAsStringAsync(ct), Does.Match(@"^Unhealthy: the session has ended \(aborted: bank\(s\) 4 missed the CrsCommit setup deadline \(deadlines\.setup_seconds; it passed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)\); "
            + @"no round can run in it: the operator starts a new session \(state in aggregator\.json pointed at a new file, then aggregator serve again\) and every bank runs again$"));
        Assert.That(kit.Host.Coordinator.SessionEnded, Is.True);
    }
}
