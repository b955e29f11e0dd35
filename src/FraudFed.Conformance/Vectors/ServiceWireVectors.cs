// Golden file of the appliance service's messages (SPEC.md 14.5; protocols/fraudfed/v1/service.proto): the requests and
// answers of GetSession, RequestRound, Submit and Receive, and a MailboxItem of every kind, as a bank and the appliance
// put them on the wire inside gRPC frames. Each case's bytes are checked three ways: the generated types of service.proto
// that the SDK and the appliance use (FraudFed.Sdk.Wire) encode the documented inputs to them; the independent proto3
// encoder ProtoRef, written from the .proto field numbers, produces the same bytes; parsing them and serializing again gives
// them back. A coverage case requires every message type of service.proto, every MailboxItem kind and every Mode value to
// occur in some case.
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Sdk.Wire;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace FraudFed.Conformance.Vectors;

internal sealed class ServiceWireVectors : IVectorFile
{
    public string Path => "wire/service-messages.json";
    public bool Generated => true;

    private static byte[] F(string label, int length = 32) => length <= 64 ? Fixed.Bytes("service-wire/" + label, length)
        : Enumerable.Range(0, (length + 63) / 64).SelectMany(i => Fixed.Bytes($"service-wire/{label}/{i}", 64)).Take(length).ToArray();

    private static readonly byte[] Sid = F("session-id", 16);
    private static readonly string Digest = J.H(F("roster-digest"));
    private static readonly string[] Features = ["amount", "merchant_bucket"];
    // The masking sum (SPEC.md 14.5): k = 32 (4-byte values) in the mailbox item; k = 64 (8 bytes) and k = 20 (3 bytes) alone.
    private static readonly ulong[] Sum = [0, 1, uint.MaxValue, 1UL << 31];
    private static readonly ulong[] Sum64 = [0, 1, uint.MaxValue, 1UL << 63, ulong.MaxValue];
    private static readonly ulong[] Sum20 = [0, 1, (1UL << 20) - 1, 0x12345];

    /// <summary>sum_le written from SPEC.md 14.5 (not with the SDK's packer): each value as ceil(k / 8) little-endian bytes.</summary>
    private static byte[] Le(ulong[] values, int k)
    {
        int width = (k + 7) / 8;
        var bytes = new byte[values.Length * width];
        for (int i = 0; i < values.Length; i++)
            for (int j = 0; j < width; j++) bytes[i * width + j] = (byte)(values[i] >> (8 * j));
        return bytes;
    }

    private static SumResult SumCase(ulong[] values, int k)
    {
        var sum = new SumResult { Round = 7, SumLe = ByteString.CopyFrom(SumResult.PackSum(values, k)) };
        sum.Contributors.Add([0, 1, 3]);
        return sum;
    }

