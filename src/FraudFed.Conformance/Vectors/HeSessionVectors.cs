// rlwe/he-session-3-banks.json: one complete seeded threshold homomorphic session over the protobuf wrappers (SPEC.md 12.0,
// 12.4, 14.2): 3 banks, INSECURE n = 256 test parameters, setup then one round of 300 values (2 chunks) during which bank 2 is
// offline. The generator drives the public party objects (HomomorphicBankParty, HomomorphicAggregatorParty) and routes
// their serialized messages itself, so the file pins every byte on the wire; the checker regenerates it and also
// recomputes from SPEC.md what the small messages carry (roster digest, CRS coin, adverts, key-ready digests, the sum).
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography.Primitives;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;
using FraudFed.Protocol.Homomorphic;
using V1 = FraudFed.Protocol.Wire.V1;

namespace FraudFed.Conformance.Vectors;

internal sealed class HeSessionTranscriptVectors : IVectorFile
{
    public string Path => "rlwe/he-session-3-banks.json";
    public bool Generated => true;

    private const int Banks = 3, T = 2, KMin = 2, MaxColluders = 0, Length = 300, Offline = 2, InlineBytes = 600;
    private const ulong Round = 1;
    private const string Label = "conformance/he-session";
    private static readonly int[] Active = [0, 1];

    private sealed record Message(string Direction, int Bank, bool Delivered, byte[] Bytes);

    private sealed record Run(HomomorphicRoster Roster, byte[] SessionId, byte[] SessionTag, byte[]? PublicKeyDigest, List<Message> Messages,
        ulong[][] Inputs, ulong[] Sum, int[] Contributors, ulong[][] BankResults);

    private static byte[] IdentitySeed(int bank) => Fixed.Bytes($"he-session/identity/{bank}");
    private static byte[] AggregatorSeed() => Fixed.Bytes("he-session/aggregator-identity");

    private static Run Execute()
    {
        RlweParameters p = InsecureTestParameters.N256;
        var policy = new DecryptionPolicy { Threshold = T, MinContributors = KMin, MaxColluders = MaxColluders };
        var identities = Enumerable.Range(0, Banks).Select(b => Ed25519SigningKey.Import(IdentitySeed(b))).ToArray();
        var aggregatorKey = Ed25519SigningKey.Import(AggregatorSeed());
        var roster = new HomomorphicRoster(p, policy, identities.Select(k => k.PublicKey.ToArray()).ToArray(), aggregatorKey.PublicKey.ToArray(), allowInsecureTestParameters: p.IsInsecure);
        RandomNumberGenerator RandomFor(string label) => DeterministicRandom.FromLabel(Label + "/" + label);
        var banks = Enumerable.Range(0, Banks).Select(b =>
            new HomomorphicBankParty(b, roster, identities[b], new InMemoryDecryptionLedger(), RandomFor) { Parallel = false }).ToArray();
        using var aggregator = new HomomorphicAggregatorParty(roster, aggregatorKey, RandomFor("aggregator")) { Parallel = false };
        var messages = new List<Message>();
        var offline = new HashSet<int>();
        void Deliver(IReadOnlyList<HeOutgoing> outgoing)
        {
            var queue = new Queue<HeOutgoing>(outgoing);
            while (queue.Count > 0)
            {
                HeOutgoing o = queue.Dequeue();
                bool delivered = !offline.Contains(o.To);
                messages.Add(new Message("to_bank", o.To, delivered, o.Bytes));
                if (!delivered) continue;
                foreach (byte[] answer in banks[o.To].Receive(o.Bytes))
                {
                    messages.Add(new Message("to_aggregator", o.To, true, answer));
                    foreach (HeOutgoing next in aggregator.Receive(o.To, answer)) queue.Enqueue(next);
                }
            }
        }
        try
        {
            Deliver(aggregator.StartSession());
            if (!aggregator.IsReady) throw new ConformanceException($"setup did not complete ({aggregator.State})");
            ulong[][] inputs = Enumerable.Range(0, Banks).Select(b => Reference.ModPow2(Fixed.Bytes($"he-session/values/{b}"), Length, p.PlainModulusBits)).ToArray();
            offline.Add(Offline);
            for (int b = 0; b < Banks; b++) if (b != Offline) banks[b].Submit(Round, inputs[b]);
            Deliver(aggregator.StartRound(Round, Length));
            Deliver(aggregator.CloseUploads(Active));
            HeRoundOutcome outcome = aggregator.LastOutcome ?? throw new ConformanceException("the round has no outcome");
            if (outcome.Failure is not null || outcome.Sum is null) throw new ConformanceException("the round failed: " + outcome.Failure?.Message);
            var bankResults = new ulong[Banks][];
            for (int b = 0; b < Banks; b++) bankResults[b] = banks[b].TryGetResult(Round, out ulong[] s, out _) ? s : [];
            return new Run(roster, aggregator.SessionId.ToArray(), aggregator.Scheme!.SessionTag, aggregator.PublicKeyDigest, messages,
                inputs.Select((v, b) => b == Offline ? [] : v).ToArray(), outcome.Sum, outcome.Contributors, bankResults);
        }
        finally
        {
            foreach (HomomorphicBankParty b in banks) b.Dispose();
        }
    }

