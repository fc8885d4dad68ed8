import Foundation

/// What a purpose's policy says about enquiries: a partner asking the agencies that hold a
/// child's records, by their own references (Policies/purposes/*.yaml, `enquiries:`). A purpose
/// without the block allows none: deny by default.
public struct EnquiryRules: Sendable, Equatable {
    /// Roles whose records may be asked about (school, nhs, housing, police, la).
    public let ask: Set<Role>
    /// When answers are due, counted from when the enquiry leaves.
    public let deadline: Deadline
    /// Set when a second participant of the asker's LA must approve before the enquiry leaves.
    public let approval: Approval?

    public struct Approval: Sendable, Equatable {
        /// Participants ("la/304") or roles ("la") that may approve; never the asker itself, and
        /// only a participant of the asker's LA.
        public let by: [String]
        /// An enquiry not approved within this long expires.
        public let within: Deadline

        public func mayApprove(_ approver: ParticipantIdentity) -> Bool {
            by.contains(approver.shortName) || by.contains(approver.role.rawValue)
        }
    }

    /// A response time: hours, calendar days or school days (Monday to Friday; the gateway knows
    /// no term dates, so a holiday counts as a school day and the deadline errs early).
    public enum Deadline: Sendable, Equatable, CustomStringConvertible {
        case hours(Int)
        case days(Int)
        case schoolDays(Int)

        /// "PT8H", "P1D", "10 school days".
        public static func parse(_ text: String) -> Deadline? {
            func number(_ s: Substring) -> Int? { Int(s).flatMap { (1...365).contains($0) ? $0 : nil } }
            if text.hasPrefix("PT"), text.hasSuffix("H"), let n = number(text.dropFirst(2).dropLast()) { return .hours(n) }
            if text.hasPrefix("P"), text.hasSuffix("D"), let n = number(text.dropFirst().dropLast()) { return .days(n) }
            let words = text.split(separator: " ")
            if words.count == 3, words[1] == "school", words[2] == "days" || words[2] == "day", let n = number(words[0]) { return .schoolDays(n) }
            return nil
        }

        public var description: String {
            switch self {
            case .hours(let n): "PT\(n)H"
            case .days(let n): "P\(n)D"
            case .schoolDays(let n): "\(n) school day\(n == 1 ? "" : "s")"
            }
        }

        public func after(_ start: Date) -> Date {
            switch self {
            case .hours(let n): return start.addingTimeInterval(Double(n) * 3600)
            case .days(let n): return start.addingTimeInterval(Double(n) * 86400)
            case .schoolDays(let n):
                var calendar = Calendar(identifier: .gregorian)
                calendar.timeZone = TimeZone(identifier: "Europe/London") ?? TimeZone(secondsFromGMT: 0)!
                var day = start
                var left = n
                while left > 0 {
                    day = day.addingTimeInterval(86400)
                    let weekday = calendar.component(.weekday, from: day)  // 1 Sunday ... 7 Saturday
                    if weekday != 1 && weekday != 7 { left -= 1 }
                }
                return day
            }
        }
    }

    static let askable: Set<Role> = [.school, .nhs, .housing, .police, .la]

