// Test deployments of the per-bank API: N bank parties and one aggregator party, each built from its own secrets and its
// own copy of the public roster (as separate organisations would parse it), joined only by an InMemorySumTransport.
// Seeded randomness (tests only).
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;

namespace FraudFed.Protocol.Tests.Coordination;

/// <summary>A bank transport that lets a set number of sends through, then swallows the rest (a bank that drops).</summary>
internal sealed class DroppingTransport(IBankTransport inner) : IBankTransport
{
    /// <summary>Sends still let through; null: all of them.</summary>
    public int? SendsLeft { get; set; }
    public int Bank => inner.Bank;
    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (SendsLeft is { } left)
        {
            if (left <= 0) return ValueTask.CompletedTask;
            SendsLeft = left - 1;
        }
        return inner.SendAsync(message, cancellationToken);
    }
    /// <summary>Rewrites what this bank's end delivers (a bank transport that marks an outcome it checked itself); null: as received.</summary>
    public Func<BankDelivery, BankDelivery>? Received { get; set; }
    public async ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken)
    {
        BankDelivery d = await inner.ReceiveAsync(cancellationToken);
        return Received?.Invoke(d) ?? d;
    }
}

/// <summary>An aggregator transport that records every message both ways (to check that each is a serialized wrapper).</summary>
internal sealed class RecordingAggregatorTransport(IAggregatorTransport inner) : IAggregatorTransport
{
    public readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> ToBanks = new();
    public readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> FromBanks = new();
    public int Banks => inner.Banks;
    public ValueTask SendAsync(int bank, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        ToBanks.Enqueue(message.ToArray());
        return inner.SendAsync(bank, message, cancellationToken);
    }
    /// <summary>Rewrites the outcome published to a bank (an aggregator that lies about the contributors).</summary>
    public Func<int, SumOutcomeNotice, SumOutcomeNotice>? Tamper { get; set; }
    public ValueTask PublishAsync(int bank, SumOutcomeNotice outcome, CancellationToken cancellationToken) =>
        inner.PublishAsync(bank, Tamper?.Invoke(bank, outcome) ?? outcome, cancellationToken);
    public async ValueTask<AggregatorDelivery> ReceiveAsync(CancellationToken cancellationToken)
    {
        AggregatorDelivery d = await inner.ReceiveAsync(cancellationToken);
        FromBanks.Enqueue(d.Message.ToArray());
        return d;
    }
}

internal sealed class HeDeployment : IDisposable
{
    public readonly HomomorphicBankParty[] Parties;
    public readonly HomomorphicAggregatorParty Aggregator;
    public readonly DroppingTransport[] BankTransports;
    public readonly HomomorphicSecureSumClient[] Clients;
    public readonly HomomorphicCoordinator Coordinator;
    public readonly RecordingAggregatorTransport AggregatorTransport;
    public readonly DecryptionPolicy Policy;

    public HeDeployment(int banks, string label, RlweParameters parameters, TimeSpan deadline)
    {
        int c = DecryptionPolicy.DefaultMaxColluders(banks);
        int t = (banks + c) / 2 + 1;
        DecryptionPolicy PolicyCopy() => new() { Threshold = t, MinContributors = t, MaxColluders = c };
        Policy = PolicyCopy();
        var identities = Enumerable.Range(0, banks).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"{label}/id/{b}"))).ToArray();
        var aggregatorKey = Ed25519SigningKey.Generate(TestRandom.Create($"{label}/aggregator-id"));
        byte[][] publicKeys = identities.Select(k => k.PublicKey.ToArray()).ToArray();
        byte[] aggregatorPublic = aggregatorKey.PublicKey.ToArray();
        // Every party parses its own roster from the same public values.
        HomomorphicRoster Roster() => new(parameters, PolicyCopy(), publicKeys.Select(k => (byte[])k.Clone()).ToArray(), (byte[])aggregatorPublic.Clone(),
            allowInsecureTestParameters: parameters.IsInsecure);
        Parties = Enumerable.Range(0, banks).Select(b => new HomomorphicBankParty(b, Roster(), identities[b], new InMemoryDecryptionLedger(),
            RandomFor($"{label}/bank{b}/")) { Parallel = false }).ToArray();
        Aggregator = new HomomorphicAggregatorParty(Roster(), aggregatorKey, TestRandom.Create($"{label}/aggregator")) { Parallel = false };
        var transport = new InMemorySumTransport(banks);
        BankTransports = Enumerable.Range(0, banks).Select(b => new DroppingTransport(transport.Bank(b))).ToArray();
        Clients = Enumerable.Range(0, banks).Select(b => new HomomorphicSecureSumClient(Parties[b], BankTransports[b])).ToArray();
        AggregatorTransport = new RecordingAggregatorTransport(transport.Aggregator);
        Coordinator = new HomomorphicCoordinator(Aggregator, AggregatorTransport, new CoordinatorOptions { StageDeadline = deadline, SetupDeadline = TimeSpan.FromMinutes(2) });
    }

    /// <summary>Seeded randomness by purpose; a static factory, so the closure holds the prefix only (no deployment object).</summary>
    private static Func<string, System.Security.Cryptography.RandomNumberGenerator> RandomFor(string prefix) => l => TestRandom.Create(prefix + l);

    public async Task SetupAsync()
    {
        Task setup = Coordinator.SetupAsync();
        await Task.WhenAll(Clients.Select(c => c.JoinAsync()).Append(setup));
    }

    public void Dispose()
    {
        foreach (HomomorphicBankParty p in Parties) p.Dispose();
        Aggregator.Dispose();
    }
}

