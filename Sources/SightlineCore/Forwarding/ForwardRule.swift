import Foundation

/// A forwarding rule from Policies/forwarding.yaml: which new records are pushed to whom, under
/// which purpose, carrying which fields. Deny by default: a record no rule names goes nowhere.
public struct ForwardRule: Sendable {
    public enum Recipient: Sendable, Equatable, CustomStringConvertible {
        /// The school where the child is on roll now; the notice names the pupil by that school's
        /// own reference, so the school learns nothing it did not hold.
        case currentSchool
        /// One participant, "partner/304-cme".
        case participant(String)

        public var description: String {
            switch self {
            case .currentSchool: "current-school"
            case .participant(let p): p
            }
        }
    }

    public enum Deadline: String, Sendable {
        /// Operation Encompass: before 08:00 (UK time) on the next school day after the incident.
        case nextSchoolDay0800 = "next-school-day-08:00"
    }

    public let name: String
    public let purpose: String
    public let kind: RecordKind
    /// Field -> values that trigger the rule (all conditions must hold).
    public let when: [String: [JSONValue]]
    public let recipient: Recipient
    public let fields: [String]
    public let deadline: Deadline?
    /// For `current-school`: the participant (an LA team) that routes a notice no school
    /// qualifies for on its own (see ForwardPlanner.schoolDestination); required with
    /// current-school, so a notice is never dropped silently.
    public let holdFor: String?

    public func matches(kind: RecordKind, fields record: [String: JSONValue]) -> Bool {
        guard kind == self.kind else { return false }
        return when.allSatisfy { field, values in record[field].map(values.contains) ?? false }
    }

    /// When the forward must have arrived, from the record's own time (the incident for police).
    public func deadline(for fields: [String: JSONValue], observedAt: Date) -> Date? {
        guard let deadline else { return nil }
        switch deadline {
        case .nextSchoolDay0800:
            let event = fields["occurredAt"]?.stringValue.flatMap(Instant.parse) ?? observedAt
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Europe/London")!
            var day = calendar.startOfDay(for: event)
            repeat {
                day = calendar.date(byAdding: .day, value: 1, to: day)!
            } while calendar.isDateInWeekend(day)
            return calendar.date(bySettingHour: 8, minute: 0, second: 0, of: day)
        }
    }
}

/// The forwarding section of the policy.
public struct ForwardingPolicy: Sendable {
    public let rules: [ForwardRule]
    /// Failed attempts after which a forward is dead-lettered (visible, audited, retryable).
    public let maxAttempts: Int

    public static let none = ForwardingPolicy(rules: [], maxAttempts: 8)

    public func rules(for kind: RecordKind, fields: [String: JSONValue]) -> [ForwardRule] {
        rules.filter { $0.matches(kind: kind, fields: fields) }
    }