    /// <summary>(name, message, generated-type object, reference bytes) of every case.</summary>
    private static IEnumerable<(string Name, IMessage Library, byte[] Reference)> Cases()
    {
        yield return ("get_session_request", new GetSessionRequest(), []);
        yield return ("session_info_masking",
            new SessionInfo { Mode = Mode.Masking, Bank = 1, Banks = 4, SessionId = ByteString.CopyFrom(Sid), RosterDigest = Digest },
            new ProtoRef().U(1, 2).U(2, 1).U(3, 4).B(4, Sid).S(5, Digest).ToArray());
        yield return ("session_info_homomorphic",
            new SessionInfo { Mode = Mode.Homomorphic, Bank = 0, Banks = 3, RosterDigest = Digest },
            new ProtoRef().U(1, 1).U(3, 3).S(5, Digest).ToArray());
        yield return ("round_request", new RoundRequest { Length = 10_000 }, new ProtoRef().U(1, 10_000).ToArray());
        yield return ("round_request_reply", new RoundRequestReply { Round = 7 }, new ProtoRef().U(1, 7).ToArray());
        byte[] bankMessage = F("bank-message", 100);
        yield return ("submit_request", new SubmitRequest { Message = ByteString.CopyFrom(bankMessage) }, new ProtoRef().B(1, bankMessage).ToArray());
        yield return ("submit_reply", new SubmitReply { Sequence = 42 }, new ProtoRef().U(1, 42).ToArray());
        yield return ("submit_reply_resend", new SubmitReply { Sequence = 42, Resend = true }, new ProtoRef().U(1, 42).U(2, 1).ToArray());
        yield return ("receive_request", new ReceiveRequest { AfterSequence = 41, WaitMilliseconds = 30_000 },
            new ProtoRef().U(1, 41).U(2, 30_000).ToArray());

        var (items, references) = Items();
        for (int i = 0; i < items.Count; i++)
            yield return ("mailbox_item_" + items[i].ItemCase switch
            {
                MailboxItem.ItemOneofCase.Message => "message",
                MailboxItem.ItemOneofCase.RoundOpen => "round_open",
                MailboxItem.ItemOneofCase.SumResult => "sum_result",
                MailboxItem.ItemOneofCase.TrainingJob => "training_job",
                MailboxItem.ItemOneofCase.TrainingStep => "training_step",
                MailboxItem.ItemOneofCase.TrainingEnd => items[i].TrainingEnd.Succeeded ? "training_end" : "training_end_failed",
                MailboxItem.ItemOneofCase.RoundRefused => "round_refused",
                _ => "none",
            }, items[i], references[i].ToArray());

        var reply = new ReceiveReply();
        reply.Items.Add(items[1]);
        reply.Items.Add(items[0]);
        yield return ("receive_reply", reply, new ProtoRef().M(1, references[1]).M(1, references[0]).ToArray());

        // Delivery with the answer (SPEC.md 14.5): deliver_after set, and answers that carry items.
        yield return ("round_request_deliver", new RoundRequest { Length = 10_000, DeliverAfter = 41 }, new ProtoRef().U(1, 10_000).U(2, 41).ToArray());
        var roundReply = new RoundRequestReply { Round = 7 };
        roundReply.Items.Add(items[0]);
        yield return ("round_request_reply_items", roundReply, new ProtoRef().U(1, 7).M(2, references[0]).ToArray());
        yield return ("submit_request_deliver", new SubmitRequest { Message = ByteString.CopyFrom(bankMessage), DeliverAfter = 41 },
            new ProtoRef().B(1, bankMessage).U(2, 41).ToArray());
        var submitReply = new SubmitReply { Sequence = 42 };
        submitReply.Items.Add(items[0]);
        submitReply.Items.Add(items[2]);
        yield return ("submit_reply_items", submitReply, new ProtoRef().U(1, 42).M(3, references[0]).M(3, references[2]).ToArray());
        yield return ("receive_reply_empty", new ReceiveReply(), []);
        yield return ("sum_result_k64", SumCase(Sum64, 64), new ProtoRef().U(1, 7).Packed(2, [0, 1, 3]).B(4, Le(Sum64, 64)).ToArray());
        yield return ("sum_result_k20", SumCase(Sum20, 20), new ProtoRef().U(1, 7).Packed(2, [0, 1, 3]).B(4, Le(Sum20, 20)).ToArray());
    }

    /// <summary>The sum_result cases' k and values, for the unpack check.</summary>
    private static readonly (string Name, int K, ulong[] Values)[] SumCases =
        [("mailbox_item_sum_result", 32, Sum), ("sum_result_k64", 64, Sum64), ("sum_result_k20", 20, Sum20)];

    /// <summary>The round_refused case's message (SPEC.md 14.5, "Rounds and deadlines").</summary>
    private const string Refusal = "round 3: only 2 of 4 banks asked within 30 s (deadlines.join_seconds); at least 3 are needed (the threshold T = 3 and K_min = 3, SPEC.md 12.3); the round did not open: start the other banks, or raise deadlines.join_seconds";

