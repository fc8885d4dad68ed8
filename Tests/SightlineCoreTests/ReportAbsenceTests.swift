import Foundation
import Testing
@testable import SightlineCore

private typealias F = ReportFixture

@Suite("Report: absence")
struct ReportAbsenceTests {
    static let summer2 = ("2026-06-01", "2026-07-22")
    static let autumn1 = ("2026-09-03", "2026-10-17")

    func school(_ result: ReportResult, _ source: String) -> JSONValue? {
        guard case .array(let schools)? = result.summary["perSchool"] else { return nil }
        return schools.first { $0.objectValue?["school"] == .string(source) }
    }

    @Test("only each child's latest period counts: an old bad period and a new good one is not listed")
    func latestPeriodOnly() throws {
        let improved = [F.attendance(1, start: Self.summer2.0, end: Self.summer2.1, possible: 74, attended: 30, unauthorised: 40),
                        F.attendance(1, start: Self.autumn1.0, end: Self.autumn1.1, possible: 62, attended: 60)]
        #expect(F.run(.absence, improved).rows.isEmpty)

        let worse = [F.attendance(2, start: Self.summer2.0, end: Self.summer2.1, possible: 74, attended: 74),
                     F.attendance(2, start: Self.autumn1.0, end: Self.autumn1.1, possible: 62, attended: 40, unauthorised: 12)]
        let result = F.run(.absence, worse)
        #expect(F.ids(result) == [2])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "band") == "persistent")
        #expect(F.text(row, "school") == "school/100001")
        #expect(F.text(row, "periodStart") == "2026-09-03")
        #expect(F.text(row, "periodEnd") == "2026-10-17")
        #expect(F.number(row, "sessionsPossible") == 62)
        #expect(F.number(row, "sessionsAttended") == 40)
        #expect(F.number(row, "sessionsUnauthorised") == 12)
        #expect(F.number(row, "absenceRate") == 0.355)          // 22 / 62 = 0.3548..., rounded to 3 places
        #expect(row.values["uncertain"] == .bool(false))
    }

    @Test("a period with no possible sessions is ignored: the previous period is the latest")
    func zeroPossibleIgnored() {
        let records = [F.attendance(3, start: Self.summer2.0, end: Self.summer2.1, possible: 74, attended: 20),
                       F.attendance(3, start: Self.autumn1.0, end: Self.autumn1.1, possible: 0, attended: 0)]
        let result = F.run(.absence, records)
        #expect(F.ids(result) == [3])
        #expect(result.rows.first.flatMap { F.text($0, "periodEnd") } == "2026-07-22")
        #expect(result.rows.first.flatMap { F.text($0, "band") } == "severe")
    }

