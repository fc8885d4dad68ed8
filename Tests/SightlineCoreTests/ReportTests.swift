import Foundation
import Testing
@testable import SightlineCore

/// Hand-made subjects for the report tests: every record is built here, so each report's answer
/// is known exactly. The report date is fixed at 2026-11-20 and the LA is Brent (DESIGN.md).
enum ReportFixture {
    static let today = CivilDate(year: 2026, month: 11, day: 20)!
    static let brent = GatewayConfig.LocalAuthority(
        code: "304", name: "Brent",
        districts: ["HA0", "HA1", "HA3", "HA8", "HA9", "NW2", "NW6", "NW9", "NW10", "W9", "W10"])
    /// Born March 2017: Year 5 on 2026-11-20 (cohort September 2016 - August 2017).
    static let year5 = "2017-03"

    static func at(_ day: String, _ time: String = "12:00:00") -> Date { Instant.parse("\(day)T\(time)Z")! }

    static func record(_ subject: Int64, _ kind: RecordKind, _ source: String, seen: String = "2026-11-19",
                       birth: String? = year5, district: String? = "NW6", linkedBy: String = "nhs",
                       _ fields: [String: JSONValue]) -> SubjectRecord {
        SubjectRecord(subjectID: subject, kind: kind, source: source, observedAt: at(seen), fields: fields,
                      birthYearMonth: birth, postcodeDistrict: district, linkedBy: linkedBy)
    }

    static func gp(_ subject: Int64, practice: String = "Y12345", from: String = "2017-05-01", deregistered: String? = nil,
                   youngCarer: Bool? = nil, seen: String = "2026-11-19", birth: String? = year5, district: String? = "NW6") -> SubjectRecord {
        var f: [String: JSONValue] = ["practice": .string(practice), "registeredFrom": .string(from)]
        if let deregistered { f["deregisteredOn"] = .string(deregistered) }
        if let youngCarer { f["youngCarer"] = .bool(youngCarer) }
        return record(subject, .gpRegistration, "nhs/\(practice)", seen: seen, birth: birth, district: district, f)
    }

    static func enrolment(_ subject: Int64, school: String = "100001", from: String = "2021-09-03", off: String? = nil,
                          reason: String? = nil, youngCarer: Bool? = nil, seen: String = "2026-11-19",
                          birth: String? = year5, district: String? = "NW6") -> SubjectRecord {
        var f: [String: JSONValue] = ["onRollFrom": .string(from)]
        if let off { f["offRollOn"] = .string(off) }
        if let reason { f["offRollReason"] = .string(reason) }
        if let youngCarer { f["youngCarer"] = .bool(youngCarer) }
        return record(subject, .schoolEnrolment, "school/\(school)", seen: seen, birth: birth, district: district, f)
    }

    static func tenancy(_ subject: Int64, from: String = "2019-04-01", to: String? = nil, movedOut: Bool? = nil,
                        seen: String = "2026-11-19", birth: String? = year5, district: String? = "NW6") -> SubjectRecord {
        var f: [String: JSONValue] = ["tenancyFrom": .string(from)]
        if let to { f["tenancyTo"] = .string(to) }
        if let movedOut { f["movedOutOfArea"] = .bool(movedOut) }
        return record(subject, .housingTenancy, "housing/brent", seen: seen, birth: birth, district: district, f)
    }

    static func register(_ subject: Int64, _ register: String, from: String = "2026-02-02", to: String? = nil,
                         seen: String = "2026-11-19", birth: String? = year5, district: String? = "NW6") -> SubjectRecord {
        var f: [String: JSONValue] = ["register": .string(register), "from": .string(from)]
        if let to { f["to"] = .string(to) }
        return record(subject, .laRegister, "la/304", seen: seen, birth: birth, district: district, f)
    }