    /// <summary>One MailboxItem of every kind (sequences 1, 2, ...), with its reference encoding.</summary>
    private static (List<MailboxItem> Items, List<ProtoRef> References) Items()
    {
        var items = new List<MailboxItem>();
        var refs = new List<ProtoRef>();
        byte[] aggregatorMessage = F("aggregator-message", 80);
        items.Add(new MailboxItem { Sequence = 1, Message = ByteString.CopyFrom(aggregatorMessage) });
        refs.Add(new ProtoRef().U(1, 1).B(2, aggregatorMessage, always: true));

        items.Add(new MailboxItem { Sequence = 2, RoundOpen = new RoundOpen { Round = 7, Length = 10_000 } });
        refs.Add(new ProtoRef().U(1, 2).M(3, new ProtoRef().U(1, 7).U(2, 10_000)));

        items.Add(new MailboxItem { Sequence = 3, SumResult = SumCase(Sum, 32) });
        refs.Add(new ProtoRef().U(1, 3).M(4, new ProtoRef().U(1, 7).Packed(2, [0, 1, 3]).B(4, Le(Sum, 32))));

        const string options = "{\"trees\":3,\"max_depth\":4}";
        var job = new TrainingJob { Model = "gbdt", OptionsJson = options, ModulusBits = 32 };
        job.FeatureNames.Add(Features);
        items.Add(new MailboxItem { Sequence = 4, TrainingJob = job });
        refs.Add(new ProtoRef().U(1, 4).M(5, new ProtoRef().S(1, "gbdt").S(2, options).U(3, 32).Strings(4, Features)));

        byte[] broadcast = F("training-broadcast", 40);
        items.Add(new MailboxItem { Sequence = 5, TrainingStep = new TrainingStep { Step = 1, Broadcast = ByteString.CopyFrom(broadcast), SumLength = 2, Round = 3 } });
        refs.Add(new ProtoRef().U(1, 5).M(6, new ProtoRef().U(1, 1).B(2, broadcast).U(3, 2).U(4, 3)));

        items.Add(new MailboxItem { Sequence = 6, TrainingEnd = new TrainingEnd { Succeeded = true, Steps = 9 } });
        refs.Add(new ProtoRef().U(1, 6).M(7, new ProtoRef().U(1, 1).U(3, 9)));

        const string reason = "round 3 failed: TooFewParticipants";
        items.Add(new MailboxItem { Sequence = 7, TrainingEnd = new TrainingEnd { Succeeded = false, Reason = reason, Steps = 4 } });
        refs.Add(new ProtoRef().U(1, 7).M(7, new ProtoRef().S(2, reason).U(3, 4)));

        items.Add(new MailboxItem { Sequence = 8, RoundRefused = new RoundRefused { Round = 3, Reason = "TooFewParticipants", Asked = 2, Needed = 3, Banks = 4, JoinMilliseconds = 30_000, Message = Refusal } });
        refs.Add(new ProtoRef().U(1, 8).M(8, new ProtoRef().U(1, 3).S(2, "TooFewParticipants").U(3, 2).U(4, 3).U(5, 4).U(6, 30_000).S(7, Refusal)));
        return (items, refs);
    }

