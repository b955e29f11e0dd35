// HeWire: the one mapper between the threshold homomorphic domain messages (HeMessages.cs) and the protobuf wrappers
// of protocols/fraudfed/v1/homomorphic.proto (SPEC.md 14). Decoding is cheap to expensive: size cap before parsing,
// then protobuf parsing and the canonical-encoding rule shared with MaskingWire (CanonicalProtobuf, SPEC.md 14.1 and 14.3;
// any failure Malformed; a canonical upload or decryption-shares message is read by a checked walk instead), protocol
// version, session id length, then per-step shape checks (lists with exactly one entry per roster bank in ascending
// order, counts bounded by the roster and the chunk limit).
// Every failure is a ProtocolViolationException; nothing else escapes.
using System.Buffers.Binary;
using FraudFed.Cryptography;
using FraudFed.Protocol.Wire.V1;
using Google.Protobuf;

namespace FraudFed.Protocol.Homomorphic;

/// <summary>Encodes and decodes threshold homomorphic protocol messages (SPEC.md 14).</summary>
public static class HeWire
{
    /// <summary>The wire protocol version this code speaks.</summary>
    public const uint ProtocolVersion = 1;
    /// <summary>Default largest message accepted, in bytes (a 2^20-chunk upload at the default set is below it).</summary>
    public const int DefaultMaxMessageBytes = 1 << 30;
    /// <summary>Most chunks one round may have (as SPEC.md 12.2 manifests).</summary>
    public const int MaxChunks = UploadManifest.MaxChunks;

    // ---- aggregator -> bank ----

    /// <summary>Serializes a message for a bank.</summary>
    public static byte[] Encode(HeToBank message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var w = new HeAggregatorMessage { ProtocolVersion = ProtocolVersion, SessionId = B(message.SessionId) };
        switch (message)
        {
            case HeSessionStartMessage m: w.SessionStart = new HeSessionStart { RosterDigest = B(m.RosterDigest), KeyGeneration = m.KeyGeneration }; break;
            case HeCrsCommitmentsMessage m: w.CrsCommitments = new HeCrsCommitments(); w.CrsCommitments.Commitments.Add(PerBank(m.Commitments)); break;
            case HeCrsRevealsMessage m: w.CrsReveals = new HeCrsReveals(); w.CrsReveals.Nonces.Add(PerBank(m.Nonces)); break;
            case HeKeyShareCommitmentsMessage m: w.KeyShareCommitments = new HeKeyShareCommitments(); w.KeyShareCommitments.Commitments.Add(PerBank(m.Commitments)); break;
            case HeKeyShareRevealsMessage m: w.KeyShareReveals = new HeKeyShareReveals(); w.KeyShareReveals.Shares.Add(PerBank(m.Shares)); break;
            case HeChannelAdvertsMessage m: w.ChannelAdverts = new HeChannelAdverts(); w.ChannelAdverts.Adverts.Add(PerBank(m.Adverts)); break;
            case HeSealedPointsForBankMessage m: w.SealedPoints = new HeSealedPointsForBank(); w.SealedPoints.Points.Add(PerBank(m.Points)); break;
            case HeRoundStartMessage m: w.RoundStart = new HeRoundStart { Round = m.Round, Length = (uint)m.Length, Chunks = (uint)m.Chunks }; break;
            case HeDecryptionRequestMessage m:
                w.DecryptionRequest = new HeDecryptionRequest { Round = m.Round, Chunks = (uint)m.Chunks };
                w.DecryptionRequest.Contributors.Add(m.Contributors.Select(x => (uint)x));
                w.DecryptionRequest.Active.Add(m.Active.Select(x => (uint)x));
                w.DecryptionRequest.Manifests.Add(m.Manifests.Select(B));
                w.DecryptionRequest.ContributorLists.Add(m.ContributorLists.Select(B));
                break;
            case HeRoundResultMessage m:
                int width = ValueBytes(m.Sum);
                w.RoundResult = new HeRoundResult { Round = m.Round, Sum = B(Pack(m.Sum, width)), ValueBytes = (uint)width };
                w.RoundResult.Contributors.Add(m.Contributors.Select(x => (uint)x));
                break;
            case HeAbortToBank m: w.Abort = Abort(m.Reason, m.Message, m.Round); break;
            default: throw Error.Argument(nameof(message), "Unknown message type.");
        }
        return w.ToByteArray();
    }