    /// Reads a purpose's `enquiries:` block. Every role asked must be one whose records the
    /// purpose uses: an enquiry never reaches an agency the purpose could not read.
    static func load(_ node: YAMLNode, uses: [RecordKind: Set<String>]) throws(SightlineError) -> EnquiryRules {
        let d = try node.dictionary(allowedKeys: ["ask", "deadline", "approval"])
        let askNode = try d.required("ask", in: node)
        var ask = Set<Role>()
        let used = Set(uses.keys.map(\.sourceRole))
        for (i, name) in try askNode.strings().enumerated() {
            let item = try askNode.sequence()[i]
            guard let role = Role(rawValue: name), askable.contains(role) else {
                throw item.error("enquiries go to agencies that hold records: \(askable.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            guard used.contains(role) else {
                throw item.error("the purpose uses no record kind of \(name); an enquiry may only reach agencies whose records the purpose uses")
            }
            ask.insert(role)
        }
        guard !ask.isEmpty else { throw askNode.error("name at least one role to ask, or leave enquiries out") }
        let deadlineNode = try d.required("deadline", in: node)
        guard let deadline = Deadline.parse(try deadlineNode.string()) else {
            throw deadlineNode.error("a deadline is PT<n>H, P<n>D or '<n> school days' (n from 1 to 365)")
        }
        var approval: Approval? = nil
        if let approvalNode = d["approval"] {
            let a = try approvalNode.dictionary(allowedKeys: ["by", "within"])
            let byNode = try a.required("by", in: approvalNode)
            let by = try byNode.strings()
            guard !by.isEmpty else { throw byNode.error("name who approves: participants such as la/304, or a role") }
            for (i, name) in by.enumerated() {
                let parts = name.split(separator: "/", omittingEmptySubsequences: false)
                guard let role = Role(rawValue: String(parts[0])), role == .partner || role == .la,
                      parts.count == 1 || (parts.count == 2 && !parts[1].isEmpty) else {
                    throw try byNode.sequence()[i].error("an approver is a partner or la participant (partner/304-mash, la/304) or one of those roles")
                }
            }
            let withinNode = try a.required("within", in: approvalNode)
            guard let within = Deadline.parse(try withinNode.string()) else {
                throw withinNode.error("within is PT<n>H, P<n>D or '<n> school days'")
            }
            approval = Approval(by: by, within: within)
        }
        return EnquiryRules(ask: ask, deadline: deadline, approval: approval)
    }
}

/// The answers a holding agency can give: a small fixed list, so a report can act on them.
public enum EnquiryAnswerStatus: String, Sendable, CaseIterable, Codable {
    case attendsSchoolElsewhere = "attends-school-elsewhere"
    case movedToAnotherLA = "moved-to-another-LA"
    case leftTheCountry = "left-the-country"
    case notKnownHere = "not-known-here"
    case safeguardingConcern = "safeguarding-concern"
    case other

    /// Answers that account for a child on no roll: the missing-education report says so.
    public var accountsForChild: Bool { self == .attendsSchoolElsewhere || self == .movedToAnotherLA }
}

/// Which agencies an enquiry about a child goes to, from the child's records: pure, so the rule
/// can be read and tested without a gateway.
///
/// - Only records of kinds the purpose uses, from roles the policy lets it ask.
/// - For a kind with a period (enrolment, GP registration, tenancy, register), every agency
///   whose record is current today; when none is, the agency holding the latest record of that
///   kind, told that its record is no longer current (it is still the latest evidence).
/// - For event kinds (attendance, exclusions, police notifications), each agency's latest.
/// - One enquiry per agency, naming one record: a current period record first, then the latest.
public enum EnquiryHolders {
    public struct Holder: Sendable, Equatable {
        public let source: String
        /// Index into the records given.
        public let index: Int
        /// Whether the record is current today; nil for an event.
        public let current: Bool?
    }

    static let periods: [RecordKind: (from: String, to: String)] = [
        .schoolEnrolment: ("onRollFrom", "offRollOn"), .gpRegistration: ("registeredFrom", "deregisteredOn"),
        .housingTenancy: ("tenancyFrom", "tenancyTo"), .laRegister: ("from", "to"),
    ]

    public static func select(_ records: [SubjectRecord], uses: [RecordKind: Set<String>], ask: Set<Role>, today: CivilDate) -> [Holder] {
        var picked: [Holder] = []
        let usable = records.indices.filter { uses[records[$0].kind] != nil && ask.contains(records[$0].kind.sourceRole) }
        for (kind, indices) in Dictionary(grouping: usable, by: { records[$0].kind }) {
            if let period = periods[kind] {
                let current = indices.filter { records[$0].isCurrent(from: period.from, to: period.to, on: today) }
                if current.isEmpty, let latest = indices.max(by: { records[$0].observedAt < records[$1].observedAt }) {
                    picked.append(Holder(source: records[latest].source, index: latest, current: false))
                } else {
                    picked += current.map { Holder(source: records[$0].source, index: $0, current: true) }
                }
            } else {
                for (_, own) in Dictionary(grouping: indices, by: { records[$0].source }) {
                    if let latest = own.max(by: { records[$0].observedAt < records[$1].observedAt }) {
                        picked.append(Holder(source: records[latest].source, index: latest, current: nil))
                    }
                }
            }
        }
        // One per agency: a current period record, then a period record, then the latest event.
        func rank(_ h: Holder) -> Int { h.current == true ? 0 : h.current == false ? 1 : 2 }
        var bySource: [String: Holder] = [:]
        for h in picked {
            if let have = bySource[h.source],
               (rank(have), -records[have.index].observedAt.timeIntervalSince1970) <= (rank(h), -records[h.index].observedAt.timeIntervalSince1970) { continue }
            bySource[h.source] = h
        }
        return bySource.values.sorted { $0.source < $1.source }
    }
}
