import Foundation
import GRDB
import SightlineCore
import SightlineStore

/// Figure 7: a retention sweep on the store figures 2-4 loaded, as of seven years on (every
/// record past the policy's longest retention, so every record and every child goes), with the
/// gateway stopped. The sweep is the store's own (`sweepRetention`, as RetentionService calls it:
/// 500 records a transaction, children left with no record deleted with their keys, pseudonyms,
/// forwards and enquiries). Baseline: the same number of rows of the baseline table deleted 500 a
/// transaction with the same settings (WAL, synchronous FULL, secure_delete).
enum RetentionBench {
    static func run(databasePath: String, policyDirectory: String, work: String, table: ResultsTable) async throws {
        let policy = try PolicyLoader.load(directory: policyDirectory)
        let store = try SQLiteStore(path: databasePath)
        let now = Date().addingTimeInterval(7 * 366 * 86400)
        let cutoffs = Dictionary(uniqueKeysWithValues: RetentionRules(policy: policy).rules.map { ($0.kind, $0.cutoff(now: now)) })
        let version = policy.version
        let audit: @Sendable (RetentionCounts) -> AuditEntry = { c in
            AuditEntry(time: now, actor: "gateway", action: "retention.sweep", policyVersion: version, decision: .allow, rule: "retention",
                       counts: ["records": c.total, "subjects": c.subjects], requestDigest: "retention:bench")
        }
        let dryStart = ContinuousClock.now
        let ends = Dictionary(uniqueKeysWithValues: RetentionRules(policy: policy).rules.compactMap { r in r.endField.map { (r.kind, $0) } })
        let dry = try await store.sweepRetention(cutoffs: cutoffs, endFields: ends, batch: 500, dryRun: true, audit: audit)
        let dryTime = seconds(ContinuousClock.now - dryStart)
        let start = ContinuousClock.now
        let swept = try await store.sweepRetention(cutoffs: cutoffs, endFields: ends, batch: 500, dryRun: false, audit: audit)
        let sweepTime = seconds(ContinuousClock.now - start)
        let baseline = try SQLiteBaselines.batchedDelete(rows: swept.total, batch: 500, path: "\(work)/baseline-delete.sqlite")
        let perSecond = Double(swept.total) / sweepTime, basePerSecond = Double(swept.total) / baseline
        table.add("7", "retention sweep, every record past retention (\(formatNumber(Double(swept.total))) records, \(formatNumber(Double(swept.subjects))) children deleted)",
                  rate(perSecond, "records/s"), baseline: "bare DELETE of as many rows, 500 a transaction, secure_delete", rate(basePerSecond, "rows/s"),
                  ratio: perSecond / basePerSecond)
        table.add("7", "retention sweep wall time / dry run (counts only)", "\(ms(sweepTime)) / \(ms(dryTime))")
        if dry.total != swept.total { table.note("figure 7: the dry run counted \(dry.total) records, the sweep deleted \(swept.total)") }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}

extension SQLiteBaselines {
    /// Seconds to delete `rows` rows (inserted first, untimed) `batch` a transaction, with secure_delete as the gateway.
    static func batchedDelete(rows: Int, batch: Int, path: String) throws -> Double {
        let queue = try open(path)
        defer { try? queue.close() }
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        try queue.write { db in
            let insert = try db.makeStatement(sql: insertSQL)
            for i in 0..<rows { try insert.execute(arguments: arguments(i)) }
        }
        return try timed {
            var left = rows
            while left > 0 {
                try queue.write { db in
                    let ids = try Int64.fetchAll(db, sql: "SELECT id FROM row LIMIT ?", arguments: [batch])
                    let delete = try db.cachedStatement(sql: "DELETE FROM row WHERE id = ?")
                    for id in ids { try delete.execute(arguments: [id]) }
                    left -= ids.count
                    if ids.isEmpty { left = 0 }
                }
            }
        }
    }
}
