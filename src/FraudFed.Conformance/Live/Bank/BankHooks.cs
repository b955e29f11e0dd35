// How the bank refusal checks build the banks they face. BankRefusalChecks.RunAsync uses the honest production parties
// (Honest); the conformance tests compose deliberately weakened banks from the same public parts (a permissive ledger, a
// filter in front of the bank's transport, another roster copy) to show that each check can fail. Nothing here changes a
// production type.
using FraudFed.Cryptography.Primitives;
using FraudFed.Protocol.Coordination;
using FraudFed.Protocol.Homomorphic;

namespace FraudFed.Conformance.Live.Bank;

/// <summary>What a bank hook may see: the bank's index, every identity key of the test deployment (test doubles only), and in
/// the homomorphic mode the roster the bank was built with.</summary>
internal sealed record BankContext(int Bank, IReadOnlyList<Ed25519SigningKey> Identities, HomomorphicRoster? HeRoster);

/// <summary>Builders of the banks under test; every default is the honest production part.</summary>
internal sealed record BankHooks
{
    /// <summary>The honest banks.</summary>
    public static BankHooks Honest { get; } = new();

    /// <summary>A homomorphic bank's decryption ledger.</summary>
    public Func<int, IDecryptionLedger> HeLedger { get; init; } = _ => new InMemoryDecryptionLedger();

    /// <summary>The roster a homomorphic bank is built with, from the deployment's roster.</summary>
    public Func<int, HomomorphicRoster, HomomorphicRoster> HeRoster { get; init; } = (_, roster) => roster;

    /// <summary>The transport a homomorphic bank's client speaks through, from the deployment's transport.</summary>
    public Func<BankContext, IBankTransport, IBankTransport> HeTransport { get; init; } = (_, transport) => transport;

    /// <summary>The transport a masking bank's client speaks through, from the deployment's transport.</summary>
    public Func<BankContext, IBankTransport, IBankTransport> MaskingTransport { get; init; } = (_, transport) => transport;
}
