import Foundation
import SightlineCore
import SightlineStore
import Testing
@testable import SightlineGateway

@Suite("Submissions", .serialized)
struct SubmissionTests {
    @Test func partialRejectionKeepsEveryValidRecordAndNamesLineFieldReason() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let body = Data(ndjson: [
            SampleRecords.enrolment("A-1"),
            SampleRecords.enrolment("A-2", upn: "A801200005001"),          // wrong check letter
            "{not json",
            SampleRecords.enrolment("A-4", upn: "B801200005001", given: "Bola", family: "Adeyemi", dob: "2013-05-01"),
            SampleRecords.enrolment("A-5", upn: "A950000178301", given: "Cara", family: "Byrne", dob: "2015-01-02",
                                    extraFields: ",\"offRollReason\":\"cme\""),  // reason without offRollOn
        ])
        try await p.withGateway { gw in
            let r = try await gw.request(school, "POST", "/v1/submissions", body: body)
            #expect(r.status == 201)
            let receipt = try JSONDecoder().decode(Receipt.self, from: r.body)
            #expect(receipt.records == 5 && receipt.accepted == 2 && receipt.rejectedCount == 3)
            let byLine = Dictionary(uniqueKeysWithValues: receipt.rejected.map { ($0.line, $0) })
            #expect(byLine[2]?.field == "identifiers.upn")
            #expect(byLine[2]?.localRef == "A-2")
            #expect(byLine[3]?.field == "" && byLine[3]?.reason.hasPrefix("not valid JSON") == true)
            #expect(byLine[5]?.field == "fields.offRollReason")
            // No rejection reason repeats the identifier it refused.
            #expect(!String(decoding: r.body, as: UTF8.self).contains("A801200005001"))
            let counts = try await gw.state.store.counts()
            #expect(counts.records == 2 && counts.subjects == 2)
            let entry = try await lastAuditEntry(gw)
            #expect(entry.action == "submission" && entry.rule == "schools-submit-enrolments")
            #expect(entry.counts["accepted"] == 2 && entry.counts["rejected"] == 3)
            #expect(receipt.auditIndex == (try await gw.state.store.auditCount()) - 1)
        }
    }

    @Test func sameIdempotencyKeyAndBodyReturnsTheSameReceiptAndStoresOnce() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let body = Data(ndjson: [SampleRecords.gp("GP-1"), SampleRecords.gp("GP-2", nhs: "9912003888")])
        try await p.withGateway { gw in
            let first = try await gw.request(gp, "POST", "/v1/submissions", body: body, headers: [("Idempotency-Key", "batch-7")])
            let second = try await gw.request(gp, "POST", "/v1/submissions", body: body, headers: [("Idempotency-Key", "batch-7")])
            #expect(first.status == 201 && second.status == 200)
            let a = try JSONDecoder().decode(Receipt.self, from: first.body), b = try JSONDecoder().decode(Receipt.self, from: second.body)
            #expect(a.submissionId == b.submissionId && a.auditIndex == b.auditIndex && !a.replayed && b.replayed)
            #expect(try await gw.state.store.counts().records == 2)
            #expect(try await gw.state.store.counts().submissions == 1)

            let other = try await gw.request(gp, "POST", "/v1/submissions", body: Data(ndjson: [SampleRecords.gp("GP-3", nhs: "9990000018")]),
                                             headers: [("Idempotency-Key", "batch-7")])
            #expect(other.status == 409)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: other.body).error == "idempotency-conflict")
            #expect(try await gw.state.store.counts().records == 2)

            let fetched = try await gw.request(gp, "GET", "/v1/submissions/\(a.submissionId)")
            #expect(fetched.status == 200)
            #expect(try JSONDecoder().decode(Receipt.self, from: fetched.body).accepted == 2)
            // Another participant cannot read it.
            let school = try p.identity(TestPartnership.id(.school, "100001"))
            #expect(try await gw.request(school, "GET", "/v1/submissions/\(a.submissionId)").status == 404)
        }
    }

    @Test func jsonArrayBodiesAreAccepted() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let body = Data("[\(SampleRecords.gp("GP-1")),\(SampleRecords.gp("GP-2", nhs: "1234567890"))]".utf8)
        try await p.withGateway { gw in
            let r = try await gw.request(gp, "POST", "/v1/submissions", body: body)
            let receipt = try JSONDecoder().decode(Receipt.self, from: r.body)
            #expect(receipt.accepted == 1 && receipt.rejected.first?.line == 2 && receipt.rejected.first?.field == "identifiers.nhsNumber")
        }
    }

    @Test func oversizedBodyIs413BeforeStoringAnything() async throws {
        let p = try TestPartnership(maxBodyBytes: 4096); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let big = Data(ndjson: (0..<40).map { SampleRecords.gp("GP-\($0)") })
        try await p.withGateway { gw in
            let r = try await gw.request(gp, "POST", "/v1/submissions", body: big)
            #expect(r.status == 413)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: r.body).error == "too-large")
            #expect(try await gw.state.store.counts().records == 0)
            // The connection-level limit also holds for a body without a declared length (chunked, via curl).
            let (_, output) = try await runTool(which("curl"), [
                "-sS", "--cacert", p.dir + "/ca/ca.pem", "--cert", gp + "/cert.pem", "--key", gp + "/key.pem",
                "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", "-w", "\n%{http_code}", gw.baseURL + "/v1/submissions"], input: big)
            #expect(output.hasSuffix("413"), "\(output)")
        }
    }

    @Test func policyRefusesKindsARoleMayNotSubmitAndDropsUnusedFields() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let police = try p.identity(TestPartnership.id(.police, "MPS"))
        try await p.withGateway { gw in
            let r = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.police().utf8))
            let receipt = try JSONDecoder().decode(Receipt.self, from: r.body)
            #expect(receipt.accepted == 0 && receipt.rejected.first?.field == "kind")
            #expect(receipt.rejected.first?.reason.contains("default-deny") == true)
            #expect(receipt.rules["default-deny"] == 1)
            let entry = try await lastAuditEntry(gw)
            #expect(entry.decision == .deny && entry.rule == "default-deny")

            let ok = try JSONDecoder().decode(Receipt.self, from: try await gw.request(police, "POST", "/v1/submissions", body: Data(SampleRecords.police().utf8)).body)
            #expect(ok.accepted == 1 && ok.rules["police-submit-notifications"] == 1)
        }
    }

    @Test func malformedRequestsGetJSONErrorsNeverAStackTrace() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        try await p.withGateway { gw in
            for (body, status) in [(Data(), 400), (Data("[1,2".utf8), 400), (Data("\n\n".utf8), 400)] {
                let r = try await gw.request(school, "POST", "/v1/submissions", body: body)
                #expect(r.status == status)
                let error = try JSONDecoder().decode(ErrorBody.self, from: r.body)
                #expect(!error.message.isEmpty)
            }
            let bad = try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment().utf8), headers: [("Idempotency-Key", "has spaces")])
            #expect(bad.status == 400)
            let missing = try await gw.request(school, "GET", "/v1/nothing-here")
            #expect(missing.status == 404)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: missing.body).error == "not-found")
            // Random bytes, binary junk and deep nesting are per-line rejections, not crashes.
            var junk = Data((0..<2000).map { _ in UInt8.random(in: 0...255) })
            junk.append(Data(("\n" + String(repeating: "[", count: 5000) + "\n" + SampleRecords.enrolment()).utf8))
            let r = try await gw.request(school, "POST", "/v1/submissions", body: junk)
            #expect(r.status == 201 || r.status == 400)
            #expect(try await gw.request(school, "POST", "/v1/submissions", body: Data(SampleRecords.enrolment("after-junk").utf8)).status == 201)
        }
    }
}
