// Public parameters of one masking session (SPEC.md "Masking protocol"): session id, roster size n,
// per-neighbourhood Shamir threshold t (the holders of bank i's shares are i and its neighbours),
// modulus bits k, the neighbour graph and the minimum number of survivors at every stage.
// Security note (Bonawitz et al. CCS'17 section 6, active model): against an aggregator colluding with c
// banks, survivor-list consistency needs 2*MinimumSurvivors > n + c, e.g. t > 2n/3 for c < n/3.
using FraudFed.Cryptography;

namespace FraudFed.Protocol.Masking;

/// <summary>Parameters every bank and the aggregator agree on before a session starts.</summary>
public sealed class MaskingParameters
{
    /// <summary>Session id length in bytes.</summary>
    public const int SessionIdSize = 16;

    /// <summary>Creates and validates a parameter set.</summary>
    public MaskingParameters(ReadOnlySpan<byte> sessionId, int threshold, int modulusBits, NeighbourGraph graph, int? minimumSurvivors = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (sessionId.Length != SessionIdSize) throw Error.Argument(nameof(sessionId), $"A session id is {SessionIdSize} bytes.");
        if (modulusBits is < 1 or > 64) throw Error.OutOfRange(nameof(modulusBits), "k must be in 1..64.");
        int holders = graph.Degree + 1;
        if (threshold < 2 || threshold > holders) throw Error.OutOfRange(nameof(threshold), $"The threshold must be in 2..{holders} (degree + 1).");
        int min = minimumSurvivors ?? (graph.IsComplete ? threshold : Math.Max(threshold, graph.Banks / 2 + 1));
        if (min < threshold || min > graph.Banks) throw Error.OutOfRange(nameof(minimumSurvivors), "The minimum number of survivors must be in t..n.");
        SessionId = sessionId.ToArray();
        Threshold = threshold;
        ModulusBits = modulusBits;
        Graph = graph;
        MinimumSurvivors = min;
    }

    /// <summary>16-byte session id; the HKDF salt of every derivation and part of every message header.</summary>
    public byte[] SessionId { get; }
    /// <summary>n.</summary>
    public int Banks => Graph.Banks;
    /// <summary>t: shares of each bank's round secrets needed to reconstruct them.</summary>
    public int Threshold { get; }
    /// <summary>k: sums are mod 2^k.</summary>
    public int ModulusBits { get; }
    /// <summary>The neighbour graph.</summary>
    public NeighbourGraph Graph { get; }
    /// <summary>Fewest banks allowed at any stage, and signatures needed in the consistency check.</summary>
    public int MinimumSurvivors { get; }

    /// <summary>Holders of bank <paramref name="bank"/>'s shares: the bank and its neighbours, ascending.</summary>
    public IEnumerable<int> Holders(int bank) => Graph.Neighbours(bank).Append(bank).Order();
}
