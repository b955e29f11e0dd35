using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Commands;
using FraudFed.Conformance.Live;
using FraudFed.Conformance.Vectors;
using FraudFed.Sdk.Configuration;
using FraudFed.Testing;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>What the second fresh-user trial of `fraudfed vectors check|generate` found (issue 10): the failure messages of
/// the offline check, the SPEC table of files, and generate's output directory passing check.</summary>
[TestFixture]
public sealed class SecondTrialVectorTests
{
    private static readonly string Committed = Path.Combine(Repository.Root, "protocols", "vectors");
    private string _tmp = "";

    [SetUp]
    public void SetUp() => _tmp = Path.Combine(Path.GetTempPath(), "fraudfed-trial2-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true);
    }

    private void WriteEdited(string relative, Action<JsonObject> edit)
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, relative)))!.AsObject();
        edit(root);
        string full = Path.Combine(_tmp, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, root.ToJsonString());
    }

    private static (int Rc, string Stdout, string Stderr) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void ChangedTranscriptByte_IsReportedAtItsOffset_WithTheBytesAroundIt()
    {
        // A message of the transcript with one byte changed in its middle: the two values share their first and last bytes.
        const string File0 = "masking/transcript-3-banks.json";
        JsonObject original = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, File0)))!.AsObject();
        JsonArray messages = original["messages"]!.AsArray();
        int index = Enumerable.Range(0, messages.Count).First(i => messages[i]!["bytes"]!.GetValue<string>().Length > 400);
        string hex = messages[index]!["bytes"]!.GetValue<string>();
        int offset = hex.Length / 4;   // a byte offset in the middle of the message
        string changedByte = ((Convert.ToByte(hex.Substring(2 * offset, 2), 16) ^ 0x01)).ToString("x2");
        WriteEdited(File0, root => root["messages"]![index]!["bytes"] = hex[..(2 * offset)] + changedByte + hex[(2 * offset + 2)..]);

        FileResult r = ConformanceSuite.Run(_tmp, File0);

        string[] messagesOut = r.Cases.Where(c => !c.Passed).Select(c => c.Message!).ToArray();
        Assert.That(messagesOut, Is.Not.Empty);
        string said = messagesOut.First(m => m.Contains("first difference at byte", StringComparison.Ordinal));
        Assert.That(said, Does.Contain($"first difference at byte {offset} "));
        // The windows: 8 bytes before, the differing byte in brackets, 8 after; the file's byte and the recomputed one.
        string before = hex.Substring(2 * (offset - 8), 16), after = hex.Substring(2 * offset + 2, 16);
        string orig = hex.Substring(2 * offset, 2);
        Assert.That(said, Does.Contain($"{before}[{changedByte}]{after}").Or.Contain($"{before}[{orig}]{after}"));
        Assert.That(said, Does.Contain($"[{changedByte}]").And.Contain($"[{orig}]"), "both values are shown at the offset");
    }

    [Test]
    public void AMismatch_SaysWhichValueIsTheFilesAndWhichIsRecomputed()
    {
        // keystream_first_64 is read from the file and compared with the library's PRG output: its first byte edited.
        JsonObject original = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, "prg/modpow2.json")))!.AsObject();
        string keystream = original["keystream_first_64"]!.GetValue<string>();
        string edited = (Convert.ToByte(keystream[..2], 16) ^ 0x80).ToString("x2") + keystream[2..];
        WriteEdited("prg/modpow2.json", root => root["keystream_first_64"] = edited);

        string said = ConformanceSuite.Run(_tmp, "prg/modpow2.json").Cases.Where(c => !c.Passed).Select(c => c.Message!).First(m => m.StartsWith("keystream", StringComparison.Ordinal));
        Assert.That(said, Does.Contain($"file says [{edited[..2]}]{edited[2..18]}").And.Contain($"recomputed [{keystream[..2]}]{keystream[2..18]}"));
        Assert.That(said, Does.Contain("(file says 64 bytes, recomputed 64)"));
        Assert.That(said, Does.Not.Contain("expected").And.Not.Contain(" got "));
    }

    [Test]
    public void HexDifference_ShortValues_AndDifferentLengths()
    {
        Assert.That(Expect.HexDifference("00112233", "00112333"), Is.EqualTo("expected 00112233, recomputed 00112333 (first difference at byte 2)"));
        string e = new string('a', 100), a = new string('a', 98);
        Assert.That(Expect.HexDifference(e, a), Is.EqualTo("first difference at byte 49 (expected 50 bytes, recomputed 49): expected ...aaaaaaaaaaaaaaaa[aa], recomputed ...aaaaaaaaaaaaaaaa[end]"));
    }

    [TestCase("x", "\"description\" is too short (1 characters): it must be a top-level \"description\" string of at least 20 characters")]
    [TestCase(null, "the file has no \"description\": it needs a top-level \"description\" string of at least 20 characters")]
    public void Description_SaysWhatIsWrong(string? description, string expected)
    {
        WriteEdited("prg/modpow2.json", root =>
        {
            if (description is null) root.Remove("description");
            else root["description"] = description;
        });
        CaseResult c = ConformanceSuite.Run(_tmp, "prg/modpow2.json").Cases.Single(x => x.Name == "description");
        Assert.That(c.Passed, Is.False);
        Assert.That(c.Message, Does.StartWith(expected));
    }

    [Test]
    public void DescriptionNumber_IsNamedAsTheWrongKind()
    {
        WriteEdited("prg/modpow2.json", root => root["description"] = 42);
        CaseResult c = ConformanceSuite.Run(_tmp, "prg/modpow2.json").Cases.Single(x => x.Name == "description");
        Assert.That(c.Message, Does.StartWith("\"description\" is a JSON number: it must be"));
    }

    [Test]
    public void DuplicatedCase_IsRefused_NamingBothPlaces()
    {
        WriteEdited("prg/modpow2.json", root => root["cases"]!.AsArray().Add(root["cases"]![1]!.DeepClone()));
        WriteEdited("wire/he-wrappers.json", root =>
        {
            JsonObject copy = root["cases"]![0]!.DeepClone().AsObject();
            root["cases"]!.AsArray().Add(copy);
        });
        FileResult prg = ConformanceSuite.Run(_tmp, "prg/modpow2.json");
        FileResult wire = ConformanceSuite.Run(_tmp, "wire/he-wrappers.json");
        int n = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, "prg/modpow2.json")))!["cases"]!.AsArray().Count;
        int w = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, "wire/he-wrappers.json")))!["cases"]!.AsArray().Count;
        Assert.Multiple(() =>
        {
            Assert.That(prg.Passed, Is.False);
            Assert.That(prg.Cases.Single(c => c.Name == "unique-cases").Message, Is.EqualTo($"1 duplicated case(s): cases[{n}] (the same as cases[1]) (each case appears once)"));
            Assert.That(wire.Passed, Is.False);
            Assert.That(wire.Cases.Single(c => c.Name == "unique-cases").Message, Does.StartWith($"1 duplicated case(s): cases[{w}] \"session_start\" (also cases[0])"));
        });
    }

    [Test]
    public void UnknownTopLevelAndCaseFields_AreRefused_NamingThem()
    {
        WriteEdited("x25519/rfc7748.json", root =>
        {
            root["comment"] = "added by hand";
            root["scalar_mult"]![1]!["outptu"] = "00";
        });
        WriteEdited("prg/modpow2.json", root => root["cases"]![0]!["valeus"] = new JsonArray());
        CaseResult rfc = ConformanceSuite.Run(_tmp, "x25519/rfc7748.json").Cases.Single(c => c.Name == "known-fields");
        CaseResult derived = ConformanceSuite.Run(_tmp, "prg/modpow2.json").Cases.Single(c => c.Name == "known-fields");
        Assert.Multiple(() =>
        {
            Assert.That(rfc.Passed, Is.False);
            Assert.That(rfc.Message, Does.StartWith("2 field(s) the suite does not know: \"outptu\" in scalar_mult[1], \"comment\" in the top level"));
            Assert.That(derived.Message, Does.StartWith("1 field(s) the suite does not know: \"valeus\" in cases[0]"));
        });
    }

    [Test]
    public void CommittedFiles_HaveNoUnknownFieldsNorDuplicates()
    {
        foreach (string path in ConformanceSuite.Files.Select(f => f.Path))
        {
            FileResult r = ConformanceSuite.Run(Committed, path);
            Assert.That(r.Cases.Select(c => c.Name), Has.None.EqualTo("known-fields").And.None.EqualTo("unique-cases"), path);
        }
    }

    /// <summary>SPEC.md 13's table of files (backquoted paths in its first column) names exactly the files the suite requires.</summary>
    [Test]
    public void SpecTable_NamesExactlyTheRequiredFiles()
    {
        string spec = File.ReadAllText(Path.Combine(Repository.Root, "protocols", "SPEC.md"));
        int section = spec.IndexOf("\n## 13. Conformance", StringComparison.Ordinal);
        Assert.That(section, Is.GreaterThan(0));
        int header = spec.IndexOf("| file | pins (section) |", section, StringComparison.Ordinal);
        Assert.That(header, Is.GreaterThan(section));
        string[] rows = spec[header..].Split('\n').Skip(2).TakeWhile(l => l.StartsWith('|')).ToArray();
        var listed = rows.SelectMany(row => Regex.Matches(row.Split('|')[1], @"`([a-z0-9\-/\.]+\.json)`").Select(m => m.Groups[1].Value)).ToList();
        Assert.That(listed, Is.Unique);
        Assert.That(listed, Is.EquivalentTo(ConformanceSuite.Files.Select(f => f.Path)));
    }

    [Test]
    public void GenerateIntoAnotherDirectory_CopiesTheKnownAnswers_SoCheckPassesThere()
    {
        (int rc, string stdout, _) = Cli("vectors", "generate", "--out", _tmp);
        Assert.That(rc, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain($"copied the RFC/NIST known answers ({string.Join(", ", ConformanceSuite.KnownAnswerFiles)}) from {Committed}"));
        foreach (string f in ConformanceSuite.KnownAnswerFiles)
            Assert.That(File.ReadAllBytes(Path.Combine(_tmp, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Committed, f))), f);
        (int checkRc, string checkOut, _) = Cli("vectors", "check", "--vectors", _tmp);
        Assert.That(checkRc, Is.EqualTo(0), checkOut);
        Assert.That(checkOut.TrimEnd().Split('\n')[^1], Is.EqualTo($"{ConformanceSuite.Files.Count} passed, 0 failed"));
    }

    [Test]
    public void MaxMessageBytesNotANumber_SaysSoWithoutATypeName()
    {
        (int rc, string stdout, string stderr) = Cli("conformance", "--target", "https://127.0.0.1:1", "--banks", "/tmp", "--max-message-bytes", "abc");
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr.TrimEnd(), Is.EqualTo("fraudfed conformance: --max-message-bytes must be a whole number (got 'abc')."));
        Assert.That(stderr, Does.Not.Contain("System.").And.Not.Contain("Nullable"));
    }

    [TestCase("https://localhost:17444/some/path", "--target must be https://HOST:PORT with nothing after the port")]
    [TestCase("https://localhost:17444/?x=1", "--target must be https://HOST:PORT with nothing after the port")]
    public void TargetWithAPath_IsRefused(string target, string expected)
    {
        string kit = Path.Combine(_tmp, "kit");
        DevelopmentProvisioning.Write(kit, new ProvisioningOptions { Banks = 3, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0" });
        (int rc, string stdout, string stderr) = Cli("conformance", "--target", target, "--banks", kit);
        Assert.That(rc, Is.EqualTo(2), stderr);
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.StartWith("fraudfed conformance: " + expected));
    }

    [TestCase("--banks", "kit2")]
    [TestCase("--ca", "ca.pem")]
    [TestCase("--max-message-bytes", "4096")]
    public void SelfWithATargetOption_IsAUsageError(string option, string value)
    {
        (int rc, string stdout, string stderr) = Cli("conformance", "--self", option, value);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stdout, Is.Empty, "nothing ran");
        Assert.That(stderr, Does.StartWith($"fraudfed conformance: {option} is an option of --target"));
    }
    [Test]
    public void ChangedTranscriptByte_SpecAndReplay_NameTheFilesValueFirst()
    {
        const string File0 = "masking/transcript-3-banks.json";
        JsonObject original = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, File0)))!.AsObject();
        JsonArray messages = original["messages"]!.AsArray();
        // A byte inside the first KeyRoster (the aggregator's relay of the banks' AdvertiseKeys): SPEC's rule is that it relays them unchanged.
        int index = Enumerable.Range(0, messages.Count).First(i => messages[i]!["type"]!.GetValue<string>() == "KeyRoster");
        string hex = messages[index]!["bytes"]!.GetValue<string>();
        int offset = hex.Length / 4;
        string orig = hex.Substring(2 * offset, 2);
        string changed = (Convert.ToByte(orig, 16) ^ 0x01).ToString("x2");
        WriteEdited(File0, root => root["messages"]![index]!["bytes"] = hex[..(2 * offset)] + changed + hex[(2 * offset + 2)..]);

        FileResult r = ConformanceSuite.Run(_tmp, File0);

        string spec = r.Cases.Single(c => c.Name == "spec").Message!, replay = r.Cases.Single(c => c.Name == "replay").Message!;
        TestContext.Out.WriteLine(spec + "\n" + replay);
        Assert.That(replay, Does.Contain($"the file has ").And.Contain($", the replay gives "));
        Assert.That(replay.IndexOf($"[{changed}]", StringComparison.Ordinal), Is.LessThan(replay.IndexOf($"[{orig}]", StringComparison.Ordinal)),
            "the file's changed byte comes first, the replay's original second: " + replay);
        Assert.That(spec, Does.Contain("the file has ").And.Contain(", SPEC's rule gives "));
        Assert.That(spec.IndexOf($"[{changed}]", StringComparison.Ordinal), Is.LessThan(spec.IndexOf($"[{orig}]", StringComparison.Ordinal)),
            "the file's changed byte comes first, SPEC's rule second: " + spec);
    }

    [Test]
    public void WrongKindOfField_IsNamedByJsonPath_AndFailsOnlyTheCaseThatReadsIt()
    {
        const string File0 = "rlwe/parameters.json";
        WriteEdited(File0, root => root["sets"]![0]!["insecure"] = 2);

        FileResult r = ConformanceSuite.Run(_tmp, File0);

        CaseResult[] failed = r.Cases.Where(c => !c.Passed).ToArray();
        Assert.That(failed, Is.Not.Empty);
        foreach (CaseResult c in failed)
            Assert.That(c.Message, Does.Contain("sets[0].insecure must be true or false, found a number").And.Not.Contain("requested operation"), c.Name);
        Assert.That(failed.Select(c => c.Name), Has.All.StartWith(r.Cases.First(c => c.Name.EndsWith("/primes", StringComparison.Ordinal)).Name.Split('/')[0] + "/"),
            "only the first set's cases can fail");
        Assert.That(r.Cases.Count(c => c.Passed), Is.GreaterThan(failed.Length), "the other cases still run and pass");
    }

    [Test]
    public void WrongKindOfCount_FailsOnlyThatCasesChecks_AndEveryOtherCaseRuns()
    {
        const string File0 = "prg/modpow2.json";
        FileResult clean = ConformanceSuite.Run(Committed, File0);
        WriteEdited(File0, root => root["cases"]![0]!["count"] = "many");

        FileResult r = ConformanceSuite.Run(_tmp, File0);

        Assert.That(r.Cases.Select(c => c.Name), Is.EqualTo(clean.Cases.Select(c => c.Name)), "the same cases as the committed file, no \"structure\" case");
        CaseResult[] failed = r.Cases.Where(c => !c.Passed).ToArray();
        Assert.That(failed, Is.Not.Empty);
        string k = failed[0].Name.Split('/')[0];
        Assert.That(failed.Select(c => c.Name), Has.All.StartWith(k + "/"), "only the checks of cases[0] fail");
        foreach (CaseResult c in failed) Assert.That(c.Message, Does.Contain("cases[0].count must be a number, found a string"), c.Name);
    }

    [Test]
    public void InvalidJson_IsReportedByLineAndColumn_InPlainWords()
    {
        string full = Path.Combine(_tmp, "prg", "modpow2.json");
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, "{\n  \"description\": x\n}\n");

        CaseResult parse = ConformanceSuite.Run(_tmp, "prg/modpow2.json").Cases.Single();

        Assert.That(parse.Name, Is.EqualTo("parse"));
        Assert.That(parse.Message, Does.Match(@"^not valid JSON: line 2, column 1[78]: \S"));
        Assert.That(parse.Message, Does.Not.Contain("LineNumber").And.Not.Contain("BytePositionInLine"));
    }
}

