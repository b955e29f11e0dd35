// The split-survivor attack (issue 13, SPEC.md section 11), played by a malicious aggregator against honest banks that
// run the real MaskingBank code. Every bank shares keys and sends its masked input; then the aggregator shows two
// survivor lists: "everyone" to group A (which contains the victim v and so reveals shares of v's self-mask seed b_v)
// and "everyone but v" to group B (which takes v for a bank that dropped after ShareKeys and so reveals shares of v's
// escrow key kappa_v). Colluding banks sign both lists and hand over both of their shares of v. If both secrets reach
// t shares, the aggregator strips every mask from v's masked input:
//   x_v = y_v - PRG(b_v) - sum_{j in N(v)} (+PRG(s_vj) if j > v, -PRG(s_vj) if j < v),  s_vj = escrow_vj XOR pad(kappa_v).
// Each honest bank checks that its list carries M signatures that verify over the very list it signed, so the split
// needs 2(M - c) honest signers in all: it exists exactly when 2M <= n + c.
using System.Numerics;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Sharing;
using FraudFed.Protocol.Masking;

namespace FraudFed.Protocol.Tests.Masking;

internal static class SplitSurvivorAttack
{
    /// <summary>What the aggregator got.</summary>
    /// <param name="Recovered">The victim's input, or null when a secret stayed below t shares.</param>
    /// <param name="SelfMaskShares">Shares of b_v collected (honest answers of group A plus the colluders').</param>
    /// <param name="EscrowKeyShares">Shares of kappa_v collected (honest answers of group B plus the colluders').</param>
    /// <param name="GroupA">Honest banks shown the list with the victim.</param>
    /// <param name="GroupB">Honest banks shown the list without the victim.</param>
    /// <param name="Refusals">Honest holders of the victim's shares that refused the unmask request, with the reason.</param>
    public sealed record Outcome(ulong[]? Recovered, int SelfMaskShares, int EscrowKeyShares, IReadOnlyList<int> GroupA, IReadOnlyList<int> GroupB,
        IReadOnlyDictionary<int, ViolationReason> Refusals);

