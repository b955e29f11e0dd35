// The conformance command's FRAUDFED_FUZZ_* variables give option defaults: read as the options are, and a value that is not
// one is a usage error naming the variable, never silently the built-in default (re-trial, session 20: '1,5' was read as 15,
// 'Infinity' accepted, a bad seed replaced by the default).
using FraudFed.Cli.Commands;
using FraudFed.Cli.Infrastructure;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
[NonParallelizable]
public sealed class EnvironmentDefaultTests
{
    private const string Variable = "FRAUDFED_TEST_ENVIRONMENT_DEFAULT";

    [TearDown]
    public void Clear() => Environment.SetEnvironmentVariable(Variable, null);

    [TestCase(null, false, 0, 15.0)]
    [TestCase("", false, 0, 15.0)]
    [TestCase("2.5", false, 0, 2.5)]
    [TestCase("1e1", false, 0, 10.0)]
    [TestCase("86400", false, 0, 86400.0)]
    [TestCase("-7", true, int.MinValue, -7.0)]
    [TestCase("+7", true, int.MinValue, 7.0)]
    [TestCase("300", true, 0, 300.0)]
    public void AValueInTheOptionsForm_OrNone_IsRead(string? text, bool whole, int min, double expected)
    {
        Environment.SetEnvironmentVariable(Variable, text);
        double read = whole ? ConformanceCommand.WholeDefault(Variable, 15, min) : ConformanceCommand.SecondsDefault(Variable, 15);
        Assert.That(read, Is.EqualTo(expected));
    }

    [TestCase("1,5", false, 0)]
    [TestCase(" 5", false, 0)]
    [TestCase("Infinity", false, 0)]
    [TestCase("NaN", false, 0)]
    [TestCase("-1", false, 0)]
    [TestCase("0", false, 0)]          // --fuzz-seconds takes positive values only
    [TestCase("-0", false, 0)]
    [TestCase("86401", false, 0)]      // beyond --fuzz-seconds' range
    [TestCase("1e12", false, 0)]
    [TestCase("2.5", true, 0)]
    [TestCase("1e3", true, 0)]         // --fuzz 1e3 is refused: so is the variable
    [TestCase("1000.0", true, 0)]
    [TestCase("3000000000", true, 0)]
    [TestCase("-1", true, 0)]
    [TestCase("seven", true, int.MinValue)]
    public void AnyOtherValue_IsAUsageErrorNamingTheVariable(string text, bool whole, int min)
    {
        Environment.SetEnvironmentVariable(Variable, text);
        var e = Assert.Throws<UsageException>(() => { _ = whole ? ConformanceCommand.WholeDefault(Variable, 15, min) : ConformanceCommand.SecondsDefault(Variable, 15); })!;
        Assert.That(e.Message, Does.Contain(Variable).And.Contain($"(got '{text}')").And.Contain("unset it for the default, 15"));
    }
}
