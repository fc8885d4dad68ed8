import Foundation

/// The values a store keeps beside each hashed entry so that searches (`GET /v1/audit/entries?actor=`,
/// `sightline audit entries --actor`) need not decode every entry: time, actor, action,
/// decision, rule and purpose. They are not hashed, so a forger who edits them (on a copy with
/// the append-only triggers dropped) leaves every hash intact while a search misses the entry,
/// or finds it where it does not belong. Verification therefore holds each column to the
/// decoded canonical entry, the only thing the signatures vouch for.
public struct AuditSearchColumns: Sendable, Equatable {
    /// Seconds since 1970, as the store keeps them (full precision; the canonical entry keeps whole seconds).
    public var time: Double
    public var actor: String
    public var action: String
    public var decision: String
    public var rule: String
    public var purpose: String?

    public init(time: Double, actor: String, action: String, decision: String, rule: String, purpose: String?) {
        self.time = time; self.actor = actor; self.action = action; self.decision = decision; self.rule = rule; self.purpose = purpose
    }

    /// The columns an honest store writes for `entry`.
    public init(entry: AuditEntry) {
        self.init(time: entry.time.timeIntervalSince1970, actor: entry.actor, action: entry.action, decision: entry.decision.rawValue,
                  rule: entry.rule, purpose: entry.purpose)
    }

    /// A column that says something other than the hashed entry.
    public struct Disagreement: Sendable, Equatable {
        /// The column's name: time, actor, action, decision, rule or purpose; "entry" when the
        /// canonical bytes cannot be read as an entry at all.
        public let column: String
        /// What the column holds, and what the hashed entry says ("none" for an absent purpose).
        public let stored: String
        public let canonical: String

        public init(column: String, stored: String, canonical: String) {
            self.column = column; self.stored = stored; self.canonical = canonical
        }
    }

    /// The first column (in the order above) that disagrees with `canonical`, or nil when every
    /// column is what the entry says. Time is compared to the second, as `canonicalBytes` keeps it.
    public func disagreement(withCanonical canonical: Data) -> Disagreement? {
        guard let entry = try? AuditEntry.decode(canonical: canonical) else {
            return Disagreement(column: "entry", stored: "columns", canonical: "bytes that are not an audit entry")
        }
        let entrySeconds = entry.time.timeIntervalSince1970.rounded(.down)
        if time.rounded(.down) != entrySeconds {
            return Disagreement(column: "time", stored: Self.instant(time), canonical: Self.instant(entrySeconds))
        }
        let pairs: [(String, String?, String?)] = [
            ("actor", actor, entry.actor), ("action", action, entry.action), ("decision", decision, entry.decision.rawValue),
            ("rule", rule, entry.rule), ("purpose", purpose, entry.purpose),
        ]
        for (column, stored, hashed) in pairs where stored != hashed {
            return Disagreement(column: column, stored: stored.map { "\"\($0)\"" } ?? "none", canonical: hashed.map { "\"\($0)\"" } ?? "none")
        }
        return nil
    }

    /// For an entry whose content was pruned (`AuditPruning`): the first column (actor, action,
    /// decision, rule, purpose) that still holds a value, or nil when all are cleared as the
    /// store clears them. Only the time stays, and with no content it cannot be checked. The
    /// value is not returned: it is what the prune should have removed.
    public func valueLeftAfterPruning() -> String? {
        let pairs: [(String, Bool)] = [("actor", actor.isEmpty), ("action", action.isEmpty), ("decision", decision.isEmpty),
                                       ("rule", rule.isEmpty), ("purpose", purpose == nil)]
        return pairs.first { !$0.1 }?.0
    }

    private static func instant(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e11 else { return "\(seconds)" }
        return Instant.format(Date(timeIntervalSince1970: seconds.rounded(.down)))
    }
}
