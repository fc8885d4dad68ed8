import Foundation

/// The partner reports. Each declares the fields it reads, so `policy lint` can check that a
/// purpose offering the report actually allows them (a report never reads past its purpose).
public enum ReportKind: String, CaseIterable, Sendable, Codable {
    case missingEducation = "missing-education"
    case absence = "absence"
    case exclusions = "exclusions"
    case youngCarers = "young-carers"

    public var fieldsRead: [RecordKind: Set<String>] {
        switch self {
        case .missingEducation:
            [.schoolEnrolment: ["onRollFrom", "offRollOn", "offRollReason"],
             .gpRegistration: ["practice", "registeredFrom", "deregisteredOn"],
             .housingTenancy: ["tenancyFrom", "tenancyTo", "movedOutOfArea"],
             .laRegister: ["register", "from", "to"]]
        case .absence:
            [.schoolAttendance: ["periodStart", "periodEnd", "sessionsPossible", "sessionsAttended", "sessionsUnauthorised"]]
        case .exclusions:
            [.schoolExclusion: ["category", "startDate", "days"],
             .schoolEnrolment: ["onRollFrom", "offRollOn"],
             .laRegister: ["register", "from", "to"]]
        case .youngCarers:
            [.schoolEnrolment: ["onRollFrom", "offRollOn", "youngCarer"],
             .gpRegistration: ["youngCarer"]]
        }
    }

    public var kindsRead: [RecordKind] { Array(fieldsRead.keys) }
}

/// Report settings a purpose file gives (`reports:` in purposes/*.yaml).
public struct ReportSettings: Sendable, Equatable {
    /// Aggregate counts below this are shown as suppressed (ONS practice: under 10).
    public var suppressBelow: Int = 10
    /// Exclusions: school days allowed for a new enrolment or provision after an exclusion.
    public var schoolDays: Int = 15
    public init() {}
}

/// One row of a report, about one subject; the gateway adds the recipient's pseudonym.
public struct ReportRow: Sendable {
    public let subjectID: Int64
    public var values: [String: JSONValue]
    /// Rows sort by this, then by subject.
    public var priority: Int

    public init(subjectID: Int64, values: [String: JSONValue], priority: Int = 0) {
        self.subjectID = subjectID; self.values = values; self.priority = priority
    }
}

/// What a report found in some of the subjects: its rows, unsorted, and the counts its summary is
/// made of, before suppression. Pages of subjects are evaluated one at a time and merged, so that a
/// report never holds every subject's records at once.
public struct ReportPage: Sendable {
    public var rows: [ReportRow] = []
    public var tallies: [String: Int] = [:]
    public init() {}
    public mutating func merge(_ other: ReportPage) {
        rows.append(contentsOf: other.rows)
        for (k, n) in other.tallies { tallies[k, default: 0] += n }
    }
}

public struct ReportResult: Sendable {
    public var rows: [ReportRow]
    /// Aggregates (e.g. per-school counts), already suppressed.
    public var summary: [String: JSONValue]
}

/// The facts a report runs on: every subject's records of the kinds it reads, the date, and the
/// partner's local authority.
public struct ReportInput: Sendable {
    public let subjects: [Int64: [SubjectRecord]]
    public let uncertain: Set<Int64>
    public let today: CivilDate
    public let la: GatewayConfig.LocalAuthority
    public let settings: ReportSettings
    /// The LA's schools ("school/100001"): school-based reports (absence, exclusions, young
    /// carers) cover pupils of these schools; nil means no school filter.
    public let schools: Set<String>?
    /// Per subject, the answers agencies gave to enquiries under the report's purpose, oldest first.
    public var enquiryAnswers: [Int64: [(status: String, at: Date)]] = [:]

    public init(subjects: [Int64: [SubjectRecord]], uncertain: Set<Int64>, today: CivilDate, la: GatewayConfig.LocalAuthority,
                settings: ReportSettings, schools: Set<String>? = nil) {
        self.subjects = subjects; self.uncertain = uncertain; self.today = today; self.la = la; self.settings = settings
        self.schools = schools
    }

    func isLASchool(_ source: String) -> Bool { schools?.contains(source) ?? true }

    /// The whole report over these subjects.
    public func run(_ report: ReportKind) -> ReportResult { Self.finish(report, page(report), settings: settings) }

    /// The rows and counts of these subjects (one page of them); `finish` makes the report of the merged pages.
    public func page(_ report: ReportKind) -> ReportPage {
        switch report {
        case .missingEducation: MissingEducationReport(input: self).page()
        case .absence: AbsenceReport(input: self).page()
        case .exclusions: ExclusionsReport(input: self).page()
        case .youngCarers: YoungCarersReport(input: self).page()
        }
    }

    /// Sorts the rows and makes the summary (suppressing small counts) from every page's counts.
    public static func finish(_ report: ReportKind, _ page: ReportPage, settings: ReportSettings) -> ReportResult {
        switch report {
        case .missingEducation: MissingEducationReport.finish(page)
        case .absence: AbsenceReport.finish(page, settings: settings)
        case .exclusions: ExclusionsReport.finish(page, settings: settings)
        case .youngCarers: YoungCarersReport.finish(page)
        }
    }

    func day(_ d: CivilDate) -> JSONValue { .string(d.description) }
    func instant(_ d: Date) -> JSONValue { .string(CivilDate(d).description) }
}
