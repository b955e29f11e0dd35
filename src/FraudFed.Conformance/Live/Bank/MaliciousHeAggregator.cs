// A scripted malicious aggregator of the threshold homomorphic mode (SPEC.md 12.0-12.3, 14.2) facing honest bank parties
// through the per-bank API (HomomorphicSecureSumClient over an in-memory IBankTransport, SPEC.md 15.1). It plays the honest
// aggregator (a production HomomorphicAggregatorParty) through setup and the uploads of a round, keeps what it saw on the
// wire (each contributor's signed manifest and the SHA-256 of each upload), and then sends hostile decryption requests it
// builds itself: correctly encoded wrappers with contributor lists signed by the roster's aggregator key, so a refusal is
// the bank's protocol rule, never a signature failure. After the attack it finishes the round honestly, so a check also
// shows that the double is not simply broken: the banks learn the exact plaintext sum.
// Deployment: N = 5 banks, c = 1, T = K_min = 4 (SPEC.md 12.3 defaults), INSECURE n = 256 test parameters, 40 values
// (one chunk) per round, k = 44.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Conformance.Live.Bank;

/// <summary>The homomorphic malicious-aggregator double and the honest banks it faces (one session).</summary>
internal sealed class MaliciousHeAggregator : IAsyncDisposable
{
    public const int Banks = 5;
    public const int Threshold = 4;
    public const int MinContributors = 4;
    public const int Length = 40;
    public const int Bits = 44;

    private readonly Ed25519SigningKey[] _identities;
    private readonly Ed25519SigningKey _aggregatorKey;   // owned by the aggregator party; the double signs its forged lists with it
    private readonly HomomorphicBankParty[] _parties;
    private readonly HomomorphicSecureSumClient[] _clients;
    private readonly HomomorphicAggregatorParty _aggregator;
    private readonly InMemorySumTransport _transport;
    private readonly BankMailboxes _mail;
    private readonly CancellationTokenSource _life;
    private readonly List<Task> _bankTasks = [];
    private readonly TimeSpan _wait;
    private readonly Dictionary<int, byte[]> _manifests = [];
    private readonly Dictionary<int, byte[]> _uploadDigests = [];
    private Dictionary<int, Task<SecureSumClientResult>> _sums = [];
    private byte[] _sessionTag = [];

    private MaliciousHeAggregator(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        _wait = wait;
        _life = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        RlweParameters parameters = InsecureTestParameters.N256;
        _identities = Enumerable.Range(0, Banks).Select(_ => Ed25519SigningKey.Generate(RandomNumberGenerator.Create())).ToArray();
        _aggregatorKey = Ed25519SigningKey.Generate(RandomNumberGenerator.Create());
        byte[][] publicKeys = _identities.Select(k => k.PublicKey.ToArray()).ToArray();
        byte[] aggregatorPublic = _aggregatorKey.PublicKey.ToArray();
        HomomorphicRoster Roster() => new(parameters, new DecryptionPolicy { Threshold = Threshold, MinContributors = MinContributors, MaxColluders = 1 },
            publicKeys.Select(k => (byte[])k.Clone()).ToArray(), (byte[])aggregatorPublic.Clone(), allowInsecureTestParameters: parameters.IsInsecure);
        _transport = new InMemorySumTransport(Banks);
        _mail = new BankMailboxes(_transport.Aggregator);
        _parties = new HomomorphicBankParty[Banks];
        _clients = new HomomorphicSecureSumClient[Banks];
        for (int b = 0; b < Banks; b++)
        {
            HomomorphicRoster roster = hooks.HeRoster(b, Roster());
            _parties[b] = new HomomorphicBankParty(b, roster, _identities[b], hooks.HeLedger(b)) { Parallel = false };
            IBankTransport transport = hooks.HeTransport(new BankContext(b, _identities, roster), _transport.Bank(b));
            _clients[b] = new HomomorphicSecureSumClient(_parties[b], transport);
        }
        _aggregator = new HomomorphicAggregatorParty(Roster(), _aggregatorKey) { Parallel = false };
    }

