import Foundation
import Testing
@testable import SightlineCore

private typealias F = ReportFixture

@Suite("Report: exclusions")
struct ReportExclusionsTests {
    func day(_ iso: String) -> CivilDate { CivilDate(iso: iso)! }

    @Test("school days are weekdays: adding skips weekends",
          arguments: [("2026-11-06", 1, "2026-11-09"),     // Friday + 1 -> Monday
                      ("2026-11-07", 1, "2026-11-09"),     // Saturday + 1 -> Monday
                      ("2026-11-08", 1, "2026-11-09"),     // Sunday + 1 -> Monday
                      ("2026-11-18", 5, "2026-11-25"),     // Wednesday + 5 -> next Wednesday
                      ("2026-11-02", 15, "2026-11-23"),    // Monday + 15 -> Monday three weeks on
                      ("2026-10-30", 15, "2026-11-20"),    // Friday + 15 -> Friday three weeks on
                      ("2026-12-31", 1, "2027-01-01"),     // across a year end (bank holidays not modelled)
                      ("2026-11-04", 0, "2026-11-04")])
    func schoolDays(start: String, days: Int, expected: String) {
        #expect(SchoolDays.adding(days, to: day(start)) == day(expected))
    }

    @Test("a permanent exclusion whose deadline has passed, with no new enrolment elsewhere, is listed")
    func permanentListed() throws {
        let records = [F.enrolment(1, school: "100001", off: "2026-10-20", reason: "permanent-exclusion"),
                       F.exclusion(1, school: "100001", category: "permanent", start: "2026-10-01", days: 13)]
        let result = F.run(.exclusions, records)
        #expect(F.ids(result) == [1])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "category") == "permanent")
        #expect(F.text(row, "school") == "school/100001")
        #expect(F.text(row, "startDate") == "2026-10-01")
        #expect(F.number(row, "days") == 13)
        #expect(F.text(row, "provisionDueBy") == "2026-10-22")     // Thursday + 15 weekdays
        #expect(row.values["registers"] == .array([]))
        #expect(row.values["uncertain"] == .bool(false))
        #expect(row.priority == 2)
        #expect(result.summary["children"] == .number(1))
        #expect(result.summary["schoolDays"] == .number(15))
    }

    @Test("a new enrolment at another school after the exclusion started means the child is not listed")
    func newEnrolmentElsewhere() {
        let records = [F.enrolment(1, school: "100001", off: "2026-10-20", reason: "permanent-exclusion"),
                       F.exclusion(1, school: "100001", category: "permanent", start: "2026-10-01", days: 13),
                       F.enrolment(1, school: "100003", from: "2026-10-26")]
        #expect(F.run(.exclusions, records).rows.isEmpty)
    }

    @Test("an enrolment elsewhere that began before the exclusion is not a new one")
    func olderEnrolmentElsewhere() {
        let records = [F.enrolment(1, school: "100002", from: "2021-09-03", off: "2024-07-19", reason: "other-school"),
                       F.enrolment(1, school: "100001", from: "2024-09-04", off: "2026-10-20", reason: "permanent-exclusion"),
                       F.exclusion(1, school: "100001", category: "permanent", start: "2026-10-01", days: 13)]
        #expect(F.ids(F.run(.exclusions, records)) == [1])
    }

    @Test("the deadline not yet passed: not listed; on the deadline day itself: listed")
    func deadline() {
        // Tuesday 10 November + 15 school days = Tuesday 1 December.
        #expect(F.run(.exclusions, [F.exclusion(1, category: "permanent", start: "2026-11-10", days: nil)]).rows.isEmpty)
        // Friday 30 October + 15 school days = Friday 20 November, the report date.
        let onTheDay = F.run(.exclusions, [F.exclusion(2, category: "permanent", start: "2026-10-30", days: nil)])
        #expect(F.ids(onTheDay) == [2])
        #expect(onTheDay.rows.first.flatMap { F.text($0, "provisionDueBy") } == "2026-11-20")
        #expect(onTheDay.rows.first?.values["days"] == .null)
        // Monday 2 November + 15 = Monday 23 November: a calendar count (18 days) would say passed.
        #expect(F.run(.exclusions, [F.exclusion(3, category: "permanent", start: "2026-11-02", days: nil)]).rows.isEmpty)
    }

