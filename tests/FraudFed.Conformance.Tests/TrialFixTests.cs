using System.Text.Json.Nodes;
using FraudFed.Cli.Commands;
using FraudFed.Conformance.Live;
using FraudFed.Conformance.Vectors;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>What a fresh user of `fraudfed vectors check|generate` and `fraudfed conformance` runs into: gutted vector
/// files, failures in words rather than .NET type names, the fix for a missing file, and usage errors with exit 2.</summary>
[TestFixture]
public sealed class TrialFixTests
{
    private static readonly string Committed = Path.Combine(Repository.Root, "protocols", "vectors");
    private string _tmp = "";

    [SetUp]
    public void SetUp() => _tmp = Path.Combine(Path.GetTempPath(), "fraudfed-trial-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true);
        else if (File.Exists(_tmp)) File.Delete(_tmp);
    }

    /// <summary>Writes the committed file, edited by <paramref name="edit"/>, below _tmp.</summary>
    private void WriteEdited(string relative, Action<JsonObject> edit)
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Path.Combine(Committed, relative)))!.AsObject();
        edit(root);
        string full = Path.Combine(_tmp, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, root.ToJsonString());
    }

    /// <summary>The check case names the committed file passes with (its "description" case left out).</summary>
    private static string[] CommittedCaseNames(string relative)
    {
        FileResult r = ConformanceSuite.Run(Committed, relative);
        Assert.That(r.Passed, Is.True, relative);
        return r.Cases.Select(c => c.Name).Where(n => n != "description").ToArray();
    }

    [TestCase("prg/modpow2.json", "cases")]
    [TestCase("x25519/rfc7748.json", "scalar_mult")]
    public void GuttedFile_FailsNamingTheMissingCases(string relative, string list)
    {
        string[] expected = CommittedCaseNames(relative);
        WriteEdited(relative, root => root[list] = new JsonArray());

        FileResult r = ConformanceSuite.Run(_tmp, relative);

        string[] dropped = expected.Except(r.Cases.Select(c => c.Name)).ToArray();
        Assert.That(dropped, Is.Not.Empty);
        Assert.That(r.Cases.Where(c => c.Name != "complete"), Has.All.Property(nameof(CaseResult.Passed)).True, "what is left still passes");
        Assert.That(r.Passed, Is.False);
        CaseResult complete = r.Cases.Single(c => c.Name == "complete");
        Assert.That(complete.Passed, Is.False);
        Assert.That(complete.Message, Does.StartWith($"{dropped.Length} expected case(s) missing: "));
        foreach (string name in dropped.Take(8)) Assert.That(complete.Message, Does.Contain(name));
    }

    [Test]
    public void CompleteFile_HasNoCompletenessFailure()
    {
        FileResult r = ConformanceSuite.Run(Committed, "prg/modpow2.json");
        Assert.That(r.Passed, Is.True);
        Assert.That(r.Cases.Select(c => c.Name), Has.None.EqualTo("complete"));
    }

    [Test]
    public void FieldMissing_IsSaidInWords_WithoutATypeName()
    {
        WriteEdited("x25519/rfc7748.json", root => root["scalar_mult"]![0]!.AsObject().Remove("output"));
        FileResult r = ConformanceSuite.Run(_tmp, "x25519/rfc7748.json");
        CaseResult failed = r.Cases.Single(c => !c.Passed);
        Assert.That(failed.Name, Is.EqualTo("scalar-mult-1"));
        Assert.That(failed.Message, Does.StartWith("a field the check needs is missing or malformed ("));
        Assert.That(failed.Message, Does.Not.Contain("Exception"));
    }

    [Test]
    public void ThrownOutOfRange_IsSaidInWords_WithoutTypeOrParameterName()
    {
        CaseResult r = ConformanceSuite.RunCase(new CheckCase("x", () => throw new ArgumentOutOfRangeException("count", "the length is out of range.")));
        Assert.That(r.Passed, Is.False);
        Assert.That(r.Message, Is.EqualTo("a field the check needs is missing or malformed (the length is out of range.)"));
    }

    [Test]
    public void EmptyDirectory_SaysCopyForRfcFiles_AndGenerateForDerivedOnes()
    {
        Directory.CreateDirectory(_tmp);
        var stdout = new StringWriter();
        int rc = VectorsCommand.Check(_tmp, verbose: false, json: false, stdout, TextWriter.Null);
        string output = stdout.ToString();
        Assert.That(rc, Is.EqualTo(1));
        foreach (string rfc in new[] { "x25519/rfc7748.json", "ed25519/rfc8032.json", "hkdf/rfc5869.json", "prg/sp800-38a.json" })
        {
            string line = output.Split('\n').Single(l => l.Contains(rfc + " is missing", StringComparison.Ordinal));
            Assert.That(line, Does.Contain("copy it from the FraudFed repository's protocols/vectors"));
            Assert.That(line, Does.Not.Contain("run `fraudfed vectors generate"));
        }
        string derived = output.Split('\n').Single(l => l.Contains("prg/modpow2.json is missing", StringComparison.Ordinal));
        Assert.That(derived, Does.Contain("run `fraudfed vectors generate --out"));
    }

    private static (int Rc, string Stdout, string Stderr) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = FraudFed.Cli.Program.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void VectorsCheck_MissingDirectory_IsAPrefixedUsageError()
    {
        (int rc, string stdout, string stderr) = Cli("vectors", "check", "--vectors", _tmp);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.StartWith("fraudfed vectors check: "));
        Assert.That(stderr, Does.Contain(_tmp + " does not exist"));
    }

    [Test]
    public void VectorsGenerate_OutIsAFile_IsAPrefixedUsageError()
    {
        File.WriteAllText(_tmp, "x");
        (int rc, string stdout, string stderr) = Cli("vectors", "generate", "--out", _tmp);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.StartWith("fraudfed vectors generate: --out is a file"));
        Assert.That(File.ReadAllText(_tmp), Is.EqualTo("x"));
    }

    [TestCase("--fuzz", "10")]
    [TestCase("--stage-timeout", "5")]
    [TestCase("--skip-bank-checks", null)]
    public void Conformance_LiveOnlyOptionWithoutTarget_IsAUsageError(string option, string? value)
    {
        string[] args = value is null ? ["conformance", "--json", option] : ["conformance", "--json", option, value];
        (int rc, string stdout, string stderr) = Cli(args);
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(stdout, Is.Empty, "nothing is checked");
        Assert.That(stderr, Does.StartWith("fraudfed conformance: " + option + " is an option of the live check"));
    }
}