    /// <summary>Runs setup and round 1 of <paramref name="d"/> honestly up to the masked inputs, then the attack on <paramref name="victim"/>.</summary>
    public static Outcome Run(Driver d, int victim, IReadOnlyCollection<int> colluders)
    {
        d.UpToMaskedInputs();
        MaskingParameters p = d.Parameters;
        NeighbourGraph graph = d.H.Banks[victim].Graph;
        int n = p.Banks, t = p.Threshold, m = p.MinimumSurvivors;
        var corrupt = new HashSet<int>(colluders);
        if (corrupt.Contains(victim)) throw new ArgumentException("The victim is honest.", nameof(colluders));
        int[] everyone = Enumerable.Range(0, n).ToArray();
        int[] withoutVictim = everyone.Where(i => i != victim).ToArray();

        // Split the victim's honest holders: enough for t shares of each kind with the colluders' help (v itself reveals b_v).
        int colludingHolders = graph.Neighbours(victim).Count(corrupt.Contains);
        int need = Math.Max(0, t - colludingHolders);
        var a = new List<int> { victim };
        var b = new List<int>();
        var rest = new List<int>();
        foreach (int h in graph.Neighbours(victim).Where(h => !corrupt.Contains(h)))
            (a.Count < need ? a : b.Count < need ? b : rest).Add(h);
        // Then the other honest banks: each list needs M signatures, of which the colluders give |C|.
        rest.AddRange(everyone.Where(h => h != victim && !corrupt.Contains(h) && !graph.AreNeighbours(victim, h)));
        int target = Math.Max(0, m - corrupt.Count);
        foreach (int h in rest) (a.Count < target ? a : b).Add(h);

        byte[] session = p.SessionId;
        var withList = new SurvivorList(session, Driver.Round, everyone);
        var withoutList = new SurvivorList(session, Driver.Round, withoutVictim);
        var sigsWith = new List<SignerSignature>();
        var sigsWithout = new List<SignerSignature>();
        foreach (int i in a) sigsWith.Add(new SignerSignature(i, ConsistencySignature.Decode(d.H.Banks[i].ReceiveSurvivors(withList.Encode())).Signature));
        foreach (int i in b) sigsWithout.Add(new SignerSignature(i, ConsistencySignature.Decode(d.H.Banks[i].ReceiveSurvivors(withoutList.Encode())).Signature));
        foreach (int c in corrupt)
        {
            sigsWith.Add(new SignerSignature(c, d.H.IdentityOf(c).Sign(withList.SignedBytes())));
            sigsWithout.Add(new SignerSignature(c, d.H.IdentityOf(c).Sign(withoutList.SignedBytes())));
        }
        sigsWith.Sort((x, y) => x.Signer.CompareTo(y.Signer));
        sigsWithout.Sort((x, y) => x.Signer.CompareTo(y.Signer));

        var selfShares = new List<ShamirShare>();
        var escrowShares = new List<ShamirShare>();
        var refusals = new Dictionary<int, ViolationReason>();
        void Ask(int holder, IReadOnlyList<int> survivors, IReadOnlyList<SignerSignature> sigs, ShareKind kind, List<ShamirShare> into)
        {
            byte[] request = new UnmaskRequest(session, Driver.Round, holder, survivors, sigs, [new ShareRequest(victim, kind)]).Encode();
            try
            {
                UnmaskResponse r = UnmaskResponse.Decode(d.H.Banks[holder].ReceiveUnmaskRequest(request));
                foreach (RevealedShare s in r.Shares) into.Add(new ShamirShare(holder + 1, Shamir.P521.DecodeElement(s.Y)));
            }
            catch (ProtocolViolationException e) { refusals[holder] = e.Reason; }
        }
        foreach (int h in a.Where(h => graph.Holders(victim).Contains(h))) Ask(h, everyone, sigsWith, ShareKind.SelfMask, selfShares);
        foreach (int h in b.Where(h => graph.Holders(victim).Contains(h))) Ask(h, withoutVictim, sigsWithout, ShareKind.PairwiseKey, escrowShares);
        // The colluders hand over what they hold of the victim's secrets.
        foreach (int c in corrupt.Where(c => graph.AreNeighbours(victim, c)))
        {
            var (self, pairwise) = ((BankMaskedInput)d.H.Banks[c].State).Held[victim];
            selfShares.Add(new ShamirShare(c + 1, self.Clone()));
            escrowShares.Add(new ShamirShare(c + 1, pairwise.Clone()));
        }

        ulong[]? recovered = selfShares.Count >= t && escrowShares.Count >= t ? Unmask(d, victim, graph, selfShares, escrowShares) : null;
        return new Outcome(recovered, selfShares.Count, escrowShares.Count, a, b, refusals);
    }

    private static ulong[] Unmask(Driver d, int victim, NeighbourGraph graph, List<ShamirShare> selfShares, List<ShamirShare> escrowShares)
    {
        int t = d.Parameters.Threshold, bits = Driver.Bits;
        byte[] selfSeed = Seed(Shamir.P521.Reconstruct(selfShares.Take(t).ToArray()));
        byte[] kappa = Seed(Shamir.P521.Reconstruct(escrowShares.Take(t).ToArray()));
        ulong[] x = ModVector.Unpack(MaskedInput.Decode(d.Masked[victim]).Packed, bits);
        ModVector.AddPrg(x, selfSeed, bits, subtract: true);
        var escrows = ShareKeys.Decode(d.ShareKeys[victim]).Escrows.ToDictionary(e => e.Peer, e => e.Escrow);
        foreach (int j in graph.Neighbours(victim))
        {
            byte[] seed = KeySchedule.EscrowPad(kappa, d.Parameters.SessionId, Driver.Round, victim, j);
            for (int i = 0; i < seed.Length; i++) seed[i] ^= escrows[j][i];
            ModVector.AddPrg(x, seed, bits, subtract: j > victim); // the victim added +PRG(s_vj) for j > v, -PRG(s_vj) for j < v
        }
        ModVector.Reduce(x, bits);
        return x;
    }

    private static byte[] Seed(FieldElement521 secret)
    {
        using (secret)
        {
            var seed = new byte[32];
            Shamir.ElementToSeed(secret, seed);
            return seed;
        }
    }
}