    /// <summary>
    /// Parses a message from the aggregator for a roster of <paramref name="rosterSize"/> banks.
    /// </summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed, WrongRoundOrState (version).</exception>
    public static HeToBank DecodeToBank(ReadOnlySpan<byte> data, int rosterSize, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        HeAggregatorMessage w = Parse(data, maxMessageBytes, HeAggregatorMessage.Parser);
        byte[] sid = SessionId(w.ProtocolVersion, w.SessionId);
        return w.StepCase switch
        {
            HeAggregatorMessage.StepOneofCase.SessionStart => new HeSessionStartMessage(sid, Fixed(w.SessionStart.RosterDigest, 32, "roster digest"), w.SessionStart.KeyGeneration),
            HeAggregatorMessage.StepOneofCase.CrsCommitments => new HeCrsCommitmentsMessage(sid, ByBank(w.CrsCommitments.Commitments, rosterSize, 32)),
            HeAggregatorMessage.StepOneofCase.CrsReveals => new HeCrsRevealsMessage(sid, ByBank(w.CrsReveals.Nonces, rosterSize, 32)),
            HeAggregatorMessage.StepOneofCase.KeyShareCommitments => new HeKeyShareCommitmentsMessage(sid, ByBank(w.KeyShareCommitments.Commitments, rosterSize, 32)),
            HeAggregatorMessage.StepOneofCase.KeyShareReveals => new HeKeyShareRevealsMessage(sid, ByBank(w.KeyShareReveals.Shares, rosterSize, -1)),
            HeAggregatorMessage.StepOneofCase.ChannelAdverts => new HeChannelAdvertsMessage(sid, ByBank(w.ChannelAdverts.Adverts, rosterSize, ShareChannel.AdvertSize)),
            HeAggregatorMessage.StepOneofCase.SealedPoints => new HeSealedPointsForBankMessage(sid, ByBank(w.SealedPoints.Points, rosterSize, -1)),
            HeAggregatorMessage.StepOneofCase.RoundStart => new HeRoundStartMessage(sid, w.RoundStart.Round, Count(w.RoundStart.Length, int.MaxValue, "length"),
                Count(w.RoundStart.Chunks, MaxChunks, "chunks")),
            HeAggregatorMessage.StepOneofCase.DecryptionRequest => DecryptionRequest(sid, w.DecryptionRequest, rosterSize),
            HeAggregatorMessage.StepOneofCase.RoundResult => new HeRoundResultMessage(sid, w.RoundResult.Round, Banks(w.RoundResult.Contributors, rosterSize),
                Unpack(w.RoundResult.Sum.Span, w.RoundResult.ValueBytes)),
            HeAggregatorMessage.StepOneofCase.Abort => new HeAbortToBank(sid, Reason(w.Abort.Reason), w.Abort.Message ?? "", w.Abort.Round),
            _ => throw Error.Violation(ViolationReason.Malformed, "aggregator message without a step"),
        };
    }

    private static HeDecryptionRequestMessage DecryptionRequest(byte[] sid, HeDecryptionRequest r, int rosterSize)
    {
        int chunks = Count(r.Chunks, MaxChunks, "chunks");
        if (chunks < 1) throw Error.Violation(ViolationReason.Malformed, "a decryption request covers at least one chunk");
        int[] contributors = Banks(r.Contributors, rosterSize);
        int[] active = Banks(r.Active, rosterSize);
        if (r.Manifests.Count != contributors.Length) throw Error.Violation(ViolationReason.Malformed, "one manifest per contributor");
        if (r.ContributorLists.Count != chunks) throw Error.Violation(ViolationReason.Malformed, "one contributor list per chunk");
        return new HeDecryptionRequestMessage(sid, r.Round, chunks, contributors, active,
            r.Manifests.Select(m => Own(m)).ToArray(), r.ContributorLists.Select(m => Own(m)).ToArray());
    }

    // ---- bank -> aggregator ----