    @Test("absence of exactly 10% is persistent; just under is not",
          arguments: [(60, 54, "persistent"), (100, 90, "persistent"), (62, 56, nil), (1000, 901, nil)] as [(Int, Int, String?)])
    func persistentThreshold(possible: Int, attended: Int, band: String?) {
        let result = F.run(.absence, [F.attendance(1, possible: possible, attended: attended)])
        #expect(result.rows.map { F.text($0, "band") } == (band.map { [$0] } ?? []))
        if band != nil { #expect(result.rows.first.flatMap { F.number($0, "absenceRate") } == 0.1) }
    }

    @Test("absence of exactly 50% is severe; just under is persistent",
          arguments: [(62, 31, "severe", 0.5), (100, 50, "severe", 0.5), (62, 32, "persistent", 0.484), (74, 0, "severe", 1.0)])
    func severeThreshold(possible: Int, attended: Int, band: String, rate: Double) {
        let result = F.run(.absence, [F.attendance(1, possible: possible, attended: attended)])
        #expect(result.rows.map { F.text($0, "band") } == [band])
        #expect(result.rows.first.flatMap { F.number($0, "absenceRate") } == rate)
        #expect(result.rows.first?.priority == (band == "severe" ? 0 : 1))
    }

    @Test("rows: severe first, then by absence rate (highest first), then by subject")
    func ordering() {
        let records = [F.attendance(1, possible: 100, attended: 80),    // persistent 0.2
                       F.attendance(2, possible: 100, attended: 40),    // severe 0.6
                       F.attendance(3, possible: 100, attended: 60),    // persistent 0.4
                       F.attendance(4, possible: 100, attended: 10),    // severe 0.9
                       F.attendance(5, possible: 100, attended: 80),    // persistent 0.2, ties with 1
                       F.attendance(6, possible: 100, attended: 95)]    // 5%: not listed
        let result = F.run(.absence, records)
        #expect(F.ids(result) == [4, 2, 3, 1, 5])
        #expect(result.rows.map { F.text($0, "band") } == ["severe", "severe", "persistent", "persistent", "persistent"])
        #expect(result.rows.map { F.number($0, "absenceRate") } == [0.9, 0.6, 0.4, 0.2, 0.2])
    }

    @Test("per-school counts: under the threshold shown as '<10', zero shown as 0, 10 and over shown")
    func perSchoolSuppression() {
        var records: [SubjectRecord] = []
        // School 100001: 3 pupils, 1 persistent, none severe.
        records.append(F.attendance(1, school: "100001", possible: 62, attended: 50))
        records.append(F.attendance(2, school: "100001", possible: 62, attended: 62))
        records.append(F.attendance(3, school: "100001", possible: 62, attended: 61))
        // School 100002: 12 pupils, 10 absent 10%+ of whom 2 severely.
        for id in Int64(10)...21 {
            let attended = id < 12 ? 20 : id < 20 ? 50 : 62
            records.append(F.attendance(id, school: "100002", possible: 62, attended: attended))
        }
        // School 100003: a pupil whose latest period is at 100002 is counted there only.
        records.append(F.attendance(30, school: "100003", start: Self.summer2.0, end: Self.summer2.1, possible: 74, attended: 10))
        records.append(F.attendance(30, school: "100002", possible: 62, attended: 62))

        let result = F.run(.absence, records)
        #expect(result.summary["suppressBelow"] == .number(10))
        #expect(result.summary["perSchool"] == .array([
            .object(["school": .string("school/100001"), "pupils": .string("<10"), "persistent": .string("<10"), "severe": .number(0)]),
            .object(["school": .string("school/100002"), "pupils": .number(13), "persistent": .number(10), "severe": .string("<10")]),
        ]))
        #expect(result.rows.count == 11)
        #expect(Array(F.ids(result).prefix(2)) == [10, 11])
    }

    @Test("a school of exactly 12 pupils shows 12; the threshold comes from the settings")
    func thresholdFromSettings() {
        let records = (Int64(1)...12).map { F.attendance($0, school: "100002", possible: 62, attended: $0 <= 3 ? 40 : 62) }
        let defaults = F.run(.absence, records)
        #expect(school(defaults, "school/100002") == .object(["school": .string("school/100002"), "pupils": .number(12),
                                                             "persistent": .string("<10"), "severe": .number(0)]))
        var settings = ReportSettings()
        settings.suppressBelow = 3
        let loose = F.run(.absence, records, settings: settings)
        #expect(loose.summary["suppressBelow"] == .number(3))
        #expect(school(loose, "school/100002") == .object(["school": .string("school/100002"), "pupils": .number(12),
                                                          "persistent": .number(3), "severe": .number(0)]))
        settings.suppressBelow = 13
        #expect(school(F.run(.absence, records, settings: settings), "school/100002")?.objectValue?["pupils"] == .string("<13"))
    }

    @Test("the attendance purpose sets the suppression threshold to 10")
    func policyThreshold() throws {
        let policy = try PolicyLoader.load(directory: ReportSubjectViewTests.policies)
        let settings = try #require(policy.purposes["attendance"]?.reports[.absence])
        #expect(settings.suppressBelow == 10)
        #expect(Suppression.count(9, below: settings.suppressBelow) == .string("<10"))
        #expect(Suppression.count(1, below: settings.suppressBelow) == .string("<10"))
        #expect(Suppression.count(10, below: settings.suppressBelow) == .number(10))
        #expect(Suppression.count(0, below: settings.suppressBelow) == .number(0))
    }
}
