import Foundation

/// The entry that records a prune of the audit log's own content (policy `audit-retention`).
/// The gateway writes it (`RetentionService.pruneAudit`) and `AuditLogVerifier` reads it, so
/// both use this one definition.
///
/// A prune removes the content of a prefix of the log, entries `0..<prunedBelow`: each keeps its
/// index, time, leaf hash and chain hash, and its bytes become empty. Only entries a signed
/// checkpoint already covers are pruned, so every pruned leaf hash was signed while its content
/// was there. The prune then appends this entry, naming the boundary; the next checkpoint covers
/// it. A verifier takes a pruned entry's stored leaf hash as given only below a boundary that
/// such an entry, covered by a trusted checkpoint, names.
public enum AuditPruning {
    public static let actor = "gateway"
    public static let action = "audit.pruned"
    /// The entry's rule is this prefix and the policy's period: `audit-retention:P10Y`.
    public static let rulePrefix = "audit-retention:"

    /// The entry as the gateway writes it after pruning `entries` entries, so that every entry
    /// below `prunedBelow` has no content.
    public static func prunedEntry(time: Date, policyVersion: String, period: String, entries: Int, prunedBelow: Int64, cutoff: Date) -> AuditEntry {
        AuditEntry(time: time, actor: actor, action: action, policyVersion: policyVersion, decision: .allow, rule: rulePrefix + period,
                   counts: ["entries": entries], requestDigest: "audit-retention:\(Instant.format(time))",
                   detail: ["prunedBelow": String(prunedBelow), "cutoff": Instant.format(cutoff)])
    }

    /// What a prune entry says.
    public struct Record: Sendable, Codable, Equatable {
        /// The entry's own index.
        public let index: Int64
        /// Every entry below this index has had its content removed.
        public let prunedBelow: Int64
        /// When the prune ran.
        public let time: Date
        /// The policy's `audit-retention` period, e.g. P10Y.
        public let period: String
        /// Entries older than this were past the retention (as the entry says; absent if it does not).
        public let cutoff: Date?
    }

    /// Canonical JSON has sorted keys and "action" sorts first, so every prune entry starts with
    /// these bytes; only entries that do are decoded (see `AuditKeyRotation` for the same trick).
    private static let prefix = Array("{\"action\":\"audit.pruned\"".utf8)

    /// The record in an entry's canonical bytes, if it is a prune entry the gateway wrote.
    /// Anything else, including a prune entry by another actor or without a readable boundary,
    /// says nothing.
    static func record(index: Int64, inCanonical bytes: Data) -> Record? {
        guard bytes.starts(with: prefix), let entry = try? AuditEntry.decode(canonical: bytes),
              entry.action == action, entry.actor == actor, entry.decision == .allow, entry.rule.hasPrefix(rulePrefix),
              let text = entry.detail["prunedBelow"], let below = Int64(text), below >= 0 else { return nil }
        return Record(index: index, prunedBelow: below, time: entry.time, period: String(entry.rule.dropFirst(rulePrefix.count)),
                      cutoff: entry.detail["cutoff"].flatMap(Instant.parse))
    }
}
