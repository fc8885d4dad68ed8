import Crypto
import SwiftASN1
import Foundation
import SightlineClient
import SightlineStore
import SightlineTLS
import Testing
import X509
@testable import SightlineCore
@testable import SightlineGateway

/// The certificate attacks of issue 9, end to end over real mTLS: hostile identities get 403 with
/// nothing stored, hostile key usage fails the handshake, and `sightline` refuses a server that
/// is not the gateway. (Every URI shape is in SightlineCoreTests/PeerIdentityTests.)
@Suite("Certificate attacks", .serialized)
struct CertificateAttackTests {
    static func uri(_ text: String) -> GeneralName { .uniformResourceIdentifier(text) }
    static let school = TestPartnership.id(.school, "100001").uri

    /// The attacker's client is curl: `sightline` itself will not present a certificate without a SPIFFE ID.
    static func curlSubmit(_ identity: String, _ p: TestPartnership, _ gw: RunningGateway) async throws -> (status: Int, body: String) {
        let (exit, output) = try await runTool(which("curl"), [
            "-sS", "--tlsv1.3", "--cacert", p.dir + "/ca/ca.pem", "--cert", identity + "/cert.pem", "--key", identity + "/key.pem",
            "-H", "Content-Type: application/x-ndjson", "--data-binary", SampleRecords.enrolment(), "-w", "\n%{http_code}",
            gw.baseURL + "/v1/submissions"])
        guard exit == 0, let last = output.split(separator: "\n").last, let status = Int(last) else {
            throw TestFailure("curl failed (\(exit)): \(output)")
        }
        return (status, output)
    }

    @Test("a hostile identity gets 403 and nothing is stored", arguments: [
        ("two URI SANs, only one a SPIFFE ID", [uri(school), uri("https://test.sightline/school/100001")]),
        ("two SPIFFE IDs", [uri(school), uri(TestPartnership.id(.school, "100002").uri)]),
        ("uppercase trust domain", [uri("spiffe://TEST.sightline/school/100001")]),
        ("percent-encoded id", [uri("spiffe://test.sightline/school/10000%31")]),
        ("trailing dot", [uri("spiffe://test.sightline./school/100001")]),
        ("DNS name only", [GeneralName.dnsName("localhost")]),
    ] as [(String, [GeneralName])])
    func hostileIdentity(_ name: String, _ sans: [GeneralName]) async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let hostile = try p.hostileIdentity(sans: sans)
        try await p.withGateway { gw in
            let (status, body) = try await Self.curlSubmit(hostile, p, gw)
            #expect(status == 403, "\(name): \(body)")
            #expect(body.contains("\"no-identity\""), "\(name): \(body)")
            #expect(try await lastAuditEntry(gw).rule == "certificate-identity", "\(name)")
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test("a SPIFFE ID only in the common name, or the gateway's own certificate, is no participant")
    func commonNameAndGatewayCertificate() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let cnOnly = try p.hostileIdentity(sans: nil, commonName: Self.school)
        try await p.withGateway { gw in
            for identity in [cnOnly, p.dir + "/gateway"] {
                let (status, body) = try await Self.curlSubmit(identity, p, gw)
                #expect(status == 403, "\(identity): \(body)")
            }
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test("a certificate whose only usage is serverAuth fails the handshake")
    func serverOnlyUsage() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let serverOnly = try p.hostileIdentity(sans: [Self.uri(Self.school)], usages: [.serverAuth])
        try await p.withGateway { gw in
            await expectHandshakeRefused { try await gw.request(serverOnly, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8)) }
            let stored = try await gw.state.store.counts().records
            #expect(stored == 0)
        }
    }

    @Test("sightline refuses a server that is a participant, even one valid for the address, before sending anything")
    func clientRefusesAParticipantPosingAsTheGateway() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        // A participant that receives pushes, from the same CA, whose certificate even names
        // 127.0.0.1 and localhost: hostname checks alone would let it pose as the gateway.
        let impostor = try p.hostileIdentity(sans: [Self.uri(TestPartnership.id(.partner, "304-cme").uri), .dnsName("localhost"),
                                                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))],
                                             usages: [.clientAuth, .serverAuth])
        let out = p.dir + "/impostor.ndjson"
        try await ForwardReceiver.withRunning(.init(identityDirectory: impostor, outputPath: out)) { _, port in
            let client = try GatewayClient(baseURL: "https://127.0.0.1:\(port)", identityDirectory: school)
            do {
                let r = try await client.request(.POST, "/v1/submissions", body: Data(SampleRecords.enrolment().utf8), timeout: .seconds(20))
                Issue.record("the client talked to a participant posing as the gateway: HTTP \(r.status)")
            } catch let failure as PartnershipHTTPClient.Failure {
                #expect(failure.refusal?.code == .unexpectedPeer, "\(failure)")
                #expect(failure.description.contains("not the gateway"), "\(failure)")
            }
            try await client.shutdown()
        }
    }
}

extension TestPartnership {
    /// An identity directory whose certificate, from this partnership's CA, has exactly these SANs
    /// (nil: no SAN extension) and usages: shapes `PartnershipCA` would never issue.
    func hostileIdentity(sans: [GeneralName]?, usages: [ExtendedKeyUsage.Usage] = [.clientAuth], commonName: String = "hostile") throws -> String {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(commonName) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage(usages)
            if let sans { SubjectAlternativeNames(sans) }
        }
        let now = Date()
        let cert = try Certificate(version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                                   notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86_400),
                                   issuer: ca.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                                   extensions: extensions, issuerPrivateKey: .init(ca.privateKey))
        let path = "\(dir)/identities/hostile-\(UUID().uuidString.prefix(8))"
        try IdentityDirectory.write(.init(certificatePEM: try cert.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation),
                                    caPEM: ca.certificatePEM, to: path)
        return path
    }
}
