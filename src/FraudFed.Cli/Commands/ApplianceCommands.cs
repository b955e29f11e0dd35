// `fraudfed aggregator init|serve` and `fraudfed bank sum`: the appliance and one bank from the command line
// (SPEC.md 14.5, README "Operating the appliance"). Every option and every file is checked before any work (exit 2,
// one line naming the option or file and the fix); a run that fails is exit 1; no stack trace reaches the user.
// init writes its kit into a staging directory beside --out and moves it into place only when complete.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FraudFed.Aggregator.Hosting;
using FraudFed.Aggregator.Provisioning;
using FraudFed.Cli.Infrastructure;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Cli.Commands;

/// <summary>`fraudfed aggregator init` and `fraudfed aggregator serve`.</summary>
internal sealed class AggregatorCommands : ICliSubcommands
{
    public string Group => "aggregator";
    public string GroupDescription => "The aggregator appliance: a development startup kit, and the gRPC service over mutual TLS.";

    public IEnumerable<Command> BuildSubcommands() => [BuildInit(), BuildServe()];

    private static Command BuildInit()
    {
        var banks = new Option<int>("--banks") { Description = "Number of banks (2..256).", DefaultValueFactory = _ => 5 }.InRange(2, 256);
        var output = new Option<string>("--out") { Description = "Directory for the kit (must not exist, or be empty).", Required = true };
        var mode = new Option<string>("--mode") { Description = "he (threshold homomorphic) or masking (SecAgg).", DefaultValueFactory = _ => "he" };
        mode.OneOf("he", "masking");
        var listen = new Option<string>("--listen") { Description = "The appliance's mutual-TLS address.", DefaultValueFactory = _ => "127.0.0.1:7443" };
        var ops = new Option<string>("--ops-listen") { Description = "The operations address (/metrics, /healthz).", DefaultValueFactory = _ => "127.0.0.1:9464" };
        var insecure = new Option<bool>("--insecure-test-parameters") { Description = "Use the INSECURE n = 256 RLWE test parameters (demonstrations only; --mode he only)." };
        var cmd = new Command("init", "Write a DEVELOPMENT-ONLY startup kit: a CA, the server certificate, per bank a client certificate, an Ed25519 protocol key and bank.json, and aggregator.json with the roster.");
        foreach (Option o in new Option[] { banks, output, mode, listen, ops, insecure }) cmd.Options.Add(o);
        cmd.SetAction(pr => CliErrors.Guard("aggregator init", pr.InvocationConfiguration.Error, () =>
        {
            int n = pr.GetValue(banks);
            if (n is < 2 or > 256) throw new UsageException($"--banks must be in 2..256 (got {n}).");
            string listenValue = pr.GetValue(listen)!, opsValue = pr.GetValue(ops)!;
            if (!System.Net.IPEndPoint.TryParse(listenValue, out _)) throw new UsageException($"--listen must be an IP address and port such as 127.0.0.1:7443 (got '{listenValue}').");
            if (!System.Net.IPEndPoint.TryParse(opsValue, out System.Net.IPEndPoint? opsEndpoint)) throw new UsageException($"--ops-listen must be an IP address and port such as 127.0.0.1:9464 (got '{opsValue}').");
            if (AggregatorConfig.Overlap(System.Net.IPEndPoint.Parse(listenValue), opsEndpoint))
                throw new UsageException($"--listen {listenValue} and --ops-listen {opsValue} take the same port; the gRPC and the operations endpoint each need their own: give --ops-listen another port.");
            if (pr.GetValue(insecure) && pr.GetValue(mode) != "he")
                throw new UsageException("--insecure-test-parameters applies to --mode he only (the RLWE ring); masking has no such parameters, drop the flag.");
            string target = pr.GetValue(output)!;
            // The next steps print commands with the kit's path; a control or invisible character in it (ESC, a tab, a line break,
            // a right-to-left override) is shown escaped there, and an escaped path cannot be pasted: refused before anything is made.
            if (ErrorLine.Value(target) != target)
                throw new UsageException($"--out '{target}' contains control or invisible characters, so the commands init prints could not be pasted; "
                    + "choose a path without control characters.");
            // The commands name the kit by its full path: a relative --out inside a folder whose own path has such a character too.
            string full = Path.GetFullPath(target);
            if (ErrorLine.Value(full) != full)
                throw new UsageException($"the kit's full path '{full}' contains control or invisible characters (in the current folder's path), so the "
                    + "commands init prints could not be pasted; give --out as a path without them, e.g. an absolute one.");
            if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
                throw new UsageException($"--out '{target}' is not empty; init never overwrites a kit (its keys would be lost). Give a new directory.");
            using StagedOutput staged = StagedOutput.Prepare(target);
            if (staged.RemovedLine("aggregator init") is { } removed) pr.InvocationConfiguration.Error.WriteLine(removed);   // a killed run's staging directory
            DevelopmentProvisioning.Write(staged.StagingPath, new ProvisioningOptions
            {
                Banks = n, Mode = pr.GetValue(mode)!, Listen = listenValue, OpsListen = opsValue, InsecureTestParameters = pr.GetValue(insecure),
            });
            if (Directory.Exists(staged.TargetPath)) Directory.Delete(staged.TargetPath);   // empty: checked above
            staged.Commit(["aggregator.json"]);
            TextWriter stdout = pr.InvocationConfiguration.Output;
            stdout.WriteLine($"wrote a DEVELOPMENT-ONLY kit for {n} banks ({pr.GetValue(mode)}) to {ErrorLine.Value(staged.TargetPath)}");
            if (n == 2) stdout.WriteLine(TwoBankNote);
            FederationSettings federation = ConfigJson.Load<AggregatorConfig>(Path.Combine(staged.TargetPath, "aggregator.json")).Federation;
            foreach (string line in NextSteps(CliInvocation.Prefix(), staged.TargetPath, n, BankCommands.RoundMinimum(federation), federation.IsHomomorphic)) stdout.WriteLine(ErrorLine.Value(line));   // the kit path as typed, escaped
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>
    /// The next-step lines `init` prints after writing a kit of <paramref name="banks"/> banks to <paramref name="kit"/> (a full
    /// path): each command line runs as printed from the current directory (<paramref name="fraudfed"/> from
    /// <see cref="CliInvocation.Prefix()"/>, the kit's files by full path, quoted when needed); bank 0's line stands for every
    /// bank, and the line above it says what changes for the others and what its values file v0.txt (the README's name) holds.
    /// The last line says that the banks run at the same time and how many of them a round needs (<paramref name="minimum"/>,
    /// <see cref="BankCommands.RoundMinimum"/>); in homomorphic mode (<paramref name="homomorphic"/>) the key setup needs every bank.
    /// </summary>
    internal static IEnumerable<string> NextSteps(string fraudfed, string kit, int banks, int minimum, bool homomorphic)
    {
        // The other banks' bank.json files by the same path as the printed commands give bank 0's (the kit's full path).
        string Config(int bank) => CliInvocation.Quote(Path.Combine(kit, "banks", $"bank-{bank}", "bank.json"));
        string others = banks switch
        {
            2 => $"bank 1 does the same with its own bank.json ({Config(1)}) and v1.txt, of the same length",
            3 => $"bank 1 and bank 2 do the same, each with its own bank.json ({Config(1)} and {Config(2)}) and values file (v1.txt and v2.txt), all of the same length",
            _ => $"banks 1 to {banks - 1} do the same, each with its own bank.json ({Config(1)} to {Config(banks - 1)}) and values file (v1.txt to v{banks - 1}.txt), all of the same length",
        };
        yield return "next steps (each line runs from this directory):";
        yield return $"  appliance (in its own terminal, or in the background with `&`): {fraudfed} aggregator serve --config {CliInvocation.Quote(Path.Combine(kit, "aggregator.json"))}";
        yield return $"  bank 0 sums the unsigned integers in v0.txt (one per line); {others}";
        yield return $"  (e.g. bank i's values i..i+999: `for i in $(seq 0 {banks - 1}); do seq $i $((i + 999)) > v$i.txt; done`):";
        yield return $"  bank 0:    {NoBuild(fraudfed)} bank sum --config {CliInvocation.Quote(Path.Combine(kit, "banks", "bank-0", "bank.json"))} --values v0.txt";
        string needs = minimum >= banks ? (banks == 2 ? "both banks" : $"all {banks} banks") : $"at least {minimum} of the {banks} banks";
        yield return "  the banks run at the same time, each in its own terminal (or in the background with `&`); each waits for the others";
        yield return $"  (up to its --timeout): a round needs {needs}{(homomorphic && minimum < banks ? $", the first key setup all {banks}" : "")}.";
    }

    /// <summary>A bank's command as the README's loop runs it: "dotnet run --no-build ..." when <paramref name="fraudfed"/> is a
    /// `dotnet run` (the appliance's `dotnet run` has built the project; banks started at once that build too race on the same
    /// bin/ folder, and MSBuild's copy warnings land in their output), else as is.</summary>
    internal static string NoBuild(string fraudfed) =>
        fraudfed.StartsWith("dotnet run ", StringComparison.Ordinal) && !fraudfed.Contains("--no-build", StringComparison.Ordinal)
            ? "dotnet run --no-build " + fraudfed["dotnet run ".Length..]
            : fraudfed;

    /// <summary>What init says of a 2-bank kit: it runs (he: c = 0, T = K_min = 2, SPEC.md 12.3; masking: t = 2), but the sum
    /// of two banks hides neither bank's values from the other, and every round needs both banks.</summary>
    internal const string TwoBankNote = "note: with 2 banks every sum needs both banks (no bank may drop out of a round), and each bank can subtract its own "
        + "values from the sum and read the other's: the secure sum hides them from the aggregator only; use 3 or more banks to keep each bank's values private.";

    private static Command BuildServe()
    {
        var config = new Option<string>("--config") { Description = "aggregator.json (see `aggregator init`).", Required = true };
        var cmd = new Command("serve", "Run the appliance until SIGTERM or Ctrl+C: gRPC over mutual TLS, state in SQLite, /metrics and /healthz on the operations address.");
        cmd.Options.Add(config);
        cmd.SetAction(pr => CliErrors.Guard("aggregator serve", pr.InvocationConfiguration.Error, () =>
        {
            using LoadedAggregatorConfig loaded = AggregatorConfig.Load(pr.GetValue(config)!);
            // Both addresses are checked before the state file is opened or a session is created, so a busy port is one
            // line naming that port and leaves nothing behind (a port taken between this probe and the bind still fails cleanly).
            string configPath = pr.GetValue(config)!;
            EnsureFree(configPath, ("listen", loaded.Listen), ("ops_listen", loaded.Ops));
            // What of the state is there before the host opens it: a bind that still fails at start (a port taken after the
            // probe) removes what this run created, so a refused start leaves the state as it found it.
            StateFootprint footprint = StateFootprint.Of(loaded.StatePath);
            ApplianceHost host;
            try { host = ApplianceHost.Create(loaded); }
            catch (InvalidDataException e) { throw new UsageException(e.Message); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The configured state path cannot be created or opened (a file where its directory should be, no permission):
                // a configuration error like the others, exit 2.
                throw new UsageException(e is UnauthorizedAccessException
                    ? $"state '{loaded.StatePath}' cannot be created (permission denied): point state in {configPath} at a folder this user may write, or fix its permissions"
                    : $"state '{loaded.StatePath}' cannot be created or opened (an input/output error, or a file where a folder of its path should be); point state in {configPath} at a writable path");
            }
            // SIGINT and SIGTERM cancel the token (CliInterrupt): the host then stops gracefully (in-flight calls get their grace
            // period; every accepted message is already durable) and serve reports one line and exit 0; a further signal while it
            // stops is absorbed (no "cancelled.").
            using IDisposable listening = CliInterrupt.Listen(stopsGracefully: true);
            try
            {
                TextWriter stderr = pr.InvocationConfiguration.Error;
                host.RunAsync(addresses => stderr.WriteLine(ListeningLine(addresses)), CliInterrupt.Token).GetAwaiter().GetResult();
            }
            catch (IOException e)
            {
                // Kestrel could not bind (a port taken between the probe and the bind, or any other refusal): a configuration
                // error like the probe's (exit 2), naming the key, in our words, not the framework's; the state this run
                // created is removed once the host has let go of it.
                host.DisposeAsync().AsTask().GetAwaiter().GetResult();
                footprint.RemoveCreated();
                throw BindFailure(e, loaded, configPath);
            }
            host.DisposeAsync().AsTask().GetAwaiter().GetResult();
            pr.InvocationConfiguration.Error.WriteLine("fraudfed aggregator serve: stopped.");
            return CliErrors.Success;
        }));
        return cmd;
    }

    /// <summary>The line serve prints on stderr once its ports are bound: "fraudfed aggregator serve: listening on
    /// https://127.0.0.1:7443 (banks), http://127.0.0.1:9464 (health, metrics)" (the ops part only when configured).</summary>
    internal static string ListeningLine(IReadOnlyList<Uri> addresses)
    {
        static string Of(Uri u) => $"{u.Scheme}://{u.Authority}";
        var parts = addresses.Where(a => a.Scheme == Uri.UriSchemeHttps).Select(a => $"{Of(a)} (banks)")
            .Concat(addresses.Where(a => a.Scheme == Uri.UriSchemeHttp).Select(a => $"{Of(a)} (health, metrics)"));
        return $"fraudfed aggregator serve: listening on {string.Join(", ", parts)}";
    }

    /// <summary>Throws <see cref="UsageException"/> when one of <paramref name="endpoints"/> (a null endpoint is skipped) cannot be
    /// bound (in use, or not an address of this host); the message names the configuration key of <paramref name="configPath"/>
    /// that sets it. Every probe is held until all are bound, as the host will hold them, so two endpoints that collide with each
    /// other are found here too.</summary>
    private static void EnsureFree(string configPath, params (string Name, System.Net.IPEndPoint? Endpoint)[] endpoints)
    {
        var probes = new List<System.Net.Sockets.TcpListener>();
        try
        {
            foreach ((string name, System.Net.IPEndPoint? endpoint) in endpoints)
            {
                if (endpoint is null || endpoint.Port == 0) continue;
                var probe = new System.Net.Sockets.TcpListener(endpoint);
                probes.Add(probe);
                // [::] is bound as Kestrel binds it: dual-stack, so it also covers the IPv4 addresses (a program on 127.0.0.1 or
                // 0.0.0.0 of the port is found here, not at the host's bind after the state was created).
                if (endpoint.Address.Equals(System.Net.IPAddress.IPv6Any)) probe.Server.DualMode = true;
                try { probe.Start(); }
                catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
                {
                    throw new UsageException($"{name} {endpoint} is already in use: {Busy(configPath)}, or set \"{name}\" in {configPath} "
                        + $"(--{name.Replace('_', '-')} of aggregator init) to a free port.");
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    throw new UsageException($"{name} {endpoint} cannot be bound ({e.SocketErrorCode}): set \"{name}\" in {configPath} to an address of this host (such as 127.0.0.1:{endpoint.Port}).");
                }
            }
        }
        finally { foreach (var probe in probes) probe.Stop(); }
    }

    /// <summary>The one line for a bind that failed when the host started (after the probe): which key's address, why (the
    /// socket's error, else "refused"), and what to do; never the framework's own message.</summary>
    internal static UsageException BindFailure(IOException e, LoadedAggregatorConfig loaded, string configPath)
    {
        // Kestrel names the address it failed on: https://... for the mutual-TLS endpoint, http://... for the operations one.
        bool ops = loaded.Ops is not null && e.Message.Contains("http://", StringComparison.OrdinalIgnoreCase);
        string name = ops ? "ops_listen" : "listen";
        System.Net.IPEndPoint endpoint = ops ? loaded.Ops! : loaded.Listen;
        System.Net.Sockets.SocketException? socket = null;
        for (Exception? x = e; x is not null && socket is null; x = x.InnerException) socket = x as System.Net.Sockets.SocketException;
        return socket?.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse
            ? new UsageException($"{name} {endpoint} was taken as serve started: {Busy(configPath)}, or set \"{name}\" in {configPath} "
                + $"(--{name.Replace('_', '-')} of aggregator init) to a free port; the state was left as it was.")
            : new UsageException($"{name} {endpoint} cannot be bound{(socket is null ? "" : $" ({socket.SocketErrorCode})")}: set \"{name}\" in {configPath} "
                + $"to a free address of this host (such as 127.0.0.1:{endpoint.Port}); the state was left as it was.");
    }

    /// <summary>What probably holds a busy port, and the first thing to do about it.</summary>
    private static string Busy(string configPath) =>
        $"another `fraudfed aggregator serve` (perhaps of the same {Path.GetFileName(configPath)}) or another program is probably listening on that port; stop it";
}

/// <summary>Which of a state file's companions (its -wal, -shm and -journal files, its .lock file, its .payloads folder, and the
/// folders above it) exist before the appliance opens it, so that a start refused after the open can remove what it created.</summary>
internal sealed class StateFootprint
{
    private readonly List<string> _created = [];

    private StateFootprint() { }

    /// <summary>Notes what is missing of the state at <paramref name="statePath"/> (a full path) now.</summary>
    internal static StateFootprint Of(string statePath)
    {
        var footprint = new StateFootprint();
        foreach (string file in new[] { statePath, statePath + "-wal", statePath + "-shm", statePath + "-journal", statePath + ".lock" })
            if (!File.Exists(file) && !Directory.Exists(file)) footprint._created.Add(file);
        if (!Directory.Exists(statePath + ".payloads") && !File.Exists(statePath + ".payloads")) footprint._created.Add(statePath + ".payloads");
        // The folders the store would make, innermost first.
        for (string? dir = Path.GetDirectoryName(statePath); !string.IsNullOrEmpty(dir) && !Directory.Exists(dir) && !File.Exists(dir); dir = Path.GetDirectoryName(dir))
            footprint._created.Add(dir);
        return footprint;
    }

    /// <summary>Removes what was missing when <see cref="Of"/> looked (folders only when empty once their files are gone); what
    /// cannot be removed is left.</summary>
    internal void RemoveCreated()
    {
        foreach (string path in _created)
        {
            try
            {
                if (File.Exists(path)) File.Delete(path);
                else if (path.EndsWith(".payloads", StringComparison.Ordinal) && Directory.Exists(path)) Directory.Delete(path, recursive: true);
                else if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any()) Directory.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
