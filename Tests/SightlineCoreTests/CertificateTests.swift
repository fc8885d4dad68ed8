import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import SightlineCore

@Suite("Partnership CA")
struct CertificateTests {
    static let identity = ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001")

    func der(_ cert: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        return serializer.serializedBytes
    }

    @Test("an issued participant certificate carries its SPIFFE identity and is signed by the CA")
    func participantCertificate() throws {
        let ca = try PartnershipCA.create(name: "Brent test CA", now: Fixture.now)
        let issued = try ca.issueParticipant(Self.identity, now: Fixture.now)
        let cert = try Certificate(pemEncoded: issued.certificatePEM)
        #expect(try PeerIdentity.participant(certificateDER: der(cert), now: Fixture.now).get() == Self.identity)
        #expect(cert.issuer == ca.certificate.subject)
        #expect(ca.certificate.publicKey.isValidSignature(cert.signature, for: cert))
        let usages = try #require(try cert.extensions.extendedKeyUsage)
        #expect(usages.contains(.clientAuth))
        #expect(!usages.contains(.serverAuth), "a participant that receives no pushes cannot serve, so it cannot pose as the gateway")
        #expect(try cert.extensions.basicConstraints == .notCertificateAuthority)
        #expect(cert.notValidBefore <= Fixture.now && Fixture.now < cert.notValidAfter)
        // The private key in the PEM is the one the certificate certifies.
        let key = try P256.Signing.PrivateKey(pemRepresentation: issued.privateKeyPEM)
        #expect(cert.publicKey == Certificate.PublicKey(key.publicKey))
    }

    @Test("a participant that receives pushes (--serves) carries serverAuth as well")
    func servingParticipantCertificate() throws {
        let ca = try PartnershipCA.create(name: "Brent test CA", now: Fixture.now)
        let cert = try Certificate(pemEncoded: try ca.issueParticipant(Self.identity, serves: true, now: Fixture.now).certificatePEM)
        let usages = try #require(try cert.extensions.extendedKeyUsage)
        #expect(usages.contains(.clientAuth) && usages.contains(.serverAuth))
        #expect(try PeerIdentity.check(certificateDER: der(cert), expecting: .receiver(Self.identity), now: Fixture.now).get().uri == Self.identity.uri)
    }

    @Test("the CA is a CA, and survives a PEM round trip")
    func caCertificate() throws {
        let ca = try PartnershipCA.create(name: "Brent test CA", now: Fixture.now)
        #expect(try ca.certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let reloaded = try Certificate(pemEncoded: ca.certificatePEM)
        #expect(reloaded == ca.certificate)
        let key = try P256.Signing.PrivateKey(pemRepresentation: ca.privateKeyPEM)
        #expect(reloaded.publicKey == Certificate.PublicKey(key.publicKey))
    }

    @Test("a certificate from another CA is not signed by ours")
    func otherCA() throws {
        let ours = try PartnershipCA.create(name: "ours")
        let theirs = try PartnershipCA.create(name: "theirs")
        let cert = try Certificate(pemEncoded: try theirs.issueParticipant(Self.identity).certificatePEM)
        #expect(!ours.certificate.publicKey.isValidSignature(cert.signature, for: cert))
    }

    @Test("the gateway certificate serves and also pushes forwards as a client")
    func gatewayCertificate() throws {
        let ca = try PartnershipCA.create(name: "Brent test CA", now: Fixture.now)
        let issued = try ca.issueGateway(trustDomain: "brent.sightline", hostnames: ["localhost"], ipAddresses: [[127, 0, 0, 1]], now: Fixture.now)
        let cert = try Certificate(pemEncoded: issued.certificatePEM)
        let usages = try #require(try cert.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth))
        #expect(usages.contains(.clientAuth))
        let sans = try #require(try cert.extensions.subjectAlternativeNames)
        #expect(sans.contains(.dnsName("localhost")))
        #expect(sans.contains(.uniformResourceIdentifier("spiffe://brent.sightline/gateway/main")))
        #expect(ca.certificate.publicKey.isValidSignature(cert.signature, for: cert))
    }

    @Test("bytes that are not a certificate carry no identity")
    func garbage() {
        for bytes in [[], Array("not a certificate".utf8)] {
            #expect(throws: PeerRefusal(.notACertificate, "the peer's certificate is not a DER X.509 certificate")) {
                try PeerIdentity.participant(certificateDER: bytes, now: Fixture.now).get()
            }
        }
    }

    @Test("the CA saved to a directory loads back and issues certificates it verifies")
    func loadFromDirectory() throws {
        let ca = try PartnershipCA.create(name: "Brent test CA")
        try withTemporaryDirectory { dir in
            try ca.certificatePEM.write(to: dir.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
            try ca.privateKeyPEM.write(to: dir.appendingPathComponent("ca-key.pem"), atomically: true, encoding: .utf8)
            let loaded = try PartnershipCA.load(directory: dir.path)
            let cert = try Certificate(pemEncoded: try loaded.issueParticipant(Self.identity).certificatePEM)
            #expect(ca.certificate.publicKey.isValidSignature(cert.signature, for: cert))
            let empty = dir.appendingPathComponent("empty").path
            let error = try #require(sightlineError { _ = try PartnershipCA.load(directory: empty) })
            #expect(error.code == .certificate)
            #expect(error.message.contains("sightline certs init-ca"))
        }
    }
}
