using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Conformance.Vectors;
using FraudFed.Testing;
using Grpc.Core;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>The bulk channel's vector file (wire/bulk-frames.json, SPEC.md 13 and 14.8): the library's codec passes every case; a
/// codec whose encoding differs by one byte, or whose decoder accepts an invalid payload, fails exactly the cases it breaks; a
/// file with one byte changed fails.</summary>
[TestFixture]
public sealed class BulkFrameVectorTests
{
    private static string Committed => Path.Combine(Repository.Root, "protocols", "vectors");
    private const string File = "wire/bulk-frames.json";

    private static JsonElement Root()
    {
        using JsonDocument doc = JsonDocument.Parse(System.IO.File.ReadAllText(Path.Combine(Committed, File)));
        return doc.RootElement.Clone();
    }

    private static List<CaseResult> Run(BulkCodec codec) =>
        new BulkFrameVectors(codec).Cases(Root()).Select(ConformanceSuite.RunCase).ToList();

    [Test]
    public void LibraryCodec_PassesEveryCase_AndTheFileIsRegistered()
    {
        List<CaseResult> results = Run(BulkCodec.Library);
        Assert.That(results.Where(r => !r.Passed).Select(r => $"{r.Name}: {r.Message}"), Is.Empty);
        Assert.That(results.Count(r => r.Name.StartsWith("header/", StringComparison.Ordinal)), Is.EqualTo(10));
        Assert.That(results.Count(r => r.Name.StartsWith("error/", StringComparison.Ordinal)), Is.EqualTo(8));
        Assert.That(results.Count(r => r.Name.StartsWith("invalid/", StringComparison.Ordinal)), Is.EqualTo(16));
        Assert.That(ConformanceSuite.Find(File), Is.InstanceOf<BulkFrameVectors>());
        Assert.That(ConformanceSuite.Run(Committed, File).Passed, Is.True);
    }

    [Test]
    public void EncoderOffByOneByte_FailsEveryErrorCase_NamingTheOffset()
    {
        BulkCodec broken = BulkCodec.Library with
        {
            EncodeError = (code, detail, trailers) =>
            {
                byte[] bytes = BulkCodec.Library.EncodeError(code, detail, trailers);
                bytes[^1] ^= 0x01;
                return bytes;
            },
        };
        List<CaseResult> results = Run(broken);
        Assert.That(results.Where(r => !r.Passed).Select(r => r.Name), Is.EquivalentTo(results.Select(r => r.Name).Where(n => n.StartsWith("error/", StringComparison.Ordinal))));
        Assert.That(results.Single(r => r.Name == "error/resource_exhausted_oversized").Message, Does.Contain("BulkFrame.EncodeError").And.Contain("first difference at byte 67"));
    }

    [Test]
    public void BigEndianHeader_FailsTheHeaderCases()
    {
        BulkCodec broken = BulkCodec.Library with
        {
            WriteHeader = (kind, length) => [kind, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length],
        };
        List<CaseResult> failed = Run(broken).Where(r => !r.Passed).ToList();
        // Every header with a non-zero length whose bytes are not a palindrome, and only headers.
        Assert.That(failed.Select(r => r.Name), Is.EquivalentTo(new[]
        {
            "header/submit_100", "header/submit_66051", "header/submit_2_31_minus_1", "header/receive_6", "header/ok_12", "header/error_70",
        }));
    }

    [Test]
    public void DecoderThatAcceptsTrailingBytes_FailsTheTrailingByteCase()
    {
        // A decoder that ignores bytes after the last trailer (drops them and decodes the rest).
        BulkCodec lenient = BulkCodec.Library with
        {
            DecodeError = bytes =>
            {
                for (int n = bytes.Length; n > 0; n--)
                {
                    try { return BulkCodec.Library.DecodeError(bytes[..n]); }
                    catch (InvalidDataException) { }
                }
                throw new InvalidDataException("nothing decodes");
            },
        };
        List<CaseResult> failed = Run(lenient).Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Name), Is.EqualTo(new[] { "invalid/trailing_byte" }));
        Assert.That(failed[0].Message, Does.Contain("accepted it as status InvalidArgument"));
    }

    [Test]
    public void DecoderThatSkipsTheTrailerRules_FailsTheKeyAndValueCases()
    {
        // A decoder that skips the rules of a trailer's key and value: a payload with an empty detail and one trailer with a
        // non-empty key that the library refuses is accepted with its status.
        BulkCodec lenient = BulkCodec.Library with
        {
            DecodeError = bytes =>
            {
                try { return BulkCodec.Library.DecodeError(bytes); }
                catch (InvalidDataException) when (bytes.Length >= 7 && bytes[6] == 1 && bytes[7] > 0)
                {
                    return new RpcException(new Status((StatusCode)bytes[0], ""));
                }
            },
        };
        List<CaseResult> failed = Run(lenient).Where(r => !r.Passed).ToList();
        Assert.That(failed.Select(r => r.Name), Is.EquivalentTo(new[] { "invalid/upper_case_key", "invalid/binary_key", "invalid/key_with_space", "invalid/value_invalid_utf8" }));
    }

    [Test]
    public void FileWithOneByteChanged_Fails()
    {
        JsonNode root = JsonNode.Parse(System.IO.File.ReadAllText(Path.Combine(Committed, File)))!;
        JsonNode error = root["errors"]!.AsArray().Single(e => e!["name"]!.GetValue<string>() == "permission_denied_utf8_detail")!;
        string hex = error["bytes"]!.GetValue<string>();
        error["bytes"] = hex[..20] + (hex[20] == '0' ? '1' : '0') + hex[21..];
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-bulkvec-" + Guid.NewGuid().ToString("N"));
        try
        {
            string full = Path.Combine(dir, File);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            System.IO.File.WriteAllText(full, ConformanceSuite.Serialize(root));
            FileResult r = ConformanceSuite.Run(dir, File);
            Assert.That(r.Cases.Where(c => !c.Passed).Select(c => c.Name), Is.EqualTo(new[] { "error/permission_denied_utf8_detail" }));
            Assert.That(r.Cases.Single(c => !c.Passed).Message, Does.Contain("first difference at byte 10"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