    /// <summary>Serializes a message for the aggregator.</summary>
    public static byte[] Encode(HeToAggregator message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var w = new HeBankMessage { ProtocolVersion = ProtocolVersion, SessionId = B(message.SessionId) };
        switch (message)
        {
            case HeCrsCommitMessage m: w.CrsCommit = new HeCrsCommit { Commitment = B(m.Commitment) }; break;
            case HeCrsRevealMessage m: w.CrsReveal = new HeCrsReveal { Nonce = B(m.Nonce) }; break;
            case HeKeyShareCommitMessage m: w.KeyShareCommit = new HeKeyShareCommit { Commitment = B(m.Commitment) }; break;
            case HeKeyShareRevealMessage m: w.KeyShareReveal = new HeKeyShareReveal { Share = B(m.Share) }; break;
            case HeChannelAdvertMessage m: w.ChannelAdvert = new HeChannelAdvert { Advert = B(m.Advert) }; break;
            case HeSealedPointsMessage m: w.SealedPoints = new HeSealedPoints(); w.SealedPoints.Points.Add(PerBank(m.Points)); break;
            case HeKeyReadyMessage m: w.KeyReady = new HeKeyReady { PublicKeyDigest = B(m.PublicKeyDigest) }; break;
            case HeUploadMessage m:
                w.Upload = new HeUpload { Round = m.Round, Manifest = B(m.Manifest) };
                w.Upload.Chunks.Add(m.Chunks.Select(c => UnsafeByteOperations.UnsafeWrap(c)));
                break;
            case HeDecryptionSharesMessage m:
                w.DecryptionShares = new HeDecryptionShares { Round = m.Round };
                w.DecryptionShares.Shares.Add(m.Shares.Select(B));
                break;
            case HeAbortToAggregator m: w.Abort = Abort(m.Reason, m.Message, m.Round); break;
            default: throw Error.Argument(nameof(message), "Unknown message type.");
        }
        return w.ToByteArray();
    }

    /// <summary>
    /// The layout of an encoded HeBankMessage carrying HeDecryptionShares (the bytes <see cref="Encode(HeToAggregator)"/> writes
    /// for a <see cref="HeDecryptionSharesMessage"/> with shares of <paramref name="shareLengths"/> bytes): a new buffer with every
    /// byte but the shares' written, and the offset where each share goes. Lets the bank write each share straight into its
    /// answer (no array per share, no copy). Field order and omission of defaults as the protobuf encoder: protocol_version (1),
    /// session_id (2) if non-empty, decryption_shares (18) with round (1) if non-zero, then each share (2).
    /// </summary>
    internal static (byte[] Buffer, int[] Offsets) LayoutDecryptionShares(ReadOnlySpan<byte> sessionId, ulong round, int[] shareLengths)
    {
        long inner = round == 0 ? 0 : 1 + VarintSize(round);
        foreach (int length in shareLengths) inner += 1 + VarintSize((ulong)length) + length;
        long total = 1 + VarintSize(ProtocolVersion) + (sessionId.IsEmpty ? 0 : 1 + VarintSize((ulong)sessionId.Length) + sessionId.Length)
            + 2 + VarintSize((ulong)inner) + inner;
        if (total > Array.MaxLength) throw Error.Argument(nameof(shareLengths), "The shares do not fit in one message.");
        byte[] buffer = GC.AllocateUninitializedArray<byte>((int)total);   // every byte is written here or by the caller
        int o = 0;
        buffer[o++] = 0x08;
        WriteVarint(buffer, ref o, ProtocolVersion);
        if (!sessionId.IsEmpty)
        {
            buffer[o++] = 0x12;
            WriteVarint(buffer, ref o, (ulong)sessionId.Length);
            sessionId.CopyTo(buffer.AsSpan(o));
            o += sessionId.Length;
        }
        buffer[o++] = 0x92;   // field 18, length-delimited: (18 << 3) | 2 = 146 as a varint
        buffer[o++] = 0x01;
        WriteVarint(buffer, ref o, (ulong)inner);
        if (round != 0)
        {
            buffer[o++] = 0x08;
            WriteVarint(buffer, ref o, round);
        }
        var offsets = new int[shareLengths.Length];
        for (int i = 0; i < shareLengths.Length; i++)
        {
            buffer[o++] = 0x12;
            WriteVarint(buffer, ref o, (ulong)shareLengths[i]);
            offsets[i] = o;
            o += shareLengths[i];
        }
        System.Diagnostics.Debug.Assert(o == buffer.Length);
        return (buffer, offsets);

        static int VarintSize(ulong v) => CanonicalProtobuf.VarintSize(v);
        static void WriteVarint(byte[] b, ref int o, ulong v) => CanonicalProtobuf.WriteVarint(b, ref o, v);
    }