    static func attendance(_ subject: Int64, school: String = "100001", start: String = "2026-09-03", end: String = "2026-10-17",
                           possible: Int, attended: Int, unauthorised: Int = 0, seen: String = "2026-11-19") -> SubjectRecord {
        record(subject, .schoolAttendance, "school/\(school)", seen: seen, [
            "periodStart": .string(start), "periodEnd": .string(end), "sessionsPossible": .number(Double(possible)),
            "sessionsAttended": .number(Double(attended)), "sessionsUnauthorised": .number(Double(unauthorised)),
        ])
    }

    static func exclusion(_ subject: Int64, school: String = "100001", category: String, start: String, days: Int?,
                          seen: String = "2026-11-19") -> SubjectRecord {
        var f: [String: JSONValue] = ["category": .string(category), "startDate": .string(start)]
        if let days { f["days"] = .number(Double(days)) }
        return record(subject, .schoolExclusion, "school/\(school)", seen: seen, f)
    }

    static func run(_ report: ReportKind, _ records: [SubjectRecord], uncertain: Set<Int64> = [],
                    settings: ReportSettings = ReportSettings(), on day: CivilDate = today) -> ReportResult {
        ReportInput(subjects: Dictionary(grouping: records, by: \.subjectID), uncertain: uncertain, today: day,
                    la: brent, settings: settings).run(report)
    }

    static func ids(_ result: ReportResult) -> [Int64] { result.rows.map(\.subjectID) }
    static func text(_ row: ReportRow, _ key: String) -> String? { row.values[key]?.stringValue }
    static func number(_ row: ReportRow, _ key: String) -> Double? {
        if case .number(let n)? = row.values[key] { n } else { nil }
    }
    static func texts(_ value: JSONValue?) -> [String]? {
        guard case .array(let a)? = value else { return nil }
        return a.map { $0.stringValue ?? "<\($0.typeName)>" }
    }
    static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }
}

private typealias F = ReportFixture

