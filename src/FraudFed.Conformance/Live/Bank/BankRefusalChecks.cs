// Live conformance, bank side (SPEC.md 13, "Live conformance: bank refusals"): scripted malicious-aggregator doubles
// (MaliciousHeAggregator, MaliciousMaskingAggregator) attack honest FraudFed bank parties through the per-bank API and the
// protocol's wire wrappers, and each named check passes only when every attacked bank refuses (a typed round abort or a
// refusal with the protocol's reason, no decryption share or mask share released, nothing else sent) and an honest round on
// the same double still gives every bank the exact plaintext sum. The runner (`fraudfed conformance --self|--target`)
// calls RunAsync and prints one row per check.
using System.Diagnostics;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;

namespace FraudFed.Conformance.Live.Bank;

/// <summary>The bank-refusal checks of the live conformance suite (SPEC.md 13): a malicious aggregator against honest banks.</summary>
public static class BankRefusalChecks
{
    /// <summary>Decryption request with fewer than K_min contributors (SPEC.md 12.3).</summary>
    public const string HeKMin = "bank/he/k-min";
    /// <summary>A second decryption request for the same (round, chunk) with another active set (SPEC.md 12.3).</summary>
    public const string HeSecondActiveSet = "bank/he/second-active-set";
    /// <summary>A request to decrypt one bank's ciphertext (SPEC.md 12.2, 12.3).</summary>
    public const string HeSingleBank = "bank/he/single-bank";
    /// <summary>A request over uploads of the retired public-key variant (SPEC.md 12.1).</summary>
    public const string HePublicKeyVariant = "bank/he/public-key-variant";
    /// <summary>An unmask request for both shares of one bank (SPEC.md 8.2 step 5).</summary>
    public const string MaskingBothShares = "bank/masking/both-shares";
    /// <summary>Different survivor lists shown to different banks (SPEC.md 8.2 steps 4-5, 11.1).</summary>
    public const string MaskingSurvivorLists = "bank/masking/survivor-lists";

    /// <summary>The check names, in the order <see cref="RunAsync(CancellationToken)"/> reports them.</summary>
    public static IReadOnlyList<string> Names { get; } = [HeKMin, HeSecondActiveSet, HeSingleBank, HePublicKeyVariant, MaskingBothShares, MaskingSurvivorLists];