    /// <summary>Parses a message from a bank of a roster of <paramref name="rosterSize"/> banks.</summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed, WrongRoundOrState (version).</exception>
    public static HeToAggregator DecodeToAggregator(ReadOnlySpan<byte> data, int rosterSize, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        // An upload in the canonical encoding is read by the checked walk (each chunk copied once) instead of being parsed and
        // re-encoded for the canonical check: the walk accepts only the canonical encoding, so the verdict is the same.
        if (data.Length > maxMessageBytes) throw Error.Violation(ViolationReason.Oversized, $"A message of {data.Length} bytes, limit {maxMessageBytes}.");
        if (TryWalkUpload(data, out uint walkedVersion, out Range walkedSid, out ulong walkedRound, out Range walkedManifest, out List<Range>? walkedChunks))
        {
            var copies = new ReadOnlyMemory<byte>[walkedChunks!.Count];
            for (int i = 0; i < copies.Length; i++) copies[i] = data[walkedChunks[i]].ToArray();
            return UploadFromWalk(walkedVersion, data[walkedSid].ToArray(), walkedRound, data[walkedManifest].ToArray(), copies);
        }
        if (TryWalkDecryptionShares(data, out uint sharesVersion, out Range sharesSid, out ulong sharesRound, out List<Range>? shares))
            return SharesFromWalk(data, sharesVersion, sharesSid, sharesRound, shares!);
        return DecodeToAggregatorByParser(data, rosterSize, maxMessageBytes);
    }

    /// <summary>The general path of <see cref="DecodeToAggregator"/>: protobuf parsing and the canonical-encoding check, with no
    /// walk (the reference the walks are tested against).</summary>
    internal static HeToAggregator DecodeToAggregatorByParser(ReadOnlySpan<byte> data, int rosterSize, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        HeBankMessage w = Parse(data, maxMessageBytes, HeBankMessage.Parser);
        byte[] sid = SessionId(w.ProtocolVersion, w.SessionId);
        return w.StepCase switch
        {
            HeBankMessage.StepOneofCase.CrsCommit => new HeCrsCommitMessage(sid, Fixed(w.CrsCommit.Commitment, 32, "CRS commitment")),
            HeBankMessage.StepOneofCase.CrsReveal => new HeCrsRevealMessage(sid, Fixed(w.CrsReveal.Nonce, 32, "CRS nonce")),
            HeBankMessage.StepOneofCase.KeyShareCommit => new HeKeyShareCommitMessage(sid, Fixed(w.KeyShareCommit.Commitment, 32, "key-share commitment")),
            HeBankMessage.StepOneofCase.KeyShareReveal => new HeKeyShareRevealMessage(sid, Own(w.KeyShareReveal.Share)),
            HeBankMessage.StepOneofCase.ChannelAdvert => new HeChannelAdvertMessage(sid, Fixed(w.ChannelAdvert.Advert, ShareChannel.AdvertSize, "channel advert")),
            HeBankMessage.StepOneofCase.SealedPoints => new HeSealedPointsMessage(sid, ByBank(w.SealedPoints.Points, rosterSize, -1)),
            HeBankMessage.StepOneofCase.KeyReady => new HeKeyReadyMessage(sid, Fixed(w.KeyReady.PublicKeyDigest, 32, "public-key digest")),
            HeBankMessage.StepOneofCase.Upload => new HeUploadMessage(sid, w.Upload.Round, Own(w.Upload.Manifest),
                w.Upload.Chunks.Count is 0 or > MaxChunks ? throw Error.Violation(ViolationReason.Malformed, "an upload has 1..2^20 chunks") : w.Upload.Chunks.Select(c => (ReadOnlyMemory<byte>)Own(c)).ToArray()),
            HeBankMessage.StepOneofCase.DecryptionShares => new HeDecryptionSharesMessage(sid, w.DecryptionShares.Round,
                w.DecryptionShares.Shares.Count is 0 or > MaxChunks ? throw Error.Violation(ViolationReason.Malformed, "1..2^20 shares") : w.DecryptionShares.Shares.Select(c => Own(c)).ToArray()),
            HeBankMessage.StepOneofCase.Abort => new HeAbortToAggregator(sid, Reason(w.Abort.Reason), w.Abort.Message ?? "", w.Abort.Round),
            _ => throw Error.Violation(ViolationReason.Malformed, "bank message without a step"),
        };
    }