    /// <summary>The name of the message's oneof step and its field number (homomorphic.proto).</summary>
    private static (string Name, int Field) Step(string direction, byte[] bytes)
    {
        if (direction == "to_bank")
        {
            int field = (int)V1.HeAggregatorMessage.Parser.ParseFrom(bytes).StepCase;
            return (V1.HeAggregatorMessage.Descriptor.FindFieldByNumber(field).Name, field);
        }
        int bankField = (int)V1.HeBankMessage.Parser.ParseFrom(bytes).StepCase;
        return (V1.HeBankMessage.Descriptor.FindFieldByNumber(bankField).Name, bankField);
    }

    private static JsonObject Describe(Message m, int index)
    {
        var (name, field) = Step(m.Direction, m.Bytes);
        var o = new JsonObject
        {
            ["index"] = index,
            ["direction"] = m.Direction,
            ["bank"] = m.Bank,
            ["delivered"] = m.Delivered,
            ["step"] = name,
            ["oneof_field"] = field,
            ["length"] = m.Bytes.Length,
            ["sha256"] = J.H(SHA256.HashData(m.Bytes)),
        };
        if (m.Bytes.Length <= InlineBytes) o["bytes"] = J.H(m.Bytes);
        return o;
    }

    public JsonObject Generate()
    {
        Run r = Execute();
        return new JsonObject
        {
            ["description"] = "One complete seeded threshold homomorphic session (SPEC.md 12.0, 12.4, 14.2) over the INSECURE n = 256 test set (three 60-bit primes, t = 2^44): 3 banks, T = 2, K_min = 2, declared colluders c = 0, budget 2^20, lambda 60, K_max 256; setup (CRS coin, collective public key, channel adverts, sealed Shamir points, key ready) with every bank, then round 1 of 300 values (2 chunks of n = 256) while bank 2 is offline: banks 0 and 1 upload, the active set D = {0, 1} decrypts U = {0, 1}, and the result is the sum of their inputs mod 2^44. Keys: bank b's Ed25519 identity seed = the first 32 bytes of SHA-512(ASCII \"FraudFed conformance v1/he-session/identity/b\"), the aggregator's of \".../he-session/aggregator-identity\". Randomness: the party for purpose P draws from DeterministicRandom.FromLabel(label + \"/\" + P): P = \"aggregator\" (the 16-byte session id), \"bankB\" (bank B's secret key, CRS nonce, public-key share noise, channel key, a discarded scratch channel key, Shamir coefficients, smudging key, in that order; SPEC.md 12.4), \"bankB/rR/kK\" (the encryption noise of round R, chunk K). Inputs: bank b's 300 values = PRG(first 32 bytes of SHA-512(\"FraudFed conformance v1/he-session/values/b\")) mod 2^44 (prg/modpow2.json rule); bank 2 submits nothing. Messages in the order produced: the aggregator's broadcasts and requests to each bank, each followed at once by that bank's answer (first in, first out), direction to_bank (HeAggregatorMessage) or to_aggregator (HeBankMessage), step = the name of the oneof field set in homomorphic.proto and oneof_field its number, delivered = false for a message to the offline bank (sent by the aggregator, never received), bytes = the serialized wrapper when at most 600 bytes, else its length and SHA-256 only. Generated by `fraudfed vectors generate` driving HomomorphicBankParty and HomomorphicAggregatorParty.",
            ["parameter_set"] = r.Roster.Parameters.Name,
            ["label"] = Label,
            ["banks"] = Banks,
            ["threshold"] = T,
            ["min_contributors"] = KMin,
            ["max_colluders"] = MaxColluders,
            ["identity_public"] = J.Array(r.Roster.IdentityKeys.Select(k => (JsonNode)JsonValue.Create(J.H(k))!)),
            ["aggregator_public"] = J.H(r.Roster.AggregatorKey),
            ["roster_digest"] = J.H(r.Roster.Digest),
            ["session_id"] = J.H(r.SessionId),
            ["session_tag"] = J.H(r.SessionTag),
            ["public_key_digest"] = r.PublicKeyDigest is null ? null : J.H(r.PublicKeyDigest),
            ["round"] = J.D(Round),
            ["length"] = Length,
            ["offline"] = Offline,
            ["active"] = J.IArray(Active),
            ["inputs"] = J.Array(r.Inputs.Select(v => (JsonNode)J.DArray(v))),
            ["contributors"] = J.IArray(r.Contributors),
            ["sum"] = J.DArray(r.Sum),
            ["messages"] = J.Array(r.Messages.Select((m, i) => (JsonNode)Describe(m, i))),
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        Run? run = null;
        Run Get() => run ??= Execute();
        JsonElement[] messages = root.Arr("messages");
        byte[] sessionId = root.Hex("session_id");
        byte[][] identity = root.Arr("identity_public").Select(e => Convert.FromHexString(e.GetString()!)).ToArray();
        IEnumerable<(int Bank, T Step)> Uploads<T>(Func<V1.HeBankMessage, T?> pick) where T : class =>
            messages.Where(m => m.Str("direction") == "to_aggregator" && m.TryGetProperty("bytes", out _))
                .Select(m => (m.Int("bank"), pick(V1.HeBankMessage.Parser.ParseFrom(m.Hex("bytes"))))).Where(x => x.Item2 is not null).Select(x => (x.Item1, x.Item2!));

        yield return new CheckCase("transcript", () =>
        {
            Run r = Get();
            Expect.Equal("message count", messages.Length, r.Messages.Count);
            for (int i = 0; i < messages.Length; i++)
            {
                JsonElement e = messages[i];
                Message m = r.Messages[i];
                Expect.Equal($"message {i} direction", e.Str("direction"), m.Direction);
                Expect.Equal($"message {i} bank", e.Int("bank"), m.Bank);
                Expect.Equal($"message {i} delivered", e.GetProperty("delivered").GetBoolean(), m.Delivered);
                Expect.Equal($"message {i} step", e.Str("step"), Step(m.Direction, m.Bytes).Name);
                Expect.Equal($"message {i} length", e.Int("length"), m.Bytes.Length);
                Expect.Hex($"message {i} SHA-256", e.Str("sha256"), SHA256.HashData(m.Bytes));
                if (e.TryGetProperty("bytes", out _)) Expect.Hex($"message {i} bytes", e.Str("bytes"), m.Bytes);
            }
            Expect.Hex("session id", root.Str("session_id"), r.SessionId);
            Expect.Hex("public key digest", root.Str("public_key_digest"), r.PublicKeyDigest);
            Expect.Values("sum", root.U64s("sum"), r.Sum);
            Expect.Values("contributors", root.Ints("contributors").Select(x => (ulong)x).ToArray(), r.Contributors.Select(x => (ulong)x).ToArray());
            for (int b = 0; b < r.BankResults.Length; b++)
                Expect.Values($"round result kept by bank {b}", b == root.Int("offline") ? [] : root.U64s("sum"), r.BankResults[b]);
        });
        yield return new CheckCase("roster", () =>
        {
            RlweParameters p = RlweSets.ByName(root.Str("parameter_set"));
            for (int b = 0; b < identity.Length; b++)
            {
                using var key = Ed25519SigningKey.Import(Fixed.Bytes($"he-session/identity/{b}"));
                Expect.Hex($"identity key of bank {b}", J.H(identity[b]), key.PublicKey);
            }
            var preimage = new List<byte>(Encoding.ASCII.GetBytes("FraudFed/v1/he/roster"));
            preimage.AddRange(Reference.U32Le((uint)identity.Length));
            foreach (byte[] k in identity) preimage.AddRange(k);
            preimage.AddRange(root.Hex("aggregator_public"));
            foreach (int v in new[] { root.Int("threshold"), root.Int("min_contributors"), root.Int("max_colluders") }) preimage.AddRange(Reference.U32Le((uint)v));
            preimage.AddRange(Reference.U64Le(1UL << 20));
            preimage.AddRange(Reference.U32Le(60));
            preimage.AddRange(Reference.U32Le(256));
            preimage.AddRange(SHA256.HashData(Reference.ParameterPreimage(p.N, p.PlainModulusBits, p.Primes)));
            Expect.Hex("roster digest (SPEC.md 14.2)", root.Str("roster_digest"), SHA256.HashData(preimage.ToArray()));
            JsonElement start = messages.First(m => m.Str("step") == "session_start");
            V1.HeAggregatorMessage s = V1.HeAggregatorMessage.Parser.ParseFrom(start.Hex("bytes"));
            Expect.Hex("session_start roster digest", root.Str("roster_digest"), s.SessionStart.RosterDigest.Span);
            Expect.Hex("session_start session id", root.Str("session_id"), s.SessionId.Span);
            Expect.Hex("session id = the first 16 bytes of the aggregator's randomness", root.Str("session_id"), DeterministicBytes(root.Str("label") + "/aggregator", 16));
        });
        yield return new CheckCase("crs-coin", () =>
        {
            var commits = Uploads(m => m.CrsCommit).ToDictionary(x => x.Bank, x => x.Step.Commitment.ToByteArray());
            var nonces = Uploads(m => m.CrsReveal).ToDictionary(x => x.Bank, x => x.Step.Nonce.ToByteArray());
            Expect.Equal("one CRS commitment and reveal per bank", root.Int("banks") * 2, commits.Count + nonces.Count);
            var seedInput = new List<byte>(Encoding.ASCII.GetBytes("FraudFed CRS seed v1"));
            seedInput.AddRange(Reference.U32Le(16)); seedInput.AddRange(sessionId);
            for (int b = 0; b < commits.Count; b++)
            {
                byte[] c = SHA256.HashData(Reference.Concat(Encoding.ASCII.GetBytes("FraudFed CRS commit v1"), Reference.U32Le(16), sessionId, Reference.U32Le((uint)b), nonces[b]));
                Expect.Hex($"bank {b}'s CRS commitment opens with its nonce", J.H(c), commits[b]);
                seedInput.AddRange(Reference.U32Le((uint)b)); seedInput.AddRange(nonces[b]);
            }
            byte[] seed = SHA256.HashData(seedInput.ToArray());
            Expect.Hex("session tag = SHA-256(CRS seed)[0..16)", root.Str("session_tag"), SHA256.HashData(seed).AsSpan(0, 16));
        });
        yield return new CheckCase("channel-adverts", () =>
        {
            var adverts = Uploads(m => m.ChannelAdvert).ToList();
            Expect.Equal("one advert per bank", root.Int("banks"), adverts.Count);
            foreach (var (bank, a) in adverts)
            {
                byte[] advert = a.Advert.ToByteArray();
                Expect.Equal($"advert of bank {bank} length", 116, advert.Length);
                Expect.Hex($"advert of bank {bank} session id", root.Str("session_id"), advert.AsSpan(0, 16));
                Expect.Hex($"advert of bank {bank} index", J.H(Reference.U32Le((uint)bank)), advert.AsSpan(16, 4));
                byte[] message = Reference.Concat(Encoding.ASCII.GetBytes("FraudFed/v1/he/channel-advert"), SHA256.HashData(advert.AsSpan(0, 52)));
                Expect.True(Ed25519SigningKey.Verify(identity[bank], message, advert.AsSpan(52)), $"advert of bank {bank} is signed by its identity key");
            }
        });
        yield return new CheckCase("key-ready", () =>
        {
            var ready = Uploads(m => m.KeyReady).ToList();
            Expect.Equal("one key_ready per bank", root.Int("banks"), ready.Count);
            foreach (var (bank, k) in ready) Expect.Hex($"bank {bank}'s collective key digest", root.Str("public_key_digest"), k.PublicKeyDigest.Span);
        });
        yield return new CheckCase("sum", () =>
        {
            ulong[][] inputs = root.Arr("inputs").Select(v => v.EnumerateArray().Select(x => ulong.Parse(x.GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();
            int[] contributors = root.Ints("contributors");
            Expect.True(!contributors.Contains(root.Int("offline")), "the offline bank contributes nothing");
            var expected = new ulong[root.Int("length")];
            foreach (int b in contributors)
                for (int i = 0; i < expected.Length; i++) expected[i] = (expected[i] + inputs[b][i]) & ((1UL << 44) - 1);
            Expect.Values("sum = the contributors' inputs added mod 2^44", expected, root.U64s("sum"));
            var again = Reference.ModPow2(Fixed.Bytes("he-session/values/0"), expected.Length, 44);
            Expect.Values("bank 0's input", again, inputs[0]);
        });
    }

    private static byte[] DeterministicBytes(string label, int count)
    {
        using var rng = DeterministicRandom.FromLabel(label);
        var b = new byte[count];
        rng.GetBytes(b);
        return b;
    }
}
