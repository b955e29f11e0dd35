// PEM certificate and key files, and the checks both ends of the mutual-TLS connection make (SPEC.md 14.5):
// the appliance pins each bank's client certificate by its SHA-256 fingerprint; a bank trusts only the authority named
// in its configuration for the appliance's server certificate.
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FraudFed.Sdk.Configuration;

namespace FraudFed.Sdk;

/// <summary>Loading PEM files and checking peer certificates.</summary>
public static class TlsFiles
{
    /// <summary>A PEM certificate.</summary>
    /// <exception cref="ConfigurationException">missing, unreadable or not a PEM certificate.</exception>
    public static X509Certificate2 LoadCertificate(string path)
    {
        if (!File.Exists(path)) throw new ConfigurationException($"{path}: no such certificate file.");
        try { return X509Certificate2.CreateFromPem(File.ReadAllText(path)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException(ConfigJson.Unreadable(path, "certificate", e)); }
        catch (CryptographicException) { throw new ConfigurationException($"{path}: not a PEM certificate (a file with a '-----BEGIN CERTIFICATE-----' block)."); }
    }

    /// <summary>A PEM certificate with its PEM (PKCS#8) private key.</summary>
    /// <exception cref="ConfigurationException">a file is missing, unreadable or not PEM, or the key is not the certificate's.</exception>
    public static X509Certificate2 LoadCertificateWithKey(string certificatePath, string keyPath)
    {
        if (!File.Exists(certificatePath)) throw new ConfigurationException($"{certificatePath}: no such certificate file.");
        if (!File.Exists(keyPath)) throw new ConfigurationException($"{keyPath}: no such key file.");
        foreach ((string file, string what) in new[] { (certificatePath, "certificate"), (keyPath, "key") })
        {
            try { using FileStream readable = File.OpenRead(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigurationException(ConfigJson.Unreadable(file, what, e)); }
        }
        try { return X509Certificate2.CreateFromPemFile(certificatePath, keyPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(ConfigJson.Unreadable(File.Exists(keyPath) && !CanRead(keyPath) ? keyPath : certificatePath, File.Exists(keyPath) && !CanRead(keyPath) ? "key" : "certificate", e));
        }
        catch (ArgumentException)
        {
            // CopyWithPrivateKey: both files parse, but the key is not the certificate's.
            throw new ConfigurationException($"{keyPath} is not the private key of {certificatePath}: use the certificate and the key issued " +
                "together (the 'certificate' and 'key' settings of the configuration).");
        }
        catch (CryptographicException)
        {
            throw new ConfigurationException($"{certificatePath} with {keyPath}: not a PEM certificate and its matching PEM (PKCS#8) " +
                "private key; use the certificate and the key issued together (the 'certificate' and 'key' settings of the configuration).");
        }
    }

    private static bool CanRead(string path)
    {
        try { using FileStream readable = File.OpenRead(path); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>The SHA-256 fingerprint of a certificate's DER encoding, lowercase hex (what the roster pins).</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
    }

    /// <summary>True when <paramref name="certificate"/> chains to <paramref name="authority"/> alone (custom trust store, no
    /// revocation check: development and private PKIs) and is valid now.</summary>
    public static bool IssuedBy(X509Certificate2 certificate, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>A server-certificate check for a bank: the certificate must chain to <paramref name="authority"/> and match the
    /// host name; the operating system's trust store is not consulted.</summary>
    public static RemoteCertificateValidationCallback ServerValidator(X509Certificate2 authority) =>
        (_, certificate, _, errors) =>
        {
            if (certificate is null) return false;
            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return false;
            using var c = new X509Certificate2(certificate);
            return IssuedBy(c, authority);
        };
}
