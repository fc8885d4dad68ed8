import Foundation
import ServiceLifecycle
import SightlineCore
import SightlineStore

/// Deletes what the policy no longer allows to be kept (UK GDPR Art 5(1)(e)): a record once every
/// purpose that may use its kind has passed its retention, counted from its observedAt; then the
/// children left with no record, with their keys, pseudonyms, forwards and enquiries. Batches of
/// 500 records a transaction, so submissions are never held up for long. Each sweep is one audit
/// entry with its counts and the rules applied. A Service of the gateway: a minute after start,
/// then every six hours.
public struct RetentionService: Service {
    let state: GatewayState
    static let firstSweep: Duration = .seconds(60)
    static let every: Duration = .seconds(6 * 3600)

    public func run() async throws {
        var wait = Self.firstSweep
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let pause = wait
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) } } catch { break }
            wait = Self.every
            do { _ = try await Self.sweep(state, now: state.now(), dryRun: false) } catch {
                state.logger.error("retention sweep failed", metadata: ["error.type": "\(type(of: error))"])
            }
            do { _ = try await Self.pruneAudit(store: state.store, policy: state.policy, now: state.now(), dryRun: false) } catch {
                state.logger.error("audit log prune failed", metadata: ["error.type": "\(type(of: error))"])
            }
        }
    }

    /// The audit log's own retention: the content of entries older than `audit-retention` (and
    /// covered by a signed checkpoint) is removed, their hashes kept; one `audit.pruned` entry
    /// names the boundary. Nil when the policy sets no audit retention.
    public static func pruneAudit(store: any AuditPruningStore, policy: Policy, now: Date, dryRun: Bool) async throws -> AuditPruneCounts? {
        guard let cutoff = RetentionRules.auditCutoff(policy, now: now), let period = policy.auditRetention else { return nil }
        let version = policy.version
        return try await store.pruneAudit(before: cutoff, batch: 5000, dryRun: dryRun) { c in
            // The verifier reads this entry by the same definition (AuditPruning).
            AuditPruning.prunedEntry(time: now, policyVersion: version, period: period, entries: c.entries, prunedBelow: c.prunedBelow, cutoff: cutoff)
        }
    }

    /// One sweep (or, `dryRun`, what it would delete), with its audit entry.
    static func sweep(_ state: GatewayState, now: Date, dryRun: Bool) async throws -> RetentionCounts {
        try await sweep(store: state.store, policy: state.policy, now: now, dryRun: dryRun)
    }

    public static func sweep(store: any RetentionStore, policy: Policy, now: Date, dryRun: Bool) async throws -> RetentionCounts {
        let rules = RetentionRules(policy: policy).rules
        let cutoffs = Dictionary(uniqueKeysWithValues: rules.map { ($0.kind, $0.cutoff(now: now)) })
        let version = policy.version
        let ends = Dictionary(uniqueKeysWithValues: rules.compactMap { r in r.endField.map { (r.kind, $0) } })
        return try await store.sweepRetention(cutoffs: cutoffs, endFields: ends, batch: 500, dryRun: dryRun) { c in
            var counts = Dictionary(uniqueKeysWithValues: c.records.map { ("records:\($0.key.rawValue)", $0.value) })
            counts["subjects"] = c.subjects
            counts["forwards"] = c.remains.forwards
            counts["enquiries"] = c.remains.enquiries
            counts["pseudonyms"] = c.remains.pseudonymsWithdrawn
            return AuditEntry(time: now, actor: "gateway", action: "retention.sweep", policyVersion: version, decision: .allow,
                              rule: "retention", counts: counts, requestDigest: "retention:\(Instant.format(now))",
                              detail: Dictionary(uniqueKeysWithValues: rules.map { ($0.kind.rawValue, "\($0.name) before \(Instant.format($0.cutoff(now: now)))") }))
        }
    }
}