    /// <summary>Builds the deployment and runs the session setup honestly.</summary>
    /// <exception cref="CheckFailure">setup did not complete.</exception>
    public static async Task<MaliciousHeAggregator> StartAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        var d = new MaliciousHeAggregator(hooks, wait, cancellationToken);
        try
        {
            d._bankTasks.AddRange(d._clients.Select(c => c.JoinAsync(d._life.Token)));
            await d.SendAsync(d._aggregator.StartSession()).ConfigureAwait(false);
            while (!d._aggregator.IsReady)
            {
                AggregatorDelivery m = await d._mail.NextAnyAsync(wait, d._life.Token).ConfigureAwait(false)
                    ?? throw new CheckFailure($"setup stalled in {d._aggregator.State}: no bank message within {wait.TotalSeconds:0} s");
                await d.SendAsync(d._aggregator.Receive(m.Bank, m.Message)).ConfigureAwait(false);
            }
            // The aggregator is ready once it has sent the last setup messages; each bank's JoinAsync ends only when its client
            // has read them. A round opened before that finds a client still joining (it runs one call at a time).
            foreach (Task t in d._bankTasks)
                try { await t.WaitAsync(wait, d._life.Token).ConfigureAwait(false); }
                catch (Exception e) when (e is TimeoutException or ProtocolViolationException) { throw new CheckFailure($"homomorphic setup failed at a bank: {e.Message}"); }
            return d;
        }
        catch
        {
            await d.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The roster's active set the honest aggregator would use for a round with every bank: banks 0..T-1.</summary>
    public static int[] HonestActive => Enumerable.Range(0, Threshold).ToArray();

    /// <summary>Bank <paramref name="bank"/>'s vector of <paramref name="round"/> (values below 2^44).</summary>
    public static ulong[] Vector(int bank, ulong round) =>
        Enumerable.Range(0, Length).Select(j => (ulong)((bank + 1) * 1_000_003L + (long)round * 7_919L + j * 104_729L) & ((1UL << Bits) - 1)).ToArray();

    /// <summary>Opens <paramref name="round"/>: every bank's client sums its vector; the double collects every upload honestly.</summary>
    public async Task OpenRoundAsync(ulong round)
    {
        _manifests.Clear();
        _uploadDigests.Clear();
        var context = new SumContext(round, Length, Bits);
        _sums = Enumerable.Range(0, Banks).ToDictionary(b => b, b => _clients[b].SumAsync(Vector(b, round), context, _life.Token));
        await SendAsync(_aggregator.StartRound(round, Length)).ConfigureAwait(false);
        while (_manifests.Count < Banks)
        {
            AggregatorDelivery m = await _mail.NextAnyAsync(_wait, _life.Token).ConfigureAwait(false)
                ?? throw new CheckFailure($"round {round}: only {_manifests.Count} of {Banks} uploads within {_wait.TotalSeconds:0} s");
            if (HeWire.DecodeToAggregator(m.Message.Span, Banks) is HeUploadMessage u && u.Round == round && u.Chunks.Length == 1)
            {
                _manifests[m.Bank] = u.Manifest;
                _uploadDigests[m.Bank] = UploadManifest.BodyDigest(u.Chunks[0].Span);   // SPEC.md 12.2: SHA-256 of the body
                _sessionTag = u.Manifest.AsSpan(0, 16).ToArray();   // SPEC.md 12.2: a manifest opens with the session tag
            }
            await SendAsync(_aggregator.Receive(m.Bank, m.Message)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A decryption request for chunk 0 of <paramref name="round"/> over <paramref name="contributors"/> with active set
    /// <paramref name="active"/>: the contributors' own signed manifests and a contributor list signed by the aggregator key, each
    /// entry carrying <paramref name="digestOf"/>(sender) (default: the sender's real upload digest), of <paramref name="kind"/>.
    /// </summary>
    public byte[] Request(ulong round, int[] contributors, int[] active, Func<int, byte[]>? digestOf = null, RlweObjectKind kind = RlweObjectKind.CompactCiphertext)
    {
        digestOf ??= b => _uploadDigests[b];
        byte[] list = ContributorList.SignRound(_aggregatorKey, _sessionTag, round, kind, [contributors.Select(b => new ContributorEntry(b, digestOf(b)))])[0];
        return HeWire.Encode(new HeDecryptionRequestMessage(_aggregator.SessionId.ToArray(), round, 1, contributors, active,
            contributors.Select(b => _manifests[b]).ToArray(), [list]));
    }

    /// <summary>The SHA-256 of <paramref name="bank"/>'s upload of the open round.</summary>
    public byte[] UploadDigest(int bank) => _uploadDigests[bank];

    /// <summary>Sends raw bytes to one bank.</summary>
    public ValueTask SendToAsync(int bank, byte[] message) => _transport.Aggregator.SendAsync(bank, message, _life.Token);

    /// <summary>The next message of <paramref name="bank"/>, as sent.</summary>
    /// <exception cref="CheckFailure">it sent nothing within the wait.</exception>
    public async Task<byte[]> NextBytesAsync(int bank, string awaiting) =>
        (await _mail.NextFromAsync(bank, _wait, _life.Token).ConfigureAwait(false)
            ?? throw new CheckFailure($"bank {bank} sent nothing within {_wait.TotalSeconds:0} s ({awaiting})")).ToArray();

    /// <summary>The next message of <paramref name="bank"/>, decoded.</summary>
    /// <exception cref="CheckFailure">it sent nothing within the wait.</exception>
    public async Task<HeToAggregator> NextAsync(int bank, string awaiting) =>
        HeWire.DecodeToAggregator(await NextBytesAsync(bank, awaiting).ConfigureAwait(false), Banks);

    /// <summary>Expects <paramref name="bank"/>'s answer to a hostile request of <paramref name="round"/> to be a round abort with
    /// one of <paramref name="reasons"/>; describes it.</summary>
    /// <exception cref="CheckFailure">a decryption share, another reason, or silence.</exception>
    public async Task<string> ExpectRefusalAsync(int bank, ulong round, string attack, params ViolationReason[] reasons)
    {
        HeToAggregator reply = await NextAsync(bank, $"its answer to {attack}").ConfigureAwait(false);
        return reply switch
        {
            HeAbortToAggregator a when a.Round == round && reasons.Contains(a.Reason) => $"bank {bank} refused {attack} ({a.Reason})",
            HeAbortToAggregator a => throw new CheckFailure($"bank {bank} refused {attack} with {a.Reason} (round {a.Round}); expected {string.Join(" or ", reasons)}"),
            HeDecryptionSharesMessage => throw new CheckFailure($"bank {bank} RELEASED a decryption share for {attack}"),
            _ => throw new CheckFailure($"bank {bank} answered {attack} with {reply.GetType().Name}"),
        };
    }

    /// <summary>Sends <paramref name="message"/> to every bank of <paramref name="banks"/>, then expects each to refuse it
    /// (<see cref="ExpectRefusalAsync"/>); returns the descriptions, in bank order.</summary>
    /// <exception cref="CheckFailure">a bank released a share, refused with another reason, or stayed silent.</exception>
    public async Task<IReadOnlyList<string>> SendExpectingRefusalsAsync(int[] banks, ulong round, byte[] message, string attack, params ViolationReason[] reasons)
    {
        foreach (int b in banks) await SendToAsync(b, message).ConfigureAwait(false);
        var seen = new List<string>(banks.Length);
        foreach (int b in banks) seen.Add(await ExpectRefusalAsync(b, round, attack, reasons).ConfigureAwait(false));
        return seen;
    }

    /// <summary>Closes the uploads as the honest aggregator with active set <paramref name="active"/> and sends its request; returns its bytes.</summary>
    public async Task<byte[]> SendHonestRequestAsync(ulong round, int[] active)
    {
        IReadOnlyList<HeOutgoing> requests = _aggregator.CloseUploads(active);
        if (requests.Count == 0 || _aggregator.IsReady)
            throw new CheckFailure($"the honest aggregator could not close round {round}: {_aggregator.LastOutcome?.Failure?.Message ?? "no request"}");
        await SendAsync(requests).ConfigureAwait(false);
        return requests[0].Bytes;
    }

    /// <summary>Each active bank's next message, which must be its decryption shares of <paramref name="round"/> (serialized).</summary>
    /// <exception cref="CheckFailure">a bank sent something else or nothing.</exception>
    public async Task<Dictionary<int, byte[]>> ReceiveSharesAsync(ulong round, int[] active)
    {
        var shares = new Dictionary<int, byte[]>();
        foreach (int d in active)
        {
            ReadOnlyMemory<byte> m = await _mail.NextFromAsync(d, _wait, _life.Token).ConfigureAwait(false)
                ?? throw new CheckFailure($"bank {d} did not answer the honest decryption request of round {round} within {_wait.TotalSeconds:0} s");
            if (HeWire.DecodeToAggregator(m.Span, Banks) is not HeDecryptionSharesMessage s || s.Round != round)
                throw new CheckFailure($"bank {d}'s first answer after the attack was not its shares for the honest request of round {round}");
            shares[d] = m.ToArray();
        }
        return shares;
    }

    /// <summary>
    /// Hands the active banks' shares to the honest aggregator party, which broadcasts the result; then every bank's client must
    /// return the exact plaintext sum over all banks.
    /// </summary>
    /// <exception cref="CheckFailure">the round did not open, or a client's sum is not the plaintext sum.</exception>
    public async Task CompleteAsync(ulong round, Dictionary<int, byte[]> shares)
    {
        foreach (var (d, bytes) in shares) await SendAsync(_aggregator.Receive(d, bytes)).ConfigureAwait(false);
        if (_aggregator.LastOutcome is not { Failure: null, Sum: not null } outcome || outcome.Round != round)
            throw new CheckFailure($"the honest aggregator could not open round {round}: {_aggregator.LastOutcome?.Failure?.Message ?? "no outcome"}");
        ulong mask = (1UL << Bits) - 1;
        ulong[] expected = new ulong[Length];
        for (int b = 0; b < Banks; b++)
        {
            ulong[] v = Vector(b, round);
            for (int j = 0; j < Length; j++) expected[j] = (expected[j] + v[j]) & mask;
        }
        foreach (var (bank, task) in _sums)
        {
            SecureSumClientResult r;
            try { r = await task.WaitAsync(_wait, _life.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is TimeoutException or ProtocolViolationException)
            {
                throw new CheckFailure($"bank {bank}'s sum of the honest round {round} failed: {e.Message}");
            }
            if (!r.Sum.SequenceEqual(expected) || r.Contributors.Count != Banks)
                throw new CheckFailure($"bank {bank} learned a sum of round {round} that is not the plaintext sum of the {Banks} vectors");
        }
        var extra = await _mail.DrainAsync(TimeSpan.FromMilliseconds(100), _life.Token).ConfigureAwait(false);
        if (extra.Count > 0)
            throw new CheckFailure($"after round {round}, bank(s) {string.Join(",", extra.Select(e => e.Bank).Distinct())} sent {extra.Count} more message(s) "
                + $"({string.Join(", ", extra.Select(e => HeWire.DecodeToAggregator(e.Message.Span, Banks).GetType().Name).Distinct())})");
    }

    /// <summary>Finishes <paramref name="round"/> as the honest aggregator with active set <paramref name="active"/>
    /// (<see cref="SendHonestRequestAsync"/>, <see cref="ReceiveSharesAsync"/>, <see cref="CompleteAsync"/>).</summary>
    public async Task FinishHonestAsync(ulong round, int[] active)
    {
        await SendHonestRequestAsync(round, active).ConfigureAwait(false);
        await CompleteAsync(round, await ReceiveSharesAsync(round, active).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private async Task SendAsync(IReadOnlyList<HeOutgoing> outgoing)
    {
        foreach (HeOutgoing o in outgoing) await _transport.Aggregator.SendAsync(o.To, o.Bytes, _life.Token).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _life.CancelAsync().ConfigureAwait(false);
        foreach (Task t in _bankTasks.Concat(_sums.Values))
        {
            try { await t.ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ProtocolViolationException) { }
        }
        foreach (HomomorphicBankParty p in _parties) p?.Dispose();
        _aggregator.Dispose();
        _life.Dispose();
    }
}
