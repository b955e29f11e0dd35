// Neighbour graphs for pairwise masking. Complete graph: SecAgg (Bonawitz et al. CCS'17), every pair masks.
// Sparse graph: SecAgg+ (Bell et al. CCS'20 section 3) uses a random k-regular graph with k = O(log n); we
// build a random Harary graph H(n, k): permute the banks with a PRG keyed by a public seed, place them on a
// ring in that order, and connect each to its k/2 nearest ring neighbours on either side (k even, so the
// graph is exactly k-regular and connected). Derivation (SPEC.md "Neighbour graph"): PRG seed =
// HKDF-SHA256(ikm = public seed, salt = empty, info = "FraudFed/v1/secagg/graph" || n u32 BE || k u32 BE);
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

    /// <summary>A suggested SecAgg+ degree: the even number nearest above 2*log2(n), capped at n-1.</summary>
    public static int SuggestedDegree(int banks)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        int k = 2 * (int)Math.Ceiling(Math.Log2(banks));
        if (k % 2 == 1) k++;
        return Math.Min(k, banks - 1);
    }

    /// <summary>A random Harary graph of even degree <paramref name="degree"/> from a public 32-byte seed.
    /// A degree of n-1 or more yields the complete graph.</summary>
    public static NeighbourGraph Sparse(int banks, int degree, ReadOnlySpan<byte> publicSeed)
    {
        if (banks < 2) throw Error.OutOfRange(nameof(banks), "At least two banks.");
        if (publicSeed.Length != 32) throw Error.Argument(nameof(publicSeed), "The public graph seed is 32 bytes.");
        if (degree >= banks - 1) return Complete(banks);
        if (degree < 2 || degree % 2 != 0) throw Error.OutOfRange(nameof(degree), "A sparse degree must be even and at least 2.");
        byte[] prgSeed = new byte[32];
        Kdf.DeriveKey(publicSeed, prgSeed, [], Kdf.Info(GraphLabel, (uint)banks, (uint)degree));
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

    /// <summary>True when i and j mask with each other.</summary>
    public bool AreNeighbours(int i, int j) => _edges.Contains((long)i * Banks + j);
}
