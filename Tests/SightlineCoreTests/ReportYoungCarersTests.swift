import Foundation
import Testing
@testable import SightlineCore

private typealias F = ReportFixture

@Suite("Report: young carers")
struct ReportYoungCarersTests {
    @Test("a young carer on the GP's carers register whose current school says not is listed")
    func gpSaysSchoolDoesNot() throws {
        let result = F.run(.youngCarers, [F.gp(1, youngCarer: true, seen: "2026-11-18"),
                                          F.enrolment(1, school: "100002", youngCarer: false)])
        #expect(F.ids(result) == [1])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "school") == "school/100002")
        #expect(F.texts(row.values["recordedBy"]) == ["nhs.gp-registration from nhs/Y12345"])
        #expect(F.text(row, "lastRecorded") == "2026-11-18")
        #expect(row.values["uncertain"] == .bool(false))
        #expect(result.summary["children"] == .number(1))
    }

    @Test("a school that has not said either way counts as not recording it")
    func schoolSilent() {
        #expect(F.ids(F.run(.youngCarers, [F.gp(1, youngCarer: true), F.enrolment(1, youngCarer: nil)])) == [1])
    }

    @Test("the current school also records the child as a young carer: not listed")
    func schoolAgrees() {
        #expect(F.run(.youngCarers, [F.gp(1, youngCarer: true), F.enrolment(1, youngCarer: true)]).rows.isEmpty)
    }

    @Test("no current enrolment: not listed (that is a missing-education question)")
    func noCurrentEnrolment() {
        #expect(F.run(.youngCarers, [F.gp(1, youngCarer: true)]).rows.isEmpty)
        #expect(F.run(.youngCarers, [F.gp(1, youngCarer: true),
                                     F.enrolment(1, off: "2026-10-02", reason: "moved-away", youngCarer: false)]).rows.isEmpty)
        #expect(F.run(.youngCarers, [F.gp(1, youngCarer: true), F.enrolment(1, from: "2026-12-01", youngCarer: false)]).rows.isEmpty)
    }

    @Test("no agency records the child as a young carer: not listed", arguments: [false, nil] as [Bool?])
    func nobodySays(gp: Bool?) {
        #expect(F.run(.youngCarers, [F.gp(1, youngCarer: gp), F.enrolment(1, youngCarer: false)]).rows.isEmpty)
    }

    @Test("an earlier school's young-carer flag counts; the current school's own earlier flag does not")
    func earlierSchool() throws {
        let moved = [F.enrolment(1, school: "100001", from: "2021-09-03", off: "2025-07-18", reason: "other-school", youngCarer: true, seen: "2025-07-20"),
                     F.enrolment(1, school: "100003", from: "2025-09-04", youngCarer: false),
                     F.gp(1, youngCarer: true, seen: "2026-11-19")]
        let row = try #require(F.run(.youngCarers, moved).rows.first)
        #expect(F.text(row, "school") == "school/100003")
        #expect(F.texts(row.values["recordedBy"]) == ["nhs.gp-registration from nhs/Y12345", "school.enrolment from school/100001"])
        #expect(F.text(row, "lastRecorded") == "2026-11-19")

        let same = [F.enrolment(2, school: "100002", from: "2021-09-03", off: "2025-07-18", reason: "other", youngCarer: true),
                    F.enrolment(2, school: "100002", from: "2025-09-04", youngCarer: false)]
        #expect(F.run(.youngCarers, same).rows.isEmpty)
    }

    @Test("rows are ordered by subject; each GP practice is named once")
    func ordering() throws {
        let records = [F.gp(9, youngCarer: true), F.enrolment(9, youngCarer: false),
                       F.gp(3, practice: "E84001", youngCarer: true, seen: "2026-10-01"),
                       F.gp(3, practice: "E84001", from: "2017-06-01", youngCarer: true, seen: "2026-11-02"),
                       F.enrolment(3, school: "100002"),
                       F.gp(6, youngCarer: true), F.enrolment(6, youngCarer: true)]
        let result = F.run(.youngCarers, records, uncertain: [9])
        #expect(F.ids(result) == [3, 9])
        #expect(F.texts(result.rows.first?.values["recordedBy"]) == ["nhs.gp-registration from nhs/E84001"])
        #expect(result.rows.first.flatMap { F.text($0, "lastRecorded") } == "2026-11-02")
        #expect(result.rows.map { $0.values["uncertain"] } == [.bool(false), .bool(true)])
    }
}
