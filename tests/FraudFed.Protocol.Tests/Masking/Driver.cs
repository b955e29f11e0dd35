using FraudFed.Protocol.Harness;
using FraudFed.Protocol.Masking;
using FraudFed.Testing;

namespace FraudFed.Protocol.Tests.Masking;

/// <summary>Drives a harness stage by stage so tests can intercept and forge messages.</summary>
internal sealed class Driver : IDisposable
{
    public const int Bits = 24;
    public const int Length = 16;
    public const uint Round = 1;

    public Driver(int n, int t, string label, NeighbourGraph? graph = null)
    {
        Parameters = new MaskingParameters(new byte[16], t, Bits, graph ?? NeighbourGraph.Complete(n));
        H = new MaskingHarness(Parameters, TestRandom.Create(label));
        Inputs = SecureSumTests.Inputs(n, Length, Bits, label.Length);
    }

    public MaskingParameters Parameters { get; }
    public MaskingHarness H { get; }
    public ulong[][] Inputs { get; }
    public MaskingAggregator Agg => H.Aggregator;
    public int N => Parameters.Banks;

    public byte[] Roster { get; private set; } = [];
    public Dictionary<int, byte[]> ShareKeys { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Deliveries { get; private set; } = new Dictionary<int, byte[]>();
    public Dictionary<int, byte[]> Masked { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Lists { get; private set; } = new Dictionary<int, byte[]>();
    public Dictionary<int, byte[]> Signatures { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Requests { get; private set; } = new Dictionary<int, byte[]>();

    /// <summary>Advertise and roster; banks' ShareKeys produced but not yet delivered to the aggregator.</summary>
    public Driver UpToShareKeys(params int[] skip)
    {
        foreach (MaskingBank b in H.Banks) Agg.Receive(b.AdvertiseKeys());
        Roster = Agg.CloseAdvertiseKeys();
        foreach (MaskingBank b in H.Banks) b.ReceiveRoster(Roster);
        Agg.BeginRound(Round, Length);
        foreach (MaskingBank b in H.Banks) if (!skip.Contains(b.Id)) ShareKeys[b.Id] = b.BeginRound(Round);
        return this;
    }

    /// <summary>ShareKeys delivered and closed: deliveries ready for the banks.</summary>
    public Driver UpToDeliveries(params int[] skip)
    {
        UpToShareKeys(skip);
        foreach (byte[] m in ShareKeys.Values) Agg.Receive(m);
        Deliveries = Agg.CloseShareKeys();
        return this;
    }

    /// <summary>Masked inputs produced (banks in <paramref name="dropAfterShareKeys"/> send none) but not yet sent.</summary>
    public Driver UpToMaskedInputs(params int[] dropAfterShareKeys)
    {
        UpToDeliveries();
        foreach (var (id, d) in Deliveries) if (!dropAfterShareKeys.Contains(id)) Masked[id] = H.Banks[id].ReceiveShares(d, Inputs[id]);
        return this;
    }

    /// <summary>Masked inputs sent and closed: survivor lists ready.</summary>
    public Driver UpToLists(params int[] dropAfterShareKeys)
    {
        UpToMaskedInputs(dropAfterShareKeys);
        foreach (byte[] m in Masked.Values) Agg.Receive(m);
        Lists = Agg.CloseMaskedInput();
        return this;
    }

    /// <summary>Consistency signatures sent and closed: unmask requests ready.</summary>
    public Driver UpToRequests(params int[] dropAfterShareKeys)
    {
        UpToLists(dropAfterShareKeys);
        foreach (var (id, l) in Lists) Signatures[id] = H.Banks[id].ReceiveSurvivors(l);
        foreach (byte[] s in Signatures.Values) Agg.Receive(s);
        Requests = Agg.CloseConsistencyCheck();
        return this;
    }

    public void Dispose() => H.Dispose();
}
