// A fresh, empty state directory path and a random state key per test, for tests of the bank's sealed state files.
using System.Security.Cryptography;
using FraudFed.Sdk.State;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

/// <summary>Base of state-file test fixtures: <see cref="_dir"/> (not yet created) and <see cref="_key"/> (random, 32 bytes) per
/// test; both removed after it.</summary>
public abstract class StateDirectoryFixture
{
    /// <summary>The test's state directory path, under the temporary folder; the test or the store creates it.</summary>
    protected string _dir = "";

    /// <summary>The test's state key.</summary>
    protected StateKey _key = null!;

    /// <summary>Prefix of the directory's name, naming the fixture.</summary>
    protected abstract string DirectoryPrefix { get; }

    [SetUp]
    public void CreateStateDirectory()
    {
        _dir = Path.Combine(Path.GetTempPath(), DirectoryPrefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)));
        _key = StateKey.FromBytes(RandomNumberGenerator.GetBytes(32));
    }

    [TearDown]
    public void RemoveStateDirectory()
    {
        _key.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
