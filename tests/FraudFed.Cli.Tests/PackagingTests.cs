// The slow packaging check (category "Packaging", about a minute): `dotnet pack` of the solution yields the NuGet packages a
// bank uses (FraudFed.Sdk and the libraries it brings: Protocol, Cryptography, Learning), each with its README, XML
// documentation, description and license expression; a tiny bank program that references FraudFed.Sdk from a local folder
// feed (plus the machine's normal package source, through a temporary nuget.config) restores, builds, runs as its own
// process, and contributes to a secure sum against an appliance served by this test over loopback mutual TLS. The sum it
// prints is checked against the plaintext sum of the banks' vectors.
using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using FraudFed.Aggregator.Hosting;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
[Category("Packaging")]
[NonParallelizable]
public sealed class PackagingTests
{
    private static readonly string[] Packages = ["FraudFed.Sdk", "FraudFed.Protocol", "FraudFed.Cryptography", "FraudFed.Learning"];

    /// <summary>Runs a process to its end (bounded), returning its exit code and output.</summary>
    private static (int Code, string Output) Exec(string file, string workingDirectory, TimeSpan limit, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process p = Process.Start(start)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {limit.TotalSeconds} s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Test]
    public async Task Pack_YieldsDocumentedPackages_AndABankProgramBuiltFromThemSumsOverMutualTls()
    {
        string root = FraudFed.Testing.Repository.Root;
        // The configuration this test assembly was built in: the solution's src projects were built in it too.
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        DirectoryInfo work = Directory.CreateTempSubdirectory("fraudfed-pack-");
        try
        {
            string feed = Path.Combine(work.FullName, "feed");
            string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}";
            var pack = Exec("dotnet", root, TimeSpan.FromMinutes(5), "pack", Path.Combine(root, "FraudFed.sln"), "-c", configuration, "--no-build",
                "-o", feed, $"-p:PackageVersion={version}");
            Assert.That(pack.Code, Is.EqualTo(0), pack.Output);

            // Exactly the bank's packages, each documented.
            Assert.That(Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order(),
                Is.EqualTo(Packages.Select(p => $"{p}.{version}.nupkg").Order()));
            foreach (string id in Packages)
            {
                using ZipArchive nupkg = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
                string[] entries = nupkg.Entries.Select(e => e.FullName).ToArray();
                Assert.That(entries, Does.Contain("README.md").And.Contain($"lib/net10.0/{id}.dll").And.Contain($"lib/net10.0/{id}.xml"), id);
                using (var docs = new StreamReader(nupkg.GetEntry($"lib/net10.0/{id}.xml")!.Open()))
                    Assert.That(XDocument.Parse(docs.ReadToEnd()).Descendants("member").Count(), Is.GreaterThan(20), $"{id}: XML docs");
                using (var readme = new StreamReader(nupkg.GetEntry("README.md")!.Open()))
                    Assert.That(readme.ReadToEnd(), Does.Contain("FederationClient"), $"{id}: README");
                XDocument nuspec;
                using (Stream s = nupkg.GetEntry($"{id}.nuspec")!.Open()) nuspec = XDocument.Load(s);
                XElement meta = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
                string? Field(string name) => meta.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
                Assert.That(Field("id"), Is.EqualTo(id));
                Assert.That(Field("version"), Is.EqualTo(version));
                Assert.That(Field("description"), Has.Length.GreaterThan(40), id);
                Assert.That(Field("readme"), Is.EqualTo("README.md"), id);
                Assert.That(meta.Elements().Single(e => e.Name.LocalName == "license").Attribute("type")?.Value, Is.EqualTo("expression"), id);
                Assert.That(meta.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => e.Attribute("id")!.Value),
                    Has.None.EqualTo("FraudFed.Aggregator").And.None.EqualTo("FraudFed.Cli").And.None.EqualTo("Grpc.Tools"), id);
            }

