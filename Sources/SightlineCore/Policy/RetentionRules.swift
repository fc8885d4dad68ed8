import Foundation

/// How long records are kept (UK GDPR Art 5(1)(e)): a record goes once every purpose that may use
/// its kind has passed its retention, counted from the record's observedAt or, for a kind with a
/// period, from the period's end when that is later (an off-roll date, a deregistration, the end
/// of a tenancy or register). A kind no purpose uses is kept, never swept: an edit of the policy
/// that drops a kind by mistake must not delete its records an hour later; the dry run says so.
public struct RetentionRules: Sendable {
    public struct Rule: Sendable, Equatable {
        public let kind: RecordKind
        /// The longest retention of the purposes that use the kind; nil when none does.
        public let period: String?
        /// The purposes that set it (the rule name in the sweep's audit entry).
        public let purposes: [String]
        public var name: String { period.map { "retention:\(kind.rawValue):\($0):\(purposes.joined(separator: "+"))" } ?? "retention:\(kind.rawValue):unused-kept" }

        /// The field whose date, when later than observedAt, starts the retention clock.
        public var endField: String? { RetentionRules.endFields[kind] }

        /// Records observed before this instant are past retention at `now`. Fails closed: a kind
        /// no purpose uses, or a period that does not read, deletes nothing.
        public func cutoff(now: Date) -> Date {
            guard let period, let (n, unit) = RetentionRules.parse(period) else { return .distantPast }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(secondsFromGMT: 0)!
            var c = DateComponents()
            switch unit {
            case "Y": c.year = -n
            case "M": c.month = -n
            default: c.day = -n
            }
            return calendar.date(byAdding: c, to: now) ?? .distantPast
        }
    }

    public let rules: [Rule]

    static let endFields: [RecordKind: String] = [.schoolEnrolment: "offRollOn", .gpRegistration: "deregisteredOn",
                                                 .housingTenancy: "tenancyTo", .laRegister: "to"]

    public init(policy: Policy) {
        rules = RecordKind.allCases.map { kind in
            let using = policy.purposes.values.filter { $0.uses[kind] != nil }
            let longest = using.max { Self.days($0.retention) < Self.days($1.retention) }
            let period = longest?.retention
            return Rule(kind: kind, period: period,
                        purposes: using.filter { period != nil && Self.days($0.retention) == Self.days(period!) }.map(\.name).sorted())
        }
    }

    /// "P2Y" -> (2, "Y"); the loader has checked the form.
    static func parse(_ period: String) -> (Int, Character)? {
        guard period.count >= 3, period.count <= 5, period.first == "P", let unit = period.last, "YMD".contains(unit),
              let n = Int(period.dropFirst().dropLast()), n > 0 else { return nil }
        return (n, unit)
    }

    /// The instant before which audit entries are past the policy's `audit-retention` at `now`;
    /// nil when the policy sets none (the log is then kept whole).
    public static func auditCutoff(_ policy: Policy, now: Date) -> Date? {
        guard let period = policy.auditRetention else { return nil }
        return Rule(kind: .schoolEnrolment, period: period, purposes: []).cutoff(now: now)
    }

    /// Approximate length in days, to compare periods ("P18M" > "P1Y").
    static func days(_ period: String) -> Int {
        guard let (n, unit) = parse(period) else { return 0 }
        return n * (unit == "Y" ? 366 : unit == "M" ? 31 : 1)
    }
}
