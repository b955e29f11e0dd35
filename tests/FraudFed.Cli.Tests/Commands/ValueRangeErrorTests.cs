// A value not below the session's modulus, refused by the SDK before any network call (ValueOutOfRangeException), is an
// input error at the command line: exit 2, one line naming the index, the limit and the fix, without a parameter name.
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class ValueRangeErrorTests
{
    [Test]
    public void ValueOutOfRange_IsExit2_OneLine_NamingIndexLimitAndQuantizer()
    {
        var stderr = new StringWriter();
        int code = CliErrors.Report("bank sum", stderr, new ValueOutOfRangeException(3, 1UL << 33, 32));
        Assert.That(code, Is.EqualTo(CliErrors.Usage));
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1));
        Assert.That(lines[0], Does.StartWith("fraudfed bank sum: values[3] = 8589934592 is not below 2^32 (= 4294967296)").And.Contain("Quantizer"));
        Assert.That(lines[0], Does.Not.Contain("Parameter").And.Not.Contain("Exception"));
    }
}