/// <summary>The live check against an address where nothing listens: one plain line, setup fails fast, the run ends there.</summary>
[TestFixture]
public sealed class LiveFailureWordsTests
{
    [Test]
    public async Task ConnectionRefused_IsOnePlainSetupFailure()
    {
        string dir = Path.Combine(Path.GetTempPath(), "fraudfed-refused-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            FraudFed.Aggregator.Provisioning.DevelopmentProvisioning.Write(dir, new FraudFed.Aggregator.Provisioning.ProvisioningOptions
            {
                Banks = 3, Mode = "masking", Listen = "127.0.0.1:0", OpsListen = "127.0.0.1:0",
            });
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();   // the port is now unused: a connection to it is refused
            var target = new Uri($"https://127.0.0.1:{port}");
            using LiveTarget live = LiveTarget.Load(new LiveOptions { Target = target, BanksDirectory = dir, StageTimeoutSeconds = 10 });

            IReadOnlyList<LiveCheckResult> results = await ApplianceChecks.RunAsync(live);

            LiveCheckResult setup = results[0];
            Assert.That(setup.Name, Is.EqualTo("appliance/masking/session-setup"));
            Assert.That(setup.Passed, Is.False);
            Assert.That(setup.Detail, Is.EqualTo($"the appliance at {target} refused the connection (nothing listens there): check --target and that the appliance runs."));
            Assert.That(results, Has.Count.EqualTo(1), "a setup failure ends the run: no other check is reported");
            Assert.That(ApplianceChecks.SetupFailed(results), Is.True);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}

/// <summary>The appliance's refusals in words, as the live report shows them.</summary>
[TestFixture]
public sealed class LiveRefusalWordsTests
{
    private static readonly Uri Target = new("https://127.0.0.1:7443");
    private const string NotFresh = "the target's session is not fresh (it has already run setup): point the appliance's `state` at a new file and restart it.";

    [Test]
    public void WrongRoundOrStateInSetup_SaysTheSessionIsNotFresh()
    {
        var submit = new LiveFlowException("bank 0: the appliance refused a genuine message", new SubmitOutcome(Grpc.Core.StatusCode.FailedPrecondition, 0, false, "WrongRoundOrState", "not now"));
        var trailers = new Grpc.Core.Metadata { { FraudFed.Sdk.StatusMapping.ReasonTrailer, "WrongRoundOrState" } };
        var rpc = new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.FailedPrecondition, "not now"), trailers);
        Assert.That(LiveFailure.Describe(submit, Target, setup: true), Is.EqualTo(NotFresh));
        Assert.That(LiveFailure.Describe(rpc, Target, setup: true), Is.EqualTo(NotFresh));
        Assert.That(LiveFailure.Describe(rpc, Target, setup: false), Is.EqualTo("the appliance refused with WrongRoundOrState (FailedPrecondition: not now)."));
    }

    [Test]
    public void Unreachable_HasNoExceptionText()
    {
        var rpc = new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "Error connecting to subchannel."));
        string said = LiveFailure.Describe(rpc, Target, setup: true);
        Assert.That(said, Does.StartWith($"the appliance at {Target} is unreachable"));
        Assert.That(said, Does.Not.Contain("Exception").And.Not.Contain("Status("));
    }
}
