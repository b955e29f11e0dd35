// `fraudfed aggregator init|serve` and `fraudfed bank sum` from the command line: the kit init writes (parsed back by the
// appliance's and the banks' own loaders, pins checked against the certificates), and refusals before any work (exit 2).
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Aggregator.Hosting;
using FraudFed.Cli.Infrastructure;
using FraudFed.Cryptography.Primitives;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class ApplianceCommandTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fraudfed-cli-appliance-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    [TestCase("he")]
    [TestCase("masking")]
    public void Init_WritesAKitWhoseRosterPinsEveryBank_AndEveryFileSaysDevelopmentOnly(string mode)
    {
        string kit = Path.Combine(_dir, "kit");
        string[] args = ["aggregator", "init", "--banks", "3", "--mode", mode, "--out", kit, .. (mode == "he" ? new[] { "--insecure-test-parameters" } : [])];
        var (code, stdout, stderr) = HostileInputTests.Run(args);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("DEVELOPMENT-ONLY"));
        // The next steps run as printed: no placeholder, every --config names a file of the kit, bank 0's values file is named,
        // and the line above bank 0's says what the other banks change.
        Assert.That(stdout, Does.Not.Contain("<i>").And.Not.Contain("FILE"));
        string[] configs = [.. stdout.Split('\n').Where(l => l.Contains("--config ", StringComparison.Ordinal)).Select(l => l.Split("--config ")[1].Split(' ')[0].Trim('"'))];
        Assert.That(configs, Is.EqualTo(new[] { Path.Combine(kit, "aggregator.json"), Path.Combine(kit, "banks", "bank-0", "bank.json") }));
        Assert.That(configs.All(File.Exists), Is.True, string.Join(", ", configs));
        Assert.That(stdout, Does.Contain("--values v0.txt").And.Contain($"; bank 1 and bank 2 do the same, each with its own bank.json ({Path.Combine(kit, "banks", "bank-1", "bank.json")} and "
            + $"{Path.Combine(kit, "banks", "bank-2", "bank.json")}) and values file (v1.txt and v2.txt), all of the same length"));
        // The example writes every bank's values file, all of one length, each its own (README's quick start does the same).
        string example = stdout.Split('\n').Single(l => l.Contains("for i in", StringComparison.Ordinal)).Split('`')[1];
        string values = Directory.CreateDirectory(Path.Combine(_dir, "values")).FullName;
        using (Process sh = Process.Start(new ProcessStartInfo("bash", ["-c", example]) { WorkingDirectory = values })!) sh.WaitForExit();
        Assert.That(Directory.GetFiles(values).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "v0.txt", "v1.txt", "v2.txt" }), example);
        for (int i = 0; i < 3; i++)
            Assert.That(File.ReadAllLines(Path.Combine(values, $"v{i}.txt")), Is.EqualTo(Enumerable.Range(i, 1000).Select(v => v.ToString(CultureInfo.InvariantCulture))), example);
        using LoadedAggregatorConfig aggregator = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        Assert.That(aggregator.Config.Federation.Mode, Is.EqualTo(mode));
        for (int i = 0; i < 3; i++)
        {
            using LoadedBankConfig bank = BankConfig.Load(Path.Combine(kit, "banks", $"bank-{i}", "bank.json"));
            Assert.That(aggregator.BankOf(bank.Certificate), Is.EqualTo(i), "the roster pins bank i's certificate");
            using var key = Ed25519SigningKey.Import(bank.ProtocolSeed);
            Assert.That(Convert.ToHexStringLower(key.PublicKey), Is.EqualTo(aggregator.Config.Federation.IdentityKeys[i]), "the roster pins bank i's protocol key");
            Assert.That(bank.Config.Federation.Digest(), Is.EqualTo(aggregator.Config.Federation.Digest()));
            Assert.That(TlsFiles.IssuedBy(aggregator.ServerCertificate, bank.Ca), Is.True, "the bank trusts the appliance's issuer");
        }
        foreach (string file in Directory.EnumerateFiles(kit, "*", SearchOption.AllDirectories))
        {
            Assert.That(File.ReadAllText(file), Does.Contain("DEVELOPMENT ONLY").Or.Contain("DEVELOPMENT-ONLY").Or.Contain("development only"), file);
            if (!OperatingSystem.IsWindows() && (file.EndsWith(".key.pem", StringComparison.Ordinal) || file.EndsWith(".ed25519", StringComparison.Ordinal) || file.EndsWith("state.key", StringComparison.Ordinal)))
                Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), file);
        }
        Assert.That(File.Exists(Path.Combine(kit, "aggregator.ed25519")), Is.EqualTo(mode == "he"));
        Assert.That(File.Exists(Path.Combine(kit, "banks", "bank-1", "state.key")), Is.True, "banks of either mode get a state key beside their state directory");
        for (int i = 0; i < 3; i++)
        {
            string state = Path.Combine(kit, "banks", $"bank-{i}", "state");
            Assert.That(Directory.Exists(state) && !Directory.EnumerateFileSystemEntries(state).Any(), Is.True, $"init creates bank {i}'s empty state directory (README)");
            if (!OperatingSystem.IsWindows())
                Assert.That(File.GetUnixFileMode(state), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute), state);
        }
        Assert.That(stdout, Does.Contain("  appliance (in its own terminal, or in the background with `&`): fraudfed aggregator serve --config "), "run from the test host (no CLI project above it): the installed name");
    }

    /// <summary>The next steps say that the banks run at the same time and how many of them a round needs, from the kit's own
    /// configuration: max(T, K_min) in he, M in masking (the appliance's rule, SPEC.md 14.5).</summary>
    [TestCase("he", 5, "a round needs at least 4 of the 5 banks, the first key setup all 5.")]
    [TestCase("he", 3, "a round needs at least 2 of the 3 banks, the first key setup all 3.")]
    [TestCase("masking", 5, "a round needs at least 4 of the 5 banks.")]
    [TestCase("masking", 3, "a round needs all 3 banks.")]
    [TestCase("he", 2, "a round needs both banks.")]
    public void Init_NextSteps_SayTheBanksRunTogether_AndHowManyARoundNeeds(string mode, int banks, string needs)
    {
        string kit = Path.Combine(_dir, "kit");
        var (code, stdout, stderr) = HostileInputTests.Run(["aggregator", "init", "--banks", banks.ToString(CultureInfo.InvariantCulture), "--mode", mode, "--out", kit,
            .. (mode == "he" ? new[] { "--insecure-test-parameters" } : [])]);
        Assert.That(code, Is.EqualTo(0), stderr);
        string[] lines = stdout.TrimEnd().Split('\n');
        Assert.That(lines[^2..], Is.EqualTo(new[] { "  the banks run at the same time, each in its own terminal (or in the background with `&`); each waits for the others",
            "  (up to its --timeout): " + needs }));
        using LoadedAggregatorConfig loaded = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        FederationSettings f = loaded.Config.Federation;
        int expected = f.IsHomomorphic ? Math.Max(f.He!.Threshold, f.He.MinContributors) : f.BuildMaskingParameters(new byte[16]).MinimumSurvivors;
        Assert.That(FraudFed.Cli.Commands.BankCommands.RoundMinimum(f), Is.EqualTo(expected));
    }

    /// <summary>From a source checkout the bank's line runs `dotnet run --no-build`, as the README's loop does: five banks started
    /// at once that each build race on one bin/ folder (a fresh-user trial); the appliance's line builds.</summary>
    [Test]
    public void NextSteps_FromACheckout_RunTheBanksWithNoBuild_AsTheReadmeLoopDoes()
    {
        const string prefix = "dotnet run -c Release --project src/FraudFed.Cli --";
        string[] lines = [.. FraudFed.Cli.Commands.AggregatorCommands.NextSteps(prefix, "/k", 5, 4, homomorphic: true)];
        Assert.That(lines.Single(l => l.Contains(" bank sum ", StringComparison.Ordinal)),
            Is.EqualTo("  bank 0:    dotnet run --no-build -c Release --project src/FraudFed.Cli -- bank sum --config /k/banks/bank-0/bank.json --values v0.txt"));
        Assert.That(lines.Single(l => l.Contains(" aggregator serve ", StringComparison.Ordinal)), Is.EqualTo($"  appliance (in its own terminal, or in the background with `&`): {prefix} aggregator serve --config /k/aggregator.json"));
        Assert.That(lines, Has.One.Contains("; banks 1 to 4 do the same, each with its own bank.json (/k/banks/bank-1/bank.json to /k/banks/bank-4/bank.json) and values file (v1.txt to v4.txt)"));
        Assert.That(AggregatorCommandsNextSteps(2), Has.One.Contains("; bank 1 does the same with its own bank.json (/k/banks/bank-1/bank.json) and v1.txt"));
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        Assert.That(readme, Does.Contain("dotnet run --no-build -c Release --project src/FraudFed.Cli -- bank sum --config"), "the README's loop");
        Assert.That(FraudFed.Cli.Commands.AggregatorCommands.NoBuild("fraudfed"), Is.EqualTo("fraudfed"), "an installed CLI builds nothing");
    }

    private static string[] AggregatorCommandsNextSteps(int banks) => [.. FraudFed.Cli.Commands.AggregatorCommands.NextSteps("fraudfed", "/k", banks, banks, homomorphic: false)];

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "FraudFed.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("FraudFed.sln above the test's directory");
    }

    [Test]
    public void NextSteps_NameTheCommandTheWayTheCliWasStarted()
    {
        // A build in a source checkout (the README's `dotnet run`): src/FraudFed.Cli/bin/Release/net10.0 below the project file.
        string checkout = Path.Combine(_dir, "checkout my"), project = Path.Combine(checkout, "src", "FraudFed.Cli");
        string output = Path.Combine(project, "bin", "Release", "net10.0");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(project, "FraudFed.Cli.csproj"), "<Project />");
        File.WriteAllText(Path.Combine(checkout, "FraudFed.sln"), "");
        string tests = Directory.CreateDirectory(Path.Combine(checkout, "tests")).FullName;
        string elsewhere = Directory.CreateDirectory(Path.Combine(_dir, "elsewhere")).FullName;
        // Inside the checkout: relative to the current directory. Outside it (e.g. /tmp): the absolute path, quoted when it has a space.
        Assert.That(CliInvocation.Prefix(output, checkout), Is.EqualTo("dotnet run -c Release --project src/FraudFed.Cli --"));
        Assert.That(CliInvocation.Prefix(output, Path.Combine(checkout, "src")), Is.EqualTo("dotnet run -c Release --project FraudFed.Cli --"));
        Assert.That(CliInvocation.Prefix(output, tests), Is.EqualTo("dotnet run -c Release --project ../src/FraudFed.Cli --"));
        Assert.That(CliInvocation.Prefix(output, elsewhere), Is.EqualTo($"dotnet run -c Release --project \"{project}\" --"), "outside the checkout: absolute, quoted (a space)");
        Assert.That(CliInvocation.Prefix(output, _dir), Is.EqualTo($"dotnet run -c Release --project \"{project}\" --"), "the checkout's parent is outside it too");
        foreach (string current in new[] { checkout, Path.Combine(checkout, "src"), tests, elsewhere, _dir })
        {
            string given = CliInvocation.Prefix(output, current).Split(" --project ")[1][..^3].Trim('"');
            Assert.That(File.Exists(Path.Combine(Path.GetFullPath(given, current), "FraudFed.Cli.csproj")), Is.True, $"from {current}, '{given}' names the project");
        }
        // A published or installed CLI: no project file above its files.
        string published = Path.Combine(_dir, "opt", "fraudfed");
        Directory.CreateDirectory(published);
        Assert.That(CliInvocation.Prefix(published, checkout), Is.EqualTo("fraudfed"));
    }

    /// <summary>Serves a kit written by `aggregator init` in this process and points every bank.json at its port.</summary>
    private static async Task<ApplianceHost> ServeKitAsync(string kit, int banks)
    {
        LoadedAggregatorConfig loaded = AggregatorConfig.Load(Path.Combine(kit, "aggregator.json"));
        ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync();
        int port = host.Addresses.First(a => a.Scheme == "https").Port;
        for (int b = 0; b < banks; b++)
        {
            string bankPath = Path.Combine(kit, "banks", $"bank-{b}", "bank.json");
            File.WriteAllText(bankPath, System.Text.Json.JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(bankPath) with { Aggregator = $"https://127.0.0.1:{port}" }, ConfigJson.Options));
        }
        return host;
    }

    /// <summary>`bank sum`'s progress lines of <paramref name="bank"/> on stderr, in the order they happen: joining, then the key
    /// setup and its end at this bank (the first run) or the resumed saved state (a later run), then <paramref name="contributing"/>
    /// (only once the round opened).</summary>
    private static void AssertProgress(int bank, string stderr, bool firstRun, string contributing)
    {
        string[] progress = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith($"bank {bank}: ", StringComparison.Ordinal) && !l.Contains("appliance unreachable", StringComparison.Ordinal))
            .Select(l => l[$"bank {bank}: ".Length..]).ToArray();
        // Between ready and contributing: the round it asked for, what it waits for and until when (no silent join window).
        string round = contributing.Split(" to round ")[1].Split(' ')[0];
        string asked = $"asked for round {round} (";
        string[] stages = firstRun
            ? ["joining the session at ", "key setup with the other banks ", "key setup done at this bank ", asked, contributing]
            : ["joining the session at ", "resumed this bank's saved session state (no key setup needed) ", asked, contributing];
        Assert.That(progress, Has.Length.EqualTo(stages.Length), stderr);
        for (int i = 0; i < stages.Length; i++) Assert.That(progress[i], Does.StartWith(stages[i]), stderr);
    }

    [Test]
    public async Task BankSum_RunTwiceWithTheSameHeKit_EachRunContributesToTheNextRound_Exactly()
    {
        const int banks = 3;
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", $"{banks}", "--out", kit, "--insecure-test-parameters", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        await using ApplianceHost host = await ServeKitAsync(kit, banks);
        for (int round = 0; round < 2; round++)
        {
            var values = new ulong[banks][];
            for (int b = 0; b < banks; b++)
            {
                values[b] = Enumerable.Range(0, 20).Select(k => (ulong)((round + 1) * 1_000_003L * (b + 1) + k * 7919L) % (1UL << 44)).ToArray();
                File.WriteAllText(Path.Combine(_dir, $"v-{round}-{b}.txt"), string.Join('\n', values[b]));
            }
            int r = round;
            var runs = Enumerable.Range(0, banks).Select(b => Task.Run(() => HostileInputTests.Run("bank", "sum", "--config", Path.Combine(kit, "banks", $"bank-{b}", "bank.json"),
                "--values", Path.Combine(_dir, $"v-{r}-{b}.txt"), "--json", "--timeout", "120"))).ToArray();
            var results = await Task.WhenAll(runs);
            ulong[] expected = Enumerable.Range(0, 20).Select(k => values.Aggregate(0UL, (acc, v) => (acc + v[k]) % (1UL << 44))).ToArray();
            for (int b = 0; b < banks; b++)
            {
                Assert.That(results[b].Code, Is.EqualTo(0), $"round {round} bank {b}: {results[b].Stderr}");
                using var doc = System.Text.Json.JsonDocument.Parse(results[b].Stdout.Trim().Split('\n')[^1]);
                ulong[] sum = doc.RootElement.GetProperty("sum").EnumerateArray().Select(e => e.GetUInt64()).ToArray();
                Assert.That(sum, Is.EqualTo(expected), $"round {round} bank {b}: the plaintext sum mod 2^44");
                // Progress in the order it happens: "contributing" only once the round opened, after the key setup (a restored
                // party of the second run is ready at once: no setup line, it says it resumed).
                AssertProgress(b, results[b].Stderr, firstRun: round == 0, $"contributing 20 values to round {round + 1} ...");
            }
        }
        await host.StopAsync();
    }

    [Test]
    public async Task BankSum_SuccessiveMaskingProcesses_ResumeFromTheKitsStateDirectory_AndContributeToSuccessiveRoundsExactly()
    {
        const int banks = 3;
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", $"{banks}", "--mode", "masking", "--out", kit, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        BankConfig b0 = ConfigJson.Load<BankConfig>(Path.Combine(kit, "banks", "bank-0", "bank.json"));
        Assert.That((b0.StateDirectory, b0.StateKeyFile), Is.EqualTo(("state", "state.key")), "init gives masking banks a sealed state directory too");
        await using ApplianceHost host = await ServeKitAsync(kit, banks);
        ulong modulus = 1UL << b0.Federation.BuildMaskingParameters(new byte[16]).ModulusBits;
        ulong lastRound = 0;
        for (int round = 0; round < 2; round++)
        {
            var values = new ulong[banks][];
            for (int b = 0; b < banks; b++)
            {
                values[b] = Enumerable.Range(0, 10).Select(k => (ulong)((round + 1) * 1_000_003L * (b + 1) + k * 7919L) % modulus).ToArray();
                File.WriteAllText(Path.Combine(_dir, $"m-{round}-{b}.txt"), string.Join('\n', values[b]));
            }
            int r = round;
            // Each round is a new `bank sum` process per bank: the second restores its masking keys from state/.
            // In the second round bank 0 sends every call over gRPC (--grpc-only), the others over the bulk channel: one exact sum.
            var results = await Task.WhenAll(Enumerable.Range(0, banks).Select(b => Task.Run(() => HostileInputTests.Run(["bank", "sum", "--config",
                Path.Combine(kit, "banks", $"bank-{b}", "bank.json"), "--values", Path.Combine(_dir, $"m-{r}-{b}.txt"), "--json", "--timeout", "120",
                .. r == 1 && b == 0 ? new[] { "--grpc-only" } : []]))));
            ulong[] expected = Enumerable.Range(0, 10).Select(k => values.Aggregate(0UL, (acc, v) => (acc + v[k]) % modulus)).ToArray();
            for (int b = 0; b < banks; b++)
            {
                Assert.That(results[b].Code, Is.EqualTo(0), $"round {round} bank {b}: {results[b].Stderr}");
                using var doc = System.Text.Json.JsonDocument.Parse(results[b].Stdout.Trim().Split('\n')[^1]);
                Assert.That(doc.RootElement.GetProperty("sum").EnumerateArray().Select(e => e.GetUInt64()).ToArray(), Is.EqualTo(expected), $"round {round} bank {b}");
                Assert.That(doc.RootElement.GetProperty("contributors").EnumerateArray().Select(e => e.GetInt32()).ToArray(), Is.EqualTo(Enumerable.Range(0, banks)));
                ulong got = doc.RootElement.GetProperty("round").GetUInt64();
                Assert.That(got, Is.GreaterThan(lastRound), $"process {round + 1} of bank {b} contributes to a later round");
                if (b == banks - 1) lastRound = got;
                // Progress in the order it happens, as in the homomorphic test (the setup here is AdvertiseKeys and the graph
                // seed); "contributing" names the round that the result names.
                AssertProgress(b, results[b].Stderr, firstRun: round == 0, $"contributing 10 values to round {got} ...");
            }
        }
        await host.StopAsync();
    }

    [TestCase("masking")]
    [TestCase("he")]
    public async Task BankSum_SecondProcessWithoutAStateDirectory_FailsFast_SayingStartANewSession(string mode)
    {
        const int banks = 3;
        string kit = Path.Combine(_dir, "kit");
        string[] insecure = mode == "he" ? ["--insecure-test-parameters"] : [];
        var init = HostileInputTests.Run(["aggregator", "init", "--banks", $"{banks}", "--mode", mode, "--out", kit, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", .. insecure]);
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string bank0 = Path.Combine(kit, "banks", "bank-0", "bank.json");
        File.WriteAllText(bank0, System.Text.Json.JsonSerializer.Serialize(ConfigJson.Load<BankConfig>(bank0) with { StateDirectory = null, StateKeyFile = null }, ConfigJson.Options));
        await using ApplianceHost host = await ServeKitAsync(kit, banks);
        string file = Path.Combine(_dir, "v.txt");
        File.WriteAllText(file, "1 2 3");
        var first = await Task.WhenAll(Enumerable.Range(0, banks).Select(b => Task.Run(() => HostileInputTests.Run("bank", "sum", "--config", Path.Combine(kit, "banks", $"bank-{b}", "bank.json"),
            "--values", file, "--json", "--timeout", "120"))));
        foreach (var f in first) Assert.That(f.Code, Is.EqualTo(0), f.Stderr);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, _, stderr) = HostileInputTests.Run("bank", "sum", "--config", bank0, "--values", file, "--timeout", "120");
        Assert.That(code, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("already joined this session").And.Contain("state_directory").And.Contain("start a new session"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(30)), "fails fast, not after retries");
        await host.StopAsync();
    }

    /// <summary>A second serve on a port another program holds says what probably holds it and which key of which file (and which
    /// init option) sets the port, not just the socket error's name (the trial saw "cannot be bound (AddressAlreadyInUse)").</summary>
    [Test]
    public void Serve_OnAPortAnotherListenerHolds_SaysWhatProbablyHoldsIt_AndWhichKeySetsIt()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        string kit = Path.Combine(_dir, "kit-busy");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters",
            "--listen", $"127.0.0.1:{port}", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string config = Path.Combine(kit, "aggregator.json");

        var (code, stdout, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator serve: listen 127.0.0.1:{port} is already in use: another `fraudfed aggregator serve` "
            + $"(perhaps of the same aggregator.json) or another program is probably listening on that port; stop it, or set \"listen\" in {config} "
            + "(--listen of aggregator init) to a free port."));
        Assert.That(stdout, Is.Empty);
    }

    /// <summary>listen [::]:PORT (every address, IPv6 and IPv4) on a port another program holds on 127.0.0.1 is found by serve's
    /// probe, as 127.0.0.1:PORT is: one line, exit 2, nothing created (the trial's probe bound [::] for IPv6 only, missed the IPv4
    /// holder, and the host's own dual-stack bind failed after the state was created).</summary>
    [Test]
    public void Serve_OnIPv6AnyOfAPortAnotherProgramHoldsOnIPv4_IsFoundBeforeTheState()
    {
        Assume.That(CanBindIPv6Any(), Is.True, "this machine has no IPv6 ([::] cannot be bound), so [::]:PORT cannot be probed here");
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        string kit = Path.Combine(_dir, "kit-busy6");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters",
            "--listen", $"[::]:{port}", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string config = Path.Combine(kit, "aggregator.json");

        var (code, stdout, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator serve: listen [::]:{port} is already in use: another `fraudfed aggregator serve` "
            + $"(perhaps of the same aggregator.json) or another program is probably listening on that port; stop it, or set \"listen\" in {config} "
            + "(--listen of aggregator init) to a free port."));
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.Exists(Path.Combine(kit, "state")), Is.False, "refused by the probe, before the state is created");
    }

    /// <summary>Whether this machine binds [::] (it has IPv6).</summary>
    private static bool CanBindIPv6Any()
    {
        if (!System.Net.Sockets.Socket.OSSupportsIPv6) return false;
        try
        {
            var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.IPv6Any, 0);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException) { return false; }
    }

    /// <summary>The same address (or one that covers the other) for the gRPC and the operations endpoint: init refuses it, and a
    /// config that says so anyway is refused by the loader naming both keys, before the state is created (the trial's serve
    /// created the state and a session, then failed on its own second bind with the host's log lines and exit 1).</summary>
    [TestCase("127.0.0.1:7743", "127.0.0.1:7743")]
    [TestCase("0.0.0.0:7743", "127.0.0.1:7743")]
    [TestCase("127.0.0.1:7743", "[::]:7743")]
    public void ListenAndOpsListenOnOnePort_AreRefusedByInit_AndByServe_BeforeTheState(string listen, string ops)
    {
        string kit = Path.Combine(_dir, "kit-same");
        var refused = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--listen", listen, "--ops-listen", ops);
        Assert.That(refused.Code, Is.EqualTo(2), refused.Stderr);
        Assert.That(refused.Stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator init: --listen {listen} and --ops-listen {ops} take the same port; "
            + "the gRPC and the operations endpoint each need their own: give --ops-listen another port."));
        Assert.That(Directory.Exists(kit), Is.False);

        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters", "--listen", listen, "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string config = Path.Combine(kit, "aggregator.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"ops_listen\": \"127.0.0.1:0\"", $"\"ops_listen\": \"{ops}\"", StringComparison.Ordinal));
        var (code, stdout, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo($"fraudfed aggregator serve: {config}: listen {listen} and ops_listen {ops} take the same port 7743; "
            + "the gRPC and the operations endpoint each need their own: give \"ops_listen\" (or \"listen\") another port."));
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.Exists(Path.Combine(kit, "state")), Is.False, "refused before the state is opened");
    }

    /// <summary>A port taken after serve's probe, so that the host's own bind fails: serve's handling (one line naming the key,
    /// exit 2 as a usage error, no framework message) and the state it created removed again.</summary>
    [Test]
    public async Task ABindThatFailsAtStart_IsOneLineNamingTheKey_AndTheStateThisRunCreatedIsRemoved()
    {
        string kit = Path.Combine(_dir, "kit-race");
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", kit, "--insecure-test-parameters", "--listen", "127.0.0.1:0", "--ops-listen", $"127.0.0.1:{port}");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string config = Path.Combine(kit, "aggregator.json");
        using LoadedAggregatorConfig loaded = AggregatorConfig.Load(config);
        var footprint = FraudFed.Cli.Commands.StateFootprint.Of(loaded.StatePath);
        await using (ApplianceHost host = ApplianceHost.Create(loaded, l => l.SetMinimumLevel(LogLevel.Warning)))
        {
            Assert.That(File.Exists(loaded.StatePath), Is.True, "the host opens (creates) the state before it binds");
            using var taker = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
            taker.Start();
            IOException failed = Assert.ThrowsAsync<IOException>(() => host.StartAsync())!;
            UsageException line = FraudFed.Cli.Commands.AggregatorCommands.BindFailure(failed, loaded, config);
            Assert.That(line.Message, Does.StartWith($"ops_listen 127.0.0.1:{port} was taken as serve started: ").And.Contain($"set \"ops_listen\" in {config}"));
            Assert.That(line.Message, Does.Not.Contain("Exception").And.Not.Contain("Failed to bind"));
            Assert.That(CliErrors.Report("aggregator serve", new StringWriter(), line), Is.EqualTo(2));
        }
        footprint.RemoveCreated();
        Assert.That(Directory.Exists(Path.Combine(kit, "state")), Is.False, "the state folder and its files this run made are gone");
    }

    [Test]
    public void Serve_WithABusyPort_OrACorruptStateFile_ExitsWith2_NamingIt_WithoutAStackTrace()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        string kit = Path.Combine(_dir, "kit");
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "2", "--out", kit, "--insecure-test-parameters",
            "--listen", "127.0.0.1:0", "--ops-listen", $"127.0.0.1:{port}");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        string config = Path.Combine(kit, "aggregator.json"), state = Path.Combine(kit, "state", "aggregator.db");

        var (code, _, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.StartWith("fraudfed aggregator serve: ").And.Contain($"ops_listen 127.0.0.1:{port}"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(File.Exists(state), Is.False, "a busy port is found before the state file is created");

        Directory.CreateDirectory(Path.GetDirectoryName(state)!);
        File.WriteAllText(state, "this is not a database, it is a careless copy\n");
        busy.Stop();
        (code, _, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(state).And.Contain("backup"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(File.ReadAllText(state), Does.StartWith("this is not a database"), "the bad file is left as it was");

        // A state path whose directory cannot be made (a file stands where it should be): a configuration error too, exit 2.
        Directory.Delete(Path.GetDirectoryName(state)!, recursive: true);
        File.WriteAllText(Path.GetDirectoryName(state)!, "a file, not a directory\n");
        (code, _, stderr) = ServeBounded(config);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.StartWith($"fraudfed aggregator serve: state '{state}' cannot be created or opened").And.Contain("writable path"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    /// <summary>`aggregator serve` that must refuse: a serve that started serving instead fails the test after 60 s.</summary>
    private static (int Code, string Stdout, string Stderr) ServeBounded(string config)
    {
        var run = Task.Run(() => HostileInputTests.Run("aggregator", "serve", "--config", config));
        Assert.That(run.Wait(TimeSpan.FromSeconds(60)), Is.True, "serve should have refused the configuration, not started");
        return run.Result;
    }

    [Test]
    public void Init_NeverOverwritesAKit()
    {
        string kit = Path.Combine(_dir, "kit");
        var first = HostileInputTests.Run("aggregator", "init", "--banks", "2", "--out", kit);
        Assert.That(first.Code, Is.EqualTo(0));
        // A 2-bank kit runs (TwoBankKitTests), and init says what two banks cannot hide from each other.
        Assert.That(first.Stdout.Split('\n').Select(l => l.TrimEnd()), Does.Contain(FraudFed.Cli.Commands.AggregatorCommands.TwoBankNote));
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "3", "--out", Path.Combine(_dir, "kit3")).Stdout, Does.Not.Contain("note: with 2 banks"));
        string before = File.ReadAllText(Path.Combine(kit, "aggregator.json"));
        var (code, _, stderr) = HostileInputTests.Run("aggregator", "init", "--banks", "2", "--out", kit);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.StartWith("fraudfed aggregator init: ").And.Contain("not empty"));
        Assert.That(File.ReadAllText(Path.Combine(kit, "aggregator.json")), Is.EqualTo(before));
    }

    [TestCase(new[] { "aggregator", "init", "--banks", "1", "--out", "@kit" }, "--banks must be in 2..256", TestName = "Refused/init-one-bank")]
    [TestCase(new[] { "aggregator", "init", "--listen", "localhost", "--out", "@kit" }, "--listen must be an IP address and port", TestName = "Refused/init-listen")]
    [TestCase(new[] { "aggregator", "serve", "--config", "@missing" }, "no such file", TestName = "Refused/serve-missing-config")]
    [TestCase(new[] { "aggregator", "init", "--mode", "masking", "--insecure-test-parameters", "--out", "@kit" }, "--insecure-test-parameters applies to --mode he only", TestName = "Refused/init-masking-insecure")]
    public void Refused_BeforeAnyWork_WithExitCode2(string[] args, string expected)
    {
        string[] bound = args.Select(a => a == "@kit" ? Path.Combine(_dir, "kit") : a == "@missing" ? Path.Combine(_dir, "none.json") : a).ToArray();
        var (code, _, stderr) = HostileInputTests.Run(bound);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(expected));
        Assert.That(stderr.Trim().Split('\n'), Has.Length.EqualTo(1), "one line, no stack trace");
        Assert.That(Directory.Exists(Path.Combine(_dir, "kit")), Is.False, "nothing written");
    }

    [TestCase("18446744073709551615", "is not below 2^44")]
    [TestCase("12\nseven", "line 2, item 1: 'seven' is not an unsigned integer")]
    [TestCase("18446744073709551616", "line 1, item 1: 18446744073709551616 is too large: values must be below 2^44")]
    [TestCase("7\n1,2,18446744073709551616,4", "line 2, item 3: 18446744073709551616 is too large: values must be below 2^44")]
    [TestCase("1 2, 99999999999999999999999999", "line 1, item 3: 99999999999999999999999999 is too large")]
    [TestCase("3\n4\n1,x,3", "line 3, item 2: 'x' is not an unsigned integer")]
    [TestCase("-5", "line 1, item 1: '-5' is not an unsigned integer; give whole numbers from 0 to 2^44 - 1 (quantize real or negative values first).")]
    [TestCase("1.5", "'1.5' is not an unsigned integer; give whole numbers")]
    [TestCase("1;2;17592186044416", "line 1, item 3: 17592186044416 is too large (it is not below 2^44)")]
    [TestCase("", "holds no values")]
    [TestCase("1,,2", "line 1, column 3: item 2 of the line is empty")]
    [TestCase("1\n2,3,", "line 2, column 5: item 3 of the line is empty")]
    [TestCase("1, ;2", "line 1, column 4: item 2 of the line is empty")]
    [TestCase("1\n\n2", "line 2, column 1: the line is empty (a value is missing); give one unsigned integer per line, or remove the empty line.")]
    [TestCase("1\n  \n2\n", "line 2, column 1: the line is empty")]
    [TestCase("\n1\n2", "line 1, column 1: the line is empty")]
    [TestCase("1\n2\n\n", "line 3, column 1: the line is empty")]
    public void BankSum_RefusesBadValues_BeforeConnecting(string values, string expected)
    {
        string kit = Path.Combine(_dir, "kit");
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "2", "--out", kit).Code, Is.EqualTo(0));
        string file = Path.Combine(_dir, "values.txt");
        File.WriteAllText(file, values);
        // No appliance runs: a command that tried to connect would fail with exit 1 after its retries, not 2 at once.
        var (code, _, stderr) = HostileInputTests.Run("bank", "sum", "--config", Path.Combine(kit, "banks", "bank-0", "bank.json"), "--values", file);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.StartWith("fraudfed bank sum: ").And.Contain(expected));
    }

    /// <summary>The one line break that ends a file (either style) is not an empty line: such files read as their values.</summary>
    [TestCase("1\n2\n")]
    [TestCase("1\r\n2\r\n")]
    [TestCase("1\n2")]
    [TestCase("1, 2")]
    public void BankSum_ReadsAFileEndingWithOneLineBreak(string values)
    {
        string kit = Path.Combine(_dir, "kit");
        Assert.That(HostileInputTests.Run("aggregator", "init", "--banks", "2", "--out", kit).Code, Is.EqualTo(0));
        string file = Path.Combine(_dir, "values.txt");
        File.WriteAllText(file, values);
        using var bank = FraudFed.Sdk.Configuration.BankConfig.Load(Path.Combine(kit, "banks", "bank-0", "bank.json"));
        Assert.That(FraudFed.Cli.Commands.BankCommands.ReadValues(file, bank.Config.Federation), Is.EqualTo(new ulong[] { 1, 2 }));
    }

    [TestCase(173.0, "173.0")]
    [TestCase(286.74, "286.7")]
    [TestCase(286.76, "286.8")]
    [TestCase(1024.0 / 3, "341.3")]
    public void BenchRound_PeakRssInJson_AlwaysHasOneDecimal(double mib, string json) =>
        Assert.That(System.Text.Json.JsonSerializer.Serialize(FraudFed.Cli.Commands.BenchRoundCommand.OneDecimal(mib)), Is.EqualTo(json));

    [TestCase("masking")]
    [TestCase("he")]
    public void BenchRound_RunsTheApplianceOverLoopbackTls_AndReportsAnExactSum(string mode)
    {
        // The operations port of a default kit (127.0.0.1:9464) may be taken by an appliance already running on this host:
        // bench round (and simulate --transport grpc) bind ephemeral loopback ports only, so they run beside it.
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 9464);
        try { busy.Start(); }
        catch (System.Net.Sockets.SocketException) { Assert.That(System.Net.NetworkInformation.IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Any(e => e.Port == 9464), Is.True); }
        // The INSECURE ring is mode he's only (masking refuses the flag).
        string[] args = ["bench", "round", "--mode", mode, "--banks", "3", "--values", "300", "--rounds", "2", "--json", .. mode == "he" ? new[] { "--insecure-test-parameters" } : []];
        var (code, stdout, stderr) = HostileInputTests.Run(args);
        Assert.That(code, Is.EqualTo(0), stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        System.Text.Json.JsonElement r = doc.RootElement;
        Assert.That(r.GetProperty("suite").GetString(), Is.EqualTo("round"));
        Assert.That(r.GetProperty("exact").GetBoolean(), Is.True);
        Assert.That(r.GetProperty("bank_upload_bytes").GetInt64(), Is.GreaterThan(3 * 300 * 4), "at least the plaintext size per bank");
        Assert.That(r.GetProperty("peak_rss_mb").GetRawText(), Does.Match(@"^[1-9]\d*\.\d$"), "always one decimal (173.0, never 173)");
        Assert.That(r.GetProperty("wall_s").GetDouble(), Is.GreaterThan(0));
        Assert.That(r.GetProperty("first_round_s").GetDouble(), Is.GreaterThan(0), "the untimed warm-up round through the appliance is reported");
        Assert.That(r.GetProperty("cpu_s").GetDouble(), Is.GreaterThan(0), "a round through the appliance costs CPU in this process");
        Assert.That(r.GetProperty("inproc_cpu_s").GetDouble(), Is.GreaterThanOrEqualTo(0));
        // Two timed rounds of each stack; the reported figures are the medians (of two: their mean).
        double[] walls = [.. r.GetProperty("wall_s_all").EnumerateArray().Select(e => e.GetDouble())];
        double[] inproc = [.. r.GetProperty("inproc_wall_s_all").EnumerateArray().Select(e => e.GetDouble())];
        Assert.That(walls, Has.Length.EqualTo(2).And.All.GreaterThan(0));
        Assert.That(inproc, Has.Length.EqualTo(2).And.All.GreaterThan(0));
        Assert.That(r.GetProperty("wall_s").GetDouble(), Is.EqualTo((walls[0] + walls[1]) / 2).Within(2e-4));
        Assert.That(r.GetProperty("inproc_wall_s").GetDouble(), Is.EqualTo((inproc[0] + inproc[1]) / 2).Within(2e-4));
        // The banks' Submit and Receive went over the bulk channel (SPEC.md 14.8), as a bank client's do by default.
        Assert.That(r.GetProperty("bulk_channel").GetBoolean(), Is.True);
        Assert.That(r.GetProperty("bulk_connections").GetInt64(), Is.GreaterThanOrEqualTo(3), "at least one per bank");
        Assert.That(stdout, Does.Contain("over the bulk channel"));
    }

    [Test]
    public void BenchRound_GrpcOnly_SendsEveryCallOverGrpc_ToTheSameExactSum()
    {
        var (code, stdout, stderr) = HostileInputTests.Run("bench", "round", "--mode", "masking", "--banks", "3", "--values", "300", "--grpc-only", "--json");
        Assert.That(code, Is.EqualTo(0), stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        Assert.That(doc.RootElement.GetProperty("exact").GetBoolean(), Is.True);
        Assert.That(doc.RootElement.GetProperty("bulk_channel").GetBoolean(), Is.False);
        Assert.That(doc.RootElement.GetProperty("bulk_connections").GetInt64(), Is.Zero);
        Assert.That(stdout, Does.Contain("all over gRPC (--grpc-only)"));
    }
}
