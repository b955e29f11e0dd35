using System.Text.Json;
using FraudFed.Protocol.Masking;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
[NonParallelizable] // redirects Console.Out and Console.Error
public sealed class BenchMaskingCommandTests
{
    private static (int Rc, string Out, string Err) Run(params string[] args)
    {
        TextWriter originalOut = Console.Out, originalErr = Console.Error;
        var output = new StringWriter();
        var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        int rc;
        try { rc = Program.BuildRoot().Parse(args).Invoke(); }
        finally { Console.SetOut(originalOut); Console.SetError(originalErr); }
        return (rc, output.ToString(), error.ToString());
    }

    [Test]
    public void Sparse_PrintsTheChosenParameters_AndSumsExactly()
    {
        var (rc, output, error) = Run("bench", "masking", "--banks", "12", "--values", "1000", "--dropouts", "2", "--repetitions", "1", "--sparse", "--json");
        Assert.That(rc, Is.Zero, error);
        SecAggPlusParameters expected = SecAggPlusParameters.ChooseFor(12, 3, 2);
        Assert.That(output, Does.Contain($"parameters: n = 12 banks, sparse graph (SecAgg+), degree k = {expected.Degree}"));
        Assert.That(output, Does.Contain($"threshold t = {expected.Threshold} of {expected.Degree + 1} holders; minimum survivors M = {expected.MinimumSurvivors}"));
        Assert.That(output, Does.Contain("collusion bound c = 3 banks"));
        Assert.That(output, Does.Contain("security failure <="));
        JsonElement json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.That(json.GetProperty("exact").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("degree").GetInt32(), Is.EqualTo(expected.Degree));
        Assert.That(json.GetProperty("threshold").GetInt32(), Is.EqualTo(expected.Threshold));
        Assert.That(json.GetProperty("minimum_survivors").GetInt32(), Is.EqualTo(expected.MinimumSurvivors));
        Assert.That(json.GetProperty("max_colluders").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public void MoreDropoutsThanTheCollusionBoundAllows_IsRefused()
    {
        // c = 3 of 10 banks needs M = 7 survivors: 4 dropouts cannot be run securely.
        var (rc, _, error) = Run("bench", "masking", "--banks", "10", "--values", "100", "--dropouts", "4", "--repetitions", "1", "--sparse");
        Assert.That(rc, Is.EqualTo(2));
        Assert.That(error, Does.StartWith("fraudfed bench masking: no secure parameters for 10 banks with 4 dropouts: ").And.Contain("at most 3 of 10 may drop out, not 4."));
        Assert.That(error, Does.Not.Contain("InsecureParameters").And.Not.Contain(".."), "words, not the reason code's enum name; one full stop");
        (rc, _, error) = Run("bench", "masking", "--banks", "10", "--values", "100", "--dropouts", "4", "--repetitions", "1");
        Assert.That(rc, Is.EqualTo(2), "the complete graph has the same survivor bound");
        Assert.That(error, Does.Contain("survivors"));
    }
}
