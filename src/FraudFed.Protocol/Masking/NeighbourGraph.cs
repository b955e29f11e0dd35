// Neighbour graphs for pairwise masking. Complete graph: SecAgg (Bonawitz et al. CCS'17), every pair masks.
// Sparse graph: SecAgg+ (Bell et al. CCS'20 section 3) uses a random k-regular graph; we build a random Harary
// graph H(n, k): permute the banks with a PRG keyed by the session's graph seed, place them on a ring in that
// order, and connect each to its k/2 nearest ring neighbours on either side (k even, so the graph is exactly
// k-regular and connected). A bank's neighbourhood is then a uniform k-subset of the other n - 1 banks, which is
// what the collusion bound of SPEC.md section 11 relies on; so the seed must be fixed after the colluders are
// (commit-then-reveal among the banks, SPEC.md section 8.1), and the degree comes from SecAggPlusParameters.
// Derivation (SPEC.md section 7): PRG seed =
// HKDF-SHA256(ikm = graph seed, salt = empty, info = "FraudFed/v1/secagg/graph" || n u32 BE || k u32 BE);
// Fisher-Yates from the last index down, j uniform in [0, i] by rejection sampling on u32 big-endian words.
using System.Buffers.Binary;
using System.Text;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;

namespace FraudFed.Protocol.Masking;

/// <summary>Who masks with whom. Symmetric, no self loops, neighbour lists sorted ascending.</summary>
public sealed class NeighbourGraph
{
    private static readonly byte[] GraphLabel = Encoding.ASCII.GetBytes("FraudFed/v1/secagg/graph");
    private readonly int[][] _neighbours;
    private readonly HashSet<long> _edges = [];

    private NeighbourGraph(int banks, int degree, bool complete, int[][] neighbours)
    {
        Banks = banks;
        Degree = degree;
        IsComplete = complete;
        _neighbours = neighbours;
        for (int i = 0; i < banks; i++)
            foreach (int j in neighbours[i]) _edges.Add((long)i * banks + j);
    }

    /// <summary>Number of banks n.</summary>
    public int Banks { get; }
    /// <summary>Neighbours per bank.</summary>
    public int Degree { get; }
    /// <summary>True for the SecAgg complete graph.</summary>
    public bool IsComplete { get; }

    /// <summary>The complete graph on <paramref name="banks"/> banks.</summary>
    public static NeighbourGraph Complete(int banks)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        var nb = new int[banks][];
        for (int i = 0; i < banks; i++) nb[i] = Enumerable.Range(0, banks).Where(j => j != i).ToArray();
        return new NeighbourGraph(banks, banks - 1, true, nb);
    }

    /// <summary>A random Harary graph of even degree <paramref name="degree"/> from a 32-byte graph seed (SPEC.md section 7).
    /// A degree of n-1 or more yields the complete graph.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than two banks, or an odd or zero sparse degree.</exception>
    /// <exception cref="ArgumentException">A seed that is not 32 bytes.</exception>
    public static NeighbourGraph Sparse(int banks, int degree, ReadOnlySpan<byte> graphSeed)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        if (graphSeed.Length != 32) throw Error.Argument(nameof(graphSeed), "The graph seed is 32 bytes.");
        if (degree >= banks - 1) return Complete(banks);
        if (degree < 2 || degree % 2 != 0) throw Error.OutOfRange(nameof(degree), "A sparse degree must be even and at least 2.");
        byte[] prgSeed = new byte[32];
        Kdf.DeriveKey(graphSeed, prgSeed, [], Kdf.Info(GraphLabel, (uint)banks, (uint)degree));
        int[] order = Enumerable.Range(0, banks).ToArray();
        using (var prg = new Prg(prgSeed))
        {
            Span<byte> word = stackalloc byte[4];
            for (int i = banks - 1; i > 0; i--)
            {
                uint bound = (uint)i + 1, limit = uint.MaxValue - uint.MaxValue % bound;
                uint r;
                do { prg.Fill(word); r = BinaryPrimitives.ReadUInt32BigEndian(word); } while (r >= limit);
                int j = (int)(r % bound);
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        var sets = new SortedSet<int>[banks];
        for (int i = 0; i < banks; i++) sets[i] = [];
        for (int pos = 0; pos < banks; pos++)
            for (int d = 1; d <= degree / 2; d++)
            {
                int a = order[pos], b = order[(pos + d) % banks];
                sets[a].Add(b);
                sets[b].Add(a);
            }
        return new NeighbourGraph(banks, degree, false, sets.Select(s => s.ToArray()).ToArray());
    }

    /// <summary>Neighbours of bank <paramref name="bank"/>, ascending.</summary>
    public IReadOnlyList<int> Neighbours(int bank) => _neighbours[bank];

    /// <summary>Holders of bank <paramref name="bank"/>'s shares: the bank and its neighbours, ascending.</summary>
    public IEnumerable<int> Holders(int bank) => _neighbours[bank].Append(bank).Order();

    /// <summary>True when i and j mask with each other.</summary>
    public bool AreNeighbours(int i, int j) => _edges.Contains((long)i * Banks + j);
}
