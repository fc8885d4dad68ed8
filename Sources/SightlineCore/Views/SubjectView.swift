import Foundation

/// What a partner sees of one child under one purpose: which kinds of agency know the child and
/// since when, and exactly the fields the purpose uses, minimised as the policy says.
public struct SubjectView: Codable, Sendable {
    public struct KnownTo: Codable, Sendable {
        public let kind: String
        public let role: String
        public let records: Int
        public let firstSeen: Date
        public let lastSeen: Date
    }
    public struct RecordView: Codable, Sendable {
        public let kind: String
        public let source: String
        public let observedAt: Date
        /// Which linkage key joined this record to the child ("nhs", "upn", "name-dob", ... or "new").
        public let linkedBy: String
        public let fields: [String: JSONValue]
    }

    public let pseudonym: String
    public let purpose: String
    /// True when identifiers disagree for this child (e.g. same UPN, different date of birth):
    /// the link is not certain and needs a person to check.
    public let uncertain: Bool
    public let attributes: [String: JSONValue]
    public let knownTo: [KnownTo]
    public let records: [RecordView]

    public init(pseudonym: String, purpose: Purpose, records all: [SubjectRecord], uncertain: Bool, today: CivilDate) {
        self.pseudonym = pseudonym
        self.purpose = purpose.name
        self.uncertain = uncertain
        // Only kinds the purpose uses are visible at all, and of those only the listed fields.
        let visible = all.filter { purpose.uses[$0.kind] != nil }
        // Attributes too come only from records the purpose may use: a district or birth month
        // held by an agency outside the purpose must not show through.
        attributes = SubjectAttributes(records: visible).minimised(for: purpose, on: today)
        knownTo = Dictionary(grouping: visible, by: \.kind).map { kind, rs in
            KnownTo(kind: kind.rawValue, role: kind.sourceRole.rawValue, records: rs.count,
                    firstSeen: rs.map(\.observedAt).min()!, lastSeen: rs.map(\.observedAt).max()!)
        }.sorted { $0.kind < $1.kind }
        records = visible.sorted { ($0.observedAt, $0.kind.rawValue) < ($1.observedAt, $1.kind.rawValue) }.map { r in
            let allowed = purpose.uses[r.kind] ?? []
            return RecordView(kind: r.kind.rawValue, source: r.source, observedAt: r.observedAt, linkedBy: r.linkedBy,
                              fields: r.fields.filter { allowed.contains($0.key) })
        }
    }
}
