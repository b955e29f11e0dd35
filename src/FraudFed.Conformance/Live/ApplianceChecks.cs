// The live conformance flows that face a running aggregator appliance (SPEC.md 13, "Live conformance"): the runner
// plays every roster bank over the service contract (protocols/fraudfed/v1/service.proto) and the mode's wire messages,
// runs honest rounds whose sums it knows in advance, and sends the hostile messages a bank could send: replays,
// duplicates, wrong round or session, another bank's identity, a flipped signature bit, malformed and oversized bytes,
// an unpinned certificate, and (with a fuzz budget) seeded mutants of genuine messages. Each flow is one named check.
// The target must be a fresh session (a new state file) whose roster is the given banks: setup is part of the run.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Homomorphic;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using WireV1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Conformance.Live;

/// <summary>The appliance-facing live checks, in the order they run. Names are <c>appliance/&lt;mode&gt;/&lt;check&gt;</c>.</summary>
public static class ApplianceChecks
{
    /// <summary>Check names (after <c>appliance/&lt;mode&gt;/</c>) and what passing means, as SPEC.md 13 lists them.</summary>
    public static IReadOnlyList<(string Name, string Meaning)> Catalogue { get; } =
    [
        ("session-setup", "every roster bank completes the mode's session setup through the appliance"),
        ("honest-round-exact", "a round of every bank opens to exactly the plaintext sum (mod t or 2^k) with every bank as contributor"),
        ("delivery-with-answer", "a RoundRequest or Submit with deliver_after is answered with exactly the caller's committed mailbox items after it, oldest first, as its own Receive returns them; without it with none; a resend answers the same"),
        ("submit-wait", "a Submit with deliver_after and wait_milliseconds, when no item after deliver_after is committed, is answered only after that wait (with no items); when one is, at once with it"),
        ("replayed-message-refused", "another bank's accepted message, byte for byte, sent under this bank's certificate is refused"),
        ("wrong-round-refused", "a message for a round that is not open is refused"),
        ("wrong-session-refused", "a message naming another session id is refused"),
        ("other-bank-id-refused", "a message whose signed body names another bank as sender is refused with PERMISSION_DENIED, reason UnknownSender, in both modes"),
        ("invalid-signature-refused", "a genuine message with one signature bit flipped is refused"),
        ("malformed-protobuf-refused", "a truncated wrapper and an invalid varint length are refused with INVALID_ARGUMENT"),
        ("oversized-refused", "a message one byte over the limit, and one far over it, get RESOURCE_EXHAUSTED or INVALID_ARGUMENT, and the appliance still answers"),
        ("duplicate-submission-idempotent", "the same upload sent twice: the second answer is OK with resend=true and the first sequence, and the sum counts it once"),
        ("round-exact-after-hostile", "the round during which every hostile message above was sent opens to exactly the plaintext sum"),
        ("unknown-certificate-refused", "a client certificate the roster does not pin gets no answer (refused at TLS or PERMISSION_DENIED)"),
        ("fuzz-typed-statuses", "seeded mutants of genuine messages (truncate, flip, insert, length inflation) each get a typed status, never INTERNAL or UNKNOWN; with --self, managed memory stays bounded"),
        ("serves-after-fuzz", "after the fuzz loop, a round of every bank opens to exactly the plaintext sum"),
        ("dropout-round-completes", "a round without the last bank opens to exactly the others' sum with them as contributors; a window of fewer banks than any round needs opens no round, and each of its banks gets a RoundRefused item with the counts"),
    ];

    /// <summary>True when <paramref name="results"/> end at a failed <c>session-setup</c> check (no other check of the appliance ran).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="results"/> is null.</exception>
    public static bool SetupFailed(IReadOnlyList<LiveCheckResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return results.Any(r => !r.Passed && r.Name.EndsWith("/session-setup", StringComparison.Ordinal));
    }

    /// <summary>Refusals a bank may get for bad bytes (SPEC.md 14.5): never INTERNAL, UNKNOWN or OK.</summary>
    private static readonly StatusCode[] Refusals =
        [StatusCode.InvalidArgument, StatusCode.FailedPrecondition, StatusCode.PermissionDenied, StatusCode.ResourceExhausted, StatusCode.AlreadyExists, StatusCode.Aborted];

