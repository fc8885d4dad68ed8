import Foundation
import Testing
@testable import SightlineCore

/// Who an enquiry goes to, by when, and what the policy may say about it.
@Suite("Enquiry rules")
struct EnquiryRulesTests {
    @Test("deadlines: hours, days and school days (weekends skipped)")
    func deadlines() throws {
        typealias D = EnquiryRules.Deadline
        #expect(D.parse("PT8H") == .hours(8) && D.parse("P3D") == .days(3) && D.parse("10 school days") == .schoolDays(10))
        for bad in ["", "PT0H", "P400D", "10 days", "ten school days", "PT8M", "P1W"] { #expect(D.parse(bad) == nil, "\(bad)") }
        // Friday 2026-11-27 12:00 London (GMT): one school day on is Monday, ten are two weeks on.
        let friday = try #require(Instant.parse("2026-11-27T12:00:00Z"))
        #expect(Instant.format(D.schoolDays(1).after(friday)) == "2026-11-30T12:00:00Z")
        #expect(Instant.format(D.schoolDays(10).after(friday)) == "2026-12-11T12:00:00Z")
        #expect(Instant.format(D.hours(8).after(friday)) == "2026-11-27T20:00:00Z")
    }

    func record(_ kind: RecordKind, _ source: String, _ fields: [String: String], seen: String) -> SubjectRecord {
        SubjectRecord(subjectID: 1, kind: kind, source: source, observedAt: Instant.parse(seen)!, fields: fields.mapValues { .string($0) },
                      birthYearMonth: nil, postcodeDistrict: nil, linkedBy: "new")
    }

    @Test("current holders are asked; where none is current, the latest; one record per agency; only what the purpose uses")
    func holders() throws {
        let today = try #require(CivilDate(iso: "2026-12-01"))
        let records = [
            record(.gpRegistration, "nhs/A", ["registeredFrom": "2015-01-01", "deregisteredOn": "2024-01-01"], seen: "2024-01-02T00:00:00Z"),
            record(.gpRegistration, "nhs/B", ["registeredFrom": "2024-01-05"], seen: "2024-01-06T00:00:00Z"),
            record(.schoolEnrolment, "school/1", ["onRollFrom": "2021-09-01", "offRollOn": "2025-07-20"], seen: "2025-07-21T00:00:00Z"),
            record(.schoolEnrolment, "school/2", ["onRollFrom": "2019-09-01", "offRollOn": "2021-07-20"], seen: "2021-07-21T00:00:00Z"),
            record(.schoolAttendance, "school/1", ["periodStart": "2025-06-01"], seen: "2025-07-01T00:00:00Z"),
            record(.policeNotification, "police/MPS", ["category": "concern"], seen: "2026-10-01T00:00:00Z"),
        ]
        let uses: [RecordKind: Set<String>] = [.gpRegistration: ["registeredFrom"], .schoolEnrolment: ["onRollFrom"], .schoolAttendance: ["periodStart"]]
        let picked = EnquiryHolders.select(records, uses: uses, ask: [.nhs, .school, .police], today: today)
        // nhs/A deregistered while nhs/B is current: B only. No school is current: the latest enrolment (school/1),
        // told it is no longer current, and school/1 is asked once. Police: not used by the purpose.
        #expect(picked == [EnquiryHolders.Holder(source: "nhs/B", index: 1, current: true),
                           EnquiryHolders.Holder(source: "school/1", index: 2, current: false)])
        #expect(EnquiryHolders.select(records, uses: uses, ask: [.school], today: today).map(\.source) == ["school/1"])
    }

    func loadError(_ block: String) throws -> SightlineError? {
        try withTemporaryDirectory { dir in
            let copy = dir.appendingPathComponent("Policies")
            try FileManager.default.copyItem(at: Fixture.policiesDirectory, to: copy)
            let url = copy.appendingPathComponent("purposes/cme.yaml")
            let text = try String(contentsOf: url, encoding: .utf8)
            let start = try #require(text.range(of: "enquiries:"))
            try (String(text[..<start.lowerBound]) + block).write(to: url, atomically: true, encoding: .utf8)
            return sightlineError { _ = try PolicyLoader.load(directory: copy.path) }
        }
    }

    @Test("the shipped policy: cme asks without approval, s47 needs la/304's, attendance allows none")
    func shipped() throws {
        let policy = try PolicyLoader.load(directory: Fixture.policiesDirectory.path)
        #expect(policy.purposes["cme"]?.enquiries?.approval == nil && policy.purposes["cme"]?.enquiries?.deadline == .schoolDays(10))
        #expect(policy.purposes["s47"]?.enquiries?.approval?.by == ["la/304"])
        #expect(policy.purposes["attendance"]?.enquiries == nil)
        #expect(try loadError("enquiries:\n  ask: [nhs]\n  deadline: P1D\n") == nil)
    }

    @Test("a policy may not let a purpose ask agencies whose records it does not use, nor name odd deadlines or approvers")
    func refused() throws {
        #expect(try loadError("enquiries:\n  ask: [police]\n  deadline: P1D\n")?.message.contains("uses no record kind of police") == true)
        #expect(try loadError("enquiries:\n  ask: [partner]\n  deadline: P1D\n")?.message.contains("agencies that hold records") == true)
        #expect(try loadError("enquiries:\n  ask: [nhs]\n  deadline: soon\n")?.message.contains("a deadline is") == true)
        #expect(try loadError("enquiries:\n  ask: [nhs]\n  deadline: P1D\n  approval: {by: [school/100001], within: PT4H}\n")?
            .message.contains("an approver is a partner or la participant") == true)
        #expect(try loadError("enquiries:\n  ask: [nhs]\n  deadline: P1D\n  cc: [la]\n") != nil)
    }
}