internal sealed class MaskingDeployment : IDisposable
{
    public readonly MaskingBank[] Banks;
    public readonly MaskingAggregator Aggregator;
    public readonly DroppingTransport[] BankTransports;
    public readonly MaskingSecureSumClient[] Clients;
    public readonly MaskingCoordinator Coordinator;
    public readonly RecordingAggregatorTransport AggregatorTransport;
    public readonly MaskingParameters Parameters;
    private readonly Ed25519SigningKey[] _identities;
    private readonly System.Security.Cryptography.RandomNumberGenerator[] _random;

    /// <summary>n banks; the complete graph unless <paramref name="degree"/> is given (SecAgg+); c as given or by default; t as
    /// given, else 2n/3 + 1 on the complete graph and the least t the parameters accept on a sparse one.</summary>
    public MaskingDeployment(int banks, int? threshold, string label, TimeSpan deadline, int modulusBits = 32, int? degree = null, int? maxColluders = null)
    {
        byte[] session = new byte[MaskingParameters.SessionIdSize];
        TestRandom.Create($"{label}/session").GetBytes(session);
        int c = maxColluders ?? MaskingParameters.DefaultMaxColluders(banks);
        int t = threshold ?? (degree is { } k ? SecAggPlusParameters.LeastThreshold(banks, k, c) : 2 * banks / 3 + 1);
        MaskingParameters Params() => new(session, banks, t, modulusBits, degree, null, c);
        Parameters = Params();
        _identities = Enumerable.Range(0, banks).Select(b => Ed25519SigningKey.Generate(TestRandom.Create($"{label}/id/{b}"))).ToArray();
        byte[][] publicKeys = _identities.Select(k => k.PublicKey.ToArray()).ToArray();
        _random = Enumerable.Range(0, banks).Select(b => (System.Security.Cryptography.RandomNumberGenerator)TestRandom.Create($"{label}/bank{b}")).ToArray();
        Banks = Enumerable.Range(0, banks).Select(b => new MaskingBank(Params(), b, _identities[b], publicKeys.Select(k => (byte[])k.Clone()).ToArray(), _random[b])).ToArray();
        Aggregator = new MaskingAggregator(Params(), publicKeys.Select(k => (byte[])k.Clone()).ToArray());
        var transport = new InMemorySumTransport(banks);
        BankTransports = Enumerable.Range(0, banks).Select(b => new DroppingTransport(transport.Bank(b))).ToArray();
        Clients = Enumerable.Range(0, banks).Select(b => new MaskingSecureSumClient(Banks[b], Params(), BankTransports[b])).ToArray();
        AggregatorTransport = new RecordingAggregatorTransport(transport.Aggregator);
        Coordinator = new MaskingCoordinator(Aggregator, AggregatorTransport, new CoordinatorOptions { StageDeadline = deadline, SetupDeadline = TimeSpan.FromMinutes(1) });
    }

    public async Task SetupAsync()
    {
        Task setup = Coordinator.SetupAsync();
        await Task.WhenAll(Clients.Select(c => c.JoinAsync()).Append(setup));
    }

    /// <summary>Bank <paramref name="bank"/>'s Ed25519 identity key (owned by the deployment).</summary>
    public Ed25519SigningKey Identity(int bank) => _identities[bank];

    /// <summary>Every bank's Ed25519 public key, by id (copies).</summary>
    public byte[][] PublicKeys => _identities.Select(k => k.PublicKey.ToArray()).ToArray();

    public void Dispose()
    {
        foreach (MaskingBank b in Banks) b.Dispose();
        foreach (Ed25519SigningKey k in _identities) k.Dispose();
        foreach (var r in _random) r.Dispose();
    }
}
