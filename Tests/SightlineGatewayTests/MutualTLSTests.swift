import Foundation
import SightlineCore
import SightlineStore
import SightlineClient
import Testing
@testable import SightlineGateway

/// The mTLS matrix, case by case, against a real gateway on loopback with certificates made per run.
@Suite("Mutual TLS and identity", .serialized)
struct MutualTLSTests {
    @Test func trustedListedActiveParticipantIsServed() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            let r = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            #expect(r.status == 201)
            let receipt = try JSONDecoder().decode(Receipt.self, from: r.body)
            #expect(receipt.accepted == 1)
        }
    }

    @Test func clientWithoutCertificateGetsNothing() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        try await p.withGateway { gw in
            // curl as a foreign client, trusting the CA but presenting no certificate.
            let (status, output) = try await runTool(which("curl"), ["-sS", "--cacert", p.dir + "/ca/ca.pem", "-X", "POST",
                                                               "--data-binary", SampleRecords.enrolment(), gw.baseURL + "/v1/submissions"])
            #expect(status != 0, "curl without a client certificate must fail: \(output)")
            #expect(!output.contains("accepted"))
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test func certificateFromAForeignCAIsRefusedInTheHandshake() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let foreign = try PartnershipCA.create(name: "Someone else's CA")
        let impostor = try p.identity(TestPartnership.id(.school, "100001"), issuer: foreign)
        try await p.withGateway { gw in
            await expectHandshakeRefused { try await gw.request(impostor, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8)) }
            let stored = try await gw.state.store.counts().records
            #expect(stored == 0)
        }
    }

    @Test func expiredCertificateIsRefused() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let expired = try p.identity(TestPartnership.id(.school, "100001"),
                                     notValidBefore: Date().addingTimeInterval(-30 * 86_400), notValidAfter: Date().addingTimeInterval(-86_400))
        try await p.withGateway { gw in
            await expectHandshakeRefused { try await gw.request(expired, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8)) }
            let stored = try await gw.state.store.counts().records
            #expect(stored == 0)
        }
    }

    @Test func unknownParticipantGets403AndAnAuditEntry() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let stranger = try p.identity(TestPartnership.id(.school, "999999"))
        try await p.withGateway { gw in
            let r = try await gw.request(stranger, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            #expect(r.status == 403)
            let error = try JSONDecoder().decode(ErrorBody.self, from: r.body)
            #expect(error.error == "participant-unknown")
            let entry = try await lastAuditEntry(gw)
            #expect(entry.decision == .deny && entry.rule == "participant-listed" && entry.actor == "school/999999")
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test func suspendedParticipantGets403() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let suspended = try p.identity(TestPartnership.id(.school, "100009"))
        try await p.withGateway { gw in
            let r = try await gw.request(suspended, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            #expect(r.status == 403)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: r.body).error == "participant-inactive")
            #expect(try await lastAuditEntry(gw).rule == "participant-active")
        }
    }

    @Test func wrongRoleGets403NamingTheRule() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let partner = try p.identity(TestPartnership.id(.partner, "304-cme"))
        try await p.withGateway { gw in
            let r = try await gw.request(partner, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8))
            #expect(r.status == 403)
            let error = try JSONDecoder().decode(ErrorBody.self, from: r.body)
            #expect(error.error == "role-not-allowed")
            #expect(error.message.contains("endpoint-roles"))
            let entry = try await lastAuditEntry(gw)
            #expect(entry.actor == "partner/304-cme" && entry.rule.hasPrefix("endpoint-roles") && entry.decision == .deny)
        }
    }

    @Test func removingAParticipantTakesEffectOnReload() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8)).status == 201)
            let remaining = TestPartnership.participants.filter { $0.identity.id != "100001" }
            try Data(ParticipantRegistry.render(trustDomain: TestPartnership.trustDomain, participants: remaining).utf8)
                .write(to: URL(fileURLWithPath: p.config.participantsPath))
            try gw.state.reloadParticipants()
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("ADM-2").utf8)).status == 403)
        }
    }

    @Test func tls12OnlyClientIsRefused() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            let (status12, output12) = try await runTool(which("openssl"), [
                "s_client", "-connect", "127.0.0.1:\(gw.apiPort)", "-tls1_2", "-CAfile", p.dir + "/ca/ca.pem",
                "-cert", school + "/cert.pem", "-key", school + "/key.pem", "-brief"], input: Data("Q\n".utf8))
            #expect(status12 != 0, "a TLS 1.2 handshake must fail: \(output12)")
            // The same client offering TLS 1.3 completes the handshake: the refusal is about the version.
            let (status13, output13) = try await runTool(which("openssl"), [
                "s_client", "-connect", "127.0.0.1:\(gw.apiPort)", "-tls1_3", "-CAfile", p.dir + "/ca/ca.pem",
                "-cert", school + "/cert.pem", "-key", school + "/key.pem", "-brief"], input: Data("Q\n".utf8))
            #expect(status13 == 0, "TLS 1.3 handshake should succeed: \(output13)")
            #expect(output13.contains("TLSv1.3"))
        }
    }

    @Test func curlWithACertificateSubmits() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            let (status, output) = try await runTool(which("curl"), [
                "-sS", "--tlsv1.3", "--cacert", p.dir + "/ca/ca.pem", "--cert", school + "/cert.pem", "--key", school + "/key.pem",
                "-H", "Content-Type: application/x-ndjson", "-H", "Idempotency-Key: curl-1",
                "--data-binary", SampleRecords.enrolment(), "-w", "\n%{http_code}", gw.baseURL + "/v1/submissions"])
            #expect(status == 0, "\(output)")
            #expect(output.hasSuffix("201"))
            #expect(output.contains("\"accepted\":1"))
        }
    }
}

func lastAuditEntry(_ gw: RunningGateway) async throws -> AuditEntry {
    let count = try await gw.state.store.auditCount()
    let stored = try await gw.state.store.auditEntries(from: count - 1, limit: 1)
    return try AuditEntry.decode(canonical: stored[0].entry)
}

/// The request must fail at the TLS layer: no HTTP status at all.
func expectHandshakeRefused(_ body: () async throws -> GatewayClient.Response) async {
    do {
        let response = try await body()
        Issue.record("expected the TLS handshake to fail, got HTTP \(response.status)")
    } catch {
        // refused: what we want
    }
}