    /// <summary>Runs every check against <paramref name="target"/>, in the order of <see cref="Catalogue"/> (the fuzz checks only
    /// with a fuzz budget). When session setup fails the run ends there: the result is the one failed <c>session-setup</c>
    /// check, saying why (see <see cref="SetupFailed"/>).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<IReadOnlyList<LiveCheckResult>> RunAsync(LiveTarget target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var run = new Run(target, cancellationToken);
        try { await run.AllAsync().ConfigureAwait(false); }
        finally { run.Dispose(); }
        return run.Results;
    }

    private sealed class Run(LiveTarget target, CancellationToken ct) : IDisposable
    {
        private readonly List<WireBank> _banks = Enumerable.Range(0, target.Settings.Banks).Select(target.Open).ToList();
        private readonly string _mode = target.Settings.IsHomomorphic ? "he" : "masking";
        private readonly Random _values = new(7);
        private readonly ulong _modulus = target.Settings.IsHomomorphic
            ? 1UL << target.Settings.BuildHeRoster().Parameters.PlainModulusBits
            : target.Settings.Masking!.ModulusBits >= 64 ? 0 : 1UL << target.Settings.Masking.ModulusBits;

        public List<LiveCheckResult> Results { get; } = [];

        private void Record(string check, bool passed, string detail, Stopwatch sw) => Record(check, passed, detail, sw.Elapsed.TotalSeconds);

        private void Record(string check, bool passed, string detail, double seconds) =>
            Results.Add(new LiveCheckResult($"appliance/{_mode}/{check}", passed, LiveFailure.OneLine(detail), Math.Round(seconds, 3)));

        private async Task<bool> CheckAsync(string check, Func<Task<(bool, string)>> body)
        {
            var sw = Stopwatch.StartNew();
            (bool ok, string detail) = (false, "");
            try { (ok, detail) = await body().ConfigureAwait(false); }
            catch (Exception e) when (e is LiveFlowException or RpcException or FraudFed.Cryptography.ProtocolViolationException or InvalidOperationException or IOException or HttpRequestException)
            {
                (ok, detail) = (false, LiveFailure.Describe(e, target.Options.Target, setup: check == "session-setup"));
            }
            Record(check, ok, detail, sw);
            return ok;
        }

        public async Task AllAsync()
        {
            // A setup failure ends the run: every later check needs the session (the report says so in one line).
            if (!await CheckAsync("session-setup", async () =>
                {
                    // Each bank's first call, one bank after another, so that a refused certificate or a wrong address is named
                    // for the bank it concerns before any setup message is sent.
                    foreach (WireBank b in _banks) await b.ConnectAsync(ct).ConfigureAwait(false);
                    await Task.WhenAll(_banks.Select(b => b.SetupAsync(ct))).ConfigureAwait(false);
                    return (true, $"{_banks.Count} banks ready");
                }).ConfigureAwait(false))
                return;
            await CheckAsync("honest-round-exact", () => HonestRoundAsync(_banks)).ConfigureAwait(false);
            await CheckAsync("delivery-with-answer", DeliveryWithAnswerAsync).ConfigureAwait(false);
            await CheckAsync("submit-wait", SubmitWaitAsync).ConfigureAwait(false);
            await HostileRoundAsync().ConfigureAwait(false);
            await CheckAsync("unknown-certificate-refused", UnknownCertificateAsync).ConfigureAwait(false);
            if (target.Options.FuzzMutants > 0)
            {
                await CheckAsync("fuzz-typed-statuses", FuzzAsync).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(1.1), ct).ConfigureAwait(false); // the per-bank rate limit refills
                await CheckAsync("serves-after-fuzz", () => HonestRoundAsync(_banks)).ConfigureAwait(false);
            }
            await CheckAsync("dropout-round-completes", DropoutAsync).ConfigureAwait(false);
        }

        private ulong[] Values() => Enumerable.Range(0, target.Options.VectorLength).Select(_ => (ulong)_values.NextInt64(1L << 20)).ToArray();

        private ulong[] Expected(IEnumerable<ulong[]> vectors)
        {
            var sum = new ulong[target.Options.VectorLength];
            foreach (ulong[] v in vectors)
                for (int i = 0; i < sum.Length; i++) sum[i] = _modulus == 0 ? sum[i] + v[i] : (sum[i] + v[i]) % _modulus;
            return sum;
        }

        /// <summary>A round of <paramref name="banks"/>: every bank must be told the same sum, equal to the plaintext sum, with exactly them as contributors.</summary>
        private async Task<(bool, string)> HonestRoundAsync(IReadOnlyList<WireBank> banks)
        {
            ulong[][] inputs = banks.Select(_ => Values()).ToArray();
            WireSum[] sums = await Task.WhenAll(banks.Select((b, i) => b.SumAsync(inputs[i], ct))).ConfigureAwait(false);
            return Compare(sums, Expected(inputs), banks.Select(b => b.Bank).ToArray());
        }

        private static (bool, string) Compare(WireSum[] sums, ulong[] expected, int[] contributors)
        {
            foreach (WireSum s in sums)
            {
                if (!s.Sum.SequenceEqual(expected)) return (false, $"round {s.Round}: the opened sum differs from the plaintext sum at position {FirstDifference(s.Sum, expected)}");
                if (!s.Contributors.Order().SequenceEqual(contributors)) return (false, $"round {s.Round}: contributors [{string.Join(",", s.Contributors)}], expected [{string.Join(",", contributors)}]");
            }
            return (true, $"round {sums[0].Round}: {expected.Length} values exact, contributors [{string.Join(",", contributors)}]");
        }

        private static int FirstDifference(ulong[] a, ulong[] b)
        {
            for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (a[i] != b[i]) return i;
            return Math.Min(a.Length, b.Length);
        }

        /// <summary>Delivery with the answer (SPEC.md 14.5). First, at a quiet moment (the last round ended at every bank):
        /// bank 0 asks for the next round with deliver_after just below its last three mailbox items, twice, and must get those
        /// items both times; bank 1 asks without deliver_after and must get none. Then every bank runs that round setting
        /// deliver_after on each genuine Submit to the sequence before the last item it read, and sends each message again
        /// with the same deliver_after: every answer must hold consecutive items from deliver_after + 1 (so none already read,
        /// oldest first, at most 64), at least up to the item it had read (committed before the call), each equal to the
        /// caller's own mailbox item of that sequence (so none of another bank), the resend the same sequence and the first
        /// answer's items again. The round must open to the exact sum.</summary>
        private async Task<(bool, string)> DeliveryWithAnswerAsync()
        {
            WireBank first = _banks[0], second = _banks[1];
            int length = target.Options.VectorLength;
            IReadOnlyList<MailboxItem> before = await MailboxAsync(first).ConfigureAwait(false);
            if (before.Count == 0) return (false, "bank 0's mailbox is empty after a round");
            ulong after = before[Math.Max(0, before.Count - 3)].Sequence - 1;
            int committed = Math.Min(MaxDelivered, before.Count(i => i.Sequence > after));
            RoundRequestReply asked = await first.Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)length, DeliverAfter = after },
                deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct).ConfigureAwait(false);
            RoundRequestReply again = await first.Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)length, DeliverAfter = after },
                deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct).ConfigureAwait(false);
            RoundRequestReply plain = await second.Grpc.RequestRoundAsync(new RoundRequest { Length = (uint)length },
                deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct).ConfigureAwait(false);
            foreach (WireBank b in _banks) b.DeliverWithAnswers = true;
            (bool roundOk, string roundDetail) result;
            try { result = await HonestRoundAsync(_banks).ConfigureAwait(false); }
            finally { foreach (WireBank b in _banks) b.DeliverWithAnswers = false; }
            if (!result.roundOk) return (false, "the round run with deliver_after: " + result.roundDetail);

            var mailboxes = new List<Dictionary<ulong, MailboxItem>>();
            foreach (WireBank b in _banks) mailboxes.Add((await MailboxAsync(b).ConfigureAwait(false)).ToDictionary(i => i.Sequence));
            string? problem =
                Delivered("bank 0's RoundRequest", after, asked.Items, committed, mailboxes[0])
                ?? Delivered("bank 0's RoundRequest sent again", after, again.Items, committed, mailboxes[0])
                ?? (again.Round != asked.Round || !again.Items.SequenceEqual(asked.Items)
                    ? $"bank 0's RoundRequest sent again was answered round {again.Round} with {Sequences(again.Items)}, the first time round {asked.Round} with {Sequences(asked.Items)}"
                    : null)
                ?? (plain.Items.Count > 0 ? $"bank 1's RoundRequest without deliver_after was answered with {Sequences(plain.Items)}" : null);
            int submits = 0;
            for (int b = 0; b < _banks.Count && problem is null; b++)
            {
                foreach (WireBank.Delivery d in _banks[b].Deliveries)
                {
                    submits++;
                    string what = $"bank {b}'s Submit with deliver_after {d.DeliverAfter}";
                    problem = Delivered(what, d.DeliverAfter, d.Answer.Items, (int)Math.Min(MaxDelivered, d.Read - d.DeliverAfter), mailboxes[b])
                        ?? (!d.Resend.Accepted || !d.Resend.Resend || d.Resend.Sequence != d.Answer.Sequence
                            ? $"{what} sent again: {d.Resend}, the first answer {d.Answer}"
                            : null)
                        ?? Delivered(what + " sent again", d.DeliverAfter, d.Resend.Items, d.Answer.Items.Count, mailboxes[b])
                        ?? (!d.Resend.Items.Take(d.Answer.Items.Count).SequenceEqual(d.Answer.Items)
                            ? $"{what} sent again was answered with {Sequences(d.Resend.Items)}, the first time with {Sequences(d.Answer.Items)}"
                            : null);
                    if (problem is not null) break;
                }
                _banks[b].Deliveries.Clear();
            }
            if (problem is null && submits == 0) problem = "no Submit of the round was sent with deliver_after";
            return problem is null
                ? (true, $"round {asked.Round}: bank 0's RoundRequest with deliver_after {after} (twice) got {Sequences(asked.Items)}, bank 1's without it none; "
                    + $"{submits} Submits with deliver_after and their resends got the items after it, as Receive returns them; {result.roundDetail}")
                : (false, problem);
        }

        /// <summary>submit-wait (SPEC.md 14.5, delivery with the answer): with every mailbox still after a round, bank 0 sends its
        /// last accepted message again (a resend: nothing changes) with deliver_after one below its last mailbox item and a wait
        /// of 20 s: the answer must be the resend and carry exactly that item (as <see cref="Delivered"/> checks), well before the
        /// wait ends (an item already committed is not waited for); then again with deliver_after at that last item and a wait
        /// of <see cref="ShortWait"/>: the answer must be the resend, with no items, and come only after that wait.</summary>
        private async Task<(bool, string)> SubmitWaitAsync()
        {
            WireBank first = _banks[0];
            if (first.Accepted.Count == 0) return (false, "bank 0 has no accepted message to send again");
            IReadOnlyList<MailboxItem> items = await MailboxAsync(first).ConfigureAwait(false);
            if (items.Count == 0) return (false, "bank 0's mailbox is empty after a round");
            Dictionary<ulong, MailboxItem> mailbox = items.ToDictionary(i => i.Sequence);
            ulong last = items[^1].Sequence;
            byte[] message = first.Accepted[^1];

            var clock = Stopwatch.StartNew();
            SubmitOutcome ready = await first.TrySubmitAsync(message, ct, last - 1, 20_000).ConfigureAwait(false);
            TimeSpan readyAfter = clock.Elapsed;
            string what = $"bank 0's last accepted message sent again with deliver_after {last - 1} and wait_milliseconds 20000";
            if (!ready.Accepted || !ready.Resend) return (false, $"{what}: {ready}, not an accepted resend");
            if (Delivered(what, last - 1, ready.Items, 1, mailbox) is { } wrong) return (false, wrong);
            if (readyAfter > TimeSpan.FromSeconds(10))
                return (false, $"{what} was answered after {readyAfter.TotalSeconds:0.0} s although item {last} was committed: it waited");

            clock.Restart();
            SubmitOutcome held = await first.TrySubmitAsync(message, ct, last, (uint)ShortWait.TotalMilliseconds).ConfigureAwait(false);
            TimeSpan heldFor = clock.Elapsed;
            what = $"bank 0's last accepted message sent again with deliver_after {last} (its last item) and wait_milliseconds {ShortWait.TotalMilliseconds:0}";
            if (!held.Accepted || !held.Resend) return (false, $"{what}: {held}, not an accepted resend");
            if (held.Items.Count > 0) return (false, $"{what} was answered with {Sequences(held.Items)}");
            // A lower bound only (a loaded appliance answers later, never earlier), at 3/4 of the wait for timer granularity.
            if (heldFor < ShortWait * 0.75) return (false, $"{what} was answered after {heldFor.TotalMilliseconds:0} ms, before the wait ended");
            return (true, $"with deliver_after {last - 1}: item {last} after {readyAfter.TotalMilliseconds:0} ms; with deliver_after {last}: no items after {heldFor.TotalMilliseconds:0} ms (wait {ShortWait.TotalMilliseconds:0} ms)");
        }

        /// <summary>The wait that submit-wait asks for when nothing is to come.</summary>
        private static readonly TimeSpan ShortWait = TimeSpan.FromMilliseconds(400);

        /// <summary>The most items an answer carries (SPEC.md 14.5).</summary>
        private const int MaxDelivered = 64;

        /// <summary>Null when the items of <paramref name="answer"/> are consecutive from <paramref name="after"/> + 1, at least
        /// <paramref name="atLeast"/> and at most 64 of them, each equal to the caller's own mailbox item of its sequence.</summary>
        private static string? Delivered(string what, ulong after, IEnumerable<MailboxItem> answer, int atLeast, IReadOnlyDictionary<ulong, MailboxItem> mailbox)
        {
            List<MailboxItem> items = answer.ToList();
            for (int i = 0; i < items.Count; i++)
            {
                ulong expected = after + 1 + (ulong)i;
                if (items[i].Sequence != expected)
                    return $"{what} was answered with {Sequences(items)}: item {i + 1} should be sequence {expected} (after deliver_after, oldest first, none skipped)";
                if (!mailbox.TryGetValue(expected, out MailboxItem? own) || !own.Equals(items[i]))
                    return $"{what} was answered with an item {expected} that is not the caller's own mailbox item {expected} (as Receive returns it)";
            }
            if (items.Count > MaxDelivered) return $"{what} was answered with {items.Count} items, more than {MaxDelivered}";
            if (items.Count < atLeast)
                return $"{what} was answered with {Sequences(items)}, but {atLeast} item{(atLeast == 1 ? "" : "s")} after {after} were already committed (the caller had read {(atLeast == 1 ? "it" : "them")})";
            return null;
        }

        private static string Sequences(IEnumerable<MailboxItem> items)
        {
            ulong[] s = items.Select(i => i.Sequence).ToArray();
            return s.Length switch { 0 => "no items", 1 => $"item {s[0]}", _ => $"items {string.Join(",", s)}" };
        }

        /// <summary>Every item of <paramref name="bank"/>'s mailbox, oldest first (Receive with wait 0, page by page).</summary>
        private async Task<IReadOnlyList<MailboxItem>> MailboxAsync(WireBank bank)
        {
            var all = new List<MailboxItem>();
            for (ulong after = 0; ;)
            {
                ReceiveReply page = await bank.Grpc.ReceiveAsync(new ReceiveRequest { AfterSequence = after, WaitMilliseconds = 0, MaxItems = 1024 },
                    deadline: DateTime.UtcNow.AddSeconds(60), cancellationToken: ct).ConfigureAwait(false);
                if (page.Items.Count == 0) return all;
                all.AddRange(page.Items);
                after = page.Items[^1].Sequence;
            }
        }

        /// <summary>A round in which bank 0, holding its genuine upload, first sends every hostile variant of it, then the upload twice.</summary>
        private async Task HostileRoundAsync()
        {
            WireBank bank = _banks[0], other = _banks[1];
            var probes = new List<(string Check, bool Passed, string Detail, double Seconds)>();
            (SubmitOutcome First, SubmitOutcome Second)? duplicate = null;

            async Task Probe(string check, Func<Task<(bool, string)>> body)
            {
                var sw = Stopwatch.StartNew();
                try { var (ok, detail) = await body().ConfigureAwait(false); probes.Add((check, ok, detail, sw.Elapsed.TotalSeconds)); }
                catch (Exception e) when (e is RpcException or LiveFlowException or InvalidProtocolBufferException or ArgumentException)
                {
                    probes.Add((check, false, LiveFailure.Describe(e, target.Options.Target, setup: false), sw.Elapsed.TotalSeconds));
                }
            }

            bank.BeforeUpload = async genuine =>
            {
                await Probe("replayed-message-refused", async () =>
                {
                    byte[] replay = other.Accepted[^1];
                    SubmitOutcome o = await bank.TrySubmitAsync(replay, ct).ConfigureAwait(false);
                    return (Refused(o), $"a replay of bank {other.Bank}'s accepted message, sent under bank {bank.Bank}'s certificate: {o}");
                }).ConfigureAwait(false);
                await Probe("wrong-round-refused", async () =>
                {
                    SubmitOutcome o = await bank.TrySubmitAsync(WithRound(bank, genuine, 7), ct).ConfigureAwait(false);
                    return (Refused(o), $"the upload for round +7: {o}");
                }).ConfigureAwait(false);
                await Probe("wrong-session-refused", async () =>
                {
                    SubmitOutcome o = await bank.TrySubmitAsync(WithSession(bank, genuine, RandomNumberGenerator.GetBytes(16)), ct).ConfigureAwait(false);
                    return (Refused(o), $"the upload with another session id: {o}");
                }).ConfigureAwait(false);
                await Probe("other-bank-id-refused", async () =>
                {
                    SubmitOutcome o = await bank.TrySubmitAsync(WithSender(bank, genuine, other.Bank), ct).ConfigureAwait(false);
                    // SPEC.md 14.1: UnknownSender in both modes (checked before the signature, which is the certificate bank's).
                    return (o.Status == StatusCode.PermissionDenied && o.Reason == "UnknownSender",
                        $"the upload naming bank {other.Bank} as sender, signed by bank {bank.Bank}: {o}");
                }).ConfigureAwait(false);
                await Probe("invalid-signature-refused", async () =>
                {
                    SubmitOutcome o = await bank.TrySubmitAsync(FlipSignatureBit(bank, genuine), ct).ConfigureAwait(false);
                    return (Refused(o), $"the upload with one signature bit flipped: {o}");
                }).ConfigureAwait(false);
                await Probe("malformed-protobuf-refused", async () =>
                {
                    SubmitOutcome truncated = await bank.TrySubmitAsync(genuine[..(genuine.Length / 2)], ct).ConfigureAwait(false);
                    SubmitOutcome varint = await bank.TrySubmitAsync([0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], ct).ConfigureAwait(false);
                    bool ok = truncated.Status == StatusCode.InvalidArgument && varint.Status == StatusCode.InvalidArgument;
                    return (ok, $"truncated wrapper: {truncated}; invalid varint length: {varint}");
                }).ConfigureAwait(false);
                await Probe("oversized-refused", async () =>
                {
                    SubmitOutcome justOver = await bank.TrySubmitAsync(new byte[target.MaxMessageBytes + 1], ct).ConfigureAwait(false);
                    SubmitOutcome farOver = await bank.TrySubmitAsync(new byte[target.MaxMessageBytes + (1 << 20)], ct).ConfigureAwait(false);
                    bool typed = justOver.Status is StatusCode.ResourceExhausted or StatusCode.InvalidArgument
                        && farOver.Status is StatusCode.ResourceExhausted or StatusCode.InvalidArgument;
                    SessionInfo info = await bank.Grpc.GetSessionAsync(new GetSessionRequest(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct).ConfigureAwait(false);
                    return (typed && info.Bank == (uint)bank.Bank, $"{target.MaxMessageBytes + 1} bytes: {justOver}; {target.MaxMessageBytes + (1 << 20)} bytes: {farOver}; GetSession afterwards answered");
                }).ConfigureAwait(false);
                SubmitOutcome first = await bank.TrySubmitAsync(genuine, ct).ConfigureAwait(false);
                SubmitOutcome second = await bank.TrySubmitAsync(genuine, ct).ConfigureAwait(false);
                duplicate = (first, second);
            };

            var sw = Stopwatch.StartNew();
            (bool roundOk, string roundDetail) = (false, "");
            try { (roundOk, roundDetail) = await HonestRoundAsync(_banks).ConfigureAwait(false); }
            catch (Exception e) when (e is LiveFlowException or RpcException) { roundDetail = LiveFailure.Describe(e, target.Options.Target, setup: false); }
            bank.BeforeUpload = null;
            foreach (var p in probes) Record(p.Check, p.Passed, p.Detail, p.Seconds);
            if (duplicate is { } d)
            {
                bool idempotent = d.First.Accepted && !d.First.Resend && d.Second.Accepted && d.Second.Resend && d.Second.Sequence == d.First.Sequence;
                Record("duplicate-submission-idempotent", idempotent && roundOk,
                    $"first: {d.First}; second: {d.Second}; {(roundOk ? "the sum counts it once" : "the round's sum is wrong or missing")}", sw);
            }
            else Record("duplicate-submission-idempotent", false, "the round never reached bank 0's upload: " + roundDetail, sw);
            if (probes.Count == 0) foreach (var (name, _) in Catalogue.Skip(3).Take(7)) Record(name, false, "the round never reached bank 0's upload: " + roundDetail, sw);
            Record("round-exact-after-hostile", roundOk, roundDetail, sw);
        }

        private static bool Refused(SubmitOutcome o) => Refusals.Contains(o.Status);

        private byte[] WithRound(WireBank bank, byte[] genuine, uint delta)
        {
            if (bank.IsHomomorphic)
            {
                var w = WireV1.HeBankMessage.Parser.ParseFrom(genuine);
                w.Upload.Round += delta;
                return w.ToByteArray();
            }
            MaskedInput m = MaskingWire.DecodeToAggregator<MaskedInput>(genuine);
            using Ed25519SigningKey key = bank.IdentityKey();
            return (m with { Round = m.Round + delta }).Encode(key);
        }

        private byte[] WithSession(WireBank bank, byte[] genuine, byte[] session)
        {
            if (bank.IsHomomorphic)
            {
                var w = WireV1.HeBankMessage.Parser.ParseFrom(genuine);
                w.SessionId = ByteString.CopyFrom(session);
                return w.ToByteArray();
            }
            MaskedInput m = MaskingWire.DecodeToAggregator<MaskedInput>(genuine);
            using Ed25519SigningKey key = bank.IdentityKey();
            return (m with { SessionId = session }).Encode(key);
        }

        /// <summary>Masking: the MaskedInput body names <paramref name="sender"/>; homomorphic: the upload manifest does (SPEC.md 12.2).
        /// Both are signed with the sending bank's own identity key, so only the identity check can refuse them.</summary>
        private byte[] WithSender(WireBank bank, byte[] genuine, int sender)
        {
            using Ed25519SigningKey key = bank.IdentityKey();
            if (bank.IsHomomorphic)
            {
                var w = WireV1.HeBankMessage.Parser.ParseFrom(genuine);
                byte[] manifest = w.Upload.Manifest.ToByteArray();
                int body = manifest.Length - Ed25519SigningKey.SignatureSize;
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(manifest.AsSpan(25), sender);
                byte[] signature = key.Sign([.. "FraudFed/v1/he/manifest"u8, .. SHA256.HashData(manifest.AsSpan(0, body))]);
                signature.CopyTo(manifest, body);
                w.Upload.Manifest = ByteString.CopyFrom(manifest);
                return w.ToByteArray();
            }
            MaskedInput m = MaskingWire.DecodeToAggregator<MaskedInput>(genuine);
            return (m with { Sender = sender }).Encode(key);
        }

        private static byte[] FlipSignatureBit(WireBank bank, byte[] genuine)
        {
            if (bank.IsHomomorphic)
            {
                var w = WireV1.HeBankMessage.Parser.ParseFrom(genuine);
                byte[] manifest = w.Upload.Manifest.ToByteArray();
                manifest[^1] ^= 0x01;
                w.Upload.Manifest = ByteString.CopyFrom(manifest);
                return w.ToByteArray();
            }
            var x = WireV1.MaskingBankMessage.Parser.ParseFrom(genuine);
            byte[] signature = x.MaskedInput.Signature.ToByteArray();
            signature[^1] ^= 0x01;
            x.MaskedInput.Signature = ByteString.CopyFrom(signature);
            return x.ToByteArray();
        }

        /// <summary>GetSession with a fresh self-signed client certificate (valid, but pinned nowhere) must not be answered.</summary>
        private async Task<(bool, string)> UnknownCertificateAsync()
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=not on the roster", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
            using X509Certificate2 ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            using X509Certificate2 stranger = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
            using GrpcChannel channel = WireBank.OpenChannel(target.Options.Target, stranger, target.Banks[0].Authority);
            var client = new Federation.FederationClient(channel);
            try
            {
                SessionInfo info = await client.GetSessionAsync(new GetSessionRequest(), deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct).ConfigureAwait(false);
                return (false, $"the appliance answered an unpinned certificate (as bank {info.Bank})");
            }
            catch (RpcException e) when (e.StatusCode is not StatusCode.OK)
            {
                return (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.PermissionDenied or StatusCode.Unauthenticated,
                    $"refused: {e.StatusCode} ({(e.StatusCode == StatusCode.PermissionDenied ? "authorization" : "TLS handshake")})");
            }
        }

        /// <summary>Resends of a rate-limited mutant (the appliance's token bucket refills every second).</summary>
        private const int RateLimitRetries = 8;
        private static readonly TimeSpan RateLimitWait = TimeSpan.FromMilliseconds(250);

        /// <summary>RESOURCE_EXHAUSTED from the per-bank rate limit (SPEC.md 14.5: no reason trailer, "calls per second"), not a
        /// decoder's refusal of an oversized or inflated message.</summary>
        private static bool IsRateLimited(SubmitOutcome o) =>
            o.Status == StatusCode.ResourceExhausted && o.Reason is null && o.Detail.Contains("calls per second", StringComparison.Ordinal);

        /// <summary>The seeded mutation loop: every bank's genuine accepted messages, mutated, each sent by a bank in turn.</summary>
        private async Task<(bool, string)> FuzzAsync()
        {
            List<byte[]> templates = _banks.SelectMany(b => b.Accepted).Where(m => m.Length <= target.MaxMessageBytes).ToList();
            if (templates.Count == 0) return (false, "no genuine message to mutate");
            var mutator = new WireMutator(target.Options.FuzzSeed, target.MaxMessageBytes);
            long before = target.Options.MemoryProbe?.Invoke() ?? 0;
            var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
            var failures = new List<string>();
            var clock = Stopwatch.StartNew();
            int sent = 0, limited = 0, stillLimited = 0;
            for (; sent < target.Options.FuzzMutants && clock.Elapsed.TotalSeconds < target.Options.FuzzSeconds; sent++)
            {
                byte[] template = templates[sent % templates.Count];
                (string kind, byte[] mutant) = mutator.Mutate(template);
                WireBank from = _banks[sent % _banks.Count];
                SubmitOutcome o = await from.TrySubmitAsync(mutant, ct).ConfigureAwait(false);
                if (IsRateLimited(o))
                {
                    // The per-bank rate limiter answered, not a decoder: wait for its bucket to refill and send the same mutant
                    // again, a bounded number of times, so that mutants reach the decoders.
                    limited++;
                    for (int retry = 0; retry < RateLimitRetries && IsRateLimited(o); retry++)
                    {
                        await Task.Delay(RateLimitWait, ct).ConfigureAwait(false);
                        o = await from.TrySubmitAsync(mutant, ct).ConfigureAwait(false);
                    }
                    if (IsRateLimited(o)) stillLimited++;
                }
                string key = o.Accepted ? (o.Resend ? "OK(resend)" : "OK") : IsRateLimited(o) ? "RateLimited" : o.Status.ToString();
                counts[key] = counts.GetValueOrDefault(key) + 1;
                if (!o.Accepted && !Refused(o) && failures.Count < 5) failures.Add($"mutant {sent} ({kind} of a {template.Length}-byte message from bank {from.Bank}): {o} {LiveFailure.PlainDetail(o.Detail)}");
            }
            string memory = "";
            bool bounded = true;
            if (target.Options.MemoryProbe is { } probe)
            {
                long after = probe();
                long grown = after - before;
                bounded = grown < 256L << 20;
                memory = $"; managed memory {before >> 20} -> {after >> 20} MiB{(bounded ? "" : " (grew by more than 256 MiB)")}";
            }
            string tally = string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value}"));
            string pacing = $"; {limited} rate limited (RESOURCE_EXHAUSTED from the per-bank limit) and resent, {stillLimited} of them still limited after {RateLimitRetries} tries";
            return (failures.Count == 0 && bounded,
                $"seed {target.Options.FuzzSeed}: {sent} mutants in {clock.Elapsed.TotalSeconds:0.0} s: {tally}{pacing}{memory}{(failures.Count == 0 ? "" : "; " + string.Join("; ", failures))}");
        }

        /// <summary>The last bank never joins the round; the others' round must open without it (or fail, when too few remain).</summary>
        /// <summary>The fewest banks a round of the session needs: max(T, K_min) homomorphic (SPEC.md 12.3), M masking (8.3).</summary>
        private int Minimum() => target.Settings.IsHomomorphic
            ? Math.Max(target.Settings.He!.Threshold, target.Settings.He.MinContributors)
            : target.Settings.BuildMaskingParameters(_banks[0].SessionId).MinimumSurvivors;

        /// <summary>The last bank never asks: after the join deadline the others' round opens to exactly their sum, or, when they
        /// are fewer than the minimum, no round opens and each is told so. Then (when the minimum is 2 or more and the first part
        /// did not show it already) a window of one bank fewer than the minimum must end the same way, without a round.</summary>
        private async Task<(bool, string)> DropoutAsync()
        {
            List<WireBank> rest = _banks.Take(_banks.Count - 1).ToList();
            int needed = Minimum();
            (bool ok, string detail) = rest.Count >= needed ? await HonestRoundAsync(rest).ConfigureAwait(false) : await RefusedWindowAsync(rest, needed).ConfigureAwait(false);
            if (!ok || needed < 2 || needed - 1 >= rest.Count) return (ok, detail);
            (bool refusedOk, string refused) = await RefusedWindowAsync(_banks.Take(needed - 1).ToList(), needed).ConfigureAwait(false);
            return (refusedOk, refusedOk ? $"{detail}; {refused}" : refused);
        }

        /// <summary><paramref name="banks"/> (fewer than <paramref name="needed"/>) ask for a round and no other bank does: at the
        /// join deadline no round may open, and every one of them must get a RoundRefused item of the round it was answered with,
        /// reason TooFewParticipants, with the counts (SPEC.md 14.5, "Rounds and deadlines").</summary>
        private async Task<(bool, string)> RefusedWindowAsync(IReadOnlyList<WireBank> banks, int needed)
        {
            Task<WireSum>[] sums = banks.Select(b => b.SumAsync(Values(), ct)).ToArray();
            var rounds = new List<ulong>();
            string? problem = null;
            for (int i = 0; i < banks.Count; i++)
            {
                try
                {
                    WireSum s = await sums[i].ConfigureAwait(false);
                    problem ??= $"a round of {banks.Count} bank(s) opened (round {s.Round}, bank {banks[i].Bank} got its sum) although {needed} are needed";
                }
                catch (LiveFlowException e) when (e.RoundRefused is { } r)
                {
                    rounds.Add(r.Round);
                    if (r.Reason != "TooFewParticipants" || r.Asked != (uint)banks.Count || r.Needed != (uint)needed)
                        problem ??= $"bank {banks[i].Bank}'s RoundRefused says reason {r.Reason}, {r.Asked} asked, {r.Needed} needed; expected TooFewParticipants, {banks.Count} asked, {needed} needed";
                }
                catch (LiveFlowException e)
                {
                    problem ??= $"{banks.Count} bank(s) asked, fewer than the {needed} needed, and bank {banks[i].Bank}'s request ended without a RoundRefused item: {e.Message}";
                }
            }
            if (problem is not null) return (false, problem);
            if (rounds.Distinct().Count() != 1) return (false, $"the banks of one window were refused different rounds: {string.Join(", ", rounds)}");
            return (true, $"{banks.Count} bank(s), fewer than the {needed} needed: round {rounds[0]} did not open, each was told (TooFewParticipants, {banks.Count} asked)");
        }

        public void Dispose()
        {
            foreach (WireBank b in _banks) b.Dispose();
        }
    }
}
