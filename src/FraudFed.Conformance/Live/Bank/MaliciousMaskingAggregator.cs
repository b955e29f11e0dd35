// A scripted malicious aggregator of the masking mode (SecAgg, SPEC.md 8, 9, 14.3) facing honest banks through the per-bank
// API (MaskingSecureSumClient over an in-memory IBankTransport, SPEC.md 15.2). It plays the honest aggregator (a production
// MaskingAggregator) through setup and every round step it does not attack: AdvertiseKeys, GraphSeedReveal, ShareKeys,
// MaskedInput, and for an honest round ConsistencyCheck and Unmasking, then publishes the sum. An attack replaces one step's
// messages with hostile ones it encodes itself (MaskingWire wrappers): unmask requests that ask for both shares of one peer,
// or different survivor lists shown to different banks. The masking aggregator signs nothing: what a bank relies on there
// are the other banks' consistency signatures, which the double relays exactly as the banks made them.
// Deployment: N = 5 banks, complete graph, c = 1, t = 4, M = 4 (SPEC.md 8, 11.1 defaults), k = 32, 16 values per round.
using System.Security.Cryptography;
using FraudFed.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Masking;

namespace FraudFed.Conformance.Live.Bank;

/// <summary>The masking malicious-aggregator double and the honest banks it faces (one session).</summary>
internal sealed class MaliciousMaskingAggregator : IAsyncDisposable
{
    public const int Banks = 5;
    public const int Threshold = 4;
    public const int Length = 16;
    public const int Bits = 32;

    private readonly Ed25519SigningKey[] _identities;
    private readonly RandomNumberGenerator[] _random;
    private readonly MaskingBank[] _banks;
    private readonly MaskingSecureSumClient[] _clients;
    private readonly MaskingAggregator _aggregator;
    private readonly InMemorySumTransport _transport;
    private readonly BankMailboxes _mail;
    private readonly CancellationTokenSource _life;
    private readonly List<Task> _bankTasks = [];
    private readonly TimeSpan _wait;
    private Dictionary<int, Task<SecureSumClientResult>> _sums = [];

    private MaliciousMaskingAggregator(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        _wait = wait;
        _life = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        byte[] session = RandomNumberGenerator.GetBytes(MaskingParameters.SessionIdSize);
        MaskingParameters Params() => new(session, Banks, Threshold, Bits, null, null, MaskingParameters.DefaultMaxColluders(Banks));
        Parameters = Params();
        _identities = Enumerable.Range(0, Banks).Select(_ => Ed25519SigningKey.Generate(RandomNumberGenerator.Create())).ToArray();
        byte[][] publicKeys = _identities.Select(k => k.PublicKey.ToArray()).ToArray();
        _random = Enumerable.Range(0, Banks).Select(_ => RandomNumberGenerator.Create()).ToArray();
        _transport = new InMemorySumTransport(Banks);
        _mail = new BankMailboxes(_transport.Aggregator);
        _banks = new MaskingBank[Banks];
        _clients = new MaskingSecureSumClient[Banks];
        for (int b = 0; b < Banks; b++)
        {
            _banks[b] = new MaskingBank(Params(), b, _identities[b], publicKeys.Select(k => (byte[])k.Clone()).ToArray(), _random[b]);
            IBankTransport transport = hooks.MaskingTransport(new BankContext(b, _identities, null), _transport.Bank(b));
            _clients[b] = new MaskingSecureSumClient(_banks[b], Params(), transport);
        }
        _aggregator = new MaskingAggregator(Params(), publicKeys.Select(k => (byte[])k.Clone()).ToArray());
    }

    /// <summary>The session's parameters (M = <see cref="MaskingParameters.MinimumSurvivors"/>).</summary>
    public MaskingParameters Parameters { get; }