    /// <summary>
    /// As <see cref="DecodeToAggregator"/> (same result, same refusals), except that an upload (HeUpload) in the canonical
    /// encoding is read by a checked walk that leaves every chunk a slice of <paramref name="data"/> instead of a copy (a
    /// 1e6-value upload is ~23 MB: the copy cost 22-35 ms per bank). The walk accepts only the canonical encoding of
    /// SPEC.md 14.1: HeBankMessage fields 1 (varint, non-zero), 2 (bytes, non-empty), 17 (HeUpload) once each in that order
    /// and nothing else; inside HeUpload field 1 (varint) only if non-zero, field 2 (bytes) only if non-empty, then field 3
    /// (bytes) repeated, nothing else; every varint and length minimal (no redundant 0x80 continuation), of at most 10 bytes
    /// (5 for 32-bit fields and lengths) and fitting its field; every length within its enclosing message. Any other input,
    /// well formed or not, goes to the protobuf parser and its canonical-encoding check, so what is accepted and how it is
    /// refused do not depend on the path taken. The caller must not change <paramref name="data"/> while the message is used.
    /// Decryption shares (HeDecryptionShares) in the canonical encoding are read by the same kind of walk on both decoders
    /// (<see cref="TryWalkDecryptionShares"/>), each share copied once into its own array (the message keeps them).
    /// </summary>
    /// <exception cref="ProtocolViolationException">Oversized (before parsing), Malformed (including a non-canonical encoding),
    /// WrongRoundOrState (version).</exception>
    public static HeToAggregator DecodeToAggregatorInPlace(ReadOnlyMemory<byte> data, int rosterSize, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        if (data.Length > maxMessageBytes) throw Error.Violation(ViolationReason.Oversized, $"A message of {data.Length} bytes, limit {maxMessageBytes}.");
        if (!TryWalkUpload(data.Span, out uint version, out Range sid, out ulong round, out Range manifest, out List<Range>? chunks))
            return DecodeToAggregator(data.Span, rosterSize, maxMessageBytes);   // decryption shares are walked there (copied once)
        var slices = new ReadOnlyMemory<byte>[chunks!.Count];
        for (int i = 0; i < slices.Length; i++) slices[i] = data[chunks[i]];
        return UploadFromWalk(version, data.Span[sid].ToArray(), round, data.Span[manifest].ToArray(), slices);
    }

    private static HeDecryptionSharesMessage SharesFromWalk(ReadOnlySpan<byte> data, uint version, Range sid, ulong round, List<Range> shares)
    {
        // The same checks, in the same order, as the protobuf path: version and session id, then the share count.
        byte[] id = SessionIdFromWalk(version, data[sid].ToArray());
        if (shares.Count is 0 or > MaxChunks) throw Error.Violation(ViolationReason.Malformed, "1..2^20 shares");
        var copies = new byte[shares.Count][];
        for (int i = 0; i < copies.Length; i++)
        {
            // Not zeroed first (ToArray's new array is): every byte is overwritten by the copy.
            copies[i] = GC.AllocateUninitializedArray<byte>(shares[i].GetOffsetAndLength(data.Length).Length);
            data[shares[i]].CopyTo(copies[i]);
        }
        return new HeDecryptionSharesMessage(id, round, copies);
    }

    private static byte[] SessionIdFromWalk(uint version, byte[] sid)
    {
        if (version == 0) throw Error.Violation(ViolationReason.Malformed, "a message without a protocol version (empty, or not a FraudFed wrapper)");
        if (version != ProtocolVersion) throw Error.Violation(ViolationReason.WrongRoundOrState, $"protocol version {version}, this party speaks {ProtocolVersion}");
        if (sid.Length != 16) throw Error.Violation(ViolationReason.Malformed, "a session id is 16 bytes");
        return sid;
    }

    private static HeUploadMessage UploadFromWalk(uint version, byte[] sid, ulong round, byte[] manifest, ReadOnlyMemory<byte>[] chunks)
    {
        // The same checks, in the same order, as the protobuf path: version and session id, then the chunk count.
        if (version == 0) throw Error.Violation(ViolationReason.Malformed, "a message without a protocol version (empty, or not a FraudFed wrapper)");
        if (version != ProtocolVersion) throw Error.Violation(ViolationReason.WrongRoundOrState, $"protocol version {version}, this party speaks {ProtocolVersion}");
        if (sid.Length != 16) throw Error.Violation(ViolationReason.Malformed, "a session id is 16 bytes");
        if (chunks.Length is 0 or > MaxChunks) throw Error.Violation(ViolationReason.Malformed, "an upload has 1..2^20 chunks");
        return new HeUploadMessage(sid, round, manifest, chunks);
    }

