// `fraudfed bank sum|train` check the bank's state directory before any network work (SPEC.md 14.6, 14.7, README "Restarting a
// bank"): a refusal exits 2 with one line naming the path and the fix, and no retry is reported (the appliance of these kits is
// never started). A masking state of another kit, sealed with the key file this bank.json names, is refused and left as it was.
using System.Security.Cryptography;
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Masking;
using FraudFed.Sdk.Configuration;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Cli.Tests.Commands;

[TestFixture]
public sealed class BankStateDirectoryTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDirectory() => _dir = Directory.CreateTempSubdirectory("fraudfed-cli-state-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    private string Kit(string name, string mode = "masking")
    {
        string kit = Path.Combine(_dir, name);
        var init = HostileInputTests.Run("aggregator", "init", "--banks", "3", "--mode", mode, "--out", kit, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0");
        Assert.That(init.Code, Is.EqualTo(0), init.Stderr);
        return kit;
    }

    private string Values()
    {
        string file = Path.Combine(_dir, "v.txt");
        File.WriteAllText(file, "1\n2\n3\n");
        return file;
    }

    private static string BankJson(string kit, int bank) => Path.Combine(kit, "banks", $"bank-{bank}", "bank.json");

    /// <summary>A masking bank state of <paramref name="from"/>'s bank 0 (its keys, roster and a session of its own), sealed into
    /// <paramref name="into"/>'s bank 0 state directory with <paramref name="into"/>'s state key; recording
    /// <paramref name="insecure"/> as its federation.insecure_test_parameters (null: the layout that does not record it).</summary>
    private static void PlantForeignState(string from, string into, bool? insecure = null)
    {
        using LoadedBankConfig a = BankConfig.Load(BankJson(from, 0));
        using LoadedBankConfig b = BankConfig.Load(BankJson(into, 0));
        MaskingParameters p = a.Config.Federation.BuildMaskingParameters(RandomNumberGenerator.GetBytes(MaskingParameters.SessionIdSize));
        using var bank = new MaskingBank(p, 0, Ed25519SigningKey.Import(a.ProtocolSeed), a.Config.Federation.IdentityKeyBytes(), RandomNumberGenerator.Create());
        byte[] advertise = bank.AdvertiseKeys();
        byte[] state = bank.ExportState();
        using (var store = new BankStateStore(b.StateDirectory!, b.StateKey!) { InsecureTestParameters = insecure }) store.Save(BankStateKind.Masking, state, 1, [advertise]);
        CryptographicOperations.ZeroMemory(state);
    }

    private static void AssertRefusedBeforeConnecting((int Code, string Stdout, string Stderr) run, string path, params string[] words)
    {
        Assert.That(run.Code, Is.EqualTo(2), run.Stderr);
        string[] lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), run.Stderr);
        Assert.That(lines[0], Does.StartWith("fraudfed bank ").And.Contain(path));
        foreach (string w in words) Assert.That(lines[0], Does.Contain(w));
        Assert.That(run.Stderr, Does.Not.Contain("joining").And.Not.Contain("retrying").And.Not.Contain("   at "));
    }

    [Test]
    public void AnotherKitsMaskingState_SealedWithThisBanksKey_IsRefusedWithExit2_AndNotOverwritten()
    {
        string mine = Kit("mine"), other = Kit("other");
        PlantForeignState(other, mine);
        string stateFile = Path.Combine(Path.GetDirectoryName(BankJson(mine, 0))!, "state", BankStateStore.PartyFile);
        byte[] before = File.ReadAllBytes(stateFile);

        var sum = HostileInputTests.Run("bank", "sum", "--config", BankJson(mine, 0), "--values", Values(), "--timeout", "60");
        // The other kit's keys: the identity roster differs, the state keeps its digest (SPEC.md 14.7).
        AssertRefusedBeforeConnecting(sum, stateFile, $"the federation settings in {BankJson(mine, 0)} (federation.identity_keys",
            "differ from those this state directory was created with", "never overwritten", "restore", "move the state directory away", "state_directory");
        string data = Path.Combine(_dir, "rows.csv");
        File.WriteAllText(data, "amount,label\n1.5,0\n2.5,1\n");
        var train = HostileInputTests.Run("bank", "train", "--config", BankJson(mine, 0), "--data", data, "--label", "label", "--out", Path.Combine(_dir, "out"), "--timeout", "60");
        AssertRefusedBeforeConnecting(train, stateFile, "federation.identity_keys", "move the state directory away");
        Assert.That(File.ReadAllBytes(stateFile), Is.EqualTo(before), "the other kit's state is left as it was");
        Assert.That(Directory.Exists(Path.Combine(_dir, "out")), Is.False);

        // The same kit's own state (an earlier session of this federation) passes the checks: the run goes on to connect.
        PlantForeignState(mine, mine);
        using LoadedBankConfig own = BankConfig.Load(BankJson(mine, 0));
        Assert.That(() => FraudFed.Sdk.FederationClient.CheckStateDirectory(own), Throws.Nothing);
    }

    [Test]
    public void AFederationBlockEditedAfterTheStateWasSaved_IsNamed_WithBothValues_AndTheStateIsKept()
    {
        string kit = Kit("kit");
        PlantForeignState(kit, kit);
        string bankJson = BankJson(kit, 0);
        string stateFile = Path.Combine(Path.GetDirectoryName(bankJson)!, "state", BankStateStore.PartyFile);
        byte[] before = File.ReadAllBytes(stateFile);
        string original = File.ReadAllText(bankJson);

        File.WriteAllText(bankJson, original.Replace("\"modulus_bits\": 32", "\"modulus_bits\": 40", StringComparison.Ordinal));
        Assert.That(File.ReadAllText(bankJson), Does.Contain("\"modulus_bits\": 40"));
        var bits = HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", Values(), "--timeout", "60");
        AssertRefusedBeforeConnecting(bits, stateFile, $"the federation settings in {bankJson} (federation.masking.modulus_bits is 40 there, 32 in the state)",
            "differ from those this state directory was created with", "restore", "to join a new federation, move the state directory away");
        Assert.That(bits.Stderr, Does.Not.Contain("another federation").And.Not.Contain("threshold"), "only the setting that differs is named");

        // Restored settings: the same state passes the checks again (nothing was overwritten).
        File.WriteAllText(bankJson, original);
        using (LoadedBankConfig own = BankConfig.Load(bankJson))
            Assert.That(() => FraudFed.Sdk.FederationClient.CheckStateDirectory(own), Throws.Nothing);
        Assert.That(File.ReadAllBytes(stateFile), Is.EqualTo(before));
    }

    /// <summary>bank.json with federation.insecure_test_parameters flipped: <paramref name="original"/> with the setting <paramref name="to"/>.</summary>
    private static string Flipped(string original, bool to)
    {
        string from = $"\"insecure_test_parameters\": {(to ? "false" : "true")}", into = $"\"insecure_test_parameters\": {(to ? "true" : "false")}";
        Assert.That(original, Does.Contain(from), "the kit's bank.json names the setting");
        return original.Replace(from, into, StringComparison.Ordinal);
    }

    [Test]
    public void InsecureTestParametersFlippedAfterAMaskingStateWasSaved_IsNamed_WithBothValues_AndTheStateIsKept()
    {
        string kit = Kit("kit");
        PlantForeignState(kit, kit, insecure: false);
        string bankJson = BankJson(kit, 0);
        string stateFile = Path.Combine(Path.GetDirectoryName(bankJson)!, "state", BankStateStore.PartyFile);
        byte[] before = File.ReadAllBytes(stateFile);
        string original = File.ReadAllText(bankJson);

        File.WriteAllText(bankJson, Flipped(original, to: true));
        var sum = HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", Values(), "--timeout", "60");
        AssertRefusedBeforeConnecting(sum, stateFile, $"the federation settings in {bankJson} (federation.insecure_test_parameters is true there, false in the state)",
            "differ from those this state directory was created with", "restore", "to join a new federation, move the state directory away");
        Assert.That(sum.Stderr, Does.Not.Contain("identity_keys").And.Not.Contain("modulus_bits"), "only the setting that differs is named");
        string data = Path.Combine(_dir, "rows.csv");
        File.WriteAllText(data, "amount,label\n1.5,0\n2.5,1\n");
        var train = HostileInputTests.Run("bank", "train", "--config", bankJson, "--data", data, "--label", "label", "--out", Path.Combine(_dir, "out"), "--timeout", "60");
        AssertRefusedBeforeConnecting(train, stateFile, "(federation.insecure_test_parameters is true there, false in the state)", "move the state directory away");

        // Restored settings: the same state passes the checks again (nothing was overwritten).
        File.WriteAllText(bankJson, original);
        using (LoadedBankConfig own = BankConfig.Load(bankJson))
            Assert.That(() => FraudFed.Sdk.FederationClient.CheckStateDirectory(own), Throws.Nothing);
        Assert.That(File.ReadAllBytes(stateFile), Is.EqualTo(before));

        // A state saved before the setting was recorded (the layout of the previous version) still loads, and is not checked
        // for it: the appliance's settings comparison still refuses the flipped bank.json when it connects.
        PlantForeignState(kit, kit);
        File.WriteAllText(bankJson, Flipped(original, to: true));
        using (LoadedBankConfig flipped = BankConfig.Load(bankJson))
            Assert.That(() => FraudFed.Sdk.FederationClient.CheckStateDirectory(flipped), Throws.Nothing);
    }

    [Test]
    public void InsecureTestParametersFlippedAfterAHomomorphicStateWasSaved_IsNamed_BeforeTheStateIsImported()
    {
        string kit = Kit("he", mode: "he");
        string bankJson = BankJson(kit, 0);
        string original = File.ReadAllText(bankJson);
        string roundFile;
        using (LoadedBankConfig b = BankConfig.Load(bankJson))
        using (var store = new BankStateStore(b.StateDirectory!, b.StateKey!) { InsecureTestParameters = false })
        {
            // The key part's bytes are not parsed by this check: the recorded setting in the round part's header is read first.
            (string keyFile, byte[] digest) = store.SaveKeyPart("not a key part"u8);
            store.SaveRoundPart(keyFile, digest, [1, 2, 3], lastSequence: 1, outbox: [], deleteOtherKeyFiles: true);
            roundFile = store.RoundPath;
        }
        File.WriteAllText(bankJson, Flipped(original, to: true));   // the secure parameter set is kept: bank.json still loads
        var sum = HostileInputTests.Run("bank", "sum", "--config", bankJson, "--values", Values(), "--timeout", "60");
        AssertRefusedBeforeConnecting(sum, roundFile, $"the federation settings in {bankJson} (federation.insecure_test_parameters is true there, false in the state)",
            "differ from those this state directory was created with", "never overwritten", "restore", "to join a new federation, move the state directory away");
        string data = Path.Combine(_dir, "rows.csv");
        File.WriteAllText(data, "amount,label\n1.5,0\n2.5,1\n");
        var train = HostileInputTests.Run("bank", "train", "--config", bankJson, "--data", data, "--label", "label", "--out", Path.Combine(_dir, "out"), "--timeout", "60");
        AssertRefusedBeforeConnecting(train, roundFile, "(federation.insecure_test_parameters is true there, false in the state)");
        Assert.That(File.Exists(roundFile), Is.True, "the state is kept");
    }

    [Test]
    public void AStateDirectoryThatCannotBeCreated_OrHoldsTheOtherModesState_IsRefusedWithExit2()
    {
        string kit = Kit("kit");
        string bankDir = Path.GetDirectoryName(BankJson(kit, 1))!;
        if (Directory.Exists(Path.Combine(bankDir, "state"))) Directory.Delete(Path.Combine(bankDir, "state"), recursive: true);
        File.WriteAllText(Path.Combine(bankDir, "state"), "not a directory");
        var run = HostileInputTests.Run("bank", "sum", "--config", BankJson(kit, 1), "--values", Values(), "--timeout", "60");
        AssertRefusedBeforeConnecting(run, Path.Combine(bankDir, "state"), "cannot be created");

        using (LoadedBankConfig b = BankConfig.Load(BankJson(kit, 2)))
        using (var store = new BankStateStore(b.StateDirectory!, b.StateKey!)) store.Save(BankStateKind.Homomorphic, [1, 2, 3], 1, []);
        var mode = HostileInputTests.Run("bank", "sum", "--config", BankJson(kit, 2), "--values", Values(), "--timeout", "60");
        AssertRefusedBeforeConnecting(mode, Path.Combine(Path.GetDirectoryName(BankJson(kit, 2))!, "state"), "homomorphic", "masking");
    }
}