@Suite("Report: missing education")
struct ReportMissingEducationTests {
    @Test("a GP-registered Year 5 child in area with no enrolment is listed as never-on-roll, with why and when each agency last saw them")
    func neverOnRoll() throws {
        let result = F.run(.missingEducation, [F.gp(1)])
        #expect(F.ids(result) == [1])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "status") == "never-on-roll")
        #expect(row.priority == 0)
        #expect(F.number(row, "schoolYearGroup") == 5)
        #expect(F.text(row, "postcodeDistrict") == "NW6")
        #expect(F.texts(row.values["reasons"]) == ["registered with GP practice Y12345 since 2017-05-01",
                                                  "no school has recorded this child on roll"])
        #expect(row.values["lastSeen"] == .object(["nhs": .string("2026-11-19")]))
        #expect(row.values["uncertain"] == .bool(false))
        #expect(result.summary["children"] == .number(1))
        #expect(result.summary["byStatus"] == .object(["never-on-roll": .number(1)]))
    }

    @Test("the same child with a current enrolment is not listed, nor with an off-roll date still to come")
    func currentEnrolment() {
        #expect(F.run(.missingEducation, [F.gp(1), F.enrolment(1)]).rows.isEmpty)
        #expect(F.run(.missingEducation, [F.gp(1), F.enrolment(1, off: "2026-12-01", reason: "moved-away")]).rows.isEmpty)
    }

    @Test("an enrolment that ended (moved away) and no other is listed off-roll, naming the school, date and reason")
    func offRoll() throws {
        let result = F.run(.missingEducation, [F.gp(2), F.enrolment(2, off: "2026-10-02", reason: "moved-away", seen: "2026-10-05")])
        #expect(F.ids(result) == [2])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "status") == "off-roll")
        #expect(row.priority == 1)
        #expect(F.texts(row.values["reasons"]) == ["registered with GP practice Y12345 since 2017-05-01",
                                                  "off roll at school/100001 on 2026-10-02 (moved-away); no current enrolment received"])
        #expect(row.values["lastSeen"] == .object(["nhs": .string("2026-11-19"), "school": .string("2026-10-05")]))
    }

    @Test("an off-roll date of today means off roll today ([from, to) intervals)")
    func offRollToday() {
        let result = F.run(.missingEducation, [F.gp(3), F.enrolment(3, off: "2026-11-20", reason: "cme")])
        #expect(F.ids(result) == [3])
        #expect(result.rows.first.flatMap { F.text($0, "status") } == "off-roll")
    }

    @Test("off roll to another school with no new enrolment is transfer-unconfirmed, after never-on-roll and off-roll")
    func transferUnconfirmedSortsLast() {
        let result = F.run(.missingEducation, [
            F.gp(1), F.enrolment(1, off: "2026-10-02", reason: "other-school"),
            F.gp(5), F.enrolment(5, off: "2026-10-02", reason: "moved-away"),
            F.gp(9),
        ])
        #expect(F.ids(result) == [9, 5, 1])
        #expect(result.rows.map { F.text($0, "status") } == ["never-on-roll", "off-roll", "transfer-unconfirmed"])
        #expect(result.rows.map(\.priority) == [0, 1, 2])
        #expect(F.texts(result.rows.last?.values["reasons"])?.last
                == "off roll at school/100001 on 2026-10-02 (other-school); no current enrolment received")
        #expect(result.summary["byStatus"] == .object(["never-on-roll": .number(1), "off-roll": .number(1),
                                                       "transfer-unconfirmed": .number(1)]))
    }

    @Test("a transfer confirmed by the new school's current enrolment is not listed")
    func transferConfirmed() {
        let records = [F.gp(1), F.enrolment(1, school: "100001", off: "2026-10-02", reason: "other-school"),
                       F.enrolment(1, school: "100002", from: "2026-10-05")]
        #expect(F.run(.missingEducation, records).rows.isEmpty)
    }

    @Test("the status comes from the most recent off-roll")
    func latestOffRollDecides() {
        let records = [F.gp(1),
                       F.enrolment(1, school: "100001", from: "2021-09-03", off: "2025-07-18", reason: "other-school"),
                       F.enrolment(1, school: "100002", from: "2025-09-04", off: "2026-10-02", reason: "ehe")]
        let result = F.run(.missingEducation, records)
        #expect(F.ids(result) == [1])
        #expect(result.rows.first.flatMap { F.text($0, "status") } == "off-roll")
        #expect(F.texts(result.rows.first?.values["reasons"])?.last
                == "off roll at school/100002 on 2026-10-02 (ehe); no current enrolment received")
    }

    @Test("a deregistered GP registration alone is no evidence of living here; a later current one is")
    func deregisteredGP() throws {
        #expect(F.run(.missingEducation, [F.gp(1, deregistered: "2026-03-01")]).rows.isEmpty)
        #expect(F.run(.missingEducation, [F.gp(1, deregistered: "2026-11-20")]).rows.isEmpty)
        let result = F.run(.missingEducation, [F.gp(1, practice: "Y12345", deregistered: "2026-03-01"),
                                               F.gp(1, practice: "E84001", from: "2026-03-15", district: "NW10")])
        let row = try #require(result.rows.first)
        #expect(F.ids(result) == [1])
        #expect(F.text(row, "postcodeDistrict") == "NW10")
        #expect(F.texts(row.values["reasons"]) == ["registered with GP practice E84001 since 2026-03-15",
                                                  "no school has recorded this child on roll"])
    }

    @Test("an ended tenancy is no evidence; a current one is", arguments: [("2026-06-30", false), (nil, true)] as [(String?, Bool)])
    func endedTenancy(to: String?, listed: Bool) {
        let result = F.run(.missingEducation, [F.tenancy(1, from: "2019-04-01", to: to)])
        #expect(F.ids(result) == (listed ? [1] : []))
        if listed {
            #expect(F.texts(result.rows.first?.values["reasons"]) == ["tenancy since 2019-04-01", "no school has recorded this child on roll"])
            #expect(result.rows.first?.values["lastSeen"] == .object(["housing": .string("2026-11-19")]))
        }
    }

    @Test("a child whose evidence is in a district outside the LA is not listed", arguments: ["SE1", "HA2", "NW3", "W3"])
    func outOfArea(district: String) {
        #expect(F.run(.missingEducation, [F.gp(1, district: district)]).rows.isEmpty)
        #expect(F.run(.missingEducation, [F.gp(1, district: "NW6")]).rows.count == 1)
    }

    @Test("evidence without any postcode district is not enough to place the child in the LA")
    func noDistrict() {
        #expect(F.run(.missingEducation, [F.gp(1, district: nil)]).rows.isEmpty)
    }

    @Test("a household whose latest tenancy moved out of area is not listed, even with a current GP in area")
    func movedOutOfArea() {
        let records = [F.gp(1), F.tenancy(1, from: "2018-01-08", to: "2019-12-20"),
                       F.tenancy(1, from: "2020-01-06", to: "2026-06-30", movedOut: true, district: "SE1")]
        #expect(F.run(.missingEducation, records).rows.isEmpty)
        // An earlier move out followed by a later tenancy here: the latest tenancy decides.
        let back = [F.gp(2), F.tenancy(2, from: "2018-01-08", to: "2019-12-20", movedOut: true, district: "SE1"),
                    F.tenancy(2, from: "2024-02-05")]
        let result = F.run(.missingEducation, back)
        #expect(F.ids(result) == [2])
        #expect(F.texts(result.rows.first?.values["reasons"]) == ["registered with GP practice Y12345 since 2017-05-01",
                                                                 "tenancy since 2024-02-05",
                                                                 "no school has recorded this child on roll"])
    }

    @Test("a child on a current EHE or children-not-in-school register is not listed", arguments: ["ehe", "cnis"])
    func onEHEOrCNIS(register: String) {
        #expect(F.run(.missingEducation, [F.gp(1), F.register(1, register, from: "2025-09-01")]).rows.isEmpty)
        // The same register, ended: the child is missing again.
        let ended = F.run(.missingEducation, [F.gp(1), F.register(1, register, from: "2025-09-01", to: "2026-09-01")])
        #expect(F.ids(ended) == [1])
        #expect(F.texts(ended.rows.first?.values["reasons"]) == ["registered with GP practice Y12345 since 2017-05-01",
                                                                "no school has recorded this child on roll"])
    }

    @Test("a child-in-need register alone is evidence of living here")
    func cinAlone() throws {
        let result = F.run(.missingEducation, [F.register(7, "cin", from: "2026-02-02", district: "W10")])
        #expect(F.ids(result) == [7])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "status") == "never-on-roll")
        #expect(F.text(row, "postcodeDistrict") == "W10")
        #expect(F.texts(row.values["reasons"]) == ["on the LA cin register since 2026-02-02", "no school has recorded this child on roll"])
        #expect(row.values["lastSeen"] == .object(["la": .string("2026-11-19")]))
    }

    @Test("only Year 1 to Year 11 on the report date are of compulsory school age (1 September cohort boundary)",
          arguments: [("2021-09", 0, false), ("2021-08", 1, true), ("2017-03", 5, true), ("2015-09", 6, true),
                      ("2015-08", 7, true), ("2010-09", 11, true), ("2010-08", 12, false), ("2009-03", 13, false)])
    func compulsorySchoolAge(birth: String, year: Int, listed: Bool) {
        let attributes = SubjectAttributes(records: [F.gp(1, birth: birth)])
        #expect(attributes.schoolYearGroup(on: F.today) == year)
        let result = F.run(.missingEducation, [F.gp(1, birth: birth)])
        #expect(F.ids(result) == (listed ? [1] : []))
        if listed { #expect(result.rows.first.flatMap { F.number($0, "schoolYearGroup") } == Double(year)) }
    }

    @Test("the year group follows the report date: Year 6 in July is Year 7 in September")
    func yearGroupFollowsDate() {
        let records = [F.gp(1, birth: "2015-08")]
        #expect(SubjectAttributes(records: records).schoolYearGroup(on: CivilDate(year: 2026, month: 8, day: 31)!) == 6)
        #expect(SubjectAttributes(records: records).schoolYearGroup(on: CivilDate(year: 2026, month: 9, day: 1)!) == 7)
        // Born August 2021: Reception until 31 August 2026 (not listed), Year 1 from 1 September.
        let young = [F.gp(2, birth: "2021-08")]
        #expect(F.run(.missingEducation, young, on: CivilDate(year: 2026, month: 8, day: 31)!).rows.isEmpty)
        #expect(F.ids(F.run(.missingEducation, young, on: CivilDate(year: 2026, month: 9, day: 1)!)) == [2])
    }

    @Test("a child with no month of birth on any record is not listed")
    func noBirthMonth() {
        #expect(F.run(.missingEducation, [F.gp(1, birth: nil), F.tenancy(1, birth: nil)]).rows.isEmpty)
    }

    @Test("the district is that of the most recent current evidence, not of older evidence or of non-evidence")
    func districtOfLatestEvidence() throws {
        // Older GP out of area, newer tenancy in area: listed, in the tenancy's district.
        let a = F.run(.missingEducation, [F.gp(1, seen: "2026-10-01", district: "SE1"), F.tenancy(1, seen: "2026-11-18", district: "NW10")])
        #expect(F.ids(a) == [1])
        #expect(a.rows.first.flatMap { F.text($0, "postcodeDistrict") } == "NW10")
        // Newer GP in area beats an older tenancy out of area.
        let b = F.run(.missingEducation, [F.gp(2, seen: "2026-11-18", district: "HA9"), F.tenancy(2, seen: "2026-10-01", district: "SE1")])
        #expect(F.ids(b) == [2])
        #expect(b.rows.first.flatMap { F.text($0, "postcodeDistrict") } == "HA9")
        // Newer current tenancy out of area: the child now lives elsewhere.
        #expect(F.run(.missingEducation, [F.gp(3, seen: "2026-10-01", district: "NW6"), F.tenancy(3, seen: "2026-11-18", district: "SE1")]).rows.isEmpty)
        // A newer ended enrolment and a newer deregistered GP record in area are not evidence of living here.
        let c = [F.gp(4, seen: "2026-10-01", district: "SE1"),
                 F.gp(4, practice: "E84001", from: "2015-01-01", deregistered: "2026-01-10", seen: "2026-11-19", district: "NW6"),
                 F.enrolment(4, off: "2026-07-22", reason: "moved-away", seen: "2026-11-19", district: "NW6")]
        #expect(F.run(.missingEducation, c).rows.isEmpty)
    }

    @Test("lastSeen is the latest observation per agency role, over every record of the child")
    func lastSeenPerRole() throws {
        let records = [
            F.gp(1, practice: "Y12345", from: "2017-05-01", seen: "2026-11-10"),
            F.gp(1, practice: "E84001", from: "2016-01-01", deregistered: "2017-04-30", seen: "2026-11-15"),
            F.enrolment(1, school: "100001", off: "2025-07-18", reason: "other-school", seen: "2025-09-01"),
            F.enrolment(1, school: "100002", from: "2025-09-04", off: "2026-10-02", reason: "moved-away", seen: "2026-10-05"),
            F.tenancy(1, from: "2019-04-01", seen: "2026-06-30"),
            F.register(1, "cin", from: "2026-02-02", to: "2026-05-01", seen: "2026-11-19"),
        ]
        let result = F.run(.missingEducation, records, uncertain: [1])
        let row = try #require(result.rows.first)
        #expect(F.ids(result) == [1])
        #expect(row.values["lastSeen"] == .object(["nhs": .string("2026-11-15"), "school": .string("2026-10-05"),
                                                   "housing": .string("2026-06-30"), "la": .string("2026-11-19")]))
        #expect(row.values["uncertain"] == .bool(true))
        #expect(F.texts(row.values["reasons"]) == [
            "registered with GP practice Y12345 since 2017-05-01",
            "tenancy since 2019-04-01",
            "off roll at school/100002 on 2026-10-02 (moved-away); no current enrolment received",
        ])
    }

    @Test("a child off roll whose new school has sent a future admission is not 'never on roll'")
    func pendingAdmission() throws {
        let records = [F.gp(1), F.enrolment(1, school: "100001", off: "2026-10-02", reason: "moved-away"),
                       F.enrolment(1, school: "100002", from: "2026-12-01")]
        let result = F.run(.missingEducation, records)
        #expect(F.ids(result) == [1])
        let row = try #require(result.rows.first)
        #expect(F.text(row, "status") == "off-roll")
        #expect(!(F.texts(row.values["reasons"]) ?? []).contains("no school has recorded this child on roll"))
    }
}