    /// <summary>
    /// The canonical upload walk of <see cref="DecodeToAggregatorInPlace"/>: true only for the canonical encoding of an
    /// HeBankMessage carrying an HeUpload, with the fields' positions in <paramref name="s"/>; false sends the input to the
    /// protobuf parser.
    /// </summary>
    internal static bool TryWalkUpload(ReadOnlySpan<byte> s, out uint version, out Range sid, out ulong round,
        out Range manifest, out List<Range>? chunks) =>
        // HeBankMessage field 17 (tag 0x8A 0x01) HeUpload: [0x08 round, non-zero] [0x12 manifest, non-empty] (0x1A chunk)*.
        TryWalkRepeated(s, 0x8A, manifestTag: 0x12, itemTag: 0x1A, out version, out sid, out round, out manifest, out chunks);

    /// <summary>
    /// The canonical walk for decryption shares: true only for the canonical encoding (the rules of
    /// <see cref="DecodeToAggregatorInPlace"/>) of an HeBankMessage carrying an HeDecryptionShares (fields 1, 2, 18 once each in
    /// that order and nothing else; inside it field 1 (varint) only if non-zero, then field 2 (bytes) repeated, nothing else),
    /// with the fields' positions in <paramref name="s"/>; false sends the input to the protobuf parser.
    /// </summary>
    internal static bool TryWalkDecryptionShares(ReadOnlySpan<byte> s, out uint version, out Range sid, out ulong round, out List<Range>? shares) =>
        // HeBankMessage field 18 (tag 0x92 0x01) HeDecryptionShares: [0x08 round, non-zero] (0x12 share)*.
        TryWalkRepeated(s, 0x92, manifestTag: 0, itemTag: 0x12, out version, out sid, out round, out _, out shares);

    /// <summary>The walk of an HeBankMessage whose step is the two-byte tag (<paramref name="stepTag"/>, 0x01) and whose step
    /// message is [0x08 round, non-zero] [<paramref name="manifestTag"/> bytes, non-empty; none when 0] (<paramref name="itemTag"/>
    /// bytes)*, each in the canonical encoding.</summary>
    private static bool TryWalkRepeated(ReadOnlySpan<byte> s, byte stepTag, byte manifestTag, byte itemTag, out uint version, out Range sid,
        out ulong round, out Range manifest, out List<Range>? items)
    {
        version = 0; sid = default; round = 0; manifest = default; items = null;
        int o = 0;
        // HeBankMessage: 0x08 protocol_version (non-zero), 0x12 session_id (non-empty), then the step.
        if (!Tag(s, ref o, 0x08) || !Varint(s, ref o, 5, out ulong v) || v is 0 or > uint.MaxValue) return false;
        version = (uint)v;
        if (!Tag(s, ref o, 0x12) || !Length(s, ref o, s.Length, out int sidLength) || sidLength == 0) return false;
        sid = o..(o + sidLength);
        o += sidLength;
        if (o + 2 > s.Length || s[o] != stepTag || s[o + 1] != 0x01) return false;
        o += 2;
        if (!Length(s, ref o, s.Length, out int stepLength) || o + stepLength != s.Length) return false;
        int end = s.Length;
        if (o < end && s[o] == 0x08)
        {
            o++;
            if (!Varint(s, ref o, 10, out round) || round == 0) return false;
        }
        if (manifestTag != 0 && o < end && s[o] == manifestTag)
        {
            o++;
            if (!Length(s, ref o, end, out int manifestLength) || manifestLength == 0) return false;
            manifest = o..(o + manifestLength);
            o += manifestLength;
        }
        var list = new List<Range>();
        while (o < end)
        {
            if (s[o] != itemTag) return false;
            o++;
            if (!Length(s, ref o, end, out int itemLength)) return false;
            list.Add(o..(o + itemLength));
            o += itemLength;
        }
        items = list;
        return true;

        static bool Tag(ReadOnlySpan<byte> s, ref int o, byte tag)
        {
            if (o >= s.Length || s[o] != tag) return false;
            o++;
            return true;
        }

        static bool Length(ReadOnlySpan<byte> s, ref int o, int end, out int length)
        {
            length = 0;
            if (!Varint(s, ref o, 5, out ulong l) || l > int.MaxValue || l > (ulong)(end - o)) return false;
            length = (int)l;
            return true;
        }

        // A minimal base-128 varint (its last byte is not 0 unless it is the only byte) of at most maxBytes bytes whose value
        // fits 64 bits (the 10th byte, if any, is 1); with maxBytes = 5 the value must also fit 32 bits.
        static bool Varint(ReadOnlySpan<byte> s, ref int o, int maxBytes, out ulong value)
        {
            value = 0;
            for (int i = 0; i < maxBytes; i++)
            {
                if (o >= s.Length) return false;
                byte b = s[o++];
                if (i == 9 && b > 1) return false;
                if (i == 4 && maxBytes == 5 && b > 0x0F) return false;
                value |= (ulong)(b & 0x7F) << (7 * i);
                if (b < 0x80) return i == 0 || b != 0;
            }
            return false;
        }
    }

