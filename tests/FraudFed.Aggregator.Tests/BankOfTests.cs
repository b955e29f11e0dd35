// The roster index of a client certificate (LoadedAggregatorConfig.BankOf), which the Federation service asks on every call
// and keeps per certificate object: the kept answer is the one the fingerprint gives, for every object of the same bytes,
// and a certificate the roster does not pin stays refused however often it is asked.
using System.Security.Cryptography.X509Certificates;
using FraudFed.Aggregator.Hosting;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class BankOfTests
{
    [Test]
    public async Task BankOf_AnswersEveryCallAsTheFingerprintDoes_PinnedOrNot()
    {
        await using ApplianceKit kit = ApplianceKit.Create("masking", banks: 3);
        using LoadedAggregatorConfig config = AggregatorConfig.Load(kit.ConfigPath);
        for (int i = 0; i < kit.Banks; i++)
        {
            using LoadedBankConfig bank = BankConfig.Load(kit.BankConfigPath(i));
            Assert.That(config.BankOf(bank.Certificate), Is.EqualTo(i), "first call");
            Assert.That(config.BankOf(bank.Certificate), Is.EqualTo(i), "the same object again");
            using X509Certificate2 copy = X509CertificateLoader.LoadCertificate(bank.Certificate.RawData);
            Assert.That(config.BankOf(copy), Is.EqualTo(i), "another object of the same bytes");
        }
        // The appliance's own certificate is not a bank's: refused on every call, not only the first.
        Assert.That(config.BankOf(config.ServerCertificate), Is.EqualTo(-1));
        Assert.That(config.BankOf(config.ServerCertificate), Is.EqualTo(-1));
        Assert.That(config.BankOf(null), Is.EqualTo(-1));
    }
}
