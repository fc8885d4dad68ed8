import Crypto
import Foundation
import SwiftASN1
import X509

/// The partnership's certificate authority, for dev mode and small partnerships: P-256 keys,
/// participant certificates whose URI SAN is the participant's SPIFFE identity.
/// An organisation with its own PKI can issue the same certificates with openssl (certs/README.md).
public struct PartnershipCA: Sendable {
    public let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    /// A PEM certificate and its PEM private key.
    public struct IssuedIdentity: Sendable {
        public let certificatePEM: String
        public let privateKeyPEM: String
    }

    public static func create(name: String, now: Date = Date(), validityDays: Int = 3650) throws -> PartnershipCA {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Sightline partnership")
            CommonName(name)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
        }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return PartnershipCA(certificate: cert, privateKey: key)
    }

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate; self.privateKey = privateKey
    }

    /// Loads `ca.pem` and `ca-key.pem` from a CA directory.
    public static func load(directory: String) throws(SightlineError) -> PartnershipCA {
        guard let certPEM = try? String(contentsOfFile: directory + "/ca.pem", encoding: .utf8),
              let keyPEM = try? String(contentsOfFile: directory + "/ca-key.pem", encoding: .utf8) else {
            throw SightlineError(.certificate, "\(directory) holds no CA (ca.pem and ca-key.pem); create one with `sightline certs init-ca --dir \(directory)`")
        }
        do {
            return PartnershipCA(certificate: try Certificate(pemEncoded: certPEM), privateKey: try P256.Signing.PrivateKey(pemRepresentation: keyPEM))
        } catch {
            throw SightlineError(.certificate, "\(directory)/ca.pem or ca-key.pem is not a PEM P-256 certificate and key")
        }
    }

    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }
    public var privateKeyPEM: String { privateKey.pemRepresentation }

    /// Writes `ca.pem` and `ca-key.pem` (0600) into `directory`. The key signs every identity of the
    /// partnership: outside dev mode it belongs offline, never on the gateway host.
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data(certificatePEM.utf8).write(to: URL(fileURLWithPath: directory + "/ca.pem"))
        try OwnerOnlyFile.write(Data(privateKeyPEM.utf8), to: directory + "/ca-key.pem", what: "CA private key")
    }

    /// A participant's certificate carrying `spiffe://<domain>/<role>/<id>`: clientAuth to call the
    /// gateway; serverAuth only if it `serves`, i.e. receives pushed forwards (`sightline partner
    /// listen`). A certificate that cannot serve cannot pose as a TLS server to anyone in the partnership.
    public func issueParticipant(_ identity: ParticipantIdentity, serves: Bool = false, now: Date = Date(), validityDays: Int = 397,
                                 notValidBefore: Date? = nil, notValidAfter: Date? = nil) throws -> IssuedIdentity {
        try issue(commonName: identity.shortName, sans: [.uniformResourceIdentifier(identity.uri)],
                  usages: serves ? [.clientAuth, .serverAuth] : [.clientAuth], now: now, validityDays: validityDays,
                  notValidBefore: notValidBefore, notValidAfter: notValidAfter)
    }

    /// The gateway's certificate: serverAuth for its listener, clientAuth for pushing forwards.
    public func issueGateway(trustDomain: String, hostnames: [String], ipAddresses: [[UInt8]], now: Date = Date()) throws -> IssuedIdentity {
        var sans: [GeneralName] = [.uniformResourceIdentifier("spiffe://\(trustDomain)/gateway/main")]
        sans += hostnames.map { .dnsName($0) }
        sans += ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        return try issue(commonName: "sightline-gateway", sans: sans, usages: [.serverAuth, .clientAuth], now: now, validityDays: 397)
    }

    func issue(commonName: String, sans: [GeneralName], usages: [ExtendedKeyUsage.Usage], now: Date, validityDays: Int,
               notValidBefore: Date? = nil, notValidAfter: Date? = nil) throws -> IssuedIdentity {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Sightline partnership")
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage(usages)
            SubjectAlternativeNames(sans)
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: notValidBefore ?? now.addingTimeInterval(-300),
            notValidAfter: notValidAfter ?? now.addingTimeInterval(Double(validityDays) * 86_400),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(privateKey))
        return IssuedIdentity(certificatePEM: try cert.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }
}

/// Writes identity files (cert.pem, key.pem at mode 0600, ca.pem): the layout `--identity` reads.
public enum IdentityDirectory {
    public static func write(_ identity: PartnershipCA.IssuedIdentity, caPEM: String, to directory: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data(identity.certificatePEM.utf8).write(to: URL(fileURLWithPath: directory + "/cert.pem"))
        try Data(caPEM.utf8).write(to: URL(fileURLWithPath: directory + "/ca.pem"))
        try OwnerOnlyFile.write(Data(identity.privateKeyPEM.utf8), to: directory + "/key.pem", what: "private key")
    }
}
