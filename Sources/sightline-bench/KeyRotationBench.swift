import Foundation
import GRDB
import SightlineCore
import SightlineStore

/// Figure 8: each key rotated on the store figure 2 loaded (the gateway stopped), with the
/// store's own migration batches as the running gateway's KeyRotationService calls them (200
/// subjects, then 2,000 sealed values a transaction). Baselines, same run and settings: the same
/// number of rows of the baseline table with their indexed 32-byte key rewritten (link), or a
/// blob column rewritten (sealing), in transactions of the same size.
enum KeyRotationBench {
    static func run(statePath: String, work: String, table: ResultsTable) async throws {
        let keysPath = statePath + "/keys.json"
        var readOnly = Configuration()
        readOnly.readonly = true
        let counter = try DatabaseQueue(path: statePath + "/sightline.sqlite", configuration: readOnly)
        let rows = try await counter.read { db in
            (linkage: try Int.fetchOne(db, sql: "SELECT count(*) FROM linkage_key") ?? 0,
             blocking: try Int.fetchOne(db, sql: "SELECT count(*) FROM blocking_key") ?? 0,
             records: try Int.fetchOne(db, sql: "SELECT count(*) FROM record") ?? 0,
             subjects: try Int.fetchOne(db, sql: "SELECT count(*) FROM subject") ?? 0,
             linkDone: try Int.fetchOne(db, sql: "SELECT generation FROM key_generation WHERE kind = 'link' AND completed_at IS NOT NULL") ?? 0)
        }
        try counter.close()
        let store = try SQLiteStore(path: statePath + "/sightline.sqlite")
        let before = try KeyMaterial.load(from: keysPath)
        @Sendable func entry(_ action: String, _ kind: String) -> AuditEntry {
            AuditEntry(time: Date(), actor: "gateway", action: action, policyVersion: "bench", decision: .allow, rule: "key-rotation",
                       requestDigest: "key:bench", detail: ["kind": kind])
        }
        // Link.
        let link = before.rotated(.link)
        guard let rewrap = LinkRewrap(keys: link) else { return }
        if rows.linkDone >= rewrap.generation {
            // A store an earlier run already rotated (--loaded-state): its link figure is that run's.
            table.note("figure 8: the link key of this store was rotated by an earlier run (generation \(rows.linkDone)); not rotated again")
        } else {
            try await rotateLink(store: store, link: link, rewrap: rewrap, rows: (rows.linkage, rows.blocking, rows.records, rows.subjects),
                                 work: work, table: table, entry: entry)
        }
        try await rotateSealing(store: store, keys: link, work: work, table: table, entry: entry)
        // Recipient and audit: nothing stored changes; one transaction (and, for audit, two checkpoints).
        let recipientStart = ContinuousClock.now
        _ = try await store.beginKeyGeneration(kind: .recipient, generation: 1, keyID: "recipient-bench", at: Date(), audit: entry("key-rotated", "recipient"))
        table.add("8", "recipient key rotation (issued pseudonyms kept; nothing re-keyed)", ms(RetentionBench.seconds(ContinuousClock.now - recipientStart)))
    }

    static func rotateLink(store: SQLiteStore, link: KeyMaterial, rewrap: LinkRewrap, rows: (linkage: Int, blocking: Int, records: Int, subjects: Int),
                           work: String, table: ResultsTable, entry: @escaping @Sendable (String, String) -> AuditEntry) async throws {
        store.setLinkRewrap(rewrap)
        let linkStart = ContinuousClock.now
        _ = try await store.beginKeyGeneration(kind: .link, generation: rewrap.generation, keyID: link.linkKeyID, at: Date(), link: rewrap,
                                               audit: entry("key-rotated", "link"))
        var subjects = 0
        while true {
            let r = try await store.migrateLinkBatch(rewrap, limit: 200, at: Date(), done: { _ in entry("key-rotation-completed", "link") })
            subjects += r.migrated
            if r.complete { break }
        }
        let linkTime = RetentionBench.seconds(ContinuousClock.now - linkStart)
        store.setLinkRewrap(nil)
        let touched = rows.linkage + rows.blocking + rows.records
        let perBatch = max(1, touched * 200 / max(1, rows.subjects))
        let linkBase = try SQLiteBaselines.batchedRewrite(rows: touched, batch: perBatch, column: "reference_key", path: "\(work)/baseline-rewrite.sqlite")
        table.add("8", "link key rotation: every digest, blocking key and token wrapped (\(formatNumber(Double(subjects))) children, \(formatNumber(Double(touched))) rows)",
                  rate(Double(touched) / linkTime, "rows/s"), baseline: "bare UPDATE of an indexed 32-byte key, as many rows, \(formatNumber(Double(perBatch))) a transaction",
                  rate(Double(touched) / linkBase, "rows/s"), ratio: linkBase / linkTime)
        table.add("8", "link key rotation wall time (serving meanwhile, between batches)", ms(linkTime))
    }

    static func rotateSealing(store: SQLiteStore, keys link: KeyMaterial, work: String, table: ResultsTable,
                              entry: @escaping @Sendable (String, String) -> AuditEntry) async throws {
        let sealing = link.rotated(.sealing)
        let sealer = Sealer(keys: sealing)
        let sealStart = ContinuousClock.now
        _ = try await store.beginKeyGeneration(kind: .sealing, generation: 1, keyID: sealing.sealingKeyID, at: Date(), audit: entry("key-rotated", "sealing"))
        var values = 0
        while true {
            let r = try await store.resealBatch(limit: 2000, mayComplete: true, at: Date(), reseal: { try sealer.resealIfRetired($0) },
                                                done: { _ in entry("key-rotation-completed", "sealing") })
            values += r.migrated
            if r.complete { break }
        }
        let sealTime = RetentionBench.seconds(ContinuousClock.now - sealStart)
        let sealBase = try SQLiteBaselines.batchedRewrite(rows: values, batch: 2000, column: "dob_key", path: "\(work)/baseline-reseal.sqlite")
        table.add("8", "sealing key rotation: every sealed value re-sealed, then a pass that finds none (\(formatNumber(Double(values))) values)",
                  rate(Double(values) / sealTime, "values/s"), baseline: "bare UPDATE of a blob column, as many rows, 2,000 a transaction",
                  rate(Double(values) / sealBase, "rows/s"), ratio: sealBase / sealTime)
        table.add("8", "sealing key rotation wall time", ms(sealTime))
    }
}

extension SQLiteBaselines {
    /// Seconds to rewrite `column` of `rows` rows (inserted first, untimed) `batch` a transaction.
    static func batchedRewrite(rows: Int, batch: Int, column: String, path: String) throws -> Double {
        let queue = try open(path)
        defer { try? queue.close() }
        try queue.write { db in
            try db.execute(sql: "CREATE UNIQUE INDEX row_key ON row(reference_key)")
            let insert = try db.makeStatement(sql: insertSQL)
            for i in 0..<rows { try insert.execute(arguments: arguments(i)) }
        }
        return try timed {
            var next: Int64 = 0
            while next < Int64(rows) {
                try queue.write { db in
                    let update = try db.cachedStatement(sql: "UPDATE row SET \(column) = randomblob(32) WHERE id = ?")
                    for id in next..<min(next + Int64(batch), Int64(rows)) { try update.execute(arguments: [id + 1]) }
                }
                next += Int64(batch)
            }
        }
    }
}