    @Test("the number of school days is the policy's setting")
    func schoolDaysSetting() {
        let records = [F.exclusion(1, category: "permanent", start: "2026-11-12", days: nil)]   // Thursday
        #expect(F.run(.exclusions, records).rows.isEmpty)
        var settings = ReportSettings()
        settings.schoolDays = 5
        let result = F.run(.exclusions, records, settings: settings)
        #expect(F.ids(result) == [1])
        #expect(result.rows.first.flatMap { F.text($0, "provisionDueBy") } == "2026-11-19")
        #expect(result.summary["schoolDays"] == .number(5))
    }

    @Test("the shipped purposes allow 15 school days")
    func policySchoolDays() throws {
        let policy = try PolicyLoader.load(directory: ReportSubjectViewTests.policies)
        #expect(policy.purposes["attendance"]?.reports[.exclusions]?.schoolDays == 15)
        #expect(policy.purposes["s17"]?.reports[.exclusions]?.schoolDays == 15)
    }

    @Test("suspensions of more than five days are listed; of five or fewer, not",
          arguments: [(3, false), (5, false), (6, true), (10, true)])
    func suspensions(days: Int, listed: Bool) throws {
        let result = F.run(.exclusions, [F.enrolment(1), F.exclusion(1, category: "suspension", start: "2026-10-05", days: days)])
        #expect(F.ids(result) == (listed ? [1] : []))
        if listed {
            let row = try #require(result.rows.first)
            #expect(F.text(row, "category") == "suspension")
            #expect(F.number(row, "days") == Double(days))
            #expect(F.text(row, "provisionDueBy") == "2026-10-26")
        }
    }

    @Test("internal exclusions and managed moves are not listed", arguments: ["internal", "managed-move"])
    func otherCategories(category: String) {
        #expect(F.run(.exclusions, [F.exclusion(1, category: category, start: "2026-09-14", days: 30)]).rows.isEmpty)
    }

    @Test("the latest qualifying exclusion is the one reported")
    func latestExclusion() throws {
        let records = [F.exclusion(1, category: "suspension", start: "2026-09-14", days: 6),
                       F.exclusion(1, category: "suspension", start: "2026-10-12", days: 2),     // too short: ignored
                       F.exclusion(1, category: "permanent", start: "2026-10-01", days: 10)]
        let row = try #require(F.run(.exclusions, records).rows.first)
        #expect(F.text(row, "category") == "permanent")
        #expect(F.text(row, "startDate") == "2026-10-01")
    }

    @Test("children on a child-protection plan come first, then child in need, then the rest (by start date)")
    func registerPriority() {
        let records = [
            F.exclusion(10, category: "permanent", start: "2026-09-07", days: nil),
            F.exclusion(5, category: "permanent", start: "2026-09-21", days: nil),
            F.register(5, "cin", from: "2025-01-06", to: "2026-03-02"),                          // ended: not counted
            F.exclusion(20, category: "suspension", start: "2026-10-05", days: 6),
            F.register(20, "cin", from: "2025-01-06"),
            F.exclusion(30, category: "permanent", start: "2026-10-12", days: nil),
            F.register(30, "cin", from: "2025-01-06"),
            F.register(30, "cp", from: "2025-04-07"),
            F.register(40, "cp", from: "2025-04-07"),                                            // no exclusion
        ]
        let result = F.run(.exclusions, records, uncertain: [20])
        #expect(F.ids(result) == [30, 20, 10, 5])
        #expect(result.rows.map(\.priority) == [0, 1, 2, 2])
        #expect(result.rows.map { $0.values["registers"] } == [F.strings(["cin", "cp"]), F.strings(["cin"]), F.strings([]), F.strings([])])
        #expect(result.rows.map { $0.values["uncertain"] } == [.bool(false), .bool(true), .bool(false), .bool(false)])
    }
}