    /// <summary>How long the double waits for one bank message before it records the bank as silent (default 30 s).</summary>
    internal static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs every check against honest FraudFed bank parties in this process (N = 5 banks per check, INSECURE n = 256 test
    /// parameters for the homomorphic mode; each check its own session), one result per name of <see cref="Names"/>, in that
    /// order. A check that throws or stalls is reported as failed with what was observed; nothing is thrown for a failed check.
    /// </summary>
    /// <param name="cancellationToken">Stops the checks; the check running then is not reported.</param>
    /// <returns>One <see cref="LiveCheckResult"/> per check; Detail never holds a secret.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static Task<IReadOnlyList<LiveCheckResult>> RunAsync(CancellationToken cancellationToken) =>
        RunAsync(BankHooks.Honest, DefaultWait, cancellationToken);

    /// <summary>As <see cref="RunAsync(CancellationToken)"/> against the banks <paramref name="hooks"/> build.</summary>
    internal static async Task<IReadOnlyList<LiveCheckResult>> RunAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        var checks = new (string Name, Func<BankHooks, TimeSpan, CancellationToken, Task<string>> Run)[]
        {
            (HeKMin, KMinAsync), (HeSecondActiveSet, SecondActiveSetAsync), (HeSingleBank, SingleBankAsync), (HePublicKeyVariant, PublicKeyVariantAsync),
            (MaskingBothShares, BothSharesAsync), (MaskingSurvivorLists, SurvivorListsAsync),
        };
        var results = new List<LiveCheckResult>(checks.Length);
        foreach (var (name, run) in checks)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            string detail;
            bool passed;
            try
            {
                detail = await run(hooks, wait, cancellationToken).ConfigureAwait(false);
                passed = true;
            }
            catch (CheckFailure f) { detail = f.Message; passed = false; }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
            catch (Exception e) { detail = $"{e.GetType().Name}: {e.Message}"; passed = false; }
            results.Add(new LiveCheckResult(name, passed, detail, Math.Round(clock.Elapsed.TotalSeconds, 3)));
        }
        return results;
    }

    // ------------------------------------------------------------------ threshold homomorphic (compact variant)

    private static async Task<string> KMinAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousHeAggregator d = await MaliciousHeAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        const ulong round = 1;
        await d.OpenRoundAsync(round).ConfigureAwait(false);
        int[] active = MaliciousHeAggregator.HonestActive;
        int[] few = Enumerable.Range(0, MaliciousHeAggregator.MinContributors - 1).ToArray();   // K_min - 1 contributors, lists signed
        byte[] hostile = d.Request(round, few, active);
        IReadOnlyList<string> seen = await d.SendExpectingRefusalsAsync(active, round, hostile, $"a request over {few.Length} < K_min contributors",
            ViolationReason.TooFewParticipants).ConfigureAwait(false);
        await d.FinishHonestAsync(round, active).ConfigureAwait(false);
        return $"{string.Join("; ", seen)}; the honest request over all {MaliciousHeAggregator.Banks} was answered and every bank got the exact sum";
    }

    private static async Task<string> SecondActiveSetAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousHeAggregator d = await MaliciousHeAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        const ulong round = 1;
        await d.OpenRoundAsync(round).ConfigureAwait(false);
        int[] first = MaliciousHeAggregator.HonestActive;                                               // {0, 1, 2, 3}
        int[] second = [.. first.Take(MaliciousHeAggregator.Threshold - 1), MaliciousHeAggregator.Banks - 1];   // {0, 1, 2, 4}
        byte[] request = await d.SendHonestRequestAsync(round, first).ConfigureAwait(false);
        Dictionary<int, byte[]> shares = await d.ReceiveSharesAsync(round, first).ConfigureAwait(false);
        var seen = new List<string>();
        var original = (HeDecryptionRequestMessage)HeWire.DecodeToBank(request, MaliciousHeAggregator.Banks);
        byte[] other = HeWire.Encode(original with { Active = second });
        foreach (int b in first.Intersect(second))
        {
            await d.SendToAsync(b, request).ConfigureAwait(false);
            if (!(await d.NextBytesAsync(b, "its answer to the identical resend").ConfigureAwait(false)).AsSpan().SequenceEqual(shares[b]))
                throw new CheckFailure($"bank {b} did not answer the identical resend of the first request with the identical bytes");
            await d.SendToAsync(b, other).ConfigureAwait(false);
            seen.Add(await d.ExpectRefusalAsync(b, round, $"the same round with active set {{{string.Join(",", second)}}}", ViolationReason.Refused).ConfigureAwait(false));
        }
        await d.CompleteAsync(round, shares).ConfigureAwait(false);
        return $"the first request (active set {{{string.Join(",", first)}}}) was answered and its identical resend got identical bytes; {string.Join("; ", seen)}; every bank got the exact sum";
    }

    private static async Task<string> SingleBankAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousHeAggregator d = await MaliciousHeAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        const ulong round = 1;
        const int victim = MaliciousHeAggregator.Banks - 1;
        await d.OpenRoundAsync(round).ConfigureAwait(false);
        int[] active = MaliciousHeAggregator.HonestActive;
        // (a) U = {victim}: one contributor, its own signed manifest and a signed one-entry list.
        byte[] alone = d.Request(round, [victim], active);
        // (b) U of K_min banks whose list entries all carry the victim's upload digest: the "sum" is the victim's ciphertext.
        int[] posing = Enumerable.Range(0, MaliciousHeAggregator.MinContributors).ToArray();
        byte[] disguised = d.Request(round, posing, active, _ => d.UploadDigest(victim));
        var seen = new List<string>(await d.SendExpectingRefusalsAsync(active, round, alone, $"a request over bank {victim} alone",
            ViolationReason.TooFewParticipants).ConfigureAwait(false));
        seen.AddRange(await d.SendExpectingRefusalsAsync(active, round, disguised, $"a list of {posing.Length} senders all carrying bank {victim}'s upload",
            ViolationReason.AuthenticationFailed).ConfigureAwait(false));
        await d.FinishHonestAsync(round, active).ConfigureAwait(false);
        return $"{string.Join("; ", seen)}; then every bank got the exact sum";
    }

    private static async Task<string> PublicKeyVariantAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousHeAggregator d = await MaliciousHeAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        const ulong round = 1;
        await d.OpenRoundAsync(round).ConfigureAwait(false);
        int[] active = MaliciousHeAggregator.HonestActive;
        int[] everyone = Enumerable.Range(0, MaliciousHeAggregator.Banks).ToArray();
        // The retired public-key variant's shares open an attacker's C1 (SPEC.md 12.1): a signed list of kind-7 uploads must be refused.
        byte[] retired = d.Request(round, everyone, active, kind: (RlweObjectKind)7);
        IReadOnlyList<string> seen = await d.SendExpectingRefusalsAsync(active, round, retired, "a signed list of kind-7 (public-key variant) uploads",
            ViolationReason.Malformed, ViolationReason.WrongRoundOrState).ConfigureAwait(false);
        await d.FinishHonestAsync(round, active).ConfigureAwait(false);
        return $"{string.Join("; ", seen)}; then every bank got the exact sum";
    }

    // ------------------------------------------------------------------ masking (SecAgg)

    private static async Task<string> BothSharesAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousMaskingAggregator d = await MaliciousMaskingAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        IReadOnlyDictionary<int, byte[]> lists = await d.RunToConsistencyCheckAsync(1).ConfigureAwait(false);
        await d.FinishHonestAsync(await d.RunConsistencyCheckAsync(lists, 1).ConfigureAwait(false), 1).ConfigureAwait(false);

        const uint round = 2;
        const int target = 1, peer = 2;
        lists = await d.RunToConsistencyCheckAsync(round).ConfigureAwait(false);
        IReadOnlyDictionary<int, byte[]> requests = await d.RunConsistencyCheckAsync(lists, round).ConfigureAwait(false);
        UnmaskRequest honest = UnmaskRequest.Decode(requests[target]);
        // (a) both kinds for one survivor: its self-mask share and its pairwise-key share (listed as surviving and as dropped).
        var both = new List<ShareRequest>();
        foreach (ShareRequest r in honest.Requests)
        {
            both.Add(r);
            if (r.Peer == peer) both.Add(new ShareRequest(peer, ShareKind.PairwiseKey));
        }
        // (b) the pairwise-key share of a bank the same request lists as a survivor.
        ShareRequest[] dropped = [.. honest.Requests.Select(r => r.Peer == peer ? new ShareRequest(peer, ShareKind.PairwiseKey) : r)];
        await d.SendToAsync(target, MaskingWire.Encode(honest with { Requests = both })).ConfigureAwait(false);
        await d.SendToAsync(target, MaskingWire.Encode(honest with { Requests = dropped })).ConfigureAwait(false);
        // The honest requests follow; the first message of each bank must answer exactly its honest request, so anything the
        // target sent for the hostile ones fails the check.
        await d.FinishHonestAsync(requests, round).ConfigureAwait(false);
        return $"bank {target} sent nothing for an unmask request asking both shares of bank {peer}, nor for one asking the pairwise-key share of survivor {peer}; "
            + "its first answer was to the honest request, and rounds 1 and 2 gave every bank the exact sum";
    }

    private static async Task<string> SurvivorListsAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using MaliciousMaskingAggregator d = await MaliciousMaskingAggregator.StartAsync(hooks, wait, cancellationToken).ConfigureAwait(false);
        IReadOnlyDictionary<int, byte[]> lists = await d.RunToConsistencyCheckAsync(1).ConfigureAwait(false);
        await d.FinishHonestAsync(await d.RunConsistencyCheckAsync(lists, 1).ConfigureAwait(false), 1).ConfigureAwait(false);

        const uint round = 2;
        const int victim = 0;
        int n = MaliciousMaskingAggregator.Banks;
        await d.RunToConsistencyCheckAsync(round).ConfigureAwait(false);   // every masked input is in; the honest lists are not sent
        byte[] session = d.Parameters.SessionId;
        int[] everyone = Enumerable.Range(0, n).ToArray();
        int[] withoutVictim = everyone.Where(b => b != victim).ToArray();
        int[] groupA = everyone.Take((n + 1) / 2).ToArray();                   // shown the victim as a survivor: {0, 1, 2}
        int[] groupB = everyone.Skip((n + 1) / 2).ToArray();                   // shown the victim as dropped: {3, 4}
        int[] ListOf(int b) => groupA.Contains(b) ? everyone : withoutVictim;
        foreach (int b in everyone) await d.SendToAsync(b, MaskingWire.Encode(new SurvivorList(session, round, ListOf(b)))).ConfigureAwait(false);
        var signatures = new List<SignerSignature>();
        foreach (int b in everyone)
        {
            if (await d.NextAsync(b).ConfigureAwait(false) is not ConsistencySignature s || s.Round != round)
                throw new CheckFailure($"bank {b} did not sign the survivor list it was shown (an honest bank signs any list that lists it)");
            signatures.Add(new SignerSignature(b, s.Signature));
        }
        // Each bank gets its own list with every signature (padding each side with the other side's), and the requests that
        // list implies: group A the victim's self-mask share, group B its pairwise-key share.
        foreach (int b in everyone)
        {
            int[] survivors = ListOf(b);
            ShareRequest[] asked = [.. everyone.Select(p => new ShareRequest(p, survivors.Contains(p) ? ShareKind.SelfMask : ShareKind.PairwiseKey))];
            await d.SendToAsync(b, MaskingWire.Encode(new UnmaskRequest(session, round, b, survivors, signatures, asked))).ConfigureAwait(false);
        }
        var outcomes = new List<string>();
        var wrong = new List<string>();
        Dictionary<int, (bool Ended, Exception? Error)> ends = await d.SumOutcomesAsync().ConfigureAwait(false);
        foreach (int b in everyone)
        {
            var (ended, error) = ends[b];
            if (ended && error is ProtocolViolationException { Reason: ViolationReason.Inconsistent or ViolationReason.TooFewParticipants } v)
                outcomes.Add($"bank {b} aborted ({v.Reason})");
            else
                wrong.Add(!ended ? $"bank {b} did not abort" : $"bank {b} ended with {error?.GetType().Name ?? "a sum"} {(error as ProtocolViolationException)?.Reason}");
        }
        var released = (await d.DrainAsync().ConfigureAwait(false)).Where(m => m.Message is UnmaskResponse).Select(m => m.Bank).ToArray();
        if (released.Length > 0) wrong.Insert(0, $"bank(s) {string.Join(",", released)} RELEASED mask shares");
        if (wrong.Count > 0) throw new CheckFailure($"shown split survivor lists ({{{string.Join(",", everyone)}}} to {{{string.Join(",", groupA)}}}, "
            + $"{{{string.Join(",", withoutVictim)}}} to {{{string.Join(",", groupB)}}}): {string.Join("; ", wrong)}");
        return $"round 1 gave every bank the exact sum; round 2 split the survivor lists and {string.Join("; ", outcomes)}; no mask share was released";
    }
}
