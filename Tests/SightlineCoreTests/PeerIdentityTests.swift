import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
@testable import SightlineCore

/// The one peer-identity check, case by case: certificates of every hostile shape a security
/// review tried (issue 9, "Attacks that held"), made per run, judged at a fixed `now`.
@Suite("Peer identity")
struct PeerIdentityTests {
    static let ca = try! PartnershipCA.create(name: "Peer identity test CA", now: Fixture.now)
    static let school = ParticipantIdentity(trustDomain: "brent.sightline", role: .school, id: "100001")

    /// A leaf from the test CA with exactly these SANs (none: no SAN extension at all).
    static func certificate(sans: [GeneralName]?, commonName: String = "test", usages: [ExtendedKeyUsage.Usage] = [.clientAuth],
                            notValidBefore: Date = Fixture.now.addingTimeInterval(-300),
                            notValidAfter: Date = Fixture.now.addingTimeInterval(86_400), issuer: PartnershipCA = ca) throws -> [UInt8] {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(commonName) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage(usages)
            if let sans { SubjectAlternativeNames(sans) }
        }
        let cert = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                                   notValidBefore: notValidBefore, notValidAfter: notValidAfter,
                                   issuer: issuer.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                                   extensions: extensions, issuerPrivateKey: .init(issuer.privateKey))
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        return serializer.serializedBytes
    }

    static func uri(_ text: String) -> GeneralName { .uniformResourceIdentifier(text) }

    static func refusal(_ der: [UInt8], _ expecting: PeerExpectation = .participantClient) -> PeerRefusal.Code? {
        if case .failure(let refusal) = PeerIdentity.check(certificateDER: der, expecting: expecting, now: Fixture.now) { return refusal.code }
        return nil
    }

    @Test("a well-formed participant certificate gives its identity")
    func accepted() throws {
        let der = try Self.certificate(sans: [Self.uri(Self.school.uri)])
        #expect(try PeerIdentity.participant(certificateDER: der, now: Fixture.now).get() == Self.school)
    }

    /// Each URI SAN shape is refused; the code says which rule refused it.
    @Test("hostile URI shapes are refused", arguments: [
        ("spiffe://brent.sightline/school/100001 twice over", [uri("spiffe://brent.sightline/school/100001"), uri("spiffe://brent.sightline/school/100002")], PeerRefusal.Code.severalURISANs),
        ("a SPIFFE ID beside another URI", [uri("spiffe://brent.sightline/school/100001"), uri("https://brent.example/school")], .severalURISANs),
        ("a SPIFFE ID beside a broken one", [uri("spiffe://brent.sightline/school/100001"), uri("spiffe://brent.sightline/School/1")], .severalURISANs),
        ("uppercase trust domain", [uri("spiffe://BRENT.sightline/school/100001")], .notSPIFFE),
        ("uppercase scheme", [uri("SPIFFE://brent.sightline/school/100001")], .notSPIFFE),
        ("uppercase role", [uri("spiffe://brent.sightline/School/100001")], .notSPIFFE),
        ("unknown role", [uri("spiffe://brent.sightline/teacher/100001")], .notAParticipant),
        ("the gateway's role", [uri("spiffe://brent.sightline/gateway/main")], .notAParticipant),
        ("percent-encoded id", [uri("spiffe://brent.sightline/school/10%30001")], .notSPIFFE),
        ("percent-encoded slash", [uri("spiffe://brent.sightline/school%2F100001")], .notSPIFFE),
        ("percent-encoded trust domain", [uri("spiffe://brent%2Esightline/school/100001")], .notSPIFFE),
        ("trailing dot in the trust domain", [uri("spiffe://brent.sightline./school/100001")], .notSPIFFE),
        ("empty label in the trust domain", [uri("spiffe://brent..sightline/school/100001")], .notSPIFFE),
        ("port", [uri("spiffe://brent.sightline:443/school/100001")], .notSPIFFE),
        ("userinfo", [uri("spiffe://admin@brent.sightline/school/100001")], .notSPIFFE),
        ("trailing slash", [uri("spiffe://brent.sightline/school/100001/")], .notSPIFFE),
        ("extra segment", [uri("spiffe://brent.sightline/school/100001/extra")], .notSPIFFE),
        ("dot-dot segment", [uri("spiffe://brent.sightline/school/../partner/304-cme")], .notSPIFFE),
        ("dot-dot id", [uri("spiffe://brent.sightline/school/..")], .notSPIFFE),
        ("empty segment", [uri("spiffe://brent.sightline//school/100001")], .notSPIFFE),
        ("query", [uri("spiffe://brent.sightline/school/100001?role=partner")], .notSPIFFE),
        ("fragment", [uri("spiffe://brent.sightline/school/100001#x")], .notSPIFFE),
        ("NUL in the id", [uri("spiffe://brent.sightline/school/100001\u{0}/partner")], .notSPIFFE),
        // Cyrillic cannot be put in an IA5String SAN with swift-certificates (ParticipantTests checks
        // the URI itself); a certificate carrying such bytes anyway does not parse (notACertificate).
        ("id of 65 characters", [uri("spiffe://brent.sightline/school/" + String(repeating: "1", count: 65))], .notSPIFFE),
        ("DNS name only", [GeneralName.dnsName("school-100001.brent.sightline")], .noURISAN),
        ("DNS name holding the SPIFFE ID", [GeneralName.dnsName("spiffe://brent.sightline/school/100001")], .noURISAN),
    ] as [(String, [GeneralName], PeerRefusal.Code)])
    func hostileURIs(_ name: String, _ sans: [GeneralName], _ code: PeerRefusal.Code) throws {
        #expect(Self.refusal(try Self.certificate(sans: sans)) == code, "\(name)")
    }

    @Test("no SAN, or a SPIFFE ID only in the common name, is no identity")
    func noSAN() throws {
        #expect(Self.refusal(try Self.certificate(sans: nil)) == .noURISAN)
        #expect(Self.refusal(try Self.certificate(sans: nil, commonName: Self.school.uri)) == .noURISAN)
    }

    @Test("a certificate is judged at the injected time")
    func validity() throws {
        let der = try Self.certificate(sans: [Self.uri(Self.school.uri)])
        let at = { (t: Date) in PeerIdentity.participant(certificateDER: der, now: t) }
        #expect(throws: Never.self) { try at(Fixture.now).get() }
        #expect(throws: PeerRefusal.self) { try at(Fixture.now.addingTimeInterval(2 * 86_400)).get() }
        #expect(throws: PeerRefusal.self) { try at(Fixture.now.addingTimeInterval(-3_600)).get() }
        let expired = { () -> PeerRefusal.Code? in
            if case .failure(let r) = at(Fixture.now.addingTimeInterval(2 * 86_400)) { return r.code } else { return nil }
        }
        #expect(expired() == .expired)
    }

    @Test("key usage: a caller needs clientAuth, a server serverAuth")
    func keyUsage() throws {
        let serverOnly = try Self.certificate(sans: [Self.uri(Self.school.uri)], usages: [.serverAuth])
        #expect(Self.refusal(serverOnly) == .keyUsage)
        let clientOnly = try Self.certificate(sans: [Self.uri(Self.school.uri)], usages: [.clientAuth])
        #expect(Self.refusal(clientOnly, .receiver(Self.school)) == .keyUsage)
    }

    @Test("the client side: only the gateway of its own trust domain is the gateway")
    func gatewayServer() throws {
        let expecting = PeerExpectation.gatewayServer(trustDomain: "brent.sightline")
        let gateway = try Self.certificate(sans: [Self.uri("spiffe://brent.sightline/gateway/main"), .dnsName("localhost")], usages: [.serverAuth, .clientAuth])
        #expect(Self.refusal(gateway, expecting) == nil)
        // A participant that may serve (it receives pushes) is still not the gateway.
        let participant = try Self.certificate(sans: [Self.uri(Self.school.uri), .dnsName("localhost")], usages: [.serverAuth, .clientAuth])
        #expect(Self.refusal(participant, expecting) == .unexpectedPeer)
        let otherDomain = try Self.certificate(sans: [Self.uri("spiffe://camden.sightline/gateway/main")], usages: [.serverAuth])
        #expect(Self.refusal(otherDomain, expecting) == .unexpectedPeer)
    }

    @Test("the gateway's push goes only to the participant it is for")
    func receiver() throws {
        let other = try Self.certificate(sans: [Self.uri("spiffe://brent.sightline/school/100002")], usages: [.serverAuth, .clientAuth])
        #expect(Self.refusal(other, .receiver(Self.school)) == .unexpectedPeer)
        let right = try Self.certificate(sans: [Self.uri(Self.school.uri)], usages: [.serverAuth, .clientAuth])
        #expect(Self.refusal(right, .receiver(Self.school)) == nil)
        let gatewayID = SPIFFEID(trustDomain: "brent.sightline", kind: "gateway", id: "main")
        #expect(Self.refusal(right, .gatewayClient(gatewayID)) == .unexpectedPeer)
    }

    @Test("a client's trust is exactly the partnership CA, judged at the injected time")
    func chain() async throws {
        let trust = PartnershipTrust(roots: [Self.ca.certificate])
        let ours = try Self.certificate(sans: [Self.uri(Self.school.uri)])
        #expect(try await trust.verify(chainDER: [ours], expecting: .participantClient, now: Fixture.now).get() == SPIFFEID(trustDomain: "brent.sightline", kind: "school", id: "100001"))
        let foreignCA = try PartnershipCA.create(name: "someone else", now: Fixture.now)
        let theirs = try Self.certificate(sans: [Self.uri(Self.school.uri)], issuer: foreignCA)
        guard case .failure(let refusal) = await trust.verify(chainDER: [theirs], expecting: .participantClient, now: Fixture.now) else {
            Issue.record("a certificate from another CA was trusted"); return
        }
        #expect(refusal.code == .untrustedChain)
        guard case .failure(let none) = await trust.verify(chainDER: [], expecting: .participantClient, now: Fixture.now) else {
            Issue.record("no certificate was trusted"); return
        }
        #expect(none.code == .notACertificate)
    }

    @Test("a refusal never repeats what the peer presented")
    func reasonsCarryNoPresentedText() throws {
        let der = try Self.certificate(sans: [Self.uri("spiffe://brent.sightline/school/9434765919"), Self.uri("https://x/9434765919")])
        guard case .failure(let refusal) = PeerIdentity.check(certificateDER: der, expecting: .participantClient, now: Fixture.now) else {
            Issue.record("accepted"); return
        }
        #expect(!refusal.description.contains("9434765919"))
    }
}
