// A damaged homomorphic state directory (SPEC.md 14.6) gets one advice whatever the damage: the round part carries the
// decryption ledger, so a bank that lost it (or holds an older copy) must not rejoin the session it belongs to; a new
// session has new keys, so moving the directory away and joining a new session is safe. A fresh store reads a genuine
// round part back first (the setup is sound), then every damage of it is refused with a message that leads with that advice
// (the state is damaged, what to do) and gives the technical cause after it.
using System.Security.Cryptography;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class DamagedStateAdviceTests
{
    private static readonly byte[] KeyBytes = Enumerable.Range(0, 32).Select(i => (byte)(i * 5 + 3)).ToArray();
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("fraudfed-damaged-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a genuine key part and round part (opaque party bytes) and returns the round part's path.</summary>
    private string WriteGenuineState()
    {
        using StateKey key = StateKey.FromBytes(KeyBytes);
        using var store = new BankStateStore(_dir, key);
        (string file, byte[] digest) = store.SaveKeyPart(RandomNumberGenerator.GetBytes(300));
        store.SaveRoundPart(file, digest, RandomNumberGenerator.GetBytes(200), lastSequence: 17, outbox: [[1, 2, 3]], deleteOtherKeyFiles: true);
        return store.RoundPath;
    }

    private string LoadRefusal()
    {
        using StateKey key = StateKey.FromBytes(KeyBytes);
        using var store = new BankStateStore(_dir, key);
        var e = Assert.Throws<StateFileException>(() => store.LoadSplit()?.Dispose())!;
        return e.Message;
    }

    [Test]
    public void EveryDamageOfTheRoundPart_GivesTheSameAdvice_NewSessionNotTheCurrentOne()
    {
        string round = WriteGenuineState();
        byte[] genuine = File.ReadAllBytes(round);
        using (StateKey key = StateKey.FromBytes(KeyBytes))
        using (var store = new BankStateStore(_dir, key))
        using (SavedSplitState? saved = store.LoadSplit())
            Assert.That(saved?.LastSequence, Is.EqualTo(17UL), "the undamaged state reads back");

        var damages = new Dictionary<string, byte[]>
        {
            ["empty"] = [],
            ["one byte"] = genuine[..1],
            ["bad magic"] = [(byte)(genuine[0] ^ 0x20), .. genuine[1..]],
            ["wrong file version"] = [.. genuine[..4], 9, .. genuine[5..]],
            ["one bit flipped in the ciphertext"] = [.. genuine[..^5], (byte)(genuine[^5] ^ 0x01), .. genuine[^4..]],
            ["truncated by 40 bytes"] = genuine[..^40],
            ["cut inside the header"] = genuine[..20],
        };
        var messages = new Dictionary<string, string>();
        foreach ((string name, byte[] bytes) in damages)
        {
            File.WriteAllBytes(round, bytes);
            messages[name] = LoadRefusal();
        }
        // A key part that is missing is the same loss.
        File.WriteAllBytes(round, genuine);
        foreach (string keyFile in Directory.GetFiles(_dir, "he-key-*.bin")) File.Delete(keyFile);
        messages["key part missing"] = LoadRefusal();

        const string Advice = "without such a backup this bank must not rejoin the current session: move the state directory away and join a new session";
        foreach ((string name, string message) in messages)
        {
            Assert.That(message, Does.Contain(Advice), name);
            Assert.That(message, Does.Contain("taken after this bank's last run"), name);
            Assert.That(message, Does.Not.Contain("remove the state directory"), $"{name}: one rule, not two");
        }
        // The message leads with the diagnosis a bank engineer acts on, then the file's name and what to do; the technical
        // cause comes after it. The advice is the same text in every message; only the cause differs.
        string all = string.Join("\n", messages.Select(kv => $"{kv.Key}: {kv.Value}"));
        foreach ((string name, string message) in messages)
        {
            Assert.That(message, Does.StartWith("the bank's saved state is damaged ("), $"{name}: the diagnosis first, before any path\n{message}");
            Assert.That(message, Does.Contain("). Restore the whole state directory"), $"{name}: then the file's name and what to do\n{message}");
            Assert.That(message.IndexOf(" Cause: ", StringComparison.Ordinal), Is.GreaterThan(message.IndexOf("join a new session", StringComparison.Ordinal)),
                $"{name}: the cause after the advice\n{message}");
        }
        Assert.That(messages["one bit flipped in the ciphertext"], Does.EndWith("Cause: the state file does not verify under the state key (damaged, truncated or tampered; "
            + "or sealed with another key: if state_key_file in bank.json or FRAUDFED_STATE_KEY is not this directory's key, use the right one)."), all);
        Assert.That(messages["truncated by 40 bytes"], Does.Contain("Cause: the state file does not verify under the state key"), all);
        string[] heads = messages.Values.Select(m => m[m.IndexOf("). Restore ", StringComparison.Ordinal)..m.IndexOf(" Cause: ", StringComparison.Ordinal)]).Distinct().ToArray();
        Assert.That(heads, Has.Length.EqualTo(1), all);
    }
}