    /// <summary>The wire name of a message's step: its <c>oneof step</c> field in homomorphic.proto (e.g. <c>sealed_points</c>),
    /// for error texts that name what arrived without naming C# types.</summary>
    internal static string StepName(object message) => message switch
    {
        HeSessionStartMessage => "session_start",
        HeCrsCommitmentsMessage => "crs_commitments",
        HeCrsRevealsMessage => "crs_reveals",
        HeKeyShareCommitmentsMessage => "key_share_commitments",
        HeKeyShareRevealsMessage => "key_share_reveals",
        HeChannelAdvertsMessage => "channel_adverts",
        HeSealedPointsForBankMessage => "sealed_points",
        HeRoundStartMessage => "round_start",
        HeDecryptionRequestMessage => "decryption_request",
        HeRoundResultMessage => "round_result",
        HeAbortToBank or HeAbortToAggregator => "abort",
        HeCrsCommitMessage => "crs_commit",
        HeCrsRevealMessage => "crs_reveal",
        HeKeyShareCommitMessage => "key_share_commit",
        HeKeyShareRevealMessage => "key_share_reveal",
        HeChannelAdvertMessage => "channel_advert",
        HeSealedPointsMessage => "sealed_points",
        HeKeyReadyMessage => "key_ready",
        HeUploadMessage => "upload",
        HeDecryptionSharesMessage => "decryption_shares",
        _ => "unknown step",
    };

    // ---- helpers ----

    // The canonical-encoding rule of SPEC.md 14.1, shared with MaskingWire.
    private static T Parse<T>(ReadOnlySpan<byte> data, int maxMessageBytes, MessageParser<T> parser) where T : IMessage<T>
        => CanonicalProtobuf.Parse(data, maxMessageBytes, parser);

    private static byte[] SessionId(uint version, ByteString sid)
    {
        if (version == 0) throw Error.Violation(ViolationReason.Malformed, "a message without a protocol version (empty, or not a FraudFed wrapper)");
        if (version != ProtocolVersion) throw Error.Violation(ViolationReason.WrongRoundOrState, $"protocol version {version}, this party speaks {ProtocolVersion}");
        if (sid.Length != 16) throw Error.Violation(ViolationReason.Malformed, "a session id is 16 bytes");
        return sid.ToByteArray();
    }

    private static byte[] Fixed(ByteString b, int length, string what) =>
        b.Length == length ? Own(b) : throw Error.Violation(ViolationReason.Malformed, $"{what} is {length} bytes");

    private static int Count(uint value, int max, string what) =>
        value <= (uint)max ? (int)value : throw Error.Violation(ViolationReason.OutOfRange, $"{what} above {max}");

