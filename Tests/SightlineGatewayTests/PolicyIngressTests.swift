import Foundation
import GRDB
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

@Suite("Policy at ingress and operations", .serialized)
struct PolicyIngressTests {
    @Test func fieldsNoPurposeUsesAreDroppedBeforeStorage() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        // A policy in which no purpose uses freeSchoolMeals (the shipped s17 does).
        let policy = p.dir + "/policy"
        try FileManager.default.copyItem(atPath: TestPartnership.repoRoot + "/Policies", toPath: policy)
        let s17 = policy + "/purposes/s17.yaml"
        let text = try String(contentsOfFile: s17, encoding: .utf8)
        try text.replacingOccurrences(of: "youngCarer, freeSchoolMeals,", with: "youngCarer,").write(toFile: s17, atomically: true, encoding: .utf8)
        p.config.policyDirectory = policy
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            let body = Data(SampleRecords.enrolment(extraFields: ",\"freeSchoolMeals\":true").utf8)
            let receipt = try JSONDecoder().decode(Receipt.self, from: try await gw.request(school, "POST", "/v1/submissions", body: body).body)
            #expect(receipt.accepted == 1)
            #expect(receipt.droppedFields["school.enrolment"] == ["freeSchoolMeals"])
            #expect(receipt.rules["minimise-at-ingress:school.enrolment"] == 1)
            let store = try #require(gw.state.store as? SQLiteStore)
            let stored = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT fields FROM record") }
            #expect(stored.count == 1)
            #expect(!stored[0].contains("freeSchoolMeals") && stored[0].contains("youngCarer"))
            let entry = try await lastAuditEntry(gw)
            #expect(entry.detail["dropped"] == "school.enrolment:freeSchoolMeals")
            #expect(entry.policyVersion == gw.state.policy.version)
        }
    }

    @Test func opsListenerServesHealthReadinessAndMetrics() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            _ = try await gw.request(school, "POST", "/v1/submissions", body: Data(ndjson: [SampleRecords.enrolment(), SampleRecords.enrolment("B", upn: "bad")]))
            let ops = "http://127.0.0.1:\(gw.opsPort)"
            #expect(try await runTool(which("curl"), ["-sf", ops + "/healthz"]).output == "ok\n")
            #expect(try await runTool(which("curl"), ["-sf", ops + "/readyz"]).output == "ready\n")
            let metrics = try await runTool(which("curl"), ["-sf", ops + "/metrics"]).output
            #expect(metrics.contains("sightline_records_accepted_total 1"))
            #expect(metrics.contains("sightline_records_rejected_total 1"))
            #expect(metrics.contains("sightline_requests_total{status=\"201\"} 1"))
            #expect(metrics.contains("sightline_request_duration_seconds_bucket"))
            #expect(metrics.contains("sightline_audit_entries 1"))
            // One record linked, into an empty store: no candidates.
            func gauge(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
            }
            #expect(gauge("sightline_linkage_records_linked_total") == 1, "\(metrics)")
            #expect(gauge("sightline_linkage_candidate_subjects_total") == 0)
            #expect(gauge("sightline_linkage_candidate_records_total") == 0)
        }
    }
}
