// Loading a bank's or the appliance's certificate with its key (TlsFiles): a certificate paired with another certificate's key,
// or a file that is not PEM, is a configuration error naming the files and the fix, never the runtime's own sentence.
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk;
using FraudFed.Sdk.Configuration;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed class TlsFilesTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "fraudfed-tlsfiles-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6))));

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private (string Certificate, string Key) Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        string certificatePath = Path.Combine(_dir, name + ".crt.pem"), keyPath = Path.Combine(_dir, name + ".key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    [Test]
    public void ACertificateWithItsOwnKey_Loads_WithThePrivateKey()
    {
        var a = Issue("bank-0");
        using X509Certificate2 loaded = TlsFiles.LoadCertificateWithKey(a.Certificate, a.Key);
        Assert.That(loaded.HasPrivateKey, Is.True);
    }

    [Test]
    public void ACertificateWithAnotherCertificatesKey_IsAConfigurationError_NamingBothFilesAndTheFix()
    {
        var a = Issue("bank-0");
        var b = Issue("bank-1");
        var e = Assert.Throws<ConfigurationException>(() => TlsFiles.LoadCertificateWithKey(a.Certificate, b.Key))!;
        Assert.That(e.Message, Is.EqualTo($"{b.Key} is not the private key of {a.Certificate}: use the certificate and the key issued together " +
            "(the 'certificate' and 'key' settings of the configuration)."));
    }

    [Test]
    public void AFileThatIsNotPem_IsAConfigurationError_WithoutTheRuntimesSentence()
    {
        var a = Issue("bank-0");
        File.WriteAllText(a.Certificate, "not a certificate");
        var e = Assert.Throws<ConfigurationException>(() => TlsFiles.LoadCertificateWithKey(a.Certificate, a.Key))!;
        Assert.That(e.Message, Does.StartWith($"{a.Certificate} with {a.Key}: not a PEM certificate and its matching PEM (PKCS#8) private key;"));
        Assert.That(e.Message, Does.Not.Contain("label").And.Not.Contain("malformed"));
        var single = Assert.Throws<ConfigurationException>(() => TlsFiles.LoadCertificate(a.Certificate))!;
        Assert.That(single.Message, Is.EqualTo($"{a.Certificate}: not a PEM certificate (a file with a '-----BEGIN CERTIFICATE-----' block)."));
    }
}