    static func load(_ file: YAMLFile, purposes: [String: Purpose]) throws(SightlineError) -> ForwardingPolicy {
        let rootNode = try file.root()
        let root = try rootNode.dictionary(allowedKeys: ["max-attempts", "forwards"])
        let maxAttempts = try root["max-attempts"]?.int() ?? 8
        guard (1...100).contains(maxAttempts) else { throw root["max-attempts"]!.error("max-attempts must be 1-100") }
        var rules: [ForwardRule] = []
        var names = Set<String>()
        for node in try root["forwards"]?.sequence() ?? [] {
            let d = try node.dictionary(allowedKeys: ["rule", "purpose", "when", "to", "fields", "deadline", "hold-for"])
            let name = try d.required("rule", in: node).string()
            guard names.insert(name).inserted else { throw d["rule"]!.error("rule name '\(name)' is used twice") }
            let purposeNode = try d.required("purpose", in: node)
            guard let purpose = purposes[try purposeNode.string()] else {
                throw purposeNode.error("unknown purpose; purposes are \(purposes.keys.sorted().joined(separator: ", "))")
            }
            let whenNode = try d.required("when", in: node)
            let when = try whenNode.dictionary(allowedKeys: ["kind", "fields"])
            let kindNode = try when.required("kind", in: whenNode)
            guard let kind = RecordKind(rawValue: try kindNode.string()) else { throw kindNode.error("unknown record kind") }
            guard let used = purpose.uses[kind] else {
                throw kindNode.error("purpose \(purpose.name) does not use \(kind.rawValue); a forward can only carry what its purpose uses")
            }
            var conditions: [String: [JSONValue]] = [:]
            for (field, valuesNode) in try when["fields"]?.mapping() ?? [] {
                guard let spec = kind.schema.field(field) else { throw valuesNode.keyError("'\(field)' is not a field of \(kind.rawValue)") }
                guard used.contains(field) else { throw valuesNode.keyError("condition on '\(field)', which purpose \(purpose.name) does not use") }
                let texts = valuesNode.isScalar ? [try valuesNode.string()] : try valuesNode.strings()
                conditions[field] = try texts.map { text throws(SightlineError) -> JSONValue in
                    switch spec.type {
                    case .boolean:
                        guard let b = Bool(text) else { throw valuesNode.error("\(field) is true or false") }
                        return .bool(b)
                    case .oneOf(let allowed):
                        guard allowed.contains(text) else { throw valuesNode.error("\(field) values are \(allowed.joined(separator: ", "))") }
                        return .string(text)
                    default: return .string(text)
                    }
                }
            }
            let fieldsNode = try d.required("fields", in: node)
            let fields = try fieldsNode.strings()
            for (i, f) in fields.enumerated() where !used.contains(f) {
                throw try fieldsNode.sequence()[i].error("'\(f)' is not used by purpose \(purpose.name) for \(kind.rawValue); forwards carry only the purpose's fields")
            }
            let toNode = try d.required("to", in: node)
            let toText = try toNode.string()
            let recipient: ForwardRule.Recipient
            var holdFor: String? = nil
            if toText == Purpose.currentSchool {
                guard purpose.recipients.contains(Purpose.currentSchool) else {
                    throw toNode.error("purpose \(purpose.name) does not list \(Purpose.currentSchool) among its recipients; add it there")
                }
                guard let holdNode = d["hold-for"] else {
                    throw toNode.error("a current-school rule needs hold-for: <role>/<id>, the LA participant that routes notices no single school qualifies for")
                }
                let holdText = try holdNode.string()
                guard holdText.contains("/"), let identity = ParticipantIdentity(uri: "spiffe://policy/\(holdText)"), identity.role == .partner,
                      purpose.recipients.contains(holdText) else {
                    throw holdNode.error("hold-for '\(holdText)' must be a partner participant named in purpose \(purpose.name)'s recipients (e.g. partner/304-mash)")
                }
                recipient = .currentSchool
                holdFor = holdText
            } else {
                guard let identity = ParticipantIdentity(uri: "spiffe://policy/\(toText)"), purpose.access(for: identity).isAllowed else {
                    throw toNode.error("'\(toText)' is not a recipient of purpose \(purpose.name) (give current-school or <role>/<id> of a recipient)")
                }
                if let holdNode = d["hold-for"] { throw holdNode.keyError("hold-for applies only to to: current-school") }
                recipient = .participant(toText)
            }
            var deadline: ForwardRule.Deadline? = nil
            if let dl = d["deadline"] {
                guard let parsed = ForwardRule.Deadline(rawValue: try dl.string()) else {
                    throw dl.error("deadline is \(ForwardRule.Deadline.nextSchoolDay0800.rawValue)")
                }
                deadline = parsed
            }
            rules.append(ForwardRule(name: name, purpose: purpose.name, kind: kind, when: conditions, recipient: recipient, fields: fields, deadline: deadline, holdFor: holdFor))
        }
        return ForwardingPolicy(rules: rules, maxAttempts: maxAttempts)
    }
}
