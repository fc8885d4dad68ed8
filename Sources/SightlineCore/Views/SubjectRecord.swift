import Foundation

/// A stored record as the gateway reads it back for a partner: no identifiers, only the kept
/// fields and coarse attributes.
public struct SubjectRecord: Sendable, Equatable {
    public let subjectID: Int64
    public let kind: RecordKind
    /// The submitting participant, "school/100001".
    public let source: String
    public let observedAt: Date
    public let fields: [String: JSONValue]
    public let birthYearMonth: String?
    public let postcodeDistrict: String?
    /// The key basis that linked this record, or "new".
    public let linkedBy: String

    public init(subjectID: Int64, kind: RecordKind, source: String, observedAt: Date, fields: [String: JSONValue],
                birthYearMonth: String?, postcodeDistrict: String?, linkedBy: String) {
        self.subjectID = subjectID; self.kind = kind; self.source = source; self.observedAt = observedAt
        self.fields = fields; self.birthYearMonth = birthYearMonth; self.postcodeDistrict = postcodeDistrict; self.linkedBy = linkedBy
    }

    public func date(_ field: String) -> CivilDate? { fields[field]?.stringValue.flatMap(CivilDate.init(iso:)) }
    public func string(_ field: String) -> String? { fields[field]?.stringValue }
    public func bool(_ field: String) -> Bool? { if case .bool(let b)? = fields[field] { b } else { nil } }
    public func int(_ field: String) -> Int? { if case .number(let n)? = fields[field] { Int(n) } else { nil } }

    /// Whether a dated interval [from, to) covers `day`; an open end is still current.
    public func isCurrent(from: String, to: String, on day: CivilDate) -> Bool {
        guard let start = date(from), start <= day else { return false }
        if let end = date(to), end <= day { return false }
        return true
    }
}

/// The attributes of a subject derived from all its records, before minimisation.
public struct SubjectAttributes: Sendable {
    public let birthYearMonth: String?
    /// The district of the most recent record that gives one.
    public let latestDistrict: String?

    public init(records: [SubjectRecord]) {
        // Agencies can disagree on a month of birth (typos); the most frequent value wins.
        let months = Dictionary(grouping: records.compactMap(\.birthYearMonth), by: { $0 }).mapValues(\.count)
        birthYearMonth = months.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }?.key
        latestDistrict = Residence.latestDistrict(of: records)
    }

    /// Year group on `day` from the month of birth: the cohort boundary is 1 September, so the
    /// month is enough.
    public func schoolYearGroup(on day: CivilDate) -> Int? {
        guard let ym = birthYearMonth, let first = CivilDate(iso: ym + "-01") else { return nil }
        return first.schoolYearGroup(on: day)
    }

    public func ageBand(on day: CivilDate) -> String? {
        guard let ym = birthYearMonth, let first = CivilDate(iso: ym + "-01") else { return nil }
        switch first.years(until: day) {
        case ..<5: return "0-4"
        case 5...10: return "5-10"
        case 11...15: return "11-15"
        case 16...17: return "16-17"
        default: return "18+"
        }
    }

    /// The attributes a purpose allows, minimised as its policy says; nothing else.
    public func minimised(for purpose: Purpose, on day: CivilDate) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        switch purpose.minimise["dateOfBirth"] ?? .drop {
        case .schoolYearGroup: if let y = schoolYearGroup(on: day) { out["schoolYearGroup"] = .number(Double(y)) }
        case .ageBand: if let b = ageBand(on: day) { out["ageBand"] = .string(b) }
        case .yearMonth: if let ym = birthYearMonth { out["birthYearMonth"] = .string(ym) }
        default: break
        }
        if purpose.minimise["postcode"] == .district, let d = latestDistrict { out["postcodeDistrict"] = .string(d) }
        return out
    }
}
