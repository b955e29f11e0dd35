using FraudFed.Cli.Commands;
using FraudFed.Conformance.Vectors;
using FraudFed.Testing;
using NUnit.Framework;

namespace FraudFed.Conformance.Tests;

/// <summary>`fraudfed vectors check|generate` outside NUnit: output lines and exit codes.</summary>
[TestFixture]
public sealed class CommandTests
{
    private string _tmp = "";

    [SetUp]
    public void SetUp() => _tmp = Path.Combine(Path.GetTempPath(), "fraudfed-cmd-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_tmp)) Directory.Delete(_tmp, recursive: true);
    }

    [Test]
    public void Conformance_OnTheRepositoryVectors_PassesEveryFile()
    {
        var stdout = new StringWriter();
        int rc = VectorsCommand.Check(Path.Combine(Repository.Root, "protocols", "vectors"), verbose: false, json: false, stdout, TextWriter.Null);
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int files = ConformanceSuite.Files.Count;
        Assert.That(rc, Is.EqualTo(0), stdout.ToString());
        Assert.That(lines, Has.Length.EqualTo(files + 1));
        Assert.That(lines[..^1], Has.All.StartsWith("pass  "));
        Assert.That(lines[^1], Is.EqualTo($"{files} passed, 0 failed"));
    }

    [Test]
    public void Conformance_WithATamperedAndMissingFiles_FailsWithNonZeroExit()
    {
        Directory.CreateDirectory(Path.Combine(_tmp, "x25519"));
        string text = File.ReadAllText(Path.Combine(Repository.Root, "protocols", "vectors", "x25519", "rfc7748.json"));
        File.WriteAllText(Path.Combine(_tmp, "x25519", "rfc7748.json"), text.Replace("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161743"));
        var stdout = new StringWriter();
        int rc = VectorsCommand.Check(_tmp, verbose: false, json: true, stdout, TextWriter.Null);
        string output = stdout.ToString();
        Assert.That(rc, Is.EqualTo(1));
        Assert.That(output, Does.Contain("FAIL  x25519/rfc7748.json (1 of 4 cases failed)"));
        Assert.That(output, Does.Contain("diffie-hellman-1: shared secret (Alice): file says 4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161743, recomputed 4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
        Assert.That(output, Does.Contain("FAIL  masking/transcript-3-banks.json"));
        string[] lines = output.TrimEnd().Split('\n');
        Assert.That(lines[^2], Is.EqualTo($"0 passed, {ConformanceSuite.Files.Count} failed"));
        using var json = System.Text.Json.JsonDocument.Parse(lines[^1]);
        Assert.That(json.RootElement.GetProperty("failed").GetInt32(), Is.EqualTo(ConformanceSuite.Files.Count));
        Assert.That(json.RootElement.GetProperty("failures").EnumerateArray().Select(e => e.GetString()),
            Does.Contain("x25519/rfc7748.json/diffie-hellman-1"));
    }

    [Test]
    public void Vectors_WritesEveryGeneratedFile()
    {
        var stdout = new StringWriter();
        int rc = VectorsCommand.Generate(_tmp, stdout, TextWriter.Null);
        Assert.That(rc, Is.EqualTo(0));
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Count(l => l.StartsWith("wrote ", StringComparison.Ordinal)), Is.EqualTo(ConformanceSuite.Files.Count(f => f.Generated)));
        Assert.That(lines[^1], Does.StartWith("copied the RFC/NIST known answers (x25519/rfc7748.json, "), "RFC vectors are copied from the repository, never generated");
        Assert.That(lines, Has.Length.EqualTo(ConformanceSuite.Files.Count(f => f.Generated) + 1));
        Assert.That(ConformanceSuite.ListFiles(_tmp), Is.EquivalentTo(ConformanceSuite.Files.Select(f => f.Path)));
    }
}
