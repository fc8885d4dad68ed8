import Foundation
import GRDB
import SightlineCore

/// What an audit prune removed (or, dry, would remove).
public struct AuditPruneCounts: Sendable, Equatable {
    /// Entries whose content was removed by this prune.
    public var entries = 0
    /// Every entry below this index has had its content removed (after this prune).
    public var prunedBelow: Int64 = 0
    public init() {}
}

/// The audit log's own retention (policy `audit-retention`). An old entry's content (who did
/// what, to which subject ids) is removed; its leaf hash and chain hash stay, so every stored
/// Merkle node, every signed checkpoint and every inclusion and consistency proof still verify.
/// Only entries already covered by a signed checkpoint are pruned, and only as a prefix of the
/// log; each prune is itself an entry, `audit.pruned`, naming the boundary, covered by the next
/// checkpoint. A trigger refuses any other change to an entry.
public protocol AuditPruningStore: Sendable {
    func pruneAudit(before cutoff: Date, batch: Int, dryRun: Bool, audit: @escaping @Sendable (AuditPruneCounts) -> AuditEntry) async throws -> AuditPruneCounts
    /// Every entry below this index has had its content removed (0: none has).
    func auditPrunedBelow() async throws -> Int64
}

extension SQLiteStore {
    static func registerAuditPruningMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10-audit-pruning") { db in
            try db.execute(sql: """
            CREATE TABLE audit_prune (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              below INTEGER NOT NULL            -- entries below this index have had their content removed
            );
            INSERT INTO audit_prune (id, below) VALUES (1, 0);
            CREATE TRIGGER audit_prune_only_grows BEFORE UPDATE ON audit_prune WHEN NEW.below < OLD.below
              BEGIN SELECT RAISE(ABORT, 'the audit log is pruned from its start only, and never un-pruned'); END;
            DROP TRIGGER audit_entry_no_update;
            CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
              WHEN NOT (OLD.idx < (SELECT below FROM audit_prune) AND NEW.idx = OLD.idx AND NEW.leaf_hash = OLD.leaf_hash
                        AND NEW.chain_hash = OLD.chain_hash AND NEW.time = OLD.time AND length(NEW.entry) = 0)
              BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: an entry may only lose its content once pruned'); END;
            """)
        }
    }

    public func auditPrunedBelow() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT below FROM audit_prune") ?? 0 }
    }

    public func pruneAudit(before cutoff: Date, batch: Int, dryRun: Bool, audit: @escaping @Sendable (AuditPruneCounts) -> AuditEntry) async throws -> AuditPruneCounts {
        let (start, end) = try await pool.read { db -> (Int64, Int64) in
            let below = try Int64.fetchOne(db, sql: "SELECT below FROM audit_prune") ?? 0
            // The first entry to keep: the first at or after the cutoff, and nothing a signed
            // checkpoint does not cover yet (its leaf must be bound by a signature before its content goes).
            let firstKept = try Int64.fetchOne(db, sql: "SELECT min(idx) FROM audit_entry WHERE time >= ?", arguments: [cutoff.timeIntervalSince1970])
                ?? (try Int64.fetchOne(db, sql: "SELECT coalesce(max(idx) + 1, 0) FROM audit_entry") ?? 0)
            let signed = try Int64.fetchOne(db, sql: "SELECT coalesce(max(size), 0) FROM audit_checkpoint") ?? 0
            return (below, max(below, min(firstKept, signed)))
        }
        var counts = AuditPruneCounts()
        counts.prunedBelow = dryRun ? end : start
        guard end > start else { return counts }
        counts.entries = Int(end - start)
        if dryRun { return counts }
        var next = start
        while next < end {
            let (lower, upper) = (next, min(next + Int64(batch), end))
            try await pool.write { db in
                try db.execute(sql: "UPDATE audit_prune SET below = ?", arguments: [upper])
                try db.execute(sql: """
                    UPDATE audit_entry SET entry = X'', actor = '', action = '', decision = '', rule = '', purpose = NULL
                    WHERE idx >= ? AND idx < ?
                    """, arguments: [lower, upper])
            }
            next = upper
        }
        counts.prunedBelow = end
        let final = counts
        try await pool.write { db in
            // The DPO's index of which entries name which child goes with the content.
            try db.execute(sql: "DELETE FROM audit_subject WHERE idx < ?", arguments: [end])
            _ = try Self.append(db, audit(final))
        }
        await Self.truncateWAL(pool)
        return counts
    }
}