    public JsonObject Generate()
    {
        var cases = new JsonArray();
        foreach (var (name, library, _) in Cases())
            cases.Add(new JsonObject { ["name"] = name, ["message"] = library.Descriptor.FullName, ["bytes"] = J.H(library.ToByteArray()) });
        return new JsonObject
        {
            ["description"] = "Golden bytes of the messages of the appliance service fraudfed.v1.Federation (protocols/fraudfed/v1/service.proto, " +
                "SPEC.md 14.5): each case names its message type. Inputs: F(label, len) = the first len bytes of the concatenation of " +
                "SHA-512(ASCII \"FraudFed conformance v1/service-wire/\" + label) (label/i for the i-th 64-byte block when len > 64); " +
                "session id F(\"session-id\", 16); roster_digest = lowercase hex of F(\"roster-digest\") as a string. SessionInfo: masking " +
                "(mode 2, bank 1, banks 4, the session id) and homomorphic (mode 1, bank 0, banks 3, no session id); RoundRequest length 10000; " +
                "RoundRequestReply round 7; SubmitRequest message F(\"bank-message\", 100); SubmitReply sequence 42, resend false and true; " +
                "ReceiveRequest after_sequence 41, wait_milliseconds 30000, max_items 0. MailboxItem sequences 1-8: message " +
                "F(\"aggregator-message\", 80); round_open round 7 length 10000; sum_result round 7, contributors [0, 1, 3], sum_le of " +
                "[0, 1, 2^32 - 1, 2^31] with k = 32 (4 little-endian bytes per value, SPEC.md 14.5); training_job model \"gbdt\", options_json {\"trees\":3,\"max_depth\":4}, modulus_bits 32, " +
                "feature_names [\"amount\", \"merchant_bucket\"]; training_step step 1, broadcast F(\"training-broadcast\", 40), sum_length 2, round 3; " +
                "training_end succeeded with steps 9, and failed with reason \"round 3 failed: TooFewParticipants\" and steps 4; round_refused round 3, " +
                "reason \"TooFewParticipants\", asked 2, needed 3, banks 4, join_milliseconds 30000, message \"" + Refusal + "\". ReceiveReply: " +
                "the round_open item then the message item; and empty. Delivery with the answer: RoundRequest length 10000 with " +
                "deliver_after 41; RoundRequestReply round 7 carrying the message item; SubmitRequest F(\"bank-message\", 100) with " +
                "deliver_after 41; SubmitReply sequence 42 carrying the message and sum_result items. SumResult alone (round 7, contributors " +
                "[0, 1, 3]): sum_le of [0, 1, 2^32 - 1, 2^63, 2^64 - 1] with k = 64 (8 bytes per value) and of [0, 1, 2^20 - 1, 0x12345] with " +
                "k = 20 (3 bytes per value). proto3 canonical encoding: fields in number order, default values " +
                "omitted (a set oneof member is written even when empty), repeated scalars packed, repeated strings and messages one field " +
                "per entry. Generated by `fraudfed vectors generate` (the generated types of service.proto used by the SDK and the " +
                "appliance); checked against an independent encoder written from the .proto field numbers.",
            ["cases"] = cases,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        var expected = root.Arr("cases").ToDictionary(c => c.Str("name"), c => (Message: c.Str("message"), Bytes: c.Str("bytes")));
        foreach (var (name, library, reference) in Cases())
        {
            yield return new CheckCase(name, () =>
            {
                Expect.True(expected.TryGetValue(name, out var e), $"{name}: case missing from the file");
                Expect.Equal($"{name} message", e.Message, library.Descriptor.FullName);
                Expect.Hex($"{name}: independent protobuf encoding", e.Bytes, reference);
                Expect.Hex($"{name}: service.proto encoding", e.Bytes, library.ToByteArray());
                IMessage parsed = library.Descriptor.Parser.ParseFrom(Convert.FromHexString(e.Bytes));
                Expect.Hex($"{name}: parse then serialize", e.Bytes, parsed.ToByteArray());
            });
        }
        foreach (var (name, k, values) in SumCases)
            yield return new CheckCase(name + "/sum_le-unpacks", () =>
            {
                Expect.True(expected.TryGetValue(name, out var e), $"{name}: case missing from the file");
                IMessage parsed = (name.StartsWith("mailbox_item", StringComparison.Ordinal) ? MailboxItem.Parser : (MessageParser)SumResult.Parser).ParseFrom(Convert.FromHexString(e.Bytes));
                SumResult sum = parsed as SumResult ?? ((MailboxItem)parsed).SumResult;
                Expect.Equal($"{name}: sum_le bytes", values.Length * ((k + 7) / 8), sum.SumLe.Length);
                Expect.True(SumResult.UnpackSum(sum.SumLe.Span, k, values.Length).AsSpan().SequenceEqual(values), $"{name}: sum_le unpacks to the documented values");
            });
        yield return new CheckCase("every-message-covered", () =>
        {
            // What the file's bytes carry, parsed with the message type each case names.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var kinds = new HashSet<MailboxItem.ItemOneofCase>();
            var modes = new HashSet<Mode>();
            foreach (var (name, e) in expected)
            {
                MessageDescriptor? type = ServiceReflection.Descriptor.MessageTypes.FirstOrDefault(d => d.FullName == e.Message);
                Expect.True(type is not null, $"{name}: {e.Message} is not a message of service.proto");
                Collect(type!.Parser.ParseFrom(Convert.FromHexString(e.Bytes)), seen, kinds, modes);
            }
            foreach (MessageDescriptor d in ServiceReflection.Descriptor.MessageTypes)
                Expect.True(seen.Contains(d.FullName), $"no case carries a {d.FullName}");
            foreach (FieldDescriptor f in MailboxItem.Descriptor.Oneofs[0].Fields)
                Expect.True(kinds.Contains((MailboxItem.ItemOneofCase)f.FieldNumber), $"no MailboxItem case carries {f.Name}");
            foreach (Mode m in Enum.GetValues<Mode>().Where(m => m != Mode.Unspecified))
                Expect.True(modes.Contains(m), $"no SessionInfo case has mode {m}");
            Expect.Equal("cases in the file", Cases().Count(), expected.Count);
        });
    }

    /// <summary>Every message type reachable from <paramref name="message"/> (the message itself and its set sub-messages).</summary>
    private static void Collect(IMessage message, HashSet<string> seen, HashSet<MailboxItem.ItemOneofCase> kinds, HashSet<Mode> modes)
    {
        seen.Add(message.Descriptor.FullName);
        switch (message)
        {
            case MailboxItem item: kinds.Add(item.ItemCase); break;
            case SessionInfo info: modes.Add(info.Mode); break;
        }
        foreach (FieldDescriptor f in message.Descriptor.Fields.InFieldNumberOrder())
        {
            if (f.FieldType != FieldType.Message) continue;
            object? value = f.Accessor.GetValue(message);
            if (f.IsRepeated)
                foreach (IMessage m in ((System.Collections.IEnumerable)value!).Cast<IMessage>()) Collect(m, seen, kinds, modes);
            else if (value is IMessage m && (f.ContainingOneof is null || f.ContainingOneof.Accessor.GetCaseFieldDescriptor(message) == f))
                Collect(m, seen, kinds, modes);
        }
    }
}
