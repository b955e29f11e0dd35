// README's first steps against what a first run shows: `dotnet run` prints nothing while it builds (it hides the build's
// output), so README says so and how long, and names the build command that shows the build's progress and the line the
// native bank program's compilation prints (the line quoted as the build project writes it).
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
public sealed class ReadmeFirstRunTests
{
    private static string Section(string readme, string heading)
    {
        int start = readme.IndexOf(heading, StringComparison.Ordinal);
        Assert.That(start, Is.Not.Negative, heading);
        int end = readme.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        return Regex.Replace(readme[start..end], @"\s+", " ");
    }

    [Test]
    public void TheFirstRun_SaysThatDotnetRunIsSilentWhileItBuilds_AndHowToWatchTheBuild()
    {
        string root = FraudFed.Testing.Repository.Root;
        string section = Section(File.ReadAllText(Path.Combine(root, "README.md")), "## The two commands");
        Assert.That(section, Does.Contain("dotnet run -c Release --project src/FraudFed.Cli -- simulate"), "the main job's command");
        Assert.That(section, Does.Contain("The first `dotnet run` builds everything before the command starts, and `dotnet run` shows nothing of a build: expect 1 to 2.5 minutes of silence on two cores"));
        Assert.That(section, Does.Contain("# The first run builds first and prints nothing while it does: 1 to 2.5 minutes"), "said where the command is");
        Assert.That(section, Does.Contain("`dotnet build -c Release src/FraudFed.Cli` shows its progress"));
        // The line README quotes is the one the build prints.
        Match quoted = Regex.Match(section, "the line `(FraudFed: compiling the native bank program[^`]*?) ?\\.\\.\\.`");
        Assert.That(quoted.Success, Is.True, "README quotes the build's line");
        string project = File.ReadAllText(Path.Combine(root, "src", "FraudFed.BankHost", "FraudFed.BankHost.csproj"));
        Assert.That(Regex.Match(project, "<Message Importance=\"high\" Text=\"([^\"]*)\"").Groups[1].Value, Does.StartWith(quoted.Groups[1].Value));
    }
}
