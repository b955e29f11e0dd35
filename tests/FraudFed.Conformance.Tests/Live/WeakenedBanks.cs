// Deliberately weakened banks, composed in the test project from the public parts of the honest ones (no switch in a production
// type): each defeats exactly one refusal rule, so the matching live check must fail.
using FraudFed.Conformance.Live.Bank;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;

namespace FraudFed.Conformance.Tests.Live;

/// <summary>A filter in front of a bank's transport: rewrites what the bank receives or sends.</summary>
internal class FilteringTransport(IBankTransport inner) : IBankTransport
{
    public int Bank => inner.Bank;
    protected virtual byte[] Outgoing(byte[] message) => message;
    protected virtual byte[] Incoming(byte[] message) => message;
    public ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) => inner.SendAsync(Outgoing(message.ToArray()), cancellationToken);
    public async ValueTask<BankDelivery> ReceiveAsync(CancellationToken cancellationToken)
    {
        BankDelivery d = await inner.ReceiveAsync(cancellationToken);
        return d.Message is { } m ? d with { Message = Incoming(m.ToArray()) } : d;
    }
}

/// <summary>A ledger that never reports a conflict: the bank answers any second (U, D) for an answered (round, chunk).</summary>
internal sealed class PermissiveLedger : IDecryptionLedger
{
    private readonly InMemoryDecryptionLedger _inner = new();
    public bool TryRecordEncryption(ReadOnlySpan<byte> sessionTag, ulong round, uint firstChunk, uint chunkCount) =>
        _inner.TryRecordEncryption(sessionTag, round, firstChunk, chunkCount);
    public LedgerDecision TryRecordAnswers(ReadOnlySpan<byte> sessionTag, ulong round, IReadOnlyList<(uint Chunk, byte[] Fingerprint)> answers, long budget)
    {
        LedgerDecision d = _inner.TryRecordAnswers(sessionTag, round, answers, budget);
        return d == LedgerDecision.Conflict ? LedgerDecision.Recorded : d;
    }
    public long AnswersRecorded(ReadOnlySpan<byte> sessionTag) => _inner.AnswersRecorded(sessionTag);
}

/// <summary>A homomorphic bank whose every round refusal goes out as a decryption-shares message instead (a bank that never refuses).</summary>
internal sealed class NeverRefusingTransport(IBankTransport inner) : FilteringTransport(inner)
{
    protected override byte[] Outgoing(byte[] message) =>
        HeWire.DecodeToAggregator(message, 5) is HeAbortToAggregator { Round: not 0 } a
            ? HeWire.Encode(new HeDecryptionSharesMessage(a.SessionId, a.Round, [new byte[32]]))
            : message;
}

/// <summary>
/// A homomorphic bank built with its own roster copy whose K_min is 2 (c = 0, same T): it accepts the session (the filter shows
/// it its own roster digest) and then answers sums of fewer contributors than the deployment's K_min.
/// </summary>
internal sealed class OwnRosterDigestTransport(IBankTransport inner, HomomorphicRoster own) : FilteringTransport(inner)
{
    public static HomomorphicRoster LowerKMin(HomomorphicRoster r) =>
        new(r.Parameters, r.Policy with { MinContributors = 2, MaxColluders = 0 }, r.IdentityKeys, r.AggregatorKey.ToArray(),
            allowInsecureTestParameters: r.Parameters.IsInsecure);

    protected override byte[] Incoming(byte[] message) =>
        HeWire.DecodeToBank(message, own.Banks) is HeSessionStartMessage s ? HeWire.Encode(s with { RosterDigest = own.Digest.ToArray() }) : message;
}

/// <summary>A masking bank that answers the acceptable part of a hostile unmask request: the filter cuts the request before its
/// first entry that asks a second kind for a peer or a pairwise-key share of a listed survivor, and the bank answers the rest.</summary>
internal sealed class PartialUnmaskTransport(IBankTransport inner) : FilteringTransport(inner)
{
    protected override byte[] Incoming(byte[] message)
    {
        if (MaskingWire.DecodeToBank(message) is not UnmaskRequest r) return message;
        var seen = new HashSet<int>();
        ShareRequest[] kept = [.. r.Requests.TakeWhile(q => seen.Add(q.Peer) && (q.Kind == ShareKind.SelfMask) == r.Survivors.Contains(q.Peer))];
        return MaskingWire.Encode(r with { Requests = kept });
    }
}

/// <summary>A masking bank that skips the survivor-list consistency check: whatever list an unmask request carries, the
/// filter replaces its signatures by valid ones over that list (made with every bank's key, which only a test double holds),
/// so the bank's own check never sees the split.</summary>
internal sealed class ResigningTransport(IBankTransport inner, BankContext context) : FilteringTransport(inner)
{
    protected override byte[] Incoming(byte[] message)
    {
        if (MaskingWire.DecodeToBank(message) is not UnmaskRequest r) return message;
        byte[] signed = new SurvivorList(r.SessionId, r.Round, r.Survivors).SignedBytes();
        SignerSignature[] sigs = [.. r.Survivors.Select(s => new SignerSignature(s, context.Identities[s].Sign(signed)))];
        return MaskingWire.Encode(r with { Signatures = sigs });
    }
}

/// <summary>The weakened deployments, each with the checks it must make fail.</summary>
internal static class WeakenedBanks
{
    public static IEnumerable<(string Name, BankHooks Hooks, string[] Failing)> All =>
    [
        ("permissive-ledger", new BankHooks { HeLedger = _ => new PermissiveLedger() }, [BankRefusalChecks.HeSecondActiveSet]),
        ("lower-k-min", new BankHooks
        {
            HeRoster = (_, r) => OwnRosterDigestTransport.LowerKMin(r),
            HeTransport = (c, t) => new OwnRosterDigestTransport(t, c.HeRoster!),
        }, [BankRefusalChecks.HeKMin]),
        ("never-refusing-he", new BankHooks { HeTransport = (_, t) => new NeverRefusingTransport(t) },
            [BankRefusalChecks.HeKMin, BankRefusalChecks.HeSecondActiveSet, BankRefusalChecks.HeSingleBank, BankRefusalChecks.HePublicKeyVariant]),
        ("partial-unmask", new BankHooks { MaskingTransport = (_, t) => new PartialUnmaskTransport(t) }, [BankRefusalChecks.MaskingBothShares]),
        ("resigning-survivor-lists", new BankHooks { MaskingTransport = (c, t) => new ResigningTransport(t, c) }, [BankRefusalChecks.MaskingSurvivorLists]),
    ];
}