    /// <summary>Builds the deployment and runs the session setup honestly (SPEC.md 8.1).</summary>
    /// <exception cref="CheckFailure">setup did not complete.</exception>
    public static async Task<MaliciousMaskingAggregator> StartAsync(BankHooks hooks, TimeSpan wait, CancellationToken cancellationToken)
    {
        var d = new MaliciousMaskingAggregator(hooks, wait, cancellationToken);
        try
        {
            d._bankTasks.AddRange(d._clients.Select(c => c.JoinAsync(d._life.Token)));
            await d.CollectAsync(Banks, "AdvertiseKeys").ConfigureAwait(false);
            await d.BroadcastAsync(d._aggregator.CloseAdvertiseKeys()).ConfigureAwait(false);
            await d.CollectAsync(Banks, "GraphSeedReveal").ConfigureAwait(false);
            await d.BroadcastAsync(d._aggregator.CloseGraphSeed()).ConfigureAwait(false);
            foreach (Task t in d._bankTasks)
                try { await t.WaitAsync(wait, d._life.Token).ConfigureAwait(false); }
                catch (Exception e) when (e is TimeoutException or ProtocolViolationException) { throw new CheckFailure($"masking setup failed at a bank: {e.Message}"); }
            return d;
        }
        catch
        {
            await d.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Bank <paramref name="bank"/>'s vector of <paramref name="round"/> (values below 2^32).</summary>
    public static ulong[] Vector(int bank, uint round) =>
        Enumerable.Range(0, Length).Select(j => (ulong)(((bank + 1) * 7_919L + round * 104_729L + j * 31L) * 2_654_435_761L) & 0xFFFF_FFFFUL).ToArray();

    /// <summary>
    /// Runs <paramref name="round"/> through ShareKeys and MaskedInput honestly with every bank's client summing its vector;
    /// returns the honest survivor-list messages of the ConsistencyCheck step (by bank), not yet sent.
    /// </summary>
    public async Task<IReadOnlyDictionary<int, byte[]>> RunToConsistencyCheckAsync(uint round)
    {
        var context = new SumContext(round, Length, Bits);
        _sums = Enumerable.Range(0, Banks).ToDictionary(b => b, b => _clients[b].SumAsync(Vector(b, round), context, _life.Token));
        _aggregator.BeginRound(round, Length);
        await CollectAsync(Banks, $"ShareKeys of round {round}").ConfigureAwait(false);
        await SendAllAsync(_aggregator.CloseShareKeys()).ConfigureAwait(false);
        await CollectAsync(Banks, $"MaskedInput of round {round}").ConfigureAwait(false);
        return _aggregator.CloseMaskedInput();
    }

    /// <summary>Sends the honest survivor lists and collects every consistency signature; returns the honest unmask requests (by bank), not yet sent.</summary>
    public async Task<IReadOnlyDictionary<int, byte[]>> RunConsistencyCheckAsync(IReadOnlyDictionary<int, byte[]> survivorLists, uint round)
    {
        await SendAllAsync(survivorLists).ConfigureAwait(false);
        await CollectAsync(Banks, $"ConsistencySignature of round {round}").ConfigureAwait(false);
        return _aggregator.CloseConsistencyCheck();
    }

    /// <summary>
    /// Sends <paramref name="requests"/> (bank to bytes), takes each bank's next message, which must be the unmask response to
    /// the request sent to it, feeds them to the aggregator, finishes and publishes the round; every bank's client must return
    /// the exact plaintext sum over all banks.
    /// </summary>
    /// <exception cref="CheckFailure">a bank answered something else, or a sum is not the plaintext sum.</exception>
    public async Task FinishHonestAsync(IReadOnlyDictionary<int, byte[]> requests, uint round)
    {
        await SendAllAsync(requests).ConfigureAwait(false);
        foreach (var (bank, request) in requests)
        {
            ReadOnlyMemory<byte> m = await _mail.NextFromAsync(bank, _wait, _life.Token).ConfigureAwait(false)
                ?? throw new CheckFailure($"bank {bank} did not answer the honest unmask request of round {round} within {_wait.TotalSeconds:0} s");
            if (MaskingWire.DecodeToAggregator(m.Span) is not UnmaskResponse response || response.Round != round)
                throw new CheckFailure($"bank {bank} answered the honest unmask request of round {round} with something else");
            ShareRequest[] asked = [.. UnmaskRequest.Decode(request).Requests];
            if (!response.Shares.Select(s => new ShareRequest(s.Peer, s.Kind)).SequenceEqual(asked))
                throw new CheckFailure($"bank {bank}'s first unmask response of round {round} answers another request than the honest one (it answered a hostile request)");
            _aggregator.Receive(m.Span);
        }
        ulong[] sum = _aggregator.Finish();
        int[] contributors = [.. ((AggregatorCompleted)_aggregator.State).Contributors];
        for (int b = 0; b < Banks; b++)
            await _transport.Aggregator.PublishAsync(b, new SumOutcomeNotice(round, sum, contributors, null), _life.Token).ConfigureAwait(false);
        var expected = new ulong[Length];
        for (int b = 0; b < Banks; b++)
        {
            ulong[] v = Vector(b, round);
            for (int j = 0; j < Length; j++) expected[j] = (expected[j] + v[j]) & 0xFFFF_FFFFUL;
        }
        foreach (var (bank, task) in _sums)
        {
            SecureSumClientResult r;
            try { r = await task.WaitAsync(_wait, _life.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is TimeoutException or ProtocolViolationException)
            {
                throw new CheckFailure($"bank {bank}'s sum of round {round} failed: {e.Message}");
            }
            if (!r.Sum.SequenceEqual(expected) || r.Contributors.Count != Banks)
                throw new CheckFailure($"bank {bank} learned a sum of round {round} that is not the plaintext sum of the {Banks} vectors");
        }
        await ExpectSilenceAsync($"after round {round}").ConfigureAwait(false);
    }

    /// <summary>No bank sent anything the double has not read (a short grace period).</summary>
    /// <exception cref="CheckFailure">a bank did.</exception>
    private async Task ExpectSilenceAsync(string when)
    {
        var extra = await _mail.DrainAsync(TimeSpan.FromMilliseconds(100), _life.Token).ConfigureAwait(false);
        if (extra.Count > 0)
            throw new CheckFailure($"{when}, bank(s) {string.Join(",", extra.Select(e => e.Bank).Distinct())} sent {extra.Count} more message(s) "
                + $"({string.Join(", ", extra.Select(e => MaskingWire.DecodeToAggregator(e.Message.Span).GetType().Name).Distinct())})");
    }

    /// <summary>Sends raw bytes to one bank.</summary>
    public ValueTask SendToAsync(int bank, byte[] message) => _transport.Aggregator.SendAsync(bank, message, _life.Token);

    /// <summary>The next message of <paramref name="bank"/>, decoded, or null if it sent none within the wait.</summary>
    public async Task<MaskingToAggregator?> NextAsync(int bank)
    {
        ReadOnlyMemory<byte>? m = await _mail.NextFromAsync(bank, _wait, _life.Token).ConfigureAwait(false);
        return m is { } bytes ? MaskingWire.DecodeToAggregator(bytes.Span) : null;
    }

    /// <summary>Every message the banks sent that the double has not read, after a short grace period.</summary>
    public async Task<List<(int Bank, MaskingToAggregator Message)>> DrainAsync() =>
        [.. (await _mail.DrainAsync(TimeSpan.FromMilliseconds(200), _life.Token).ConfigureAwait(false)).Select(d => (d.Bank, MaskingWire.DecodeToAggregator(d.Message.Span)))];

    /// <summary>How each bank's sum of the open round ended, waiting at most the double's wait for all of them together:
    /// (false, null) for a bank still running, (true, null) for a sum, (true, error) for the exception it ended with.</summary>
    public async Task<Dictionary<int, (bool Ended, Exception? Error)>> SumOutcomesAsync()
    {
        // Ends when every sum ended, or a bank sent something (a bank that answers is not aborting: no need to wait it out).
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(_life.Token))
        {
            Task<AggregatorDelivery?> read = _mail.NextAnyAsync(_wait, stop.Token);
            Task all = Task.WhenAll(_sums.Values);
            await Task.WhenAny(read, Task.WhenAny(all), Task.Delay(_wait, _life.Token)).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                if (await read.ConfigureAwait(false) is { } early) _mail.PutBack(early);
            }
            catch (OperationCanceledException) when (!_life.IsCancellationRequested) { }
        }
        return _sums.ToDictionary(kv => kv.Key, kv => kv.Value.Status switch
        {
            TaskStatus.RanToCompletion => (true, (Exception?)null),
            TaskStatus.Faulted => (true, kv.Value.Exception!.InnerException),
            TaskStatus.Canceled => (true, new OperationCanceledException()),
            _ => (false, null),
        });
    }

    private async Task SendAllAsync(IReadOnlyDictionary<int, byte[]> messages)
    {
        foreach (var (bank, bytes) in messages) await _transport.Aggregator.SendAsync(bank, bytes, _life.Token).ConfigureAwait(false);
    }

    private async Task BroadcastAsync(byte[] message)
    {
        for (int b = 0; b < Banks; b++) await _transport.Aggregator.SendAsync(b, message, _life.Token).ConfigureAwait(false);
    }

    /// <summary>Hands bank messages to the aggregator until it accepted <paramref name="count"/> of them (one per bank in every stage).</summary>
    private async Task CollectAsync(int count, string stage)
    {
        for (int accepted = 0; accepted < count; accepted++)
        {
            AggregatorDelivery d = await _mail.NextAnyAsync(_wait, _life.Token).ConfigureAwait(false)
                ?? throw new CheckFailure($"{stage}: a bank was silent for {_wait.TotalSeconds:0} s");
            try { _aggregator.Receive(d.Message.Span); }
            catch (ProtocolViolationException e) { throw new CheckFailure($"{stage}: the honest aggregator refused bank {d.Bank}'s message ({e.Reason})"); }
        }
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
        foreach (MaskingBank b in _banks) b?.Dispose();
        foreach (Ed25519SigningKey k in _identities) k.Dispose();
        foreach (RandomNumberGenerator r in _random) r.Dispose();
        _life.Dispose();
    }
}