            // A bank's own program: references FraudFed.Sdk only, restored from the folder feed and the machine's package source.
            string bank = Path.Combine(work.FullName, "bank");
            Directory.CreateDirectory(bank);
            string machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env ? env
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            File.WriteAllText(Path.Combine(bank, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config><add key="globalPackagesFolder" value="{Path.Combine(work.FullName, "packages")}" /></config>
                  <packageSources><add key="fraudfed-folder-feed" value="{feed}" /></packageSources>
                  <fallbackPackageFolders><add key="machine" value="{machinePackages}" /></fallbackPackageFolders>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(bank, "Bank.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="FraudFed.Sdk" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(bank, "Program.cs"), """
                // A bank: load bank.json, join the appliance's session over mutual TLS, contribute one vector, print the sum.
                using FraudFed.Sdk;
                using FraudFed.Sdk.Configuration;

                using LoadedBankConfig config = BankConfig.Load(args[0]);
                ulong[] values = args[1].Split(',').Select(ulong.Parse).ToArray();
                await using FederationClient client = FederationClient.Create(config);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
                FederatedSum sum = await client.SumAsync(values, timeout.Token);
                Console.WriteLine($"bank {client.Bank} mode {client.Settings.Mode} round {sum.Round} contributors {string.Join(',', sum.Contributors)} sum {string.Join(',', sum.Sum)}");
                """);
            var build = Exec("dotnet", bank, TimeSpan.FromMinutes(5), "build", "-c", "Release", "-o", Path.Combine(bank, "out"));
            Assert.That(build.Code, Is.EqualTo(0), build.Output);
            Assert.That(Directory.GetDirectories(Path.Combine(work.FullName, "packages")).Select(d => Path.GetFileName(d)),
                Is.SupersetOf(Packages.Select(p => p.ToLowerInvariant())), "FraudFed packages came from the folder feed");

            // The appliance (this process) and three banks: bank 0 is the packaged program, banks 1 and 2 run here.
            string kit = Path.Combine(work.FullName, "kit");
            var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", "masking", "--out", kit, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
            Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
            using LoadedAggregatorConfig loaded = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
            await using ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
            await host.StartAsync();
            int port = host.Addresses.First(a => a.Scheme == "https").Port;
            string BankJson(int i) => Path.Combine(kit, "banks", $"bank-{i}", "bank.json");
            for (int i = 0; i < 3; i++)
                File.WriteAllText(BankJson(i), System.Text.Json.JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(BankJson(i)) with { Aggregator = $"https://127.0.0.1:{port}" }, ConfigJson.Options));

            ulong[][] vectors = [[1, 2, 3, 4_000_000_000], [10, 20, 30, 300_000_000], [100, 200, 300, 5]];
            var expected = new ulong[4];
            foreach (ulong[] v in vectors)
                for (int j = 0; j < 4; j++) expected[j] = (expected[j] + v[j]) % (1UL << 32);
            Task<(int Code, string Output)> program = Task.Run(() =>
                Exec("dotnet", bank, TimeSpan.FromMinutes(2), Path.Combine(bank, "out", "Bank.dll"), BankJson(0), string.Join(',', vectors[0])));
            var configs = new[] { BankConfig.Load(BankJson(1)), BankConfig.Load(BankJson(2)) };
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
                FederatedSum[] here = await Task.WhenAll(configs.Select(async (c, k) =>
                {
                    await using FederationClient client = FederationClient.Create(c);
                    return await client.SumAsync(vectors[k + 1], bound.Token);
                }));
                var (code, output) = await program;
                Assert.That(code, Is.EqualTo(0), output);
                Assert.That(output, Does.Contain($"bank 0 mode masking round {here[0].Round} contributors 0,1,2 sum {string.Join(',', expected)}"));
                foreach (FederatedSum s in here) Assert.That(s.Sum, Is.EqualTo(expected));
            }
            finally
            {
                foreach (LoadedBankConfig c in configs) c.Dispose();
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
