import Foundation
import SightlineClient
import SightlineCore
import Testing
@testable import SightlineGateway

/// `sightline submit --format ctf|fhir`, the real binary against a real gateway over mTLS.
@Suite("CTF and FHIR submissions end to end", .serialized)
struct CTFSubmissionTests {
    static let sightline = TestPartnership.repoRoot + "/.build/debug/sightline"
    static let ctf = TestPartnership.repoRoot + "/ops/sample-data/school-100001/ctf.xml"
    static let fhir = TestPartnership.repoRoot + "/ops/sample-data/nhs/gp-registrations.fhir.ndjson"
    static let ndjson = TestPartnership.repoRoot + "/ops/sample-data/nhs/gp-registrations.ndjson"

    struct Summary: Decodable {
        var files: [Submitter.FileResult]
        var records: Int
        var accepted: Int
        var rejected: Int
        var failed: Bool
    }

    static func summary(_ output: String) throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(output.utf8))
    }

    @Test("the sample CTF: every record the gateway can accept is stored, the rest named by pupil and line; a re-run stores nothing twice")
    func sampleCTF() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let reference = try PupilReference.load(identityDirectory: school).reference
        // What the gateway should accept: the records that pass its validator, made in process.
        var validCount = 0, totalCount = 0
        let validator = RecordValidator()
        _ = try CTFImport(path: Self.ctf, sender: CTFSender(urn: "100001", laestab: nil), reference: reference, fallbackObservedAt: "2026-11-20T00:00:00Z")
            .read(emit: { r in
                totalCount += 1
                if case .success = validator.validate(try! JSONDecoder().decode(JSONValue.self, from: r.json), line: 1) { validCount += 1 }
                return true
            }, reject: { _ in Issue.record("the sample has no pupil the client refuses") })
        let valid = validCount, total = totalCount
        #expect(total == 1001 && valid > 950 && valid < total)
        try await p.withGateway { gw in
            let args = ["submit", "--json", "--gateway", gw.baseURL, "--identity", school, "--format", "ctf", "--laestab", "3042001", Self.ctf]
            let first = try await runTool(Self.sightline, args)
            #expect(first.status == 3, "completed with rejected records: \(first.output.prefix(500))")
            let s = try Self.summary(first.output)
            #expect(s.records == total)
            #expect(s.accepted == valid)
            #expect(s.rejected == total - valid)
            let file = try #require(s.files.first)
            #expect(file.created == valid)
            for r in file.rejected {
                #expect(r.field == "identifiers.upn", "\(r)")
                #expect(r.reason.hasPrefix("pupil "), "the pupil's position leads the reason: \(r.reason)")
                #expect(r.line > 20, "the XML line of the pupil")
            }
            #expect(try await gw.state.store.counts().records == valid)

            let again = try await runTool(Self.sightline, args)
            #expect(again.status == 3)
            let second = try Self.summary(again.output)
            #expect(second.files.first?.replayedBatches == second.files.first?.submissions.count)
            #expect(try await gw.state.store.counts().records == valid, "a re-run of the same file stores nothing twice")
        }
    }

    @Test("another school's CTF is refused whole, with the reason, and nothing is stored")
    func anotherSchool() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let other = try p.identity(TestPartnership.id(.school, "100002"))
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            let refused = try await runTool(Self.sightline, ["submit", "--gateway", gw.baseURL, "--identity", other, Self.ctf])
            #expect(refused.status == 1)
            #expect(refused.output.contains("refused, nothing sent") && refused.output.contains("URN 100001") && refused.output.contains("school 100002"),
                    "\(refused.output)")
            let notASchool = try await runTool(Self.sightline, ["submit", "--gateway", gw.baseURL, "--identity", gp, "--format", "ctf", Self.ctf])
            #expect(notASchool.status == 1)
            #expect(notASchool.output.contains("a CTF is a school's file"))
            let withKind = try await runTool(Self.sightline, ["submit", "--gateway", gw.baseURL, "--identity", other, "--kind", "school.enrolment", Self.ctf])
            #expect(withKind.status == 64, "a usage error: a CTF's kinds come from the file")
            #expect(try await gw.state.store.counts().records == 0)
        }
    }

    @Test("the FHIR sample becomes the same GP registrations as the NDJSON sample")
    func fhirSample() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        try await p.withGateway { gw in
            let fromFHIR = try Self.summary(try await runTool(Self.sightline, ["submit", "--json", "--gateway", gw.baseURL, "--identity", gp,
                                                                               "--format", "fhir", Self.fhir]).output)
            #expect(fromFHIR.accepted > 1800)
            let fromNDJSON = try Self.summary(try await runTool(Self.sightline, ["submit", "--json", "--gateway", gw.baseURL, "--identity", gp,
                                                                                 "--kind", "nhs.gp-registration", Self.ndjson]).output)
            #expect(fromNDJSON.accepted == fromFHIR.accepted)
            #expect(fromNDJSON.files.first?.created == 0, "every NDJSON record is one the FHIR file already made, by its localRef")
            #expect(try await gw.state.store.counts().records == fromFHIR.accepted)
        }
    }
}
