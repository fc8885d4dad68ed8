import Foundation
import SightlineCore
import Testing
@testable import SightlineGateway
@testable import SightlineStore

/// Issue 13: the DPO's duties. Subject access answers what is held and who has seen it; erasure
/// leaves nothing of the child in the database or its WAL, tells partners, and the log verifies.
@Suite("DPO: subject access and erasure", .serialized)
struct DPOTests {
    static let ids = #"{"nhsNumber":"9434765919","givenName":"Amara","familyName":"Okafor","dateOfBirth":"2015-03-02","postcode":"NW6 4DP"}"#
    static let byNHS = Data(#"{"identifiers":{"nhsNumber":"9434765919"}}"#.utf8)

    static func load(_ gw: RunningGateway, _ p: TestPartnership, _ cme: String) async throws -> String {
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let housing = try p.identity(TestPartnership.id(.housing, "brent"))
        try await EnquiryTests.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.ids, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
        try await EnquiryTests.submit(gw, housing, [PartnerTests.record("housing.tenancy", "HT-9", Self.ids, #"{"tenancyFrom":"2024-05-01"}"#)])
        let pseudonym = try await EnquiryTests.pseudonym(gw, cme, "cme")
        #expect(try await EnquiryTests.reportRow(gw, cme, pseudonym) != nil, "the child is on the report")
        #expect(try await EnquiryTests.ask(gw, cme, pseudonym, "cme").status == 201)
        return pseudonym
    }

    @Test func subjectAccessListsWhatIsHeldAndEveryDisclosure() async throws {
        let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
        let p = try TestPartnership(); defer { p.remove() }
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let auditor = try p.auditor()
        try await p.withGateway { gw in
            _ = try await Self.load(gw, p, cme)
            #expect(try await gw.request(cme, "POST", "/v1/subject-access", body: Self.byNHS).status == 403, "the auditor (DPO) only")
            #expect(try await gw.request(auditor, "POST", "/v1/subject-access", body: Data(#"{"identifiers":{"nhsNumber":"6541003238"}}"#.utf8)).status == 404)
            let r = try await gw.request(auditor, "POST", "/v1/subject-access", body: Self.byNHS)
            #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
            let text = String(decoding: r.body, as: UTF8.self)
            #expect(!text.contains("9434765919") && !text.contains("Okafor"), "no identifier in the answer")
            let o = try EnquiryTests.object(r.body)
            guard case .array(let records)? = o["records"], case .array(let disclosures)? = o["disclosures"], case .array(let views)? = o["asSeenUnderPurposes"] else {
                throw TestFailure("unexpected answer \(text)")
            }
            #expect(records.compactMap { $0.objectValue?["source"] } == [.string("nhs/Y12345"), .string("housing/brent")])
            #expect(records.first?.objectValue?["fields"]?.objectValue?["practice"] == .string("Y12345"), "values as stored")
            #expect(o["matchedBy"] == .string("nhs"))
            let actions = disclosures.compactMap { $0.objectValue }.map { "\($0["action"]?.stringValue ?? "") \($0["actor"]?.stringValue ?? "")" }
            for expected in ["match partner/304-cme", "report partner/304-cme", "enquiry.asked partner/304-cme"] {
                #expect(actions.contains(expected), "\(actions)")
            }
            #expect(disclosures.contains { $0.objectValue?["action"] == .string("enquiry.sent") && $0.objectValue?["recipient"] == .string("nhs/Y12345") })
            #expect(views.contains { $0.objectValue?["purpose"] == .string("cme") })
            // The request itself is audited.
            #expect(try await EnquiryTests.auditActions(gw).contains { $0.action == "dpo.subject-access" && $0.actor == "auditor/dpo" })
            // The document a DPO sends.
            let (status, out) = try await runTool(binary, ["dpo", "subject-access", "--gateway", gw.baseURL, "--identity", auditor, "--nhs-number", "9434765919"])
            #expect(status == 0 && out.contains("# Subject access") && out.contains("| nhs.gp-registration | nhs/Y12345 |") && out.contains("partner/304-cme"), "\(out)")
            let (hStatus, html) = try await runTool(binary, ["dpo", "subject-access", "--gateway", gw.baseURL, "--identity", auditor, "--nhs-number", "9434765919", "--format", "html"])
            #expect(hStatus == 0 && html.contains("<table>") && !html.contains("<script"), "\(html.prefix(300))")
        }
    }

    @Test func erasureLeavesNothingOfTheChildTellsPartnersAndTheLogStillVerifies() async throws {
        let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
        let p = try TestPartnership(); defer { p.remove() }
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        try await p.withGateway { gw in
            let pseudonym = try await Self.load(gw, p, cme)
            // What would betray the child in the files: its reference keys, linkage keys and blocking keys.
            guard case .object(let raw) = try JSONDecoder().decode(JSONValue.self, from: Data(Self.ids.utf8)),
                  case .success(let validated) = RecordValidator(now: Date()).validateIdentifiers(raw) else { throw TestFailure("identifiers") }
            let pz = gw.state.pseudonymiser
            var traces = [pz.referenceKey(source: TestPartnership.id(.nhs, "Y12345"), localRef: "GP-7"),
                          pz.referenceKey(source: TestPartnership.id(.housing, "brent"), localRef: "HT-9")]
            traces += pz.linkageKeys(for: validated).map(\.digest) + pz.comparison.blockingKeys(validated, forQuery: false).map(\.digest)
            func stored() -> Data {
                var d = Data()
                for suffix in ["", "-wal"] { d += (FileManager.default.contents(atPath: p.config.databasePath + suffix) ?? Data()) }
                return d
            }
            let before = stored()
            #expect(traces.contains { before.range(of: $0) != nil }, "the test looks for something that is there before")

            #expect(try await gw.request(auditor, "POST", "/v1/erasures", body: Self.byNHS).status == 400, "a reason is required")
            let byName = Data(#"{"identifiers":{"givenName":"Amara","familyName":"Okafor","dateOfBirth":"2015-03-02","postcode":"NW6 4DP"},"reason":"wrong child"}"#.utf8)
            let scored = try await gw.request(auditor, "POST", "/v1/erasures", body: byName)
            #expect(scored.status == 409, "a child found by score only is never erased: \(String(decoding: scored.body, as: UTF8.self))")
            #expect(try await gw.state.store.counts().records == 2)
            let r = try await gw.request(auditor, "POST", "/v1/erasures", body: Data(#"{"identifiers":{"nhsNumber":"9434765919"},"reason":"submitted in error (ticket 4411)"}"#.utf8))
            #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
            let erased = try #require(EnquiryTests.object(r.body)["erased"]?.objectValue)
            #expect(erased["records"] == .number(2) && erased["pseudonymsWithdrawn"] == .number(1) && erased["enquiries"] == .number(1))

            // The partner's pseudonym names nothing now, and the partner is told so.
            #expect(try await gw.request(cme, "GET", "/v1/subjects/\(pseudonym)?purpose=cme").status == 404)
            #expect(try await gw.request(cme, "POST", "/v1/match", body: PartnerTests.matchBody("cme", #"{"nhsNumber":"9434765919"}"#)).status == 404)
            let inbox = try EnquiryTests.object(try await gw.request(cme, "GET", "/v1/inbox").body)
            guard case .array(let items)? = inbox["forwards"] else { throw TestFailure("no inbox") }
            let withdrawal = items.compactMap { $0.objectValue?["forward"]?.objectValue }.first { $0["type"] == .string("withdrawal") }
            #expect(withdrawal?["pseudonym"] == .string(pseudonym))
            #expect(try await EnquiryTests.reportRow(gw, cme, pseudonym) == nil)

            let after = stored()
            for trace in traces { #expect(after.range(of: trace) == nil, "a key of the erased child is still in the database or WAL") }
            let counts = try await gw.state.store.counts()
            #expect(counts.records == 0 && counts.subjects == 0)
            #expect(try await EnquiryTests.auditActions(gw).contains { $0.action == "dpo.erasure" && $0.counts["records"] == 2 && $0.detail["reason"]?.hasPrefix("hmac:") == true })
            let (vStatus, vOut) = try await runTool(binary, ["audit", "verify", "--gateway", gw.baseURL, "--identity", auditor, "--verifier-key", pinned])
            #expect(vStatus == 0 && vOut.contains("audit log OK"), "\(vOut)")
        }
        #expect(!p.logs.text.contains("9434765919") && !p.logs.text.contains("ticket 4411"))
    }

    /// A copy of the shipped policy with s17's and s47's retention cut to a year: enrolments and GP
    /// registrations are then kept two years (cme), attendance one.
    static func shortRetentionPolicy(_ p: TestPartnership) throws -> String {
        let copy = p.dir + "/Policies"
        try FileManager.default.copyItem(atPath: TestPartnership.repoRoot + "/Policies", toPath: copy)
        for name in ["s17", "s47"] {
            let path = copy + "/purposes/\(name).yaml"
            try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "retention: P6Y", with: "retention: P1Y")
                .write(toFile: path, atomically: true, encoding: .utf8)
        }
        return copy
    }

    @Test func retentionDeletesWhatEveryPurposeHasFinishedWithAndTheLogStillVerifies() async throws {
        let binary = TestPartnership.repoRoot + "/.build/debug/sightline"
        let p = try TestPartnership(); defer { p.remove() }
        p.config.policyDirectory = try Self.shortRetentionPolicy(p)
        let gp = try p.identity(TestPartnership.id(.nhs, "Y12345"))
        let school = try p.identity(TestPartnership.id(.school, "100001"))
        let cme = try p.identity(TestPartnership.id(.partner, "304-cme"))
        let auditor = try p.auditor()
        let pinned = try p.pinnedVerifierKey()
        try await p.withGateway { gw in
            try await EnquiryTests.submit(gw, gp, [PartnerTests.record("nhs.gp-registration", "GP-7", Self.ids, #"{"practice":"Y12345","registeredFrom":"2015-04-01"}"#)])
            // Another child known only by attendance.
            try await EnquiryTests.submit(gw, school, [PartnerTests.record("school.attendance", "ATT-1", EnquiryTests.other,
                #"{"periodStart":"2026-09-01","periodEnd":"2026-10-31","sessionsPossible":80,"sessionsAttended":70,"sessionsUnauthorised":4}"#)])
            let pseudonym = try await EnquiryTests.pseudonym(gw, cme, "cme")
            #expect(try await gw.state.store.counts().records == 2)

            // Today nothing is due; in 18 months the attendance is (one year), the registration not (two, cme).
            #expect(try await RetentionService.sweep(gw.state, now: Date(), dryRun: true).total == 0)
            let later = Date().addingTimeInterval(548 * 86400)
            let dry = try await RetentionService.sweep(gw.state, now: later, dryRun: true)
            #expect(dry.records == [.schoolAttendance: 1] && dry.subjects == 1)
            #expect(try await gw.state.store.counts().records == 2, "a dry run deletes nothing")
            let swept = try await RetentionService.sweep(gw.state, now: later, dryRun: false)
            #expect(swept.records == [.schoolAttendance: 1] && swept.subjects == 1)
            let counts = try await gw.state.store.counts()
            #expect(counts.records == 1 && counts.subjects == 1)
            #expect(try await gw.request(cme, "GET", "/v1/subjects/\(pseudonym)?purpose=cme").status == 200, "the registration stays")
            let sweep = try #require(try await EnquiryTests.auditActions(gw).last { $0.action == "retention.sweep" })
            #expect(sweep.counts["records:school.attendance"] == 1 && sweep.counts["subjects"] == 1)
            #expect(sweep.detail["school.attendance"]?.hasPrefix("retention:school.attendance:P1Y:attendance+s17+s47") == true, "\(sweep.detail)")
            #expect(sweep.detail["nhs.gp-registration"]?.hasPrefix("retention:nhs.gp-registration:P2Y:cme") == true, "\(sweep.detail)")

            // Three years on, the registration goes too, and the child with it.
            let gone = try await RetentionService.sweep(gw.state, now: Date().addingTimeInterval(3 * 366 * 86400), dryRun: false)
            #expect(gone.records == [.gpRegistration: 1] && gone.subjects == 1 && gone.remains.pseudonymsWithdrawn == 1)
            #expect(try await gw.request(cme, "GET", "/v1/subjects/\(pseudonym)?purpose=cme").status == 404)
            let (vStatus, vOut) = try await runTool(binary, ["audit", "verify", "--gateway", gw.baseURL, "--identity", auditor, "--verifier-key", pinned])
            #expect(vStatus == 0 && vOut.contains("audit log OK"), "\(vOut)")
        }
    }

    /// An ended period starts the retention clock at its end, when that is later than observedAt:
    /// an LA register entry observed now but running to next September is kept two years from then.
    @Test func retentionCountsFromThePeriodsEndWhenLater() async throws {
        let p = try TestPartnership(); defer { p.remove() }
        p.config.policyDirectory = try Self.shortRetentionPolicy(p)
        let la = try p.identity(TestPartnership.id(.la, "304"))
        try await p.withGateway { gw in
            try await EnquiryTests.submit(gw, la, [PartnerTests.record("la.register", "REG-1", Self.ids, #"{"register":"cin","from":"2026-07-01","to":"2027-09-01"}"#)])
            let year = 366.0 * 86400
            // Two and a half years on: past two years from observedAt (2026-11-01), not from the end (2027-09-01).
            #expect(try await RetentionService.sweep(gw.state, now: Date().addingTimeInterval(2.5 * year), dryRun: true).total == 0)
            let later = try await RetentionService.sweep(gw.state, now: Date().addingTimeInterval(3.5 * year), dryRun: false)
            #expect(later.records == [.laRegister: 1])
        }
    }
}