@Suite("Report: pages of subjects")
struct ReportPagingTests {
    /// A mixed population: listed and not, by every report, across many schools (so the absence
    /// summary has counts both under and over the suppression threshold).
    static var population: [SubjectRecord] {
        var records: [SubjectRecord] = []
        for s in Int64(1)...60 {
            let school = s % 4 == 0 ? "100002" : "100001"
            switch s % 6 {
            case 0: records += [F.gp(s), F.enrolment(s, school: school, off: "2026-10-02", reason: s % 12 == 0 ? "other-school" : "cme")]
            case 1: records += [F.gp(s)]
            case 2: records += [F.gp(s), F.enrolment(s, school: school, youngCarer: false), F.attendance(s, school: school, possible: 100, attended: 40 + Int(s))]
            case 3: records += [F.tenancy(s), F.enrolment(s, school: school), F.exclusion(s, school: school, category: "permanent", start: "2026-09-10", days: nil)]
            case 4: records += [F.gp(s, youngCarer: true), F.enrolment(s, school: school), F.attendance(s, school: school, possible: 100, attended: 95)]
            default: records += [F.register(s, "cin"), F.gp(s), F.enrolment(s, school: school, off: "2026-11-20", reason: "moved-away")]
            }
        }
        return records
    }

    /// Each row as canonical JSON (sorted keys at every level), with its subject first.
    static func rows(_ r: ReportResult) -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return r.rows.map { "\($0.subjectID):" + String(decoding: (try? encoder.encode($0.values)) ?? Data(), as: UTF8.self) }
    }

    static func canonical(_ summary: [String: JSONValue]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(summary)) ?? Data(), as: UTF8.self)
    }

    /// Any split of the subjects into pages gives the report computed over all of them at once:
    /// the same rows in the same order, and the same summary (counts merged before suppression).
    @Test(arguments: ReportKind.allCases)
    func pagesMergeToTheWholeReport(kind: ReportKind) {
        let records = Self.population
        let whole = F.run(kind, records, uncertain: [7, 8])
        #expect(!whole.rows.isEmpty, "the population lists someone in \(kind.rawValue)")
        let bySubject = Dictionary(grouping: records, by: \.subjectID)
        for pageSize in [1, 7, 25] {
            var merged = ReportPage()
            for start in stride(from: 1, through: 60, by: pageSize) {
                let page = bySubject.filter { (Int64(start)..<Int64(start + pageSize)).contains($0.key) }
                merged.merge(ReportInput(subjects: page, uncertain: [7, 8], today: F.today, la: F.brent, settings: ReportSettings()).page(kind))
            }
            let paged = ReportInput.finish(kind, merged, settings: ReportSettings())
            let (p, w) = (Self.rows(paged), Self.rows(whole))
            #expect(p == w, "\(kind.rawValue), pages of \(pageSize): first difference \(zip(p, w).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "in the count, \(p.count) vs \(w.count)")")
            #expect(Self.canonical(paged.summary) == Self.canonical(whole.summary), "\(kind.rawValue), pages of \(pageSize)")
        }
    }
}