    /// <summary>Exactly one entry per roster bank, banks 0..N-1 in order; each of <paramref name="length"/> bytes (-1: any).</summary>
    private static byte[][] ByBank(IReadOnlyList<BankBytes> entries, int rosterSize, int length)
    {
        if (entries.Count != rosterSize) throw Error.Violation(ViolationReason.Malformed, $"{entries.Count} entries, one per roster bank ({rosterSize}) expected");
        var result = new byte[rosterSize][];
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i].Bank != (uint)i) throw Error.Violation(ViolationReason.Malformed, "entries must list banks 0..N-1 in order");
            if (length >= 0 && entries[i].Data.Length != length) throw Error.Violation(ViolationReason.Malformed, $"an entry of {entries[i].Data.Length} bytes, {length} expected");
            result[i] = Own(entries[i].Data);
        }
        return result;
    }

    /// <summary>Distinct roster indices in ascending order.</summary>
    private static int[] Banks(IReadOnlyList<uint> banks, int rosterSize)
    {
        if (banks.Count > rosterSize) throw Error.Violation(ViolationReason.Oversized, "more banks than the roster");
        var result = new int[banks.Count];
        for (int i = 0; i < banks.Count; i++)
        {
            if (banks[i] >= (uint)rosterSize) throw Error.Violation(ViolationReason.UnknownSender, "a bank outside the roster");
            if (i > 0 && banks[i] <= banks[i - 1]) throw Error.Violation(ViolationReason.Malformed, "banks must be distinct and ascending");
            result[i] = (int)banks[i];
        }
        return result;
    }

    private static IEnumerable<BankBytes> PerBank(byte[][] items) => items.Select((d, i) => new BankBytes { Bank = (uint)i, Data = B(d) });
    // The caller's arrays are wrapped, not copied: an encoded message is serialized at once and the arrays are not changed.
    private static ByteString B(byte[] b) => UnsafeByteOperations.UnsafeWrap(b);

    /// <summary>The bytes of a parsed field without a second copy (a parsed ByteString owns a fresh exact-size array).</summary>
    private static byte[] Own(ByteString b) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(b.Memory, out ArraySegment<byte> seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
            ? seg.Array : b.ToByteArray();

    private static Wire.V1.Abort Abort(ViolationReason reason, string message, ulong round) =>
        new() { Reason = WireReasons.Code(reason), Message = message, Round = round };

    private static ViolationReason Reason(ViolationReasonCode code) => WireReasons.FromCode(code);

    /// <summary>The fewest bytes (1..8) that hold every value.</summary>
    private static int ValueBytes(ulong[] values)
    {
        ulong all = 0;
        foreach (ulong v in values) all |= v;
        return Math.Max(1, (64 - System.Numerics.BitOperations.LeadingZeroCount(all) + 7) / 8);
    }

    /// <summary>Each value as <paramref name="width"/> little-endian bytes (every value fits <paramref name="width"/>). While 8
    /// bytes remain, a value is written as a whole 64-bit word whose high bytes are zero and are overwritten by the next value.</summary>
    internal static byte[] Pack(ulong[] values, int width)
    {
        var bytes = new byte[values.Length * (long)width];
        Span<byte> b = bytes;
        int i = 0;
        for (int at = 0; i < values.Length && at <= b.Length - 8; i++, at += width)
            BinaryPrimitives.WriteUInt64LittleEndian(b[at..], values[i]);
        Span<byte> w = stackalloc byte[8];
        for (; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(w, values[i]);
            w[..width].CopyTo(b[(i * width)..]);
        }
        return bytes;
    }

    /// <summary>The values of <see cref="Pack"/>, refusing any other encoding (Malformed): a width outside 1..8, a length that is
    /// not a whole number of values, or a width that is not the fewest bytes holding the largest value.</summary>
    internal static ulong[] Unpack(ReadOnlySpan<byte> bytes, uint width)
    {
        if (width is < 1 or > 8) throw Error.Violation(ViolationReason.Malformed, "values are 1..8 bytes wide");
        if (bytes.Length % (int)width != 0) throw Error.Violation(ViolationReason.Malformed, "a sum is a whole number of values");
        ulong[] values = GC.AllocateUninitializedArray<ulong>(bytes.Length / (int)width);   // every value is written below
        int wb = (int)width;
        ulong mask = wb == 8 ? ulong.MaxValue : (1UL << (8 * wb)) - 1;
        int i = 0;
        // While 8 bytes remain, one 64-bit load per value, masked to its width.
        for (int at = 0; i < values.Length && at <= bytes.Length - 8; i++, at += wb)
            values[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..]) & mask;
        Span<byte> w = stackalloc byte[8];
        for (; i < values.Length; i++)
        {
            w.Clear();
            bytes.Slice(i * wb, wb).CopyTo(w);
            values[i] = BinaryPrimitives.ReadUInt64LittleEndian(w);
        }
        // SPEC.md 14.2: value_bytes is the fewest bytes that hold the largest value (the one encoding the aggregator writes).
        if (ValueBytes(values) != width) throw Error.Violation(ViolationReason.Malformed, "value_bytes is not the fewest bytes that hold the largest value");
        return values;
    }
}
