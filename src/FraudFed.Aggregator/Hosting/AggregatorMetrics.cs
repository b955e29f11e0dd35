// The appliance's metrics (OpenTelemetry meter "FraudFed.Aggregator", scraped as Prometheus text at /metrics):
// rounds by outcome, bytes in and out, stage durations, refusals by reason, and banks seen in the last minute.
// No label carries a secret or a message's content.
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace FraudFed.Aggregator.Hosting;

/// <summary>Counters and histograms of the appliance.</summary>
public sealed class AggregatorMetrics : IDisposable
{
    /// <summary>The meter name to export.</summary>
    public const string MeterName = "FraudFed.Aggregator";
    /// <summary>The OpenTelemetry <c>service.name</c> of the appliance (Prometheus: <c>target_info{service_name=...}</c>).</summary>
    public const string ServiceName = "fraudfed-aggregator";

    /// <summary>Bucket bounds (seconds) of <c>fraudfed_stage_duration_seconds</c>: from a stage closed at once in process (ms) to
    /// one that waited for its deadline (the default deadlines are minutes), instead of OpenTelemetry's millisecond defaults.</summary>
    public static readonly IReadOnlyList<double> StageBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
    /// <summary>Bucket bounds (seconds) of <c>fraudfed_intake_duration_seconds</c> (validate, apply and fsync one message).</summary>
    public static readonly IReadOnlyList<double> IntakeBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _rounds, _bytesIn, _bytesOut, _rejects, _accepted;
    private readonly Histogram<double> _stage, _intake;
    private readonly ConcurrentDictionary<int, long> _lastSeen = new();

    /// <summary>Creates the instruments.</summary>
    public AggregatorMetrics()
    {
        _rounds = _meter.CreateCounter<long>("fraudfed_rounds", description: "Rounds ended, by outcome (ok or the failure reason).");
        _bytesIn = _meter.CreateCounter<long>("fraudfed_received_bytes", "By", "Bytes of accepted bank messages.");
        _bytesOut = _meter.CreateCounter<long>("fraudfed_sent_bytes", "By", "Bytes of mailbox items written.");
        _rejects = _meter.CreateCounter<long>("fraudfed_rejects", description: "Refused calls, by reason.");
        _accepted = _meter.CreateCounter<long>("fraudfed_accepted_messages", description: "Accepted bank messages.");
        _stage = _meter.CreateHistogram("fraudfed_stage_duration", "s", "Time spent in each protocol stage.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StageBuckets });
        _intake = _meter.CreateHistogram("fraudfed_intake_duration", "s", "Time to validate, apply and persist one bank message.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = IntakeBuckets });
        _meter.CreateObservableGauge("fraudfed_connected_banks", () => (long)_lastSeen.Values.Count(t => Environment.TickCount64 - t < 60_000),
            description: "Roster banks that called in the last 60 s.");
    }

    /// <summary>A roster bank called.</summary>
    public void Seen(int bank) => _lastSeen[bank] = Environment.TickCount64;
    /// <summary>A message was accepted and persisted.</summary>
    public void Accepted(long bytes, double seconds) { _accepted.Add(1); _bytesIn.Add(bytes); _intake.Record(seconds); }
    /// <summary>A mailbox item was written.</summary>
    public void BytesSent(long bytes) => _bytesOut.Add(bytes);
    /// <summary>The <c>reason</c> of <c>fraudfed_rejects_total</c> for a TLS handshake refused because the client certificate is
    /// not pinned in the roster.</summary>
    public const string CertificateReason = "certificate";
    /// <summary>The <c>reason</c> of <c>fraudfed_rejects_total</c> for a TLS connection that ended without a call and without the
    /// appliance refusing its certificate, once its ClientHello arrived: typically a bank that refused the appliance's server
    /// certificate (its <c>bank.json</c> trusts another authority or names another host): under TLS 1.3 it completes its side
    /// of the handshake and closes the connection before HTTP/2, under TLS 1.2 it aborts the handshake with an alert. Also a
    /// client that closed or timed out in the handshake. Not <see cref="CertificateReason"/>: the appliance refused nothing.</summary>
    public const string TlsHandshakeReason = "tls_handshake";
    /// <summary>The <c>reason</c> of <c>fraudfed_rejects_total</c> for a call whose message the gRPC layer refused for its size
    /// (above <c>max_message_bytes</c> + 1 KiB, RESOURCE_EXHAUSTED with no <c>fraudfed-violation</c> trailer, SPEC.md 14.5), before
    /// the message was allocated. A message within that cap but above <c>max_message_bytes</c> is counted as <c>Oversized</c>.</summary>
    public const string TransportOversizedReason = "TransportOversized";
    /// <summary>A call (or a TLS handshake, <see cref="CertificateReason"/>, <see cref="TlsHandshakeReason"/>) was refused or failed.</summary>
    public void Rejected(string reason) => _rejects.Add(1, new KeyValuePair<string, object?>("reason", reason));
    /// <summary>A round ended.</summary>
    public void RoundEnded(bool ok, string reason) => _rounds.Add(1, new KeyValuePair<string, object?>("outcome", ok ? "ok" : reason));
    /// <summary>A stage ended after <paramref name="seconds"/> (a setup stage's time counts from the first bank's message, not
    /// from the appliance's start). <paramref name="stage"/> is the coordinator's stage key (the party's state name, e.g.
    /// "CollectingUploads(round 3)" or "MaskedInput/3"); the label is <see cref="StageLabel"/>.</summary>
    public void StageEnded(string stage, double seconds)
    {
        if (stage.Length == 0) return;
        _stage.Record(seconds, new KeyValuePair<string, object?>("stage", StageLabel(stage)));
    }

    /// <summary>The <c>stage</c> label of a stage key: the stage's SPEC.md 14.5 name, lower-case with underscores (Prometheus label
    /// style), the same words the log uses: homomorphic rounds <c>uploads</c> and <c>decryption_shares</c> (the party's
    /// CollectingUploads and CollectingShares), setup <c>crs_commit</c>, <c>crs_reveal</c>, <c>key_share_commit</c>, ...;
    /// masking <c>advertise_keys</c>, <c>graph_seed</c>, <c>share_keys</c>, <c>masked_input</c>, <c>consistency_check</c>,
    /// <c>unmasking</c>; between stages <c>ready</c> (and <c>idle</c>, <c>none</c>, <c>completed</c>).</summary>
    internal static string StageLabel(string stage)
    {
        int cut = stage.IndexOfAny(['(', '/']);
        string name = cut > 0 ? stage[..cut] : stage;
        if (name == "CollectingUploads") return "uploads";
        if (name == "CollectingShares") return "decryption_shares";
        var label = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0 && !char.IsUpper(name[i - 1])) label.Append('_');
            label.Append(char.ToLowerInvariant(c));
        }
        return label.ToString();
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