/// <summary>The live runner's first step over real loopback mutual TLS against a real appliance: each way it can fail is
/// said in one line naming the side (and bank), and the run stops there (exit 1). Also the bank SDK's side of the same
/// failures: an unpinned certificate is not retried, and a session the runner consumed is named as such.</summary>
[TestFixture]
public sealed class SecondTrialLiveTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Path.Combine(Path.GetTempPath(), "fraudfed-trial2-live-" + Guid.NewGuid().ToString("N")[..12]);

    [TearDown]
    public void TearDown()
    {
        try { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Kit(string name)
    {
        string kit = Path.Combine(_dir, name);
        DevelopmentProvisioning.Write(kit, new ProvisioningOptions
        {
            Banks = 3, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0",
            Deadlines = new DeadlineSettings { SetupSeconds = 60, JoinSeconds = 3, StageSeconds = 60 },
        });
        return kit;
    }

    /// <summary>Serves <paramref name="kit"/> and points its banks' bank.json at the gRPC address.</summary>
    private static async Task<ApplianceHost> ServeAsync(string kit)
    {
        LoadedAggregatorConfig loaded = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.None));
        await host.StartAsync();
        Uri address = host.Addresses.First(a => a.Scheme == "https");
        for (int b = 0; b < 3; b++)
        {
            string path = Path.Combine(kit, "banks", $"bank-{b}", "bank.json");
            File.WriteAllText(path, JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(path) with { Aggregator = address.ToString().TrimEnd('/') }, ConfigJson.Options));
        }
        return host;
    }

    private static Uri GrpcAddress(ApplianceHost host) => host.Addresses.First(a => a.Scheme == "https");

    /// <summary>Bank 0 of <paramref name="kit"/> presents <paramref name="other"/>'s bank-0 certificate and key (pinned nowhere in kit's roster).</summary>
    private static void SwapBank0Certificate(string kit, string other)
    {
        foreach (string f in new[] { "client.crt.pem", "client.key.pem" })
            File.Copy(Path.Combine(other, "banks", "bank-0", f), Path.Combine(kit, "banks", "bank-0", f), overwrite: true);
    }

    private static (int Rc, string[] Lines, JsonElement Json) Conformance(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(["conformance", .. args, "--json"], stdout, stderr);
        string[] lines = stdout.ToString().TrimEnd().Split('\n');
        Assert.That(stderr.ToString(), Is.Empty);
        using JsonDocument doc = JsonDocument.Parse(lines[^1]);
        return (rc, lines, doc.RootElement.Clone());
    }

    /// <summary>A setup failure: exit 1, the one failed check, the "stopped" line, the JSON line; the detail on one line, without a type name.</summary>
    private static string AssertStoppedAtSetup((int Rc, string[] Lines, JsonElement Json) run)
    {
        Assert.That(run.Rc, Is.EqualTo(1), string.Join("\n", run.Lines));
        Assert.That(run.Lines, Has.Length.EqualTo(3), string.Join("\n", run.Lines));
        Assert.That(run.Lines[0], Does.StartWith("FAIL  appliance/masking/session-setup"));
        Assert.That(run.Lines[1], Is.EqualTo("stopped: session setup failed, so no other check ran (bank checks included); 0 passed, 1 failed"));
        Assert.That(run.Json.GetProperty("failed").GetInt32(), Is.EqualTo(1));
        Assert.That(run.Json.GetProperty("passed").GetInt32(), Is.EqualTo(0));
        string detail = run.Json.GetProperty("checks")[0].GetProperty("detail").GetString()!;
        Assert.That(detail, Does.Not.Contain("\n").And.Not.Contain("Exception").And.Not.Contain("SslStream").And.Not.Contain("System."));
        return detail;
    }

    [Test]
    public async Task Bank0NotPinned_IsNamedAsTheAppliancesRefusalOfBank0()
    {
        string kit = Kit("kit"), other = Kit("other");
        await using ApplianceHost host = await ServeAsync(kit);
        SwapBank0Certificate(kit, other);
        string detail = AssertStoppedAtSetup(Conformance("--target", GrpcAddress(host).ToString(), "--banks", kit));
        Assert.That(detail, Does.StartWith("the appliance refused bank 0's client certificate (not pinned"));
        await host.StopAsync();
    }

    [Test]
    public async Task CaOfAnotherKit_IsNamedAsTheRunnersRefusal()
    {
        string kit = Kit("kit"), other = Kit("other");
        await using ApplianceHost host = await ServeAsync(kit);
        string detail = AssertStoppedAtSetup(Conformance("--target", GrpcAddress(host).ToString(), "--banks", kit, "--ca", Path.Combine(other, "banks", "bank-0", "ca.crt.pem")));
        Assert.That(detail, Does.StartWith($"the runner refused the server certificate of the appliance at {GrpcAddress(host)}"));
        await host.StopAsync();
    }

    [Test]
    public async Task TargetAtTheOpsPort_SaysItDoesNotSpeakTls()
    {
        string kit = Kit("kit");
        await using ApplianceHost host = await ServeAsync(kit);
        Uri ops = host.Addresses.First(a => a.Scheme == "http");
        var target = new Uri($"https://{ops.Host}:{ops.Port}");
        string detail = AssertStoppedAtSetup(Conformance("--target", target.ToString(), "--banks", kit));
        Assert.That(detail, Does.StartWith($"{target} does not speak TLS (it answered plain HTTP)"));
        await host.StopAsync();
    }

    [Test]
    public void NothingListening_StopsTheRunWithOneLine()
    {
        string kit = Kit("kit");
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        string detail = AssertStoppedAtSetup(Conformance("--target", $"https://127.0.0.1:{port}", "--banks", kit));
        Assert.That(detail, Does.StartWith($"the appliance at https://127.0.0.1:{port}/ refused the connection (nothing listens there)"));
    }

    [Test]
    public async Task HandshakeFailureShapes_AreClassifiedAsTheAppliancesRefusal()
    {
        // The shapes a refused client certificate takes under TLS 1.3 besides InvalidResponse: an EOF inside the handshake and
        // the server's close racing the first write (a disposed SslStream). Nothing listens at the target, so the no-TLS probe finds nothing.
        var target = new Uri("https://127.0.0.1:1");
        Exception[] debugs =
        [
            new HttpRequestException("Error starting gRPC call.", new ObjectDisposedException("System.Net.Security.SslStream")),
            new HttpRequestException(HttpRequestError.SecureConnectionError, "The SSL connection could not be established.", new IOException("Received an unexpected EOF or 0 bytes from the transport stream.")),
        ];
        foreach (Exception debug in debugs)
            foreach (Grpc.Core.StatusCode status in new[] { Grpc.Core.StatusCode.Unavailable, Grpc.Core.StatusCode.Internal })
            {
                var rpc = new Grpc.Core.RpcException(new Grpc.Core.Status(status, "Error starting gRPC call. HttpRequestException: ...\nObjectDisposedException: SslStream", debug));
                string said = await LiveFailure.ConnectionAsync(rpc, target, 2, runnerRefusedServer: false, serverCertificateSeen: true, TimeSpan.FromSeconds(20), CancellationToken.None);
                Assert.That(said, Does.StartWith("the appliance refused bank 2's client certificate (not pinned"), $"{status} {debug.InnerException!.GetType().Name}");
                // The same shapes before any server certificate was shown: the peer never spoke TLS.
                said = await LiveFailure.ConnectionAsync(rpc, target, 2, runnerRefusedServer: false, serverCertificateSeen: false, TimeSpan.FromSeconds(20), CancellationToken.None);
                Assert.That(said, Does.StartWith($"{target} closed the connection before completing a TLS handshake"), $"{status} {debug.InnerException!.GetType().Name}");
            }
        var unavailable = new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "line one\nHttpRequestException: two"));
        Assert.That(await LiveFailure.ConnectionAsync(unavailable, target, 0, false, true, TimeSpan.FromSeconds(20), CancellationToken.None),
            Is.EqualTo($"the appliance at {target} is unreachable (Unavailable); check --target and that the appliance runs."));
    }

    [Test]
    public async Task BankSum_WithAnUnpinnedCertificate_FailsAtOnce_WithoutRetrying()
    {
        string kit = Kit("kit"), other = Kit("other");
        await using ApplianceHost host = await ServeAsync(kit);
        SwapBank0Certificate(kit, other);
        string values = Path.Combine(_dir, "v.txt");
        File.WriteAllText(values, "1 2 3");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var clock = Stopwatch.StartNew();
        int rc = FraudFed.Cli.Program.Run(["bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", values, "--timeout", "20"], stdout, stderr);
        Assert.That(rc, Is.EqualTo(1), stderr.ToString());
        Assert.That(stderr.ToString(), Does.Contain("refused this bank's TLS client certificate"));
        Assert.That(stderr.ToString(), Does.Not.Contain("retrying").And.Not.Contain("last try"));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "not retried for the 20 s timeout");
        await host.StopAsync();
    }

    [Test]
    public async Task BankSum_AfterTheRunnerSetUpTheSession_SaysTheSessionWasStartedWithoutItsState()
    {
        string kit = Kit("kit");
        await using ApplianceHost host = await ServeAsync(kit);
        // The runner's session setup, as `conformance --target` runs it, consumes the appliance's session.
        using (LiveTarget target = LiveTarget.Load(new LiveOptions { Target = GrpcAddress(host), BanksDirectory = kit, StageTimeoutSeconds = 60 }))
        {
            WireBank[] banks = Enumerable.Range(0, 3).Select(target.Open).ToArray();
            try { await Task.WhenAll(banks.Select(b => b.SetupAsync(CancellationToken.None))); }
            finally { foreach (WireBank b in banks) b.Dispose(); }
        }
        string values = Path.Combine(_dir, "v.txt");
        File.WriteAllText(values, "1 2 3");
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(["bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", values, "--timeout", "30"], TextWriter.Null, stderr);
        Assert.That(rc, Is.EqualTo(1), stderr.ToString());
        Assert.That(stderr.ToString(), Does.Contain("the session was started without this bank's saved state").And.Contain("conformance --target")
            .And.Contain("start a new session"));
        Assert.That(stderr.ToString(), Does.Not.Contain("set state_directory"));
        await host.StopAsync();
    }

    [Test]
    public async Task Fuzz_PacesItselfOnTheRateLimit_AndSaysHowManyWereLimited()
    {
        var settings = new ConformanceCommand.LiveSettings(Fuzz: 100_000, FuzzSeconds: 4, FuzzSeed: 5, StageTimeout: 60);
        IReadOnlyList<LiveCheckResult> results = await ConformanceCommand.SelfModeAsync("masking", settings, requestsPerSecond: 40);
        Assert.That(results.Where(r => !r.Passed).Select(r => $"{r.Name}: {r.Detail}"), Is.Empty);
        string detail = results.Single(r => r.Name == "appliance/masking/fuzz-typed-statuses").Detail;
        Match m = Regex.Match(detail, @"; (\d+) rate limited \(RESOURCE_EXHAUSTED from the per-bank limit\) and resent, (\d+) of them still limited after 8 tries");
        Assert.That(m.Success, Is.True, detail);
        Assert.That(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0), "at 40 calls per second the limiter answers: " + detail);
        Assert.That(m.Groups[2].Value, Is.EqualTo("0"), "every limited mutant got through after waiting: " + detail);
        Assert.That(detail, Does.Not.Contain("RateLimited "), "no mutant ends at the limiter: " + detail);
    }
    /// <summary>A loopback port that accepts TCP connections and either closes each at once or keeps it open and silent.</summary>
    private static (System.Net.Sockets.TcpListener Listener, Task Loop) PlainSocket(bool closeAtOnce, CancellationToken stop)
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var held = new List<System.Net.Sockets.TcpClient>();
        Task loop = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    System.Net.Sockets.TcpClient c = await listener.AcceptTcpClientAsync(stop);
                    if (closeAtOnce) c.Dispose(); else held.Add(c);
                }
            }
            catch (OperationCanceledException) { }
            catch (System.Net.Sockets.SocketException) { }
            finally { foreach (var c in held) c.Dispose(); }
        });
        return (listener, loop);
    }

    [Test]
    public async Task PlainSocketThatCloses_IsNotTls_NotARefusedCertificate()
    {
        string kit = Kit("kit");
        using var stop = new CancellationTokenSource();
        var (listener, loop) = PlainSocket(closeAtOnce: true, stop.Token);
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        try
        {
            string detail = AssertStoppedAtSetup(Conformance("--target", $"https://127.0.0.1:{port}", "--banks", kit, "--stage-timeout", "20"));
            Assert.That(detail, Does.StartWith($"https://127.0.0.1:{port}/ closed the connection before completing a TLS handshake"));
            Assert.That(detail, Does.Contain("is this the appliance's gRPC address?").And.Not.Contain("client certificate"));

            // bank sum (the SDK) tells the same apart.
            string bankJson = Path.Combine(kit, "banks", "bank-0", "bank.json");
            File.WriteAllText(bankJson, JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(bankJson) with { Aggregator = $"https://127.0.0.1:{port}" }, ConfigJson.Options));
            string values = Path.Combine(_dir, "v.txt");
            File.WriteAllText(values, "1 2 3");
            var stderr = new StringWriter();
            int rc = FraudFed.Cli.Program.Run(["bank", "sum", "--config", bankJson, "--values", values, "--timeout", "20"], TextWriter.Null, stderr);
            Assert.That(rc, Is.EqualTo(1), stderr.ToString());
            Assert.That(stderr.ToString(), Does.Contain("closed the connection before completing a TLS handshake (is this the appliance's gRPC address?)")
                .And.Not.Contain("refused this bank's TLS client certificate"));
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            await loop;
        }
    }

    [Test]
    public async Task SilentPort_IsBoundedByTheStageTimeout()
    {
        string kit = Kit("kit");
        using var stop = new CancellationTokenSource();
        var (listener, loop) = PlainSocket(closeAtOnce: false, stop.Token);
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        try
        {
            var clock = Stopwatch.StartNew();
            string detail = AssertStoppedAtSetup(Conformance("--target", $"https://127.0.0.1:{port}", "--banks", kit, "--stage-timeout", "2"));
            Assert.That(detail, Does.Contain("no TLS answer within 2 s"), detail);
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "bounded by --stage-timeout 2, not the 60 s call deadline");
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            await loop;
        }
    }

    [Test]
    public void Target_MustNameThePort_AndHaveNoUserPart()
    {
        string kit = Kit("kit");
        foreach ((string target, string said) in new[]
        {
            ("https://127.0.0.1", "must name the port"),
            ("https://127.0.0.1/", "must name the port"),
            ("https://someone@127.0.0.1:5001", "\"someone@\""),
        })
        {
            var stderr = new StringWriter();
            int rc = FraudFed.Cli.Program.Run(["conformance", "--target", target, "--banks", kit], TextWriter.Null, stderr);
            Assert.That(rc, Is.EqualTo(2), target);
            Assert.That(stderr.ToString(), Does.Contain(said), target);
        }
        Assert.That(LiveTarget.HasExplicitPort("https://127.0.0.1:5001/"), Is.True, "a trailing slash alone is fine");
        Assert.That(LiveTarget.HasExplicitPort("https://[::1]:5001"), Is.True);
        Assert.That(LiveTarget.HasExplicitPort("https://[::1]"), Is.False);
        Assert.That(LiveTarget.HasExplicitPort("https://host:"), Is.False);
    }
}
