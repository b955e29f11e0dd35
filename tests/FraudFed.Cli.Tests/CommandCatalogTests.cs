// CommandCatalog lists the CLI's commands by hand (no reflection, for the native bank program): a command class that is not
// listed would silently be missing from `fraudfed`.
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
public sealed class CommandCatalogTests
{
    [Test]
    public void EveryCommandClass_IsListedOnce()
    {
        Type[] classes = typeof(Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && (typeof(ICliCommand).IsAssignableFrom(t) || typeof(ICliSubcommands).IsAssignableFrom(t)))
            .OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();
        Type[] listed = CommandCatalog.Commands().Select(c => c.GetType()).OrderBy(t => t.FullName, StringComparer.Ordinal).ToArray();
        Assert.That(classes, Has.Length.GreaterThanOrEqualTo(8));
        Assert.That(listed, Is.EqualTo(classes));
    }

    [Test]
    public void TheRoot_HasEachCommandOnce()
    {
        string[] names = Program.BuildRoot().Subcommands.Select(c => c.Name).ToArray();
        Assert.That(names, Is.Unique);
        Assert.That(names, Is.SupersetOf(new[] { "aggregator", "bank", "bench", "conformance", "simulate", "vectors" }));
    }
}
