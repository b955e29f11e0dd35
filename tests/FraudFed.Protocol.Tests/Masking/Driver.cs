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

    /// <summary>n banks, threshold t; the complete graph unless <paramref name="degree"/> is given; c and M as given or by default.</summary>
    public Driver(int n, int t, string label, int? degree = null, int? maxColluders = null, int? minimumSurvivors = null)
        : this(new MaskingParameters(new byte[16], n, t, Bits, degree, minimumSurvivors, maxColluders), label)
    {
    }

    public Driver(MaskingParameters parameters, string label, int length = Length)
    {
        Parameters = parameters;
        H = new MaskingHarness(Parameters, TestRandom.Create(label));
        Inputs = SecureSumTests.Inputs(parameters.Banks, length, Bits, label.Length);
        VectorLength = length;
    }

    public int VectorLength { get; }
    private bool _ready;

    public MaskingParameters Parameters { get; }
    public MaskingHarness H { get; }
    public ulong[][] Inputs { get; }
    public MaskingAggregator Agg => H.Aggregator;
    public int N => Parameters.Banks;

    public byte[] Roster { get; private set; } = [];
    public Dictionary<int, byte[]> Reveals { get; } = [];
    public byte[] SeedRoster { get; private set; } = [];
    public Dictionary<int, byte[]> ShareKeys { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Deliveries { get; private set; } = new Dictionary<int, byte[]>();
    public Dictionary<int, byte[]> Masked { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Lists { get; private set; } = new Dictionary<int, byte[]>();
    public Dictionary<int, byte[]> Signatures { get; } = [];
    public IReadOnlyDictionary<int, byte[]> Requests { get; private set; } = new Dictionary<int, byte[]>();

    /// <summary>AdvertiseKeys sent and closed, the KeyRoster received: every bank's GraphSeedReveal produced, not yet sent.</summary>
    public Driver UpToReveals()
    {
        foreach (MaskingBank b in H.Banks) Agg.Receive(b.AdvertiseKeys());
        Roster = Agg.CloseAdvertiseKeys();
        foreach (MaskingBank b in H.Banks) Reveals[b.Id] = b.ReceiveRoster(Roster);
        return this;
    }

    /// <summary>Reveals sent and closed: the GraphSeedRoster produced, not yet delivered.</summary>
    public Driver UpToSeedRoster()
    {
        UpToReveals();
        foreach (byte[] r in Reveals.Values) Agg.Receive(r);
        SeedRoster = Agg.CloseGraphSeed();
        return this;
    }

    /// <summary>Setup done (graph fixed at every party); no round begun.</summary>
    public Driver UpToReady()
    {
        if (_ready) return this;
        _ready = true;
        UpToSeedRoster();
        foreach (MaskingBank b in H.Banks) b.ReceiveGraphSeed(SeedRoster);
        return this;
    }

    /// <summary>Setup done; banks' ShareKeys produced but not yet delivered to the aggregator.</summary>
    public Driver UpToShareKeys(params int[] skip)
    {
        UpToReady();
        Agg.BeginRound(Round, VectorLength);
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
