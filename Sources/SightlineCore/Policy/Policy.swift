import Foundation

/// The sharing policy as loaded from `Policies/`: deny by default; every allow names its rule.
public struct Policy: Sendable {
    /// The version label in policy.yaml plus a digest of every file, so an audit entry pins the
    /// exact text that made a decision.
    public let version: String
    public let submissionRules: [SubmissionRule]
    public let purposes: [String: Purpose]
    public let legalGateways: [String: LegalGateway]
    /// Per kind, the fields that at least one purpose uses: everything else is dropped at ingress.
    public let fieldsInUse: [RecordKind: Set<String>]
    public let forwarding: ForwardingPolicy
    /// Linkage weights and thresholds (Policies/linkage.yaml).
    public let linkage: LinkageModel
    /// How long the audit log keeps an entry's content (policy.yaml `audit-retention`, at least
    /// the longest retention of any purpose); nil keeps it whole.
    public let auditRetention: String?

    init(version: String, submissionRules: [SubmissionRule], purposes: [String: Purpose], legalGateways: [String: LegalGateway],
         forwarding: ForwardingPolicy = .none, linkage: LinkageModel, auditRetention: String? = nil) {
        self.version = version
        self.auditRetention = auditRetention
        self.linkage = linkage
        self.forwarding = forwarding
        self.submissionRules = submissionRules
        self.purposes = purposes
        self.legalGateways = legalGateways
        var inUse: [RecordKind: Set<String>] = [:]
        for purpose in purposes.values {
            for (kind, fields) in purpose.uses { inUse[kind, default: []].formUnion(fields) }
        }
        fieldsInUse = inUse
    }

    /// May this participant submit records of this kind?
    public func ingressDecision(role: Role, kind: RecordKind) -> PolicyDecision {
        if let rule = submissionRules.first(where: { $0.kind == kind && $0.roles.contains(role) }) {
            return .allow(rule: rule.name, reason: "\(role.rawValue) may submit \(kind.rawValue)")
        }
        return .deny(rule: PolicyDecision.defaultDenyRule, reason: "no rule lets \(role.rawValue) submit \(kind.rawValue)")
    }

    /// The fields of `kind` kept at ingress, and the rule name that says so.
    public func ingressMinimisation(kind: RecordKind) -> (kept: Set<String>, rule: String) {
        (fieldsInUse[kind] ?? [], "minimise-at-ingress:\(kind.rawValue)")
    }
}

/// A decision and the rule that made it: a value, not an exception, so it can be audited.
public struct PolicyDecision: Sendable, Equatable, Codable {
    public enum Effect: String, Sendable, Codable { case allow, deny }
    public static let defaultDenyRule = "default-deny"

    public let effect: Effect
    public let rule: String
    public let reason: String

    public static func allow(rule: String, reason: String) -> PolicyDecision { .init(effect: .allow, rule: rule, reason: reason) }
    public static func deny(rule: String, reason: String) -> PolicyDecision { .init(effect: .deny, rule: rule, reason: reason) }
    public var isAllowed: Bool { effect == .allow }
}

public struct SubmissionRule: Sendable {
    public let name: String
    public let kind: RecordKind
    public let roles: Set<Role>
}

public struct LegalGateway: Sendable {
    public let id: String
    public let title: String
    public let permits: String
}

/// Minimisation of an identifier-derived attribute before it leaves the gateway.
public enum Minimisation: String, Sendable, CaseIterable {
    case ageBand = "age-band"
    case schoolYearGroup = "school-year-group"
    case yearMonth = "year-month"
    case district = "district"
    case drop = "drop"

    static let allowed: [String: [Minimisation]] = [
        "dateOfBirth": [.ageBand, .schoolYearGroup, .yearMonth, .drop],
        "postcode": [.district, .drop],
    ]
}

public struct Purpose: Sendable {
    public let name: String
    public let title: String
    public let legalGateways: [String]
    /// Roles ("partner") or participants ("partner/304-cme") that may use the purpose, and
    /// possibly `current-school`.
    public let recipients: [String]
    /// A recipient that no caller matches: the school a forwarding rule's current-school logic
    /// picks for one notice (ForwardRule.Recipient.currentSchool). It grants no school the
    /// purpose, so no school can query under it.
    public static let currentSchool = "current-school"

    public let uses: [RecordKind: Set<String>]
    public let minimise: [String: Minimisation]
    public let retention: String
    public let file: String
    /// Reports a recipient may run under this purpose, with their settings. Deny by default.
    public let reports: [ReportKind: ReportSettings]
    /// Whom a recipient may ask about a child under this purpose, and by when; nil: no enquiries.
    public var enquiries: EnquiryRules? = nil

    /// May this participant use the purpose? Names the rule either way.
    public func access(for participant: ParticipantIdentity) -> PolicyDecision {
        if recipients.contains(participant.role.rawValue) || recipients.contains(participant.shortName) {
            return .allow(rule: "purpose:\(name)", reason: "\(participant.shortName) is a recipient of \(name)")
        }
        return .deny(rule: "purpose:\(name)", reason: "\(participant.shortName) is not a recipient of purpose \(name)")
    }
}
